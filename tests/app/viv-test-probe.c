/* viv-test-probe.c: the probe guest's COM1 and real X input, for GUI tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gdk/x11/gdkx.h>

#include "pattern.h"
#include "viv-remote-display.h"
#include "viv-test-probe.h"
#include "viv-test-ui.h"

static void read_serial (VivTestProbe *probe);

static void
on_serial_read (GObject      *object,
                GAsyncResult *result,
                gpointer      data)
{
  VivTestProbe *probe = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL);

  if (n <= 0)
    {
      probe->ended = TRUE;
      return;
    }
  g_string_append_len (probe->com1, (const char *) probe->buffer, n);
  read_serial (probe);
}

static void
read_serial (VivTestProbe *probe)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (probe->serial), probe->buffer,
                             sizeof probe->buffer, G_PRIORITY_DEFAULT, probe->cancellable, on_serial_read,
                             probe);
}

/* COM1 of a running MACHINE; the probe lives as long as the test */
VivTestProbe *
viv_test_probe_open (VivMachine *machine)
{
  VivTestProbe *probe = g_new0 (VivTestProbe, 1);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  viv_machine_open_serial_async (machine, NULL, viv_test_store_result, &result);
  probe->serial = viv_machine_open_serial_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  probe->com1 = g_string_new (NULL);
  probe->cancellable = g_cancellable_new ();
  read_serial (probe);
  return probe;
}

void
viv_test_probe_free (VivTestProbe *probe)
{
  if (probe == NULL)
    return;
  /* The pending read writes into the buffer: end it first */
  g_cancellable_cancel (probe->cancellable);
  WAIT_UNTIL (probe->ended, 10000);
  g_assert_true (probe->ended);
  g_io_stream_close (probe->serial, NULL, NULL);
  g_clear_object (&probe->serial);
  g_clear_object (&probe->cancellable);
  g_string_free (probe->com1, TRUE);
  g_free (probe);
}

/* The last whole line from the mark on starting with PREFIX; its rest in *REST */
gboolean
viv_test_probe_find_line (VivTestProbe *probe,
                          const char   *prefix,
                          char        **rest)
{
  const char *p = probe->com1->str + MIN (probe->mark, probe->com1->len);
  const char *found = NULL;
  size_t n = strlen (prefix);

  for (; (p = strstr (p, prefix)) != NULL; p += n)
    if ((p == probe->com1->str || p[-1] == '\n') && strchr (p, '\n') != NULL)
      found = p;
  if (found != NULL && rest != NULL)
    {
      const char *end = strchr (found, '\n');

      if (end > found + n && end[-1] == '\r')
        end--;
      *rest = g_strndup (found + n, end - found - n);
    }
  return found != NULL;
}

gboolean
viv_test_probe_expect_line (VivTestProbe *probe,
                            const char   *prefix,
                            guint         timeout_ms)
{
  WAIT_UNTIL (viv_test_probe_find_line (probe, prefix, NULL), timeout_ms);
  if (viv_test_probe_find_line (probe, prefix, NULL))
    return TRUE;
  g_test_message ("no \"%s\"; COM1 since the mark:\n%s", prefix,
                  probe->com1->str + MIN (probe->mark, probe->com1->len));
  return FALSE;
}

/* Sends LINE; the mark moves to what comes next */
void
viv_test_probe_command (VivTestProbe *probe,
                        const char   *line)
{
  g_autofree char *text = g_strconcat (line, "\n", NULL);
  g_autoptr(GError) error = NULL;

  probe->mark = probe->com1->len;
  g_output_stream_write_all (g_io_stream_get_output_stream (probe->serial), text, strlen (text),
                             NULL, NULL, &error);
  g_assert_no_error (error);
}

/* The last "# input DEV TYPE CODE VALUE" since the mark for TYPE and CODE */
gboolean
viv_test_probe_last_input (VivTestProbe *probe,
                           int           type,
                           int           code,
                           int          *value)
{
  const char *p = probe->com1->str + MIN (probe->mark, probe->com1->len);
  gboolean found = FALSE;

  while ((p = strstr (p, "# input ")) != NULL)
    {
      char dev[16];
      int t, c, v;

      if (sscanf (p, "# input %15s %d %d %d", dev, &t, &c, &v) == 4 && t == type && c == code
          && strchr (p, '\n') != NULL)
        {
          *value = v;
          found = TRUE;
        }
      p += 8;
    }
  return found;
}

gboolean
viv_test_probe_input_is (VivTestProbe *probe,
                         int           type,
                         int           code,
                         int           value)
{
  int v;

  return viv_test_probe_last_input (probe, type, code, &v) && v == value;
}

/* --- the X server --------------------------------------------------------------- */

gboolean
viv_test_have_xdotool (void)
{
  g_autofree char *path = g_find_program_in_path ("xdotool");

  return path != NULL;
}

/* Runs xdotool with ARGS (real X events, through XTEST) */
gboolean
viv_test_xdo (const char *args)
{
  g_autofree char *line = g_strconcat ("xdotool ", args, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status;

  if (!g_spawn_command_line_sync (line, NULL, &err, &status, &error)
      || !g_spawn_check_wait_status (status, NULL))
    {
      g_test_message ("%s failed: %s", line, error != NULL ? error->message : err);
      return FALSE;
    }
  viv_test_sleep_ms (50);
  return TRUE;
}

/* Moves the X pointer to (X, Y) in WIDGET */
gboolean
viv_test_pointer_to (GtkWidget *widget,
                     double     x,
                     double     y)
{
  GtkNative *native = gtk_widget_get_native (widget);
  int factor = gtk_widget_get_scale_factor (widget);
  g_autofree char *args = NULL;
  double wx, wy, sx, sy;

  g_assert_true (gtk_widget_translate_coordinates (widget, GTK_WIDGET (native), x, y, &wx, &wy));
  gtk_native_get_surface_transform (native, &sx, &sy);
  /* X speaks device pixels */
  args = g_strdup_printf ("mousemove --sync --window %lu %d %d",
                          (gulong) gdk_x11_surface_get_xid (gtk_native_get_surface (native)),
                          (int) floor ((wx + sx) * factor), (int) floor ((wy + sy) * factor));
  return viv_test_xdo (args);
}

/* --- the picture ------------------------------------------------------------------ */

/* Where DISPLAY draws a GW x GH screen in FIT mode: centred, aspect kept */
static void
place_of (GtkWidget *display,
          int        gw,
          int        gh,
          double    *x,
          double    *y,
          double    *scale)
{
  double w = gtk_widget_get_width (display);
  double h = gtk_widget_get_height (display);

  *scale = MIN (w / gw, h / gh);
  *x = (w - gw * *scale) / 2;
  *y = (h - gh * *scale) / 2;
}

/* The point of DISPLAY showing guest pixel (GX, GY), FIT mode */
void
viv_test_display_point (GtkWidget *display,
                        double     gx,
                        double     gy,
                        double    *x,
                        double    *y)
{
  VivRemoteDisplay *remote = VIV_REMOTE_DISPLAY (display);
  double ox, oy, scale;

  place_of (display, viv_remote_display_get_guest_width (remote),
            viv_remote_display_get_guest_height (remote), &ox, &oy, &scale);
  *x = ox + gx * scale;
  *y = oy + gy * scale;
}

/* A screenshot of WINDOW, saved as NAME, shows the probe's colour bars
 * where DISPLAY (FIT mode) has the guest's screen: a grid of points inside
 * the bars, away from their edges. The first difference in *WHY. */
gboolean
viv_test_screenshot_shows_bars (GtkWidget  *window,
                                GtkWidget  *display,
                                const char *name,
                                char      **why)
{
  VivRemoteDisplay *remote = VIV_REMOTE_DISPLAY (display);
  g_autofree char *path = NULL;
  g_autoptr(GdkTexture) shot = NULL;
  g_autofree guint32 *pixels = NULL;
  int gw = viv_remote_display_get_guest_width (remote);
  int gh = viv_remote_display_get_guest_height (remote);
  int sw, sh;
  double ox, oy;

  if (!viv_test_wait_for_frames (window, 5, 10000))
    return FALSE;
  path = viv_test_screenshot (window, name);
  if (path == NULL || gw <= 0 || gh <= 0)
    {
      *why = g_strdup ("no screenshot, or no guest screen");
      return FALSE;
    }
  shot = gdk_texture_new_from_filename (path, NULL);
  g_assert_nonnull (shot);
  sw = gdk_texture_get_width (shot);
  sh = gdk_texture_get_height (shot);
  pixels = g_new (guint32, (gsize) sw * sh);
  /* GDK's default format, B G R A bytes: 0xAARRGGBB words on x86 */
  gdk_texture_download (shot, (guchar *) pixels, (gsize) sw * 4);
  if (!gtk_widget_translate_coordinates (display, window, 0, 0, &ox, &oy))
    {
      *why = g_strdup ("the display is not in the window");
      return FALSE;
    }

  for (int i = 0; i < 8; i++)
    for (int row = 1; row < 10; row++)
      for (int dx = -1; dx <= 1; dx++)
        {
          int x0 = gw * i / 8, x1 = gw * (i + 1) / 8;
          double gx = (x0 + x1) / 2.0 + dx * (x1 - x0) / 4.0;
          double gy = gh * row / 10.0;
          double wx, wy;
          int sx, sy;
          guint32 got, want = pattern_bars[i];

          viv_test_display_point (display, gx, gy, &wx, &wy);
          sx = (int) floor (ox + wx);
          sy = (int) floor (oy + wy);
          if (sx < 0 || sx >= sw || sy < 0 || sy >= sh)
            {
              *why = g_strdup_printf ("guest (%.0f, %.0f) is outside the screenshot", gx, gy);
              return FALSE;
            }
          got = pixels[(gsize) sy * sw + sx] & 0xffffff;
          for (int c = 0; c < 24; c += 8)
            if (ABS ((int) ((got >> c) & 0xff) - (int) ((want >> c) & 0xff)) > 4)
              {
                *why = g_strdup_printf ("screenshot (%d, %d), guest (%.0f, %.0f), bar %d: "
                                        "%06x, not %06x", sx, sy, gx, gy, i, got, want);
                return FALSE;
              }
        }
  return TRUE;
}

/* The display's screen (dup_screen: what the client has, painted or not)
 * shows the colour bars, sampled at each bar's centre on three rows */
gboolean
viv_test_display_shows_bars (gpointer display)
{
  g_autoptr(GdkTexture) texture = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (display));
  g_autofree guint32 *pixels = NULL;
  int w, h;

  if (texture == NULL)
    return FALSE;
  w = gdk_texture_get_width (texture);
  h = gdk_texture_get_height (texture);
  pixels = g_new (guint32, (gsize) w * h);
  gdk_texture_download (texture, (guchar *) pixels, (gsize) w * 4);
  for (int i = 0; i < 8; i++)
    for (int row = 1; row < 4; row++)
      {
        int x = (w * i / 8 + w * (i + 1) / 8) / 2, y = h * row / 4;

        if ((pixels[(gsize) y * w + x] & 0xffffff) != pattern_bars[i])
          return FALSE;
      }
  return TRUE;
}
