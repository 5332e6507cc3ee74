/* block/aio.h: asynchronous I/O for disks: io_uring, or a thread pool
 *
 * Requests complete on the event loop's thread, in their callbacks.
 * io_uring runs reads, writes and fsync; anything else (a qcow2 flush, a
 * compressed cluster, discard) is a CALL, run on a worker thread. Where
 * io_uring is unavailable (an old kernel, a seccomp filter) every request
 * runs on the worker threads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "loop.h"

enum vmm_aio_op {
  VMM_AIO_READV,
  VMM_AIO_WRITEV,
  VMM_AIO_FDATASYNC,
  VMM_AIO_CALL,
};

struct vmm_aio_req;
typedef void (*vmm_aio_done_fn) (struct vmm_aio_req *req, int result);

struct vmm_aio_req {
  enum vmm_aio_op op;
  int fd;
  const struct iovec *iov;
  int iovcnt;
  uint64_t offset;
  /* CALL: runs on a worker, returns 0 or -errno */
  int (*call) (void *data);
  void *call_data;

  vmm_aio_done_fn done;       /* on the loop thread; RESULT is 0 or -errno */
  void *opaque;               /* the caller's */

  /* private */
  struct vmm_aio_req *next;
  int result;
  size_t expected;            /* bytes a READV/WRITEV must move */
};

struct vmm_aio;

/* DEPTH: io_uring entries. FORCE_THREADS: skip io_uring (tests, or a
 * kernel without it). Returns 0 or -errno. */
int  vmm_aio_new     (struct vmm_aio **aio, struct vmm_loop *loop, unsigned depth,
                      bool force_threads);
/* Waits for everything in flight, then frees. Call from outside the loop
 * thread with the loop stopped, or from the loop thread. */
void vmm_aio_free    (struct vmm_aio *aio);
bool vmm_aio_uses_io_uring (const struct vmm_aio *aio);

/* Queues REQ; its done callback runs later on the loop thread. A short read
 * or write completes with -EIO. */
void vmm_aio_submit  (struct vmm_aio *aio, struct vmm_aio_req *req);
/* Submits what vmm_aio_submit queued (batching: call once per burst). */
void vmm_aio_flush_submissions (struct vmm_aio *aio);
/* Runs completions until nothing is in flight (for shutdown). */
void vmm_aio_drain   (struct vmm_aio *aio);
/* FN runs on the loop thread after each batch of completions */
void vmm_aio_set_batch_done (struct vmm_aio *aio, void (*fn) (void *opaque), void *opaque);
/* WRITEVs run on the loop thread itself, synchronously, a turn of the loop
 * at a time, instead of through io_uring or a worker. For buffered writes
 * to a file whose file system cannot do them without blocking (ext4): the
 * kernel would hand each to a worker thread, and the hand-off is the cost.
 * Only for a loop that serves nothing else (a disk's own I/O thread): a
 * write that blocks holds up everything on the loop. A write that sleeps
 * (dirty page throttling) sends writes back through io_uring for a while.
 * Off by default. */
void vmm_aio_set_inline_writes (struct vmm_aio *aio, bool on);
/* Whether a WRITEV submitted now would run inline (on, and not paused
 * after a slow one). */
bool vmm_aio_writes_inline (struct vmm_aio *aio);
