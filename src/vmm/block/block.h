/* block/block.h: disk images, raw and qcow2
 *
 * A struct vmm_block is an open disk image. Two ways to use it:
 *
 * - The synchronous calls (vmm_block_preadv and friends) do everything,
 *   metadata and data, in the calling thread. Image tools, tests and the
 *   thread-pool fallback use them.
 * - The map calls split a guest request into extents of the host files, so
 *   the device can run the data I/O itself, asynchronously (io_uring):
 *   vmm_block_map_read() says where each part of a range lives;
 *   vmm_block_map_write() allocates what a write needs and says where to
 *   write; after those writes complete, vmm_block_write_commit() links the
 *   new clusters into the image (in the metadata cache: they become durable
 *   with the next vmm_block_flush, which orders data, refcounts, L2 and L1
 *   writes so a crash leaves a consistent image).
 *
 * Every function is thread-safe: an image has one lock for its metadata,
 * and one that serializes the data writes O_DIRECT must read, modify and
 * write (those smaller than, or not aligned to, its alignment).
 * Offsets and lengths are in bytes; requests from the guest are checked
 * against the virtual size by the caller (the device), and again here.
 *
 * Errors: the set-up calls (open, create, check, info) return 0, or -errno
 * and set a GError in VMM_BLOCK_ERROR whose code is that errno and whose
 * message says, for a person, what went wrong (and in which file of a
 * backing chain). The run-time calls (I/O, flush, discard, mapping) return
 * 0 or -errno only.
 *
 * The files of src/vmm/block:
 *
 *   block.h, block.c  this API: opening (locks, format probe), the
 *                     synchronous I/O over the drivers' maps, create,
 *                     check, info
 *   driver.h          what a format driver implements and may use
 *   fd.h, fd.c        whole reads, writes and fdatasync of a descriptor
 *   raw.c             raw images
 *   qcow2.h, qcow2*.c qcow2 images (qcow2.c lists its files)
 *   aio.h, aio.c      asynchronous I/O for the device: io_uring, or threads
 *   img.h, img.c      vivarium-vmm img
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The domain of the set-up calls' errors; the code is the errno they return
 * (positive: ENOENT, EINVAL, EBUSY...). */
#define VMM_BLOCK_ERROR (vmm_block_error_quark ())
GQuark vmm_block_error_quark (void);

enum vmm_block_format {
  VMM_BLOCK_FORMAT_AUTO,   /* detect: qcow2 by its magic, raw otherwise */
  VMM_BLOCK_FORMAT_RAW,
  VMM_BLOCK_FORMAT_QCOW2,
};

struct vmm_block_open_opts {
  const char *path;
  enum vmm_block_format format;
  bool read_only;
  bool direct;             /* O_DIRECT: cache=none */
};

struct vmm_block;

/* Opens an image (and, for qcow2, its backing chain, read-only). Returns 0,
 * or -errno with a human-readable reason in *ERROR (VMM_BLOCK_ERROR):
 * -ENOENT, -EACCES, -EINVAL (corrupt or unsupported image: the reason says
 * which field), -ELOOP (a backing file loop), -ENOTSUP (a qcow2 feature we
 * do not implement, named in the reason), -EBUSY (the image is locked: open
 * for writing elsewhere, or open elsewhere and we want to write; the lock is
 * an OFD lock on the whole file, so it holds between threads too). */
int  vmm_block_open  (struct vmm_block **block, const struct vmm_block_open_opts *opts,
                      GError **error);
/* Flushes what is dirty and closes. Returns the flush's result. */
int  vmm_block_close (struct vmm_block *block);

uint64_t vmm_block_size (const struct vmm_block *block);       /* virtual size */
bool     vmm_block_read_only (const struct vmm_block *block);
enum vmm_block_format vmm_block_format (const struct vmm_block *block);
/* Alignment O_DIRECT needs for buffers, offsets and lengths (1 otherwise). */
uint32_t vmm_block_alignment (const struct vmm_block *block);
/* Which file of the image's chain FD (a DATA extent's) is, for a message
 * about an I/O error on it: its path, and in *DEPTH (may be NULL) 0 for
 * the image itself, 1 for its backing file, 2 for that one's... NULL when
 * FD is none of them. */
const char *vmm_block_file_of_fd (struct vmm_block *block, int fd, unsigned *depth);

/* ---- synchronous I/O ------------------------------------------------------ */

/* Read or write the whole of IOV at OFFSET. Return 0 or -errno (-EROFS on a
 * read-only image, -EINVAL past the end, -EIO for corrupt metadata). */
int vmm_block_preadv  (struct vmm_block *block, const struct iovec *iov, int iovcnt,
                       uint64_t offset);
int vmm_block_pwritev (struct vmm_block *block, const struct iovec *iov, int iovcnt,
                       uint64_t offset);
/* Makes every completed write durable (fdatasync, metadata in order). */
int vmm_block_flush   (struct vmm_block *block);
/* The range reads as zeroes afterwards; space may be released. */
int vmm_block_discard (struct vmm_block *block, uint64_t offset, uint64_t len);
/* The range reads as zeroes afterwards; with MAY_UNMAP space may be released. */
int vmm_block_write_zeroes (struct vmm_block *block, uint64_t offset, uint64_t len,
                            bool may_unmap);

/* ---- mapping, for asynchronous I/O ---------------------------------------- */

enum vmm_block_extent_kind {
  VMM_BLOCK_EXTENT_DATA,   /* at host_offset in fd */
  VMM_BLOCK_EXTENT_ZERO,   /* reads as zeroes: no I/O */
  VMM_BLOCK_EXTENT_SYNC,   /* needs the synchronous path (a compressed cluster) */
};

struct vmm_block_extent {
  enum vmm_block_extent_kind kind;
  uint64_t offset;         /* in the guest's view */
  uint64_t len;
  int fd;                  /* DATA: the file to read or write */
  uint64_t host_offset;    /* DATA */
};

/* Describes [offset, offset + len) for reading, through the backing chain.
 * Fills at most MAX extents, in order, covering a prefix of the range; the
 * caller maps the rest with another call. Returns the number of extents,
 * or -errno. */
int vmm_block_map_read (struct vmm_block *block, uint64_t offset, uint64_t len,
                        struct vmm_block_extent *extents, unsigned max);

/* Prepares a write of [offset, offset + len): allocates clusters the range
 * needs (copying a partly written cluster's other bytes from the backing
 * file first), and describes where the data goes (DATA extents only, or
 * SYNC). Fills at most MAX extents covering a prefix; returns their number,
 * or -errno. *COOKIE (never NULL on success) must be passed to
 * vmm_block_write_commit once those writes have completed, or to
 * vmm_block_write_abort if they failed. A raw image returns one extent and
 * a cookie that commits nothing. */
int  vmm_block_map_write    (struct vmm_block *block, uint64_t offset, uint64_t len,
                             struct vmm_block_extent *extents, unsigned max, void **cookie);
int  vmm_block_write_commit (struct vmm_block *block, void *cookie);
void vmm_block_write_abort  (struct vmm_block *block, void *cookie);

/* ---- images ----------------------------------------------------------------- */

struct vmm_block_create_opts {
  const char *path;
  enum vmm_block_format format;      /* RAW or QCOW2 */
  uint64_t size;                     /* virtual size; 0 with a backing file: its size */
  const char *backing_file;          /* qcow2 only; NULL for none */
  enum vmm_block_format backing_format;
  uint32_t cluster_size;             /* qcow2; 0 for 64 KiB */
};

/* Creates a new image (never over an existing file: -EEXIST). Writes it to
 * a temporary name and renames it into place, so a failure leaves nothing.
 * Returns 0, or -errno with the reason in *ERROR. */
int vmm_block_create (const struct vmm_block_create_opts *opts, GError **error);

struct vmm_block_check_result {
  uint64_t corruptions;     /* references to free clusters, overlaps, bad offsets */
  uint64_t leaks;           /* clusters with a refcount that nothing references */
  uint64_t allocated_clusters;
  uint64_t total_clusters;
  char *first_problem;      /* malloc'ed description of the first corruption, or NULL */
};

/* Consistency check, like qemu-img check. Returns 0 (then look at the
 * counts), or -errno with the reason in *ERROR when the image cannot be
 * read at all. */
int vmm_block_check (const char *path, struct vmm_block_check_result *result, GError **error);

struct vmm_block_snapshot_info {
  char *id, *name;
  uint64_t vm_state_size;
  uint64_t date_sec;
  uint32_t date_nsec;
  uint64_t vm_clock_nsec;   /* the guest's clock when taken (0 from us) */
  uint64_t disk_size;       /* the virtual size when taken */
};

/* ---- internal snapshots (qcow2) --------------------------------------------
 *
 * On an image open read-write: by the engine for a running machine, or
 * opened by path (vmm_block_open) for a stopped one. The caller quiesces
 * the disk first: every mapped write committed or aborted (-EBUSY
 * otherwise); the calls flush what is pending themselves. Each is
 * crash-safe: killed at any instant, the image shows the old state or the
 * new one, at worst with leaked clusters (qcow2-snapshot.c says how).
 * A raw image gives -ENOTSUP ("snapshots need a qcow2 disk"), a read-only
 * one -EROFS. Snapshots are found by id first, then by name, as qemu-img
 * finds them; names are unique (-EEXIST), ids are assigned as QEMU does
 * (decimal, one more than the largest). Return 0, or -errno with the reason
 * in *ERROR. */
int vmm_block_snapshot_create (struct vmm_block *block, const char *name, GError **error);
/* Reverts the disk to the snapshot: what was written since is gone. */
int vmm_block_snapshot_apply  (struct vmm_block *block, const char *name_or_id,
                               GError **error);
int vmm_block_snapshot_delete (struct vmm_block *block, const char *name_or_id,
                               GError **error);
int vmm_block_snapshot_rename (struct vmm_block *block, const char *name_or_id,
                               const char *new_name, GError **error);
/* The snapshots, in the table's order; free with vmm_block_snapshot_info_free.
 * A raw image has none. Returns 0 or -ENOMEM. */
int  vmm_block_snapshot_list (struct vmm_block *block, struct vmm_block_snapshot_info **out,
                              unsigned *n);
void vmm_block_snapshot_info_free (struct vmm_block_snapshot_info *info, unsigned n);

/* A persistent dirty bitmap (qcow2), as qemu-img info lists it */
struct vmm_block_bitmap_info {
  char *name;
  uint64_t granularity;     /* bytes per bit */
  bool in_use;              /* not saved consistently: QEMU will not trust it */
  bool tracks_writes;       /* "auto": must record every write */
};

struct vmm_block_image_info {
  enum vmm_block_format format;
  uint64_t virtual_size;
  uint64_t actual_size;     /* bytes allocated on the host */
  uint32_t cluster_size;    /* qcow2 */
  char *backing_file;       /* qcow2, or NULL */
  unsigned n_snapshots;
  struct vmm_block_snapshot_info *snapshots;
  bool dirty;               /* qcow2 dirty bit (lazy refcounts) */
  char *backing_format;     /* qcow2: the backing file's recorded format, or NULL */
  uint32_t qcow2_version;   /* qcow2: 2 or 3 */
  uint32_t compression_type; /* qcow2: 0 zlib, 1 zstd */
  bool corrupt;             /* qcow2 corrupt bit: may only be opened read-only */
  bool lazy_refcounts;      /* qcow2 compatible feature */
  uint32_t refcount_bits;   /* qcow2: 1 to 64 */
  unsigned n_bitmaps;       /* qcow2 persistent dirty bitmaps, when consistent */
  struct vmm_block_bitmap_info *bitmaps;
};

/* Returns 0, or -errno with the reason in *ERROR. */
int  vmm_block_info (const char *path, struct vmm_block_image_info *info, GError **error);
void vmm_block_image_info_clear (struct vmm_block_image_info *info);

/* "raw", "qcow2" (or "auto"): the names qemu-img uses too. */
const char *vmm_block_format_name (enum vmm_block_format format);
