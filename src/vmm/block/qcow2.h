/* block/qcow2.h: the qcow2 driver's insides
 *
 * The on-disk constants, the in-memory state and the functions the qcow2
 * files (qcow2.c lists them) share. Nothing outside src/vmm/block and its
 * unit test includes this file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>

#include "block/driver.h"

/* ---- qcow2 on disk (docs/interop/qcow2.txt in QEMU) ------------------------- */

#define QCOW2_MAGIC               0x514649fbu      /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN       72u
#define QCOW2_V3_HEADER_MIN_LEN   104u
#define QCOW2_V3_HEADER_LEN       112u             /* with compression_type, padded */

#define QCOW2_MIN_CLUSTER_BITS    9u
#define QCOW2_MAX_CLUSTER_BITS    21u
#define QCOW2_DEFAULT_CLUSTER     65536u

/* Implementation limits, QEMU's, so an image one opens the other does too */
#define QCOW2_MAX_L1_BYTES        (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES  (8u << 20)
#define QCOW2_MAX_SNAPSHOTS       65536u
#define QCOW2_MAX_SNAPSHOT_TABLE  (64u << 20)
#define QCOW2_MAX_SNAPSHOT_EXTRA  1024u
#define QCOW2_MAX_BACKING_NAME    1023u
#define QCOW2_MAX_HOST_OFFSET     (UINT64_C (1) << 56)

#define QCOW2_INCOMPAT_DIRTY      (UINT64_C (1) << 0)
#define QCOW2_INCOMPAT_CORRUPT    (UINT64_C (1) << 1)
#define QCOW2_INCOMPAT_DATA_FILE  (UINT64_C (1) << 2)
#define QCOW2_INCOMPAT_COMPRESSION (UINT64_C (1) << 3)
#define QCOW2_INCOMPAT_EXTL2      (UINT64_C (1) << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (UINT64_C (1) << 0)
#define QCOW2_AUTOCLEAR_BITMAPS   (UINT64_C (1) << 0)

#define QCOW2_COMPRESSION_ZLIB    0u
#define QCOW2_COMPRESSION_ZSTD    1u

#define QCOW2_EXT_END             0x00000000u
#define QCOW2_EXT_BACKING_FORMAT  0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE   0x6803f857u
#define QCOW2_EXT_BITMAPS         0x23852875u
#define QCOW2_EXT_CRYPTO          0x0537be77u
#define QCOW2_EXT_DATA_FILE       0x44415441u

/* Persistent dirty bitmaps (the bitmaps extension); QEMU's limits */
#define QCOW2_MAX_BITMAPS         65535u
#define QCOW2_MAX_BITMAP_DIRECTORY (64u << 20)
#define QCOW2_MAX_BITMAP_NAME     1023u
#define QCOW2_BITMAP_IN_USE       (1u << 0)
#define QCOW2_BITMAP_AUTO         (1u << 1)
#define QCOW2_BITMAP_RESERVED_FLAGS 0xfffffff8u
#define QCOW2_BME_RESERVED        UINT64_C (0xff000000000001fe)   /* bitmap table entry */

#define QCOW2_OFLAG_COPIED        (UINT64_C (1) << 63)
#define QCOW2_OFLAG_COMPRESSED    (UINT64_C (1) << 62)
#define QCOW2_OFLAG_ZERO          (UINT64_C (1) << 0)
#define QCOW2_OFFSET_MASK         UINT64_C (0x00fffffffffffe00)   /* bits 9-55 */
#define QCOW2_L1E_RESERVED        UINT64_C (0x7f000000000001ff)
#define QCOW2_L2E_STD_RESERVED    UINT64_C (0x3f000000000001fe)
#define QCOW2_REFT_RESERVED       UINT64_C (0x00000000000001ff)

/* ---- qcow2 in memory ------------------------------------------------------- */

/* A cache of cluster-sized tables (L2 tables or refcount blocks), kept in
 * their on-disk byte order. Entries in use are pinned so that loading
 * another table cannot evict them. A slot gets its buffer when first
 * used, so a small image with big clusters costs what it uses. */
struct qcow2_cache_entry {
  uint64_t offset;            /* host offset; 0: a free slot (cluster 0 is the header) */
  uint8_t *data;              /* NULL until the slot is first used */
  uint64_t last_use;
  unsigned pins;
  bool dirty;
};

struct qcow2_cache {
  struct qcow2_cache_entry *entries;
  unsigned n;
  size_t table_size;
  uint64_t clock;
};

/* A guest cluster being allocated by one or more vmm_block_map_write calls
 * whose data is in flight. */
struct qcow2_alloc {
  uint64_t guest_cluster;     /* the key in qcow2->inflight */
  uint64_t host;              /* the new host cluster */
  unsigned users;             /* cookies holding it */
  bool cow_done;              /* the rest of the cluster has been copied */
  bool failed;                /* the copy failed: nobody may commit it */
  bool linked;                /* the L2 entry points to it */
  bool in_table;              /* still findable in qcow2->inflight */
};

struct qcow2_snapshot {
  uint64_t l1_offset;
  uint32_t l1_size;
  char *id, *name;
  uint64_t vm_state_size;
  uint32_t date_sec, date_nsec;
  uint64_t vm_clock_nsec;
  uint64_t disk_size;          /* from the extra data; the image's size when absent */
  uint8_t *extra;              /* the extra data as read, written back as it was */
  uint32_t extra_len;
};

/* A persistent dirty bitmap, as its bitmap directory entry says */
struct qcow2_bitmap {
  char *name;
  uint64_t entry_offset;       /* of its directory entry in the file */
  uint64_t table_offset;
  uint32_t table_size;         /* entries */
  uint32_t flags;
  uint8_t type, granularity_bits;
};

struct qcow2 {
  pthread_mutex_t lock;
  pthread_cond_t cond;        /* a copy-on-write finished */
  struct vmm_block *b;        /* the image this belongs to */
  int fd;
  uint32_t align;             /* for our own I/O: 1, or the O_DIRECT alignment */

  /* Header */
  uint32_t version;
  uint32_t cluster_bits;
  uint64_t cluster_size;
  uint64_t size;
  uint64_t incompat, compat, autoclear;
  uint32_t header_length;
  uint32_t compression_type;
  uint32_t refcount_order;
  uint32_t refcount_bits;
  uint64_t refcount_max;
  uint64_t refblock_entries;   /* refcounts per refcount block */
  uint32_t l2_bits;            /* log2 of the entries per L2 table */
  uint64_t l2_entries;
  uint32_t csize_shift;        /* compressed descriptors */
  uint64_t csize_mask;
  uint64_t coffset_mask;

  /* Active L1 table, host byte order, whole clusters */
  uint64_t *l1;
  uint32_t l1_size;
  uint64_t l1_offset;
  uint32_t l1_clusters;
  bool *l1_dirty;              /* per cluster of the table */

  /* Refcount table, host byte order */
  uint64_t *reftable;
  uint64_t reftable_offset;
  uint32_t reftable_clusters;
  uint64_t reftable_entries;

  struct qcow2_cache l2_cache;
  struct qcow2_cache rb_cache;

  char *backing_name;          /* as stored in the image */
  char *backing_format;        /* from the header extension, or NULL */
  struct vmm_block *backing;   /* NULL: none, or not opened */

  unsigned n_snapshots;
  struct qcow2_snapshot *snapshots;
  uint64_t snapshots_offset;
  uint64_t snapshot_table_size;

  /* The bitmaps extension: only when the autoclear bit says it is
   * consistent; otherwise its clusters are leaks, as QEMU sees them. */
  bool bitmaps_ext;            /* present in the header */
  uint32_t bitmaps_nb;
  uint64_t bitmap_dir_offset, bitmap_dir_size;
  unsigned n_bitmaps;
  struct qcow2_bitmap *bitmaps;

  uint64_t file_size;          /* what we know the host file's size to be */
  uint64_t free_hint;          /* no free cluster below this index */
  uint64_t alloc_end;          /* one past the highest cluster we allocated */
  uint64_t alloc_floor;        /* allocate at or above this index (repair) */

  /* Clusters to decrement once the metadata that dropped them is on disk */
  uint64_t *pending_free;
  size_t n_pending_free, cap_pending_free;

  void *inflight;              /* GHashTable: guest cluster -> struct qcow2_alloc */
  unsigned cows_running;
  bool broken;                 /* metadata found inconsistent at run time: no more writes */

  /* Tests only (VIVARIUM_BLOCK_CRASH_AFTER=N at open): the Nth metadata
   * write from then on kills the process instead, as a SIGKILL would. */
  uint64_t crash_after;
};

/* ---- cluster types, arithmetic and geometry --------------------------------- */

/* What an L2 entry says about a guest cluster */
enum qcow2_cluster_type {
  QCOW2_CLUSTER_UNALLOCATED,
  QCOW2_CLUSTER_ZERO_PLAIN,    /* zero flag, no host cluster */
  QCOW2_CLUSTER_ZERO_ALLOC,    /* zero flag over a preallocated host cluster */
  QCOW2_CLUSTER_NORMAL,
  QCOW2_CLUSTER_COMPRESSED,
};

struct qcow2_cluster_info {
  enum qcow2_cluster_type type;
  uint64_t host;               /* NORMAL, ZERO_ALLOC */
  uint64_t coffset, csize;     /* COMPRESSED: bytes at coffset */
};

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
static inline bool
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

/* ---- between the qcow2 files ------------------------------------------------ */

/* Run-time paths return 0 or -errno; those that take a GError are set-up
 * paths (open, repair, check), which set it on failure. Metadata is read
 * and changed under q->lock (or before anyone else can see the image, at
 * open); the data helpers qcow2_read_backing and qcow2_decompress_cluster
 * run outside it. */

/* qcow2-cache.c: metadata I/O through q->align, and the file's size */
int   qcow2_meta_read  (struct qcow2 *q, void *buf, size_t len, uint64_t offset);
int   qcow2_meta_write (struct qcow2 *q, const void *buf, size_t len, uint64_t offset);
int   qcow2_grow_file  (struct qcow2 *q, uint64_t end);
void *qcow2_alloc_cluster_buf (const struct qcow2 *q);
/* qcow2-cache.c: the L2 and refcount block caches, and the flush */
int   qcow2_cache_init   (struct qcow2_cache *c, unsigned n, size_t table_size);
void  qcow2_cache_free   (struct qcow2_cache *c);
void  qcow2_cache_forget (struct qcow2_cache *c, uint64_t offset);
int   qcow2_table_get (struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool load,
                       struct qcow2_cache_entry **out);
void  qcow2_table_put (struct qcow2_cache_entry *e);
int   qcow2_flush_locked (struct qcow2 *q);
int   qcow2_flush (struct vmm_block *b);

/* qcow2-refcount.c */
int   qcow2_rc_get (struct qcow2 *q, uint64_t cluster, uint64_t *rc);
int   qcow2_rc_set (struct qcow2 *q, uint64_t cluster, uint64_t value);
int   qcow2_rc_add (struct qcow2 *q, uint64_t cluster, int64_t delta, uint64_t *result);
int   qcow2_alloc_cluster (struct qcow2 *q, uint64_t *host);
void  qcow2_free_later (struct qcow2 *q, uint64_t cluster);
int   qcow2_check (struct vmm_block *b, struct vmm_block_check_result *res, GError **error);
int   qcow2_repair_refcounts (struct qcow2 *q, GError **error);

/* qcow2-cluster.c */
int   qcow2_classify (struct qcow2 *q, uint64_t l2e, struct qcow2_cluster_info *ci);
int   qcow2_bad_l2_entry (struct qcow2 *q, uint64_t cluster, uint64_t l2e);
int   qcow2_l1_lookup (struct qcow2 *q, uint64_t l1i, uint64_t *l2off);
int   qcow2_l2_for_write (struct qcow2 *q, uint64_t cluster, struct qcow2_cache_entry **out);
void  qcow2_release_entry (struct qcow2 *q, uint64_t l2e);
int   qcow2_decompress_cluster (struct qcow2 *q, const struct qcow2_cluster_info *ci,
                                uint8_t *out);
int   qcow2_read_backing (struct qcow2 *q, void *buf, uint64_t len, uint64_t offset);
int   qcow2_add_extent (struct vmm_block_extent *ext, int n, unsigned max,
                        enum vmm_block_extent_kind kind, uint64_t offset, uint64_t len, int fd,
                        uint64_t host);
int   qcow2_map_read (struct vmm_block *b, uint64_t offset, uint64_t len,
                      struct vmm_block_extent *ext, unsigned max);
int   qcow2_read_sync (struct vmm_block *b, uint64_t offset, uint64_t len, void *buf);

/* qcow2-write.c */
int   qcow2_map_write (struct vmm_block *b, uint64_t offset, uint64_t len,
                       struct vmm_block_extent *ext, unsigned max, void **cookie);
int   qcow2_commit (struct vmm_block *b, void *cookie);
void  qcow2_abort (struct vmm_block *b, void *cookie);
int   qcow2_discard (struct vmm_block *b, uint64_t offset, uint64_t len);
int   qcow2_write_zeroes (struct vmm_block *b, uint64_t offset, uint64_t len, bool may_unmap);

/* qcow2-snapshot.c: reads NB entries of the snapshot table at open; frees one
 * entry's strings and extra data */
int   qcow2_read_snapshots (struct qcow2 *q, uint32_t nb, GError **error);
void  qcow2_snapshot_clear (struct qcow2_snapshot *s);

/* qcow2-bitmap.c: reads the bitmap directory at open (when the autoclear
 * bit says it is consistent); marks the bitmaps that must track writes
 * ("auto") as in use before the first write, since we do not update them */
int   qcow2_read_bitmaps (struct qcow2 *q, GError **error);
int   qcow2_bitmaps_mark_in_use (struct qcow2 *q, GError **error);
void  qcow2_bitmaps_free (struct qcow2 *q);

/* For the snapshot code to come, and its tests: adds ADDEND (+1 or -1) to
 * the refcount of every cluster the active L1 table reaches (L2 tables and
 * data), as creating (or deleting) an internal snapshot does, and updates
 * the active tables' COPIED flags. Nothing changes when a refcount would
 * leave [0, max]: -ERANGE, with the cluster in *ERROR. */
int qcow2_update_active_refcounts (struct vmm_block *block, int addend, GError **error);
