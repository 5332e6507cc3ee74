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

/* Which controller a disk hangs off */
enum vmm_disk_bus {
  VMM_DISK_BUS_VIRTIO,        /* virtio-blk: the default, for guests with the driver */
  VMM_DISK_BUS_SATA,          /* the AHCI controller: installers without virtio drivers */
};

struct vmm_disk_spec {
  const char *path;
  enum vmm_disk_bus bus;
  enum vmm_block_format format;
  bool read_only;
  enum vmm_disk_cache cache;
  const char *serial;         /* GET_ID; NULL: derived from the path */
  unsigned index;             /* its place among the VM's disks, for messages */
};

/* A request failed on the host, not through a fault of the guest's: the
 * guest got an I/O error for it (QEMU's rerror=report, werror=report: the
 * machine goes on; see vmm_virtio_blk_set_error_fn). */
struct vmm_disk_error {
  unsigned disk;              /* vmm_disk_spec.index */
  const char *path;           /* the image */
  const char *operation;      /* "read", "write", "flush", "discard", "write-zeroes" */
  int error;                  /* a positive errno: ENOSPC, EIO... */
  const char *message;        /* all of it, for people: as logged */
};
typedef void (*vmm_disk_error_fn) (const struct vmm_disk_error *error, void *data);

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
/* FN hears of failed requests, at most 3 at once and then one every 5 s
 * (a guest retrying a write on a full disk cannot flood whoever listens);
 * the log has each, under its own rate limit. FN runs on the disk's I/O
 * thread with the device locked: it must only hand the error over. NULL
 * stops it. */
void vmm_virtio_blk_set_error_fn (struct vmm_virtio_blk *blk, vmm_disk_error_fn fn, void *data);
/* Waits for requests in flight, flushes the image and frees everything
 * (NULL is fine). Returns the flush's result, 0 or -errno. */
int  vmm_virtio_blk_free (struct vmm_virtio_blk *blk);

/* For a snapshot, with the vCPUs paused: takes no new requests and waits
 * for those in flight (false after a while if they do not finish: then
 * nothing changed); thaw takes requests again, with those the driver
 * made available meanwhile. */
bool vmm_virtio_blk_freeze (struct vmm_virtio_blk *blk);
void vmm_virtio_blk_thaw   (struct vmm_virtio_blk *blk);
/* The image behind the disk */
struct vmm_block *vmm_virtio_blk_block (struct vmm_virtio_blk *blk);
