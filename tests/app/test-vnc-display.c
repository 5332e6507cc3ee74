/* test-vnc-display.c: VivVncDisplay against QEMU's VNC server
 *
 * (And, last, VivDisplay against QEMU's SPICE server in its server mouse
 * mode: the relative pointer our own helper, which always offers a
 * tablet, never asks for.)
 *
 * QEMU runs the probe guest in mode=display (tests/guest/README.md "The
 * display") with its VNC server on a unix socket; the widget connects
 * with open_fd. The probe's screen must arrive exactly
 * (pattern_pixel (0, x, y)); keys typed as real X events (xdotool, under
 * Xvfb) and Send Key must reach the probe's keyboard as the right evdev
 * codes, and a click at a known place its tablet as the right position.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gdk/x11/gdkx.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <linux/input-event-codes.h>

#include "pattern.h"
#include "viv-display.h"
#include "viv-keymap.h"
#include "viv-remote-display.h"
#include "viv-test-ui.h"
#include "viv-vnc-display.h"

#define WAIT_MS 60000   /* SeaBIOS on a loaded nested-KVM machine is slow */
/* The widget's size: half the probe's 1280x800 in each direction, so
 * each widget pixel is 2x2 guest pixels */
#define VIEW_W 640
#define VIEW_H 400

static const char *skip_reason;
static const char *probe_path;

static struct {
  char *tmp;
  GSubprocess *qemu;
  gboolean exited;
  int serial_fd;
  guint serial_watch;
  GString *serial;          /* everything COM1 said */
  guint width, height;      /* the probe's screen */
  GtkWidget *window;
  VivVncDisplay *display;
  int vnc_fd;               /* the socket the display owns */
} vm = { .serial_fd = -1, .vnc_fd = -1 };

/* ---- COM1 --------------------------------------------------------------------- */

static gboolean
on_serial (int fd, GIOCondition cond, gpointer data)
{
  char buf[4096];
  ssize_t n;

  (void) cond;
  (void) data;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (vm.serial, buf, n);
  if (n == 0)
    {
      vm.serial_watch = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
serial_write (const char *line)
{
  g_autofree char *text = g_strconcat (line, "\n", NULL);

  g_assert_cmpint (write (vm.serial_fd, text, strlen (text)), ==, (ssize_t) strlen (text));
}

/* Where a whole line starting with PREFIX begins, at or after FROM; -1 */
static gssize
serial_find (gsize from, const char *prefix)
{
  const char *s = vm.serial->str;

  for (gsize i = from; i < vm.serial->len; i++)
    if ((i == 0 || s[i - 1] == '\n') && g_str_has_prefix (s + i, prefix)
        && strchr (s + i, '\n') != NULL)
      return i;
  return -1;
}

typedef struct {
  gsize from;
  const char *prefix;
} Expect;

static gboolean
has_line (gpointer data)
{
  Expect *e = data;

  return serial_find (e->from, e->prefix) >= 0 || vm.exited;
}

static gboolean
expect_line (gsize from, const char *prefix, guint ms)
{
  Expect e = { from, prefix };

  if (viv_test_wait_for (has_line, &e, ms) && serial_find (from, prefix) >= 0)
    return TRUE;
  g_test_message ("no \"%s\" line%s; COM1 since: %s", prefix,
                  vm.exited ? " (QEMU exited)" : "", vm.serial->str + MIN (from, vm.serial->len));
  return FALSE;
}

/* expect_line () without the message */
static gboolean
expect_quietly (gsize from, const char *prefix, guint ms)
{
  Expect e = { from, prefix };

  return viv_test_wait_for (has_line, &e, ms) && serial_find (from, prefix) >= 0;
}

/* The value of the last "# input tablet 3 CODE V" at or after FROM, or -1 */
static int
last_abs (gsize from, int code)
{
  g_autofree char *prefix = g_strdup_printf ("# input tablet %d %d ", EV_ABS, code);
  gssize at = from, found = -1;

  while ((at = serial_find (at, prefix)) >= 0)
    {
      found = at;
      at++;
    }
  return found < 0 ? -1 : atoi (vm.serial->str + found + strlen (prefix));
}

/* ---- QEMU --------------------------------------------------------------------- */

static void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
on_qemu_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  (void) data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  vm.exited = TRUE;
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS) || vm.exited;
}

static gboolean
tick (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

/* Nothing wakes the main loop when a file appears: look every 5 ms. QEMU
 * drops what the probe prints before we connect to COM1 (wait=off). */
static gboolean
wait_for_file (const char *path)
{
  guint id = g_timeout_add (5, tick, NULL);
  gboolean ok = viv_test_wait_for (file_exists, (gpointer) path, WAIT_MS);

  g_source_remove (id);
  return ok && !vm.exited;
}

static int
connect_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

/* SPICE_MOUSE: also a SPICE server on TMP/spice.sock and a virtio mouse,
 * which the probe sets up last, so QEMU gives it the pointer and SPICE
 * runs in server mouse mode (relative motions) */
static void
qemu_start_with (gboolean spice_mouse)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  g_autofree char *serial_path = NULL;
  g_autofree char *vnc_path = NULL;
  g_autofree char *serial_arg = NULL;
  g_autofree char *vnc_arg = NULL;
  g_autofree char *spice_arg = NULL;

  vm.tmp = g_dir_make_tmp ("vivarium-vnc-XXXXXX", &error);
  g_assert_no_error (error);
  /* (again, after an earlier QEMU) */
  vm.exited = FALSE;
  if (vm.serial != NULL)
    g_string_free (vm.serial, TRUE);
  vm.serial = g_string_new (NULL);
  serial_path = g_build_filename (vm.tmp, "com1.sock", NULL);
  vnc_path = g_build_filename (vm.tmp, "vnc.sock", NULL);
  serial_arg = g_strdup_printf ("socket,id=com1,path=%s,server=on,wait=off", serial_path);
  vnc_arg = g_strdup_printf ("unix:%s", vnc_path);

  spice_arg = g_strdup_printf ("unix=on,addr=%s/spice.sock,disable-ticketing=on,"
                               "image-compression=off,agent-mouse=off", vm.tmp);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  vm.qemu = g_subprocess_launcher_spawn (launcher, &error,
    "qemu-system-x86_64", "-accel", "kvm", "-M", "q35",
    /* host alone fails on this kind of nested KVM (tests/guest/README.md) */
    "-cpu", "host,-arch-capabilities", "-m", "128M", "-smp", "1",
    "-nodefaults", "-no-reboot", "-display", "none",
    "-kernel", probe_path, "-append", "cpus=1 mode=display",
    "-chardev", serial_arg, "-serial", "chardev:com1",
    "-vga", "none",
    "-device", "virtio-gpu-pci,disable-legacy=on",
    "-device", "virtio-keyboard-pci,disable-legacy=on",
    "-device", "virtio-tablet-pci,disable-legacy=on",
    /* QEMU's own agent end on the probe's agent port: VNC's cut text
     * reaches the guest's clipboard through it. mouse=off: the pointer
     * stays the tablet's */
    "-device", "virtio-serial-pci,disable-legacy=on",
    "-chardev", "qemu-vdagent,id=vdagent,name=vdagent,clipboard=on,mouse=off",
    "-device", "virtserialport,chardev=vdagent,name=com.redhat.spice.0",
    "-vnc", vnc_arg,
    /* without SPICE_MOUSE the list ends here */
    spice_mouse ? "-spice" : NULL, spice_arg,
    "-device", "virtio-mouse-pci,disable-legacy=on",
    NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (vm.qemu, NULL, on_qemu_exit, NULL);
  g_assert_true (wait_for_file (serial_path));
  g_assert_true (wait_for_file (vnc_path));

  vm.serial_fd = connect_unix (serial_path);
  g_assert_cmpint (fcntl (vm.serial_fd, F_SETFL, O_NONBLOCK), ==, 0);
  vm.serial_watch = g_unix_fd_add (vm.serial_fd, G_IO_IN | G_IO_HUP, on_serial, NULL);
}

static void
qemu_start (void)
{
  qemu_start_with (FALSE);
}

static gboolean
has_exited (gpointer data)
{
  (void) data;
  return vm.exited;
}

static void
qemu_stop (void)
{
  if (vm.qemu != NULL && !vm.exited)
    {
      g_subprocess_force_exit (vm.qemu);
      viv_test_wait_for (has_exited, NULL, WAIT_MS);
    }
  g_clear_handle_id (&vm.serial_watch, g_source_remove);
  if (vm.serial_fd >= 0)
    close (vm.serial_fd);
  vm.serial_fd = -1;
  g_clear_object (&vm.qemu);
  if (vm.tmp != NULL)
    {
      g_autofree char *serial_path = g_build_filename (vm.tmp, "com1.sock", NULL);
      g_autofree char *vnc_path = g_build_filename (vm.tmp, "vnc.sock", NULL);
      g_autofree char *spice_sock = g_build_filename (vm.tmp, "spice.sock", NULL);

      unlink (serial_path);
      unlink (vnc_path);
      unlink (spice_sock);
      g_rmdir (vm.tmp);
      g_clear_pointer (&vm.tmp, g_free);
    }
}

/* ---- the widget --------------------------------------------------------------- */

/* The first pixel where the widget's screen differs from frame 0, in WHY */
static gboolean
screen_matches (char **why)
{
  g_autoptr(GdkTexture) screen = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (vm.display));
  g_autofree guint32 *pixels = NULL;
  int w, h;

  if (screen == NULL)
    {
      *why = g_strdup ("no screen yet");
      return FALSE;
    }
  w = gdk_texture_get_width (screen);
  h = gdk_texture_get_height (screen);
  if ((guint) w != vm.width || (guint) h != vm.height)
    {
      *why = g_strdup_printf ("a screen of %dx%d, not %ux%u", w, h, vm.width, vm.height);
      return FALSE;
    }
  /* gdk_texture_download gives B, G, R, A bytes: 0xAARRGGBB on this
   * little-endian host */
  pixels = g_new (guint32, (gsize) w * h);
  gdk_texture_download (screen, (guchar *) pixels, (gsize) w * 4);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint32 got = pixels[(gsize) y * w + x] & 0xffffff;
        guint32 want = pattern_pixel (0, x, y);

        if (got != want)
          {
            *why = g_strdup_printf ("pixel (%d, %d) is %06x, not %06x", x, y, got, want);
            return FALSE;
          }
      }
  return TRUE;
}

static gboolean
screen_ready (gpointer data)
{
  g_autofree char *why = NULL;

  (void) data;
  return screen_matches (&why);
}

static gboolean
is_connected (gpointer data)
{
  (void) data;
  return viv_remote_display_get_state (VIV_REMOTE_DISPLAY (vm.display))
         == VIV_REMOTE_DISPLAY_STATE_CONNECTED || vm.exited;
}

#define NEED_MACHINE() \
  do { \
    if (skip_reason) { g_test_skip (skip_reason); return; } \
    if (vm.display == NULL) { g_test_fail_printf ("the widget did not connect"); return; } \
  } while (0)

/* The probe comes up; the widget connects and shows frame 0 exactly */
static void
test_connect (void)
{
  g_autofree char *why = NULL;
  g_autofree char *vnc_path = NULL;
  g_autofree char *shot = NULL;
  VivVncDisplay *display;
  GtkWidget *scrolled;
  gssize at;

  if (skip_reason)
    {
      g_test_skip (skip_reason);
      return;
    }
  qemu_start ();
  g_assert_true (expect_line (0, "# display ready", WAIT_MS));
  /* QEMU's device: the probe takes the size the device prefers, 1280x800;
   * the line says it where the probe knows it */
  at = serial_find (0, "# display ready");
  if (sscanf (vm.serial->str + at, "# display ready %ux%u", &vm.width, &vm.height) != 2)
    {
      g_assert_true (expect_line (0, "ok ", 0));
      at = serial_find (0, "ok 42 - display: resource 1 of ");
      g_assert_cmpint (at, >=, 0);
      g_assert_cmpint (sscanf (vm.serial->str + at, "ok 42 - display: resource 1 of %ux%u",
                               &vm.width, &vm.height), ==, 2);
    }
  g_test_message ("the probe's screen: %ux%u", vm.width, vm.height);

  vm.window = gtk_window_new ();
  /* No title bar: the widget's origin is the window's */
  gtk_window_set_decorated (GTK_WINDOW (vm.window), FALSE);
  gtk_window_set_default_size (GTK_WINDOW (vm.window), VIEW_W, VIEW_H);
  display = VIV_VNC_DISPLAY (viv_vnc_display_new ());
  /* In a scrolled window, as the app shows it (for ORIGINAL); no
   * scrollbars, to keep the screenshots the guest's pixels */
  scrolled = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_EXTERNAL,
                                  GTK_POLICY_EXTERNAL);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), GTK_WIDGET (display));
  gtk_window_set_child (GTK_WINDOW (vm.window), scrolled);
  gtk_window_present (GTK_WINDOW (vm.window));
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);

  vnc_path = g_build_filename (vm.tmp, "vnc.sock", NULL);
  vm.vnc_fd = connect_unix (vnc_path);
  g_assert_true (viv_vnc_display_open_fd (display, vm.vnc_fd));
  vm.display = display;
  g_assert_true (viv_test_wait_for (is_connected, NULL, WAIT_MS));
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_CONNECTED);
  g_assert_false (viv_remote_display_get_can_resize (VIV_REMOTE_DISPLAY (display)));
  if (!viv_test_wait_for (screen_ready, NULL, WAIT_MS) && !screen_matches (&why))
    g_test_fail_printf ("frame 0: %s", why);
  g_assert_cmpint (viv_remote_display_get_guest_width (VIV_REMOTE_DISPLAY (display)), ==,
                   (int) vm.width);
  g_assert_cmpint (viv_remote_display_get_guest_height (VIV_REMOTE_DISPLAY (display)), ==,
                   (int) vm.height);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (display), 2, WAIT_MS));
  shot = viv_test_screenshot (vm.window, "vnc-display-pattern");
}

/* Frame 1 inside pattern_rects, frame 0 elsewhere: what `rects 1` leaves */
static gboolean
rects_match (char **why)
{
  g_autoptr(GdkTexture) screen = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (vm.display));
  g_autofree guint32 *pixels = NULL;

  if (screen == NULL)
    return FALSE;
  pixels = g_new (guint32, (gsize) vm.width * vm.height);
  gdk_texture_download (screen, (guchar *) pixels, (gsize) vm.width * 4);
  for (guint y = 0; y < vm.height; y++)
    for (guint x = 0; x < vm.width; x++)
      {
        guint32 got = pixels[(gsize) y * vm.width + x] & 0xffffff;
        guint f = 0;

        for (guint r = 0; r < G_N_ELEMENTS (pattern_rects); r++)
          if (x >= pattern_rects[r][0] && x < pattern_rects[r][0] + pattern_rects[r][2]
              && y >= pattern_rects[r][1] && y < pattern_rects[r][1] + pattern_rects[r][3])
            f = 1;
        if (got != pattern_pixel (f, x, y))
          {
            if (why != NULL)
              *why = g_strdup_printf ("pixel (%u, %u) is %06x, not frame %u's %06x", x, y, got,
                                      f, pattern_pixel (f, x, y));
            return FALSE;
          }
      }
  return TRUE;
}

static gboolean
rects_ready (gpointer data)
{
  (void) data;
  return rects_match (NULL);
}

/* The rectangles of `rects 1` arrive where they are, nothing else moves */
static void
test_update (void)
{
  g_autofree char *why = NULL;
  gsize mark;

  NEED_MACHINE ();
  mark = vm.serial->len;
  serial_write ("rects 1");
  g_assert_true (expect_line (mark, "# done rects 1", WAIT_MS));
  if (!viv_test_wait_for (rects_ready, NULL, WAIT_MS) && !rects_match (&why))
    {
      g_test_fail_printf ("after rects 1: %s", why);
      return;
    }
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (vm.display), 2, WAIT_MS));
  g_free (viv_test_screenshot (vm.window, "vnc-display-rects"));
}

static gboolean
bars_match (gpointer data)
{
  g_autoptr(GdkTexture) screen = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (vm.display));
  g_autofree guint32 *pixels = NULL;

  (void) data;
  if (screen == NULL)
    return FALSE;
  pixels = g_new (guint32, (gsize) vm.width * vm.height);
  gdk_texture_download (screen, (guchar *) pixels, (gsize) vm.width * 4);
  /* Every pixel: the server's update comes in pieces, after "# done" */
  for (guint y = 0; y < vm.height; y++)
    for (guint x = 0; x < vm.width; x++)
      if ((pixels[(gsize) y * vm.width + x] & 0xffffff) != pattern_bars[x * 8 / vm.width])
        return FALSE;
  return TRUE;
}

/* The bars with frame 3 of the pattern in pattern_rects: `bars`, then
 * `rects 3` */
static guint32
bars_rects_pixel (guint x, guint y)
{
  for (guint r = 0; r < G_N_ELEMENTS (pattern_rects); r++)
    if (x >= pattern_rects[r][0] && x < pattern_rects[r][0] + pattern_rects[r][2]
        && y >= pattern_rects[r][1] && y < pattern_rects[r][1] + pattern_rects[r][3])
      return pattern_pixel (3, x, y);
  return pattern_bars[x * 8 / vm.width];
}

static gboolean
bars_and_rects (gpointer data)
{
  g_autoptr(GdkTexture) screen = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (vm.display));
  g_autofree guint32 *pixels = NULL;

  (void) data;
  if (screen == NULL)
    return FALSE;
  pixels = g_new (guint32, (gsize) vm.width * vm.height);
  gdk_texture_download (screen, (guchar *) pixels, (gsize) vm.width * 4);
  for (guint y = 0; y < vm.height; y++)
    for (guint x = 0; x < vm.width; x++)
      if ((pixels[(gsize) y * vm.width + x] & 0xffffff) != bars_rects_pixel (x, y))
        return FALSE;
  return TRUE;
}

/* A screenshot NAME of the window (W x H) is the top-left of the guest's
 * screen after `bars` and `rects 3`, one guest pixel a screen pixel */
static gboolean
screenshot_is_guest (const char *name, int w, int h, char **why)
{
  g_autofree char *path = viv_test_screenshot (vm.window, name);
  g_autoptr(GdkTexture) shot = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint32 *pixels = NULL;

  g_assert_nonnull (path);
  shot = gdk_texture_new_from_filename (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (shot), ==, w);
  g_assert_cmpint (gdk_texture_get_height (shot), ==, h);
  pixels = g_new (guint32, (gsize) w * h);
  gdk_texture_download (shot, (guchar *) pixels, (gsize) w * 4);
  if (gtk_widget_get_scale_factor (GTK_WIDGET (vm.display)) != 1)
    return TRUE;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint32 got = pixels[(gsize) y * w + x] & 0xffffff;
        guint32 want = bars_rects_pixel (x, y);

        if (got != want)
          {
            *why = g_strdup_printf ("1:1 screenshot pixel (%d, %d) is %06x, not %06x", x, y,
                                    got, want);
            return FALSE;
          }
      }
  return TRUE;
}

/* What the user sees: after `bars`, a screenshot of the window shows the
 * eight colour bars where they belong (the tiles were made again) */
static void
test_screenshot (void)
{
  g_autofree char *path = NULL;
  g_autoptr(GdkTexture) shot = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint32 *pixels = NULL;
  g_autofree char *why = NULL;
  int w, h;
  gsize mark;

  NEED_MACHINE ();
  mark = vm.serial->len;
  serial_write ("bars");
  g_assert_true (expect_line (mark, "# done bars", WAIT_MS));
  g_assert_true (viv_test_wait_for (bars_match, NULL, WAIT_MS));
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (vm.display), 2, WAIT_MS));
  path = viv_test_screenshot (vm.window, "vnc-display-bars");
  if (path == NULL)
    {
      g_test_skip ("no screenshot folder");
      return;
    }
  shot = gdk_texture_new_from_filename (path, &error);
  g_assert_no_error (error);
  w = gdk_texture_get_width (shot);
  h = gdk_texture_get_height (shot);
  g_assert_cmpint (w, ==, VIEW_W);
  g_assert_cmpint (h, ==, VIEW_H);
  pixels = g_new (guint32, (gsize) w * h);
  gdk_texture_download (shot, (guchar *) pixels, (gsize) w * 4);
  for (guint i = 0; i < 8; i++)
    {
      /* The middle of bar i, at a few heights, in the scaled picture */
      int x = w * (2 * i + 1) / 16;

      for (int y = 8; y < h; y += h / 4)
        {
          guint32 got = pixels[(gsize) y * w + x] & 0xffffff;

          if (got != pattern_bars[i])
            {
              g_test_fail_printf ("screenshot pixel (%d, %d) is %06x, not bar %u's %06x", x, y,
                                  got, i, pattern_bars[i]);
              return;
            }
        }
    }
  g_clear_object (&shot);
  g_clear_pointer (&pixels, g_free);
  g_clear_pointer (&path, g_free);

  /* Then small updates over the bars, seen one guest pixel a screen
   * pixel: the screenshot must be the guest's screen exactly, so the
   * tiles drawn before were made again where the rectangles fell */
  viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (vm.display),
                                     VIV_REMOTE_DISPLAY_SCALE_ORIGINAL);
  mark = vm.serial->len;
  serial_write ("rects 3");
  g_assert_true (expect_line (mark, "# done rects 3", WAIT_MS));
  g_assert_true (viv_test_wait_for (bars_and_rects, NULL, WAIT_MS));
  /* gvnc writes the pixels first and tells us after, from an idle: what
   * the user sees may lag dup_screen a little, so look a few times */
  for (int tries = 0; tries < 20; tries++)
    {
      g_clear_pointer (&why, g_free);
      while (g_main_context_pending (NULL))
        g_main_context_iteration (NULL, FALSE);
      g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (vm.display), 1, WAIT_MS));
      if (screenshot_is_guest ("vnc-display-original", w, h, &why))
        break;
    }
  viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (vm.display),
                                     VIV_REMOTE_DISPLAY_SCALE_FIT);
  if (why != NULL)
    g_test_fail_printf ("%s", why);
}

static gboolean
run_xdotool (const char *args)
{
  g_autofree char *command = g_strdup_printf ("xdotool %s", args);
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (!g_spawn_command_line_sync (command, NULL, NULL, &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    {
      g_test_message ("%s: %s", command, error->message);
      return FALSE;
    }
  return TRUE;
}

static gulong
window_xid (void)
{
  GdkSurface *surface = gtk_native_get_surface (GTK_NATIVE (vm.window));

  return gdk_x11_surface_get_xid (surface);
}

/* A key typed on the X server reaches the probe's keyboard as KEY_A */
static void
test_typing (void)
{
  g_autofree char *args = NULL;
  gsize mark;

  NEED_MACHINE ();
  if (g_find_program_in_path ("xdotool") == NULL || !GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      g_test_skip ("no xdotool or not on X11: no real key events (build-aux/setup.sh)");
      return;
    }
  mark = vm.serial->len;
  /* Focus, then the pointer over the widget: a click grabs the keyboard */
  args = g_strdup_printf ("windowfocus --sync %lu mousemove --window %lu %d %d",
                          window_xid (), window_xid (), VIEW_W / 4, VIEW_H / 4);
  g_assert_true (run_xdotool (args));
  viv_test_wait_for (has_exited, NULL, 200);
  g_assert_true (run_xdotool ("key a"));
  g_assert_true (expect_line (mark, "# input kbd 1 30 1", WAIT_MS));
  g_assert_true (expect_line (mark, "# input kbd 1 30 0", WAIT_MS));
  /* An 0xe0 key and a modifier: Right Ctrl and keypad Enter */
  mark = vm.serial->len;
  g_assert_true (run_xdotool ("key Control_R+KP_Enter"));
  g_assert_true (expect_line (mark, "# input kbd 1 97 1", WAIT_MS));
  g_assert_true (expect_line (mark, "# input kbd 1 96 1", WAIT_MS));
  g_assert_true (expect_line (mark, "# input kbd 1 96 0", WAIT_MS));
  g_assert_true (expect_line (mark, "# input kbd 1 97 0", WAIT_MS));
}

/* Send Key: Ctrl+Alt+Del pressed in order, released in reverse */
static void
test_send_keys (void)
{
  static const guint ctrl_alt_del[] = { 0x1d, 0x38, 0x153 };
  gssize ctrl, alt, del, del_up, alt_up, ctrl_up;
  gsize mark;

  NEED_MACHINE ();
  mark = vm.serial->len;
  viv_remote_display_send_keys (VIV_REMOTE_DISPLAY (vm.display), ctrl_alt_del,
                                G_N_ELEMENTS (ctrl_alt_del));
  g_assert_true (expect_line (mark, "# input kbd 1 29 0", WAIT_MS));
  ctrl = serial_find (mark, "# input kbd 1 29 1");
  alt = serial_find (mark, "# input kbd 1 56 1");
  del = serial_find (mark, "# input kbd 1 111 1");
  del_up = serial_find (mark, "# input kbd 1 111 0");
  alt_up = serial_find (mark, "# input kbd 1 56 0");
  ctrl_up = serial_find (mark, "# input kbd 1 29 0");
  g_assert_cmpint (ctrl, >=, 0);
  g_assert_cmpint (ctrl, <, alt);
  g_assert_cmpint (alt, <, del);
  g_assert_cmpint (del, <, del_up);
  g_assert_cmpint (del_up, <, alt_up);
  g_assert_cmpint (alt_up, <, ctrl_up);
}

/* Keys QEMU 7.2's tables have no key for (it drops them) or read
 * otherwise: F13 and F14's 0x64 and 0x65 arrive as KEY_OPEN and
 * KEY_PASTE, the others not at all */
static gboolean
qemu_lacks (guint evdev)
{
  return evdev == KEY_KATAKANA || evdev == KEY_KPJPCOMMA || evdev == KEY_SEARCH
         || (evdev >= KEY_F13 && evdev <= KEY_F24);
}

/* Every key of our keymap, sent alone, reaches the probe's keyboard as
 * the evdev code it came from: QEMU's own tables read our scancodes
 * back, an independent check of the keymap */
static void
test_every_key (void)
{
  g_autoptr(GString) missing = g_string_new (NULL);
  g_autoptr(GString) lacking = g_string_new (NULL);
  guint n = 0;

  NEED_MACHINE ();
  for (guint keycode = 8; keycode < 0x300; keycode++)
    {
      guint scancode = viv_keymap_scancode_from_keycode (keycode);
      g_autofree char *down = NULL;
      g_autofree char *up = NULL;
      gsize mark;

      if (scancode == 0)
        continue;
      n++;
      mark = vm.serial->len;
      down = g_strdup_printf ("# input kbd 1 %u 1", keycode - 8);
      up = g_strdup_printf ("# input kbd 1 %u 0", keycode - 8);
      viv_remote_display_send_keys (VIV_REMOTE_DISPLAY (vm.display), &scancode, 1);
      if (!expect_quietly (mark, up, 3000) || serial_find (mark, down) < 0)
        {
          gssize other = serial_find (mark, "# input kbd 1 ");
          GString *list = qemu_lacks (keycode - 8) ? lacking : missing;

          g_string_append_printf (list, " %u (0x%x", keycode - 8, scancode);
          if (other >= 0)
            g_string_append_printf (list, ", got %.*s",
                                    (int) strcspn (vm.serial->str + other + 14, "\n"),
                                    vm.serial->str + other + 14);
          g_string_append (list, ")");
        }
    }
  g_test_message ("%u keys sent; QEMU 7.2 has no key for:%s", n,
                  lacking->len ? lacking->str : " none");
  if (missing->len > 0)
    g_test_fail_printf ("evdev keys not reaching the probe as themselves:%s", missing->str);
}

/* QEMU's tablet position of guest pixel P on a screen of SIZE pixels
 * (QEMU 7.2 scales 0..SIZE to 0..0x7fff) */
static int
qemu_abs (int p, int size)
{
  return (int) ((gint64) p * 0x7fff / size);
}

/* A click at a known place of the widget: the tablet gets the guest
 * pixel under it, and the left button; the click grabs the keyboard */
static void
test_click (void)
{
  g_autofree char *args = NULL;
  /* Widget (480, 100) is guest (960, 200) at half size */
  const int wx = 480, wy = 100;
  int gx, gy, ax, ay, tolerance_x, tolerance_y;
  gsize mark;

  NEED_MACHINE ();
  if (g_find_program_in_path ("xdotool") == NULL || !GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      g_test_skip ("no xdotool or not on X11: no real pointer events (build-aux/setup.sh)");
      return;
    }
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (vm.display)), ==, VIEW_W);
  g_assert_cmpint (gtk_widget_get_height (GTK_WIDGET (vm.display)), ==, VIEW_H);
  gx = wx * (int) vm.width / VIEW_W;
  gy = wy * (int) vm.height / VIEW_H;
  mark = vm.serial->len;
  args = g_strdup_printf ("mousemove --window %lu %d %d click 1", window_xid (), wx, wy);
  g_assert_true (run_xdotool (args));
  g_assert_true (expect_line (mark, "# input tablet 1 272 1", WAIT_MS));
  g_assert_true (expect_line (mark, "# input tablet 1 272 0", WAIT_MS));
  ax = last_abs (mark, ABS_X);
  ay = last_abs (mark, ABS_Y);
  /* A widget pixel is two guest pixels */
  tolerance_x = qemu_abs (2, vm.width);
  tolerance_y = qemu_abs (2, vm.height);
  g_test_message ("click at widget (%d, %d): tablet (%d, %d), expected (%d, %d)", wx, wy, ax,
                  ay, qemu_abs (gx, vm.width), qemu_abs (gy, vm.height));
  g_assert_cmpint (ABS (ax - qemu_abs (gx, vm.width)), <=, tolerance_x);
  g_assert_cmpint (ABS (ay - qemu_abs (gy, vm.height)), <=, tolerance_y);
  g_assert_true (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (vm.display)));
  g_free (viv_test_screenshot (vm.window, "vnc-display-grabbed"));

  /* Ctrl+Alt gives the keyboard back, and the guest is left holding no
   * key: the Ctrl it got is released */
  mark = vm.serial->len;
  g_assert_true (run_xdotool ("key Control_L+Alt_L"));
  g_assert_true (expect_line (mark, "# input kbd 1 29 0", WAIT_MS));
  g_assert_false (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (vm.display)));
  g_assert_cmpint (serial_find (mark, "# input kbd 1 56 1"), <, 0);
  /* release_grab when not grabbed changes nothing */
  viv_remote_display_release_grab (VIV_REMOTE_DISPLAY (vm.display));
  g_assert_false (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (vm.display)));
}

/* The other buttons and the wheel reach the tablet: right, middle, and
 * wheel steps (QEMU 7.2 gives its virtio tablet the wheel as
 * BTN_GEAR_DOWN/UP presses, later ones as REL_WHEEL) */
static void
test_buttons (void)
{
  g_autofree char *args = NULL;
  gsize mark;

  NEED_MACHINE ();
  if (g_find_program_in_path ("xdotool") == NULL || !GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      g_test_skip ("no xdotool or not on X11: no real pointer events (build-aux/setup.sh)");
      return;
    }
  mark = vm.serial->len;
  args = g_strdup_printf ("mousemove --window %lu %d %d click 3 click 2", window_xid (),
                          VIEW_W / 2, VIEW_H / 2);
  g_assert_true (run_xdotool (args));
  g_assert_true (expect_line (mark, "# input tablet 1 273 1", WAIT_MS));
  g_assert_true (expect_line (mark, "# input tablet 1 273 0", WAIT_MS));
  g_assert_true (expect_line (mark, "# input tablet 1 274 1", WAIT_MS));
  g_assert_true (expect_line (mark, "# input tablet 1 274 0", WAIT_MS));

  /* X's buttons 5 and 4: a wheel step down, then up */
  mark = vm.serial->len;
  g_assert_true (run_xdotool ("click 5"));
  if (!expect_line (mark, "# input tablet 2 8 -1", 5000))
    g_assert_true (expect_line (mark, "# input tablet 1 336 1", WAIT_MS));
  mark = vm.serial->len;
  g_assert_true (run_xdotool ("click 4"));
  if (!expect_line (mark, "# input tablet 2 8 1", 5000))
    g_assert_true (expect_line (mark, "# input tablet 1 337 1", WAIT_MS));
  /* Ctrl+Alt: the click grabbed the keyboard */
  g_assert_true (run_xdotool ("key Control_L+Alt_L"));
}

/* Losing the focus lets the guest go of the keys it holds: a key held
 * down while another window takes the focus is released in the guest */
static void
test_focus_out (void)
{
  GtkWidget *other;
  g_autofree char *args = NULL;
  gsize mark;

  NEED_MACHINE ();
  if (g_find_program_in_path ("xdotool") == NULL || !GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      g_test_skip ("no xdotool or not on X11: no real key events (build-aux/setup.sh)");
      return;
    }
  args = g_strdup_printf ("windowfocus --sync %lu", window_xid ());
  g_assert_true (run_xdotool (args));
  gtk_widget_grab_focus (GTK_WIDGET (vm.display));
  mark = vm.serial->len;
  g_assert_true (run_xdotool ("keydown b"));
  g_assert_true (expect_line (mark, "# input kbd 1 48 1", WAIT_MS));

  other = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (other), 100, 100);
  gtk_window_present (GTK_WINDOW (other));
  g_assert_true (viv_test_wait_for_frames (other, 1, WAIT_MS));
  g_free (args);
  args = g_strdup_printf ("windowfocus --sync %lu",
                          (gulong) gdk_x11_surface_get_xid (gtk_native_get_surface (GTK_NATIVE (other))));
  g_assert_true (run_xdotool (args));
  g_assert_true (expect_line (mark, "# input kbd 1 48 0", WAIT_MS));
  g_assert_true (run_xdotool ("keyup b"));
  gtk_window_destroy (GTK_WINDOW (other));
}

/* FIT asks for no size; ORIGINAL for the guest's, one guest pixel a
 * device pixel */
static void
test_scale_mode (void)
{
  GtkWidget *widget;
  int min, nat;

  NEED_MACHINE ();
  widget = GTK_WIDGET (vm.display);
  g_assert_cmpint (viv_remote_display_get_scale_mode (VIV_REMOTE_DISPLAY (vm.display)), ==,
                   VIV_REMOTE_DISPLAY_SCALE_FIT);
  gtk_widget_measure (widget, GTK_ORIENTATION_HORIZONTAL, -1, &min, &nat, NULL, NULL);
  g_assert_cmpint (min, ==, 0);
  viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (vm.display),
                                     VIV_REMOTE_DISPLAY_SCALE_ORIGINAL);
  gtk_widget_measure (widget, GTK_ORIENTATION_HORIZONTAL, -1, &min, &nat, NULL, NULL);
  g_assert_cmpint (min, ==, (int) vm.width / gtk_widget_get_scale_factor (widget));
  gtk_widget_measure (widget, GTK_ORIENTATION_VERTICAL, -1, &min, &nat, NULL, NULL);
  g_assert_cmpint (min, ==, (int) vm.height / gtk_widget_get_scale_factor (widget));
  viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (vm.display),
                                     VIV_REMOTE_DISPLAY_SCALE_FIT);
}

static gboolean
has_cursor (gpointer data)
{
  GdkCursor *cursor = gtk_widget_get_cursor (GTK_WIDGET (vm.display));

  (void) data;
  return cursor != NULL && gdk_cursor_get_texture (cursor) != NULL;
}

/* The guest's cursor (`cursor`: 64x64, hotspot (5, 7)) becomes the
 * widget's, pixel for pixel where it is opaque */
static void
test_cursor (void)
{
  GdkCursor *cursor;
  GdkTexture *texture;
  g_autofree guint32 *pixels = NULL;
  gsize mark;

  NEED_MACHINE ();
  mark = vm.serial->len;
  serial_write ("cursor");
  g_assert_true (expect_line (mark, "# done cursor", WAIT_MS));
  g_assert_true (viv_test_wait_for (has_cursor, NULL, WAIT_MS));
  cursor = gtk_widget_get_cursor (GTK_WIDGET (vm.display));
  texture = gdk_cursor_get_texture (cursor);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, PATTERN_CURSOR_SIZE);
  g_assert_cmpint (gdk_texture_get_height (texture), ==, PATTERN_CURSOR_SIZE);
  g_assert_cmpint (gdk_cursor_get_hotspot_x (cursor), ==, PATTERN_CURSOR_HOT_X);
  g_assert_cmpint (gdk_cursor_get_hotspot_y (cursor), ==, PATTERN_CURSOR_HOT_Y);
  pixels = g_new (guint32, PATTERN_CURSOR_SIZE * PATTERN_CURSOR_SIZE);
  gdk_texture_download (texture, (guchar *) pixels, PATTERN_CURSOR_SIZE * 4);
  for (guint y = 0; y < PATTERN_CURSOR_SIZE; y++)
    for (guint x = 0; x < PATTERN_CURSOR_SIZE; x++)
      {
        guint32 got = pixels[y * PATTERN_CURSOR_SIZE + x];

        if (x + y < PATTERN_CURSOR_SIZE)
          {
            if (got != (0xff000000u | pattern_pixel (7, x, y)))
              {
                g_test_fail_printf ("cursor pixel (%u, %u) is %08x, not ff%06x", x, y, got,
                                    pattern_pixel (7, x, y));
                return;
              }
          }
        else if (got >> 24 != 0)
          {
            g_test_fail_printf ("cursor pixel (%u, %u) is %08x, not transparent", x, y, got);
            return;
          }
      }
}

/* Text copied in the app arrives in the guest's clipboard, through
 * QEMU's agent. The other way cannot be checked here: QEMU 7.2 sends
 * the guest's clipboard only to clients of RFB's extended clipboard,
 * which gvnc does not speak (plain ServerCutText servers do send it). */
static void
test_clipboard (void)
{
  GdkClipboard *clipboard;
  gsize mark;

  NEED_MACHINE ();
  g_assert_true (viv_remote_display_get_has_clipboard (VIV_REMOTE_DISPLAY (vm.display)));
  if (!expect_line (0, "# agent up", WAIT_MS))
    {
      g_test_skip ("the probe's agent port did not come up with QEMU's agent");
      return;
    }
  mark = vm.serial->len;
  clipboard = gtk_widget_get_clipboard (GTK_WIDGET (vm.display));
  gdk_clipboard_set_text (clipboard, "Copied in the app");
  g_assert_true (expect_line (mark, "# agent clipboard Copied in the app", 15000));
}

/* Disconnecting stops the connection, and the widget says so */
static void
test_disconnect (void)
{
  NEED_MACHINE ();
  viv_remote_display_disconnect (VIV_REMOTE_DISPLAY (vm.display));
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (vm.display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
  g_assert_false (viv_remote_display_get_has_clipboard (VIV_REMOTE_DISPLAY (vm.display)));
  /* The display owned the socket: it is closed now */
  viv_test_wait_for (has_exited, NULL, 200);
  g_assert_cmpint (fcntl (vm.vnc_fd, F_GETFD), ==, -1);
  g_clear_pointer ((GtkWindow **) &vm.window, gtk_window_destroy);
  vm.display = NULL;
  qemu_stop ();
}

/* ---- SPICE, a relative mouse ---------------------------------------------------- */

static char *spice_path;

static void
on_spice_need_fd (VivDisplay *display,
                  gpointer    data)
{
  (void) data;
  viv_display_open_fd (display, connect_unix (spice_path));
}

static gboolean
is_grabbed (gpointer data)
{
  return viv_remote_display_get_grabbed (data);
}

static gboolean
is_released (gpointer data)
{
  return !viv_remote_display_get_grabbed (data);
}

static gboolean
spice_shows (gpointer data)
{
  VivRemoteDisplay *display = data;

  return viv_remote_display_get_state (display) == VIV_REMOTE_DISPLAY_STATE_CONNECTED
         && viv_remote_display_get_guest_width (display) > 0;
}

/* The sum of the "# input mouse 2 CODE V" values at or after FROM */
static int
rel_sum (gsize from, int code)
{
  g_autofree char *prefix = g_strdup_printf ("# input mouse %d %d ", EV_REL, code);
  gssize at = from;
  int sum = 0;

  while ((at = serial_find (at, prefix)) >= 0)
    {
      sum += atoi (vm.serial->str + at + strlen (prefix));
      at++;
    }
  return sum;
}

typedef struct { gsize from; int x, y; } RelWait;

static gboolean
rel_reached (gpointer data)
{
  RelWait *w = data;

  return rel_sum (w->from, REL_X) == w->x && rel_sum (w->from, REL_Y) == w->y;
}

/* A guest whose pointer is a relative mouse (QEMU's SPICE server in its
 * server mouse mode, as a guest without a tablet would have it):
 * VivDisplay through open_fd and need-fd. A click grabs and hides the
 * local pointer; the pointer's motions reach the guest as REL_X and REL_Y
 * steps of device pixels; Ctrl+Alt gives the pointer back */
static void
test_spice_relative (void)
{
  g_autofree char *args = NULL;
  GtkWidget *window;
  VivDisplay *display;
  GdkCursor *cursor;
  RelWait wait;
  int factor;

  if (skip_reason)
    {
      g_test_skip (skip_reason);
      return;
    }
  if (g_find_program_in_path ("xdotool") == NULL || !GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      g_test_skip ("no xdotool or not on X11: no real pointer events (build-aux/setup.sh)");
      return;
    }
  qemu_stop ();
  qemu_start_with (TRUE);
  g_assert_true (expect_line (0, "# display ready", WAIT_MS));
  spice_path = g_build_filename (vm.tmp, "spice.sock", NULL);
  g_assert_true (wait_for_file (spice_path));

  window = gtk_window_new ();
  vm.window = window;
  gtk_window_set_decorated (GTK_WINDOW (window), FALSE);
  gtk_window_set_default_size (GTK_WINDOW (window), VIEW_W, VIEW_H);
  display = VIV_DISPLAY (viv_display_new ());
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (display));
  gtk_window_present (GTK_WINDOW (window));
  g_signal_connect (display, "need-fd", G_CALLBACK (on_spice_need_fd), NULL);
  viv_display_open_fd (display, connect_unix (spice_path));
  g_assert_true (viv_test_wait_for (spice_shows, display, WAIT_MS));
  factor = gtk_widget_get_scale_factor (GTK_WIDGET (display));

  args = g_strdup_printf ("mousemove --window %lu %d %d click 1", window_xid (), VIEW_W / 2,
                          VIEW_H / 2);
  g_assert_true (run_xdotool (args));
  g_assert_true (viv_test_wait_for (is_grabbed, display, WAIT_MS));
  /* the guest draws its pointer; ours would wander off from it */
  cursor = gtk_widget_get_cursor (GTK_WIDGET (display));
  g_assert_nonnull (cursor);
  g_assert_cmpstr (gdk_cursor_get_name (cursor), ==, "none");

  wait.from = vm.serial->len;
  wait.x = 30 * factor;
  wait.y = 20 * factor;
  g_assert_true (run_xdotool ("mousemove_relative --sync 30 20"));
  if (!viv_test_wait_for (rel_reached, &wait, WAIT_MS))
    g_test_fail_printf ("the guest moved (%d, %d), not (%d, %d); COM1 since: %s",
                        rel_sum (wait.from, REL_X), rel_sum (wait.from, REL_Y), wait.x, wait.y,
                        vm.serial->str + wait.from);
  g_free (viv_test_screenshot (window, "spice-display-relative-grabbed"));

  g_assert_true (run_xdotool ("key Control_L+Alt_L"));
  g_assert_true (viv_test_wait_for (is_released, display, WAIT_MS));
  g_assert_true (gtk_widget_get_cursor (GTK_WIDGET (display)) == NULL
                 || g_strcmp0 (gdk_cursor_get_name (gtk_widget_get_cursor (GTK_WIDGET (display))),
                               "none") != 0);
  /* not grabbed, the motions are not the guest's */
  wait.from = vm.serial->len;
  g_assert_true (run_xdotool ("mousemove_relative --sync 10 10"));
  viv_test_wait_for (has_exited, NULL, 300);
  g_assert_cmpint (rel_sum (wait.from, REL_X), ==, 0);

  g_clear_pointer ((GtkWindow **) &vm.window, gtk_window_destroy);
  qemu_stop ();
  g_clear_pointer (&spice_path, g_free);
}

static gboolean
is_disconnected_with_error (gpointer data)
{
  VivRemoteDisplay *display = data;
  g_autofree char *error = viv_remote_display_dup_error (display);

  return viv_remote_display_get_state (display) == VIV_REMOTE_DISPLAY_STATE_DISCONNECTED
         && error != NULL;
}

/* A server that hangs up before speaking: the widget says it is gone,
 * and why (no machine needed) */
static void
test_hang_up (void)
{
  GtkWidget *display = viv_vnc_display_new ();
  g_autofree char *error = NULL;
  int fds[2];

  g_object_ref_sink (display);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  close (fds[1]);
  g_assert_true (viv_vnc_display_open_fd (VIV_VNC_DISPLAY (display), fds[0]));
  g_assert_cmpint (viv_remote_display_get_state (VIV_REMOTE_DISPLAY (display)), ==,
                   VIV_REMOTE_DISPLAY_STATE_CONNECTING);
  g_assert_true (viv_test_wait_for (is_disconnected_with_error, display, 10000));
  error = viv_remote_display_dup_error (VIV_REMOTE_DISPLAY (display));
  g_test_message ("error: %s", error);
  g_assert_null (viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (display)));
  g_object_unref (display);
}

int
main (int argc, char *argv[])
{
  g_autofree char *root = viv_test_ui_init (&argc, &argv);
  int status;

  probe_path = g_getenv ("VIVARIUM_PROBE_ELF");
  if (probe_path == NULL || !g_file_test (probe_path, G_FILE_TEST_EXISTS))
    skip_reason = "VIVARIUM_PROBE_ELF is not set: no probe guest";
  else if (g_find_program_in_path ("qemu-system-x86_64") == NULL)
    skip_reason = "qemu-system-x86_64 is not installed";
  else if (access ("/dev/kvm", R_OK | W_OK) != 0)
    skip_reason = "no usable /dev/kvm";

  /* the SPICE case's connections end with the machine */
  viv_test_spice_warnings_not_fatal ();
  g_test_add_func ("/vnc-display/hang-up", test_hang_up);
  g_test_add_func ("/vnc-display/connect", test_connect);
  g_test_add_func ("/vnc-display/update", test_update);
  g_test_add_func ("/vnc-display/screenshot", test_screenshot);
  g_test_add_func ("/vnc-display/typing", test_typing);
  g_test_add_func ("/vnc-display/send-keys", test_send_keys);
  g_test_add_func ("/vnc-display/every-key", test_every_key);
  g_test_add_func ("/vnc-display/click", test_click);
  g_test_add_func ("/vnc-display/buttons", test_buttons);
  g_test_add_func ("/vnc-display/focus-out", test_focus_out);
  g_test_add_func ("/vnc-display/cursor", test_cursor);
  g_test_add_func ("/vnc-display/scale-mode", test_scale_mode);
  g_test_add_func ("/vnc-display/clipboard", test_clipboard);
  g_test_add_func ("/vnc-display/disconnect", test_disconnect);
  g_test_add_func ("/spice-display/relative-mouse", test_spice_relative);

  status = g_test_run ();
  if (vm.window != NULL)
    gtk_window_destroy (GTK_WINDOW (vm.window));
  qemu_stop ();
  viv_test_finish (g_steal_pointer (&root));
  return status;
}
