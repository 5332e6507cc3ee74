/* test-kernel.c: whether a file is a kernel the engine boots (viv-kernel),
 * with the engine's message when it is not
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "viv-file.h"
#include "viv-kernel.h"
#include "viv-test-images.h"

static char *root;

/* Kernels the engine boots: a bzImage (Debian's netboot kernel) and a
 * PVH ELF (the probe guest) */
static void
test_kernels (void)
{
  const char *kernels[] = { VIV_TEST_NETBOOT_KERNEL, g_getenv ("VIVARIUM_PROBE_ELF") };
  guint checked = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (kernels); i++)
    {
      g_autoptr(GError) error = NULL;

      if (kernels[i] == NULL || !g_file_test (kernels[i], G_FILE_TEST_IS_REGULAR))
        continue;
      g_assert_true (viv_kernel_check (kernels[i], &error));
      g_assert_no_error (error);
      checked++;
    }
  if (checked == 0)
    g_test_skip ("neither Debian's netboot kernel nor the probe guest is there");
}

/* Anything else: refused with what the engine says at start */
static void
test_not_kernels (void)
{
  g_autofree char *text = g_build_filename (root, "notes.txt", NULL);
  g_autofree char *empty = g_build_filename (root, "empty", NULL);
  g_autofree char *elf = g_build_filename (root, "plain.elf", NULL);
  g_autofree char *fifo = g_build_filename (root, "fifo", NULL);
  g_autofree char *missing = g_build_filename (root, "missing", NULL);
  g_autofree char *expected = g_strdup_printf (_("Cannot boot %s: %s"), text,
                                               "not a kernel: neither a bzImage nor an ELF file");
  /* an ELF header and nothing else: no PVH note */
  static const guint8 elf_header[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
  g_autofree char *elf_prefix = g_strdup_printf (_("Cannot boot %s: %s"), elf, "");
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (text, "not a kernel\n", -1, NULL));
  g_assert_false (viv_kernel_check (text, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_false (viv_kernel_check (empty, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (elf, (const char *) elf_header, sizeof elf_header, NULL));
  g_assert_false (viv_kernel_check (elf, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_true (g_str_has_prefix (error->message, elf_prefix));
  g_assert_cmpuint (strlen (error->message), >, strlen (elf_prefix));
  g_clear_error (&error);

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_false (viv_kernel_check (fifo, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_clear_error (&error);

  g_assert_false (viv_kernel_check (missing, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  root = g_dir_make_tmp ("vivarium-kernel-XXXXXX", NULL);
  g_assert_nonnull (root);

  g_test_add_func ("/kernel/kernels", test_kernels);
  g_test_add_func ("/kernel/not-kernels", test_not_kernels);

  status = g_test_run ();
  viv_file_remove_tree (root);
  g_free (root);
  return status;
}
