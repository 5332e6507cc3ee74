/* snapmode.c: mode=snapshot, a guest whose state a snapshot must keep
 *
 * The probe fills snap_touch MiB of RAM from 32 MiB on with a pattern (page
 * P holds pattern_fill's bytes for seed 0 at offset P * 4096), then ticks
 * every snap_ms milliseconds (default 50, by the TSC). Tick N rewrites one
 * of the first 1024 pages of that region with seed N, writes 4 KiB block
 * N % 1024 of the first virtio-blk disk (if there is one) with seed N, and
 * draws N on the virtio-gpu screen (if there is one); every tenth tick it
 * prints
 *   # snap tick N
 * It keeps what it wrote where in two ledgers in its own memory. A
 * snapshot holds memory, disk and ledgers of one instant, so after a
 * revert they still agree, and the ticks go on from the snapshot's.
 *
 * On the serial line:
 *   v  checks everything against the ledgers: every page of the region,
 *      every block written, and that the TSC did not go back since the
 *      last check; prints TAP lines (the tick they were made at in each)
 *   q  prints the plan and powers off
 * A host harness sends v after a revert, q at the end.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "acpi.h"
#include "blkdev.h"
#include "display.h"
#include "lib.h"
#include "pci.h"
#include "snapmode.h"

#define REGION_BASE   (32ull << 20)
#define PAGE          4096ull
#define HOT_PAGES     1024u
#define DISK_BLOCKS   1024u
#define BLOCK         4096u
#define SECTOR        512u

static struct blk_disk disks[BLK_MAX_DISKS];
static uint32_t page_seed[HOT_PAGES];       /* 0: the fill's */
static uint32_t block_seed[DISK_BLOCKS];    /* 0: never written */
static uint8_t block_buf[BLOCK] __attribute__ ((aligned (4096)));

static uint8_t *
region_page (uint64_t p)
{
  return (uint8_t *) (REGION_BASE + p * PAGE);
}

static struct blk_disk *
first_disk (const struct pci *pci)
{
  unsigned n = blk_find (pci, disks, BLK_MAX_DISKS);

  for (unsigned i = 0; i < n; i++)
    if (blk_setup (&disks[i], 1))
      return &disks[i];
  return NULL;
}

/* Every page of the region and every block written agree with the ledgers */
static void
verify (struct blk_disk *disk, uint64_t pages, unsigned tick, uint64_t *last_tsc)
{
  uint64_t bad_page = UINT64_MAX, bad_block = UINT64_MAX, tsc = rdtsc ();
  unsigned blocks = 0;

  for (uint64_t p = 0; p < pages && bad_page == UINT64_MAX; p++)
    if (pattern_check (region_page (p), PAGE, p * PAGE, p < HOT_PAGES ? page_seed[p] : 0) >= 0)
      bad_page = p;
  tap_ok (bad_page == UINT64_MAX, "snap: at tick %u, the %lu MiB of memory hold what the "
          "probe wrote (first bad page %ld)", tick, (unsigned long) (pages * PAGE >> 20),
          bad_page == UINT64_MAX ? -1l : (long) bad_page);
  if (disk != NULL)
    {
      for (unsigned b = 0; b < DISK_BLOCKS && bad_block == UINT64_MAX; b++)
        {
          if (block_seed[b] == 0)
            continue;
          blocks++;
          if (blk_rw (disk, 0, VIRTIO_BLK_T_IN, (uint64_t) b * (BLOCK / SECTOR), block_buf,
                      BLOCK) != VIRTIO_BLK_S_OK
              || pattern_check (block_buf, BLOCK, (uint64_t) b * BLOCK, block_seed[b]) >= 0)
            bad_block = b;
        }
      tap_ok (bad_block == UINT64_MAX, "snap: at tick %u, the %u disk blocks written read back "
              "as written (first bad block %ld)", tick, blocks,
              bad_block == UINT64_MAX ? -1l : (long) bad_block);
    }
  tap_ok (tsc >= *last_tsc, "snap: at tick %u, the TSC went on (0x%lx after 0x%lx)", tick, tsc,
          *last_tsc);
  *last_tsc = tsc;
}

NORETURN void
snapshot_mode (const struct pci *pci, const struct acpi *acpi, uint64_t ram_top)
{
  uint64_t touch = cmdline_number ("snap_touch", 16) << 20;
  uint64_t period = cmdline_number ("snap_ms", 50), pages, next, last_tsc = rdtsc ();
  struct blk_disk *disk = first_disk (pci);
  bool screen = display_idle_start (pci);
  unsigned tick = 0;

  if (touch < HOT_PAGES * PAGE || REGION_BASE + touch > ram_top)
    tap_bail ("snapshot: snap_touch must be at least 4 MiB and fit below 0x%lx", ram_top);
  if (!map_phys (REGION_BASE, touch))
    tap_bail ("snapshot: cannot map the region");
  pages = touch / PAGE;
  for (uint64_t p = 0; p < pages; p++)
    pattern_fill (region_page (p), PAGE, p * PAGE, 0);
  tap_diag ("snap start: %lu MiB touched, disk %s (%lu sectors), screen %s, a tick every %lu ms",
            touch >> 20, disk ? "yes" : "none", disk ? disk->capacity : 0, screen ? "yes" : "no",
            period);

  next = deadline_after_ms (period);
  for (;;)
    {
      int c = serial_getc ();

      if (c == 'v')
        verify (disk, pages, tick, &last_tsc);
      else if (c == 'q')
        {
          tap_diag ("snap: stopping at tick %u", tick);
          tap_plan ();
          acpi_power_off (acpi);
          tap_bail ("power-off did not take effect");
        }
      if (!deadline_passed (next))
        {
          cpu_relax ();
          continue;
        }
      tick++;
      page_seed[tick % HOT_PAGES] = tick;
      pattern_fill (region_page (tick % HOT_PAGES), PAGE, (uint64_t) (tick % HOT_PAGES) * PAGE,
                    tick);
      if (disk != NULL)
        {
          unsigned b = tick % DISK_BLOCKS;

          pattern_fill (block_buf, BLOCK, (uint64_t) b * BLOCK, tick);
          if (blk_rw (disk, 0, VIRTIO_BLK_T_OUT, (uint64_t) b * (BLOCK / SECTOR), block_buf,
                      BLOCK) == VIRTIO_BLK_S_OK)
            block_seed[b] = tick;
          else
            tap_ok (false, "snap: tick %u: the write of block %u failed", tick, b);
        }
      if (screen)
        display_idle_tick (tick);
      if (tick % 10 == 0)
        tap_diag ("snap tick %u", tick);
      next = deadline_after_ms (period);
    }
}
