/* test-size.c: viv_size_parse
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "viv-size.h"

static void
test_valid (void)
{
  static const struct { const char *text; guint64 bytes; } cases[] = {
    { "0", 0 },
    { "4096", 4096 },
    { "512B", 512 },
    { "4K", 4096 },
    { "4k", 4096 },
    { "512M", 512ull << 20 },
    { "512MiB", 512ull << 20 },
    { "2G", 2ull << 30 },
    { "2GB", 2ull << 30 },
    { " 2G ", 2ull << 30 },
    { "1.5G", 3ull << 29 },
    { "0.5T", 1ull << 39 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes = 1;

      g_assert_true (viv_size_parse (cases[i].text, &bytes, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (bytes, ==, cases[i].bytes);
    }
}

static void
test_invalid (void)
{
  static const char *invalid[] = { "", " ", "G", "-1", "1X", "1GG", "1.5", "1..5G", "1 G x",
                                   "0x10" };
  static const char *overflow[] = { "18446744073709551616", "17179869184G", "16777216T" };

  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes = 7;

      g_assert_false (viv_size_parse (invalid[i], &bytes, &error));
      g_assert_error (error, VIV_SIZE_ERROR, VIV_SIZE_ERROR_INVALID);
      g_assert_cmpuint (bytes, ==, 7);
    }
  for (guint i = 0; i < G_N_ELEMENTS (overflow); i++)
    {
      g_autoptr(GError) error = NULL;
      guint64 bytes = 7;

      g_assert_false (viv_size_parse (overflow[i], &bytes, &error));
      g_assert_error (error, VIV_SIZE_ERROR, VIV_SIZE_ERROR_OVERFLOW);
      g_assert_cmpuint (bytes, ==, 7);
    }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/size/valid", test_valid);
  g_test_add_func ("/size/invalid", test_invalid);
  return g_test_run ();
}
