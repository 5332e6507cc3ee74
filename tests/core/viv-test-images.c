/* viv-test-images.c: disc images for the tests, made with xorriso, and
 * disk images checked with qemu-img
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <json-glib/json-glib.h>

#include "viv-test-images.h"

gboolean
viv_test_run_xorriso (const char  *volume_id,
                      const char  *naming,
                      const char  *tree,
                      const char  *iso,
                      char       **reason)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) naming_args = g_strsplit (naming, " ", -1);
  g_auto(GStrv) argv = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;

  g_strv_builder_add_many (builder, "xorriso", "-as", "mkisofs", "-V", volume_id, NULL);
  g_strv_builder_addv (builder, (const char **) naming_args);
  g_strv_builder_add_many (builder, "-o", iso, tree, NULL);
  argv = g_strv_builder_end (builder);
  g_remove (iso);
  if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &err, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    {
      *reason = g_strdup_printf ("xorriso failed: %s\n%s", error->message,
                                 err != NULL ? err : "");
      return FALSE;
    }
  return TRUE;
}

static gboolean
copy_file (const char  *from,
           const char  *to,
           char       **reason)
{
  g_autoptr(GFile) source = g_file_new_for_path (from);
  g_autoptr(GFile) dest = g_file_new_for_path (to);
  g_autoptr(GError) error = NULL;

  if (!g_file_copy (source, dest, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error))
    {
      *reason = g_strdup_printf ("cannot copy %s: %s", from, error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_text (const char  *dir,
            const char  *name,
            const char  *text,
            char       **reason)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents (path, text, -1, &error))
    {
      *reason = g_strdup_printf ("cannot write %s: %s", path, error->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
make_dir (const char  *path,
          char       **reason)
{
  if (g_mkdir_with_parents (path, 0755) != 0)
    {
      *reason = g_strdup_printf ("cannot make %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

gboolean
viv_test_make_isos (const char  *dir,
                    VivTestIsos *isos,
                    char       **reason)
{
  g_autofree char *xorriso = g_find_program_in_path ("xorriso");
  g_autofree char *debian_tree = g_build_filename (dir, "tree-debian", NULL);
  g_autofree char *install = g_build_filename (debian_tree, "install.amd", NULL);
  g_autofree char *dot_disk = g_build_filename (debian_tree, ".disk", NULL);
  g_autofree char *other_tree = g_build_filename (dir, "tree-other", NULL);
  g_autofree char *kernel = g_build_filename (install, "vmlinuz", NULL);
  g_autofree char *initrd = g_build_filename (install, "initrd.gz", NULL);
  g_autofree char *deb11 = g_build_filename (dir, "debian-11.7.0-amd64-netinst.iso", NULL);
  g_autofree char *deb12 = g_build_filename (dir, "debian-12.2.0-amd64-netinst.iso", NULL);
  g_autofree char *other = g_build_filename (dir, "something.iso", NULL);

  memset (isos, 0, sizeof *isos);
  if (xorriso == NULL)
    {
      *reason = g_strdup ("xorriso is missing (Debian's xorriso package)");
      return FALSE;
    }
  if (!g_file_test (VIV_TEST_NETBOOT_KERNEL, G_FILE_TEST_IS_REGULAR) ||
      !g_file_test (VIV_TEST_NETBOOT_INITRD, G_FILE_TEST_IS_REGULAR))
    {
      *reason = g_strdup (VIV_TEST_NETBOOT_DIR " is missing (Debian's "
                          "debian-installer-12-netboot-amd64 package)");
      return FALSE;
    }

  /* A Debian netinst's layout, with what matters here */
  if (!make_dir (install, reason) || !make_dir (dot_disk, reason) ||
      !copy_file (VIV_TEST_NETBOOT_KERNEL, kernel, reason) ||
      !copy_file (VIV_TEST_NETBOOT_INITRD, initrd, reason) ||
      !write_text (dot_disk, "info", "Debian GNU/Linux \"test\" - amd64 NETINST", reason) ||
      !write_text (debian_tree, "README.txt", "A disc made by a Vivarium test.\n", reason))
    return FALSE;

  /* Something nobody knows */
  if (!make_dir (other_tree, reason) ||
      !write_text (other_tree, "hello.txt", "Nothing to see here.\n", reason))
    return FALSE;

  if (!viv_test_run_xorriso ("Debian 11.7.0 amd64 n", "-J -R", debian_tree, deb11, reason) ||
      !viv_test_run_xorriso ("Debian 12.2.0 amd64 n", "-J -R", debian_tree, deb12, reason) ||
      !viv_test_run_xorriso ("SOMETHING_ELSE", "-J -R", other_tree, other, reason))
    return FALSE;

  isos->debian11 = g_steal_pointer (&deb11);
  isos->debian12 = g_steal_pointer (&deb12);
  isos->unknown = g_steal_pointer (&other);
  return TRUE;
}

void
viv_test_isos_clear (VivTestIsos *isos)
{
  g_clear_pointer (&isos->debian11, g_free);
  g_clear_pointer (&isos->debian12, g_free);
  g_clear_pointer (&isos->unknown, g_free);
}

void
viv_test_check_with_qemu_img (const char *path,
                              const char *format,
                              guint64     virtual_size)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  const char *argv[] = { "qemu-img", "info", "--output=json", "-U", path, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *info;
  int status = 0;

  if (qemu_img == NULL)
    {
      g_printerr ("# SKIP qemu-img is missing (Debian's qemu-utils): %s not checked with it\n",
                  path);
      g_test_message ("SKIP: qemu-img is missing: %s not checked with it", path);
      return;
    }
  argv[0] = qemu_img;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("qemu-img info %s failed: %s", path, err);
  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  g_assert_no_error (error);
  info = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (info, "format"), ==, format);
  g_assert_cmpint (json_object_get_int_member (info, "virtual-size"), ==, (gint64) virtual_size);
}
