/* viv-display-surface.c: what the console display widgets share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-display-surface"

#include "config.h"

#include <math.h>
#include <string.h>

#include "viv-display-surface.h"

/* --- where the screen goes ------------------------------------------------------ */

/**
 * viv_display_place_compute:
 *
 * Where a GUEST_WIDTH x GUEST_HEIGHT screen goes in a widget of
 * WIDGET_WIDTH x WIDGET_HEIGHT units at SCALE_FACTOR device pixels a unit.
 *
 * Returns: %FALSE when there is nothing to place (no screen, no widget)
 */
gboolean
viv_display_place_compute (int                    guest_width,
                           int                    guest_height,
                           int                    widget_width,
                           int                    widget_height,
                           int                    scale_factor,
                           VivRemoteDisplayScale  mode,
                           VivDisplayPlace       *place)
{
  g_return_val_if_fail (place != NULL, FALSE);

  if (guest_width <= 0 || guest_height <= 0 || widget_width <= 0 || widget_height <= 0)
    return FALSE;
  scale_factor = MAX (scale_factor, 1);
  if (mode == VIV_REMOTE_DISPLAY_SCALE_ORIGINAL)
    place->scale = 1.0 / scale_factor;
  else
    place->scale = MIN ((double) widget_width / guest_width,
                        (double) widget_height / guest_height);
  place->x = MAX (0, (widget_width - guest_width * place->scale) / 2);
  place->y = MAX (0, (widget_height - guest_height * place->scale) / 2);
  /* On whole device pixels: at 1:1 each guest pixel is then one device
   * pixel, which GTK 4.8's linear filter leaves as it is */
  place->x = round (place->x * scale_factor) / scale_factor;
  place->y = round (place->y * scale_factor) / scale_factor;
  return TRUE;
}

/* The guest pixel under (X, Y) of the widget, clamped to the screen */
void
viv_display_place_to_guest (const VivDisplayPlace *place,
                            int                    guest_width,
                            int                    guest_height,
                            double                 x,
                            double                 y,
                            int                   *guest_x,
                            int                   *guest_y)
{
  g_return_if_fail (place != NULL && place->scale > 0);
  g_return_if_fail (guest_width > 0 && guest_height > 0);

  /* Clamped as doubles first: a point far off would overflow an int */
  *guest_x = (int) CLAMP (floor ((x - place->x) / place->scale), 0, guest_width - 1);
  *guest_y = (int) CLAMP (floor ((y - place->y) / place->scale), 0, guest_height - 1);
}

/* A display widget's measure() for a screen GUEST_SIZE pixels wide (or
 * high, by ORIENTATION); 0 without a screen */
void
viv_display_measure_guest (int                    guest_size,
                           GtkOrientation         orientation,
                           int                    scale_factor,
                           VivRemoteDisplayScale  mode,
                           int                   *minimum,
                           int                   *natural)
{
  int size;

  scale_factor = MAX (scale_factor, 1);
  if (guest_size > 0)
    size = (guest_size + scale_factor - 1) / scale_factor;
  else
    size = orientation == GTK_ORIENTATION_HORIZONTAL ? 640 : 480;
  *natural = size;
  *minimum = mode == VIV_REMOTE_DISPLAY_SCALE_ORIGINAL && guest_size > 0 ? size : 0;
}

/* --- the tiles ------------------------------------------------------------------- */

/**
 * viv_display_texture_new:
 *
 * The WIDTH x HEIGHT pixels at (X, Y) of PIXELS (xRGB words, STRIDE bytes
 * a row) as an opaque texture: the X byte is whatever the guest or the
 * server left there, so it is made 0xff.
 */
GdkTexture *
viv_display_texture_new (const guint8 *pixels,
                         gsize         stride,
                         int           x,
                         int           y,
                         int           width,
                         int           height)
{
  gsize row_size = (gsize) width * 4;
  guint32 *copy;
  g_autoptr(GBytes) bytes = NULL;

  g_return_val_if_fail (pixels != NULL, NULL);
  g_return_val_if_fail (x >= 0 && y >= 0 && width > 0 && height > 0, NULL);

  copy = g_malloc (row_size * height);
  for (int row = 0; row < height; row++)
    {
      const guint32 *src = (const guint32 *) (pixels + (gsize) (y + row) * stride) + x;
      guint32 *dst = copy + (gsize) row * width;

      for (int col = 0; col < width; col++)
        dst[col] = src[col] | 0xff000000u;
    }
  bytes = g_bytes_new_take (copy, row_size * height);
  return gdk_memory_texture_new (width, height, VIV_DISPLAY_MEMORY_FORMAT, bytes, row_size);
}

/* Frees the tiles: an empty surface again */
void
viv_display_surface_clear (VivDisplaySurface *self)
{
  g_return_if_fail (self != NULL);

  if (self->tiles != NULL)
    for (int i = 0; i < self->tiles_x * self->tiles_y; i++)
      {
        g_clear_object (&self->tiles[i]);
        g_clear_pointer (&self->nodes[i], gsk_render_node_unref);
      }
  g_clear_pointer (&self->tiles, g_free);
  g_clear_pointer (&self->nodes, g_free);
  self->width = self->height = 0;
  self->tiles_x = self->tiles_y = 0;
}

/* A screen of WIDTH x HEIGHT (0 x 0: none), every tile still to be made */
void
viv_display_surface_resize (VivDisplaySurface *self,
                            int                width,
                            int                height)
{
  g_return_if_fail (self != NULL);

  viv_display_surface_clear (self);
  if (width <= 0 || height <= 0)
    return;
  self->width = width;
  self->height = height;
  self->tiles_x = (width + VIV_DISPLAY_TILE - 1) / VIV_DISPLAY_TILE;
  self->tiles_y = (height + VIV_DISPLAY_TILE - 1) / VIV_DISPLAY_TILE;
  self->tiles = g_new0 (GdkTexture *, (gsize) self->tiles_x * self->tiles_y);
  self->nodes = g_new0 (GskRenderNode *, (gsize) self->tiles_x * self->tiles_y);
}

/**
 * viv_display_surface_invalidate:
 *
 * The guest changed WIDTH x HEIGHT pixels at (X, Y): drops the tiles
 * that rectangle touches (what lies off the screen is ignored).
 *
 * Returns: whether a tile was dropped, so the widget should redraw
 */
gboolean
viv_display_surface_invalidate (VivDisplaySurface *self,
                                int                x,
                                int                y,
                                int                width,
                                int                height)
{
  gint64 x0, y0, x1, y1;
  gboolean dropped = FALSE;

  g_return_val_if_fail (self != NULL, FALSE);

  if (self->tiles == NULL || width <= 0 || height <= 0)
    return FALSE;
  /* In 64 bits: the server's X + WIDTH may not fit an int */
  x0 = MAX (x, 0);
  y0 = MAX (y, 0);
  x1 = MIN ((gint64) x + width, self->width);
  y1 = MIN ((gint64) y + height, self->height);
  if (x0 >= x1 || y0 >= y1)
    return FALSE;
  for (gint64 ty = y0 / VIV_DISPLAY_TILE; ty <= (y1 - 1) / VIV_DISPLAY_TILE; ty++)
    for (gint64 tx = x0 / VIV_DISPLAY_TILE; tx <= (x1 - 1) / VIV_DISPLAY_TILE; tx++)
      {
        g_clear_object (&self->tiles[ty * self->tiles_x + tx]);
        g_clear_pointer (&self->nodes[ty * self->tiles_x + tx], gsk_render_node_unref);
        dropped = TRUE;
      }
  return dropped;
}

/* Whether the tile at column TILE_X, row TILE_Y is to be made again */
gboolean
viv_display_surface_is_dirty (const VivDisplaySurface *self,
                              int                      tile_x,
                              int                      tile_y)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (tile_x >= 0 && tile_x < self->tiles_x, FALSE);
  g_return_val_if_fail (tile_y >= 0 && tile_y < self->tiles_y, FALSE);

  return self->tiles[tile_y * self->tiles_x + tile_x] == NULL;
}

/**
 * viv_display_surface_get_tile:
 * @pixels: the screen's xRGB words, @stride bytes a row
 *
 * Returns: (transfer none): the tile's texture, made from @pixels if it
 *   was dropped
 */
GdkTexture *
viv_display_surface_get_tile (VivDisplaySurface *self,
                              int                tile_x,
                              int                tile_y,
                              const guint8      *pixels,
                              gsize              stride)
{
  GdkTexture **tile;

  g_return_val_if_fail (self != NULL && pixels != NULL, NULL);
  g_return_val_if_fail (tile_x >= 0 && tile_x < self->tiles_x, NULL);
  g_return_val_if_fail (tile_y >= 0 && tile_y < self->tiles_y, NULL);

  tile = &self->tiles[tile_y * self->tiles_x + tile_x];
  if (*tile == NULL)
    {
      int x = tile_x * VIV_DISPLAY_TILE, y = tile_y * VIV_DISPLAY_TILE;

      *tile = viv_display_texture_new (pixels, stride, x, y,
                                       MIN (VIV_DISPLAY_TILE, self->width - x),
                                       MIN (VIV_DISPLAY_TILE, self->height - y));
    }
  return *tile;
}

/* The tile as a cairo node of its own size, made from PIXELS if it was dropped */
static GskRenderNode *
get_cairo_tile (VivDisplaySurface *self,
                int                tile_x,
                int                tile_y,
                const guint8      *pixels,
                gsize              stride)
{
  GskRenderNode **node = &self->nodes[tile_y * self->tiles_x + tile_x];

  if (*node == NULL)
    {
      int x = tile_x * VIV_DISPLAY_TILE, y = tile_y * VIV_DISPLAY_TILE;
      int w = MIN (VIV_DISPLAY_TILE, self->width - x), h = MIN (VIV_DISPLAY_TILE, self->height - y);
      cairo_surface_t *source;
      cairo_t *cr;

      *node = gsk_cairo_node_new (&GRAPHENE_RECT_INIT (0, 0, w, h));
      cr = gsk_cairo_node_get_draw_context (*node);
      /* RGB24: the X byte is ignored, nothing to copy first */
      source = cairo_image_surface_create_for_data ((guchar *) pixels + (gsize) y * stride
                                                    + (gsize) x * 4,
                                                    CAIRO_FORMAT_RGB24, w, h, (int) stride);
      cairo_set_operator (cr, CAIRO_OPERATOR_SOURCE);
      cairo_set_source_surface (cr, source, 0, 0);
      cairo_paint (cr);
      cairo_destroy (cr);
      cairo_surface_destroy (source);
    }
  return *node;
}

static gboolean
renders_with_cairo (GtkWidget *widget)
{
  GtkNative *native = gtk_widget_get_native (widget);
  GskRenderer *renderer = native != NULL ? gtk_native_get_renderer (native) : NULL;

  return renderer != NULL && GSK_IS_CAIRO_RENDERER (renderer);
}

/* viv_display_place_compute() for WIDGET as it is allocated now */
gboolean
viv_display_surface_get_place (const VivDisplaySurface *self,
                               GtkWidget               *widget,
                               VivRemoteDisplayScale    mode,
                               VivDisplayPlace         *place)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (GTK_IS_WIDGET (widget), FALSE);

  return viv_display_place_compute (self->width, self->height,
                                    gtk_widget_get_width (widget),
                                    gtk_widget_get_height (widget),
                                    gtk_widget_get_scale_factor (widget), mode, place);
}

/**
 * viv_display_surface_snapshot:
 * @pixels: (nullable): the screen's xRGB words, @stride bytes a row; %NULL
 *   when they are not the surface's size (yet)
 *
 * A display widget's snapshot(): black, and the screen over it.
 */
void
viv_display_surface_snapshot (VivDisplaySurface     *self,
                              GtkWidget             *widget,
                              GtkSnapshot           *snapshot,
                              VivRemoteDisplayScale  mode,
                              const guint8          *pixels,
                              gsize                  stride)
{
  VivDisplayPlace place;

  g_return_if_fail (self != NULL);

  gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0, 0, 0, 1 },
                             &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget),
                                                  gtk_widget_get_height (widget)));
  if (pixels == NULL || self->tiles == NULL
      || !viv_display_surface_get_place (self, widget, mode, &place))
    return;
  if (renders_with_cairo (widget))
    {
      for (int ty = 0; ty < self->tiles_y; ty++)
        for (int tx = 0; tx < self->tiles_x; tx++)
          {
            GskRenderNode *tile = get_cairo_tile (self, tx, ty, pixels, stride);

            gtk_snapshot_save (snapshot);
            gtk_snapshot_translate (snapshot,
                                    &GRAPHENE_POINT_INIT (place.x + tx * VIV_DISPLAY_TILE * place.scale,
                                                          place.y + ty * VIV_DISPLAY_TILE * place.scale));
            gtk_snapshot_scale (snapshot, place.scale, place.scale);
            gtk_snapshot_append_node (snapshot, tile);
            gtk_snapshot_restore (snapshot);
          }
      return;
    }
  for (int ty = 0; ty < self->tiles_y; ty++)
    for (int tx = 0; tx < self->tiles_x; tx++)
      {
        GdkTexture *tile = viv_display_surface_get_tile (self, tx, ty, pixels, stride);
        int x = tx * VIV_DISPLAY_TILE, y = ty * VIV_DISPLAY_TILE;
        int w = gdk_texture_get_width (tile), h = gdk_texture_get_height (tile);

        gtk_snapshot_append_texture (snapshot, tile,
                                     &GRAPHENE_RECT_INIT (place.x + x * place.scale,
                                                          place.y + y * place.scale,
                                                          w * place.scale, h * place.scale));
      }
}

/* A display widget's measure(): viv_display_measure_guest() for WIDGET */
void
viv_display_surface_measure (const VivDisplaySurface *self,
                             GtkWidget               *widget,
                             GtkOrientation           orientation,
                             VivRemoteDisplayScale    mode,
                             int                     *minimum,
                             int                     *natural)
{
  g_return_if_fail (self != NULL);

  viv_display_measure_guest (orientation == GTK_ORIENTATION_HORIZONTAL ? self->width
                                                                       : self->height,
                             orientation, gtk_widget_get_scale_factor (widget), mode,
                             minimum, natural);
}

/* --- the keys the guest holds ------------------------------------------------------ */

/**
 * viv_held_keys_press:
 * @data: what the press sends, nonzero
 *
 * CODE went down. A key held down repeats as presses: it keeps the data
 * of its first.
 *
 * Returns: the data the key is held with; 0 when CODE is out of range
 *   (0 or from VIV_HELD_KEYS_MAX on), which is not to be sent
 */
guint32
viv_held_keys_press (VivHeldKeys *self,
                     guint        code,
                     guint32      data)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (data != 0, 0);

  if (code == 0 || code >= VIV_HELD_KEYS_MAX)
    return 0;
  if (self->held[code] == 0)
    self->held[code] = data;
  return self->held[code];
}

/* CODE went up. Returns: what it was held with, 0 if it was not (then
 * nothing is to be sent) */
guint32
viv_held_keys_release (VivHeldKeys *self,
                       guint        code)
{
  guint32 data;

  g_return_val_if_fail (self != NULL, 0);

  if (code >= VIV_HELD_KEYS_MAX)
    return 0;
  data = self->held[code];
  self->held[code] = 0;
  return data;
}

/* Lets go of every key held, FUNC sending each release */
void
viv_held_keys_release_all (VivHeldKeys     *self,
                           VivHeldKeysFunc  func,
                           gpointer         user_data)
{
  g_return_if_fail (self != NULL);

  for (guint code = 0; code < VIV_HELD_KEYS_MAX; code++)
    if (self->held[code] != 0)
      {
        guint32 data = self->held[code];

        self->held[code] = 0;
        if (func != NULL)
          func (code, data, user_data);
      }
}

/* No key is held any more, and there is no one to tell (disconnected) */
void
viv_held_keys_forget (VivHeldKeys *self)
{
  g_return_if_fail (self != NULL);

  memset (self->held, 0, sizeof self->held);
}

/* --- the grab --------------------------------------------------------------------- */

/**
 * viv_display_inhibit_shortcuts:
 * @event: (nullable): the event that grabbed, for the compositor to check
 *
 * While grabbed, Alt+Tab and the desktop's other shortcuts are the
 * guest's: inhibited on WIDGET's toplevel, or restored. Nothing happens
 * without a toplevel (unrealized).
 */
void
viv_display_inhibit_shortcuts (GtkWidget *widget,
                               gboolean   inhibit,
                               GdkEvent  *event)
{
  GtkNative *native;
  GdkSurface *surface;

  g_return_if_fail (GTK_IS_WIDGET (widget));

  native = gtk_widget_get_native (widget);
  surface = native != NULL ? gtk_native_get_surface (native) : NULL;
  if (!GDK_IS_TOPLEVEL (surface))
    return;
  if (inhibit)
    gdk_toplevel_inhibit_system_shortcuts (GDK_TOPLEVEL (surface), event);
  else
    gdk_toplevel_restore_system_shortcuts (GDK_TOPLEVEL (surface));
}
