/* console-bench.c: the console's latency and frame rate, for bench/console.sh
 *
 * One run: a machine of our own library boots the probe guest in its
 * display mode (tests/guest/README.md, "The display") under vivarium-vmm,
 * and a client shows its screen on the X display ($DISPLAY, Xvfb):
 *
 *   --client ours            a GtkWindow with a VivDisplay, the app's widget,
 *                            connected as the app connects it
 *                            (viv_display_set_machine: OpenDisplay);
 *   --client remote-viewer   GNOME Boxes' route: Debian's remote-viewer
 *                            (GTK 3, spice-gtk) on the helper's
 *                            ListenDisplay socket.
 *
 * After `setmode 1920 1080` the probe's `bench small|full COUNT HZ` fills
 * a 64x64 square or the whole screen with bench_color (i) (pattern.h) and
 * prints the guest's TSC just before each RESOURCE_FLUSH; `sync` gives the
 * guest's TSC against ours, as in tests/vmm/test-display.c. Update i is
 * "shown" at:
 *
 *   frame clock (ours only): the widget's GdkFrameClock "after-paint" of the
 *     first frame whose snapshot drew bench_color (i) at the bench point.
 *     What it drew is read from the render node VivDisplay's snapshot()
 *     made: the class's snapshot is wrapped (the class structure is public,
 *     the type final), the node searched for the texture under the bench
 *     point and that texel read from the bytes the texture was made from
 *     (kept by this program's gdk_memory_texture_new(), below);
 *   X server (both): a second process of this program (--watch) with
 *     XDamage on the root window reads the bench point's pixel with
 *     XGetImage after each damage, and timestamps each change. It finds
 *     where the guest's screen is by its colour (the whole screen filled
 *     with bench_color (0)), so the two clients are measured the same way.
 *
 * Prints "result NAME VALUE" lines (fc-* and x-*), and "info ..." lines.
 * Needs VIVARIUM_VMM and VIVARIUM_PROBE_ELF; exits 77 without /dev/kvm.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <x86intrin.h>

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/Xdamage.h>
#include <gdk/x11/gdkx.h>

#include "pattern.h"
#include "viv-display.h"
#include "viv-test-ui.h"

#define WAIT_MS  60000
#define MIB      (G_GUINT64_CONSTANT (1) << 20)

/* Iterates the main context until EXPR holds or MS pass. Unlike the tests'
 * WAIT_UNTIL, without a 10 ms tick: the client measured would pay for its
 * wake-ups (about 1% of a core with a still screen) */
static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

#define BENCH_WAIT_UNTIL(expr, ms)                                            \
  G_STMT_START {                                                              \
    gboolean late_ = FALSE;                                                   \
    guint deadline_ = g_timeout_add ((ms), on_deadline, &late_);              \
    while (!(expr) && !late_)                                                 \
      g_main_context_iteration (NULL, TRUE);                                  \
    if (!late_)                                                               \
      g_source_remove (deadline_);                                            \
  } G_STMT_END

static void
bench_sleep_ms (guint ms)
{
  BENCH_WAIT_UNTIL (FALSE, ms);
}

/* ---- the X server watcher (--watch) ------------------------------------------ */

/* Reads commands on stdin, one a line:
 *   calibrate RRGGBB  the bounding box of that colour on the root window:
 *                     "area X Y W H" (or "area none")
 *   point X Y         watch that pixel of the root window: "px TSC RRGGBB"
 *                     now and at each change, TSC the host's rdtsc just
 *                     after the XGetImage that saw it
 * and ends at the end of stdin. */

static guint32
root_pixel (Display *dpy, Window root, int x, int y)
{
  XImage *image = XGetImage (dpy, root, x, y, 1, 1, AllPlanes, ZPixmap);
  guint32 pixel;

  if (image == NULL)
    return 0xff000000u;
  pixel = XGetPixel (image, 0, 0) & 0xffffff;
  XDestroyImage (image);
  return pixel;
}

static void
calibrate (Display *dpy, Window root, guint32 color)
{
  XWindowAttributes attrs;
  XImage *image;
  int x0 = G_MAXINT, y0 = G_MAXINT, x1 = -1, y1 = -1;

  XGetWindowAttributes (dpy, root, &attrs);
  image = XGetImage (dpy, root, 0, 0, attrs.width, attrs.height, AllPlanes, ZPixmap);
  if (image == NULL)
    {
      printf ("area none\n");
      return;
    }
  for (int y = 0; y < attrs.height; y++)
    for (int x = 0; x < attrs.width; x++)
      if ((XGetPixel (image, x, y) & 0xffffff) == color)
        {
          x0 = MIN (x0, x);
          y0 = MIN (y0, y);
          x1 = MAX (x1, x);
          y1 = MAX (y1, y);
        }
  XDestroyImage (image);
  if (x1 < 0)
    printf ("area none\n");
  else
    printf ("area %d %d %d %d\n", x0, y0, x1 - x0 + 1, y1 - y0 + 1);
}

static int
watch_main (void)
{
  Display *dpy = XOpenDisplay (NULL);
  int event_base, error_base;
  Window root;
  Damage damage;
  int px = -1, py = -1;
  guint32 last = 0xffffffffu;
  GString *input = g_string_new (NULL);

  if (dpy == NULL || !XDamageQueryExtension (dpy, &event_base, &error_base))
    {
      fprintf (stderr, "console-bench --watch: no X display with XDamage\n");
      return 1;
    }
  root = DefaultRootWindow (dpy);
  damage = XDamageCreate (dpy, root, XDamageReportNonEmpty);
  setvbuf (stdout, NULL, _IOLBF, 0);
  printf ("watching\n");

  for (;;)
    {
      struct pollfd fds[2] = {
        { .fd = ConnectionNumber (dpy), .events = POLLIN },
        { .fd = STDIN_FILENO, .events = POLLIN },
      };
      gboolean damaged = FALSE;

      if (XPending (dpy) == 0 && poll (fds, 2, -1) < 0 && errno != EINTR)
        break;
      while (XPending (dpy) > 0)
        {
          XEvent event;

          XNextEvent (dpy, &event);
          if (event.type == event_base + XDamageNotify)
            damaged = TRUE;
        }
      if (damaged)
        {
          /* Re-armed first: what is drawn after this reports again */
          XDamageSubtract (dpy, damage, None, None);
          if (px >= 0)
            {
              guint32 pixel = root_pixel (dpy, root, px, py);
              guint64 now = __rdtsc ();

              if (pixel != last)
                printf ("px %" G_GUINT64_FORMAT " %06x\n", now, pixel);
              last = pixel;
            }
        }
      if (fds[1].revents & (POLLIN | POLLHUP))
        {
          char buf[256];
          ssize_t n = read (STDIN_FILENO, buf, sizeof buf);
          char *nl;

          if (n <= 0)
            break;
          g_string_append_len (input, buf, n);
          while ((nl = strchr (input->str, '\n')) != NULL)
            {
              unsigned color;
              int x, y;

              *nl = '\0';
              if (sscanf (input->str, "calibrate %x", &color) == 1)
                calibrate (dpy, root, color);
              else if (sscanf (input->str, "point %d %d", &x, &y) == 2)
                {
                  px = x, py = y;
                  last = root_pixel (dpy, root, px, py);
                  printf ("px %" G_GUINT64_FORMAT " %06x\n", (guint64) __rdtsc (), last);
                }
              g_string_erase (input, 0, nl - input->str + 1);
            }
        }
    }
  XDamageDestroy (dpy, damage);
  XCloseDisplay (dpy);
  g_string_free (input, TRUE);
  return 0;
}

/* ---- lines from a stream -------------------------------------------------------- */

typedef struct
{
  GInputStream *stream;
  GString      *text;
  guint8        buffer[4096];
  gboolean      closed;
} Lines;

static void lines_read (Lines *lines);

static void
on_lines_read (GObject *object, GAsyncResult *result, gpointer data)
{
  Lines *lines = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL);

  if (n <= 0)
    {
      lines->closed = TRUE;
      return;
    }
  g_string_append_len (lines->text, (const char *) lines->buffer, n);
  lines_read (lines);
}

static void
lines_read (Lines *lines)
{
  g_input_stream_read_async (lines->stream, lines->buffer, sizeof lines->buffer,
                             G_PRIORITY_HIGH, NULL, on_lines_read, lines);
}

static void
lines_start (Lines *lines, GInputStream *stream)
{
  lines->stream = g_object_ref (stream);
  lines->text = g_string_new (NULL);
  lines_read (lines);
}

/* The first whole line from FROM on that starts with PREFIX; its rest in
 * *REST (without the line's end) */
static gboolean
lines_find (Lines *lines, gsize from, const char *prefix, char **rest)
{
  const char *p = lines->text->str + MIN (from, lines->text->len);
  size_t n = strlen (prefix);

  while (p > lines->text->str && p[-1] != '\n')
    p++;
  for (const char *end; (end = strchr (p, '\n')) != NULL; p = end + 1)
    if (strncmp (p, prefix, n) == 0)
      {
        const char *e = end;

        if (e > p + n && e[-1] == '\r')
          e--;
        if (rest != NULL)
          *rest = g_strndup (p + n, e - (p + n));
        return TRUE;
      }
  return FALSE;
}

/* ---- the run ------------------------------------------------------------------------ */

static const char *probe_path;
static VivLibrary *library;
static VivMachine *machine;
static GIOStream  *serial;
static Lines       com1;
static gsize       mark;        /* where the last command's replies start */

static GtkWindow  *window;
static VivDisplay *display;
static GSubprocess *viewer;     /* remote-viewer */
static GSubprocess *watcher;
static Lines       watch_out;

static double      host_tsc_per_s;
static gint64      tsc_offset;  /* guest TSC - host TSC */

/* the benchmark: update i shows bench_color (i) at (bench_x, bench_y) */
static gboolean    bench_on;
static guint       bench_x, bench_y;
static guint       bench_count;
static guint64    *seen_fc;     /* the frame clock's after-paint showing update i, or 0 */
static guint32     painted = 0xff000000u;  /* the colour the last snapshot drew there */
static gboolean    painted_new;
static double      fc_x, fc_y;  /* the bench point in the widget */
static int         area[4];     /* the guest's screen on the root window */

static gboolean
find_line (const char *prefix, char **rest)
{
  return lines_find (&com1, mark, prefix, rest);
}

static gboolean
expect_line (const char *prefix, guint ms)
{
  BENCH_WAIT_UNTIL (find_line (prefix, NULL) || com1.closed, ms);
  if (find_line (prefix, NULL))
    return TRUE;
  g_printerr ("no \"%s\" in %u ms; COM1 since the command:\n%s\n", prefix, ms,
              com1.text->str + MIN (mark, com1.text->len));
  return FALSE;
}

static void
command (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
command (const char *format, ...)
{
  g_autofree char *body = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GError) error = NULL;
  va_list ap;

  va_start (ap, format);
  body = g_strdup_vprintf (format, ap);
  va_end (ap);
  line = g_strconcat (body, "\n", NULL);
  mark = com1.text->len;
  g_output_stream_write_all (g_io_stream_get_output_stream (serial), line, strlen (line), NULL,
                             NULL, &error);
  if (error != NULL)
    g_error ("COM1: %s", error->message);
}

static void
watch_command (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
watch_command (const char *format, ...)
{
  g_autofree char *body = NULL;
  g_autofree char *line = NULL;
  va_list ap;

  va_start (ap, format);
  body = g_strdup_vprintf (format, ap);
  va_end (ap);
  line = g_strconcat (body, "\n", NULL);
  g_output_stream_write_all (g_subprocess_get_stdin_pipe (watcher), line, strlen (line), NULL,
                             NULL, NULL);
}

static void
result (const char *name, double value)
{
  printf ("result %s %.3f\n", name, value);
  fflush (stdout);
}

static uint32_t
bench_index (uint32_t color)
{
  /* bench_color (i) = i * 0x010307 + 0x203040 mod 2^24; 0x010307 is odd,
   * so it has an inverse mod 2^24 (Newton's iteration) */
  uint32_t a = 0x010307u, inv = a;

  for (int i = 0; i < 5; i++)
    inv *= 2 - a * inv;
  return ((color - 0x203040u) * inv) & 0xffffffu;
}

/* ---- what VivDisplay drew ----------------------------------------------------------- */

static void (*display_snapshot) (GtkWidget *widget, GtkSnapshot *snapshot);

/* where the client's time goes, per bench run: frames painted, the time
 * in VivDisplay's snapshot and from each frame's "before-paint" to its
 * "after-paint" (layout, snapshot and render) */
static guint   frames;
static guint64 snapshot_ticks, frame_ticks, before_paint_at;
/* The pixels each GdkMemoryTexture was made from. GTK 4.8 has no cheap
 * way to read one texel back: gdk_texture_download() converts the whole
 * texture through floats, even to its own format (1 to 5.5 ms for a
 * 256x256 tile here, by the load, timed over 100 downloads), which would
 * slow the client measured. So this
 * program's own gdk_memory_texture_new(), which VivDisplay (linked in
 * statically) calls, keeps them on the texture. */
typedef struct
{
  GBytes          *bytes;
  gsize            stride;
  GdkMemoryFormat  format;
} Pixels;

static void
pixels_free (gpointer data)
{
  Pixels *pixels = data;

  g_bytes_unref (pixels->bytes);
  g_free (pixels);
}

GdkTexture *
gdk_memory_texture_new (int width, int height, GdkMemoryFormat format, GBytes *bytes,
                        gsize stride)
{
  static GdkTexture *(*real) (int, int, GdkMemoryFormat, GBytes *, gsize);
  GdkTexture *texture;
  Pixels *pixels;

  if (real == NULL)
    real = (GdkTexture *(*) (int, int, GdkMemoryFormat, GBytes *, gsize))
             dlsym (RTLD_NEXT, "gdk_memory_texture_new");
  texture = real (width, height, format, bytes, stride);
  pixels = g_new (Pixels, 1);
  pixels->bytes = g_bytes_ref (bytes);
  pixels->stride = stride;
  pixels->format = format;
  g_object_set_data_full (G_OBJECT (texture), "console-bench-pixels", pixels, pixels_free);
  return texture;
}

/* The colour NODE draws at (X, Y), from its topmost texture there; FALSE
 * where no texture covers it */
static gboolean
node_color_at (GskRenderNode *node, double x, double y, guint32 *color)
{
  graphene_rect_t bounds;

  switch (gsk_render_node_get_node_type (node))
    {
    case GSK_CONTAINER_NODE:
      for (guint i = gsk_container_node_get_n_children (node); i-- > 0;)
        if (node_color_at (gsk_container_node_get_child (node, i), x, y, color))
          return TRUE;
      return FALSE;

    case GSK_TEXTURE_NODE:
      gsk_render_node_get_bounds (node, &bounds);
      if (x < bounds.origin.x || y < bounds.origin.y
          || x >= bounds.origin.x + bounds.size.width
          || y >= bounds.origin.y + bounds.size.height)
        return FALSE;
      {
        GdkTexture *texture = gsk_texture_node_get_texture (node);
        Pixels *pixels = g_object_get_data (G_OBJECT (texture), "console-bench-pixels");
        int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
        int tx = CLAMP ((int) ((x - bounds.origin.x) * w / bounds.size.width), 0, w - 1);
        int ty = CLAMP ((int) ((y - bounds.origin.y) * h / bounds.size.height), 0, h - 1);
        const guint8 *data;

        /* VivDisplay's tiles: B, G, R, A bytes */
        if (pixels == NULL || pixels->format != GDK_MEMORY_B8G8R8A8_PREMULTIPLIED)
          return FALSE;
        data = (const guint8 *) g_bytes_get_data (pixels->bytes, NULL)
               + (gsize) ty * pixels->stride + (gsize) tx * 4;
        *color = (guint32) data[2] << 16 | (guint32) data[1] << 8 | data[0];
        return TRUE;
      }

    default:
      return FALSE;
    }
}

static void
bench_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  GtkSnapshot *inner;
  GskRenderNode *node;
  guint32 color;

  if (widget != GTK_WIDGET (display))
    {
      display_snapshot (widget, snapshot);
      return;
    }
  inner = gtk_snapshot_new ();
  {
    guint64 t0 = __rdtsc ();

    display_snapshot (widget, inner);
    snapshot_ticks += __rdtsc () - t0;
  }
  node = gtk_snapshot_free_to_node (inner);
  if (node == NULL)
    return;
  if (node_color_at (node, fc_x, fc_y, &color))
    {
      painted = color;
      painted_new = TRUE;
    }
  gtk_snapshot_append_node (snapshot, node);
  gsk_render_node_unref (node);
}

static void
on_after_paint (GdkFrameClock *clock G_GNUC_UNUSED, gpointer data G_GNUC_UNUSED)
{
  guint64 now = __rdtsc ();
  uint32_t i;

  frames++;
  if (before_paint_at != 0)
    frame_ticks += now - before_paint_at;
  before_paint_at = 0;
  if (!painted_new)
    return;
  painted_new = FALSE;
  i = bench_index (painted);
  if (bench_on && i < bench_count && seen_fc[i] == 0)
    seen_fc[i] = now;
}

static void
on_before_paint (GdkFrameClock *clock G_GNUC_UNUSED, gpointer data G_GNUC_UNUSED)
{
  before_paint_at = __rdtsc ();
}

/* Where VivDisplay puts guest pixel (GX, GY) in FIT mode: scaled to fit,
 * centred (viv-display.c's get_place) */
static void
widget_point (guint gx, guint gy, int gw, int gh, double *x, double *y)
{
  double w = gtk_widget_get_width (GTK_WIDGET (display));
  double h = gtk_widget_get_height (GTK_WIDGET (display));
  int factor = gtk_widget_get_scale_factor (GTK_WIDGET (display));
  double scale = MIN (w / gw, h / gh);
  double ox = round (MAX (0, (w - gw * scale) / 2) * factor) / factor;
  double oy = round (MAX (0, (h - gh * scale) / 2) * factor) / factor;

  *x = ox + (gx + 0.5) * scale;
  *y = oy + (gy + 0.5) * scale;
}

/* ---- the machine ---------------------------------------------------------------------- */

static void
machine_start (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "vivarium", "machines", NULL);
  g_autoptr(VivMachineConfig) config = viv_machine_config_new ("Probe", 128 * MIB, 1);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  library = viv_library_new (dir);
  viv_library_load_async (library, NULL, viv_test_store_result, &res);
  if (!viv_library_load_finish (library, viv_test_wait_result (&res), &error))
    g_error ("library: %s", error->message);
  g_clear_object (&res);

  config->boot.kind = VIV_BOOT_KIND_KERNEL;
  config->boot.kernel = g_strdup (probe_path);
  config->boot.cmdline = g_strdup ("cpus=1 mode=display");
  config->display.kind = VIV_DISPLAY_KIND_SPICE;
  config->devices.rng = FALSE;
  machine = viv_library_create_machine (library, config, &error);
  if (machine == NULL)
    g_error ("create: %s", error->message);

  viv_machine_start_async (machine, NULL, viv_test_store_result, &res);
  if (!viv_machine_start_finish (machine, viv_test_wait_result (&res), &error))
    g_error ("start: %s", error->message);
  g_clear_object (&res);
  BENCH_WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING, WAIT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);

  viv_machine_open_serial_async (machine, NULL, viv_test_store_result, &res);
  serial = viv_machine_open_serial_finish (machine, viv_test_wait_result (&res), &error);
  if (serial == NULL)
    g_error ("serial: %s", error->message);
  lines_start (&com1, g_io_stream_get_input_stream (serial));
}

/* ListenDisplay on the helper's socket: the path for an outside client */
static char *
listen_display (void)
{
  g_autofree char *sock = g_strconcat (viv_machine_get_uuid (machine), ".sock", NULL);
  g_autofree char *path = g_build_filename (g_get_user_runtime_dir (), "vivarium", sock, NULL);
  g_autofree char *address = g_strconcat ("unix:path=", path, NULL);
  g_autoptr(GDBusConnection) conn = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  char *out = NULL;

  conn = g_dbus_connection_new_for_address_sync (address,
                                                  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                                                  NULL, NULL, &error);
  if (conn != NULL)
    reply = g_dbus_connection_call_sync (conn, NULL, "/org/vivarium/Vmm1", "org.vivarium.Vmm1",
                                         "ListenDisplay", NULL, G_VARIANT_TYPE ("(s)"),
                                         G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
  if (reply == NULL)
    g_error ("ListenDisplay: %s", error->message);
  g_variant_get (reply, "(s)", &out);
  g_dbus_connection_close_sync (conn, NULL, NULL);
  return out;
}

static void
die_with_parent (gpointer data G_GNUC_UNUSED)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn (GSubprocessFlags flags, const char *const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr(GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (proc == NULL)
    g_error ("%s: %s", argv[0], error->message);
  return proc;
}

/* ---- measuring ------------------------------------------------------------------------ */

static void
measure_host_tsc (void)
{
  gint64 t0 = g_get_monotonic_time ();
  guint64 c0 = __rdtsc (), c1;
  gint64 t1;

  g_usleep (500000);
  c1 = __rdtsc ();
  t1 = g_get_monotonic_time ();
  host_tsc_per_s = (double) (c1 - c0) * 1e6 / (double) (t1 - t0);
}

/* The guest's TSC against ours, as tests/vmm/test-display.c measures it:
 * the probe reads its TSC just before the end of "# sync" goes out and
 * sends it after; the largest (guest - host) over 100 tries is the offset
 * (the latencies are short by at most one serial byte's way to us) */
static void
measure_offset (void)
{
  gint64 best = G_MININT64;

  for (int i = 0; i < 100; i++)
    {
      g_autofree char *rest = NULL;
      guint64 end, t;

      command ("sync");
      while (!find_line ("# sync", NULL) && !com1.closed)
        g_main_context_iteration (NULL, TRUE);
      end = __rdtsc ();
      while (!find_line ("# tsc ", &rest) && !com1.closed)
        g_main_context_iteration (NULL, TRUE);
      if (com1.closed)
        g_error ("COM1 closed");
      t = g_ascii_strtoull (rest, NULL, 10);
      best = MAX (best, (gint64) (t - end));
    }
  tsc_offset = best;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* Latency median and p99 and fps of SEEN against the flushes HOST_FLUSH
 * (0: the guest did not say), as PREFIX-NAME-* results */
static void
report (const char *prefix, const char *name, guint count, guint hz, const guint64 *host_flush,
        const guint64 *seen)
{
  g_autofree double *lat = g_new0 (double, count);
  guint n = 0;
  guint64 first_flush = G_MAXUINT64, last_seen = 0;
  double duration = (double) count / hz;

  for (guint i = 0; i < count; i++)
    {
      if (host_flush[i] == 0)
        continue;
      first_flush = MIN (first_flush, host_flush[i]);
      if (seen[i] == 0)
        continue;
      last_seen = MAX (last_seen, seen[i]);
      lat[n++] = (double) (gint64) (seen[i] - host_flush[i]) * 1000 / host_tsc_per_s;
    }
  qsort (lat, n, sizeof *lat, cmp_double);
  if (n > 0 && last_seen > first_flush)
    duration = MAX (duration, (double) (last_seen - first_flush) / host_tsc_per_s);
  g_printerr ("%s %s: %u of %u seen, latency median %.3f ms, p99 %.3f ms, %.1f fps\n", prefix,
              name ? name : "warm-up", n, count, n ? lat[n / 2] : -1,
              n ? lat[MIN (n - 1, n * 99 / 100)] : -1, n / duration);
  if (name == NULL)
    return;
  if (n > 0)
    {
      g_autofree char *a = g_strdup_printf ("%s-%s-median-ms", prefix, name);
      g_autofree char *b = g_strdup_printf ("%s-%s-p99-ms", prefix, name);

      result (a, lat[n / 2]);
      result (b, lat[MIN (n - 1, n * 99 / 100)]);
    }
  {
    g_autofree char *c = g_strdup_printf ("%s-%s-fps", prefix, name);
    g_autofree char *d = g_strdup_printf ("%s-%s-seen", prefix, name);

    result (c, n / duration);
    result (d, n);
  }
}

/* One "bench KIND COUNT HZ" (NAME NULL: a warm-up, not counted) */
static gboolean
bench_run (const char *kind, guint count, guint hz, const char *name)
{
  g_autofree guint64 *host_flush = g_new0 (guint64, count);
  g_autofree guint64 *seen_x = g_new0 (guint64, count);
  gsize watch_mark;
  const char *p;

  if (g_str_equal (kind, "small"))
    bench_x = 256 + 32, bench_y = 256 + 32;
  else
    bench_x = 1920 / 2, bench_y = 1080 / 2;
  bench_count = count;
  g_free (seen_fc);
  seen_fc = g_new0 (guint64, count);
  if (display != NULL)
    widget_point (bench_x, bench_y, 1920, 1080, &fc_x, &fc_y);
  frames = 0;
  snapshot_ticks = frame_ticks = 0;
  watch_mark = watch_out.text->len;
  watch_command ("point %d %d", area[0] + (int) ((bench_x + 0.5) * area[2] / 1920),
                 area[1] + (int) ((bench_y + 0.5) * area[3] / 1080));
  bench_on = TRUE;
  command ("bench %s %u %u", kind, count, hz);
  if (!expect_line ("# done bench", (count / hz + 120) * 1000))
    return FALSE;
  bench_sleep_ms (500);         /* the last frames */
  bench_on = FALSE;

  /* the flushes, in host time */
  for (p = com1.text->str + mark; (p = strstr (p, "# flush ")) != NULL; p++)
    {
      guint i;
      guint64 tsc;

      if (sscanf (p, "# flush %u %" G_GUINT64_FORMAT, &i, &tsc) == 2 && i < count)
        host_flush[i] = tsc - (guint64) tsc_offset;
    }
  /* what the X server showed: the first time each colour was there, not
   * before its flush (an earlier round's same colour) */
  for (p = watch_out.text->str + watch_mark; (p = strstr (p, "px ")) != NULL; p++)
    {
      guint64 tsc;
      unsigned color;
      uint32_t i;

      if (sscanf (p, "px %" G_GUINT64_FORMAT " %x", &tsc, &color) != 2)
        continue;
      i = bench_index (color);
      if (i < count && host_flush[i] != 0 && seen_x[i] == 0 && tsc >= host_flush[i])
        seen_x[i] = tsc;
    }
  if (display != NULL)
    {
      for (guint i = 0; i < count; i++)
        if (seen_fc[i] < host_flush[i])
          seen_fc[i] = 0;
      report ("fc", name, count, hz, host_flush, seen_fc);
      g_printerr ("fc %s: %u frames, a frame %.3f ms in VivDisplay's snapshot, %.3f ms from "
                  "before-paint to after-paint\n", name ? name : "warm-up", frames,
                  frames ? snapshot_ticks * 1e3 / host_tsc_per_s / frames : 0,
                  frames ? frame_ticks * 1e3 / host_tsc_per_s / frames : 0);
    }
  report ("x", name, count, hz, host_flush, seen_x);
  return TRUE;
}

static guint64
process_ticks (const char *pid)
{
  g_autofree char *path = g_build_filename ("/proc", pid, "stat", NULL);
  g_autofree char *stat = NULL;
  unsigned long long utime = 0, stime = 0;
  const char *p;

  if (!g_file_get_contents (path, &stat, NULL, NULL) || (p = strrchr (stat, ')')) == NULL)
    return 0;
  /* after "pid (comm)": state is field 3, utime 14, stime 15 */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
              &stime) != 2)
    return 0;
  return utime + stime;
}

/* The client process's CPU use over SECS with a still screen */
static void
bench_idle (const char *pid, guint secs)
{
  double hz = (double) sysconf (_SC_CLK_TCK);
  guint64 t0 = process_ticks (pid), t1;
  gint64 m0 = g_get_monotonic_time (), m1;

  bench_sleep_ms (secs * 1000);
  t1 = process_ticks (pid);
  m1 = g_get_monotonic_time ();
  result ("idle-cpu-pct", (double) (t1 - t0) / hz * 100 / ((double) (m1 - m0) / 1e6));
}

/* ---- main ------------------------------------------------------------------------------ */

static gboolean
display_connected (void)
{
  return viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display))
           == VIV_REMOTE_DISPLAY_STATE_CONNECTED
         && viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display)) > 0;
}

static int
client_main (const char *client, int width, int height)
{
  g_autofree char *size = NULL;
  g_autofree char *rest = NULL;
  g_autofree char *self_path = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *pid = NULL;
  const char *watch_argv[] = { self_path, "--watch", NULL };
  int x, y, w, h;

  measure_host_tsc ();
  machine_start ();
  if (!expect_line ("# display ready ", WAIT_MS))
    return 1;

  if (g_str_equal (client, "ours"))
    {
      GtkWidgetClass *klass = g_type_class_ref (VIV_TYPE_DISPLAY);

      display_snapshot = klass->snapshot;
      klass->snapshot = bench_snapshot;
      window = GTK_WINDOW (gtk_window_new ());
      gtk_window_set_title (window, "Console bench");
      gtk_window_set_decorated (window, FALSE);
      gtk_window_set_default_size (window, width, height);
      display = VIV_DISPLAY (viv_display_new ());
      gtk_widget_set_size_request (GTK_WIDGET (display), width, height);
      gtk_window_set_child (window, GTK_WIDGET (display));
      gtk_window_present (window);
      viv_display_set_machine (display, machine);
      BENCH_WAIT_UNTIL (display_connected (), WAIT_MS);
      if (!display_connected ())
        {
          g_printerr ("VivDisplay did not connect\n");
          return 1;
        }
      g_signal_connect (gtk_widget_get_frame_clock (GTK_WIDGET (display)), "after-paint",
                        G_CALLBACK (on_after_paint), NULL);
      g_signal_connect (gtk_widget_get_frame_clock (GTK_WIDGET (display)), "before-paint",
                        G_CALLBACK (on_before_paint), NULL);
      printf ("info renderer %s\n",
              G_OBJECT_TYPE_NAME (gtk_native_get_renderer (GTK_NATIVE (window))));
      /* The agent sizes the guest to the widget once: after that, the
       * benchmark's mode stays */
      mark = 0;
      BENCH_WAIT_UNTIL (find_line ("# agent monitors ", NULL), 10000);
      bench_sleep_ms (500);
      pid = g_strdup_printf ("%d", (int) getpid ());
    }
  else
    {
      g_autofree char *path = listen_display ();
      g_autofree char *uri = g_strconcat ("spice+unix://", path, NULL);
      g_autofree char *zoom = g_strdup_printf ("--zoom=%d", (int) round (width * 100.0 / 1920));
      const char *argv[] = { "remote-viewer", "--auto-resize=never", zoom, uri, NULL };

      /* in the mode it shows, so that its window fits it from the start */
      command ("setmode 1920 1080");
      if (!expect_line ("# display mode 1920x1080", WAIT_MS))
        return 1;
      viewer = spawn (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                      argv);
      pid = g_strdup (g_subprocess_get_identifier (viewer));
      bench_sleep_ms (3000);
    }

  command ("setmode 1920 1080");
  if (!expect_line ("# display mode 1920x1080", WAIT_MS))
    return 1;
  measure_offset ();

  /* Where the guest's screen is on the X display: all bench_color (0) */
  watcher = spawn (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, watch_argv);
  lines_start (&watch_out, g_subprocess_get_stdout_pipe (watcher));
  BENCH_WAIT_UNTIL (lines_find (&watch_out, 0, "watching", NULL) || watch_out.closed, WAIT_MS);
  command ("bench full 1 10");
  if (!expect_line ("# done bench", WAIT_MS))
    return 1;
  for (int tries = 0; tries < 20; tries++)
    {
      gsize from = watch_out.text->len;

      bench_sleep_ms (250);
      watch_command ("calibrate %06x", bench_color (0));
      BENCH_WAIT_UNTIL (lines_find (&watch_out, from, "area ", NULL) || watch_out.closed, 10000);
      g_clear_pointer (&rest, g_free);
      if (lines_find (&watch_out, from, "area ", &rest)
          && sscanf (rest, "%d %d %d %d", &x, &y, &w, &h) == 4
          && w >= width * 9 / 10)
        break;
    }
  if (rest == NULL || sscanf (rest, "%d %d %d %d", &x, &y, &w, &h) != 4)
    {
      g_printerr ("the guest's screen is not on the X display\n");
      return 1;
    }
  area[0] = x, area[1] = y, area[2] = w, area[3] = h;
  printf ("info area %dx%d+%d+%d\n", w, h, x, y);
  fflush (stdout);

  /* Steady state first: a pass not counted */
  if (!bench_run ("full", 120, 60, NULL)
      || !bench_run ("small", 300, 60, "small")
      /* one frame at a time through an idle pipeline */
      || !bench_run ("full", 60, 10, "full10")
      || !bench_run ("full", 300, 60, "full60"))
    return 1;
  bench_sleep_ms (2000);
  bench_idle (pid, 10);

  command ("quit");
  BENCH_WAIT_UNTIL (viv_machine_get_state (machine) != VIV_MACHINE_STATE_RUNNING, WAIT_MS);
  return 0;
}

int
main (int argc, char *argv[])
{
  const char *client = "ours";
  int width = 1280, height = 720;
  char *root;
  int status;

  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--watch"))
      return watch_main ();
    else if (g_str_equal (argv[i], "--client") && i + 1 < argc)
      client = argv[++i];
    else if (g_str_equal (argv[i], "--size") && i + 1 < argc
             && sscanf (argv[++i], "%dx%d", &width, &height) == 2)
      ;
    else
      {
        fprintf (stderr, "usage: %s [--client ours|remote-viewer] [--size WxH] | --watch\n",
                 argv[0]);
        return 2;
      }

  root = viv_test_init_folders (argv[0]);
  setlocale (LC_ALL, "");
  gtk_init ();
  if (!GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      fprintf (stderr, "console-bench: needs an X display (Xvfb)\n");
      return 2;
    }
  probe_path = g_getenv ("VIVARIUM_PROBE_ELF");
  if (access ("/dev/kvm", R_OK | W_OK) != 0 || probe_path == NULL
      || g_getenv ("VIVARIUM_VMM") == NULL)
    {
      fprintf (stderr, "console-bench: needs /dev/kvm, VIVARIUM_VMM and VIVARIUM_PROBE_ELF\n");
      return 77;
    }
  /* spice-client-glib's warnings about connections ending are not fatal */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

  status = client_main (client, width, height);

  if (watcher != NULL)
    {
      g_output_stream_close (g_subprocess_get_stdin_pipe (watcher), NULL, NULL);
      g_subprocess_wait (watcher, NULL, NULL);
    }
  if (viewer != NULL)
    {
      g_subprocess_force_exit (viewer);
      g_subprocess_wait (viewer, NULL, NULL);
    }
  if (library != NULL)
    viv_test_stop_machines (library);
  if (window != NULL)
    gtk_window_destroy (window);
  g_clear_object (&serial);
  g_clear_object (&library);
  viv_test_finish (root);
  return status;
}
