/* block/qcow2-refcount.c: qcow2 refcounts, cluster allocation, check and repair
 *
 * Refcounts say which host clusters are in use; the allocator hands out
 * the first cluster whose refcount is 0, growing the refcount table and
 * adding refcount blocks as the file grows. The check counts every
 * reference the tables make and compares; the repair of an image that was
 * not closed cleanly (the dirty bit) rebuilds the refcounts from that count.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "block/qcow2.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "viv-bytes.h"

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
  return qcow2_table_get (q, &q->rb_cache, off, true, out);
}

int
qcow2_rc_get (struct qcow2 *q, uint64_t cluster, uint64_t *rc)
{
  struct qcow2_cache_entry *e;
  int ret = refblock_get (q, cluster / q->refblock_entries, &e);

  if (ret < 0)
    return ret;
  *rc = e != NULL ? rb_get (q, e->data, cluster % q->refblock_entries) : 0;
  qcow2_table_put (e);
  return 0;
}

static int reftable_grow (struct qcow2 *q, uint64_t need_entries);

/* Writes the refcount table entry T (8 bytes: atomic on every disk). */
static int
reftable_write_entry (struct qcow2 *q, uint64_t t)
{
  uint8_t be[8];

  viv_put_be64 (be, q->reftable[t]);
  return qcow2_meta_write (q, be, 8, q->reftable_offset + t * 8);
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

  buf = qcow2_alloc_cluster_buf (q);
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
      ret = qcow2_alloc_cluster (q, &host);
      if (ret < 0)
        goto out;
      block = host / cs;
    }
  qcow2_cache_forget (&q->l2_cache, block * cs);
  qcow2_cache_forget (&q->rb_cache, block * cs);
  q->alloc_end = max_u64 (q->alloc_end, block + 1);
  ret = qcow2_grow_file (q, q->alloc_end * cs);
  if (ret == 0)
    ret = qcow2_meta_write (q, buf, cs, block * cs);
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

int
qcow2_rc_set (struct qcow2 *q, uint64_t cluster, uint64_t value)
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
  qcow2_table_put (e);
  return 0;
}

/* Adds DELTA to a refcount: -ERANGE past the maximum, -EIO below zero (the
 * metadata is inconsistent then). */
int
qcow2_rc_add (struct qcow2 *q, uint64_t cluster, int64_t delta, uint64_t *result)
{
  uint64_t rc;
  int ret = qcow2_rc_get (q, cluster, &rc);

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
  return qcow2_rc_set (q, cluster, rc);
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

  ret = qcow2_meta_write (q, blocks, nb * cs, (A + T) * cs);
  if (ret == 0)
    ret = qcow2_meta_write (q, table, T * cs, A * cs);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    goto out;
  viv_put_be64 (hdr, A * cs);
  viv_put_be32 (hdr + 8, (uint32_t) T);
  ret = qcow2_meta_write (q, hdr, sizeof hdr, 48);
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
      int r = qcow2_rc_add (q, old_offset / cs + i, -1, NULL);
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
int
qcow2_alloc_cluster (struct qcow2 *q, uint64_t *host)
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
      qcow2_table_put (e);
      if (found)
        break;
      idx = (t + 1) * E;
    }
  ret = qcow2_rc_set (q, idx, 1);
  if (ret < 0)
    return ret;
  q->free_hint = idx + 1;
  q->alloc_end = max_u64 (q->alloc_end, idx + 1);
  qcow2_cache_forget (&q->l2_cache, idx * cs);
  qcow2_cache_forget (&q->rb_cache, idx * cs);
  *host = idx * cs;
  return 0;
}

/* Drops a reference once the metadata that held it is on disk. */
void
qcow2_free_later (struct qcow2 *q, uint64_t cluster)
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

/* ---- consistency check -------------------------------------------------------------- */

/* An L2 table the L1 tables point to, walked once however many entries
 * point to it (snapshots share most of their L2 tables). */
struct l2_use {
  uint64_t offset;
  uint64_t uses;                /* L1 entries pointing to it */
  uint64_t active_uses;         /* of them, in the active L1 table */
  uint32_t first_l1_index;      /* for messages: which guest range it maps */
};

struct check_ctx {
  struct qcow2 *q;
  uint32_t *refs;               /* references found, per cluster of the file */
  uint64_t ncl;
  struct vmm_block_check_result *res;
  uint64_t bad_structures;      /* corruptions other than refcount mismatches */
  uint8_t *buf;                 /* one cluster */
  GHashTable *l2;               /* offset -> struct l2_use */
  uint64_t table_bytes;         /* the L1 and bitmap tables, summed (the walk's cost) */
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

/* Counts N references to every cluster of [offset, offset + len). */
static void
add_refs (struct check_ctx *c, uint64_t offset, uint64_t len, uint64_t n, const char *what)
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
      c->refs[cl] = (uint32_t) min_u64 ((uint64_t) c->refs[cl] + n, UINT32_MAX);
    }
}

static void
add_ref (struct check_ctx *c, uint64_t offset, uint64_t len, const char *what)
{
  add_refs (c, offset, len, 1, what);
}

/* Compares the COPIED flag of an active-table entry with the refcount. */
static void
check_copied (struct check_ctx *c, uint64_t entry, uint64_t host, const char *what,
              uint64_t index)
{
  uint64_t rc;

  if (qcow2_rc_get (c->q, host / c->q->cluster_size, &rc) < 0)
    return;   /* reported with the refcounts */
  if (((entry & QCOW2_OFLAG_COPIED) != 0) != (rc == 1))
    problem (c, false, "%s %llu: the COPIED flag does not match refcount %llu", what,
             (unsigned long long) index, (unsigned long long) rc);
}

/* Counts the L2 tables an L1 table points to, into c->l2; their entries
 * are walked afterwards, once per table (walk_l2_tables). */
static int
walk_l1 (struct check_ctx *c, const uint64_t *l1, uint32_t l1_size, bool active)
{
  struct qcow2 *q = c->q;
  uint64_t cs = q->cluster_size;

  for (uint32_t i = 0; i < l1_size; i++)
    {
      uint64_t e = l1[i], off = e & QCOW2_OFFSET_MASK;
      struct l2_use *u;

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
      u = g_hash_table_lookup (c->l2, &off);
      if (u == NULL)
        {
          u = calloc (1, sizeof *u);
          if (u == NULL)
            return -ENOMEM;
          u->offset = off;
          u->first_l1_index = i;
          g_hash_table_insert (c->l2, &u->offset, u);
        }
      u->uses++;
      if (active)
        u->active_uses++;
    }
  return 0;
}

static int
compare_l2_use (const void *a, const void *b)
{
  const struct l2_use *x = *(struct l2_use *const *) a, *y = *(struct l2_use *const *) b;

  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Walks each L2 table once, counting its references as many times as L1
 * entries point to it. */
static int
walk_l2_table (struct check_ctx *c, const struct l2_use *u)
{
  struct qcow2 *q = c->q;
  uint64_t cs = q->cluster_size;
  int ret = qcow2_meta_read (q, c->buf, cs, u->offset);

  if (ret < 0)
    return ret;
  for (uint64_t j = 0; j < q->l2_entries; j++)
    {
      uint64_t l2e = viv_get_be64 (c->buf + 8 * j);
      uint64_t guest = ((uint64_t) u->first_l1_index << q->l2_bits) + j;
      struct qcow2_cluster_info ci;

      if (l2e == 0)
        continue;
      if (qcow2_classify (q, l2e, &ci) < 0)
        {
          problem (c, true, "the L2 entry of guest cluster %llu (0x%016llx) is invalid",
                   (unsigned long long) guest, (unsigned long long) l2e);
          continue;
        }
      switch (ci.type)
        {
        case QCOW2_CLUSTER_COMPRESSED:
          add_refs (c, ci.coffset, ci.csize, u->uses, "a compressed cluster");
          c->res->allocated_clusters += u->active_uses;
          break;
        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC:
          add_refs (c, ci.host, cs, u->uses, "a data cluster");
          c->res->allocated_clusters += u->active_uses;
          if (u->active_uses > 0 && ci.host < q->file_size)
            check_copied (c, l2e, ci.host, "the L2 entry of guest cluster", guest);
          break;
        case QCOW2_CLUSTER_UNALLOCATED:
        case QCOW2_CLUSTER_ZERO_PLAIN:
        default:
          break;
        }
    }
  return 0;
}

static int
walk_l2_tables (struct check_ctx *c)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;
  int ret = 0;

  /* In the file's order, so that the first problem reported is stable */
  g_hash_table_iter_init (&it, c->l2);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (all, value);
  if (all->len > 1)
    qsort (all->pdata, all->len, sizeof (gpointer), compare_l2_use);
  for (guint k = 0; k < all->len && ret == 0; k++)
    ret = walk_l2_table (c, all->pdata[k]);
  return ret;
}

/* Counts the bitmap directory, the bitmap tables and the bitmap data as
 * referenced: they are QEMU's, kept while we write (qcow2-bitmap.c). */
static int
walk_bitmaps (struct check_ctx *c)
{
  struct qcow2 *q = c->q;
  uint64_t cs = q->cluster_size;

  if (q->n_bitmaps == 0)
    return 0;
  add_ref (c, q->bitmap_dir_offset, q->bitmap_dir_size, "the bitmap directory");
  for (unsigned i = 0; i < q->n_bitmaps; i++)
    {
      const struct qcow2_bitmap *bm = &q->bitmaps[i];
      uint64_t *table;
      int ret;

      add_ref (c, bm->table_offset, (uint64_t) bm->table_size * 8, "a bitmap table");
      if (bm->table_size == 0)
        continue;
      table = malloc ((size_t) bm->table_size * 8);
      if (table == NULL)
        return -ENOMEM;
      ret = qcow2_meta_read (q, table, (size_t) bm->table_size * 8, bm->table_offset);
      for (uint32_t j = 0; ret == 0 && j < bm->table_size; j++)
        {
          uint64_t e = viv_get_be64 (&table[j]), off = e & QCOW2_OFFSET_MASK;

          if ((e & QCOW2_BME_RESERVED) || (off != 0 && (e & 1)) || (off & (cs - 1)))
            problem (c, true, "entry %u of the table of bitmap “%s” (0x%016llx) is invalid", j,
                     bm->name, (unsigned long long) e);
          else if (off != 0)
            add_ref (c, off, cs, "bitmap data");
        }
      free (table);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* What the walk costs, known before it starts: the L1 tables (the active
 * one and every snapshot's) and the bitmap tables are read whole, and each
 * L2 table they point to once. In a sound image every one of those tables
 * has clusters of its own (QEMU copies the L1 table for each snapshot), so
 * together they are never larger than the file, and the walk reads at most
 * about twice the file. A hostile image can point thousands of snapshots at
 * one L1 table, for a walk of hours in a file of a few kilobytes (issue 16,
 * bug 4): such tables must overlap, so the image is refused instead. */
static bool
walk_within_budget (struct check_ctx *c)
{
  struct qcow2 *q = c->q;
  uint64_t bytes = (uint64_t) q->l1_size * 8;

  for (unsigned s = 0; s < q->n_snapshots; s++)
    bytes += (uint64_t) q->snapshots[s].l1_size * 8;
  for (unsigned i = 0; i < q->n_bitmaps; i++)
    bytes += (uint64_t) q->bitmaps[i].table_size * 8;
  c->table_bytes = bytes;
  return bytes <= q->file_size;
}

/* Counts every reference the metadata makes, into c->refs. -E2BIG: the
 * walk would cost more than a sound image ever needs (walk_within_budget). */
static int
check_collect (struct check_ctx *c)
{
  struct qcow2 *q = c->q;
  uint64_t cs = q->cluster_size;
  int ret;

  if (!walk_within_budget (c))
    return -E2BIG;
  c->ncl = div_up (q->file_size, cs);
  if (c->ncl > (UINT64_C (1) << 32))
    return -EFBIG;
  c->refs = calloc (c->ncl ? c->ncl : 1, sizeof *c->refs);
  c->buf = qcow2_alloc_cluster_buf (q);
  c->l2 = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, free);
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
      ret = qcow2_meta_read (q, l1, (size_t) sn->l1_size * 8, sn->l1_offset);
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
  ret = walk_l2_tables (c);
  if (ret == 0)
    ret = walk_bitmaps (c);
  if (ret < 0)
    return ret;
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
  if (c->l2 != NULL)
    g_hash_table_destroy (c->l2);
}

int
qcow2_check (struct vmm_block *b, struct vmm_block_check_result *res, GError **error)
{
  struct qcow2 *q = b->priv;
  struct check_ctx c = { .q = q, .res = res };
  int ret;

  memset (res, 0, sizeof *res);
  pthread_mutex_lock (&q->lock);
  ret = check_collect (&c);
  if (ret == -E2BIG)
    {
      /* Not walked: a corruption, and the one thing to say */
      problem (&c, true, "the L1 and bitmap tables (%llu bytes) are larger than the file "
               "(%llu bytes): they overlap", (unsigned long long) c.table_bytes,
               (unsigned long long) q->file_size);
      ret = 0;
      goto out;
    }
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot check %s: %s", b->path, strerror (-ret));
      goto out;
    }
  for (uint64_t cl = 0; cl < c.ncl; cl++)
    {
      uint64_t rc;
      if (qcow2_rc_get (q, cl, &rc) < 0)
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
int
qcow2_repair_refcounts (struct qcow2 *q, GError **error)
{
  struct vmm_block_check_result res = { 0 };
  struct check_ctx c = { .q = q, .res = &res };
  uint8_t be[8];
  int ret;

  ret = check_collect (&c);
  if (ret == -E2BIG)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL,
                   _("%s: the image was not closed cleanly, and its snapshot or bitmap tables "
                     "(%llu bytes) are larger than the file (%llu bytes), so they overlap: "
                     "rebuilding its refcounts could take hours. Repair it with "
                     "“qemu-img check -r all”, or open it read-only."),
                   q->b->path, (unsigned long long) c.table_bytes,
                   (unsigned long long) q->file_size);
    }
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
        ret = qcow2_rc_get (q, cl, &rc);
        if (ret == 0 && (pass == 0 ? c.refs[cl] > rc : c.refs[cl] < rc))
          ret = qcow2_rc_set (q, cl, c.refs[cl]);
      }
  if (ret == 0)
    ret = qcow2_flush_locked (q);
  if (ret == 0)
    {
      q->incompat &= ~QCOW2_INCOMPAT_DIRTY;
      viv_put_be64 (be, q->incompat);
      ret = qcow2_meta_write (q, be, 8, 72);
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
