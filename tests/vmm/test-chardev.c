/* test-chardev.c: opening the built-in character backends, and what they
 * say when they cannot (src/vmm/devices/chardev.c), without a guest
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/chardev.h"
#include "loop.h"
#include "vmm-test.h"

typedef struct {
  struct vmm_loop loop;
  char *dir;
} Fixture;

static size_t
no_space (void *opaque)
{
  (void) opaque;
  return 0;
}

static const struct vmm_chardev_events events = { .input_space = no_space };

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  g_assert_cmpint (vmm_loop_init (&f->loop), ==, 0);
  f->dir = vmm_test_make_dir ("test-chardev-XXXXXX");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  vmm_loop_destroy (&f->loop);
  vmm_test_remove_dir (f->dir);
  g_free (f->dir);
}

static struct vmm_chardev *
open_spec (Fixture *f, enum vmm_chardev_kind kind, const char *path, GError **error)
{
  struct vmm_chardev_spec spec = { .kind = kind, .path = path };

  return vmm_chardev_open (&spec, &f->loop, &events, f, error);
}

/* A socket is bound and listening once opened, and gone once closed. */
static void
test_socket (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "c.sock", NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct vmm_chardev *chr;
  struct stat st;
  int fd;

  (void) data;
  chr = open_spec (f, VMM_CHARDEV_SOCKET, path, NULL);
  g_assert_nonnull (chr);
  g_assert_false (vmm_chardev_connected (chr));
  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  memcpy (addr.sun_path, path, strlen (path) + 1);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  close (fd);
  vmm_chardev_close (chr);
  g_assert_cmpint (lstat (path, &st), <, 0);
}

static void
test_file (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "out.log", NULL);
  g_autofree char *text = NULL;
  struct vmm_chardev *chr;

  (void) data;
  chr = open_spec (f, VMM_CHARDEV_FILE, path, NULL);
  g_assert_nonnull (chr);
  g_assert_true (vmm_chardev_connected (chr));
  g_assert_cmpuint (vmm_chardev_write (chr, "hello", 5), ==, 5);
  vmm_chardev_close (chr);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "hello");
  g_unlink (path);
}

/* What cannot be opened says why, with the errno as a G_IO_ERROR code. */
static void
test_errors (Fixture *f, gconstpointer data)
{
  g_autofree char *plain = g_build_filename (f->dir, "plain", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "no", "such", "file", NULL);
  g_autofree char *live = g_build_filename (f->dir, "live.sock", NULL);
  g_autofree char *long_path = g_strnfill (200, 'x');
  g_autofree char *expected = NULL;
  g_autoptr(GError) error = NULL;
  struct vmm_chardev *chr, *other;

  (void) data;
  g_assert_true (g_file_set_contents (plain, "", 0, NULL));
  g_assert_null (open_spec (f, VMM_CHARDEV_SOCKET, plain, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  expected = g_strdup_printf ("%s exists and is not a socket", plain);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_clear_pointer (&expected, g_free);
  g_unlink (plain);

  g_assert_null (open_spec (f, VMM_CHARDEV_FILE, missing, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  expected = g_strdup_printf ("cannot create %s: %s", missing, g_strerror (ENOENT));
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_clear_pointer (&expected, g_free);

  g_assert_null (open_spec (f, VMM_CHARDEV_SOCKET, "", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "no socket path");
  g_clear_error (&error);

  g_assert_null (open_spec (f, VMM_CHARDEV_SOCKET, long_path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG);
  expected = g_strdup_printf ("the socket path %s is too long", long_path);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);
  g_clear_pointer (&expected, g_free);

  /* A socket someone listens on is theirs. */
  chr = open_spec (f, VMM_CHARDEV_SOCKET, live, NULL);
  g_assert_nonnull (chr);
  other = open_spec (f, VMM_CHARDEV_SOCKET, live, &error);
  g_assert_null (other);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  expected = g_strdup_printf ("another process listens on %s", live);
  g_assert_cmpstr (error->message, ==, expected);
  vmm_chardev_close (chr);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/chardev/socket", Fixture, NULL, fixture_set_up, test_socket, fixture_tear_down);
  g_test_add ("/chardev/file", Fixture, NULL, fixture_set_up, test_file, fixture_tear_down);
  g_test_add ("/chardev/errors", Fixture, NULL, fixture_set_up, test_errors, fixture_tear_down);

  return g_test_run ();
}
