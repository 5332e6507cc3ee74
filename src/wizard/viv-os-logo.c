/* viv-os-logo.c: an operating system's logo, as a picture
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-os-logo"

#include "config.h"

#include "viv-os-logo.h"

/**
 * viv_os_logo_get_paintable:
 * @icon: (nullable): a logo from the OS catalog (a #GBytesIcon)
 *
 * The logo's picture, decoded the first time and kept with @icon after
 * that, so that lists and tiles can ask for it each time they are drawn.
 * Main thread only.
 *
 * Returns: (transfer none) (nullable): the picture, or %NULL when @icon is
 *   %NULL or cannot be decoded
 */
GdkPaintable *
viv_os_logo_get_paintable (GIcon *icon)
{
  static GQuark texture_quark;
  g_autoptr(GError) error = NULL;
  GdkTexture *texture;

  g_return_val_if_fail (icon == NULL || G_IS_ICON (icon), NULL);

  if (icon == NULL || !G_IS_BYTES_ICON (icon))
    return NULL;
  if (texture_quark == 0)
    texture_quark = g_quark_from_static_string ("viv-os-logo-texture");

  texture = g_object_get_qdata (G_OBJECT (icon), texture_quark);
  if (texture != NULL)
    return GDK_PAINTABLE (texture);

  texture = gdk_texture_new_from_bytes (g_bytes_icon_get_bytes (G_BYTES_ICON (icon)), &error);
  if (texture == NULL)
    {
      g_debug ("cannot load a logo: %s", error->message);
      return NULL;
    }
  g_object_set_qdata_full (G_OBJECT (icon), texture_quark, texture, g_object_unref);
  return GDK_PAINTABLE (texture);
}
