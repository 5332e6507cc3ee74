/* viv-size.c: parsing and printing of memory and disk sizes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-size"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "viv-size.h"

G_DEFINE_QUARK (viv-size-error-quark, viv_size_error)

/* Accepts "512M", "2G", "2GiB", "1.5G", "4096" (bytes) and "4096K", the way
 * qemu's -m and qemu-img's sizes are written. Suffixes are binary (K = 1024),
 * as in QEMU. A bare number is bytes. */
gboolean
viv_size_parse (const char  *text,
                guint64     *bytes,
                GError     **error)
{
  static const struct { char suffix; guint shift; } units[] = {
    { 'B', 0 }, { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 },
  };
  const char *p;
  guint64 whole = 0;
  guint64 frac_num = 0, frac_den = 1;
  guint shift = 0;
  gboolean digits = FALSE;

  g_return_val_if_fail (bytes != NULL, FALSE);

  if (text == NULL)
    text = "";

  p = text;
  while (g_ascii_isspace (*p))
    p++;

  for (; g_ascii_isdigit (*p); p++)
    {
      guint d = *p - '0';
      if (whole > (G_MAXUINT64 - d) / 10)
        goto overflow;
      whole = whole * 10 + d;
      digits = TRUE;
    }

  if (*p == '.')
    {
      p++;
      for (; g_ascii_isdigit (*p); p++)
        {
          /* Six fractional digits are more than any size needs. */
          if (frac_den < 1000000)
            {
              frac_num = frac_num * 10 + (guint64) (*p - '0');
              frac_den *= 10;
            }
          digits = TRUE;
        }
    }

  if (!digits)
    goto invalid;

  if (*p != '\0' && !g_ascii_isspace (*p))
    {
      char c = g_ascii_toupper (*p);
      gboolean found = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (units); i++)
        if (units[i].suffix == c)
          {
            shift = units[i].shift;
            found = TRUE;
            break;
          }
      if (!found)
        goto invalid;
      p++;
      /* "GiB" and "GB" both mean 2^30 here, as in qemu-img. */
      if (c != 'B')
        {
          if (*p == 'i' || *p == 'I')
            p++;
          if (*p == 'b' || *p == 'B')
            p++;
        }
    }

  while (g_ascii_isspace (*p))
    p++;
  if (*p != '\0')
    goto invalid;

  if (shift > 0 && whole > (G_MAXUINT64 >> shift))
    goto overflow;
  whole <<= shift;
  if (frac_num != 0)
    {
      guint64 extra;

      if (shift == 0)
        goto invalid; /* fractions of a byte */
      extra = (frac_num << shift) / frac_den;
      if (whole > G_MAXUINT64 - extra)
        goto overflow;
      whole += extra;
    }

  *bytes = whole;
  return TRUE;

invalid:
  g_set_error (error, VIV_SIZE_ERROR, VIV_SIZE_ERROR_INVALID,
               _("“%s” is not a size (examples: 512M, 2G, 1.5T)"), text);
  return FALSE;

overflow:
  g_set_error (error, VIV_SIZE_ERROR, VIV_SIZE_ERROR_OVERFLOW,
               _("“%s” is too large"), text);
  return FALSE;
}

/* How Vivarium writes a size for people, everywhere (memory, disks, free
 * space, progress):
 *
 * - Binary units, always: bytes, KiB, MiB, GiB, TiB (1 KiB = 1024 bytes).
 *   Memory is sold in them, disks are sized in them by every VMM, and mixing
 *   them with decimal GB on one screen makes "500 GiB" look like "536.9 GB".
 * - The largest unit in which the number is at least 1.
 * - At most one decimal, rounded to the nearest; none when the rounded number
 *   is whole ("4 GiB", not "4.0 GiB"), and none from 100 up ("537 GiB"), where
 *   a tenth says nothing a person needs.
 * - A number that rounds up to 1024 moves to the next unit ("1 GiB", not
 *   "1024 MiB").
 * - The decimal separator is the language's (printf's %.1f under LC_NUMERIC).
 *
 * Where a size can be edited (the spin buttons), viv_size_format_exact() writes
 * it without rounding. */

static char *
format_in_unit (const char *number, guint unit, guint64 bytes)
{
  switch (unit)
    {
    case 0:
      /* Translators: a size below 1 KiB; %s is the number */
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s byte", "%s bytes", bytes),
                              number);
    case 1:
      /* Translators: a size in kibibytes ("4 KiB"); %s is the number */
      return g_strdup_printf (C_("size", "%s KiB"), number);
    case 2:
      /* Translators: a size in mebibytes ("512 MiB"); %s is the number */
      return g_strdup_printf (C_("size", "%s MiB"), number);
    case 3:
      /* Translators: a size in gibibytes ("20 GiB"); %s is the number */
      return g_strdup_printf (C_("size", "%s GiB"), number);
    default:
      /* Translators: a size in tebibytes ("2 TiB"); %s is the number */
      return g_strdup_printf (C_("size", "%s TiB"), number);
    }
}

char *
viv_size_format (guint64 bytes)
{
  g_autofree char *number = NULL;
  guint unit = 0;
  double value;
  guint64 tenths;

  if (bytes < 1024)
    {
      number = g_strdup_printf ("%" G_GUINT64_FORMAT, bytes);
      return format_in_unit (number, 0, bytes);
    }

  while (unit < 4 && (bytes >> (10 * (unit + 1))) > 0)
    unit++;
  value = (double) bytes / (double) (1ull << (10 * unit));

  /* Rounded to tenths (below 100) or to wholes (from 100), in integers so
   * the decision does not depend on how printf rounds */
  if (value < 99.95)
    tenths = (guint64) (value * 10.0 + 0.5);
  else
    tenths = (guint64) (value + 0.5) * 10;
  if (tenths >= 10240 && unit < 4)
    {
      unit++;
      tenths = 10;
    }

  if (tenths % 10 == 0)
    number = g_strdup_printf ("%" G_GUINT64_FORMAT, tenths / 10);
  else
    number = g_strdup_printf ("%.1f", (double) tenths / 10.0);
  return format_in_unit (number, unit, bytes);
}

char *
viv_size_format_exact (guint64 bytes)
{
  g_autofree char *number = NULL;
  guint unit = 0;

  while (unit < 4 && bytes != 0 && bytes % (1ull << (10 * (unit + 1))) == 0)
    unit++;
  number = g_strdup_printf ("%" G_GUINT64_FORMAT, bytes >> (10 * unit));
  return format_in_unit (number, unit, bytes);
}
