/* block/qcow2-cache.c: qcow2 metadata I/O, the table caches and their write-back
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
 * them (qcow2-refcount.c). We never set the dirty bit: refcounts are exact.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "viv-bytes.h"

/* ---- metadata I/O ------------------------------------------------------------ */

int
qcow2_meta_read (struct qcow2 *q, void *buf, size_t len, uint64_t offset)
{
  return vmm_block_pread_fd (q->fd, buf, len, offset, q->align);
}

int
qcow2_meta_write (struct qcow2 *q, const void *buf, size_t len, uint64_t offset)
{
  int ret;

  /* Tests only: die here as a SIGKILL would, before the Nth write */
  if (q->crash_after > 0 && --q->crash_after == 0)
    _exit (9);
  ret = vmm_block_pwrite_fd (q->fd, buf, len, offset, q->align);

  if (ret == 0 && offset + len > q->file_size)
    q->file_size = offset + len;
  return ret;
}

/* Makes the file cover cluster END - 1, so that a refcount never counts a
 * cluster past the end of the file. */
int
qcow2_grow_file (struct qcow2 *q, uint64_t end)
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

void *
qcow2_alloc_cluster_buf (const struct qcow2 *q)
{
  void *p;

  if (posix_memalign (&p, 4096, q->cluster_size) != 0)
    return NULL;
  return p;
}

/* ---- table caches -------------------------------------------------------------- */

int
qcow2_cache_init (struct qcow2_cache *c, unsigned n, size_t table_size)
{
  c->entries = calloc (n, sizeof *c->entries);
  if (c->entries == NULL)
    return -ENOMEM;
  c->n = n;
  c->table_size = table_size;
  return 0;
}

void
qcow2_cache_free (struct qcow2_cache *c)
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
void
qcow2_cache_forget (struct qcow2_cache *c, uint64_t offset)
{
  struct qcow2_cache_entry *e = cache_find (c, offset);

  if (e != NULL && e->pins == 0)
    {
      e->offset = 0;
      e->dirty = false;
    }
}

static int
write_refblock (struct qcow2 *q, struct qcow2_cache_entry *e)
{
  int ret;

  /* A refcount on disk for a cluster past the end of the file would look
   * like a corruption after a crash: make the file cover what we allocated. */
  ret = qcow2_grow_file (q, q->alloc_end * q->cluster_size);
  if (ret == 0)
    ret = qcow2_meta_write (q, e->data, q->cluster_size, e->offset);
  if (ret == 0)
    e->dirty = false;
  return ret;
}

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
  if (victim->data == NULL
      && posix_memalign ((void **) &victim->data, 4096, c->table_size) != 0)
    {
      victim->data = NULL;
      return -ENOMEM;
    }
  if (victim->offset != 0 && victim->dirty)
    {
      ret = c == &q->l2_cache ? qcow2_flush_locked (q) : write_refblock (q, victim);
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
int
qcow2_table_get (struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool load,
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
            ret = qcow2_meta_read (q, e->data, q->cluster_size, offset);
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

void
qcow2_table_put (struct qcow2_cache_entry *e)
{
  if (e != NULL && e->pins > 0)
    e->pins--;
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
      if (buf == NULL && (buf = qcow2_alloc_cluster_buf (q)) == NULL)
        return -ENOMEM;
      n = min_u64 (epc, q->l1_size - first);
      for (uint64_t j = 0; j < n; j++)
        viv_put_be64 (buf + 8 * j, q->l1[first + j]);
      ret = qcow2_meta_write (q, buf, n * 8, q->l1_offset + first * 8);
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
int
qcow2_flush_locked (struct qcow2 *q)
{
  bool any = false;
  int ret;

  if (q->b->read_only)
    return 0;

  /* 1: new refcounts, with the data they cover */
  ret = write_dirty_refblocks (q, &any);
  if (ret == 0)
    ret = qcow2_grow_file (q, q->alloc_end * q->cluster_size);
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
          ret = qcow2_meta_write (q, e->data, q->cluster_size, e->offset);
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
          int r = qcow2_rc_add (q, list[i], -1, &rc);
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

int
qcow2_flush (struct vmm_block *b)
{
  struct qcow2 *q = b->priv;
  int ret;

  pthread_mutex_lock (&q->lock);
  while (q->cows_running > 0)
    pthread_cond_wait (&q->cond, &q->lock);
  ret = q->broken ? -EIO : qcow2_flush_locked (q);
  pthread_mutex_unlock (&q->lock);
  return ret;
}
