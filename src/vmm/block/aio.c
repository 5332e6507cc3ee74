/* block/aio.c: asynchronous I/O for disks: io_uring, or a thread pool
 *
 * Everything but the worker threads runs on the loop thread: submission,
 * io_uring completions and the done callbacks. Workers only take requests
 * from a locked list, run them, and put them on another.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/aio.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block/fd.h"
#include "log.h"

#define URING_WORKERS  2   /* for CALLs only */
#define THREAD_WORKERS 4   /* when every request runs on workers */

/* Inline writes: how many bytes one turn of the loop writes before it
 * answers, looks at the rings (batch_done) and lets other fds be served.
 * One merged streaming write (blk.c cuts them at 2 MiB), or a queue's
 * worth of small ones. */
#define INLINE_TURN_BYTES (2u << 20)

/* An inline write that took this long slept in the kernel (dirty page
 * throttling, or the file system waiting for the disk), not copying: 2 MiB
 * copies in well under a millisecond. While writes sleep, the loop would
 * sleep with them and hold up the reads behind; so they go through
 * io_uring (its workers sleep instead) for a while, twice as long each
 * time they are still slow when tried again, and back to the base after a
 * fast one. */
#define INLINE_SLOW_NS         (20ull * 1000000)
#define INLINE_PAUSE_NS        (1000ull * 1000000)
#define INLINE_PAUSE_MAX_NS    (32000ull * 1000000)

struct vmm_aio {
  struct vmm_loop *loop;

  bool uring_ok;
  struct io_uring ring;
  unsigned depth, in_ring;
  struct vmm_aio_req *backlog_head, *backlog_tail;   /* waiting for ring space */
  bool need_submit;

  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct vmm_aio_req *work_head, *work_tail;         /* for the workers */
  struct vmm_aio_req *done_head, *done_tail;         /* from the workers */
  int done_efd;
  pthread_t workers[THREAD_WORKERS];
  unsigned n_workers;
  bool stopping;

  /* Inline writes waiting for their turn (vmm_aio_set_inline_writes);
   * INLINE_EFD is readable while there are any. */
  bool inline_writes;
  struct vmm_aio_req *inline_head, *inline_tail;
  int inline_efd;
  uint64_t inline_resume_ns;  /* paused until then (CLOCK_MONOTONIC); 0: not paused */
  uint64_t inline_pause_ns;   /* how long the next pause lasts */

  unsigned in_flight;
  void (*batch_done) (void *opaque);
  void *batch_opaque;
};

static void
list_push (struct vmm_aio_req **head, struct vmm_aio_req **tail, struct vmm_aio_req *req)
{
  req->next = NULL;
  if (*tail)
    (*tail)->next = req;
  else
    *head = req;
  *tail = req;
}

/* The first request (the list must not be empty) */
static struct vmm_aio_req *
list_pop (struct vmm_aio_req **head, struct vmm_aio_req **tail)
{
  struct vmm_aio_req *req = *head;

  *head = req->next;
  if (*head == NULL)
    *tail = NULL;
  return req;
}

static struct vmm_aio_req *
list_take_all (struct vmm_aio_req **head, struct vmm_aio_req **tail)
{
  struct vmm_aio_req *all = *head;

  *head = *tail = NULL;
  return all;
}

/* ---- workers ---------------------------------------------------------------- */

/* preadv/pwritev until everything moved; a short transfer at EOF is -EIO. */
static int
do_rw (struct vmm_aio_req *req)
{
  struct iovec local[64];
  struct iovec *iov = local;
  int n = req->iovcnt;
  uint64_t offset = req->offset;
  int ret = 0;

  if (n > 64)
    {
      iov = malloc ((size_t) n * sizeof *iov);
      if (iov == NULL)
        return -ENOMEM;
    }
  memcpy (iov, req->iov, (size_t) n * sizeof *iov);

  for (int i = 0; i < n;)
    {
      ssize_t done = req->op == VMM_AIO_READV ? preadv (req->fd, iov + i, n - i, (off_t) offset)
                                              : pwritev (req->fd, iov + i, n - i, (off_t) offset);
      if (done < 0)
        {
          if (errno == EINTR)
            continue;
          ret = -errno;
          break;
        }
      if (done == 0)
        {
          ret = -EIO;
          break;
        }
      offset += (uint64_t) done;
      while (i < n && (size_t) done >= iov[i].iov_len)
        done -= (ssize_t) iov[i++].iov_len;
      if (i < n)
        {
          iov[i].iov_base = (uint8_t *) iov[i].iov_base + done;
          iov[i].iov_len -= (size_t) done;
        }
    }
  if (iov != local)
    free (iov);
  return ret;
}

static int
run_request (struct vmm_aio_req *req)
{
  switch (req->op)
    {
    case VMM_AIO_READV:
    case VMM_AIO_WRITEV:
      return do_rw (req);
    case VMM_AIO_FDATASYNC:
      return vmm_block_fdatasync_fd (req->fd);
    case VMM_AIO_CALL:
      return req->call (req->call_data);
    }
  return -EINVAL;
}

static void *
worker (void *data)
{
  struct vmm_aio *aio = data;
  uint64_t one = 1;

  pthread_mutex_lock (&aio->lock);
  for (;;)
    {
      struct vmm_aio_req *req;

      while (aio->work_head == NULL && !aio->stopping)
        pthread_cond_wait (&aio->cond, &aio->lock);
      if (aio->work_head == NULL)
        break;
      req = list_pop (&aio->work_head, &aio->work_tail);
      pthread_mutex_unlock (&aio->lock);

      req->result = run_request (req);

      pthread_mutex_lock (&aio->lock);
      list_push (&aio->done_head, &aio->done_tail, req);
      if (write (aio->done_efd, &one, sizeof one) < 0)
        vmm_log_error ("aio: cannot signal a completion: %s", strerror (errno));
    }
  pthread_mutex_unlock (&aio->lock);
  return NULL;
}

static void
complete (struct vmm_aio *aio, struct vmm_aio_req *req, int result)
{
  aio->in_flight--;
  req->done (req, result);
}

static void
reap_workers (struct vmm_aio *aio)
{
  struct vmm_aio_req *req, *next;

  vmm_eventfd_drain (aio->done_efd);
  pthread_mutex_lock (&aio->lock);
  req = list_take_all (&aio->done_head, &aio->done_tail);
  pthread_mutex_unlock (&aio->lock);
  for (; req != NULL; req = next)
    {
      next = req->next;
      complete (aio, req, req->result);
    }
  if (aio->batch_done != NULL)
    aio->batch_done (aio->batch_opaque);
}

/* ---- io_uring ---------------------------------------------------------------- */

static bool
ring_queue (struct vmm_aio *aio, struct vmm_aio_req *req)
{
  struct io_uring_sqe *sqe;

  if (aio->in_ring >= aio->depth || (sqe = io_uring_get_sqe (&aio->ring)) == NULL)
    return false;
  switch (req->op)
    {
    case VMM_AIO_READV:
      io_uring_prep_readv (sqe, req->fd, req->iov, (unsigned) req->iovcnt, req->offset);
      break;
    case VMM_AIO_WRITEV:
      io_uring_prep_writev (sqe, req->fd, req->iov, (unsigned) req->iovcnt, req->offset);
      break;
    case VMM_AIO_FDATASYNC:
      io_uring_prep_fsync (sqe, req->fd, IORING_FSYNC_DATASYNC);
      break;
    case VMM_AIO_CALL:
      return false;
    }
  io_uring_sqe_set_data (sqe, req);
  aio->in_ring++;
  aio->need_submit = true;
  return true;
}

static void
submit_backlog (struct vmm_aio *aio)
{
  while (aio->backlog_head != NULL)
    {
      if (!ring_queue (aio, aio->backlog_head))
        break;
      list_pop (&aio->backlog_head, &aio->backlog_tail);
    }
}

static void
reap_ring (struct vmm_aio *aio)
{
  struct io_uring_cqe *cqe;

  while (io_uring_peek_cqe (&aio->ring, &cqe) == 0)
    {
      struct vmm_aio_req *req = io_uring_cqe_get_data (cqe);
      int res = cqe->res;

      io_uring_cqe_seen (&aio->ring, cqe);
      aio->in_ring--;
      if ((req->op == VMM_AIO_READV || req->op == VMM_AIO_WRITEV) && res >= 0 &&
          (size_t) res != req->expected)
        {
          /* A partial transfer (rare for files): a worker does it again
           * with the synchronous path, which loops until all is moved.
           * Repeating the part already done is harmless for a read, and
           * for a write of the same bytes. */
          pthread_mutex_lock (&aio->lock);
          list_push (&aio->work_head, &aio->work_tail, req);
          pthread_cond_signal (&aio->cond);
          pthread_mutex_unlock (&aio->lock);
          continue;
        }
      complete (aio, req, res < 0 ? res : 0);
    }
  if (aio->batch_done != NULL)
    aio->batch_done (aio->batch_opaque);
  submit_backlog (aio);
  vmm_aio_flush_submissions (aio);
}

/* ---- inline writes -------------------------------------------------------------- */

static void
signal_efd (int fd)
{
  uint64_t one = 1;

  if (write (fd, &one, sizeof one) < 0)
    vmm_log_error ("aio: cannot signal the loop: %s", strerror (errno));
}

/* Queues REQ for io_uring or the workers. */
static void
submit_async (struct vmm_aio *aio, struct vmm_aio_req *req)
{
  if (aio->uring_ok && req->op != VMM_AIO_CALL)
    {
      if (aio->backlog_head != NULL || !ring_queue (aio, req))
        list_push (&aio->backlog_head, &aio->backlog_tail, req);
      return;
    }
  pthread_mutex_lock (&aio->lock);
  list_push (&aio->work_head, &aio->work_tail, req);
  pthread_cond_signal (&aio->cond);
  pthread_mutex_unlock (&aio->lock);
}

static bool
inline_allowed (struct vmm_aio *aio)
{
  if (aio->inline_resume_ns == 0)
    return true;
  if (vmm_monotonic_ns () < aio->inline_resume_ns)
    return false;
  aio->inline_resume_ns = 0;
  return true;
}

/* One turn: writes (and answers) up to INLINE_TURN_BYTES of what waits,
 * then comes back through the loop for the rest, so that kicks and other
 * completions are served in between. */
static void
run_inline (struct vmm_aio *aio)
{
  size_t moved = 0;

  vmm_eventfd_drain (aio->inline_efd);
  while (aio->inline_head != NULL && moved < INLINE_TURN_BYTES)
    {
      struct vmm_aio_req *req = list_pop (&aio->inline_head, &aio->inline_tail), *next;
      uint64_t start = vmm_monotonic_ns (), took;
      size_t bytes = req->expected;
      int result;

      moved += bytes;
      result = do_rw (req);
      took = vmm_monotonic_ns () - start;
      complete (aio, req, result);   /* REQ may be gone now */

      if (took < INLINE_SLOW_NS)
        aio->inline_pause_ns = INLINE_PAUSE_NS;
      else
        {
          vmm_log_debug ("aio: a %zu-byte write took %llu ms: writes go through %s for %llu s",
                         bytes, (unsigned long long) (took / 1000000),
                         aio->uring_ok ? "io_uring" : "the workers",
                         (unsigned long long) (aio->inline_pause_ns / 1000000000u));
          aio->inline_resume_ns = vmm_monotonic_ns () + aio->inline_pause_ns;
          aio->inline_pause_ns = aio->inline_pause_ns * 2 > INLINE_PAUSE_MAX_NS
                                   ? INLINE_PAUSE_MAX_NS : aio->inline_pause_ns * 2;
          /* and what waits goes with them */
          for (req = list_take_all (&aio->inline_head, &aio->inline_tail); req != NULL; req = next)
            {
              next = req->next;
              submit_async (aio, req);
            }
          vmm_aio_flush_submissions (aio);
          break;
        }
    }
  if (aio->batch_done != NULL)
    aio->batch_done (aio->batch_opaque);
  if (aio->inline_head != NULL)
    signal_efd (aio->inline_efd);
}

/* ---- public ------------------------------------------------------------------- */

static void
on_uring (void *opaque, int fd, uint32_t events)
{
  (void) fd;
  (void) events;
  reap_ring (opaque);
}

static void
on_done (void *opaque, int fd, uint32_t events)
{
  (void) fd;
  (void) events;
  reap_workers (opaque);
}

static void
on_inline (void *opaque, int fd, uint32_t events)
{
  (void) fd;
  (void) events;
  run_inline (opaque);
}

int
vmm_aio_new (struct vmm_aio **out, struct vmm_loop *loop, unsigned depth, bool force_threads)
{
  struct vmm_aio *aio = calloc (1, sizeof *aio);
  int ret;

  if (aio == NULL)
    return -ENOMEM;
  aio->loop = loop;
  aio->done_efd = aio->inline_efd = -1;
  pthread_mutex_init (&aio->lock, NULL);
  pthread_cond_init (&aio->cond, NULL);

  aio->done_efd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (aio->done_efd < 0)
    {
      ret = -errno;
      goto fail;
    }
  if ((ret = vmm_loop_add (loop, aio->done_efd, EPOLLIN, on_done, aio)) < 0)
    goto fail;
  aio->inline_efd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (aio->inline_efd < 0)
    {
      ret = -errno;
      goto fail;
    }
  if ((ret = vmm_loop_add (loop, aio->inline_efd, EPOLLIN, on_inline, aio)) < 0)
    {
      close (aio->inline_efd);
      aio->inline_efd = -1;
      goto fail;
    }

  if (!force_threads)
    {
      aio->depth = depth ? depth : 128;
      ret = io_uring_queue_init (aio->depth, &aio->ring, 0);
      if (ret == 0)
        {
          /* The ring's own fd is readable while completions wait in it:
           * the loop watches it directly, with no eventfd to signal and
           * drain on every batch (QEMU's io_uring code does the same). */
          ret = vmm_loop_add (loop, aio->ring.ring_fd, EPOLLIN, on_uring, aio);
          if (ret == 0)
            aio->uring_ok = true;
          else
            io_uring_queue_exit (&aio->ring);
        }
      if (!aio->uring_ok)
        vmm_log_info ("io_uring is not available (%s); disk I/O runs on threads",
                      strerror (ret < 0 ? -ret : ENOSYS));
    }

  aio->n_workers = aio->uring_ok ? URING_WORKERS : THREAD_WORKERS;
  for (unsigned i = 0; i < aio->n_workers; i++)
    if ((ret = -pthread_create (&aio->workers[i], NULL, worker, aio)) < 0)
      {
        aio->n_workers = i;
        goto fail;
      }
  *out = aio;
  return 0;

fail:
  vmm_aio_free (aio);
  return ret;
}

bool
vmm_aio_uses_io_uring (const struct vmm_aio *aio)
{
  return aio->uring_ok;
}

void
vmm_aio_submit (struct vmm_aio *aio, struct vmm_aio_req *req)
{
  req->next = NULL;
  req->result = 0;
  req->expected = (req->op == VMM_AIO_READV || req->op == VMM_AIO_WRITEV)
                    ? vmm_block_iov_len (req->iov, req->iovcnt) : 0;
  aio->in_flight++;

  if (aio->inline_writes && req->op == VMM_AIO_WRITEV && inline_allowed (aio))
    {
      /* Never run here: the caller may hold locks its done callback takes. */
      if (aio->inline_head == NULL)
        signal_efd (aio->inline_efd);
      list_push (&aio->inline_head, &aio->inline_tail, req);
      return;
    }
  submit_async (aio, req);
}

void
vmm_aio_flush_submissions (struct vmm_aio *aio)
{
  int ret;

  if (!aio->uring_ok || !aio->need_submit)
    return;
  aio->need_submit = false;
  do
    ret = io_uring_submit (&aio->ring);
  while (ret == -EINTR);
  if (ret < 0)
    vmm_log_error ("aio: io_uring_submit: %s", strerror (-ret));
  /* What the kernel did not take (an error, -EAGAIN, -EBUSY) stays in the
   * submission ring: try again with the next batch or completion rather
   * than leave it there until some unrelated request comes. */
  if (io_uring_sq_ready (&aio->ring) > 0)
    aio->need_submit = true;
}

void
vmm_aio_drain (struct vmm_aio *aio)
{
  while (aio->in_flight > 0)
    {
      if (aio->inline_head != NULL)
        {
          run_inline (aio);
          continue;
        }
      struct pollfd fds[2] = {
        { .fd = aio->done_efd, .events = POLLIN },
        { .fd = aio->uring_ok ? aio->ring.ring_fd : -1, .events = POLLIN },
      };

      vmm_aio_flush_submissions (aio);
      if (poll (fds, aio->uring_ok ? 2 : 1, 1000) < 0 && errno != EINTR)
        break;
      reap_workers (aio);
      if (aio->uring_ok)
        reap_ring (aio);
    }
}

void
vmm_aio_free (struct vmm_aio *aio)
{
  if (aio == NULL)
    return;
  if (aio->done_efd >= 0 && aio->in_flight > 0)
    vmm_aio_drain (aio);

  pthread_mutex_lock (&aio->lock);
  aio->stopping = true;
  pthread_cond_broadcast (&aio->cond);
  pthread_mutex_unlock (&aio->lock);
  for (unsigned i = 0; i < aio->n_workers; i++)
    pthread_join (aio->workers[i], NULL);

  if (aio->uring_ok)
    {
      vmm_loop_remove (aio->loop, aio->ring.ring_fd);
      io_uring_queue_exit (&aio->ring);
    }
  if (aio->done_efd >= 0)
    {
      vmm_loop_remove (aio->loop, aio->done_efd);
      close (aio->done_efd);
    }
  if (aio->inline_efd >= 0)
    {
      vmm_loop_remove (aio->loop, aio->inline_efd);
      close (aio->inline_efd);
    }
  pthread_mutex_destroy (&aio->lock);
  pthread_cond_destroy (&aio->cond);
  free (aio);
}

void
vmm_aio_set_batch_done (struct vmm_aio *aio, void (*fn) (void *opaque), void *opaque)
{
  aio->batch_done = fn;
  aio->batch_opaque = opaque;
}

void
vmm_aio_set_inline_writes (struct vmm_aio *aio, bool on)
{
  aio->inline_writes = on;
  aio->inline_resume_ns = 0;
  aio->inline_pause_ns = INLINE_PAUSE_NS;
}

bool
vmm_aio_writes_inline (struct vmm_aio *aio)
{
  return aio->inline_writes && inline_allowed (aio);
}
