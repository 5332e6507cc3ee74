/* test-log.c: the engine's log file and its rotation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/log/rotate-on-open", test_rotate_on_open);
  g_test_add_func ("/log/rotate-on-size", test_rotate_on_size);
  g_test_add_func ("/log/open-fails", test_open_fails);
  return g_test_run ();
}
