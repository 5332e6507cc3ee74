/* blk.c: the virtio-blk tests (virtio 1.2 §5.2)
 *
 * Every virtio-blk function is set up (blkdev.c) and asked for its serial
 * (GET_ID), which says what the host harness (blk-harness.py) made it:
 *
 *   rw...                a scratch disk: round trips of several sizes and
 *                        layouts, many requests in flight, every queue,
 *                        seg_max segments (direct and indirect), flush,
 *                        discard, write-zeroes, malformed requests
 *   ro-SEED              read-only, holding the pattern for SEED: RO
 *                        offered, the content, and writes, discards and
 *                        write-zeroes refused with IOERR
 *   pat-SEED[/OFF+LEN=BB] holding the pattern for SEED from offset 0, but
 *                        the byte 0xBB in [OFF, OFF + LEN) (KiB, decimal),
 *                        if given: the whole disk is read back
 *   anything else        only the configuration, GET_ID and one read
 *
 * What the probe wrote with success is printed as
 *   # blk-write SERIAL OFFSET LENGTH SEED     (the pattern for SEED)
 *   # blk-zero SERIAL OFFSET LENGTH           (discard or write-zeroes)
 * in order, so the harness can build the expected image on the host and
 * compare; "# blk-config SERIAL ..." gives it the configuration to check.
 *
 * The pattern is vivarium-vmm img write-pattern's: byte p of the disk is
 * byte p % 8 (little-endian) of splitmix64 (p / 8 ^ SEED * golden ratio).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "blk.h"
#include "blkdev.h"

#define KIB ((uint64_t) 1024)
#define MIB ((uint64_t) 1024 * 1024)

/* Where a malformed request may legitimately end up */
#define OUT_IOERR  (1u << 0)
#define OUT_UNSUPP (1u << 1)
#define OUT_RESET  (1u << 2)   /* NEEDS_RESET (QEMU's virtio_error) */
#define OUT_NOSTAT (1u << 3)   /* used, status byte untouched */

static struct blk_disk disks[BLK_MAX_DISKS];

/* The data buffer and, after it, the expected data */
#define IO_BUF   (blk_buf)
#define WANT_BUF (blk_buf + BLK_BUF_SIZE / 2)
#define IO_MAX   (BLK_BUF_SIZE / 2)

static uint8_t small_buf[4096] __attribute__ ((aligned (4096)));
static uint8_t short_hdr[8] __attribute__ ((aligned (16)));
static uint8_t raw_status __attribute__ ((aligned (16)));

/* --- helpers ------------------------------------------------------------------------ */

static uint32_t
unit_of (const struct blk_disk *d)
{
  return d->blk_size >= 512 && d->blk_size <= 65536 ? d->blk_size : 512;
}

static bool
is_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* Splits [addr, addr + len) into n segments of uneven sizes (boundaries
 * anywhere, not only at sector multiples) */
static unsigned
split (struct blk_seg *segs, unsigned n, uint8_t *buf, uint32_t len, bool write)
{
  uint32_t prev = 0;

  if (n == 0 || n > len)
    n = 1;
  for (unsigned k = 0; k < n; k++)
    {
      uint32_t end = k + 1 == n ? len : (uint32_t) ((uint64_t) len * (k + 1) / n) - (k % 3) * 7;

      if (end <= prev)
        end = prev + 1;
      segs[k] = (struct blk_seg) { (uint64_t) buf + prev, end - prev, write };
      prev = end;
    }
  return n;
}

static const char *
result_text (enum vq_result r, uint8_t status)
{
  static char text[48];

  if (r != VQ_USED)
    return blk_status_name (0x100u + r);
  snprintf (text, sizeof text, "%s (0x%02x)", blk_status_name (status), status);
  return text;
}

/* Writes the pattern for SEED to [off, off + len) in nseg segments; logs
 * it for the harness on success.  Returns the status (0x100 + result if
 * it did not come back). */
static unsigned
write_pattern (struct blk_disk *d, unsigned qi, uint64_t off, uint32_t len, uint64_t seed,
               unsigned nseg, bool indirect)
{
  static struct blk_seg segs[BLK_IND_BIG];
  enum vq_result r;
  uint8_t status;
  uint32_t used;

  pattern_fill (IO_BUF, len, off, seed);
  nseg = split (segs, nseg, IO_BUF, len, false);
  r = blk_do (d, qi, VIRTIO_BLK_T_OUT, off / 512, segs, nseg, indirect, &status, &used);
  if (r != VQ_USED)
    return 0x100u + r;
  if (status == VIRTIO_BLK_S_OK)
    tap_diag ("blk-write %s %lu %u %lu", d->serial, off, len, seed);
  return status;
}

/* Reads [off, off + len) into IO_BUF in nseg segments */
static unsigned
read_into (struct blk_disk *d, unsigned qi, uint64_t off, uint32_t len, unsigned nseg,
           bool indirect, uint32_t *used)
{
  static struct blk_seg segs[BLK_IND_BIG];
  enum vq_result r;
  uint8_t status;

  memset (IO_BUF, 0xcc, len);
  nseg = split (segs, nseg, IO_BUF, len, true);
  r = blk_do (d, qi, VIRTIO_BLK_T_IN, off / 512, segs, nseg, indirect, &status, used);
  return r == VQ_USED ? status : 0x100u + r;
}

/* Discard or write-zeroes of one range; logs it on success */
static unsigned
zero_range (struct blk_disk *d, uint32_t type, uint64_t off, uint64_t len, uint32_t flags)
{
  static struct blk_discard_seg seg __attribute__ ((aligned (16)));
  struct blk_seg s = { (uint64_t) &seg, sizeof seg, false };
  enum vq_result r;
  uint8_t status;
  uint32_t used;

  seg.sector = off / 512;
  seg.num_sectors = (uint32_t) (len / 512);
  seg.flags = flags;
  r = blk_do (d, 0, type, 0, &s, 1, false, &status, &used);
  if (r != VQ_USED)
    return 0x100u + r;
  if (status == VIRTIO_BLK_S_OK)
    tap_diag ("blk-zero %s %lu %lu", d->serial, off, len);
  return status;
}

/* After a malformed request: the device set up again if it asked for a
 * reset, then one read must work */
static bool
still_works (struct blk_disk *d, bool *was_reset)
{
  unsigned st;

  *was_reset = blk_needs_reset (d);
  if (*was_reset && !blk_setup (d, d->nq))
    return false;
  st = blk_rw (d, 0, VIRTIO_BLK_T_IN, 0, small_buf, unit_of (d));
  return st == VIRTIO_BLK_S_OK && !blk_needs_reset (d);
}

/* --- configuration and GET_ID --------------------------------------------------------- */

static void
test_config (struct blk_disk *d)
{
  struct virtio_dev *v = &d->v;
  uint64_t cpus = cmdline_number ("cpus", 0);
  bool mq = virtio_has (v, VIRTIO_BLK_F_MQ);
  bool bs_ok = !virtio_has (v, VIRTIO_BLK_F_BLK_SIZE)
               || (d->blk_size >= 512 && (d->blk_size & (d->blk_size - 1)) == 0);
  bool seg_ok = !virtio_has (v, VIRTIO_BLK_F_SEG_MAX) || d->seg_max >= 1;
  bool nq_ok = !mq || (d->num_queues >= 1 && (cpus == 0 || d->num_queues == cpus));

  tap_diag ("blk-config %s capacity=%lu blk_size=%u seg_max=%u num_queues=%u features=0x%lx "
            "offered=0x%lx", d->serial, d->capacity, d->blk_size, d->seg_max, d->num_queues,
            v->features, v->offered);
  tap_diag ("  geometry %u/%u/%u, topology exp %u align %u min %u opt %u; discard max %u "
            "seg %u align %u; write-zeroes max %u seg %u may_unmap %u", d->cylinders, d->heads,
            d->sectors, d->phys_block_exp, d->align_offset, d->min_io_size, d->opt_io_size,
            d->max_discard_sectors, d->max_discard_seg, d->discard_sector_alignment,
            d->max_write_zeroes_sectors, d->max_write_zeroes_seg, d->write_zeroes_may_unmap);
  tap_ok (d->capacity > 0 && bs_ok && seg_ok && nq_ok,
          "blk %s: configuration: capacity %lu sectors, blk_size %u, seg_max %u, "
          "num_queues %u%s", d->serial, d->capacity, d->blk_size, d->seg_max, d->num_queues,
          mq && cpus ? " (= cpus)" : "");
}

/* GET_ID into a 20-byte buffer, and into an 8-byte one (the first 8) */
static bool
get_id (struct blk_disk *d, bool report)
{
  static uint8_t id[VIRTIO_BLK_ID_BYTES + 12] __attribute__ ((aligned (16)));
  struct blk_seg s = { (uint64_t) id, VIRTIO_BLK_ID_BYTES, true };
  enum vq_result r;
  uint8_t status;
  uint32_t used;
  size_t n;
  bool printable = true;

  memset (id, 0, sizeof id);
  r = blk_do (d, 0, VIRTIO_BLK_T_GET_ID, 0, &s, 1, false, &status, &used);
  for (n = 0; n < VIRTIO_BLK_ID_BYTES && id[n]; n++)
    if (id[n] < 0x20 || id[n] > 0x7e)
      printable = false;
  memcpy (d->serial, id, n);
  d->serial[n] = '\0';
  if (!report)
    return r == VQ_USED && status == VIRTIO_BLK_S_OK;
  tap_ok (r == VQ_USED && status == VIRTIO_BLK_S_OK && n > 0 && printable && used >= 1
          && used <= VIRTIO_BLK_ID_BYTES + 1,
          "blk %02x:%02x.%u: GET_ID returns \"%s\" (%s, used len %u)", d->pci->bus, d->pci->dev,
          d->pci->fn, d->serial, result_text (r, status), used);

  /* A short buffer gets the start of the serial */
  memset (id, 0, sizeof id);
  s.len = 8;
  r = blk_do (d, 0, VIRTIO_BLK_T_GET_ID, 0, &s, 1, false, &status, &used);
  tap_ok (r == VQ_USED && status == VIRTIO_BLK_S_OK && memcmp (id, d->serial, n < 8 ? n : 8) == 0
          && is_zero (id + 8, sizeof id - 8),
          "blk %s: GET_ID into an 8-byte buffer gives the first 8 bytes and nothing past them "
          "(%s, used len %u)", d->serial, result_text (r, status), used);
  return true;
}

/* --- the scratch disk ---------------------------------------------------------------- */

static void
test_round_trips (struct blk_disk *d)
{
  uint64_t cap = d->capacity * 512;
  uint32_t u = unit_of (d);
  struct
  {
    uint64_t off;
    uint32_t len;
    unsigned nseg;
    bool indirect;
    const char *what;
  } cases[] = {
    { 0, u, 1, false, "the first block" },
    { 64 * KIB - u, 2 * u, 2, false, "across a 64 KiB cluster boundary" },
    { MIB + 3 * u, (uint32_t) (200 * KIB), 7, false, "200 KiB in 7 uneven segments" },
    { 3 * MIB + 5 * u, (uint32_t) (MIB + u), 5, true, "1 MiB + a block through an indirect table" },
    { cap - u, u, 1, false, "the last block" },
    { cap - 192 * KIB, (uint32_t) (192 * KIB), 3, true, "the last 192 KiB, indirect" },
  };

  for (unsigned i = 0; i < ARRAY_SIZE (cases); i++)
    {
      uint64_t seed = 100 + i;
      unsigned wst, rst;
      uint32_t used = 0;
      int64_t bad = -1;

      wst = write_pattern (d, i % d->nq, cases[i].off, cases[i].len, seed, cases[i].nseg,
                           cases[i].indirect && virtio_has (&d->v, VIRTIO_F_INDIRECT_DESC));
      rst = read_into (d, (i + 1) % d->nq, cases[i].off, cases[i].len, cases[i].nseg,
                       !cases[i].indirect && virtio_has (&d->v, VIRTIO_F_INDIRECT_DESC), &used);
      if (rst == VIRTIO_BLK_S_OK)
        bad = pattern_check (IO_BUF, cases[i].len, cases[i].off, seed);
      tap_ok (wst == VIRTIO_BLK_S_OK && rst == VIRTIO_BLK_S_OK && bad < 0
              && used == cases[i].len + 1,
              "blk %s: write and read back %u bytes at %lu (%s): write %s, read %s, used len %u,"
              " %s", d->serial, cases[i].len, cases[i].off, cases[i].what, blk_status_name (wst),
              blk_status_name (rst), used, bad < 0 ? "identical" : "DIFFERENT");
      if (bad >= 0)
        tap_diag ("first difference at byte %ld", bad);
    }
}

static void
test_flush (struct blk_disk *d)
{
  unsigned st;

  if (!virtio_has (&d->v, VIRTIO_BLK_F_FLUSH))
    {
      tap_skip ("VIRTIO_BLK_F_FLUSH not offered", "blk %s: flush", d->serial);
      return;
    }
  st = blk_rw (d, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
  tap_ok (st == VIRTIO_BLK_S_OK, "blk %s: FLUSH after the writes: %s", d->serial,
          blk_status_name (st));
}

/* Requests in flight at once: COUNT 4 KiB writes (4 per queue on each
 * queue set up when across is set), then as many reads */
static void
test_in_flight (struct blk_disk *d, unsigned count, bool across)
{
  uint32_t u = unit_of (d), len = u > 4096 ? u : 4096;
  uint64_t base = 12 * MIB, seed = 200 + across;
  unsigned done = 0, errors = 0, bad = 0, pending[BLK_MAX_QUEUES] = { 0 };
  uint64_t deadline;

  if (base + 2 * count * len > d->capacity * 512 || count * len > IO_MAX)
    {
      tap_skip ("disk too small", "blk %s: %u requests in flight", d->serial, count);
      return;
    }
  for (int pass = 0; pass < 2; pass++)
    {
      bool writing = pass == 0;

      if (!writing)
        memset (IO_BUF, 0xcc, count * len);
      for (unsigned i = 0; i < count; i++)
        {
          /* every other 4 KiB block, in a scrambled order */
          unsigned k = (i * 7) % count;
          uint64_t off = base + 2ull * k * len;
          unsigned qi = across ? i % d->nq : 0;
          uint8_t *p = IO_BUF + (uint64_t) k * len;

          if (writing)
            pattern_fill (p, len, off, seed);
          if (blk_submit_buf (d, qi, writing ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, off / 512, p,
                              len, k) < 0)
            {
              errors++;
              continue;
            }
          pending[qi]++;
        }
      for (unsigned qi = 0; qi < d->nq; qi++)
        blk_kick (d, qi);
      deadline = deadline_after_ms (5000);
      done = 0;
      while (done < count - errors && !deadline_passed (deadline))
        for (unsigned qi = 0; qi < d->nq; qi++)
          {
            uint64_t tag;
            uint8_t status;
            uint32_t used;

            while (blk_reap (d, qi, &tag, &status, &used))
              {
                done++;
                pending[qi]--;
                if (status != VIRTIO_BLK_S_OK || tag >= count)
                  errors++;
                else if (writing)
                  tap_diag ("blk-write %s %lu %u %lu", d->serial, base + 2 * tag * len, len, seed);
              }
          }
      if (done + errors < count)
        break;
    }
  if (errors == 0 && done == count)
    for (unsigned k = 0; k < count; k++)
      if (pattern_check (IO_BUF + (uint64_t) k * len, len, base + 2ull * k * len, seed) >= 0)
        bad++;
  tap_ok (errors == 0 && done == count && bad == 0,
          "blk %s: %u writes and then %u reads in flight at once%s: %u completed, %u errors, "
          "%u blocks different", d->serial, count, count,
          across ? " across every queue" : " on one queue", done, errors, bad);
}

/* Adjacent requests made available together on one queue, as a driver
 * streaming through a file queues them: the device may run them as merged
 * I/Os, cut at its own limits (2 or 4 MiB in vivarium-vmm), and each must
 * still get its own data, status and used length. The lengths vary so
 * that merged pieces end part-way through requests, and the buffers lie
 * in memory in the opposite order to the disk, so data put in the wrong
 * request's buffer shows. */
static void
test_adjacent (struct blk_disk *d)
{
  static const uint32_t sizes_kib[] = { 4, 128, 60, 256, 8, 132, 512, 12, 1024, 64, 4, 200 };
  enum { MAX_REQS = 40 };
  uint64_t base = 24 * MIB, seed = 500, total = 0, off[MAX_REQS], deadline;
  uint32_t u = unit_of (d), len[MAX_REQS];
  unsigned count = 0, done = 0, errors = 0, bad = 0, short_used = 0;

  while (count < MAX_REQS)
    {
      uint32_t l = sizes_kib[count % ARRAY_SIZE (sizes_kib)] * (uint32_t) KIB;

      l = (l + u - 1) / u * u;
      if (total + l > 3 * MIB + 512 * KIB || base + total + l > d->capacity * 512)
        break;
      off[count] = base + total;
      len[count++] = l;
      total += l;
    }
  for (int pass = 0; pass < 2; pass++)
    {
      bool writing = pass == 0;
      unsigned submitted = 0;

      if (!writing)
        memset (IO_BUF, 0xcc, total);
      for (unsigned i = 0; i < count; i++)
        {
          /* request i's buffer: from the end of IO_BUF's first TOTAL bytes */
          uint8_t *p = IO_BUF + total - (off[i] - base) - len[i];

          if (writing)
            pattern_fill (p, len[i], off[i], seed);
          if (blk_submit_buf (d, 0, writing ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, off[i] / 512, p,
                              len[i], i) < 0)
            break;
          submitted++;
        }
      if (submitted < count)
        {
          tap_diag ("adjacent: only %u of %u requests fit in the queue", submitted, count);
          errors += count - submitted;
        }
      blk_kick (d, 0);
      deadline = deadline_after_ms (5000);
      done = 0;
      while (done < submitted && !deadline_passed (deadline))
        {
          uint64_t tag;
          uint8_t status;
          uint32_t used;

          while (blk_reap (d, 0, &tag, &status, &used))
            {
              done++;
              if (status != VIRTIO_BLK_S_OK || tag >= count)
                errors++;
              else if (writing)
                tap_diag ("blk-write %s %lu %u %lu", d->serial, off[tag], len[tag], seed);
              else if (used != len[tag] + 1)
                short_used++;
            }
        }
      if (done < submitted)
        {
          errors += submitted - done;
          break;
        }
    }
  if (errors == 0)
    for (unsigned i = 0; i < count; i++)
      if (pattern_check (IO_BUF + total - (off[i] - base) - len[i], len[i], off[i], seed) >= 0)
        bad++;
  tap_ok (count > 1 && errors == 0 && bad == 0 && short_used == 0,
          "blk %s: %u adjacent writes, then reads, of 4 KiB to 1 MiB (%lu KiB in all) on one "
          "queue at once: %u errors, %u with a wrong used length, %u different", d->serial,
          count, total / KIB, errors, short_used, bad);
}

static void
test_queues (struct blk_disk *d)
{
  if (!virtio_has (&d->v, VIRTIO_BLK_F_MQ) || d->nq < 2)
    {
      tap_skip (!virtio_has (&d->v, VIRTIO_BLK_F_MQ) ? "VIRTIO_BLK_F_MQ not offered"
                                                      : "one queue (cpus=1)",
                "blk %s: requests on every queue", d->serial);
      return;
    }
  test_in_flight (d, 8 * d->nq, true);
}

/* The most segments a request may have, as a direct chain and through
 * one indirect table */
static void
test_seg_max (struct blk_disk *d)
{
  static struct blk_seg segs[BLK_IND_BIG];
  uint32_t u = unit_of (d), per = u / 512;
  unsigned qmax = d->q[0]->vq->size - 2u;
  unsigned n = d->seg_max < qmax ? d->seg_max : qmax;
  uint64_t off = 20 * MIB + 512 * 3;
  bool ind = virtio_has (&d->v, VIRTIO_F_INDIRECT_DESC);

  if (!virtio_has (&d->v, VIRTIO_BLK_F_SEG_MAX))
    {
      tap_skip ("VIRTIO_BLK_F_SEG_MAX not offered", "blk %s: seg_max segments", d->serial);
      return;
    }
  /* segments of 512 bytes; whole blocks in all */
  n -= n % per;
  off -= off % u;
  for (int pass = 0; pass < 2; pass++)
    {
      bool write_indirect = pass == 1 && ind;
      uint64_t seed = 300 + pass;
      uint32_t len = n * 512, used;
      enum vq_result r;
      uint8_t ws = BLK_S_UNTOUCHED, rs = BLK_S_UNTOUCHED;
      bool same;

      pattern_fill (IO_BUF, len, off, seed);
      for (unsigned k = 0; k < n; k++)
        segs[k] = (struct blk_seg) { (uint64_t) IO_BUF + 512ull * k, 512, false };
      r = blk_do (d, 0, VIRTIO_BLK_T_OUT, off / 512, segs, n, write_indirect, &ws, &used);
      if (r == VQ_USED && ws == VIRTIO_BLK_S_OK)
        tap_diag ("blk-write %s %lu %u %lu", d->serial, off, len, seed);
      memset (IO_BUF, 0xcc, len);
      for (unsigned k = 0; k < n; k++)
        segs[k].write = true;
      r = blk_do (d, d->nq - 1, VIRTIO_BLK_T_IN, off / 512, segs, n, !write_indirect && ind,
                  &rs, &used);
      same = r == VQ_USED && rs == VIRTIO_BLK_S_OK && pattern_check (IO_BUF, len, off, seed) < 0;
      tap_ok (ws == VIRTIO_BLK_S_OK && same,
              "blk %s: seg_max (%u) data segments: a write %s and a read %s: %s, %s, %s",
              d->serial, n, write_indirect ? "through an indirect table" : "as a direct chain",
              write_indirect || !ind ? "as a direct chain" : "through an indirect table",
              blk_status_name (ws), blk_status_name (rs), same ? "identical" : "DIFFERENT");
      off += 2 * MIB;
    }
}

static void
test_discard (struct blk_disk *d)
{
  uint64_t off = 8 * MIB, len = 256 * KIB;
  unsigned ws, ds, rs;
  uint32_t used;
  bool zero = false;

  if (!virtio_has (&d->v, VIRTIO_BLK_F_DISCARD))
    {
      tap_skip ("VIRTIO_BLK_F_DISCARD not offered", "blk %s: discard", d->serial);
      return;
    }
  ws = write_pattern (d, 0, off, (uint32_t) len, 400, 1, false);
  ds = zero_range (d, VIRTIO_BLK_T_DISCARD, off, len, 0);
  rs = read_into (d, 0, off, (uint32_t) len, 1, false, &used);
  zero = rs == VIRTIO_BLK_S_OK && is_zero (IO_BUF, len);
  tap_ok (ws == VIRTIO_BLK_S_OK && ds == VIRTIO_BLK_S_OK && zero,
          "blk %s: discard of 256 KiB (cluster-aligned) after a write: %s, reads back %s",
          d->serial, blk_status_name (ds), zero ? "zeroes" : "NOT ZEROES");

  /* flags other than 0 are not for discard (§5.2.6.2: UNSUPP) */
  {
    static struct blk_discard_seg seg __attribute__ ((aligned (16)));
    struct blk_seg s = { (uint64_t) &seg, sizeof seg, false };
    enum vq_result r;
    uint8_t status;
    bool works, reset;

    seg = (struct blk_discard_seg) { off / 512, 8, VIRTIO_BLK_WZ_UNMAP };
    r = blk_do (d, 0, VIRTIO_BLK_T_DISCARD, 0, &s, 1, false, &status, &used);
    works = still_works (d, &reset);
    tap_ok (r == VQ_USED && (status == VIRTIO_BLK_S_UNSUPP || status == VIRTIO_BLK_S_IOERR)
            && works, "blk %s: a discard with the unmap flag is refused: %s; the device still "
            "works", d->serial, result_text (r, status));
  }
}

static void
test_write_zeroes (struct blk_disk *d)
{
  uint32_t u = unit_of (d);
  uint64_t off = 9 * MIB + 64 * KIB, len = 128 * KIB;
  uint64_t zoff = off + 3 * u, zlen = 5 * u;
  unsigned ws, zs, rs;
  uint32_t used;
  bool zero, kept;

  if (!virtio_has (&d->v, VIRTIO_BLK_F_WRITE_ZEROES))
    {
      tap_skip ("VIRTIO_BLK_F_WRITE_ZEROES not offered", "blk %s: write-zeroes", d->serial);
      return;
    }
  ws = write_pattern (d, 0, off, (uint32_t) len, 500, 1, false);
  zs = zero_range (d, VIRTIO_BLK_T_WRITE_ZEROES, zoff, zlen, 0);
  rs = read_into (d, 0, off, (uint32_t) len, 1, false, &used);
  zero = rs == VIRTIO_BLK_S_OK && is_zero (IO_BUF + (zoff - off), zlen);
  kept = rs == VIRTIO_BLK_S_OK && pattern_check (IO_BUF, zoff - off, off, 500) < 0
         && pattern_check (IO_BUF + (zoff + zlen - off), off + len - zoff - zlen, zoff + zlen,
                           500) < 0;
  tap_ok (ws == VIRTIO_BLK_S_OK && zs == VIRTIO_BLK_S_OK && zero && kept,
          "blk %s: write-zeroes of %lu bytes inside written data: %s, the range reads %s, "
          "the rest %s", d->serial, zlen, blk_status_name (zs), zero ? "zeroes" : "NOT ZEROES",
          kept ? "unchanged" : "CHANGED");

  /* With the unmap flag, over whole clusters */
  off = 10 * MIB;
  ws = write_pattern (d, 0, off, (uint32_t) len, 501, 1, false);
  zs = zero_range (d, VIRTIO_BLK_T_WRITE_ZEROES, off, len, VIRTIO_BLK_WZ_UNMAP);
  rs = read_into (d, 0, off, (uint32_t) len, 1, false, &used);
  zero = rs == VIRTIO_BLK_S_OK && is_zero (IO_BUF, len);
  tap_ok (ws == VIRTIO_BLK_S_OK && zs == VIRTIO_BLK_S_OK && zero,
          "blk %s: write-zeroes with the unmap flag over 128 KiB: %s, reads back %s", d->serial,
          blk_status_name (zs), zero ? "zeroes" : "NOT ZEROES");
}

/* A malformed request, answered with an error or NEEDS_RESET; the device
 * must work afterwards */
static void
malformed (struct blk_disk *d, const char *what, const struct blk_seg *segs, unsigned n,
           unsigned allowed, const uint8_t *status_at)
{
  enum vq_result r;
  int head;
  uint8_t status = BLK_S_UNTOUCHED;
  uint32_t used = 0;
  unsigned outcome = 0;
  bool works, reset;
  const char *how;

  head = blk_submit_chain (d, 0, segs, n, false, 0);
  if (head < 0)
    {
      tap_ok (false, "blk %s: %s: no room in the queue", d->serial, what);
      return;
    }
  d->q[0]->tag[head] = (uint64_t) head;
  blk_kick (d, 0);
  r = blk_wait (d, 0, head, 2000, &status, &used);
  if (status_at)
    status = *(volatile const uint8_t *) status_at;
  if (r == VQ_NEEDS_RESET)
    outcome = OUT_RESET, how = "NEEDS_RESET";
  else if (r != VQ_USED)
    how = blk_status_name (0x100u + r);
  else if (status == VIRTIO_BLK_S_IOERR)
    outcome = OUT_IOERR, how = "IOERR";
  else if (status == VIRTIO_BLK_S_UNSUPP)
    outcome = OUT_UNSUPP, how = "UNSUPP";
  else if (status == BLK_S_UNTOUCHED)
    outcome = OUT_NOSTAT, how = "used, no status written";
  else
    how = blk_status_name (status);
  works = still_works (d, &reset);
  tap_ok ((outcome & allowed) && works, "blk %s: %s: %s; the device %s", d->serial, what, how,
          works ? (reset ? "works again after a reset" : "still works") : "DOES NOT WORK ANY MORE");
  if (r == VQ_USED)
    tap_diag ("used len %u", used);
}

static void
test_malformed (struct blk_disk *d)
{
  static struct blk_outhdr hdr __attribute__ ((aligned (16)));
  uint64_t cap = d->capacity * 512;
  uint32_t u = unit_of (d);
  struct blk_seg segs[3];
  uint8_t *st = &raw_status;

  /* a header of 8 bytes */
  memset (short_hdr, 0, sizeof short_hdr);
  raw_status = BLK_S_UNTOUCHED;
  segs[0] = (struct blk_seg) { (uint64_t) short_hdr, sizeof short_hdr, false };
  segs[1] = (struct blk_seg) { (uint64_t) st, 1, true };
  malformed (d, "a request with an 8-byte header", segs, 2, OUT_IOERR | OUT_RESET, st);

  /* no writable byte for the status */
  hdr = (struct blk_outhdr) { VIRTIO_BLK_T_IN, 0, 0 };
  segs[0] = (struct blk_seg) { (uint64_t) &hdr, sizeof hdr, false };
  malformed (d, "a request without a writable status byte", segs, 1,
             OUT_NOSTAT | OUT_RESET | OUT_IOERR, NULL);

  /* an unknown type */
  hdr = (struct blk_outhdr) { 0x7f, 0, 0 };
  raw_status = BLK_S_UNTOUCHED;
  segs[1] = (struct blk_seg) { (uint64_t) small_buf, 512, true };
  segs[2] = (struct blk_seg) { (uint64_t) st, 1, true };
  malformed (d, "request type 0x7f", segs, 3, OUT_UNSUPP, st);

  /* past the end: at the capacity, and across it */
  hdr = (struct blk_outhdr) { VIRTIO_BLK_T_IN, 0, d->capacity };
  raw_status = BLK_S_UNTOUCHED;
  segs[1] = (struct blk_seg) { (uint64_t) small_buf, u, true };
  malformed (d, "a read at sector = capacity", segs, 3, OUT_IOERR, st);
  hdr = (struct blk_outhdr) { VIRTIO_BLK_T_IN, 0, (cap - u) / 512 };
  raw_status = BLK_S_UNTOUCHED;
  segs[1] = (struct blk_seg) { (uint64_t) IO_BUF, 2 * u, true };
  malformed (d, "a read of the last block and one more", segs, 3, OUT_IOERR, st);
  hdr = (struct blk_outhdr) { VIRTIO_BLK_T_OUT, 0, d->capacity + 8 };
  raw_status = BLK_S_UNTOUCHED;
  pattern_fill (small_buf, u, 0, 999);
  segs[1] = (struct blk_seg) { (uint64_t) small_buf, u, false };
  malformed (d, "a write past the end", segs, 3, OUT_IOERR, st);
  hdr = (struct blk_outhdr) { VIRTIO_BLK_T_IN, 0, ~0ull / 2 };
  raw_status = BLK_S_UNTOUCHED;
  segs[1] = (struct blk_seg) { (uint64_t) small_buf, u, true };
  malformed (d, "a read at sector 2^63 - 1", segs, 3, OUT_IOERR, st);

  /* lengths that are not whole sectors */
  hdr = (struct blk_outhdr) { VIRTIO_BLK_T_IN, 0, 0 };
  raw_status = BLK_S_UNTOUCHED;
  segs[1] = (struct blk_seg) { (uint64_t) small_buf, 520, true };
  malformed (d, "a read of 520 bytes", segs, 3, OUT_IOERR, st);
  {
    /* a write of 700 bytes over data the probe wrote: refused, and the
     * data stays (the harness compares the image afterwards too) */
    uint64_t off = 64 * KIB - u;   /* the second round trip's */
    unsigned rs;
    uint32_t used;

    hdr = (struct blk_outhdr) { VIRTIO_BLK_T_OUT, 0, off / 512 };
    raw_status = BLK_S_UNTOUCHED;
    pattern_fill (small_buf, 700, off, 998);
    segs[1] = (struct blk_seg) { (uint64_t) small_buf, 700, false };
    malformed (d, "a write of 700 bytes", segs, 3, OUT_IOERR, st);
    rs = read_into (d, 0, off, 2 * u, 1, false, &used);
    tap_ok (rs == VIRTIO_BLK_S_OK && pattern_check (IO_BUF, 2 * u, off, 101) < 0,
            "blk %s: the refused 700-byte write changed nothing (%s)", d->serial,
            blk_status_name (rs));
  }

  /* a discard past the end */
  if (virtio_has (&d->v, VIRTIO_BLK_F_DISCARD))
    {
      static struct blk_discard_seg seg __attribute__ ((aligned (16)));

      seg = (struct blk_discard_seg) { d->capacity - 8, 16, 0 };
      hdr = (struct blk_outhdr) { VIRTIO_BLK_T_DISCARD, 0, 0 };
      raw_status = BLK_S_UNTOUCHED;
      segs[1] = (struct blk_seg) { (uint64_t) &seg, sizeof seg, false };
      malformed (d, "a discard across the end", segs, 3, OUT_IOERR, st);
    }
}

static void
test_scratch (struct blk_disk *d)
{
  if (d->capacity * 512 < 32 * MIB)
    {
      tap_skip ("the scratch disk is smaller than 32 MiB", "blk %s: scratch disk tests",
                d->serial);
      return;
    }
  test_round_trips (d);
  test_flush (d);
  test_in_flight (d, 32, false);
  test_adjacent (d);
  test_queues (d);
  test_seg_max (d);
  test_discard (d);
  test_write_zeroes (d);
  test_malformed (d);
  test_flush (d);
}

/* --- pattern disks ---------------------------------------------------------------------- */

struct fill
{
  uint64_t off, len;
  uint8_t byte;
  bool present;
};

static uint64_t
parse_dec (const char **p)
{
  uint64_t v = 0;

  while (**p >= '0' && **p <= '9')
    v = v * 10 + (uint64_t) (*(*p)++ - '0');
  return v;
}

static unsigned
hexdigit (char c)
{
  return c >= '0' && c <= '9' ? (unsigned) (c - '0')
         : c >= 'a' && c <= 'f' ? (unsigned) (c - 'a' + 10)
         : c >= 'A' && c <= 'F' ? (unsigned) (c - 'A' + 10) : 16;
}

/* "SEED[/OFF+LEN=BB]" */
static bool
parse_pattern_role (const char *s, uint64_t *seed, struct fill *f)
{
  const char *p = s;

  memset (f, 0, sizeof *f);
  if (*p < '0' || *p > '9')
    return false;
  *seed = parse_dec (&p);
  if (*p == '\0')
    return true;
  if (*p++ != '/')
    return false;
  f->off = parse_dec (&p) * KIB;
  if (*p++ != '+')
    return false;
  f->len = parse_dec (&p) * KIB;
  if (*p++ != '=' || hexdigit (p[0]) > 15 || hexdigit (p[1]) > 15 || p[2] != '\0')
    return false;
  f->byte = (uint8_t) (hexdigit (p[0]) << 4 | hexdigit (p[1]));
  f->present = true;
  return true;
}

/* Compares [off, off + len) in IO_BUF with the pattern and the fill */
static int64_t
check_with_fill (const uint8_t *buf, uint64_t off, uint64_t len, uint64_t seed,
                 const struct fill *f)
{
  uint64_t a, b;
  int64_t bad;

  if (!f->present || off + len <= f->off || f->off + f->len <= off)
    return pattern_check (buf, len, off, seed);
  a = f->off > off ? f->off : off;
  b = f->off + f->len < off + len ? f->off + f->len : off + len;
  if ((bad = pattern_check (buf, a - off, off, seed)) >= 0)
    return bad;
  for (uint64_t i = a; i < b; i++)
    if (buf[i - off] != f->byte)
      return (int64_t) (i - off);
  bad = pattern_check (buf + (b - off), off + len - b, b, seed);
  return bad < 0 ? -1 : bad + (int64_t) (b - off);
}

/* Reads the whole disk (up to 512 MiB) in 1 MiB requests, four in flight
 * over the queues, comparing as they come */
static void
test_pattern_disk (struct blk_disk *d, uint64_t seed, const struct fill *f)
{
  const uint64_t chunk = MIB;
  enum { SLOTS = 4 };
  bool busy[SLOTS] = { false };
  uint64_t size = d->capacity * 512, next = 0, done = 0, limit, bad_at = ~0ull;
  unsigned errors = 0, qi = 0;
  uint64_t deadline = deadline_after_ms (60000);

  limit = size < 512 * MIB ? size : 512 * MIB;
  while (done < limit && !deadline_passed (deadline))
    {
      /* a free buffer slot for each read; the tag is chunk * SLOTS + slot */
      for (unsigned s = 0; s < SLOTS && next < limit; s++)
        {
          uint32_t len = (uint32_t) (limit - next < chunk ? limit - next : chunk);

          if (busy[s])
            continue;
          if (blk_submit_buf (d, qi, VIRTIO_BLK_T_IN, next / 512, IO_BUF + s * chunk, len,
                              next / chunk * SLOTS + s) < 0)
            break;
          blk_kick (d, qi);
          busy[s] = true;
          next += len;
          qi = (qi + 1) % d->nq;
        }
      for (unsigned q = 0; q < d->nq; q++)
        {
          uint64_t tag;
          uint8_t status;
          uint32_t used;

          while (blk_reap (d, q, &tag, &status, &used))
            {
              unsigned s = (unsigned) (tag % SLOTS);
              uint64_t off = tag / SLOTS * chunk;
              uint64_t len = limit - off < chunk ? limit - off : chunk;
              int64_t bad;

              busy[s] = false;
              done += len;
              if (status != VIRTIO_BLK_S_OK)
                {
                  errors++;
                  continue;
                }
              bad = check_with_fill (IO_BUF + s * chunk, off, len, seed, f);
              if (bad >= 0 && off + (uint64_t) bad < bad_at)
                bad_at = off + (uint64_t) bad;
            }
        }
    }
  tap_ok (done == limit && errors == 0 && bad_at == ~0ull,
          "blk %s: %lu MiB read back (%u reads in flight over %u queues): %s%s", d->serial,
          limit / MIB, SLOTS, d->nq, errors ? "READ ERRORS, " : "",
          bad_at == ~0ull ? (done == limit ? "the expected content" : "TIMED OUT")
                          : "DIFFERENT");
  if (bad_at != ~0ull)
    tap_diag ("first difference at byte %lu", bad_at);
  if (size > limit)
    tap_diag ("(only the first %lu MiB of %lu were read)", limit / MIB, size / MIB);
}

/* A reset with reads in flight: once status reads 0 again, the device
 * must not write into the driver's buffers any more (§2.4: the reset is
 * complete when status reads 0) */
static uint64_t
buf_hash (const uint8_t *p, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;

  for (size_t i = 0; i < n; i += 8)
    {
      uint64_t w;

      memcpy (&w, p + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
    }
  return h;
}

static void
test_reset_in_flight (struct blk_disk *d)
{
  const uint32_t chunk = (uint32_t) MIB;
  uint64_t limit = d->capacity * 512, before, after;
  unsigned n = 0, st;
  bool again;

  memset (IO_BUF, 0xcc, 4 * chunk);
  for (unsigned i = 0; i < 4 && (i + 1) * (uint64_t) chunk <= limit; i++)
    if (blk_submit_buf (d, 0, VIRTIO_BLK_T_IN, i * (chunk / 512), IO_BUF + i * chunk, chunk, i)
        >= 0)
      n++;
  blk_kick (d, 0);
  virtio_reset (&d->v);
  before = buf_hash (IO_BUF, 4 * chunk);
  for (unsigned i = 0; i < 4; i++)
    tap_diag ("chunk %u: %s", i, IO_BUF[i * chunk] == 0xcc && IO_BUF[(i + 1) * chunk - 1] == 0xcc
              ? "untouched" : "read (in part at least)");
  delay_us (50000);
  after = buf_hash (IO_BUF, 4 * chunk);
  again = blk_setup (d, d->nq);
  st = again ? blk_rw (d, 0, VIRTIO_BLK_T_IN, 0, small_buf, unit_of (d)) : 0x100 + VQ_TIMEOUT;
  tap_ok (before == after && st == VIRTIO_BLK_S_OK,
          "blk %s: a reset with %u reads of 1 MiB in flight: %s after status read 0; then "
          "set up again, a read: %s", d->serial, n,
          before == after ? "no data arrived" : "DATA ARRIVED", blk_status_name (st));
}

/* --- the read-only disk --------------------------------------------------------------------- */

static void
test_read_only (struct blk_disk *d, uint64_t seed, bool have_seed)
{
  uint32_t u = unit_of (d);
  unsigned st, rs;
  uint32_t used;

  tap_ok (virtio_has (&d->v, VIRTIO_BLK_F_RO), "blk %s: VIRTIO_BLK_F_RO offered", d->serial);
  {
    /* A write, even though the driver must not (§5.2.6.2) */
    uint8_t status;
    struct blk_seg s = { (uint64_t) IO_BUF, 4 * u, false };
    enum vq_result r;
    bool works, reset;

    pattern_fill (IO_BUF, 4 * u, 0, 0xdead);
    r = blk_do (d, 0, VIRTIO_BLK_T_OUT, 0, &s, 1, false, &status, &used);
    works = still_works (d, &reset);
    tap_ok (r == VQ_USED && status == VIRTIO_BLK_S_IOERR && works,
            "blk %s: a write to the read-only disk: %s", d->serial, result_text (r, status));
  }
  st = zero_range (d, VIRTIO_BLK_T_DISCARD, 0, 64 * KIB, 0);
  tap_ok (st == VIRTIO_BLK_S_IOERR || st == VIRTIO_BLK_S_UNSUPP,
          "blk %s: a discard on the read-only disk: %s", d->serial, blk_status_name (st));
  st = zero_range (d, VIRTIO_BLK_T_WRITE_ZEROES, 64 * KIB, 64 * KIB, 0);
  tap_ok (st == VIRTIO_BLK_S_IOERR || st == VIRTIO_BLK_S_UNSUPP,
          "blk %s: a write-zeroes on the read-only disk: %s", d->serial, blk_status_name (st));
  st = blk_rw (d, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
  tap_ok (st == VIRTIO_BLK_S_OK || !virtio_has (&d->v, VIRTIO_BLK_F_FLUSH),
          "blk %s: FLUSH on the read-only disk: %s", d->serial, blk_status_name (st));
  rs = read_into (d, 0, 0, (uint32_t) (256 * KIB), 1, false, &used);
  if (have_seed)
    tap_ok (rs == VIRTIO_BLK_S_OK && pattern_check (IO_BUF, 256 * KIB, 0, seed) < 0,
            "blk %s: the first 256 KiB still read as the pattern for seed %lu (%s)", d->serial,
            seed, blk_status_name (rs));
  else
    tap_ok (rs == VIRTIO_BLK_S_OK, "blk %s: reads work (%s)", d->serial, blk_status_name (rs));
}

/* --- all of it ---------------------------------------------------------------------------- */

static void
test_disk (struct blk_disk *d, unsigned max_queues)
{
  uint64_t seed = 0;
  struct fill fill;
  bool ok = blk_setup (d, max_queues);
  const struct pci_dev *p = d->pci;

  tap_ok (ok, "blk %02x:%02x.%u: handshake: features 0x%lx of 0x%lx, %u of %u queues of %u "
          "entries, DRIVER_OK", p->bus, p->dev, p->fn, d->v.features, d->v.offered, d->nq,
          d->v.num_queues, ok ? d->q[0]->vq->size : 0);
  if (!ok)
    return;
  if (!get_id (d, true))
    return;
  test_config (d);

  if (strncmp (d->serial, "rw", 2) == 0)
    test_scratch (d);
  else if (strncmp (d->serial, "ro", 2) == 0)
    {
      bool have_seed = d->serial[2] == '-';

      seed = 0;
      if (have_seed)
        {
          const char *s = d->serial + 3;
          seed = parse_dec (&s);
        }
      test_read_only (d, seed, have_seed);
    }
  else if (strncmp (d->serial, "pat-", 4) == 0)
    {
      if (!tap_ok (parse_pattern_role (d->serial + 4, &seed, &fill),
                   "blk %s: the serial parses as pat-SEED[/OFF+LEN=BB]", d->serial))
        return;
      test_pattern_disk (d, seed, &fill);
      test_reset_in_flight (d);
    }
  else
    {
      unsigned st = blk_rw (d, 0, VIRTIO_BLK_T_IN, 0, small_buf, unit_of (d));

      tap_ok (st == VIRTIO_BLK_S_OK, "blk %s: the first block reads (%s)", d->serial,
              blk_status_name (st));
    }
  /* Leave it reset: nothing in flight when the VM goes */
  virtio_reset (&d->v);
}

void
test_blk (const struct pci *pci)
{
  unsigned n = blk_find (pci, disks, BLK_MAX_DISKS);
  uint64_t want = cmdline_number ("disks", ~0ull);
  uint64_t cpus = cmdline_number ("cpus", 1);

  if (n == 0 && (want == ~0ull || want == 0))
    {
      tap_skip ("no virtio-blk device", "blk: virtio-blk tests");
      return;
    }
  tap_ok (want == ~0ull || n == want, "blk: %u virtio-blk devices (1af4:1042)%s", n,
          want == ~0ull ? "" : ", as disks= expects");
  for (unsigned i = 0; i < n; i++)
    test_disk (&disks[i], cpus ? (unsigned) cpus : 1);
}
