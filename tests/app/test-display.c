/* test-display.c: VivDisplay on a real machine under Xvfb
 *
 * One machine for the whole run boots the probe guest in its display mode
 * (tests/guest/README.md, "The display"): it draws pictures that
 * pattern.h computes, prints "# input DEV TYPE CODE VALUE" for every
 * input event and what its agent receives, and takes commands on COM1,
 * which the test reads and writes through viv_machine_open_serial_async.
 * A window holds a VivDisplay showing the machine; real X events (xdotool,
 * through XTEST) are its keys and clicks. The cases share the machine and
 * run in order; screenshots go to the build folder's tests/screenshots.
 *
 * Without /dev/kvm, the helper or the probe, every case skips; without
 * xdotool, the input cases skip.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <linux/input-event-codes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gdk/x11/gdkx.h>

#include "pattern.h"
#include "viv-display.h"
#include "viv-file.h"
#include "viv-test-probe.h"
#include "viv-test-ui.h"

#define WAIT_MS  60000
#define MIB      (G_GUINT64_CONSTANT (1) << 20)

static char *root;
static const char *probe_path;
static gboolean have_kvm;
static gboolean have_xdotool;

static VivLibrary *library;
static VivMachine *machine;
static GtkWindow  *window;
static VivDisplay *display;
static VivTestProbe *probe;    /* COM1 */
static gboolean    ready;       /* the machine runs and the display showed frame 0 */

/* --- COM1 and X (viv-test-probe.h) ------------------------------------------------ */

static gboolean
find_line (const char *prefix,
           char      **rest)
{
  return viv_test_probe_find_line (probe, prefix, rest);
}

static gboolean
expect_line (const char *prefix)
{
  return viv_test_probe_expect_line (probe, prefix, WAIT_MS);
}

static void
command (const char *line)
{
  viv_test_probe_command (probe, line);
}

static gboolean
last_input (int  type,
            int  code,
            int *value)
{
  return viv_test_probe_last_input (probe, type, code, value);
}

static gboolean
input_is (int type,
          int code,
          int value)
{
  return viv_test_probe_input_is (probe, type, code, value);
}

static gboolean
xdo (const char *args)
{
  return viv_test_xdo (args);
}

static int
scale_factor (void)
{
  return gtk_widget_get_scale_factor (GTK_WIDGET (display));
}

static gulong
window_xid (void)
{
  return gdk_x11_surface_get_xid (gtk_native_get_surface (GTK_NATIVE (window)));
}

/* Moves the pointer to (X, Y) in the display widget */
static gboolean
pointer_to (double x,
            double y)
{
  return viv_test_pointer_to (GTK_WIDGET (display), x, y);
}

/* --- the picture ------------------------------------------------------------------ */

typedef struct
{
  double x, y, scale;
} Place;

/* Where the widget draws the guest's screen (FIT: centred, aspect kept) */
static Place
place_of (int gw,
          int gh)
{
  double w = gtk_widget_get_width (GTK_WIDGET (display));
  double h = gtk_widget_get_height (GTK_WIDGET (display));
  Place p;

  p.scale = MIN (w / gw, h / gh);
  p.x = (w - gw * p.scale) / 2;
  p.y = (h - gh * p.scale) / 2;
  return p;
}

static guint32 *
download (GdkTexture *texture)
{
  int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
  guint32 *pixels = g_new (guint32, (gsize) w * h);

  /* GDK's default format, B G R A bytes: 0xAARRGGBB words on x86 */
  gdk_texture_download (texture, (guchar *) pixels, (gsize) w * 4);
  return pixels;
}

typedef enum { PICTURE_FRAME0, PICTURE_BARS } Picture;

/* dup_screen against the picture; the first difference in *WHY */
static gboolean
screen_is (Picture   picture,
           char    **why)
{
  g_autoptr(GdkTexture) texture = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (display));
  g_autofree guint32 *pixels = NULL;
  int w, h;

  if (texture == NULL)
    {
      if (why)
        *why = g_strdup ("no screen yet");
      return FALSE;
    }
  w = gdk_texture_get_width (texture);
  h = gdk_texture_get_height (texture);
  pixels = download (texture);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint32 want = picture == PICTURE_FRAME0 ? pattern_pixel (0, x, y)
                                                 : pattern_bars[(x * 8) / w];
        guint32 got = pixels[(gsize) y * w + x] & 0xffffff;

        if (got != want)
          {
            if (why)
              *why = g_strdup_printf ("%dx%d: pixel (%d, %d) is %06x, not %06x", w, h, x, y,
                                      got, want);
            return FALSE;
          }
      }
  return TRUE;
}

static gboolean
screen_is_frame0 (gpointer data G_GNUC_UNUSED)
{
  return screen_is (PICTURE_FRAME0, NULL);
}

static gboolean
screen_is_bars (gpointer data G_GNUC_UNUSED)
{
  return screen_is (PICTURE_BARS, NULL);
}

static void
shoot (const char *name)
{
  g_autofree char *path = NULL;

  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (window), 5, 10000));
  path = viv_test_screenshot (GTK_WIDGET (window), name);
  g_assert_nonnull (path);
}

/* --- the machine -------------------------------------------------------------------- */

#define NEED_MACHINE() VIV_TEST_NEED_MACHINE (have_kvm, ready)
#define NEED_XDOTOOL() VIV_TEST_NEED_XDOTOOL (have_kvm, ready, have_xdotool)

static void
machine_start (void)
{
  g_autofree char *dir = g_build_filename (root, "machines", NULL);
  g_autoptr(VivMachineConfig) config = viv_machine_config_new ("Probe", 128 * MIB, 1);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  library = viv_library_new (dir);
  viv_library_load_async (library, NULL, viv_test_store_result, &result);
  g_assert_true (viv_library_load_finish (library, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  config->boot.kind = VIV_BOOT_KIND_KERNEL;
  config->boot.kernel = g_strdup (probe_path);
  config->boot.cmdline = g_strdup ("cpus=1 mode=display");
  config->display.kind = VIV_DISPLAY_KIND_SPICE;
  config->devices.rng = FALSE;
  machine = viv_library_create_machine (library, config, &error);
  g_assert_no_error (error);

  viv_machine_start_async (machine, NULL, viv_test_store_result, &result);
  viv_machine_start_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING, WAIT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);

  probe = viv_test_probe_open (machine);
}

/* --- the cases ------------------------------------------------------------------------- */

/* The probe's frame 0 arrives exactly */
static void
test_picture (void)
{
  g_autofree char *why = NULL;
  g_autofree char *size = NULL;

  if (!have_kvm)
    {
      g_test_skip ("/dev/kvm, the helper or the probe is missing: no machine runs here");
      return;
    }
  machine_start ();

  window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_title (window, "Display");
  gtk_window_set_default_size (window, 800, 600);
  display = VIV_DISPLAY (viv_display_new ());
  gtk_window_set_child (window, GTK_WIDGET (display));
  gtk_window_present (window);

  /* Connected as soon as the machine runs, before the guest has a screen */
  viv_display_set_machine (display, machine);
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_CONNECTING);
  shoot ("display-connecting");
  g_assert_true (expect_line ("# display ready "));
  find_line ("# display ready ", &size);
  g_test_message ("display ready %s", size);
  WAIT_UNTIL (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display))
              == VIV_REMOTE_DISPLAY_STATE_CONNECTED, WAIT_MS);
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_CONNECTED);
  if (!viv_test_wait_for (screen_is_frame0, NULL, WAIT_MS))
    {
      screen_is (PICTURE_FRAME0, &why);
      g_test_fail_printf ("frame 0: %s", why);
      return;
    }
  g_assert_cmpint (viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display)), >, 0);
  ready = TRUE;
  shoot ("display-pattern");
}

/* The guest's screen has the widget's size in device pixels; when that
 * was a change, the probe said so (through the display device or the
 * agent) */
static gboolean
resized_to_widget (void)
{
  int width = gtk_widget_get_width (GTK_WIDGET (display)) * scale_factor ();
  int height = gtk_widget_get_height (GTK_WIDGET (display)) * scale_factor ();
  g_autofree char *want = g_strdup_printf ("%dx%d", width, height);
  g_autofree char *resized = NULL;
  g_autofree char *monitors = NULL;
  g_autofree char *first = NULL;
  gsize old_mark = probe->mark;

  find_line ("# display resized ", &resized);
  find_line ("# agent monitors ", &monitors);
  probe->mark = 0;
  find_line ("# display ready ", &first);
  probe->mark = old_mark;
  return (g_strcmp0 (resized, want) == 0 || g_strcmp0 (monitors, want) == 0
          || (old_mark == 0 && resized == NULL && g_strcmp0 (first, want) == 0))
         && viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display)) == width
         && viv_remote_display_get_guest_height (VIV_REMOTE_DISPLAY (display)) == height;
}

/* With the agent up, the guest's screen follows the widget's size */
static void
test_resize (void)
{
  g_autofree char *args = NULL;
  g_autofree char *got = NULL;

  NEED_MACHINE ();
  WAIT_UNTIL (viv_remote_display_get_can_resize (VIV_REMOTE_DISPLAY (display)), WAIT_MS);
  g_assert_true (viv_remote_display_get_can_resize (VIV_REMOTE_DISPLAY (display)));
  g_assert_true (viv_remote_display_get_has_clipboard (VIV_REMOTE_DISPLAY (display)));

  /* The first: the widget's size when the agent came */
  probe->mark = 0;
  WAIT_UNTIL (resized_to_widget (), WAIT_MS);
  find_line ("# display resized ", &got);
  g_test_message ("widget %dx%d, guest resized to %s", gtk_widget_get_width (GTK_WIDGET (display)),
                  gtk_widget_get_height (GTK_WIDGET (display)), got);
  g_assert_true (resized_to_widget ());

  if (!have_xdotool)
    return;
  probe->mark = probe->com1->len;
  args = g_strdup_printf ("windowsize --sync %lu 720 456", window_xid ());
  g_assert_true (xdo (args));
  WAIT_UNTIL (gtk_widget_get_width (GTK_WIDGET (display)) * scale_factor () == 720, 10000);
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (display)) * scale_factor (), ==, 720);
  WAIT_UNTIL (resized_to_widget (), WAIT_MS);
  g_clear_pointer (&got, g_free);
  find_line ("# display resized ", &got);
  g_test_message ("widget %dx%d, guest resized to %s", gtk_widget_get_width (GTK_WIDGET (display)),
                  gtk_widget_get_height (GTK_WIDGET (display)), got);
  g_assert_true (resized_to_widget ());
  g_assert_true (viv_test_wait_for (screen_is_frame0, NULL, WAIT_MS));
}

/* The colour bars, exactly in dup_screen and scaled in a screenshot of the
 * window: a grid of points inside the bars, away from their edges */
static void
test_bars (void)
{
  g_autofree char *why = NULL;
  int gw, gh;
  Place place;

  NEED_MACHINE ();
  /* Larger than the widget: scaled down (the agent resizes only when the
   * widget's size changes) */
  command ("setmode 1280 800");
  g_assert_true (expect_line ("# display mode 1280x800"));
  command ("bars");
  g_assert_true (expect_line ("# done bars"));
  if (!viv_test_wait_for (screen_is_bars, NULL, WAIT_MS))
    {
      screen_is (PICTURE_BARS, &why);
      g_test_fail_printf ("bars: %s", why);
      return;
    }
  gw = viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display));
  gh = viv_remote_display_get_guest_height (VIV_REMOTE_DISPLAY (display));
  place = place_of (gw, gh);
  g_test_message ("guest %dx%d in a %dx%d widget: scale %.3f at (%.1f, %.1f)", gw, gh,
                  gtk_widget_get_width (GTK_WIDGET (display)),
                  gtk_widget_get_height (GTK_WIDGET (display)), place.scale, place.x, place.y);
  g_assert_cmpfloat (place.scale, <, 1.0);
  if (!viv_test_screenshot_shows_bars (GTK_WIDGET (window), GTK_WIDGET (display),
                                       "display-picture", &why))
    g_test_fail_printf ("the screenshot: %s", why);
}

/* A click grabs; typed keys reach the guest as their scancodes' key codes */
static void
test_keys (void)
{
  static const struct { const char *name; int code; } keys[] = {
    { "a", KEY_A }, { "Return", KEY_ENTER }, { "Up", KEY_UP }, { "Control_R", KEY_RIGHTCTRL },
  };

  NEED_XDOTOOL ();
  g_assert_true (pointer_to (gtk_widget_get_width (GTK_WIDGET (display)) / 2.0,
                             gtk_widget_get_height (GTK_WIDGET (display)) / 2.0));
  g_assert_true (xdo ("click 1"));
  WAIT_UNTIL (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (display)), 10000);
  g_assert_true (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (display)));
  g_assert_true (gtk_widget_has_focus (GTK_WIDGET (display)));
  shoot ("display-grabbed");

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *args = g_strdup_printf ("key %s", keys[i].name);

      probe->mark = probe->com1->len;
      g_assert_true (xdo (args));
      WAIT_UNTIL (input_is (EV_KEY, keys[i].code, 0), WAIT_MS);
      if (!input_is (EV_KEY, keys[i].code, 0))
        {
          g_test_fail_printf ("%s: no press and release of key code %d; COM1 since:\n%s",
                              keys[i].name, keys[i].code, probe->com1->str + probe->mark);
          return;
        }
      g_assert_true (strstr (probe->com1->str + probe->mark, "# input kbd 1 ") != NULL);
      {
        g_autofree char *press = g_strdup_printf ("# input kbd 1 %d 1", keys[i].code);
        g_assert_nonnull (strstr (probe->com1->str + probe->mark, press));
      }
    }
}

/* A click at a known place in the widget arrives as the guest's absolute
 * position there, within a widget pixel's worth */
static void
test_click (void)
{
  int gw, gh, vx = -1, vy = -1;
  double gx, gy, want_x, want_y, tol_x, tol_y;
  Place place;

  NEED_XDOTOOL ();
  gw = viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display));
  gh = viv_remote_display_get_guest_height (VIV_REMOTE_DISPLAY (display));
  place = place_of (gw, gh);
  gx = gw / 4 + 0.5;
  gy = gh / 3 + 0.5;
  probe->mark = probe->com1->len;
  g_assert_true (pointer_to (place.x + gx * place.scale, place.y + gy * place.scale));
  g_assert_true (xdo ("click 3"));
  WAIT_UNTIL (input_is (EV_KEY, BTN_RIGHT, 0), WAIT_MS);
  g_assert_true (input_is (EV_KEY, BTN_RIGHT, 0));
  g_assert_true (last_input (EV_ABS, ABS_X, &vx));
  g_assert_true (last_input (EV_ABS, ABS_Y, &vy));
  want_x = floor (gx) * 32767.0 / (gw - 1);
  want_y = floor (gy) * 32767.0 / (gh - 1);
  tol_x = (1 / place.scale + 1) * 32767.0 / (gw - 1);
  tol_y = (1 / place.scale + 1) * 32767.0 / (gh - 1);
  g_test_message ("guest (%.0f, %.0f) -> ABS %d, %d (expected %.0f, %.0f ± %.0f, %.0f)",
                  floor (gx), floor (gy), vx, vy, want_x, want_y, tol_x, tol_y);
  g_assert_cmpfloat (fabs (vx - want_x), <=, tol_x);
  g_assert_cmpfloat (fabs (vy - want_y), <=, tol_y);
}

/* Ctrl+Alt gives the keyboard back, and the guest holds no key */
static void
test_ungrab (void)
{
  NEED_XDOTOOL ();
  if (!viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (display)))
    g_assert_true (xdo ("click 1"));
  WAIT_UNTIL (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (display)), 10000);
  g_assert_true (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (display)));
  probe->mark = probe->com1->len;
  g_assert_true (xdo ("keydown Control_L keydown Alt_L"));
  WAIT_UNTIL (!viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (display)), 10000);
  g_assert_false (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (display)));
  /* Released in the guest when the grab ended, before the keys came up */
  WAIT_UNTIL (input_is (EV_KEY, KEY_LEFTALT, 0) && input_is (EV_KEY, KEY_LEFTCTRL, 0), WAIT_MS);
  g_assert_true (input_is (EV_KEY, KEY_LEFTCTRL, 0));
  g_assert_true (input_is (EV_KEY, KEY_LEFTALT, 0));
  g_assert_true (xdo ("keyup Alt_L keyup Control_L"));
  shoot ("display-released");
}

/* The wheel, both ways, as REL_WHEEL steps */
static void
test_wheel (void)
{
  NEED_XDOTOOL ();
  probe->mark = probe->com1->len;
  g_assert_true (xdo ("click 4"));
  WAIT_UNTIL (input_is (EV_REL, REL_WHEEL, 1), WAIT_MS);
  g_assert_true (input_is (EV_REL, REL_WHEEL, 1));
  probe->mark = probe->com1->len;
  g_assert_true (xdo ("click 5"));
  WAIT_UNTIL (input_is (EV_REL, REL_WHEEL, -1), WAIT_MS);
  g_assert_true (input_is (EV_REL, REL_WHEEL, -1));
}

/* Losing the focus lets go of the keys held down in the guest */
static void
test_focus_out (void)
{
  NEED_XDOTOOL ();
  gtk_widget_grab_focus (GTK_WIDGET (display));
  g_assert_true (gtk_widget_has_focus (GTK_WIDGET (display)));
  probe->mark = probe->com1->len;
  g_assert_true (xdo ("keydown b"));
  WAIT_UNTIL (input_is (EV_KEY, KEY_B, 1), WAIT_MS);
  g_assert_true (input_is (EV_KEY, KEY_B, 1));
  gtk_window_set_focus (window, NULL);
  WAIT_UNTIL (input_is (EV_KEY, KEY_B, 0), WAIT_MS);
  g_assert_true (input_is (EV_KEY, KEY_B, 0));
  g_assert_true (xdo ("keyup b"));
}

/* Send Key's path: Ctrl+Alt+Del pressed in order, released in reverse */
static void
test_send_keys (void)
{
  static const guint keys[] = { 0x1d, 0x38, 0x153 };
  const char *ctrl, *del_up;

  NEED_MACHINE ();
  probe->mark = probe->com1->len;
  viv_remote_display_send_keys (VIV_REMOTE_DISPLAY (display), keys, G_N_ELEMENTS (keys));
  WAIT_UNTIL (input_is (EV_KEY, KEY_LEFTCTRL, 0), WAIT_MS);
  g_assert_true (input_is (EV_KEY, KEY_DELETE, 0));
  g_assert_true (input_is (EV_KEY, KEY_LEFTALT, 0));
  g_assert_true (input_is (EV_KEY, KEY_LEFTCTRL, 0));
  ctrl = strstr (probe->com1->str + probe->mark, "# input kbd 1 29 0");
  del_up = strstr (probe->com1->str + probe->mark, "# input kbd 1 111 0");
  g_assert_nonnull (strstr (probe->com1->str + probe->mark, "# input kbd 1 111 1"));
  g_assert_true (del_up != NULL && ctrl != NULL && del_up < ctrl);
}

/* The guest's cursor shape becomes the widget's, with its hotspot */
static void
test_cursor (void)
{
  GdkCursor *cursor;
  GdkTexture *texture;

  NEED_MACHINE ();
  command ("cursor");
  g_assert_true (expect_line ("# done cursor"));
  WAIT_UNTIL ((cursor = gtk_widget_get_cursor (GTK_WIDGET (display))) != NULL
              && gdk_cursor_get_texture (cursor) != NULL, WAIT_MS);
  cursor = gtk_widget_get_cursor (GTK_WIDGET (display));
  g_assert_nonnull (cursor);
  texture = gdk_cursor_get_texture (cursor);
  g_assert_nonnull (texture);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, PATTERN_CURSOR_SIZE);
  g_assert_cmpint (gdk_texture_get_height (texture), ==, PATTERN_CURSOR_SIZE);
  g_assert_cmpint (gdk_cursor_get_hotspot_x (cursor), ==, PATTERN_CURSOR_HOT_X);
  g_assert_cmpint (gdk_cursor_get_hotspot_y (cursor), ==, PATTERN_CURSOR_HOT_Y);
  {
    g_autofree guint32 *pixels = download (texture);

    /* opaque pattern_pixel (7, x, y) where x + y < 64, clear elsewhere */
    g_assert_cmphex (pixels[10 * PATTERN_CURSOR_SIZE + 3], ==, 0xff000000u | pattern_pixel (7, 3, 10));
    g_assert_cmphex (pixels[60 * PATTERN_CURSOR_SIZE + 60] >> 24, ==, 0);
  }
}

/* ORIGINAL: one guest pixel per device pixel, exactly (nearest, not blended) */
static void
test_original (void)
{
  g_autofree char *path = NULL;
  g_autoptr(GdkTexture) shot = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint32 *pixels = NULL;
  int gw, gh, sw;
  double ox, oy;
  Place place;

  NEED_MACHINE ();
  command ("setmode 640 400");
  g_assert_true (expect_line ("# display mode 640x400"));
  g_assert_true (viv_test_wait_for (screen_is_frame0, NULL, WAIT_MS));
  viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (display),
                                     VIV_REMOTE_DISPLAY_SCALE_ORIGINAL);
  WAIT_UNTIL (gtk_widget_get_width (GTK_WIDGET (display)) * scale_factor () >= 640
              && gtk_widget_get_height (GTK_WIDGET (display)) * scale_factor () >= 400, 10000);
  gw = viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display));
  gh = viv_remote_display_get_guest_height (VIV_REMOTE_DISPLAY (display));
  g_assert_cmpint (gw, ==, 640);
  g_assert_cmpint (gh, ==, 400);
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (display)) * scale_factor (), >=, gw);
  g_assert_cmpint (gtk_widget_get_height (GTK_WIDGET (display)) * scale_factor (), >=, gh);
  shoot ("display-original");
  if (scale_factor () != 1)
    {
      /* The screenshot is in widget units: guest pixels are halves there */
      viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (display),
                                         VIV_REMOTE_DISPLAY_SCALE_FIT);
      return;
    }
  path = g_build_filename (g_getenv ("VIVARIUM_SCREENSHOT_DIR"), "display-original.png", NULL);
  shot = gdk_texture_new_from_filename (path, &error);
  g_assert_no_error (error);
  pixels = download (shot);
  sw = gdk_texture_get_width (shot);
  g_assert_true (gtk_widget_translate_coordinates (GTK_WIDGET (display), GTK_WIDGET (window),
                                                   0, 0, &ox, &oy));
  place.x = MAX (0, (gtk_widget_get_width (GTK_WIDGET (display)) - gw) / 2);
  place.y = MAX (0, (gtk_widget_get_height (GTK_WIDGET (display)) - gh) / 2);
  for (int y = 0; y < gh; y += 7)
    for (int x = 0; x < gw; x += 5)
      {
        guint32 got = pixels[(gsize) (oy + place.y + y) * sw + (gsize) (ox + place.x + x)];

        if ((got & 0xffffff) != pattern_pixel (0, x, y))
          {
            g_test_fail_printf ("1:1: guest (%d, %d) shows %06x, not %06x", x, y,
                                got & 0xffffff, pattern_pixel (0, x, y));
            return;
          }
      }
  viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (display), VIV_REMOTE_DISPLAY_SCALE_FIT);
}

static char *
clipboard_text (void)
{
  return viv_test_clipboard_text (gtk_widget_get_clipboard (GTK_WIDGET (display)));
}

static gboolean
clipboard_is (const char *want)
{
  g_autofree char *text = clipboard_text ();

  return g_strcmp0 (text, want) == 0;
}

/* Text both ways through the agent */
static void
test_clipboard (void)
{
  g_autofree char *got = NULL;

  NEED_MACHINE ();
  WAIT_UNTIL (viv_remote_display_get_has_clipboard (VIV_REMOTE_DISPLAY (display)), WAIT_MS);
  g_assert_true (viv_remote_display_get_has_clipboard (VIV_REMOTE_DISPLAY (display)));

  probe->mark = probe->com1->len;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (display)), "copied in the app");
  g_assert_true (expect_line ("# agent clipboard "));
  find_line ("# agent clipboard ", &got);
  g_assert_cmpstr (got, ==, "copied in the app");

  command ("clip copied in the guest");
  g_assert_true (expect_line ("# done clip"));
  WAIT_UNTIL (clipboard_is ("copied in the guest"), WAIT_MS);
  g_clear_pointer (&got, g_free);
  got = clipboard_text ();
  g_assert_cmpstr (got, ==, "copied in the guest");
}

/* The machine stops: the widget disconnects, without an error */
static void
test_stop (void)
{
  NEED_MACHINE ();
  viv_test_stop_machines (library);
  WAIT_UNTIL (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display))
              == VIV_REMOTE_DISPLAY_STATE_DISCONNECTED, WAIT_MS);
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
  g_assert_null (viv_remote_display_dup_error (VIV_REMOTE_DISPLAY (display)));
  g_assert_cmpint (viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display)), ==, 0);
  shoot ("display-disconnected");
}

/* It runs again: the widget connects again and shows it */
static void
test_restart (void)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  NEED_MACHINE ();
  viv_machine_start_async (machine, NULL, viv_test_store_result, &result);
  viv_machine_start_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  WAIT_UNTIL (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display))
              == VIV_REMOTE_DISPLAY_STATE_CONNECTED, WAIT_MS);
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_CONNECTED);
  g_assert_true (viv_test_wait_for (screen_is_frame0, NULL, WAIT_MS));
  shoot ("display-restarted");
}

static void
on_fd_opened (GObject      *object,
              GAsyncResult *result,
              gpointer      data)
{
  VivDisplay *other = data;
  g_autoptr(GError) error = NULL;
  int fd = viv_machine_open_display_finish (VIV_MACHINE (object), result, &error);

  g_assert_no_error (error);
  viv_display_open_fd (other, fd);
  g_object_unref (other);
}

static void
on_need_fd (VivDisplay *other,
            guint      *count)
{
  (*count)++;
  viv_machine_open_display_async (machine, NULL, on_fd_opened, g_object_ref (other));
}

static gboolean
other_shows_frame0 (gpointer data)
{
  g_autoptr(GdkTexture) texture = viv_remote_display_dup_screen (data);
  g_autofree guint32 *pixels = NULL;
  int w;

  if (texture == NULL)
    return FALSE;
  w = gdk_texture_get_width (texture);
  pixels = download (texture);
  for (int y = 0; y < gdk_texture_get_height (texture); y += 3)
    for (int x = 0; x < w; x += 3)
      if ((pixels[(gsize) y * w + x] & 0xffffff) != pattern_pixel (0, x, y))
        return FALSE;
  return TRUE;
}

/* Without a machine: sockets given by the caller, one per channel */
static void
test_open_fd (void)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GtkWindow *other_window;
  VivDisplay *other;
  guint count = 0;
  int fd;

  NEED_MACHINE ();
  /* One client at a time: the server drops the older one */
  viv_display_set_machine (display, NULL);
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);

  other_window = GTK_WINDOW (gtk_window_new ());
  other = VIV_DISPLAY (viv_display_new ());
  gtk_window_set_child (other_window, GTK_WIDGET (other));
  gtk_window_set_default_size (other_window, 320, 200);
  gtk_window_present (other_window);
  g_signal_connect (other, "need-fd", G_CALLBACK (on_need_fd), &count);

  viv_machine_open_display_async (machine, NULL, viv_test_store_result, &result);
  fd = viv_machine_open_display_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  viv_display_open_fd (other, fd);
  WAIT_UNTIL (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (other))
              == VIV_REMOTE_DISPLAY_STATE_CONNECTED, WAIT_MS);
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (other)), ==,
                   VIV_REMOTE_DISPLAY_STATE_CONNECTED);
  g_assert_true (viv_test_wait_for (other_shows_frame0, other, WAIT_MS));
  /* display, inputs and cursor asked for theirs */
  g_assert_cmpuint (count, >=, 3);
  viv_remote_display_disconnect (VIV_REMOTE_DISPLAY (other));
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (other)), ==,
                   VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
  gtk_window_destroy (other_window);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *xdotool = NULL;
  int status;

  root = viv_test_ui_init (&argc, &argv);
  have_kvm = viv_test_can_run_machines (&probe_path, "every case skips");
  xdotool = g_find_program_in_path ("xdotool");
  have_xdotool = xdotool != NULL && GDK_IS_X11_DISPLAY (gdk_display_get_default ());

  viv_test_spice_warnings_not_fatal ();
  g_test_add_func ("/display/picture", test_picture);
  g_test_add_func ("/display/resize", test_resize);
  g_test_add_func ("/display/bars", test_bars);
  g_test_add_func ("/display/keys", test_keys);
  g_test_add_func ("/display/click", test_click);
  g_test_add_func ("/display/ungrab", test_ungrab);
  g_test_add_func ("/display/wheel", test_wheel);
  g_test_add_func ("/display/focus-out", test_focus_out);
  g_test_add_func ("/display/send-keys", test_send_keys);
  g_test_add_func ("/display/cursor", test_cursor);
  g_test_add_func ("/display/clipboard", test_clipboard);
  g_test_add_func ("/display/original", test_original);
  g_test_add_func ("/display/stop", test_stop);
  g_test_add_func ("/display/restart", test_restart);
  g_test_add_func ("/display/open-fd", test_open_fd);
  status = g_test_run ();

  g_clear_pointer (&probe, viv_test_probe_free);
  if (library != NULL)
    viv_test_stop_machines (library);
  if (window != NULL)
    gtk_window_destroy (window);
  g_clear_object (&library);
  viv_test_finish (root);
  return status;
}
