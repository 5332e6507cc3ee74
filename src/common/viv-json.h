/* viv-json.h: strict JSON (RFC 8259), checked before json-glib parses it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean viv_json_check (const char  *data,
                         gsize        len,
                         guint        max_depth,
                         const char  *what,
                         GError     **error);

G_END_DECLS
