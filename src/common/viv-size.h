/* viv-size.h: parsing and printing of memory and disk sizes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIV_SIZE_ERROR (viv_size_error_quark ())

typedef enum
{
  VIV_SIZE_ERROR_INVALID,
  VIV_SIZE_ERROR_OVERFLOW,
} VivSizeError;

GQuark   viv_size_error_quark (void);
gboolean viv_size_parse       (const char  *text,
                               guint64     *bytes,
                               GError     **error);

char    *viv_size_format       (guint64      bytes);
char    *viv_size_format_exact (guint64      bytes);

G_END_DECLS
