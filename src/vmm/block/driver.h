/* block/driver.h: the interface between the block layer and its drivers
 *
 * block.c opens the file, locks it and picks a driver; the driver (raw.c,
 * qcow2.c) fills in the size and its ops table, and from then on maps guest
 * ranges to host extents. The synchronous I/O in block.c and the device's
 * asynchronous I/O both go through those maps. Nothing outside
 * src/vmm/block and its unit test includes this file; users of the block
 * layer include block.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include "block/block.h"
#include "block/fd.h"

/* What a format implements. map_write, commit, abort, flush, discard and
 * write_zeroes are only called on a writable image.
 *
 * Errors: run-time ops return 0 or -errno. The set-up paths (open, create,
 * info, check) return 0 or -errno and set *ERROR (VMM_BLOCK_ERROR, the code
 * the errno) with the reason; a failure with nothing to say but its errno
 * (out of memory) may leave it unset: block.c's entry points fill it in. */
struct vmm_block_driver {
  const char *name;
  /* Frees the driver's state; the caller flushed first. */
  void (*close) (struct vmm_block *b);
  int  (*map_read) (struct vmm_block *b, uint64_t offset, uint64_t len,
                    struct vmm_block_extent *extents, unsigned max);
  int  (*map_write) (struct vmm_block *b, uint64_t offset, uint64_t len,
                     struct vmm_block_extent *extents, unsigned max, void **cookie);
  int  (*commit) (struct vmm_block *b, void *cookie);
  void (*abort) (struct vmm_block *b, void *cookie);
  /* Reads what a SYNC extent describes (and anything else) into BUF. */
  int  (*read_sync) (struct vmm_block *b, uint64_t offset, uint64_t len, void *buf);
  int  (*flush) (struct vmm_block *b);
  int  (*discard) (struct vmm_block *b, uint64_t offset, uint64_t len);
  int  (*write_zeroes) (struct vmm_block *b, uint64_t offset, uint64_t len, bool may_unmap);
  /* The open backing file, or NULL (none, or a format without); may be
   * left NULL. For naming the file an I/O error came from. */
  struct vmm_block *(*backing) (struct vmm_block *b);
  /* Set-up paths */
  int  (*info) (struct vmm_block *b, struct vmm_block_image_info *info, GError **error);
  int  (*check) (struct vmm_block *b, struct vmm_block_check_result *result, GError **error);
};

/* An open image: block.c fills in the file, the driver the rest. */
struct vmm_block {
  const struct vmm_block_driver *drv;
  void *priv;
  enum vmm_block_format format;
  char *path;
  int fd;
  uint64_t size;
  bool read_only;
  bool direct;
  uint32_t alignment;         /* 1 unless direct */
  /* Held around a data write that O_DIRECT must read, modify and write
   * (smaller than, or not aligned to, the alignment): two of them in one
   * block would each write back the other's old bytes. */
  pthread_mutex_t rmw_lock;
  dev_t dev;
  ino_t ino;
};

/* The files being opened above this one, to find backing-file loops. */
struct vmm_block_chain {
  dev_t dev;
  ino_t ino;
  const struct vmm_block_chain *up;
  unsigned depth;
};

/* Open flags for the internal open */
enum {
  VMM_BLOCK_OPEN_NO_BACKING = 1 << 0,   /* info and check: the chain is not needed */
  VMM_BLOCK_OPEN_NO_LOCK    = 1 << 1,   /* info and check: like qemu-img -U */
};

/* A chain longer than this is refused: each level costs an fd and stack. */
#define VMM_BLOCK_MAX_CHAIN 256

/* vmm_block_open with the chain above and VMM_BLOCK_OPEN_* FLAGS */
int vmm_block_open_internal (struct vmm_block **block, const struct vmm_block_open_opts *opts,
                             const struct vmm_block_chain *chain, unsigned flags,
                             GError **error);

/* Opens the backing file of an image being created (read-only, unlocked,
 * with VMM_BLOCK_OPEN_* FLAGS besides), to learn its size or format. */
int vmm_block_open_new_backing (const struct vmm_block_create_opts *opts, unsigned flags,
                                struct vmm_block **backing, GError **error);

/* Writes zeroes over [OFFSET, OFFSET + LEN) through the image's own write
 * path, a MiB at a time: for ranges nothing better can zero (a partial
 * cluster, a file system without fallocate). Returns 0 or -errno. */
int vmm_block_write_zero_data (struct vmm_block *block, uint64_t offset, uint64_t len);

/* Writes IOV at OFFSET of FD (the image's file) through ALIGN, as
 * vmm_block_pwritev_fd does, holding the image's rmw_lock when the write
 * needs a read-modify-write. Every data write of a writable image goes
 * through here. Returns 0 or -errno. */
int vmm_block_write_data (struct vmm_block *block, int fd, const struct iovec *iov, int iovcnt,
                          uint64_t offset, uint32_t align);

/* Resolves NAME (a backing file name) against the directory of IMAGE_PATH.
 * Returns a malloc'ed path or NULL. */
char *vmm_block_resolve_backing (const char *image_path, const char *name);

/* qcow2 internal snapshots (qcow2-snapshot.c), behind vmm_block_snapshot_*:
 * the image is qcow2 and writable. */
int qcow2_snapshot_create (struct vmm_block *b, const char *name, GError **error);
int qcow2_snapshot_apply  (struct vmm_block *b, const char *name_or_id, GError **error);
int qcow2_snapshot_delete (struct vmm_block *b, const char *name_or_id, GError **error);
int qcow2_snapshot_rename (struct vmm_block *b, const char *old_name, const char *new_name,
                           GError **error);
int qcow2_snapshot_list   (struct vmm_block *b, struct vmm_block_snapshot_info **out,
                           unsigned *n);

/* Drivers */
extern const struct vmm_block_driver vmm_block_raw_driver;
extern const struct vmm_block_driver vmm_block_qcow2_driver;

/* Set-up paths */
int vmm_block_raw_open (struct vmm_block *b, GError **error);
int vmm_block_raw_create (int fd, const struct vmm_block_create_opts *opts, GError **error);
int vmm_block_qcow2_open (struct vmm_block *b, const struct vmm_block_chain *chain,
                          unsigned flags, GError **error);
int vmm_block_qcow2_create (int fd, const struct vmm_block_create_opts *opts,
                            uint64_t size, GError **error);
