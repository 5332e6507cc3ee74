/* virtio/blk-req.c: virtio-blk requests, parsed and merged
 *
 * Everything in a request is guest input: the header may straddle
 * descriptors, the data may be split anywhere, the status byte is the last
 * writable byte; sectors and lengths are checked against the capacity
 * before the block layer sees them. Fields are copied out of guest memory
 * before they are looked at.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/blk-req.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "viv-bytes.h"

#define OUTHDR_LEN          16    /* type (le32), reserved (le32), sector (le64) */
#define DISCARD_SEG_LEN     16    /* sector (le64), num_sectors (le32), flags (le32) */
#define VIRTIO_BLK_WZ_UNMAP 1u

/* Merging: adjacent reads (or writes) popped together become one I/O, as
 * a guest streaming through a file queues them. Bounded so one I/O stays
 * a reasonable unit of latency, and by IOV_MAX for preadv/io_uring.
 *
 * I/O that runs in the background (O_DIRECT) or one at a time on the
 * disk's thread (buffered writes, see vmm_virtio_blk_new) is cut at 2 MiB:
 * what a streaming driver queues (32 x 128 KiB, say) becomes at least two
 * I/Os, so the first one's completion is answered, and refilled by the
 * driver, while the second still runs, and the disk or the writer never
 * waits for the guest. Against the 4 MiB cap (with buffered writes still
 * handed to the kernel's worker then), on 128 KiB sequential I/O at queue
 * depth 32 (bench/disk.sh --peer, 12 to 20 paired rounds): +4 % to +5 %
 * for writes and O_DIRECT reads in one set of runs, 0.99 to 1.08 in
 * another: a small gain, near this host's noise. Buffered reads are
 * copied from the page cache while they are submitted: nothing runs
 * behind them, and one large copy is cheapest (a 1 MiB cap lost 6 %). */
#define MERGE_MAX_BYTES           (4u << 20)
#define MERGE_MAX_BYTES_BEHIND    (2u << 20)
#define MERGE_MAX_IOV             1024

/* ---- requests ------------------------------------------------------------------ */

void *
blk_grow_array (void *array, unsigned *cap, unsigned need, size_t size,
                const void *inline_storage)
{
  unsigned cap2 = *cap ? *cap : 4;
  void *p;

  if (need <= *cap)
    return array;
  while (cap2 < need)
    cap2 *= 2;
  if (array == inline_storage || array == NULL)
    {
      p = malloc ((size_t) cap2 * size);
      if (p != NULL && array != NULL)
        memcpy (p, array, (size_t) *cap * size);
    }
  else
    p = realloc (array, (size_t) cap2 * size);
  if (p != NULL)
    *cap = cap2;
  return p;
}

struct blk_req *
blk_req_new (struct vmm_virtio_blk *blk)
{
  struct blk_req *req = calloc (1, sizeof *req);

  if (req == NULL)
    return NULL;
  req->blk = blk;
  req->error_fd = -1;
  req->subs = req->subs_inline;
  req->cap_subs = REQ_INLINE_SUBS;
  req->cookies = req->cookies_inline;
  req->cap_cookies = REQ_INLINE_COOKIES;
  req->members_tail = &req->members;
  return req;
}

void
blk_req_free (struct blk_req *req)
{
  for (unsigned i = 0; i < req->n_subs; i++)
    {
      struct blk_sub *sub = req->subs[i];

      if (sub->iov_owned)
        free (sub->iov);
      free (sub->bounce);
      if (sub != &req->sub_inline)
        free (sub);
    }
  if (req->subs != req->subs_inline)
    free (req->subs);
  if (req->cookies != req->cookies_inline)
    free (req->cookies);
  if (req->data != req->data_inline)
    free (req->data);
  free (req->segs);
  free (req);
}

/* ---- parsing ------------------------------------------------------------------- */

bool
blk_req_parse_header (struct blk_req *req, const struct virtq_chain *chain,
                      struct vmm_ratelimit *rl)
{
  const struct virtq_iov *last = &chain->iov[chain->n_out + chain->n_in - 1];
  uint8_t hdr[OUTHDR_LEN];

  req->status = (uint8_t *) last->base + last->len - 1;
  req->used_len = 1;
  if (chain->out_len < sizeof hdr)
    {
      vmm_log_guest (rl, "virtio-blk: a request with a short header (%llu bytes)",
                     (unsigned long long) chain->out_len);
      return false;
    }
  virtq_chain_read (chain, 0, hdr, sizeof hdr);
  req->type = viv_get_le32 (hdr);
  req->sector = viv_get_le64 (hdr + 8);
  return true;
}

/* The iovecs of the chain's readable bytes after the header (OUT), or of
 * the writable bytes before the status byte (IN and GET_ID). */
static int
collect_data (struct blk_req *req, const struct virtq_chain *chain, bool writable)
{
  unsigned first = writable ? chain->n_out : 0;
  unsigned count = writable ? chain->n_in : chain->n_out;
  uint64_t skip = writable ? 0 : OUTHDR_LEN;
  uint64_t total = (writable ? chain->in_len - 1 : chain->out_len - skip);
  struct iovec *iov = count <= REQ_INLINE_DATA ? req->data_inline
                                                : calloc (count, sizeof *iov);
  int n = 0;

  if (iov == NULL)
    return -ENOMEM;
  req->data_cap = count <= REQ_INLINE_DATA ? REQ_INLINE_DATA : count;
  for (unsigned i = first; i < first + count && total > 0; i++)
    {
      uint8_t *base = chain->iov[i].base;
      uint64_t len = chain->iov[i].len;

      if (skip >= len)
        {
          skip -= len;
          continue;
        }
      base += skip;
      len -= skip;
      skip = 0;
      if (len > total)
        len = total;
      iov[n].iov_base = base;
      iov[n].iov_len = (size_t) len;
      n++;
      total -= len;
    }
  req->data = iov;
  req->n_data = n;
  return 0;
}

static uint64_t
data_bytes (const struct blk_req *req)
{
  uint64_t sum = 0;

  for (int i = 0; i < req->n_data; i++)
    sum += req->data[i].iov_len;
  return sum;
}

/* Is [offset, offset + len) inside the disk, and aligned as the device said? */
static bool
range_ok (const struct blk_disk *disk, uint64_t sector, uint64_t len)
{
  uint64_t align = disk->direct ? disk->alignment : BLK_SECTOR;

  if (sector > disk->capacity / BLK_SECTOR)
    return false;
  return len % BLK_SECTOR == 0 && (sector * BLK_SECTOR) % align == 0 && len % align == 0 &&
         len <= disk->capacity - sector * BLK_SECTOR;
}

/* Copies LEN bytes at OFF of the request's data into DST. */
static bool
data_read (const struct blk_req *req, uint64_t off, void *dst, size_t len)
{
  uint8_t *out = dst;
  uint64_t pos = 0;

  for (int i = 0; i < req->n_data && len > 0; i++)
    {
      uint64_t seg_len = req->data[i].iov_len;

      if (off < pos + seg_len)
        {
          uint64_t skip = off - pos;
          size_t take = (size_t) (seg_len - skip) < len ? (size_t) (seg_len - skip) : len;

          memcpy (out, (uint8_t *) req->data[i].iov_base + skip, take);
          out += take;
          off += take;
          len -= take;
        }
      pos += seg_len;
    }
  return len == 0;
}

/* The DISCARD / WRITE_ZEROES payload: an array of segments, each checked. */
static int
parse_segments (struct blk_req *req, const struct blk_disk *disk)
{
  uint64_t bytes = data_bytes (req);
  unsigned n = (unsigned) (bytes / DISCARD_SEG_LEN);

  if (bytes == 0 || bytes % DISCARD_SEG_LEN != 0 || n > BLK_MAX_DISCARD_SEG)
    return -EINVAL;
  req->segs = calloc (n, sizeof *req->segs);
  if (req->segs == NULL)
    return -ENOMEM;
  for (unsigned i = 0; i < n; i++)
    {
      uint8_t seg[DISCARD_SEG_LEN];
      uint64_t sector;
      uint32_t num_sectors, flags;

      if (!data_read (req, (uint64_t) i * sizeof seg, seg, sizeof seg))
        return -EINVAL;
      sector = viv_get_le64 (seg);
      num_sectors = viv_get_le32 (seg + 8);
      flags = viv_get_le32 (seg + 12);
      if (num_sectors == 0 || num_sectors > BLK_MAX_DISCARD_SECTORS ||
          !range_ok (disk, sector, (uint64_t) num_sectors * BLK_SECTOR))
        return -ERANGE;
      /* Only WRITE_ZEROES knows a flag (unmap); DISCARD with it is unsupported. */
      if ((flags & ~VIRTIO_BLK_WZ_UNMAP) || (req->type == VIRTIO_BLK_T_DISCARD && flags != 0))
        return -ENOTSUP;
      req->segs[i].offset = sector * BLK_SECTOR;
      req->segs[i].len = (uint64_t) num_sectors * BLK_SECTOR;
      req->segs[i].unmap = flags & VIRTIO_BLK_WZ_UNMAP;
    }
  req->n_segs = n;
  return 0;
}

/* GET_ID: the serial into the writable data, as much as fits */
static int
answer_get_id (struct blk_req *req, const struct blk_disk *disk, const struct virtq_chain *chain)
{
  uint32_t n = 0;
  int ret = collect_data (req, chain, true);

  if (ret < 0)
    return ret;
  for (int i = 0; i < req->n_data && n < VIRTIO_BLK_ID_BYTES; i++)
    {
      uint32_t take = (uint32_t) req->data[i].iov_len;

      if (take > VIRTIO_BLK_ID_BYTES - n)
        take = VIRTIO_BLK_ID_BYTES - n;
      memcpy (req->data[i].iov_base, disk->serial + n, take);
      n += take;
    }
  req->used_len = n + 1;
  return 0;
}

enum blk_req_action
blk_req_parse (struct blk_req *req, const struct blk_disk *disk, const struct virtq_chain *chain,
               uint8_t *status, struct vmm_ratelimit *rl)
{
  int ret = 0;

  *status = VIRTIO_BLK_S_OK;
  switch (req->type)
    {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
      ret = collect_data (req, chain, req->type == VIRTIO_BLK_T_IN);
      if (ret < 0)
        break;
      req->len = data_bytes (req);
      if (!range_ok (disk, req->sector, req->len))
        {
          vmm_log_guest (rl, "virtio-blk: %s of %llu bytes at sector %llu is outside the disk "
                         "or misaligned", req->type == VIRTIO_BLK_T_IN ? "read" : "write",
                         (unsigned long long) req->len, (unsigned long long) req->sector);
          *status = VIRTIO_BLK_S_IOERR;
          return BLK_REQ_ANSWER;
        }
      if (req->type == VIRTIO_BLK_T_OUT && disk->read_only)
        {
          *status = VIRTIO_BLK_S_IOERR;   /* never reaches the file */
          return BLK_REQ_ANSWER;
        }
      req->offset = req->sector * BLK_SECTOR;
      if (req->type == VIRTIO_BLK_T_IN)
        req->used_len = (uint32_t) req->len + 1;
      return req->len > 0 ? BLK_REQ_RW : BLK_REQ_ANSWER;

    case VIRTIO_BLK_T_FLUSH:
      /* nothing to flush on a disk nothing writes */
      return disk->read_only ? BLK_REQ_ANSWER : BLK_REQ_FLUSH;

    case VIRTIO_BLK_T_GET_ID:
      ret = answer_get_id (req, disk, chain);
      break;

    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
      if (disk->read_only)
        {
          *status = VIRTIO_BLK_S_IOERR;
          return BLK_REQ_ANSWER;
        }
      ret = collect_data (req, chain, false);
      if (ret == 0)
        ret = parse_segments (req, disk);
      if (ret == 0)
        return BLK_REQ_DISCARD;
      if (ret == -ENOTSUP)
        {
          *status = VIRTIO_BLK_S_UNSUPP;
          return BLK_REQ_ANSWER;
        }
      if (ret == -EINVAL || ret == -ERANGE)
        {
          vmm_log_guest (rl, "virtio-blk: a malformed %s request",
                         req->type == VIRTIO_BLK_T_DISCARD ? "discard" : "write-zeroes");
          *status = VIRTIO_BLK_S_IOERR;
          return BLK_REQ_ANSWER;
        }
      break;

    default:
      *status = VIRTIO_BLK_S_UNSUPP;
      return BLK_REQ_ANSWER;
    }
  /* Out of memory */
  if (ret < 0)
    {
      req->error = ret;
      *status = VIRTIO_BLK_S_IOERR;
    }
  return BLK_REQ_ANSWER;
}

/* ---- merging ------------------------------------------------------------------- */

/* Whether REQ can join the I/O of BATCH: the same direction, right after
 * it on the disk, within the limits. */
static bool
can_merge (const struct blk_disk *disk, const struct blk_req *batch, const struct blk_req *req)
{
  uint64_t max = disk->direct || req->type == VIRTIO_BLK_T_OUT ? MERGE_MAX_BYTES_BEHIND
                                                               : MERGE_MAX_BYTES;

  return batch->type == req->type && batch->queue == req->queue
         && batch->generation == req->generation
         && batch->offset + batch->len == req->offset
         && batch->len + req->len <= max
         && batch->n_data + req->n_data <= MERGE_MAX_IOV;
}

/* Appends REQ's data to G (a group). Returns false when out of memory. */
static bool
group_append (struct blk_req *g, struct blk_req *req)
{
  struct iovec *data = blk_grow_array (g->data, &g->data_cap,
                                       (unsigned) (g->n_data + req->n_data), sizeof *g->data,
                                       g->data_inline);

  if (data == NULL)
    return false;
  g->data = data;
  memcpy (g->data + g->n_data, req->data, (size_t) req->n_data * sizeof *req->data);
  g->n_data += req->n_data;
  g->len += req->len;
  *g->members_tail = req;
  g->members_tail = &req->next_member;
  return true;
}

bool
blk_req_merge (const struct blk_disk *disk, struct blk_req **batch, struct blk_req *req)
{
  struct blk_req *b = *batch;

  if (!can_merge (disk, b, req))
    return false;
  if (!b->is_group)
    {
      /* the second request: a group takes over the I/O of both */
      struct blk_req *g = blk_req_new (b->blk);

      if (g == NULL)
        return false;
      g->is_group = true;
      g->queue = b->queue;
      g->generation = b->generation;
      g->type = b->type;
      g->offset = b->offset;
      g->data = g->data_inline;
      g->data_cap = REQ_INLINE_DATA;
      if (!group_append (g, b))
        {
          blk_req_free (g);
          return false;
        }
      *batch = b = g;
    }
  return group_append (b, req);
}
