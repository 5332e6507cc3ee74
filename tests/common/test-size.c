/* test-size.c: viv_size_parse, viv_size_format and viv_size_format_exact
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

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

/* The one convention for sizes shown to people (viv-size.c says it) */
static void
test_format (void)
{
  static const struct { guint64 bytes; const char *text; } cases[] = {
    { 0, "0 bytes" },
    { 1, "1 byte" },
    { 1023, "1023 bytes" },
    { 1024, "1 KiB" },
    { 1536, "1.5 KiB" },
    { 4ull << 30, "4 GiB" },                       /* whole: no ".0" */
    { (4ull << 30) + (1ull << 20), "4 GiB" },      /* 4.001 rounds to whole */
    { 12052ull << 20, "11.8 GiB" },                /* "Up to 12052 MiB" before */
    { 84200000000ull, "78.4 GiB" },                /* "84.2 GB free" before */
    { 500ull << 30, "500 GiB" },
    { 536870912000ull + (900ull << 20), "501 GiB" }, /* no tenths from 100 up */
    { (99ull << 30) + (990ull << 20), "100 GiB" },  /* 99.95 up: whole */
    { (1ull << 30) - (1ull << 20), "1023 MiB" },
    { (1ull << 30) - 1, "1 GiB" },                 /* rounds to 1024 MiB: next unit */
    { 7ull << 40, "7 TiB" },
    { 2048ull << 40, "2048 TiB" },                 /* TiB is the largest unit */
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = viv_size_format (cases[i].bytes);

      g_assert_cmpstr (text, ==, cases[i].text);
    }
}

/* What a spin button shows: never rounded, so it reads back the same */
static void
test_format_exact (void)
{
  static const struct { guint64 bytes; const char *text; } cases[] = {
    { 0, "0 bytes" },
    { 512ull << 20, "512 MiB" },
    { 1536ull << 20, "1536 MiB" },
    { 12052ull << 20, "12052 MiB" },
    { 20ull << 30, "20 GiB" },
    { 1ull << 40, "1 TiB" },
    { (1ull << 30) + 1, "1073741825 bytes" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = viv_size_format_exact (cases[i].bytes);
      guint64 back = 0;

      g_assert_cmpstr (text, ==, cases[i].text);
      /* What is written exactly can be read back */
      if (cases[i].bytes != 0 && cases[i].bytes % 1024 == 0)
        {
          g_autofree char *compact = g_strdup (text);
          g_autofree char *unit = NULL;
          char *space = strchr (compact, ' ');

          unit = g_strdup (space + 1);
          *space = '\0';
          {
            g_autofree char *joined = g_strconcat (compact, unit, NULL);
            g_assert_true (viv_size_parse (joined, &back, NULL));
          }
          g_assert_cmpuint (back, ==, cases[i].bytes);
        }
    }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/size/valid", test_valid);
  g_test_add_func ("/size/invalid", test_invalid);
  g_test_add_func ("/size/format", test_format);
  g_test_add_func ("/size/format-exact", test_format_exact);
  return g_test_run ();
}
