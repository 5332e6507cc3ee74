/* arch/x86/acpi.c: ACPI tables, built in C at boot
 *
 * Written from the ACPI 6.4 specification, chapter 5. The tables are laid
 * out in a scratch image of the whole [VMM_ACPI_BASE, VMM_ACPI_END) area
 * with explicit little-endian byte writers (no packed structs, so no
 * unaligned access), then copied into guest memory in one go: the guest
 * sees either the complete set or, on error, nothing new.
 *
 *   VMM_ACPI_BASE  RSDP (where Linux and firmware scan for it)
 *   64-aligned     FACS
 *   then, 16-aligned: DSDT, FADT, MADT, MCFG, RSDT, XSDT
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

/* The scratch image of the ACPI area, and how much of it is used. */
struct image {
  uint8_t *data;
  size_t size;
  size_t used;
};

uint8_t
vmm_acpi_checksum (const void *data, size_t len)
{
  const uint8_t *p = data;
  uint8_t sum = 0;

  for (size_t i = 0; i < len; i++)
    sum = (uint8_t) (sum + p[i]);
  return (uint8_t) (0 - sum);
}

/* Reserves LEN bytes aligned to ALIGN; returns their offset from
 * VMM_ACPI_BASE in *OFF, or -ENOSPC. */
static int
image_alloc (struct image *img, size_t len, size_t align, size_t *off)
{
  size_t at = (img->used + align - 1) & ~(align - 1);

  if (at > img->size || len > img->size - at)
    return -ENOSPC;
  img->used = at + len;
  *off = at;
  return 0;
}

static uint64_t
image_gpa (size_t off)
{
  return VMM_ACPI_BASE + off;
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

static void
sdt_checksum (uint8_t *t, size_t len)
{
  t[9] = 0;
  t[9] = vmm_acpi_checksum (t, len);
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
  /* PM1a event and control, the PM timer and GPE0: 0x600-0x62f */
  aml_res_io (&res, true, VMM_PORT_ACPI_PM_BASE, VMM_PORT_ACPI_PM_BASE, 1,
              VMM_PORT_ACPI_GPE0 + VMM_ACPI_GPE0_LEN - VMM_PORT_ACPI_PM_BASE);
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
build_fadt (uint8_t *t, const struct vmm_acpi_config *c, uint64_t facs, uint64_t dsdt)
{
  uint16_t boot_arch = BOOT_VGA_NOT_PRESENT | BOOT_PCIE_ASPM_CTRLS;

  if (c->i8042)
    boot_arch |= BOOT_8042;
  if (!c->rtc)
    boot_arch |= BOOT_CMOS_RTC_ABSENT;

  sdt_header (t, "FACP", FADT_LEN, FADT_REVISION);
  viv_put_le32 (t + 36, (uint32_t) facs);                  /* FIRMWARE_CTRL */
  viv_put_le32 (t + 40, (uint32_t) dsdt);                  /* DSDT */
  /* 45: Preferred_PM_Profile 0, unspecified */
  viv_put_le16 (t + 46, VMM_ACPI_SCI_IRQ);                 /* SCI_INT */
  /* 48: SMI_CMD 0, ACPI_ENABLE and ACPI_DISABLE 0: there is no SMM, the
   * platform is always in ACPI mode. */
  viv_put_le32 (t + 56, VMM_PORT_ACPI_PM1A_EVT);           /* PM1a_EVT_BLK */
  viv_put_le32 (t + 64, VMM_PORT_ACPI_PM1A_CNT);           /* PM1a_CNT_BLK */
  viv_put_le32 (t + 76, VMM_PORT_ACPI_PM_TMR);             /* PM_TMR_BLK */
  viv_put_le32 (t + 80, VMM_PORT_ACPI_GPE0);               /* GPE0_BLK */
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
  viv_put_le64 (t + 132, facs);                            /* X_FIRMWARE_CTRL */
  viv_put_le64 (t + 140, dsdt);                            /* X_DSDT */
  put_gas_io (t + 148, VMM_PORT_ACPI_PM1A_EVT, 4, GAS_ACCESS_WORD);
  put_gas_io (t + 172, VMM_PORT_ACPI_PM1A_CNT, 2, GAS_ACCESS_WORD);
  put_gas_io (t + 208, VMM_PORT_ACPI_PM_TMR, 4, GAS_ACCESS_DWORD);
  put_gas_io (t + 220, VMM_PORT_ACPI_GPE0, VMM_ACPI_GPE0_LEN, GAS_ACCESS_BYTE);
  /* 244, 256: no sleep control and status registers (not hardware-reduced) */
  memcpy (t + 268, "VIVARIUM", 8);                  /* Hypervisor Vendor Identity */
  sdt_checksum (t, FADT_LEN);
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
  sdt_checksum (t, len);
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
  sdt_checksum (t, MCFG_LEN);
}

static void
build_rsdp (uint8_t *t, uint64_t rsdt, uint64_t xsdt)
{
  memcpy (t, "RSD PTR ", 8);
  memcpy (t + 9, OEM_ID, 6);
  t[15] = 2;                    /* revision: ACPI 2.0 and later, with an XSDT */
  viv_put_le32 (t + 16, (uint32_t) rsdt);
  viv_put_le32 (t + 20, RSDP_LEN);
  viv_put_le64 (t + 24, xsdt);
  t[8] = vmm_acpi_checksum (t, RSDP_V1_LEN);
  t[32] = vmm_acpi_checksum (t, RSDP_LEN);
}

int
vmm_acpi_build (const struct vmm_mem *mem, const struct vmm_acpi_config *config,
                uint64_t *rsdp_gpa)
{
  const size_t area = VMM_ACPI_END - VMM_ACPI_BASE;
  struct image img = { 0 };
  struct aml aml;
  const uint8_t *dsdt_bytes;
  size_t dsdt_len, rsdp, facs, dsdt, fadt, madt, mcfg, rsdt, xsdt;
  uint64_t tables[3];
  const size_t n_tables = G_N_ELEMENTS (tables);
  size_t rsdt_len = HEADER_LEN + 4 * n_tables, xsdt_len = HEADER_LEN + 8 * n_tables;
  uint8_t *host;
  int ret;

  ret = check_config (config);
  if (ret < 0)
    return ret;
  /* The whole area, not just what the tables use: it is reserved in e820
   * and gets cleared, so no stale RSDP from an earlier boot is left behind. */
  host = vmm_mem_ptr (mem, VMM_ACPI_BASE, area);
  if (host == NULL)
    return -EFAULT;

  aml_init (&aml);
  dsdt_build (&aml, config);
  ret = aml_finish (&aml, &dsdt_bytes, &dsdt_len);
  if (ret < 0)
    goto out;

  img.data = g_malloc0 (area);
  img.size = area;
  {
    const struct { size_t len, align; size_t *off; } layout[] = {
      { RSDP_LEN, 16, &rsdp },
      { FACS_LEN, 64, &facs },
      { dsdt_len, 16, &dsdt },
      { FADT_LEN, 16, &fadt },
      { madt_len (config->n_cpus), 16, &madt },
      { MCFG_LEN, 16, &mcfg },
      { rsdt_len, 16, &rsdt },
      { xsdt_len, 16, &xsdt },
    };
    for (size_t i = 0; i < G_N_ELEMENTS (layout); i++)
      {
        ret = image_alloc (&img, layout[i].len, layout[i].align, layout[i].off);
        if (ret < 0)
          goto out;
      }
  }
  g_assert (rsdp == 0);

  build_facs (img.data + facs);

  memcpy (img.data + dsdt, dsdt_bytes, dsdt_len);
  sdt_header (img.data + dsdt, "DSDT", (uint32_t) dsdt_len, DSDT_REVISION);
  sdt_checksum (img.data + dsdt, dsdt_len);

  build_fadt (img.data + fadt, config, image_gpa (facs), image_gpa (dsdt));
  build_madt (img.data + madt, config);
  build_mcfg (img.data + mcfg, config);

  /* RSDT and XSDT list the same tables; the area is below 4 GiB, so the
   * RSDT's 32-bit entries hold the same addresses. */
  tables[0] = image_gpa (fadt);
  tables[1] = image_gpa (madt);
  tables[2] = image_gpa (mcfg);
  sdt_header (img.data + rsdt, "RSDT", (uint32_t) rsdt_len, 1);
  sdt_header (img.data + xsdt, "XSDT", (uint32_t) xsdt_len, 1);
  for (size_t i = 0; i < n_tables; i++)
    {
      viv_put_le32 (img.data + rsdt + HEADER_LEN + 4 * i, (uint32_t) tables[i]);
      viv_put_le64 (img.data + xsdt + HEADER_LEN + 8 * i, tables[i]);
    }
  sdt_checksum (img.data + rsdt, rsdt_len);
  sdt_checksum (img.data + xsdt, xsdt_len);

  build_rsdp (img.data + rsdp, image_gpa (rsdt), image_gpa (xsdt));

  /* Only now does guest memory change: all of the area, or none of it. */
  memcpy (host, img.data, area);
  *rsdp_gpa = image_gpa (rsdp);

out:
  g_free (img.data);
  aml_clear (&aml);
  return ret;
}
