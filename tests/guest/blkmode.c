/* blkmode.c: the probe's disk modes, for the crash test and the benchmark
 *
 * mode=writeloop (tests/guest/run-blk-crash.sh kills the VMM while it runs)
 *   Numbered operations on the first virtio-blk disk (or the one whose
 *   serial is wl_disk=), wl_depth in flight over every queue, and a FLUSH
 *   after each wl_flush completed ones.  Operation N writes a checksummed
 *   4 KiB record to a slot, except that every wl_discard-th (N %
 *   wl_discard == wl_discard - 1) discards the slot's whole stride instead
 *   (with 64 KiB clusters and strides: a cluster freed, later allocated
 *   again).  After each completed FLUSH it prints
 *     # wl flushed RUN COUNT
 *   meaning operations 0 .. COUNT-1 of run RUN completed before that
 *   flush was sent, so they must survive anything.  It never issues
 *   operation COUNT + wl_ahead or later before it printed a larger COUNT,
 *   so after a kill only operations COUNT .. COUNT + wl_ahead - 1 may or
 *   may not have reached the disk.  Operation N of run R goes to
 *     slot   = perm ((N + R * 0x9e37) mod wl_slots)   (a bijection, so the
 *              records in flight never share a slot)
 *     offset = slot * wl_stride + (mix (slot) % ((wl_stride - 4096) / 512 + 1)) * 512
 *   and holds, little-endian: "VIVWLREC", R, N, slot, offset (u64 each),
 *   the pattern for seed R << 32 | N from offset + 40 to 4092, and the
 *   CRC-32 (zlib's) of bytes 0 .. 4091 in the last 4 bytes.  blk-crash.py
 *   computes the same.  With wl_count=N it stops after N records, flushes,
 *   prints the plan and powers off.  Defaults: wl_run=0 wl_slots=4096
 *   wl_stride=65536 wl_flush=8 wl_depth=16 wl_ahead=64 wl_discard=8 (0: no discards;
 *   none either without VIRTIO_BLK_F_DISCARD) wl_count=0 (for ever).
 *
 * mode=diskbench (bench/disk.sh)
 *   On the first disk: 4 KiB random reads, 4 KiB random writes, then
 *   sequential reads and writes of bench_seq_kib KiB (default 128), each
 *   for bench_secs seconds (default 3) with bench_qd requests in flight
 *   (default 32) on queue 0, polling, each request with a buffer of its
 *   own.  Time is the TSC, calibrated against
 *   the ACPI PM timer.  Prints "# bench NAME ..." lines and a TAP line
 *   per workload, then powers off.  bench_only=randread|randwrite|seqread|
 *   seqwrite runs that one workload alone.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "blk.h"
#include "blkdev.h"

#define REC_SIZE     4096u
#define WL_WINDOW    256u         /* records between the oldest in flight and the newest */
#define FLUSH_TAG    (1ull << 63)

static struct blk_disk disks[BLK_MAX_DISKS];
static uint32_t crc_table[256];

static NORETURN void
finish (const struct acpi *acpi)
{
  tap_plan ();
  acpi_power_off (acpi);
  tap_bail ("power-off did not take effect");
}

static struct blk_disk *
mode_disk (const struct pci *pci, const char *key)
{
  unsigned n = blk_find (pci, disks, BLK_MAX_DISKS);
  char want[VIRTIO_BLK_ID_BYTES + 1];
  uint64_t cpus = cmdline_number ("cpus", 1);

  cmdline_string (key, want, sizeof want);
  for (unsigned i = 0; i < n; i++)
    {
      static uint8_t id[VIRTIO_BLK_ID_BYTES] __attribute__ ((aligned (16)));
      struct blk_disk *d = &disks[i];

      if (!blk_setup (d, cpus ? (unsigned) cpus : 1))
        continue;
      memset (id, 0, sizeof id);
      blk_rw (d, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof id);
      memcpy (d->serial, id, sizeof id);
      d->serial[VIRTIO_BLK_ID_BYTES] = '\0';
      if (!want[0] || strncmp (d->serial, want, sizeof want) == 0)
        return d;
      virtio_reset (&d->v);
    }
  tap_bail ("no usable virtio-blk disk%s%s", want[0] ? " with serial " : "", want);
}

/* --- the write loop ----------------------------------------------------------------- */

static void
crc_init (void)
{
  for (uint32_t i = 0; i < 256; i++)
    {
      uint32_t c = i;

      for (int k = 0; k < 8; k++)
        c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      crc_table[i] = c;
    }
}

static uint32_t
crc32 (const uint8_t *p, size_t n)
{
  uint32_t c = 0xffffffffu;

  while (n--)
    c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

/* A bijection of [0, 2^bits): odd multiplications, additions and
 * right-shift xors each are one */
static uint64_t
perm (uint64_t x, unsigned bits)
{
  uint64_t m = (1ull << bits) - 1;

  x = (x * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull) & m;
  x ^= x >> (bits / 2 + 1);
  x = (x * 0xd6e8feb86659fd93ull) & m;
  x ^= x >> (bits / 2);
  return x & m;
}

static uint64_t
record_offset (uint64_t slot, uint64_t stride)
{
  uint64_t places = (stride - REC_SIZE) / 512 + 1;

  return slot * stride + ((slot * 0x2545f4914f6cdd1dull) >> 40) % places * 512;
}

static void
build_record (uint8_t *r, uint64_t run, uint64_t n, uint64_t slot, uint64_t off)
{
  uint64_t head[5] = { 0, run, n, slot, off };
  uint32_t crc;

  memcpy (head, "VIVWLREC", 8);
  memcpy (r, head, sizeof head);
  pattern_fill (r + 40, REC_SIZE - 44, off + 40, run << 32 | n);
  crc = crc32 (r, REC_SIZE - 4);
  memcpy (r + REC_SIZE - 4, &crc, 4);
}

void
blk_writeloop_mode (const struct pci *pci, const struct acpi *acpi)
{
  uint64_t run = cmdline_number ("wl_run", 0);
  uint64_t slots = cmdline_number ("wl_slots", 4096);
  uint64_t stride = cmdline_number ("wl_stride", 65536);
  uint64_t flush_every = cmdline_number ("wl_flush", 8);
  uint64_t depth = cmdline_number ("wl_depth", 16);
  uint64_t count = cmdline_number ("wl_count", 0);
  uint64_t discard_every = cmdline_number ("wl_discard", 8);
  uint64_t ahead = cmdline_number ("wl_ahead", 64);
  static bool done[WL_WINDOW];
  static struct blk_discard_seg dsegs[WL_WINDOW] __attribute__ ((aligned (16)));
  uint64_t issued = 0, low = 0, flushed = 0, flush_cover = 0, last_flush_low = 0;
  unsigned bits = 0, in_flight = 0, flushes = 0;
  bool flushing = false;
  struct blk_disk *d;

  crc_init ();
  while ((1ull << bits) < slots)
    bits++;
  if ((1ull << bits) != slots || bits < 4 || stride < REC_SIZE || stride % 512
      || depth == 0 || depth > 64 || flush_every == 0 || ahead <= flush_every
      || ahead > WL_WINDOW || ahead > slots / 2)
    tap_bail ("writeloop: wl_slots must be a power of two >= 16, wl_stride a multiple of 512 "
              "of at least 4096, wl_depth 1 to 64, wl_ahead more than wl_flush and at most "
              "%u and half the slots", WL_WINDOW);
  d = mode_disk (pci, "wl_disk");
  if (slots * stride > d->capacity * 512)
    tap_bail ("writeloop: %lu slots of %lu bytes do not fit on %s (%lu sectors)", slots, stride,
              d->serial, d->capacity);
  if (!virtio_has (&d->v, VIRTIO_BLK_F_FLUSH))
    tap_bail ("writeloop: %s does not offer VIRTIO_BLK_F_FLUSH", d->serial);
  if (!virtio_has (&d->v, VIRTIO_BLK_F_DISCARD))
    discard_every = 0;
  tap_diag ("wl start run=%lu disk=%s slots=%lu stride=%lu flush=%lu depth=%lu ahead=%lu "
            "discard=%lu queues=%u", run, d->serial, slots, stride, flush_every, depth, ahead,
            discard_every, d->nq);

  for (;;)
    {
      uint64_t tag;
      uint8_t status;
      uint32_t used;

      /* at most depth in flight, and none wl_ahead past the last count printed */
      while (in_flight < depth && issued < flushed + ahead && (count == 0 || issued < count))
        {
          uint64_t slot = perm ((issued + run * 0x9e37) & (slots - 1), bits);
          uint64_t off = record_offset (slot, stride);
          uint8_t *buf = blk_buf + (issued % WL_WINDOW) * REC_SIZE;
          unsigned qi = (unsigned) (issued % d->nq);
          int head;

          if (discard_every && issued % discard_every == discard_every - 1)
            {
              struct blk_discard_seg *seg = &dsegs[issued % WL_WINDOW];

              *seg = (struct blk_discard_seg) { slot * stride / 512, (uint32_t) (stride / 512), 0 };
              head = blk_submit_buf (d, qi, VIRTIO_BLK_T_DISCARD, 0, seg, sizeof *seg, issued);
            }
          else
            {
              build_record (buf, run, issued, slot, off);
              head = blk_submit_buf (d, qi, VIRTIO_BLK_T_OUT, off / 512, buf, REC_SIZE, issued);
            }
          if (head < 0)
            break;
          blk_kick (d, qi);
          issued++;
          in_flight++;
        }
      /* a flush once flush_every more records completed */
      if (!flushing
          && (low - last_flush_low >= flush_every || (count && low == count && last_flush_low < count))
          && blk_submit_buf (d, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, FLUSH_TAG) >= 0)
        {
          blk_kick (d, 0);
          flushing = true;
          flush_cover = low;
          last_flush_low = low;
        }
      for (unsigned qi = 0; qi < d->nq; qi++)
        while (blk_reap (d, qi, &tag, &status, &used))
          {
            if (status != VIRTIO_BLK_S_OK)
              tap_bail ("writeloop: %s %lu failed: %s",
                        tag == FLUSH_TAG ? "a flush after operation" : "operation",
                        tag == FLUSH_TAG ? low : tag,
                        blk_status_name (status));
            if (tag == FLUSH_TAG)
              {
                flushing = false;
                flushed = flush_cover;
                flushes++;
                tap_diag ("wl flushed %lu %lu", run, flushed);
                continue;
              }
            in_flight--;
            done[tag % WL_WINDOW] = true;
            while (low < issued && done[low % WL_WINDOW])
              done[low++ % WL_WINDOW] = false;
          }
      if (count && low == count && !flushing && flushed == count)
        break;
      cpu_relax ();
    }
  tap_ok (true, "writeloop: %lu operations, %u flushes, all completed", count, flushes);
  virtio_reset (&d->v);
  finish (acpi);
}

/* --- the benchmark ------------------------------------------------------------------ */

static uint64_t
xorshift (uint64_t *s)
{
  uint64_t x = *s;

  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

struct workload
{
  const char *name;
  bool write, random;
  uint32_t bs;
};

static void
run_workload (struct blk_disk *d, const struct workload *w, uint64_t secs, unsigned qd)
{
  uint64_t blocks = d->capacity * 512 / w->bs, next = 0, rng = 0x9e3779b97f4a7c15ull;
  uint64_t ios = 0, errors = 0, start, end, stop, kicks0 = d->q[0]->vq->kicks;
  unsigned in_flight = 0;
  uint8_t free_slot[128];       /* a stack: the qd - in_flight free ones */
  bool busy[128] = { false };
  uint64_t tag;
  uint8_t status;
  uint32_t used;

  /* Each request in flight has a buffer of its own, as a real driver's
     would; the tag names it, and it is reused once its request is
     answered. */
  for (unsigned i = 0; i < qd; i++)
    free_slot[i] = (uint8_t) i;
  start = rdtsc ();
  stop = start + secs * 1000 * clock_tsc_per_ms ();
  for (;;)
    {
      bool more = (int64_t) (rdtsc () - stop) < 0;
      bool added = false;

      while (more && in_flight < qd)
        {
          uint64_t blk = w->random ? xorshift (&rng) % blocks : next++ % blocks;
          uint8_t slot = free_slot[qd - in_flight - 1];
          uint8_t *buf = blk_buf + (uint64_t) slot * w->bs;

          if (blk_submit_buf (d, 0, w->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
                              blk * (w->bs / 512), buf, w->bs, slot) < 0)
            break;
          busy[slot] = true;
          in_flight++;
          added = true;
        }
      if (added)
        blk_kick (d, 0);
      while (blk_reap (d, 0, &tag, &status, &used))
        {
          if (tag >= qd || !busy[tag])
            tap_bail ("diskbench: the device answered a request that was not in flight (tag %lu)",
                      tag);
          busy[tag] = false;
          free_slot[qd - in_flight] = (uint8_t) tag;
          in_flight--;
          if (status != VIRTIO_BLK_S_OK)
            errors++;
          else if (more)
            ios++;
        }
      if (!more && in_flight == 0)
        break;
    }
  end = rdtsc ();
  {
    uint64_t us = (stop - start) * 1000 / clock_tsc_per_ms ();
    uint64_t iops = ios * 1000000 / (us ? us : 1);
    uint64_t kib_s = ios * (w->bs / 1024) * 1000000 / (us ? us : 1);
    uint64_t kicks = d->q[0]->vq->kicks - kicks0;

    tap_diag ("bench %s bs=%u qd=%u us=%lu ios=%lu iops=%lu mibps=%lu.%02lu kicks=%lu "
              "drain_us=%lu", w->name, w->bs, qd, us, ios, iops, kib_s / 1024,
              kib_s % 1024 * 100 / 1024, kicks, (end - stop) * 1000 / clock_tsc_per_ms ());
    tap_ok (errors == 0 && ios > 0, "bench %s: %lu IOPS, %lu MiB/s (%lu errors)", w->name, iops,
            kib_s / 1024, errors);
  }
}

void
blk_diskbench_mode (const struct pci *pci, const struct acpi *acpi)
{
  uint64_t secs = cmdline_number ("bench_secs", 3);
  uint64_t qd = cmdline_number ("bench_qd", 32);
  uint64_t seq = cmdline_number ("bench_seq_kib", 128) * 1024;
  struct workload w[] = {
    { "randread", false, true, 4096 },
    { "randwrite", true, true, 4096 },
    { "seqread", false, false, (uint32_t) seq },
    { "seqwrite", true, false, (uint32_t) seq },
  };
  struct blk_disk *d;

  if (qd == 0 || qd > 128 || seq < 4096 || seq % 4096 || qd * seq > BLK_BUF_SIZE)
    tap_bail ("diskbench: bench_qd 1 to 128, bench_seq_kib a multiple of 4, and qd x seq "
              "at most %u bytes", BLK_BUF_SIZE);
  if (cmdline_has ("bench_only"))
    {
      bool known = false;

      for (unsigned i = 0; i < ARRAY_SIZE (w); i++)
        known |= cmdline_is ("bench_only", w[i].name);
      if (!known)
        tap_bail ("diskbench: bench_only names no workload (randread, randwrite, seqread, "
                  "seqwrite)");
    }
  d = mode_disk (pci, "bench_disk");
  tap_diag ("bench disk=%s capacity=%lu blk_size=%u features=0x%lx tsc_khz=%lu", d->serial,
            d->capacity, d->blk_size, d->v.features, clock_tsc_per_ms ());
  pattern_fill (blk_buf, BLK_BUF_SIZE, 0, 77);
  for (unsigned i = 0; i < ARRAY_SIZE (w); i++)
    if (!cmdline_has ("bench_only") || cmdline_is ("bench_only", w[i].name))
      run_workload (d, &w[i], secs, (unsigned) qd);
  virtio_reset (&d->v);
  finish (acpi);
}
