/* test-console.c: the machine page's console in the real app under Xvfb
 *
 * The app over a library of two machines with a screen: "Probe" boots the
 * probe guest in its display mode (tests/guest/README.md, "The display"),
 * with its agent; "Quiet" boots it in its idle mode, which draws colour
 * bars and runs no agent. The cases share the app and the running
 * machines and go in order, as a person would: open the machine, see its
 * screen, click into it and type, Send Key, give the keyboard back, go
 * fullscreen, resize, copy and paste, zoom, look at the serial console,
 * move the screen to a window of its own and back, lose the connection
 * and reconnect, and meet a machine without an agent. Real X events come
 * from xdotool; what the guest received comes back on its COM1.
 * Screenshots of every state go to the build folder's tests/screenshots.
 *
 * Without /dev/kvm, the helper or the probe, every case skips; without
 * xdotool, the cases that need X input skip.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <linux/input-event-codes.h>
#include <math.h>
#include <string.h>

#include <gdk/x11/gdkx.h>
#include <glib/gi18n.h>

#include "pattern.h"
#include "viv-application.h"
#include "viv-machine-page.h"
#include "viv-test-probe.h"
#include "viv-test-ui.h"
#include "viv-window.h"

#define WAIT_MS  60000
#define MIB      (G_GUINT64_CONSTANT (1) << 20)

static VivApplication *the_app;
static char *root;
static const char *probe_path;
static gboolean have_kvm;
static gboolean have_xdotool;

static VivWindow      *window;
static VivMachinePage *page;
static VivDisplay     *display;
static VivMachine     *machine;      /* "Probe" */
static VivMachine     *quiet;        /* "Quiet" */
static VivTestProbe   *probe;
static gboolean        ready;

#define NEED_MACHINE() VIV_TEST_NEED_MACHINE (have_kvm, ready)
#define NEED_XDOTOOL() VIV_TEST_NEED_XDOTOOL (have_kvm, ready, have_xdotool)

static VivRemoteDisplay *
remote (void)
{
  return VIV_REMOTE_DISPLAY (display);
}

static void
shoot (GtkWidget  *widget,
       const char *name)
{
  g_autofree char *path = NULL;

  g_assert_true (viv_test_wait_for_frames (widget, 5, 10000));
  path = viv_test_screenshot (widget, name);
  g_assert_nonnull (path);
}

static gboolean
page_action (const char *name,
             const char *format,
             const char *value)
{
  if (format == NULL)
    return gtk_widget_activate_action (GTK_WIDGET (page), name, NULL);
  return gtk_widget_activate_action (GTK_WIDGET (page), name, format, value);
}

static gboolean
window_action (const char *name,
               VivMachine *which)
{
  return gtk_widget_activate_action (GTK_WIDGET (window), name, "s", viv_machine_get_uuid (which));
}

static const char *
subtitle (void)
{
  AdwWindowTitle *title = ADW_WINDOW_TITLE (viv_test_find_widget (GTK_WIDGET (page),
                                                                  ADW_TYPE_WINDOW_TITLE, NULL));

  return adw_window_title_get_subtitle (title);
}

static gboolean
shows_picture (void)
{
  return viv_remote_display_get_state (remote ()) == VIV_REMOTE_DISPLAY_STATE_CONNECTED
         && viv_remote_display_get_guest_width (remote ()) > 0;
}

static gboolean
bars_in (GtkWidget  *where,
         const char *name)
{
  g_autofree char *why = NULL;

  /* The probe has drawn them: once the client has them, the screenshot */
  if (!viv_test_wait_for (viv_test_display_shows_bars, display, WAIT_MS))
    {
      g_test_message ("%s: the client never had the bars", name);
      return FALSE;
    }
  /* The widget draws what it has after its batched redraw, an idle below
   * the frame clock: on a loaded machine a screenshot can come first and
   * show the tiles of the screen before (or, just after a resize, what the
   * client's new surface held before the server's first draw). What a
   * person sees within the wait counts. */
  for (gint64 end = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;;)
    {
      if (viv_test_screenshot_shows_bars (where, GTK_WIDGET (display), name, &why))
        return TRUE;
      if (g_get_monotonic_time () > end)
        break;
      g_test_message ("%s: not yet: %s", name, why);
      g_clear_pointer (&why, g_free);
      viv_test_sleep_ms (200);
    }
  g_test_message ("%s: %s", name, why);
  return FALSE;
}

static gboolean follows_widget (gpointer data);

/* --- the cases ------------------------------------------------------------------ */

/* Start the machine from its page: connecting, then the probe's picture,
 * scaled into the page (checked in a screenshot of the window) */
static void
test_picture (void)
{
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  VivLibrary *library = viv_application_get_library (the_app);
  gboolean connecting_seen = FALSE;

  if (!have_kvm)
    {
      g_test_skip ("/dev/kvm, the helper or the probe is missing: no machine runs here");
      return;
    }
  WAIT_UNTIL (viv_library_get_loaded (library), WAIT_MS);
  config = viv_machine_config_new ("Probe", 128 * MIB, 1);
  config->boot.kind = VIV_BOOT_KIND_KERNEL;
  config->boot.kernel = g_strdup (probe_path);
  config->boot.cmdline = g_strdup ("cpus=1 mode=display");
  config->devices.rng = FALSE;
  machine = viv_library_create_machine (library, config, &error);
  g_assert_no_error (error);
  g_clear_pointer (&config, viv_machine_config_free);
  config = viv_machine_config_new ("Quiet", 64 * MIB, 1);
  config->boot.kind = VIV_BOOT_KIND_KERNEL;
  config->boot.kernel = g_strdup (probe_path);
  config->boot.cmdline = g_strdup ("cpus=1 mode=idle");
  config->devices.rng = FALSE;
  quiet = viv_library_create_machine (library, config, &error);
  g_assert_no_error (error);

  g_application_activate (G_APPLICATION (the_app));
  window = VIV_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (the_app)));
  g_assert_nonnull (window);
  gtk_window_set_default_size (GTK_WINDOW (window), 1000, 700);
  page = viv_window_get_machine_page (window);
  display = viv_machine_page_get_display (page);

  g_assert_true (window_action ("win.open-machine", machine));
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "off");
  shoot (GTK_WIDGET (window), "console-off");
  g_assert_true (window_action ("win.start-machine", machine));
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING, WAIT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "console");
  g_assert_cmpstr (viv_machine_page_get_console_view (page), ==, "display");
  if (!shows_picture ())
    {
      connecting_seen = TRUE;
      shoot (GTK_WIDGET (window), "console-connecting");
    }
  probe = viv_test_probe_open (machine);
  WAIT_UNTIL (shows_picture (), WAIT_MS);
  g_assert_true (shows_picture ());
  g_test_message ("connecting state %s", connecting_seen ? "seen" : "already past");

  /* The colour bars, scaled down into the page: once the agent has made
   * the guest's screen the page's size (it does again only when that
   * changes), a mode larger than the page */
  WAIT_UNTIL (viv_remote_display_get_can_resize (remote ()) && follows_widget (NULL), WAIT_MS);
  g_assert_true (follows_widget (NULL));
  viv_test_probe_command (probe, "setmode 1280 800");
  g_assert_true (viv_test_probe_expect_line (probe, "# display mode 1280x800", WAIT_MS));
  viv_test_probe_command (probe, "bars");
  g_assert_true (viv_test_probe_expect_line (probe, "# done bars", WAIT_MS));
  WAIT_UNTIL (viv_remote_display_get_guest_width (remote ()) == 1280, WAIT_MS);
  g_assert_true (bars_in (GTK_WIDGET (window), "console-picture"));
  g_assert_false (viv_machine_page_get_agent_hint_shown (page));
  ready = TRUE;
}

/* A click grabs, and the header says how to let go; keys reach the guest,
 * the app's own shortcuts too while grabbed */
static void
test_keys (void)
{
  double x, y;
  GtkSearchBar *search;

  NEED_XDOTOOL ();
  viv_test_display_point (GTK_WIDGET (display), 640, 400, &x, &y);
  g_assert_true (viv_test_pointer_to (GTK_WIDGET (display), x, y));
  g_assert_true (viv_test_xdo ("click 1"));
  WAIT_UNTIL (viv_remote_display_get_grabbed (remote ()), 10000);
  g_assert_true (viv_remote_display_get_grabbed (remote ()));
  g_assert_cmpstr (subtitle (), ==, _("Press Ctrl+Alt to release the keyboard"));
  shoot (GTK_WIDGET (window), "console-grabbed");

  probe->mark = probe->com1->len;
  g_assert_true (viv_test_xdo ("key a"));
  WAIT_UNTIL (viv_test_probe_input_is (probe, EV_KEY, KEY_A, 0), WAIT_MS);
  g_assert_true (viv_test_probe_input_is (probe, EV_KEY, KEY_A, 0));

  /* Ctrl+F is the window's search, but the keyboard is the guest's now */
  search = GTK_SEARCH_BAR (viv_test_find_widget (GTK_WIDGET (window), GTK_TYPE_SEARCH_BAR, NULL));
  probe->mark = probe->com1->len;
  g_assert_true (viv_test_xdo ("key ctrl+f"));
  WAIT_UNTIL (viv_test_probe_input_is (probe, EV_KEY, KEY_F, 0), WAIT_MS);
  g_assert_true (viv_test_probe_input_is (probe, EV_KEY, KEY_F, 0));
  g_assert_true (viv_test_probe_input_is (probe, EV_KEY, KEY_LEFTCTRL, 0));
  g_assert_false (gtk_search_bar_get_search_mode (search));
}

/* A click at a known place arrives as the guest's absolute position there */
static void
test_click (void)
{
  int gw = viv_remote_display_get_guest_width (remote ());
  int gh = viv_remote_display_get_guest_height (remote ());
  double gx = gw / 4 + 0.5, gy = gh / 3 + 0.5, x, y, scale, tol_x, tol_y;
  int vx = -1, vy = -1;

  NEED_XDOTOOL ();
  viv_test_display_point (GTK_WIDGET (display), gx, gy, &x, &y);
  scale = MIN ((double) gtk_widget_get_width (GTK_WIDGET (display)) / gw,
               (double) gtk_widget_get_height (GTK_WIDGET (display)) / gh);
  probe->mark = probe->com1->len;
  g_assert_true (viv_test_pointer_to (GTK_WIDGET (display), x, y));
  g_assert_true (viv_test_xdo ("click 1"));
  WAIT_UNTIL (viv_test_probe_input_is (probe, EV_KEY, BTN_LEFT, 0), WAIT_MS);
  g_assert_true (viv_test_probe_input_is (probe, EV_KEY, BTN_LEFT, 0));
  g_assert_true (viv_test_probe_last_input (probe, EV_ABS, ABS_X, &vx));
  g_assert_true (viv_test_probe_last_input (probe, EV_ABS, ABS_Y, &vy));
  tol_x = (1 / scale + 1) * 32767.0 / (gw - 1);
  tol_y = (1 / scale + 1) * 32767.0 / (gh - 1);
  g_test_message ("guest (%.0f, %.0f) -> ABS %d, %d", floor (gx), floor (gy), vx, vy);
  g_assert_cmpfloat (fabs (vx - floor (gx) * 32767.0 / (gw - 1)), <=, tol_x);
  g_assert_cmpfloat (fabs (vy - floor (gy) * 32767.0 / (gh - 1)), <=, tol_y);
}

/* Send Key: Ctrl+Alt+Del from the header's menu */
static void
test_send_key (void)
{
  const char *ctrl_up, *del_up;

  NEED_MACHINE ();
  probe->mark = probe->com1->len;
  g_assert_true (page_action ("console.send-key", "s", "ctrl-alt-delete"));
  WAIT_UNTIL (viv_test_probe_input_is (probe, EV_KEY, KEY_LEFTCTRL, 0), WAIT_MS);
  g_assert_nonnull (strstr (probe->com1->str + probe->mark, "# input kbd 1 29 1"));
  g_assert_nonnull (strstr (probe->com1->str + probe->mark, "# input kbd 1 56 1"));
  g_assert_nonnull (strstr (probe->com1->str + probe->mark, "# input kbd 1 111 1"));
  del_up = strstr (probe->com1->str + probe->mark, "# input kbd 1 111 0");
  ctrl_up = strstr (probe->com1->str + probe->mark, "# input kbd 1 29 0");
  g_assert_true (del_up != NULL && ctrl_up != NULL && del_up < ctrl_up);

  /* and Print Screen, one key with the 0xe0 prefix */
  probe->mark = probe->com1->len;
  g_assert_true (page_action ("console.send-key", "s", "print"));
  WAIT_UNTIL (viv_test_probe_input_is (probe, EV_KEY, KEY_SYSRQ, 0), WAIT_MS);
  g_assert_true (viv_test_probe_input_is (probe, EV_KEY, KEY_SYSRQ, 0));
}

/* Ctrl+Alt gives the keyboard back; then F11 is the app's: fullscreen,
 * with the header hidden until the pointer reaches the top edge */
static void
test_release_fullscreen (void)
{
  GtkWidget *flap;

  NEED_XDOTOOL ();
  g_assert_true (viv_remote_display_get_grabbed (remote ()));
  g_assert_true (viv_test_xdo ("key ctrl+alt"));
  WAIT_UNTIL (!viv_remote_display_get_grabbed (remote ()), 10000);
  g_assert_false (viv_remote_display_get_grabbed (remote ()));
  g_assert_cmpstr (subtitle (), ==, C_("machine state", "Running"));
  g_assert_true (gtk_widget_has_focus (GTK_WIDGET (display)));

  /* Ctrl+Alt takes it again without a click, and gives it back */
  g_assert_true (viv_test_xdo ("key ctrl+alt"));
  WAIT_UNTIL (viv_remote_display_get_grabbed (remote ()), 10000);
  g_assert_true (viv_remote_display_get_grabbed (remote ()));
  g_assert_true (viv_test_xdo ("key ctrl+alt"));
  WAIT_UNTIL (!viv_remote_display_get_grabbed (remote ()), 10000);
  g_assert_false (viv_remote_display_get_grabbed (remote ()));

  probe->mark = probe->com1->len;
  g_assert_true (viv_test_xdo ("key F11"));
  WAIT_UNTIL (viv_machine_page_get_fullscreen (page), 10000);
  g_assert_true (viv_machine_page_get_fullscreen (page));
  /* (Xvfb has no window manager to say it is) */
  g_test_message ("the window says it is %sfullscreen",
                  gtk_window_is_fullscreen (GTK_WINDOW (window)) ? "" : "not ");
  /* F11 was not the guest's */
  g_assert_null (strstr (probe->com1->str + probe->mark, "# input kbd 1 87 "));
  flap = viv_test_find_widget (GTK_WIDGET (page), ADW_TYPE_FLAP, NULL);
  WAIT_UNTIL (!adw_flap_get_reveal_flap (ADW_FLAP (flap)), 10000);
  g_assert_false (adw_flap_get_reveal_flap (ADW_FLAP (flap)));
  shoot (GTK_WIDGET (window), "console-fullscreen");
  g_assert_true (viv_test_pointer_to (flap, gtk_widget_get_width (flap) / 2.0, 1));
  WAIT_UNTIL (adw_flap_get_reveal_flap (ADW_FLAP (flap)), 10000);
  g_assert_true (adw_flap_get_reveal_flap (ADW_FLAP (flap)));
  shoot (GTK_WIDGET (window), "console-fullscreen-header");
  g_assert_true (viv_test_pointer_to (flap, gtk_widget_get_width (flap) / 2.0,
                                      gtk_widget_get_height (flap) / 2.0));
  WAIT_UNTIL (!adw_flap_get_reveal_flap (ADW_FLAP (flap)), 10000);
  g_assert_false (adw_flap_get_reveal_flap (ADW_FLAP (flap)));

  gtk_widget_grab_focus (GTK_WIDGET (display));
  g_assert_true (viv_test_xdo ("key F11"));
  WAIT_UNTIL (!viv_machine_page_get_fullscreen (page), 10000);
  g_assert_false (viv_machine_page_get_fullscreen (page));
  WAIT_UNTIL (adw_flap_get_reveal_flap (ADW_FLAP (flap)), 10000);
  g_assert_true (adw_flap_get_reveal_flap (ADW_FLAP (flap)));
}

/* With the agent, the guest's screen follows the page's size */
static gboolean
follows_widget (gpointer data G_GNUC_UNUSED)
{
  int factor = gtk_widget_get_scale_factor (GTK_WIDGET (display));

  return viv_remote_display_get_guest_width (remote ())
           == gtk_widget_get_width (GTK_WIDGET (display)) * factor
         && viv_remote_display_get_guest_height (remote ())
           == gtk_widget_get_height (GTK_WIDGET (display)) * factor;
}

/* With the agent, a window resized by hand resizes the guest's screen */
static void
test_resize (void)
{
  g_autofree char *args = NULL;
  g_autofree char *monitors = NULL;
  GtkNative *native;

  NEED_XDOTOOL ();
  WAIT_UNTIL (viv_remote_display_get_can_resize (remote ()), WAIT_MS);
  g_assert_true (viv_remote_display_get_can_resize (remote ()));
  probe->mark = probe->com1->len;
  native = gtk_widget_get_native (GTK_WIDGET (window));
  args = g_strdup_printf ("windowsize --sync %lu 900 640",
                          (gulong) gdk_x11_surface_get_xid (gtk_native_get_surface (native)));
  g_assert_true (viv_test_xdo (args));
  /* The guest hears it from its display device or from its agent */
  WAIT_UNTIL ((viv_test_probe_find_line (probe, "# display resized ", NULL)
               || viv_test_probe_find_line (probe, "# agent monitors ", NULL))
              && follows_widget (NULL), WAIT_MS);
  if (!viv_test_probe_find_line (probe, "# display resized ", &monitors))
    viv_test_probe_find_line (probe, "# agent monitors ", &monitors);
  g_test_message ("window %dx%d, page's screen %dx%d, the guest was asked for %s",
                  gtk_widget_get_width (GTK_WIDGET (window)),
                  gtk_widget_get_height (GTK_WIDGET (window)),
                  gtk_widget_get_width (GTK_WIDGET (display)),
                  gtk_widget_get_height (GTK_WIDGET (display)), monitors);
  if (monitors == NULL || !follows_widget (NULL))
    g_test_message ("COM1 since the resize:\n%s", probe->com1->str + probe->mark);
  g_assert_nonnull (monitors);
  g_assert_true (follows_widget (NULL));
  shoot (GTK_WIDGET (window), "console-resized");
}

static gboolean
clipboard_is (gpointer data)
{
  g_autofree char *text = viv_test_clipboard_text (gtk_widget_get_clipboard (GTK_WIDGET (window)));

  return g_strcmp0 (text, data) == 0;
}

/* Copy in the app, paste in the guest, and the other way */
static void
test_clipboard (void)
{
  g_autofree char *got = NULL;

  NEED_MACHINE ();
  WAIT_UNTIL (viv_remote_display_get_has_clipboard (remote ()), WAIT_MS);
  g_assert_true (viv_remote_display_get_has_clipboard (remote ()));
  probe->mark = probe->com1->len;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (window)), "from the page of the app");
  g_assert_true (viv_test_probe_expect_line (probe, "# agent clipboard ", WAIT_MS));
  viv_test_probe_find_line (probe, "# agent clipboard ", &got);
  g_assert_cmpstr (got, ==, "from the page of the app");

  viv_test_probe_command (probe, "clip from the guest");
  g_assert_true (viv_test_probe_expect_line (probe, "# done clip", WAIT_MS));
  g_assert_true (viv_test_wait_for (clipboard_is, "from the guest", WAIT_MS));
}

static void
store_texture (GObject      *object,
               GAsyncResult *result,
               gpointer      data)
{
  GdkTexture **texture = data;
  g_autoptr(GError) error = NULL;

  *texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (object), result, &error);
  if (*texture == NULL)
    {
      /* no picture: one that matches nothing, so the wait ends */
      g_autoptr(GBytes) empty = g_bytes_new_static ("\0\0\0\0", 4);

      *texture = gdk_memory_texture_new (1, 1, GDK_MEMORY_DEFAULT, empty, 4);
    }
}

/* TEXTURE's pixels are W x H of WANT (0x00RRGGBB) */
static gboolean
texture_is (GdkTexture     *texture,
            int             w,
            int             h,
            const guint32  *want)
{
  guint32 pixels[16];

  if (gdk_texture_get_width (texture) != w || gdk_texture_get_height (texture) != h)
    return FALSE;
  g_assert_cmpint (w * h, <=, 16);
  gdk_texture_download (texture, (guchar *) pixels, (gsize) w * 4);
  for (int i = 0; i < w * h; i++)
    if ((pixels[i] & 0xffffff) != want[i])
      return FALSE;
  return TRUE;
}

static gboolean
clipboard_has_png_pattern (gpointer data G_GNUC_UNUSED)
{
  g_autoptr(GdkTexture) texture = NULL;

  gdk_clipboard_read_texture_async (gtk_widget_get_clipboard (GTK_WIDGET (window)), NULL,
                                    store_texture, &texture);
  WAIT_UNTIL (texture != NULL, 10000);
  return texture != NULL && texture_is (texture, 2, 2, pattern_png_pixels);
}

/* An image both ways, as PNG through the agent */
static void
test_clipboard_image (void)
{
  static const guint32 picture[6] = { 0x102030, 0x405060, 0x708090,
                                      0xa0b0c0, 0xd0e0f0, 0x00ff00 };
  guint32 bgra[6];
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GdkTexture) received = NULL;
  g_autoptr(GByteArray) png = g_byte_array_new ();
  g_autofree char *line = NULL;
  char *hex;

  NEED_MACHINE ();
  viv_test_probe_command (probe, "clippng");
  g_assert_true (viv_test_probe_expect_line (probe, "# done clippng", WAIT_MS));
  g_assert_true (viv_test_wait_for (clipboard_has_png_pattern, NULL, WAIT_MS));

  for (int i = 0; i < 6; i++)
    bgra[i] = picture[i] | 0xff000000u;
  bytes = g_bytes_new (bgra, sizeof bgra);
  texture = gdk_memory_texture_new (3, 2, GDK_MEMORY_B8G8R8A8, bytes, 3 * 4);
  probe->mark = probe->com1->len;
  gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (window)), texture);
  g_assert_true (viv_test_probe_expect_line (probe, "# agent clipboard-png ", WAIT_MS));
  viv_test_probe_find_line (probe, "# agent clipboard-png ", &line);
  hex = strchr (line, ' ');
  g_assert_nonnull (hex);
  for (hex++; g_ascii_isxdigit (hex[0]) && g_ascii_isxdigit (hex[1]); hex += 2)
    {
      guint8 byte = (guint8) (g_ascii_xdigit_value (hex[0]) << 4 | g_ascii_xdigit_value (hex[1]));

      g_byte_array_append (png, &byte, 1);
    }
  g_assert_cmpuint (png->len, ==, g_ascii_strtoull (line, NULL, 10));
  {
    g_autoptr(GBytes) png_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&png));
    g_autoptr(GError) error = NULL;

    received = gdk_texture_new_from_bytes (png_bytes, &error);
    g_assert_no_error (error);
  }
  g_assert_true (texture_is (received, 3, 2, picture));
}

/* Zoom to 100 %: one guest pixel per device pixel, with scrollbars */
static void
test_zoom (void)
{
  GtkScrolledWindow *scroller;
  GtkPolicyType h, v;

  NEED_MACHINE ();
  viv_test_probe_command (probe, "setmode 1280 800");
  g_assert_true (viv_test_probe_expect_line (probe, "# display mode 1280x800", WAIT_MS));
  viv_test_probe_command (probe, "bars");
  g_assert_true (viv_test_probe_expect_line (probe, "# done bars", WAIT_MS));
  g_assert_true (page_action ("console.zoom", "s", "original"));
  g_assert_cmpint (viv_remote_display_get_scale_mode (remote ()), ==,
                   VIV_REMOTE_DISPLAY_SCALE_ORIGINAL);
  scroller = GTK_SCROLLED_WINDOW (gtk_widget_get_ancestor (GTK_WIDGET (display),
                                                           GTK_TYPE_SCROLLED_WINDOW));
  gtk_scrolled_window_get_policy (scroller, &h, &v);
  g_assert_cmpint (h, ==, GTK_POLICY_AUTOMATIC);
  g_assert_cmpint (v, ==, GTK_POLICY_AUTOMATIC);
  WAIT_UNTIL (gtk_widget_get_width (GTK_WIDGET (display))
              * gtk_widget_get_scale_factor (GTK_WIDGET (display)) >= 1280, 10000);
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (display))
                   * gtk_widget_get_scale_factor (GTK_WIDGET (display)), >=, 1280);
  shoot (GTK_WIDGET (window), "console-original-size");
  g_assert_true (page_action ("console.zoom", "s", "fit"));
  g_assert_cmpint (viv_remote_display_get_scale_mode (remote ()), ==,
                   VIV_REMOTE_DISPLAY_SCALE_FIT);
}

/* The serial console is one click away, and back */
static void
test_serial (void)
{
  NEED_MACHINE ();
  g_assert_true (page_action ("machine.show-serial", NULL, NULL));
  g_assert_cmpstr (viv_machine_page_get_console_view (page), ==, "serial");
  shoot (GTK_WIDGET (window), "console-serial");
  g_assert_true (page_action ("machine.show-serial", NULL, NULL));
  g_assert_cmpstr (viv_machine_page_get_console_view (page), ==, "display");
  g_assert_true (shows_picture ());
}

/* Open in New Window: the screen, session and all, moves; closing that
 * window brings it back */
static void
test_new_window (void)
{
  GtkWindow *console_window;

  NEED_MACHINE ();
  g_assert_true (page_action ("console.detach", NULL, NULL));
  console_window = viv_machine_page_get_console_window (page);
  g_assert_nonnull (console_window);
  g_assert_cmpstr (viv_machine_page_get_console_view (page), ==, "detached");
  g_assert_true (gtk_widget_get_root (GTK_WIDGET (display)) == GTK_ROOT (console_window));
  g_assert_cmpstr (gtk_window_get_title (console_window), ==, "Probe");
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (display)), 10000);
  g_assert_true (shows_picture ());
  viv_test_probe_command (probe, "bars");
  g_assert_true (viv_test_probe_expect_line (probe, "# done bars", WAIT_MS));
  /* the agent resizes the guest to the new window: wait for it to settle */
  WAIT_UNTIL (follows_widget (NULL), WAIT_MS);
  viv_test_probe_command (probe, "bars");
  g_assert_true (viv_test_probe_expect_line (probe, "# done bars", WAIT_MS));
  g_assert_true (bars_in (GTK_WIDGET (console_window), "console-new-window"));
  shoot (GTK_WIDGET (window), "console-detached-page");

  gtk_window_close (console_window);
  WAIT_UNTIL (viv_machine_page_get_console_window (page) == NULL, 10000);
  g_assert_null (viv_machine_page_get_console_window (page));
  g_assert_cmpstr (viv_machine_page_get_console_view (page), ==, "display");
  g_assert_true (gtk_widget_get_root (GTK_WIDGET (display)) == GTK_ROOT (window));
  g_assert_true (shows_picture ());
}

/* The connection lost: said over the screen, with Reconnect */
static void
test_disconnected (void)
{
  GtkWidget *status;

  NEED_MACHINE ();
  viv_remote_display_disconnect (remote ());
  g_assert_cmpint (viv_remote_display_get_state (remote ()), ==,
                   VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
  status = viv_test_find_widget (GTK_WIDGET (page), ADW_TYPE_STATUS_PAGE,
                                 _("The Screen Is Not Available"));
  g_assert_nonnull (status);
  g_assert_true (gtk_widget_get_mapped (status));
  shoot (GTK_WIDGET (window), "console-disconnected");
  g_assert_true (page_action ("console.reconnect", NULL, NULL));
  WAIT_UNTIL (shows_picture (), WAIT_MS);
  g_assert_true (shows_picture ());
  g_assert_false (gtk_widget_get_mapped (status));
}

/* A machine without an agent: after a while, the page says what that costs */
static void
test_no_agent (void)
{
  NEED_MACHINE ();
  g_assert_true (window_action ("win.start-machine", quiet));
  g_assert_true (window_action ("win.open-machine", quiet));
  WAIT_UNTIL (viv_machine_get_state (quiet) == VIV_MACHINE_STATE_RUNNING, WAIT_MS);
  WAIT_UNTIL (shows_picture (), WAIT_MS);
  g_assert_true (shows_picture ());
  g_assert_false (viv_remote_display_get_can_resize (remote ()));
  WAIT_UNTIL (viv_machine_page_get_agent_hint_shown (page), WAIT_MS);
  g_assert_true (viv_machine_page_get_agent_hint_shown (page));
  shoot (GTK_WIDGET (window), "console-no-agent");
  g_assert_true (page_action ("console.dismiss-agent-hint", NULL, NULL));
  g_assert_false (viv_machine_page_get_agent_hint_shown (page));
}

/* Stopped: the page says so; the screen disconnected without an error */
static void
test_stopped (void)
{
  NEED_MACHINE ();
  viv_test_stop_machines (viv_application_get_library (the_app));
  WAIT_UNTIL (g_strcmp0 (viv_machine_page_get_content (page), "off") == 0, WAIT_MS);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "off");
  g_assert_cmpint (viv_remote_display_get_state (remote ()), ==,
                   VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
  g_assert_null (viv_remote_display_dup_error (remote ()));
  shoot (GTK_WIDGET (window), "console-stopped");
}

int
main (int   argc,
      char *argv[])
{
  int status;

  root = viv_test_ui_init (&argc, &argv);
  have_kvm = viv_test_can_run_machines (&probe_path, "every case skips");
  have_xdotool = viv_test_have_xdotool () && GDK_IS_X11_DISPLAY (gdk_display_get_default ());
  the_app = viv_test_app_new ();

  viv_test_spice_warnings_not_fatal ();
  g_test_add_func ("/console/picture", test_picture);
  g_test_add_func ("/console/keys", test_keys);
  g_test_add_func ("/console/click", test_click);
  g_test_add_func ("/console/send-key", test_send_key);
  g_test_add_func ("/console/resize", test_resize);
  g_test_add_func ("/console/release-fullscreen", test_release_fullscreen);
  g_test_add_func ("/console/clipboard", test_clipboard);
  g_test_add_func ("/console/clipboard-image", test_clipboard_image);
  g_test_add_func ("/console/zoom", test_zoom);
  g_test_add_func ("/console/serial", test_serial);
  g_test_add_func ("/console/new-window", test_new_window);
  g_test_add_func ("/console/disconnected", test_disconnected);
  g_test_add_func ("/console/no-agent", test_no_agent);
  g_test_add_func ("/console/stopped", test_stopped);

  status = g_test_run ();

  viv_test_probe_free (probe);
  if (have_kvm)
    viv_test_stop_machines (viv_application_get_library (the_app));
  if (window != NULL)
    gtk_window_destroy (GTK_WINDOW (window));
  g_application_release (G_APPLICATION (the_app));
  g_clear_object (&the_app);
  viv_test_finish (root);
  return status;
}
