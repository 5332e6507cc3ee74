/* block/qcow2-cluster.c: where qcow2 guest clusters live, and reading them
 *
 * The L1 and L2 lookups, what an L2 entry says (checked: the image is
 * hostile input), the L2 table a write may change, compressed clusters,
 * and the read side of the driver: mapping a guest range to host extents,
 * through the backing file where the image has nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "log.h"
#include "viv-bytes.h"

/* ---- cluster mapping ------------------------------------------------------------- */

/* Checks an L2 (or L1-referenced) entry and says what it is. */
int
qcow2_classify (struct qcow2 *q, uint64_t l2e, struct qcow2_cluster_info *ci)
{
  memset (ci, 0, sizeof *ci);
  if (l2e & QCOW2_OFLAG_COMPRESSED)
    {
      uint64_t nsec = (l2e >> q->csize_shift) & q->csize_mask;

      if (l2e & QCOW2_OFLAG_COPIED)
        return -EIO;
      ci->coffset = l2e & q->coffset_mask;
      if (ci->coffset >= QCOW2_MAX_HOST_OFFSET || ci->coffset >= host_end (q)
          || ci->coffset < q->cluster_size)
        return -EIO;
      ci->csize = (nsec + 1) * 512 - (ci->coffset & 511);
      if (hits_metadata (q, ci->coffset, ci->csize))
        return -EIO;
      ci->type = QCOW2_CLUSTER_COMPRESSED;
      return 0;
    }
  if (l2e & QCOW2_L2E_STD_RESERVED)
    return -EIO;
  ci->host = l2e & QCOW2_OFFSET_MASK;
  if (ci->host & (q->cluster_size - 1))
    return -EIO;
  if ((l2e & QCOW2_OFLAG_ZERO) && q->version < 3)
    return -EIO;
  if (ci->host == 0 && (l2e & QCOW2_OFLAG_COPIED))
    return -EIO;              /* only with an external data file */
  if (ci->host != 0
      && (ci->host >= host_end (q) || hits_metadata (q, ci->host, q->cluster_size)))
    return -EIO;
  if (l2e & QCOW2_OFLAG_ZERO)
    ci->type = ci->host ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
  else
    ci->type = ci->host ? QCOW2_CLUSTER_NORMAL : QCOW2_CLUSTER_UNALLOCATED;
  return 0;
}

int
qcow2_bad_l2_entry (struct qcow2 *q, uint64_t cluster, uint64_t l2e)
{
  vmm_log_warning ("%s: the L2 entry of guest cluster %llu (0x%016llx) is invalid, points "
                   "past the end of the file or over other metadata", q->b->path,
                   (unsigned long long) cluster,
                   (unsigned long long) l2e);
  return -EIO;
}

/* The L2 table offset of L1 entry L1I, checked; 0 for none. */
int
qcow2_l1_lookup (struct qcow2 *q, uint64_t l1i, uint64_t *l2off)
{
  uint64_t e, off;

  *l2off = 0;
  if (l1i >= q->l1_size)
    return 0;
  e = q->l1[l1i];
  off = e & QCOW2_OFFSET_MASK;
  if (off == 0 && !(e & QCOW2_L1E_RESERVED))
    return 0;
  if ((e & QCOW2_L1E_RESERVED) || (off & (q->cluster_size - 1)) || off == 0
      || off > host_end (q) || host_end (q) - off < q->cluster_size
      || hits_metadata (q, off, q->cluster_size))
    {
      vmm_log_warning ("%s: L1 entry %llu (0x%016llx) is invalid, points past the end of "
                       "the file or over other metadata", q->b->path, (unsigned long long) l1i,
                       (unsigned long long) e);
      return -EIO;
    }
  *l2off = off;
  return 0;
}

/* A cursor over L2 tables for walks through consecutive clusters */
struct l2_cursor {
  uint64_t l1i;
  struct qcow2_cache_entry *e;   /* pinned, or NULL for an unallocated table */
  bool valid;
};

static void
cursor_release (struct l2_cursor *c)
{
  qcow2_table_put (c->e);
  c->e = NULL;
  c->valid = false;
}

/* The L2 entry of guest CLUSTER, for reading. */
static int
lookup (struct qcow2 *q, struct l2_cursor *cur, uint64_t cluster, uint64_t *l2e)
{
  uint64_t l1i = cluster >> q->l2_bits, off;
  int ret;

  if (!cur->valid || cur->l1i != l1i)
    {
      cursor_release (cur);
      ret = qcow2_l1_lookup (q, l1i, &off);
      if (ret < 0)
        return ret;
      if (off != 0)
        {
          ret = qcow2_table_get (q, &q->l2_cache, off, true, &cur->e);
          if (ret < 0)
            return ret;
        }
      cur->l1i = l1i;
      cur->valid = true;
    }
  *l2e = cur->e != NULL
         ? viv_get_be64 (cur->e->data + 8 * (cluster & (q->l2_entries - 1))) : 0;
  return 0;
}

/* The L2 table of guest CLUSTER, ready to be modified: allocated when
 * missing, copied when shared with a snapshot. Pinned. */
int
qcow2_l2_for_write (struct qcow2 *q, uint64_t cluster, struct qcow2_cache_entry **out)
{
  uint64_t l1i = cluster >> q->l2_bits, off, rc, host;
  struct qcow2_cache_entry *old = NULL, *ne = NULL;
  uint32_t epc = (uint32_t) (q->cluster_size / 8);
  int ret;

  *out = NULL;
  if (l1i >= q->l1_size)
    return -EIO;
  ret = qcow2_l1_lookup (q, l1i, &off);
  if (ret < 0)
    return ret;
  if (off != 0)
    {
      ret = qcow2_rc_get (q, off / q->cluster_size, &rc);
      if (ret < 0)
        return ret;
      if (rc == 0)
        {
          vmm_log_warning ("%s: L2 table at 0x%llx has a refcount of 0", q->b->path,
                           (unsigned long long) off);
          q->broken = true;
          return -EIO;
        }
      if (rc == 1)
        {
          if (!(q->l1[l1i] & QCOW2_OFLAG_COPIED))
            {
              q->l1[l1i] |= QCOW2_OFLAG_COPIED;
              q->l1_dirty[l1i / epc] = true;
            }
          return qcow2_table_get (q, &q->l2_cache, off, true, out);
        }
      /* Shared with a snapshot: copy it. */
      ret = qcow2_table_get (q, &q->l2_cache, off, true, &old);
      if (ret < 0)
        return ret;
    }
  ret = qcow2_alloc_cluster (q, &host);
  if (ret == 0)
    {
      ret = qcow2_table_get (q, &q->l2_cache, host, false, &ne);
      if (ret < 0)
        qcow2_rc_add (q, host / q->cluster_size, -1, NULL);   /* nothing refers to it yet */
    }
  if (ret < 0 || ne == NULL)
    {
      qcow2_table_put (old);
      return ret < 0 ? ret : -EIO;
    }
  if (old != NULL)
    {
      memcpy (ne->data, old->data, q->cluster_size);
      qcow2_table_put (old);
      qcow2_free_later (q, off / q->cluster_size);
    }
  ne->dirty = true;
  q->l1[l1i] = host | QCOW2_OFLAG_COPIED;
  q->l1_dirty[l1i / epc] = true;
  *out = ne;
  return 0;
}

/* Drops the references an L2 entry held (after the entry was replaced). */
void
qcow2_release_entry (struct qcow2 *q, uint64_t l2e)
{
  struct qcow2_cluster_info ci;

  if (qcow2_classify (q, l2e, &ci) < 0)
    return;   /* it was never valid: nothing to give back, at worst a leak */
  switch (ci.type)
    {
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
      qcow2_free_later (q, ci.host / q->cluster_size);
      break;
    case QCOW2_CLUSTER_COMPRESSED:
      for (uint64_t c = ci.coffset / q->cluster_size;
           c <= (ci.coffset + ci.csize - 1) / q->cluster_size; c++)
        qcow2_free_later (q, c);
      break;
    case QCOW2_CLUSTER_UNALLOCATED:
    case QCOW2_CLUSTER_ZERO_PLAIN:
    default:
      break;
    }
}

/* ---- compressed clusters ---------------------------------------------------------- */

int
qcow2_decompress_cluster (struct qcow2 *q, const struct qcow2_cluster_info *ci, uint8_t *out)
{
  uint64_t cs = q->cluster_size;
  uint8_t *in;
  int ret;

  /* csize is at most 2 cluster sizes by construction of the field */
  in = malloc (ci->csize);
  if (in == NULL)
    return -ENOMEM;
  ret = vmm_block_pread_fd (q->fd, in, ci->csize, ci->coffset, q->align);
  if (ret < 0)
    goto out;

  ret = -EIO;
  if (q->compression_type == QCOW2_COMPRESSION_ZLIB)
    {
      z_stream s;
      int zr;

      memset (&s, 0, sizeof s);
      if (inflateInit2 (&s, -12) != Z_OK)
        goto out;
      s.next_in = in;
      s.avail_in = (uInt) ci->csize;
      s.next_out = out;
      s.avail_out = (uInt) cs;
      zr = inflate (&s, Z_FINISH);
      /* Decompression stops when the cluster is full; trailing bytes
       * belong to the sector padding or the next compressed cluster. */
      if ((zr == Z_STREAM_END || zr == Z_BUF_ERROR) && s.avail_out == 0)
        ret = 0;
      inflateEnd (&s);
    }
  else
    {
      ZSTD_DCtx *d = ZSTD_createDCtx ();
      ZSTD_inBuffer ib = { in, ci->csize, 0 };
      ZSTD_outBuffer ob = { out, cs, 0 };

      if (d == NULL)
        {
          ret = -ENOMEM;
          goto out;
        }
      /* A hostile frame must not make us allocate a huge window. */
      ZSTD_DCtx_setParameter (d, ZSTD_d_windowLogMax, 23);
      while (ob.pos < ob.size)
        {
          size_t before_in = ib.pos, before_out = ob.pos;
          size_t zr = ZSTD_decompressStream (d, &ob, &ib);
          if (ZSTD_isError (zr))
            break;
          if (ib.pos == before_in && ob.pos == before_out)
            break;   /* no progress: input exhausted */
        }
      if (ob.pos == ob.size)
        ret = 0;
      ZSTD_freeDCtx (d);
    }
  if (ret < 0)
    vmm_log_warning ("%s: the compressed cluster at 0x%llx does not decompress", q->b->path,
                     (unsigned long long) ci->coffset);
out:
  free (in);
  return ret;
}

/* ---- reading ------------------------------------------------------------------ */

/* Reads [offset, offset + len) of the backing file; zeroes past its end. */
int
qcow2_read_backing (struct qcow2 *q, void *buf, uint64_t len, uint64_t offset)
{
  uint64_t bsize = vmm_block_size (q->backing), n;
  struct iovec iov;

  if (offset >= bsize)
    {
      memset (buf, 0, len);
      return 0;
    }
  n = min_u64 (len, bsize - offset);
  iov.iov_base = buf;
  iov.iov_len = n;
  if (n < len)
    memset ((uint8_t *) buf + n, 0, len - n);
  return vmm_block_preadv (q->backing, &iov, 1, offset);
}

/* Appends an extent, merging it with the previous one when they touch. */
int
qcow2_add_extent (struct vmm_block_extent *ext, int n, unsigned max,
                  enum vmm_block_extent_kind kind, uint64_t offset, uint64_t len, int fd,
                  uint64_t host)
{
  if (n > 0)
    {
      struct vmm_block_extent *p = &ext[n - 1];
      if (p->kind == kind && p->offset + p->len == offset
          && (kind != VMM_BLOCK_EXTENT_DATA
              || (p->fd == fd && p->host_offset + p->len == host)))
        {
          p->len += len;
          return n;
        }
    }
  if ((unsigned) n >= max)
    return -1;
  ext[n] = (struct vmm_block_extent) {
    .kind = kind, .offset = offset, .len = len,
    .fd = kind == VMM_BLOCK_EXTENT_DATA ? fd : -1,
    .host_offset = kind == VMM_BLOCK_EXTENT_DATA ? host : 0,
  };
  return n + 1;
}

/* Maps [offset, offset + len) of the backing file into EXT. */
static int
map_backing (struct qcow2 *q, uint64_t offset, uint64_t len, struct vmm_block_extent *ext,
             unsigned max)
{
  uint64_t bsize = vmm_block_size (q->backing), inside, covered = 0;
  int n;

  if (offset >= bsize)
    return qcow2_add_extent (ext, 0, max, VMM_BLOCK_EXTENT_ZERO, offset, len, -1, 0);
  inside = min_u64 (len, bsize - offset);
  n = vmm_block_map_read (q->backing, offset, inside, ext, max);
  if (n <= 0)
    return n < 0 ? n : -EIO;
  for (int i = 0; i < n; i++)
    covered += ext[i].len;
  if (covered == inside && inside < len)
    {
      int m = qcow2_add_extent (ext, n, max, VMM_BLOCK_EXTENT_ZERO, offset + inside, len - inside,
                                -1, 0);
      if (m > 0)
        n = m;
    }
  return n;
}

int
qcow2_map_read (struct vmm_block *b, uint64_t offset, uint64_t len,
                struct vmm_block_extent *ext, unsigned max)
{
  struct qcow2 *q = b->priv;
  struct l2_cursor cur = { 0 };
  uint64_t cs = q->cluster_size, pos = offset, end = offset + len;
  uint64_t run_start = 0;
  bool to_backing = false;
  int n = 0, ret = 0;

  pthread_mutex_lock (&q->lock);
  while (pos < end)
    {
      uint64_t cluster = pos / cs, in_off = pos % cs;
      uint64_t chunk = min_u64 (cs - in_off, end - pos), l2e;
      struct qcow2_cluster_info ci;
      int m;

      ret = lookup (q, &cur, cluster, &l2e);
      if (ret < 0)
        break;
      if (qcow2_classify (q, l2e, &ci) < 0)
        {
          ret = qcow2_bad_l2_entry (q, cluster, l2e);
          break;
        }
      if (cur.e == NULL)
        {
          /* No L2 table: the whole range it would map is unallocated. */
          uint64_t next = ((cluster >> q->l2_bits) + 1) << q->l2_bits;
          chunk = min_u64 (end, next > UINT64_MAX / cs ? end : next * cs) - pos;
        }
      if (ci.type == QCOW2_CLUSTER_UNALLOCATED && q->backing != NULL)
        {
          /* The backing file answers for a run of unallocated clusters;
           * return what we have first. */
          if (n > 0)
            break;
          if (!to_backing)
            {
              to_backing = true;
              run_start = pos;
            }
          pos += chunk;
          continue;
        }
      if (to_backing)
        break;
      switch (ci.type)
        {
        case QCOW2_CLUSTER_NORMAL:
          m = qcow2_add_extent (ext, n, max, VMM_BLOCK_EXTENT_DATA, pos, chunk, q->fd,
                                ci.host + in_off);
          break;
        case QCOW2_CLUSTER_COMPRESSED:
          m = qcow2_add_extent (ext, n, max, VMM_BLOCK_EXTENT_SYNC, pos, chunk, -1, 0);
          break;
        case QCOW2_CLUSTER_UNALLOCATED:
        case QCOW2_CLUSTER_ZERO_PLAIN:
        case QCOW2_CLUSTER_ZERO_ALLOC:
        default:
          m = qcow2_add_extent (ext, n, max, VMM_BLOCK_EXTENT_ZERO, pos, chunk, -1, 0);
          break;
        }
      if (m < 0)
        break;
      n = m;
      pos += chunk;
    }
  cursor_release (&cur);
  pthread_mutex_unlock (&q->lock);
  if (ret < 0)
    return ret;
  if (to_backing)
    return map_backing (q, run_start, pos - run_start, ext, max);
  return n;
}

int
qcow2_read_sync (struct vmm_block *b, uint64_t offset, uint64_t len, void *buf)
{
  struct qcow2 *q = b->priv;
  uint64_t cs = q->cluster_size, pos = offset, end = offset + len;
  uint8_t *out = buf, *cbuf = NULL;
  int ret = 0;

  while (pos < end && ret == 0)
    {
      uint64_t cluster = pos / cs, in_off = pos % cs;
      uint64_t chunk = min_u64 (cs - in_off, end - pos), l2e = 0;
      struct l2_cursor cur = { 0 };
      struct qcow2_cluster_info ci;
      uint8_t *dst = out + (pos - offset);

      pthread_mutex_lock (&q->lock);
      ret = lookup (q, &cur, cluster, &l2e);
      cursor_release (&cur);
      if (ret == 0 && qcow2_classify (q, l2e, &ci) < 0)
        ret = qcow2_bad_l2_entry (q, cluster, l2e);
      pthread_mutex_unlock (&q->lock);
      if (ret < 0)
        break;

      switch (ci.type)
        {
        case QCOW2_CLUSTER_NORMAL:
          ret = vmm_block_pread_fd (q->fd, dst, chunk, ci.host + in_off, q->align);
          break;
        case QCOW2_CLUSTER_COMPRESSED:
          if (cbuf == NULL && (cbuf = qcow2_alloc_cluster_buf (q)) == NULL)
            {
              ret = -ENOMEM;
              break;
            }
          ret = qcow2_decompress_cluster (q, &ci, cbuf);
          if (ret == 0)
            memcpy (dst, cbuf + in_off, chunk);
          break;
        case QCOW2_CLUSTER_UNALLOCATED:
          if (q->backing != NULL)
            {
              ret = qcow2_read_backing (q, dst, chunk, pos);
              break;
            }
          /* fall through */
        case QCOW2_CLUSTER_ZERO_PLAIN:
        case QCOW2_CLUSTER_ZERO_ALLOC:
        default:
          memset (dst, 0, chunk);
          break;
        }
      pos += chunk;
    }
  free (cbuf);
  return ret;
}
