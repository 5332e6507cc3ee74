/* test-acpi.c: the ACPI tables and the AML encoder
 *
 * The tables are built into fake guest RAM (vmm-test.h) and read back the
 * way an OS finds them: scan for the RSDP, follow the RSDT and XSDT, check
 * every checksum. The DSDT (and every other table) then goes
 * through ACPICA's disassembler, iasl, when it is installed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "viv-bytes.h"
#include "vmm-test.h"

#define RAM_SIZE     VMM_MiB (2)
#define MMIO64_BASE  0x1000000000ull   /* 64 GiB */

/* ---- reading tables back ---------------------------------------------------- */

static uint8_t
sum (const uint8_t *p, size_t len)
{
  uint8_t s = 0;

  for (size_t i = 0; i < len; i++)
    s = (uint8_t) (s + p[i]);
  return s;
}

static struct vmm_acpi_config
default_config (void)
{
  return (struct vmm_acpi_config) {
    .n_cpus = 4,
    .ecam_base = VMM_PCI_ECAM_BASE,
    .ecam_start_bus = 0,
    .ecam_end_bus = VMM_PCI_ECAM_BUSES - 1,
    .mmio32_base = VMM_PCI_MMIO32_BASE,
    .mmio32_size = VMM_PCI_MMIO32_SIZE,
    .mmio64_base = MMIO64_BASE,
    .mmio64_size = VMM_PCI_MMIO64_SIZE,
    .com1 = true,
    .com2 = true,
    .rtc = true,
    .i8042 = true,
    .pvpanic = true,
  };
}

/* A table in guest memory, checked: inside the ACPI area, whole, summing to
 * zero, with the expected signature. */
static const uint8_t *
table_at (const struct vmm_mem *mem, uint64_t gpa, const char *sig)
{
  const uint8_t *t;
  uint32_t len;

  g_assert_cmpuint (gpa, >=, VMM_ACPI_BASE);
  g_assert_cmpuint (gpa, <, VMM_ACPI_END);
  t = vmm_mem_ptr (mem, gpa, 36);
  g_assert_nonnull (t);
  g_assert_cmpmem (t, 4, sig, 4);
  len = viv_get_le32 (t + 4);
  g_assert_cmpuint (len, >=, 36);
  g_assert_cmpuint (gpa + len, <=, VMM_ACPI_END);
  g_assert_nonnull (vmm_mem_ptr (mem, gpa, len));
  g_assert_cmpuint (sum (t, len), ==, 0);
  g_assert_cmpmem (t + 10, 6, "VIVARI", 6);
  g_assert_cmpmem (t + 16, 8, "VIVARIUM", 8);
  g_assert_cmpuint (viv_get_le32 (t + 24), ==, 1);
  g_assert_cmpmem (t + 28, 4, "VIVM", 4);
  g_assert_cmpuint (viv_get_le32 (t + 32), ==, 1);
  return t;
}

/* Everything an OS would find, from the RSDP down. */
struct tables {
  uint64_t rsdp_gpa, rsdt_gpa, xsdt_gpa, fadt_gpa, madt_gpa, mcfg_gpa, dsdt_gpa, facs_gpa;
  const uint8_t *rsdp, *rsdt, *xsdt, *fadt, *madt, *mcfg, *dsdt, *facs;
};

/* Scans the BIOS area as Linux does (acpi_find_root_pointer): 16-byte
 * steps, signature, then the ACPI 1.0 checksum. */
static uint64_t
find_rsdp (const struct vmm_mem *mem)
{
  uint64_t found = 0;

  for (uint64_t gpa = 0xe0000; gpa < 0x100000; gpa += 16)
    {
      const uint8_t *p = vmm_mem_ptr (mem, gpa, 20);
      if (p != NULL && memcmp (p, "RSD PTR ", 8) == 0 && sum (p, 20) == 0)
        {
          g_assert_cmpuint (found, ==, 0);   /* exactly one */
          found = gpa;
        }
    }
  g_assert_cmpuint (found, !=, 0);
  return found;
}

static void
parse_tables (const struct vmm_mem *mem, uint64_t rsdp_gpa, struct tables *t)
{
  const uint8_t *p;
  unsigned n_rsdt, n_xsdt;

  memset (t, 0, sizeof *t);
  t->rsdp_gpa = find_rsdp (mem);
  g_assert_cmpuint (t->rsdp_gpa, ==, rsdp_gpa);
  g_assert_cmpuint (t->rsdp_gpa, ==, VMM_ACPI_BASE);
  p = t->rsdp = vmm_mem_ptr (mem, t->rsdp_gpa, 36);
  g_assert_nonnull (p);
  g_assert_cmpuint (sum (p, 20), ==, 0);
  g_assert_cmpmem (p + 9, 6, "VIVARI", 6);
  g_assert_cmpuint (p[15], ==, 2);
  g_assert_cmpuint (viv_get_le32 (p + 20), ==, 36);
  g_assert_cmpuint (sum (p, 36), ==, 0);
  t->rsdt_gpa = viv_get_le32 (p + 16);
  t->xsdt_gpa = viv_get_le64 (p + 24);

  t->rsdt = table_at (mem, t->rsdt_gpa, "RSDT");
  t->xsdt = table_at (mem, t->xsdt_gpa, "XSDT");
  g_assert_cmpuint ((viv_get_le32 (t->rsdt + 4) - 36) % 4, ==, 0);
  g_assert_cmpuint ((viv_get_le32 (t->xsdt + 4) - 36) % 8, ==, 0);
  n_rsdt = (viv_get_le32 (t->rsdt + 4) - 36) / 4;
  n_xsdt = (viv_get_le32 (t->xsdt + 4) - 36) / 8;
  g_assert_cmpuint (n_rsdt, ==, 3);
  g_assert_cmpuint (n_xsdt, ==, n_rsdt);

  for (unsigned i = 0; i < n_xsdt; i++)
    {
      uint64_t gpa = viv_get_le64 (t->xsdt + 36 + 8 * i);
      const uint8_t *tab = vmm_mem_ptr (mem, gpa, 4);

      g_assert_cmpuint (viv_get_le32 (t->rsdt + 36 + 4 * i), ==, gpa);
      g_assert_nonnull (tab);
      if (memcmp (tab, "FACP", 4) == 0)
        {
          g_assert_cmpuint (t->fadt_gpa, ==, 0);
          t->fadt_gpa = gpa;
          t->fadt = table_at (mem, gpa, "FACP");
        }
      else if (memcmp (tab, "APIC", 4) == 0)
        {
          g_assert_cmpuint (t->madt_gpa, ==, 0);
          t->madt_gpa = gpa;
          t->madt = table_at (mem, gpa, "APIC");
        }
      else if (memcmp (tab, "MCFG", 4) == 0)
        {
          g_assert_cmpuint (t->mcfg_gpa, ==, 0);
          t->mcfg_gpa = gpa;
          t->mcfg = table_at (mem, gpa, "MCFG");
        }
      else
        g_assert_not_reached ();
    }
  g_assert_nonnull (t->fadt);
  g_assert_nonnull (t->madt);
  g_assert_nonnull (t->mcfg);

  /* The FADT points at the DSDT and the FACS twice, and both must agree. */
  g_assert_cmpuint (viv_get_le32 (t->fadt + 4), ==, 276);
  g_assert_cmpuint (t->fadt[8], ==, 6);
  t->dsdt_gpa = viv_get_le64 (t->fadt + 140);
  g_assert_cmpuint (viv_get_le32 (t->fadt + 40), ==, t->dsdt_gpa);
  t->dsdt = table_at (mem, t->dsdt_gpa, "DSDT");
  g_assert_cmpuint (t->dsdt[8], >=, 2);   /* 64-bit integers */

  t->facs_gpa = viv_get_le64 (t->fadt + 132);
  g_assert_cmpuint (viv_get_le32 (t->fadt + 36), ==, t->facs_gpa);
  g_assert_cmpuint (t->facs_gpa % 64, ==, 0);
  g_assert_cmpuint (t->facs_gpa, >=, VMM_ACPI_BASE);
  g_assert_cmpuint (t->facs_gpa + 64, <=, VMM_ACPI_END);
  t->facs = vmm_mem_ptr (mem, t->facs_gpa, 64);
  g_assert_nonnull (t->facs);
  g_assert_cmpmem (t->facs, 4, "FACS", 4);
  g_assert_cmpuint (viv_get_le32 (t->facs + 4), ==, 64);
  g_assert_cmpuint (t->facs[32], ==, 2);
}

static void
build_and_parse (const struct vmm_mem *mem, const struct vmm_acpi_config *config, struct tables *t)
{
  uint64_t rsdp = 0;

  g_assert_cmpint (vmm_acpi_build (mem, config, &rsdp), ==, 0);
  parse_tables (mem, rsdp, t);
}

/* ---- the tables --------------------------------------------------------------- */

static void
test_checksum (void)
{
  static const uint8_t bytes[] = { 1, 2, 3, 0xff, 0x80 };
  uint8_t copy[sizeof bytes + 1];

  g_assert_cmpuint (vmm_acpi_checksum (bytes, 0), ==, 0);
  g_assert_cmpuint (vmm_acpi_checksum (bytes, 1), ==, 0xff);
  memcpy (copy, bytes, sizeof bytes);
  copy[sizeof bytes] = vmm_acpi_checksum (bytes, sizeof bytes);
  g_assert_cmpuint (sum (copy, sizeof copy), ==, 0);
}

static void
test_rsdp (void)
{
  struct vmm_acpi_config c = default_config ();
  struct vmm_test_ram g = { 0 };
  struct tables t;

  vmm_test_ram_add (&g, 0, RAM_SIZE);
  build_and_parse (&g.mem, &c, &t);
  /* 16-byte aligned, where the scan looks, and revision 2's extra fields */
  g_assert_cmpuint (t.rsdp_gpa % 16, ==, 0);
  g_assert_cmpuint (t.rsdt_gpa, !=, 0);
  g_assert_cmpuint (t.xsdt_gpa, !=, 0);
  g_assert_cmpmem (t.rsdp + 33, 3, "\0\0\0", 3);
  vmm_test_ram_free (&g);
}

static void
assert_gas_io (const uint8_t *gas, uint64_t port, unsigned bits, unsigned access)
{
  g_assert_cmpuint (gas[0], ==, 1);          /* SystemIO */
  g_assert_cmpuint (gas[1], ==, bits);
  g_assert_cmpuint (gas[2], ==, 0);
  g_assert_cmpuint (gas[3], ==, access);
  g_assert_cmpuint (viv_get_le64 (gas + 4), ==, port);
}

static void
test_fadt (void)
{
  struct vmm_acpi_config c = default_config ();
  struct vmm_test_ram g = { 0 };
  struct tables t;
  const uint8_t *f;
  uint32_t flags;

  vmm_test_ram_add (&g, 0, RAM_SIZE);
  build_and_parse (&g.mem, &c, &t);
  f = t.fadt;

  g_assert_cmpuint (viv_get_le16 (f + 46), ==, 9);               /* SCI_INT */
  g_assert_cmpuint (viv_get_le32 (f + 48), ==, 0);               /* SMI_CMD: always ACPI */
  g_assert_cmpuint (f[52], ==, 0);
  g_assert_cmpuint (f[53], ==, 0);
  g_assert_cmpuint (viv_get_le32 (f + 56), ==, 0x600);           /* PM1a_EVT_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 60), ==, 0);               /* PM1b_EVT_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 64), ==, 0x604);           /* PM1a_CNT_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 68), ==, 0);
  g_assert_cmpuint (viv_get_le32 (f + 72), ==, 0);               /* PM2_CNT_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 76), ==, 0x608);           /* PM_TMR_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 80), ==, 0x620);           /* GPE0_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 84), ==, 0);
  g_assert_cmpuint (f[88], ==, 4);
  g_assert_cmpuint (f[89], ==, 2);
  g_assert_cmpuint (f[90], ==, 0);
  g_assert_cmpuint (f[91], ==, 4);
  g_assert_cmpuint (f[92], ==, 16);
  g_assert_cmpuint (f[93], ==, 0);
  g_assert_cmpuint (viv_get_le16 (f + 96), >, 100);              /* no C2 */
  g_assert_cmpuint (viv_get_le16 (f + 98), >, 1000);             /* no C3 */

  flags = viv_get_le32 (f + 112);
  g_assert_true (flags & (1u << 0));                     /* WBINVD */
  g_assert_true (flags & (1u << 2));                     /* PROC_C1 */
  g_assert_false (flags & (1u << 4));                    /* fixed power button */
  g_assert_true (flags & (1u << 5));                     /* no fixed sleep button */
  g_assert_true (flags & (1u << 8));                     /* TMR_VAL_EXT */
  g_assert_true (flags & (1u << 10));                    /* RESET_REG_SUP */
  g_assert_false (flags & (1u << 20));                   /* not hardware-reduced */

  assert_gas_io (f + 116, 0x64, 8, 1);                   /* RESET_REG */
  g_assert_cmpuint (f[128], ==, 0xfe);

  assert_gas_io (f + 148, 0x600, 32, 2);                 /* X_PM1a_EVT_BLK */
  g_assert_cmpuint (viv_get_le64 (f + 160 + 4), ==, 0);          /* X_PM1b_EVT_BLK */
  assert_gas_io (f + 172, 0x604, 16, 2);                 /* X_PM1a_CNT_BLK */
  g_assert_cmpuint (viv_get_le64 (f + 184 + 4), ==, 0);
  g_assert_cmpuint (viv_get_le64 (f + 196 + 4), ==, 0);          /* X_PM2_CNT_BLK */
  assert_gas_io (f + 208, 0x608, 32, 3);                 /* X_PM_TMR_BLK */
  assert_gas_io (f + 220, 0x620, 128, 1);                /* X_GPE0_BLK */
  g_assert_cmpuint (viv_get_le64 (f + 232 + 4), ==, 0);          /* X_GPE1_BLK */
  g_assert_cmpmem (f + 268, 8, "VIVARIUM", 8);
  g_assert_true (viv_get_le16 (f + 109) & (1u << 2));    /* VGA not present */
  vmm_test_ram_free (&g);
}

/* Where the firmware moved the PM block (SeaBIOS: 0xb000), and a VGA */
static void
test_fadt_firmware (void)
{
  struct vmm_acpi_config c = default_config ();
  struct vmm_test_ram g = { 0 };
  struct tables t;
  const uint8_t *f;

  c.pm_base = 0xb000;
  c.vga = true;
  vmm_test_ram_add (&g, 0, RAM_SIZE);
  build_and_parse (&g.mem, &c, &t);
  f = t.fadt;
  g_assert_cmpuint (viv_get_le32 (f + 56), ==, 0xb000);          /* PM1a_EVT_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 64), ==, 0xb004);          /* PM1a_CNT_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 76), ==, 0xb008);          /* PM_TMR_BLK */
  g_assert_cmpuint (viv_get_le32 (f + 80), ==, 0xb020);          /* GPE0_BLK */
  assert_gas_io (f + 148, 0xb000, 32, 2);
  assert_gas_io (f + 172, 0xb004, 16, 2);
  assert_gas_io (f + 208, 0xb008, 32, 3);
  assert_gas_io (f + 220, 0xb020, 128, 1);
  g_assert_false (viv_get_le16 (f + 109) & (1u << 2));   /* a VGA is present */
  vmm_test_ram_free (&g);
}

static void
test_fadt_boot_arch (void)
{
  for (unsigned i = 0; i < 4; i++)
    {
      struct vmm_acpi_config c = default_config ();
      struct vmm_test_ram g = { 0 };
      struct tables t;
      uint16_t arch;

      c.i8042 = i & 1;
      c.rtc = i & 2;
      vmm_test_ram_add (&g, 0, RAM_SIZE);
      build_and_parse (&g.mem, &c, &t);
      arch = viv_get_le16 (t.fadt + 109);
      g_assert_cmpuint (!!(arch & (1u << 1)), ==, c.i8042);  /* 8042 */
      g_assert_true (arch & (1u << 2));                      /* VGA not present */
      g_assert_false (arch & (1u << 3));                     /* MSI works */
      g_assert_true (arch & (1u << 4));                      /* PCIe ASPM controls */
      g_assert_cmpuint (!!(arch & (1u << 5)), ==, !c.rtc);   /* CMOS RTC not present */
      g_assert_cmpuint (t.fadt[108], ==, c.rtc ? 0x32 : 0);  /* CENTURY */
      vmm_test_ram_free (&g);
    }
}

static void
check_madt (unsigned n_cpus)
{
  struct vmm_acpi_config c = default_config ();
  struct vmm_test_ram g = { 0 };
  struct tables t;
  const uint8_t *p, *end;
  unsigned n_lapic = 0, n_ioapic = 0, n_iso = 0, n_nmi = 0;
  bool seen[256] = { false };

  c.n_cpus = n_cpus;
  vmm_test_ram_add (&g, 0, RAM_SIZE);
  build_and_parse (&g.mem, &c, &t);
  g_assert_cmpuint (viv_get_le32 (t.madt + 36), ==, 0xfee00000);
  g_assert_cmpuint (viv_get_le32 (t.madt + 40), ==, 1);          /* PCAT_COMPAT */

  p = t.madt + 44;
  end = t.madt + viv_get_le32 (t.madt + 4);
  while (p < end)
    {
      g_assert_true (end - p >= 2);
      g_assert_cmpuint (p[1], >=, 2);
      g_assert_true (end - p >= p[1]);
      switch (p[0])
        {
        case 0:                                          /* Processor Local APIC */
          g_assert_cmpuint (p[1], ==, 8);
          g_assert_cmpuint (p[2], ==, n_lapic);          /* UID */
          g_assert_cmpuint (p[3], ==, n_lapic);          /* APIC ID */
          g_assert_cmpuint (p[3], <, 255);
          g_assert_false (seen[p[3]]);
          seen[p[3]] = true;
          g_assert_cmpuint (viv_get_le32 (p + 4), ==, 1);        /* enabled */
          n_lapic++;
          break;
        case 1:                                          /* I/O APIC */
          g_assert_cmpuint (p[1], ==, 12);
          g_assert_cmpuint (p[2], ==, 0);
          g_assert_cmpuint (viv_get_le32 (p + 4), ==, 0xfec00000);
          g_assert_cmpuint (viv_get_le32 (p + 8), ==, 0);
          n_ioapic++;
          break;
        case 2:                                          /* Interrupt Source Override */
          g_assert_cmpuint (p[1], ==, 10);
          g_assert_cmpuint (p[2], ==, 0);                /* ISA */
          if (p[3] == 0)
            {
              g_assert_cmpuint (viv_get_le32 (p + 4), ==, 2);
              g_assert_cmpuint (viv_get_le16 (p + 8), ==, 0);
            }
          else if (p[3] == 9)
            {
              g_assert_cmpuint (viv_get_le32 (p + 4), ==, 9);
              g_assert_cmpuint (viv_get_le16 (p + 8), ==, 0x000d);
            }
          else
            g_assert_not_reached ();
          n_iso |= 1u << p[3];
          break;
        case 4:                                          /* Local APIC NMI */
          g_assert_cmpuint (p[1], ==, 6);
          g_assert_cmpuint (p[2], ==, 0xff);
          g_assert_cmpuint (viv_get_le16 (p + 3), ==, 0);
          g_assert_cmpuint (p[5], ==, 1);                /* LINT1 */
          n_nmi++;
          break;
        default:
          g_assert_not_reached ();
        }
      p += p[1];
    }
  g_assert_true (p == end);
  g_assert_cmpuint (n_lapic, ==, n_cpus);
  g_assert_cmpuint (n_ioapic, ==, 1);
  g_assert_cmpuint (n_iso, ==, (1u << 0) | (1u << 9));
  g_assert_cmpuint (n_nmi, ==, 1);
  vmm_test_ram_free (&g);
}

static void
test_madt (void)
{
  check_madt (1);
  check_madt (4);
  check_madt (VMM_ACPI_MAX_CPUS);
}

static void
test_madt_bad_cpus (void)
{
  static const unsigned bad[] = { 0, VMM_ACPI_MAX_CPUS + 1, 1000 };
  struct vmm_test_ram g = { 0 };
  const uint8_t *ram = vmm_test_ram_add (&g, 0, RAM_SIZE);

  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      struct vmm_acpi_config c = default_config ();
      uint64_t rsdp = 7;

      c.n_cpus = bad[i];
      g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EINVAL);
      g_assert_cmpuint (rsdp, ==, 7);
    }
  /* Nothing was written. */
  for (uint64_t i = VMM_ACPI_BASE; i < VMM_ACPI_END; i++)
    g_assert_cmpuint (ram[i], ==, 0);
  vmm_test_ram_free (&g);
}

static void
test_mcfg (void)
{
  static const struct { unsigned start, end; } buses[] = {
    { 0, 255 }, { 0, 0 }, { 0, 63 }, { 16, 31 }, { 255, 255 },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (buses); i++)
    {
      struct vmm_acpi_config c = default_config ();
      struct vmm_test_ram g = { 0 };
      struct tables t;
      const uint8_t *a;

      c.ecam_start_bus = buses[i].start;
      c.ecam_end_bus = buses[i].end;
      vmm_test_ram_add (&g, 0, RAM_SIZE);
      build_and_parse (&g.mem, &c, &t);
      g_assert_cmpuint (viv_get_le32 (t.mcfg + 4), ==, 36 + 8 + 16);   /* one allocation */
      g_assert_cmpuint (t.mcfg[8], ==, 1);
      g_assert_cmpuint (viv_get_le64 (t.mcfg + 36), ==, 0);            /* reserved */
      a = t.mcfg + 44;
      g_assert_cmpuint (viv_get_le64 (a), ==, VMM_PCI_ECAM_BASE);
      g_assert_cmpuint (viv_get_le16 (a + 8), ==, 0);
      g_assert_cmpuint (a[10], ==, buses[i].start);
      g_assert_cmpuint (a[11], ==, buses[i].end);
      g_assert_cmpuint (viv_get_le32 (a + 12), ==, 0);
      vmm_test_ram_free (&g);
    }
}

static void
test_bad_config (void)
{
  static const struct { unsigned start, end; } buses[] = {
    { 1, 0 }, { 0, 256 }, { 255, 256 }, { 200, 100 }, { 0, 1000 },
  };
  struct vmm_test_ram g = { 0 };
  uint64_t rsdp = 0;

  vmm_test_ram_add (&g, 0, RAM_SIZE);
  for (size_t i = 0; i < G_N_ELEMENTS (buses); i++)
    {
      struct vmm_acpi_config c = default_config ();

      c.ecam_start_bus = buses[i].start;
      c.ecam_end_bus = buses[i].end;
      g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EINVAL);
    }

  /* Windows that wrap or do not fit their descriptor */
  {
    struct vmm_acpi_config c = default_config ();
    c.mmio32_base = 0xf0000000;
    c.mmio32_size = VMM_MiB (512);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EINVAL);
    c.mmio32_base = 0x100000000ull;
    c.mmio32_size = VMM_MiB (1);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EINVAL);
    c.mmio32_size = 0;
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EINVAL);
  }
  {
    struct vmm_acpi_config c = default_config ();
    c.mmio64_base = UINT64_MAX - VMM_GiB (1);
    c.mmio64_size = VMM_GiB (2);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EINVAL);
  }
  {
    struct vmm_acpi_config c = default_config ();
    c.ecam_base = UINT64_MAX - VMM_MiB (1);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EINVAL);
  }
  /* A window ending exactly at 4 GiB is fine. */
  {
    struct vmm_acpi_config c = default_config ();
    c.mmio32_base = 0xf0000000;
    c.mmio32_size = VMM_MiB (256);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, 0);
  }
  vmm_test_ram_free (&g);
}

static void
test_efault (void)
{
  struct vmm_acpi_config c = default_config ();
  uint64_t rsdp = 7;

  /* RAM that ends inside the ACPI area */
  {
    struct vmm_test_ram g = { 0 };
    vmm_test_ram_add (&g, 0, 0xf0000);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EFAULT);
    vmm_test_ram_free (&g);
  }
  /* RAM that ends just before it */
  {
    struct vmm_test_ram g = { 0 };
    vmm_test_ram_add (&g, 0, VMM_ACPI_BASE);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EFAULT);
    vmm_test_ram_free (&g);
  }
  /* The area split over two regions: no single host pointer covers it. */
  {
    struct vmm_test_ram g = { 0 };
    vmm_test_ram_add (&g, 0, 0xf0000);
    vmm_test_ram_add (&g, 0xf0000, 0x10000);
    g_assert_cmpint (vmm_acpi_build (&g.mem, &c, &rsdp), ==, -EFAULT);
    vmm_test_ram_free (&g);
  }
  /* No RAM at all */
  {
    struct vmm_mem mem = { 0 };
    g_assert_cmpint (vmm_acpi_build (&mem, &c, &rsdp), ==, -EFAULT);
  }
  g_assert_cmpuint (rsdp, ==, 7);

  /* RAM that ends exactly at VMM_ACPI_END is enough. */
  {
    struct vmm_test_ram g = { 0 };
    struct tables t;
    vmm_test_ram_add (&g, 0, VMM_ACPI_END);
    build_and_parse (&g.mem, &c, &t);
    vmm_test_ram_free (&g);
  }
}

static int
cmp_range (const void *a, const void *b)
{
  const uint64_t *x = a, *y = b;
  return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void
test_layout (void)
{
  const unsigned n_cpus[] = { 1, 4, VMM_ACPI_MAX_CPUS };

  for (size_t k = 0; k < G_N_ELEMENTS (n_cpus); k++)
    {
      struct vmm_acpi_config c = default_config ();
      struct vmm_test_ram g = { 0 };
      struct tables t;
      uint64_t r[8][2];

      c.n_cpus = n_cpus[k];
      vmm_test_ram_add (&g, 0, RAM_SIZE);
      build_and_parse (&g.mem, &c, &t);
      r[0][0] = t.rsdp_gpa, r[0][1] = 36;
      r[1][0] = t.facs_gpa, r[1][1] = 64;
      r[2][0] = t.rsdt_gpa, r[2][1] = viv_get_le32 (t.rsdt + 4);
      r[3][0] = t.xsdt_gpa, r[3][1] = viv_get_le32 (t.xsdt + 4);
      r[4][0] = t.fadt_gpa, r[4][1] = viv_get_le32 (t.fadt + 4);
      r[5][0] = t.madt_gpa, r[5][1] = viv_get_le32 (t.madt + 4);
      r[6][0] = t.mcfg_gpa, r[6][1] = viv_get_le32 (t.mcfg + 4);
      r[7][0] = t.dsdt_gpa, r[7][1] = viv_get_le32 (t.dsdt + 4);
      qsort (r, G_N_ELEMENTS (r), sizeof r[0], cmp_range);
      for (size_t i = 0; i < G_N_ELEMENTS (r); i++)
        {
          g_assert_cmpuint (r[i][0], >=, VMM_ACPI_BASE);
          g_assert_cmpuint (r[i][0] + r[i][1], <=, VMM_ACPI_END);
          /* 8-byte alignment at least: tables hold 64-bit fields */
          g_assert_cmpuint (r[i][0] % 8, ==, 0);
          if (i > 0)
            g_assert_cmpuint (r[i - 1][0] + r[i - 1][1], <=, r[i][0]);
        }
      vmm_test_ram_free (&g);
    }
}

static void
test_rebuild (void)
{
  struct vmm_acpi_config c = default_config ();
  struct vmm_test_ram g = { 0 };
  struct tables t;
  uint8_t *ram;

  /* Junk in the area, with a stale RSDP-looking signature, is cleared. */
  ram = vmm_test_ram_add (&g, 0, RAM_SIZE);
  memset (ram + VMM_ACPI_BASE, 0xaa, VMM_ACPI_END - VMM_ACPI_BASE);
  memcpy (ram + 0xf0000, "RSD PTR ", 8);
  build_and_parse (&g.mem, &c, &t);
  /* Around the area, RAM is untouched. */
  g_assert_cmpuint (ram[VMM_ACPI_BASE - 1], ==, 0);
  g_assert_cmpuint (ram[VMM_ACPI_END], ==, 0);

  /* A second build, with another config, over the first */
  c.n_cpus = 2;
  c.com2 = false;
  build_and_parse (&g.mem, &c, &t);
  vmm_test_ram_free (&g);
}

/* ---- the DSDT's content, byte by byte -------------------------------------------- */

static bool
contains (const uint8_t *hay, size_t len, const void *needle, size_t n)
{
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp (hay + i, needle, n) == 0)
      return true;
  return false;
}

static void
test_dsdt_devices (void)
{
  /* _S5_ = Package (4) { 5, 5, 0, 0 } and _S0_ = Package (4) { 0, 0, 0, 0 } */
  static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
                                0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
  static const uint8_t s0[] = { 0x08, '_', 'S', '0', '_', 0x12, 0x06, 0x04,
                                0x00, 0x00, 0x00, 0x00 };
  /* Name (_HID, EisaId ("PNP0A08")) */
  static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08 };

  for (unsigned i = 0; i < 32; i++)
    {
      struct vmm_acpi_config c = default_config ();
      struct vmm_test_ram g = { 0 };
      struct tables t;
      size_t len;

      c.com1 = i & 1;
      c.com2 = i & 2;
      c.rtc = i & 4;
      c.i8042 = i & 8;
      c.pvpanic = i & 16;
      vmm_test_ram_add (&g, 0, RAM_SIZE);
      build_and_parse (&g.mem, &c, &t);
      len = viv_get_le32 (t.dsdt + 4);
      g_assert_true (contains (t.dsdt, len, s5, sizeof s5));
      g_assert_true (contains (t.dsdt, len, s0, sizeof s0));
      g_assert_true (contains (t.dsdt, len, hid, sizeof hid));
      g_assert_true (contains (t.dsdt, len, "PCI0", 4));
      g_assert_true (contains (t.dsdt, len, "MRES", 4));
      g_assert_cmpint (contains (t.dsdt, len, "COM1", 4), ==, c.com1);
      g_assert_cmpint (contains (t.dsdt, len, "COM2", 4), ==, c.com2);
      g_assert_cmpint (contains (t.dsdt, len, "RTC_", 4), ==, c.rtc);
      g_assert_cmpint (contains (t.dsdt, len, "KBD_", 4), ==, c.i8042);
      g_assert_cmpint (contains (t.dsdt, len, "MOU_", 4), ==, c.i8042);
      g_assert_cmpint (contains (t.dsdt, len, "QEMU0001", 8), ==, c.pvpanic);
      vmm_test_ram_free (&g);
    }
}

/* ---- the AML encoder --------------------------------------------------------------- */

/* The bytes AML holds, checked against EXPECT. */
static void
assert_aml (struct aml *aml, const void *expect, size_t n)
{
  const uint8_t *data = NULL;
  size_t len = 0;

  g_assert_cmpint (aml_finish (aml, &data, &len), ==, 0);
  g_assert_cmpmem (data, len, expect, n);
}

#define ASSERT_AML(aml, ...)                                            \
  do                                                                    \
    {                                                                   \
      static const uint8_t expect_[] = { __VA_ARGS__ };                 \
      assert_aml ((aml), expect_, sizeof expect_);                      \
    }                                                                   \
  while (0)

static void
test_aml_pkglength (void)
{
  static const struct { uint32_t value; unsigned n; uint8_t bytes[4]; } cases[] = {
    { 1, 1, { 0x01 } },
    { 63, 1, { 0x3f } },
    { 64, 2, { 0x40, 0x04 } },
    { 4095, 2, { 0x4f, 0xff } },
    { 4096, 3, { 0x80, 0x00, 0x01 } },
    { 1048575, 3, { 0x8f, 0xff, 0xff } },
    { 1048576, 4, { 0xc0, 0x00, 0x00, 0x01 } },
    { AML_PKGLENGTH_MAX, 4, { 0xcf, 0xff, 0xff, 0xff } },
  };
  uint8_t out[4];

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      memset (out, 0x55, sizeof out);
      g_assert_cmpuint (aml_encode_pkglength (cases[i].value, out), ==, cases[i].n);
      g_assert_cmpmem (out, cases[i].n, cases[i].bytes, cases[i].n);
    }
  g_assert_cmpuint (aml_encode_pkglength (AML_PKGLENGTH_MAX + 1, out), ==, 0);
}

/* Decodes the PkgLength at P: returns its value, its size in *N. */
static uint32_t
decode_pkglength (const uint8_t *p, unsigned *n)
{
  uint32_t v;

  *n = (p[0] >> 6) + 1;
  if (*n == 1)
    return p[0] & 0x3f;
  v = p[0] & 0x0f;
  for (unsigned i = 1; i < *n; i++)
    v |= (uint32_t) p[i] << (4 + 8 * (i - 1));
  return v;
}

static void
test_aml_pkglength_bodies (void)
{
  /* Bodies on either side of each boundary. PkgLength counts itself, so a
   * body of 63 bytes needs two bytes of it (65), and the values 64, 4096 and
   * 1048576 never occur. */
  static const struct { size_t body; unsigned n; } cases[] = {
    { 4, 1 }, { 61, 1 }, { 62, 1 }, { 63, 2 }, { 64, 2 },
    { 4092, 2 }, { 4093, 2 }, { 4094, 3 }, { 4095, 3 },
    { 1048572, 3 }, { 1048573, 4 }, { 1048574, 4 },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      struct aml aml;
      const uint8_t *data;
      size_t len;
      unsigned n;

      /* Scope (FILL) followed by zeros: the body is the NameSeg and them. */
      aml_init (&aml);
      aml_scope_begin (&aml, "FILL");
      g_byte_array_set_size (aml.bytes, (guint) (1 + cases[i].body));
      aml_end (&aml);
      g_assert_cmpint (aml_finish (&aml, &data, &len), ==, 0);
      g_assert_cmpuint (len, ==, 1 + cases[i].n + cases[i].body);
      g_assert_cmpuint (data[0], ==, 0x10);
      g_assert_cmpuint (decode_pkglength (data + 1, &n), ==, cases[i].body + cases[i].n);
      g_assert_cmpuint (n, ==, cases[i].n);
      g_assert_cmpmem (data + 1 + n, 4, "FILL", 4);
      aml_clear (&aml);
    }
}

static void
test_aml_integer (void)
{
  static const struct { uint64_t value; size_t n; uint8_t bytes[9]; } cases[] = {
    { 0, 1, { 0x00 } },
    { 1, 1, { 0x01 } },
    { 2, 2, { 0x0a, 0x02 } },
    { 0xff, 2, { 0x0a, 0xff } },
    { 0x100, 3, { 0x0b, 0x00, 0x01 } },
    { 0xffff, 3, { 0x0b, 0xff, 0xff } },
    { 0x10000, 5, { 0x0c, 0x00, 0x00, 0x01, 0x00 } },
    { 0xffffffff, 5, { 0x0c, 0xff, 0xff, 0xff, 0xff } },
    { 0x100000000, 9, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 } },
    { 0xfffffffffffffffe, 9, { 0x0e, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
    { ~0ull, 1, { 0xff } },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      struct aml aml;

      aml_init (&aml);
      aml_integer (&aml, cases[i].value);
      assert_aml (&aml, cases[i].bytes, cases[i].n);
      aml_clear (&aml);
    }

  {
    struct aml aml;
    aml_init (&aml);
    aml_dword (&aml, 1);
    ASSERT_AML (&aml, 0x0c, 0x01, 0x00, 0x00, 0x00);
    aml_clear (&aml);
  }
}

static void
test_aml_namestring (void)
{
  static const struct { const char *path; size_t n; uint8_t bytes[16]; } cases[] = {
    { "_SB_", 4, { '_', 'S', 'B', '_' } },
    { "_SB", 4, { '_', 'S', 'B', '_' } },
    { "A", 4, { 'A', '_', '_', '_' } },
    { "\\", 2, { '\\', 0x00 } },
    { "", 1, { 0x00 } },
    { "\\_SB", 5, { '\\', '_', 'S', 'B', '_' } },
    { "^PCI0", 5, { '^', 'P', 'C', 'I', '0' } },
    { "^^X1", 6, { '^', '^', 'X', '1', '_', '_' } },
    { "_SB.PCI0", 9, { 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0' } },
    { "\\_SB.PCI0", 10, { '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0' } },
    { "\\_SB.PCI0.S08", 15, { '\\', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
                               'S', '0', '8', '_' } },
  };
  static const char *bad[] = { "toolong", "ABCDE", "1ABC", "a", "_SB..PCI0", ".PCI0",
                               "PCI0.", "\\^X", "A-B", "\\_SB.PC I" };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      struct aml aml;

      aml_init (&aml);
      aml_namestring (&aml, cases[i].path);
      assert_aml (&aml, cases[i].bytes, cases[i].n);
      aml_clear (&aml);
    }

  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      struct aml aml;
      const uint8_t *data;
      size_t len;

      aml_init (&aml);
      aml_namestring (&aml, bad[i]);
      g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
      aml_clear (&aml);
    }
}

static void
test_aml_eisaid (void)
{
  static const struct { const char *id; uint32_t value; } cases[] = {
    { "PNP0A03", 0x030ad041 },
    { "PNP0A08", 0x080ad041 },
    { "PNP0C02", 0x020cd041 },
    { "PNP0501", 0x0105d041 },
    { "PNP0B00", 0x000bd041 },
    { "PNP0303", 0x0303d041 },
    { "PNP0C0C", 0x0c0cd041 },
  };
  static const char *bad[] = { "", "PNP0A0", "PNP0A033", "pnp0A03", "PNP0G03", "P1P0A03" };
  uint32_t v;

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      v = 0;
      g_assert_cmpint (aml_eisaid (cases[i].id, &v), ==, 0);
      g_assert_cmphex (v, ==, cases[i].value);
    }
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_cmpint (aml_eisaid (bad[i], &v), ==, -EINVAL);
}

static void
test_aml_terms (void)
{
  struct aml aml;
  const uint8_t *data;
  size_t len;

  /* Name (_UID, 2), Name (_STR, "Hi") */
  aml_init (&aml);
  aml_name_integer (&aml, "_UID", 2);
  aml_name_string (&aml, "_STR", "Hi");
  ASSERT_AML (&aml, 0x08, '_', 'U', 'I', 'D', 0x0a, 0x02,
              0x08, '_', 'S', 'T', 'R', 0x0d, 'H', 'i', 0x00);
  aml_clear (&aml);

  /* Buffer (3) { 1, 2, 3 } */
  aml_init (&aml);
  aml_buffer (&aml, (const uint8_t[]) { 1, 2, 3 }, 3);
  ASSERT_AML (&aml, 0x11, 0x06, 0x0a, 0x03, 1, 2, 3);
  aml_clear (&aml);

  /* Package (2) { One, "A" } */
  aml_init (&aml);
  aml_package_begin (&aml, 2);
  aml_integer (&aml, 1);
  aml_string (&aml, "A");
  aml_end (&aml);
  ASSERT_AML (&aml, 0x12, 0x06, 0x02, 0x01, 0x0d, 'A', 0x00);
  aml_clear (&aml);

  /* Scope (\_SB) { Device (DEV0) { Method (_STA, 0, NotSerialized) { Return (0x0F) } } } */
  aml_init (&aml);
  aml_scope_begin (&aml, "\\_SB");
  aml_device_begin (&aml, "DEV0");
  aml_method_begin (&aml, "_STA", 0, false);
  aml_return (&aml);
  aml_integer (&aml, 0x0f);
  aml_end (&aml);
  aml_end (&aml);
  aml_end (&aml);
  ASSERT_AML (&aml, 0x10, 0x17, '\\', '_', 'S', 'B', '_',
              0x5b, 0x82, 0x0f, 'D', 'E', 'V', '0',
              0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f);
  aml_clear (&aml);

  /* Method (M2, 2, Serialized) {} */
  aml_init (&aml);
  aml_method_begin (&aml, "M2", 2, true);
  aml_end (&aml);
  ASSERT_AML (&aml, 0x14, 0x06, 'M', '2', '_', '_', 0x0a);
  aml_clear (&aml);

  /* Name (_HID, EisaId ("PNP0C0C")) */
  aml_init (&aml);
  aml_name_eisaid (&aml, "_HID", "PNP0C0C");
  ASSERT_AML (&aml, 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c);
  aml_clear (&aml);

  /* Mistakes stick, and nothing half-open is handed out. */
  aml_init (&aml);
  aml_end (&aml);
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_clear (&aml);

  aml_init (&aml);
  aml_scope_begin (&aml, "\\_SB");
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_end (&aml);
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, 0);
  aml_clear (&aml);

  aml_init (&aml);
  aml_name_eisaid (&aml, "_HID", "PNP0X00");
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_clear (&aml);

  aml_init (&aml);
  aml_method_begin (&aml, "MTH", 8, false);
  aml_end (&aml);
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_clear (&aml);

  aml_init (&aml);
  aml_package_begin (&aml, 256);
  aml_end (&aml);
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_clear (&aml);

  aml_init (&aml);
  aml_string (&aml, "caf\xc3\xa9");
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_clear (&aml);

  aml_init (&aml);
  for (unsigned i = 0; i <= AML_MAX_DEPTH; i++)
    aml_scope_begin (&aml, "S");
  for (unsigned i = 0; i <= AML_MAX_DEPTH; i++)
    aml_end (&aml);
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_clear (&aml);
}

static void
test_aml_resources (void)
{
  struct aml_res res;
  struct aml aml;
  const uint8_t *data;
  size_t len;

  aml_res_init (&res);
  aml_res_io (&res, true, 0x3f8, 0x3f8, 1, 8);
  aml_res_irq_noflags (&res, 4);
  aml_res_memory32_fixed (&res, true, 0xe0000000, 0x10000000);
  aml_res_word_bus_number (&res, 0, 0xff);
  aml_res_word_io (&res, 0x0d00, 0xffff);
  aml_res_dword_memory (&res, AML_RES_MEM_RW, 0xc0000000, 0xdfffffff);
  aml_res_qword_memory (&res, AML_RES_MEM_RW, 0x1000000000, 0x1fffffffff);
  aml_res_interrupt (&res, true, false, false, false, 33);
  aml_init (&aml);
  aml_resource_template (&aml, &res);
  aml_res_clear (&res);
  ASSERT_AML (&aml,
    /* Buffer, PkgLength in 2 bytes (0x8e), BufferSize 0x8a */
    0x11, 0x4e, 0x08, 0x0a, 0x8a,
    /* IO (Decode16, 0x3F8, 0x3F8, 1, 8) */
    0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
    /* IRQNoFlags () {4} */
    0x22, 0x10, 0x00,
    /* Memory32Fixed (ReadWrite, 0xE0000000, 0x10000000) */
    0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x10,
    /* WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100) */
    0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00,
    0x00, 0x01,
    /* WordIO (…, EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300) */
    0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xff, 0x00, 0x00,
    0x00, 0xf3,
    /* DWordMemory (…, NonCacheable, ReadWrite, 0, 0xC0000000, 0xDFFFFFFF, 0, 0x20000000) */
    0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xc0,
    0xff, 0xff, 0xff, 0xdf, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x20,
    /* QWordMemory (…, 0x1000000000, 0x1FFFFFFFFF, length 0x1000000000) */
    0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0x10, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x1f, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0,
    /* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {33} */
    0x89, 0x06, 0x00, 0x03, 0x01, 33, 0, 0, 0,
    /* End Tag */
    0x79, 0x00);
  aml_clear (&aml);

  /* Errors in the template reach the AML. */
  aml_res_init (&res);
  aml_res_irq_noflags (&res, 16);
  aml_init (&aml);
  aml_resource_template (&aml, &res);
  g_assert_cmpint (aml_finish (&aml, &data, &len), ==, -EINVAL);
  aml_clear (&aml);
  aml_res_clear (&res);

  aml_res_init (&res);
  aml_res_word_address (&res, &(struct aml_addr_space) { .max = 0x10000 });
  g_assert_cmpint (res.error, ==, -EINVAL);
  aml_res_clear (&res);

  aml_res_init (&res);
  aml_res_word_io (&res, 0x100, 0xff);
  g_assert_cmpint (res.error, ==, -EINVAL);
  aml_res_clear (&res);

  aml_res_init (&res);
  aml_res_dword_address (&res, &(struct aml_addr_space) { .length = 0x100000000 });
  g_assert_cmpint (res.error, ==, -EINVAL);
  aml_res_clear (&res);

  /* An empty template is only the End Tag. */
  aml_res_init (&res);
  aml_init (&aml);
  aml_resource_template (&aml, &res);
  ASSERT_AML (&aml, 0x11, 0x05, 0x0a, 0x02, 0x79, 0x00);
  aml_clear (&aml);
  aml_res_clear (&res);
}

/* ---- iasl ----------------------------------------------------------------------------- */

/* Runs iasl with ARGS in DIR; fails the test unless it exits 0 without
 * errors. Returns what it printed. */
static char *
run_iasl (const char *dir, const char *iasl, const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
  int status = -1;

  g_ptr_array_add (argv, (char *) iasl);
  for (const char *const *a = args; *a != NULL; a++)
    g_ptr_array_add (argv, (char *) *a);
  g_ptr_array_add (argv, NULL);

  g_assert_true (g_spawn_sync (dir, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  /* iasl's summary says "0 Errors"; a real error is a line starting "Error". */
  if (!g_spawn_check_wait_status (status, NULL) || strstr (out, "\nError") != NULL
      || strstr (err, "Error") != NULL || g_str_has_prefix (out, "Error"))
    g_error ("iasl %s failed:\n%s\n%s", args[0], out, err);
  return g_strconcat (out, err, NULL);
}

static char *
find_iasl (void)
{
  char *iasl = g_find_program_in_path ("iasl");

  if (iasl == NULL)
    {
      g_printerr ("\n*** iasl not found: install acpica-tools to check the AML ***\n\n");
      g_test_skip ("iasl (acpica-tools) is not installed: AML not checked");
    }
  return iasl;
}

/* Runs "iasl -d FILE" in DIR and returns the .dsl it wrote, or NULL with the
 * test skipped when iasl is not installed. */
static char *
iasl_disassemble (const char *dir, const char *file, const void *data, size_t len)
{
  g_autofree char *iasl = find_iasl ();
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autofree char *base = g_strndup (file, strcspn (file, "."));
  g_autofree char *dsl_path = NULL, *out = NULL;
  g_autoptr(GError) error = NULL;
  char *dsl = NULL;

  if (iasl == NULL)
    return NULL;
  g_assert_true (g_file_set_contents (path, data, (gssize) len, &error));
  g_assert_no_error (error);

  out = run_iasl (dir, iasl, (const char *const[]) { "-d", file, NULL });
  /* AML tables say "Disassembly completed", data tables "… decoded". */
  g_assert_true (strstr (out, "Disassembly completed") != NULL || strstr (out, "decoded") != NULL);

  dsl_path = g_strdup_printf ("%s/%s.dsl", dir, base);
  g_assert_true (g_file_get_contents (dsl_path, &dsl, NULL, &error));
  g_assert_no_error (error);
  return dsl;
}

/* DSL with every run of white space made one space, so that expectations
 * do not depend on iasl's indentation. */
static char *
squash_space (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    {
      if (g_ascii_isspace (*p))
        {
          if (out->len == 0 || out->str[out->len - 1] != ' ')
            g_string_append_c (out, ' ');
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

static void
assert_dsl_has (const char *dsl, const char *what)
{
  g_autofree char *flat = squash_space (dsl);
  g_autofree char *flat_what = squash_space (what);

  if (strstr (flat, flat_what) == NULL)
    g_error ("the disassembled table lacks \"%s\":\n%s", what, dsl);
}

static void
test_dsdt_iasl (void)
{
  struct vmm_acpi_config c = default_config ();
  g_autofree char *dir = vmm_test_make_dir ("test-acpi-XXXXXX");
  g_autofree char *dsl = NULL;
  struct vmm_test_ram g = { 0 };
  struct tables t;

  vmm_test_ram_add (&g, 0, RAM_SIZE);
  build_and_parse (&g.mem, &c, &t);
  dsl = iasl_disassemble (dir, "dsdt.dat", t.dsdt, viv_get_le32 (t.dsdt + 4));
  if (dsl != NULL)
    {
      static const char *expect[] = {
        "Scope (\\_SB)", "Device (PCI0)",
        "Name (_HID, EisaId (\"PNP0A08\")", "Name (_CID, EisaId (\"PNP0A03\")",
        "Name (_UID, Zero)", "Name (_SEG, Zero)", "Name (_BBN, Zero)",
        "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, "
        "// Granularity 0x0000, // Range Minimum 0x00FF, // Range Maximum",
        "IO (Decode16, 0x0CF8, // Range Minimum 0x0CF8, // Range Maximum "
        "0x01, // Alignment 0x08, // Length",
        "0x0000, // Range Minimum 0x0CF7, // Range Maximum",
        "0x0D00, // Range Minimum 0xFFFF, // Range Maximum",
        "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,"
        " 0x00000000, // Granularity 0xC0000000, // Range Minimum 0xFEBFFFFF, // Range Maximum",
        "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,"
        " 0x0000000000000000, // Granularity 0x0000001000000000, // Range Minimum"
        " 0x0000001FFFFFFFFF, // Range Maximum",
        "Name (_PRT, Package (0x7C)",
        "Package (0x04) { 0x0001FFFF, Zero, Zero, 0x11 }",
        "Package (0x04) { 0x0007FFFF, Zero, Zero, 0x13 }",
        "Package (0x04) { 0x001FFFFF, 0x03, Zero, 0x12 }",
        "Device (MRES)", "Name (_HID, EisaId (\"PNP0C02\")",
        "Memory32Fixed (ReadWrite, 0xB0000000, // Address Base 0x10000000, // Address Length",
        "IO (Decode16, 0x0600, // Range Minimum 0x0600, // Range Maximum "
        "0x01, // Alignment 0x80, // Length",
        "Device (COM1)", "Device (COM2)", "Name (_HID, EisaId (\"PNP0501\")",
        "Name (_UID, One)", "Name (_UID, 0x02)", "Name (_STA, 0x0F)",
        "0x03F8, // Range Maximum 0x01, // Alignment 0x08, // Length ) IRQNoFlags () {4}",
        "0x02F8, // Range Maximum 0x01, // Alignment 0x08, // Length ) IRQNoFlags () {3}",
        "Device (RTC)", "Name (_HID, EisaId (\"PNP0B00\")",
        "0x0070, // Range Maximum 0x01, // Alignment 0x02, // Length ) IRQNoFlags () {8}",
        "Device (KBD)", "Name (_HID, EisaId (\"PNP0303\")",
        "0x0060, // Range Maximum 0x01, // Alignment 0x01, // Length )",
        "0x0064, // Range Maximum 0x01, // Alignment 0x01, // Length ) IRQNoFlags () {1}",
        "Device (MOU)", "Name (_HID, EisaId (\"PNP0F13\")", "IRQNoFlags () {12}",
        "Device (PEVT)", "Name (_HID, \"QEMU0001\")",
        "IO (Decode16, 0x0505, // Range Minimum 0x0505, // Range Maximum "
        "0x01, // Alignment 0x01, // Length",
        "Name (_S0, Package (0x04) // _S0_: S0 System State { Zero, Zero, Zero, Zero })",
        "Name (_S5, Package (0x04) // _S5_: S5 System State { 0x05, 0x05, Zero, Zero })",
      };
      for (size_t i = 0; i < G_N_ELEMENTS (expect); i++)
        assert_dsl_has (dsl, expect[i]);
    }
  vmm_test_remove_dir (dir);
  vmm_test_ram_free (&g);
}

/* Disassembles the DSDT, compiles the result again without iasl's
 * optimisations, and expects the very same AML: so every byte we emit means
 * what iasl thinks it means. */
static void
test_dsdt_roundtrip (void)
{
  struct vmm_acpi_config configs[3] = { default_config (), default_config (),
                                        default_config () };

  configs[1].mmio64_size = 0;
  configs[1].ecam_start_bus = 16;
  configs[1].ecam_end_bus = 31;
  configs[1].com2 = configs[1].rtc = false;
  configs[2].ecam_base = 0x4000000000ull;     /* ECAM above 4 GiB: QWordMemory */
  configs[2].com1 = configs[2].i8042 = false;

  for (size_t i = 0; i < G_N_ELEMENTS (configs); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *dir = vmm_test_make_dir ("test-acpi-XXXXXX");
      g_autofree char *dsl = NULL, *out = NULL, *aml_path = NULL, *aml = NULL;
      size_t aml_len = 0, len;
      struct vmm_test_ram g = { 0 };
      struct tables t;

      vmm_test_ram_add (&g, 0, RAM_SIZE);
      build_and_parse (&g.mem, &configs[i], &t);
      len = viv_get_le32 (t.dsdt + 4);
      dsl = iasl_disassemble (dir, "dsdt.dat", t.dsdt, len);
      if (dsl != NULL)
        {
          g_autofree char *iasl = find_iasl ();
          out = run_iasl (dir, iasl, (const char *const[]) { "-oa", "-p", "again", "dsdt.dsl",
                                                            NULL });
          aml_path = g_build_filename (dir, "again.aml", NULL);
          g_assert_true (g_file_get_contents (aml_path, &aml, &aml_len, &error));
          g_assert_no_error (error);
          /* The header differs: iasl puts in its own creator and checksum. */
          g_assert_cmpmem (aml + 36, aml_len - 36, t.dsdt + 36, len - 36);
        }
      vmm_test_remove_dir (dir);
      vmm_test_ram_free (&g);
      if (dsl == NULL)
        return;
    }
}

static void
test_tables_iasl (void)
{
  struct vmm_acpi_config c = default_config ();
  g_autofree char *dir = vmm_test_make_dir ("test-acpi-XXXXXX");
  struct vmm_test_ram g = { 0 };
  struct tables t;

  vmm_test_ram_add (&g, 0, RAM_SIZE);
  build_and_parse (&g.mem, &c, &t);
  {
    const struct {
      const char *file;
      const uint8_t *table;
      size_t len;
      const char *expect;
    } all[] = {
      { "facp.dat", t.fadt, viv_get_le32 (t.fadt + 4), "0000000000000620" },
      { "apic.dat", t.madt, viv_get_le32 (t.madt + 4), "FEC00000" },
      { "mcfg.dat", t.mcfg, viv_get_le32 (t.mcfg + 4), "00000000B0000000" },
      { "rsdt.dat", t.rsdt, viv_get_le32 (t.rsdt + 4), "RSDT" },
      { "xsdt.dat", t.xsdt, viv_get_le32 (t.xsdt + 4), "XSDT" },
      { "facs.dat", t.facs, 64, "FACS" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS (all); i++)
      {
        g_autofree char *dsl = iasl_disassemble (dir, all[i].file, all[i].table, all[i].len);
        if (dsl == NULL)
          break;
        assert_dsl_has (dsl, all[i].expect);
      }
  }
  vmm_test_remove_dir (dir);
  vmm_test_ram_free (&g);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/acpi/checksum", test_checksum);
  g_test_add_func ("/acpi/rsdp", test_rsdp);
  g_test_add_func ("/acpi/fadt-firmware", test_fadt_firmware);
  g_test_add_func ("/acpi/fadt", test_fadt);
  g_test_add_func ("/acpi/fadt/boot-arch", test_fadt_boot_arch);
  g_test_add_func ("/acpi/madt", test_madt);
  g_test_add_func ("/acpi/madt/bad-cpus", test_madt_bad_cpus);
  g_test_add_func ("/acpi/mcfg", test_mcfg);
  g_test_add_func ("/acpi/bad-config", test_bad_config);
  g_test_add_func ("/acpi/efault", test_efault);
  g_test_add_func ("/acpi/layout", test_layout);
  g_test_add_func ("/acpi/rebuild", test_rebuild);
  g_test_add_func ("/acpi/dsdt/devices", test_dsdt_devices);
  g_test_add_func ("/acpi/dsdt/iasl", test_dsdt_iasl);
  g_test_add_func ("/acpi/dsdt/roundtrip", test_dsdt_roundtrip);
  g_test_add_func ("/acpi/tables/iasl", test_tables_iasl);
  g_test_add_func ("/aml/pkglength", test_aml_pkglength);
  g_test_add_func ("/aml/pkglength/bodies", test_aml_pkglength_bodies);
  g_test_add_func ("/aml/integer", test_aml_integer);
  g_test_add_func ("/aml/namestring", test_aml_namestring);
  g_test_add_func ("/aml/eisaid", test_aml_eisaid);
  g_test_add_func ("/aml/terms", test_aml_terms);
  g_test_add_func ("/aml/resources", test_aml_resources);

  return g_test_run ();
}
