/* block/qcow2.c: qcow2 images (version 3, and version 2 read and written)
 *
 * Written from QEMU's docs/interop/qcow2.txt. The image file is hostile
 * input: every offset, size and count read from it is checked before use,
 * and a bad one gives -EINVAL (at open) or -EIO (later) with the field named.
 *
 * This file opens (header, extensions, tables, backing file), creates and
 * describes images. The rest of the driver, by concern:
 *
 *   qcow2-cluster.c   L1/L2 lookups, what an entry says, reading
 *   qcow2-write.c     allocating writes, copy-on-write, commit, zeroes
 *   qcow2-refcount.c  refcounts, the cluster allocator, check and repair
 *   qcow2-cache.c     metadata I/O, the table caches, flush (crash safety)
 *   qcow2-snapshot.c  the snapshot table, snapshot refcounts
 *
 * Concurrency: one mutex per image around the metadata (q->lock); data I/O
 * and copy-on-write run outside it (qcow2-write.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "viv-bytes.h"

/* Cache budgets */
#define L2_CACHE_BYTES   (2u << 20)
#define L2_CACHE_MIN     16u
#define L2_CACHE_MAX     256u
#define RB_CACHE_BYTES   (512u << 10)
#define RB_CACHE_MIN     8u
#define RB_CACHE_MAX     64u

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
  qcow2_cache_free (&q->l2_cache);
  qcow2_cache_free (&q->rb_cache);
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
  ret = qcow2_meta_read (q, hdr, QCOW2_V3_HEADER_LEN, 0);
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
  ret = qcow2_meta_read (q, hdr, hdr_len, 0);
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
            q->backing_format = strndup ((const char *) data, len);
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
  ret = qcow2_meta_read (q, q->l1, (size_t) q->l1_size * 8, q->l1_offset);
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
  ret = qcow2_meta_read (q, q->reftable, q->reftable_entries * 8, q->reftable_offset);
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

  ret = qcow2_read_snapshots (q, nb_snapshots, error);
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
      q->backing_name = strndup ((const char *) hdr + backing_offset, backing_size);
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
    ret = qcow2_cache_init (&q->l2_cache, n_l2, cs);
    if (ret == 0)
      ret = qcow2_cache_init (&q->rb_cache, n_rb, cs);
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
          ret = qcow2_meta_write (q, be, 8, 88);
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
          ret = qcow2_repair_refcounts (q, error);
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
              ret = qcow2_rc_get (q, o / cs, &rc);
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
