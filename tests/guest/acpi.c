/* acpi.c: finding and checking the ACPI tables the VMM built
 *
 * Tables are read in place through the identity map (map_phys for any a
 * VMM put above 4 GiB); every length taken from a table is bounded before
 * it is used, since a broken VMM is exactly what this looks for.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "acpi.h"

#define TABLE_MAX_LEN   (1u << 20)
#define SDT_HEADER_LEN  36

static inline uint8_t rd8 (uint64_t a) { return *(const volatile uint8_t *) a; }
static inline uint16_t rd16 (uint64_t a) { return rd8 (a) | rd8 (a + 1) << 8; }
static inline uint32_t rd32 (uint64_t a) { return rd16 (a) | (uint32_t) rd16 (a + 2) << 16; }
static inline uint64_t rd64 (uint64_t a) { return rd32 (a) | (uint64_t) rd32 (a + 4) << 32; }

static uint8_t
sum8 (uint64_t a, uint32_t len)
{
  uint8_t s = 0;

  while (len--)
    s += rd8 (a++);
  return s;
}

static bool
sig_is (uint64_t a, const char *sig)
{
  return memcmp ((const void *) a, sig, 4) == 0;
}

static uint32_t
table_len (uint64_t t)
{
  return rd32 (t + 4);
}

/* A table header that can be read at all, with a sane length */
static bool
table_readable (uint64_t t)
{
  uint32_t len;

  if (t == 0 || !map_phys (t, SDT_HEADER_LEN))
    return false;
  len = table_len (t);
  return len >= SDT_HEADER_LEN && len <= TABLE_MAX_LEN && map_phys (t, len);
}

static bool
table_checksum_ok (uint64_t t)
{
  return table_readable (t) && sum8 (t, table_len (t)) == 0;
}

static bool
rsdp_valid_signature (uint64_t a)
{
  return memcmp ((const void *) a, "RSD PTR ", 8) == 0;
}

/* The legacy places: the first KiB of the EBDA, then 0xE0000-0xFFFFF */
static uint64_t
rsdp_scan (void)
{
  uint64_t ebda = (uint64_t) rd16 (0x40e) << 4;
  uint64_t a;

  if (ebda >= 0x80000 && ebda < 0xa0000)
    for (a = ebda; a < ebda + 1024; a += 16)
      if (rsdp_valid_signature (a) && sum8 (a, 20) == 0)
        return a;
  for (a = 0xe0000; a < 0x100000; a += 16)
    if (rsdp_valid_signature (a) && sum8 (a, 20) == 0)
      return a;
  return 0;
}

static void
gas_read (struct acpi_gas *g, uint64_t a)
{
  g->space = rd8 (a);
  g->bit_width = rd8 (a + 1);
  g->address = rd64 (a + 4);
}

static void
parse_fadt (struct acpi *a)
{
  uint64_t f = a->fadt;
  uint32_t len = table_len (f);
  uint32_t flags = len >= 116 ? rd32 (f + 112) : 0;
  struct acpi_gas g;

  a->hw_reduced = flags & (1u << 20);
  a->pm_tmr_32bit = flags & (1u << 8);

  a->dsdt = rd32 (f + 40);
  if (len >= 148 && rd64 (f + 140))
    a->dsdt = rd64 (f + 140);

  a->pm1a_evt = rd32 (f + 56);
  if (a->pm1a_evt == 0 && len >= 160)
    {
      gas_read (&g, f + 148);
      if (g.space == 1)
        a->pm1a_evt = (uint32_t) g.address;
    }
  a->pm1a_cnt = rd32 (f + 64);
  if (a->pm1a_cnt == 0 && len >= 184)
    {
      gas_read (&g, f + 172);
      if (g.space == 1)
        a->pm1a_cnt = (uint32_t) g.address;
    }
  a->pm1b_cnt = rd32 (f + 68);
  if (a->pm1b_cnt == 0 && len >= 196)
    {
      gas_read (&g, f + 184);
      if (g.space == 1)
        a->pm1b_cnt = (uint32_t) g.address;
    }
  a->pm_tmr = rd32 (f + 76);
  if (a->pm_tmr == 0 && len >= 220)
    {
      gas_read (&g, f + 208);
      if (g.space == 1)
        a->pm_tmr = (uint32_t) g.address;
    }
  if (len >= 256)
    gas_read (&a->sleep_control, f + 244);
  if (len >= 129)
    {
      a->reset_supported = flags & (1u << 10);
      gas_read (&a->reset_reg, f + 116);
      a->reset_value = rd8 (f + 128);
    }
}

static void
parse_madt (struct acpi *a)
{
  uint64_t m = a->madt;
  uint64_t p = m + 44, end = m + table_len (m);

  a->lapic_addr = rd32 (m + 36);
  while (p + 2 <= end)
    {
      uint8_t type = rd8 (p), len = rd8 (p + 1);

      if (len < 2 || p + len > end)
        break;
      if (type == 0 && len >= 8 && (rd32 (p + 4) & 1))
        {
          if (a->n_cpus < ACPI_MAX_CPUS)
            a->apic_ids[a->n_cpus] = rd8 (p + 3);
          a->n_cpus++;
        }
      else if (type == 9 && len >= 16 && (rd32 (p + 8) & 1))
        {
          if (a->n_cpus < ACPI_MAX_CPUS)
            a->apic_ids[a->n_cpus] = rd32 (p + 4);
          a->n_cpus++;
        }
      else if (type == 5 && len >= 12)
        a->lapic_addr = rd64 (p + 4);
      p += len;
    }
}

static void
parse_mcfg (struct acpi *a)
{
  uint64_t m = a->mcfg;
  uint64_t p, end = m + table_len (m);

  for (p = m + 44; p + 16 <= end; p += 16)
    if (rd16 (p + 8) == 0)
      {
        a->ecam = rd64 (p);
        a->bus_start = rd8 (p + 10);
        a->bus_end = rd8 (p + 11);
        return;
      }
}

/* One AML integer constant: ZeroOp, OneOp, OnesOp or a Byte/Word/DWord
 * prefix.  Returns the number of bytes it took, 0 if it is none of those. */
static unsigned
aml_integer (uint64_t p, uint64_t end, uint32_t *value)
{
  if (p >= end)
    return 0;
  switch (rd8 (p))
    {
    case 0x00: *value = 0; return 1;
    case 0x01: *value = 1; return 1;
    case 0xff: *value = 0xffffffff; return 1;
    case 0x0a: if (p + 2 > end) return 0; *value = rd8 (p + 1); return 2;
    case 0x0b: if (p + 3 > end) return 0; *value = rd16 (p + 1); return 3;
    case 0x0c: if (p + 5 > end) return 0; *value = rd32 (p + 1); return 5;
    default: return 0;
    }
}

/* Name (_S5, Package () { SLP_TYPa, SLP_TYPb, ... }) */
static bool
s5_in_table (struct acpi *a, uint64_t t)
{
  uint64_t p, end = t + table_len (t);

  for (p = t + SDT_HEADER_LEN + 1; p + 4 < end; p++)
    {
      uint64_t q;
      uint32_t typa, typb = 0;
      unsigned n, lead;

      if (!(rd8 (p) == '_' && rd8 (p + 1) == 'S' && rd8 (p + 2) == '5' && rd8 (p + 3) == '_'))
        continue;
      /* NameOp, optionally with a root prefix before the name */
      if (!(rd8 (p - 1) == 0x08 || (rd8 (p - 1) == '\\' && rd8 (p - 2) == 0x08)))
        continue;
      q = p + 4;
      if (q >= end || rd8 (q) != 0x12)   /* PackageOp */
        continue;
      q++;
      lead = rd8 (q);
      q += 1 + (lead >> 6);              /* PkgLength: 1-4 bytes */
      q++;                               /* NumElements */
      n = aml_integer (q, end, &typa);
      if (!n)
        continue;
      q += n;
      if (!aml_integer (q, end, &typb))
        typb = typa;
      a->slp_typa = typa & 7;
      a->slp_typb = typb & 7;
      a->have_s5 = true;
      return true;
    }
  return false;
}

bool
acpi_find_s5 (struct acpi *a)
{
  unsigned i;

  if (a->have_s5)
    return true;
  if (a->dsdt && table_readable (a->dsdt) && s5_in_table (a, a->dsdt))
    return true;
  for (i = 0; i < a->n_tables; i++)
    if (sig_is (a->tables[i], "SSDT") && s5_in_table (a, a->tables[i]))
      return true;
  return false;
}

bool
acpi_probe (struct acpi *a, uint64_t rsdp_hint)
{
  const char *source = "hvm_start_info.rsdp_paddr";
  uint32_t entries, i, bad = 0;
  uint8_t oem[7];

  memset (a, 0, sizeof *a);

  if (rsdp_hint)
    {
      if (map_phys (rsdp_hint, 36) && rsdp_valid_signature (rsdp_hint))
        a->rsdp = rsdp_hint;
      else
        tap_diag ("hvm_start_info.rsdp_paddr 0x%lx holds no RSDP; scanning", rsdp_hint);
    }
  if (!a->rsdp)
    {
      source = rsdp_hint ? "scan (the hint was wrong)" : "scan of the EBDA and 0xe0000-0xfffff";
      a->rsdp = rsdp_scan ();
    }
  tap_ok (a->rsdp != 0 && (!rsdp_hint || a->rsdp == rsdp_hint),
          "ACPI: RSDP found at 0x%lx (from %s)", a->rsdp, source);
  if (!a->rsdp)
    return false;

  a->rsdp_revision = rd8 (a->rsdp + 15);
  memcpy (oem, (const void *) (a->rsdp + 9), 6);
  oem[6] = '\0';
  tap_diag ("RSDP revision %u, OEM '%s'", a->rsdp_revision, (const char *) oem);
  tap_ok (sum8 (a->rsdp, 20) == 0, "ACPI: RSDP checksum (first 20 bytes)");
  if (a->rsdp_revision >= 2)
    {
      uint32_t len = rd32 (a->rsdp + 20);

      tap_ok (len >= 36 && len <= 4096 && sum8 (a->rsdp, len) == 0,
              "ACPI: RSDP extended checksum (%u bytes)", len);
      a->root = rd64 (a->rsdp + 24);
      a->root_is_xsdt = a->root != 0;
    }
  else
    tap_skip ("ACPI 1.0 RSDP", "ACPI: RSDP extended checksum");
  if (!a->root)
    a->root = rd32 (a->rsdp + 16);

  if (!tap_ok (table_readable (a->root)
               && sig_is (a->root, a->root_is_xsdt ? "XSDT" : "RSDT")
               && table_checksum_ok (a->root),
               "ACPI: %s at 0x%lx, signature and checksum valid",
               a->root_is_xsdt ? "XSDT" : "RSDT", a->root))
    return false;

  entries = (table_len (a->root) - SDT_HEADER_LEN) / (a->root_is_xsdt ? 8 : 4);
  for (i = 0; i < entries && a->n_tables < ACPI_MAX_TABLES; i++)
    {
      uint64_t e = a->root + SDT_HEADER_LEN;
      uint64_t t = a->root_is_xsdt ? rd64 (e + 8 * i) : rd32 (e + 4 * i);
      bool ok = table_checksum_ok (t);

      if (!ok)
        bad++;
      tap_diag ("  %.4s at 0x%08lx, %u bytes, revision %u%s",
                table_readable (t) ? (const char *) t : "????", t,
                table_readable (t) ? table_len (t) : 0,
                table_readable (t) ? rd8 (t + 8) : 0, ok ? "" : ", BAD CHECKSUM");
      if (!table_readable (t))
        continue;
      a->tables[a->n_tables++] = t;
      if (sig_is (t, "FACP") && !a->fadt)
        a->fadt = t;
      else if (sig_is (t, "APIC") && !a->madt)
        a->madt = t;
      else if (sig_is (t, "MCFG") && !a->mcfg)
        a->mcfg = t;
    }
  tap_ok (bad == 0 && entries > 0, "ACPI: all %u tables in the %s have valid checksums",
          entries, a->root_is_xsdt ? "XSDT" : "RSDT");

  tap_ok (a->fadt && table_len (a->fadt) >= 116, "ACPI: FADT present");
  if (a->fadt)
    parse_fadt (a);
  tap_ok (a->madt && table_len (a->madt) >= 44, "ACPI: MADT present");
  if (a->madt)
    parse_madt (a);
  tap_ok (a->mcfg && table_len (a->mcfg) >= 60, "ACPI: MCFG present");
  if (a->mcfg)
    parse_mcfg (a);
  tap_ok (a->dsdt && table_readable (a->dsdt) && sig_is (a->dsdt, "DSDT")
          && table_checksum_ok (a->dsdt),
          "ACPI: DSDT present at 0x%lx (from the FADT), checksum valid", a->dsdt);
  if (a->fadt)
    tap_diag ("FADT: PM1a_CNT 0x%x, PM1b_CNT 0x%x, PM_TMR 0x%x (%u-bit)%s",
              a->pm1a_cnt, a->pm1b_cnt, a->pm_tmr, a->pm_tmr_32bit ? 32 : 24,
              a->hw_reduced ? ", hardware-reduced" : "");
  acpi_find_s5 (a);
  return true;
}

void
acpi_power_off (const struct acpi *a)
{
  uint64_t deadline;

  if (!a->have_s5)
    return;
  if (a->pm1a_cnt && !a->hw_reduced)
    {
      uint16_t keep = inw (a->pm1a_cnt) & ~(7u << 10 | 1u << 13);

      if (a->pm1b_cnt)
        outw (a->pm1b_cnt, keep | a->slp_typb << 10 | 1u << 13);
      outw (a->pm1a_cnt, keep | a->slp_typa << 10 | 1u << 13);
    }
  else if (a->sleep_control.address)
    {
      uint8_t v = (a->slp_typa & 7) << 2 | 1u << 5;

      if (a->sleep_control.space == 1)
        outb ((uint16_t) a->sleep_control.address, v);
      else if (a->sleep_control.space == 0 && map_phys (a->sleep_control.address, 1))
        mmio_write8 (a->sleep_control.address, v);
    }
  /* A VMM may stop the vCPU a little after the write returns */
  deadline = deadline_after_ms (1000);
  while (!deadline_passed (deadline))
    cpu_relax ();
}

void
acpi_reset (const struct acpi *a)
{
  uint64_t deadline;

  if (!a->reset_supported)
    return;
  if (a->reset_reg.space == 1)
    outb ((uint16_t) a->reset_reg.address, a->reset_value);
  else if (a->reset_reg.space == 0 && map_phys (a->reset_reg.address, 1))
    mmio_write8 (a->reset_reg.address, a->reset_value);
  deadline = deadline_after_ms (1000);
  while (!deadline_passed (deadline))
    cpu_relax ();
}
