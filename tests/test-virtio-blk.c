/* test-virtio-blk.c: virtio-blk requests on a fake queue, against a raw image
 *
 * The device runs as it does in a VM (its own I/O thread, the aio engine,
 * the virtio-pci transport on an MMIO bus), over fake guest RAM and without
 * /dev/kvm (vmm-test.h). The test plays the driver: it queues requests,
 * kicks, and waits for the used ring, then checks the status bytes, the
 * data and the image file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "viv-bytes.h"
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
  char *path;
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
  g_autofree char *log = NULL;

  vmm_test_virtio_stop (&f->t);
  /* it flushes on the way out */
  g_assert_cmpint (vmm_virtio_blk_free (f->blk), ==, 0);
  vmm_test_virtio_clear (&f->t);
  log = vmm_test_log_take (f->log_fd);
  if (log[0] != '\0')
    g_test_message ("the device logged: %s", log);
  vmm_test_log_release (f->log_fd);
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

static void
check_log (struct fx *f, const char *want)
{
  g_autofree char *log = vmm_test_log_take (f->log_fd);

  if (strstr (log, want) == NULL)
    g_error ("the log has no “%s”: %s", want, log);
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
  check_log (&f, "a malformed write-zeroes request");
  viv_put_le64 (seg, 0);
  viv_put_le32 (seg + 8, 0);
  b = buf_out (&f, seg, 16);
  g_assert_cmpuint (run (&f, T_DISCARD, 0, &b, 1, NULL), ==, S_IOERR);
  check_log (&f, "a malformed discard request");
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
  check_log (&f, "read of 512 bytes at sector 2048 is outside the disk or misaligned");
  b = buf_in (&f, 2 * SECTOR);
  g_assert_cmpuint (run (&f, T_IN, DISK_SECTORS - 1, &b, 1, NULL), ==, S_IOERR);
  g_assert_cmpuint (run (&f, T_IN, UINT64_MAX, &b, 1, NULL), ==, S_IOERR);
  g_assert_cmpuint (run (&f, T_IN, UINT64_MAX / SECTOR + 1, &b, 1, NULL), ==, S_IOERR);
  b = buf_in (&f, 100);
  g_assert_cmpuint (run (&f, T_IN, 0, &b, 1, NULL), ==, S_IOERR);
  b = buf_out (&f, "x", 1);
  g_assert_cmpuint (run (&f, T_OUT, DISK_SECTORS, &b, 1, NULL), ==, S_IOERR);
  check_log (&f, "write of 1 bytes at sector 2048 is outside the disk or misaligned");
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
  check_log (&f, "a request with a short header (8 bytes)");

  /* nowhere to put a status: returned unanswered */
  b = buf_out (&f, "abcd", 4);
  r = queue_full (&f, 16, T_OUT, 0, &b, 1, true);
  kick (&f);
  g_assert_cmpuint (wait_req (&f, &r, NULL), ==, 0);
  check_log (&f, "a request without a status byte");

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
  check_log (&f, "available ring head index out of range");

  g_assert_cmpuint (vmm_test_virtio_setup (&f.t, vmm_test_virtio_device_features (&f.t) &
                                           ~(1ull << VIRTIO_F_RING_EVENT_IDX), 1, QUEUE_SIZE),
                    ==, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                        VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
  b = buf_in (&f, SECTOR);
  g_assert_cmpuint (run (&f, T_IN, 1, &b, 1, NULL), ==, S_OK);
  check_pattern (&f, &b, SECTOR);
  fx_clear (&f);
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

  return g_test_run ();
}
