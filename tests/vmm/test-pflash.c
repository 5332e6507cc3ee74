/* test-pflash.c: OVMF's flash, driven through its MMIO handlers
 *
 * The device works on an image in a scratch folder; its map and unmap
 * callbacks are faked and counted, so a test sees the read-only mapping
 * come and go with the modes (QEMU's "romd"). Commands are sent as OVMF's
 * QemuFlashFvbServicesRuntimeDxe sends them (its flash detection, byte
 * programs ended by read array, block erase and confirm), and what the
 * device wrote is checked in its file after it is freed.
 *
 * OVMF itself does not run on this build machine's KVM (see DESIGN.md), so
 * these unit tests are what checks the device.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "firmware/pflash.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define BLOCK       4096u
#define N_BLOCKS    16u
#define IMAGE_SIZE  (BLOCK * N_BLOCKS)
#define END_4G      0x100000000ULL

/* ---- fake map and unmap ------------------------------------------------------------ */

struct fake_map {
  unsigned maps, unmaps;
  int mapped;                 /* the live handle, or -1 */
  int next_handle;
  uint64_t gpa, size;
  void *host;
  bool readonly;
  int fail;                   /* when non-zero, the next map fails with it */
};

static int
fake_map (void *opaque, uint64_t gpa, uint64_t size, void *host, bool readonly)
{
  struct fake_map *f = opaque;

  if (f->fail)
    {
      int ret = f->fail;

      f->fail = 0;
      return ret;
    }
  g_assert_cmpint (f->mapped, ==, -1);    /* never mapped twice */
  f->maps++;
  f->gpa = gpa;
  f->size = size;
  f->host = host;
  f->readonly = readonly;
  f->mapped = f->next_handle++;
  return f->mapped;
}

static void
fake_unmap (void *opaque, int handle)
{
  struct fake_map *f = opaque;

  g_assert_cmpint (handle, ==, f->mapped);
  f->unmaps++;
  f->mapped = -1;
}

static const struct vmm_pflash_ops fake_ops = {
  .map = fake_map,
  .unmap = fake_unmap,
};

/* ---- fixture ------------------------------------------------------------------------ */

struct fixture {
  char *dir;
  char *path;
  uint8_t image[IMAGE_SIZE];  /* what the file holds at the start */
  struct fake_map map;
  struct vmm_pflash *flash;
  int log;
};

static uint8_t
pattern (uint64_t i)
{
  /* no 0xff, 0x00, 0x50 or 0x70 at the start of a block, so OVMF's
   * detection probes offset 0 */
  return (uint8_t) (0x01 + (i * 7 + i / BLOCK) % 0x4f);
}

static void
write_image (const char *path, const void *data, size_t len)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, data, (gssize) len, &error));
  g_assert_no_error (error);
}

static struct vmm_pflash *
open_flash (struct fixture *fx, const char *path, bool readonly, uint64_t end, GError **error)
{
  struct vmm_pflash_config config = {
    .path = path,
    .readonly = readonly,
    .end = end,
    .block_size = BLOCK,
  };

  return vmm_pflash_new (&config, &fake_ops, &fx->map, error);
}

static void
fixture_setup (struct fixture *fx, bool readonly)
{
  g_autoptr (GError) error = NULL;

  memset (fx, 0, sizeof *fx);
  fx->map.mapped = -1;
  fx->map.next_handle = 7;
  fx->dir = vmm_test_make_dir ("test-pflash-XXXXXX");
  fx->path = g_build_filename (fx->dir, "OVMF_VARS.fd", NULL);
  for (uint64_t i = 0; i < IMAGE_SIZE; i++)
    fx->image[i] = pattern (i);
  write_image (fx->path, fx->image, IMAGE_SIZE);
  fx->log = vmm_test_log_capture ();
  fx->flash = open_flash (fx, fx->path, readonly, END_4G, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->flash);
}

static void
setup_rw (struct fixture *fx, gconstpointer data)
{
  (void) data;
  fixture_setup (fx, false);
}

static void
setup_ro (struct fixture *fx, gconstpointer data)
{
  (void) data;
  fixture_setup (fx, true);
}

static void
fixture_teardown (struct fixture *fx, gconstpointer data)
{
  (void) data;
  vmm_pflash_free (fx->flash);
  vmm_test_log_release (fx->log);
  vmm_test_remove_dir (fx->dir);
  g_free (fx->path);
  g_free (fx->dir);
}

/* What the file holds now */
static uint8_t *
file_contents (const char *path, size_t *len)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize n = 0;

  g_assert_true (g_file_get_contents (path, &data, &n, &error));
  g_assert_no_error (error);
  *len = n;
  return (uint8_t *) data;
}

static uint64_t
rd (struct fixture *fx, uint64_t offset, uint32_t len)
{
  return vmm_test_dev_in (&vmm_pflash_ops, fx->flash, offset, len);
}

static void
wr (struct fixture *fx, uint64_t offset, uint32_t len, uint64_t value)
{
  vmm_test_dev_out (&vmm_pflash_ops, fx->flash, offset, len, value);
}

static uint8_t
rd8 (struct fixture *fx, uint64_t offset)
{
  return (uint8_t) rd (fx, offset, 1);
}

static void
wr8 (struct fixture *fx, uint64_t offset, uint8_t value)
{
  wr (fx, offset, 1, value);
}

/* OVMF's QemuFlashWrite: 0x10 and the byte, for each byte; then read array */
static void
ovmf_write (struct fixture *fx, uint64_t offset, const uint8_t *data, size_t len)
{
  for (size_t i = 0; i < len; i++)
    {
      wr8 (fx, offset + i, 0x10);
      wr8 (fx, offset + i, data[i]);
    }
  wr8 (fx, offset + len - 1, 0xff);
}

/* OVMF's QemuFlashEraseBlock */
static void
ovmf_erase (struct fixture *fx, uint64_t block)
{
  wr8 (fx, block * BLOCK, 0x20);
  wr8 (fx, block * BLOCK, 0xd0);
}

enum detected { DETECTED_RAM, DETECTED_ROM, DETECTED_FLASH_WP, DETECTED_FLASH, DETECTED_NONE };

/* OVMF's QemuFlashDetected, step by step, on the device's first block */
static enum detected
ovmf_detect (struct fixture *fx)
{
  uint64_t offset;
  uint8_t original, probe;

  for (offset = 0; offset < BLOCK; offset++)
    {
      probe = rd8 (fx, offset);
      if (probe != 0x50 && probe != 0x70 && probe != 0x00)
        break;
    }
  if (offset >= BLOCK)
    return DETECTED_NONE;

  original = rd8 (fx, offset);
  wr8 (fx, offset, 0x50);
  probe = rd8 (fx, offset);
  if (original != 0x50 && probe == 0x50)
    return DETECTED_RAM;
  wr8 (fx, offset, 0x70);
  probe = rd8 (fx, offset);
  if (probe == original)
    return DETECTED_ROM;
  if (probe == 0x70)
    return DETECTED_RAM;
  if (probe != 0x00)
    return DETECTED_NONE;
  wr8 (fx, offset, 0x10);
  wr8 (fx, offset, original);
  wr8 (fx, offset, 0x70);
  probe = rd8 (fx, offset);
  wr8 (fx, offset, 0xff);
  return (probe & 0x10) ? DETECTED_FLASH_WP : DETECTED_FLASH;
}

/* ---- tests -------------------------------------------------------------------------- */

static void
test_read_array (struct fixture *fx, gconstpointer data)
{
  uint64_t want;

  (void) data;
  g_assert_cmpuint (vmm_pflash_base (fx->flash), ==, END_4G - IMAGE_SIZE);
  g_assert_cmpuint (vmm_pflash_size (fx->flash), ==, IMAGE_SIZE);

  /* mapped read-only over the whole device, holding the file */
  g_assert_cmpuint (fx->map.maps, ==, 1);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  g_assert_cmpuint (fx->map.gpa, ==, END_4G - IMAGE_SIZE);
  g_assert_cmpuint (fx->map.size, ==, IMAGE_SIZE);
  g_assert_true (fx->map.readonly);
  g_assert_cmpmem (fx->map.host, IMAGE_SIZE, fx->image, IMAGE_SIZE);

  /* and the same through the handlers, at every width */
  g_assert_cmpuint (rd (fx, 0, 1), ==, fx->image[0]);
  memcpy (&want, fx->image + 0x1234, 8);
  g_assert_cmpuint (rd (fx, 0x1234, 8), ==, want);
  g_assert_cmpuint (rd (fx, 0x1234, 4), ==, (uint32_t) want);
  g_assert_cmpuint (rd (fx, 0x1234, 2), ==, (uint16_t) want);
  g_assert_cmpuint (rd (fx, IMAGE_SIZE - 1, 1), ==, fx->image[IMAGE_SIZE - 1]);
  /* past the end (the bus does not send these; the device must not care) */
  g_assert_cmpuint (rd (fx, IMAGE_SIZE, 1), ==, 0xff);
  g_assert_cmpuint (rd (fx, IMAGE_SIZE - 2, 4) >> 16, ==, 0xffff);
}

static void
test_cfi_query (struct fixture *fx, gconstpointer data)
{
  (void) data;
  wr8 (fx, 0x55, 0x98);
  g_assert_cmpuint (fx->map.unmaps, ==, 1);
  g_assert_cmpint (fx->map.mapped, ==, -1);

  g_assert_cmpuint (rd8 (fx, 0x10), ==, 'Q');
  g_assert_cmpuint (rd8 (fx, 0x11), ==, 'R');
  g_assert_cmpuint (rd8 (fx, 0x12), ==, 'Y');
  g_assert_cmpuint (rd (fx, 0x10, 4) & 0xffffff, ==, 0x595251);
  g_assert_cmpuint (rd (fx, 0x13, 2), ==, 0x0001);         /* Intel's command set */
  g_assert_cmpuint (rd (fx, 0x15, 2), ==, 0x0031);         /* its table */
  g_assert_cmpuint (rd8 (fx, 0x27), ==, 16);                /* 64 KiB */
  g_assert_cmpuint (rd (fx, 0x28, 2), ==, 0x0000);         /* x8 */
  g_assert_cmpuint (rd8 (fx, 0x2a), ==, 0);                 /* no write buffer */
  g_assert_cmpuint (rd8 (fx, 0x2c), ==, 1);                 /* one region: */
  g_assert_cmpuint (rd (fx, 0x2d, 2), ==, N_BLOCKS - 1);    /* 16 blocks */
  g_assert_cmpuint (rd (fx, 0x2f, 2), ==, BLOCK / 256);     /* of 4 KiB */
  g_assert_cmpuint (rd8 (fx, 0x31), ==, 'P');
  g_assert_cmpuint (rd8 (fx, 0x32), ==, 'R');
  g_assert_cmpuint (rd8 (fx, 0x33), ==, 'I');
  /* the table repeats every 256 bytes, zeroes past its end */
  g_assert_cmpuint (rd8 (fx, 0x3010), ==, 'Q');
  g_assert_cmpuint (rd8 (fx, 0x80), ==, 0);

  wr8 (fx, 0, 0xff);
  g_assert_cmpuint (fx->map.maps, ==, 2);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  g_assert_cmpuint (rd8 (fx, 0x10), ==, fx->image[0x10]);
}

static void
test_read_id (struct fixture *fx, gconstpointer data)
{
  (void) data;
  wr8 (fx, 0, 0x90);
  g_assert_cmpint (fx->map.mapped, ==, -1);
  g_assert_cmpuint (rd8 (fx, 0), ==, VMM_PFLASH_MANUFACTURER);
  g_assert_cmpuint (rd8 (fx, 1), ==, VMM_PFLASH_DEVICE);
  g_assert_cmpuint (rd8 (fx, 2), ==, 0);                   /* block unlocked */
  g_assert_cmpuint (rd8 (fx, 3 * BLOCK), ==, VMM_PFLASH_MANUFACTURER);
  wr8 (fx, 0, 0xff);
  g_assert_cmpuint (rd8 (fx, 0), ==, fx->image[0]);
}

static void
test_program (struct fixture *fx, gconstpointer data)
{
  (void) data;
  wr8 (fx, 0x2345, 0x10);
  g_assert_cmpint (fx->map.mapped, ==, -1);
  wr8 (fx, 0x2345, 0x5a);
  /* reads give the status now: ready, no error */
  g_assert_cmpuint (rd8 (fx, 0x2345), ==, VMM_PFLASH_SR_READY);
  g_assert_cmpuint (rd (fx, 0, 4), ==, 0x80808080);
  /* 0x40 works too, and a wide write programs all its bytes */
  wr8 (fx, 0x3000, 0x40);
  wr (fx, 0x3000, 4, 0x11223344);
  wr8 (fx, 0, 0xff);
  g_assert_cmpint (fx->map.mapped, >=, 0);

  g_assert_cmpuint (rd8 (fx, 0x2345), ==, 0x5a);
  g_assert_cmpuint (rd (fx, 0x3000, 4), ==, 0x11223344);
  g_assert_cmpuint (((uint8_t *) fx->map.host)[0x2345], ==, 0x5a);
  g_assert_cmpuint (rd8 (fx, 0x2344), ==, fx->image[0x2344]);
  g_assert_cmpuint (rd8 (fx, 0x2346), ==, fx->image[0x2346]);

  /* the read status command shows it ready */
  wr8 (fx, 0, 0x70);
  g_assert_cmpuint (rd8 (fx, 0), ==, VMM_PFLASH_SR_READY);
}

static void
test_erase (struct fixture *fx, gconstpointer data)
{
  static const uint8_t bytes[] = { 0xde, 0xad, 0xbe, 0xef };

  (void) data;
  wr8 (fx, 2 * BLOCK + 0x123, 0x20);
  g_assert_cmpint (fx->map.mapped, ==, -1);
  wr8 (fx, 2 * BLOCK + 0x123, 0xd0);
  g_assert_cmpuint (rd8 (fx, 0), ==, VMM_PFLASH_SR_READY);
  wr8 (fx, 0, 0xff);

  for (uint64_t i = 0; i < IMAGE_SIZE; i++)
    {
      uint8_t want = (i >= 2 * BLOCK && i < 3 * BLOCK) ? 0xff : fx->image[i];

      if (rd8 (fx, i) != want)
        g_error ("byte 0x%llx is 0x%02x, not 0x%02x", (unsigned long long) i, rd8 (fx, i),
                 want);
    }

  /* erase, then write into the block as OVMF does */
  ovmf_erase (fx, 5);
  ovmf_write (fx, 5 * BLOCK + 8, bytes, sizeof bytes);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  g_assert_cmpuint (rd (fx, 5 * BLOCK + 8, 4), ==, 0xefbeadde);
  g_assert_cmpuint (rd (fx, 5 * BLOCK, 8), ==, UINT64_MAX);

  /* an erase that is not confirmed changes nothing and says so */
  wr8 (fx, 7 * BLOCK, 0x20);
  wr8 (fx, 7 * BLOCK, 0x42);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  g_assert_cmpuint (rd8 (fx, 7 * BLOCK), ==, fx->image[7 * BLOCK]);
  wr8 (fx, 0, 0x70);
  g_assert_cmpuint (rd8 (fx, 0) & 0x30, ==, 0x30);
  wr8 (fx, 0, 0x50);
  wr8 (fx, 0, 0x70);
  g_assert_cmpuint (rd8 (fx, 0), ==, 0);
  wr8 (fx, 0, 0xff);
}

/* The changes are in the file after free, and a new device reads them */
static void
test_file (struct fixture *fx, gconstpointer data)
{
  static const uint8_t bytes[] = "variables";
  g_autoptr (GError) error = NULL;
  g_autofree uint8_t *contents = NULL;
  uint8_t want[IMAGE_SIZE];
  size_t len;

  (void) data;
  memcpy (want, fx->image, IMAGE_SIZE);
  ovmf_erase (fx, 3);
  ovmf_write (fx, 3 * BLOCK + 100, bytes, sizeof bytes);
  memset (want + 3 * BLOCK, 0xff, BLOCK);
  memcpy (want + 3 * BLOCK + 100, bytes, sizeof bytes);
  ovmf_write (fx, 9 * BLOCK + 7, bytes, 4);
  memcpy (want + 9 * BLOCK + 7, bytes, 4);

  vmm_pflash_free (fx->flash);
  fx->flash = NULL;
  g_assert_cmpint (fx->map.mapped, ==, -1);
  contents = file_contents (fx->path, &len);
  g_assert_cmpmem (contents, len, want, IMAGE_SIZE);

  fx->flash = open_flash (fx, fx->path, false, END_4G, &error);
  g_assert_no_error (error);
  for (uint64_t i = 0; i < IMAGE_SIZE; i += 8)
    g_assert_cmpuint (rd (fx, i, 8), ==, *(uint64_t *) (want + i));
}

static void
test_readonly (struct fixture *fx, gconstpointer data)
{
  g_autofree uint8_t *contents = NULL;
  uint8_t status;
  size_t len;

  (void) data;
  wr8 (fx, 0x100, 0x10);
  wr8 (fx, 0x100, 0x00);
  status = rd8 (fx, 0x100);
  g_assert_cmpuint (status & VMM_PFLASH_SR_READY, !=, 0);
  g_assert_cmpuint (status & VMM_PFLASH_SR_PROGRAM_ERROR, !=, 0);
  g_assert_cmpuint (status & VMM_PFLASH_SR_ERASE_ERROR, ==, 0);
  wr8 (fx, 0, 0x50);

  ovmf_erase (fx, 1);
  status = rd8 (fx, BLOCK);
  g_assert_cmpuint (status & VMM_PFLASH_SR_READY, !=, 0);
  g_assert_cmpuint (status & VMM_PFLASH_SR_ERASE_ERROR, !=, 0);
  wr8 (fx, 0, 0xff);

  /* the lock status says why */
  wr8 (fx, 0, 0x90);
  g_assert_cmpuint (rd8 (fx, BLOCK + 2), ==, 1);
  wr8 (fx, 0, 0xff);

  g_assert_cmpmem (fx->map.host, IMAGE_SIZE, fx->image, IMAGE_SIZE);
  contents = file_contents (fx->path, &len);
  g_assert_cmpmem (contents, len, fx->image, IMAGE_SIZE);
}

/* OVMF's probe finds a writable flash on the variables, a write-protected
 * one on a read-only device, and leaves the device in read array. */
static void
test_ovmf_detect_rw (struct fixture *fx, gconstpointer data)
{
  (void) data;
  g_assert_cmpint (ovmf_detect (fx), ==, DETECTED_FLASH);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  g_assert_cmpmem (fx->map.host, IMAGE_SIZE, fx->image, IMAGE_SIZE);
}

static void
test_ovmf_detect_ro (struct fixture *fx, gconstpointer data)
{
  (void) data;
  g_assert_cmpint (ovmf_detect (fx), ==, DETECTED_FLASH_WP);
  g_assert_cmpint (fx->map.mapped, >=, 0);
}

/* Debian's OVMF_VARS_4M.fd, copied: its size is whole blocks, the CFI
 * table describes it, and OVMF's probe finds it writable. */
static void
test_ovmf_vars_4m (void)
{
  const char *vars = "/usr/share/OVMF/OVMF_VARS_4M.fd";
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  struct fixture fx = { 0 };
  gsize len;

  if (!g_file_get_contents (vars, &data, &len, NULL))
    {
      g_test_skip ("no /usr/share/OVMF/OVMF_VARS_4M.fd (Debian's ovmf package)");
      return;
    }
  fx.map.mapped = -1;
  fx.dir = vmm_test_make_dir ("test-pflash-XXXXXX");
  fx.path = g_build_filename (fx.dir, "OVMF_VARS_4M.fd", NULL);
  write_image (fx.path, data, len);
  fx.log = vmm_test_log_capture ();
  fx.flash = open_flash (&fx, fx.path, false, END_4G - 0x37c000, &error);
  g_assert_no_error (error);

  wr8 (&fx, 0, 0x98);
  g_assert_cmpuint (rd (&fx, 0x2d, 2) + 1, ==, len / BLOCK);
  wr8 (&fx, 0, 0xff);
  g_assert_cmpint (ovmf_detect (&fx), ==, DETECTED_FLASH);
  g_assert_cmpmem (fx.map.host, len, data, len);
  fixture_teardown (&fx, NULL);
}

/* The mapping follows the mode, and only changes when the mode does */
static void
test_romd (struct fixture *fx, gconstpointer data)
{
  (void) data;
  g_assert_cmpuint (fx->map.maps, ==, 1);
  g_assert_cmpuint (fx->map.unmaps, ==, 0);

  wr8 (fx, 0, 0xff);                 /* already read array */
  wr8 (fx, 0, 0x50);
  g_assert_cmpuint (fx->map.maps, ==, 1);
  g_assert_cmpuint (fx->map.unmaps, ==, 0);

  wr8 (fx, 0, 0x70);
  g_assert_cmpuint (fx->map.unmaps, ==, 1);
  wr8 (fx, 0, 0x98);                 /* status to query: still unmapped */
  wr8 (fx, 0, 0x90);
  g_assert_cmpuint (fx->map.unmaps, ==, 1);
  g_assert_cmpuint (fx->map.maps, ==, 1);
  wr8 (fx, 0, 0xff);
  g_assert_cmpuint (fx->map.maps, ==, 2);

  /* a map that fails: reads still answer from the image, and the next
   * return to read array maps again */
  wr8 (fx, 0, 0x70);
  fx->map.fail = -ENOMEM;
  wr8 (fx, 0, 0xff);
  g_assert_cmpint (fx->map.mapped, ==, -1);
  vmm_test_log_expect (fx->log, "cannot map");
  g_assert_cmpuint (rd8 (fx, 0x42), ==, fx->image[0x42]);
  wr8 (fx, 0, 0x70);
  g_assert_cmpuint (fx->map.unmaps, ==, 2);   /* nothing to unmap */
  wr8 (fx, 0, 0xff);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  g_assert_cmpuint (fx->map.maps, ==, 3);

  /* a reset goes back to read array */
  wr8 (fx, 0, 0x90);
  vmm_pflash_reset (fx->flash);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  g_assert_cmpuint (rd8 (fx, 0x42), ==, fx->image[0x42]);
}

/* A second device on the same file, in this process or another, fails */
static void
test_lock (struct fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  struct vmm_pflash *other;

  (void) data;
  other = open_flash (fx, fx->path, false, END_4G, &error);
  g_assert_null (other);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "in use"));
  g_assert_nonnull (strstr (error->message, fx->path));
  g_clear_error (&error);

  other = open_flash (fx, fx->path, true, END_4G, &error);
  g_assert_null (other);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED);
  g_clear_error (&error);

  /* free drops the lock */
  vmm_pflash_free (fx->flash);
  fx->flash = open_flash (fx, fx->path, false, END_4G, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->flash);
}

/* Read-only devices share the file (OVMF's code, under every machine) */
static void
test_lock_shared (struct fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  struct fake_map map2 = { .mapped = -1 };
  struct vmm_pflash_config config = { .path = fx->path, .readonly = true, .end = END_4G };
  struct vmm_pflash *other;

  (void) data;
  other = vmm_pflash_new (&config, &fake_ops, &map2, &error);
  g_assert_no_error (error);
  g_assert_nonnull (other);
  vmm_pflash_free (other);
  g_assert_cmpint (map2.mapped, ==, -1);
}

static void
expect_open_error (const char *path, uint64_t end, GFileError code, const char *want)
{
  g_autoptr (GError) error = NULL;
  struct fake_map map = { .mapped = -1 };
  struct vmm_pflash_config config = { .path = path, .end = end };

  g_assert_null (vmm_pflash_new (&config, &fake_ops, &map, &error));
  g_assert_error (error, G_FILE_ERROR, (gint) code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, want));
  g_assert_cmpuint (map.maps, ==, 0);
}

static void
test_bad_files (void)
{
  g_autofree char *dir = vmm_test_make_dir ("test-pflash-XXXXXX");
  g_autofree char *missing = g_build_filename (dir, "missing.fd", NULL);
  g_autofree char *empty = g_build_filename (dir, "empty.fd", NULL);
  g_autofree char *odd = g_build_filename (dir, "odd.fd", NULL);
  g_autofree char *big = g_build_filename (dir, "big.fd", NULL);
  g_autofree uint8_t *buf = g_malloc0 (2 * BLOCK + 1);
  g_autoptr (GError) error = NULL;
  struct fake_map map = { .mapped = -1 };
  struct vmm_pflash_config config = { .path = dir, .end = END_4G };

  expect_open_error (missing, END_4G, G_FILE_ERROR_NOENT, "Cannot open");
  write_image (empty, buf, 0);
  expect_open_error (empty, END_4G, G_FILE_ERROR_INVAL, "empty");
  write_image (odd, buf, BLOCK + 1);
  expect_open_error (odd, END_4G, G_FILE_ERROR_INVAL, "4096-byte blocks");
  write_image (big, buf, 2 * BLOCK);
  expect_open_error (big, BLOCK, G_FILE_ERROR_INVAL, "too large");

  /* a folder is no image (opening it read-write fails first) */
  g_assert_null (vmm_pflash_new (&config, &fake_ops, &map, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  config.readonly = true;
  g_assert_null (vmm_pflash_new (&config, &fake_ops, &map, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_clear_error (&error);

  /* a first map that fails */
  map.fail = -EEXIST;
  config.path = big;
  g_assert_null (vmm_pflash_new (&config, &fake_ops, &map, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "Cannot map"));

  vmm_test_remove_dir (dir);
}

/* Random commands, addresses and widths, then clear status and read
 * array: the device answers from its image again, that image is its file,
 * and nothing was written past the end. */
static void
garbage (struct fixture *fx, bool readonly)
{
  static const uint8_t cmds[] = {
    0x00, 0x01, 0x10, 0x20, 0x28, 0x40, 0x50, 0x60, 0x70, 0x90, 0x98, 0xb0, 0xd0, 0xe8,
    0xf0, 0xff, 0x42,
  };
  g_autofree uint8_t *contents = NULL;
  uint8_t now[IMAGE_SIZE];
  size_t len;

  for (unsigned i = 0; i < 20000; i++)
    {
      uint32_t width = 1u << g_test_rand_int_range (0, 4);
      uint64_t offset = (uint64_t) g_test_rand_int_range (0, IMAGE_SIZE + 16);
      uint64_t value = ((uint64_t) g_test_rand_int () << 32) | g_test_rand_int ();

      if (g_test_rand_bit ())
        value = (value & ~0xffULL) | cmds[g_test_rand_int_range (0, sizeof cmds)];
      if (g_test_rand_int_range (0, 3) == 0)
        (void) rd (fx, offset, width);
      else
        wr (fx, offset, width, value);
    }
  g_free (vmm_test_log_take (fx->log));

  /* a program waiting for its byte takes the 0x50 as data: send it twice */
  wr8 (fx, 0, 0x50);
  wr8 (fx, 0, 0x50);
  wr8 (fx, 0, 0xff);
  g_assert_cmpint (fx->map.mapped, >=, 0);
  for (uint64_t i = 0; i < IMAGE_SIZE; i++)
    now[i] = rd8 (fx, i);
  g_assert_cmpmem (fx->map.host, IMAGE_SIZE, now, IMAGE_SIZE);
  g_assert_cmpint (vmm_pflash_sync (fx->flash), ==, 0);
  contents = file_contents (fx->path, &len);
  g_assert_cmpmem (contents, len, now, IMAGE_SIZE);
  if (readonly)
    g_assert_cmpmem (now, IMAGE_SIZE, fx->image, IMAGE_SIZE);

  /* and it still works */
  g_assert_cmpint (ovmf_detect (fx), ==, readonly ? DETECTED_FLASH_WP : DETECTED_FLASH);
}

static void
test_garbage_rw (struct fixture *fx, gconstpointer data)
{
  (void) data;
  garbage (fx, false);
}

static void
test_garbage_ro (struct fixture *fx, gconstpointer data)
{
  (void) data;
  garbage (fx, true);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_flash (void *flash, const struct vmm_state_file *f, const char *name, bool apply,
            GError **error)
{
  return vmm_pflash_load (flash, f, name, apply, error);
}

static void
save_flash (struct vmm_pflash *flash, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_pflash_save (flash, w, "pflash.vars");
  vmm_test_state_close (st, w);
}

/* An erase's first cycle given, the status showing an earlier program's
 * error: saved, and loaded into a second flash over a copy of the image
 * (the first one locks its file), fresh in read-array mode: it leaves the
 * mapping, reads the status, and erases at the confirm. */
static void
test_state (struct fixture *fx, gconstpointer data)
{
  g_autofree char *path = g_build_filename (fx->dir, "copy.fd", NULL);
  struct fake_map map = { .mapped = -1, .next_handle = 20 };
  struct vmm_pflash_config config = {
    .path = path, .end = END_4G - IMAGE_SIZE, .block_size = BLOCK,
  };
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  struct vmm_pflash *b;

  (void) data;
  write_image (path, fx->image, IMAGE_SIZE);
  b = vmm_pflash_new (&config, &fake_ops, &map, &error);
  g_assert_no_error (error);
  g_assert_cmpint (map.mapped, ==, 20);

  /* An erase broken off (no confirm) leaves the error bits set */
  wr8 (fx, 0, 0x20);
  wr8 (fx, 0, 0x00);
  wr8 (fx, BLOCK, 0x20);
  g_assert_cmpint (fx->map.mapped, ==, -1);
  g_assert_cmphex (rd8 (fx, 0) & VMM_PFLASH_SR_ERASE_ERROR, !=, 0);
  save_flash (fx->flash, &sa);

  save_flash (b, &sb0);
  g_assert_true (vmm_pflash_load (b, sa.file, "pflash.vars", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "pflash.vars", load_flash, b, 1, 0x07);
  g_assert_cmpint (map.mapped, ==, 20);
  g_assert_cmpuint (map.unmaps, ==, 0);
  save_flash (b, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "pflash.vars");
  vmm_test_state_clear (&sb);

  g_assert_true (vmm_pflash_load (b, sa.file, "pflash.vars", true, &error));
  g_assert_no_error (error);
  save_flash (b, &sb);
  vmm_test_state_assert_same (&sa, &sb, "pflash.vars");
  g_assert_cmpint (map.mapped, ==, -1);
  g_assert_cmphex (vmm_test_dev_in (&vmm_pflash_ops, b, 0, 1), ==,
                   rd8 (fx, 0));
  /* The confirm erases block 1 of B; read array maps it again */
  vmm_test_dev_out (&vmm_pflash_ops, b, BLOCK + 5, 1, 0xd0);
  vmm_test_dev_out (&vmm_pflash_ops, b, 0, 1, 0xff);
  g_assert_cmpint (map.mapped, >=, 0);
  g_assert_cmphex (((uint8_t *) map.host)[BLOCK + 9], ==, 0xff);
  g_assert_cmphex (((uint8_t *) map.host)[9], ==, fx->image[9]);

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  vmm_pflash_free (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, setup, fn) \
  g_test_add ("/pflash/" name, struct fixture, NULL, setup, fn, fixture_teardown)
  ADD ("read-array", setup_rw, test_read_array);
  ADD ("cfi-query", setup_rw, test_cfi_query);
  ADD ("read-id", setup_rw, test_read_id);
  ADD ("program", setup_rw, test_program);
  ADD ("erase", setup_rw, test_erase);
  ADD ("file", setup_rw, test_file);
  ADD ("readonly", setup_ro, test_readonly);
  ADD ("ovmf-detect/writable", setup_rw, test_ovmf_detect_rw);
  ADD ("ovmf-detect/readonly", setup_ro, test_ovmf_detect_ro);
  ADD ("romd", setup_rw, test_romd);
  ADD ("lock", setup_rw, test_lock);
  ADD ("lock-shared", setup_ro, test_lock_shared);
  ADD ("garbage/writable", setup_rw, test_garbage_rw);
  ADD ("garbage/readonly", setup_ro, test_garbage_ro);
  ADD ("state", setup_rw, test_state);
#undef ADD
  g_test_add_func ("/pflash/ovmf-vars-4m", test_ovmf_vars_4m);
  g_test_add_func ("/pflash/bad-files", test_bad_files);

  return g_test_run ();
}
