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
