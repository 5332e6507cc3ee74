/* test-display-surface.c: what the console display widgets share
 *
 * Plain GTest, no display: the geometry is arithmetic, the tiles are
 * memory textures read back with gdk_texture_download. The expected
 * places are worked out by hand in the comments, not by the formula
 * under test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "viv-display-surface.h"

/* An odd screen: 3 x 2 tiles, the last column 129 wide, the last row 225 high */
#define GW 641
#define GH 481

#define FIT      VIV_REMOTE_DISPLAY_SCALE_FIT
#define ORIGINAL VIV_REMOTE_DISPLAY_SCALE_ORIGINAL

static void
assert_place (int                   widget_width,
              int                   widget_height,
              int                   factor,
              VivRemoteDisplayScale mode,
              double                x,
              double                y,
              double                scale)
{
  VivDisplayPlace place;

  g_assert_true (viv_display_place_compute (GW, GH, widget_width, widget_height, factor, mode,
                                            &place));
  g_assert_cmpfloat_with_epsilon (place.x, x, 1e-9);
  g_assert_cmpfloat_with_epsilon (place.y, y, 1e-9);
  g_assert_cmpfloat_with_epsilon (place.scale, scale, 1e-12);
}

static void
test_place (void)
{
  VivDisplayPlace place;

  /* FIT, 1000x500: the height limits, scale 500/481; 641 * 500/481 =
   * 666.32 wide, (1000 - 666.32) / 2 = 166.84, rounded to 167 */
  assert_place (1000, 500, 1, FIT, 167, 0, 500.0 / 481);
  /* FIT, 500x301 at factor 2: scale 301/481, 401.12 wide, x = 49.44,
   * 98.88 device pixels rounded to 99: 49.5, not a whole unit */
  assert_place (500, 301, 2, FIT, 49.5, 0, 301.0 / 481);
  /* FIT, the width limits: 641x1000 at scale 1, y = (1000 - 481) / 2 =
   * 259.5, rounded to 260 at factor 1 and kept at factor 2 */
  assert_place (641, 1000, 1, FIT, 0, 260, 1);
  assert_place (641, 1000, 2, FIT, 0, 259.5, 1);

  /* ORIGINAL at factor 1: (1000 - 641) / 2 = 179.5 -> 180, (500 - 481) / 2
   * = 9.5 -> 10 */
  assert_place (1000, 500, 1, ORIGINAL, 180, 10, 1);
  /* ORIGINAL at factor 2: 320.5 x 240.5 units in 401x301; x = 40.25 is
   * 80.5 device pixels -> 81: 40.5 (floored it would be 40, half a guest
   * pixel off); y = 30.25 -> 60.5 -> 61: 30.5 */
  assert_place (401, 301, 2, ORIGINAL, 40.5, 30.5, 0.5);
  /* Larger than the widget: at the origin, not shifted left */
  assert_place (300, 200, 1, ORIGINAL, 0, 0, 1);
  assert_place (300, 200, 2, ORIGINAL, 0, 0, 0.5);

  /* Nothing to place */
  g_assert_false (viv_display_place_compute (0, GH, 100, 100, 1, FIT, &place));
  g_assert_false (viv_display_place_compute (GW, 0, 100, 100, 1, FIT, &place));
  g_assert_false (viv_display_place_compute (GW, GH, 0, 100, 1, FIT, &place));
  g_assert_false (viv_display_place_compute (GW, GH, 100, -1, 2, ORIGINAL, &place));
}

/* Every guest pixel's centre maps back to that pixel */
static void
assert_round_trip (int widget_width, int widget_height, int factor, VivRemoteDisplayScale mode)
{
  VivDisplayPlace place;

  g_assert_true (viv_display_place_compute (GW, GH, widget_width, widget_height, factor, mode,
                                            &place));
  for (int gy = 0; gy < GH; gy++)
    for (int gx = 0; gx < GW; gx++)
      {
        int x, y;

        viv_display_place_to_guest (&place, GW, GH, place.x + (gx + 0.5) * place.scale,
                                    place.y + (gy + 0.5) * place.scale, &x, &y);
        if (x != gx || y != gy)
          g_error ("%dx%d at %d, mode %d: (%d, %d) came back as (%d, %d)", widget_width,
                   widget_height, factor, mode, gx, gy, x, y);
      }
}

static void
test_to_guest (void)
{
  VivDisplayPlace place;
  int x, y;

  assert_round_trip (1000, 500, 1, FIT);
  assert_round_trip (500, 301, 2, FIT);
  assert_round_trip (333, 777, 1, FIT);
  assert_round_trip (1000, 500, 1, ORIGINAL);
  assert_round_trip (401, 301, 2, ORIGINAL);
  assert_round_trip (300, 200, 2, ORIGINAL);

  /* ORIGINAL at factor 2 in 401x301: the screen at (40.5, 30.5), half a
   * unit a pixel */
  g_assert_true (viv_display_place_compute (GW, GH, 401, 301, 2, ORIGINAL, &place));
  viv_display_place_to_guest (&place, GW, GH, 40.5, 30.5, &x, &y);
  g_assert_cmpint (x, ==, 0);
  g_assert_cmpint (y, ==, 0);
  viv_display_place_to_guest (&place, GW, GH, 41.0, 31.0, &x, &y);
  g_assert_cmpint (x, ==, 1);
  g_assert_cmpint (y, ==, 1);
  /* The margins and beyond are the edges */
  viv_display_place_to_guest (&place, GW, GH, 0, 0, &x, &y);
  g_assert_cmpint (x, ==, 0);
  g_assert_cmpint (y, ==, 0);
  viv_display_place_to_guest (&place, GW, GH, 40.4, 200, &x, &y);
  g_assert_cmpint (x, ==, 0);
  g_assert_cmpint (y, ==, (int) ((200 - 30.5) * 2));
  viv_display_place_to_guest (&place, GW, GH, -1e12, 1e12, &x, &y);
  g_assert_cmpint (x, ==, 0);
  g_assert_cmpint (y, ==, GH - 1);
  /* The screen's right and bottom edges (40.5 + 320.5 = 361, 30.5 +
   * 240.5 = 271) belong to no pixel: the last */
  viv_display_place_to_guest (&place, GW, GH, 361, 271, &x, &y);
  g_assert_cmpint (x, ==, GW - 1);
  g_assert_cmpint (y, ==, GH - 1);
  viv_display_place_to_guest (&place, GW, GH, 360.9, 270.9, &x, &y);
  g_assert_cmpint (x, ==, GW - 1);
  g_assert_cmpint (y, ==, GH - 1);
  viv_display_place_to_guest (&place, GW, GH, 400, 300, &x, &y);
  g_assert_cmpint (x, ==, GW - 1);
  g_assert_cmpint (y, ==, GH - 1);
}

static void
test_measure (void)
{
  int min, nat;

  /* 641 device pixels are 320.5 units: 321, or the last column is cut */
  viv_display_measure_guest (GW, GTK_ORIENTATION_HORIZONTAL, 2, ORIGINAL, &min, &nat);
  g_assert_cmpint (nat, ==, 321);
  g_assert_cmpint (min, ==, 321);
  viv_display_measure_guest (GW, GTK_ORIENTATION_HORIZONTAL, 2, FIT, &min, &nat);
  g_assert_cmpint (nat, ==, 321);
  g_assert_cmpint (min, ==, 0);
  viv_display_measure_guest (GH, GTK_ORIENTATION_VERTICAL, 1, ORIGINAL, &min, &nat);
  g_assert_cmpint (nat, ==, GH);
  g_assert_cmpint (min, ==, GH);
  /* No screen yet: a VGA screen's worth, and any size will do */
  viv_display_measure_guest (0, GTK_ORIENTATION_HORIZONTAL, 2, ORIGINAL, &min, &nat);
  g_assert_cmpint (nat, ==, 640);
  g_assert_cmpint (min, ==, 0);
  viv_display_measure_guest (0, GTK_ORIENTATION_VERTICAL, 1, FIT, &min, &nat);
  g_assert_cmpint (nat, ==, 480);
  g_assert_cmpint (min, ==, 0);
}

/* --- the tiles ------------------------------------------------------------------ */

/* A padding byte the guest left, which the texture must not show */
#define JUNK 0x5a000000u
/* Rows a little longer than the screen, as a server's may be */
#define STRIDE (GW * 4 + 12)

static guint32
pixel_at (int x, int y)
{
  return JUNK | (guint32) (x & 0xff) << 16 | (guint32) (y & 0xff) << 8
         | (guint32) ((x * 7 + y * 3) & 0xff);
}

static guint8 *
make_pixels (void)
{
  guint8 *pixels = g_malloc0 ((gsize) STRIDE * GH);

  for (int y = 0; y < GH; y++)
    for (int x = 0; x < GW; x++)
      ((guint32 *) (pixels + (gsize) y * STRIDE))[x] = pixel_at (x, y);
  return pixels;
}

/* Every tile made: none dirty */
static void
make_all (VivDisplaySurface *surface, const guint8 *pixels)
{
  for (int ty = 0; ty < surface->tiles_y; ty++)
    for (int tx = 0; tx < surface->tiles_x; tx++)
      g_assert_nonnull (viv_display_surface_get_tile (surface, tx, ty, pixels, STRIDE));
}

/* The dirty tiles, rows apart: "100/000" */
static char *
dirty_map (VivDisplaySurface *surface)
{
  GString *map = g_string_new (NULL);

  for (int ty = 0; ty < surface->tiles_y; ty++)
    {
      if (ty > 0)
        g_string_append_c (map, '/');
      for (int tx = 0; tx < surface->tiles_x; tx++)
        g_string_append_c (map, viv_display_surface_is_dirty (surface, tx, ty) ? '1' : '0');
    }
  return g_string_free (map, FALSE);
}

static void
test_invalidate (void)
{
  static const struct {
    int x, y, width, height;
    const char *dirty;
  } cases[] = {
    { 0, 0, 1, 1, "100/000" },
    { 0, 0, 256, 256, "100/000" },             /* one tile exactly */
    { 255, 255, 2, 2, "110/110" },             /* across a corner */
    { 256, 0, 1, 1, "010/000" },               /* the next tile's first pixel */
    { 0, 0, 257, 1, "110/000" },
    { 0, 255, 1, 1, "100/000" },
    { 0, 256, 1, 1, "000/100" },
    { 512, 0, 129, 481, "001/001" },           /* the last column, whole */
    { 640, 480, 1, 1, "000/001" },             /* the last pixel */
    { 600, 400, 100, 100, "000/001" },         /* over the right and bottom edges */
    { 0, 0, GW, GH, "111/111" },
    { 0, 0, G_MAXINT, G_MAXINT, "111/111" },
    { -10, -10, 20, 20, "100/000" },           /* partly off, top left */
    { -10, 300, G_MAXINT, 1, "000/111" },
    { 10, 10, 0, 5, "000/000" },               /* empty */
    { 10, 10, 5, 0, "000/000" },
    { 10, 10, -5, 5, "000/000" },
    { 10, 10, 5, -5, "000/000" },
    { GW, 0, 10, 10, "000/000" },              /* off the screen */
    { 0, GH, 10, 10, "000/000" },
    { -10, -10, 10, 10, "000/000" },
    { -20, 0, 10, GH, "000/000" },
    { G_MAXINT - 1, 0, 10, 10, "000/000" },    /* X + WIDTH overflows an int */
    { 0, G_MAXINT, 10, G_MAXINT, "000/000" },
  };
  g_autofree guint8 *pixels = make_pixels ();
  VivDisplaySurface surface = { 0 };

  /* No screen: nothing to drop */
  g_assert_false (viv_display_surface_invalidate (&surface, 0, 0, 10, 10));

  viv_display_surface_resize (&surface, GW, GH);
  g_assert_cmpint (surface.tiles_x, ==, 3);
  g_assert_cmpint (surface.tiles_y, ==, 2);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *map = NULL;
      gboolean dropped;

      make_all (&surface, pixels);
      dropped = viv_display_surface_invalidate (&surface, cases[i].x, cases[i].y,
                                                cases[i].width, cases[i].height);
      map = dirty_map (&surface);
      g_test_message ("(%d, %d) %dx%d: %s", cases[i].x, cases[i].y, cases[i].width,
                      cases[i].height, map);
      g_assert_cmpstr (map, ==, cases[i].dirty);
      g_assert_true (dropped == (strchr (cases[i].dirty, '1') != NULL));
    }
  viv_display_surface_clear (&surface);
}

static void
test_resize (void)
{
  g_autofree guint8 *pixels = make_pixels ();
  VivDisplaySurface surface = { 0 };
  GdkTexture *tile;

  viv_display_surface_resize (&surface, GW, GH);
  g_assert_cmpint (surface.width, ==, GW);
  g_assert_cmpint (surface.height, ==, GH);
  g_assert_nonnull (surface.tiles);
  /* A new surface has every tile to make */
  for (int ty = 0; ty < 2; ty++)
    for (int tx = 0; tx < 3; tx++)
      g_assert_true (viv_display_surface_is_dirty (&surface, tx, ty));
  make_all (&surface, pixels);

  /* Another size (the same pixels' top left, as the stride allows):
   * the old tiles are freed */
  tile = viv_display_surface_get_tile (&surface, 2, 1, pixels, STRIDE);
  g_object_add_weak_pointer (G_OBJECT (tile), (gpointer *) &tile);
  viv_display_surface_resize (&surface, 256, 257);
  g_assert_null (tile);
  g_assert_cmpint (surface.width, ==, 256);
  g_assert_cmpint (surface.height, ==, 257);
  g_assert_cmpint (surface.tiles_x, ==, 1);
  g_assert_cmpint (surface.tiles_y, ==, 2);
  g_assert_true (viv_display_surface_is_dirty (&surface, 0, 0));
  g_assert_true (viv_display_surface_is_dirty (&surface, 0, 1));
  tile = viv_display_surface_get_tile (&surface, 0, 1, pixels, STRIDE);
  g_assert_cmpint (gdk_texture_get_width (tile), ==, 256);
  g_assert_cmpint (gdk_texture_get_height (tile), ==, 1);

  /* The same size again is a new screen too */
  g_object_add_weak_pointer (G_OBJECT (tile), (gpointer *) &tile);
  viv_display_surface_resize (&surface, 256, 257);
  g_assert_null (tile);
  g_assert_true (viv_display_surface_is_dirty (&surface, 0, 1));

  /* No screen */
  tile = viv_display_surface_get_tile (&surface, 0, 0, pixels, STRIDE);
  g_object_add_weak_pointer (G_OBJECT (tile), (gpointer *) &tile);
  viv_display_surface_resize (&surface, 0, 0);
  g_assert_null (tile);
  g_assert_cmpint (surface.width, ==, 0);
  g_assert_cmpint (surface.height, ==, 0);
  g_assert_cmpint (surface.tiles_x, ==, 0);
  g_assert_cmpint (surface.tiles_y, ==, 0);
  g_assert_null (surface.tiles);
  g_assert_false (viv_display_surface_invalidate (&surface, 0, 0, 1, 1));
  viv_display_surface_resize (&surface, 100, -1);
  g_assert_null (surface.tiles);
  g_assert_cmpint (surface.width, ==, 0);

  /* Clearing frees them too */
  viv_display_surface_resize (&surface, GW, GH);
  tile = viv_display_surface_get_tile (&surface, 1, 1, pixels, STRIDE);
  g_object_add_weak_pointer (G_OBJECT (tile), (gpointer *) &tile);
  viv_display_surface_clear (&surface);
  g_assert_null (tile);
  g_assert_null (surface.tiles);
  g_assert_cmpint (surface.width, ==, 0);
  viv_display_surface_clear (&surface);
}

/* TEXTURE shows the screen's WIDTH x HEIGHT pixels at (X, Y), opaque */
static void
assert_texture (GdkTexture *texture, int x, int y, int width, int height)
{
  g_autofree guint32 *data = g_new (guint32, (gsize) width * height);

  g_assert_cmpint (gdk_texture_get_width (texture), ==, width);
  g_assert_cmpint (gdk_texture_get_height (texture), ==, height);
  /* Cairo's ARGB32: 0xAARRGGBB words, premultiplied (opaque: as they are) */
  gdk_texture_download (texture, (guchar *) data, (gsize) width * 4);
  for (int row = 0; row < height; row++)
    for (int col = 0; col < width; col++)
      {
        guint32 want = (pixel_at (x + col, y + row) & 0xffffff) | 0xff000000u;
        guint32 got = data[(gsize) row * width + col];

        if (got != want)
          g_error ("pixel (%d, %d): %08x, not %08x", x + col, y + row, got, want);
      }
}

/* Tile (TX, TY) is WIDTH x HEIGHT, and shows the screen there */
static void
assert_tile (VivDisplaySurface *surface,
             const guint8      *pixels,
             int                tx,
             int                ty,
             int                width,
             int                height)
{
  assert_texture (viv_display_surface_get_tile (surface, tx, ty, pixels, STRIDE),
                  tx * VIV_DISPLAY_TILE, ty * VIV_DISPLAY_TILE, width, height);
}

static void
test_texture (void)
{
  g_autofree guint8 *pixels = make_pixels ();
  VivDisplaySurface surface = { 0 };
  g_autoptr(GdkTexture) screen = NULL;
  GdkTexture *tile;

  viv_display_surface_resize (&surface, GW, GH);
  /* Inside, the right edge, the bottom edge, the corner */
  assert_tile (&surface, pixels, 0, 0, 256, 256);
  assert_tile (&surface, pixels, 2, 0, 129, 256);
  assert_tile (&surface, pixels, 1, 1, 256, 225);
  assert_tile (&surface, pixels, 2, 1, 129, 225);

  /* A tile is made once until dropped, then again from the pixels as they are */
  tile = viv_display_surface_get_tile (&surface, 2, 1, pixels, STRIDE);
  g_assert_true (viv_display_surface_get_tile (&surface, 2, 1, pixels, STRIDE) == tile);
  ((guint32 *) (pixels + (gsize) 480 * STRIDE))[640] = JUNK | 0x123456;
  g_assert_true (viv_display_surface_invalidate (&surface, 640, 480, 1, 1));
  tile = viv_display_surface_get_tile (&surface, 2, 1, pixels, STRIDE);
  {
    g_autofree guint32 *data = g_new (guint32, 129 * 225);

    gdk_texture_download (tile, (guchar *) data, 129 * 4);
    g_assert_cmphex (data[224 * 129 + 128], ==, 0xff123456);
    g_assert_cmphex (data[224 * 129 + 127], ==, (pixel_at (639, 480) & 0xffffff) | 0xff000000);
  }
  ((guint32 *) (pixels + (gsize) 480 * STRIDE))[640] = pixel_at (640, 480);

  /* The whole screen, for dup_screen */
  screen = viv_display_texture_new (pixels, STRIDE, 0, 0, GW, GH);
  assert_texture (screen, 0, 0, GW, GH);
  viv_display_surface_clear (&surface);
}

/* --- the keys --------------------------------------------------------------------- */

static void
record_release (guint code, guint32 data, gpointer user_data)
{
  g_string_append_printf (user_data, "%x=%x ", code, (guint) data);
}

static void
test_held_keys (void)
{
  g_autofree VivHeldKeys *keys = g_new0 (VivHeldKeys, 1);
  g_autoptr(GString) released = g_string_new (NULL);

  /* A repeat keeps what the first press sent */
  g_assert_cmphex (viv_held_keys_press (keys, 0x1e, 'a'), ==, 'a');
  g_assert_cmphex (viv_held_keys_press (keys, 0x1e, 'A'), ==, 'a');
  g_assert_cmphex (viv_held_keys_press (keys, 0x11d, 1), ==, 1);
  g_assert_cmphex (viv_held_keys_press (keys, VIV_HELD_KEYS_MAX - 1, 7), ==, 7);
  /* Out of range: not held, not to be sent */
  g_assert_cmphex (viv_held_keys_press (keys, 0, 1), ==, 0);
  g_assert_cmphex (viv_held_keys_press (keys, VIV_HELD_KEYS_MAX, 1), ==, 0);
  g_assert_cmphex (viv_held_keys_release (keys, VIV_HELD_KEYS_MAX), ==, 0);
  g_assert_cmphex (viv_held_keys_release (keys, 0), ==, 0);

  /* A release once */
  g_assert_cmphex (viv_held_keys_release (keys, 0x1e), ==, 'a');
  g_assert_cmphex (viv_held_keys_release (keys, 0x1e), ==, 0);
  g_assert_cmphex (viv_held_keys_press (keys, 0x1e, 'A'), ==, 'A');

  /* All at once, each once */
  viv_held_keys_release_all (keys, record_release, released);
  g_assert_cmpstr (released->str, ==, "1e=41 11d=1 2ff=7 ");
  g_string_truncate (released, 0);
  viv_held_keys_release_all (keys, record_release, released);
  g_assert_cmpstr (released->str, ==, "");

  /* Forgotten: nothing to release */
  viv_held_keys_press (keys, 0x2a, 1);
  viv_held_keys_forget (keys);
  viv_held_keys_release_all (keys, record_release, released);
  g_assert_cmpstr (released->str, ==, "");
  g_assert_cmphex (viv_held_keys_release (keys, 0x2a), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/display-surface/place", test_place);
  g_test_add_func ("/display-surface/to-guest", test_to_guest);
  g_test_add_func ("/display-surface/measure", test_measure);
  g_test_add_func ("/display-surface/invalidate", test_invalidate);
  g_test_add_func ("/display-surface/resize", test_resize);
  g_test_add_func ("/display-surface/texture", test_texture);
  g_test_add_func ("/display-surface/held-keys", test_held_keys);

  return g_test_run ();
}
