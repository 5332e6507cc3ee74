/* test-virtio-blk.c: virtio-blk requests on a fake queue, against a raw image
 *
 * The device runs as it does in a VM (its own I/O thread, the aio engine,
 * the virtio-pci transport on an MMIO bus), over fake guest RAM and without
 * /dev/kvm (vmm-test.h). The test plays the driver: it queues requests,
 * kicks, and waits for the used ring, then checks the status bytes, the
 * data and the image file. The parsing and merging of requests
 * (blk-req.c) are also checked on their own, on chains popped from a
 * fake queue.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/socket.h>

#include "control/disk-errors.h"
#include "snapshot/state.h"
#include "viv-bytes.h"
#include "virtio/blk-req.h"
#include "virtio/blk.h"
#include "vmm-test.h"

#define DISK_SECTORS   2048u           /* 1 MiB */
#define SECTOR         512u
#define QUEUE_SIZE     128u
#define TIMEOUT_MS     10000u

/* virtio 1.2, 5.2 */
#define T_IN           0
#define T_OUT          1
#define T_FLUSH        4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13
#define S_OK           0
#define S_IOERR        1
#define S_UNSUPP       2
#define F_RO           5
#define F_FLUSH        9
#define F_DISCARD      13
#define F_WRITE_ZEROES 14
#define WZ_UNMAP       1u

struct fx {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_blk *blk;
  char *dir;
  char *path;               /* the raw image; with a backing file, that */
  char *overlay;            /* with a backing file: the qcow2 image over it */
  int log_fd;
  /* used entries seen, by head, until a test takes them */
  bool done[QUEUE_SIZE];
  uint32_t used_len[QUEUE_SIZE];
};

/* What the image holds at byte OFFSET before anything is written */
static uint8_t
pattern (uint64_t offset)
{
  return (uint8_t) (offset * 7 + offset / SECTOR);
}

struct options {
  bool read_only;
  bool threads;                 /* I/O on worker threads, not io_uring */
  bool event_idx;
  const char *serial;
  unsigned index;
  bool backing;                 /* a qcow2 image over the raw one */
};

static void
fx_init (struct fx *f, const struct options *o)
{
  g_autofree uint8_t *image = g_malloc (DISK_SECTORS * SECTOR);
  g_autoptr (GError) error = NULL;
  struct vmm_disk_spec spec = { 0 };
  uint64_t features;

  memset (f, 0, sizeof *f);
  f->dir = g_dir_make_tmp ("test-virtio-blk-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "disk.raw", NULL);
  for (uint64_t i = 0; i < DISK_SECTORS * SECTOR; i++)
    image[i] = pattern (i);
  g_file_set_contents (f->path, (const char *) image, DISK_SECTORS * SECTOR, &error);
  g_assert_no_error (error);
  f->log_fd = vmm_test_log_capture ();

  spec.path = f->path;
  spec.format = VMM_BLOCK_FORMAT_RAW;
  spec.index = o->index;
  if (o->backing)
    {
      struct vmm_block_create_opts create = {
        .format = VMM_BLOCK_FORMAT_QCOW2,
        .backing_file = f->path,
        .backing_format = VMM_BLOCK_FORMAT_RAW,
      };

      f->overlay = g_build_filename (f->dir, "disk.qcow2", NULL);
      create.path = f->overlay;
      g_assert_cmpint (vmm_block_create (&create, &error), ==, 0);
      g_assert_no_error (error);
      spec.path = f->overlay;
      spec.format = VMM_BLOCK_FORMAT_QCOW2;
    }
  spec.read_only = o->read_only;
  spec.cache = VMM_DISK_CACHE_WRITEBACK;
  spec.serial = o->serial;
  vmm_test_virtio_init (&f->t, &f->env);
  f->blk = vmm_virtio_blk_new (&f->env, &spec, 1, o->threads, &error);
  g_assert_no_error (error);
  vmm_test_virtio_plug (&f->t, vmm_virtio_blk_dev (f->blk));

  /* Everything the device offers, EVENT_IDX only when asked */
  features = vmm_test_virtio_device_features (&f->t) & ~(1ull << VIRTIO_F_RING_EVENT_IDX);
  if (o->event_idx)
    features |= 1ull << VIRTIO_F_RING_EVENT_IDX;
  g_assert_cmpuint (vmm_test_virtio_setup (&f->t, features, 1, QUEUE_SIZE) &
                    VIRTIO_STATUS_DRIVER_OK, !=, 0);
}

static void
fx_clear (struct fx *f)
{
  vmm_test_virtio_stop (&f->t);
  /* it flushes on the way out */
  g_assert_cmpint (vmm_virtio_blk_free (f->blk), ==, 0);
  vmm_test_virtio_clear (&f->t);
  vmm_test_log_release (f->log_fd);
  if (f->overlay != NULL)
    g_unlink (f->overlay);
  g_free (f->overlay);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

/* ---- requests ---------------------------------------------------------------------- */

struct req {
  uint16_t head;
  uint64_t status;              /* the status byte's address */
};

/* A writable buffer of LEN bytes, filled with 0xee */
static struct vmm_test_buf
buf_in (struct fx *f, uint32_t len)
{
  g_autofree uint8_t *fill = g_malloc (len);

  memset (fill, 0xee, len);
  return (struct vmm_test_buf) { vmm_test_vq_copy (&f->t.vq[0], fill, len), len, true };
}

/* A readable buffer holding LEN bytes of DATA */
static struct vmm_test_buf
buf_out (struct fx *f, const void *data, uint32_t len)
{
  return (struct vmm_test_buf) { vmm_test_vq_copy (&f->t.vq[0], data, len), len, false };
}

/* Queues a request: a header of HDR_LEN bytes (16 is the real one), DATA,
 * and a status byte unless NO_STATUS. Not kicked. */
static struct req
queue_full (struct fx *f, unsigned hdr_len, uint32_t type, uint64_t sector,
            const struct vmm_test_buf *data, unsigned n_data, bool no_status)
{
  struct vmm_test_vq *vq = &f->t.vq[0];
  struct vmm_test_buf bufs[16];
  uint8_t hdr[16];
  unsigned n = 0;
  struct req r = { 0 };

  g_assert_cmpuint (n_data + 2, <=, G_N_ELEMENTS (bufs));
  viv_put_le32 (hdr, type);
  viv_put_le32 (hdr + 4, 0);
  viv_put_le64 (hdr + 8, sector);
  bufs[n++] = buf_out (f, hdr, hdr_len);
  for (unsigned i = 0; i < n_data; i++)
    bufs[n++] = data[i];
  if (!no_status)
    {
      bufs[n] = buf_in (f, 1);
      r.status = bufs[n++].gpa;
    }
  r.head = vmm_test_vq_add_bufs (vq, bufs, n);
  return r;
}

static struct req
queue_req (struct fx *f, uint32_t type, uint64_t sector, const struct vmm_test_buf *data,
           unsigned n_data)
{
  return queue_full (f, 16, type, sector, data, n_data, false);
}

static void
kick (struct fx *f)
{
  vmm_test_virtio_kick (&f->t, 0);
}

/* Waits for R's used entry (completions may come in any order); returns
 * the used length and *STATUS the status byte. */
static uint32_t
wait_req (struct fx *f, const struct req *r, uint8_t *status)
{
  uint32_t id, len;

  while (!f->done[r->head])
    {
      if (!vmm_test_vq_wait_used (&f->t.vq[0], &id, &len, TIMEOUT_MS))
        g_error ("request %u: no answer in %u ms", r->head, TIMEOUT_MS);
      g_assert_cmpuint (id, <, QUEUE_SIZE);
      g_assert_false (f->done[id]);
      f->done[id] = true;
      f->used_len[id] = len;
    }
  f->done[r->head] = false;
  if (status != NULL)
    *status = *(uint8_t *) vmm_test_ptr (&f->t.ram.mem, r->status, 1);
  return f->used_len[r->head];
}

/* Queues, kicks and waits for one request; returns its status. */
static uint8_t
run (struct fx *f, uint32_t type, uint64_t sector, const struct vmm_test_buf *data,
     unsigned n_data, uint32_t *used_len)
{
  struct req r = queue_req (f, type, sector, data, n_data);
  uint8_t status;
  uint32_t len;

  kick (f);
  len = wait_req (f, &r, &status);
  if (used_len != NULL)
    *used_len = len;
  return status;
}

/* Checks that BUF holds the image's bytes from OFFSET (as the pattern made
 * them) */
static void
check_pattern (struct fx *f, const struct vmm_test_buf *buf, uint64_t offset)
{
  const uint8_t *p = vmm_test_ptr (&f->t.ram.mem, buf->gpa, buf->len);

  for (uint32_t i = 0; i < buf->len; i++)
    if (p[i] != pattern (offset + i))
      g_error ("byte %llu of the disk: %#x, not %#x", (unsigned long long) (offset + i), p[i],
               pattern (offset + i));
}

/* The image file's LEN bytes at OFFSET */
static void
file_read (struct fx *f, uint64_t offset, void *data, size_t len)
{
  int fd = open (f->path, O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, data, len, (off_t) offset), ==, (ssize_t) len);
  close (fd);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_config (void)
{
  struct options o = { 0 };
  struct fx f;
  uint64_t features;

  fx_init (&f, &o);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000, 8), ==, DISK_SECTORS);   /* capacity */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000 + 12, 4), ==, QUEUE_SIZE * 2 - 2);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000 + 20, 4), ==, SECTOR);    /* blk_size */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000 + 34, 2), ==, 1);         /* queues */
  features = vmm_test_virtio_device_features (&f.t);
  g_assert_true (features & (1ull << F_FLUSH));
  g_assert_true (features & (1ull << F_DISCARD));
  g_assert_true (features & (1ull << F_WRITE_ZEROES));
  g_assert_false (features & (1ull << F_RO));
  fx_clear (&f);
}

static void
do_read (gconstpointer data)
{
  const struct options *o = data;
  struct vmm_test_buf one, three[3];
  uint32_t len;
  struct fx f;

  fx_init (&f, o);
  one = buf_in (&f, 8 * SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 0, &one, 1, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 8 * SECTOR + 1);
  check_pattern (&f, &one, 0);
  /* the driver heard about it */
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 1, ==, 1);

  /* data split anywhere, and the last sector of the disk */
  three[0] = buf_in (&f, 100);
  three[1] = buf_in (&f, 924);
  three[2] = buf_in (&f, 1024);
  g_assert_cmpuint (run (&f, T_IN, DISK_SECTORS - 4, three, 3, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 2048 + 1);
  check_pattern (&f, &three[0], (DISK_SECTORS - 4) * SECTOR);
  check_pattern (&f, &three[1], (DISK_SECTORS - 4) * SECTOR + 100);
  check_pattern (&f, &three[2], (DISK_SECTORS - 4) * SECTOR + 1024);

  /* many, one kick */
  {
    struct vmm_test_buf bufs[20];
    struct req reqs[20];

    for (unsigned i = 0; i < G_N_ELEMENTS (reqs); i++)
      {
        bufs[i] = buf_in (&f, SECTOR);
        reqs[i] = queue_req (&f, T_IN, 37 * i, &bufs[i], 1);
      }
    kick (&f);
    for (unsigned i = 0; i < G_N_ELEMENTS (reqs); i++)
      {
        uint8_t status;

        g_assert_cmpuint (wait_req (&f, &reqs[i], &status), ==, SECTOR + 1);
        g_assert_cmpuint (status, ==, S_OK);
        check_pattern (&f, &bufs[i], 37 * i * SECTOR);
      }
  }
  fx_clear (&f);
}

static void
do_write (gconstpointer data)
{
  const struct options *o = data;
  uint8_t src[3 * SECTOR], back[3 * SECTOR];
  struct vmm_test_buf out[2], in;
  uint32_t len;
  struct fx f;

  fx_init (&f, o);
  for (unsigned i = 0; i < sizeof src; i++)
    src[i] = (uint8_t) (0x80 ^ i);
  out[0] = buf_out (&f, src, 1000);
  out[1] = buf_out (&f, src + 1000, sizeof src - 1000);
  g_assert_cmpuint (run (&f, T_OUT, 10, out, 2, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 1);
  /* in the file ... */
  file_read (&f, 10 * SECTOR, back, sizeof back);
  g_assert_cmpmem (back, sizeof back, src, sizeof src);
  /* ... and nothing around it changed */
  file_read (&f, 9 * SECTOR, back, SECTOR);
  for (unsigned i = 0; i < SECTOR; i++)
    g_assert_cmpuint (back[i], ==, pattern (9 * SECTOR + i));
  file_read (&f, 13 * SECTOR, back, SECTOR);
  for (unsigned i = 0; i < SECTOR; i++)
    g_assert_cmpuint (back[i], ==, pattern (13 * SECTOR + i));
  /* ... and read back through the device */
  in = buf_in (&f, sizeof src);
  g_assert_cmpuint (run (&f, T_IN, 10, &in, 1, NULL), ==, S_OK);
  g_assert_cmpmem (vmm_test_ptr (&f.t.ram.mem, in.gpa, in.len), in.len, src, sizeof src);
  /* a flush after it */
  g_assert_cmpuint (run (&f, T_FLUSH, 0, NULL, 0, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 1);
  fx_clear (&f);
}

/* Adjacent reads and writes popped together run as one I/O; each still
 * gets its own answer and its own bytes. */
static void
do_merge (gconstpointer data)
{
  const struct options *o = data;
  struct vmm_test_buf bufs[16];
  struct req reqs[16];
  uint8_t status;
  struct fx f;

  fx_init (&f, o);
  /* reads of 4 sectors each, back to back on the disk, one kick */
  for (unsigned i = 0; i < 16; i++)
    {
      bufs[i] = buf_in (&f, 4 * SECTOR);
      reqs[i] = queue_req (&f, T_IN, 100 + 4 * i, &bufs[i], 1);
    }
  kick (&f);
  for (unsigned i = 0; i < 16; i++)
    {
      g_assert_cmpuint (wait_req (&f, &reqs[i], &status), ==, 4 * SECTOR + 1);
      g_assert_cmpuint (status, ==, S_OK);
      check_pattern (&f, &bufs[i], (100 + 4 * i) * SECTOR);
    }

  /* writes the same way, a flush among them (it waits for those before
   * it), then one read of it all */
  for (unsigned i = 0; i < 16; i++)
    {
      uint8_t src[2 * SECTOR];

      memset (src, (int) (i + 1), sizeof src);
      bufs[i] = buf_out (&f, src, sizeof src);
      reqs[i] = i == 8 ? queue_req (&f, T_FLUSH, 0, NULL, 0)
                       : queue_req (&f, T_OUT, 500 + 2 * i, &bufs[i], 1);
    }
  kick (&f);
  for (unsigned i = 0; i < 16; i++)
    {
      g_assert_cmpuint (wait_req (&f, &reqs[i], &status), ==, 1);
      g_assert_cmpuint (status, ==, S_OK);
    }
  {
    struct vmm_test_buf all = buf_in (&f, 32 * SECTOR);
    const uint8_t *p;

    g_assert_cmpuint (run (&f, T_IN, 500, &all, 1, NULL), ==, S_OK);
    p = vmm_test_ptr (&f.t.ram.mem, all.gpa, all.len);
    for (unsigned i = 0; i < 16; i++)
      for (unsigned b = 0; b < 2 * SECTOR; b++)
        g_assert_cmpuint (p[i * 2 * SECTOR + b], ==, i == 8 ? pattern ((500 + 16) * SECTOR + b)
                                                            : i + 1);
  }
  fx_clear (&f);
}

static void
test_get_id (void)
{
  struct options o = { .serial = "serial-of-the-test-disk" };
  struct vmm_test_buf id;
  const char *p;
  uint32_t len;
  struct fx f;

  /* at most 20 bytes, no NUL when it fills them */
  fx_init (&f, &o);
  id = buf_in (&f, 32);
  g_assert_cmpuint (run (&f, T_GET_ID, 0, &id, 1, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 20 + 1);
  p = vmm_test_ptr (&f.t.ram.mem, id.gpa, 32);
  g_assert_cmpmem (p, 20, "serial-of-the-test-d", 20);
  g_assert_cmpuint ((uint8_t) p[20], ==, 0xee);
  /* a buffer shorter than that takes what fits */
  id = buf_in (&f, 6);
  g_assert_cmpuint (run (&f, T_GET_ID, 0, &id, 1, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 6 + 1);
  g_assert_cmpmem (vmm_test_ptr (&f.t.ram.mem, id.gpa, 6), 6, "serial", 6);
  fx_clear (&f);

  /* without one, the image's file name, padded with NULs */
  o.serial = NULL;
  fx_init (&f, &o);
  id = buf_in (&f, 20);
  g_assert_cmpuint (run (&f, T_GET_ID, 0, &id, 1, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 20 + 1);
  g_assert_cmpmem (vmm_test_ptr (&f.t.ram.mem, id.gpa, 20), 20,
                   "disk.raw\0\0\0\0\0\0\0\0\0\0\0\0", 20);
  fx_clear (&f);
}

static void
test_discard (void)
{
  struct options o = { 0 };
  uint8_t seg[16], back[8 * SECTOR];
  struct vmm_test_buf b;
  struct fx f;

  fx_init (&f, &o);
  /* write-zeroes (with unmap, and without) makes zeroes */
  viv_put_le64 (seg, 40);
  viv_put_le32 (seg + 8, 8);
  viv_put_le32 (seg + 12, WZ_UNMAP);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_WRITE_ZEROES, 0, &b, 1, NULL), ==, S_OK);
  file_read (&f, 40 * SECTOR, back, sizeof back);
  for (unsigned i = 0; i < sizeof back; i++)
    g_assert_cmpuint (back[i], ==, 0);
  file_read (&f, 48 * SECTOR, back, SECTOR);
  g_assert_cmpuint (back[0], ==, pattern (48 * SECTOR));
  viv_put_le64 (seg, 60);
  viv_put_le32 (seg + 12, 0);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_WRITE_ZEROES, 0, &b, 1, NULL), ==, S_OK);
  file_read (&f, 60 * SECTOR, back, sizeof back);
  for (unsigned i = 0; i < sizeof back; i++)
    g_assert_cmpuint (back[i], ==, 0);

  /* discard: fine, and the rest of the disk stays */
  viv_put_le64 (seg, 200);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_DISCARD, 0, &b, 1, NULL), ==, S_OK);
  file_read (&f, 208 * SECTOR, back, SECTOR);
  g_assert_cmpuint (back[0], ==, pattern (208 * SECTOR));

  /* discard knows no flags */
  viv_put_le32 (seg + 12, WZ_UNMAP);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_DISCARD, 0, &b, 1, NULL), ==, S_UNSUPP);
  viv_put_le32 (seg + 12, 2);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_WRITE_ZEROES, 0, &b, 1, NULL), ==, S_UNSUPP);

  /* segments outside the disk, of no sectors, or a payload not made of
   * segments */
  viv_put_le32 (seg + 12, 0);
  viv_put_le64 (seg, DISK_SECTORS - 4);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_WRITE_ZEROES, 0, &b, 1, NULL), ==, S_IOERR);
  vmm_test_log_expect (f.log_fd, "a malformed write-zeroes request");
  viv_put_le64 (seg, 0);
  viv_put_le32 (seg + 8, 0);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_DISCARD, 0, &b, 1, NULL), ==, S_IOERR);
  vmm_test_log_expect (f.log_fd, "a malformed discard request");
  viv_put_le32 (seg + 8, 8);
  b = buf_out (&f, seg, 12);
  g_assert_cmpuint (run (&f, T_DISCARD, 0, &b, 1, NULL), ==, S_IOERR);
  g_assert_cmpuint (run (&f, T_DISCARD, 0, NULL, 0, NULL), ==, S_IOERR);
  fx_clear (&f);
}

static void
test_bad_requests (void)
{
  struct options o = { 0 };
  struct vmm_test_buf b;
  uint32_t len;
  uint8_t status;
  struct fx f;
  struct req r;

  fx_init (&f, &o);
  /* outside the disk, partly or wholly, or not whole sectors */
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, DISK_SECTORS, &b, 1, &len), ==, S_IOERR);
  g_assert_cmpuint (len, ==, 1);
  vmm_test_log_expect (f.log_fd,
                       "read of 512 bytes at sector 2048 is outside the disk or misaligned");
  b = buf_in (&f, 2 * SECTOR);
  g_assert_cmpuint (run (&f, T_IN, DISK_SECTORS - 1, &b, 1, NULL), ==, S_IOERR);
  g_assert_cmpuint (run (&f, T_IN, UINT64_MAX, &b, 1, NULL), ==, S_IOERR);
  g_assert_cmpuint (run (&f, T_IN, UINT64_MAX / SECTOR + 1, &b, 1, NULL), ==, S_IOERR);
  b = buf_in (&f, 100);
  g_assert_cmpuint (run (&f, T_IN, 0, &b, 1, NULL), ==, S_IOERR);
  b = buf_out (&f, "x", 1);
  g_assert_cmpuint (run (&f, T_OUT, DISK_SECTORS, &b, 1, NULL), ==, S_IOERR);
  vmm_test_log_expect (f.log_fd,
                       "write of 1 bytes at sector 2048 is outside the disk or misaligned");
  /* a read of nothing is fine */
  g_assert_cmpuint (run (&f, T_IN, 0, NULL, 0, &len), ==, S_OK);
  g_assert_cmpuint (len, ==, 1);

  /* a type the device does not know */
  g_assert_cmpuint (run (&f, 99, 0, NULL, 0, &len), ==, S_UNSUPP);
  g_assert_cmpuint (len, ==, 1);

  /* a header cut short */
  r = queue_full (&f, 8, T_IN, 0, NULL, 0, false);
  kick (&f);
  g_assert_cmpuint (wait_req (&f, &r, &status), ==, 1);
  g_assert_cmpuint (status, ==, S_IOERR);
  vmm_test_log_expect (f.log_fd, "a request with a short header (8 bytes)");

  /* nowhere to put a status: returned unanswered */
  b = buf_out (&f, "abcd", 4);
  r = queue_full (&f, 16, T_OUT, 0, &b, 1, true);
  kick (&f);
  g_assert_cmpuint (wait_req (&f, &r, NULL), ==, 0);
  vmm_test_log_expect (f.log_fd, "a request without a status byte");

  /* the device goes on after all that */
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 3, &b, 1, NULL), ==, S_OK);
  check_pattern (&f, &b, 3 * SECTOR);
  fx_clear (&f);
}

static void
test_read_only (void)
{
  struct options o = { .read_only = true };
  uint8_t src[SECTOR], back[SECTOR], seg[16] = { 0 };
  struct vmm_test_buf b;
  uint64_t features;
  struct fx f;

  fx_init (&f, &o);
  features = vmm_test_virtio_device_features (&f.t);
  g_assert_true (features & (1ull << F_RO));
  g_assert_false (features & (1ull << F_DISCARD));
  g_assert_false (features & (1ull << F_WRITE_ZEROES));

  memset (src, 0x5a, sizeof src);
  b = buf_out (&f, src, sizeof src);
  g_assert_cmpuint (run (&f, T_OUT, 0, &b, 1, NULL), ==, S_IOERR);
  viv_put_le32 (seg + 8, 1);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_WRITE_ZEROES, 0, &b, 1, NULL), ==, S_IOERR);
  g_assert_cmpuint (run (&f, T_DISCARD, 0, &b, 1, NULL), ==, S_IOERR);
  file_read (&f, 0, back, sizeof back);
  for (unsigned i = 0; i < sizeof back; i++)
    g_assert_cmpuint (back[i], ==, pattern (i));

  /* what does not write works */
  g_assert_cmpuint (run (&f, T_FLUSH, 0, NULL, 0, NULL), ==, S_OK);
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 0, &b, 1, NULL), ==, S_OK);
  check_pattern (&f, &b, 0);
  fx_clear (&f);
}

/* ---- failures on the host ------------------------------------------------------- */

/* What the error function heard, from the disk's I/O thread */
struct heard {
  GMutex lock;
  unsigned count;
  unsigned disk;
  int error;
  char *path, *operation, *message;
};

static void
on_disk_error (const struct vmm_disk_error *e, void *data)
{
  struct heard *h = data;

  g_mutex_lock (&h->lock);
  h->count++;
  h->disk = e->disk;
  h->error = e->error;
  g_free (h->path);
  g_free (h->operation);
  g_free (h->message);
  h->path = g_strdup (e->path);
  h->operation = g_strdup (e->operation);
  h->message = g_strdup (e->message);
  g_mutex_unlock (&h->lock);
}

static void
heard_clear (struct heard *h)
{
  g_free (h->path);
  g_free (h->operation);
  g_free (h->message);
}

/* The image's file cannot grow past 64 KiB (RLIMIT_FSIZE: EFBIG, the
 * closest to a full disk a test can make without mounting one): a write
 * past it fails on the host. The log names the disk, its image, the
 * operation and the error; the error function hears of it, rate-limited. */
static void
do_host_failure (gconstpointer data)
{
  struct options o = *(const struct options *) data;
  struct heard h = { 0 };
  struct rlimit old, small;
  struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
  uint8_t src[4096];
  struct vmm_test_buf b;
  g_autofree char *log = NULL, *want = NULL;
  gint64 start;
  unsigned bound;
  struct fx f;

  o.index = 2;
  fx_init (&f, &o);
  vmm_virtio_blk_set_error_fn (f.blk, on_disk_error, &h);
  g_assert_cmpint (truncate (f.path, 64 * 1024), ==, 0);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &old), ==, 0);
  sigaction (SIGXFSZ, &ign, &old_sa);
  small = old;
  small.rlim_cur = 64 * 1024;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &small), ==, 0);

  memset (src, 0x5a, sizeof src);
  b = buf_out (&f, src, sizeof src);
  start = g_get_monotonic_time ();
  g_assert_cmpuint (run (&f, T_OUT, 1000, &b, 1, NULL), ==, S_IOERR);
  log = vmm_test_log_take (f.log_fd);
  want = g_strdup_printf ("virtio-blk: disk 2 (%s): write of 4096 bytes at sector 1000 failed: "
                          "File too large (EFBIG)", f.path);
  if (strstr (log, want) == NULL)
    g_error ("the log has no “%s”: %s", want, log);
  g_mutex_lock (&h.lock);
  g_assert_cmpuint (h.count, ==, 1);
  g_assert_cmpuint (h.disk, ==, 2);
  g_assert_cmpint (h.error, ==, EFBIG);
  g_assert_cmpstr (h.path, ==, f.path);
  g_assert_cmpstr (h.operation, ==, "write");
  g_assert_nonnull (strstr (h.message, "write of 4096 bytes at sector 1000 failed"));
  g_mutex_unlock (&h.lock);

  /* a guest that retries: every request still fails, but the error
   * function hears of 3 at once, then one every 5 seconds */
  for (int i = 0; i < 20; i++)
    g_assert_cmpuint (run (&f, T_OUT, 1000, &b, 1, NULL), ==, S_IOERR);
  bound = 3 + (unsigned) ((g_get_monotonic_time () - start) / (5 * G_USEC_PER_SEC)) + 1;
  g_mutex_lock (&h.lock);
  g_assert_cmpuint (h.count, >=, 3);
  g_assert_cmpuint (h.count, <=, bound);
  g_mutex_unlock (&h.lock);

  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &old), ==, 0);
  sigaction (SIGXFSZ, &old_sa, NULL);
  /* space again: writes work */
  g_assert_cmpuint (run (&f, T_OUT, 1000, &b, 1, NULL), ==, S_OK);

  vmm_virtio_blk_set_error_fn (f.blk, NULL, NULL);
  g_assert_cmpint (truncate (f.path, DISK_SECTORS * SECTOR), ==, 0);
  fx_clear (&f);
  heard_clear (&h);
}

static void
on_connection_made (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;

  (void) source;
  *(GDBusConnection **) data = g_dbus_connection_new_finish (result, &error);
  g_assert_no_error (error);
}

/* A peer-to-peer D-Bus connection pair over a socket pair, as the
 * service's clients have */
static void
dbus_pair (GDBusConnection **server, GDBusConnection **client)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autoptr (GSocket) s0 = NULL, s1 = NULL;
  g_autoptr (GSocketConnection) c0 = NULL, c1 = NULL;
  GDBusConnection *result[2] = { NULL, NULL };
  int fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  s0 = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  s1 = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  c0 = g_socket_connection_factory_create_connection (s0);
  c1 = g_socket_connection_factory_create_connection (s1);
  /* both sides authenticate at once: one of them from a thread */
  g_dbus_connection_new (G_IO_STREAM (c0), guid, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER,
                         NULL, NULL, on_connection_made, &result[0]);
  result[1] = g_dbus_connection_new_sync (G_IO_STREAM (c1), NULL,
                                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL,
                                          NULL, &error);
  g_assert_no_error (error);
  while (result[0] == NULL)
    g_main_context_iteration (NULL, TRUE);
  *server = result[0];
  *client = result[1];
}

static void
on_disk_error_signal (GDBusConnection *conn, const char *sender, const char *path,
                      const char *iface, const char *name, GVariant *params, gpointer data)
{
  GPtrArray *got = data;

  (void) conn, (void) sender, (void) path, (void) iface, (void) name;
  g_ptr_array_add (got, g_variant_ref (params));
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* The service's path: a failed request becomes org.vivarium.Vmm1's
 * DiskError at a D-Bus client, through vmm_disk_error_to_dbus (what the
 * service sets on every disk), with the disk, its image, the operation,
 * the errno's name and the message. */
static void
test_disk_error_signal (void)
{
  struct options o = { .index = 1, .threads = true };
  g_autoptr (GDBusConnection) server = NULL, client = NULL;
  g_autoptr (VivVmm1Skeleton) skeleton = NULL;
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  g_autoptr (GError) error = NULL;
  g_autofree char *want = NULL;
  struct rlimit old, small;
  struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
  uint8_t src[SECTOR];
  struct vmm_test_buf b;
  gboolean expired = FALSE;
  guint sub, timeout;
  guint32 disk;
  const char *path, *operation, *name, *message;
  struct fx f;

  dbus_pair (&server, &client);
  skeleton = VIV_VMM1_SKELETON (viv_vmm1_skeleton_new ());
  g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (skeleton), server,
                                    "/org/vivarium/Vmm1", &error);
  g_assert_no_error (error);
  sub = g_dbus_connection_signal_subscribe (client, NULL, "org.vivarium.Vmm1", "DiskError",
                                            "/org/vivarium/Vmm1", NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, on_disk_error_signal, got,
                                            NULL);

  fx_init (&f, &o);
  vmm_virtio_blk_set_error_fn (f.blk, vmm_disk_error_to_dbus, skeleton);
  g_assert_cmpint (truncate (f.path, 64 * 1024), ==, 0);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &old), ==, 0);
  sigaction (SIGXFSZ, &ign, &old_sa);
  small = old;
  small.rlim_cur = 64 * 1024;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &small), ==, 0);
  memset (src, 0x5a, sizeof src);
  b = buf_out (&f, src, sizeof src);
  g_assert_cmpuint (run (&f, T_OUT, 1500, &b, 1, NULL), ==, S_IOERR);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &old), ==, 0);
  sigaction (SIGXFSZ, &old_sa, NULL);

  timeout = g_timeout_add (TIMEOUT_MS, set_flag, &expired);
  while (got->len == 0 && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timeout);
  g_assert_cmpuint (got->len, ==, 1);
  g_assert_true (g_variant_is_of_type (got->pdata[0], G_VARIANT_TYPE ("(ussss)")));
  g_variant_get (got->pdata[0], "(u&s&s&s&s)", &disk, &path, &operation, &name, &message);
  g_assert_cmpuint (disk, ==, 1);
  g_assert_cmpstr (path, ==, f.path);
  g_assert_cmpstr (operation, ==, "write");
  g_assert_cmpstr (name, ==, "EFBIG");
  want = g_strdup_printf ("disk 1 (%s): write of 512 bytes at sector 1500 failed", f.path);
  g_assert_nonnull (strstr (message, want));

  vmm_virtio_blk_set_error_fn (f.blk, NULL, NULL);
  g_assert_cmpint (truncate (f.path, DISK_SECTORS * SECTOR), ==, 0);
  fx_clear (&f);
  g_dbus_connection_signal_unsubscribe (client, sub);
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (skeleton));
  /* what the relay queued holds the skeleton until it ran */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* A backing file cut short while the machine runs: the guest's reads of
 * what it held fail, and the log names the backing file. */
static void
test_backing_truncated (void)
{
  struct options o = { .backing = true, .threads = true };
  struct vmm_test_buf b;
  g_autofree char *log = NULL, *want = NULL;
  struct fx f;

  fx_init (&f, &o);
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 1000, &b, 1, NULL), ==, S_OK);
  check_pattern (&f, &b, 1000 * SECTOR);

  g_assert_cmpint (truncate (f.path, 64 * 1024), ==, 0);
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 1000, &b, 1, NULL), ==, S_IOERR);
  log = vmm_test_log_take (f.log_fd);
  want = g_strdup_printf ("virtio-blk: disk 0 (%s): read of 512 bytes at sector 1000 failed: "
                          "Input/output error (EIO); in the backing file %s; %s ends at byte "
                          "65536, before the data at byte 512000 (was it truncated?)",
                          f.overlay, f.path, f.path);
  if (strstr (log, want) == NULL)
    g_error ("the log has no “%s”: %s", want, log);
  fx_clear (&f);
}

/* A malformed ring breaks the device, which says so; a reset repairs it. */
static void
test_broken_ring (void)
{
  struct options o = { 0 };
  struct vmm_test_buf b;
  struct fx f;

  fx_init (&f, &o);
  /* a head out of range */
  vmm_test_vq_offer (&f.t.vq[0], QUEUE_SIZE + 3);
  vmm_test_vq_publish (&f.t.vq[0]);
  kick (&f);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, !=, 0);
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 2, ==, 2);
  vmm_test_log_expect (f.log_fd, "available ring head index out of range");

  g_assert_cmpuint (vmm_test_virtio_setup (&f.t, vmm_test_virtio_device_features (&f.t) &
                                           ~(1ull << VIRTIO_F_RING_EVENT_IDX), 1, QUEUE_SIZE),
                    ==, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                        VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 1, &b, 1, NULL), ==, S_OK);
  check_pattern (&f, &b, SECTOR);
  fx_clear (&f);
}

/* Issue 16: a guest that puts the used ring two bytes after the avail ring
 * (no EVENT_IDX) makes used->flags the avail index, so the device's own
 * "kicks off" and "kicks on" moved avail->idx: after a request answered at
 * once (no status byte), draining the queue at DRIVER_OK never ended, on
 * the vCPU thread with the device lock held. Overlapping rings are refused
 * when the queue is enabled: the device needs a reset, says why once, and
 * works again after one. */
static void
on_alarm (int sig)
{
  static const char msg[] = "the device did not return in time (a loop that does not end)\n";

  (void) sig;
  (void) !write (2, msg, sizeof msg - 1);
  abort ();
}

static void
test_overlapping_rings (void)
{
  struct options o = { 0 };
  uint64_t features;
  uint64_t desc = 0x100000, avail = 0x101002, used = avail + 2;
  struct vmm_test_buf b;
  uint8_t status;
  g_autofree char *log = NULL;
  struct fx f;

  fx_init (&f, &o);
  features = vmm_test_virtio_device_features (&f.t) & ~(1ull << VIRTIO_F_RING_EVENT_IDX);
  g_assert_cmpuint (vmm_test_virtio_negotiate (&f.t, features) & VIRTIO_STATUS_FEATURES_OK,
                    !=, 0);
  memset (vmm_test_ptr (&f.t.ram.mem, desc, 0x4000), 0, 0x4000);
  vmm_test_vq_init (&f.t.vq[0], &f.t.ram.mem, QUEUE_SIZE, desc, avail, used, 0x200000, 0x300000);
  g_assert_false (vmm_test_virtio_queue (&f.t, 0, QUEUE_SIZE, desc, avail, used));
  /* a request with no status byte, answered as soon as it is seen */
  b = buf_in (&f, SECTOR);
  queue_full (&f, 16, T_IN, 0, &b, 0, true);
  signal (SIGALRM, on_alarm);
  alarm (10);
  status = vmm_test_virtio_driver_ok (&f.t);
  alarm (0);
  signal (SIGALRM, SIG_DFL);
  g_assert_cmpuint (status & VIRTIO_STATUS_NEEDS_RESET, !=, 0);
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 2, ==, 2);
  log = vmm_test_log_take (f.log_fd);
  g_assert_nonnull (strstr (log, "rings overlap"));
  /* said once, though the driver goes on */
  g_assert_null (strstr (strstr (log, "rings overlap") + 1, "rings overlap"));
  /* nothing was taken from the ring */
  g_assert_cmpuint (vmm_test_get16 (&f.t.ram.mem, used + 2), ==, 0);

  /* a reset and proper rings repair it */
  g_assert_cmpuint (vmm_test_virtio_setup (&f.t, features, 1, QUEUE_SIZE),
                    ==, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                        VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 1, &b, 1, NULL), ==, S_OK);
  check_pattern (&f, &b, SECTOR);
  fx_clear (&f);
}

/* A drain takes at most a budget of requests (issue 16); the rest are
 * taken on the disk's I/O thread without another kick. Here the requests
 * wait from before DRIVER_OK, whose drain runs on the vCPU that sets it. */
static void
test_budget (void)
{
  struct options o = { 0 };
  uint64_t desc = 0x100000, avail = 0x101000, used = 0x102000;
  struct vmm_test_buf b[10];
  struct req r[10];
  uint64_t features;
  uint8_t status;
  struct fx f;

  fx_init (&f, &o);
  features = vmm_test_virtio_device_features (&f.t) & ~(1ull << VIRTIO_F_RING_EVENT_IDX);
  g_assert_cmpuint (vmm_test_virtio_negotiate (&f.t, features) & VIRTIO_STATUS_FEATURES_OK,
                    !=, 0);
  memset (vmm_test_ptr (&f.t.ram.mem, desc, 0x4000), 0, 0x4000);
  vmm_test_vq_init (&f.t.vq[0], &f.t.ram.mem, QUEUE_SIZE, desc, avail, used, 0x200000, 0x300000);
  g_assert_true (vmm_test_virtio_queue (&f.t, 0, QUEUE_SIZE, desc, avail, used));
  g_assert_cmpuint (virtq_drain_budget (&vmm_virtio_blk_dev (f.blk)->queues[0].vq), ==,
                    QUEUE_SIZE);
  vmm_virtio_blk_dev (f.blk)->queues[0].vq.drain_budget = 3;
  /* every other sector: no two merge */
  for (unsigned i = 0; i < G_N_ELEMENTS (r); i++)
    {
      b[i] = buf_in (&f, SECTOR);
      r[i] = queue_req (&f, T_IN, 2 * i, &b[i], 1);
    }
  g_assert_cmpuint (vmm_test_virtio_driver_ok (&f.t) & VIRTIO_STATUS_NEEDS_RESET, ==, 0);
  for (unsigned i = 0; i < G_N_ELEMENTS (r); i++)
    {
      wait_req (&f, &r[i], &status);
      g_assert_cmpuint (status, ==, S_OK);
      check_pattern (&f, &b[i], 2 * i * SECTOR);
    }
  /* and again with a kick */
  for (unsigned i = 0; i < G_N_ELEMENTS (r); i++)
    {
      b[i] = buf_in (&f, SECTOR);
      r[i] = queue_req (&f, T_IN, 2 * i + 1, &b[i], 1);
    }
  kick (&f);
  for (unsigned i = 0; i < G_N_ELEMENTS (r); i++)
    {
      wait_req (&f, &r[i], &status);
      g_assert_cmpuint (status, ==, S_OK);
      check_pattern (&f, &b[i], (2 * i + 1) * SECTOR);
    }
  fx_clear (&f);
}

/* ---- parsing and merging, without the device (blk-req.c) --------------------------- */

#define REQ_RAM     0x100000u
#define REQ_DESC    0x1000u
#define REQ_AVAIL   0x2000u
#define REQ_USED    0x3000u
#define REQ_DATA    0x4000u

struct req_fx {
  struct vmm_test_ram ram;
  struct vmm_test_vq vq;
  struct virtq q;
  struct blk_disk disk;
  struct vmm_ratelimit rl;
  struct virtq_chain chain;
  int log_fd;
};

static void
req_fx_init (struct req_fx *f)
{
  memset (f, 0, sizeof *f);
  vmm_test_ram_add (&f->ram, 0, REQ_RAM);
  vmm_test_vq_init (&f->vq, &f->ram.mem, 64, REQ_DESC, REQ_AVAIL, REQ_USED, REQ_DATA, REQ_RAM);
  virtq_init (&f->q, &f->ram.mem);
  f->q.size = 64;
  f->q.desc_gpa = REQ_DESC;
  f->q.avail_gpa = REQ_AVAIL;
  f->q.used_gpa = REQ_USED;
  g_assert_cmpint (virtq_start (&f->q), ==, 0);
  f->disk.capacity = DISK_SECTORS * SECTOR;
  f->disk.alignment = 1;
  memcpy (f->disk.serial, "req-serial", 10);
  f->log_fd = vmm_test_log_capture ();
}

static void
req_fx_clear (struct req_fx *f)
{
  virtq_reset (&f->q);
  vmm_test_ram_free (&f->ram);
  vmm_test_log_release (f->log_fd);
}

/* Pops the chain of BUFS as the device would and parses its header */
static struct blk_req *
req_from (struct req_fx *f, const struct vmm_test_buf *bufs, unsigned n, bool *header_ok)
{
  struct blk_req *req = blk_req_new (NULL);

  g_assert_nonnull (req);
  vmm_test_vq_add_bufs (&f->vq, bufs, n);
  g_assert_cmpint (virtq_pop (&f->q, &f->chain), ==, 1);
  g_assert_cmpuint (f->chain.n_in, >, 0);
  *header_ok = blk_req_parse_header (req, &f->chain, &f->rl);
  return req;
}

static struct vmm_test_buf
hdr_buf (struct req_fx *f, uint32_t type, uint64_t sector, unsigned len)
{
  uint8_t hdr[16 + 64] = { 0 };

  viv_put_le32 (hdr, type);
  viv_put_le64 (hdr + 8, sector);
  return (struct vmm_test_buf) { vmm_test_vq_copy (&f->vq, hdr, len), len, false };
}

static struct vmm_test_buf
in_buf (struct req_fx *f, uint32_t len)
{
  return (struct vmm_test_buf) { vmm_test_vq_copy (&f->vq, NULL, len), len, true };
}

/* Parses a chain of BUFS to the end: returns the action, *STATUS */
static enum blk_req_action
parse (struct req_fx *f, const struct vmm_test_buf *bufs, unsigned n, struct blk_req **out,
       uint8_t *status)
{
  bool header_ok;
  struct blk_req *req = req_from (f, bufs, n, &header_ok);

  g_assert_true (header_ok);
  *out = req;
  return blk_req_parse (req, &f->disk, &f->chain, status, &f->rl);
}

static void
test_req_parse (void)
{
  struct vmm_test_buf b[6];
  struct blk_req *req;
  uint8_t status;
  bool header_ok;
  struct req_fx f;

  req_fx_init (&f);

  /* a header split over two descriptors, data in three, the status byte */
  {
    struct vmm_test_buf h = hdr_buf (&f, T_IN, 7, 16);

    b[0] = (struct vmm_test_buf) { h.gpa, 5, false };
    b[1] = (struct vmm_test_buf) { h.gpa + 5, 11, false };
  }
  b[2] = in_buf (&f, 100);
  b[3] = in_buf (&f, 400);
  b[4] = in_buf (&f, 12);
  b[5] = in_buf (&f, 1);
  g_assert_cmpint (parse (&f, b, 6, &req, &status), ==, BLK_REQ_RW);
  g_assert_cmpuint (req->type, ==, T_IN);
  g_assert_cmpuint (req->sector, ==, 7);
  g_assert_cmpuint (req->offset, ==, 7 * SECTOR);
  g_assert_cmpuint (req->len, ==, 512);
  g_assert_cmpuint (req->used_len, ==, 513);
  g_assert_cmpint (req->n_data, ==, 3);
  g_assert_true (req->data[1].iov_base == vmm_test_ptr (&f.ram.mem, b[3].gpa, 400));
  g_assert_cmpuint (req->data[1].iov_len, ==, 400);
  g_assert_true (req->status == vmm_test_ptr (&f.ram.mem, b[5].gpa, 1));
  blk_req_free (req);

  /* data after the header in the same descriptor; the status byte at the
   * end of the last data descriptor */
  b[0] = hdr_buf (&f, T_OUT, 2, 16 + 64);
  b[1] = in_buf (&f, 1);
  {
    uint8_t hdr[16 + 1024 + 1];
    struct vmm_test_buf one;

    memset (hdr, 0, sizeof hdr);
    viv_put_le32 (hdr, T_IN);
    one = (struct vmm_test_buf) { vmm_test_vq_copy (&f.vq, hdr, 16), 16, false };
    b[2] = one;
    b[3] = in_buf (&f, 1024 + 1);
  }
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_IOERR);   /* 64 bytes: not whole sectors */
  vmm_test_log_expect (f.log_fd, "write of 64 bytes at sector 2 is outside the disk or misaligned");
  blk_req_free (req);
  g_assert_cmpint (parse (&f, &b[2], 2, &req, &status), ==, BLK_REQ_RW);
  g_assert_cmpuint (req->len, ==, 1024);
  g_assert_cmpint (req->n_data, ==, 1);
  g_assert_true (req->status == (uint8_t *) vmm_test_ptr (&f.ram.mem, b[3].gpa, 1025) + 1024);
  blk_req_free (req);

  /* the capacity: nothing at its end is fine, a sector there is not */
  b[0] = hdr_buf (&f, T_IN, DISK_SECTORS, 16);
  b[1] = in_buf (&f, 1);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_OK);
  g_assert_cmpuint (req->used_len, ==, 1);
  blk_req_free (req);
  b[1] = in_buf (&f, SECTOR + 1);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_IOERR);
  blk_req_free (req);

  /* O_DIRECT: sectors and lengths aligned as the device's block size */
  f.disk.direct = true;
  f.disk.alignment = 4096;
  b[0] = hdr_buf (&f, T_IN, 1, 16);
  b[1] = in_buf (&f, 4096 + 1);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_IOERR);
  blk_req_free (req);
  b[0] = hdr_buf (&f, T_IN, 8, 16);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_RW);
  blk_req_free (req);
  b[1] = in_buf (&f, 512 + 1);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_IOERR);
  blk_req_free (req);
  f.disk.direct = false;
  f.disk.alignment = 1;

  /* a read-only disk: writes, discards and write-zeroes refused; flush and
   * reads fine */
  f.disk.read_only = true;
  b[0] = hdr_buf (&f, T_OUT, 0, 16 + 64);
  b[0].len = 16 + 512;
  b[1] = in_buf (&f, 1);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_IOERR);
  blk_req_free (req);
  b[0] = hdr_buf (&f, T_WRITE_ZEROES, 0, 16);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_IOERR);
  blk_req_free (req);
  b[0] = hdr_buf (&f, T_FLUSH, 0, 16);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_OK);
  blk_req_free (req);
  f.disk.read_only = false;
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_FLUSH);
  blk_req_free (req);

  /* GET_ID, and a type nobody knows */
  b[0] = hdr_buf (&f, T_GET_ID, 0, 16);
  b[1] = in_buf (&f, 8);
  b[2] = in_buf (&f, 30);
  g_assert_cmpint (parse (&f, b, 3, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_OK);
  g_assert_cmpuint (req->used_len, ==, 20 + 1);
  g_assert_cmpmem (vmm_test_ptr (&f.ram.mem, b[1].gpa, 8), 8, "req-seri", 8);
  g_assert_cmpmem (vmm_test_ptr (&f.ram.mem, b[2].gpa, 12), 12, "al\0\0\0\0\0\0\0\0\0\0", 12);
  blk_req_free (req);
  b[0] = hdr_buf (&f, 42, 0, 16);
  g_assert_cmpint (parse (&f, b, 2, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_UNSUPP);
  blk_req_free (req);

  /* a header cut short */
  b[0] = hdr_buf (&f, T_IN, 0, 15);
  b[1] = in_buf (&f, 1);
  req = req_from (&f, b, 2, &header_ok);
  g_assert_false (header_ok);
  vmm_test_log_expect (f.log_fd, "a request with a short header (15 bytes)");
  g_assert_cmpuint (req->used_len, ==, 1);
  g_assert_true (req->status == vmm_test_ptr (&f.ram.mem, b[1].gpa, 1));
  blk_req_free (req);
  req_fx_clear (&f);
}

static void
test_req_segments (void)
{
  uint8_t segs[3 * 16] = { 0 };
  struct vmm_test_buf b[4];
  struct blk_req *req;
  uint8_t status;
  struct req_fx f;

  req_fx_init (&f);
  for (unsigned i = 0; i < 3; i++)
    {
      viv_put_le64 (segs + 16 * i, 100 * i);
      viv_put_le32 (segs + 16 * i + 8, 8 + i);
      viv_put_le32 (segs + 16 * i + 12, i == 1 ? WZ_UNMAP : 0);
    }
  /* segments after the header, one of them split across two descriptors */
  b[0] = hdr_buf (&f, T_WRITE_ZEROES, 0, 16);
  b[1] = (struct vmm_test_buf) { vmm_test_vq_copy (&f.vq, segs, sizeof segs), 20, false };
  b[2] = (struct vmm_test_buf) { b[1].gpa + 20, sizeof segs - 20, false };
  b[3] = in_buf (&f, 1);
  g_assert_cmpint (parse (&f, b, 4, &req, &status), ==, BLK_REQ_DISCARD);
  g_assert_cmpuint (req->n_segs, ==, 3);
  for (unsigned i = 0; i < 3; i++)
    {
      g_assert_cmpuint (req->segs[i].offset, ==, 100 * i * SECTOR);
      g_assert_cmpuint (req->segs[i].len, ==, (8 + i) * SECTOR);
      g_assert_cmpint (req->segs[i].unmap, ==, i == 1);
    }
  blk_req_free (req);

  /* DISCARD takes no flags */
  b[0] = hdr_buf (&f, T_DISCARD, 0, 16);
  g_assert_cmpint (parse (&f, b, 4, &req, &status), ==, BLK_REQ_ANSWER);
  g_assert_cmpuint (status, ==, S_UNSUPP);
  blk_req_free (req);

  /* more segments than the device said it takes */
  {
    g_autofree uint8_t *many = g_malloc0 (16 * 257);

    for (unsigned i = 0; i < 257; i++)
      viv_put_le32 (many + 16 * i + 8, 1);
    b[1] = (struct vmm_test_buf) { vmm_test_vq_copy (&f.vq, many, 16 * 257), 16 * 257, false };
    b[2] = b[3];
    g_assert_cmpint (parse (&f, b, 3, &req, &status), ==, BLK_REQ_ANSWER);
    g_assert_cmpuint (status, ==, S_IOERR);
    vmm_test_log_expect (f.log_fd, "a malformed discard request");
    blk_req_free (req);
    b[1].len = 16 * 256;
    g_assert_cmpint (parse (&f, b, 3, &req, &status), ==, BLK_REQ_DISCARD);
    blk_req_free (req);
  }
  req_fx_clear (&f);
}

/* A read or write as blk_req_parse leaves it, with N_DATA segments */
static struct blk_req *
rw (uint32_t type, unsigned queue, uint64_t offset, uint64_t len, int n_data)
{
  struct blk_req *req = blk_req_new (NULL);

  req->type = type;
  req->queue = queue;
  req->offset = offset;
  req->len = len;
  req->data = n_data <= REQ_INLINE_DATA ? req->data_inline
                                         : calloc ((size_t) n_data, sizeof *req->data);
  req->n_data = n_data;
  for (int i = 0; i < n_data; i++)
    req->data[i].iov_len = (size_t) (len / (uint64_t) n_data);
  req->data[0].iov_base = req;   /* to tell whose data a group holds */
  return req;
}

static void
free_batch (struct blk_req *b)
{
  struct blk_req *m, *next;

  for (m = b->members; m != NULL; m = next)
    {
      next = m->next_member;
      blk_req_free (m);
    }
  blk_req_free (b);
}

/* Two requests of MAX / 2 bytes make a batch of MAX, which takes no more:
 * MAX is the limit for TYPE on DISK. */
static void
check_merge_limit (const struct blk_disk *disk, uint32_t type, uint64_t max)
{
  struct blk_req *batch = rw (type, 0, 0, max / 2, 1);
  struct blk_req *other = rw (type, 0, max / 2, max / 2, 1);

  g_assert_true (blk_req_merge (disk, &batch, other));
  other = rw (type, 0, max, 512, 1);
  g_assert_false (blk_req_merge (disk, &batch, other));
  blk_req_free (other);
  free_batch (batch);
}

static void
test_req_merge (void)
{
  struct blk_disk disk = { .capacity = 1ull << 40, .alignment = 1 };
  struct blk_req *batch, *r[4], *other;

  /* adjacent reads: the second makes a group of both, the third joins */
  r[0] = batch = rw (T_IN, 0, 4096, 4096, 1);
  r[1] = rw (T_IN, 0, 8192, 8192, 2);
  r[2] = rw (T_IN, 0, 16384, 512, 1);
  g_assert_true (blk_req_merge (&disk, &batch, r[1]));
  g_assert_true (batch != r[0]);
  g_assert_true (batch->is_group);
  g_assert_true (blk_req_merge (&disk, &batch, r[2]));
  g_assert_cmpuint (batch->type, ==, T_IN);
  g_assert_cmpuint (batch->offset, ==, 4096);
  g_assert_cmpuint (batch->len, ==, 4096 + 8192 + 512);
  g_assert_cmpint (batch->n_data, ==, 4);
  g_assert_true (batch->data[0].iov_base == r[0]);
  g_assert_true (batch->data[1].iov_base == r[1]);
  g_assert_true (batch->data[3].iov_base == r[2]);
  g_assert_true (batch->members == r[0]);
  g_assert_true (r[0]->next_member == r[1]);
  g_assert_true (r[1]->next_member == r[2]);
  g_assert_null (r[2]->next_member);

  /* what does not continue it stays out: a gap, an overlap, a write, another
   * queue, a request from before a device reset */
  other = rw (T_IN, 0, 16384 + 512 + 512, 512, 1);
  g_assert_false (blk_req_merge (&disk, &batch, other));
  other->offset = 16384;
  g_assert_false (blk_req_merge (&disk, &batch, other));
  other->offset = 16384 + 512;
  other->type = T_OUT;
  g_assert_false (blk_req_merge (&disk, &batch, other));
  other->type = T_IN;
  other->queue = 1;
  g_assert_false (blk_req_merge (&disk, &batch, other));
  other->queue = 0;
  other->generation = 1;
  g_assert_false (blk_req_merge (&disk, &batch, other));
  other->generation = 0;
  g_assert_true (blk_req_merge (&disk, &batch, other));
  g_assert_cmpuint (batch->len, ==, 4096 + 8192 + 512 + 512);
  free_batch (batch);

  /* a single request that cannot be merged stays single */
  batch = rw (T_OUT, 0, 0, 4096, 1);
  other = rw (T_OUT, 0, 8192, 4096, 1);
  g_assert_false (blk_req_merge (&disk, &batch, other));
  g_assert_false (batch->is_group);
  blk_req_free (other);
  blk_req_free (batch);

  /* at most 4 MiB for buffered reads, 2 MiB for writes and O_DIRECT */
  check_merge_limit (&disk, T_IN, 4u << 20);
  check_merge_limit (&disk, T_OUT, 2u << 20);
  disk.direct = true;
  check_merge_limit (&disk, T_IN, 2u << 20);
  disk.direct = false;

  /* and at most 1024 segments */
  batch = rw (T_IN, 0, 0, 1000 * 512, 1000);
  other = rw (T_IN, 0, 1000 * 512, 24 * 512, 24);
  g_assert_true (blk_req_merge (&disk, &batch, other));
  g_assert_cmpint (batch->n_data, ==, 1024);
  other = rw (T_IN, 0, 1024 * 512, 512, 1);
  g_assert_false (blk_req_merge (&disk, &batch, other));
  blk_req_free (other);
  free_batch (batch);
}

/* ---- snapshots --------------------------------------------------------------------- */

static bool
queue_kicks_on (void *data)
{
  struct vmm_virtio_dev *dev = data;
  bool on;

  pthread_mutex_lock (&dev->lock);
  on = !dev->queues[0].vq.notify_off;
  pthread_mutex_unlock (&dev->lock);
  return on;
}

/* The guest asks for an interrupt at the next used entry (with EVENT_IDX) */
static void
want_interrupt (struct fx *f)
{
  struct vmm_test_vq *vq = &f->t.vq[0];

  vmm_test_put16 (&f->t.ram.mem, vmm_test_vq_used_event (vq), vmm_test_vq_used_idx (vq));
}

/* What the next request did: its head, the used index and length after it,
 * its status and data, whether the driver was interrupted */
struct outcome {
  uint16_t head, used_idx;
  uint32_t len;
  uint8_t status, isr;
  uint8_t data[2 * SECTOR];
};

static void
next_request (struct fx *f, struct outcome *o)
{
  struct vmm_test_buf in = buf_in (f, sizeof o->data);
  struct req r;

  want_interrupt (f);
  r = queue_req (f, T_IN, 10, &in, 1);
  kick (f);
  o->len = wait_req (f, &r, &o->status);
  o->head = r.head;
  o->used_idx = vmm_test_vq_used_idx (&f->t.vq[0]);
  o->isr = vmm_test_virtio_isr (&f->t);
  memcpy (o->data, vmm_test_ptr (&f->t.ram.mem, in.gpa, in.len), sizeof o->data);
}

/* A disk that served a write and reads is saved; a new device on the same
 * image, over a copy of the guest's memory, serves the next request as
 * the first would have: the next ring slot, the next used index, the
 * data, the interrupt. */
static void
do_state (gconstpointer data)
{
  const struct options *o = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) file = NULL;
  struct vmm_disk_spec spec = { 0 };
  struct outcome want, got;
  struct vmm_test_buf bufs[3];
  uint8_t src[2 * SECTOR];
  struct fx a, b;

  fx_init (&a, o);
  memset (src, 0x5a, sizeof src);
  bufs[0] = buf_out (&a, src, sizeof src);
  g_assert_cmpuint (run (&a, T_OUT, 10, bufs, 1, NULL), ==, S_OK);
  for (unsigned i = 1; i < 3; i++)
    {
      bufs[i] = buf_in (&a, SECTOR);
      want_interrupt (&a);
      g_assert_cmpuint (run (&a, T_IN, i, &bufs[i], 1, NULL), ==, S_OK);
    }
  /* quiet: nothing in flight, the queue no longer parked */
  g_assert_true (vmm_test_wait_until (queue_kicks_on, vmm_virtio_blk_dev (a.blk), TIMEOUT_MS));
  (void) vmm_test_virtio_isr (&a.t);
  file = vmm_test_virtio_save (vmm_virtio_blk_dev (a.blk), "virtio-blk.0");

  /* the memory as saved, for the new machine */
  b = a;
  vmm_test_virtio_init (&b.t, &b.env);
  vmm_test_virtio_copy_guest (&b.t, &a.t);

  /* what the first device does next */
  next_request (&a, &want);
  g_assert_cmpuint (want.status, ==, S_OK);
  g_assert_cmpuint (want.used_idx, ==, 4);
  g_assert_cmpuint (want.isr & 1, ==, 1);
  g_assert_cmpuint (want.data[0], ==, 0x5a);
  vmm_test_virtio_stop (&a.t);
  g_assert_cmpint (vmm_virtio_blk_free (a.blk), ==, 0);
  vmm_test_virtio_clear (&a.t);

  spec.path = b.path;
  spec.format = VMM_BLOCK_FORMAT_RAW;
  spec.cache = VMM_DISK_CACHE_WRITEBACK;
  b.blk = vmm_virtio_blk_new (&b.env, &spec, 1, o->threads, &error);
  g_assert_no_error (error);
  vmm_test_virtio_plug (&b.t, vmm_virtio_blk_dev (b.blk));
  vmm_test_virtio_load (vmm_virtio_blk_dev (b.blk), file, "virtio-blk.0");
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, 0x14, 1), ==,
                    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);

  next_request (&b, &got);
  g_assert_cmpuint (got.head, ==, want.head);
  g_assert_cmpuint (got.used_idx, ==, want.used_idx);
  g_assert_cmpuint (got.len, ==, want.len);
  g_assert_cmpuint (got.status, ==, want.status);
  g_assert_cmpuint (got.isr, ==, want.isr);
  g_assert_cmpmem (got.data, sizeof got.data, want.data, sizeof want.data);

  /* refused: cut short, another disk (its capacity), a newer layout */
  vmm_test_virtio_refusals (vmm_virtio_blk_dev (b.blk), file, "virtio-blk.0",
                            "virtio-blk.0.device", 4, 1);
  fx_clear (&b);
}

static const struct options uring = { 0 };
static const struct options threads = { .threads = true };
static const struct options event_idx = { .event_idx = true };

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/virtio-blk/config", test_config);
  g_test_add_data_func ("/virtio-blk/read", &uring, do_read);
  g_test_add_data_func ("/virtio-blk/read/threads", &threads, do_read);
  g_test_add_data_func ("/virtio-blk/read/event-idx", &event_idx, do_read);
  g_test_add_data_func ("/virtio-blk/write", &uring, do_write);
  g_test_add_data_func ("/virtio-blk/write/threads", &threads, do_write);
  g_test_add_data_func ("/virtio-blk/merge", &uring, do_merge);
  g_test_add_data_func ("/virtio-blk/merge/threads", &threads, do_merge);
  g_test_add_data_func ("/virtio-blk/merge/event-idx", &event_idx, do_merge);
  g_test_add_func ("/virtio-blk/get-id", test_get_id);
  g_test_add_func ("/virtio-blk/discard", test_discard);
  g_test_add_func ("/virtio-blk/bad-requests", test_bad_requests);
  g_test_add_func ("/virtio-blk/read-only", test_read_only);
  g_test_add_func ("/virtio-blk/broken-ring", test_broken_ring);
  g_test_add_data_func ("/virtio-blk/host-failure", &uring, do_host_failure);
  g_test_add_data_func ("/virtio-blk/host-failure/threads", &threads, do_host_failure);
  g_test_add_func ("/virtio-blk/backing-truncated", test_backing_truncated);
  g_test_add_func ("/virtio-blk/disk-error-signal", test_disk_error_signal);
  g_test_add_func ("/virtio-blk/overlapping-rings", test_overlapping_rings);
  g_test_add_func ("/virtio-blk/budget", test_budget);
  g_test_add_data_func ("/virtio-blk/state", &uring, do_state);
  g_test_add_data_func ("/virtio-blk/state/event-idx", &event_idx, do_state);
  g_test_add_func ("/virtio-blk/req/parse", test_req_parse);
  g_test_add_func ("/virtio-blk/req/segments", test_req_segments);
  g_test_add_func ("/virtio-blk/req/merge", test_req_merge);

  return g_test_run ();
}
