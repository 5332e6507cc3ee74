/* fwcfg.c: the firmware platform as the firmware sees it: fw_cfg and the
 * Q35 chipset's registers
 *
 * fw_cfg (QEMU's docs/specs/fw_cfg.rst): selector at 0x510 (16-bit),
 * data at 0x511, the DMA address at 0x514 (high half, big-endian) and
 * 0x518 (low half; writing it starts the transfer).  The chipset: the MCH
 * at 00:00.0 (PCIEXBAR, PAM), the ICH9 LPC bridge at 00:1f.0 (PMBASE,
 * ACPI_CNTL) and SMI_EN in the PM block.  Everything here must pass on
 * QEMU's q35 as on vivarium-vmm.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "fwcfg.h"

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA     0x511
#define FW_CFG_DMA_HIGH 0x514
#define FW_CFG_DMA_LOW  0x518

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID        0x01
#define FW_CFG_RAM_SIZE  0x03
#define FW_CFG_NB_CPUS   0x05
#define FW_CFG_FILE_DIR  0x19

#define DMA_ERROR  0x01
#define DMA_READ   0x02
#define DMA_SELECT 0x08

#define MCH_PCIEXBAR    0x60
#define MCH_PAM0        0x90
#define LPC_PMBASE      0x40
#define LPC_ACPI_CNTL   0x44
#define LPC_ACPI_EN     0x80
#define PM_TMR_OFF      0x08
#define PM_SMI_EN_OFF   0x30
#define SMI_EN_APMC     (1u << 5)

/* Where the PM block goes for a moment: free on both VMMs */
#define PMBASE_MOVED    0x680

#define E820_RAM      1
#define E820_RESERVED 2

struct dma_access
{
  uint32_t control;    /* big-endian, all three */
  uint32_t length;
  uint64_t address;
} __attribute__ ((packed));

static struct dma_access dma __attribute__ ((aligned (16)));
static uint8_t fw_dir[4 + 64 * 64] __attribute__ ((aligned (16)));
static uint8_t fw_buf[4096] __attribute__ ((aligned (16)));

static bool
all_zero_bytes (const uint8_t *p, size_t n)
{
  while (n--)
    if (*p++)
      return false;
  return true;
}

static inline uint32_t bswap32 (uint32_t v) { return __builtin_bswap32 (v); }
static inline uint64_t bswap64 (uint64_t v) { return __builtin_bswap64 (v); }

static uint32_t
get_be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
get_le64 (const uint8_t *p)
{
  uint64_t v = 0;

  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void
fw_cfg_read_port (uint16_t key, void *buf, uint32_t len)
{
  uint8_t *p = buf;

  outw (FW_CFG_SELECTOR, key);
  for (uint32_t i = 0; i < len; i++)
    p[i] = inb (FW_CFG_DATA);
}

/* One DMA transfer; returns the control word it left (0 = done, else the
 * ERROR bit) */
static uint32_t
fw_cfg_dma (uint32_t control, uint64_t addr, uint32_t len)
{
  uint64_t desc = (uint64_t) &dma;

  dma.control = bswap32 (control);
  dma.length = bswap32 (len);
  dma.address = bswap64 (addr);
  mfence ();
  outl (FW_CFG_DMA_HIGH, bswap32 ((uint32_t) (desc >> 32)));
  outl (FW_CFG_DMA_LOW, bswap32 ((uint32_t) desc));
  mfence ();
  return bswap32 (*(volatile uint32_t *) &dma.control);
}

static uint32_t
fw_cfg_dma_read (uint16_t key, void *buf, uint32_t len)
{
  return fw_cfg_dma ((uint32_t) key << 16 | DMA_SELECT | DMA_READ, (uint64_t) buf, len);
}

static bool fw_ok;
static bool fw_dma;
static uint32_t fw_n_files;

/* The directory entry for NAME: its key and size, false if absent */
bool
fw_cfg_find_file (const char *name, uint16_t *key, uint32_t *size)
{
  size_t n = strlen (name);

  for (uint32_t i = 0; i < fw_n_files && i < 64; i++)
    {
      const uint8_t *f = fw_dir + 4 + 64 * i;

      if (strncmp ((const char *) f + 8, name, 56) == 0 && n < 56)
        {
          *key = (uint16_t) (f[4] << 8 | f[5]);
          *size = get_be32 (f);
          return true;
        }
    }
  return false;
}

/* Reads a file whole into BUF (at most size bytes) by DMA; its length or -1 */
int
fw_cfg_read_file (const char *name, void *buf, uint32_t size)
{
  uint16_t key;
  uint32_t len;

  if (!fw_ok || !fw_dma || !fw_cfg_find_file (name, &key, &len))
    return -1;
  if (len > size)
    len = size;
  if (fw_cfg_dma_read (key, buf, len) != 0)
    return -1;
  return (int) len;
}

bool
fw_cfg_load (void)
{
  char sig[4];
  uint8_t id[4];

  fw_cfg_read_port (FW_CFG_SIGNATURE, sig, sizeof sig);
  fw_ok = memcmp (sig, "QEMU", 4) == 0;
  if (!fw_ok)
    return false;
  fw_cfg_read_port (FW_CFG_ID, id, sizeof id);
  fw_dma = (id[0] & 2) != 0;
  if (fw_dma)
    {
      uint8_t cnt[4];

      fw_cfg_dma_read (FW_CFG_FILE_DIR, cnt, 4);
      fw_n_files = get_be32 (cnt);
      fw_cfg_dma_read (FW_CFG_FILE_DIR, fw_dir,
                       4 + 64 * (fw_n_files < 64 ? fw_n_files : 64));
    }
  return true;
}

static void
test_fw_cfg_ids (void)
{
  char sig[5] = { 0 };
  uint8_t id[4], dma_sig[8];
  uint32_t hi, lo;

  fw_cfg_read_port (FW_CFG_SIGNATURE, sig, 4);
  fw_ok = memcmp (sig, "QEMU", 4) == 0;
  tap_ok (fw_ok, "fw_cfg: the signature through port 0x511 is \"%s\"", fw_ok ? sig : "?");
  if (!fw_ok)
    return;
  fw_cfg_read_port (FW_CFG_ID, id, sizeof id);
  fw_dma = (id[0] & 2) != 0;
  tap_ok ((id[0] & 1) && fw_dma, "fw_cfg: ID 0x%02x%02x%02x%02x: traditional interface and DMA",
          id[3], id[2], id[1], id[0]);
  /* The DMA register reads back "QEMU CFG", big-endian */
  hi = inl (FW_CFG_DMA_HIGH);
  lo = inl (FW_CFG_DMA_LOW);
  for (int i = 0; i < 4; i++)
    {
      dma_sig[i] = (uint8_t) (hi >> (8 * i));
      dma_sig[4 + i] = (uint8_t) (lo >> (8 * i));
    }
  tap_ok (memcmp (dma_sig, "QEMU CFG", 8) == 0, "fw_cfg: the DMA register reads \"QEMU CFG\"");
}

static void
test_fw_cfg_dir (void)
{
  static const char *const wanted[] = {
    "bootorder", "etc/acpi/rsdp", "etc/acpi/tables", "etc/e820", "etc/table-loader",
  };
  bool sorted = true, sizes = true;
  char missing[64] = "";

  if (!fw_cfg_load () || !fw_dma)
    {
      tap_skip ("no fw_cfg DMA", "fw_cfg: the file directory");
      return;
    }
  for (uint32_t i = 0; i < fw_n_files && i < 64; i++)
    {
      const uint8_t *f = fw_dir + 4 + 64 * i;

      tap_diag ("  fw_cfg file 0x%04x %6u %s", f[4] << 8 | f[5], get_be32 (f),
                (const char *) f + 8);
      if (i > 0 && strncmp ((const char *) f - 64 + 8, (const char *) f + 8, 56) >= 0)
        sorted = false;
      if (f[8 + 55] != 0)
        sizes = false;
    }
  for (size_t i = 0; i < ARRAY_SIZE (wanted); i++)
    {
      uint16_t key;
      uint32_t size;

      if (!fw_cfg_find_file (wanted[i], &key, &size))
        snprintf (missing + strlen (missing), sizeof missing - strlen (missing), " %s",
                  wanted[i]);
      else if (size == 0 && strncmp (wanted[i], "bootorder", 10) != 0)
        sizes = false;
    }
  tap_ok (fw_n_files > 0 && fw_n_files <= 64 && sorted && sizes && missing[0] == '\0',
          "fw_cfg: %u files, sorted by name, NUL-terminated names, sizes set%s%s",
          fw_n_files, missing[0] ? "; missing:" : "", missing);
}

/* etc/e820 against what the VM was given: RAM_SIZE, and mem= (MiB) if on
 * the command line.  RAM below the PCI hole (2.75 GiB here, 2 GiB on
 * QEMU's q35 when the RAM does not fit under 2.75 GiB), the rest at 4 GiB,
 * and the 16 KiB KVM keeps at 0xfeffc000 reserved. */
static void
test_fw_cfg_e820 (void)
{
  uint8_t ramsz[8], cpus[2];
  uint64_t ram, want_mib = cmdline_number ("mem", 0);
  uint64_t low = 0, high = 0, total = 0;
  bool shape = true, kvm_reserved = false;
  int len;

  fw_cfg_read_port (FW_CFG_RAM_SIZE, ramsz, sizeof ramsz);
  ram = get_le64 (ramsz);
  fw_cfg_read_port (FW_CFG_NB_CPUS, cpus, sizeof cpus);
  tap_ok (want_mib == 0 || ram == want_mib << 20,
          "fw_cfg: RAM_SIZE %lu MiB (mem=%lu)", ram >> 20, want_mib);
  if (cmdline_has ("cpus"))
    tap_ok ((uint64_t) (cpus[0] | cpus[1] << 8) == cmdline_number ("cpus", 0),
            "fw_cfg: NB_CPUS %u = cpus=", cpus[0] | cpus[1] << 8);

  memset (fw_buf, 0xcc, sizeof fw_buf);
  len = fw_cfg_read_file ("etc/e820", fw_buf, sizeof fw_buf);
  if (len <= 0 || len % 20 != 0)
    {
      tap_ok (false, "fw_cfg: etc/e820 read by DMA (length %d, not a multiple of 20)", len);
      return;
    }
  for (int i = 0; i < len / 20; i++)
    {
      const uint8_t *e = fw_buf + 20 * i;
      uint64_t addr = get_le64 (e), size = get_le64 (e + 8);
      uint32_t type = e[16] | e[17] << 8 | e[18] << 16 | (uint32_t) e[19] << 24;

      tap_diag ("  e820 0x%010lx-0x%010lx type %u", addr, addr + size - 1, type);
      if (type == E820_RAM)
        {
          total += size;
          if (addr == 0)
            low = size;
          else if (addr == 1ull << 32)
            high = size;
          else
            shape = false;
        }
      else if (type == E820_RESERVED && addr == 0xfeffc000 && size == 0x4000)
        kvm_reserved = true;
    }
  /* The split: all below 2.75 GiB if it fits, else at most 2.75 GiB low */
  if (total != ram || low == 0 || low > 0xb0000000ull)
    shape = false;
  if (high != 0 && low < 0x80000000ull)
    shape = false;
  if (high == 0 && ram > 0xb0000000ull)
    shape = false;
  tap_ok (shape && kvm_reserved && fw_buf[len] == 0xcc,
          "fw_cfg: etc/e820 by DMA: %lu MiB low, %lu MiB at 4 GiB = RAM_SIZE; KVM's pages at "
          "0xfeffc000 reserved%s", low >> 20, high >> 20, kvm_reserved ? "" : " (MISSING)");
}

static void
test_fw_cfg_dma_errors (void)
{
  uint32_t ctl;
  uint16_t key;
  uint32_t size;

  if (!fw_dma || !fw_cfg_find_file ("etc/e820", &key, &size))
    {
      tap_skip ("no fw_cfg DMA or no etc/e820", "fw_cfg: DMA errors");
      return;
    }
  /* A read into a buffer, then what lies past the item's end: zeroes */
  memset (fw_buf, 0xcc, 64);
  ctl = fw_cfg_dma_read (FW_CFG_SIGNATURE, fw_buf, 8);
  tap_ok (ctl == 0 && memcmp (fw_buf, "QEMU", 4) == 0 && all_zero_bytes (fw_buf + 4, 4)
          && fw_buf[8] == 0xcc,
          "fw_cfg: DMA of the signature into 8 bytes: \"QEMU\", then zeroes (control 0x%x)", ctl);
  /* A buffer outside RAM (1 TiB) */
  ctl = fw_cfg_dma_read (key, (void *) (1ull << 40), size);
  tap_ok (ctl & DMA_ERROR, "fw_cfg: DMA into 1 TiB (outside RAM) sets ERROR (control 0x%x)",
          ctl);
  /* And the device still works */
  memset (fw_buf, 0, 8);
  ctl = fw_cfg_dma_read (FW_CFG_SIGNATURE, fw_buf, 4);
  tap_ok (ctl == 0 && memcmp (fw_buf, "QEMU", 4) == 0,
          "fw_cfg: a DMA read after the error works (control 0x%x)", ctl);
}

void
test_fw_cfg (void)
{
  test_fw_cfg_ids ();
  if (!fw_ok)
    return;
  test_fw_cfg_dir ();
  test_fw_cfg_e820 ();
  test_fw_cfg_dma_errors ();
}

/* --- the chipset ------------------------------------------------------------------ */

static const struct pci_dev *
find_bdf (const struct pci *p, uint8_t bus, uint8_t dev, uint8_t fn)
{
  for (unsigned i = 0; i < p->n_devs; i++)
    if (p->devs[i].bus == bus && p->devs[i].dev == dev && p->devs[i].fn == fn)
      return &p->devs[i];
  return NULL;
}

/* Segment 1 of PAM (0xc0000-0xc3fff, PAM1 bits 1:0): nothing of ours
 * lives there.  A byte written with RW reads back; with the segment off,
 * the bus answers (0xff; QEMU's unassigned memory may read 0); with
 * write-only, writes reach the RAM and reads do not. */
static void
test_pam (const struct pci_dev *mch, bool qemu)
{
  volatile uint8_t *p = (volatile uint8_t *) 0xc0010;
  uint8_t pam[7], saved, orig, off_read, wo_read, back;
  bool rw_ok, wo_ok;
  char hex[7 * 3 + 1];

  for (int i = 0; i < 7; i++)
    {
      pam[i] = pci_read8 (mch, MCH_PAM0 + i);
      snprintf (hex + 3 * i, 4, " %02x", pam[i]);
    }
  tap_diag ("MCH PAM0..6:%s", hex);
  saved = pam[1];

  pci_write8 (mch, MCH_PAM0 + 1, (saved & 0xf0) | 3);          /* RW */
  rw_ok = pci_read8 (mch, MCH_PAM0 + 1) == ((saved & 0xf0) | 3);
  orig = *p;
  *p = 0x5a;
  rw_ok = rw_ok && *p == 0x5a;

  pci_write8 (mch, MCH_PAM0 + 1, saved & 0xf0);                 /* off */
  off_read = *p;
  *p = 0x11;                               /* goes to the bus, dropped */

  pci_write8 (mch, MCH_PAM0 + 1, (saved & 0xf0) | 2);           /* write-only */
  wo_read = *p;
  *p = 0xa7;

  pci_write8 (mch, MCH_PAM0 + 1, (saved & 0xf0) | 1);           /* read-only */
  back = *p;
  *p = 0x22;                               /* dropped */
  wo_ok = back == 0xa7 && *p == 0xa7;

  pci_write8 (mch, MCH_PAM0 + 1, (saved & 0xf0) | 3);
  *p = orig;
  pci_write8 (mch, MCH_PAM0 + 1, saved);

  tap_diag ("PAM1 0x%02x: before 0x%02x, off 0x%02x, write-only 0x%02x, read-only 0x%02x",
            saved, orig, off_read, wo_read, back);
  tap_ok (rw_ok, "q35: PAM1 RW: a byte written at 0xc0010 reads back");
  if (qemu && !(off_read == 0xff && wo_read == 0xff && wo_ok))
    tap_skip ("QEMU's q35 answers off and write-only segments from memory that keeps writes",
              "q35: PAM1 off and write-only read the bus (0x%02x, 0x%02x)", off_read, wo_read);
  else
    tap_ok (off_read == 0xff && wo_read == 0xff && wo_ok,
            "q35: PAM1 off and write-only read the bus (0x%02x, 0x%02x); a write-only write "
            "reaches RAM (read-only reads 0x%02x, and drops a write)", off_read, wo_read, back);
  tap_ok (pci_read8 (mch, MCH_PAM0 + 1) == saved, "q35: PAM1 restored to 0x%02x", saved);
  /* The other registers keep what was written */
  {
    bool same = true;

    for (int i = 0; i < 7; i++)
      if (i != 1)
        {
          pci_write8 (mch, MCH_PAM0 + i, pam[i]);
          same = same && pci_read8 (mch, MCH_PAM0 + i) == pam[i];
        }
    tap_ok (same, "q35: PAM0..6 read back what was written");
  }
}

static void
test_pmbase (const struct pci_dev *lpc)
{
  uint32_t pmbase = pci_read32 (lpc, LPC_PMBASE);
  uint8_t cntl = pci_read8 (lpc, LPC_ACPI_CNTL);
  uint16_t base = pmbase & 0xff80;
  uint32_t smi_en, t_new1, t_new2, t_old, t_back;
  bool moved_ok;

  tap_ok ((pmbase & 1) && base == 0x600 && (cntl & LPC_ACPI_EN),
          "q35: LPC PMBASE 0x%x (I/O, 0x600), ACPI_CNTL 0x%02x (ACPI_EN)", pmbase, cntl);
  smi_en = inl (base + PM_SMI_EN_OFF);
  tap_ok (smi_en & SMI_EN_APMC, "q35: SMI_EN at PMBASE+0x30 is 0x%x: APMC_EN set", smi_en);

  /* Move the PM block and read the timer there; the old port goes quiet */
  pci_write32 (lpc, LPC_PMBASE, PMBASE_MOVED | 1);
  t_new1 = inl (PMBASE_MOVED + PM_TMR_OFF);
  delay_us (2000);
  t_new2 = inl (PMBASE_MOVED + PM_TMR_OFF);
  t_old = inl (base + PM_TMR_OFF);
  pci_write32 (lpc, LPC_PMBASE, pmbase);
  t_back = inl (base + PM_TMR_OFF);
  moved_ok = ((t_new2 - t_new1) & 0xffffff) > 3000 && t_old == 0xffffffffu;
  tap_ok (moved_ok && t_back != 0xffffffffu && pci_read32 (lpc, LPC_PMBASE) == pmbase,
          "q35: PMBASE moved to 0x%x: its PM timer runs (+%u ticks in 2 ms), 0x%x reads "
          "0x%x; moved back", PMBASE_MOVED, (t_new2 - t_new1) & 0xffffff,
          base + PM_TMR_OFF, t_old);
}

void
test_chipset (const struct pci *p)
{
  const struct pci_dev *mch = find_bdf (p, 0, 0, 0);
  const struct pci_dev *lpc = find_bdf (p, 0, 0x1f, 0);
  const struct pci_dev *smbus = find_bdf (p, 0, 0x1f, 3);
  /* QEMU's q35 (and only it) has the ICH9 SMBus controller at 00:1f.3 */
  bool qemu = smbus && smbus->vendor == 0x8086 && smbus->device == 0x2930;
  uint32_t xbar_lo, xbar_hi;

  tap_ok (mch && mch->vendor == 0x8086 && mch->device == 0x29c0,
          "q35: MCH 8086:29c0 at 00:00.0 (%04x:%04x)", mch ? mch->vendor : 0,
          mch ? mch->device : 0);
  tap_ok (lpc && lpc->vendor == 0x8086 && lpc->device == 0x2918 && lpc->class == 6
          && lpc->subclass == 1,
          "q35: ICH9 LPC 8086:2918 (ISA bridge) at 00:1f.0 (%04x:%04x)", lpc ? lpc->vendor : 0,
          lpc ? lpc->device : 0);
  if (mch && mch->device == 0x29c0)
    {
      xbar_lo = pci_read32 (mch, MCH_PCIEXBAR);
      xbar_hi = pci_read32 (mch, MCH_PCIEXBAR + 4);
      tap_ok (xbar_lo == 0xb0000001 && xbar_hi == 0,
              "q35: PCIEXBAR 0x%08x%08x (ECAM at 0xb0000000, 256 buses, enabled)", xbar_hi,
              xbar_lo);
      test_pam (mch, qemu);
    }
  if (lpc && lpc->device == 0x2918)
    test_pmbase (lpc);
}
