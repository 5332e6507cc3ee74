/* arch/x86/acpi.c: ACPI tables, built in C at boot
 *
 * Written from the ACPI 6.4 specification, chapter 5. The tables are laid
 * out in two blobs, the RSDP and the rest, with explicit little-endian byte
 * writers (no packed structs, so no unaligned access). Address fields hold
 * offsets into a blob and checksums are left zero, each listed, so that
 * whoever places the blobs links them: vmm_acpi_build here, or the
 * firmware through fw_cfg's table loader (firmware/acpi-loader.c).
 *
 * vmm_acpi_build lays the [VMM_ACPI_BASE, VMM_ACPI_END) area out in a
 * scratch image, then copies it into guest memory in one go: the guest sees
 * either the complete set or, on error, nothing new.
 *
 *   VMM_ACPI_BASE       RSDP (where Linux and firmware scan for it)
 *   + 64, the tables:   FACS (64-aligned)
 *   then, 16-aligned:   DSDT, FADT, MADT, MCFG, RSDT, XSDT
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "viv-bytes.h"

#define OEM_ID          "VIVARI"
#define OEM_TABLE_ID    "VIVARIUM"
#define OEM_REVISION    1
#define CREATOR_ID      "VIVM"
#define CREATOR_REV     1

/* The PM block's registers, from its base */
#define PM1A_EVT        0x00
#define PM1A_CNT        0x04
#define PM_TMR          0x08
#define GPE0            0x20

#define HEADER_LEN      36
#define RSDP_LEN        36
#define RSDP_V1_LEN     20
#define FACS_LEN        64
#define FADT_LEN        276
#define FADT_REVISION   6
#define FADT_MINOR      0       /* ACPI 6.0 layout, unchanged up to 6.5 */
#define MADT_REVISION   5       /* ACPI 6.3 and later */
#define DSDT_REVISION   2       /* 64-bit integers */
#define MCFG_LEN        (HEADER_LEN + 8 + 16)

/* FADT fixed feature flags, §5.2.9 table 5.10 */
#define FADT_WBINVD           (1u << 0)
#define FADT_PROC_C1          (1u << 2)
#define FADT_PWR_BUTTON       (1u << 4)  /* set: the power button is NOT fixed */
#define FADT_SLP_BUTTON       (1u << 5)  /* set: there is no fixed sleep button */
#define FADT_TMR_VAL_EXT      (1u << 8)
#define FADT_RESET_REG_SUP    (1u << 10)

/* IA-PC boot architecture flags, §5.2.9.3 */
#define BOOT_8042             (1u << 1)
#define BOOT_VGA_NOT_PRESENT  (1u << 2)
#define BOOT_PCIE_ASPM_CTRLS  (1u << 4)  /* OSPM must not touch ASPM */
#define BOOT_CMOS_RTC_ABSENT  (1u << 5)

/* Generic Address Structure, §5.2.3.2 */
#define GAS_LEN               12
#define GAS_SYSTEM_IO         1
#define GAS_ACCESS_BYTE       1
#define GAS_ACCESS_WORD       2
#define GAS_ACCESS_DWORD      3

/* MADT, §5.2.12 */
#define MADT_PCAT_COMPAT      1u
#define MADT_LAPIC            0
#define MADT_IOAPIC           1
#define MADT_ISO              2
#define MADT_LAPIC_NMI        4
#define MADT_LAPIC_ENABLED    1u
#define MPS_LEVEL_HIGH        0x000d  /* active-high (01), level-triggered (11 << 2) */

#define RTC_CENTURY_INDEX     0x32    /* the CMOS byte the PC/AT BIOS kept it in */

#define TABLES_ALIGN    64      /* the FACS's alignment, §5.2.10 */
#define TABLES_AT       64      /* the tables' blob in the ACPI area */

#define RSDP            VMM_ACPI_BLOB_RSDP
#define TABLES          VMM_ACPI_BLOB_TABLES

uint8_t
vmm_acpi_checksum (const void *data, size_t len)
{
  const uint8_t *p = data;
  uint8_t sum = 0;

  for (size_t i = 0; i < len; i++)
    sum = (uint8_t) (sum + p[i]);
  return (uint8_t) (0 - sum);
}

/* Reserves LEN bytes aligned to ALIGN (a power of two) at the end of the
 * tables' blob; returns their offset. */
static size_t
tables_alloc (size_t *used, size_t len, size_t align)
{
  size_t at = (*used + align - 1) & ~(align - 1);

  *used = at + len;
  return at;
}

/* The SIZE-byte field at OFFSET of BLOB holds an offset into TARGET. */
static void
add_pointer (struct vmm_acpi_tables *t, unsigned blob, size_t offset, uint8_t size,
             unsigned target, uint64_t value)
{
  g_assert (t->n_pointers < VMM_ACPI_MAX_POINTERS);
  g_assert (offset + size <= t->len[blob]);
  viv_put_le (t->data[blob] + offset, value, size);
  t->pointers[t->n_pointers++] = (struct vmm_acpi_pointer) {
    .blob = blob, .target = target, .offset = (uint32_t) offset, .size = size,
  };
}

/* The byte at OFFSET of BLOB makes [START, START + LEN) sum to zero. */
static void
add_checksum (struct vmm_acpi_tables *t, unsigned blob, size_t offset, size_t start, size_t len)
{
  g_assert (t->n_checksums < VMM_ACPI_MAX_CHECKSUMS);
  g_assert (start + len <= t->len[blob] && offset >= start && offset < start + len);
  t->data[blob][offset] = 0;
  t->checksums[t->n_checksums++] = (struct vmm_acpi_checksum_field) {
    .blob = blob, .offset = (uint32_t) offset, .start = (uint32_t) start, .len = (uint32_t) len,
  };
}

static void
sdt_header (uint8_t *t, const char sig[4], uint32_t len, uint8_t revision)
{
  memcpy (t, sig, 4);
  viv_put_le32 (t + 4, len);
  t[8] = revision;
  t[9] = 0;                     /* checksum, filled in last */
  memcpy (t + 10, OEM_ID, 6);
  memcpy (t + 16, OEM_TABLE_ID, 8);
  viv_put_le32 (t + 24, OEM_REVISION);
  memcpy (t + 28, CREATOR_ID, 4);
  viv_put_le32 (t + 32, CREATOR_REV);
}

/* The checksum of the table at OFF in the tables' blob */
static void
sdt_checksum (struct vmm_acpi_tables *t, size_t off)
{
  add_checksum (t, TABLES, off + 9, off, viv_get_le32 (t->data[TABLES] + off + 4));
}

static void
put_gas_io (uint8_t *p, uint16_t port, unsigned len, uint8_t access)
{
  p[0] = GAS_SYSTEM_IO;
  p[1] = (uint8_t) (len * 8);   /* register width in bits */
  p[2] = 0;                     /* bit offset */
  p[3] = access;
  viv_put_le64 (p + 4, port);
}

static int
check_config (const struct vmm_acpi_config *c)
{
  uint64_t ecam_end;

  if (c->n_cpus < 1 || c->n_cpus > VMM_ACPI_MAX_CPUS)
    return -EINVAL;
  if (c->ecam_end_bus < c->ecam_start_bus || c->ecam_end_bus > 255)
    return -EINVAL;
  /* ECAM for buses 0 .. end must not wrap (its base is bus 0's address). */
  ecam_end = (uint64_t) (c->ecam_end_bus + 1) << 20;
  if (c->ecam_base > UINT64_MAX - ecam_end)
    return -EINVAL;
  /* The 32-bit window must be non-empty and below 4 GiB, the 64-bit one must
   * not wrap. */
  if (c->mmio32_size == 0 || c->mmio32_base > UINT32_MAX
      || c->mmio32_size > (uint64_t) UINT32_MAX + 1 - c->mmio32_base)
    return -EINVAL;
  if (c->mmio64_size > 0 && c->mmio64_base > UINT64_MAX - (c->mmio64_size - 1))
    return -EINVAL;
  return 0;
}

/* ---- DSDT ----------------------------------------------------------------- */

/* Where the PM block decodes: the firmware may have moved it */
static uint16_t
pm_base (const struct vmm_acpi_config *c)
{
  return c->pm_base != 0 ? c->pm_base : VMM_PORT_ACPI_PM_BASE;
}

static void
dsdt_sta_present (struct aml *aml)
{
  /* Present, enabled, shown in the UI, functioning */
  aml_name_integer (aml, "_STA", 0x0f);
}

static void
dsdt_pci0 (struct aml *aml, const struct vmm_acpi_config *c)
{
  struct aml_res res;

  aml_device_begin (aml, "PCI0");
  aml_name_eisaid (aml, "_HID", "PNP0A08");   /* PCI Express root bridge */
  aml_name_eisaid (aml, "_CID", "PNP0A03");   /* ... compatible with PCI */
  aml_name_integer (aml, "_UID", 0);
  aml_name_integer (aml, "_SEG", 0);
  aml_name_integer (aml, "_BBN", c->ecam_start_bus);
  dsdt_sta_present (aml);

  aml_res_init (&res);
  aml_res_word_bus_number (&res, (uint16_t) c->ecam_start_bus, (uint16_t) c->ecam_end_bus);
  /* The bridge itself decodes the CF8/CFC configuration ports... */
  aml_res_io (&res, true, VMM_PORT_PCI_CONFIG_ADDR, VMM_PORT_PCI_CONFIG_ADDR, 1, 8);
  /* ...and forwards the rest of the I/O space to its buses. */
  aml_res_word_io (&res, 0x0000, VMM_PORT_PCI_CONFIG_ADDR - 1);
  aml_res_word_io (&res, 0x0d00, 0xffff);
  aml_res_dword_memory (&res, AML_RES_MEM_NON_CACHEABLE | AML_RES_MEM_RW,
                        (uint32_t) c->mmio32_base,
                        (uint32_t) (c->mmio32_base + c->mmio32_size - 1));
  if (c->mmio64_size > 0)
    aml_res_qword_memory (&res, AML_RES_MEM_NON_CACHEABLE | AML_RES_MEM_RW,
                          c->mmio64_base, c->mmio64_base + c->mmio64_size - 1);
  aml_name (aml, "_CRS");
  aml_resource_template (aml, &res);
  aml_res_clear (&res);

  /* INTx routing in APIC mode: slot S's pin P (INTA = 0) is the chipset's
   * PIRQ (S + P) mod 4, on IOAPIC pin 16 + that (firmware/q35.h); devices
   * with MSI or MSI-X do not use it */
  aml_name (aml, "_PRT");
  aml_package_begin (aml, (VMM_PCI_SLOTS_ROUTED - 1) * 4);
  for (unsigned slot = 1; slot < VMM_PCI_SLOTS_ROUTED; slot++)
    for (unsigned pin = 0; pin < 4; pin++)
      {
        aml_package_begin (aml, 4);
        aml_integer (aml, (uint64_t) slot << 16 | 0xffff);
        aml_integer (aml, pin);
        aml_integer (aml, 0);
        aml_integer (aml, VMM_PCI_INTX_GSI_BASE + (slot + pin) % 4);
        aml_end (aml);
      }
  aml_end (aml);
  aml_end (aml);
}

static void
dsdt_motherboard (struct aml *aml, const struct vmm_acpi_config *c)
{
  uint64_t ecam = c->ecam_base + ((uint64_t) c->ecam_start_bus << 20);
  uint64_t ecam_len = (uint64_t) (c->ecam_end_bus - c->ecam_start_bus + 1) << 20;
  struct aml_res res;

  /* Linux trusts MCFG only when the ECAM range is also reserved by a
   * motherboard resource device (or e820), so say so here. */
  aml_device_begin (aml, "MRES");
  aml_name_eisaid (aml, "_HID", "PNP0C02");
  aml_name_integer (aml, "_UID", 0);
  dsdt_sta_present (aml);

  aml_res_init (&res);
  if (ecam + ecam_len - 1 <= UINT32_MAX)
    aml_res_memory32_fixed (&res, true, (uint32_t) ecam, (uint32_t) ecam_len);
  else
    aml_res_qword_address (&res, &(struct aml_addr_space) {
                             .type = AML_RES_TYPE_MEMORY,
                             .flags = AML_RES_CONSUMER | AML_RES_MIN_FIXED
                                      | AML_RES_MAX_FIXED,
                             .type_flags = AML_RES_MEM_NON_CACHEABLE | AML_RES_MEM_RW,
                             .min = ecam,
                             .max = ecam + ecam_len - 1,
                             .length = ecam_len,
                           });
  /* The PM block: PM1a event and control, the PM timer, GPE0 and the
   * chipset's SMI registers */
  aml_res_io (&res, true, pm_base (c), pm_base (c), 1, VMM_ACPI_PM_BLOCK_LEN);
  aml_name (aml, "_CRS");
  aml_resource_template (aml, &res);
  aml_res_clear (&res);
  aml_end (aml);
}

/* A legacy device at fixed ports with one ISA IRQ. PORT2 0: one range. */
static void
dsdt_isa_device (struct aml *aml, const char *name, const char *hid, int uid,
                 uint16_t port, uint8_t len, uint16_t port2, uint8_t len2, unsigned irq)
{
  struct aml_res res;

  aml_device_begin (aml, name);
  aml_name_eisaid (aml, "_HID", hid);
  if (uid >= 0)
    aml_name_integer (aml, "_UID", (uint64_t) uid);
  dsdt_sta_present (aml);

  aml_res_init (&res);
  aml_res_io (&res, true, port, port, 1, len);
  if (port2 != 0)
    aml_res_io (&res, true, port2, port2, 1, len2);
  aml_res_irq_noflags (&res, irq);
  aml_name (aml, "_CRS");
  aml_resource_template (aml, &res);
  aml_res_clear (&res);
  aml_end (aml);
}

/* pvpanic: the guest writes to one port when it panics. Linux's pvpanic
 * driver binds to this ACPI ID, as on QEMU. */
static void
dsdt_pvpanic (struct aml *aml)
{
  struct aml_res res;

  aml_device_begin (aml, "PEVT");
  aml_name_string (aml, "_HID", "QEMU0001");
  dsdt_sta_present (aml);
  aml_res_init (&res);
  aml_res_io (&res, true, VMM_PORT_PVPANIC, VMM_PORT_PVPANIC, 1, 1);
  aml_name (aml, "_CRS");
  aml_resource_template (aml, &res);
  aml_res_clear (&res);
  aml_end (aml);
}

static void
dsdt_sleep_state (struct aml *aml, const char *name, unsigned slp_typ)
{
  /* SLP_TYPa, SLP_TYPb, two reserved */
  aml_name (aml, name);
  aml_package_begin (aml, 4);
  aml_integer (aml, slp_typ);
  aml_integer (aml, slp_typ);
  aml_integer (aml, 0);
  aml_integer (aml, 0);
  aml_end (aml);
}

/* Builds the whole DSDT, header included, into AML. */
static void
dsdt_build (struct aml *aml, const struct vmm_acpi_config *c)
{
  uint8_t header[HEADER_LEN] = { 0 };

  /* The header goes in as raw bytes; it is filled in, with the length and
   * checksum, once the table is in the image. */
  g_byte_array_append (aml->bytes, header, sizeof header);

  aml_scope_begin (aml, "\\_SB_");
  dsdt_pci0 (aml, c);
  dsdt_motherboard (aml, c);
  if (c->com1)
    dsdt_isa_device (aml, "COM1", "PNP0501", 1, VMM_PORT_COM1, 8, 0, 0, VMM_IRQ_COM1);
  if (c->com2)
    dsdt_isa_device (aml, "COM2", "PNP0501", 2, VMM_PORT_COM2, 8, 0, 0, VMM_IRQ_COM2);
  if (c->rtc)
    dsdt_isa_device (aml, "RTC_", "PNP0B00", -1, VMM_PORT_RTC, 2, 0, 0, VMM_IRQ_RTC);
  if (c->i8042)
    dsdt_isa_device (aml, "KBD_", "PNP0303", -1, VMM_PORT_I8042_DATA, 1,
                     VMM_PORT_I8042_CMD, 1, 1);
  /* The mouse behind the same controller: its IRQ only */
  if (c->i8042)
    {
      struct aml_res res;

      aml_device_begin (aml, "MOU_");
      aml_name_eisaid (aml, "_HID", "PNP0F13");
      dsdt_sta_present (aml);
      aml_res_init (&res);
      aml_res_irq_noflags (&res, 12);
      aml_name (aml, "_CRS");
      aml_resource_template (aml, &res);
      aml_res_clear (&res);
      aml_end (aml);
    }
  if (c->pvpanic)
    dsdt_pvpanic (aml);
  aml_end (aml);

  /* Sleep states, in the root scope: the VMM's PM1a_CNT powers off on
   * SLP_TYP 5 with SLP_EN. */
  dsdt_sleep_state (aml, "_S0_", 0);
  dsdt_sleep_state (aml, "_S5_", 5);
}

/* ---- the fixed tables ----------------------------------------------------- */

static void
build_facs (uint8_t *t)
{
  memcpy (t, "FACS", 4);
  viv_put_le32 (t + 4, FACS_LEN);
  /* Hardware signature, waking vectors, global lock, flags: all 0 (no S4
   * signature, no wake from S3, no 64-bit wake). */
  t[32] = 2;                    /* version */
}

static void
build_fadt (struct vmm_acpi_tables *tables, size_t off, const struct vmm_acpi_config *c,
            size_t facs, size_t dsdt)
{
  uint8_t *t = tables->data[TABLES] + off;
  uint16_t boot_arch = (c->vga ? 0 : BOOT_VGA_NOT_PRESENT) | BOOT_PCIE_ASPM_CTRLS;
  uint16_t pm = pm_base (c);

  if (c->i8042)
    boot_arch |= BOOT_8042;
  if (!c->rtc)
    boot_arch |= BOOT_CMOS_RTC_ABSENT;

  sdt_header (t, "FACP", FADT_LEN, FADT_REVISION);
  add_pointer (tables, TABLES, off + 36, 4, TABLES, facs);  /* FIRMWARE_CTRL */
  add_pointer (tables, TABLES, off + 40, 4, TABLES, dsdt);  /* DSDT */
  /* 45: Preferred_PM_Profile 0, unspecified */
  viv_put_le16 (t + 46, VMM_ACPI_SCI_IRQ);                 /* SCI_INT */
  /* 48: SMI_CMD 0, ACPI_ENABLE and ACPI_DISABLE 0: there is no SMM, the
   * platform is always in ACPI mode. */
  viv_put_le32 (t + 56, pm + PM1A_EVT);                    /* PM1a_EVT_BLK */
  viv_put_le32 (t + 64, pm + PM1A_CNT);                    /* PM1a_CNT_BLK */
  viv_put_le32 (t + 76, pm + PM_TMR);                      /* PM_TMR_BLK */
  viv_put_le32 (t + 80, pm + GPE0);                        /* GPE0_BLK */
  t[88] = 4;                                        /* PM1_EVT_LEN */
  t[89] = 2;                                        /* PM1_CNT_LEN */
  t[91] = 4;                                        /* PM_TMR_LEN */
  t[92] = VMM_ACPI_GPE0_LEN;                        /* GPE0_BLK_LEN */
  /* No C2 or C3: latencies above 100 and 1000 us say so. */
  viv_put_le16 (t + 96, 0x0fff);                           /* P_LVL2_LAT */
  viv_put_le16 (t + 98, 0x0fff);                           /* P_LVL3_LAT */
  if (c->rtc)
    t[108] = RTC_CENTURY_INDEX;                     /* CENTURY */
  viv_put_le16 (t + 109, boot_arch);                       /* IAPC_BOOT_ARCH */
  /* The power button is a fixed feature (PWR_BUTTON clear): the VMM raises
   * PWRBTN_STS and the SCI to ask the guest to shut down. */
  viv_put_le32 (t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT
                  | FADT_RESET_REG_SUP);
  put_gas_io (t + 116, VMM_ACPI_RESET_PORT, 1, GAS_ACCESS_BYTE);  /* RESET_REG */
  t[128] = VMM_ACPI_RESET_VALUE;                    /* RESET_VALUE */
  t[131] = FADT_MINOR;                              /* FADT minor version */
  add_pointer (tables, TABLES, off + 132, 8, TABLES, facs); /* X_FIRMWARE_CTRL */
  add_pointer (tables, TABLES, off + 140, 8, TABLES, dsdt); /* X_DSDT */
  put_gas_io (t + 148, pm + PM1A_EVT, 4, GAS_ACCESS_WORD);
  put_gas_io (t + 172, pm + PM1A_CNT, 2, GAS_ACCESS_WORD);
  put_gas_io (t + 208, pm + PM_TMR, 4, GAS_ACCESS_DWORD);
  put_gas_io (t + 220, pm + GPE0, VMM_ACPI_GPE0_LEN, GAS_ACCESS_BYTE);
  /* 244, 256: no sleep control and status registers (not hardware-reduced) */
  memcpy (t + 268, "VIVARIUM", 8);                  /* Hypervisor Vendor Identity */
  sdt_checksum (tables, off);
}

static size_t
madt_len (unsigned n_cpus)
{
  return HEADER_LEN + 8 + 8 * (size_t) n_cpus + 12 + 2 * 10 + 6;
}

static void
put_iso (uint8_t *p, uint8_t irq, uint32_t gsi, uint16_t flags)
{
  p[0] = MADT_ISO;
  p[1] = 10;
  p[2] = 0;                     /* bus: ISA */
  p[3] = irq;
  viv_put_le32 (p + 4, gsi);
  viv_put_le16 (p + 8, flags);
}

static void
build_madt (uint8_t *t, const struct vmm_acpi_config *c)
{
  size_t len = madt_len (c->n_cpus);
  uint8_t *p = t + HEADER_LEN;

  sdt_header (t, "APIC", (uint32_t) len, MADT_REVISION);
  viv_put_le32 (p, (uint32_t) VMM_LAPIC_ADDR);
  /* KVM's in-kernel irqchip has the 8259 pair too: the OS must mask it. */
  viv_put_le32 (p + 4, MADT_PCAT_COMPAT);
  p += 8;

  for (unsigned i = 0; i < c->n_cpus; i++, p += 8)
    {
      p[0] = MADT_LAPIC;
      p[1] = 8;
      p[2] = (uint8_t) i;       /* ACPI processor UID */
      p[3] = (uint8_t) i;       /* APIC ID */
      viv_put_le32 (p + 4, MADT_LAPIC_ENABLED);
    }

  p[0] = MADT_IOAPIC;
  p[1] = 12;
  p[2] = 0;                     /* I/O APIC ID */
  p[3] = 0;
  viv_put_le32 (p + 4, (uint32_t) VMM_IOAPIC_ADDR);
  viv_put_le32 (p + 8, 0);             /* GSI base */
  p += 12;

  /* The PIT drives IOAPIC pin 2, as on every PC since the APIC; the SCI is
   * level-triggered, active-high, unlike ISA's default edge. */
  put_iso (p, VMM_IRQ_PIT, 2, 0);
  p += 10;
  put_iso (p, VMM_ACPI_SCI_IRQ, VMM_ACPI_SCI_IRQ, MPS_LEVEL_HIGH);
  p += 10;

  p[0] = MADT_LAPIC_NMI;
  p[1] = 6;
  p[2] = 0xff;                  /* all processors */
  viv_put_le16 (p + 3, 0);             /* flags: conforming to the bus */
  p[5] = 1;                     /* LINT1 */
  p += 6;

  g_assert ((size_t) (p - t) == len);
}

static void
build_mcfg (uint8_t *t, const struct vmm_acpi_config *c)
{
  uint8_t *a = t + HEADER_LEN + 8;

  sdt_header (t, "MCFG", MCFG_LEN, 1);
  viv_put_le64 (a, c->ecam_base);
  viv_put_le16 (a + 8, 0);             /* PCI segment group */
  a[10] = (uint8_t) c->ecam_start_bus;
  a[11] = (uint8_t) c->ecam_end_bus;
}

static void
build_rsdp (struct vmm_acpi_tables *t, size_t rsdt, size_t xsdt)
{
  uint8_t *r = t->data[RSDP];

  memcpy (r, "RSD PTR ", 8);
  memcpy (r + 9, OEM_ID, 6);
  r[15] = 2;                    /* revision: ACPI 2.0 and later, with an XSDT */
  add_pointer (t, RSDP, 16, 4, TABLES, rsdt);
  viv_put_le32 (r + 20, RSDP_LEN);
  add_pointer (t, RSDP, 24, 8, TABLES, xsdt);
  /* The ACPI 1.0 checksum first: the extended one covers it. */
  add_checksum (t, RSDP, 8, 0, RSDP_V1_LEN);
  add_checksum (t, RSDP, 32, 0, RSDP_LEN);
}

void
vmm_acpi_tables_clear (struct vmm_acpi_tables *t)
{
  for (unsigned i = 0; i < VMM_ACPI_N_BLOBS; i++)
    g_free (t->data[i]);
  memset (t, 0, sizeof *t);
}

int
vmm_acpi_tables_build (struct vmm_acpi_tables *t, const struct vmm_acpi_config *config)
{
  struct aml aml;
  const uint8_t *dsdt_bytes;
  size_t dsdt_len, facs, dsdt, fadt, madt, mcfg, rsdt, xsdt, used = 0;
  size_t tables[3];
  const size_t n_tables = G_N_ELEMENTS (tables);
  size_t rsdt_len = HEADER_LEN + 4 * n_tables, xsdt_len = HEADER_LEN + 8 * n_tables;
  uint8_t *d;
  int ret;

  memset (t, 0, sizeof *t);
  ret = check_config (config);
  if (ret < 0)
    return ret;

  aml_init (&aml);
  dsdt_build (&aml, config);
  ret = aml_finish (&aml, &dsdt_bytes, &dsdt_len);
  if (ret < 0)
    goto out;

  facs = tables_alloc (&used, FACS_LEN, 64);
  dsdt = tables_alloc (&used, dsdt_len, 16);
  fadt = tables_alloc (&used, FADT_LEN, 16);
  madt = tables_alloc (&used, madt_len (config->n_cpus), 16);
  mcfg = tables_alloc (&used, MCFG_LEN, 16);
  rsdt = tables_alloc (&used, rsdt_len, 16);
  xsdt = tables_alloc (&used, xsdt_len, 16);
  g_assert (facs == 0);

  t->len[RSDP] = RSDP_LEN;
  t->align[RSDP] = 16;
  t->data[RSDP] = g_malloc0 (RSDP_LEN);
  t->len[TABLES] = used;
  t->align[TABLES] = TABLES_ALIGN;
  t->data[TABLES] = d = g_malloc0 (used);

  build_facs (d + facs);

  memcpy (d + dsdt, dsdt_bytes, dsdt_len);
  sdt_header (d + dsdt, "DSDT", (uint32_t) dsdt_len, DSDT_REVISION);
  sdt_checksum (t, dsdt);

  build_fadt (t, fadt, config, facs, dsdt);
  build_madt (d + madt, config);
  sdt_checksum (t, madt);
  build_mcfg (d + mcfg, config);
  sdt_checksum (t, mcfg);

  /* RSDT and XSDT list the same tables; the RSDT's 32-bit entries assume
   * they are placed below 4 GiB (vmm_acpi_tables_link checks). */
  tables[0] = fadt;
  tables[1] = madt;
  tables[2] = mcfg;
  sdt_header (d + rsdt, "RSDT", (uint32_t) rsdt_len, 1);
  sdt_header (d + xsdt, "XSDT", (uint32_t) xsdt_len, 1);
  for (size_t i = 0; i < n_tables; i++)
    {
      add_pointer (t, TABLES, rsdt + HEADER_LEN + 4 * i, 4, TABLES, tables[i]);
      add_pointer (t, TABLES, xsdt + HEADER_LEN + 8 * i, 8, TABLES, tables[i]);
    }
  sdt_checksum (t, rsdt);
  sdt_checksum (t, xsdt);

  build_rsdp (t, rsdt, xsdt);

out:
  aml_clear (&aml);
  return ret;
}

int
vmm_acpi_tables_link (struct vmm_acpi_tables *t, const uint64_t base[VMM_ACPI_N_BLOBS])
{
  /* Checked first, so that a refusal leaves the blobs as they were. */
  for (unsigned i = 0; i < VMM_ACPI_N_BLOBS; i++)
    if (base[i] % t->align[i] != 0 || base[i] > UINT64_MAX - t->len[i])
      return -EINVAL;
  for (unsigned i = 0; i < t->n_pointers; i++)
    {
      const struct vmm_acpi_pointer *p = &t->pointers[i];
      uint64_t value = viv_get_le (t->data[p->blob] + p->offset, p->size);

      if (p->size < 8 && base[p->target] + value > (UINT64_C (1) << (8 * p->size)) - 1)
        return -EINVAL;
    }

  for (unsigned i = 0; i < t->n_pointers; i++)
    {
      const struct vmm_acpi_pointer *p = &t->pointers[i];
      uint8_t *field = t->data[p->blob] + p->offset;

      viv_put_le (field, viv_get_le (field, p->size) + base[p->target], p->size);
    }
  for (unsigned i = 0; i < t->n_checksums; i++)
    {
      const struct vmm_acpi_checksum_field *c = &t->checksums[i];
      uint8_t *data = t->data[c->blob];

      /* As SeaBIOS does it: the byte, zero until now, takes the sum away. */
      data[c->offset] = (uint8_t) (data[c->offset] + vmm_acpi_checksum (data + c->start, c->len));
    }
  return 0;
}

int
vmm_acpi_build (const struct vmm_mem *mem, const struct vmm_acpi_config *config,
                uint64_t *rsdp_gpa)
{
  const size_t area = VMM_ACPI_END - VMM_ACPI_BASE;
  const uint64_t base[VMM_ACPI_N_BLOBS] = {
    [RSDP] = VMM_ACPI_BASE,
    [TABLES] = VMM_ACPI_BASE + TABLES_AT,
  };
  struct vmm_acpi_tables t = { 0 };
  uint8_t *host, *img = NULL;
  int ret;

  G_STATIC_ASSERT (TABLES_AT >= RSDP_LEN && TABLES_AT % TABLES_ALIGN == 0);
  G_STATIC_ASSERT (VMM_ACPI_BASE % TABLES_ALIGN == 0);

  ret = check_config (config);
  if (ret < 0)
    return ret;
  /* The whole area, not just what the tables use: it is reserved in e820
   * and gets cleared, so no stale RSDP from an earlier boot is left behind. */
  host = vmm_mem_ptr (mem, VMM_ACPI_BASE, area);
  if (host == NULL)
    return -EFAULT;

  ret = vmm_acpi_tables_build (&t, config);
  if (ret < 0)
    goto out;
  if (t.len[TABLES] > area - TABLES_AT)
    {
      ret = -ENOSPC;
      goto out;
    }
  ret = vmm_acpi_tables_link (&t, base);
  g_assert (ret == 0);          /* aligned, and below 4 GiB */

  img = g_malloc0 (area);
  memcpy (img, t.data[RSDP], t.len[RSDP]);
  memcpy (img + TABLES_AT, t.data[TABLES], t.len[TABLES]);

  /* Only now does guest memory change: all of the area, or none of it. */
  memcpy (host, img, area);
  *rsdp_gpa = base[RSDP];

out:
  g_free (img);
  vmm_acpi_tables_clear (&t);
  return ret;
}
