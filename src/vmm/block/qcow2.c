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
 *   qcow2-bitmap.c    persistent dirty bitmaps, kept (not updated)
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
    qcow2_snapshot_clear (&q->snapshots[i]);
  free (q->snapshots);
  qcow2_bitmaps_free (q);
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

/* What opening reads from the header besides the fields of struct qcow2 */
struct header {
  uint64_t backing_offset;
  uint32_t backing_size;
  uint32_t crypt;
  uint32_t nb_snapshots;
  uint8_t *cluster;            /* the whole header cluster: extensions, backing name */
  uint64_t cluster_len;        /* the part of it inside the file */
  const uint8_t *features;     /* the feature name table, in CLUSTER */
  size_t n_features;
};

static struct qcow2 *
qcow2_new (struct vmm_block *b)
{
  struct qcow2 *q = calloc (1, sizeof *q);

  if (q == NULL)
    return NULL;
  pthread_mutex_init (&q->lock, NULL);
  pthread_cond_init (&q->cond, NULL);
  q->b = b;
  q->fd = b->fd;
  q->align = b->alignment;
  q->free_hint = q->alloc_floor = 1;
  return q;
}

static int
header_truncated (struct qcow2 *q, GError **error)
{
  g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the qcow2 header is truncated (the file "
               "has %llu bytes)", q->b->path, (unsigned long long) q->file_size);
  return -EINVAL;
}

/* The fixed part of the header: magic, version, and the fields both
 * versions have (the rest of version 3's). */
static int
read_fixed_header (struct qcow2 *q, struct header *h, GError **error)
{
  const char *path = q->b->path;
  uint8_t hdr[QCOW2_V3_HEADER_LEN];
  struct stat st;
  int ret;

  if (fstat (q->fd, &st) < 0)
    {
      ret = -errno;
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot stat %s: %s", path, strerror (-ret));
      return ret;
    }
  q->file_size = (uint64_t) st.st_size;
  if (q->file_size < QCOW2_V2_HEADER_LEN)
    return header_truncated (q, error);
  ret = qcow2_meta_read (q, hdr, sizeof hdr, 0);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read %s: %s", path, strerror (-ret));
      return ret;
    }
  if (viv_get_be32 (hdr) != QCOW2_MAGIC)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: not a qcow2 image (bad magic)", path);
      return -EINVAL;
    }
  q->version = viv_get_be32 (hdr + 4);
  if (q->version != 2 && q->version != 3)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: unsupported qcow2 version %u", path,
                   q->version);
      return -EINVAL;
    }
  if (q->version == 3 && q->file_size < QCOW2_V3_HEADER_MIN_LEN)
    return header_truncated (q, error);

  h->backing_offset = viv_get_be64 (hdr + 8);
  h->backing_size = viv_get_be32 (hdr + 16);
  q->cluster_bits = viv_get_be32 (hdr + 20);
  q->size = viv_get_be64 (hdr + 24);
  h->crypt = viv_get_be32 (hdr + 32);
  q->l1_size = viv_get_be32 (hdr + 36);
  q->l1_offset = viv_get_be64 (hdr + 40);
  q->reftable_offset = viv_get_be64 (hdr + 48);
  q->reftable_clusters = viv_get_be32 (hdr + 56);
  h->nb_snapshots = viv_get_be32 (hdr + 60);
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
  q->compression_type = q->header_length > 104 ? hdr[104] : QCOW2_COMPRESSION_ZLIB;
  return 0;
}

/* Cluster size, header length and refcount width within what the format
 * (and QEMU) allow. */
static int
check_geometry (struct qcow2 *q, GError **error)
{
  const char *path = q->b->path;

  if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: cluster_bits %u is out of range (%u to %u)",
                   path, q->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
      return -EINVAL;
    }
  q->cluster_size = UINT64_C (1) << q->cluster_bits;
  if (q->version >= 3
      && (q->header_length < QCOW2_V3_HEADER_MIN_LEN || q->header_length % 8 != 0
          || q->header_length > q->cluster_size))
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: header_length %u is invalid", path,
                   q->header_length);
      return -EINVAL;
    }
  if (q->refcount_order > 6)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: refcount_order %u is out of range (0 to 6)",
                   path, q->refcount_order);
      return -EINVAL;
    }
  return 0;
}

/* Reads the whole header cluster into H and walks the header extensions
 * after the fixed part: the backing file's format, the feature name table. */
static int
read_header_extensions (struct qcow2 *q, struct header *h, GError **error)
{
  const char *path = q->b->path;
  uint64_t cs = q->cluster_size, off = q->header_length;
  int ret;

  h->cluster_len = min_u64 (cs, q->file_size);
  h->cluster = calloc (1, cs);
  if (h->cluster == NULL)
    return -ENOMEM;
  ret = qcow2_meta_read (q, h->cluster, h->cluster_len, 0);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read %s: %s", path, strerror (-ret));
      return ret;
    }
  for (unsigned i = 0; i < 4096 && off + 8 <= cs; i++)
    {
      uint32_t type = viv_get_be32 (h->cluster + off), len = viv_get_be32 (h->cluster + off + 4);
      const uint8_t *data = h->cluster + off + 8;

      if (type == QCOW2_EXT_END)
        break;
      if (len > cs - off - 8)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: header extension 0x%08x does not fit "
                       "in the header cluster", path, type);
          return -EINVAL;
        }
      if (type == QCOW2_EXT_BACKING_FORMAT)
        {
          free (q->backing_format);
          q->backing_format = strndup ((const char *) data, len);
          if (q->backing_format == NULL)
            return -ENOMEM;
        }
      else if (type == QCOW2_EXT_FEATURE_TABLE)
        {
          h->features = data;
          h->n_features = len / 48;
        }
      else if (type == QCOW2_EXT_BITMAPS && len >= 24 && !q->bitmaps_ext)
        {
          /* One too short counts as absent: the autoclear bit then goes
           * with the first write, as for the bit without the extension. */
          q->bitmaps_ext = true;
          q->bitmaps_nb = viv_get_be32 (data);
          q->bitmap_dir_size = viv_get_be64 (data + 8);
          q->bitmap_dir_offset = viv_get_be64 (data + 16);
        }
      off += 8 + (((uint64_t) len + 7) & ~UINT64_C (7));
    }
  return 0;
}

/* Refuses what we do not implement (encryption, unknown incompatible
 * features, subclusters, external data files, compression types but zlib
 * and zstd) and a writable open of an image marked corrupt. */
static int
check_features (struct qcow2 *q, const struct header *h, GError **error)
{
  const char *path = q->b->path;
  char namebuf[64];

  if (h->crypt != 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: encryption (crypt_method %u) is not "
                   "supported", path, h->crypt);
      return -ENOTSUP;
    }
  for (unsigned bit = 5; bit < 64; bit++)
    if (q->incompat & (UINT64_C (1) << bit))
      {
        g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported incompatible feature: %s",
                     path, feature_name (h->features, h->n_features, 0, bit, namebuf));
        return -ENOTSUP;
      }
  if (q->incompat & QCOW2_INCOMPAT_EXTL2)
    {
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported incompatible feature: "
                   "extended L2 entries (subclusters)", path);
      return -ENOTSUP;
    }
  if (q->incompat & QCOW2_INCOMPAT_DATA_FILE)
    {
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported incompatible feature: "
                   "external data file", path);
      return -ENOTSUP;
    }
  if (q->incompat & QCOW2_INCOMPAT_COMPRESSION)
    {
      if (q->compression_type == QCOW2_COMPRESSION_ZLIB)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the compression type bit is set but "
                       "compression_type is zlib", path);
          return -EINVAL;
        }
      if (q->compression_type != QCOW2_COMPRESSION_ZSTD)
        {
          g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, "%s: unsupported compression type %u", path,
                       q->compression_type);
          return -ENOTSUP;
        }
    }
  else if (q->compression_type != QCOW2_COMPRESSION_ZLIB)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: compression_type %u without the "
                   "compression type feature bit", path, q->compression_type);
      return -EINVAL;
    }
  if ((q->incompat & QCOW2_INCOMPAT_CORRUPT) && !q->b->read_only)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the image is marked corrupt; it can only "
                   "be opened read-only (repair it with qemu-img check -r all)", path);
      return -EINVAL;
    }
  return 0;
}

/* The sizes and masks everything else computes with */
static void
derive_sizes (struct qcow2 *q)
{
  uint64_t cs = q->cluster_size;

  q->refcount_bits = 1u << q->refcount_order;
  q->refcount_max = q->refcount_bits == 64 ? UINT64_MAX
                                           : (UINT64_C (1) << q->refcount_bits) - 1;
  q->refblock_entries = cs * 8 / q->refcount_bits;
  q->l2_bits = q->cluster_bits - 3;
  q->l2_entries = cs / 8;
  q->csize_shift = 62 - (q->cluster_bits - 8);
  q->csize_mask = (UINT64_C (1) << (q->cluster_bits - 8)) - 1;
  q->coffset_mask = (UINT64_C (1) << q->csize_shift) - 1;
}

/* Checks where the active L1 table is and that it covers the virtual size,
 * then reads it, in whole clusters (the flush writes it back by cluster). */
static int
load_l1_table (struct qcow2 *q, GError **error)
{
  const char *path = q->b->path;
  uint64_t cs = q->cluster_size;
  uint64_t l1_needed = div_up (div_up (q->size, cs), q->l2_entries);
  int ret;

  if ((uint64_t) q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: l1_size %u is too large", path, q->l1_size);
      return -EINVAL;
    }
  if (q->l1_size < l1_needed)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the L1 table is too small for the virtual "
                   "size (l1_size %u, %llu needed)", path, q->l1_size,
                   (unsigned long long) l1_needed);
      return -EINVAL;
    }
  if (q->l1_offset & (cs - 1) || (q->l1_size > 0 && q->l1_offset == 0))
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: l1_table_offset 0x%llx is not a cluster "
                   "boundary past the header", path, (unsigned long long) q->l1_offset);
      return -EINVAL;
    }
  if (q->l1_size > 0
      && (q->l1_offset > q->file_size || q->file_size - q->l1_offset < (uint64_t) q->l1_size * 8))
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the L1 table (l1_table_offset 0x%llx, %u "
                   "entries) lies past the end of the file", path,
                   (unsigned long long) q->l1_offset, q->l1_size);
      return -EINVAL;
    }
  q->l1_clusters = (uint32_t) div_up ((uint64_t) q->l1_size * 8, cs);
  q->l1 = calloc (q->l1_clusters ? q->l1_clusters * (cs / 8) : 1, sizeof *q->l1);
  q->l1_dirty = calloc (q->l1_clusters ? q->l1_clusters : 1, sizeof *q->l1_dirty);
  if (q->l1 == NULL || q->l1_dirty == NULL)
    return -ENOMEM;
  ret = qcow2_meta_read (q, q->l1, (size_t) q->l1_size * 8, q->l1_offset);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read the L1 table of %s: %s", path,
                   strerror (-ret));
      return ret;
    }
  for (uint32_t i = 0; i < q->l1_size; i++)
    q->l1[i] = viv_get_be64 (&q->l1[i]);
  return 0;
}

/* Checks where the refcount table is, reads it, and checks that its
 * entries are cluster offsets. */
static int
load_refcount_table (struct qcow2 *q, GError **error)
{
  const char *path = q->b->path;
  uint64_t cs = q->cluster_size;
  int ret;

  if (q->reftable_offset == 0 || q->reftable_offset & (cs - 1) || q->reftable_clusters == 0
      || (uint64_t) q->reftable_clusters * cs > QCOW2_MAX_REFTABLE_BYTES
      || q->reftable_offset > q->file_size
      || q->file_size - q->reftable_offset < (uint64_t) q->reftable_clusters * cs)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the refcount table (refcount_table_offset "
                   "0x%llx, %u clusters) is invalid or lies past the end of the file", path,
                   (unsigned long long) q->reftable_offset, q->reftable_clusters);
      return -EINVAL;
    }
  q->reftable_entries = (uint64_t) q->reftable_clusters * cs / 8;
  q->reftable = calloc (q->reftable_entries, sizeof *q->reftable);
  if (q->reftable == NULL)
    return -ENOMEM;
  ret = qcow2_meta_read (q, q->reftable, q->reftable_entries * 8, q->reftable_offset);
  if (ret < 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read the refcount table of %s: %s", path,
                   strerror (-ret));
      return ret;
    }
  for (uint64_t t = 0; t < q->reftable_entries; t++)
    {
      q->reftable[t] = viv_get_be64 (&q->reftable[t]);
      if (q->reftable[t] & (cs - 1))
        {
          g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: refcount table entry %llu (0x%llx) is "
                       "not aligned to a cluster", path, (unsigned long long) t,
                       (unsigned long long) q->reftable[t]);
          return -EINVAL;
        }
    }
  return 0;
}

/* The backing file name: in the header cluster, after the extensions. */
static int
read_backing_name (struct qcow2 *q, const struct header *h, GError **error)
{
  const char *path = q->b->path;
  uint64_t cs = q->cluster_size;

  if (h->backing_offset == 0 || h->backing_size == 0)
    return 0;
  if (h->backing_size > QCOW2_MAX_BACKING_NAME || h->backing_offset >= cs
      || h->backing_size > cs - h->backing_offset
      || h->backing_offset + h->backing_size > h->cluster_len
      || h->backing_offset < q->header_length)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the backing file name (offset 0x%llx, "
                   "%u bytes) is invalid", path, (unsigned long long) h->backing_offset,
                   h->backing_size);
      return -EINVAL;
    }
  if (memchr (h->cluster + h->backing_offset, 0, h->backing_size) != NULL)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the backing file name contains a NUL",
                   path);
      return -EINVAL;
    }
  q->backing_name = strndup ((const char *) h->cluster + h->backing_offset, h->backing_size);
  if (q->backing_name == NULL)
    return -ENOMEM;
  return 0;
}

/* The L2 and refcount block caches, sized by cluster, and the table of
 * clusters being allocated. */
static int
init_caches (struct qcow2 *q)
{
  uint64_t cs = q->cluster_size;
  unsigned n_l2 = (unsigned) (L2_CACHE_BYTES / cs), n_rb = (unsigned) (RB_CACHE_BYTES / cs);
  int ret;

  n_l2 = n_l2 < L2_CACHE_MIN ? L2_CACHE_MIN : n_l2 > L2_CACHE_MAX ? L2_CACHE_MAX : n_l2;
  n_rb = n_rb < RB_CACHE_MIN ? RB_CACHE_MIN : n_rb > RB_CACHE_MAX ? RB_CACHE_MAX : n_rb;
  ret = qcow2_cache_init (&q->l2_cache, n_l2, cs);
  if (ret == 0)
    ret = qcow2_cache_init (&q->rb_cache, n_rb, cs);
  if (ret < 0)
    return ret;
  q->inflight = g_hash_table_new (g_int64_hash, g_int64_equal);
  return 0;
}

/* O_DIRECT cannot write clusters smaller than a device block: such an
 * image goes through the page cache. */
static void
drop_direct_for_small_clusters (struct qcow2 *q)
{
  struct vmm_block *b = q->b;
  int fl;

  if (!b->direct || q->cluster_size >= b->alignment)
    return;
  fl = fcntl (b->fd, F_GETFL);
  vmm_log_warning ("%s: %llu-byte clusters are smaller than the %u-byte blocks O_DIRECT "
                   "needs; using the page cache", b->path, (unsigned long long) q->cluster_size,
                   b->alignment);
  if (fl >= 0)
    fcntl (b->fd, F_SETFL, fl & ~O_DIRECT);
  b->direct = false;
  b->alignment = q->align = 1;
}

/* Autoclear bits we do not know must go before a write. The bitmaps bit
 * stays when we keep the bitmaps (qcow2-bitmap.c). */
static int
clear_autoclear_bits (struct qcow2 *q, GError **error)
{
  uint64_t keep = q->n_bitmaps > 0 ? QCOW2_AUTOCLEAR_BITMAPS : 0;
  uint8_t be[8];
  int ret;

  if ((q->autoclear & ~keep) == 0)
    return 0;
  q->autoclear &= keep;
  viv_put_be64 (be, q->autoclear);
  ret = qcow2_meta_write (q, be, 8, 88);
  if (ret == 0)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot write %s: %s", q->b->path,
                 strerror (-ret));
  return ret;
}

/* The dirty bit (lazy refcounts, QEMU's): the refcounts on disk cannot be
 * trusted until they are rebuilt from the tables. */
static int
repair_if_dirty (struct qcow2 *q, GError **error)
{
  if (!(q->incompat & QCOW2_INCOMPAT_DIRTY))
    return 0;
  vmm_log_info ("%s: the image was not closed cleanly; rebuilding its refcounts", q->b->path);
  return qcow2_repair_refcounts (q, error);
}

/* The allocator trusts refcounts: metadata counted as free would be
 * handed out and overwritten. */
static int
check_metadata_refcounts (struct qcow2 *q, GError **error)
{
  uint64_t cs = q->cluster_size;
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
        int ret = qcow2_rc_get (q, o / cs, &rc);

        if (ret < 0 || rc == 0)
          {
            g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the refcount of the %s is %s; the "
                         "image is corrupt", q->b->path, meta[i].what,
                         ret < 0 ? "unreadable" : "0");
            return -EINVAL;
          }
      }
  return 0;
}

/* Reads and checks the header, its extensions and the tables, each step
 * relying on what the ones before it checked; the first problem found is
 * the one reported. */
static int
read_metadata (struct qcow2 *q, GError **error)
{
  struct header h = { 0 };
  int ret;

  ret = read_fixed_header (q, &h, error);
  if (ret == 0)
    ret = check_geometry (q, error);
  if (ret == 0)
    ret = read_header_extensions (q, &h, error);
  if (ret == 0)
    ret = check_features (q, &h, error);
  if (ret == 0)
    {
      derive_sizes (q);
      ret = load_l1_table (q, error);
    }
  if (ret == 0)
    ret = load_refcount_table (q, error);
  if (ret == 0)
    ret = qcow2_read_snapshots (q, h.nb_snapshots, error);
  if (ret == 0)
    ret = qcow2_read_bitmaps (q, error);
  if (ret == 0)
    ret = read_backing_name (q, &h, error);
  free (h.cluster);
  return ret;
}

int
vmm_block_qcow2_open (struct vmm_block *b, const struct vmm_block_chain *chain,
                      unsigned flags, GError **error)
{
  struct qcow2 *q = qcow2_new (b);
  int ret;

  if (q == NULL)
    return -ENOMEM;
  ret = read_metadata (q, error);
  if (ret == 0)
    ret = init_caches (q);
  if (ret < 0)
    {
      qcow2_free (q);
      return ret;
    }

  b->priv = q;
  b->size = q->size;
  b->drv = &vmm_block_qcow2_driver;
  drop_direct_for_small_clusters (q);
  if (!b->read_only)
    {
      ret = clear_autoclear_bits (q, error);
      if (ret == 0)
        ret = repair_if_dirty (q, error);
      if (ret == 0)
        ret = check_metadata_refcounts (q, error);
      /* Last: an image refused above keeps its bitmaps as they were.
       * The repair changes no guest data, so they were still right. */
      if (ret == 0)
        ret = qcow2_bitmaps_mark_in_use (q, error);
    }
  if (ret == 0 && q->backing_name != NULL && !(flags & VMM_BLOCK_OPEN_NO_BACKING))
    ret = open_backing (q, chain, error);
  if (ret == 0 && !b->read_only)
    {
      /* The crash tests' knob (tests/vmm/qcow2-snapshot-crash.sh) */
      const char *crash = getenv ("VIVARIUM_BLOCK_CRASH_AFTER");
      if (crash != NULL)
        q->crash_after = g_ascii_strtoull (crash, NULL, 10);
    }
  if (ret < 0)
    {
      b->priv = NULL;
      b->drv = NULL;
      qcow2_free (q);
    }
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
  info->corrupt = (q->incompat & QCOW2_INCOMPAT_CORRUPT) != 0;
  info->lazy_refcounts = (q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS) != 0;
  info->refcount_bits = q->refcount_bits;
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
          s->date_nsec = q->snapshots[i].date_nsec;
          s->vm_clock_nsec = q->snapshots[i].vm_clock_nsec;
          s->disk_size = q->snapshots[i].disk_size;
          info->n_snapshots++;
          if (s->id == NULL || s->name == NULL)
            return -ENOMEM;
        }
    }
  if (q->n_bitmaps > 0)
    {
      info->bitmaps = calloc (q->n_bitmaps, sizeof *info->bitmaps);
      if (info->bitmaps == NULL)
        return -ENOMEM;
      for (unsigned i = 0; i < q->n_bitmaps; i++)
        {
          struct vmm_block_bitmap_info *bi = &info->bitmaps[i];
          const struct qcow2_bitmap *bm = &q->bitmaps[i];

          bi->name = strdup (bm->name);
          bi->granularity = bm->granularity_bits < 64 ? UINT64_C (1) << bm->granularity_bits : 0;
          bi->in_use = (bm->flags & QCOW2_BITMAP_IN_USE) != 0;
          bi->tracks_writes = (bm->flags & QCOW2_BITMAP_AUTO) != 0;
          info->n_bitmaps++;
          if (bi->name == NULL)
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

static struct vmm_block *
qcow2_backing (struct vmm_block *b)
{
  struct qcow2 *q = b->priv;

  return q->backing;
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
  .backing = qcow2_backing,
  .info = qcow2_info,
  .check = qcow2_check,
};
