/* test-log.c: the engine's log file and its rotation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "vmm-test.h"

static char *
read_file (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

/* Each start keeps the previous logs as .1, .2 ..., the oldest dropped. */
static void
test_rotate_on_open (void)
{
  g_autofree char *tmp = vmm_test_make_dir ("vivarium-log-XXXXXX");
  g_autofree char *dir = g_build_filename (tmp, "logs", NULL);

  for (int run = 0; run < 5; run++)
    {
      g_assert_cmpint (vmm_log_open_file (dir, "vmm.log", 0, 3), ==, 0);
      vmm_log_info ("run %d", run);
      vmm_log_close_file ();
    }
  {
    g_autofree char *now = read_file (dir, "vmm.log");
    g_autofree char *one = read_file (dir, "vmm.log.1");
    g_autofree char *three = read_file (dir, "vmm.log.3");
    g_autofree char *four = read_file (dir, "vmm.log.4");

    g_assert_nonnull (strstr (now, "run 4"));
    g_assert_null (strstr (now, "run 3"));
    g_assert_nonnull (strstr (one, "run 3"));
    g_assert_nonnull (strstr (three, "run 1"));
    g_assert_null (four);   /* KEEP is 3: run 0's file is gone */
  }
  vmm_test_remove_dir (dir);
  g_rmdir (tmp);
}

/* A file that grows past its size starts over, the old one as .1. */
static void
test_rotate_on_size (void)
{
  g_autofree char *tmp = vmm_test_make_dir ("vivarium-log-XXXXXX");
  g_autofree char *dir = g_build_filename (tmp, "logs", NULL);
  g_autofree char *now = NULL, *one = NULL, *two = NULL;
  GStatBuf st;
  g_autofree char *path = NULL;

  g_assert_cmpint (vmm_log_open_file (dir, "vmm.log", 4096, 2), ==, 0);
  for (int i = 0; i < 400; i++)
    vmm_log_info ("line %d with some words to fill the file up", i);
  vmm_log_close_file ();

  path = g_build_filename (dir, "vmm.log", NULL);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_size, <=, 4096);
  now = read_file (dir, "vmm.log");
  one = read_file (dir, "vmm.log.1");
  two = read_file (dir, "vmm.log.2");
  g_assert_nonnull (strstr (now, "line 399"));
  g_assert_nonnull (one);
  g_assert_nonnull (two);
  g_assert_null (read_file (dir, "vmm.log.3"));
  /* Nothing is lost between the current file and the one before it. */
  {
    const char *last_of_one = g_strrstr (one, "line ");
    int n = atoi (last_of_one + 5);
    g_autofree char *next = g_strdup_printf ("line %d ", n + 1);
    g_assert_nonnull (strstr (now, next));
  }
  vmm_test_remove_dir (dir);
  g_rmdir (tmp);
}

/* A folder that cannot be made: an error, and logging goes on to stderr. */
static void
test_open_fails (void)
{
  g_autofree char *tmp = vmm_test_make_dir ("vivarium-log-XXXXXX");
  g_autofree char *file = g_build_filename (tmp, "afile", NULL);
  g_autofree char *dir = g_build_filename (file, "logs", NULL);

  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  g_assert_cmpint (vmm_log_open_file (dir, "vmm.log", 0, 3), <, 0);
  vmm_log_info ("still logging");
  g_remove (file);
  g_rmdir (tmp);
}

/* stderr into a pipe (not a file: RLIMIT_FSIZE would stop it too), for
 * a test to read back with stderr_end; a test writes far less than a
 * pipe holds. */
static int
stderr_begin (int *saved)
{
  int fds[2];

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  *saved = dup (STDERR_FILENO);
  g_assert_cmpint (*saved, >=, 0);
  g_assert_cmpint (dup2 (fds[1], STDERR_FILENO), ==, STDERR_FILENO);
  close (fds[1]);
  return fds[0];
}

static char *
stderr_end (int fd, int saved)
{
  GString *text = g_string_new (NULL);
  char buf[4096];
  ssize_t n;

  g_assert_cmpint (dup2 (saved, STDERR_FILENO), ==, STDERR_FILENO);
  close (saved);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (text, buf, n);
  close (fd);
  return g_string_free (text, FALSE);
}

/* A log on a full disk (/dev/full answers every write with ENOSPC): the
 * lines go to stderr, after a note saying why, instead of nowhere. */
static void
test_full_target (void)
{
  int full = open ("/dev/full", O_WRONLY | O_CLOEXEC);
  int saved, err;
  g_autofree char *text = NULL;

  if (full < 0)
    {
      g_test_skip ("no /dev/full");
      return;
    }
  err = stderr_begin (&saved);
  vmm_log_set_fd (full);
  vmm_log_warning ("the last words %d", 1);
  vmm_log_warning ("the last words %d", 2);
  vmm_log_set_fd (-1);
  text = stderr_end (err, saved);
  close (full);

  g_test_message ("stderr: %s", text);
  g_assert_nonnull (strstr (text, "the last words 1"));
  g_assert_nonnull (strstr (text, "the last words 2"));
  g_assert_nonnull (strstr (text, "cannot write the log: No space left on device"));
  /* the note once, not once per line */
  g_assert_null (strstr (strstr (text, "cannot write the log") + 1, "cannot write the log"));
}

/* The log file itself cannot grow (RLIMIT_FSIZE: EFBIG, as a quota or a
 * full file system would stop it): what does not fit goes to stderr, and
 * when the file takes lines again, they go there again. */
static void
test_file_cannot_grow (void)
{
  g_autofree char *tmp = vmm_test_make_dir ("vivarium-log-XXXXXX");
  g_autofree char *dir = g_build_filename (tmp, "logs", NULL);
  g_autofree char *in_file = NULL, *text = NULL;
  g_autofree char *path = g_build_filename (dir, "vmm.log", NULL);
  struct rlimit old, small;
  GStatBuf st;
  struct sigaction ign = { .sa_handler = SIG_IGN }, old_sa;
  int err, saved;

  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &old), ==, 0);
  g_assert_cmpint (vmm_log_open_file (dir, "vmm.log", 0, 1), ==, 0);
  vmm_log_info ("fits in the file");

  sigaction (SIGXFSZ, &ign, &old_sa);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  small = old;
  small.rlim_cur = (rlim_t) st.st_size + 10;   /* no further line fits */
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &small), ==, 0);
  err = stderr_begin (&saved);
  for (int i = 0; i < 5; i++)
    vmm_log_info ("does not fit, line %d, padded to be longer than the limit allows", i);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &old), ==, 0);
  sigaction (SIGXFSZ, &old_sa, NULL);
  vmm_log_info ("fits again");
  text = stderr_end (err, saved);
  vmm_log_close_file ();

  in_file = read_file (dir, "vmm.log");
  g_test_message ("stderr: %s", text);
  g_assert_nonnull (strstr (in_file, "fits in the file"));
  g_assert_nonnull (strstr (in_file, "fits again"));
  for (int i = 0; i < 5; i++)
    {
      g_autofree char *want = g_strdup_printf ("does not fit, line %d,", i);
      g_assert_nonnull (strstr (text, want));
    }
  g_assert_nonnull (strstr (text, "cannot write the log: File too large"));
  vmm_test_remove_dir (dir);
  g_rmdir (tmp);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/log/rotate-on-open", test_rotate_on_open);
  g_test_add_func ("/log/rotate-on-size", test_rotate_on_size);
  g_test_add_func ("/log/open-fails", test_open_fails);
  g_test_add_func ("/log/full-target", test_full_target);
  g_test_add_func ("/log/file-cannot-grow", test_file_cannot_grow);
  return g_test_run ();
}
