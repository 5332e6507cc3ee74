/* block/qcow2-snapshot.c: qcow2 internal snapshots
 *
 * The snapshot table (read at open for info, the check and the metadata
 * overlap checks), and taking, reverting to, deleting and renaming
 * snapshots (docs/interop/qcow2.txt in QEMU, "Snapshots").
 *
 * THE INVARIANT. A cluster's refcount is the number of references the
 * tables make to it: the header, the active L1 table, the refcount table and
 * blocks and the snapshot table count once; every L1 table (the active one
 * and each snapshot's) counts once for each L2 table it names; and an L2
 * table counts once for each of its data clusters *per L1 table that reaches
 * it* (an L2 table two L1 tables share counts its data twice), as QEMU
 * counts and qcow2_check verifies. So taking a snapshot adds 1 to all the
 * active L1 table reaches, deleting one subtracts 1 from all its L1 table
 * reaches (and frees its L1 table), and a cluster reaches 0, and is freed,
 * only when no other L1 table reaches it. The COPIED flag of an entry of the
 * active tables says "refcount exactly 1": written in place, no
 * copy-on-write; it is recomputed whenever refcounts change.
 *
 * Crash safety. Each operation builds the new state in new clusters,
 * makes them and every refcount increment durable, and then switches with
 * one header write (nb_snapshots and snapshots_offset at byte 60, or
 * l1_size and l1_table_offset at byte 36: 12 bytes in one sector); the
 * decrements come after the switch. Killed at any instant, the image is
 * the old state or the new one, plus leaked clusters (refcounts too high).
 * One window cannot be closed without rewriting every refcount block: a
 * refcount and the COPIED flag of the active entry pointing to the cluster
 * live in different clusters, so they cannot change in one write. We (like
 * QEMU) let the refcount lead: raised first when taking a snapshot, and
 * when deleting one the flag is set first and the refcount lowered after.
 * A crash in between leaves COPIED set on a cluster whose refcount is one
 * too high and that only the active state references: a leak that
 * "qemu-img check" also reports as an OFLAG_COPIED error, harmless (the
 * cluster has one user, who may write it in place), repaired by
 * "qemu-img check -r all". Never the harmful kind: COPIED set on a cluster
 * a snapshot also references, or a refcount lower than its references.
 *
 * Callers quiesce the image first: no write may be in flight (mapped and
 * not yet committed or aborted); -EBUSY otherwise.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "block/qcow2.h"

#include <errno.h>
#include <glib.h>
#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "viv-bytes.h"

/* ---- the snapshot table ------------------------------------------------------------ */

int
qcow2_read_snapshots (struct qcow2 *q, uint32_t nb, GError **error)
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
      char *strings;
      int ret;

      if (off + sizeof h > q->file_size
          || off - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the snapshot table is truncated "
                       "(snapshot %u)", path, i);
          return -EINVAL;
        }
      ret = qcow2_meta_read (q, h, sizeof h, off);
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
      s->vm_clock_nsec = viv_get_be64 (h + 24);
      s->vm_state_size = viv_get_be32 (h + 32);
      s->disk_size = q->size;
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
          ret = qcow2_meta_read (q, extra, extra_len, off + 40);
          if (ret < 0)
            return ret;
          if (extra_len >= 8)
            s->vm_state_size = viv_get_be64 (extra);
          if (extra_len >= 16)
            s->disk_size = viv_get_be64 (extra + 8);
          s->extra = g_memdup2 (extra, extra_len);
          s->extra_len = extra_len;
        }
      strings = malloc ((size_t) id_len + name_len + 1);
      if (strings == NULL)
        return -ENOMEM;
      ret = qcow2_meta_read (q, strings, (size_t) id_len + name_len, off + 40 + extra_len);
      if (ret == 0)
        {
          s->id = strndup (strings, id_len);
          s->name = strndup (strings + id_len, name_len);
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

void
qcow2_snapshot_clear (struct qcow2_snapshot *s)
{
  free (s->id);
  free (s->name);
  g_free (s->extra);
  memset (s, 0, sizeof *s);
}

static int
snapshot_copy (struct qcow2_snapshot *dst, const struct qcow2_snapshot *src)
{
  *dst = *src;
  dst->id = strdup (src->id);
  dst->name = strdup (src->name);
  dst->extra = src->extra_len > 0 ? g_memdup2 (src->extra, src->extra_len) : NULL;
  if (dst->id == NULL || dst->name == NULL)
    {
      qcow2_snapshot_clear (dst);
      return -ENOMEM;
    }
  return 0;
}

static void
snapshots_free (struct qcow2_snapshot *snaps, unsigned n)
{
  for (unsigned i = 0; snaps != NULL && i < n; i++)
    qcow2_snapshot_clear (&snaps[i]);
  free (snaps);
}

/* The table's bytes: each entry padded to 8 bytes, the whole to clusters. */
static uint8_t *
table_serialize (struct qcow2 *q, const struct qcow2_snapshot *snaps, unsigned n, size_t *len)
{
  size_t size = 0, off = 0;
  uint8_t *buf;

  for (unsigned i = 0; i < n; i++)
    size += (40 + snaps[i].extra_len + strlen (snaps[i].id) + strlen (snaps[i].name) + 7) & ~7u;
  *len = size;
  if (size > QCOW2_MAX_SNAPSHOT_TABLE)
    return NULL;
  buf = calloc (div_up (max_u64 (size, 1), q->cluster_size), q->cluster_size);
  if (buf == NULL)
    return NULL;
  for (unsigned i = 0; i < n; i++)
    {
      const struct qcow2_snapshot *s = &snaps[i];
      size_t id_len = strlen (s->id), name_len = strlen (s->name);
      uint8_t *h = buf + off;

      viv_put_be64 (h, s->l1_offset);
      viv_put_be32 (h + 8, s->l1_size);
      viv_put_be16 (h + 12, (uint16_t) id_len);
      viv_put_be16 (h + 14, (uint16_t) name_len);
      viv_put_be32 (h + 16, s->date_sec);
      viv_put_be32 (h + 20, s->date_nsec);
      viv_put_be64 (h + 24, s->vm_clock_nsec);
      viv_put_be32 (h + 32, (uint32_t) min_u64 (s->vm_state_size, UINT32_MAX));
      viv_put_be32 (h + 36, s->extra_len);
      if (s->extra_len > 0)
        memcpy (h + 40, s->extra, s->extra_len);
      memcpy (h + 40 + s->extra_len, s->id, id_len);
      memcpy (h + 40 + s->extra_len + id_len, s->name, name_len);
      off += (40 + s->extra_len + id_len + name_len + 7) & ~7u;
    }
  return buf;
}

/* ---- snapshot refcounts ------------------------------------------------------------ */
struct delta {
  uint64_t cluster;
  int64_t d;
};

static int
delta_add (GHashTable *h, uint64_t cluster, int64_t addend)
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


static GHashTable *
delta_new (void)
{
  return g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, free);
}

static int64_t
delta_of (GHashTable *h, uint64_t cluster)
{
  struct delta *d = h != NULL ? g_hash_table_lookup (h, &cluster) : NULL;

  return d != NULL ? d->d : 0;
}

/* The L2 table entry E of an L1 table names, checked; 0 for none. */
static int
l1_entry_table (struct qcow2 *q, uint64_t e, uint64_t *off)
{
  uint64_t cs = q->cluster_size;

  *off = e & QCOW2_OFFSET_MASK;
  if (*off == 0 && !(e & QCOW2_L1E_RESERVED))
    return 0;
  if ((e & QCOW2_L1E_RESERVED) || (*off & (cs - 1)) || *off == 0 || *off > host_end (q)
      || host_end (q) - *off < cs || hits_metadata (q, *off, cs))
    {
      vmm_log_warning ("%s: an L1 entry (0x%016llx) is invalid, points past the end of the "
                       "file or over other metadata", q->b->path, (unsigned long long) e);
      return -EIO;
    }
  return 0;
}

/* Adds ADDEND to the delta of every cluster the L1 table L1 (N entries, host
 * byte order) reaches: its L2 tables, and their data once per entry naming
 * the table (the invariant at the top of this file). */
static int
collect_l1 (struct qcow2 *q, const uint64_t *l1, uint32_t n, int64_t addend, GHashTable *h)
{
  uint64_t cs = q->cluster_size;
  int ret = 0;

  for (uint32_t i = 0; i < n && ret == 0; i++)
    {
      struct qcow2_cache_entry *e = NULL;
      uint64_t off;

      ret = l1_entry_table (q, l1[i], &off);
      if (ret < 0 || off == 0)
        continue;
      ret = delta_add (h, off / cs, addend);
      if (ret == 0)
        ret = qcow2_table_get (q, &q->l2_cache, off, true, &e);
      for (uint64_t j = 0; ret == 0 && j < q->l2_entries; j++)
        {
          uint64_t l2e = viv_get_be64 (e->data + 8 * j);
          struct qcow2_cluster_info ci;
          if (l2e == 0)
            continue;
          if (qcow2_classify (q, l2e, &ci) < 0)
            ret = qcow2_bad_l2_entry (q, ((uint64_t) i << q->l2_bits) + j, l2e);
          else if (ci.type == QCOW2_CLUSTER_NORMAL || ci.type == QCOW2_CLUSTER_ZERO_ALLOC)
            ret = delta_add (h, ci.host / cs, addend);
          else if (ci.type == QCOW2_CLUSTER_COMPRESSED)
            for (uint64_t c = ci.coffset / cs; ret == 0 && c <= (ci.coffset + ci.csize - 1) / cs;
                 c++)
              ret = delta_add (h, c, addend);
        }
      qcow2_table_put (e);
    }
  return ret;
}

/* Adds ADDEND to the clusters of a table of LEN bytes at OFFSET. */
static int
collect_range (struct qcow2 *q, uint64_t offset, uint64_t len, int64_t addend, GHashTable *h)
{
  uint64_t cs = q->cluster_size;
  int ret = 0;

  for (uint64_t c = offset / cs; len > 0 && ret == 0 && c < div_up (offset + len, cs); c++)
    ret = delta_add (h, c, addend);
  return ret;
}

/* Whether every refcount stays within [0, max] with H (and BASE, may be
 * NULL) added: nothing changes unless everything can. */
static int
check_deltas (struct qcow2 *q, GHashTable *h, GHashTable *base, GError **error)
{
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, h);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      struct delta *d = value;
      int64_t total = d->d + delta_of (base, d->cluster);
      uint64_t rc;
      int ret = qcow2_rc_get (q, d->cluster, &rc);

      if (ret < 0)
        return ret;
      if ((total > 0 && rc > q->refcount_max - (uint64_t) total)
          || (total < 0 && rc < (uint64_t) -total))
        {
          g_set_error (error, VMM_BLOCK_ERROR, ERANGE, "%s: the refcount of cluster %llu (%llu) "
                       "would leave the range 0 to %llu", q->b->path,
                       (unsigned long long) d->cluster, (unsigned long long) rc,
                       (unsigned long long) q->refcount_max);
          return -ERANGE;
        }
    }
  return 0;
}

/* Adds H to the refcounts (in the cache: written by the next flush, or
 * whenever a refcount block is evicted). A cluster reaching 0 is free. */
static int
apply_deltas (struct qcow2 *q, GHashTable *h)
{
  uint64_t cs = q->cluster_size;
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, h);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      struct delta *d = value;
      uint64_t rc, now;
      int ret;

      if (d->d == 0)
        continue;
      ret = qcow2_rc_get (q, d->cluster, &rc);
      if (ret < 0)
        return ret;
      now = rc + (uint64_t) d->d;
      ret = qcow2_rc_set (q, d->cluster, now);
      if (ret < 0)
        return ret;
      if (now == 0)
        {
          qcow2_cache_forget (&q->l2_cache, d->cluster * cs);
          qcow2_cache_forget (&q->rb_cache, d->cluster * cs);
          if (d->cluster < q->free_hint && d->cluster >= q->alloc_floor)
            q->free_hint = d->cluster;
        }
    }
  return 0;
}

/* Sets the COPIED flags of the active tables to what the refcounts say once
 * PENDING (may be NULL) is added to them: set where that is exactly 1. */
static int
fix_copied (struct qcow2 *q, GHashTable *pending)
{
  uint64_t cs = q->cluster_size;
  uint32_t epc = (uint32_t) (cs / 8);
  int ret = 0;

  for (uint32_t i = 0; i < q->l1_size && ret == 0; i++)
    {
      struct qcow2_cache_entry *e;
      uint64_t off, rc;

      ret = qcow2_l1_lookup (q, i, &off);
      if (ret < 0 || off == 0)
        continue;
      ret = qcow2_rc_get (q, off / cs, &rc);
      if (ret < 0)
        break;
      rc += (uint64_t) delta_of (pending, off / cs);
      if (((q->l1[i] & QCOW2_OFLAG_COPIED) != 0) != (rc == 1))
        {
          q->l1[i] ^= QCOW2_OFLAG_COPIED;
          q->l1_dirty[i / epc] = true;
        }
      ret = qcow2_table_get (q, &q->l2_cache, off, true, &e);
      if (ret < 0)
        break;
      for (uint64_t j = 0; ret == 0 && j < q->l2_entries; j++)
        {
          uint64_t l2e = viv_get_be64 (e->data + 8 * j);
          struct qcow2_cluster_info ci;
          if (qcow2_classify (q, l2e, &ci) < 0
              || (ci.type != QCOW2_CLUSTER_NORMAL && ci.type != QCOW2_CLUSTER_ZERO_ALLOC))
            continue;
          ret = qcow2_rc_get (q, ci.host / cs, &rc);
          rc += (uint64_t) delta_of (pending, ci.host / cs);
          if (ret == 0 && ((l2e & QCOW2_OFLAG_COPIED) != 0) != (rc == 1))
            {
              viv_put_be64 (e->data + 8 * j, l2e ^ QCOW2_OFLAG_COPIED);
              e->dirty = true;
            }
        }
      qcow2_table_put (e);
    }
  return ret;
}

int
qcow2_update_active_refcounts (struct vmm_block *block, int addend, GError **error)
{
  struct qcow2 *q;
  g_autoptr (GHashTable) h = delta_new ();
  int ret;

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
  pthread_mutex_lock (&q->lock);
  while (q->cows_running > 0)
    pthread_cond_wait (&q->cond, &q->lock);
  ret = collect_l1 (q, q->l1, q->l1_size, addend, h);
  if (ret < 0)
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot walk the L1 table: %s", block->path,
                 strerror (-ret));
  if (ret == 0)
    ret = check_deltas (q, h, NULL, error);
  if (ret == 0)
    ret = apply_deltas (q, h);
  if (ret == 0)
    ret = fix_copied (q, NULL);
  if (ret < 0 && (error == NULL || *error == NULL))
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot update refcounts: %s", block->path,
                 strerror (-ret));
  pthread_mutex_unlock (&q->lock);
  return ret;
}

/* ---- allocation and the switches ------------------------------------------------- */

/* N contiguous new clusters (refcount 1 in the cache) at *OFFSET. The
 * allocator hands out one cluster at a time; runs broken by a used cluster
 * (or a new refcount block) are given back. */
static int
alloc_run (struct qcow2 *q, uint64_t n, uint64_t *offset)
{
  g_autoptr (GArray) spare = g_array_new (FALSE, FALSE, sizeof (uint64_t));
  uint64_t cs = q->cluster_size, start = 0, len = 0;
  int ret = 0;

  while (len < n)
    {
      uint64_t host;
      ret = qcow2_alloc_cluster (q, &host);
      if (ret < 0)
        break;
      if (len > 0 && host == (start + len) * cs)
        len++;
      else
        {
          for (uint64_t i = 0; i < len; i++)
            {
              uint64_t c = start + i;
              g_array_append_val (spare, c);
            }
          start = host / cs;
          len = 1;
        }
    }
  for (uint64_t i = 0; ret < 0 && i < len; i++)
    {
      uint64_t c = start + i;
      g_array_append_val (spare, c);
    }
  for (guint i = 0; i < spare->len; i++)
    {
      uint64_t c = g_array_index (spare, uint64_t, i);
      int r = qcow2_rc_set (q, c, 0);
      if (r == 0 && c < q->free_hint && c >= q->alloc_floor)
        q->free_hint = c;
    }
  if (ret == 0)
    *offset = start * cs;
  return ret;
}

/* Writes a 12-byte header field pair at OFFSET (36: l1_size and
 * l1_table_offset, 60: nb_snapshots and snapshots_offset) and syncs: the
 * one write that switches from the old state to the new. */
static int
header_switch (struct qcow2 *q, uint64_t offset, uint32_t count, uint64_t table)
{
  uint8_t be[12];
  int ret;

  viv_put_be32 (be, count);
  viv_put_be64 (be + 4, table);
  ret = qcow2_meta_write (q, be, sizeof be, offset);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  return ret;
}

/* Makes SNAPS (N entries, taken over on success) the snapshot table: a new
 * table in new clusters, durable with its refcounts, then the header. The
 * old table's clusters are added to FREED, to be dropped after. */
static int
switch_table (struct qcow2 *q, struct qcow2_snapshot *snaps, unsigned n, GHashTable *freed)
{
  uint64_t cs = q->cluster_size, off = 0;
  uint64_t old_off = q->snapshots_offset, old_size = q->n_snapshots ? q->snapshot_table_size : 0;
  uint8_t *buf = NULL;
  size_t len = 0;
  int ret = 0;

  if (n > 0)
    {
      buf = table_serialize (q, snaps, n, &len);
      if (buf == NULL)
        return len > QCOW2_MAX_SNAPSHOT_TABLE ? -EFBIG : -ENOMEM;
      ret = alloc_run (q, div_up (len, cs), &off);
      if (ret == 0)
        ret = qcow2_meta_write (q, buf, div_up (len, cs) * cs, off);
      free (buf);
    }
  /* The table and its refcounts on disk before the header names it */
  if (ret == 0)
    ret = qcow2_flush_locked (q);
  if (ret == 0)
    ret = header_switch (q, 60, n, off);
  if (ret < 0)
    return ret;   /* the new table's clusters leak */
  snapshots_free (q->snapshots, q->n_snapshots);
  q->snapshots = snaps;
  q->n_snapshots = n;
  q->snapshots_offset = off;
  q->snapshot_table_size = len;
  return collect_range (q, old_off, old_size, -1, freed);
}

/* ---- the operations ------------------------------------------------------------ */

static int
find_by_name (struct qcow2 *q, const char *name)
{
  for (unsigned i = 0; i < q->n_snapshots; i++)
    if (strcmp (q->snapshots[i].name, name) == 0)
      return (int) i;
  return -1;
}

/* By id first, then by name, as qemu-img does */
static int
find_snapshot (struct qcow2 *q, const char *name_or_id)
{
  for (unsigned i = 0; i < q->n_snapshots; i++)
    if (strcmp (q->snapshots[i].id, name_or_id) == 0)
      return (int) i;
  return find_by_name (q, name_or_id);
}

/* Takes q->lock (op_end lets it go), refuses while writes are in flight,
 * and flushes (unless the operation's first flush will do: FLUSH false);
 * then, given NAME_OR_ID, finds that snapshot: *INDEX. */
static int
op_begin (struct qcow2 *q, bool flush, const char *name_or_id, int *index, GError **error)
{
  int ret;

  pthread_mutex_lock (&q->lock);
  if (q->inflight != NULL && g_hash_table_size (q->inflight) > 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EBUSY, "%s: writes are in flight; quiesce the disk "
                   "before working on its snapshots", q->b->path);
      return -EBUSY;
    }
  while (q->cows_running > 0)
    pthread_cond_wait (&q->cond, &q->lock);
  if (q->broken)
    return -EIO;
  ret = flush ? qcow2_flush_locked (q) : 0;
  if (ret < 0 || name_or_id == NULL)
    return ret;
  *index = find_snapshot (q, name_or_id);
  if (*index < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, ENOENT, _("%s: there is no snapshot “%s”"), q->b->path,
                   name_or_id);
      return -ENOENT;
    }
  return 0;
}

/* -EEXIST unless NAME is free for snapshot EXCEPT (-1: a new one) */
static int
check_name_free (struct qcow2 *q, const char *name, int except, GError **error)
{
  int other = find_by_name (q, name);

  if (other >= 0 && other != except)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EEXIST, _("%s: there is already a snapshot named "
                                                     "“%s”"), q->b->path, name);
      return -EEXIST;
    }
  return 0;
}

/* The next id: one more than the largest decimal id, as QEMU picks them */
static char *
next_id (struct qcow2 *q)
{
  uint64_t max = 0;

  for (unsigned i = 0; i < q->n_snapshots; i++)
    {
      const char *id = q->snapshots[i].id;
      char *end;
      uint64_t v = g_ascii_strtoull (id, &end, 10);
      if (*id != '\0' && *end == '\0' && v > max)
        max = v;
    }
  return g_strdup_printf ("%" G_GUINT64_FORMAT, max + 1);
}

/* A copy of the snapshots but SKIP (or -1 for none), with room for one more */
static struct qcow2_snapshot *
copy_snapshots (struct qcow2 *q, int skip, unsigned *n)
{
  struct qcow2_snapshot *snaps = calloc (q->n_snapshots + 1, sizeof *snaps);

  *n = 0;
  if (snaps == NULL)
    return NULL;
  for (unsigned i = 0; i < q->n_snapshots; i++)
    {
      if ((int) i == skip)
        continue;
      if (snapshot_copy (&snaps[*n], &q->snapshots[i]) < 0)
        {
          snapshots_free (snaps, *n);
          return NULL;
        }
      (*n)++;
    }
  return snaps;
}

static int
read_l1 (struct qcow2 *q, const struct qcow2_snapshot *sn, uint64_t **out)
{
  uint64_t *l1 = calloc (max_u64 (sn->l1_size, 1), sizeof *l1);
  int ret;

  if (l1 == NULL)
    return -ENOMEM;
  ret = qcow2_meta_read (q, l1, (size_t) sn->l1_size * 8, sn->l1_offset);
  for (uint32_t i = 0; ret == 0 && i < sn->l1_size; i++)
    l1[i] = viv_get_be64 (&l1[i]);
  if (ret < 0)
    free (l1);
  else
    *out = l1;
  return ret;
}

/* Writes L1 (N entries) into new clusters at *OFFSET, whole clusters. */
static int
write_new_l1 (struct qcow2 *q, const uint64_t *l1, uint32_t n, uint64_t *offset)
{
  uint64_t cs = q->cluster_size, ncl = max_u64 (div_up ((uint64_t) n * 8, cs), 1);
  uint8_t *buf = calloc (ncl, cs);
  int ret;

  if (buf == NULL)
    return -ENOMEM;
  for (uint32_t i = 0; i < n; i++)
    viv_put_be64 (buf + 8 * i, l1[i]);
  ret = alloc_run (q, ncl, offset);
  if (ret == 0)
    ret = qcow2_meta_write (q, buf, ncl * cs, *offset);
  free (buf);
  return ret;
}

static int
op_end (struct qcow2 *q, int ret, const char *what, GError **error)
{
  if (ret < 0 && (error == NULL || *error == NULL))
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot %s: %s", q->b->path, what,
                 strerror (-ret));
  pthread_mutex_unlock (&q->lock);
  return ret;
}

/* Makes *SNAPS (N entries) the snapshot table (switch_table; *SNAPS is
 * taken over on success), then drops the old table's clusters. */
static int
replace_table (struct qcow2 *q, struct qcow2_snapshot **snaps, unsigned n)
{
  g_autoptr (GHashTable) freed = delta_new ();
  int ret;

  ret = switch_table (q, *snaps, n, freed);
  if (ret < 0)
    return ret;
  *snaps = NULL;
  ret = apply_deltas (q, freed);
  if (ret == 0)
    ret = qcow2_flush_locked (q);
  return ret;
}

/* Adds DELTAS to the refcounts, then sets the COPIED flags they call for,
 * with one flush: it writes the refcounts, durably, before the L2 tables,
 * so a flag never reaches the disk before the refcount it follows from
 * (see the top of this file). */
static int
apply_then_fix_copied (struct qcow2 *q, GHashTable *deltas)
{
  int ret;

  ret = apply_deltas (q, deltas);
  if (ret == 0)
    ret = fix_copied (q, NULL);
  if (ret == 0)
    ret = qcow2_flush_locked (q);
  return ret;
}

int
qcow2_snapshot_create (struct vmm_block *b, const char *name, GError **error)
{
  struct qcow2 *q = b->priv;
  g_autoptr (GHashTable) h = delta_new ();
  struct qcow2_snapshot *snaps = NULL, *sn;
  uint64_t *copy = NULL, l1_off = 0;
  struct timespec now;
  unsigned n = 0;
  int ret;

  ret = op_begin (q, true, NULL, NULL, error);
  if (ret == 0)
    ret = check_name_free (q, name, -1, error);
  if (ret < 0)
    goto out;
  if (q->n_snapshots >= QCOW2_MAX_SNAPSHOTS)
    {
      ret = -ENOSPC;
      goto out;
    }

  /* Everything the active L1 table reaches gains the snapshot's reference. */
  ret = collect_l1 (q, q->l1, q->l1_size, 1, h);
  if (ret == 0)
    ret = check_deltas (q, h, NULL, error);
  if (ret < 0)
    goto out;
  /* The snapshot's L1 table: a copy (COPIED means nothing there) */
  copy = calloc (max_u64 (q->l1_size, 1), sizeof *copy);
  if (copy == NULL)
    {
      ret = -ENOMEM;
      goto out;
    }
  for (uint32_t i = 0; i < q->l1_size; i++)
    copy[i] = q->l1[i] & ~QCOW2_OFLAG_COPIED;
  ret = write_new_l1 (q, copy, q->l1_size, &l1_off);
  /* The increments on disk before any COPIED flag goes (see the top) */
  if (ret == 0)
    ret = apply_then_fix_copied (q, h);
  if (ret < 0)
    goto out;

  snaps = copy_snapshots (q, -1, &n);
  if (snaps == NULL)
    {
      ret = -ENOMEM;
      goto out;
    }
  clock_gettime (CLOCK_REALTIME, &now);
  sn = &snaps[n++];
  sn->l1_offset = l1_off;
  sn->l1_size = q->l1_size;
  sn->id = next_id (q);
  sn->name = strdup (name);
  sn->date_sec = (uint32_t) now.tv_sec;
  sn->date_nsec = (uint32_t) now.tv_nsec;
  sn->disk_size = q->size;
  /* vm_state_size_large (0: memory state lives in our own files), disk_size */
  sn->extra_len = 16;
  sn->extra = g_malloc0 (16);
  viv_put_be64 (sn->extra + 8, q->size);
  if (sn->name == NULL)
    ret = -ENOMEM;
  if (ret == 0)
    ret = replace_table (q, &snaps, n);
out:
  snapshots_free (snaps, n);
  free (copy);
  return op_end (q, ret, "take a snapshot", error);
}

int
qcow2_snapshot_apply (struct vmm_block *b, const char *name_or_id, GError **error)
{
  struct qcow2 *q = b->priv;
  g_autoptr (GHashTable) up = delta_new ();
  g_autoptr (GHashTable) down = delta_new ();
  uint64_t *sl1 = NULL, *l1 = NULL, l1_off = 0, cs = q->cluster_size;
  const struct qcow2_snapshot *sn;
  uint32_t size;
  uint64_t ncl;
  bool *dirty = NULL;
  int i, ret;

  /* Its first flush writes what the guest left in the caches too, in
   * their order (refcounts, L2, L1) and before the switch */
  ret = op_begin (q, false, name_or_id, &i, error);
  if (ret < 0)
    goto out;
  sn = &q->snapshots[i];
  if (sn->disk_size != q->size)
    {
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, _("%s: snapshot “%s” was taken of a disk of "
                                                      "another size; reverting to it is not "
                                                      "supported"), b->path, name_or_id);
      ret = -ENOTSUP;
      goto out;
    }
  ret = read_l1 (q, sn, &sl1);
  if (ret < 0)
    goto out;
  size = MAX (sn->l1_size, q->l1_size);
  ncl = max_u64 (div_up ((uint64_t) size * 8, cs), 1);

  /* The new active state gains a reference to all the snapshot reaches;
   * the old one's references (and its L1 table) go. */
  ret = collect_l1 (q, sl1, sn->l1_size, 1, up);
  if (ret == 0)
    ret = collect_l1 (q, q->l1, q->l1_size, -1, down);
  if (ret == 0)
    ret = collect_range (q, q->l1_offset, (uint64_t) q->l1_size * 8, -1, down);
  if (ret == 0)
    ret = check_deltas (q, up, NULL, error);
  if (ret == 0)
    ret = check_deltas (q, down, up, error);
  if (ret == 0)
    ret = apply_deltas (q, up);
  if (ret < 0)
    goto out;

  /* Now shared, the snapshot's L2 tables' entries all need copy-on-write:
   * their COPIED flags go (a table only the snapshot uses may have kept
   * some; a table the active state shares has none left). Clearing one is
   * safe at any time; the flush below writes the increments first. */
  for (uint32_t k = 0; k < sn->l1_size && ret == 0; k++)
    {
      struct qcow2_cache_entry *e;
      uint64_t off;

      ret = l1_entry_table (q, sl1[k], &off);
      if (ret < 0 || off == 0)
        continue;
      ret = qcow2_table_get (q, &q->l2_cache, off, true, &e);
      for (uint64_t j = 0; ret == 0 && j < q->l2_entries; j++)
        {
          uint64_t l2e = viv_get_be64 (e->data + 8 * j);
          if (l2e & QCOW2_OFLAG_COPIED)
            {
              viv_put_be64 (e->data + 8 * j, l2e & ~QCOW2_OFLAG_COPIED);
              e->dirty = true;
            }
        }
      qcow2_table_put (e);
    }
  if (ret < 0)
    goto out;

  /* The new active L1 table, in new clusters */
  l1 = calloc (ncl, cs);
  dirty = calloc (ncl, sizeof *dirty);
  if (l1 == NULL || dirty == NULL)
    {
      ret = -ENOMEM;
      goto out;
    }
  for (uint32_t k = 0; k < sn->l1_size; k++)
    l1[k] = sl1[k] & ~QCOW2_OFLAG_COPIED;
  ret = write_new_l1 (q, l1, size, &l1_off);
  /* The increments, the flags and the new table durable, in that order, then the switch */
  if (ret == 0)
    ret = qcow2_flush_locked (q);
  if (ret == 0)
    ret = header_switch (q, 36, size, l1_off);
  if (ret < 0)
    goto out;
  free (q->l1);
  free (q->l1_dirty);
  q->l1 = l1;
  q->l1_dirty = dirty;
  q->l1_size = size;
  q->l1_offset = l1_off;
  q->l1_clusters = (uint32_t) ncl;
  l1 = NULL;
  dirty = NULL;

  ret = apply_then_fix_copied (q, down);
out:
  free (sl1);
  free (l1);
  free (dirty);
  return op_end (q, ret, "revert to the snapshot", error);
}

int
qcow2_snapshot_delete (struct vmm_block *b, const char *name_or_id, GError **error)
{
  struct qcow2 *q = b->priv;
  g_autoptr (GHashTable) h = delta_new ();
  struct qcow2_snapshot *snaps = NULL;
  uint64_t *sl1 = NULL;
  unsigned n = 0;
  int i, ret;

  ret = op_begin (q, true, name_or_id, &i, error);
  if (ret < 0)
    goto out;
  ret = read_l1 (q, &q->snapshots[i], &sl1);
  if (ret == 0)
    ret = collect_l1 (q, sl1, q->snapshots[i].l1_size, -1, h);
  if (ret == 0)
    ret = collect_range (q, q->snapshots[i].l1_offset, (uint64_t) q->snapshots[i].l1_size * 8,
                         -1, h);
  if (ret == 0)
    ret = check_deltas (q, h, NULL, error);
  if (ret < 0)
    goto out;
  snaps = copy_snapshots (q, i, &n);
  if (snaps == NULL)
    {
      ret = -ENOMEM;
      goto out;
    }
  ret = switch_table (q, snaps, n, h);
  if (ret < 0)
    goto out;
  snaps = NULL;
  /* COPIED flags first, then the decrements (see the top of this file) */
  ret = fix_copied (q, h);
  if (ret == 0)
    ret = qcow2_flush_locked (q);
  if (ret == 0)
    ret = apply_deltas (q, h);
  if (ret == 0)
    ret = qcow2_flush_locked (q);
out:
  snapshots_free (snaps, n);
  free (sl1);
  return op_end (q, ret, "delete the snapshot", error);
}

int
qcow2_snapshot_rename (struct vmm_block *b, const char *old_name, const char *new_name,
                       GError **error)
{
  struct qcow2 *q = b->priv;
  struct qcow2_snapshot *snaps = NULL;
  unsigned n = 0;
  int i, ret;

  ret = op_begin (q, true, old_name, &i, error);
  if (ret == 0)
    ret = check_name_free (q, new_name, i, error);
  if (ret < 0)
    goto out;
  snaps = copy_snapshots (q, -1, &n);
  if (snaps == NULL)
    {
      ret = -ENOMEM;
      goto out;
    }
  free (snaps[i].name);
  snaps[i].name = strdup (new_name);
  if (snaps[i].name == NULL)
    ret = -ENOMEM;
  if (ret == 0)
    ret = replace_table (q, &snaps, n);
out:
  snapshots_free (snaps, n);
  return op_end (q, ret, "rename the snapshot", error);
}

int
qcow2_snapshot_list (struct vmm_block *b, struct vmm_block_snapshot_info **out, unsigned *n)
{
  struct qcow2 *q = b->priv;
  struct vmm_block_snapshot_info *info;
  int ret = 0;

  pthread_mutex_lock (&q->lock);
  *out = NULL;
  *n = 0;
  info = calloc (max_u64 (q->n_snapshots, 1), sizeof *info);
  for (unsigned i = 0; info != NULL && i < q->n_snapshots; i++)
    {
      const struct qcow2_snapshot *s = &q->snapshots[i];
      info[i].id = strdup (s->id);
      info[i].name = strdup (s->name);
      info[i].vm_state_size = s->vm_state_size;
      info[i].date_sec = s->date_sec;
      info[i].date_nsec = s->date_nsec;
      info[i].vm_clock_nsec = s->vm_clock_nsec;
      info[i].disk_size = s->disk_size;
      if (info[i].id == NULL || info[i].name == NULL)
        ret = -ENOMEM;
    }
  if (info == NULL)
    ret = -ENOMEM;
  if (ret == 0)
    {
      *out = info;
      *n = q->n_snapshots;
    }
  else
    vmm_block_snapshot_info_free (info, q->n_snapshots);
  pthread_mutex_unlock (&q->lock);
  return ret;
}
