/* block/qcow2-snapshot.c: qcow2 internal snapshots
 *
 * Reading the snapshot table at open (for info, the check and the
 * metadata overlap checks), and the refcount changes that taking or
 * deleting a snapshot makes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/qcow2.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

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
          ret = qcow2_meta_read (q, extra, extra_len, off + 40);
          if (ret < 0)
            return ret;
          if (extra_len >= 8)
            s->vm_state_size = viv_get_be64 (extra);
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

      ret = qcow2_l1_lookup (q, i, &off);
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
      ret = qcow2_rc_get (q, d->cluster, &rc);
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
      ret = qcow2_rc_get (q, d->cluster, &rc);
      if (ret == 0)
        ret = qcow2_rc_set (q, d->cluster, rc + (uint64_t) d->d);
      if (ret < 0)
        goto out;
    }

  /* COPIED flags of the active tables follow the refcounts. */
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
          if (ret == 0 && ((l2e & QCOW2_OFLAG_COPIED) != 0) != (rc == 1))
            {
              viv_put_be64 (e->data + 8 * j, l2e ^ QCOW2_OFLAG_COPIED);
              e->dirty = true;
            }
        }
      qcow2_table_put (e);
    }
out:
  if (ret < 0 && (error == NULL || *error == NULL))
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot update refcounts: %s", block->path,
                 strerror (-ret));
  pthread_mutex_unlock (&q->lock);
  g_hash_table_destroy (h);
  return ret;
}
