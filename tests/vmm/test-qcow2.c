/* test-qcow2.c: the block layer, raw and qcow2
 *
 * Every test works in its own temporary directory. Images are checked with
 * our own vmm_block_check and, when it is installed, with qemu-img check.
 * Corrupt images are made by patching the files by hand. The randomized
 * tests draw from g_test_rand_*, so --seed reproduces a failure.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "log.h"
#include "viv-bytes.h"

#define KiB (UINT64_C (1) << 10)
#define MiB (UINT64_C (1) << 20)
#define GiB (UINT64_C (1) << 30)

struct fx {
  char *dir;
};

static void
fx_setup (struct fx *f, gconstpointer data)
{
  GError *error = NULL;

  (void) data;
  f->dir = g_dir_make_tmp ("test-qcow2-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fx_teardown (struct fx *f, gconstpointer data)
{
  GDir *d = g_dir_open (f->dir, 0, NULL);
  const char *name;

  (void) data;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      char *p = g_build_filename (f->dir, name, NULL);
      g_unlink (p);
      g_free (p);
    }
  if (d != NULL)
    g_dir_close (d);
  g_rmdir (f->dir);
  g_free (f->dir);
}

static char *
fx_path (struct fx *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

/* ---- helpers ------------------------------------------------------------------ */

/* The same pattern as vivarium-vmm img write-pattern: bytes derived from
 * the seed and their absolute offset, so any range can be checked alone. */
static void
pattern (uint8_t *buf, size_t len, uint64_t offset, uint64_t seed)
{
  for (size_t i = 0; i < len; i++)
    {
      uint64_t p = offset + i, z = (p / 8) ^ (seed * UINT64_C (0x9e3779b97f4a7c15));
      z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
      z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
      z ^= z >> 31;
      buf[i] = (uint8_t) (z >> (8 * (p % 8)));
    }
}

static void
create_image (const char *path, enum vmm_block_format format, uint64_t size, uint32_t cs,
              const char *backing, enum vmm_block_format backing_format)
{
  struct vmm_block_create_opts opts = {
    .path = path, .format = format, .size = size, .cluster_size = cs,
    .backing_file = backing, .backing_format = backing_format,
  };
  GError *error = NULL;
  int ret = vmm_block_create (&opts, &error);

  if (ret != 0)
    g_error ("creating %s: %s", path, error ? error->message : g_strerror (-ret));
  g_assert_no_error (error);
}

static struct vmm_block *
open_image (const char *path, bool read_only)
{
  struct vmm_block_open_opts opts = { .path = path, .read_only = read_only };
  struct vmm_block *b = NULL;
  GError *error = NULL;
  int ret = vmm_block_open (&b, &opts, &error);

  if (ret != 0)
    g_error ("opening %s: %s", path, error ? error->message : g_strerror (-ret));
  g_assert_no_error (error);
  return b;
}

/* Opens an image that must fail; returns the error and its reason. */
static int
open_fails (const char *path, bool read_only, char **reason)
{
  struct vmm_block_open_opts opts = { .path = path, .read_only = read_only };
  struct vmm_block *b = NULL;
  g_autoptr (GError) error = NULL;
  int ret = vmm_block_open (&b, &opts, &error);

  if (ret == 0)
    {
      vmm_block_close (b);
      g_error ("%s opened but should not have", path);
    }
  g_assert_null (b);
  g_assert_nonnull (error);
  /* the error's code is the errno returned */
  g_assert_error (error, VMM_BLOCK_ERROR, -ret);
  g_test_message ("%s: %s", path, error->message);
  if (reason != NULL)
    *reason = g_strdup (error->message);
  return ret;
}

static int
bwrite (struct vmm_block *b, const void *buf, size_t len, uint64_t off)
{
  struct iovec iov = { (void *) buf, len };
  return vmm_block_pwritev (b, &iov, 1, off);
}

static int
bread (struct vmm_block *b, void *buf, size_t len, uint64_t off)
{
  struct iovec iov = { buf, len };
  return vmm_block_preadv (b, &iov, 1, off);
}

static void
write_pattern (struct vmm_block *b, uint64_t off, size_t len, uint64_t seed)
{
  uint8_t *buf = g_malloc (len);

  pattern (buf, len, off, seed);
  g_assert_cmpint (bwrite (b, buf, len, off), ==, 0);
  g_free (buf);
}

static void
assert_pattern (struct vmm_block *b, uint64_t off, size_t len, uint64_t seed)
{
  uint8_t *buf = g_malloc (len), *want = g_malloc (len);

  g_assert_cmpint (bread (b, buf, len, off), ==, 0);
  if (seed == 0)
    memset (want, 0, len);
  else
    pattern (want, len, off, seed);
  if (memcmp (buf, want, len) != 0)
    {
      size_t i = 0;
      while (buf[i] == want[i])
        i++;
      g_error ("data differs at %" G_GUINT64_FORMAT " (range %" G_GUINT64_FORMAT " +%zu)",
               off + i, off, len);
    }
  g_free (buf);
  g_free (want);
}

static void
assert_zero (struct vmm_block *b, uint64_t off, size_t len)
{
  assert_pattern (b, off, len, 0);
}

static char *
qemu_img (void)
{
  return g_find_program_in_path ("qemu-img");
}

/* qemu-img check's exit status, or -1 without qemu-img */
static int
qemu_check (const char *path)
{
  char *prog = qemu_img ();
  char *argv[] = { prog, (char *) "check", (char *) "-f", (char *) "qcow2", (char *) path, NULL };
  char *out = NULL, *err = NULL;
  int status = -1;
  GError *error = NULL;

  if (prog == NULL)
    return -1;
  g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  status = WEXITSTATUS (status);
  if (status != 0)
    g_test_message ("qemu-img check %s: %d\n%s%s", path, status, out, err);
  g_free (out);
  g_free (err);
  g_free (prog);
  return status;
}

static void
check_image (const char *path, uint64_t *corruptions, uint64_t *leaks)
{
  struct vmm_block_check_result res;
  GError *error = NULL;
  int ret = vmm_block_check (path, &res, &error);

  if (ret != 0)
    g_error ("checking %s: %s", path, error ? error->message : g_strerror (-ret));
  g_assert_no_error (error);
  if (res.first_problem != NULL)
    g_test_message ("%s: %s", path, res.first_problem);
  *corruptions = res.corruptions;
  *leaks = res.leaks;
  free (res.first_problem);
}

static void
assert_clean (const char *path)
{
  uint64_t corruptions, leaks;
  int q;

  check_image (path, &corruptions, &leaks);
  g_assert_cmpuint (corruptions, ==, 0);
  g_assert_cmpuint (leaks, ==, 0);
  q = qemu_check (path);
  g_assert_true (q == -1 || q == 0);
}

/* File access for patching images */
static uint64_t
file_get64 (const char *path, uint64_t off)
{
  int fd = open (path, O_RDONLY);
  uint8_t be[8];

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, be, 8, (off_t) off), ==, 8);
  close (fd);
  return viv_get_be64 (be);
}

static uint32_t
file_get32 (const char *path, uint64_t off)
{
  int fd = open (path, O_RDONLY);
  uint8_t be[4];

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, be, 4, (off_t) off), ==, 4);
  close (fd);
  return viv_get_be32 (be);
}

static void
file_put (const char *path, uint64_t off, const void *buf, size_t len)
{
  int fd = open (path, O_WRONLY);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pwrite (fd, buf, len, (off_t) off), ==, (ssize_t) len);
  close (fd);
}

static void
file_put64 (const char *path, uint64_t off, uint64_t v)
{
  uint8_t be[8];

  viv_put_be64 (be, v);
  file_put (path, off, be, 8);
}

static void
file_put32 (const char *path, uint64_t off, uint32_t v)
{
  uint8_t be[4];

  viv_put_be32 (be, v);
  file_put (path, off, be, 4);
}

static void
file_put16 (const char *path, uint64_t off, uint16_t v)
{
  uint8_t be[2];

  viv_put_be16 (be, v);
  file_put (path, off, be, 2);
}

static uint64_t
file_size (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return (uint64_t) st.st_size;
}

static uint64_t
cluster_size_of (const char *path)
{
  return UINT64_C (1) << file_get32 (path, 20);
}

/* The file offset of the L2 entry for guest offset GUEST */
static uint64_t
l2_entry_pos (const char *path, uint64_t guest)
{
  uint64_t cs = cluster_size_of (path), l2e = cs / 8;
  uint64_t l1_off = file_get64 (path, 40), cluster = guest / cs;
  uint64_t l2_off = file_get64 (path, l1_off + 8 * (cluster / l2e)) & QCOW2_OFFSET_MASK;

  g_assert_cmpuint (l2_off, !=, 0);
  return l2_off + 8 * (cluster % l2e);
}

/* The file offset of the (16-bit) refcount of the cluster at HOST */
static uint64_t
refcount_pos (const char *path, uint64_t host)
{
  uint64_t cs = cluster_size_of (path), entries = cs / 2, c = host / cs;
  uint64_t rt = file_get64 (path, 48), rb = file_get64 (path, rt + 8 * (c / entries));

  g_assert_cmpuint (rb, !=, 0);
  return rb + 2 * (c % entries);
}

/* ---- create and raw -------------------------------------------------------------- */

static void
test_create (struct fx *f, gconstpointer data)
{
  char *q = fx_path (f, "a.qcow2"), *r = fx_path (f, "a.raw");
  GError *error = NULL;
  struct vmm_block_create_opts opts = { .path = q, .format = VMM_BLOCK_FORMAT_QCOW2,
                                        .size = 10 * GiB };
  struct vmm_block_image_info info;
  struct vmm_block *b;
  GDir *d;
  const char *name;
  unsigned n = 0;

  (void) data;
  g_assert_cmpint (vmm_block_create (&opts, &error), ==, 0);
  g_assert_cmpint (vmm_block_info (q, &info, &error), ==, 0);
  g_assert_cmpint (info.format, ==, VMM_BLOCK_FORMAT_QCOW2);
  g_assert_cmpuint (info.virtual_size, ==, 10 * GiB);
  g_assert_cmpuint (info.cluster_size, ==, 65536);
  g_assert_null (info.backing_file);
  g_assert_cmpuint (info.n_snapshots, ==, 0);
  g_assert_cmpuint (info.qcow2_version, ==, 3);
  vmm_block_image_info_clear (&info);
  assert_clean (q);

  /* never over an existing file, and nothing left behind */
  file_put (q, 512, "keep", 4);
  g_assert_cmpint (vmm_block_create (&opts, &error), ==, -EEXIST);
  g_assert_nonnull (error);
  g_clear_error (&error);
  /* a failure with nothing to say but its errno still says that */
  {
    struct vmm_block_open_opts oo = { .path = q };
    g_assert_cmpint (vmm_block_open (NULL, &oo, &error), ==, -EINVAL);
    g_assert_error (error, VMM_BLOCK_ERROR, EINVAL);
    g_clear_error (&error);
  }
  g_assert_cmpuint (file_get32 (q, 512), ==, GUINT32_FROM_BE (*(const uint32_t *) "keep"));

  opts.path = r;
  opts.format = VMM_BLOCK_FORMAT_RAW;
  opts.size = 3 * MiB + 5;
  g_assert_cmpint (vmm_block_create (&opts, &error), ==, 0);
  g_assert_cmpuint (file_size (r), ==, 3 * MiB + 5);
  b = open_image (r, false);
  g_assert_cmpint (vmm_block_format (b), ==, VMM_BLOCK_FORMAT_RAW);
  g_assert_cmpuint (vmm_block_size (b), ==, 3 * MiB + 5);
  g_assert_cmpuint (vmm_block_alignment (b), ==, 1);
  vmm_block_close (b);

  /* bad options */
  opts.format = VMM_BLOCK_FORMAT_QCOW2;
  opts.path = q;
  g_free (q);
  q = fx_path (f, "b.qcow2");
  opts.path = q;
  opts.cluster_size = 3000;
  g_assert_cmpint (vmm_block_create (&opts, &error), ==, -EINVAL);
  g_clear_error (&error);
  opts.cluster_size = 4096;
  opts.size = 1000;
  g_assert_cmpint (vmm_block_create (&opts, &error), ==, -EINVAL);
  g_clear_error (&error);

  d = g_dir_open (f->dir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_assert_null (strstr (name, ".tmp"));
      n++;
    }
  g_dir_close (d);
  g_assert_cmpuint (n, ==, 2);
  g_free (q);
  g_free (r);
}

static uint64_t
allocated_bytes (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return (uint64_t) st.st_blocks * 512;
}

static void
test_raw (struct fx *f, gconstpointer data)
{
  char *r = fx_path (f, "disk.raw");
  struct vmm_block_extent ext[4];
  struct vmm_block *b;
  void *cookie = NULL;
  uint8_t buf[4096];
  uint64_t before;

  (void) data;
  create_image (r, VMM_BLOCK_FORMAT_RAW, 8 * MiB, 0, NULL, 0);
  b = open_image (r, false);
  write_pattern (b, 0, 8 * MiB, 3);
  g_assert_cmpint (vmm_block_flush (b), ==, 0);
  assert_pattern (b, 12345, 100000, 3);

  g_assert_cmpint (vmm_block_map_read (b, 4096, 8192, ext, 4), ==, 1);
  g_assert_cmpint (ext[0].kind, ==, VMM_BLOCK_EXTENT_DATA);
  g_assert_cmpuint (ext[0].host_offset, ==, 4096);
  g_assert_cmpuint (ext[0].len, ==, 8192);
  g_assert_cmpint (vmm_block_map_write (b, 0, 512, ext, 4, &cookie), ==, 1);
  g_assert_nonnull (cookie);
  g_assert_cmpint (vmm_block_write_commit (b, cookie), ==, 0);

  /* past the end */
  g_assert_cmpint (bread (b, buf, 512, 8 * MiB), ==, -EINVAL);
  g_assert_cmpint (bwrite (b, buf, 512, 8 * MiB - 256), ==, -EINVAL);

  /* discard gives the space back and reads zeroes */
  before = allocated_bytes (r);
  g_assert_cmpint (vmm_block_discard (b, 1 * MiB, 4 * MiB), ==, 0);
  assert_zero (b, 1 * MiB, 4 * MiB);
  g_assert_cmpuint (allocated_bytes (r), <=, before - 3 * MiB);
  g_assert_cmpint (vmm_block_write_zeroes (b, 6 * MiB, 512 * KiB, false), ==, 0);
  g_assert_cmpint (vmm_block_write_zeroes (b, 7 * MiB, 100, true), ==, 0);
  assert_zero (b, 6 * MiB, 512 * KiB);
  assert_zero (b, 7 * MiB, 100);
  assert_pattern (b, 7 * MiB + 100, 4096, 3);
  assert_pattern (b, 5 * MiB, 1 * MiB, 3);
  g_assert_cmpint (vmm_block_close (b), ==, 0);

  b = open_image (r, true);
  g_assert_true (vmm_block_read_only (b));
  g_assert_cmpint (bwrite (b, buf, 512, 0), ==, -EROFS);
  g_assert_cmpint (vmm_block_discard (b, 0, 512), ==, -EROFS);
  vmm_block_close (b);
  g_free (r);
}

/* The slow way of zeroing, which raw images take where fallocate is
 * refused and qcow2 for partial clusters: a range longer than one chunk,
 * at unaligned ends, and nothing around it touched. */
static void
test_zero_data (struct fx *f, gconstpointer data)
{
  char *r = fx_path (f, "zero.raw");
  struct vmm_block *b;

  (void) data;
  create_image (r, VMM_BLOCK_FORMAT_RAW, 4 * MiB, 0, NULL, 0);
  b = open_image (r, false);
  write_pattern (b, 0, 4 * MiB, 5);
  g_assert_cmpint (vmm_block_write_zero_data (b, 4096 + 7, 1 * MiB + 100), ==, 0);
  assert_pattern (b, 0, 4096 + 7, 5);
  assert_zero (b, 4096 + 7, 1 * MiB + 100);
  assert_pattern (b, 4096 + 7 + 1 * MiB + 100, 2 * MiB, 5);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  g_free (r);
}

/* fdatasync's result reaches the caller (flushes of raw images, the
 * asynchronous I/O's workers). */
static void
test_fdatasync (struct fx *f, gconstpointer data)
{
  char *p = fx_path (f, "sync");
  int fd;

  (void) data;
  fd = open (p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "x", 1), ==, 1);
  g_assert_cmpint (vmm_block_fdatasync_fd (fd), ==, 0);
  close (fd);
  g_assert_cmpint (vmm_block_fdatasync_fd (-1), ==, -EBADF);
  g_free (p);
}

/* ---- allocation ---------------------------------------------------------------- */

static void
test_alloc (struct fx *f, gconstpointer data)
{
  static const uint32_t sizes[] = { 512, 4096, 65536, 2 * 1024 * 1024 };

  (void) data;
  for (unsigned i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      uint32_t cs = sizes[i];
      uint64_t size = 64 * MiB;
      char *name = g_strdup_printf ("c%u.qcow2", cs), *p = fx_path (f, name);
      struct {
        uint64_t off, len;
      } w[] = {
        { 0, 256 },                               /* the start */
        { 2 * (uint64_t) cs - 256, 512 },         /* across a cluster boundary */
        { 3 * (uint64_t) cs + 17, 5 * (uint64_t) cs + 100 },   /* unaligned, many clusters */
        { (uint64_t) cs / 8 * cs - 4096, 8192 },  /* across an L2 table */
        { size - 700, 700 },                      /* the very end, far away */
        { 40 * MiB + 1, 3 },
        { 20 * MiB, 1 * MiB },
      };
      struct vmm_block *b;

      g_test_message ("cluster size %u", cs);
      create_image (p, VMM_BLOCK_FORMAT_QCOW2, size, cs, NULL, 0);
      b = open_image (p, false);
      for (unsigned j = 0; j < G_N_ELEMENTS (w); j++)
        if (w[j].off + w[j].len <= size)
          write_pattern (b, w[j].off, w[j].len, j + 1);
      for (unsigned j = 0; j < G_N_ELEMENTS (w); j++)
        if (w[j].off + w[j].len <= size)
          assert_pattern (b, w[j].off, w[j].len, j + 1);
      assert_zero (b, 30 * MiB, 4 * MiB);
      g_assert_cmpint (vmm_block_close (b), ==, 0);
      assert_clean (p);

      /* everything persisted */
      b = open_image (p, true);
      for (unsigned j = 0; j < G_N_ELEMENTS (w); j++)
        if (w[j].off + w[j].len <= size)
          assert_pattern (b, w[j].off, w[j].len, j + 1);
      assert_zero (b, 30 * MiB, 4 * MiB);
      vmm_block_close (b);
      g_free (name);
      g_free (p);
    }
}

static void
test_reftable_growth (struct fx *f, gconstpointer data)
{
  char *p = fx_path (f, "grow.qcow2");
  uint32_t before, after;
  struct vmm_block *b;

  (void) data;
  /* 512-byte clusters, 16-bit refcounts: one table cluster covers
   * 64 blocks × 256 clusters = 8 MiB of file. */
  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 64 * MiB, 512, NULL, 0);
  before = file_get32 (p, 56);
  b = open_image (p, false);
  for (uint64_t off = 0; off < 24 * MiB; off += 256 * KiB)
    write_pattern (b, off, 256 * KiB, off / (256 * KiB) + 1);
  g_assert_cmpint (vmm_block_flush (b), ==, 0);
  for (uint64_t off = 0; off < 24 * MiB; off += 256 * KiB)
    assert_pattern (b, off, 256 * KiB, off / (256 * KiB) + 1);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  after = file_get32 (p, 56);
  g_test_message ("refcount table: %u -> %u clusters", before, after);
  g_assert_cmpuint (after, >, before);
  assert_clean (p);
  b = open_image (p, true);
  for (uint64_t off = 0; off < 24 * MiB; off += 1 * MiB)
    assert_pattern (b, off, 256 * KiB, off / (256 * KiB) + 1);
  vmm_block_close (b);
  g_free (p);
}

/* ---- backing files --------------------------------------------------------------- */

static void
test_backing (struct fx *f, gconstpointer data)
{
  char *base = fx_path (f, "base.qcow2"), *mid = fx_path (f, "mid.qcow2");
  char *top = fx_path (f, "top.qcow2"), *raw = fx_path (f, "base.raw");
  char *over_raw = fx_path (f, "over-raw.qcow2");
  struct vmm_block_image_info info;
  struct vmm_block *b;
  GError *error = NULL;

  (void) data;
  create_image (base, VMM_BLOCK_FORMAT_QCOW2, 16 * MiB, 65536, NULL, 0);
  b = open_image (base, false);
  write_pattern (b, 0, 16 * MiB, 1);
  vmm_block_close (b);

  /* a relative name, resolved against the overlay's directory; size from the base */
  create_image (mid, VMM_BLOCK_FORMAT_QCOW2, 0, 4096, "base.qcow2", VMM_BLOCK_FORMAT_AUTO);
  g_assert_cmpint (vmm_block_info (mid, &info, &error), ==, 0);
  g_assert_cmpstr (info.backing_file, ==, "base.qcow2");
  g_assert_cmpstr (info.backing_format, ==, "qcow2");
  g_assert_cmpuint (info.virtual_size, ==, 16 * MiB);
  vmm_block_image_info_clear (&info);

  b = open_image (mid, false);
  assert_pattern (b, 0, 16 * MiB, 1);
  /* partial-cluster writes: the rest of the cluster comes from the base */
  write_pattern (b, 4096 + 100, 50, 2);
  write_pattern (b, 1 * MiB - 10, 20, 2);
  write_pattern (b, 3 * MiB, 3 * 4096 + 1, 2);
  assert_pattern (b, 0, 4096 + 100, 1);
  assert_pattern (b, 4096 + 100, 50, 2);
  assert_pattern (b, 4096 + 150, 1 * MiB - 10 - 4096 - 150, 1);
  assert_pattern (b, 1 * MiB - 10, 20, 2);
  assert_pattern (b, 1 * MiB + 10, 2 * MiB - 10, 1);
  assert_pattern (b, 3 * MiB, 3 * 4096 + 1, 2);
  assert_pattern (b, 3 * MiB + 3 * 4096 + 1, 4096, 1);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (mid);

  /* a third level, with a larger virtual size than its backing file */
  create_image (top, VMM_BLOCK_FORMAT_QCOW2, 32 * MiB, 512, mid, VMM_BLOCK_FORMAT_QCOW2);
  b = open_image (top, false);
  assert_pattern (b, 0, 4096 + 100, 1);
  assert_pattern (b, 4096 + 100, 50, 2);
  assert_zero (b, 16 * MiB, 16 * MiB);
  write_pattern (b, 4096, 1000, 3);
  write_pattern (b, 16 * MiB - 300, 600, 3);
  assert_pattern (b, 4096, 1000, 3);
  assert_pattern (b, 4096 + 1000, 8192, 1);
  assert_pattern (b, 16 * MiB - 300, 600, 3);
  assert_zero (b, 16 * MiB + 300, 1000);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (top);
  b = open_image (top, true);
  assert_pattern (b, 4096 + 1000, 8192, 1);
  assert_pattern (b, 16 * MiB - 300, 600, 3);
  vmm_block_close (b);

  /* the backing files were not touched */
  b = open_image (base, true);
  assert_pattern (b, 0, 16 * MiB, 1);
  vmm_block_close (b);

  /* a raw backing file */
  create_image (raw, VMM_BLOCK_FORMAT_RAW, 8 * MiB, 0, NULL, 0);
  b = open_image (raw, false);
  write_pattern (b, 0, 8 * MiB, 5);
  vmm_block_close (b);
  create_image (over_raw, VMM_BLOCK_FORMAT_QCOW2, 0, 65536, "base.raw", VMM_BLOCK_FORMAT_RAW);
  b = open_image (over_raw, false);
  assert_pattern (b, 0, 8 * MiB, 5);
  write_pattern (b, 65536 + 512, 512, 6);
  assert_pattern (b, 65536, 512, 5);
  assert_pattern (b, 65536 + 512, 512, 6);
  assert_pattern (b, 65536 + 1024, 65536, 5);
  vmm_block_close (b);
  assert_clean (over_raw);

  g_free (base);
  g_free (mid);
  g_free (top);
  g_free (raw);
  g_free (over_raw);
}

/* ---- discard and write-zeroes ---------------------------------------------------- */

static void
test_discard (struct fx *f, gconstpointer data)
{
  char *base = fx_path (f, "base.qcow2"), *p = fx_path (f, "d.qcow2");
  char *o = fx_path (f, "o.qcow2");
  struct vmm_block *b;
  uint64_t before;

  (void) data;
  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 16 * MiB, 65536, NULL, 0);
  b = open_image (p, false);
  write_pattern (b, 0, 16 * MiB, 1);
  g_assert_cmpint (vmm_block_flush (b), ==, 0);
  before = allocated_bytes (p);
  g_assert_cmpint (vmm_block_discard (b, 1 * MiB, 4 * MiB), ==, 0);
  g_assert_cmpint (vmm_block_discard (b, 6 * MiB + 100, 1000), ==, 0);      /* partial */
  g_assert_cmpint (vmm_block_write_zeroes (b, 8 * MiB, 1 * MiB, false), ==, 0);
  g_assert_cmpint (vmm_block_write_zeroes (b, 10 * MiB - 512, 1 * MiB + 1024, true), ==, 0);
  assert_pattern (b, 0, 1 * MiB, 1);
  assert_zero (b, 1 * MiB, 4 * MiB);
  assert_pattern (b, 5 * MiB, 1 * MiB + 100, 1);
  assert_zero (b, 6 * MiB + 100, 1000);
  assert_pattern (b, 6 * MiB + 1100, 2 * MiB - 1100, 1);
  assert_zero (b, 8 * MiB, 1 * MiB);
  assert_pattern (b, 9 * MiB, 1 * MiB - 512, 1);
  assert_zero (b, 10 * MiB - 512, 1 * MiB + 1024);
  assert_pattern (b, 11 * MiB + 512, 5 * MiB - 512, 1);
  g_assert_cmpint (vmm_block_flush (b), ==, 0);
  /* discarded clusters go back to the file system */
  g_assert_cmpuint (allocated_bytes (p), <, before - 4 * MiB);
  /* writing into a zeroed cluster again */
  write_pattern (b, 8 * MiB + 512, 512, 2);
  assert_zero (b, 8 * MiB, 512);
  assert_pattern (b, 8 * MiB + 512, 512, 2);
  assert_zero (b, 8 * MiB + 1024, 65536);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (p);
  b = open_image (p, true);
  assert_zero (b, 1 * MiB, 4 * MiB);
  assert_zero (b, 8 * MiB + 1024, 65536);
  assert_pattern (b, 11 * MiB + 512, 5 * MiB - 512, 1);
  vmm_block_close (b);

  /* with a backing file the zero flag hides it */
  create_image (base, VMM_BLOCK_FORMAT_QCOW2, 16 * MiB, 65536, NULL, 0);
  b = open_image (base, false);
  write_pattern (b, 0, 16 * MiB, 3);
  vmm_block_close (b);
  create_image (o, VMM_BLOCK_FORMAT_QCOW2, 0, 4096, "base.qcow2", VMM_BLOCK_FORMAT_QCOW2);
  b = open_image (o, false);
  write_pattern (b, 2 * MiB, 1 * MiB, 4);
  g_assert_cmpint (vmm_block_discard (b, 1 * MiB, 2 * MiB), ==, 0);        /* half allocated */
  g_assert_cmpint (vmm_block_write_zeroes (b, 5 * MiB + 10, 10000, false), ==, 0);
  g_assert_cmpint (vmm_block_write_zeroes (b, 7 * MiB, 64 * KiB, true), ==, 0);
  assert_pattern (b, 0, 1 * MiB, 3);
  assert_zero (b, 1 * MiB, 2 * MiB);
  assert_pattern (b, 3 * MiB, 2 * MiB + 10, 3);
  assert_zero (b, 5 * MiB + 10, 10000);
  assert_pattern (b, 5 * MiB + 10010, 4096, 3);
  assert_zero (b, 7 * MiB, 64 * KiB);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (o);
  b = open_image (o, true);
  assert_zero (b, 1 * MiB, 2 * MiB);
  assert_zero (b, 7 * MiB, 64 * KiB);
  assert_pattern (b, 7 * MiB + 64 * KiB, 4096, 3);
  vmm_block_close (b);
  g_free (base);
  g_free (p);
  g_free (o);
}

/* ---- the map API ---------------------------------------------------------------- */

/* Turns the data cluster holding guest offset GUEST into a compressed one,
 * by hand: deflate it and point the L2 entry at the compressed bytes. */
static void
compress_cluster_by_hand (const char *path, uint64_t guest)
{
  uint64_t cs = cluster_size_of (path), pos = l2_entry_pos (path, guest);
  uint64_t entry = file_get64 (path, pos), host = entry & QCOW2_OFFSET_MASK;
  uint32_t cb = file_get32 (path, 20);
  uint8_t *in = g_malloc (cs), *out = g_malloc (cs * 2);
  int fd = open (path, O_RDWR);
  uint64_t nsec, shift = 62 - (cb - 8);
  z_stream s;

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, in, cs, (off_t) host), ==, (ssize_t) cs);
  memset (&s, 0, sizeof s);
  g_assert_cmpint (deflateInit2 (&s, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY), ==, Z_OK);
  s.next_in = in;
  s.avail_in = (uInt) cs;
  s.next_out = out;
  s.avail_out = (uInt) cs * 2;
  g_assert_cmpint (deflate (&s, Z_FINISH), ==, Z_STREAM_END);
  g_assert_cmpuint (s.total_out, <, cs);
  g_assert_cmpint (pwrite (fd, out, s.total_out, (off_t) host), ==, (ssize_t) s.total_out);
  deflateEnd (&s);
  close (fd);
  nsec = (s.total_out + 511) / 512 - 1;
  file_put64 (path, pos, QCOW2_OFLAG_COMPRESSED | (nsec << shift) | host);
  g_free (in);
  g_free (out);
}

/* Compressible data: each sector one byte value */
static void
comp_fill (uint8_t *buf, size_t len, uint64_t off)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t) ((off + i) / 512 * 7 + 1);
}

static void
assert_comp (struct vmm_block *b, uint64_t off, size_t len)
{
  uint8_t *buf = g_malloc (len), *want = g_malloc (len);

  g_assert_cmpint (bread (b, buf, len, off), ==, 0);
  comp_fill (want, len, off);
  g_assert_cmpmem (buf, len, want, len);
  g_free (buf);
  g_free (want);
}

static void
test_map (struct fx *f, gconstpointer data)
{
  char *p = fx_path (f, "m.qcow2");
  struct vmm_block_extent ext[8];
  struct vmm_block *b;
  void *cookie = NULL;
  uint8_t *buf = g_malloc (4 * 65536);
  uint64_t c, l;
  int n;

  (void) data;
  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 8 * MiB, 65536, NULL, 0);
  b = open_image (p, false);
  write_pattern (b, 0, 2 * 65536, 1);            /* clusters 0, 1 */
  write_pattern (b, 3 * 65536, 65536, 2);        /* cluster 3 */
  comp_fill (buf, 65536, 5 * 65536);            /* cluster 5: to be compressed */
  g_assert_cmpint (bwrite (b, buf, 65536, 5 * 65536), ==, 0);
  g_assert_cmpint (vmm_block_write_zeroes (b, 4 * 65536, 65536, false), ==, 0);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  compress_cluster_by_hand (p, 5 * 65536);
  check_image (p, &c, &l);
  g_assert_cmpuint (c, ==, 0);

  b = open_image (p, false);
  /* allocated (contiguous: one extent), unallocated, allocated, zero, compressed */
  n = vmm_block_map_read (b, 100, 6 * 65536 - 100, ext, 8);
  g_assert_cmpint (n, ==, 5);
  g_assert_cmpint (ext[0].kind, ==, VMM_BLOCK_EXTENT_DATA);
  g_assert_cmpuint (ext[0].offset, ==, 100);
  g_assert_cmpuint (ext[0].len, ==, 2 * 65536 - 100);
  g_assert_cmpint (ext[1].kind, ==, VMM_BLOCK_EXTENT_ZERO);
  g_assert_cmpuint (ext[1].offset, ==, 2 * 65536);
  g_assert_cmpuint (ext[1].len, ==, 65536);
  g_assert_cmpint (ext[2].kind, ==, VMM_BLOCK_EXTENT_DATA);
  g_assert_cmpint (ext[3].kind, ==, VMM_BLOCK_EXTENT_ZERO);
  g_assert_cmpint (ext[4].kind, ==, VMM_BLOCK_EXTENT_SYNC);
  g_assert_cmpuint (ext[4].offset, ==, 5 * 65536);
  g_assert_cmpuint (ext[4].len, ==, 65536);
  /* DATA extents read what the guest wrote, straight from the file */
  g_assert_cmpint (pread (ext[2].fd, buf, 65536, (off_t) ext[2].host_offset), ==, 65536);
  {
    uint8_t *want = g_malloc (65536);
    pattern (want, 65536, 3 * 65536, 2);
    g_assert_cmpmem (buf, 65536, want, 65536);
    g_free (want);
  }
  /* a prefix when extents run out */
  n = vmm_block_map_read (b, 0, 6 * 65536, ext, 2);
  g_assert_cmpint (n, ==, 2);
  g_assert_cmpuint (ext[1].offset + ext[1].len, ==, 3 * 65536);
  /* the compressed cluster reads back through the synchronous path */
  assert_comp (b, 5 * 65536, 65536);
  assert_comp (b, 5 * 65536 + 1000, 3000);

  /* map_write: DATA extents; a write into the compressed cluster copies it */
  n = vmm_block_map_write (b, 5 * 65536 + 512, 512, ext, 8, &cookie);
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (ext[0].kind, ==, VMM_BLOCK_EXTENT_DATA);
  pattern (buf, 512, 5 * 65536 + 512, 9);
  g_assert_cmpint (pwrite (ext[0].fd, buf, 512, (off_t) ext[0].host_offset), ==, 512);
  /* before the commit, reads still see the old data */
  assert_comp (b, 5 * 65536 + 512, 512);
  g_assert_cmpint (vmm_block_write_commit (b, cookie), ==, 0);
  assert_comp (b, 5 * 65536, 512);
  assert_pattern (b, 5 * 65536 + 512, 512, 9);
  assert_comp (b, 5 * 65536 + 1024, 65536 - 1024);
  n = vmm_block_map_read (b, 5 * 65536, 65536, ext, 8);
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (ext[0].kind, ==, VMM_BLOCK_EXTENT_DATA);

  /* an aborted write leaves neither data nor a leak, even when the device
   * wrote part of it (and so grew the file) before it failed */
  n = vmm_block_map_write (b, 7 * 65536, 65536, ext, 8, &cookie);
  g_assert_cmpint (n, ==, 1);
  memset (buf, 0xee, 65536);
  g_assert_cmpint (pwrite (ext[0].fd, buf, 65536, (off_t) ext[0].host_offset), ==, 65536);
  vmm_block_write_abort (b, cookie);
  assert_zero (b, 7 * 65536, 65536);
  /* the cluster is reused by a partial write: the rest must read as zeroes */
  write_pattern (b, 7 * 65536 + 1024, 512, 11);
  assert_zero (b, 7 * 65536, 1024);
  assert_pattern (b, 7 * 65536 + 1024, 512, 11);
  assert_zero (b, 7 * 65536 + 1536, 65536 - 1536);

  /* a commit becomes durable with the flush */
  n = vmm_block_map_write (b, 6 * 65536 + 4096, 8192, ext, 8, &cookie);
  g_assert_cmpint (n, ==, 1);
  pattern (buf, 8192, 6 * 65536 + 4096, 10);
  g_assert_cmpint (pwrite (ext[0].fd, buf, 8192, (off_t) ext[0].host_offset), ==, 8192);
  g_assert_cmpint (vmm_block_write_commit (b, cookie), ==, 0);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (p);
  b = open_image (p, true);
  assert_pattern (b, 6 * 65536 + 4096, 8192, 10);
  assert_zero (b, 6 * 65536, 4096);
  assert_zero (b, 7 * 65536 + 1536, 65536 - 1536);
  assert_pattern (b, 5 * 65536 + 512, 512, 9);
  assert_comp (b, 5 * 65536 + 1024, 4096);
  vmm_block_close (b);
  g_free (buf);
  g_free (p);
}

/* A new cluster at the end of the file, written in part through map_write
 * (the device's path: no copy of the rest, which is zero): the file must
 * cover the whole cluster, or a read of the rest, which map_read sends to
 * the file, would stop short at its end (an I/O error for the guest) */
static void
test_map_partial_at_end (struct fx *f, gconstpointer data)
{
  char *p = fx_path (f, "end.qcow2");
  struct vmm_block_extent ext[4];
  struct vmm_block *b;
  void *cookie = NULL;
  uint8_t *buf = g_malloc0 (65536);
  uint64_t cluster_start;
  int n;

  (void) data;
  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 8 * MiB, 65536, NULL, 0);
  b = open_image (p, false);
  n = vmm_block_map_write (b, 2 * 65536, 4096, ext, 4, &cookie);
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (ext[0].kind, ==, VMM_BLOCK_EXTENT_DATA);
  cluster_start = ext[0].host_offset;
  g_assert_cmpuint (cluster_start % 65536, ==, 0);
  pattern (buf, 4096, 2 * 65536, 21);
  g_assert_cmpint (pwrite (ext[0].fd, buf, 4096, (off_t) ext[0].host_offset), ==, 4096);
  g_assert_cmpint (vmm_block_write_commit (b, cookie), ==, 0);
  g_assert_cmpuint (file_size (p), >=, cluster_start + 65536);

  /* The rest of the cluster: a DATA extent, read whole from the file */
  n = vmm_block_map_read (b, 2 * 65536 + 4096, 65536 - 4096, ext, 4);
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (ext[0].kind, ==, VMM_BLOCK_EXTENT_DATA);
  memset (buf, 0xaa, 65536);
  g_assert_cmpint (pread (ext[0].fd, buf, 65536 - 4096, (off_t) ext[0].host_offset), ==,
                   65536 - 4096);
  for (unsigned i = 0; i < 65536 - 4096; i++)
    g_assert_cmpuint (buf[i], ==, 0);
  assert_pattern (b, 2 * 65536, 4096, 21);
  assert_zero (b, 2 * 65536 + 4096, 65536 - 4096);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (p);
  g_free (buf);
  g_free (p);
}

struct racer {
  struct vmm_block *b;
  pthread_barrier_t *barrier;
  unsigned index;
  uint64_t host;
  int ret;
};

static void *
racer_main (void *data)
{
  struct racer *r = data;
  struct vmm_block_extent ext[2];
  void *cookie = NULL;
  uint64_t off = 3 * 65536 + r->index * 4096;
  uint8_t buf[4096];
  int n;

  pthread_barrier_wait (r->barrier);
  n = vmm_block_map_write (r->b, off, 4096, ext, 2, &cookie);
  /* everyone maps before anyone commits */
  pthread_barrier_wait (r->barrier);
  if (n != 1)
    {
      r->ret = n < 0 ? n : -EIO;
      return NULL;
    }
  r->host = ext[0].host_offset - r->index * 4096;
  pattern (buf, sizeof buf, off, 100 + r->index);
  if (pwrite (ext[0].fd, buf, sizeof buf, (off_t) ext[0].host_offset) != (ssize_t) sizeof buf)
    {
      vmm_block_write_abort (r->b, cookie);
      r->ret = -EIO;
      return NULL;
    }
  r->ret = vmm_block_write_commit (r->b, cookie);
  return NULL;
}

static void
test_map_concurrent (struct fx *f, gconstpointer data)
{
  enum { N = 8 };
  char *base = fx_path (f, "base.qcow2"), *p = fx_path (f, "c.qcow2");
  struct racer r[N];
  pthread_t th[N];
  pthread_barrier_t barrier;
  struct vmm_block *b;
  struct vmm_block_check_result res;
  GError *error = NULL;

  (void) data;
  create_image (base, VMM_BLOCK_FORMAT_QCOW2, 1 * MiB, 65536, NULL, 0);
  b = open_image (base, false);
  write_pattern (b, 0, 1 * MiB, 1);
  vmm_block_close (b);
  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 0, 65536, "base.qcow2", VMM_BLOCK_FORMAT_QCOW2);

  for (int round = 0; round < 20; round++)
    {
      b = open_image (p, false);
      pthread_barrier_init (&barrier, NULL, N);
      for (unsigned i = 0; i < N; i++)
        {
          r[i] = (struct racer) { .b = b, .barrier = &barrier, .index = i };
          g_assert_cmpint (pthread_create (&th[i], NULL, racer_main, &r[i]), ==, 0);
        }
      for (unsigned i = 0; i < N; i++)
        pthread_join (th[i], NULL);
      pthread_barrier_destroy (&barrier);
      for (unsigned i = 0; i < N; i++)
        {
          g_assert_cmpint (r[i].ret, ==, 0);
          g_assert_cmpuint (r[i].host, ==, r[0].host);   /* one cluster for all */
        }
      for (unsigned i = 0; i < N; i++)
        assert_pattern (b, 3 * 65536 + i * 4096, 4096, 100 + i);
      /* the rest of the cluster came from the backing file, once */
      assert_pattern (b, 3 * 65536 + N * 4096, 65536 - N * 4096, 1);
      g_assert_cmpint (vmm_block_close (b), ==, 0);
      g_assert_cmpint (vmm_block_check (p, &res, &error), ==, 0);
      g_assert_cmpuint (res.corruptions, ==, 0);
      g_assert_cmpuint (res.leaks, ==, 0);
      g_assert_cmpuint (res.allocated_clusters, ==, 1);
      free (res.first_problem);
      /* next round: the cluster is allocated, they overwrite it in place */
    }
  assert_clean (p);
  g_free (base);
  g_free (p);
}

/* Writers on their own regions and readers everywhere, through the map API */
struct worker {
  struct vmm_block *b;
  unsigned index;
  uint64_t region, region_size;
  guint32 seed;
  int ret;
};

static void *
writer_main (void *data)
{
  struct worker *w = data;
  GRand *rand = g_rand_new_with_seed (w->seed);
  uint8_t *buf = g_malloc (128 * KiB);

  for (int i = 0; i < 200 && w->ret == 0; i++)
    {
      uint64_t len = 512 * (uint64_t) g_rand_int_range (rand, 1, 256);
      uint64_t off = w->region + 512 * (uint64_t) g_rand_int_range (rand, 0,
                                       (gint32) ((w->region_size - len) / 512));
      uint64_t pos = off;

      /* each write leaves the pattern of seed index+1 over what it covers */
      pattern (buf, len, off, w->index + 1);
      while (pos < off + len && w->ret == 0)
        {
          struct vmm_block_extent ext[4];
          void *cookie = NULL;
          int n = vmm_block_map_write (w->b, pos, off + len - pos, ext, 4, &cookie);
          if (n <= 0)
            {
              w->ret = n < 0 ? n : -EIO;
              break;
            }
          for (int k = 0; k < n; k++)
            {
              if (pwrite (ext[k].fd, buf + (ext[k].offset - off), ext[k].len,
                          (off_t) ext[k].host_offset) != (ssize_t) ext[k].len)
                w->ret = -EIO;
              pos += ext[k].len;
            }
          if (w->ret == 0)
            w->ret = vmm_block_write_commit (w->b, cookie);
          else
            vmm_block_write_abort (w->b, cookie);
        }
      if (g_rand_int_range (rand, 0, 20) == 0)
        w->ret = w->ret ? w->ret : vmm_block_flush (w->b);
    }
  g_free (buf);
  g_rand_free (rand);
  return NULL;
}

static void *
reader_main (void *data)
{
  struct worker *w = data;
  GRand *rand = g_rand_new_with_seed (w->seed);
  uint8_t *buf = g_malloc (64 * KiB), *want = g_malloc (64 * KiB);

  for (int i = 0; i < 400 && w->ret == 0; i++)
    {
      uint64_t region = (uint64_t) g_rand_int_range (rand, 0, 4);
      uint64_t off = region * w->region_size + 512 * (uint64_t) g_rand_int_range (rand, 0, 1000);
      struct iovec iov = { buf, 64 * KiB };

      w->ret = vmm_block_preadv (w->b, &iov, 1, off);
      /* each word: the backing file's data or this region's writer's (a read
       * racing an in-place write may see part of each, never anything else) */
      for (uint64_t s = 0; w->ret == 0 && s < 64 * KiB; s += 8)
        {
          uint64_t at = off + s;
          uint64_t owner = at / w->region_size + 1;
          pattern (want, 8, at, owner);
          if (memcmp (buf + s, want, 8) == 0)
            continue;
          pattern (want, 8, at, 77);
          if (memcmp (buf + s, want, 8) != 0)
            {
              g_test_message ("garbage at %" G_GUINT64_FORMAT, at);
              w->ret = -EILSEQ;
            }
        }
    }
  g_free (buf);
  g_free (want);
  g_rand_free (rand);
  return NULL;
}

static void
test_map_threads (struct fx *f, gconstpointer data)
{
  char *base = fx_path (f, "base.qcow2"), *p = fx_path (f, "t.qcow2");
  struct worker w[6];
  pthread_t th[6];
  struct vmm_block *b;

  (void) data;
  create_image (base, VMM_BLOCK_FORMAT_QCOW2, 8 * MiB, 65536, NULL, 0);
  b = open_image (base, false);
  write_pattern (b, 0, 8 * MiB, 77);
  vmm_block_close (b);
  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 0, 4096, "base.qcow2", VMM_BLOCK_FORMAT_QCOW2);
  b = open_image (p, false);
  for (unsigned i = 0; i < 6; i++)
    {
      w[i] = (struct worker) {
        .b = b, .index = i % 4, .region = (i % 4) * 2 * MiB, .region_size = 2 * MiB,
        .seed = g_test_rand_int (),
      };
      g_assert_cmpint (pthread_create (&th[i], NULL, i < 4 ? writer_main : reader_main, &w[i]),
                       ==, 0);
    }
  for (unsigned i = 0; i < 6; i++)
    pthread_join (th[i], NULL);
  for (unsigned i = 0; i < 6; i++)
    g_assert_cmpint (w[i].ret, ==, 0);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (p);
  g_free (base);
  g_free (p);
}

/* ---- corrupt images ------------------------------------------------------------- */

static char *
make_image (struct fx *f, const char *name, uint32_t cs)
{
  char *p = fx_path (f, name);
  struct vmm_block *b;

  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 4 * MiB, cs, NULL, 0);
  b = open_image (p, false);
  write_pattern (b, 0, 3 * (uint64_t) cs, 1);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  return p;
}

static void
assert_reason (const char *path, bool read_only, int err, const char *words)
{
  char *reason = NULL;

  g_assert_cmpint (open_fails (path, read_only, &reason), ==, err);
  if (strstr (reason, words) == NULL)
    g_error ("“%s” does not mention “%s”", reason, words);
  g_free (reason);
}

static void
test_corrupt_header (struct fx *f, gconstpointer data)
{
  char *p;
  uint8_t hdr[50];
  int fd;

  (void) data;
  /* truncated */
  p = make_image (f, "t.qcow2", 65536);
  fd = open (p, O_RDONLY);
  g_assert_cmpint (pread (fd, hdr, sizeof hdr, 0), ==, sizeof hdr);
  close (fd);
  g_unlink (p);
  fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  g_assert_cmpint (write (fd, hdr, sizeof hdr), ==, sizeof hdr);
  close (fd);
  {
    struct vmm_block_open_opts opts = { .path = p, .format = VMM_BLOCK_FORMAT_QCOW2,
                                        .read_only = true };
    struct vmm_block *b = NULL;
    g_autoptr (GError) error = NULL;
    g_assert_cmpint (vmm_block_open (&b, &opts, &error), ==, -EINVAL);
    g_assert_nonnull (strstr (error->message, "truncated"));
  }
  g_free (p);

  /* bad magic: then it is not qcow2, and forcing the format says why */
  p = make_image (f, "m.qcow2", 65536);
  file_put32 (p, 0, 0x514649fa);
  {
    struct vmm_block_open_opts opts = { .path = p, .format = VMM_BLOCK_FORMAT_QCOW2 };
    struct vmm_block *b = NULL;
    g_autoptr (GError) error = NULL;
    g_assert_cmpint (vmm_block_open (&b, &opts, &error), ==, -EINVAL);
    g_assert_nonnull (strstr (error->message, "magic"));
  }
  g_free (p);

  p = make_image (f, "v.qcow2", 65536);
  file_put32 (p, 4, 4);
  assert_reason (p, true, -EINVAL, "version");
  file_put32 (p, 4, 1);
  assert_reason (p, true, -EINVAL, "version");
  g_free (p);

  p = make_image (f, "cb.qcow2", 65536);
  file_put32 (p, 20, 8);
  assert_reason (p, true, -EINVAL, "cluster_bits");
  file_put32 (p, 20, 22);
  assert_reason (p, true, -EINVAL, "cluster_bits");
  file_put32 (p, 20, 63);
  assert_reason (p, true, -EINVAL, "cluster_bits");
  g_free (p);

  p = make_image (f, "hl.qcow2", 65536);
  file_put32 (p, 100, 101);
  assert_reason (p, true, -EINVAL, "header_length");
  g_free (p);

  p = make_image (f, "ro.qcow2", 65536);
  file_put32 (p, 96, 7);
  assert_reason (p, true, -EINVAL, "refcount_order");
  g_free (p);

  p = make_image (f, "enc.qcow2", 65536);
  file_put32 (p, 32, 2);
  assert_reason (p, true, -ENOTSUP, "encryption");
  g_free (p);

  p = make_image (f, "ext.qcow2", 65536);
  file_put32 (p, 112 + 4, 70000);    /* the first extension's length */
  assert_reason (p, true, -EINVAL, "extension");
  g_free (p);

  p = make_image (f, "bf.qcow2", 65536);
  file_put64 (p, 8, 65000);
  file_put32 (p, 16, 1000);
  assert_reason (p, true, -EINVAL, "backing file name");
  g_free (p);
}

static void
test_corrupt_tables (struct fx *f, gconstpointer data)
{
  struct vmm_block *b;
  uint8_t buf[512];
  char *p;

  (void) data;
  /* L1 table past the end of the file */
  p = make_image (f, "l1.qcow2", 65536);
  file_put64 (p, 40, file_size (p) + 10 * 65536);
  assert_reason (p, true, -EINVAL, "L1 table");
  file_put64 (p, 40, UINT64_C (0xffffffffffff0000));
  assert_reason (p, true, -EINVAL, "L1 table");
  file_put64 (p, 40, 3 * 65536 + 512);
  assert_reason (p, true, -EINVAL, "l1_table_offset");
  g_free (p);

  /* L1 too small for the virtual size */
  p = make_image (f, "l1s.qcow2", 4096);
  file_put32 (p, 36, 1);
  assert_reason (p, true, -EINVAL, "too small");
  file_put32 (p, 36, 0x7fffffff);
  assert_reason (p, true, -EINVAL, "l1_size");
  g_free (p);

  /* an L2 entry past the end of the file: reads fail, nothing crashes */
  p = make_image (f, "l2.qcow2", 65536);
  file_put64 (p, l2_entry_pos (p, 65536), QCOW2_OFLAG_COPIED | (UINT64_C (1) << 40));
  b = open_image (p, false);
  g_assert_cmpint (bread (b, buf, sizeof buf, 65536 + 512), ==, -EIO);
  assert_pattern (b, 0, 512, 1);
  {
    struct vmm_block_extent ext[2];
    void *cookie;
    g_assert_cmpint (vmm_block_map_read (b, 65536, 512, ext, 2), ==, -EIO);
    g_assert_cmpint (vmm_block_map_write (b, 65536, 512, ext, 2, &cookie), ==, -EIO);
  }
  g_assert_cmpint (vmm_block_discard (b, 0, 4 * MiB), ==, -EIO);
  vmm_block_close (b);
  {
    uint64_t c, l;
    check_image (p, &c, &l);
    g_assert_cmpuint (c, >, 0);
  }
  /* an unaligned one */
  file_put64 (p, l2_entry_pos (p, 65536), QCOW2_OFLAG_COPIED | (2 * 65536 + 4096));
  b = open_image (p, true);
  g_assert_cmpint (bread (b, buf, sizeof buf, 65536), ==, -EIO);
  vmm_block_close (b);
  g_free (p);

  /* tables and data over the header or the L1 table: refused, not written */
  p = make_image (f, "over.qcow2", 65536);
  {
    uint64_t l1 = file_get64 (p, 40), l1e = file_get64 (p, l1);
    uint8_t hdr0[512], hdr1[512];
    int fd = open (p, O_RDONLY);
    g_assert_cmpint (pread (fd, hdr0, sizeof hdr0, 0), ==, sizeof hdr0);
    close (fd);
    file_put64 (p, l2_entry_pos (p, 65536), QCOW2_OFLAG_COPIED | l1);
    b = open_image (p, false);
    g_assert_cmpint (bread (b, buf, sizeof buf, 65536), ==, -EIO);
    g_assert_cmpint (bwrite (b, buf, sizeof buf, 65536), ==, -EIO);
    vmm_block_close (b);
    file_put64 (p, l1, QCOW2_OFLAG_COPIED | file_get64 (p, 48));   /* L2 = refcount table */
    b = open_image (p, false);
    g_assert_cmpint (bread (b, buf, sizeof buf, 0), ==, -EIO);
    g_assert_cmpint (bwrite (b, buf, sizeof buf, 0), ==, -EIO);
    g_assert_cmpint (vmm_block_discard (b, 0, 65536), ==, -EIO);
    vmm_block_close (b);
    fd = open (p, O_RDONLY);
    g_assert_cmpint (pread (fd, hdr1, sizeof hdr1, 0), ==, sizeof hdr1);
    close (fd);
    g_assert_cmpmem (hdr0, sizeof hdr0, hdr1, sizeof hdr1);
    file_put64 (p, l1, l1e);
  }
  g_free (p);

  /* refcount table entries */
  p = make_image (f, "rt.qcow2", 65536);
  file_put64 (p, file_get64 (p, 48), 2 * 65536 + 512);
  assert_reason (p, true, -EINVAL, "not aligned");
  file_put64 (p, file_get64 (p, 48) + 8, 3);
  assert_reason (p, false, -EINVAL, "not aligned");
  g_free (p);

  p = make_image (f, "rtp.qcow2", 65536);
  file_put64 (p, 48, file_size (p));
  assert_reason (p, true, -EINVAL, "refcount table");
  g_free (p);

  /* a refcount block past the end of the file: writes fail cleanly */
  p = make_image (f, "rbp.qcow2", 65536);
  file_put64 (p, file_get64 (p, 48), 1000 * 65536);
  assert_reason (p, false, -EINVAL, "refcount");
  b = open_image (p, true);
  assert_pattern (b, 0, 3 * 65536, 1);
  vmm_block_close (b);
  g_free (p);

  /* snapshots */
  p = make_image (f, "sn.qcow2", 65536);
  file_put32 (p, 60, 1);
  file_put64 (p, 64, file_size (p) - 8);
  assert_reason (p, true, -EINVAL, "snapshot");
  file_put32 (p, 60, 100000);
  assert_reason (p, true, -EINVAL, "snapshots");
  g_free (p);
}

static void
test_corrupt_features (struct fx *f, gconstpointer data)
{
  struct vmm_block *b;
  char *p;

  (void) data;
  p = make_image (f, "f.qcow2", 65536);
  file_put64 (p, 72, UINT64_C (1) << 40);
  assert_reason (p, true, -ENOTSUP, "bit 40");
  file_put64 (p, 72, QCOW2_INCOMPAT_EXTL2);
  assert_reason (p, true, -ENOTSUP, "extended L2");
  file_put64 (p, 72, QCOW2_INCOMPAT_DATA_FILE);
  assert_reason (p, true, -ENOTSUP, "external data file");
  file_put64 (p, 72, QCOW2_INCOMPAT_COMPRESSION);
  assert_reason (p, true, -EINVAL, "compression");

  /* the corrupt bit: read-only is fine, writable is refused */
  file_put64 (p, 72, QCOW2_INCOMPAT_CORRUPT);
  assert_reason (p, false, -EINVAL, "corrupt");
  b = open_image (p, true);
  assert_pattern (b, 0, 3 * 65536, 1);
  vmm_block_close (b);

  /* unknown compatible bits are ignored, unknown autoclear bits cleared */
  file_put64 (p, 72, 0);
  file_put64 (p, 80, UINT64_C (1) << 33);
  file_put64 (p, 88, UINT64_C (1) << 7);
  b = open_image (p, false);
  vmm_block_close (b);
  g_assert_cmpuint (file_get64 (p, 88), ==, 0);
  assert_clean (p);
  g_free (p);
}

/* Which file of a chain the extents of a read come from, by their fd:
 * what a message about a failed read of one names (a backing file cut
 * short under a running VM). */
static void
test_backing_file_of_fd (struct fx *f, gconstpointer data)
{
  g_autofree char *base = fx_path (f, "base.raw"), *mid = fx_path (f, "mid.qcow2");
  g_autofree char *top = fx_path (f, "top.qcow2");
  struct vmm_block_extent ext[8];
  struct vmm_block *b;
  const char *want[3];
  unsigned depth;
  int n;

  (void) data;
  create_image (base, VMM_BLOCK_FORMAT_RAW, 1 * MiB, 0, NULL, 0);
  b = open_image (base, false);
  write_pattern (b, 0, 1 * MiB, 1);
  vmm_block_close (b);
  create_image (mid, VMM_BLOCK_FORMAT_QCOW2, 0, 65536, "base.raw", VMM_BLOCK_FORMAT_RAW);
  b = open_image (mid, false);
  write_pattern (b, 65536, 65536, 2);
  vmm_block_close (b);
  create_image (top, VMM_BLOCK_FORMAT_QCOW2, 0, 65536, "mid.qcow2", VMM_BLOCK_FORMAT_QCOW2);
  b = open_image (top, false);
  write_pattern (b, 0, 65536, 3);

  /* cluster 0 is the top's, 1 the middle's, 2 the base's */
  want[0] = top;
  want[1] = mid;
  want[2] = base;
  for (int i = 0; i < 3; i++)
    {
      const char *file;

      n = vmm_block_map_read (b, (uint64_t) i * 65536, 65536, ext, G_N_ELEMENTS (ext));
      g_assert_cmpint (n, ==, 1);
      g_assert_cmpint (ext[0].kind, ==, VMM_BLOCK_EXTENT_DATA);
      depth = 99;
      file = vmm_block_file_of_fd (b, ext[0].fd, &depth);
      g_assert_cmpstr (file, ==, want[i]);
      g_assert_cmpuint (depth, ==, (unsigned) i);
    }
  /* an fd of none of them */
  g_assert_null (vmm_block_file_of_fd (b, STDIN_FILENO, &depth));
  g_assert_null (vmm_block_file_of_fd (b, -1, NULL));
  vmm_block_close (b);
}

static void
test_backing_errors (struct fx *f, gconstpointer data)
{
  char *a = fx_path (f, "a.qcow2"), *b_ = fx_path (f, "b.qcow2"), *c = fx_path (f, "c.qcow2");
  char *self = fx_path (f, "self.qcow2"), *reason = NULL;

  (void) data;
  /* A -> B -> A */
  create_image (b_, VMM_BLOCK_FORMAT_QCOW2, 1 * MiB, 65536, NULL, 0);
  create_image (a, VMM_BLOCK_FORMAT_QCOW2, 0, 65536, "b.qcow2", VMM_BLOCK_FORMAT_QCOW2);
  create_image (c, VMM_BLOCK_FORMAT_QCOW2, 0, 65536, "a.qcow2", VMM_BLOCK_FORMAT_QCOW2);
  g_assert_cmpint (rename (c, b_), ==, 0);
  g_assert_cmpint (open_fails (a, false, NULL), ==, -ELOOP);
  g_assert_cmpint (open_fails (a, true, NULL), ==, -ELOOP);
  /* info and check do not follow the chain */
  {
    struct vmm_block_image_info info;
    GError *error = NULL;
    g_assert_cmpint (vmm_block_info (a, &info, &error), ==, 0);
    g_assert_cmpstr (info.backing_file, ==, "b.qcow2");
    vmm_block_image_info_clear (&info);
  }

  /* an image that is its own backing file */
  create_image (self, VMM_BLOCK_FORMAT_QCOW2, 1 * MiB, 65536, NULL, 0);
  {
    /* patch in a backing name after the header extensions */
    uint64_t off = 60000;
    file_put (self, off, "self.qcow2", 10);
    file_put64 (self, 8, off);
    file_put32 (self, 16, 10);
  }
  g_assert_cmpint (open_fails (self, true, NULL), ==, -ELOOP);

  /* a missing backing file: named in the error */
  g_unlink (b_);
  g_assert_cmpint (open_fails (a, true, &reason), ==, -ENOENT);
  g_assert_nonnull (strstr (reason, "b.qcow2"));
  g_free (reason);
  g_free (a);
  g_free (b_);
  g_free (c);
  g_free (self);
}

/* Flipping bytes in the metadata: whatever happens, no crash, no hang. */
static void
test_corrupt_fuzz (struct fx *f, gconstpointer data)
{
  char *src = fx_path (f, "src.qcow2"), *p = fx_path (f, "fuzz.qcow2");
  uint8_t *orig, *img, *buf = g_malloc (64 * KiB);
  gsize len;
  struct vmm_block *b;

  (void) data;
  create_image (src, VMM_BLOCK_FORMAT_QCOW2, 2 * MiB, 512, NULL, 0);
  b = open_image (src, false);
  write_pattern (b, 0, 64 * KiB, 1);
  write_pattern (b, 1 * MiB, 100 * KiB, 2);
  g_assert_cmpint (vmm_block_write_zeroes (b, 1 * MiB + 8192, 4096, false), ==, 0);
  vmm_block_close (b);
  g_assert_true (g_file_get_contents (src, (char **) &orig, &len, NULL));
  img = g_malloc (len);

  for (int round = 0; round < 300; round++)
    {
      struct vmm_block_open_opts opts = { .path = p, .read_only = round % 2 == 0 };
      GError *error = NULL;
      int flips = g_test_rand_int_range (1, 8);

      memcpy (img, orig, len);
      for (int i = 0; i < flips; i++)
        {
          /* mostly the header and the first tables */
          gsize at = g_test_rand_bit () ? (gsize) g_test_rand_int_range (0, 4096)
                                        : (gsize) g_test_rand_int_range (0, (gint32) len);
          img[at] ^= (uint8_t) (1u << g_test_rand_int_range (0, 8));
        }
      g_assert_true (g_file_set_contents (p, (char *) img, (gssize) len, NULL));
      b = NULL;
      if (vmm_block_open (&b, &opts, &error) == 0)
        {
          uint64_t size = vmm_block_size (b);
          for (uint64_t off = 0; off < size && off < 4 * MiB; off += 64 * KiB)
            bread (b, buf, (size_t) MIN (64 * KiB, size - off), off);
          if (!opts.read_only && size >= 256 * KiB)
            {
              bwrite (b, buf, 4096, 128 * KiB + 512);
              vmm_block_discard (b, 0, 8192);
              vmm_block_flush (b);
            }
          vmm_block_close (b);
        }
      g_clear_error (&error);
      {
        struct vmm_block_check_result res;
        if (vmm_block_check (p, &res, &error) == 0)
          free (res.first_problem);
        g_clear_error (&error);
      }
    }
  g_free (orig);
  g_free (img);
  g_free (buf);
  g_free (src);
  g_free (p);
}

/* ---- check ---------------------------------------------------------------------- */

static void
test_check (struct fx *f, gconstpointer data)
{
  uint64_t c, l, pos, e0, e1;
  char *p;
  int q;

  (void) data;
  /* a cluster referenced twice */
  p = make_image (f, "twice.qcow2", 65536);
  assert_clean (p);
  e0 = file_get64 (p, l2_entry_pos (p, 0));
  pos = l2_entry_pos (p, 65536);
  e1 = file_get64 (p, pos);
  file_put64 (p, pos, e0);
  check_image (p, &c, &l);
  g_assert_cmpuint (c, >=, 1);
  g_assert_cmpuint (l, ==, 1);   /* and the cluster it used to point to leaks */
  q = qemu_check (p);
  g_assert_true (q == -1 || q == 2);
  file_put64 (p, pos, e1);
  assert_clean (p);
  g_free (p);

  /* a refcount too low */
  p = make_image (f, "low.qcow2", 65536);
  e0 = file_get64 (p, l2_entry_pos (p, 2 * 65536)) & QCOW2_OFFSET_MASK;
  file_put16 (p, refcount_pos (p, e0), 0);
  check_image (p, &c, &l);
  g_assert_cmpuint (c, ==, 2);   /* the refcount, and the COPIED flag that disagrees now */
  g_assert_cmpuint (l, ==, 0);
  q = qemu_check (p);
  g_assert_true (q == -1 || q == 2);
  g_free (p);

  /* a leak */
  p = make_image (f, "leak.qcow2", 65536);
  {
    uint64_t end = file_size (p);
    int fd = open (p, O_WRONLY);
    g_assert_cmpint (ftruncate (fd, (off_t) (end + 65536)), ==, 0);
    close (fd);
    file_put16 (p, refcount_pos (p, end), 1);
  }
  check_image (p, &c, &l);
  g_assert_cmpuint (c, ==, 0);
  g_assert_cmpuint (l, ==, 1);
  q = qemu_check (p);
  g_assert_true (q == -1 || q == 3);
  g_free (p);
}

/* Refcount at its maximum, then a snapshot-style increment: an error, and
 * nothing changed. */
static void
test_refcount_overflow (struct fx *f, gconstpointer data)
{
  char *p = make_image (f, "ovf.qcow2", 65536);
  GError *error = NULL;
  uint64_t host, rpos, blk;
  uint8_t *before, *after;
  struct vmm_block *b;
  gsize len1, len2;
  uint64_t c, l;

  (void) data;
  host = file_get64 (p, l2_entry_pos (p, 65536)) & QCOW2_OFFSET_MASK;
  rpos = refcount_pos (p, host);
  file_put16 (p, rpos, 0xffff);
  blk = rpos - rpos % 65536;
  g_assert_true (g_file_get_contents (p, (char **) &before, &len1, NULL));

  b = open_image (p, false);
  g_assert_cmpint (qcow2_update_active_refcounts (b, 1, &error), ==, -ERANGE);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  g_assert_true (g_file_get_contents (p, (char **) &after, &len2, NULL));
  g_assert_cmpuint (len1, ==, len2);
  g_assert_cmpmem (before + blk, 65536, after + blk, 65536);
  g_free (before);
  g_free (after);

  /* without the overflow the same call works, and the image stays sound:
   * the extra references are leaks until a snapshot table refers to them */
  file_put16 (p, rpos, 1);
  b = open_image (p, false);
  g_assert_cmpint (qcow2_update_active_refcounts (b, 1, &error), ==, 0);
  /* writes now copy every cluster instead of overwriting a shared one */
  write_pattern (b, 0, 3 * 65536, 7);
  assert_pattern (b, 0, 3 * 65536, 7);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  check_image (p, &c, &l);
  g_assert_cmpuint (c, ==, 0);
  g_assert_cmpuint (l, >, 0);
  /* the old data is still where it was */
  {
    uint8_t *buf = g_malloc (65536), *want = g_malloc (65536);
    int fd = open (p, O_RDONLY);
    g_assert_cmpint (pread (fd, buf, 65536, (off_t) host), ==, 65536);
    close (fd);
    pattern (want, 65536, 65536, 1);
    g_assert_cmpmem (buf, 65536, want, 65536);
    g_free (buf);
    g_free (want);
  }
  g_free (p);
}

/* The dirty bit: refcounts are rebuilt on a writable open */
static void
test_dirty (struct fx *f, gconstpointer data)
{
  char *p = make_image (f, "dirty.qcow2", 65536);
  struct vmm_block_image_info info;
  struct vmm_block *b;
  GError *error = NULL;
  uint64_t host;

  (void) data;
  host = file_get64 (p, l2_entry_pos (p, 2 * 65536)) & QCOW2_OFFSET_MASK;
  file_put16 (p, refcount_pos (p, host), 0);
  file_put64 (p, 72, QCOW2_INCOMPAT_DIRTY);
  g_assert_cmpint (vmm_block_info (p, &info, &error), ==, 0);
  g_assert_true (info.dirty);
  vmm_block_image_info_clear (&info);
  b = open_image (p, true);          /* read-only: as it is */
  assert_pattern (b, 0, 3 * 65536, 1);
  vmm_block_close (b);
  b = open_image (p, false);
  assert_pattern (b, 0, 3 * 65536, 1);
  write_pattern (b, 5 * 65536, 65536, 2);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  g_assert_cmpuint (file_get64 (p, 72), ==, 0);
  assert_clean (p);
  b = open_image (p, true);
  assert_pattern (b, 0, 3 * 65536, 1);
  assert_pattern (b, 5 * 65536, 65536, 2);
  vmm_block_close (b);
  g_free (p);
}

/* Issue 16, bug 4: a dirty image whose snapshots all share one L1 table
 * whose entries all point to one L2 table. Opened read-write, the refcount
 * repair walked every L2 entry once per L1 entry of every snapshot: hours
 * for a file of a few hundred kilobytes. Now it is refused at once, with
 * the way to repair it. Before the fix, the alarm ends the test. */
static void
make_dirty_snapshots (const char *p, uint64_t size, unsigned n_snapshots)
{
  uint64_t cs, l1_off, l1_size, l2, table, end;
  uint8_t *l1, entry[64] = { 0 };
  struct vmm_block *b;
  int fd;

  create_image (p, VMM_BLOCK_FORMAT_QCOW2, size, 512, NULL, 0);
  b = open_image (p, false);
  write_pattern (b, 0, 512, 1);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  cs = cluster_size_of (p);
  l1_off = file_get64 (p, 40);
  l1_size = file_get32 (p, 36);
  l2 = file_get64 (p, l1_off) & QCOW2_OFFSET_MASK;
  g_assert_cmpuint (l2, !=, 0);
  l1 = g_malloc (l1_size * 8);
  for (uint64_t i = 0; i < l1_size; i++)
    viv_put_be64 (l1 + 8 * i, l2);
  file_put (p, l1_off, l1, l1_size * 8);
  g_free (l1);

  /* The snapshots: 40 bytes, 16 of extra data, id and name */
  table = div_up (file_size (p), cs) * cs;
  viv_put_be64 (entry, l1_off);
  viv_put_be32 (entry + 8, (uint32_t) l1_size);
  viv_put_be16 (entry + 12, 1);
  viv_put_be16 (entry + 14, 1);
  viv_put_be32 (entry + 36, 16);
  entry[56] = '1';
  entry[57] = 's';
  fd = open (p, O_WRONLY);
  g_assert_cmpint (fd, >=, 0);
  for (unsigned i = 0; i < n_snapshots; i++)
    g_assert_cmpint (pwrite (fd, entry, sizeof entry, (off_t) (table + i * sizeof entry)), ==,
                     (ssize_t) sizeof entry);
  end = div_up (table + n_snapshots * sizeof entry, cs) * cs;
  g_assert_cmpint (ftruncate (fd, (off_t) end), ==, 0);
  close (fd);
  file_put32 (p, 60, n_snapshots);
  file_put64 (p, 64, table);
  file_put64 (p, 72, QCOW2_INCOMPAT_DIRTY);
  file_put64 (p, 80, QCOW2_COMPAT_LAZY_REFCOUNTS);
}

static void
test_dirty_snapshots (struct fx *f, gconstpointer data)
{
  char *p = fx_path (f, "dirty-snapshots.qcow2");
  struct vmm_block_check_result res;
  GError *error = NULL;
  struct vmm_block *b;
  char *reason = NULL;
  gint64 start;

  (void) data;
  /* 2 GiB of 512-byte clusters: 65536 L1 entries, 2000 snapshots */
  make_dirty_snapshots (p, 2 * GiB, 2000);
  g_test_message ("%s: %" G_GUINT64_FORMAT " bytes", p, file_size (p));

  alarm (30);
  start = g_get_monotonic_time ();
  g_assert_cmpint (open_fails (p, false, &reason), ==, -EINVAL);
  g_assert_nonnull (strstr (reason, "qemu-img check -r all"));
  /* the check refuses to walk it too, and says why */
  g_assert_cmpint (vmm_block_check (p, &res, &error), ==, 0);
  g_assert_no_error (error);
  g_assert_cmpuint (res.corruptions, >=, 1);
  g_assert_nonnull (strstr (res.first_problem, "overlap"));
  free (res.first_problem);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  alarm (0);

  /* read-only, as it is: no walk */
  b = open_image (p, true);
  assert_pattern (b, 0, 512, 1);
  vmm_block_close (b);
  g_assert_cmpuint (file_get64 (p, 72), ==, QCOW2_INCOMPAT_DIRTY);

  /* what img info shows of it */
  {
    struct vmm_block_image_info info;

    g_assert_cmpint (vmm_block_info (p, &info, &error), ==, 0);
    g_assert_true (info.dirty);
    g_assert_true (info.lazy_refcounts);
    g_assert_false (info.corrupt);
    g_assert_cmpuint (info.refcount_bits, ==, 16);
    g_assert_cmpuint (info.n_snapshots, ==, 2000);
    vmm_block_image_info_clear (&info);
    file_put64 (p, 72, QCOW2_INCOMPAT_CORRUPT);
    g_assert_cmpint (vmm_block_info (p, &info, &error), ==, 0);
    g_assert_true (info.corrupt);
    g_assert_false (info.dirty);
    vmm_block_image_info_clear (&info);
  }
  g_free (reason);
  g_free (p);
}

static void
test_direct (struct fx *f, gconstpointer data)
{
  char *p = fx_path (f, "direct.qcow2");
  g_autoptr (GError) error = NULL;
  struct vmm_block_open_opts opts = { .direct = true };
  struct vmm_block *b = NULL;
  int ret;

  (void) data;
  create_image (p, VMM_BLOCK_FORMAT_QCOW2, 16 * MiB, 65536, NULL, 0);
  opts.path = p;
  ret = vmm_block_open (&b, &opts, &error);
  if (ret == -EINVAL && error != NULL && strstr (error->message, "O_DIRECT") != NULL)
    {
      g_test_skip (error->message);
      g_free (p);
      return;
    }
  g_assert_cmpint (ret, ==, 0);
  g_assert_cmpuint (vmm_block_alignment (b), >=, 512);
  write_pattern (b, 0, 1 * MiB, 1);
  write_pattern (b, 2 * MiB + 512, 3000, 2);      /* unaligned: bounced */
  assert_pattern (b, 0, 1 * MiB, 1);
  assert_pattern (b, 2 * MiB + 512, 3000, 2);
  assert_zero (b, 2 * MiB, 512);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (p);
  g_free (p);
}

/* Writes smaller than O_DIRECT's alignment are read, modified and written
 * back a block at a time; threads writing different bytes of one block
 * must not write back each other's old bytes (block.h: thread-safe). */
#define RMW_THREADS 6
#define RMW_ROUNDS  200

struct rmw_ctx {
  struct vmm_block *b;
  pthread_barrier_t barrier;
  uint64_t base;
  unsigned lost;
};

struct rmw_thread {
  struct rmw_ctx *ctx;
  unsigned id;
};

static void *
rmw_thread (void *data)
{
  struct rmw_thread *t = data;
  struct rmw_ctx *ctx = t->ctx;
  uint8_t mine[40], all[RMW_THREADS * 64];

  for (unsigned r = 0; r < RMW_ROUNDS; r++)
    {
      memset (mine, (int) (r * RMW_THREADS + t->id + 1), sizeof mine);
      pthread_barrier_wait (&ctx->barrier);
      g_assert_cmpint (bwrite (ctx->b, mine, sizeof mine, ctx->base + 64 * t->id + 8), ==, 0);
      pthread_barrier_wait (&ctx->barrier);
      if (t->id == 0)
        {
          g_assert_cmpint (bread (ctx->b, all, sizeof all, ctx->base), ==, 0);
          for (unsigned k = 0; k < RMW_THREADS; k++)
            if (all[64 * k + 8] != (uint8_t) (r * RMW_THREADS + k + 1)
                || all[64 * k + 47] != (uint8_t) (r * RMW_THREADS + k + 1))
              ctx->lost++;
        }
    }
  return NULL;
}

static void
rmw_threads (const char *p, bool qcow2)
{
  struct vmm_block_open_opts opts = { .path = p, .direct = true };
  g_autoptr (GError) error = NULL;
  struct rmw_ctx ctx = { .base = 3 * 65536 + 4096 };
  struct rmw_thread t[RMW_THREADS];
  pthread_t th[RMW_THREADS];
  int ret;

  create_image (p, qcow2 ? VMM_BLOCK_FORMAT_QCOW2 : VMM_BLOCK_FORMAT_RAW, 1 * MiB, 65536,
                NULL, 0);
  ret = vmm_block_open (&ctx.b, &opts, &error);
  if (ret == -EINVAL && error != NULL && strstr (error->message, "O_DIRECT") != NULL)
    {
      g_test_skip (error->message);
      return;
    }
  g_assert_cmpint (ret, ==, 0);
  g_assert_cmpuint (vmm_block_alignment (ctx.b), >=, 512);
  write_pattern (ctx.b, 3 * 65536, 65536, 3);     /* the cluster exists: no copy-on-write */
  pthread_barrier_init (&ctx.barrier, NULL, RMW_THREADS);
  for (unsigned i = 0; i < RMW_THREADS; i++)
    {
      t[i] = (struct rmw_thread) { &ctx, i };
      g_assert_cmpint (pthread_create (&th[i], NULL, rmw_thread, &t[i]), ==, 0);
    }
  for (unsigned i = 0; i < RMW_THREADS; i++)
    pthread_join (th[i], NULL);
  pthread_barrier_destroy (&ctx.barrier);
  g_test_message ("%s: %u writes lost in %u rounds", p, ctx.lost, RMW_ROUNDS);
  g_assert_cmpuint (ctx.lost, ==, 0);
  /* the bytes around them are the pattern still */
  assert_pattern (ctx.b, 3 * 65536, 4096, 3);
  assert_pattern (ctx.b, ctx.base + 64 * RMW_THREADS, 4096 - 64 * RMW_THREADS, 3);
  g_assert_cmpint (vmm_block_close (ctx.b), ==, 0);
}

static void
test_direct_rmw_threads (struct fx *f, gconstpointer data)
{
  char *raw = fx_path (f, "rmw.raw"), *q = fx_path (f, "rmw.qcow2");

  (void) data;
  rmw_threads (raw, false);
  if (!g_test_failed ())
    rmw_threads (q, true);
  g_free (raw);
  g_free (q);
}

/* ---- randomized, against a reference ------------------------------------------------ */

static void
random_ops (struct fx *f, uint32_t cs, bool with_backing)
{
  const uint64_t size = 4 * MiB;
  char *base = fx_path (f, "rbase.qcow2"), *p = fx_path (f, "rand.qcow2");
  uint8_t *ref = g_malloc0 (size), *buf = g_malloc (size);
  struct vmm_block *b;

  if (with_backing)
    {
      create_image (base, VMM_BLOCK_FORMAT_QCOW2, size, 65536, NULL, 0);
      b = open_image (base, false);
      write_pattern (b, 0, size, 1000);
      vmm_block_close (b);
      pattern (ref, size, 0, 1000);
      create_image (p, VMM_BLOCK_FORMAT_QCOW2, 0, cs, "rbase.qcow2", VMM_BLOCK_FORMAT_QCOW2);
    }
  else
    create_image (p, VMM_BLOCK_FORMAT_QCOW2, size, cs, NULL, 0);

  b = open_image (p, false);
  for (int i = 0; i < 400; i++)
    {
      int op = g_test_rand_int_range (0, 100);
      uint64_t len = (uint64_t) g_test_rand_int_range (1, 3 * (gint32) cs + 4096);
      uint64_t off;

      if (g_test_rand_bit ())
        len = (len + 511) & ~UINT64_C (511);
      len = MIN (len, size);
      off = (uint64_t) g_test_rand_int_range (0, (gint32) (size - len + 1));
      if (g_test_rand_bit ())
        off &= ~UINT64_C (511);
      if (op < 55)
        {
          uint64_t seed = (uint64_t) i + 1;
          pattern (ref + off, len, off, seed);
          g_assert_cmpint (bwrite (b, ref + off, len, off), ==, 0);
        }
      else if (op < 65)
        {
          memset (ref + off, 0, len);
          g_assert_cmpint (vmm_block_discard (b, off, len), ==, 0);
        }
      else if (op < 80)
        {
          memset (ref + off, 0, len);
          g_assert_cmpint (vmm_block_write_zeroes (b, off, len, g_test_rand_bit ()), ==, 0);
        }
      else if (op < 90)
        {
          g_assert_cmpint (bread (b, buf, len, off), ==, 0);
          g_assert_cmpmem (buf, len, ref + off, len);
        }
      else if (op < 96)
        g_assert_cmpint (vmm_block_flush (b), ==, 0);
      else
        {
          g_assert_cmpint (vmm_block_close (b), ==, 0);
          b = open_image (p, false);
        }
    }
  g_assert_cmpint (bread (b, buf, size, 0), ==, 0);
  g_assert_cmpmem (buf, size, ref, size);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (p);
  b = open_image (p, true);
  g_assert_cmpint (bread (b, buf, size, 0), ==, 0);
  g_assert_cmpmem (buf, size, ref, size);
  vmm_block_close (b);
  g_unlink (p);
  g_unlink (base);
  g_free (ref);
  g_free (buf);
  g_free (base);
  g_free (p);
}

static void
test_random (struct fx *f, gconstpointer data)
{
  (void) data;
  random_ops (f, 512, false);
  random_ops (f, 4096, true);
  random_ops (f, 65536, false);
  random_ops (f, 65536, true);
}

/* ---- crash safety ------------------------------------------------------------------- */

/* What the child tells the parent, before each write and after each flush */
struct crash_rec {
  uint32_t kind;              /* 0 write (seed 0: zeroes), 1 flush done */
  uint32_t seq;
  uint64_t off, len, seed;
};

static void
crash_child (const char *path, int wfd, uint32_t seed, uint64_t size)
{
  struct vmm_block_open_opts opts = { .path = path };
  struct vmm_block *b = NULL;
  GRand *rand = g_rand_new_with_seed (seed);
  uint8_t *buf = g_malloc (256 * KiB);
  uint32_t seq = 0;

  if (vmm_block_open (&b, &opts, NULL) != 0)
    _exit (10);
  for (;;)
    {
      int op = g_rand_int_range (rand, 0, 100);
      struct crash_rec r = { 0 };

      r.len = 512 * (uint64_t) g_rand_int_range (rand, 1, 512);
      r.off = 512 * (uint64_t) g_rand_int_range (rand, 0, (gint32) ((size - r.len) / 512 + 1));
      r.seq = ++seq;
      if (op < 80)
        {
          r.seed = (uint64_t) seed << 32 | seq;
          pattern (buf, r.len, r.off, r.seed);
          if (write (wfd, &r, sizeof r) != sizeof r)
            _exit (11);
          if (bwrite (b, buf, r.len, r.off) != 0)
            _exit (12);
        }
      else if (op < 88)
        {
          if (write (wfd, &r, sizeof r) != sizeof r)
            _exit (11);
          if ((op & 1 ? vmm_block_discard (b, r.off, r.len)
                      : vmm_block_write_zeroes (b, r.off, r.len, op & 2)) != 0)
            _exit (13);
        }
      else
        {
          if (vmm_block_flush (b) != 0)
            _exit (14);
          r.kind = 1;
          r.seq = seq;
          if (write (wfd, &r, sizeof r) != sizeof r)
            _exit (11);
        }
    }
}

static void
crash_rounds (struct fx *f, const char *name, uint32_t cs, bool backing, int rounds)
{
  const uint64_t size = 8 * MiB;
  char *p = fx_path (f, name), *base = NULL;
  uint8_t *state = g_malloc0 (size), *flushed = g_malloc (size), *now = g_malloc (size);
  uint8_t *want = g_malloc (512);
  GArray *recs = g_array_new (FALSE, FALSE, sizeof (struct crash_rec));
  struct vmm_block *b;

  if (backing)
    {
      char *bname = g_strdup_printf ("%s.base", name);
      base = fx_path (f, bname);
      create_image (base, VMM_BLOCK_FORMAT_RAW, size, 0, NULL, 0);
      b = open_image (base, false);
      write_pattern (b, 0, size, 4242);
      vmm_block_close (b);
      pattern (state, size, 0, 4242);
      create_image (p, VMM_BLOCK_FORMAT_QCOW2, 0, cs, bname, VMM_BLOCK_FORMAT_RAW);
      g_free (bname);
    }
  else
    create_image (p, VMM_BLOCK_FORMAT_QCOW2, size, cs, NULL, 0);

  for (int round = 0; round < rounds; round++)
    {
      int fds[2], status;
      uint32_t flushed_seq = 0;
      uint32_t seed = g_test_rand_int ();
      gint64 deadline;
      pid_t pid;
      uint64_t c, l;
      int q;

      g_array_set_size (recs, 0);
      g_assert_cmpint (pipe (fds), ==, 0);
      pid = fork ();
      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          close (fds[0]);
          crash_child (p, fds[1], seed, size);
          _exit (0);
        }
      close (fds[1]);
      /* let it run a random while, draining the pipe, then kill it */
      deadline = g_get_monotonic_time () + 1000 * g_test_rand_int_range (10, 200);
      for (;;)
        {
          struct pollfd pfd = { fds[0], POLLIN, 0 };
          gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
          struct crash_rec r;
          if (left <= 0)
            break;
          if (poll (&pfd, 1, (int) left) > 0)
            {
              ssize_t n = read (fds[0], &r, sizeof r);
              if (n == sizeof r)
                g_array_append_val (recs, r);
              else if (n == 0)
                break;
            }
        }
      kill (pid, SIGKILL);
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      if (!(WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL))
        g_error ("the crash child ended with status 0x%x", status);
      {
        struct crash_rec r;
        while (read (fds[0], &r, sizeof r) == sizeof r)
          g_array_append_val (recs, r);
      }
      close (fds[0]);

      /* what a completed flush covers must be there */
      memcpy (flushed, state, size);
      for (guint i = 0; i < recs->len; i++)
        if (g_array_index (recs, struct crash_rec, i).kind == 1)
          flushed_seq = g_array_index (recs, struct crash_rec, i).seq;
      for (guint i = 0; i < recs->len; i++)
        {
          struct crash_rec *r = &g_array_index (recs, struct crash_rec, i);
          if (r->kind != 0 || r->seq > flushed_seq)
            continue;
          if (r->seed == 0)
            memset (flushed + r->off, 0, r->len);
          else
            pattern (flushed + r->off, r->len, r->off, r->seed);
        }

      check_image (p, &c, &l);
      g_assert_cmpuint (c, ==, 0);
      q = qemu_check (p);
      g_assert_true (q == -1 || q == 0 || q == 3);

      b = open_image (p, true);
      g_assert_cmpint (bread (b, now, size, 0), ==, 0);
      vmm_block_close (b);
      for (uint64_t s = 0; s < size; s += 512)
        {
          bool ok = memcmp (now + s, flushed + s, 512) == 0;
          /* or a later write, complete or not, that covers the sector */
          for (guint i = 0; !ok && i < recs->len; i++)
            {
              struct crash_rec *r = &g_array_index (recs, struct crash_rec, i);
              if (r->kind != 0 || r->seq <= flushed_seq || s < r->off || s >= r->off + r->len)
                continue;
              if (r->seed == 0)
                memset (want, 0, 512);
              else
                pattern (want, 512, s, r->seed);
              ok = memcmp (now + s, want, 512) == 0;
            }
          if (!ok)
            g_error ("round %d (seed %u): sector at %" G_GUINT64_FORMAT " holds neither the "
                     "flushed data nor a later write (%u records, flushed up to %u)", round,
                     seed, s, recs->len, flushed_seq);
        }
      g_test_message ("round %d: %u operations, flushed up to %u, %" G_GUINT64_FORMAT
                      " leaked clusters", round, recs->len, flushed_seq, l);
      memcpy (state, now, size);
    }
  g_array_free (recs, TRUE);
  g_free (state);
  g_free (flushed);
  g_free (now);
  g_free (want);
  g_free (base);
  g_free (p);
}

static void
test_crash (struct fx *f, gconstpointer data)
{
  (void) data;
  crash_rounds (f, "crash512.qcow2", 512, false, 10);
  crash_rounds (f, "crash4k.qcow2", 4096, true, 10);
  crash_rounds (f, "crash64k.qcow2", 65536, false, 10);
}

/* ---- internal snapshots ------------------------------------------------------------ */

#define SNAP_DISK (4 * MiB)

/* What the guest should see: the whole disk, kept beside the image. */
static void
model_write (uint8_t *model, struct vmm_block *b, uint64_t off, size_t len, uint64_t seed)
{
  pattern (model + off, len, off, seed);
  write_pattern (b, off, len, seed);
}

/* Every byte of the disk against MODEL */
static void
assert_model (struct vmm_block *b, const uint8_t *model, const char *what)
{
  uint8_t *buf = g_malloc (SNAP_DISK);

  g_assert_cmpint (bread (b, buf, SNAP_DISK, 0), ==, 0);
  for (uint64_t i = 0; i < SNAP_DISK; i++)
    if (buf[i] != model[i])
      g_error ("%s: data differs at byte %" G_GUINT64_FORMAT, what, i);
  g_free (buf);
}

/* Closes the image, checks it (no corruption, no leak, and the same from
 * qemu-img when it is installed, which cannot share our lock) and opens it
 * again. The check counts every reference the tables make (the active ones
 * and every snapshot's) and compares with the refcounts, and the COPIED
 * flags with the refcounts: the invariant qcow2-snapshot.c states. */
static void
assert_clean_open (struct vmm_block **b, const char *path)
{
  g_assert_cmpint (vmm_block_close (*b), ==, 0);
  assert_clean (path);
  *b = open_image (path, false);
}

/* Reads snapshot NAME by reverting a copy of the image to it. */
static void
assert_snapshot (struct fx *f, const char *path, const char *name, const uint8_t *model)
{
  g_autofree char *copy = fx_path (f, "copy.qcow2");
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  struct vmm_block *c;
  gsize len;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (copy, contents, (gssize) len, NULL));
  c = open_image (copy, false);
  g_assert_cmpint (vmm_block_snapshot_apply (c, name, &error), ==, 0);
  g_assert_no_error (error);
  assert_model (c, model, name);
  g_assert_cmpint (vmm_block_close (c), ==, 0);
  assert_clean (copy);
  g_unlink (copy);
}

static void
snap_ok (int ret, GError **error)
{
  if (ret != 0)
    g_error ("snapshot call: %s", *error != NULL ? (*error)->message : g_strerror (-ret));
  g_assert_no_error (*error);
}

static void
assert_snapshot_names (struct vmm_block *b, const char *const *names)
{
  struct vmm_block_snapshot_info *sn;
  unsigned n;

  g_assert_cmpint (vmm_block_snapshot_list (b, &sn, &n), ==, 0);
  g_assert_cmpuint (n, ==, g_strv_length ((char **) names));
  for (unsigned i = 0; i < n; i++)
    {
      g_assert_cmpstr (sn[i].name, ==, names[i]);
      g_assert_cmpuint (sn[i].disk_size, ==, SNAP_DISK);
      g_assert_cmpuint (sn[i].vm_state_size, ==, 0);
      g_assert_cmpuint (sn[i].date_sec, >, 0);
    }
  vmm_block_snapshot_info_free (sn, n);
}

/* A branch: A, s1, B, s2, back to s1, C, s3; every snapshot and the active
 * state read back whole after each step, the middle snapshot deleted first. */
static void
test_snapshot_branch (struct fx *f, gconstpointer data)
{
  uint32_t cs = GPOINTER_TO_UINT (data);
  g_autofree char *p = fx_path (f, "snap.qcow2");
  uint8_t *m1 = g_malloc0 (SNAP_DISK), *m2, *m3, *active = g_malloc0 (SNAP_DISK);
  g_autoptr (GError) error = NULL;
  struct vmm_block *b;

  create_image (p, VMM_BLOCK_FORMAT_QCOW2, SNAP_DISK, cs, NULL, VMM_BLOCK_FORMAT_AUTO);
  b = open_image (p, false);

  /* A */
  model_write (active, b, 0, MiB + 100, 1);
  model_write (active, b, 2 * MiB + 3000, 512 * KiB, 2);
  snap_ok (vmm_block_snapshot_create (b, "s1", &error), &error);
  memcpy (m1, active, SNAP_DISK);
  assert_clean_open (&b, p);
  assert_model (b, active, "after s1");

  /* B: overwrites shared clusters (copy-on-write), new ones, a discard */
  model_write (active, b, 512 * KiB + 7, MiB, 3);
  model_write (active, b, 3 * MiB, 256 * KiB, 4);
  g_assert_cmpint (vmm_block_discard (b, 2 * MiB + 64 * KiB, 128 * KiB), ==, 0);
  memset (active + 2 * MiB + 64 * KiB, 0, 128 * KiB);
  assert_model (b, active, "B");
  assert_clean_open (&b, p);
  snap_ok (vmm_block_snapshot_create (b, "s2", &error), &error);
  m2 = g_memdup2 (active, SNAP_DISK);
  assert_clean_open (&b, p);

  /* back to s1, then C on that branch */
  snap_ok (vmm_block_snapshot_apply (b, "s1", &error), &error);
  memcpy (active, m1, SNAP_DISK);
  assert_model (b, active, "s1 applied");
  assert_clean_open (&b, p);
  model_write (active, b, 100 * KiB, 300 * KiB, 5);
  model_write (active, b, 3 * MiB + 512 * KiB, 200 * KiB, 6);
  snap_ok (vmm_block_snapshot_create (b, "s3", &error), &error);
  m3 = g_memdup2 (active, SNAP_DISK);
  assert_clean_open (&b, p);
  /* the active state diverges from s3 again */
  model_write (active, b, 0, 64 * KiB, 7);
  assert_clean_open (&b, p);

  assert_snapshot_names (b, (const char *const[]) { "s1", "s2", "s3", NULL });
  assert_model (b, active, "active");
  assert_snapshot (f, p, "s1", m1);
  assert_snapshot (f, p, "s2", m2);
  assert_snapshot (f, p, "s3", m3);
  /* by id too, as qemu-img finds them */
  assert_snapshot (f, p, "2", m2);

  /* Delete the middle snapshot: nothing s2, s3 or the active state uses goes */
  snap_ok (vmm_block_snapshot_delete (b, "s1", &error), &error);
  assert_clean_open (&b, p);
  assert_model (b, active, "active after deleting s1");
  assert_snapshot (f, p, "s2", m2);
  assert_snapshot (f, p, "s3", m3);
  snap_ok (vmm_block_snapshot_delete (b, "s2", &error), &error);
  assert_clean_open (&b, p);
  assert_model (b, active, "active after deleting s2");
  assert_snapshot (f, p, "s3", m3);

  /* rename; the id stays */
  snap_ok (vmm_block_snapshot_rename (b, "s3", "last", &error), &error);
  assert_clean_open (&b, p);
  assert_snapshot_names (b, (const char *const[]) { "last", NULL });
  assert_snapshot (f, p, "3", m3);
  /* a new snapshot's id is one more than the largest */
  snap_ok (vmm_block_snapshot_create (b, "s4", &error), &error);
  {
    struct vmm_block_snapshot_info *sn;
    unsigned n;
    g_assert_cmpint (vmm_block_snapshot_list (b, &sn, &n), ==, 0);
    g_assert_cmpuint (n, ==, 2);
    g_assert_cmpstr (sn[1].id, ==, "4");
    vmm_block_snapshot_info_free (sn, n);
  }
  /* delete everything: clusters only the active state uses are its own
   * again (COPIED), which the check verifies, and writes go in place */
  snap_ok (vmm_block_snapshot_delete (b, "last", &error), &error);
  snap_ok (vmm_block_snapshot_delete (b, "s4", &error), &error);
  assert_clean_open (&b, p);
  model_write (active, b, 0, 2 * MiB, 8);
  assert_clean_open (&b, p);
  assert_model (b, active, "active at the end");
  g_assert_cmpint (vmm_block_close (b), ==, 0);

  /* and the same after reopening */
  b = open_image (p, true);
  assert_model (b, active, "reopened");
  assert_snapshot_names (b, (const char *const[]) { NULL });
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  g_free (m1);
  g_free (m2);
  g_free (m3);
  g_free (active);
}

/* What the snapshot calls refuse */
static void
test_snapshot_errors (struct fx *f, gconstpointer data)
{
  g_autofree char *p = fx_path (f, "e.qcow2"), *raw = fx_path (f, "e.raw");
  g_autoptr (GError) error = NULL;
  struct vmm_block_extent ext[4];
  struct vmm_block *b;
  void *cookie;

  (void) data;
  create_image (raw, VMM_BLOCK_FORMAT_RAW, MiB, 0, NULL, VMM_BLOCK_FORMAT_AUTO);
  b = open_image (raw, false);
  g_assert_cmpint (vmm_block_snapshot_create (b, "x", &error), ==, -ENOTSUP);
  g_assert_error (error, VMM_BLOCK_ERROR, ENOTSUP);
  g_assert_nonnull (strstr (error->message, "snapshots need a qcow2 disk"));
  g_clear_error (&error);
  g_assert_cmpint (vmm_block_close (b), ==, 0);

  create_image (p, VMM_BLOCK_FORMAT_QCOW2, MiB, 0, NULL, VMM_BLOCK_FORMAT_AUTO);
  b = open_image (p, false);
  snap_ok (vmm_block_snapshot_create (b, "a", &error), &error);
  g_assert_cmpint (vmm_block_snapshot_create (b, "a", &error), ==, -EEXIST);
  g_clear_error (&error);
  g_assert_cmpint (vmm_block_snapshot_create (b, "", &error), ==, -EINVAL);
  g_clear_error (&error);
  g_assert_cmpint (vmm_block_snapshot_apply (b, "nope", &error), ==, -ENOENT);
  g_clear_error (&error);
  g_assert_cmpint (vmm_block_snapshot_delete (b, "nope", &error), ==, -ENOENT);
  g_clear_error (&error);
  snap_ok (vmm_block_snapshot_create (b, "b", &error), &error);
  g_assert_cmpint (vmm_block_snapshot_rename (b, "b", "a", &error), ==, -EEXIST);
  g_clear_error (&error);

  /* a write in flight: the caller must quiesce first */
  g_assert_cmpint (vmm_block_map_write (b, 0, 4096, ext, 4, &cookie), >, 0);
  g_assert_cmpint (vmm_block_snapshot_create (b, "c", &error), ==, -EBUSY);
  g_assert_error (error, VMM_BLOCK_ERROR, EBUSY);
  g_clear_error (&error);
  vmm_block_write_abort (b, cookie);
  snap_ok (vmm_block_snapshot_create (b, "c", &error), &error);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
  assert_clean (p);

  b = open_image (p, true);
  g_assert_cmpint (vmm_block_snapshot_delete (b, "a", &error), ==, -EROFS);
  g_clear_error (&error);
  g_assert_cmpint (vmm_block_close (b), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The corrupt images make the block layer warn, as it should; quietly. */
  if (!g_test_verbose ())
    vmm_log_set_level (VMM_LOG_ERROR);

#define ADD(path, fn) g_test_add (path, struct fx, NULL, fx_setup, fn, fx_teardown)
  ADD ("/block/create", test_create);
  ADD ("/block/raw", test_raw);
  ADD ("/block/zero-data", test_zero_data);
  ADD ("/block/fdatasync", test_fdatasync);
  ADD ("/qcow2/alloc/cluster-sizes", test_alloc);
  ADD ("/qcow2/alloc/refcount-table-growth", test_reftable_growth);
  ADD ("/qcow2/backing/chain", test_backing);
  ADD ("/qcow2/backing/errors", test_backing_errors);
  ADD ("/qcow2/backing/file-of-fd", test_backing_file_of_fd);
  ADD ("/qcow2/discard", test_discard);
  ADD ("/qcow2/map/extents", test_map);
  ADD ("/qcow2/map/partial-at-end", test_map_partial_at_end);
  ADD ("/qcow2/map/same-cluster", test_map_concurrent);
  ADD ("/qcow2/map/threads", test_map_threads);
  ADD ("/qcow2/corrupt/header", test_corrupt_header);
  ADD ("/qcow2/corrupt/tables", test_corrupt_tables);
  ADD ("/qcow2/corrupt/features", test_corrupt_features);
  ADD ("/qcow2/corrupt/fuzz", test_corrupt_fuzz);
  ADD ("/qcow2/check", test_check);
  ADD ("/qcow2/refcount-overflow", test_refcount_overflow);
  ADD ("/qcow2/dirty", test_dirty);
  ADD ("/qcow2/dirty-snapshots", test_dirty_snapshots);
  ADD ("/qcow2/direct", test_direct);
  ADD ("/qcow2/direct/rmw-threads", test_direct_rmw_threads);
  ADD ("/qcow2/random", test_random);
  ADD ("/qcow2/crash", test_crash);
  ADD ("/qcow2/snapshot/errors", test_snapshot_errors);
#undef ADD
  g_test_add ("/qcow2/snapshot/branch/64k", struct fx, GUINT_TO_POINTER (65536), fx_setup,
              test_snapshot_branch, fx_teardown);
  g_test_add ("/qcow2/snapshot/branch/512", struct fx, GUINT_TO_POINTER (512), fx_setup,
              test_snapshot_branch, fx_teardown);
  return g_test_run ();
}
