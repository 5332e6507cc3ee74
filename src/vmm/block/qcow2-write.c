/* block/qcow2-write.c: qcow2 writes: allocating clusters, copy-on-write, zeroes
 *
 * A write to a cluster the image does not own alone (unallocated, zero,
 * compressed, or shared with a snapshot) gets a new one; the part of it the
 * guest does not write is copied from the old contents first. The new
 * cluster is linked into its L2 table only once the data is written
 * (commit). Data I/O and the copy-on-write run outside the image's lock; a
 * guest cluster being allocated is recorded in q->inflight so that a second
 * write to it shares the new cluster rather than allocating another one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/qcow2.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "viv-bytes.h"

/* Most clusters one map_write call allocates; the caller maps the rest. */
#define MAX_MAP_CLUSTERS 2048u

/* The cookie of a qcow2 write */
struct qcow2_write {
  unsigned n;
  struct qcow2_alloc *allocs[];
};

/* ---- writing ------------------------------------------------------------------ */

/* A copy-on-write this map_write call does for a cluster it allocated */
struct cow_job {
  struct qcow2_alloc *a;
  uint64_t cluster;
  uint64_t keep_start, keep_end;   /* the caller's bytes: not copied */
  uint64_t valid;                  /* bytes of the cluster inside the disk */
  struct qcow2_cluster_info src;
  bool fresh;                      /* past the old end of the file: reads as zeroes */
};

static int
do_cow (struct qcow2 *q, const struct cow_job *j)
{
  uint64_t cs = q->cluster_size, cstart = j->cluster * cs;
  uint64_t ranges[2][2] = { { 0, j->keep_start }, { j->keep_end, j->valid } };
  bool zero = j->src.type == QCOW2_CLUSTER_ZERO_PLAIN || j->src.type == QCOW2_CLUSTER_ZERO_ALLOC
              || (j->src.type == QCOW2_CLUSTER_UNALLOCATED && q->backing == NULL);
  uint8_t *buf;
  int ret = 0;

  if (zero && j->fresh)
    return 0;   /* a new cluster past the old end of the file already reads as zeroes */
  buf = qcow2_alloc_cluster_buf (q);
  if (buf == NULL)
    return -ENOMEM;
  if (j->src.type == QCOW2_CLUSTER_COMPRESSED)
    ret = qcow2_decompress_cluster (q, &j->src, buf);
  for (int r = 0; r < 2 && ret == 0; r++)
    {
      uint64_t s = ranges[r][0], e = ranges[r][1];
      if (e <= s)
        continue;
      if (zero)
        memset (buf + s, 0, e - s);
      else if (j->src.type == QCOW2_CLUSTER_NORMAL)
        ret = vmm_block_pread_fd (q->fd, buf + s, e - s, j->src.host + s, q->align);
      else if (j->src.type == QCOW2_CLUSTER_UNALLOCATED)
        ret = qcow2_read_backing (q, buf + s, e - s, cstart + s);
      if (ret == 0)
        {
          struct iovec iov = { buf + s, e - s };
          ret = vmm_block_write_data (q->b, q->fd, &iov, 1, j->a->host + s, q->align);
        }
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
      int r = qcow2_rc_add (q, a->host / q->cluster_size, -1, NULL);
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

int
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
      struct qcow2_cluster_info ci;
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
          qcow2_table_put (l2);
          l2 = NULL;
          ret = qcow2_l2_for_write (q, cluster, &l2);
          if (ret < 0)
            break;
          l2_l1i = cluster >> q->l2_bits;
        }
      slot = l2->data + 8 * (cluster & (q->l2_entries - 1));
      l2e = viv_get_be64 (slot);
      if (qcow2_classify (q, l2e, &ci) < 0)
        {
          ret = qcow2_bad_l2_entry (q, cluster, l2e);
          break;
        }
      if (ci.type == QCOW2_CLUSTER_NORMAL)
        {
          ret = qcow2_rc_get (q, ci.host / cs, &rc);
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

        ret = qcow2_alloc_cluster (q, &host);
        if (ret < 0)
          break;
        fresh = host >= end_before;
        a = calloc (1, sizeof *a);
        if (a == NULL)
          {
            qcow2_rc_add (q, host / cs, -1, NULL);
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
      m = qcow2_add_extent (ext, n, max, VMM_BLOCK_EXTENT_DATA, pos, chunk, q->fd, host + in_off);
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
  qcow2_table_put (l2);
  /* A partly written new cluster at the end of the file may get no copy at
   * all (see do_cow): the file must still cover all of it, or reading its
   * other bytes would stop short at the end of the file (an I/O error)
   * instead of returning zeroes. */
  if (ret == 0 && n_jobs > 0)
    ret = qcow2_grow_file (q, q->alloc_end * cs);
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
  int ret = qcow2_l2_for_write (q, a->guest_cluster, &l2);

  if (ret < 0)
    return ret;
  slot = l2->data + 8 * (a->guest_cluster & (q->l2_entries - 1));
  cur = viv_get_be64 (slot);
  viv_put_be64 (slot, a->host | QCOW2_OFLAG_COPIED);
  l2->dirty = true;
  qcow2_table_put (l2);
  /* Whatever the entry held now (what the copy was made from, or what a
   * discard left) is no longer referenced. */
  if ((cur & QCOW2_OFFSET_MASK) != a->host || (cur & QCOW2_OFLAG_COMPRESSED))
    qcow2_release_entry (q, cur);
  a->linked = true;
  return 0;
}

int
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

void
qcow2_abort (struct vmm_block *b, void *cookie)
{
  struct qcow2 *q = b->priv;

  pthread_mutex_lock (&q->lock);
  write_release_locked (q, cookie);
  pthread_mutex_unlock (&q->lock);
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
  struct qcow2_cluster_info ci;
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
  ret = qcow2_l1_lookup (q, cluster >> q->l2_bits, &l2off);
  if (ret < 0)
    return ret;
  if (l2off == 0 && q->backing == NULL)
    {
      *skip_to = ((cluster >> q->l2_bits) + 1) << q->l2_bits;
      return 0;
    }

  ret = qcow2_l2_for_write (q, cluster, &l2);
  if (ret < 0)
    return ret;
  slot = l2->data + 8 * (cluster & (q->l2_entries - 1));
  cur = viv_get_be64 (slot);
  if (qcow2_classify (q, cur, &ci) < 0)
    {
      qcow2_table_put (l2);
      return qcow2_bad_l2_entry (q, cluster, cur);
    }
  if (mode == ZERO_KEEP && (ci.type == QCOW2_CLUSTER_NORMAL || ci.type == QCOW2_CLUSTER_ZERO_ALLOC))
    {
      /* Keep the allocation when it is ours alone. */
      ret = qcow2_rc_get (q, ci.host / q->cluster_size, &rc);
      if (ret == 0 && rc == 1)
        {
          viv_put_be64 (slot, ci.host | QCOW2_OFLAG_COPIED | QCOW2_OFLAG_ZERO);
          l2->dirty = true;
          qcow2_table_put (l2);
          return 0;
        }
    }
  if (cur != want)
    {
      viv_put_be64 (slot, want);
      l2->dirty = true;
      qcow2_release_entry (q, cur);
    }
  qcow2_table_put (l2);
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
    return vmm_block_write_zero_data (b, offset, len);
  if (offset < first * cs)
    ret = vmm_block_write_zero_data (b, offset, first * cs - offset);

  for (uint64_t c = first; c < last && ret == 0;)
    {
      uint64_t next = c + 1;
      pthread_mutex_lock (&q->lock);
      ret = q->broken ? -EIO : zero_cluster (q, c, mode, &next);
      pthread_mutex_unlock (&q->lock);
      if (ret == 1)
        ret = vmm_block_write_zero_data (b, c * cs, min_u64 (cs, q->size - c * cs));
      c = next;
    }
  if (ret == 0 && end > last * cs)
    ret = vmm_block_write_zero_data (b, last * cs, end - last * cs);
  return ret;
}

int
qcow2_discard (struct vmm_block *b, uint64_t offset, uint64_t len)
{
  return zero_range (b, offset, len, ZERO_DISCARD);
}

int
qcow2_write_zeroes (struct vmm_block *b, uint64_t offset, uint64_t len, bool may_unmap)
{
  return zero_range (b, offset, len, may_unmap ? ZERO_UNMAP : ZERO_KEEP);
}
