/* viv-display-surface.h: what the console display widgets share
 *
 * VivDisplay (SPICE) and VivVncDisplay (VNC) differ only in their
 * protocol; the rest of viv-remote-display.h's promises are kept here,
 * once:
 *
 * - VivDisplaySurface: the guest's 32-bit xRGB framebuffer drawn as
 *   tiles of VIV_DISPLAY_TILE x VIV_DISPLAY_TILE textures (smaller at the
 *   right and bottom edges). GTK 4.8 cannot update part of a texture, and
 *   a full-HD upload per blinking cursor would cost a frame: a rectangle
 *   the guest changed drops the tiles it touches, made again from the
 *   pixels at the next snapshot. The pixels stay the widget's (SPICE's
 *   primary surface, gvnc's framebuffer); the surface only reads them.
 *   Under GTK's cairo renderer the tiles are cairo nodes instead: GTK 4.8
 *   turns every texture it draws with cairo into a cairo surface again,
 *   through floats, on every frame, whether the tile changed or not (a
 *   full-HD screen's 40 tiles took 20 ms a frame); a cairo node kept from
 *   frame to frame is drawn straight from its surface.
 * - VivDisplayPlace: where the guest's screen goes in the widget, and the
 *   guest pixel under a point of the widget.
 * - VivHeldKeys: the keys the guest holds down, let go of all at once
 *   when the keyboard stops being the guest's.
 * - viv_display_inhibit_shortcuts(): the grab's desktop side.
 *
 * The geometry, written down once:
 *
 * - FIT scales the screen to the widget with its aspect kept; ORIGINAL
 *   shows one guest pixel per device pixel (1 / scale factor widget
 *   units). Either way the screen is centred, never left of or above the
 *   widget's origin (a larger one is scrolled, not shifted).
 * - The origin is rounded to whole device pixels (not floored to whole
 *   widget units): at 1:1 each guest pixel is then exactly one device
 *   pixel, which GTK 4.8's linear filter leaves as it is.
 * - A point maps to the guest pixel it falls in (floor), clamped to the
 *   screen: the margins around a fitted screen are its edges.
 * - The natural size is the guest's size in widget units, rounded up so a
 *   screen of odd size shows whole at ORIGINAL; 640x480 before the guest
 *   has a screen. The minimum is the natural size at ORIGINAL (a scrolled
 *   window around the widget scrolls) and 0 when fitting: any size will do.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "viv-remote-display.h"

G_BEGIN_DECLS

#define VIV_DISPLAY_TILE 256

/* 32-bit words 0xAARRGGBB in host order (premultiplied), as GDK names
 * them: the guest's xRGB once X is 0xff, and cairo's ARGB32 */
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
#define VIV_DISPLAY_MEMORY_FORMAT GDK_MEMORY_B8G8R8A8_PREMULTIPLIED
#else
#define VIV_DISPLAY_MEMORY_FORMAT GDK_MEMORY_A8R8G8B8_PREMULTIPLIED
#endif

/* --- where the screen goes ------------------------------------------------------ */

typedef struct
{
  double x, y;      /* the screen's origin in the widget */
  double scale;     /* widget units per guest pixel */
} VivDisplayPlace;

gboolean viv_display_place_compute  (int                    guest_width,
                                     int                    guest_height,
                                     int                    widget_width,
                                     int                    widget_height,
                                     int                    scale_factor,
                                     VivRemoteDisplayScale  mode,
                                     VivDisplayPlace       *place);
void     viv_display_place_to_guest (const VivDisplayPlace *place,
                                     int                    guest_width,
                                     int                    guest_height,
                                     double                 x,
                                     double                 y,
                                     int                   *guest_x,
                                     int                   *guest_y);
void     viv_display_measure_guest  (int                    guest_size,
                                     GtkOrientation         orientation,
                                     int                    scale_factor,
                                     VivRemoteDisplayScale  mode,
                                     int                   *minimum,
                                     int                   *natural);

/* --- the tiles ------------------------------------------------------------------- */

/* Embedded in the widget; zero-filled is an empty surface. The fields
 * are read-only outside viv-display-surface.c. */
typedef struct
{
  int            width, height;     /* the guest's screen; 0 without one */
  int            tiles_x, tiles_y;
  GdkTexture   **tiles;             /* NULL where the tile is to be made again */
  GskRenderNode **nodes;            /* the same as cairo nodes, for the cairo renderer */
} VivDisplaySurface;

void        viv_display_surface_clear      (VivDisplaySurface     *self);
void        viv_display_surface_resize     (VivDisplaySurface     *self,
                                            int                    width,
                                            int                    height);
gboolean    viv_display_surface_invalidate (VivDisplaySurface     *self,
                                            int                    x,
                                            int                    y,
                                            int                    width,
                                            int                    height);
gboolean    viv_display_surface_is_dirty   (const VivDisplaySurface *self,
                                            int                    tile_x,
                                            int                    tile_y);
GdkTexture *viv_display_surface_get_tile   (VivDisplaySurface     *self,
                                            int                    tile_x,
                                            int                    tile_y,
                                            const guint8          *pixels,
                                            gsize                  stride);
gboolean    viv_display_surface_get_place  (const VivDisplaySurface *self,
                                            GtkWidget             *widget,
                                            VivRemoteDisplayScale  mode,
                                            VivDisplayPlace       *place);
void        viv_display_surface_snapshot   (VivDisplaySurface     *self,
                                            GtkWidget             *widget,
                                            GtkSnapshot           *snapshot,
                                            VivRemoteDisplayScale  mode,
                                            const guint8          *pixels,
                                            gsize                  stride);
void        viv_display_surface_measure    (const VivDisplaySurface *self,
                                            GtkWidget             *widget,
                                            GtkOrientation         orientation,
                                            VivRemoteDisplayScale  mode,
                                            int                   *minimum,
                                            int                   *natural);

GdkTexture *viv_display_texture_new        (const guint8          *pixels,
                                            gsize                  stride,
                                            int                    x,
                                            int                    y,
                                            int                    width,
                                            int                    height);

/* --- the keys the guest holds ------------------------------------------------------ */

/* Codes below this: hardware keycodes (evdev's KEY_MAX + 8) and
 * scancodes (0xe0-prefixed ones are 0x100 | code) both fit */
#define VIV_HELD_KEYS_MAX 0x300

/* Each held code keeps what its press sent (a keysym, say; nonzero), so
 * that its release sends the same */
typedef struct
{
  guint32 held[VIV_HELD_KEYS_MAX];
} VivHeldKeys;

typedef void (*VivHeldKeysFunc) (guint    code,
                                 guint32  data,
                                 gpointer user_data);

guint32 viv_held_keys_press       (VivHeldKeys     *self,
                                   guint            code,
                                   guint32          data);
guint32 viv_held_keys_release     (VivHeldKeys     *self,
                                   guint            code);
void    viv_held_keys_release_all (VivHeldKeys     *self,
                                   VivHeldKeysFunc  func,
                                   gpointer         user_data);
void    viv_held_keys_forget      (VivHeldKeys     *self);

/* --- the grab --------------------------------------------------------------------- */

void viv_display_inhibit_shortcuts (GtkWidget *widget,
                                    gboolean   inhibit,
                                    GdkEvent  *event);

G_END_DECLS
