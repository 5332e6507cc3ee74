/* test-aio.c: the disks' asynchronous I/O (src/vmm/block/aio.c)
 *
 * Each test runs with io_uring and with the thread pool alone (where this
 * kernel has no io_uring the first is skipped, loudly), and with inline
 * writes on and off: reads and writes land where they should, a failing
 * request reports its error, completions run on the loop thread and never
 * inside vmm_aio_submit, inline writes come a bounded amount per turn of
 * the loop, in the order they were submitted, and a write that sleeps (a
 * userfaultfd page that answers late stands in for dirty page throttling)
 * sends the next writes through io_uring or the workers.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "block/aio.h"
#include "loop.h"

#define KiB (1u << 10)
#define MiB (1u << 20)

struct mode {
  bool threads;       /* force the thread pool */
  bool inline_writes;
};

struct fx {
  const struct mode *mode;
  char *dir;
  char *path;
  int fd;
  struct vmm_loop loop;
  struct vmm_aio *aio;

  /* what the callbacks saw */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  unsigned done;
  unsigned batches;
  unsigned done_at_batch[64];   /* requests done when batch i ended */
  pthread_t cb_thread;          /* the thread the callbacks ran on */
  bool have_cb_thread;
  bool off_loop;                /* callbacks ran on more than one thread */
  bool in_submit;               /* set around vmm_aio_submit */
  bool during_submit;           /* a callback ran inside it */
};

struct op {
  struct vmm_aio_req req;
  struct iovec iov;
  struct fx *f;
  unsigned index;
  int result;
  unsigned order;               /* 1 + how many completed before it */
};

static void
on_batch (void *opaque)
{
  struct fx *f = opaque;

  pthread_mutex_lock (&f->lock);
  if (f->batches < G_N_ELEMENTS (f->done_at_batch))
    f->done_at_batch[f->batches] = f->done;
  f->batches++;
  pthread_mutex_unlock (&f->lock);
}

static void
op_done (struct vmm_aio_req *req, int result)
{
  struct op *op = req->opaque;
  struct fx *f = op->f;

  pthread_mutex_lock (&f->lock);
  if (f->in_submit)
    f->during_submit = true;
  if (!f->have_cb_thread)
    {
      f->cb_thread = pthread_self ();
      f->have_cb_thread = true;
    }
  else if (!pthread_equal (pthread_self (), f->cb_thread))
    f->off_loop = true;
  op->result = result;
  op->order = ++f->done;
  pthread_cond_broadcast (&f->cond);
  pthread_mutex_unlock (&f->lock);
}

static void
fx_setup (struct fx *f, gconstpointer data)
{
  GError *error = NULL;
  int ret;

  memset (f, 0, sizeof *f);
  f->mode = data;
  f->dir = g_dir_make_tmp ("test-aio-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "disk", NULL);
  f->fd = open (f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (f->fd, >=, 0);
  g_assert_cmpint (ftruncate (f->fd, 16 * MiB), ==, 0);
  pthread_mutex_init (&f->lock, NULL);
  pthread_cond_init (&f->cond, NULL);

  g_assert_cmpint (vmm_loop_init (&f->loop), ==, 0);
  ret = vmm_aio_new (&f->aio, &f->loop, 64, f->mode->threads);
  g_assert_cmpint (ret, ==, 0);
  vmm_aio_set_batch_done (f->aio, on_batch, f);
  vmm_aio_set_inline_writes (f->aio, f->mode->inline_writes);
}

static void
fx_teardown (struct fx *f, gconstpointer data)
{
  (void) data;
  vmm_loop_stop (&f->loop);
  vmm_aio_free (f->aio);
  vmm_loop_destroy (&f->loop);
  close (f->fd);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
  pthread_mutex_destroy (&f->lock);
  pthread_cond_destroy (&f->cond);
}

static bool
skip_without_uring (struct fx *f)
{
  if (!f->mode->threads && !vmm_aio_uses_io_uring (f->aio))
    {
      g_test_skip ("SKIP: io_uring is not available on this kernel: "
                   "the io_uring case is not tested");
      return true;
    }
  return false;
}

static void
op_init (struct fx *f, struct op *op, unsigned index, enum vmm_aio_op kind, int fd,
         void *buf, size_t len, uint64_t offset)
{
  memset (op, 0, sizeof *op);
  op->f = f;
  op->index = index;
  op->iov = (struct iovec) { buf, len };
  op->req = (struct vmm_aio_req) {
    .op = kind, .fd = fd, .iov = &op->iov, .iovcnt = 1, .offset = offset,
    .done = op_done, .opaque = op,
  };
}

/* Submits N requests from this thread with the loop not running (as a
 * device does from the loop thread), then runs them on the loop thread and
 * waits for all of them. */
static void
run_ops (struct fx *f, struct op *ops, unsigned n)
{
  pthread_mutex_lock (&f->lock);
  f->in_submit = true;
  pthread_mutex_unlock (&f->lock);
  for (unsigned i = 0; i < n; i++)
    vmm_aio_submit (f->aio, &ops[i].req);
  vmm_aio_flush_submissions (f->aio);
  pthread_mutex_lock (&f->lock);
  f->in_submit = false;
  g_assert_false (f->during_submit);
  pthread_mutex_unlock (&f->lock);

  g_assert_cmpint (vmm_loop_start (&f->loop), ==, 0);
  pthread_mutex_lock (&f->lock);
  {
    gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
    while (f->done < n && g_get_monotonic_time () < deadline)
      {
        pthread_mutex_unlock (&f->lock);
        g_usleep (1000);
        pthread_mutex_lock (&f->lock);
      }
  }
  g_assert_cmpuint (f->done, ==, n);
  g_assert_false (f->off_loop);
  g_assert_true (f->have_cb_thread && pthread_equal (f->cb_thread, f->loop.thread));
  f->have_cb_thread = false;
  pthread_mutex_unlock (&f->lock);
  vmm_loop_stop (&f->loop);
}

static void
fill (uint8_t *buf, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t) (seed * 131u + i * 7u + (i >> 12));
}

/* Writes at scattered offsets, then reads them back. */
static void
test_round_trip (struct fx *f, gconstpointer data)
{
  enum { N = 8, LEN = 192 * KiB };
  struct op ops[N];
  uint8_t *bufs = g_malloc (N * LEN), *back = g_malloc0 (N * LEN);

  (void) data;
  if (skip_without_uring (f))
    goto out;
  for (unsigned i = 0; i < N; i++)
    {
      fill (bufs + i * LEN, LEN, i);
      op_init (f, &ops[i], i, VMM_AIO_WRITEV, f->fd, bufs + i * LEN, LEN,
               (uint64_t) (N - 1 - i) * MiB + i * 512);
    }
  run_ops (f, ops, N);
  for (unsigned i = 0; i < N; i++)
    g_assert_cmpint (ops[i].result, ==, 0);

  f->done = 0;
  for (unsigned i = 0; i < N; i++)
    op_init (f, &ops[i], i, VMM_AIO_READV, f->fd, back + i * LEN, LEN,
             (uint64_t) (N - 1 - i) * MiB + i * 512);
  run_ops (f, ops, N);
  for (unsigned i = 0; i < N; i++)
    g_assert_cmpint (ops[i].result, ==, 0);
  g_assert_cmpmem (back, N * LEN, bufs, N * LEN);

  /* and the file has it, through another descriptor */
  for (unsigned i = 0; i < N; i++)
    {
      uint8_t *p = g_malloc (LEN);
      int fd = open (f->path, O_RDONLY | O_CLOEXEC);

      g_assert_cmpint (pread (fd, p, LEN, (off_t) ((N - 1 - i) * MiB + i * 512)), ==, LEN);
      g_assert_cmpmem (p, LEN, bufs + i * LEN, LEN);
      close (fd);
      g_free (p);
    }
out:
  g_free (bufs);
  g_free (back);
}

/* A write the file refuses (a read-only descriptor) reports the error,
 * and the ones around it still complete. */
static void
test_write_error (struct fx *f, gconstpointer data)
{
  struct op ops[3];
  uint8_t buf[4096];
  int ro;

  (void) data;
  if (skip_without_uring (f))
    return;
  ro = open (f->path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (ro, >=, 0);
  memset (buf, 0x5a, sizeof buf);
  op_init (f, &ops[0], 0, VMM_AIO_WRITEV, f->fd, buf, sizeof buf, 0);
  op_init (f, &ops[1], 1, VMM_AIO_WRITEV, ro, buf, sizeof buf, 4096);
  op_init (f, &ops[2], 2, VMM_AIO_WRITEV, f->fd, buf, sizeof buf, 8192);
  run_ops (f, ops, 3);
  g_assert_cmpint (ops[0].result, ==, 0);
  g_assert_cmpint (ops[1].result, ==, -EBADF);
  g_assert_cmpint (ops[2].result, ==, 0);
  close (ro);
}

/* Inline writes: in the order submitted, at most 2 MiB per turn of the
 * loop (a batch_done after each turn), so 8 writes of 1 MiB take four
 * turns or more and the first turn ends with two done, not eight. */
static void
test_inline_turns (struct fx *f, gconstpointer data)
{
  enum { N = 8, LEN = MiB };
  struct op ops[N];
  uint8_t *bufs = g_malloc (N * (size_t) LEN), *back = g_malloc (N * (size_t) LEN);

  (void) data;
  if (skip_without_uring (f))
    goto out;
  for (unsigned i = 0; i < N; i++)
    {
      fill (bufs + (size_t) i * LEN, LEN, 100 + i);
      op_init (f, &ops[i], i, VMM_AIO_WRITEV, f->fd, bufs + (size_t) i * LEN, LEN,
               (uint64_t) i * LEN);
    }
  run_ops (f, ops, N);
  for (unsigned i = 0; i < N; i++)
    g_assert_cmpint (ops[i].result, ==, 0);
  g_assert_cmpint (pread (f->fd, back, N * (size_t) LEN, 0), ==, N * LEN);
  g_assert_cmpmem (back, N * LEN, bufs, N * LEN);

  if (f->mode->inline_writes)
    {
      for (unsigned i = 0; i < N; i++)
        g_assert_cmpuint (ops[i].order, ==, i + 1);
      g_assert_cmpuint (f->batches, >=, 4);
      g_assert_cmpuint (f->done_at_batch[0], ==, 2);
      for (unsigned b = 1; b < f->batches && b < G_N_ELEMENTS (f->done_at_batch); b++)
        g_assert_cmpuint (f->done_at_batch[b] - f->done_at_batch[b - 1], <=, 2);
    }
out:
  g_free (bufs);
  g_free (back);
}

/* Freeing with inline writes still queued (the loop never ran) waits for
 * them: nothing submitted is lost. */
static void
test_free_drains (struct fx *f, gconstpointer data)
{
  enum { N = 5, LEN = 768 * KiB };
  struct op ops[N];
  uint8_t *bufs = g_malloc (N * LEN), *back = g_malloc (N * LEN);

  (void) data;
  if (skip_without_uring (f))
    goto out;
  for (unsigned i = 0; i < N; i++)
    {
      fill (bufs + i * LEN, LEN, 200 + i);
      op_init (f, &ops[i], i, VMM_AIO_WRITEV, f->fd, bufs + i * LEN, LEN, (uint64_t) i * LEN);
      vmm_aio_submit (f->aio, &ops[i].req);
    }
  vmm_aio_flush_submissions (f->aio);
  vmm_aio_free (f->aio);
  f->aio = NULL;
  g_assert_cmpuint (f->done, ==, N);
  for (unsigned i = 0; i < N; i++)
    g_assert_cmpint (ops[i].result, ==, 0);
  g_assert_cmpint (pread (f->fd, back, N * LEN, 0), ==, N * LEN);
  g_assert_cmpmem (back, N * LEN, bufs, N * LEN);
out:
  g_free (bufs);
  g_free (back);
}


/* A write whose data faults on a userfaultfd page that a thread here fills
 * DELAY_MS later: a write that sleeps in the kernel, as dirty page
 * throttling makes one sleep. */
struct late_page {
  int uffd;
  uint8_t *page;
  long size;
  unsigned delay_ms;
  uint8_t fill;
  pthread_t thread;
  bool started;
};

static void *
fill_late (void *data)
{
  struct late_page *lp = data;
  struct pollfd pfd = { .fd = lp->uffd, .events = POLLIN };
  struct uffd_msg msg;
  uint8_t *src;
  struct uffdio_copy copy;

  if (poll (&pfd, 1, 10000) != 1 || read (lp->uffd, &msg, sizeof msg) != sizeof msg ||
      msg.event != UFFD_EVENT_PAGEFAULT)
    return NULL;
  g_usleep (lp->delay_ms * 1000);
  src = g_malloc (lp->size);
  memset (src, lp->fill, lp->size);
  copy = (struct uffdio_copy) {
    .dst = (uintptr_t) lp->page, .src = (uintptr_t) src, .len = (uint64_t) lp->size,
  };
  ioctl (lp->uffd, UFFDIO_COPY, &copy);
  g_free (src);
  return NULL;
}

/* false (and a loud skip) where userfaultfd is not allowed */
static bool
late_page_init (struct late_page *lp, unsigned delay_ms, uint8_t fill)
{
  struct uffdio_api api = { .api = UFFD_API };
  struct uffdio_register reg;

  *lp = (struct late_page) { .uffd = -1, .page = MAP_FAILED, .size = sysconf (_SC_PAGESIZE),
                             .delay_ms = delay_ms, .fill = fill };
  lp->uffd = (int) syscall (SYS_userfaultfd, O_CLOEXEC);
  if (lp->uffd < 0 || ioctl (lp->uffd, UFFDIO_API, &api) < 0)
    {
      g_test_skip ("SKIP: userfaultfd is not available here (not root, or "
                   "vm.unprivileged_userfaultfd=0): the slow-write fallback is not tested");
      return false;
    }
  lp->page = mmap (NULL, (size_t) lp->size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g_assert_true (lp->page != MAP_FAILED);
  reg = (struct uffdio_register) {
    .range = { .start = (uintptr_t) lp->page, .len = (uint64_t) lp->size },
    .mode = UFFDIO_REGISTER_MODE_MISSING,
  };
  g_assert_cmpint (ioctl (lp->uffd, UFFDIO_REGISTER, &reg), ==, 0);
  g_assert_cmpint (pthread_create (&lp->thread, NULL, fill_late, lp), ==, 0);
  lp->started = true;
  return true;
}

static void
late_page_clear (struct late_page *lp)
{
  if (lp->started)
    pthread_join (lp->thread, NULL);
  if (lp->page != MAP_FAILED)
    munmap (lp->page, (size_t) lp->size);
  if (lp->uffd >= 0)
    close (lp->uffd);
}

static void
assert_file_bytes (struct fx *f, uint64_t offset, size_t len, uint8_t value)
{
  uint8_t *back = g_malloc (len);

  g_assert_cmpint (pread (f->fd, back, len, (off_t) offset), ==, (ssize_t) len);
  for (size_t i = 0; i < len; i++)
    g_assert_cmphex (back[i], ==, value);
  g_free (back);
}

/* An inline write that sleeps sends the next ones off the loop: a read
 * queued behind a sleeping write then completes first (io_uring, like the
 * kernel, still runs writes to one file one at a time). */
static void
test_inline_slow (struct fx *f, gconstpointer data)
{
  struct late_page lp1, lp2;
  struct op ops[3];
  uint8_t fast[4096];   /* read into */

  (void) data;
  if (skip_without_uring (f))
    return;
  g_assert_true (f->mode->inline_writes);   /* only added for those modes */
  if (!late_page_init (&lp1, 60, 0xa7))
    return;
  g_assert_true (vmm_aio_writes_inline (f->aio));
  op_init (f, &ops[0], 0, VMM_AIO_WRITEV, f->fd, lp1.page, (size_t) lp1.size, 0);
  run_ops (f, ops, 1);
  late_page_clear (&lp1);
  g_assert_cmpint (ops[0].result, ==, 0);
  assert_file_bytes (f, 0, (size_t) lp1.size, 0xa7);
  g_assert_false (vmm_aio_writes_inline (f->aio));

  /* Paused: another sleeping write and a read after it. */
  if (!late_page_init (&lp2, 200, 0x5e))
    return;
  f->done = 0;
  memset (fast, 0x3c, sizeof fast);
  op_init (f, &ops[1], 1, VMM_AIO_WRITEV, f->fd, lp2.page, (size_t) lp2.size, 65536);
  op_init (f, &ops[2], 2, VMM_AIO_READV, f->fd, fast, sizeof fast, 8192);
  run_ops (f, &ops[1], 2);
  late_page_clear (&lp2);
  g_assert_cmpint (ops[1].result, ==, 0);
  g_assert_cmpint (ops[2].result, ==, 0);
  g_assert_cmpuint (ops[2].order, ==, 1);
  g_assert_cmpuint (ops[1].order, ==, 2);
  assert_file_bytes (f, 65536, (size_t) lp2.size, 0x5e);
  for (size_t i = 0; i < sizeof fast; i++)
    g_assert_cmphex (fast[i], ==, 0);   /* never written: a hole */
}

static const struct mode modes[] = {
  { .threads = false, .inline_writes = false },
  { .threads = false, .inline_writes = true },
  { .threads = true, .inline_writes = false },
  { .threads = true, .inline_writes = true },
};

static const char *
mode_name (const struct mode *m)
{
  return m->threads ? (m->inline_writes ? "threads-inline" : "threads")
                    : (m->inline_writes ? "uring-inline" : "uring");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (unsigned i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      const struct mode *m = &modes[i];
      char *p;

#define ADD(name, fn) \
  p = g_strdup_printf ("/aio/%s/" name, mode_name (m)); \
  g_test_add (p, struct fx, m, fx_setup, fn, fx_teardown); \
  g_free (p)
      ADD ("round-trip", test_round_trip);
      ADD ("write-error", test_write_error);
      ADD ("inline-turns", test_inline_turns);
      ADD ("free-drains", test_free_drains);
      if (m->inline_writes)
        {
          ADD ("inline-slow", test_inline_slow);
        }
#undef ADD
    }
  return g_test_run ();
}
