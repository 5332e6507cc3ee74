/* viv-os-logo.h: an operating system's logo, as a picture
 *
 * The OS catalog (src/core) has logos as GIcons, since core holds no GDK
 * type; this makes the picture the widgets show. It is here, in the
 * wizard's public headers, because the wizard and the app both show logos
 * and the wizard includes no app header.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

GdkPaintable *viv_os_logo_get_paintable (GIcon *icon);

G_END_DECLS
