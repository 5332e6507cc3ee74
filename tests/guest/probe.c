/* probe.c: the probe guest's tests, in the order they run
 *
 * Runs at CPL 3 (entry.S explains why); prints TAP on COM1 and powers the
 * VM off through ACPI S5.  See README.md for the list and the options.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "acpi.h"
#include "ahci.h"
#include "apic.h"
#include "blk.h"
#include "console.h"
#include "display.h"
#include "fwcfg.h"
#include "net.h"
#include "pci.h"
#include "ps2.h"
#include "snapmode.h"
#include "virtio.h"

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info
{
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;     /* version 1 */
  uint32_t memmap_entries;
  uint32_t reserved;
};

struct hvm_memmap_entry
{
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};

#define VIRTIO_VENDOR   0x1af4
#define VIRTIO_RNG_ID   0x1044

/* Vectors for the MSI-X observations, one each: with IF = 0 an accepted
 * vector stays pending in the IRR for good */
#define VEC_DRAIN    0x50
#define VEC_MASKED   0x51
#define VEC_SUPPRESS 0x52
#define VEC_EVENT    0x53

void probe_main (void);

extern const uint8_t ap_trampoline[], ap_trampoline_counter[], ap_trampoline_end[];

static const struct hvm_start_info *start_info;
static struct acpi acpi;
static struct lapic lapic;
static bool lapic_ok;
static struct pci pci;
static const struct pci_dev *rng_pci;
static struct pci_bar rng_bars[6];
static struct virtio_dev rng;
static bool rng_ok;

static uint8_t rng_buf[4][32] __attribute__ ((aligned (64)));
static uint8_t indirect_table[2 * 16] __attribute__ ((aligned (16)));
static uint8_t canary[4096] __attribute__ ((aligned (4096)));

static void
bail_power_off (void)
{
  acpi_power_off (&acpi);
}

static bool
ranges_overlap (uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
  return a < b + blen && b < a + alen;
}

static bool
all_zero (const uint8_t *p, size_t n)
{
  while (n--)
    if (*p++)
      return false;
  return true;
}

static bool
canary_intact (void)
{
  for (size_t i = 0; i < sizeof canary; i++)
    if (canary[i] != 0xa5)
      return false;
  return true;
}

static void
diag_bytes (const char *what, const uint8_t *p, uint32_t n)
{
  char hex[2 * 32 + 1];
  uint32_t i;

  if (n > 32)
    n = 32;
  for (i = 0; i < n; i++)
    snprintf (hex + 2 * i, 3, "%02x", p[i]);
  hex[2 * n] = '\0';
  tap_diag ("%s: %s", what, hex);
}

/* --- 1: the prologue ------------------------------------------------------------- */

/* Only the CPL is checked in CS: on this machine's nested, PVM-style KVM,
 * CPL 3 code runs natively on the host's user selectors, so CS reads 0x33
 * rather than our 0x2b, and pushfq shows the host's IF (1) rather than the
 * vCPU's (0, as iretq set it).  RFLAGS is reported, not judged. */
static void
test_cpl3 (void)
{
  uint64_t rflags;
  uint16_t cs;

  __asm__ volatile ("mov %%cs, %0" : "=r" (cs));
  __asm__ volatile ("pushfq; popq %0" : "=r" (rflags));
  tap_ok ((cs & 3) == 3 && (boot_efer & (1u << 10)) && (boot_cr0 & (1u << 31))
          && (boot_cr4 & (1u << 5)),
          "reached CPL 3 in long mode with paging (CS 0x%x, EFER 0x%lx, CR0 0x%lx, "
          "CR4 0x%lx)", cs, boot_efer, boot_cr0, boot_cr4);
  tap_diag ("RFLAGS at CPL 3 reads 0x%lx", rflags);
}

static void
test_start_info (void)
{
  const struct hvm_start_info *si = (const struct hvm_start_info *) boot_start_info;
  bool ok = boot_start_info != 0 && map_phys (boot_start_info, sizeof *si)
            && si->magic == HVM_START_MAGIC;

  tap_ok (ok, "PVH: hvm_start_info at 0x%lx, magic 0x%x, version %u", boot_start_info,
          ok ? si->magic : 0, ok ? si->version : 0);
  if (!ok)
    tap_bail ("no hvm_start_info: not booted through the PVH entry");
  start_info = si;

  if (si->cmdline_paddr && map_phys (si->cmdline_paddr, 4096))
    cmdline_set ((const char *) si->cmdline_paddr);
  tap_diag ("command line: \"%s\"", cmdline_get ());
  if (si->version >= 1 && si->memmap_paddr && si->memmap_entries
      && map_phys (si->memmap_paddr, 24ull * si->memmap_entries))
    {
      const struct hvm_memmap_entry *m = (const void *) si->memmap_paddr;

      for (uint32_t i = 0; i < si->memmap_entries && i < 32; i++)
        tap_diag ("  memmap 0x%010lx-0x%010lx type %u", m[i].addr, m[i].addr + m[i].size - 1,
                  m[i].type);
    }
}

/* --- 3: CPUs in the MADT ------------------------------------------------------------ */

static void
test_cpu_count (void)
{
  uint64_t want = cmdline_number ("cpus", 0);

  tap_diag ("MADT: %u enabled processors, local APIC at 0x%lx", acpi.n_cpus, acpi.lapic_addr);
  if (want == 0)
    tap_skip ("no cpus= on the command line", "MADT: processor count matches cpus=");
  else
    tap_ok (acpi.n_cpus == want, "MADT: %u enabled processors, cpus=%lu", acpi.n_cpus, want);
}

/* --- 4: the local APIC and the APs ------------------------------------------------- */

static bool
page_is_ram (uint64_t p)
{
  const struct hvm_start_info *si = start_info;
  const struct hvm_memmap_entry *m;

  if (si->version < 1 || !si->memmap_paddr || !si->memmap_entries)
    return p >= 0x1000 && p + 0x1000 <= 0x9f000;   /* conventional memory */
  m = (const void *) si->memmap_paddr;
  for (uint32_t i = 0; i < si->memmap_entries; i++)
    if (m[i].type == 1 && m[i].addr <= p && p + 0x1000 <= m[i].addr + m[i].size)
      return true;
  return false;
}

/* The end of the RAM range holding ADDR (the memory map's), or 0 */
static uint64_t
ram_end (uint64_t addr)
{
  const struct hvm_start_info *si = start_info;
  const struct hvm_memmap_entry *m;

  if (si->version < 1 || !si->memmap_paddr || !si->memmap_entries)
    return 0;
  m = (const void *) si->memmap_paddr;
  for (uint32_t i = 0; i < si->memmap_entries; i++)
    if (m[i].type == 1 && m[i].addr <= addr && addr < m[i].addr + m[i].size)
      return m[i].addr + m[i].size;
  return 0;
}

/* A RAM page below 1 MiB that holds nothing the loader gave us */
static uint64_t
trampoline_page (void)
{
  const struct hvm_start_info *si = start_info;

  for (uint64_t p = 0x1000; p < 0x9f000; p += 0x1000)
    {
      if (!page_is_ram (p))
        continue;
      if (ranges_overlap (p, 0x1000, boot_start_info, sizeof *si)
          || ranges_overlap (p, 0x1000, si->cmdline_paddr, strlen (cmdline_get ()) + 1)
          || ranges_overlap (p, 0x1000, si->memmap_paddr, 24ull * si->memmap_entries)
          || ranges_overlap (p, 0x1000, si->modlist_paddr, 32ull * si->nr_modules)
          || ranges_overlap (p, 0x1000, si->rsdp_paddr, 36))
        continue;
      return p;
    }
  return 0;
}

static void
test_lapic (void)
{
  uint64_t base = boot_apic_base & 0x000ffffffffff000ull;
  bool x2apic = boot_apic_base & (1u << 10);
  bool enabled = boot_apic_base & (1u << 11);
  bool bsp = boot_apic_base & (1u << 8);

  if (x2apic || !enabled)
    {
      tap_ok (false, "LAPIC: IA32_APIC_BASE 0x%lx: %s", boot_apic_base,
              x2apic ? "in x2APIC mode, no MMIO access" : "globally disabled");
      return;
    }
  lapic_ok = lapic_init (&lapic, base);
  tap_ok (lapic_ok && bsp && base == acpi.lapic_addr,
          "LAPIC: IA32_APIC_BASE 0x%lx (BSP, xAPIC) matches the MADT's 0x%lx, "
          "ID %u, version 0x%x, software-enabled through SVR",
          boot_apic_base, acpi.lapic_addr, lapic.id, lapic_ok ? mmio_read32 (base + LAPIC_VER) : 0);
}

static void
test_aps (void)
{
  const char *what = "SMP: INIT-SIPI-SIPI started every AP";
  unsigned expected = acpi.n_cpus > ACPI_MAX_CPUS ? ACPI_MAX_CPUS - 1 : acpi.n_cpus - 1;
  volatile uint32_t *counter;
  uint64_t page, deadline;
  uint32_t seen;
  unsigned i;

  if (cmdline_number ("ap", 1) == 0)
    {
      tap_skip ("ap=0 on the command line", "%s", what);
      return;
    }
  if (!lapic_ok)
    {
      tap_skip ("no usable local APIC", "%s", what);
      return;
    }
  if (acpi.n_cpus < 2)
    {
      tap_skip ("a single processor", "%s", what);
      return;
    }
  page = trampoline_page ();
  if (!page)
    {
      tap_ok (false, "%s: no free RAM page below 640 KiB for the trampoline", what);
      return;
    }

  memcpy ((void *) page, ap_trampoline, ap_trampoline_end - ap_trampoline);
  counter = (volatile uint32_t *) (page + (ap_trampoline_counter - ap_trampoline));
  *counter = 0;
  mfence ();
  tap_diag ("trampoline at 0x%lx (SIPI vector 0x%02lx)", page, page >> 12);

  /* INIT (assert, then the level de-assert older APICs want) to every AP,
   * 10 ms, then two SIPIs 200 µs apart (Intel SDM vol. 3 §8.4.4.1); an AP
   * already running ignores the second one. */
  for (i = 0; i < acpi.n_cpus && i < ACPI_MAX_CPUS; i++)
    if (acpi.apic_ids[i] != lapic.id)
      {
        lapic_ipi (&lapic, acpi.apic_ids[i], 0x0000c500);
        lapic_ipi (&lapic, acpi.apic_ids[i], 0x00008500);
      }
  delay_us (10000);
  for (int round = 0; round < 2; round++)
    {
      for (i = 0; i < acpi.n_cpus && i < ACPI_MAX_CPUS; i++)
        if (acpi.apic_ids[i] != lapic.id)
          lapic_ipi (&lapic, acpi.apic_ids[i], 0x00004600 | (uint32_t) (page >> 12));
      delay_us (200);
    }

  deadline = deadline_after_ms (2000);
  while ((seen = *counter) < expected && !deadline_passed (deadline))
    cpu_relax ();
  /* Give a VMM that wrongly restarts an AP on the second SIPI the time to
   * show it */
  delay_us (20000);
  seen = *counter;
  tap_ok (seen == expected, "%s: %u of %u APs checked in", what, seen, expected);
}

/* --- 5: PCI ---------------------------------------------------------------------------- */

static void
test_pci (void)
{
  const struct pci_dev *host = NULL;
  unsigned i, n_mem = 0;

  if (!tap_ok (acpi.ecam != 0 && acpi.bus_start <= acpi.bus_end,
               "PCI: MCFG segment 0: ECAM at 0x%lx, buses %u-%u", acpi.ecam, acpi.bus_start,
               acpi.bus_end))
    tap_bail ("no ECAM: cannot reach PCI configuration space");
  if (!pci_enumerate (&pci, acpi.ecam, acpi.bus_start, acpi.bus_end))
    tap_bail ("ECAM at 0x%lx cannot be mapped", acpi.ecam);

  for (i = 0; i < pci.n_devs; i++)
    {
      const struct pci_dev *d = &pci.devs[i];

      tap_diag ("  %02x:%02x.%u %04x:%04x class %02x/%02x/%02x", d->bus, d->dev, d->fn,
                d->vendor, d->device, d->class, d->subclass, d->prog_if);
      if (d->bus == acpi.bus_start && d->dev == 0 && d->fn == 0)
        host = d;
    }
  tap_ok (host && host->class == 0x06 && host->subclass == 0x00,
          "PCI: host bridge at 00:00.0 (%04x:%04x, class %02x/%02x); %u functions found",
          host ? host->vendor : 0xffff, host ? host->device : 0xffff, host ? host->class : 0xff,
          host ? host->subclass : 0xff, pci.n_devs);

  rng_pci = pci_find (&pci, VIRTIO_VENDOR, VIRTIO_RNG_ID);
  if (!tap_ok (rng_pci != NULL, "PCI: virtio-rng (%04x:%04x, modern) present%s", VIRTIO_VENDOR,
               VIRTIO_RNG_ID, rng_pci ? "" : " -- is --rng / virtio-rng-pci missing?"))
    return;
  tap_diag ("virtio-rng at %02x:%02x.%u, COMMAND 0x%04x", rng_pci->bus, rng_pci->dev,
            rng_pci->fn, pci_read16 (rng_pci, PCI_COMMAND));

  for (i = 0; i < 6;)
    {
      struct pci_bar *b = &rng_bars[i];
      bool restored;
      unsigned used = pci_bar_size (rng_pci, i, b, &restored);

      if (b->present)
        {
          if (!b->io)
            n_mem++;
          tap_ok (b->base != 0 && b->size != 0 && (b->size & (b->size - 1)) == 0
                  && (b->base & (b->size - 1)) == 0 && restored,
                  "PCI: virtio-rng BAR%u sized: %s%s at 0x%lx, size 0x%lx "
                  "(non-zero, size-aligned, restored%s)", i,
                  b->io ? "I/O" : b->is64 ? "64-bit memory" : "32-bit memory",
                  b->prefetch ? " prefetchable" : "", b->base, b->size,
                  restored ? "" : " -- NOT RESTORED");
          if (!b->io)
            map_phys (b->base, b->size);
        }
      i += used;
    }
  tap_ok (n_mem > 0 && (pci_read16 (rng_pci, PCI_COMMAND) & PCI_COMMAND_MEMORY),
          "PCI: virtio-rng has %u memory BAR(s) and memory decoding is back on", n_mem);
}

/* --- 6-8: virtio ----------------------------------------------------------------------- */

static void
test_virtio_setup (void)
{
  if (!rng_pci)
    {
      tap_skip ("no virtio-rng device", "virtio: capabilities, handshake, requests");
      return;
    }
  if (!virtio_find_caps (&rng, rng_pci, rng_bars, true))
    {
      tap_ok (false, "virtio: no usable common/notify capabilities; device tests not run");
      return;
    }
  rng_ok = virtio_init (&rng, true);
  tap_diag ("queue 0: %u entries, notify at 0x%lx", rng.vq[0].size, rng.vq[0].notify_addr);
}

static const char *
vq_result_name (enum vq_result r)
{
  return r == VQ_USED ? "used"
         : r == VQ_NEEDS_RESET ? "NEEDS_RESET"
         : r == VQ_BAD_ID ? "used element with the wrong id"
                          : "timeout";
}

static void
test_rng (void)
{
  enum vq_result r1, r2, r3;
  uint32_t len1, len2, len3;

  if (!rng_ok)
    {
      tap_skip ("virtio-rng not initialised", "virtio-rng: requests");
      return;
    }
  memset (rng_buf, 0, sizeof rng_buf);
  r1 = virtio_rng_read (&rng, rng_buf[0], 32, &len1);
  tap_ok (r1 == VQ_USED && len1 > 0 && len1 <= 32 && !all_zero (rng_buf[0], len1),
          "virtio-rng: a 32-byte request comes back with data (%s, used len %u)",
          vq_result_name (r1), len1);
  diag_bytes ("first read", rng_buf[0], len1);

  r2 = virtio_rng_read (&rng, rng_buf[1], 32, &len2);
  tap_ok (r1 == VQ_USED && r2 == VQ_USED && len2 > 0
          && memcmp (rng_buf[0], rng_buf[1], len1 < len2 ? len1 : len2) != 0,
          "virtio-rng: a second read differs from the first (%s, used len %u)",
          vq_result_name (r2), len2);
  diag_bytes ("second read", rng_buf[1], len2);

  if (!virtio_has (&rng, VIRTIO_F_INDIRECT_DESC))
    {
      tap_skip ("RING_INDIRECT_DESC not offered", "virtio-rng: indirect request");
      return;
    }
  /* Two 16-byte device-writable buffers through one indirect descriptor */
  {
    uint64_t t = (uint64_t) indirect_table;

    *(volatile uint64_t *) (t + 0) = (uint64_t) rng_buf[2];
    *(volatile uint32_t *) (t + 8) = 16;
    *(volatile uint16_t *) (t + 12) = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
    *(volatile uint16_t *) (t + 14) = 1;
    *(volatile uint64_t *) (t + 16) = (uint64_t) rng_buf[3];
    *(volatile uint32_t *) (t + 24) = 16;
    *(volatile uint16_t *) (t + 28) = VIRTQ_DESC_F_WRITE;
    *(volatile uint16_t *) (t + 30) = 0;
    virtq_set_desc (&rng.vq[0], 0, t, sizeof indirect_table, VIRTQ_DESC_F_INDIRECT, 0);
    r3 = virtq_submit_wait (&rng.vq[0], 0, 1000, &len3);
    tap_ok (r3 == VQ_USED && len3 > 0 && len3 <= 32 && !all_zero (rng_buf[2], 16),
            "virtio-rng: an indirect request (2 descriptors) comes back with data "
            "(%s, used len %u)", vq_result_name (r3), len3);
    diag_bytes ("indirect read", rng_buf[2], len3 < 16 ? len3 : 16);
  }
}

/* --- 9: MSI-X, observed in the LAPIC's IRR and the PBA ---------------------------------- */

static bool
wait_irr (uint8_t vector, uint64_t ms)
{
  uint64_t deadline = deadline_after_ms (ms);

  while (!lapic_irr (&lapic, vector))
    {
      if (deadline_passed (deadline))
        return false;
      delay_us (100);
    }
  return true;
}

static bool
wait_pba (bool want, uint64_t ms)
{
  uint64_t deadline = deadline_after_ms (ms);

  while (msix_pending (&rng, 0) != want)
    {
      if (deadline_passed (deadline))
        return false;
      delay_us (100);
    }
  return true;
}

static void
test_msix (void)
{
  const char *skip = !rng_ok ? "virtio-rng not initialised"
                     : !rng.msix_table ? "no MSI-X table"
                     : !lapic_ok ? "no usable local APIC" : NULL;
  uint64_t addr = 0xfee00000ull | (uint64_t) lapic.id << 12;
  uint8_t buf[16] __attribute__ ((aligned (16)));
  enum vq_result r;
  uint32_t len;
  bool pba, irr;

  if (skip)
    {
      tap_skip (skip, "MSI-X: masked, unmasked and EVENT_IDX-suppressed interrupts");
      return;
    }

  /* Whatever completions left pending while the entry was masked goes to
   * a vector of its own first */
  tap_diag ("before: PBA bit 0 %s", msix_pending (&rng, 0) ? "set" : "clear");
  msix_program (&rng, 0, addr, VEC_DRAIN, false);
  wait_pba (false, 100);
  tap_diag ("drained: PBA bit 0 %s, IRR 0x%x %s", msix_pending (&rng, 0) ? "set" : "clear",
            VEC_DRAIN, lapic_irr (&lapic, VEC_DRAIN) ? "set" : "clear");

  /* (a) masked: the completion is held in the PBA, not sent */
  msix_program (&rng, 0, addr, VEC_MASKED, true);
  virtq_set_used_event (&rng.vq[0], virtq_used_idx (&rng.vq[0]));
  r = virtio_rng_read (&rng, buf, sizeof buf, &len);
  pba = wait_pba (true, 200);
  irr = lapic_irr (&lapic, VEC_MASKED);
  tap_ok (r == VQ_USED && pba && !irr,
          "MSI-X (a): with the entry masked a completion sets the PBA bit (%s) and leaves "
          "IRR 0x%x clear (%s)", pba ? "set" : "clear", VEC_MASKED, irr ? "set" : "clear");

  msix_mask (&rng, 0, false);
  irr = wait_irr (VEC_MASKED, 200);
  pba = msix_pending (&rng, 0);
  tap_ok (irr && !pba, "MSI-X (a): unmasking delivers it: IRR 0x%x %s, PBA bit %s",
          VEC_MASKED, irr ? "set" : "clear", pba ? "set" : "clear");

  if (!virtio_has (&rng, VIRTIO_F_EVENT_IDX))
    {
      tap_skip ("RING_EVENT_IDX not offered", "MSI-X (b): used_event suppression");
      return;
    }

  /* (b) used_event one behind: the next completion does not cross it */
  msix_program (&rng, 0, addr, VEC_SUPPRESS, false);
  virtq_set_used_event (&rng.vq[0], (uint16_t) (virtq_used_idx (&rng.vq[0]) - 1));
  r = virtio_rng_read (&rng, buf, sizeof buf, &len);
  delay_us (50000);
  irr = lapic_irr (&lapic, VEC_SUPPRESS);
  pba = msix_pending (&rng, 0);
  tap_ok (r == VQ_USED && !irr && !pba,
          "MSI-X (b): EVENT_IDX, used_event behind the completion: no interrupt "
          "(IRR 0x%x %s, PBA bit %s)", VEC_SUPPRESS, irr ? "set" : "clear", pba ? "set" : "clear");

  /* ... and used_event at the next index: it does */
  msix_program (&rng, 0, addr, VEC_EVENT, false);
  virtq_set_used_event (&rng.vq[0], virtq_used_idx (&rng.vq[0]));
  r = virtio_rng_read (&rng, buf, sizeof buf, &len);
  irr = wait_irr (VEC_EVENT, 200);
  tap_ok (r == VQ_USED && irr,
          "MSI-X (b): EVENT_IDX, used_event at the completion: interrupt (IRR 0x%x %s)",
          VEC_EVENT, irr ? "set" : "clear");

  /* Back to masked: later completions only touch the PBA */
  msix_mask (&rng, 0, true);
}

/* --- 10: malformed descriptor chains ---------------------------------------------------- */

enum malformed
{
  BAD_LOOP,
  BAD_ADDRESS,
  BAD_ZERO_LENGTH,
};

static void
test_one_malformed (enum malformed kind)
{
  static const char *const names[] = {
    [BAD_LOOP] = "a descriptor whose next points at itself",
    [BAD_ADDRESS] = "a buffer beyond the end of RAM",
    [BAD_ZERO_LENGTH] = "a zero-length descriptor (chained before a 16-byte one)",
  };
  /* Far beyond any RAM or MMIO window, with the canary's address in its
   * low bits: a VMM that truncates or wraps guest addresses hits it */
  uint64_t bad = (1ull << 40) + (uint64_t) canary;
  uint8_t *buf = rng_buf[0];
  struct vq *q = &rng.vq[0];
  enum vq_result r;
  uint32_t len = 0;
  const char *how = NULL;
  bool intact;

  memset (canary, 0xa5, sizeof canary);
  memset (rng_buf, 0, sizeof rng_buf);
  switch (kind)
    {
    case BAD_LOOP:
      virtq_set_desc (q, 0, (uint64_t) buf, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
      break;
    case BAD_ADDRESS:
      virtq_set_desc (q, 0, bad, 16, VIRTQ_DESC_F_WRITE, 0);
      break;
    case BAD_ZERO_LENGTH:
      virtq_set_desc (q, 0, (uint64_t) buf, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
      virtq_set_desc (q, 1, (uint64_t) rng_buf[1], 16, VIRTQ_DESC_F_WRITE, 0);
      break;
    }
  r = virtq_submit_wait (q, 0, 1000, &len);
  if (r == VQ_NEEDS_RESET)
    how = "the device set NEEDS_RESET";
  else if (r == VQ_USED && len == 0)
    how = "the buffer came back used with len 0";
  else if (r == VQ_USED && kind == BAD_ZERO_LENGTH && len <= 16)
    how = "the device skipped the empty descriptor and filled the rest";
  else if (r == VQ_USED && kind == BAD_ADDRESS && len <= 16)
    how = "the device completed it and dropped the data (QEMU's behaviour)";
  intact = canary_intact () && all_zero (rng_buf[2], 2 * sizeof rng_buf[2]);
  tap_ok (how != NULL && intact, "virtio: %s: %s%s", names[kind],
          how ? how
          : r == VQ_TIMEOUT ? "neither NEEDS_RESET nor a used buffer within 1 s"
          : r == VQ_BAD_ID ? "a used element that names another descriptor"
                           : "used with a length the chain cannot hold",
          intact ? "" : "; and guest RAM outside the chain CHANGED");
  if (how == NULL || r == VQ_USED)
    tap_diag ("result %s, used len %u, status 0x%02x", vq_result_name (r), len,
              virtio_status (&rng));

  /* The VMM must still be serving the device: reset, set up again, read */
  {
    bool init = virtio_init (&rng, false);
    enum vq_result again = init ? virtio_rng_read (&rng, rng_buf[2], 16, &len) : VQ_TIMEOUT;

    tap_ok (init && again == VQ_USED && len > 0,
            "virtio: after reset and re-initialisation the device serves requests again "
            "(%s, used len %u)", vq_result_name (again), len);
    rng_ok = init && again == VQ_USED;
  }
}

static void
test_malformed (void)
{
  if (cmdline_number ("malformed", 1) == 0)
    {
      tap_skip ("malformed=0 on the command line", "virtio: malformed descriptor chains");
      return;
    }
  if (!rng_ok)
    {
      tap_skip ("virtio-rng not initialised", "virtio: malformed descriptor chains");
      return;
    }
  test_one_malformed (BAD_LOOP);
  if (rng_ok)
    test_one_malformed (BAD_ADDRESS);
  if (rng_ok)
    test_one_malformed (BAD_ZERO_LENGTH);
}

/* --- 11: power off ------------------------------------------------------------------------ */

static NORETURN void
test_power_off (void)
{
  bool have_reg = acpi.hw_reduced ? acpi.sleep_control.address != 0 : acpi.pm1a_cnt != 0;

  tap_ok (acpi.have_s5 && have_reg,
          "ACPI: \\_S5_ found (SLP_TYPa %u, SLP_TYPb %u), sleep register %s 0x%lx",
          acpi.slp_typa, acpi.slp_typb, acpi.hw_reduced ? "SLEEP_CONTROL" : "PM1a_CNT",
          acpi.hw_reduced ? acpi.sleep_control.address : acpi.pm1a_cnt);
  if (cmdline_has ("slp_typ"))
    {
      /* A sleep type the platform does not implement must be ignored */
      acpi.slp_typa = acpi.slp_typb = cmdline_number ("slp_typ", acpi.slp_typa) & 7;
      tap_diag ("SLP_TYP overridden to %u from the command line", acpi.slp_typa);
    }
  if (cmdline_is ("finish", "reset"))
    {
      /* End with a reset through the FADT's reset register instead. */
      tap_ok (acpi.reset_supported && acpi.reset_reg.address != 0,
              "ACPI: reset register %s 0x%lx, value 0x%x",
              acpi.reset_reg.space == 1 ? "port" : "memory", acpi.reset_reg.address,
              acpi.reset_value);
      tap_diag ("%u tests, %u failed; resetting", tap_count (), tap_failures ());
      tap_plan ();
      acpi_reset (&acpi);
      tap_bail ("reset did not take effect");
    }
  tap_diag ("%u tests, %u failed; TSC %lu kHz; powering off", tap_count (), tap_failures (),
            clock_tsc_per_ms ());
  tap_plan ();
  acpi_power_off (&acpi);
  tap_bail ("power-off did not take effect");
}

/* --- idle mode ------------------------------------------------------------------------------ */

#define PM1_PWRBTN_STS (1u << 8)
/* QEMU's pvpanic ISA port, which vivarium-vmm serves too (ACPI QEMU0001) */
#define PVPANIC_PORT     0x505
#define PVPANIC_PANICKED 0x1

/* mode=idle: no tests. Print "tick N" about every 100 ms (a counter a host
 * can watch stop while the VM is paused) and power off when the ACPI power
 * button is pressed. The button's status bit is polled in PM1a_STS: the
 * probe takes no SCI (no interrupts here). */
static NORETURN void
idle_mode (void)
{
  uint64_t next = deadline_after_ms (100);
  unsigned tick = 0;

  if (!acpi.pm1a_evt)
    tap_bail ("idle mode: the FADT has no PM1a event block");
  /* panic=1: report a kernel panic through pvpanic first, as Linux's
   * pvpanic driver does (port 0x505, the bit PANICKED), then idle on. */
  if (cmdline_number ("panic", 0) != 0)
    {
      uint8_t supported = inb (PVPANIC_PORT);
      tap_diag ("idle: pvpanic offers events 0x%x; reporting a panic", supported);
      if (supported & PVPANIC_PANICKED)
        outb (PVPANIC_PORT, PVPANIC_PANICKED);
    }
  /* With a virtio-gpu, colour bars and the tick counter on the screen */
  if (acpi.ecam && pci_enumerate (&pci, acpi.ecam, acpi.bus_start, acpi.bus_end))
    {
      display_idle_start (&pci);
      /* dhcp=1: a lease first, which the host's helper reports */
      if (cmdline_number ("dhcp", 0) != 0)
        tap_diag ("idle: %s", net_lease (&pci) ? "leased an address" : "no DHCP lease");
    }
  /* A press before we got here counts too; clear nothing. */
  tap_diag ("idle: ticking; press the ACPI power button to power off");
  for (;;)
    {
      if (inw ((uint16_t) acpi.pm1a_evt) & PM1_PWRBTN_STS)
        {
          outw ((uint16_t) acpi.pm1a_evt, PM1_PWRBTN_STS);   /* write one to clear */
          tap_diag ("idle: power button pressed after tick %u; powering off", tick);
          acpi_power_off (&acpi);
          tap_bail ("power-off did not take effect");
        }
      if (deadline_passed (next))
        {
          display_idle_tick (tick);
          tap_diag ("tick %u", tick++);
          next = deadline_after_ms (100);
        }
      cpu_relax ();
    }
}

void
probe_main (void)
{
  serial_init ();
  tap_diag ("vivarium probe guest");
  test_cpl3 ();
  test_start_info ();

  if (!acpi_probe (&acpi, start_info->rsdp_paddr))
    tap_bail ("no usable ACPI tables");
  tap_set_bail_hook (bail_power_off);
  clock_init ((uint16_t) acpi.pm_tmr, acpi.pm_tmr_32bit);

  if (cmdline_is ("mode", "idle"))
    idle_mode ();
  if (cmdline_is ("mode", "ps2"))
    ps2_mode (&acpi);
  if (cmdline_is ("mode", "writeloop") || cmdline_is ("mode", "diskbench")
      || cmdline_is ("mode", "display") || cmdline_is ("mode", "ahci")
      || cmdline_is ("mode", "net") || cmdline_is ("mode", "netbench")
      || cmdline_is ("mode", "snapshot"))
    {
      /* The disk, network and display modes: no tests, their devices only */
      if (!acpi.ecam || !pci_enumerate (&pci, acpi.ecam, acpi.bus_start, acpi.bus_end))
        tap_bail ("no ECAM: cannot reach PCI configuration space");
      if (cmdline_is ("mode", "display"))
        display_mode (&pci, &acpi);
      if (cmdline_is ("mode", "ahci"))
        ahci_mode (&pci, &acpi);
      if (cmdline_is ("mode", "net"))
        net_mode (&pci, &acpi);
      if (cmdline_is ("mode", "netbench"))
        netbench_mode (&pci, &acpi);
      if (cmdline_is ("mode", "snapshot"))
        snapshot_mode (&pci, &acpi, ram_end (32ull << 20));
      if (cmdline_is ("mode", "writeloop"))
        blk_writeloop_mode (&pci, &acpi);
      blk_diskbench_mode (&pci, &acpi);
    }

  test_cpu_count ();
  test_lapic ();
  test_aps ();
  test_pci ();
  if (cmdline_number ("fwcfg", 1) != 0)
    {
      test_fw_cfg ();
      test_chipset (&pci);
    }
  test_virtio_setup ();
  test_rng ();
  test_msix ();
  test_malformed ();
  test_console (&pci);
  test_blk (&pci);
  test_power_off ();
}
