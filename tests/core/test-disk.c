/* test-disk.c: disk images through core's API (viv-disk): reading what an
 * image holds, and making new ones, with the messages people see
 *
 * Core only: no GTK. The images are made here, by viv_disk_create() and,
 * for a qcow2 based on another, by the block library itself.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "block/block.h"
#include "viv-disk.h"
#include "viv-file.h"
#include "viv-test-images.h"
#include "viv-test-util.h"

#define MIB (G_GUINT64_CONSTANT (1) << 20)
#define GIB (G_GUINT64_CONSTANT (1) << 30)

static char *root;

static char *
path_in_root (const char *name)
{
  return g_build_filename (root, name, NULL);
}

static VivDiskInfo *
inspect_async (const char  *path,
               GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  viv_disk_inspect_async (path, NULL, viv_test_store_result, &result);
  return viv_disk_inspect_finish (viv_test_wait_result (&result), error);
}

/* New images, read back: their format and size, and qemu-img agrees */
static void
test_create (void)
{
  g_autofree char *qcow2 = path_in_root ("new.qcow2");
  g_autofree char *raw = path_in_root ("new.img");
  g_autoptr(VivDiskInfo) info = NULL;
  g_autoptr(VivDiskInfo) raw_info = NULL;
  g_autoptr(VivDiskInfo) copy = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (viv_disk_create (qcow2, VIV_DISK_FORMAT_QCOW2, 2 * GIB, &error));
  g_assert_no_error (error);
  info = viv_disk_inspect (qcow2, &error);
  g_assert_no_error (error);
  g_assert_nonnull (info);
  g_assert_cmpint (info->format, ==, VIV_DISK_FORMAT_QCOW2);
  g_assert_cmpuint (info->virtual_size, ==, 2 * GIB);
  /* the header and tables, not the 2 GiB */
  g_assert_cmpuint (info->actual_size, >, 0);
  g_assert_cmpuint (info->actual_size, <, 16 * MIB);
  g_assert_null (info->backing_file);
  g_assert_cmpstr (viv_disk_format_to_string (info->format), ==, "qcow2");
  viv_test_check_with_qemu_img (qcow2, "qcow2", 2 * GIB);

  viv_disk_create_async (raw, VIV_DISK_FORMAT_RAW, 64 * MIB, NULL, viv_test_store_result,
                         &result);
  g_assert_true (viv_disk_create_finish (viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  raw_info = inspect_async (raw, &error);
  g_assert_no_error (error);
  g_assert_cmpint (raw_info->format, ==, VIV_DISK_FORMAT_RAW);
  g_assert_cmpuint (raw_info->virtual_size, ==, 64 * MIB);
  g_assert_cmpstr (viv_disk_format_to_string (raw_info->format), ==, "raw");
  viv_test_check_with_qemu_img (raw, "raw", 64 * MIB);

  copy = viv_disk_info_copy (raw_info);
  g_assert_cmpint (copy->format, ==, raw_info->format);
  g_assert_cmpuint (copy->actual_size, ==, raw_info->actual_size);

  g_unlink (qcow2);
  g_unlink (raw);
}

/* Never over an existing file, which stays as it was */
static void
test_create_exists (void)
{
  g_autofree char *path = path_in_root ("taken.qcow2");
  g_autofree char *content = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = g_strdup_printf (_("Could not create the machine’s disk: %s"), "");

  g_assert_true (g_file_set_contents (path, "mine", -1, NULL));
  g_assert_false (viv_disk_create (path, VIV_DISK_FORMAT_QCOW2, GIB, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_true (g_str_has_prefix (error->message, expected));
  g_clear_error (&error);

  viv_disk_create_async (path, VIV_DISK_FORMAT_RAW, GIB, NULL, viv_test_store_result, &result);
  g_assert_false (viv_disk_create_finish (viv_test_wait_result (&result), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);

  g_assert_true (g_file_get_contents (path, &content, NULL, NULL));
  g_assert_cmpstr (content, ==, "mine");
  g_unlink (path);
}

/* A qcow2 based on another names it */
static void
test_backing_file (void)
{
  g_autofree char *base = path_in_root ("base.qcow2");
  g_autofree char *top = path_in_root ("top.qcow2");
  struct vmm_block_create_opts opts = {
    .path = top,
    .format = VMM_BLOCK_FORMAT_QCOW2,
    .backing_file = "base.qcow2",
    .backing_format = VMM_BLOCK_FORMAT_QCOW2,
  };
  g_autoptr(VivDiskInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) reason = NULL;

  g_assert_true (viv_disk_create (base, VIV_DISK_FORMAT_QCOW2, GIB, &error));
  g_assert_no_error (error);
  /* relative to the image, as qemu-img writes it */
  g_assert_cmpint (vmm_block_create (&opts, &reason), ==, 0);
  g_assert_no_error (reason);

  info = viv_disk_inspect (top, &error);
  g_assert_no_error (error);
  g_assert_cmpint (info->format, ==, VIV_DISK_FORMAT_QCOW2);
  g_assert_cmpuint (info->virtual_size, ==, GIB);
  g_assert_cmpstr (info->backing_file, ==, "base.qcow2");

  g_unlink (top);
  g_unlink (base);
}

/* What people read when the image cannot be used */
static void
test_errors (void)
{
  g_autofree char *missing = path_in_root ("missing.qcow2");
  g_autofree char *folder = path_in_root ("folder.img");
  g_autofree char *broken = path_in_root ("broken.qcow2");
  g_autofree char *not_file = g_strdup_printf (_("“%s” is not a file"), "folder.img");
  g_autofree char *not_there = g_strdup_printf (_("“%s” does not exist"), "missing.qcow2");
  g_autofree char *unusable = g_strdup_printf (_("“%s” cannot be used as a disk: %s"),
                                               "broken.qcow2", "");
  /* a qcow2 magic and version, and nothing after */
  static const guint8 truncated[] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
  g_autofree char *missing_unusable = g_strdup_printf (_("“%s” cannot be used as a disk: %s"),
                                                       "missing.qcow2", "");
  g_autoptr(VivDiskInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  /* The user's choice, read in a worker thread: what is wrong with the name */
  info = inspect_async (missing, &error);
  g_assert_null (info);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, not_there);
  g_clear_error (&error);

  g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
  info = inspect_async (folder, &error);
  g_assert_null (info);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, not_file);
  g_clear_error (&error);
  g_rmdir (folder);

  /* What the block library says, with the name */
  g_assert_true (g_file_set_contents (broken, (const char *) truncated, sizeof truncated, NULL));
  info = inspect_async (broken, &error);
  g_assert_null (info);
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_true (g_str_has_prefix (error->message, unusable));
  g_assert_cmpuint (strlen (error->message), >, strlen (unusable));
  g_clear_error (&error);

  info = viv_disk_inspect (broken, &error);
  g_assert_null (info);
  g_assert_true (g_str_has_prefix (error->message, unusable));
  g_clear_error (&error);
  g_unlink (broken);

  /* Called directly (the creator, on an image the wizard checked), the
   * block library says what is wrong with a missing one */
  info = viv_disk_inspect (missing, &error);
  g_assert_null (info);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_true (g_str_has_prefix (error->message, missing_unusable));
}

/* An empty file, whatever its name says, is no disk: refused, not "raw, 0 MiB" */
static void
test_empty (void)
{
  const char *names[] = { "empty.img", "empty.qcow2" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = path_in_root (names[i]);
      g_autofree char *expected = g_strdup_printf (_("“%s” cannot be used as a disk: it is empty"),
                                                   names[i]);
      g_autoptr(VivDiskInfo) info = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_true (g_file_set_contents (path, "", 0, NULL));
      info = inspect_async (path, &error);
      g_assert_null (info);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_cmpstr (error->message, ==, expected);
      g_clear_error (&error);

      info = viv_disk_inspect (path, &error);
      g_assert_null (info);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_unlink (path);
    }
}

static void
make_overlay (const char *path,
              const char *backing_file)
{
  struct vmm_block_create_opts opts = {
    .path = path,
    .format = VMM_BLOCK_FORMAT_QCOW2,
    .backing_file = backing_file,
    .backing_format = VMM_BLOCK_FORMAT_QCOW2,
  };
  g_autoptr(GError) reason = NULL;

  g_assert_cmpint (vmm_block_create (&opts, &reason), ==, 0);
  g_assert_no_error (reason);
}

/* The engine opens the whole chain at start: a link missing anywhere in it
 * is found when the image is chosen, and named */
static void
test_backing_missing (void)
{
  g_autofree char *base = path_in_root ("chain-base.qcow2");
  g_autofree char *middle = path_in_root ("chain-middle.qcow2");
  g_autofree char *top = path_in_root ("chain-top.qcow2");
  g_autofree char *moved = path_in_root ("chain-base.moved");
  g_autofree char *base_display = g_filename_display_name (base);
  g_autofree char *middle_display = g_filename_display_name (middle);
  g_autofree char *top_missing = NULL;
  g_autofree char *base_missing = NULL;
  g_autofree char *unreadable = NULL;
  g_autoptr(VivDiskInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  top_missing = g_strdup_printf (_("“%s” cannot be used as a disk: the image it is based on, "
                                   "“%s”, does not exist"), "chain-top.qcow2", middle_display);
  base_missing = g_strdup_printf (_("“%s” cannot be used as a disk: the image it is based on, "
                                    "“%s”, does not exist"), "chain-top.qcow2", base_display);
  unreadable = g_strdup_printf (_("“%s” cannot be used as a disk: the image it is based on, "
                                  "“%s”, cannot be read: %s"), "chain-top.qcow2", base_display,
                                "");

  /* top → middle → base, relative names, all there: accepted */
  g_assert_true (viv_disk_create (base, VIV_DISK_FORMAT_QCOW2, GIB, &error));
  g_assert_no_error (error);
  make_overlay (middle, "chain-base.qcow2");
  make_overlay (top, "chain-middle.qcow2");
  info = inspect_async (top, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info->backing_file, ==, "chain-middle.qcow2");
  g_clear_pointer (&info, viv_disk_info_free);

  /* The end of the chain missing: named, though the top names only the middle */
  g_assert_cmpint (g_rename (base, moved), ==, 0);
  info = inspect_async (top, &error);
  g_assert_null (info);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, base_missing);
  g_clear_error (&error);
  g_assert_cmpint (g_rename (moved, base), ==, 0);

  /* Something that is not an image where the base should be */
  g_assert_cmpint (g_unlink (base), ==, 0);
  g_assert_cmpint (g_mkdir (base, 0755), ==, 0);
  info = viv_disk_inspect (top, &error);
  g_assert_null (info);
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_true (g_str_has_prefix (error->message, unreadable));
  g_assert_cmpuint (strlen (error->message), >, strlen (unreadable));
  g_clear_error (&error);
  g_rmdir (base);

  /* The first link missing */
  g_assert_cmpint (g_unlink (middle), ==, 0);
  info = viv_disk_inspect (top, &error);
  g_assert_null (info);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, top_missing);

  g_unlink (top);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  root = g_dir_make_tmp ("vivarium-disk-XXXXXX", NULL);
  g_assert_nonnull (root);

  g_test_add_func ("/disk/create", test_create);
  g_test_add_func ("/disk/create-exists", test_create_exists);
  g_test_add_func ("/disk/backing-file", test_backing_file);
  g_test_add_func ("/disk/errors", test_errors);
  g_test_add_func ("/disk/empty", test_empty);
  g_test_add_func ("/disk/backing-missing", test_backing_missing);

  status = g_test_run ();
  viv_file_remove_tree (root);
  g_free (root);
  return status;
}
