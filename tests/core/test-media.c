/* test-media.c: the wizard's core: media detection, boot files out of ISOs,
 * the OS catalog and the machine creator
 *
 * The ISOs are made here with xorriso (Debian's xorriso package), laid out
 * like a Debian netinst disc with the installer's kernel and initrd from
 * Debian's debian-installer-12-netboot-amd64 package. Everything happens
 * under a private XDG_DATA_HOME, set before anything else runs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "block/block.h"
#include "viv-library.h"
#include "viv-machine-config.h"
#include "viv-machine-creator.h"
#include "viv-media.h"
#include "viv-host.h"
#include "viv-os-catalog.h"
#include "viv-test-images.h"
#include "viv-test-util.h"
#include "viv-file.h"

#define TIMEOUT_MS  60000
#define MIB         (G_GUINT64_CONSTANT (1) << 20)
#define GIB         (G_GUINT64_CONSTANT (1) << 30)
#define NETBOOT_DIR VIV_TEST_NETBOOT_DIR

static char *root;              /* everything of the tests lives here */
static char *data_home;
static char *iso_debian11;      /* NULL when they cannot be made */
static char *iso_debian12;
static char *iso_unknown;
static const char *netboot_kernel = VIV_TEST_NETBOOT_KERNEL;
static const char *netboot_initrd = VIV_TEST_NETBOOT_INITRD;
static char *no_isos_reason;

/* ---- waiting ----------------------------------------------------------------------- */

/* ---- files ------------------------------------------------------------------------- */

static char *
machines_dir (void)
{
  return g_build_filename (data_home, "vivarium", "machines", NULL);
}

static guint
count_entries (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;

  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, len);
}

static void
assert_same_file (const char *a,
                  const char *b)
{
  g_autoptr(GBytes) bytes_a = read_bytes (a);
  g_autoptr(GBytes) bytes_b = read_bytes (b);

  g_assert_cmpuint (g_bytes_get_size (bytes_a), ==, g_bytes_get_size (bytes_b));
  g_assert_true (g_bytes_equal (bytes_a, bytes_b));
}

static void
copy_file (const char *from,
           const char *to)
{
  g_autoptr(GFile) source = g_file_new_for_path (from);
  g_autoptr(GFile) dest = g_file_new_for_path (to);
  g_autoptr(GError) error = NULL;

  g_file_copy (source, dest, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
}

static char *
make_dir (const char *name)
{
  char *path = g_build_filename (root, name, NULL);

  viv_file_remove_tree (path);
  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  return path;
}

static gboolean
have_program (const char *name)
{
  g_autofree char *path = g_find_program_in_path (name);

  return path != NULL;
}

/* ---- the ISOs ---------------------------------------------------------------------- */

/* Made once, before the tests */
static void
make_isos (void)
{
  VivTestIsos isos;

  if (!viv_test_make_isos (root, &isos, &no_isos_reason))
    return;
  iso_debian11 = g_steal_pointer (&isos.debian11);
  iso_debian12 = g_steal_pointer (&isos.debian12);
  iso_unknown = g_steal_pointer (&isos.unknown);
}

#define NEED_ISOS()                                   \
  G_STMT_START {                                      \
    if (iso_debian11 == NULL)                         \
      {                                               \
        g_test_skip (no_isos_reason);                 \
        return;                                       \
      }                                               \
  } G_STMT_END

static VivMedia *
detect (const char  *path,
        GError     **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GAsyncResult) result = NULL;

  viv_media_detect_async (file, NULL, viv_test_store_result, &result);
  return viv_media_detect_finish (viv_test_wait_result (&result), error);
}

static VivMedia *
detect_ok (const char *path)
{
  g_autoptr(GError) error = NULL;
  VivMedia *media = detect (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (media);
  return media;
}

static OsinfoOs *
find_os (const char *short_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(OsinfoDb) db = viv_os_db_get (&error);
  OsinfoOs *os;

  g_assert_no_error (error);
  os = viv_os_db_find_os (db, short_id);
  g_assert_nonnull (os);
  return os;
}

/* ---- detection --------------------------------------------------------------------- */

static void
test_detect_identified (void)
{
  g_autoptr(VivMedia) media = NULL;
  g_autofree char *initrd_name = NULL;
  struct stat st;

  NEED_ISOS ();
  media = detect_ok (iso_debian11);

  g_assert_cmpint (viv_media_get_os_match (media), ==, VIV_MEDIA_OS_IDENTIFIED);
  g_assert_cmpstr (viv_media_get_path (media), ==, iso_debian11);
  g_assert_cmpint (g_stat (iso_debian11, &st), ==, 0);
  g_assert_cmpuint (viv_media_get_size (media), ==, (guint64) st.st_size);
  g_assert_true (viv_media_is_iso9660 (media));
  g_assert_cmpstr (viv_media_get_volume_id (media), ==, "Debian 11.7.0 amd64 n");
  g_assert_cmpstr (viv_media_get_name (media), ==, "Debian 11");
  g_assert_cmpstr (viv_media_get_distro (media), ==, "debian");
  g_assert_cmpstr (viv_media_get_version (media), ==, "11");
  g_assert_cmpstr (viv_media_get_os_id (media), ==, "http://debian.org/debian/11");
  g_assert_cmpstr (viv_media_get_os_short_id (media), ==, "debian11");
  g_assert_cmpstr (viv_media_get_os_name (media), ==, "Debian 11");
  g_assert_cmpstr (viv_media_get_os_version (media), ==, "11");
  g_assert_cmpstr (viv_media_get_os_vendor (media), ==, "Debian Project");
  g_assert_cmpstr (viv_media_get_kernel_path (media), ==, "install.amd/vmlinuz");
  g_assert_cmpstr (viv_media_get_initrd_path (media), ==, "install.amd/initrd.gz");
  g_assert_true (viv_media_can_boot_kernel (media));
  /* Debian's installer needs nothing on its command line */
  g_assert_null (viv_media_dup_kernel_cmdline (media));
  initrd_name = viv_media_dup_initrd_name (media);
  g_assert_cmpstr (initrd_name, ==, "initrd.gz");
}

static void
test_detect_newer (void)
{
  g_autoptr(VivMedia) media = NULL;

  NEED_ISOS ();
  media = detect_ok (iso_debian12);

  g_assert_cmpint (viv_media_get_os_match (media), ==, VIV_MEDIA_OS_NEWER_THAN_DB);
  g_assert_cmpstr (viv_media_get_volume_id (media), ==, "Debian 12.2.0 amd64 n");
  /* What is on the disc */
  g_assert_cmpstr (viv_media_get_name (media), ==, "Debian 12");
  g_assert_cmpstr (viv_media_get_distro (media), ==, "debian");
  g_assert_cmpstr (viv_media_get_version (media), ==, "12");
  /* The newest Debian the database knows is the profile */
  g_assert_cmpstr (viv_media_get_os_short_id (media), ==, "debian11");
  g_assert_cmpstr (viv_media_get_os_id (media), ==, "http://debian.org/debian/11");
  g_assert_cmpstr (viv_media_get_kernel_path (media), ==, "install.amd/vmlinuz");
  g_assert_cmpstr (viv_media_get_initrd_path (media), ==, "install.amd/initrd.gz");
}

static void
on_notify (GObject    *object G_GNUC_UNUSED,
           GParamSpec *pspec G_GNUC_UNUSED,
           guint      *count)
{
  (*count)++;
}

static void
test_detect_unknown (void)
{
  g_autoptr(VivMedia) media = NULL;
  guint notified = 0;

  NEED_ISOS ();
  media = detect_ok (iso_unknown);

  g_assert_cmpint (viv_media_get_os_match (media), ==, VIV_MEDIA_OS_UNKNOWN);
  g_assert_cmpstr (viv_media_get_name (media), ==, "Unknown operating system");
  g_assert_cmpstr (viv_media_get_volume_id (media), ==, "SOMETHING_ELSE");
  g_assert_null (viv_media_get_distro (media));
  g_assert_null (viv_media_get_version (media));
  /* The generic Linux profile */
  g_assert_nonnull (viv_media_get_os (media));
  g_assert_true (g_str_has_prefix (viv_media_get_os_id (media), "http://libosinfo.org/linux/"));
  g_assert_cmpstr (viv_media_get_os_id (media), ==, "http://libosinfo.org/linux/2022");
  g_assert_null (viv_media_get_kernel_path (media));
  g_assert_false (viv_media_can_boot_kernel (media));

  /* Set by hand */
  g_signal_connect (media, "notify::os", G_CALLBACK (on_notify), &notified);
  viv_media_set_os (media, find_os ("debian11"));
  g_assert_cmpuint (notified, ==, 1);
  g_assert_cmpint (viv_media_get_os_match (media), ==, VIV_MEDIA_OS_CHOSEN);
  g_assert_cmpstr (viv_media_get_name (media), ==, "Debian 11");
  g_assert_cmpstr (viv_media_get_os_short_id (media), ==, "debian11");
  g_assert_nonnull (viv_media_get_kernel_path (media));
  g_assert_true (g_str_has_prefix (viv_media_get_kernel_path (media), "install.amd/"));
}

static void
assert_error_names_file (const GError *error,
                         GQuark        domain,
                         int           code,
                         const char   *path)
{
  g_autofree char *base = g_path_get_basename (path);

  g_assert_error (error, domain, code);
  if (strstr (error->message, base) == NULL)
    g_error ("“%s” does not name %s", error->message, base);
  g_test_message ("%s: %s", base, error->message);
}

static char *
write_file (const char   *name,
            const void   *data,
            gsize         len)
{
  char *path = g_build_filename (root, name, NULL);

  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  return path;
}

static void
test_detect_errors (void)
{
  g_autofree char *missing = g_build_filename (root, "not-there.iso", NULL);
  g_autofree char *random_path = NULL;
  g_autofree char *text_path = NULL;
  g_autofree char *small_text = NULL;
  g_autofree char *folder = NULL;
  g_autofree guint8 *noise = g_malloc (200 * 1024);
  g_autoptr(GError) error = NULL;
  VivMedia *media;

  media = detect (missing, &error);
  g_assert_null (media);
  assert_error_names_file (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, missing);
  g_clear_error (&error);

  for (gsize i = 0; i < 200 * 1024; i++)
    noise[i] = (guint8) g_random_int_range (0, 256);
  random_path = write_file ("noise.iso", noise, 200 * 1024);
  media = detect (random_path, &error);
  g_assert_null (media);
  assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NOT_ISO, random_path);
  g_clear_error (&error);

  {
    g_autoptr(GString) text = g_string_new (NULL);

    while (text->len < 100 * 1024)
      g_string_append (text, "This is a text file, not a disc image.\n");
    text_path = write_file ("notes.iso", text->str, text->len);
  }
  media = detect (text_path, &error);
  g_assert_null (media);
  assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NOT_ISO, text_path);
  g_clear_error (&error);

  small_text = write_file ("short.txt", "hello\n", 6);
  media = detect (small_text, &error);
  g_assert_null (media);
  assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NOT_ISO, small_text);
  g_clear_error (&error);

  folder = make_dir ("a-folder.iso");
  media = detect (folder, &error);
  g_assert_null (media);
  assert_error_names_file (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY, folder);
  g_clear_error (&error);

  if (iso_debian11 != NULL)
    {
      g_autoptr(GBytes) iso = read_bytes (iso_debian11);
      g_autofree char *cut_20k = write_file ("cut-20k.iso", g_bytes_get_data (iso, NULL),
                                             20 * 1024);
      g_autofree char *cut_1m = write_file ("cut-1m.iso", g_bytes_get_data (iso, NULL), MIB);

      media = detect (cut_20k, &error);
      g_assert_null (media);
      assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_TRUNCATED, cut_20k);
      g_clear_error (&error);

      /* The descriptor is there, the rest is not */
      media = detect (cut_1m, &error);
      g_assert_null (media);
      assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_TRUNCATED, cut_1m);
      g_clear_error (&error);

      if (geteuid () != 0)
        {
          g_autofree char *locked = g_build_filename (root, "locked.iso", NULL);

          copy_file (cut_20k, locked);
          g_assert_cmpint (g_chmod (locked, 0), ==, 0);
          media = detect (locked, &error);
          g_assert_null (media);
          assert_error_names_file (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, locked);
          g_clear_error (&error);
        }
      else
        {
          g_test_message ("running as root: an unreadable file cannot be made");
        }
    }
}

/* ---- extraction -------------------------------------------------------------------- */

typedef struct
{
  guint         calls;
  guint64       last_done;
  guint64       total;
  gboolean      backwards;
  GCancellable *cancel_at_first;
} Progress;

static void
on_progress (guint64  done,
             guint64  total,
             gpointer user_data)
{
  Progress *progress = user_data;

  if (done < progress->last_done)
    progress->backwards = TRUE;
  progress->calls++;
  progress->last_done = done;
  progress->total = total;
  if (progress->cancel_at_first != NULL && done > 0)
    g_cancellable_cancel (progress->cancel_at_first);
}

static void
test_extract (void)
{
  g_autoptr(VivMedia) media = NULL;
  g_autofree char *dest = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  g_autofree char *kernel_path = NULL;
  g_autofree char *initrd_path = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  Progress progress = { 0 };
  struct stat st_kernel, st_initrd;

  NEED_ISOS ();
  media = detect_ok (iso_debian11);
  dest = make_dir ("extract");

  viv_media_extract_boot_files_async (media, dest, on_progress, &progress, NULL, NULL,
                                      viv_test_store_result, &result);
  g_assert_true (viv_media_extract_boot_files_finish (media, viv_test_wait_result (&result),
                                                      &kernel, &initrd, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (kernel, ==, "vmlinuz");
  g_assert_cmpstr (initrd, ==, "initrd.gz");

  kernel_path = g_build_filename (dest, kernel, NULL);
  initrd_path = g_build_filename (dest, initrd, NULL);
  assert_same_file (kernel_path, netboot_kernel);
  assert_same_file (initrd_path, netboot_initrd);
  /* Nothing else: no temporary files */
  g_assert_cmpuint (count_entries (dest), ==, 2);

  g_assert_cmpint (g_stat (netboot_kernel, &st_kernel), ==, 0);
  g_assert_cmpint (g_stat (netboot_initrd, &st_initrd), ==, 0);
  g_assert_cmpuint (progress.calls, >, 0);
  g_assert_false (progress.backwards);
  g_assert_cmpuint (progress.total, ==, (guint64) (st_kernel.st_size + st_initrd.st_size));
  g_assert_cmpuint (progress.last_done, ==, progress.total);

  /* Never over existing files; and then nothing of it is left */
  g_clear_object (&result);
  g_clear_pointer (&kernel, g_free);
  g_assert_false (viv_media_extract_boot_files (media, dest, NULL, NULL, &kernel, NULL, NULL,
                                                &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_null (kernel);
  g_assert_cmpuint (count_entries (dest), ==, 2);
  assert_same_file (kernel_path, netboot_kernel);
  viv_file_remove_tree (dest);
}

static void
test_extract_cancel (void)
{
  g_autoptr(VivMedia) media = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *dest = NULL;
  g_autoptr(GError) error = NULL;
  Progress progress = { .cancel_at_first = cancellable };

  NEED_ISOS ();
  media = detect_ok (iso_debian11);
  dest = make_dir ("extract-cancel");

  /* Cancelled from the progress callback, with data copied already */
  g_assert_false (viv_media_extract_boot_files (media, dest, on_progress, &progress,
                                                NULL, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (progress.last_done, >, 0);
  g_assert_cmpuint (progress.last_done, <, progress.total);
  g_assert_cmpuint (count_entries (dest), ==, 0);
  viv_file_remove_tree (dest);
}

static char *
write_random (const char *dir,
              const char *name,
              gsize       len)
{
  g_autofree guint8 *data = g_malloc (len);
  char *path = g_build_filename (dir, name, NULL);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) g_random_int_range (0, 256);
  g_assert_true (g_file_set_contents (path, (const char *) data, (gssize) len, NULL));
  return path;
}

/* The names libarchive reports: Rock Ridge with a symbolic link and a hard
 * link to the files, plain ISO 9660 (upper case), Joliet */
static void
test_extract_names (void)
{
  g_autofree char *tree = NULL;
  g_autofree char *boot = NULL;
  g_autofree char *install = NULL;
  g_autofree char *linux_path = NULL;
  g_autofree char *initrd_path = NULL;
  g_autofree char *link_path = NULL;
  g_autofree char *hard_path = NULL;
  g_autofree char *reason = NULL;
  const char *namings[] = { "-J -R --hardlinks", "--norock", "--norock -J" };

  if (!have_program ("xorriso"))
    {
      g_test_skip ("xorriso is missing");
      return;
    }

  tree = make_dir ("tree-links");
  boot = g_build_filename (tree, "boot", NULL);
  install = g_build_filename (tree, "install.amd", NULL);
  g_assert_cmpint (g_mkdir (boot, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (install, 0755), ==, 0);
  linux_path = write_random (boot, "linux-6.1", 300 * 1024 + 17);
  initrd_path = write_random (boot, "initrd.img-6.1", 200 * 1024 + 3);

  for (guint i = 0; i < G_N_ELEMENTS (namings); i++)
    {
      g_autofree char *iso = g_strdup_printf ("%s/names-%u.iso", root, i);
      g_autofree char *dest = make_dir ("extract-names");
      g_autofree char *kernel = NULL;
      g_autofree char *initrd = NULL;
      g_autoptr(VivMedia) media = NULL;
      g_autoptr(GError) error = NULL;

      g_clear_pointer (&link_path, g_free);
      g_clear_pointer (&hard_path, g_free);
      link_path = g_build_filename (install, "vmlinuz", NULL);
      hard_path = g_build_filename (install, "initrd.gz", NULL);
      g_remove (link_path);
      g_remove (hard_path);
      if (i == 0)
        {
          /* Rock Ridge keeps links */
          g_assert_cmpint (symlink ("../boot/linux-6.1", link_path), ==, 0);
          g_assert_cmpint (link (initrd_path, hard_path), ==, 0);
        }
      else
        {
          copy_file (linux_path, link_path);
          copy_file (initrd_path, hard_path);
        }

      if (!viv_test_run_xorriso ("Debian 11.7.0 amd64 n", namings[i], tree, iso, &reason))
        g_error ("%s", reason);
      media = detect_ok (iso);
      g_assert_cmpint (viv_media_get_os_match (media), ==, VIV_MEDIA_OS_IDENTIFIED);
      g_assert_true (viv_media_extract_boot_files (media, dest, NULL, NULL, &kernel, &initrd,
                                                   NULL, &error));
      g_assert_no_error (error);
      g_free (kernel);
      kernel = g_build_filename (dest, "vmlinuz", NULL);
      g_free (initrd);
      initrd = g_build_filename (dest, "initrd.gz", NULL);
      assert_same_file (kernel, linux_path);
      assert_same_file (initrd, initrd_path);
      g_assert_cmpuint (count_entries (dest), ==, 2);
      viv_file_remove_tree (dest);
      g_remove (iso);
    }
  viv_file_remove_tree (tree);
}

static void
test_extract_missing (void)
{
  g_autoptr(VivMedia) media = NULL;
  g_autofree char *dest = NULL;
  g_autoptr(GError) error = NULL;

  NEED_ISOS ();
  media = detect_ok (iso_unknown);
  dest = make_dir ("extract-missing");

  /* No kernel known */
  g_assert_false (viv_media_extract_boot_files (media, dest, NULL, NULL, NULL, NULL, NULL,
                                                &error));
  assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NO_BOOT_FILES, iso_unknown);
  g_clear_error (&error);

  /* A kernel named, but not on the disc */
  viv_media_set_os (media, find_os ("debian11"));
  g_assert_false (viv_media_extract_boot_files (media, dest, NULL, NULL, NULL, NULL, NULL,
                                                &error));
  assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_MISSING_FILE, iso_unknown);
  g_assert_nonnull (strstr (error->message, viv_media_get_kernel_path (media)));
  g_assert_cmpuint (count_entries (dest), ==, 0);
  viv_file_remove_tree (dest);
}

/* ---- the catalog ------------------------------------------------------------------- */

static VivOsCatalog *
load_catalog (void)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  VivOsCatalog *catalog;

  viv_os_catalog_new_async (NULL, viv_test_store_result, &result);
  catalog = viv_os_catalog_new_finish (viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_nonnull (catalog);
  return catalog;
}

static void
test_catalog_search (void)
{
  g_autoptr(VivOsCatalog) catalog = load_catalog ();
  g_autoptr(GListModel) found = NULL;
  g_autoptr(GListModel) found_11 = NULL;
  g_autoptr(GListModel) everything = NULL;
  gboolean has_debian11 = FALSE, seen_eol = FALSE;
  const char *last_date = NULL;
  guint n;

  n = g_list_model_get_n_items (G_LIST_MODEL (catalog));
  g_assert_cmpuint (n, >, 100);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (catalog)) == VIV_TYPE_OS_ITEM);

  /* Supported releases first */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(VivOsItem) item = g_list_model_get_item (G_LIST_MODEL (catalog), i);

      if (viv_os_item_get_eol (item))
        seen_eol = TRUE;
      else
        g_assert_false (seen_eol);
    }

  found = viv_os_catalog_search (catalog, "debian");
  g_assert_cmpuint (g_list_model_get_n_items (found), >, 5);
  for (guint i = 0; i < g_list_model_get_n_items (found); i++)
    {
      g_autoptr(VivOsItem) item = g_list_model_get_item (found, i);
      g_autofree char *folded = g_utf8_casefold (viv_os_item_get_name (item), -1);
      g_autofree char *vendor = g_utf8_casefold (viv_os_item_get_vendor (item), -1);

      g_assert_true (strstr (folded, "debian") != NULL || strstr (vendor, "debian") != NULL ||
                     strstr (viv_os_item_get_short_id (item), "debian") != NULL);
      if (g_strcmp0 (viv_os_item_get_short_id (item), "debian11") == 0)
        {
          has_debian11 = TRUE;
          g_assert_cmpstr (viv_os_item_get_name (item), ==, "Debian 11");
          g_assert_cmpstr (viv_os_item_get_vendor (item), ==, "Debian Project");
          g_assert_cmpstr (viv_os_item_get_family (item), ==, "linux");
          g_assert_cmpstr (viv_os_item_get_release_date (item), ==, "2021-08-14");
          g_assert_cmpstr (viv_os_item_get_id (item), ==, "http://debian.org/debian/11");
        }
      /* Newest first among the supported Debian releases */
      if (!viv_os_item_get_eol (item) && g_strcmp0 (viv_os_item_get_distro (item), "debian") == 0 &&
          viv_os_item_get_release_date (item) != NULL)
        {
          if (last_date != NULL)
            g_assert_cmpstr (viv_os_item_get_release_date (item), <=, last_date);
          last_date = viv_os_item_get_release_date (item);
        }
    }
  g_assert_true (has_debian11);

  /* Case-insensitive, every word */
  found_11 = viv_os_catalog_search (catalog, "DEBIAN 11");
  g_assert_cmpuint (g_list_model_get_n_items (found_11), >=, 1);
  {
    g_autoptr(VivOsItem) first = g_list_model_get_item (found_11, 0);

    g_assert_cmpstr (viv_os_item_get_short_id (first), ==, "debian11");
  }
  everything = viv_os_catalog_search (catalog, "");
  g_assert_cmpuint (g_list_model_get_n_items (everything), ==, n);
  g_assert_nonnull (viv_os_catalog_find (catalog, "debian11"));
  g_assert_nonnull (viv_os_catalog_find (catalog, "http://debian.org/debian/11"));
  g_assert_null (viv_os_catalog_find (catalog, "no-such-os"));
}

/* Names and logos, which the collection shows: for every system the
 * database names (libosinfo's "unknown" too), from a database made here,
 * with a logo in a local file, one on the web and a system without a name */
static void
test_catalog_names (void)
{
  g_autoptr(OsinfoDb) db = osinfo_db_new ();
  g_autoptr(OsinfoOs) local = osinfo_os_new ("http://example.org/local/1");
  g_autoptr(OsinfoOs) web = osinfo_os_new ("http://example.org/web/1");
  g_autoptr(OsinfoOs) nameless = osinfo_os_new ("http://example.org/nameless/1");
  g_autoptr(OsinfoOs) unknown = osinfo_os_new ("http://libosinfo.org/unknown");
  g_autoptr(VivOsCatalog) catalog = NULL;
  g_autofree char *logo_path = g_build_filename (root, "logo.png", NULL);
  g_autofree char *logo_uri = g_filename_to_uri (logo_path, NULL, NULL);
  g_autoptr(GBytes) logo = g_bytes_new_static ("not really a PNG", 16);
  GIcon *icon;

  g_assert_true (g_file_set_contents (logo_path, g_bytes_get_data (logo, NULL),
                                      (gssize) g_bytes_get_size (logo), NULL));
  osinfo_entity_set_param (OSINFO_ENTITY (local), OSINFO_PRODUCT_PROP_NAME, "Local 1");
  osinfo_entity_set_param (OSINFO_ENTITY (local), OSINFO_PRODUCT_PROP_LOGO, logo_uri);
  osinfo_entity_set_param (OSINFO_ENTITY (web), OSINFO_PRODUCT_PROP_NAME, "Web 1");
  osinfo_entity_set_param (OSINFO_ENTITY (web), OSINFO_PRODUCT_PROP_LOGO,
                           "https://example.org/logo.png");
  osinfo_entity_set_param (OSINFO_ENTITY (nameless), OSINFO_PRODUCT_PROP_SHORT_ID, "nameless1");
  osinfo_entity_set_param (OSINFO_ENTITY (unknown), OSINFO_PRODUCT_PROP_NAME, "Unknown");
  osinfo_db_add_os (db, local);
  osinfo_db_add_os (db, web);
  osinfo_db_add_os (db, nameless);
  osinfo_db_add_os (db, unknown);

  catalog = viv_os_catalog_new_for_db (db);
  g_assert_true (viv_os_catalog_get_loaded (catalog));

  g_assert_cmpstr (viv_os_catalog_get_name (catalog, "http://example.org/local/1"), ==,
                   "Local 1");
  g_assert_cmpstr (viv_os_catalog_get_name (catalog, "http://example.org/web/1"), ==, "Web 1");
  g_assert_cmpstr (viv_os_catalog_get_name (catalog, "http://libosinfo.org/unknown"), ==,
                   "Unknown");
  g_assert_null (viv_os_catalog_get_name (catalog, "http://example.org/nameless/1"));
  g_assert_null (viv_os_catalog_get_name (catalog, "http://example.org/none"));
  g_assert_null (viv_os_catalog_get_name (catalog, NULL));

  /* The local logo, as read; none from the web */
  icon = viv_os_catalog_get_logo (catalog, "http://example.org/local/1");
  g_assert_true (G_IS_BYTES_ICON (icon));
  g_assert_true (g_bytes_equal (g_bytes_icon_get_bytes (G_BYTES_ICON (icon)), logo));
  g_assert_null (viv_os_catalog_get_logo (catalog, "http://example.org/web/1"));
  g_assert_null (viv_os_catalog_get_logo (catalog, "http://example.org/none"));

  /* The list: what one could choose, the unknown one left out */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (catalog)), ==, 3);
  g_assert_null (viv_os_catalog_find (catalog, "http://libosinfo.org/unknown"));
  g_assert_cmpstr (viv_os_item_get_name (viv_os_catalog_find (catalog, "nameless1")), ==,
                   "nameless1");
  g_assert_true (viv_os_item_get_logo_icon (viv_os_catalog_find (catalog,
                                                                 "http://example.org/local/1")) ==
                 icon);
  g_unlink (logo_path);
}

static void
on_items_changed (GListModel *model G_GNUC_UNUSED,
                  guint       position,
                  guint       removed,
                  guint       added,
                  guint      *total)
{
  g_assert_cmpuint (position, ==, 0);
  g_assert_cmpuint (removed, ==, 0);
  *total += added;
}

/* The process's catalog: empty, then loaded once, in the background */
static void
test_catalog_default (void)
{
  VivOsCatalog *catalog = viv_os_catalog_get_default ();
  gboolean was_loaded = viv_os_catalog_get_loaded (catalog);
  g_autoptr(VivOsCatalog) fresh = NULL;
  guint added = 0;

  g_assert_true (viv_os_catalog_get_default () == catalog);
  g_signal_connect (catalog, "items-changed", G_CALLBACK (on_items_changed), &added);
  if (!was_loaded)
    {
      g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (catalog)), ==, 0);
      g_assert_null (viv_os_catalog_get_name (catalog, "http://debian.org/debian/11"));
    }
  WAIT_UNTIL (viv_os_catalog_get_loaded (catalog), 30000);
  g_assert_true (viv_os_catalog_get_loaded (catalog));
  g_signal_handlers_disconnect_by_func (catalog, on_items_changed, &added);

  fresh = load_catalog ();
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (catalog)), ==,
                    g_list_model_get_n_items (G_LIST_MODEL (fresh)));
  if (!was_loaded)
    g_assert_cmpuint (added, ==, g_list_model_get_n_items (G_LIST_MODEL (catalog)));
  g_assert_cmpstr (viv_os_catalog_get_name (catalog, "http://debian.org/debian/11"), ==,
                   "Debian 11");
  /* osinfo-db's logos are on the web */
  g_assert_null (viv_os_catalog_get_logo (catalog, "http://debian.org/debian/11"));
  /* loading again does nothing */
  viv_os_catalog_load (catalog);
  g_assert_true (viv_os_catalog_get_loaded (catalog));
}

static void
test_catalog_resources (void)
{
  guint64 half = viv_host_get_memory () / 2;
  VivOsResources resources;
  g_autoptr(GError) error = NULL;
  g_autoptr(OsinfoDb) db = viv_os_db_get (&error);
  g_autoptr(OsinfoOsList) list = NULL;
  OsinfoOs *bare = NULL;
  int n;

  g_assert_no_error (error);
  g_assert_cmpuint (viv_host_get_memory (), >, 0);
  g_assert_cmpuint (viv_host_get_max_guest_memory (), <=, half);
  g_assert_cmpuint (viv_host_get_cpus (), >=, 1);

  /* debian11 recommends 1 GiB and 20 GiB, and names no CPU count */
  viv_os_get_resources (find_os ("debian11"), &resources);
  g_assert_cmpuint (resources.memory, <=, half);
  g_assert_cmpuint (resources.memory, ==, MIN (GIB, viv_host_get_max_guest_memory ()));
  g_assert_cmpint (resources.memory_origin, ==, VIV_OS_RESOURCE_RECOMMENDED);
  g_assert_cmpuint (resources.cpus, <=, viv_host_get_cpus ());
  g_assert_cmpuint (resources.cpus, ==, MIN (VIV_OS_DEFAULT_CPUS, viv_host_get_cpus ()));
  g_assert_cmpuint (resources.disk, ==, 20 * GIB);
  g_assert_cmpint (resources.disk_origin, ==, VIV_OS_RESOURCE_RECOMMENDED);

  /* Defaults: none given, and an OS the database says nothing about */
  viv_os_get_resources (NULL, &resources);
  g_assert_cmpuint (resources.memory, ==, MIN (VIV_OS_DEFAULT_MEMORY,
                                               viv_host_get_max_guest_memory ()));
  g_assert_cmpuint (resources.cpus, ==, MIN (VIV_OS_DEFAULT_CPUS, viv_host_get_cpus ()));
  g_assert_cmpuint (resources.disk, ==, VIV_OS_DEFAULT_DISK);
  g_assert_cmpint (resources.memory_origin, ==, VIV_OS_RESOURCE_DEFAULT);
  g_assert_cmpint (resources.disk_origin, ==, VIV_OS_RESOURCE_DEFAULT);

  list = osinfo_db_get_os_list (db);
  n = osinfo_list_get_length (OSINFO_LIST (list));
  for (int i = 0; i < n && bare == NULL; i++)
    {
      OsinfoOs *os = OSINFO_OS (osinfo_list_get_nth (OSINFO_LIST (list), i));
      g_autoptr(OsinfoResourcesList) recommended = osinfo_os_get_recommended_resources (os);
      g_autoptr(OsinfoResourcesList) minimum = osinfo_os_get_minimum_resources (os);

      if (osinfo_list_get_length (OSINFO_LIST (recommended)) == 0 &&
          osinfo_list_get_length (OSINFO_LIST (minimum)) == 0)
        bare = os;
    }
  g_assert_nonnull (bare);
  g_test_message ("without resources: %s", osinfo_entity_get_id (OSINFO_ENTITY (bare)));
  viv_os_get_resources (bare, &resources);
  g_assert_cmpuint (resources.memory, ==, MIN (VIV_OS_DEFAULT_MEMORY,
                                               viv_host_get_max_guest_memory ()));
  g_assert_cmpuint (resources.cpus, ==, MIN (VIV_OS_DEFAULT_CPUS, viv_host_get_cpus ()));
  g_assert_cmpuint (resources.disk, ==, VIV_OS_DEFAULT_DISK);
  g_assert_cmpint (resources.cpus_origin, ==, VIV_OS_RESOURCE_DEFAULT);
}

static void
test_free_space (void)
{
  g_autofree char *not_yet = g_build_filename (root, "not", "yet", "there", NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  guint64 free_bytes = 0, free_async = 0;

  g_assert_true (viv_host_get_free_space (not_yet, &free_bytes, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (free_bytes, >, 0);

  viv_host_get_free_space_async (root, NULL, viv_test_store_result, &result);
  g_assert_true (viv_host_get_free_space_finish (viv_test_wait_result (&result), &free_async, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (free_async, >, 0);
}

/* ---- the creator ------------------------------------------------------------------- */

typedef struct
{
  VivLibrary *library;
  char       *machines_dir;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  f->machines_dir = machines_dir ();
  viv_file_remove_tree (f->machines_dir);
  f->library = viv_library_new (NULL);
  viv_library_load_async (f->library, NULL, viv_test_store_result, &result);
  g_assert_true (viv_library_load_finish (f->library, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (viv_library_get_machines_dir (f->library), ==, f->machines_dir);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_clear_object (&f->library);
  viv_file_remove_tree (f->machines_dir);
  g_free (f->machines_dir);
}

typedef struct
{
  guint  progress_notes;
  double last_progress;
  gboolean stage_seen;
  guint64 bytes_total;      /* the last non-zero one */
  guint64 bytes_done;       /* the largest */
  gboolean bytes_backwards;
  gboolean bytes_over;      /* more done than the total */
} Watch;

static void
on_creator_progress (VivMachineCreator *creator,
                     GParamSpec        *pspec G_GNUC_UNUSED,
                     Watch             *watch)
{
  guint64 done = viv_machine_creator_get_bytes_done (creator);
  guint64 total = viv_machine_creator_get_bytes_total (creator);

  watch->progress_notes++;
  watch->last_progress = viv_machine_creator_get_progress (creator);
  if (viv_machine_creator_get_stage (creator) != NULL)
    watch->stage_seen = TRUE;
  if (total > 0)
    {
      if (total == watch->bytes_total && done < watch->bytes_done)
        watch->bytes_backwards = TRUE;
      if (done > total)
        watch->bytes_over = TRUE;
      watch->bytes_total = total;
      watch->bytes_done = MAX (watch->bytes_done, done);
    }
}

static VivMachine *
create (VivMachineCreator  *creator,
        GCancellable       *cancellable,
        Watch              *watch,
        GError            **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  gulong id = 0;
  VivMachine *machine;

  if (watch != NULL)
    id = g_signal_connect (creator, "notify::progress", G_CALLBACK (on_creator_progress), watch);
  viv_machine_creator_create_async (creator, cancellable, viv_test_store_result, &result);
  machine = viv_machine_creator_create_finish (creator, viv_test_wait_result (&result), error);
  if (id != 0)
    g_signal_handler_disconnect (creator, id);
  return machine;
}

static VivMachineConfig *
load_config (VivMachine *machine)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (viv_machine_get_directory (machine),
                                            VIV_MACHINE_CONFIG_FILE_NAME, NULL);
  VivMachineConfig *config = viv_machine_config_load (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

/* machine.json says, in so many words, that the machine has a SPICE
 * display: the helper gives it a display (and a thumbnail) from that, and
 * a file without one would depend on the reader's default */
static void
assert_display_spice (VivMachine *machine)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (viv_machine_get_directory (machine),
                                            VIV_MACHINE_CONFIG_FILE_NAME, NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object;
  JsonObject *display;

  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_object_has_member (object, "display"));
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_object_get_member (object, "display")));
  display = json_object_get_object_member (object, "display");
  g_assert_cmpstr (json_object_get_string_member_with_default (display, "kind", NULL), ==,
                   "spice");
}

/* Nothing but machine folders: no staging folder left */
static void
assert_no_leftovers (Fixture *f,
                     guint    n_machines)
{
  g_autoptr(GDir) dir = g_dir_open (f->machines_dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (strcmp (name, ".deleted") == 0)
        continue;
      g_assert_false (g_str_has_prefix (name, "."));
      n++;
    }
  g_assert_cmpuint (n, ==, n_machines);
}

/* qemu-img agrees on the format and size */
static char *
disk_path (VivMachine       *machine,
           VivMachineConfig *config,
           guint             i)
{
  const VivDiskConfig *disk = g_ptr_array_index (config->disks, i);

  return viv_machine_config_resolve_path (viv_machine_get_directory (machine), disk->path);
}

static void
test_create_iso_kernel (Fixture       *f,
                        gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMedia) media = NULL;
  g_autoptr(VivMachineCreator) creator = NULL;
  g_autoptr(VivMachine) machine = NULL;
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *name = NULL;
  const VivMediaConfig *cdrom;
  const VivDiskConfig *disk_config;
  Watch watch = { 0 };

  NEED_ISOS ();
  media = detect_ok (iso_debian11);
  creator = viv_machine_creator_new (f->library);
  viv_machine_creator_set_iso (creator, media, TRUE);
  g_assert_cmpint (viv_machine_creator_get_source (creator), ==, VIV_CREATOR_SOURCE_ISO_KERNEL);
  g_assert_null (viv_machine_creator_get_warning (creator));
  name = viv_machine_creator_dup_name (creator);
  g_assert_cmpstr (name, ==, "Debian 11");
  /* The OS's proposal, within the host */
  g_assert_cmpuint (viv_machine_creator_get_memory (creator), <=, viv_host_get_memory () / 2);
  g_assert_cmpuint (viv_machine_creator_get_disk_size (creator), ==, 20 * GIB);
  viv_machine_creator_set_memory (creator, 512 * MIB);
  viv_machine_creator_set_cpus (creator, 1);
  viv_machine_creator_set_disk_size (creator, 3 * GIB);
  /* Nothing written yet */
  assert_no_leftovers (f, 0);

  machine = create (creator, NULL, &watch, &error);
  g_assert_no_error (error);
  g_assert_nonnull (machine);
  g_assert_true (viv_library_find (f->library, viv_machine_get_uuid (machine)) == machine);
  g_assert_cmpuint (watch.progress_notes, >, 0);
  g_assert_true (watch.stage_seen);
  g_assert_false (viv_machine_creator_get_progress (creator) > 0);   /* reset when done */

  config = load_config (machine);
  g_assert_cmpstr (config->name, ==, "Debian 11");
  g_assert_cmpstr (config->uuid, ==, viv_machine_get_uuid (machine));
  g_assert_cmpstr (config->osinfo, ==, "http://debian.org/debian/11");
  g_assert_cmpuint (config->memory, ==, 512 * MIB);
  g_assert_cmpuint (config->cpus, ==, 1);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_KERNEL);
  g_assert_cmpstr (config->boot.kernel, ==, "vmlinuz");
  g_assert_cmpstr (config->boot.initrd, ==, "initrd.gz");
  g_assert_null (config->boot.cmdline);
  g_assert_cmpuint (config->media->len, ==, 1);
  cdrom = g_ptr_array_index (config->media, 0);
  g_assert_cmpstr (cdrom->path, ==, iso_debian11);
  g_assert_cmpint (cdrom->kind, ==, VIV_MEDIA_KIND_CDROM);
  g_assert_cmpuint (config->disks->len, ==, 1);
  disk_config = g_ptr_array_index (config->disks, 0);
  g_assert_cmpstr (disk_config->path, ==, "disk.qcow2");
  g_assert_cmpint (disk_config->format, ==, VIV_DISK_FORMAT_QCOW2);
  g_assert_cmpint (config->display.kind, ==, VIV_DISPLAY_KIND_SPICE);
  assert_display_spice (machine);
  g_assert_true (viv_machine_config_validate_files (config, viv_machine_get_directory (machine),
                                                    &error));
  g_assert_no_error (error);

  kernel = g_build_filename (viv_machine_get_directory (machine), "vmlinuz", NULL);
  initrd = g_build_filename (viv_machine_get_directory (machine), "initrd.gz", NULL);
  assert_same_file (kernel, netboot_kernel);
  assert_same_file (initrd, netboot_initrd);
  disk = disk_path (machine, config, 0);
  viv_test_check_with_qemu_img (disk, "qcow2", 3 * GIB);
  /* machine.json, the disk, the kernel and the initrd */
  g_assert_cmpuint (count_entries (viv_machine_get_directory (machine)), ==, 4);
  assert_no_leftovers (f, 1);
}

static void
test_create_iso_firmware (Fixture       *f,
                          gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMedia) media = NULL;
  g_autoptr(VivMachineCreator) creator = NULL;
  g_autoptr(VivMachine) machine = NULL;
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *disk = NULL;
  const VivMediaConfig *cdrom;
  VivOsResources resources;

  NEED_ISOS ();
  media = detect_ok (iso_debian12);
  creator = viv_machine_creator_new (f->library);
  viv_machine_creator_set_iso (creator, media, FALSE);
  /* The firmware starts it: nothing to warn about */
  g_assert_null (viv_machine_creator_get_warning (creator));

  machine = create (creator, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (machine);

  config = load_config (machine);
  viv_os_get_resources (find_os ("debian11"), &resources);
  g_assert_cmpstr (config->name, ==, "Debian 12");
  g_assert_cmpstr (config->osinfo, ==, "http://debian.org/debian/11");
  g_assert_cmpuint (config->memory, ==, resources.memory);
  g_assert_cmpuint (config->cpus, ==, resources.cpus);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_FIRMWARE);
  g_assert_cmpint (config->boot.firmware, ==, VIV_FIRMWARE_BIOS);
  g_assert_null (config->boot.kernel);
  g_assert_cmpuint (config->media->len, ==, 1);
  cdrom = g_ptr_array_index (config->media, 0);
  g_assert_cmpstr (cdrom->path, ==, iso_debian12);
  g_assert_true (cdrom->inserted);
  g_assert_cmpuint (config->disks->len, ==, 1);
  /* Debian has virtio-blk drivers; BIOS (above), as it does not need UEFI */
  g_assert_cmpint (((VivDiskConfig *) g_ptr_array_index (config->disks, 0))->bus, ==,
                   VIV_DISK_BUS_VIRTIO);
  disk = disk_path (machine, config, 0);
  viv_test_check_with_qemu_img (disk, "qcow2", resources.disk);
  /* No boot files copied */
  g_assert_cmpuint (count_entries (viv_machine_get_directory (machine)), ==, 2);
  assert_no_leftovers (f, 1);
}

/* A qcow2 with data at two places, and a sparse raw image */
static char *
make_qcow2 (const char *name)
{
  g_autofree char *path = g_build_filename (root, name, NULL);
  struct vmm_block_create_opts opts = {
    .path = path, .format = VMM_BLOCK_FORMAT_QCOW2, .size = 256 * MIB,
  };
  struct vmm_block_open_opts open_opts = { .path = path, .format = VMM_BLOCK_FORMAT_QCOW2 };
  struct vmm_block *block = NULL;
  char data[4096];
  struct iovec iov = { data, sizeof data };
  GError *reason = NULL;

  g_remove (path);
  g_assert_cmpint (vmm_block_create (&opts, &reason), ==, 0);
  g_assert_cmpint (vmm_block_open (&block, &open_opts, &reason), ==, 0);
  memset (data, 0xa5, sizeof data);
  g_assert_cmpint (vmm_block_pwritev (block, &iov, 1, 0), ==, 0);
  memset (data, 0x5a, sizeof data);
  g_assert_cmpint (vmm_block_pwritev (block, &iov, 1, 200 * MIB), ==, 0);
  g_assert_cmpint (vmm_block_close (block), ==, 0);
  return g_steal_pointer (&path);
}

static char *
make_raw (const char *name)
{
  g_autofree char *path = g_build_filename (root, name, NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  char data[8192];

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, 64 * MIB), ==, 0);
  memset (data, 0x11, sizeof data);
  g_assert_cmpint (pwrite (fd, data, sizeof data, 0), ==, sizeof data);
  memset (data, 0x22, sizeof data);
  g_assert_cmpint (pwrite (fd, data, sizeof data, 40 * MIB), ==, sizeof data);
  close (fd);
  return g_steal_pointer (&path);
}

static void
test_create_disk_image (Fixture       *f,
                        gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *qcow2 = make_qcow2 ("cloud-image.qcow2");
  g_autofree char *raw = make_raw ("old-disk.img");
  struct {
    const char     *source;
    VivDiskImport   import;
    const char     *expected_path;   /* NULL: the source's */
    VivDiskFormat   format;
    const char     *qemu_format;
    guint64         size;
    const char     *name;
  } cases[] = {
    { qcow2, VIV_DISK_IMPORT_COPY, "disk.qcow2", VIV_DISK_FORMAT_QCOW2, "qcow2", 256 * MIB,
      "Cloud image" },
    { raw, VIV_DISK_IMPORT_COPY, "disk.img", VIV_DISK_FORMAT_RAW, "raw", 64 * MIB, "Old disk" },
    { qcow2, VIV_DISK_IMPORT_REFERENCE, NULL, VIV_DISK_FORMAT_QCOW2, "qcow2", 256 * MIB,
      "Cloud image (2)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
      g_autoptr(VivMachine) machine = NULL;
      g_autoptr(VivMachineConfig) config = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *disk = NULL;
      const VivDiskConfig *disk_config;
      struct stat st_source, st_copy;

      viv_machine_creator_set_disk_image (creator, cases[i].source, cases[i].import);
      viv_machine_creator_set_memory (creator, 256 * MIB);
      g_assert_cmpuint (viv_machine_creator_get_disk_size (creator), ==, 0);
      /* Using it where it is warns; a copy is the machine's own */
      if (cases[i].import == VIV_DISK_IMPORT_REFERENCE)
        g_assert_nonnull (strstr (viv_machine_creator_get_warning (creator), "where it is"));
      else
        g_assert_null (viv_machine_creator_get_warning (creator));

      machine = create (creator, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (machine);
      config = load_config (machine);
      g_assert_cmpstr (config->name, ==, cases[i].name);
      g_assert_null (config->osinfo);
      g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_DISK);
      g_assert_cmpuint (config->media->len, ==, 0);
      g_assert_cmpuint (config->disks->len, ==, 1);
      disk_config = g_ptr_array_index (config->disks, 0);
      g_assert_cmpstr (disk_config->path, ==,
                       cases[i].expected_path != NULL ? cases[i].expected_path : cases[i].source);
      g_assert_cmpint (disk_config->format, ==, cases[i].format);

      disk = disk_path (machine, config, 0);
      if (cases[i].import == VIV_DISK_IMPORT_COPY)
        {
          assert_same_file (disk, cases[i].source);
          /* Holes kept */
          g_assert_cmpint (g_stat (disk, &st_copy), ==, 0);
          g_assert_cmpint (g_stat (cases[i].source, &st_source), ==, 0);
          g_assert_cmpint (st_copy.st_blocks, <=, st_source.st_blocks + 64);
        }
      viv_test_check_with_qemu_img (disk, cases[i].qemu_format, cases[i].size);
      assert_no_leftovers (f, i + 1);
    }
}

static void
test_create_kernel (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
  g_autoptr(VivMachine) machine = NULL;
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = g_build_filename (root, "no-kernel", NULL);

  if (!g_file_test (netboot_kernel, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip (NETBOOT_DIR " is missing");
      return;
    }

  viv_machine_creator_set_kernel (creator, netboot_kernel, netboot_initrd, "console=ttyS0");
  viv_machine_creator_set_os (creator, find_os ("debian11"));
  viv_machine_creator_set_disk_size (creator, 0);
  viv_machine_creator_set_name (creator, "My kernel");

  machine = create (creator, NULL, NULL, &error);
  g_assert_no_error (error);
  config = load_config (machine);
  g_assert_cmpstr (config->name, ==, "My kernel");
  g_assert_cmpstr (config->osinfo, ==, "http://debian.org/debian/11");
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_KERNEL);
  g_assert_cmpstr (config->boot.kernel, ==, netboot_kernel);
  g_assert_cmpstr (config->boot.initrd, ==, netboot_initrd);
  g_assert_cmpstr (config->boot.cmdline, ==, "console=ttyS0");
  g_assert_cmpuint (config->disks->len, ==, 0);
  g_assert_cmpuint (config->media->len, ==, 0);
  g_assert_cmpuint (count_entries (viv_machine_get_directory (machine)), ==, 1);
  assert_display_spice (machine);
  g_clear_object (&machine);

  /* A kernel that is not there: nothing made */
  viv_machine_creator_set_kernel (creator, missing, NULL, NULL);
  viv_machine_creator_set_disk_size (creator, GIB);
  machine = create (creator, NULL, NULL, &error);
  g_assert_null (machine);
  assert_error_names_file (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, missing);
  assert_no_leftovers (f, 1);
}

/* An OS from the list and nothing else: an empty disk, the firmware boots */
static void
test_create_blank (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
  g_autoptr(VivMachine) machine = NULL;
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *name = NULL;
  VivOsResources resources;

  viv_machine_creator_set_os (creator, find_os ("debian11"));
  viv_machine_creator_set_blank (creator);
  g_assert_cmpint (viv_machine_creator_get_source (creator), ==, VIV_CREATOR_SOURCE_BLANK);
  g_assert_null (viv_machine_creator_get_warning (creator));
  name = viv_machine_creator_dup_name (creator);
  g_assert_cmpstr (name, ==, "Debian 11");
  viv_os_get_resources (find_os ("debian11"), &resources);
  g_assert_cmpuint (viv_machine_creator_get_disk_size (creator), ==, resources.disk);

  machine = create (creator, NULL, NULL, &error);
  g_assert_no_error (error);
  config = load_config (machine);
  g_assert_cmpstr (config->name, ==, "Debian 11");
  g_assert_cmpstr (config->osinfo, ==, "http://debian.org/debian/11");
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_FIRMWARE);
  g_assert_cmpint (config->boot.firmware, ==, VIV_FIRMWARE_BIOS);
  g_assert_cmpuint (config->media->len, ==, 0);
  g_assert_cmpuint (config->disks->len, ==, 1);
  g_assert_cmpint (config->display.kind, ==, VIV_DISPLAY_KIND_SPICE);
  assert_display_spice (machine);
  disk = disk_path (machine, config, 0);
  viv_test_check_with_qemu_img (disk, "qcow2", resources.disk);
  assert_no_leftovers (f, 1);
}

/* The copy's progress counts bytes: done of the image's size */
static void
test_create_progress_bytes (Fixture       *f,
                            gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *raw = make_raw ("counted.img");
  g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
  g_autoptr(VivMachine) machine = NULL;
  g_autoptr(GError) error = NULL;
  Watch watch = { 0 };
  struct stat st;

  g_assert_cmpint (g_stat (raw, &st), ==, 0);
  viv_machine_creator_set_disk_image (creator, raw, VIV_DISK_IMPORT_COPY);
  g_assert_cmpuint (viv_machine_creator_get_bytes_total (creator), ==, 0);
  g_assert_cmpint (viv_machine_creator_get_seconds_left (creator), ==, -1);
  machine = create (creator, NULL, &watch, &error);
  g_assert_no_error (error);
  g_assert_nonnull (machine);

  g_assert_cmpuint (watch.bytes_total, ==, (guint64) st.st_size);
  g_assert_cmpuint (watch.bytes_done, >, 0);
  g_assert_false (watch.bytes_backwards);
  g_assert_false (watch.bytes_over);
  /* reset when done */
  g_assert_cmpuint (viv_machine_creator_get_bytes_done (creator), ==, 0);
  g_assert_cmpuint (viv_machine_creator_get_bytes_total (creator), ==, 0);
  g_assert_cmpint (viv_machine_creator_get_seconds_left (creator), ==, -1);
}

/* Time left from the rate so far, once the rate means something */
static void
test_create_seconds_left (void)
{
  const gint64 s = G_USEC_PER_SEC;

  /* the first seconds, or the first percent: not yet */
  g_assert_cmpint (viv_machine_creator_estimate_seconds_left (500 * MIB, GIB, 1 * s), ==, -1);
  g_assert_cmpint (viv_machine_creator_estimate_seconds_left (0, GIB, 60 * s), ==, -1);
  g_assert_cmpint (viv_machine_creator_estimate_seconds_left (MIB, GIB, 60 * s), ==, -1);
  /* a quarter in 30 s: 90 s to go; rounded up */
  g_assert_cmpint (viv_machine_creator_estimate_seconds_left (GIB / 4, GIB, 30 * s), ==, 90);
  g_assert_cmpint (viv_machine_creator_estimate_seconds_left (GIB / 4, GIB, 30 * s + 1), ==,
                   91);
  /* done */
  g_assert_cmpint (viv_machine_creator_estimate_seconds_left (GIB, GIB, 0), ==, 0);
}

/* While the creator works in its staging folder it holds the folder's
 * lock: a library loading meanwhile (another app instance) leaves it */
typedef struct
{
  char  *machines_dir;
  guint  checks;
  guint  held;
} LockCheck;

static gboolean
check_staging_locked (const char  *step,
                      gpointer     user_data,
                      GError     **error G_GNUC_UNUSED)
{
  LockCheck *check = user_data;
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (strcmp (step, "copy") != 0 && strcmp (step, "config") != 0 &&
      strcmp (step, "commit") != 0)
    return TRUE;
  dir = g_dir_open (check->machines_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      int fd;

      if (!g_str_has_prefix (name, VIV_LIBRARY_STAGING_PREFIX))
        continue;
      path = g_build_filename (check->machines_dir, name, NULL);
      check->checks++;
      fd = viv_library_lock_staging (path);
      if (fd == -EWOULDBLOCK)
        check->held++;
      else if (fd >= 0)
        close (fd);
    }
  return TRUE;
}

static void
test_create_staging_lock (Fixture       *f,
                          gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *raw = make_raw ("locked.img");
  g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
  g_autoptr(VivMachine) machine = NULL;
  g_autoptr(GError) error = NULL;
  LockCheck check = { f->machines_dir, 0, 0 };
  g_autofree char *lock = NULL;

  viv_machine_creator_set_disk_image (creator, raw, VIV_DISK_IMPORT_COPY);
  viv_machine_creator_set_test_hook (creator, check_staging_locked, &check);
  machine = create (creator, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (machine);
  g_assert_cmpuint (check.checks, ==, 3);
  g_assert_cmpuint (check.held, ==, 3);
  /* The lock's file does not come along into the machine's folder */
  lock = g_build_filename (viv_machine_get_directory (machine), VIV_LIBRARY_STAGING_LOCK, NULL);
  g_assert_false (g_file_test (lock, G_FILE_TEST_EXISTS));
  assert_no_leftovers (f, 1);
}

typedef struct
{
  const char   *fail_at;     /* the step that fails */
  GCancellable *cancel_at_progress;
  guint         progress_calls;
} Injection;

static gboolean
inject (const char  *step,
        gpointer     user_data,
        GError     **error)
{
  Injection *injection = user_data;

  if (strcmp (step, "progress") == 0)
    {
      injection->progress_calls++;
      /* Mid-way through the copy of the boot files */
      if (injection->cancel_at_progress != NULL && injection->progress_calls == 3)
        g_cancellable_cancel (injection->cancel_at_progress);
    }
  if (injection->fail_at != NULL && strcmp (step, injection->fail_at) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "Injected failure at %s", step);
      return FALSE;
    }
  return TRUE;
}

/* A test hook is its creator's: another one, creating at the same time,
 * does not see it, and a hook set once a creation started is not that
 * creation's */
static void
test_create_hook_per_creator (Fixture       *f,
                              gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineCreator) failing = viv_machine_creator_new (f->library);
  g_autoptr(VivMachineCreator) plain = viv_machine_creator_new (f->library);
  g_autoptr(GAsyncResult) failing_result = NULL;
  g_autoptr(GAsyncResult) plain_result = NULL;
  g_autoptr(VivMachine) failed = NULL;
  g_autoptr(VivMachine) created = NULL;
  g_autoptr(GError) error = NULL;
  Injection injection = { .fail_at = "config" };
  Injection late = { .fail_at = "config" };

  viv_machine_creator_set_blank (failing);
  viv_machine_creator_set_name (failing, "Failing");
  viv_machine_creator_set_disk_size (failing, 0);
  viv_machine_creator_set_test_hook (failing, inject, &injection);
  viv_machine_creator_set_blank (plain);
  viv_machine_creator_set_name (plain, "Plain");
  viv_machine_creator_set_disk_size (plain, 0);

  viv_machine_creator_create_async (failing, NULL, viv_test_store_result, &failing_result);
  viv_machine_creator_create_async (plain, NULL, viv_test_store_result, &plain_result);
  /* too late for the creation under way */
  viv_machine_creator_set_test_hook (plain, inject, &late);

  failed = viv_machine_creator_create_finish (failing, viv_test_wait_result (&failing_result),
                                              &error);
  g_assert_null (failed);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  created = viv_machine_creator_create_finish (plain, viv_test_wait_result (&plain_result),
                                               &error);
  g_assert_no_error (error);
  g_assert_nonnull (created);
  g_assert_cmpstr (viv_machine_get_name (created), ==, "Plain");
  assert_no_leftovers (f, 1);
}

static void
test_create_failures (Fixture       *f,
                      gconstpointer  data G_GNUC_UNUSED)
{
  const char *steps[] = { "folder", "disk", "boot-files", "progress", "config", "commit" };
  g_autoptr(VivMedia) media = NULL;

  NEED_ISOS ();
  media = detect_ok (iso_debian11);

  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
      g_autoptr(GError) error = NULL;
      Injection injection = { .fail_at = steps[i] };
      VivMachine *machine;

      viv_machine_creator_set_iso (creator, media, TRUE);
      viv_machine_creator_set_disk_size (creator, GIB);
      viv_machine_creator_set_test_hook (creator, inject, &injection);
      machine = create (creator, NULL, NULL, &error);
      g_assert_null (machine);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
      g_test_message ("failure at %s: %s", steps[i], error->message);
      assert_no_leftovers (f, 0);
      g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);
    }

  /* Cancelled mid-way through the extraction */
  {
    g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();
    g_autoptr(GError) error = NULL;
    Injection injection = { .cancel_at_progress = cancellable };
    VivMachine *machine;

    viv_machine_creator_set_iso (creator, media, TRUE);
    viv_machine_creator_set_test_hook (creator, inject, &injection);
    machine = create (creator, cancellable, NULL, &error);
    g_assert_null (machine);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpuint (injection.progress_calls, >=, 3);
    assert_no_leftovers (f, 0);
  }

  /* Direct kernel boot of a disc whose kernel is not known */
  {
    g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
    g_autoptr(VivMedia) unknown = detect_ok (iso_unknown);
    g_autoptr(GError) error = NULL;
    VivMachine *machine;

    viv_machine_creator_set_iso (creator, unknown, TRUE);
    machine = create (creator, NULL, NULL, &error);
    g_assert_null (machine);
    assert_error_names_file (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NO_BOOT_FILES, iso_unknown);
    assert_no_leftovers (f, 0);
  }

  /* Memory the configuration refuses: nothing written either */
  {
    g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
    g_autoptr(GError) error = NULL;
    VivMachine *machine;

    viv_machine_creator_set_iso (creator, media, FALSE);
    viv_machine_creator_set_memory (creator, 1024);
    machine = create (creator, NULL, NULL, &error);
    g_assert_null (machine);
    g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
    assert_no_leftovers (f, 0);
  }
}

static void
test_unique_names (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  const char *taken[] = { "Debian 12", "debian 12 (2)", "Fedora", NULL };
  g_autofree char *a = viv_machine_make_unique_name ("Debian 12", taken);
  g_autofree char *b = viv_machine_make_unique_name ("Fedora 39", taken);
  g_autofree char *c = viv_machine_make_unique_name ("fedora", taken);
  g_autoptr(VivMedia) media = NULL;
  const char *expected[] = { "Debian 12", "Debian 12 (2)", "Debian 12 (3)" };

  g_assert_cmpstr (a, ==, "Debian 12 (3)");
  g_assert_cmpstr (b, ==, "Fedora 39");
  g_assert_cmpstr (c, ==, "fedora (2)");

  NEED_ISOS ();
  media = detect_ok (iso_debian12);
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
      g_autoptr(VivMachine) machine = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *name = NULL;

      viv_machine_creator_set_iso (creator, media, FALSE);
      viv_machine_creator_set_disk_size (creator, 0);
      name = viv_machine_creator_dup_name (creator);
      g_assert_cmpstr (name, ==, expected[i]);
      machine = create (creator, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (viv_machine_get_name (machine), ==, expected[i]);
    }
  assert_no_leftovers (f, G_N_ELEMENTS (expected));
}

/* Issue 15: a name from the OS when known, else from the file's name, never
 * from the disc's volume label ("SOMETHING_ELSE", "ISOIMAGE"), and one
 * for a kernel too, not "New Machine" */
static void
test_proposed_names (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  static const struct { const char *file; const char *name; } files[] = {
    { "/tmp/debian-12.5.0-amd64_netinst.iso", "Debian 12.5.0 amd64 netinst" },
    { "/tmp/my__cloud--image.qcow2", "My cloud image" },
    { "/boot/vmlinuz-6.1.0-13-amd64", "Vmlinuz 6.1.0 13 amd64" },
    { "/tmp/bzImage", "BzImage" },
    { "/tmp/--.img", NULL },
  };
  g_autoptr(VivMedia) media = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *name = viv_machine_name_from_file (files[i].file);

      g_assert_cmpstr (name, ==, files[i].name);
    }

  {
    g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
    g_autofree char *name = NULL;
    g_autofree char *chosen = NULL;

    viv_machine_creator_set_kernel (creator, "/boot/vmlinuz-6.1.0-13-amd64", NULL, NULL);
    name = viv_machine_creator_dup_name (creator);
    g_assert_cmpstr (name, ==, "Vmlinuz 6.1.0 13 amd64");
    viv_machine_creator_set_os (creator, find_os ("debian11"));
    chosen = viv_machine_creator_dup_name (creator);
    g_assert_cmpstr (chosen, ==, "Debian 11");
  }
  {
    g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
    g_autofree char *name = NULL;

    viv_machine_creator_set_disk_image (creator, "/tmp/my_cloud-image.qcow2",
                                        VIV_DISK_IMPORT_COPY);
    name = viv_machine_creator_dup_name (creator);
    g_assert_cmpstr (name, ==, "My cloud image");
  }

  NEED_ISOS ();
  media = detect_ok (iso_unknown);
  g_assert_cmpint (viv_media_get_os_match (media), ==, VIV_MEDIA_OS_UNKNOWN);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
      g_autoptr(VivMachine) machine = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *name = NULL;

      viv_machine_creator_set_iso (creator, media, FALSE);
      viv_machine_creator_set_disk_size (creator, 0);
      name = viv_machine_creator_dup_name (creator);
      /* "something.iso", labelled "SOMETHING_ELSE" */
      g_assert_cmpstr (name, ==, i == 0 ? "Something" : "Something (2)");
      machine = create (creator, NULL, NULL, &error);
      g_assert_no_error (error);
    }
}

/* Issue 15: an image on a read-only file system, used where it is, failed
 * at every start ("Read-only file system"): now said when it is chosen and
 * refused at creation; copied, it is fine */
static void
test_read_only_image (Fixture       *f,
                      gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *dir = g_build_filename (root, "read-only", NULL);
  g_autofree char *image = NULL;
  g_autofree char *reason = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  image = make_qcow2 ("read-only/image.qcow2");
  g_assert_true (viv_machine_check_image_writable (image, &error));
  g_assert_no_error (error);
  if (!viv_test_mount_read_only (dir, &reason))
    {
      g_test_skip (reason);
      return;
    }

  g_assert_false (viv_machine_check_image_writable (image, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
  g_clear_error (&error);
  {
    g_autoptr(GAsyncResult) result = NULL;

    viv_machine_check_image_writable_async (image, NULL, viv_test_store_result, &result);
    g_assert_false (viv_machine_check_image_writable_finish (viv_test_wait_result (&result),
                                                             &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
    g_clear_error (&error);
  }

  /* Used where it is: refused, and nothing left behind */
  {
    g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
    g_autoptr(VivMachine) machine = NULL;

    viv_machine_creator_set_disk_image (creator, image, VIV_DISK_IMPORT_REFERENCE);
    machine = create (creator, NULL, NULL, &error);
    g_assert_null (machine);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
    g_clear_error (&error);
    assert_no_leftovers (f, 0);
  }
  /* Copied: the copy is the machine's, and writable */
  {
    g_autoptr(VivMachineCreator) creator = viv_machine_creator_new (f->library);
    g_autoptr(VivMachine) machine = NULL;

    viv_machine_creator_set_disk_image (creator, image, VIV_DISK_IMPORT_COPY);
    machine = create (creator, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (machine);
    assert_no_leftovers (f, 1);
  }
  g_assert_cmpint (umount2 (dir, MNT_DETACH), ==, 0);
}

/* ---- main -------------------------------------------------------------------------- */

/* A FIFO blocks open() until someone writes to it: refused before it is
 * opened, and detection goes on working afterwards; a cancelled detection
 * answers at once */
static void
test_detect_not_regular (void)
{
  g_autofree char *fifo = g_build_filename (root, "fifo.iso", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (fifo);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  VivMedia *media;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  media = detect (fifo, &error);
  g_assert_null (media);
  assert_error_names_file (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, fifo);
  g_clear_error (&error);

  media = viv_media_detect (file, NULL, &error);
  g_assert_null (media);
  assert_error_names_file (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, fifo);
  g_clear_error (&error);

  g_cancellable_cancel (cancellable);
  viv_media_detect_async (file, cancellable, viv_test_store_result, &result);
  media = viv_media_detect_finish (viv_test_wait_result (&result), &error);
  g_assert_null (media);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_unlink (fifo);

  if (iso_debian11 != NULL)
    {
      g_autoptr(VivMedia) valid = detect_ok (iso_debian11);

      g_assert_nonnull (valid);
    }
}

int
main (int   argc,
      char *argv[])
{
  int status;

  viv_test_private_mounts ();
  root = viv_test_init (&argc, &argv);
  data_home = g_build_filename (root, "data", NULL);

  make_isos ();
  if (iso_debian11 == NULL)
    g_printerr ("# SKIP: the ISO tests skip: %s\n", no_isos_reason);

  g_test_add_func ("/media/detect/identified", test_detect_identified);
  g_test_add_func ("/media/detect/newer-than-db", test_detect_newer);
  g_test_add_func ("/media/detect/unknown", test_detect_unknown);
  g_test_add_func ("/media/detect/errors", test_detect_errors);
  g_test_add_func ("/media/detect/not-regular", test_detect_not_regular);
  g_test_add_func ("/media/extract/identical", test_extract);
  g_test_add_func ("/media/extract/cancel", test_extract_cancel);
  g_test_add_func ("/media/extract/names", test_extract_names);
  g_test_add_func ("/media/extract/missing", test_extract_missing);
  g_test_add_func ("/media/catalog/search", test_catalog_search);
  g_test_add_func ("/media/catalog/names", test_catalog_names);
  g_test_add_func ("/media/catalog/default", test_catalog_default);
  g_test_add_func ("/media/catalog/resources", test_catalog_resources);
  g_test_add_func ("/media/catalog/free-space", test_free_space);
#define ADD(name, fn) g_test_add ("/media/creator/" name, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("iso-kernel", test_create_iso_kernel);
  ADD ("iso-firmware", test_create_iso_firmware);
  ADD ("disk-image", test_create_disk_image);
  ADD ("kernel", test_create_kernel);
  ADD ("blank", test_create_blank);
  ADD ("failures", test_create_failures);
  ADD ("hook-per-creator", test_create_hook_per_creator);
  ADD ("unique-names", test_unique_names);
  ADD ("proposed-names", test_proposed_names);
  ADD ("read-only-image", test_read_only_image);
  ADD ("progress-bytes", test_create_progress_bytes);
  ADD ("staging-lock", test_create_staging_lock);
#undef ADD
  g_test_add_func ("/media/creator/seconds-left", test_create_seconds_left);

  status = g_test_run ();

  viv_os_db_shutdown ();
  g_free (iso_debian11);
  g_free (iso_debian12);
  g_free (iso_unknown);
  g_free (no_isos_reason);
  g_free (data_home);
  viv_test_finish (root);
  return status;
}
