/* virtio/blk.h: the block device (virtio 1.2, 5.2)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>

#include "block/block.h"
#include "virtio/device.h"

enum vmm_disk_cache {
  VMM_DISK_CACHE_WRITEBACK,   /* host page cache; flushes reach the disk */
  VMM_DISK_CACHE_NONE,        /* O_DIRECT */
};

struct vmm_disk_spec {
  const char *path;
  enum vmm_block_format format;
  bool read_only;
  enum vmm_disk_cache cache;
  const char *serial;         /* GET_ID; NULL: derived from the path */
};

struct vmm_virtio_blk;

/* Opens the image and creates the device with NUM_QUEUES request queues
 * (one per vCPU). FORCE_THREADS runs I/O on threads instead of io_uring.
 * Returns the device, or NULL with ERROR set (see device.h): the message
 * says what failed, not which disk. */
struct vmm_virtio_blk *vmm_virtio_blk_new (const struct vmm_virtio_env *env,
                                           const struct vmm_disk_spec *spec,
                                           unsigned num_queues, bool force_threads,
                                           GError **error);
struct vmm_virtio_dev *vmm_virtio_blk_dev (struct vmm_virtio_blk *blk);
/* Waits for requests in flight, flushes the image and frees everything
 * (NULL is fine). Returns the flush's result, 0 or -errno. */
int  vmm_virtio_blk_free (struct vmm_virtio_blk *blk);
