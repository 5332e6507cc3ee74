/* block/qcow2.c: qcow2 images (version 3, and version 2 read and written)
 *
 * Written from QEMU's docs/interop/qcow2.txt. The image file is hostile
 * input: every offset, size and count read from it is checked before use,
 * and a bad one gives -EINVAL (at open) or -EIO (later) with the field named.
 *
 * Crash safety. Metadata changes live in the caches (L2 tables, refcount
 * blocks) and in the in-memory L1 table until a flush writes them back in
 * dependency order, with fdatasync between the stages:
 *
 *   1. refcount blocks (increments: new clusters), and the data written so far
 *   2. L2 tables (new entries point to clusters counted in stage 1)
 *   3. the L1 table (points to L2 tables written in stage 2)
 *   4. refcount decrements of clusters that stage 2 and 3 stopped using
 *
 * A decrement waits for stage 4 (the cluster stays allocated in memory until
 * then, so it cannot be reused either), which is what makes a crash between
 * any two writes show at worst a leak, never a reference to a free cluster.
 * Data reaches its new cluster before the L2 entry that shows it: the device
 * commits a write only after the write completed, and the copy-on-write of
 * the rest of the cluster happens before vmm_block_map_write returns. A
 * dirty L2 table evicted from the cache forces a whole flush; a refcount
 * block can be written whenever (it only holds increments and decrements of
 * clusters nothing on disk refers to). New refcount blocks and a grown
 * refcount table are written and synced right away, before anything uses
 * them. We never set the dirty bit: refcounts are exact.
 *
 * Concurrency: one mutex per image around the metadata. Data I/O and the
 * copy-on-write run outside it; a guest cluster being allocated is recorded
 * in q->inflight so that a second write to it shares the new cluster rather
 * than allocating another one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "log.h"
#include "viv-bytes.h"

/* Most clusters one map_write call allocates; the caller maps the rest. */
#define MAX_MAP_CLUSTERS 2048u
/* Bytes of guest data written per call when zeroing through the data path */
#define ZERO_CHUNK (1u << 20)
/* Cache budgets */
#define L2_CACHE_BYTES   (2u << 20)
#define L2_CACHE_MIN     16u
#define L2_CACHE_MAX     256u
#define RB_CACHE_BYTES   (512u << 10)
#define RB_CACHE_MIN     8u
#define RB_CACHE_MAX     64u

enum cluster_type {
  CLUSTER_UNALLOCATED,
  CLUSTER_ZERO_PLAIN,        /* zero flag, no host cluster */
  CLUSTER_ZERO_ALLOC,        /* zero flag over a preallocated host cluster */
  CLUSTER_NORMAL,
  CLUSTER_COMPRESSED,
};

struct cluster_info {
  enum cluster_type type;
  uint64_t host;             /* NORMAL, ZERO_ALLOC */
  uint64_t coffset, csize;   /* COMPRESSED: bytes at coffset */
};

/* The cookie of a qcow2 write */
struct qcow2_write {
  unsigned n;
  struct qcow2_alloc *allocs[];
};

/* ---- arithmetic ---------------------------------------------------------------- */

static inline uint64_t
div_up (uint64_t a, uint64_t b)
{
  return a / b + (a % b != 0);
}

static inline uint64_t
max_u64 (uint64_t a, uint64_t b)
{
  return a > b ? a : b;
}

static inline uint64_t
min_u64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

/* The end of the host file as far as references may go: the file, or the
 * clusters we allocated and have not written yet. */
static inline uint64_t
host_end (const struct qcow2 *q)
{
  return max_u64 (q->file_size, q->alloc_end * q->cluster_size);
}

/* Whether [off, off + len) touches the header, the L1 table, the refcount
 * table or the snapshot table: a table or data cluster there would be
 * written over them (or freed), so such an entry counts as corrupt. */
static bool
hits_metadata (const struct qcow2 *q, uint64_t off, uint64_t len)
{
  uint64_t cs = q->cluster_size;
  const uint64_t r[4][2] = {
    { 0, cs },
    { q->l1_offset, (uint64_t) q->l1_clusters * cs },
    { q->reftable_offset, (uint64_t) q->reftable_clusters * cs },
    { q->snapshots_offset, q->n_snapshots ? q->snapshot_table_size : 0 },
  };

  for (unsigned i = 0; i < 4; i++)
    if (r[i][1] > 0 && off < r[i][0] + r[i][1] && r[i][0] < off + len)
      return true;
  return false;
}

/* ---- metadata I/O ------------------------------------------------------------ */

static int
meta_read (struct qcow2 *q, void *buf, size_t len, uint64_t offset)
{
  return vmm_block_pread_fd (q->fd, buf, len, offset, q->align);
}

static int
meta_write (struct qcow2 *q, const void *buf, size_t len, uint64_t offset)
{
  int ret = vmm_block_pwrite_fd (q->fd, buf, len, offset, q->align);

  if (ret == 0 && offset + len > q->file_size)
    q->file_size = offset + len;
  return ret;
}

/* Makes the file cover cluster END - 1, so that a refcount never counts a
 * cluster past the end of the file. */
static int
grow_file (struct qcow2 *q, uint64_t end)
{
  struct stat st;

  if (end <= q->file_size)
    return 0;
  /* The device's data writes grow the file behind our back: never let a
   * stale size shrink it. */
  if (fstat (q->fd, &st) < 0)
    return -errno;
  if ((uint64_t) st.st_size < end && ftruncate (q->fd, (off_t) end) < 0)
    return -errno;
  q->file_size = max_u64 (end, (uint64_t) st.st_size);
  return 0;
}

static void *
alloc_cluster_buf (const struct qcow2 *q)
{
  void *p;

  if (posix_memalign (&p, 4096, q->cluster_size) != 0)
    return NULL;
  return p;
}

/* ---- table caches -------------------------------------------------------------- */

static int
cache_init (struct qcow2_cache *c, unsigned n, size_t table_size)
{
  c->entries = calloc (n, sizeof *c->entries);
  if (c->entries == NULL)
    return -ENOMEM;
  c->n = n;
  for (unsigned i = 0; i < n; i++)
    if (posix_memalign ((void **) &c->entries[i].data, 4096, table_size) != 0)
      {
        c->entries[i].data = NULL;
        return -ENOMEM;
      }
  return 0;
}

static void
cache_free (struct qcow2_cache *c)
{
  if (c->entries == NULL)
    return;
  for (unsigned i = 0; i < c->n; i++)
    free (c->entries[i].data);
  free (c->entries);
  c->entries = NULL;
}

static struct qcow2_cache_entry *
cache_find (struct qcow2_cache *c, uint64_t offset)
{
  for (unsigned i = 0; i < c->n; i++)
    if (c->entries[i].offset == offset)
      return &c->entries[i];
  return NULL;
}

/* A cluster was just allocated: whatever a cache held for it is stale. */
static void
cache_forget (struct qcow2_cache *c, uint64_t offset)
{
  struct qcow2_cache_entry *e = cache_find (c, offset);

  if (e != NULL && e->pins == 0)
    {
      e->offset = 0;
      e->dirty = false;
    }
}

static int flush_locked (struct qcow2 *q);
static int write_refblock (struct qcow2 *q, struct qcow2_cache_entry *e);

/* An unpinned slot, emptied: a dirty L2 table forces a flush (its entries
 * depend on refcounts and data), a dirty refcount block is just written. */
static int
cache_take_slot (struct qcow2 *q, struct qcow2_cache *c, struct qcow2_cache_entry **out)
{
  struct qcow2_cache_entry *victim = NULL;
  int ret;

  for (unsigned i = 0; i < c->n; i++)
    {
      struct qcow2_cache_entry *e = &c->entries[i];
      if (e->pins > 0)
        continue;
      if (e->offset == 0)
        {
          victim = e;
          break;
        }
      if (victim == NULL || e->last_use < victim->last_use)
        victim = e;
    }
  if (victim == NULL)
    return -EBUSY;
  if (victim->offset != 0 && victim->dirty)
    {
      ret = c == &q->l2_cache ? flush_locked (q) : write_refblock (q, victim);
      if (ret < 0)
        return ret;
    }
  victim->offset = 0;
  victim->dirty = false;
  *out = victim;
  return 0;
}

/* Pins the table at OFFSET, reading it unless LOAD is false (a new table:
 * zeroes). */
static int
table_get (struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool load,
           struct qcow2_cache_entry **out)
{
  struct qcow2_cache_entry *e = cache_find (c, offset), *again;
  int ret;

  if (e == NULL)
    {
      ret = cache_take_slot (q, c, &e);
      if (ret < 0)
        return ret;
      /* Taking the slot may have flushed; the table cannot have been loaded
       * meanwhile, but look again rather than hold it twice. */
      again = cache_find (c, offset);
      if (again != NULL)
        e = again;
      else
        {
          if (load)
            ret = meta_read (q, e->data, q->cluster_size, offset);
          else
            {
              memset (e->data, 0, q->cluster_size);
              ret = 0;
            }
          if (ret < 0)
            return ret;
          e->offset = offset;
          e->dirty = false;
        }
    }
  e->pins++;
  e->last_use = ++c->clock;
  *out = e;
  return 0;
}

static void
table_put (struct qcow2_cache_entry *e)
{
  if (e != NULL && e->pins > 0)
    e->pins--;
}

/* ---- refcounts ------------------------------------------------------------------- */

static uint64_t
rb_get (const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
  switch (q->refcount_order)
    {
    case 0: case 1: case 2:
      {
        unsigned bits = q->refcount_bits, per_byte = 8 / bits;
        return (blk[i / per_byte] >> ((i % per_byte) * bits)) & ((1u << bits) - 1);
      }
    case 3:
      return blk[i];
    case 4:
      return viv_get_be16 (blk + 2 * i);
    case 5:
      return viv_get_be32 (blk + 4 * i);
    default:
      return viv_get_be64 (blk + 8 * i);
    }
}

static void
rb_set (const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v)
{
  switch (q->refcount_order)
    {
    case 0: case 1: case 2:
      {
        unsigned bits = q->refcount_bits, per_byte = 8 / bits;
        unsigned shift = (unsigned) (i % per_byte) * bits;
        uint8_t mask = (uint8_t) (((1u << bits) - 1) << shift);
        blk[i / per_byte] = (uint8_t) ((blk[i / per_byte] & ~mask) | ((v << shift) & mask));
        break;
      }
    case 3:
      blk[i] = (uint8_t) v;
      break;
    case 4:
      viv_put_be16 (blk + 2 * i, (uint16_t) v);
      break;
    case 5:
      viv_put_be32 (blk + 4 * i, (uint32_t) v);
      break;
    default:
      viv_put_be64 (blk + 8 * i, v);
      break;
    }
}

static int
write_refblock (struct qcow2 *q, struct qcow2_cache_entry *e)
{
  int ret;

  /* A refcount on disk for a cluster past the end of the file would look
   * like a corruption after a crash: make the file cover what we allocated. */
  ret = grow_file (q, q->alloc_end * q->cluster_size);
  if (ret == 0)
    ret = meta_write (q, e->data, q->cluster_size, e->offset);
  if (ret == 0)
    e->dirty = false;
  return ret;
}

/* The refcount block for table index T, pinned, or *OUT = NULL when the
 * table has none. */
static int
refblock_get (struct qcow2 *q, uint64_t t, struct qcow2_cache_entry **out)
{
  uint64_t off;

  *out = NULL;
  if (t >= q->reftable_entries)
    return 0;
  off = q->reftable[t];
  if (off == 0)
    return 0;
  if (off > host_end (q) || host_end (q) - off < q->cluster_size
      || hits_metadata (q, off, q->cluster_size))
    {
      vmm_log_warning ("%s: refcount block %llu at 0x%llx lies past the end of the file or "
                       "over other metadata",
                       q->b->path, (unsigned long long) t, (unsigned long long) off);
      return -EIO;
    }
  return table_get (q, &q->rb_cache, off, true, out);
}

static int
rc_get (struct qcow2 *q, uint64_t cluster, uint64_t *rc)
{
  struct qcow2_cache_entry *e;
  int ret = refblock_get (q, cluster / q->refblock_entries, &e);

  if (ret < 0)
    return ret;
  *rc = e != NULL ? rb_get (q, e->data, cluster % q->refblock_entries) : 0;
  table_put (e);
  return 0;
}

static int reftable_grow (struct qcow2 *q, uint64_t need_entries);
static int alloc_cluster (struct qcow2 *q, uint64_t *host);

/* Writes the refcount table entry T (8 bytes: atomic on every disk). */
static int
reftable_write_entry (struct qcow2 *q, uint64_t t)
{
  uint8_t be[8];

  viv_put_be64 (be, q->reftable[t]);
  return meta_write (q, be, 8, q->reftable_offset + t * 8);
}

/* Gives refcount table index T a refcount block. It goes into the range it
 * describes when it can (and counts itself), otherwise wherever the
 * allocator finds room. Written and synced before the table points to it. */
static int
refblock_alloc (struct qcow2 *q, uint64_t t)
{
  uint64_t E = q->refblock_entries, cs = q->cluster_size;
  uint64_t lo = max_u64 (t * E, max_u64 (q->alloc_floor, 1)), block;
  uint8_t *buf;
  int ret;

  buf = alloc_cluster_buf (q);
  if (buf == NULL)
    return -ENOMEM;
  memset (buf, 0, cs);
  if (lo < (t + 1) * E)
    {
      block = lo;
      rb_set (q, buf, block - t * E, 1);
    }
  else
    {
      uint64_t host;
      ret = alloc_cluster (q, &host);
      if (ret < 0)
        goto out;
      block = host / cs;
    }
  cache_forget (&q->l2_cache, block * cs);
  cache_forget (&q->rb_cache, block * cs);
  q->alloc_end = max_u64 (q->alloc_end, block + 1);
  ret = grow_file (q, q->alloc_end * cs);
  if (ret == 0)
    ret = meta_write (q, buf, cs, block * cs);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    goto out;
  q->reftable[t] = block * cs;
  ret = reftable_write_entry (q, t);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    q->reftable[t] = 0;   /* the block leaks; nothing points to it */
out:
  free (buf);
  return ret;
}

static int
rc_set (struct qcow2 *q, uint64_t cluster, uint64_t value)
{
  uint64_t t = cluster / q->refblock_entries;
  struct qcow2_cache_entry *e;
  int ret;

  if (value > q->refcount_max)
    return -ERANGE;
  if (t >= q->reftable_entries)
    {
      ret = reftable_grow (q, t + 1);
      if (ret < 0)
        return ret;
    }
  if (q->reftable[t] == 0)
    {
      if (value == 0)
        return 0;
      ret = refblock_alloc (q, t);
      if (ret < 0)
        return ret;
      if (q->reftable[t] == cluster * q->cluster_size)
        return -EIO;   /* cannot happen: the block went where nothing was */
    }
  ret = refblock_get (q, t, &e);
  if (ret < 0)
    return ret;
  if (e == NULL)
    return -EIO;
  rb_set (q, e->data, cluster % q->refblock_entries, value);
  e->dirty = true;
  table_put (e);
  return 0;
}

/* Adds DELTA to a refcount: -ERANGE past the maximum, -EIO below zero (the
 * metadata is inconsistent then). */
static int
rc_add (struct qcow2 *q, uint64_t cluster, int64_t delta, uint64_t *result)
{
  uint64_t rc;
  int ret = rc_get (q, cluster, &rc);

  if (ret < 0)
    return ret;
  if (delta > 0 && rc > q->refcount_max - (uint64_t) delta)
    return -ERANGE;
  if (delta < 0 && rc < (uint64_t) -delta)
    {
      vmm_log_warning ("%s: refcount of cluster %llu would drop below zero", q->b->path,
                       (unsigned long long) cluster);
      q->broken = true;
      return -EIO;
    }
  rc += (uint64_t) delta;
  if (result != NULL)
    *result = rc;
  return rc_set (q, cluster, rc);
}

/* Moves the refcount table somewhere larger: at the end of the file, with
 * the new refcount blocks that describe the new table and themselves. The
 * new structures are written and synced, then the header switches to them
 * in one 12-byte write. */
static int
reftable_grow (struct qcow2 *q, uint64_t need_entries)
{
  uint64_t E = q->refblock_entries, cs = q->cluster_size;
  uint64_t old_cover = q->reftable_entries * E;
  uint64_t A = max_u64 (max_u64 (div_up (q->file_size, cs), q->alloc_end),
                        max_u64 (old_cover, q->alloc_floor));
  uint64_t want = max_u64 (need_entries, q->reftable_entries * 2);
  uint64_t T = div_up (want * 8, cs), nb = 1, t_first = A / E, entries = 0;
  uint64_t old_offset = q->reftable_offset, old_clusters = q->reftable_clusters;
  uint8_t *table = NULL, *blocks = NULL, hdr[12];
  uint64_t *host_table = NULL;
  bool converged = false;
  int ret;

  /* The new area [A, A + T + nb) needs blocks for itself and a table
   * with entries for them: both grow together, a few rounds at most. */
  for (int round = 0; round < 64 && !converged; round++)
    {
      uint64_t end = A + T + nb;
      uint64_t t_last = (end - 1) / E;
      uint64_t nb2 = t_last - t_first + 1;
      uint64_t T2;

      entries = max_u64 (want, t_last + 1);
      T2 = div_up (entries * 8, cs);
      converged = T2 <= T && nb2 <= nb;
      T = max_u64 (T, T2);
      nb = max_u64 (nb, nb2);
    }
  if (!converged || T * cs > QCOW2_MAX_REFTABLE_BYTES
      || (A + T + nb) > QCOW2_MAX_HOST_OFFSET / cs)
    {
      vmm_log_warning ("%s: the refcount table cannot grow any further", q->b->path);
      return -EFBIG;
    }

  if (posix_memalign ((void **) &table, 4096, T * cs) != 0
      || posix_memalign ((void **) &blocks, 4096, nb * cs) != 0)
    {
      ret = -ENOMEM;
      goto out;
    }
  host_table = calloc (T * cs / 8, sizeof *host_table);
  if (host_table == NULL)
    {
      ret = -ENOMEM;
      goto out;
    }
  memset (table, 0, T * cs);
  memset (blocks, 0, nb * cs);
  memcpy (host_table, q->reftable, q->reftable_entries * sizeof *host_table);
  for (uint64_t j = 0; j < nb; j++)
    host_table[t_first + j] = (A + T + j) * cs;
  for (uint64_t i = 0; i < T * cs / 8; i++)
    viv_put_be64 (table + 8 * i, host_table[i]);
  for (uint64_t c = A; c < A + T + nb; c++)
    rb_set (q, blocks + (c / E - t_first) * cs, c % E, 1);

  ret = meta_write (q, blocks, nb * cs, (A + T) * cs);
  if (ret == 0)
    ret = meta_write (q, table, T * cs, A * cs);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    goto out;
  viv_put_be64 (hdr, A * cs);
  viv_put_be32 (hdr + 8, (uint32_t) T);
  ret = meta_write (q, hdr, sizeof hdr, 48);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    goto out;

  free (q->reftable);
  q->reftable = host_table;
  host_table = NULL;
  q->reftable_offset = A * cs;
  q->reftable_clusters = (uint32_t) T;
  q->reftable_entries = T * cs / 8;
  q->alloc_end = max_u64 (q->alloc_end, A + T + nb);

  /* Nothing refers to the old table any more, on disk or here. */
  for (uint64_t i = 0; i < old_clusters; i++)
    {
      int r = rc_add (q, old_offset / cs + i, -1, NULL);
      if (r < 0)
        vmm_log_warning ("%s: the old refcount table leaks: %s", q->b->path, strerror (-r));
    }
  ret = 0;
out:
  free (host_table);
  free (table);
  free (blocks);
  return ret;
}

/* Allocates one cluster (refcount 1 in the cache). */
static int
alloc_cluster (struct qcow2 *q, uint64_t *host)
{
  uint64_t E = q->refblock_entries, cs = q->cluster_size;
  uint64_t idx = max_u64 (max_u64 (q->free_hint, q->alloc_floor), 1);
  uint64_t limit = QCOW2_MAX_HOST_OFFSET / cs;
  int ret;

  /* Each round moves idx forward or gives its range a table entry or a
   * block, so the loop ends. */
  for (;;)
    {
      uint64_t t = idx / E;
      struct qcow2_cache_entry *e;
      bool found = false;

      if (idx >= limit)
        return -ENOSPC;
      if (t >= q->reftable_entries)
        {
          ret = reftable_grow (q, t + 1);
          if (ret < 0)
            return ret;
          idx = max_u64 (idx, max_u64 (q->free_hint, q->alloc_floor));
          continue;
        }
      if (q->reftable[t] == 0)
        {
          ret = refblock_alloc (q, t);
          if (ret < 0)
            return ret;
          continue;
        }
      ret = refblock_get (q, t, &e);
      if (ret < 0)
        return ret;
      if (e == NULL)
        return -EIO;   /* cannot be: the table entry was checked above */
      for (uint64_t i = idx % E; i < E; i++)
        if (rb_get (q, e->data, i) == 0)
          {
            idx = t * E + i;
            found = true;
            break;
          }
      table_put (e);
      if (found)
        break;
      idx = (t + 1) * E;
    }
  ret = rc_set (q, idx, 1);
  if (ret < 0)
    return ret;
  q->free_hint = idx + 1;
  q->alloc_end = max_u64 (q->alloc_end, idx + 1);
  cache_forget (&q->l2_cache, idx * cs);
  cache_forget (&q->rb_cache, idx * cs);
  *host = idx * cs;
  return 0;
}

/* Drops a reference once the metadata that held it is on disk. */
static void
free_later (struct qcow2 *q, uint64_t cluster)
{
  if (q->n_pending_free == q->cap_pending_free)
    {
      size_t cap = q->cap_pending_free ? q->cap_pending_free * 2 : 64;
      uint64_t *p = realloc (q->pending_free, cap * sizeof *p);
      if (p == NULL)
        {
          vmm_log_warning ("%s: out of memory: cluster %llu leaks", q->b->path,
                           (unsigned long long) cluster);
          return;
        }
      q->pending_free = p;
      q->cap_pending_free = cap;
    }
  q->pending_free[q->n_pending_free++] = cluster;
}

/* ---- cluster mapping ------------------------------------------------------------- */

/* Checks an L2 (or L1-referenced) entry and says what it is. */
static int
classify (struct qcow2 *q, uint64_t l2e, struct cluster_info *ci)
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
      ci->type = CLUSTER_COMPRESSED;
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
    ci->type = ci->host ? CLUSTER_ZERO_ALLOC : CLUSTER_ZERO_PLAIN;
  else
    ci->type = ci->host ? CLUSTER_NORMAL : CLUSTER_UNALLOCATED;
  return 0;
}

static int
bad_l2_entry (struct qcow2 *q, uint64_t cluster, uint64_t l2e)
{
  vmm_log_warning ("%s: the L2 entry of guest cluster %llu (0x%016llx) is invalid, points "
                   "past the end of the file or over other metadata", q->b->path,
                   (unsigned long long) cluster,
                   (unsigned long long) l2e);
  return -EIO;
}

/* The L2 table offset of L1 entry L1I, checked; 0 for none. */
static int
l1_lookup (struct qcow2 *q, uint64_t l1i, uint64_t *l2off)
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
  table_put (c->e);
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
      ret = l1_lookup (q, l1i, &off);
      if (ret < 0)
        return ret;
      if (off != 0)
        {
          ret = table_get (q, &q->l2_cache, off, true, &cur->e);
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
static int
l2_for_write (struct qcow2 *q, uint64_t cluster, struct qcow2_cache_entry **out)
{
  uint64_t l1i = cluster >> q->l2_bits, off, rc, host;
  struct qcow2_cache_entry *old = NULL, *ne = NULL;
  uint32_t epc = (uint32_t) (q->cluster_size / 8);
  int ret;

  *out = NULL;
  if (l1i >= q->l1_size)
    return -EIO;
  ret = l1_lookup (q, l1i, &off);
  if (ret < 0)
    return ret;
  if (off != 0)
    {
      ret = rc_get (q, off / q->cluster_size, &rc);
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
          return table_get (q, &q->l2_cache, off, true, out);
        }
      /* Shared with a snapshot: copy it. */
      ret = table_get (q, &q->l2_cache, off, true, &old);
      if (ret < 0)
        return ret;
    }
  ret = alloc_cluster (q, &host);
  if (ret == 0)
    {
      ret = table_get (q, &q->l2_cache, host, false, &ne);
      if (ret < 0)
        rc_add (q, host / q->cluster_size, -1, NULL);   /* nothing refers to it yet */
    }
  if (ret < 0 || ne == NULL)
    {
      table_put (old);
      return ret < 0 ? ret : -EIO;
    }
  if (old != NULL)
    {
      memcpy (ne->data, old->data, q->cluster_size);
      table_put (old);
      free_later (q, off / q->cluster_size);
    }
  ne->dirty = true;
  q->l1[l1i] = host | QCOW2_OFLAG_COPIED;
  q->l1_dirty[l1i / epc] = true;
  *out = ne;
  return 0;
}

/* Drops the references an L2 entry held (after the entry was replaced). */
static void
release_entry (struct qcow2 *q, uint64_t l2e)
{
  struct cluster_info ci;

  if (classify (q, l2e, &ci) < 0)
    return;   /* it was never valid: nothing to give back, at worst a leak */
  switch (ci.type)
    {
    case CLUSTER_NORMAL:
    case CLUSTER_ZERO_ALLOC:
      free_later (q, ci.host / q->cluster_size);
      break;
    case CLUSTER_COMPRESSED:
      for (uint64_t c = ci.coffset / q->cluster_size;
           c <= (ci.coffset + ci.csize - 1) / q->cluster_size; c++)
        free_later (q, c);
      break;
    case CLUSTER_UNALLOCATED:
    case CLUSTER_ZERO_PLAIN:
    default:
      break;
    }
}

/* ---- flush ------------------------------------------------------------------- */

static int
write_dirty_refblocks (struct qcow2 *q, bool *any)
{
  for (unsigned i = 0; i < q->rb_cache.n; i++)
    {
      struct qcow2_cache_entry *e = &q->rb_cache.entries[i];
      if (e->offset != 0 && e->dirty)
        {
          int ret = write_refblock (q, e);
          if (ret < 0)
            return ret;
          *any = true;
        }
    }
  return 0;
}

static int
write_l1 (struct qcow2 *q, bool *any)
{
  uint64_t epc = q->cluster_size / 8;
  uint8_t *buf = NULL;
  int ret = 0;

  for (uint32_t i = 0; i < q->l1_clusters && ret == 0; i++)
    {
      uint64_t first = i * epc, n;
      if (!q->l1_dirty[i])
        continue;
      if (buf == NULL && (buf = alloc_cluster_buf (q)) == NULL)
        return -ENOMEM;
      n = min_u64 (epc, q->l1_size - first);
      for (uint64_t j = 0; j < n; j++)
        viv_put_be64 (buf + 8 * j, q->l1[first + j]);
      ret = meta_write (q, buf, n * 8, q->l1_offset + first * 8);
      if (ret == 0)
        {
          q->l1_dirty[i] = false;
          *any = true;
        }
    }
  free (buf);
  return ret;
}

/* The four stages described at the top of this file. */
static int
flush_locked (struct qcow2 *q)
{
  bool any = false;
  int ret;

  if (q->b->read_only)
    return 0;

  /* 1: new refcounts, with the data they cover */
  ret = write_dirty_refblocks (q, &any);
  if (ret == 0)
    ret = grow_file (q, q->alloc_end * q->cluster_size);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    return ret;

  /* 2: L2 tables */
  any = false;
  for (unsigned i = 0; i < q->l2_cache.n; i++)
    {
      struct qcow2_cache_entry *e = &q->l2_cache.entries[i];
      if (e->offset != 0 && e->dirty)
        {
          ret = meta_write (q, e->data, q->cluster_size, e->offset);
          if (ret < 0)
            return ret;
          e->dirty = false;
          any = true;
        }
    }
  if (any && (ret = vmm_block_fdatasync_fd (q->fd)) < 0)
    return ret;

  /* 3: L1 table */
  any = false;
  ret = write_l1 (q, &any);
  if (ret == 0 && any)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    return ret;

  /* 4: clusters nothing on disk refers to any more. Not while a
   * copy-on-write may still read one of them. */
  if (q->n_pending_free > 0 && q->cows_running == 0)
    {
      uint64_t *list = q->pending_free;
      size_t n = q->n_pending_free;
      size_t n_zero = 0;

      q->pending_free = NULL;
      q->n_pending_free = q->cap_pending_free = 0;
      for (size_t i = 0; i < n; i++)
        {
          uint64_t rc = 1;
          int r = rc_add (q, list[i], -1, &rc);
          if (r < 0)
            ret = r;
          else if (rc == 0)
            list[n_zero++] = list[i];
        }
      any = false;
      if (ret == 0)
        ret = write_dirty_refblocks (q, &any);
      if (ret == 0 && any)
        ret = vmm_block_fdatasync_fd (q->fd);
      for (size_t i = 0; ret == 0 && i < n_zero; i++)
        {
          /* Give the space back to the host file system; best effort. */
          uint64_t off = list[i] * q->cluster_size;
          if (off < host_end (q))
            fallocate (q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) off,
                       (off_t) q->cluster_size);
          if (list[i] < q->free_hint && list[i] >= q->alloc_floor)
            q->free_hint = list[i];
        }
      free (list);
    }
  return ret;
}

static int
qcow2_flush (struct vmm_block *b)
{
  struct qcow2 *q = b->priv;
  int ret;

  pthread_mutex_lock (&q->lock);
  while (q->cows_running > 0)
    pthread_cond_wait (&q->cond, &q->lock);
  ret = q->broken ? -EIO : flush_locked (q);
  pthread_mutex_unlock (&q->lock);
  return ret;
}

/* ---- compressed clusters ---------------------------------------------------------- */

static int
decompress_cluster (struct qcow2 *q, const struct cluster_info *ci, uint8_t *out)
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
static int
read_backing (struct qcow2 *q, void *buf, uint64_t len, uint64_t offset)
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
static int
add_extent (struct vmm_block_extent *ext, int n, unsigned max, enum vmm_block_extent_kind kind,
            uint64_t offset, uint64_t len, int fd, uint64_t host)
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
    return add_extent (ext, 0, max, VMM_BLOCK_EXTENT_ZERO, offset, len, -1, 0);
  inside = min_u64 (len, bsize - offset);
  n = vmm_block_map_read (q->backing, offset, inside, ext, max);
  if (n <= 0)
    return n < 0 ? n : -EIO;
  for (int i = 0; i < n; i++)
    covered += ext[i].len;
  if (covered == inside && inside < len)
    {
      int m = add_extent (ext, n, max, VMM_BLOCK_EXTENT_ZERO, offset + inside, len - inside,
                          -1, 0);
      if (m > 0)
        n = m;
    }
  return n;
}

static int
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
      struct cluster_info ci;
      int m;

      ret = lookup (q, &cur, cluster, &l2e);
      if (ret < 0)
        break;
      if (classify (q, l2e, &ci) < 0)
        {
          ret = bad_l2_entry (q, cluster, l2e);
          break;
        }
      if (cur.e == NULL)
        {
          /* No L2 table: the whole range it would map is unallocated. */
          uint64_t next = ((cluster >> q->l2_bits) + 1) << q->l2_bits;
          chunk = min_u64 (end, next > UINT64_MAX / cs ? end : next * cs) - pos;
        }
      if (ci.type == CLUSTER_UNALLOCATED && q->backing != NULL)
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
        case CLUSTER_NORMAL:
          m = add_extent (ext, n, max, VMM_BLOCK_EXTENT_DATA, pos, chunk, q->fd,
                          ci.host + in_off);
          break;
        case CLUSTER_COMPRESSED:
          m = add_extent (ext, n, max, VMM_BLOCK_EXTENT_SYNC, pos, chunk, -1, 0);
          break;
        case CLUSTER_UNALLOCATED:
        case CLUSTER_ZERO_PLAIN:
        case CLUSTER_ZERO_ALLOC:
        default:
          m = add_extent (ext, n, max, VMM_BLOCK_EXTENT_ZERO, pos, chunk, -1, 0);
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

static int
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
      struct cluster_info ci;
      uint8_t *dst = out + (pos - offset);

      pthread_mutex_lock (&q->lock);
      ret = lookup (q, &cur, cluster, &l2e);
      cursor_release (&cur);
      if (ret == 0 && classify (q, l2e, &ci) < 0)
        ret = bad_l2_entry (q, cluster, l2e);
      pthread_mutex_unlock (&q->lock);
      if (ret < 0)
        break;

      switch (ci.type)
        {
        case CLUSTER_NORMAL:
          ret = vmm_block_pread_fd (q->fd, dst, chunk, ci.host + in_off, q->align);
          break;
        case CLUSTER_COMPRESSED:
          if (cbuf == NULL && (cbuf = alloc_cluster_buf (q)) == NULL)
            {
              ret = -ENOMEM;
              break;
            }
          ret = decompress_cluster (q, &ci, cbuf);
          if (ret == 0)
            memcpy (dst, cbuf + in_off, chunk);
          break;
        case CLUSTER_UNALLOCATED:
          if (q->backing != NULL)
            {
              ret = read_backing (q, dst, chunk, pos);
              break;
            }
          /* fall through */
        case CLUSTER_ZERO_PLAIN:
        case CLUSTER_ZERO_ALLOC:
        default:
          memset (dst, 0, chunk);
          break;
        }
      pos += chunk;
    }
  free (cbuf);
  return ret;
}

/* ---- writing ------------------------------------------------------------------ */

/* A copy-on-write this map_write call does for a cluster it allocated */
struct cow_job {
  struct qcow2_alloc *a;
  uint64_t cluster;
  uint64_t keep_start, keep_end;   /* the caller's bytes: not copied */
  uint64_t valid;                  /* bytes of the cluster inside the disk */
  struct cluster_info src;
  bool fresh;                      /* past the old end of the file: reads as zeroes */
};

static int
do_cow (struct qcow2 *q, const struct cow_job *j)
{
  uint64_t cs = q->cluster_size, cstart = j->cluster * cs;
  uint64_t ranges[2][2] = { { 0, j->keep_start }, { j->keep_end, j->valid } };
  bool zero = j->src.type == CLUSTER_ZERO_PLAIN || j->src.type == CLUSTER_ZERO_ALLOC
              || (j->src.type == CLUSTER_UNALLOCATED && q->backing == NULL);
  uint8_t *buf;
  int ret = 0;

  if (zero && j->fresh)
    return 0;   /* a new cluster past the old end of the file already reads as zeroes */
  buf = alloc_cluster_buf (q);
  if (buf == NULL)
    return -ENOMEM;
  if (j->src.type == CLUSTER_COMPRESSED)
    ret = decompress_cluster (q, &j->src, buf);
  for (int r = 0; r < 2 && ret == 0; r++)
    {
      uint64_t s = ranges[r][0], e = ranges[r][1];
      if (e <= s)
        continue;
      if (zero)
        memset (buf + s, 0, e - s);
      else if (j->src.type == CLUSTER_NORMAL)
        ret = vmm_block_pread_fd (q->fd, buf + s, e - s, j->src.host + s, q->align);
      else if (j->src.type == CLUSTER_UNALLOCATED)
        ret = read_backing (q, buf + s, e - s, cstart + s);
      if (ret == 0)
        ret = vmm_block_pwrite_fd (q->fd, buf + s, e - s, j->a->host + s, q->align);
    }
  free (buf);
  return ret;
}

static void
alloc_unlink_table (struct qcow2 *q, struct qcow2_alloc *a)
{
  if (a->in_table)
    {
      g_hash_table_remove (q->inflight, &a->guest_cluster);
      a->in_table = false;
    }
}

/* One user of A is done. The last one frees an allocation that never got
 * linked: nothing on disk refers to it, so its refcount drops right away. */
static void
alloc_drop (struct qcow2 *q, struct qcow2_alloc *a)
{
  if (--a->users > 0)
    return;
  alloc_unlink_table (q, a);
  if (!a->linked)
    {
      int r = rc_add (q, a->host / q->cluster_size, -1, NULL);
      if (r < 0)
        vmm_log_warning ("%s: cluster at 0x%llx leaks: %s", q->b->path,
                         (unsigned long long) a->host, strerror (-r));
      else if (a->host / q->cluster_size < q->free_hint)
        q->free_hint = max_u64 (a->host / q->cluster_size, 1);
    }
  free (a);
}

static void
write_release_locked (struct qcow2 *q, struct qcow2_write *w)
{
  for (unsigned i = 0; i < w->n; i++)
    alloc_drop (q, w->allocs[i]);
  free (w);
}

static int
qcow2_map_write (struct vmm_block *b, uint64_t offset, uint64_t len,
                 struct vmm_block_extent *ext, unsigned max, void **cookie)
{
  struct qcow2 *q = b->priv;
  uint64_t cs = q->cluster_size, pos = offset, end = offset + len;
  uint64_t span = (end - 1) / cs - offset / cs + 1;
  unsigned cap = (unsigned) min_u64 (span, MAX_MAP_CLUSTERS);
  struct cow_job jobs[2];
  unsigned n_jobs = 0;
  struct qcow2_write *w;
  struct qcow2_cache_entry *l2 = NULL;
  uint64_t l2_l1i = UINT64_MAX;
  int n = 0, ret = 0;

  w = calloc (1, sizeof *w + cap * sizeof w->allocs[0]);
  if (w == NULL)
    return -ENOMEM;

  pthread_mutex_lock (&q->lock);
  if (q->broken)
    ret = -EIO;
  while (ret == 0 && pos < end && w->n < cap)
    {
      uint64_t cluster = pos / cs, in_off = pos % cs;
      uint64_t chunk = min_u64 (cs - in_off, end - pos), host, l2e, rc;
      uint64_t valid = min_u64 (cs, q->size - cluster * cs);
      struct qcow2_alloc *a = g_hash_table_lookup (q->inflight, &cluster);
      struct cluster_info ci;
      bool added = false;
      uint8_t *slot;
      int m;

      if (a != NULL)
        {
          /* Another write is allocating this cluster: share its cluster. */
          a->users++;
          added = true;
          w->allocs[w->n++] = a;
          host = a->host;
          goto add;
        }
      if (l2 == NULL || l2_l1i != cluster >> q->l2_bits)
        {
          table_put (l2);
          l2 = NULL;
          ret = l2_for_write (q, cluster, &l2);
          if (ret < 0)
            break;
          l2_l1i = cluster >> q->l2_bits;
        }
      slot = l2->data + 8 * (cluster & (q->l2_entries - 1));
      l2e = viv_get_be64 (slot);
      if (classify (q, l2e, &ci) < 0)
        {
          ret = bad_l2_entry (q, cluster, l2e);
          break;
        }
      if (ci.type == CLUSTER_NORMAL)
        {
          ret = rc_get (q, ci.host / cs, &rc);
          if (ret < 0)
            break;
          if (rc == 1)
            {
              /* Ours alone: write in place. */
              if (!(l2e & QCOW2_OFLAG_COPIED))
                {
                  viv_put_be64 (slot, l2e | QCOW2_OFLAG_COPIED);
                  l2->dirty = true;
                }
              host = ci.host;
              goto add;
            }
          if (rc == 0)
            {
              vmm_log_warning ("%s: guest cluster %llu uses a free host cluster", b->path,
                               (unsigned long long) cluster);
              q->broken = true;
              ret = -EIO;
              break;
            }
        }

      /* A new cluster: for unallocated, zero, compressed or shared ones.
       * Only the first and the last cluster of a range can need a copy; the
       * check keeps jobs[] safe whatever the loop becomes. */
      if (!(in_off == 0 && chunk >= valid) && n_jobs == G_N_ELEMENTS (jobs))
        break;
      {
        /* Past everything allocated this session and past the file: never
         * written, so it reads as zeroes already. */
        uint64_t end_before = host_end (q);
        bool fresh;

        ret = alloc_cluster (q, &host);
        if (ret < 0)
          break;
        fresh = host >= end_before;
        a = calloc (1, sizeof *a);
        if (a == NULL)
          {
            rc_add (q, host / cs, -1, NULL);
            ret = -ENOMEM;
            break;
          }
        a->guest_cluster = cluster;
        a->host = host;
        a->users = 1;
        a->in_table = true;
        g_hash_table_insert (q->inflight, &a->guest_cluster, a);
        added = true;
        w->allocs[w->n++] = a;
        if (in_off == 0 && chunk >= valid)
          a->cow_done = true;   /* the caller writes all of it */
        else
          {
            /* at most the first and the last cluster of a range are partial */
            jobs[n_jobs++] = (struct cow_job) {
              .a = a, .cluster = cluster, .keep_start = in_off, .keep_end = in_off + chunk,
              .valid = valid, .src = ci, .fresh = fresh,
            };
            q->cows_running++;
          }
      }

    add:
      m = add_extent (ext, n, max, VMM_BLOCK_EXTENT_DATA, pos, chunk, q->fd, host + in_off);
      if (m < 0)
        {
          /* no room for it: the cluster is not part of this call */
          if (added)
            alloc_drop (q, w->allocs[--w->n]);
          if (n_jobs > 0 && jobs[n_jobs - 1].cluster == cluster)
            {
              n_jobs--;
              q->cows_running--;
            }
          break;
        }
      n = m;
      pos += chunk;
    }
  table_put (l2);
  /* A partly written new cluster at the end of the file may get no copy at
   * all (see do_cow): the file must still cover all of it, or reading its
   * other bytes would stop short at the end of the file (an I/O error)
   * instead of returning zeroes. */
  if (ret == 0 && n_jobs > 0)
    ret = grow_file (q, q->alloc_end * cs);
  if (ret < 0)
    {
      for (unsigned i = 0; i < n_jobs; i++)
        {
          jobs[i].a->cow_done = jobs[i].a->failed = true;
          q->cows_running--;
        }
      write_release_locked (q, w);
      pthread_cond_broadcast (&q->cond);
      pthread_mutex_unlock (&q->lock);
      return ret;
    }
  pthread_mutex_unlock (&q->lock);

  /* The rest of each partly written new cluster, outside the lock */
  {
    int cow_ret[2] = { 0, 0 };
    for (unsigned i = 0; i < n_jobs; i++)
      cow_ret[i] = do_cow (q, &jobs[i]);

    pthread_mutex_lock (&q->lock);
    for (unsigned i = 0; i < n_jobs; i++)
      {
        struct qcow2_alloc *a = jobs[i].a;
        a->cow_done = true;
        if (cow_ret[i] < 0)
          {
            a->failed = true;
            alloc_unlink_table (q, a);
            ret = cow_ret[i];
          }
        q->cows_running--;
      }
    if (n_jobs > 0)
      pthread_cond_broadcast (&q->cond);
    /* Writes that share a cluster wait for its copy, or they would race it. */
    for (unsigned i = 0; i < w->n; i++)
      {
        struct qcow2_alloc *a = w->allocs[i];
        while (!a->cow_done)
          pthread_cond_wait (&q->cond, &q->lock);
        if (a->failed && ret == 0)
          ret = -EIO;
      }
    if (ret < 0)
      write_release_locked (q, w);
    pthread_mutex_unlock (&q->lock);
  }
  if (ret < 0)
    return ret;
  *cookie = w;
  return n;
}

/* Points the L2 entry of A's guest cluster to A's host cluster. */
static int
alloc_link (struct qcow2 *q, struct qcow2_alloc *a)
{
  struct qcow2_cache_entry *l2;
  uint8_t *slot;
  uint64_t cur;
  int ret = l2_for_write (q, a->guest_cluster, &l2);

  if (ret < 0)
    return ret;
  slot = l2->data + 8 * (a->guest_cluster & (q->l2_entries - 1));
  cur = viv_get_be64 (slot);
  viv_put_be64 (slot, a->host | QCOW2_OFLAG_COPIED);
  l2->dirty = true;
  table_put (l2);
  /* Whatever the entry held now (what the copy was made from, or what a
   * discard left) is no longer referenced. */
  if ((cur & QCOW2_OFFSET_MASK) != a->host || (cur & QCOW2_OFLAG_COMPRESSED))
    release_entry (q, cur);
  a->linked = true;
  return 0;
}

static int
qcow2_commit (struct vmm_block *b, void *cookie)
{
  struct qcow2 *q = b->priv;
  struct qcow2_write *w = cookie;
  int ret = 0;

  pthread_mutex_lock (&q->lock);
  if (q->broken)
    ret = -EIO;
  for (unsigned i = 0; i < w->n; i++)
    {
      struct qcow2_alloc *a = w->allocs[i];
      if (ret == 0 && !a->linked && !a->failed)
        ret = alloc_link (q, a);
    }
  write_release_locked (q, w);
  pthread_mutex_unlock (&q->lock);
  return ret;
}

static void
qcow2_abort (struct vmm_block *b, void *cookie)
{
  struct qcow2 *q = b->priv;

  pthread_mutex_lock (&q->lock);
  write_release_locked (q, cookie);
  pthread_mutex_unlock (&q->lock);
}

/* Writes zeroes through the normal write path. */
static int
write_zero_data (struct vmm_block *b, uint64_t offset, uint64_t len)
{
  size_t chunk = (size_t) min_u64 (len, ZERO_CHUNK);
  void *zero;
  int ret = 0;

  if (posix_memalign (&zero, 4096, chunk) != 0)
    return -ENOMEM;
  memset (zero, 0, chunk);
  while (len > 0 && ret == 0)
    {
      struct iovec iov = { zero, (size_t) min_u64 (len, chunk) };
      ret = vmm_block_pwritev (b, &iov, 1, offset);
      offset += iov.iov_len;
      len -= iov.iov_len;
    }
  free (zero);
  return ret;
}

enum zero_mode {
  ZERO_DISCARD,
  ZERO_UNMAP,
  ZERO_KEEP,
};

/* Makes guest CLUSTER read as zeroes by its metadata alone. Returns 1 when
 * that cannot be done (a version 2 image) and the data must be zeroed. */
static int
zero_cluster (struct qcow2 *q, uint64_t cluster, enum zero_mode mode, uint64_t *skip_to)
{
  struct qcow2_cache_entry *l2;
  struct cluster_info ci;
  uint64_t want, cur, l2off, rc;
  uint8_t *slot;
  int ret;

  *skip_to = cluster + 1;
  if (q->version < 3)
    {
      if (q->backing != NULL || mode == ZERO_KEEP)
        return 1;
      want = 0;
    }
  else if (mode == ZERO_DISCARD)
    want = q->backing != NULL ? QCOW2_OFLAG_ZERO : 0;
  else
    want = QCOW2_OFLAG_ZERO;

  /* A missing L2 table already reads as zeroes without a backing file. */
  ret = l1_lookup (q, cluster >> q->l2_bits, &l2off);
  if (ret < 0)
    return ret;
  if (l2off == 0 && q->backing == NULL)
    {
      *skip_to = ((cluster >> q->l2_bits) + 1) << q->l2_bits;
      return 0;
    }

  ret = l2_for_write (q, cluster, &l2);
  if (ret < 0)
    return ret;
  slot = l2->data + 8 * (cluster & (q->l2_entries - 1));
  cur = viv_get_be64 (slot);
  if (classify (q, cur, &ci) < 0)
    {
      table_put (l2);
      return bad_l2_entry (q, cluster, cur);
    }
  if (mode == ZERO_KEEP && (ci.type == CLUSTER_NORMAL || ci.type == CLUSTER_ZERO_ALLOC))
    {
      /* Keep the allocation when it is ours alone. */
      ret = rc_get (q, ci.host / q->cluster_size, &rc);
      if (ret == 0 && rc == 1)
        {
          viv_put_be64 (slot, ci.host | QCOW2_OFLAG_COPIED | QCOW2_OFLAG_ZERO);
          l2->dirty = true;
          table_put (l2);
          return 0;
        }
    }
  if (cur != want)
    {
      viv_put_be64 (slot, want);
      l2->dirty = true;
      release_entry (q, cur);
    }
  table_put (l2);
  return 0;
}

static int
zero_range (struct vmm_block *b, uint64_t offset, uint64_t len, enum zero_mode mode)
{
  struct qcow2 *q = b->priv;
  uint64_t cs = q->cluster_size, end = offset + len;
  uint64_t first = div_up (offset, cs), last;   /* whole clusters: [first, last) */
  int ret = 0;

  /* A cluster counts as whole when the range covers the part of it inside
   * the disk (the last cluster can be short). */
  last = end == q->size ? div_up (end, cs) : end / cs;
  if (first >= last)
    return write_zero_data (b, offset, len);
  if (offset < first * cs)
    ret = write_zero_data (b, offset, first * cs - offset);

  for (uint64_t c = first; c < last && ret == 0;)
    {
      uint64_t next = c + 1;
      pthread_mutex_lock (&q->lock);
      ret = q->broken ? -EIO : zero_cluster (q, c, mode, &next);
      pthread_mutex_unlock (&q->lock);
      if (ret == 1)
        ret = write_zero_data (b, c * cs, min_u64 (cs, q->size - c * cs));
      c = next;
    }
  if (ret == 0 && end > last * cs)
    ret = write_zero_data (b, last * cs, end - last * cs);
  return ret;
}

static int
qcow2_discard (struct vmm_block *b, uint64_t offset, uint64_t len)
{
  return zero_range (b, offset, len, ZERO_DISCARD);
}

static int
qcow2_write_zeroes (struct vmm_block *b, uint64_t offset, uint64_t len, bool may_unmap)
{
  return zero_range (b, offset, len, may_unmap ? ZERO_UNMAP : ZERO_KEEP);
}

/* ---- consistency check -------------------------------------------------------------- */

struct check_ctx {
  struct qcow2 *q;
  uint32_t *refs;               /* references found, per cluster of the file */
  uint64_t ncl;
  struct vmm_block_check_result *res;
  uint64_t bad_structures;      /* corruptions other than refcount mismatches */
  uint8_t *buf;                 /* one cluster */
};

static void
problem (struct check_ctx *c, bool structural, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
problem (struct check_ctx *c, bool structural, const char *fmt, ...)
{
  va_list ap;

  c->res->corruptions++;
  if (structural)
    c->bad_structures++;
  if (c->res->first_problem != NULL)
    return;
  va_start (ap, fmt);
  if (vasprintf (&c->res->first_problem, fmt, ap) < 0)
    c->res->first_problem = NULL;
  va_end (ap);
}

static void
add_ref (struct check_ctx *c, uint64_t offset, uint64_t len, const char *what)
{
  uint64_t cs = c->q->cluster_size;

  if (len == 0)
    return;
  for (uint64_t cl = offset / cs; cl <= (offset + len - 1) / cs; cl++)
    {
      if (cl >= c->ncl)
        {
          problem (c, true, "%s at 0x%llx lies past the end of the file", what,
                   (unsigned long long) offset);
          return;
        }
      if (c->refs[cl] < UINT32_MAX)
        c->refs[cl]++;
    }
}

/* Compares the COPIED flag of an active-table entry with the refcount. */
static void
check_copied (struct check_ctx *c, uint64_t entry, uint64_t host, const char *what,
              uint64_t index)
{
  uint64_t rc;

  if (rc_get (c->q, host / c->q->cluster_size, &rc) < 0)
    return;   /* reported with the refcounts */
  if (((entry & QCOW2_OFLAG_COPIED) != 0) != (rc == 1))
    problem (c, false, "%s %llu: the COPIED flag does not match refcount %llu", what,
             (unsigned long long) index, (unsigned long long) rc);
}

static int
walk_l1 (struct check_ctx *c, const uint64_t *l1, uint32_t l1_size, bool active)
{
  struct qcow2 *q = c->q;
  uint64_t cs = q->cluster_size;

  for (uint32_t i = 0; i < l1_size; i++)
    {
      uint64_t e = l1[i], off = e & QCOW2_OFFSET_MASK;
      int ret;

      if (off == 0 && !(e & QCOW2_L1E_RESERVED))
        continue;
      if ((e & QCOW2_L1E_RESERVED) || (off & (cs - 1)) || off == 0)
        {
          problem (c, true, "L1 entry %u (0x%016llx) is invalid", i, (unsigned long long) e);
          continue;
        }
      add_ref (c, off, cs, "an L2 table");
      if (off >= q->file_size || q->file_size - off < cs)
        continue;
      if (active)
        check_copied (c, e, off, "L1 entry", i);
      ret = meta_read (q, c->buf, cs, off);
      if (ret < 0)
        return ret;
      for (uint64_t j = 0; j < q->l2_entries; j++)
        {
          uint64_t l2e = viv_get_be64 (c->buf + 8 * j);
          uint64_t guest = ((uint64_t) i << q->l2_bits) + j;
          struct cluster_info ci;

          if (l2e == 0)
            continue;
          if (classify (q, l2e, &ci) < 0)
            {
              problem (c, true, "the L2 entry of guest cluster %llu (0x%016llx) is invalid",
                       (unsigned long long) guest, (unsigned long long) l2e);
              continue;
            }
          switch (ci.type)
            {
            case CLUSTER_COMPRESSED:
              add_ref (c, ci.coffset, ci.csize, "a compressed cluster");
              if (active)
                c->res->allocated_clusters++;
              break;
            case CLUSTER_NORMAL:
            case CLUSTER_ZERO_ALLOC:
              add_ref (c, ci.host, cs, "a data cluster");
              if (active)
                {
                  c->res->allocated_clusters++;
                  if (ci.host < q->file_size)
                    check_copied (c, l2e, ci.host, "the L2 entry of guest cluster", guest);
                }
              break;
            case CLUSTER_UNALLOCATED:
            case CLUSTER_ZERO_PLAIN:
            default:
              break;
            }
        }
    }
  return 0;
}

/* Counts every reference the metadata makes, into c->refs. */
static int
check_collect (struct check_ctx *c)
{
  struct qcow2 *q = c->q;
  uint64_t cs = q->cluster_size;
  int ret;

  c->ncl = div_up (q->file_size, cs);
  if (c->ncl > (UINT64_C (1) << 32))
    return -EFBIG;
  c->refs = calloc (c->ncl ? c->ncl : 1, sizeof *c->refs);
  c->buf = alloc_cluster_buf (q);
  if (c->refs == NULL || c->buf == NULL)
    return -ENOMEM;

  add_ref (c, 0, cs, "the header");
  add_ref (c, q->l1_offset, (uint64_t) q->l1_size * 8, "the L1 table");
  ret = walk_l1 (c, q->l1, q->l1_size, true);
  if (ret < 0)
    return ret;
  for (unsigned s = 0; s < q->n_snapshots; s++)
    {
      const struct qcow2_snapshot *sn = &q->snapshots[s];
      uint64_t *l1 = calloc (sn->l1_size ? sn->l1_size : 1, sizeof *l1);

      if (l1 == NULL)
        return -ENOMEM;
      add_ref (c, sn->l1_offset, (uint64_t) sn->l1_size * 8, "a snapshot L1 table");
      ret = meta_read (q, l1, (size_t) sn->l1_size * 8, sn->l1_offset);
      if (ret == 0)
        {
          for (uint32_t i = 0; i < sn->l1_size; i++)
            l1[i] = viv_get_be64 (&l1[i]);
          ret = walk_l1 (c, l1, sn->l1_size, false);
        }
      free (l1);
      if (ret < 0)
        return ret;
    }
  if (q->n_snapshots > 0)
    add_ref (c, q->snapshots_offset, q->snapshot_table_size, "the snapshot table");
  add_ref (c, q->reftable_offset, (uint64_t) q->reftable_clusters * cs, "the refcount table");
  for (uint64_t t = 0; t < q->reftable_entries; t++)
    if (q->reftable[t] != 0)
      add_ref (c, q->reftable[t], cs, "a refcount block");
  return 0;
}

static void
check_ctx_clear (struct check_ctx *c)
{
  free (c->refs);
  free (c->buf);
}

static int
qcow2_check (struct vmm_block *b, struct vmm_block_check_result *res, GError **error)
{
  struct qcow2 *q = b->priv;
  struct check_ctx c = { .q = q, .res = res };
  int ret;

  memset (res, 0, sizeof *res);
  pthread_mutex_lock (&q->lock);
  ret = check_collect (&c);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot check %s: %s", b->path, strerror (-ret));
      goto out;
    }
  for (uint64_t cl = 0; cl < c.ncl; cl++)
    {
      uint64_t rc;
      if (rc_get (q, cl, &rc) < 0)
        {
          problem (&c, true, "the refcount of cluster %llu cannot be read",
                   (unsigned long long) cl);
          /* the whole block is unreadable: skip it */
          cl = (cl / q->refblock_entries + 1) * q->refblock_entries - 1;
          continue;
        }
      if (c.refs[cl] > rc)
        problem (&c, false, "cluster %llu has refcount %llu but %u references",
                 (unsigned long long) cl, (unsigned long long) rc, c.refs[cl]);
      else if (c.refs[cl] < rc)
        res->leaks++;
    }
  res->total_clusters = div_up (q->size, q->cluster_size);
  ret = 0;
out:
  pthread_mutex_unlock (&q->lock);
  check_ctx_clear (&c);
  return ret;
}

/* The dirty bit (lazy refcounts): rebuilds the refcounts from the tables.
 * Allocation stays past the end of the file meanwhile, where no cluster
 * the walk counted can be. */
static int
repair_refcounts (struct qcow2 *q, GError **error)
{
  struct vmm_block_check_result res = { 0 };
  struct check_ctx c = { .q = q, .res = &res };
  uint8_t be[8];
  int ret;

  ret = check_collect (&c);
  if (ret == 0 && c.bad_structures > 0)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the image was not closed cleanly and "
                   "its tables are damaged (%s); repair it with qemu-img check -r all",
                   q->b->path, res.first_problem ? res.first_problem : "");
    }
  if (ret < 0)
    goto out;
  q->alloc_floor = q->free_hint = max_u64 (c.ncl, 1);
  /* Raise first, then lower: a refcount never drops while in use. */
  for (int pass = 0; pass < 2 && ret == 0; pass++)
    for (uint64_t cl = 0; cl < c.ncl && ret == 0; cl++)
      {
        uint64_t rc;
        ret = rc_get (q, cl, &rc);
        if (ret == 0 && (pass == 0 ? c.refs[cl] > rc : c.refs[cl] < rc))
          ret = rc_set (q, cl, c.refs[cl]);
      }
  if (ret == 0)
    ret = flush_locked (q);
  if (ret == 0)
    {
      q->incompat &= ~QCOW2_INCOMPAT_DIRTY;
      viv_put_be64 (be, q->incompat);
      ret = meta_write (q, be, 8, 72);
    }
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0 && (error == NULL || *error == NULL))
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot repair the refcounts: %s", q->b->path,
                 strerror (-ret));
  q->alloc_floor = 1;
  q->free_hint = 1;
out:
  free (res.first_problem);
  check_ctx_clear (&c);
  return ret;
}

/* ---- open and close ---------------------------------------------------------------- */

static const char *
feature_name (const uint8_t *table, size_t n, unsigned type, unsigned bit, char buf[64])
{
  for (size_t i = 0; i < n; i++)
    {
      const uint8_t *e = table + 48 * i;
      if (e[0] == type && e[1] == bit)
        {
          size_t len = strnlen ((const char *) e + 2, 46);
          for (size_t k = 0; k < len; k++)
            buf[k] = g_ascii_isprint (e[2 + k]) ? (char) e[2 + k] : '?';
          buf[len] = '\0';
          return buf;
        }
    }
  snprintf (buf, 64, "bit %u", bit);
  return buf;
}

static void
qcow2_free (struct qcow2 *q)
{
  if (q == NULL)
    return;
  if (q->backing != NULL)
    vmm_block_close (q->backing);
  if (q->inflight != NULL)
    {
      GHashTableIter it;
      gpointer value;
      g_hash_table_iter_init (&it, q->inflight);
      while (g_hash_table_iter_next (&it, NULL, &value))
        free (value);
      g_hash_table_destroy (q->inflight);
    }
  cache_free (&q->l2_cache);
  cache_free (&q->rb_cache);
  for (unsigned i = 0; i < q->n_snapshots; i++)
    {
      free (q->snapshots[i].id);
      free (q->snapshots[i].name);
    }
  free (q->snapshots);
  free (q->l1);
  free (q->l1_dirty);
  free (q->reftable);
  free (q->pending_free);
  free (q->backing_name);
  free (q->backing_format);
  pthread_mutex_destroy (&q->lock);
  pthread_cond_destroy (&q->cond);
  free (q);
}

static void
qcow2_close (struct vmm_block *b)
{
  struct qcow2 *q = b->priv;

  if (q != NULL && q->inflight != NULL && g_hash_table_size (q->inflight) > 0)
    vmm_log_warning ("%s: closed with %u writes in flight; their clusters leak", b->path,
                     g_hash_table_size (q->inflight));
  qcow2_free (q);
  b->priv = NULL;
}

static char *
strndup_printable (const uint8_t *p, size_t len)
{
  char *s = malloc (len + 1);

  if (s == NULL)
    return NULL;
  memcpy (s, p, len);
  s[len] = '\0';
  return s;
}

static int
read_snapshots (struct qcow2 *q, uint32_t nb, GError **error)
{
  uint64_t off = q->snapshots_offset;
  const char *path = q->b->path;
  uint8_t h[40];

  if (nb == 0)
    return 0;
  if (nb > QCOW2_MAX_SNAPSHOTS)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: too many snapshots (nb_snapshots %u)", path,
                   nb);
      return -EINVAL;
    }
  if (off == 0 || off & (q->cluster_size - 1) || off >= q->file_size)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: snapshots_offset 0x%llx is invalid", path,
                   (unsigned long long) off);
      return -EINVAL;
    }
  q->snapshots = calloc (nb, sizeof *q->snapshots);
  if (q->snapshots == NULL)
    return -ENOMEM;
  for (uint32_t i = 0; i < nb; i++)
    {
      struct qcow2_snapshot *s = &q->snapshots[q->n_snapshots];
      uint32_t id_len, name_len, extra_len, entry_len;
      uint8_t extra[QCOW2_MAX_SNAPSHOT_EXTRA];
      uint8_t *strings;
      int ret;

      if (off + sizeof h > q->file_size
          || off - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the snapshot table is truncated "
                       "(snapshot %u)", path, i);
          return -EINVAL;
        }
      ret = meta_read (q, h, sizeof h, off);
      if (ret < 0)
        {
          g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot read the snapshot table: %s", path,
                       strerror (-ret));
          return ret;
        }
      s->l1_offset = viv_get_be64 (h);
      s->l1_size = viv_get_be32 (h + 8);
      id_len = viv_get_be16 (h + 12);
      name_len = viv_get_be16 (h + 14);
      s->date_sec = viv_get_be32 (h + 16);
      s->date_nsec = viv_get_be32 (h + 20);
      s->vm_state_size = viv_get_be32 (h + 32);
      extra_len = viv_get_be32 (h + 36);
      if (extra_len > QCOW2_MAX_SNAPSHOT_EXTRA)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: snapshot %u: extra_data_size %u is too "
                       "large", path, i, extra_len);
          return -EINVAL;
        }
      entry_len = 40 + extra_len + id_len + name_len;
      /* QEMU does not write the padding of the last entry: the file may
       * end right after its name. */
      if (off + entry_len > q->file_size)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the snapshot table is truncated "
                       "(snapshot %u)", path, i);
          return -EINVAL;
        }
      if (s->l1_offset & (q->cluster_size - 1) || s->l1_offset == 0
          || (uint64_t) s->l1_size * 8 > QCOW2_MAX_L1_BYTES
          || s->l1_offset + (uint64_t) s->l1_size * 8 > q->file_size)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: snapshot %u: its L1 table (offset "
                       "0x%llx, %u entries) is invalid", path, i, (unsigned long long) s->l1_offset,
                       s->l1_size);
          return -EINVAL;
        }
      if (extra_len > 0)
        {
          ret = meta_read (q, extra, extra_len, off + 40);
          if (ret < 0)
            return ret;
          if (extra_len >= 8)
            s->vm_state_size = viv_get_be64 (extra);
        }
      strings = malloc ((size_t) id_len + name_len + 1);
      if (strings == NULL)
        return -ENOMEM;
      ret = meta_read (q, strings, (size_t) id_len + name_len, off + 40 + extra_len);
      if (ret == 0)
        {
          s->id = strndup_printable (strings, id_len);
          s->name = strndup_printable (strings + id_len, name_len);
        }
      free (strings);
      if (ret < 0)
        return ret;
      q->n_snapshots++;
      if (s->id == NULL || s->name == NULL)
        return -ENOMEM;
      off += (entry_len + 7) & ~7u;
    }
  q->snapshot_table_size = off - q->snapshots_offset;
  return 0;
}

static int
open_backing (struct qcow2 *q, const struct vmm_block_chain *chain, GError **error)
{
  struct vmm_block *b = q->b;
  struct vmm_block_chain link = {
    .dev = b->dev, .ino = b->ino, .up = chain, .depth = chain ? chain->depth + 1 : 1,
  };
  struct vmm_block_open_opts bo = { .read_only = true, .direct = b->direct };
  g_autoptr (GError) why = NULL;
  char *path;
  int ret;

  if (link.depth >= VMM_BLOCK_MAX_CHAIN)
    {
      g_set_error (error, VMM_BLOCK_ERROR, ELOOP, "%s: the backing chain is deeper than %u images",
                   b->path, VMM_BLOCK_MAX_CHAIN);
      return -ELOOP;
    }
  if (q->backing_format == NULL)
    bo.format = VMM_BLOCK_FORMAT_AUTO;
  else if (strcmp (q->backing_format, "qcow2") == 0)
    bo.format = VMM_BLOCK_FORMAT_QCOW2;
  else if (strcmp (q->backing_format, "raw") == 0)
    bo.format = VMM_BLOCK_FORMAT_RAW;
  else
    {
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP,
                   "%s: backing file format “%s” is not supported", b->path, q->backing_format);
      return -ENOTSUP;
    }
  path = vmm_block_resolve_backing (b->path, q->backing_name);
  if (path == NULL)
    return -ENOMEM;
  bo.path = path;
  ret = vmm_block_open_internal (&q->backing, &bo, &link, 0, &why);
  /* A loop is named as it is, however deep it was found. */
  if (ret == -ELOOP)
    g_propagate_error (error, g_steal_pointer (&why));
  else if (ret < 0)
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "backing file %s of %s cannot be opened: %s", path,
                 b->path, why->message);
  free (path);
  if (ret == 0 && q->backing->alignment > b->alignment)
    b->alignment = q->backing->alignment;
  return ret;
}

int
vmm_block_qcow2_open (struct vmm_block *b, const struct vmm_block_chain *chain,
                      unsigned flags, GError **error)
{
  const char *path = b->path;
  struct qcow2 *q;
  uint8_t *hdr = NULL;
  const uint8_t *features = NULL;
  size_t n_features = 0;
  uint64_t cs, backing_offset, hdr_len, l1_needed;
  uint32_t backing_size, crypt, nb_snapshots;
  struct stat st;
  char namebuf[64];
  int ret;

  q = calloc (1, sizeof *q);
  if (q == NULL)
    return -ENOMEM;
  pthread_mutex_init (&q->lock, NULL);
  pthread_cond_init (&q->cond, NULL);
  q->b = b;
  q->fd = b->fd;
  q->align = b->alignment;
  q->free_hint = q->alloc_floor = 1;
  if (fstat (b->fd, &st) < 0)
    {
      ret = -errno;
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot stat %s: %s", path, strerror (-ret));
      goto fail;
    }
  q->file_size = (uint64_t) st.st_size;

  /* The fixed part of the header */
  hdr = malloc (QCOW2_V3_HEADER_LEN);
  if (hdr == NULL)
    {
      ret = -ENOMEM;
      goto fail;
    }
  if (q->file_size < QCOW2_V2_HEADER_LEN)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the qcow2 header is truncated (the file "
                   "has %llu bytes)", path, (unsigned long long) q->file_size);
      goto fail;
    }
  ret = meta_read (q, hdr, QCOW2_V3_HEADER_LEN, 0);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read %s: %s", path, strerror (-ret));
      goto fail;
    }
  if (viv_get_be32 (hdr) != QCOW2_MAGIC)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: not a qcow2 image (bad magic)", path);
      goto fail;
    }
  q->version = viv_get_be32 (hdr + 4);
  if (q->version != 2 && q->version != 3)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: unsupported qcow2 version %u", path,
                   q->version);
      goto fail;
    }
  if (q->version == 3 && q->file_size < QCOW2_V3_HEADER_MIN_LEN)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the qcow2 header is truncated (the file "
                   "has %llu bytes)", path, (unsigned long long) q->file_size);
      goto fail;
    }
  backing_offset = viv_get_be64 (hdr + 8);
  backing_size = viv_get_be32 (hdr + 16);
  q->cluster_bits = viv_get_be32 (hdr + 20);
  q->size = viv_get_be64 (hdr + 24);
  crypt = viv_get_be32 (hdr + 32);
  q->l1_size = viv_get_be32 (hdr + 36);
  q->l1_offset = viv_get_be64 (hdr + 40);
  q->reftable_offset = viv_get_be64 (hdr + 48);
  q->reftable_clusters = viv_get_be32 (hdr + 56);
  nb_snapshots = viv_get_be32 (hdr + 60);
  q->snapshots_offset = viv_get_be64 (hdr + 64);
  if (q->version >= 3)
    {
      q->incompat = viv_get_be64 (hdr + 72);
      q->compat = viv_get_be64 (hdr + 80);
      q->autoclear = viv_get_be64 (hdr + 88);
      q->refcount_order = viv_get_be32 (hdr + 96);
      q->header_length = viv_get_be32 (hdr + 100);
    }
  else
    {
      q->refcount_order = 4;
      q->header_length = QCOW2_V2_HEADER_LEN;
    }

  if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: cluster_bits %u is out of range (%u to %u)",
                   path, q->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
      goto fail;
    }
  cs = q->cluster_size = UINT64_C (1) << q->cluster_bits;
  if (q->version >= 3
      && (q->header_length < QCOW2_V3_HEADER_MIN_LEN || q->header_length % 8 != 0
          || q->header_length > cs))
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: header_length %u is invalid", path,
                   q->header_length);
      goto fail;
    }
  q->compression_type = q->header_length > 104 ? hdr[104] : QCOW2_COMPRESSION_ZLIB;
  if (q->refcount_order > 6)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: refcount_order %u is out of range (0 to 6)",
                   path, q->refcount_order);
      goto fail;
    }

  /* The whole header cluster: extensions and the backing file name */
  free (hdr);
  hdr_len = min_u64 (cs, q->file_size);
  hdr = malloc (cs);
  if (hdr == NULL)
    {
      ret = -ENOMEM;
      goto fail;
    }
  memset (hdr, 0, cs);
  ret = meta_read (q, hdr, hdr_len, 0);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read %s: %s", path, strerror (-ret));
      goto fail;
    }
  {
    uint64_t off = q->header_length;
    for (unsigned i = 0; i < 4096 && off + 8 <= cs; i++)
      {
        uint32_t type = viv_get_be32 (hdr + off), len = viv_get_be32 (hdr + off + 4);
        const uint8_t *data = hdr + off + 8;

        if (type == QCOW2_EXT_END)
          break;
        if (len > cs - off - 8)
          {
            ret = -EINVAL;
            g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: header extension 0x%08x does not fit "
                         "in the header cluster", path, type);
            goto fail;
          }
        if (type == QCOW2_EXT_BACKING_FORMAT)
          {
            free (q->backing_format);
            q->backing_format = strndup_printable (data, strnlen ((const char *) data, len));
            if (q->backing_format == NULL)
              {
                ret = -ENOMEM;
                goto fail;
              }
          }
        else if (type == QCOW2_EXT_FEATURE_TABLE)
          {
            features = data;
            n_features = len / 48;
          }
        off += 8 + (((uint64_t) len + 7) & ~UINT64_C (7));
      }
  }

  /* Features */
  if (crypt != 0)
    {
      ret = -ENOTSUP;
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: encryption (crypt_method %u) is not "
                   "supported", path, crypt);
      goto fail;
    }
  if (q->incompat & ~UINT64_C (0x1f))
    {
      for (unsigned bit = 5; bit < 64; bit++)
        if (q->incompat & (UINT64_C (1) << bit))
          {
            ret = -ENOTSUP;
            g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported incompatible feature: "
                         "%s", path, feature_name (features, n_features, 0, bit, namebuf));
            goto fail;
          }
    }
  if (q->incompat & QCOW2_INCOMPAT_EXTL2)
    {
      ret = -ENOTSUP;
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported incompatible feature: "
                   "extended L2 entries (subclusters)", path);
      goto fail;
    }
  if (q->incompat & QCOW2_INCOMPAT_DATA_FILE)
    {
      ret = -ENOTSUP;
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported incompatible feature: "
                   "external data file", path);
      goto fail;
    }
  if (q->incompat & QCOW2_INCOMPAT_COMPRESSION)
    {
      if (q->compression_type == QCOW2_COMPRESSION_ZLIB)
        {
          ret = -EINVAL;
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the compression type bit is set but "
                       "compression_type is zlib", path);
          goto fail;
        }
      if (q->compression_type != QCOW2_COMPRESSION_ZSTD)
        {
          ret = -ENOTSUP;
          g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported compression type %u", path,
                       q->compression_type);
          goto fail;
        }
    }
  else if (q->compression_type != QCOW2_COMPRESSION_ZLIB)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: compression_type %u without the "
                   "compression type feature bit", path, q->compression_type);
      goto fail;
    }
  if ((q->incompat & QCOW2_INCOMPAT_CORRUPT) && !b->read_only)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the image is marked corrupt; it can only "
                   "be opened read-only (repair it with qemu-img check -r all)", path);
      goto fail;
    }

  /* Derived sizes */
  q->refcount_bits = 1u << q->refcount_order;
  q->refcount_max = q->refcount_bits == 64 ? UINT64_MAX
                                           : (UINT64_C (1) << q->refcount_bits) - 1;
  q->refblock_entries = cs * 8 / q->refcount_bits;
  q->l2_bits = q->cluster_bits - 3;
  q->l2_entries = cs / 8;
  q->csize_shift = 62 - (q->cluster_bits - 8);
  q->csize_mask = (UINT64_C (1) << (q->cluster_bits - 8)) - 1;
  q->coffset_mask = (UINT64_C (1) << q->csize_shift) - 1;

  /* L1 table */
  l1_needed = div_up (div_up (q->size, cs), q->l2_entries);
  if ((uint64_t) q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: l1_size %u is too large", path, q->l1_size);
      goto fail;
    }
  if (q->l1_size < l1_needed)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the L1 table is too small for the virtual "
                   "size (l1_size %u, %llu needed)", path, q->l1_size,
                   (unsigned long long) l1_needed);
      goto fail;
    }
  if (q->l1_offset & (cs - 1) || (q->l1_size > 0 && q->l1_offset == 0))
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: l1_table_offset 0x%llx is not a cluster "
                   "boundary past the header", path, (unsigned long long) q->l1_offset);
      goto fail;
    }
  if (q->l1_size > 0
      && (q->l1_offset > q->file_size || q->file_size - q->l1_offset < (uint64_t) q->l1_size * 8))
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the L1 table (l1_table_offset 0x%llx, %u "
                   "entries) lies past the end of the file", path,
                   (unsigned long long) q->l1_offset, q->l1_size);
      goto fail;
    }
  q->l1_clusters = (uint32_t) div_up ((uint64_t) q->l1_size * 8, cs);
  q->l1 = calloc (q->l1_clusters ? q->l1_clusters * (cs / 8) : 1, sizeof *q->l1);
  q->l1_dirty = calloc (q->l1_clusters ? q->l1_clusters : 1, sizeof *q->l1_dirty);
  if (q->l1 == NULL || q->l1_dirty == NULL)
    {
      ret = -ENOMEM;
      goto fail;
    }
  ret = meta_read (q, q->l1, (size_t) q->l1_size * 8, q->l1_offset);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read the L1 table of %s: %s", path,
                   strerror (-ret));
      goto fail;
    }
  for (uint32_t i = 0; i < q->l1_size; i++)
    q->l1[i] = viv_get_be64 (&q->l1[i]);

  /* Refcount table */
  if (q->reftable_offset == 0 || q->reftable_offset & (cs - 1) || q->reftable_clusters == 0
      || (uint64_t) q->reftable_clusters * cs > QCOW2_MAX_REFTABLE_BYTES
      || q->reftable_offset > q->file_size
      || q->file_size - q->reftable_offset < (uint64_t) q->reftable_clusters * cs)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the refcount table (refcount_table_offset "
                   "0x%llx, %u clusters) is invalid or lies past the end of the file", path,
                   (unsigned long long) q->reftable_offset, q->reftable_clusters);
      goto fail;
    }
  q->reftable_entries = (uint64_t) q->reftable_clusters * cs / 8;
  q->reftable = calloc (q->reftable_entries, sizeof *q->reftable);
  if (q->reftable == NULL)
    {
      ret = -ENOMEM;
      goto fail;
    }
  ret = meta_read (q, q->reftable, q->reftable_entries * 8, q->reftable_offset);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read the refcount table of %s: %s", path,
                   strerror (-ret));
      goto fail;
    }
  for (uint64_t t = 0; t < q->reftable_entries; t++)
    {
      q->reftable[t] = viv_get_be64 (&q->reftable[t]);
      if (q->reftable[t] & (cs - 1))
        {
          ret = -EINVAL;
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: refcount table entry %llu (0x%llx) is "
                       "not aligned to a cluster", path, (unsigned long long) t,
                       (unsigned long long) q->reftable[t]);
          goto fail;
        }
    }

  ret = read_snapshots (q, nb_snapshots, error);
  if (ret < 0)
    goto fail;

  /* Backing file name: in the header cluster, after the extensions */
  if (backing_offset != 0 && backing_size > 0)
    {
      if (backing_size > QCOW2_MAX_BACKING_NAME || backing_offset >= cs
          || backing_size > cs - backing_offset || backing_offset + backing_size > hdr_len
          || backing_offset < q->header_length)
        {
          ret = -EINVAL;
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the backing file name (offset 0x%llx, "
                       "%u bytes) is invalid", path, (unsigned long long) backing_offset,
                       backing_size);
          goto fail;
        }
      if (memchr (hdr + backing_offset, 0, backing_size) != NULL)
        {
          ret = -EINVAL;
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the backing file name contains a NUL",
                       path);
          goto fail;
        }
      q->backing_name = strndup_printable (hdr + backing_offset, backing_size);
      if (q->backing_name == NULL)
        {
          ret = -ENOMEM;
          goto fail;
        }
    }

  {
    unsigned n_l2 = (unsigned) (L2_CACHE_BYTES / cs), n_rb = (unsigned) (RB_CACHE_BYTES / cs);
    n_l2 = n_l2 < L2_CACHE_MIN ? L2_CACHE_MIN : n_l2 > L2_CACHE_MAX ? L2_CACHE_MAX : n_l2;
    n_rb = n_rb < RB_CACHE_MIN ? RB_CACHE_MIN : n_rb > RB_CACHE_MAX ? RB_CACHE_MAX : n_rb;
    ret = cache_init (&q->l2_cache, n_l2, cs);
    if (ret == 0)
      ret = cache_init (&q->rb_cache, n_rb, cs);
    if (ret < 0)
      goto fail;
  }
  q->inflight = g_hash_table_new (g_int64_hash, g_int64_equal);

  b->priv = q;
  b->size = q->size;
  b->drv = &vmm_block_qcow2_driver;

  /* O_DIRECT cannot write clusters smaller than a device block. */
  if (b->direct && cs < b->alignment)
    {
      int fl = fcntl (b->fd, F_GETFL);
      vmm_log_warning ("%s: %llu-byte clusters are smaller than the %u-byte blocks O_DIRECT "
                       "needs; using the page cache", path, (unsigned long long) cs,
                       b->alignment);
      if (fl >= 0)
        fcntl (b->fd, F_SETFL, fl & ~O_DIRECT);
      b->direct = false;
      b->alignment = q->align = 1;
    }

  if (!b->read_only)
    {
      uint8_t be[8];

      /* Autoclear bits we do not know (all of them) must go before a write. */
      if (q->autoclear != 0)
        {
          q->autoclear = 0;
          memset (be, 0, sizeof be);
          ret = meta_write (q, be, 8, 88);
          if (ret == 0)
            ret = vmm_block_fdatasync_fd (q->fd);
          if (ret < 0)
            {
              g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot write %s: %s", path,
                           strerror (-ret));
              goto fail_priv;
            }
        }
      if (q->incompat & QCOW2_INCOMPAT_DIRTY)
        {
          vmm_log_info ("%s: the image was not closed cleanly; rebuilding its refcounts", path);
          ret = repair_refcounts (q, error);
          if (ret < 0)
            goto fail_priv;
        }
      /* The allocator trusts refcounts: metadata counted as free would be
       * handed out and overwritten. */
      {
        struct { uint64_t off, len; const char *what; } meta[] = {
          { 0, cs, "header" },
          { q->l1_offset, (uint64_t) q->l1_size * 8, "L1 table" },
          { q->reftable_offset, (uint64_t) q->reftable_clusters * cs, "refcount table" },
          { q->snapshots_offset, q->n_snapshots ? q->snapshot_table_size : 0, "snapshot table" },
        };
        for (unsigned i = 0; i < G_N_ELEMENTS (meta); i++)
          for (uint64_t o = meta[i].off; meta[i].len > 0 && o < meta[i].off + meta[i].len; o += cs)
            {
              uint64_t rc;
              ret = rc_get (q, o / cs, &rc);
              if (ret < 0 || rc == 0)
                {
                  g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the refcount of the %s is %s; "
                               "the image is corrupt", path, meta[i].what,
                               ret < 0 ? "unreadable" : "0");
                  ret = -EINVAL;
                  goto fail_priv;
                }
            }
      }
    }

  if (q->backing_name != NULL && !(flags & VMM_BLOCK_OPEN_NO_BACKING))
    {
      ret = open_backing (q, chain, error);
      if (ret < 0)
        goto fail_priv;
    }
  free (hdr);
  return 0;

fail_priv:
  b->priv = NULL;
  b->drv = NULL;
fail:
  free (hdr);
  qcow2_free (q);
  return ret;
}

/* ---- info ------------------------------------------------------------------------ */

static int
qcow2_info (struct vmm_block *b, struct vmm_block_image_info *info, GError **error)
{
  struct qcow2 *q = b->priv;

  (void) error;
  info->cluster_size = (uint32_t) q->cluster_size;
  info->dirty = (q->incompat & QCOW2_INCOMPAT_DIRTY) != 0;
  info->qcow2_version = q->version;
  info->compression_type = q->compression_type;
  if (q->backing_name != NULL && (info->backing_file = strdup (q->backing_name)) == NULL)
    return -ENOMEM;
  if (q->backing_format != NULL && (info->backing_format = strdup (q->backing_format)) == NULL)
    return -ENOMEM;
  if (q->n_snapshots > 0)
    {
      info->snapshots = calloc (q->n_snapshots, sizeof *info->snapshots);
      if (info->snapshots == NULL)
        return -ENOMEM;
      for (unsigned i = 0; i < q->n_snapshots; i++)
        {
          struct vmm_block_snapshot_info *s = &info->snapshots[i];
          s->id = strdup (q->snapshots[i].id);
          s->name = strdup (q->snapshots[i].name);
          s->vm_state_size = q->snapshots[i].vm_state_size;
          s->date_sec = q->snapshots[i].date_sec;
          info->n_snapshots++;
          if (s->id == NULL || s->name == NULL)
            return -ENOMEM;
        }
    }
  return 0;
}

/* ---- create ------------------------------------------------------------------------ */

static size_t
put_extension (uint8_t *p, uint32_t type, const void *data, uint32_t len)
{
  viv_put_be32 (p, type);
  viv_put_be32 (p + 4, len);
  if (len > 0)
    memcpy (p + 8, data, len);
  return 8 + ((len + 7u) & ~7u);
}

int
vmm_block_qcow2_create (int fd, const struct vmm_block_create_opts *opts, uint64_t size,
                        GError **error)
{
  static const struct { uint8_t type, bit; const char *name; } feature_table[] = {
    { 0, 0, "dirty bit" },
    { 0, 1, "corrupt bit" },
    { 0, 2, "external data file" },
    { 0, 3, "compression type" },
    { 0, 4, "extended L2 entries" },
    { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },
    { 2, 1, "raw external data" },
  };
  uint64_t cs = opts->cluster_size ? opts->cluster_size : QCOW2_DEFAULT_CLUSTER;
  uint64_t E, l1_size, l1c, R = 1, B = 1, total;
  uint32_t cluster_bits = 0;
  const char *backing_fmt = NULL;
  uint8_t *hdr = NULL, *table = NULL, *blocks = NULL, feat[8 * 48];
  size_t off, feat_len;
  int ret;

  if (cs < 512 || cs > (UINT64_C (1) << QCOW2_MAX_CLUSTER_BITS) || (cs & (cs - 1)) != 0)
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EINVAL, "the cluster size must be a power of "
                           "two from 512 bytes to 2 MiB");
      return -EINVAL;
    }
  while ((UINT64_C (1) << cluster_bits) < cs)
    cluster_bits++;
  if (size % 512 != 0)
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EINVAL, "the size of a qcow2 image must be a "
                           "multiple of 512 bytes");
      return -EINVAL;
    }
  l1_size = div_up (div_up (size, cs), cs / 8);
  if (l1_size * 8 > QCOW2_MAX_L1_BYTES)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EFBIG, "the size is too large for %llu-byte clusters",
                   (unsigned long long) cs);
      return -EFBIG;
    }
  l1c = div_up (l1_size * 8, cs);
  E = cs * 8 / 16;
  for (int i = 0; i < 16; i++)
    {
      uint64_t B2, R2;
      total = 1 + R + B + l1c;
      B2 = div_up (total, E);
      R2 = div_up (B2 * 8, cs);
      if (B2 <= B && R2 <= R)
        break;
      B = max_u64 (B, B2);
      R = max_u64 (R, R2);
    }
  total = 1 + R + B + l1c;

  if (opts->backing_file != NULL)
    {
      size_t blen = strlen (opts->backing_file);
      if (blen == 0 || blen > QCOW2_MAX_BACKING_NAME)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "the backing file name is empty or longer "
                       "than %u bytes", QCOW2_MAX_BACKING_NAME);
          return -EINVAL;
        }
      if (opts->backing_format == VMM_BLOCK_FORMAT_QCOW2)
        backing_fmt = "qcow2";
      else if (opts->backing_format == VMM_BLOCK_FORMAT_RAW)
        backing_fmt = "raw";
      else
        {
          /* Record the format, so nobody has to probe it again. */
          struct vmm_block *bb;

          ret = vmm_block_open_new_backing (opts, VMM_BLOCK_OPEN_NO_BACKING, &bb, error);
          if (ret < 0)
            return ret;
          backing_fmt = vmm_block_format (bb) == VMM_BLOCK_FORMAT_QCOW2 ? "qcow2" : "raw";
          vmm_block_close (bb);
        }
    }

  hdr = calloc (1, cs);
  table = calloc (R, cs);
  blocks = calloc (B, cs);
  if (hdr == NULL || table == NULL || blocks == NULL)
    {
      ret = -ENOMEM;
      goto out;
    }
  viv_put_be32 (hdr, QCOW2_MAGIC);
  viv_put_be32 (hdr + 4, 3);
  viv_put_be32 (hdr + 20, cluster_bits);
  viv_put_be64 (hdr + 24, size);
  viv_put_be32 (hdr + 36, (uint32_t) l1_size);
  viv_put_be64 (hdr + 40, (1 + R + B) * cs);
  viv_put_be64 (hdr + 48, cs);
  viv_put_be32 (hdr + 56, (uint32_t) R);
  viv_put_be32 (hdr + 96, 4);
  viv_put_be32 (hdr + 100, QCOW2_V3_HEADER_LEN);
  off = QCOW2_V3_HEADER_LEN;
  if (backing_fmt != NULL)
    off += put_extension (hdr + off, QCOW2_EXT_BACKING_FORMAT, backing_fmt,
                          (uint32_t) strlen (backing_fmt));
  /* The feature name table helps older readers explain themselves; it is
   * left out where it does not fit (512-byte clusters). */
  memset (feat, 0, sizeof feat);
  for (size_t i = 0; i < G_N_ELEMENTS (feature_table); i++)
    {
      feat[48 * i] = feature_table[i].type;
      feat[48 * i + 1] = feature_table[i].bit;
      memcpy (feat + 48 * i + 2, feature_table[i].name, strlen (feature_table[i].name));
    }
  feat_len = sizeof feat;
  if (off + 8 + feat_len + 8 + (opts->backing_file ? strlen (opts->backing_file) : 0) <= cs)
    off += put_extension (hdr + off, QCOW2_EXT_FEATURE_TABLE, feat, (uint32_t) feat_len);
  off += put_extension (hdr + off, QCOW2_EXT_END, NULL, 0);
  if (opts->backing_file != NULL)
    {
      size_t blen = strlen (opts->backing_file);
      if (off + blen > cs)
        {
          ret = -EINVAL;
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "the backing file name does not fit in a "
                       "%llu-byte header cluster", (unsigned long long) cs);
          goto out;
        }
      viv_put_be64 (hdr + 8, off);
      viv_put_be32 (hdr + 16, (uint32_t) blen);
      memcpy (hdr + off, opts->backing_file, blen);
    }

  for (uint64_t j = 0; j < B; j++)
    viv_put_be64 (table + 8 * j, (1 + R + j) * cs);
  for (uint64_t c = 0; c < total; c++)
    viv_put_be16 (blocks + 2 * c, 1);   /* blocks are contiguous: index c is cluster c */

  ret = vmm_block_pwrite_fd (fd, hdr, cs, 0, 1);
  if (ret == 0)
    ret = vmm_block_pwrite_fd (fd, table, R * cs, cs, 1);
  if (ret == 0)
    ret = vmm_block_pwrite_fd (fd, blocks, B * cs, (1 + R) * cs, 1);
  if (ret == 0 && ftruncate (fd, (off_t) (total * cs)) < 0)
    ret = -errno;
  if (ret < 0)
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot write %s: %s", opts->path, strerror (-ret));
out:
  free (hdr);
  free (table);
  free (blocks);
  return ret;
}

/* ---- snapshot refcounts ------------------------------------------------------------ */

struct delta {
  uint64_t cluster;
  int64_t d;
};

static int
delta_add (GHashTable *h, uint64_t cluster, int addend)
{
  struct delta *d = g_hash_table_lookup (h, &cluster);

  if (d == NULL)
    {
      d = calloc (1, sizeof *d);
      if (d == NULL)
        return -ENOMEM;
      d->cluster = cluster;
      g_hash_table_insert (h, &d->cluster, d);
    }
  d->d += addend;
  return 0;
}

int
qcow2_update_active_refcounts (struct vmm_block *block, int addend, GError **error)
{
  struct qcow2 *q;
  GHashTable *h;
  GHashTableIter it;
  gpointer value;
  uint64_t cs;
  uint32_t epc;
  int ret = 0;

  if (block->format != VMM_BLOCK_FORMAT_QCOW2 || (addend != 1 && addend != -1))
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EINVAL, "not a qcow2 image");
      return -EINVAL;
    }
  if (block->read_only)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EROFS, "%s: %s", block->path, g_strerror (EROFS));
      return -EROFS;
    }
  q = block->priv;
  cs = q->cluster_size;
  epc = (uint32_t) (cs / 8);
  h = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, free);
  pthread_mutex_lock (&q->lock);
  while (q->cows_running > 0)
    pthread_cond_wait (&q->cond, &q->lock);

  /* What would change, summed per cluster */
  for (uint32_t i = 0; i < q->l1_size && ret == 0; i++)
    {
      struct qcow2_cache_entry *e = NULL;
      uint64_t off;

      ret = l1_lookup (q, i, &off);
      if (ret < 0 || off == 0)
        continue;
      ret = delta_add (h, off / cs, addend);
      if (ret == 0)
        ret = table_get (q, &q->l2_cache, off, true, &e);
      for (uint64_t j = 0; ret == 0 && j < q->l2_entries; j++)
        {
          uint64_t l2e = viv_get_be64 (e->data + 8 * j);
          struct cluster_info ci;
          if (l2e == 0)
            continue;
          if (classify (q, l2e, &ci) < 0)
            ret = bad_l2_entry (q, ((uint64_t) i << q->l2_bits) + j, l2e);
          else if (ci.type == CLUSTER_NORMAL || ci.type == CLUSTER_ZERO_ALLOC)
            ret = delta_add (h, ci.host / cs, addend);
          else if (ci.type == CLUSTER_COMPRESSED)
            for (uint64_t c = ci.coffset / cs; ret == 0 && c <= (ci.coffset + ci.csize - 1) / cs;
                 c++)
              ret = delta_add (h, c, addend);
        }
      table_put (e);
    }
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot walk the L1 table: %s", block->path,
                   strerror (-ret));
      goto out;
    }

  /* Nothing changes unless everything can. */
  g_hash_table_iter_init (&it, h);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      struct delta *d = value;
      uint64_t rc;
      ret = rc_get (q, d->cluster, &rc);
      if (ret < 0)
        goto out;
      if ((d->d > 0 && rc > q->refcount_max - (uint64_t) d->d)
          || (d->d < 0 && rc < (uint64_t) -d->d))
        {
          ret = -ERANGE;
          g_set_error (error, VMM_BLOCK_ERROR, ERANGE, "%s: the refcount of cluster %llu (%llu) "
                       "would leave the range 0 to %llu", block->path,
                       (unsigned long long) d->cluster, (unsigned long long) rc,
                       (unsigned long long) q->refcount_max);
          goto out;
        }
    }
  g_hash_table_iter_init (&it, h);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      struct delta *d = value;
      uint64_t rc;
      ret = rc_get (q, d->cluster, &rc);
      if (ret == 0)
        ret = rc_set (q, d->cluster, rc + (uint64_t) d->d);
      if (ret < 0)
        goto out;
    }

  /* COPIED flags of the active tables follow the refcounts. */
  for (uint32_t i = 0; i < q->l1_size && ret == 0; i++)
    {
      struct qcow2_cache_entry *e;
      uint64_t off, rc;

      ret = l1_lookup (q, i, &off);
      if (ret < 0 || off == 0)
        continue;
      ret = rc_get (q, off / cs, &rc);
      if (ret < 0)
        break;
      if (((q->l1[i] & QCOW2_OFLAG_COPIED) != 0) != (rc == 1))
        {
          q->l1[i] ^= QCOW2_OFLAG_COPIED;
          q->l1_dirty[i / epc] = true;
        }
      ret = table_get (q, &q->l2_cache, off, true, &e);
      if (ret < 0)
        break;
      for (uint64_t j = 0; ret == 0 && j < q->l2_entries; j++)
        {
          uint64_t l2e = viv_get_be64 (e->data + 8 * j);
          struct cluster_info ci;
          if (classify (q, l2e, &ci) < 0
              || (ci.type != CLUSTER_NORMAL && ci.type != CLUSTER_ZERO_ALLOC))
            continue;
          ret = rc_get (q, ci.host / cs, &rc);
          if (ret == 0 && ((l2e & QCOW2_OFLAG_COPIED) != 0) != (rc == 1))
            {
              viv_put_be64 (e->data + 8 * j, l2e ^ QCOW2_OFLAG_COPIED);
              e->dirty = true;
            }
        }
      table_put (e);
    }
out:
  if (ret < 0 && (error == NULL || *error == NULL))
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot update refcounts: %s", block->path,
                 strerror (-ret));
  pthread_mutex_unlock (&q->lock);
  g_hash_table_destroy (h);
  return ret;
}

const struct vmm_block_driver vmm_block_qcow2_driver = {
  .name = "qcow2",
  .close = qcow2_close,
  .map_read = qcow2_map_read,
  .map_write = qcow2_map_write,
  .commit = qcow2_commit,
  .abort = qcow2_abort,
  .read_sync = qcow2_read_sync,
  .flush = qcow2_flush,
  .discard = qcow2_discard,
  .write_zeroes = qcow2_write_zeroes,
  .info = qcow2_info,
  .check = qcow2_check,
};
