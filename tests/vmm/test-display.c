/* test-display.c: the probe's screen, keyboard, mouse and agent through a
 * real SPICE client, under vivarium-vmm and under QEMU
 *
 * One machine per run boots the probe guest with mode=display
 * (tests/guest/README.md, the protocol between the two sides is in the
 * probe's display code): it draws pictures that pattern.h computes, takes
 * commands on COM1 and prints what it receives. A headless
 * spice-client-glib session is the client: through OpenDisplay's sockets
 * (--vmm vmm: the helper on a machine folder, driven over org.vivarium.Vmm1)
 * or QEMU's spice+unix:// socket (--vmm qemu, the cross-check that both
 * sides speak plain virtio and SPICE). The cases share the machine and run
 * in order.
 *
 * --bench instead measures the display path (bench/display.sh runs it) and
 * prints "result NAME VALUE" lines.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <linux/input-event-codes.h>
#include <poll.h>
#include <signal.h>
#include <spice-client.h>
#include <spice/vd_agent.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <x86intrin.h>

#include "pattern.h"
#include "viv-file.h"
#include "vmm-test-machine.h"

#define WAIT_MS 60000           /* a loaded CI machine booting QEMU's SeaBIOS is slow */

static const char *vmm_path;
static const char *probe_path;
static gboolean use_qemu;
static const char *skip_reason;

typedef struct {
  /* the machine */
  char *tmp;
  char *runtime_dir;
  char *machine_dir;
  char *dbus_path;              /* ours: the helper's org.vivarium.Vmm1 */
  char *spice_path;             /* QEMU's SPICE socket */
  GSubprocess *proc;
  gboolean exited;
  int exit_status;
  GDBusConnection *conn;
  VivVmm1 *proxy;
  int serial_fd;
  guint serial_watch;
  GString *serial;              /* everything COM1 said */
  gsize mark;                   /* where the last command's replies start */

  /* the client */
  SpiceSession *session;
  GPtrArray *old_sessions;      /* disconnected ones */
  SpiceChannel *main;
  SpiceChannel *display;
  SpiceChannel *inputs;
  gboolean inputs_open;
  guint fds;

  /* what the primary surface should show */
  uint32_t w, h;
  uint32_t *model;
  guint8 *covered;              /* pixels invalidated since the last reset */

  /* the cursor as the client last saw it */
  gint cursor_sets, cursor_w, cursor_h, hot_x, hot_y;
  guint32 *cursor;

  /* the clipboard */
  GString *clip_got;
  const char *clip_offer;
  guint clip_requests;

  /* the benchmark: update i shows bench_color (i) at (bench_x, bench_y) */
  gboolean bench_on;
  uint32_t bench_x, bench_y;
  guint bench_count;
  guint64 *bench_seen;          /* host TSC of the first invalidate showing it, or 0 */
} Vm;

static Vm vm = { .serial_fd = -1 };

/* ---- waiting ---------------------------------------------------------------- */

static gboolean
keep_awake (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

/* Runs the main context until COND (DATA) holds or MS pass */
static gboolean
wait_for (gboolean (*cond) (gconstpointer), gconstpointer data, guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  guint tick = g_timeout_add (50, keep_awake, NULL);
  gboolean ok;

  while (!(ok = cond (data)) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return ok;
}

static gboolean
never (gconstpointer data)
{
  (void) data;
  return FALSE;
}

static void
run_for (guint ms)
{
  wait_for (never, NULL, ms);
}

#define CHECK(cond, ...) \
  do { if (!(cond)) { g_test_fail_printf (__VA_ARGS__); return; } } while (0)

/* ---- COM1 ------------------------------------------------------------------- */

static gboolean
on_serial (int fd, GIOCondition cond, gpointer data)
{
  (void) cond;
  (void) data;
  if (vmm_test_machine_drain (fd, vm.serial))
    return G_SOURCE_CONTINUE;
  /* The machine is gone: a source left on a hung-up fd would spin */
  vm.serial_watch = 0;
  return G_SOURCE_REMOVE;
}

static void
serial_attach (int fd)
{
  vm.serial_fd = fd;
  vm.serial_watch = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP, on_serial, NULL);
}

/* The first line from FROM on that starts with PREFIX (NULL if none); its
 * rest (after PREFIX, without the line end) in *REST when asked */
static const char *
serial_find (gsize from, const char *prefix, char **rest)
{
  const char *p = vm.serial->str + MIN (from, vm.serial->len);
  size_t n = strlen (prefix);

  /* from the start of a line */
  while (p > vm.serial->str && p[-1] != '\n')
    p++;
  for (; *p; p = strchr (p, '\n') ? strchr (p, '\n') + 1 : p + strlen (p))
    {
      const char *end = strchr (p, '\n');
      if (end == NULL)
        return NULL;            /* not finished yet */
      if (strncmp (p, prefix, n) == 0)
        {
          if (rest != NULL)
            {
              const char *e = end;
              if (e > p + n && e[-1] == '\r')
                e--;
              *rest = g_strndup (p + n, e - (p + n));
            }
          return p;
        }
    }
  return NULL;
}

static gboolean
serial_has_line (gconstpointer prefix)
{
  return serial_find (vm.mark, prefix, NULL) != NULL || vm.exited;
}

/* Waits for a line starting with PREFIX after the last command */
static gboolean
expect_line (const char *prefix, guint ms)
{
  gboolean ok = wait_for (serial_has_line, prefix, ms) && serial_find (vm.mark, prefix, NULL);

  if (!ok)
    g_test_message ("no \"%s\" in %u ms; COM1 since the command:\n%s", prefix, ms,
                    vm.serial->str + MIN (vm.mark, vm.serial->len));
  return ok;
}

static void
command (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
command (const char *format, ...)
{
  g_autofree char *body = NULL;
  g_autofree char *line = NULL;
  va_list ap;
  size_t done = 0, len;

  va_start (ap, format);
  body = g_strdup_vprintf (format, ap);
  va_end (ap);
  line = g_strconcat (body, "\n", NULL);
  len = strlen (line);
  vmm_test_machine_drain (vm.serial_fd, vm.serial);
  vm.mark = vm.serial->len;
  while (done < len)
    {
      ssize_t n = write (vm.serial_fd, line + done, len - done);
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd pfd = { .fd = vm.serial_fd, .events = POLLOUT };
          poll (&pfd, 1, 100);
          continue;
        }
      g_assert_cmpint (n, >, 0);
      done += (size_t) n;
    }
}

/* ---- the expected picture --------------------------------------------------- */

static void
model_resize (uint32_t w, uint32_t h)
{
  g_free (vm.model);
  g_free (vm.covered);
  vm.w = w;
  vm.h = h;
  vm.model = g_new0 (uint32_t, (size_t) w * h);
  vm.covered = g_new0 (guint8, (size_t) w * h);
}

static void
model_frame (uint32_t f, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h)
{
  for (uint32_t y = y0; y < y0 + h && y < vm.h; y++)
    for (uint32_t x = x0; x < x0 + w && x < vm.w; x++)
      vm.model[(size_t) y * vm.w + x] = pattern_pixel (f, x, y);
}

static void
model_fill (uint32_t color, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h)
{
  for (uint32_t y = y0; y < y0 + h && y < vm.h; y++)
    for (uint32_t x = x0; x < x0 + w && x < vm.w; x++)
      vm.model[(size_t) y * vm.w + x] = color;
}

/* The client's primary surface against the model, in 64x64 regions (a
 * region's sum first, pixel by pixel only where it differs); with WHY, the
 * first difference */
static gboolean
primary_matches (char **why)
{
  SpiceDisplayPrimary primary;

  if (vm.display == NULL || !spice_display_channel_get_primary (vm.display, 0, &primary))
    {
      if (why)
        *why = g_strdup ("no primary surface");
      return FALSE;
    }
  if (primary.width != (gint) vm.w || primary.height != (gint) vm.h)
    {
      if (why)
        *why = g_strdup_printf ("the primary is %dx%d, not %ux%u", primary.width,
                                primary.height, vm.w, vm.h);
      return FALSE;
    }
  if (primary.format != SPICE_SURFACE_FMT_32_xRGB)
    {
      if (why)
        *why = g_strdup_printf ("the primary's format is %d", primary.format);
      return FALSE;
    }
  for (uint32_t ry = 0; ry < vm.h; ry += 64)
    for (uint32_t rx = 0; rx < vm.w; rx += 64)
      {
        guint64 got = 0, want = 0;
        for (uint32_t y = ry; y < ry + 64 && y < vm.h; y++)
          for (uint32_t x = rx; x < rx + 64 && x < vm.w; x++)
            {
              const uint32_t *p = (const uint32_t *) (primary.data + (size_t) y * primary.stride);
              got = got * 31 + (p[x] & 0xffffff);
              want = want * 31 + vm.model[(size_t) y * vm.w + x];
            }
        if (got == want)
          continue;
        for (uint32_t y = ry; y < ry + 64 && y < vm.h; y++)
          for (uint32_t x = rx; x < rx + 64 && x < vm.w; x++)
            {
              const uint32_t *p = (const uint32_t *) (primary.data + (size_t) y * primary.stride);
              if ((p[x] & 0xffffff) != vm.model[(size_t) y * vm.w + x])
                {
                  if (why)
                    *why = g_strdup_printf ("pixel (%u, %u) is %06x, not %06x", x, y,
                                            p[x] & 0xffffff, vm.model[(size_t) y * vm.w + x]);
                  return FALSE;
                }
            }
      }
  return TRUE;
}

static gboolean
primary_ok (gconstpointer data)
{
  (void) data;
  return primary_matches (NULL);
}

/* Waits for the client to show the model; FALSE with the first difference */
static gboolean
wait_picture (char **why)
{
  if (wait_for (primary_ok, NULL, WAIT_MS))
    return TRUE;
  primary_matches (why);
  return FALSE;
}

/* ---- the client ------------------------------------------------------------- */

static void
on_open_fd (SpiceChannel *channel, gint with_tls, gpointer data)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  (void) data;
  g_assert_false (with_tls);
  g_assert_nonnull (vm.proxy);
  if (!viv_vmm1_call_open_display_sync (vm.proxy, NULL, &handle, &fds, NULL, &error))
    g_error ("OpenDisplay: %s", error->message);
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  g_assert_no_error (error);
  vm.fds++;
  g_assert_true (spice_channel_open_fd (channel, fd));
}

static void
on_channel_event (SpiceChannel *channel, SpiceChannelEvent event, gpointer data)
{
  (void) data;
  if (SPICE_IS_INPUTS_CHANNEL (channel) && event == SPICE_CHANNEL_OPENED)
    vm.inputs_open = TRUE;
  if (event >= SPICE_CHANNEL_ERROR_CONNECT)
    g_test_message ("channel %s: event %d", G_OBJECT_TYPE_NAME (channel), event);
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

static void
on_invalidate (SpiceChannel *channel, gint x, gint y, gint w, gint h, gpointer data)
{
  guint64 now = __rdtsc ();
  SpiceDisplayPrimary primary;

  (void) data;
  if (vm.bench_on)
    {
      if ((gint) vm.bench_x >= x && (gint) vm.bench_x < x + w && (gint) vm.bench_y >= y
          && (gint) vm.bench_y < y + h
          && spice_display_channel_get_primary (channel, 0, &primary))
        {
          const uint32_t *p = (const uint32_t *) (primary.data
                                                  + (size_t) vm.bench_y * primary.stride);
          uint32_t i = bench_index (p[vm.bench_x] & 0xffffff);
          if (i < vm.bench_count && vm.bench_seen[i] == 0)
            vm.bench_seen[i] = now;
        }
      return;
    }
  for (gint yy = MAX (y, 0); yy < y + h && yy < (gint) vm.h; yy++)
    for (gint xx = MAX (x, 0); xx < x + w && xx < (gint) vm.w; xx++)
      vm.covered[(size_t) yy * vm.w + xx] = 1;
}

static void
on_cursor_set (SpiceCursorChannel *channel, gint w, gint h, gint hot_x, gint hot_y,
               gpointer rgba, gpointer data)
{
  (void) channel;
  (void) data;
  vm.cursor_sets++;
  vm.cursor_w = w;
  vm.cursor_h = h;
  vm.hot_x = hot_x;
  vm.hot_y = hot_y;
  g_clear_pointer (&vm.cursor, g_free);
  if (rgba != NULL && w > 0 && h > 0)
    vm.cursor = g_memdup2 (rgba, (gsize) w * h * 4);
}

static gboolean
on_clipboard_grab (SpiceMainChannel *main, guint selection, gpointer types, guint ntypes,
                   gpointer data)
{
  (void) data;
  /* The guest has text: ask for it, as a client whose user pastes */
  for (guint i = 0; i < ntypes; i++)
    if (((const guint32 *) types)[i] == VD_AGENT_CLIPBOARD_UTF8_TEXT)
      spice_main_channel_clipboard_selection_request (main, selection,
                                                      VD_AGENT_CLIPBOARD_UTF8_TEXT);
  return TRUE;
}

static void
on_clipboard (SpiceMainChannel *main, guint selection, guint type, gpointer bytes, guint size,
              gpointer data)
{
  (void) main;
  (void) selection;
  (void) data;
  if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT)
    return;
  g_string_truncate (vm.clip_got, 0);
  g_string_append_len (vm.clip_got, bytes, size);
}

static gboolean
on_clipboard_request (SpiceMainChannel *main, guint selection, guint type, gpointer data)
{
  (void) data;
  vm.clip_requests++;
  if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT || vm.clip_offer == NULL)
    return FALSE;
  spice_main_channel_clipboard_selection_notify (main, selection, type,
                                                 (const guchar *) vm.clip_offer,
                                                 strlen (vm.clip_offer));
  return TRUE;
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, gpointer data)
{
  (void) session;
  (void) data;
  if (!use_qemu)
    g_signal_connect (channel, "open-fd", G_CALLBACK (on_open_fd), NULL);
  g_signal_connect (channel, "channel-event", G_CALLBACK (on_channel_event), NULL);
  if (SPICE_IS_MAIN_CHANNEL (channel))
    {
      vm.main = channel;
      g_signal_connect (channel, "main-clipboard-selection-grab",
                        G_CALLBACK (on_clipboard_grab), NULL);
      g_signal_connect (channel, "main-clipboard-selection", G_CALLBACK (on_clipboard), NULL);
      g_signal_connect (channel, "main-clipboard-selection-request",
                        G_CALLBACK (on_clipboard_request), NULL);
    }
  else if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      vm.display = channel;
      g_signal_connect (channel, "display-invalidate", G_CALLBACK (on_invalidate), NULL);
      spice_channel_connect (channel);
    }
  else if (SPICE_IS_INPUTS_CHANNEL (channel))
    {
      vm.inputs = channel;
      spice_channel_connect (channel);
    }
  else if (SPICE_IS_CURSOR_CHANNEL (channel))
    {
      g_signal_connect (channel, "cursor-set", G_CALLBACK (on_cursor_set), NULL);
      spice_channel_connect (channel);
    }
}

static void
client_connect (void)
{
  vm.main = vm.display = vm.inputs = NULL;
  vm.inputs_open = FALSE;
  vm.session = spice_session_new ();
  /* no playback or record channels: nothing here plays sound */
  g_object_set (vm.session, "enable-audio", FALSE, NULL);
  g_signal_connect (vm.session, "channel-new", G_CALLBACK (on_channel_new), NULL);
  if (use_qemu)
    {
      g_autofree char *uri = g_strconcat ("spice+unix://", vm.spice_path, NULL);
      g_object_set (vm.session, "uri", uri, NULL);
      g_assert_true (spice_session_connect (vm.session));
    }
  else
    {
      /* -1: every channel asks for its socket with SpiceChannel::open-fd */
      g_assert_true (spice_session_open_fd (vm.session, -1));
    }
}

static gboolean
no_channels (gconstpointer data)
{
  GList *channels = spice_session_get_channels (vm.session);
  gboolean none = channels == NULL;

  (void) data;
  g_list_free (channels);
  return none;
}

static void
client_disconnect (void)
{
  if (vm.session == NULL)
    return;
  /* Each channel first, while the session is whole: a channel that the
   * session's own disconnect leaves running still handles what it read
   * (the agent's messages) with no session (criticals in spice_audio_get
   * and spice_session_get_read_only) */
  {
    GList *channels = spice_session_get_channels (vm.session);
    for (GList *l = channels; l != NULL; l = l->next)
      spice_channel_disconnect (l->data, SPICE_CHANNEL_CLOSED);
    g_list_free (channels);
  }
  run_for (200);
  spice_session_disconnect (vm.session);
  wait_for (no_channels, NULL, WAIT_MS);
  /* Kept until the end: channels of it still finish (and look at their
   * session) after they left its list */
  if (vm.old_sessions == NULL)
    vm.old_sessions = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (vm.old_sessions, g_steal_pointer (&vm.session));
  vm.main = vm.display = vm.inputs = NULL;
}

/* ---- the machine ------------------------------------------------------------ */

static void
on_machine_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  (void) data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  vm.exited = TRUE;
  vm.exit_status = g_subprocess_get_if_exited (G_SUBPROCESS (source))
                     ? g_subprocess_get_exit_status (G_SUBPROCESS (source)) : -1;
}

static gboolean
file_exists (gconstpointer path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS) || vm.exited;
}

static void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static const char *qemu_display_devices[] = {
  "-vga", "none",
  "-device", "virtio-gpu-pci,disable-legacy=on",
  "-device", "virtio-keyboard-pci,disable-legacy=on",
  "-device", "virtio-tablet-pci,disable-legacy=on",
  /* No virtio-mouse: QEMU gives the pointer to the device the guest set
   * up last, the probe's mouse, and SPICE then runs in server mouse mode
   * with no positions at all (ours keeps the tablet's client mode) */
  "-device", "virtio-serial-pci,disable-legacy=on",
  "-chardev", "spicevmc,id=vdagent,name=vdagent",
  "-device", "virtserialport,chardev=vdagent,name=com.redhat.spice.0",
};

static void
start_qemu (const char *cmdline)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autofree char *serial_path = g_build_filename (vm.tmp, "com1.sock", NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  vm.spice_path = g_build_filename (vm.tmp, "spice.sock", NULL);
#define ARG(s) g_ptr_array_add (argv, g_strdup (s))
  ARG ("qemu-system-x86_64");
  ARG ("-accel"); ARG ("kvm");
  ARG ("-M"); ARG ("q35");
  /* host alone fails on this kind of nested KVM (tests/guest/README.md) */
  ARG ("-cpu"); ARG ("host,-arch-capabilities");
  ARG ("-m"); ARG ("128M");
  ARG ("-smp"); ARG ("1");
  ARG ("-nodefaults"); ARG ("-no-reboot"); ARG ("-display"); ARG ("none");
  /* names the vCPU threads "CPU n/KVM" (the benchmark leaves them out) */
  ARG ("-name"); ARG ("probe,debug-threads=on");
  ARG ("-kernel"); ARG (probe_path);
  ARG ("-append"); ARG (cmdline);
  ARG ("-chardev");
  g_ptr_array_add (argv, g_strdup_printf ("socket,id=com1,path=%s,server=on,wait=off",
                                          serial_path));
  ARG ("-serial"); ARG ("chardev:com1");
  /* agent-mouse=off as ours: with the agent there, QEMU's default sends
   * client-mode positions to the agent instead of the tablet */
  ARG ("-spice");
  g_ptr_array_add (argv, g_strdup_printf ("unix=on,addr=%s,disable-ticketing=on,"
                                          "image-compression=off,agent-mouse=off",
                                          vm.spice_path));
  for (guint i = 0; i < G_N_ELEMENTS (qemu_display_devices); i++)
    ARG (qemu_display_devices[i]);
  g_ptr_array_add (argv, NULL);
#undef ARG

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  vm.proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (vm.proc, NULL, on_machine_exit, NULL);
  g_assert_true (wait_for (file_exists, serial_path, WAIT_MS));
  g_assert_false (vm.exited);
  g_assert_true (wait_for (file_exists, vm.spice_path, WAIT_MS));

  /* COM1 is a server socket that does not wait for us: the probe prints
   * its banner only after SeaBIOS's seconds, long after we connected */
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, serial_path, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (fcntl (fd, F_SETFL, O_NONBLOCK), ==, 0);
  serial_attach (fd);
}

static void
start_vmm (const char *cmdline)
{
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *json = NULL;
  g_autofree char *sock = g_strconcat (uuid, ".sock", NULL);

  vm.runtime_dir = g_build_filename (vm.tmp, "run", NULL);
  g_assert_cmpint (g_mkdir (vm.runtime_dir, 0700), ==, 0);
  vm.machine_dir = g_build_filename (vm.tmp, uuid, NULL);
  json = vmm_test_machine_write (vm.machine_dir, uuid, probe_path, cmdline, 128u << 20,
                                 /* the display alone brings the agent's port */
                                 "  \"display\": { \"kind\": \"spice\" },\n"
                                 "  \"devices\": { \"rng\": false }");
  vm.dbus_path = g_build_filename (vm.runtime_dir, "vivarium", sock, NULL);
  vm.proc = vmm_test_machine_spawn (vmm_path, vm.runtime_dir, vm.machine_dir,
                                    G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_wait_async (vm.proc, NULL, on_machine_exit, NULL);
  g_assert_true (wait_for (file_exists, vm.dbus_path, WAIT_MS));
  g_assert_false (vm.exited);
  vm.proxy = vmm_test_machine_connect (vm.dbus_path, &vm.conn);
  serial_attach (vmm_test_machine_open_serial (vm.proxy));
}

static void
machine_start (void)
{
  vm.serial = g_string_new (NULL);
  vm.clip_got = g_string_new (NULL);
  vm.tmp = g_dir_make_tmp ("vivarium-display-XXXXXX", NULL);
  if (use_qemu)
    start_qemu ("cpus=1 mode=display");
  else
    start_vmm ("cpus=1 mode=display");
}

static gboolean
has_exited (gconstpointer data)
{
  (void) data;
  return vm.exited;
}

static void
machine_stop (void)
{
  client_disconnect ();
  if (vm.proc != NULL && !vm.exited)
    {
      g_subprocess_force_exit (vm.proc);
      wait_for (has_exited, NULL, WAIT_MS);
    }
  if (vm.serial_watch)
    g_source_remove (vm.serial_watch);
  if (vm.serial_fd >= 0)
    close (vm.serial_fd);
  g_clear_object (&vm.proxy);
  if (vm.conn != NULL)
    g_dbus_connection_close_sync (vm.conn, NULL, NULL);
  g_clear_object (&vm.conn);
  g_clear_object (&vm.proc);
  g_clear_pointer (&vm.old_sessions, g_ptr_array_unref);
  if (vm.tmp != NULL)
    viv_file_remove_tree (vm.tmp);
}

/* The probe's "# display ready WxH" (or resized/mode lines) size */
static gboolean
parse_size (const char *text, uint32_t *w, uint32_t *h)
{
  return text != NULL && sscanf (text, "%ux%u", w, h) == 2;
}

/* ---- the cases -------------------------------------------------------------- */

static gboolean connected;

#define NEED_MACHINE() \
  do { \
    if (skip_reason) { g_test_skip (skip_reason); return; } \
    if (!connected) { g_test_fail_printf ("the client did not connect"); return; } \
  } while (0)

static gboolean
primary_exists (gconstpointer data)
{
  SpiceDisplayPrimary primary;

  (void) data;
  return vm.display != NULL && spice_display_channel_get_primary (vm.display, 0, &primary);
}

/* The probe finds its devices and says "# display ready WxH"; the client
 * shows frame 0 of the pattern, exactly */
static void
test_connect (void)
{
  g_autofree char *size = NULL;
  g_autofree char *why = NULL;
  uint32_t w, h;

  if (skip_reason)
    {
      g_test_skip (skip_reason);
      return;
    }
  machine_start ();
  vm.mark = 0;
  CHECK (expect_line ("# display ready ", WAIT_MS), "no \"# display ready\" from the probe");
  serial_find (0, "# display ready ", &size);
  CHECK (parse_size (size, &w, &h), "cannot read the size in \"%s\"", size);
  g_test_message ("display ready %ux%u", w, h);
  model_resize (w, h);
  model_frame (0, 0, 0, w, h);
  client_connect ();
  CHECK (wait_for (primary_exists, NULL, WAIT_MS), "no primary surface");
  connected = TRUE;
  CHECK (wait_picture (&why), "frame 0: %s", why);
  if (!use_qemu)
    g_test_message ("OpenDisplay sockets: %u", vm.fds);
}

static gboolean
covers_changes (const uint32_t *before, char **why)
{
  for (uint32_t y = 0; y < vm.h; y++)
    for (uint32_t x = 0; x < vm.w; x++)
      {
        size_t i = (size_t) y * vm.w + x;
        if (before[i] != vm.model[i] && !vm.covered[i])
          {
            if (why != NULL)
              *why = g_strdup_printf ("pixel (%u, %u) changed without an invalidate", x, y);
            return FALSE;
          }
      }
  return TRUE;
}

static gboolean
covers_pending (gconstpointer before)
{
  return covers_changes (before, NULL);
}

/* Runs COMMAND, which changes the model from BEFORE to what it is now;
 * checks the client's picture and that the invalidates covered the changes */
static gboolean
check_update (const char *cmd, const char *done, const uint32_t *before, char **why)
{
  memset (vm.covered, 0, (size_t) vm.w * vm.h);
  command ("%s", cmd);
  if (!expect_line (done, WAIT_MS))
    {
      *why = g_strdup_printf ("no \"%s\"", done);
      return FALSE;
    }
  if (!wait_picture (why))
    return FALSE;
  /* spice-client-glib draws, then emits display-invalidate from the main
   * loop: the picture may show before the last invalidate came */
  wait_for (covers_pending, before, 5000);
  return covers_changes (before, why);
}

static void
test_updates (void)
{
  g_autofree uint32_t *before = NULL;
  g_autofree char *why = NULL;
  uint32_t last;

  NEED_MACHINE ();
  before = g_memdup2 (vm.model, (gsize) vm.w * vm.h * 4);
  model_frame (3, 0, 0, vm.w, vm.h);
  CHECK (check_update ("full 3", "# done full 3", before, &why), "full 3: %s", why);

  memcpy (before, vm.model, (gsize) vm.w * vm.h * 4);
  for (guint i = 0; i < G_N_ELEMENTS (pattern_rects); i++)
    model_frame (5, pattern_rects[i][0], pattern_rects[i][1], pattern_rects[i][2],
                 pattern_rects[i][3]);
  CHECK (check_update ("rects 5", "# done rects 5", before, &why), "rects 5: %s", why);

  /* Each step puts back what was under the last square: at the end only
   * the last one shows */
  memcpy (before, vm.model, (gsize) vm.w * vm.h * 4);
  last = 20 - 1;
  model_fill (PATTERN_SQUARE_COLOR, last * PATTERN_SQUARE_STEP_X, last * PATTERN_SQUARE_STEP_Y,
              PATTERN_SQUARE, PATTERN_SQUARE);
  CHECK (check_update ("square 20", "# done square 20", before, &why), "square 20: %s", why);
}

static gboolean
cursor_seen (gconstpointer data)
{
  (void) data;
  return vm.cursor_sets > 0 && vm.cursor_w == PATTERN_CURSOR_SIZE;
}

static void
test_cursor (void)
{
  NEED_MACHINE ();
  command ("cursor");
  CHECK (expect_line ("# done cursor", WAIT_MS), "no \"# done cursor\"");
  CHECK (wait_for (cursor_seen, NULL, WAIT_MS), "no 64x64 cursor (sets %d, last %dx%d)",
         vm.cursor_sets, vm.cursor_w, vm.cursor_h);
  g_assert_cmpint (vm.cursor_h, ==, PATTERN_CURSOR_SIZE);
  g_assert_cmpint (vm.hot_x, ==, PATTERN_CURSOR_HOT_X);
  g_assert_cmpint (vm.hot_y, ==, PATTERN_CURSOR_HOT_Y);
  g_assert_nonnull (vm.cursor);
  /* spice-client-glib gives the pixels as the bytes R, G, B, A (what
   * GdkPixbuf takes), from SPICE's ARGB words */
  for (uint32_t y = 0; y < PATTERN_CURSOR_SIZE; y++)
    for (uint32_t x = 0; x < PATTERN_CURSOR_SIZE; x++)
      {
        uint32_t argb = x + y < 64 ? 0xff000000u | pattern_pixel (7, x, y) : 0;
        const guint8 *p = (const guint8 *) &vm.cursor[y * PATTERN_CURSOR_SIZE + x];
        uint32_t got = (uint32_t) p[3] << 24 | (uint32_t) p[0] << 16 | (uint32_t) p[1] << 8 | p[2];
        CHECK (got == argb, "cursor pixel (%u, %u) is ARGB %08x, not %08x", x, y, got, argb);
      }
}

/* The value of the last "# input DEV TYPE CODE VALUE" line since the last
 * command, for TYPE and CODE on any device; FALSE if none */
static gboolean
last_input (int type, int code, int *value, const char **dev)
{
  const char *p = vm.serial->str + MIN (vm.mark, vm.serial->len);
  gboolean found = FALSE;

  while ((p = strstr (p, "# input ")) != NULL)
    {
      char name[16];
      int t, c, v;
      if (sscanf (p, "# input %15s %d %d %d", name, &t, &c, &v) == 4 && t == type && c == code
          && strchr (p, '\n') != NULL)
        {
          *value = v;
          if (dev)
            *dev = strstr (p, "tablet") == p + 8 ? "tablet" : strstr (p, "mouse") == p + 8
                   ? "mouse" : "kbd";
          found = TRUE;
        }
      p += 8;
    }
  return found;
}

/* How many "# input DEV TYPE CODE VALUE" lines since the last command
 * match (DEV NULL: any device) */
static guint
count_input (const char *dev, int type, int code, int value)
{
  const char *p = vm.serial->str + MIN (vm.mark, vm.serial->len);
  guint n = 0;

  while ((p = strstr (p, "# input ")) != NULL)
    {
      char name[16];
      int t, c, v;
      if (sscanf (p, "# input %15s %d %d %d", name, &t, &c, &v) == 4 && t == type && c == code
          && v == value && (dev == NULL || strcmp (name, dev) == 0))
        n++;
      p += 8;
    }
  return n;
}

typedef struct {
  int type, code, value;
} Input;

static gboolean
input_seen (gconstpointer data)
{
  const Input *in = data;
  int v;

  return vm.exited || (last_input (in->type, in->code, &v, NULL) && v == in->value);
}

/* Waits for "# input * TYPE CODE VALUE" after the last mark */
static gboolean
expect_input (int type, int code, int value)
{
  Input in = { type, code, value };

  if (wait_for (input_seen, &in, WAIT_MS) && !vm.exited)
    return TRUE;
  g_test_message ("no input %d %d %d; COM1 since:\n%s", type, code, value,
                  vm.serial->str + MIN (vm.mark, vm.serial->len));
  return FALSE;
}

static void
mark (void)
{
  vmm_test_machine_drain (vm.serial_fd, vm.serial);
  vm.mark = vm.serial->len;
}

static gboolean
inputs_ready (gconstpointer data)
{
  gint mode = 0;

  (void) data;
  if (vm.main == NULL || vm.inputs == NULL || !vm.inputs_open)
    return FALSE;
  g_object_get (vm.main, "mouse-mode", &mode, NULL);
  return mode == SPICE_MOUSE_MODE_CLIENT;
}

static gint
key_modifiers (void)
{
  gint mods = -1;

  g_object_get (vm.inputs, "key-modifiers", &mods, NULL);
  return mods;
}

static gboolean
modifiers_are (gconstpointer data)
{
  return key_modifiers () == GPOINTER_TO_INT (data);
}

static gboolean
wheel_seen (gconstpointer data)
{
  int dir = GPOINTER_TO_INT (data), v;

  /* QEMU before 8.1 gives the wheel to virtio-input as BTN_GEAR_UP/DOWN */
  return vm.exited || (last_input (EV_REL, REL_WHEEL, &v, NULL) && v == dir)
         || (use_qemu && last_input (EV_KEY, dir > 0 ? BTN_GEAR_UP : BTN_GEAR_DOWN, &v, NULL));
}

/* The inputs channel, open, with the mouse in client mode (the tablet) */
static SpiceInputsChannel *
inputs_channel (void)
{
  if (!wait_for (inputs_ready, NULL, WAIT_MS))
    {
      g_test_fail_printf ("the inputs channel is not open in client mode");
      return NULL;
    }
  return SPICE_INPUTS_CHANNEL (vm.inputs);
}

#define NEED_INPUTS() \
  NEED_MACHINE (); \
  if ((inputs = inputs_channel ()) == NULL) \
    return

/* Keys, extended ones too, pressed and released */
static void
test_input_keys (void)
{
  SpiceInputsChannel *inputs;
  static const struct { guint scancode; int code; } keys[] = {
    { 0x1e, KEY_A }, { 0x11d, KEY_RIGHTCTRL }, { 0x39, KEY_SPACE }, { 0x148, KEY_UP },
  };

  NEED_INPUTS ();
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      mark ();
      spice_inputs_channel_key_press (inputs, keys[i].scancode);
      CHECK (expect_input (EV_KEY, keys[i].code, 1), "key %#x: no press of %d",
             keys[i].scancode, keys[i].code);
      mark ();
      spice_inputs_channel_key_release (inputs, keys[i].scancode);
      CHECK (expect_input (EV_KEY, keys[i].code, 0), "key %#x: no release of %d",
             keys[i].scancode, keys[i].code);
    }
}

/* Absolute positions: x * 32767 / (width - 1), within a pixel's worth */
static void
test_input_position (void)
{
  SpiceInputsChannel *inputs;
  static const uint32_t points[][2] = { { 320, 240 }, { 0, 0 }, { 1279, 799 }, { 17, 700 } };

  NEED_INPUTS ();
  for (guint i = 0; i < G_N_ELEMENTS (points); i++)
    {
      uint32_t x = MIN (points[i][0], vm.w - 1), y = MIN (points[i][1], vm.h - 1);
      double want_x = (double) x * 32767 / (vm.w - 1), want_y = (double) y * 32767 / (vm.h - 1);
      double tol_x = 32767.0 / (vm.w - 1) + 1, tol_y = 32767.0 / (vm.h - 1) + 1;
      int vx = -1, vy = -1;
      const char *dev = "";

      mark ();
      spice_inputs_channel_position (inputs, (gint) x, (gint) y, 0, 0);
      /* both axes, then the probe has printed them in one go */
      run_for (50);
      {
        gint64 end = g_get_monotonic_time () + WAIT_MS * 1000ll;
        while (g_get_monotonic_time () < end && !vm.exited
               && !(last_input (EV_ABS, ABS_X, &vx, &dev) && last_input (EV_ABS, ABS_Y, &vy, NULL)
                    && ABS (vx - want_x) <= tol_x && ABS (vy - want_y) <= tol_y))
          run_for (20);
      }
      g_test_message ("(%u, %u) -> %s ABS %d, %d (expected %.0f, %.0f)", x, y, dev, vx, vy,
                      want_x, want_y);
      if (!(ABS (vx - want_x) <= tol_x && ABS (vy - want_y) <= tol_y))
        g_test_message ("COM1 since:\n%s", vm.serial->str + MIN (vm.mark, vm.serial->len));
      CHECK (ABS (vx - want_x) <= tol_x && ABS (vy - want_y) <= tol_y,
             "position (%u, %u) arrived as ABS_X %d, ABS_Y %d, not about %.0f, %.0f", x, y, vx,
             vy, want_x, want_y);
    }
}

static void
test_input_buttons (void)
{
  SpiceInputsChannel *inputs;
  static const struct { gint button, mask; int code; } buttons[] = {
    { SPICE_MOUSE_BUTTON_LEFT, SPICE_MOUSE_BUTTON_MASK_LEFT, BTN_LEFT },
    { SPICE_MOUSE_BUTTON_RIGHT, SPICE_MOUSE_BUTTON_MASK_RIGHT, BTN_RIGHT },
    { SPICE_MOUSE_BUTTON_MIDDLE, SPICE_MOUSE_BUTTON_MASK_MIDDLE, BTN_MIDDLE },
  };

  NEED_INPUTS ();
  for (guint i = 0; i < G_N_ELEMENTS (buttons); i++)
    {
      mark ();
      spice_inputs_channel_button_press (inputs, buttons[i].button, buttons[i].mask);
      CHECK (expect_input (EV_KEY, buttons[i].code, 1), "button %d: no press of %d",
             buttons[i].button, buttons[i].code);
      mark ();
      spice_inputs_channel_button_release (inputs, buttons[i].button, 0);
      CHECK (expect_input (EV_KEY, buttons[i].code, 0), "button %d: no release of %d",
             buttons[i].button, buttons[i].code);
    }
}

static void
test_input_wheel (void)
{
  SpiceInputsChannel *inputs;

  NEED_INPUTS ();
  for (int dir = 1; dir >= -1; dir -= 2)
    {
      gint button = dir > 0 ? SPICE_MOUSE_BUTTON_UP : SPICE_MOUSE_BUTTON_DOWN;
      mark ();
      spice_inputs_channel_button_press (inputs, button, 0);
      spice_inputs_channel_button_release (inputs, button, 0);
      CHECK (wait_for (wheel_seen, GINT_TO_POINTER (dir), WAIT_MS) && !vm.exited,
             "wheel %+d: no REL_WHEEL %+d; COM1 since:\n%s", dir, dir,
             vm.serial->str + MIN (vm.mark, vm.serial->len));
      /* one device only: with a mouse beside the tablet, a wheel step
       * reported by both would scroll the guest twice */
      run_for (200);
      CHECK (use_qemu || count_input (NULL, EV_REL, REL_WHEEL, dir) == 1,
             "wheel %+d: %u REL_WHEEL events, not 1; COM1 since:\n%s", dir,
             count_input (NULL, EV_REL, REL_WHEEL, dir),
             vm.serial->str + MIN (vm.mark, vm.serial->len));
    }
}

static gboolean
mouse_mode_is (gconstpointer data)
{
  gint mode = 0;

  g_object_get (vm.main, "mouse-mode", &mode, NULL);
  return mode == GPOINTER_TO_INT (data) || vm.exited;
}

/* Server mouse mode (what a client asks for to grab the pointer): motion
 * reaches the relative mouse, and buttons and the wheel go to it alone;
 * back in client mode they go to the tablet again. QEMU's line has no
 * virtio mouse (see qemu_display_devices). */
static void
test_input_relative (void)
{
  SpiceInputsChannel *inputs;
  int v;
  const char *dev = NULL;

  if (use_qemu)
    {
      g_test_skip ("QEMU runs without a virtio mouse here");
      return;
    }
  NEED_INPUTS ();
  spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (vm.main), SPICE_MOUSE_MODE_SERVER);
  CHECK (wait_for (mouse_mode_is, GINT_TO_POINTER (SPICE_MOUSE_MODE_SERVER), WAIT_MS)
         && !vm.exited, "the server did not switch to server mouse mode");

  mark ();
  spice_inputs_channel_motion (inputs, 5, -3, 0);
  CHECK (expect_input (EV_REL, REL_X, 5) && expect_input (EV_REL, REL_Y, -3),
         "motion (5, -3) did not arrive as REL_X/REL_Y");
  CHECK (last_input (EV_REL, REL_X, &v, &dev) && g_str_equal (dev, "mouse"),
         "motion arrived on the %s, not the mouse", dev);

  mark ();
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_LEFT,
                                     SPICE_MOUSE_BUTTON_MASK_LEFT);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_LEFT, 0);
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  CHECK (expect_input (EV_KEY, BTN_LEFT, 0) && expect_input (EV_REL, REL_WHEEL, 1),
         "no click or wheel step in server mode");
  run_for (200);
  CHECK (count_input ("mouse", EV_KEY, BTN_LEFT, 1) == 1
         && count_input (NULL, EV_KEY, BTN_LEFT, 1) == 1,
         "the click reached %u device(s), %u of them the mouse; COM1 since:\n%s",
         count_input (NULL, EV_KEY, BTN_LEFT, 1), count_input ("mouse", EV_KEY, BTN_LEFT, 1),
         vm.serial->str + MIN (vm.mark, vm.serial->len));
  CHECK (count_input ("mouse", EV_REL, REL_WHEEL, 1) == 1
         && count_input (NULL, EV_REL, REL_WHEEL, 1) == 1,
         "the wheel step reached %u device(s), %u of them the mouse",
         count_input (NULL, EV_REL, REL_WHEEL, 1), count_input ("mouse", EV_REL, REL_WHEEL, 1));

  spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (vm.main), SPICE_MOUSE_MODE_CLIENT);
  CHECK (wait_for (mouse_mode_is, GINT_TO_POINTER (SPICE_MOUSE_MODE_CLIENT), WAIT_MS)
         && !vm.exited, "the server did not switch back to client mouse mode");
  mark ();
  spice_inputs_channel_position (inputs, 10, 10, 0, 0);
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_LEFT,
                                     SPICE_MOUSE_BUTTON_MASK_LEFT);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_LEFT, 0);
  CHECK (expect_input (EV_KEY, BTN_LEFT, 0), "no click back in client mode");
  run_for (200);
  CHECK (count_input ("tablet", EV_KEY, BTN_LEFT, 1) == 1
         && count_input (NULL, EV_KEY, BTN_LEFT, 1) == 1,
         "back in client mode the click reached %u device(s), %u of them the tablet",
         count_input (NULL, EV_KEY, BTN_LEFT, 1), count_input ("tablet", EV_KEY, BTN_LEFT, 1));
}

/* The guest's LEDs reach the client as its key modifiers */
static void
test_leds (void)
{
  NEED_MACHINE ();
  command ("leds 2");
  CHECK (expect_line ("# done leds 2", WAIT_MS), "no \"# done leds 2\"");
  CHECK (wait_for (modifiers_are, GINT_TO_POINTER (SPICE_INPUTS_CAPS_LOCK), WAIT_MS),
         "leds 2: the client's key modifiers are %#x, not caps lock", key_modifiers ());
  command ("leds 5");
  CHECK (expect_line ("# done leds 5", WAIT_MS), "no \"# done leds 5\"");
  CHECK (wait_for (modifiers_are,
                   GINT_TO_POINTER (SPICE_INPUTS_NUM_LOCK | SPICE_INPUTS_SCROLL_LOCK), WAIT_MS),
         "leds 5: the client's key modifiers are %#x, not num + scroll lock", key_modifiers ());
  command ("leds 0");
  CHECK (expect_line ("# done leds 0", WAIT_MS), "no \"# done leds 0\"");
  CHECK (wait_for (modifiers_are, GINT_TO_POINTER (0), WAIT_MS),
         "leds 0: the client's key modifiers are %#x", key_modifiers ());
}

static gboolean
agent_ready (gconstpointer data)
{
  gboolean agent = FALSE;

  (void) data;
  if (vm.main == NULL)
    return FALSE;
  g_object_get (vm.main, "agent-connected", &agent, NULL);
  return agent && serial_find (0, "# agent up", NULL)
         && spice_main_channel_agent_test_capability (SPICE_MAIN_CHANNEL (vm.main),
                                                      VD_AGENT_CAP_MONITORS_CONFIG);
}

static gboolean
resized_to (gconstpointer size)
{
  g_autofree char *a = g_strconcat ("# display resized ", size, NULL);
  g_autofree char *b = g_strconcat ("# agent monitors ", size, NULL);

  return vm.exited || serial_find (vm.mark, a, NULL) || serial_find (vm.mark, b, NULL);
}

static void
test_monitor_config (void)
{
  g_autofree char *why = NULL;
  SpiceMainChannel *main_channel;

  NEED_MACHINE ();
  CHECK (wait_for (agent_ready, NULL, WAIT_MS), "the agent did not connect (\"# agent up\": %s)",
         serial_find (0, "# agent up", NULL) ? "yes" : "no");
  main_channel = SPICE_MAIN_CHANNEL (vm.main);
  mark ();
  spice_main_channel_update_display_enabled (main_channel, 0, TRUE, FALSE);
  spice_main_channel_update_display (main_channel, 0, 0, 0, 1024, 768, FALSE);
  CHECK (spice_main_channel_send_monitor_config (main_channel), "the client did not send it");
  CHECK (wait_for (resized_to, "1024x768", WAIT_MS) && !vm.exited,
         "no \"# display resized 1024x768\" nor \"# agent monitors 1024x768\"; COM1 since:\n%s",
         vm.serial->str + vm.mark);
  g_test_message ("%s", serial_find (vm.mark, "# display resized ", NULL)
                          ? "through the display device" : "through the agent");
  model_resize (1024, 768);
  model_frame (0, 0, 0, 1024, 768);
  CHECK (wait_picture (&why), "after the resize: %s", why);
}

static gboolean
clip_is (gconstpointer text)
{
  return vm.exited || strcmp (vm.clip_got->str, text) == 0;
}

static void
test_clipboard (void)
{
  static const char client_text[] = "from the client: caf\xc3\xa9, 100%";
  guint32 types[] = { VD_AGENT_CLIPBOARD_UTF8_TEXT };
  g_autofree char *got = NULL;

  NEED_MACHINE ();
  CHECK (wait_for (agent_ready, NULL, WAIT_MS), "the agent did not connect");
  /* client → guest: grab, the agent asks, the client gives */
  mark ();
  vm.clip_offer = client_text;
  spice_main_channel_clipboard_selection_grab (SPICE_MAIN_CHANNEL (vm.main),
                                               VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD, types, 1);
  CHECK (expect_line ("# agent clipboard ", WAIT_MS), "no \"# agent clipboard\" (requests %u)",
         vm.clip_requests);
  serial_find (vm.mark, "# agent clipboard ", &got);
  g_assert_cmpstr (got, ==, "from the client: caf\\xc3\\xa9, 100%");

  /* guest → client */
  g_string_truncate (vm.clip_got, 0);
  command ("clip hello from the probe");
  CHECK (wait_for (clip_is, "hello from the probe", WAIT_MS) && !vm.exited,
         "the client got \"%s\"", vm.clip_got->str);
  CHECK (expect_line ("# done clip", WAIT_MS), "no \"# done clip\"");
}

static void
test_reconnect (void)
{
  g_autofree char *why = NULL;

  NEED_MACHINE ();
  for (int i = 0; i < 2; i++)
    {
      client_disconnect ();
      run_for (200);
      CHECK (!vm.exited, "the VMM exited when the client left");
      client_connect ();
      CHECK (wait_picture (&why), "client %d: %s", i + 2, why);
    }
  /* and the new client's updates arrive */
  {
    g_autofree uint32_t *before = g_memdup2 (vm.model, (gsize) vm.w * vm.h * 4);
    model_frame (9, 0, 0, vm.w, vm.h);
    CHECK (check_update ("full 9", "# done full 9", before, &why), "full 9: %s", why);
  }
}

static void
test_quit (void)
{
  const char *p;
  guint bad = 0;

  NEED_MACHINE ();
  client_disconnect ();
  command ("quit");
  CHECK (wait_for (has_exited, NULL, WAIT_MS), "the VMM did not exit after \"quit\"");
  vmm_test_machine_drain (vm.serial_fd, vm.serial);
  g_test_message ("exit status %d; the probe said:\n%s", vm.exit_status, vm.serial->str);
  for (p = vm.serial->str; p && *p; p = strchr (p, '\n') ? strchr (p, '\n') + 1 : NULL)
    if (g_str_has_prefix (p, "not ok"))
      {
        g_autofree char *line = g_strndup (p, strcspn (p, "\n"));
        g_test_message ("probe: %s", line);
        bad++;
      }
  CHECK (vm.exit_status == 0, "the VMM exited with %d", vm.exit_status);
  CHECK (bad == 0, "the probe reported %u \"not ok\"", bad);
  CHECK (serial_find (0, "1..", NULL) != NULL, "the probe printed no plan");
}

/* ---- the benchmark ---------------------------------------------------------- */

static double host_tsc_per_s;
static gint64 tsc_offset;       /* guest TSC - host TSC */

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

/* The guest's TSC against ours. The probe answers `sync` with "# sync",
 * reads its TSC just before writing that line's end, then sends the value
 * on a line of its own. The line's end reaches us DELAY after the read, so
 * T - (our TSC then) is the offset minus DELAY: never more than the offset,
 * and the largest over many tries is the closest (latencies computed with
 * it are short by at most one serial byte's way to us, tens of µs). */
static void
measure_offset (void)
{
  gint64 best = G_MININT64;
  guint64 best_wait = 0;

  for (int i = 0; i < 100; i++)
    {
      guint64 before, end, t;
      g_autofree char *rest = NULL;

      before = __rdtsc ();
      command ("sync");
      while (serial_find (vm.mark, "# sync", NULL) == NULL && !vm.exited)
        g_main_context_iteration (NULL, TRUE);
      end = __rdtsc ();
      while (serial_find (vm.mark, "# tsc ", &rest) == NULL && !vm.exited)
        g_main_context_iteration (NULL, TRUE);
      if (vm.exited)
        break;
      t = g_ascii_strtoull (rest, NULL, 10);
      if ((gint64) (t - end) > best)
        {
          best = (gint64) (t - end);
          best_wait = end - before;
        }
    }
  tsc_offset = best;
  g_printerr ("TSC offset %" G_GINT64_FORMAT " (from a try answered in %.1f us)\n", tsc_offset,
              (double) best_wait * 1e6 / host_tsc_per_s);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
result (const char *name, double value)
{
  printf ("result %s %.3f\n", name, value);
  fflush (stdout);
}

/* One "bench KIND COUNT HZ" run: latency median and p99 and the fps, as
 * results NAME-* (none without a NAME) */
static gboolean
bench_run (const char *kind, guint count, guint hz, const char *name)
{
  g_autofree double *lat = g_new0 (double, count);
  guint seen = 0, n = 0;
  guint64 first_flush = G_MAXUINT64, last_seen = 0;
  double duration;

  vm.bench_count = count;
  g_free (vm.bench_seen);
  vm.bench_seen = g_new0 (guint64, count);
  if (g_str_equal (kind, "small"))
    vm.bench_x = 256 + 32, vm.bench_y = 256 + 32;
  else
    vm.bench_x = vm.w / 2, vm.bench_y = vm.h / 2;
  vm.bench_on = TRUE;
  command ("bench %s %u %u", kind, count, hz);
  if (!expect_line ("# done bench", (count / hz + 120) * 1000))
    return FALSE;
  run_for (300);                /* the last frames' invalidates */
  vm.bench_on = FALSE;
  for (guint i = 0; i < count; i++)
    {
      g_autofree char *prefix = g_strdup_printf ("# flush %u ", i);
      g_autofree char *rest = NULL;
      guint64 tsc, host_flush;

      if (!serial_find (vm.mark, prefix, &rest))
        continue;
      tsc = g_ascii_strtoull (rest, NULL, 10);
      host_flush = tsc - (guint64) tsc_offset;
      first_flush = MIN (first_flush, host_flush);
      if (vm.bench_seen[i] == 0)
        continue;
      seen++;
      last_seen = MAX (last_seen, vm.bench_seen[i]);
      lat[n++] = ((double) (gint64) (vm.bench_seen[i] - host_flush)) * 1000 / host_tsc_per_s;
    }
  qsort (lat, n, sizeof *lat, cmp_double);
  duration = (double) count / hz;
  if (seen > 0 && last_seen > first_flush)
    duration = MAX (duration, (double) (last_seen - first_flush) / host_tsc_per_s);
  g_printerr ("%s: %u of %u seen, latency median %.3f ms, p99 %.3f ms, %.1f fps\n",
              name ? name : "warm-up", seen, count, n ? lat[n / 2] : -1,
              n ? lat[MIN (n - 1, n * 99 / 100)] : -1, seen / duration);
  if (name == NULL)
    return TRUE;        /* a pass not counted */
  if (n > 0)
    {
      g_autofree char *a = g_strconcat (name, "-median-ms", NULL);
      g_autofree char *b = g_strconcat (name, "-p99-ms", NULL);
      result (a, lat[n / 2]);
      result (b, lat[MIN (n - 1, n * 99 / 100)]);
    }
  {
    g_autofree char *c = g_strconcat (name, "-fps", NULL);
    g_autofree char *d = g_strconcat (name, "-seen", NULL);
    result (c, seen / duration);
    result (d, seen);
  }
  return TRUE;
}

/* A vCPU thread, by its name: ours are "vmm-vcpuN" (src/vmm/run.c),
 * QEMU's "CPU N/KVM" (with -name debug-threads=on) */
static gboolean
is_vcpu (const char *pid, const char *tid)
{
  g_autofree char *comm_path = g_build_filename ("/proc", pid, "task", tid, "comm", NULL);
  g_autofree char *comm = NULL;

  return g_file_get_contents (comm_path, &comm, NULL, NULL)
         && (g_str_has_prefix (comm, "CPU ") || g_str_has_prefix (comm, "vmm-vcpu"));
}

static guint64
thread_ticks (const char *pid, const char *tid)
{
  g_autofree char *path = g_build_filename ("/proc", pid, "task", tid, "stat", NULL);
  g_autofree char *stat = NULL;
  const char *p;
  unsigned long long utime = 0, stime = 0;

  if (!g_file_get_contents (path, &stat, NULL, NULL) || (p = strrchr (stat, ')')) == NULL)
    return 0;
  /* after "pid (comm)": state is field 3, utime 14, stime 15 */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
              &stime) != 2)
    return 0;
  return utime + stime;
}

/* The CPU time of PID's threads: all, and all but VCPUS */
static void
process_ticks (const char *pid, GHashTable *vcpus, guint64 *total, guint64 *other)
{
  g_autofree char *task_dir = g_build_filename ("/proc", pid, "task", NULL);
  GDir *dir = g_dir_open (task_dir, 0, NULL);
  const char *tid;

  g_assert_nonnull (dir);
  while ((tid = g_dir_read_name (dir)) != NULL)
    {
      guint64 t = thread_ticks (pid, tid);
      g_autofree char *comm_path = g_build_filename ("/proc", pid, "task", tid, "comm", NULL);
      g_autofree char *comm = NULL;

      g_file_get_contents (comm_path, &comm, NULL, NULL);
      g_printerr ("thread %s %s%s: %" G_GUINT64_FORMAT " ticks\n", tid,
                  comm ? g_strchomp (comm) : "?",
                  g_hash_table_contains (vcpus, tid) ? " (vCPU)" : "", t);
      *total += t;
      if (!g_hash_table_contains (vcpus, tid))
        *other += t;
    }
  g_dir_close (dir);
}

/* CPU use over SECS with a still screen: all the process's threads but the
 * vCPUs, and the whole process */
static void
bench_idle (guint secs)
{
  const char *pid = g_subprocess_get_identifier (vm.proc);
  g_autofree char *task_dir = g_build_filename ("/proc", pid, "task", NULL);
  g_autoptr(GHashTable) vcpus = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint64 total0 = 0, other0 = 0, total1 = 0, other1 = 0;
  double hz = (double) sysconf (_SC_CLK_TCK);
  gint64 t0, t1;
  GDir *dir;
  const char *tid;

  dir = g_dir_open (task_dir, 0, NULL);
  g_assert_nonnull (dir);
  while ((tid = g_dir_read_name (dir)) != NULL)
    if (is_vcpu (pid, tid))
      g_hash_table_add (vcpus, g_strdup (tid));
  g_dir_close (dir);
  g_printerr ("%u vCPU thread(s) in %s\n", g_hash_table_size (vcpus), pid);
  g_assert_cmpuint (g_hash_table_size (vcpus), >, 0);

  t0 = g_get_monotonic_time ();
  process_ticks (pid, vcpus, &total0, &other0);
  run_for (secs * 1000);
  t1 = g_get_monotonic_time ();
  process_ticks (pid, vcpus, &total1, &other1);
  /* threads that ended in between are not counted: none should */
  result ("idle-cpu-pct", (double) (other1 - other0) / hz * 100 / ((double) (t1 - t0) / 1e6));
  result ("idle-cpu-total-pct",
          (double) (total1 - total0) / hz * 100 / ((double) (t1 - t0) / 1e6));
}

static gboolean
resized (gconstpointer data)
{
  (void) data;
  return primary_ok (NULL) || vm.exited;
}

static int
bench_main (void)
{
  g_autofree char *size = NULL;
  uint32_t w, h;

  measure_host_tsc ();
  machine_start ();
  vm.mark = 0;
  if (!expect_line ("# display ready ", WAIT_MS))
    return 1;
  serial_find (0, "# display ready ", &size);
  if (!parse_size (size, &w, &h))
    return 1;
  model_resize (w, h);
  model_frame (0, 0, 0, w, h);
  client_connect ();
  if (!wait_for (primary_ok, NULL, WAIT_MS))
    {
      g_printerr ("the client does not show frame 0\n");
      return 1;
    }
  command ("setmode 1920 1080");
  if (!expect_line ("# display mode 1920x1080", WAIT_MS))
    return 1;
  model_resize (1920, 1080);
  model_frame (0, 0, 0, 1920, 1080);
  if (!wait_for (resized, NULL, WAIT_MS) || vm.exited)
    {
      g_printerr ("the client does not show 1920x1080\n");
      return 1;
    }
  measure_offset ();
  /* Steady state: a first pass of full frames, not counted, so the rows
   * do not measure first touches (the guest's framebuffer pages, the
   * server's and client's buffers) */
  if (!bench_run ("full", 120, 60, NULL)
      || !bench_run ("small", 300, 60, "small")
      /* One full frame at a time through an idle pipeline: the latency of
       * a frame, not of a queue (at 60 Hz both VMMs are past what this
       * machine's two cores carry, and there latency measures how many
       * frames wait) */
      || !bench_run ("full", 60, 10, "full10")
      || !bench_run ("full", 300, 60, "full60")
      || !bench_run ("full", 300, 120, "full120"))
    return 1;
  run_for (2000);
  bench_idle (10);
  command ("quit");
  wait_for (has_exited, NULL, WAIT_MS);
  machine_stop ();
  return 0;
}

int
main (int argc, char *argv[])
{
  gboolean bench = FALSE;
  const char *which = "vmm";

  /* The cases share one machine: a failed one must not end the run, the
   * others still say what works */
  char **args = g_new0 (char *, argc + 2);

  memcpy (args, argv, sizeof (char *) * argc);
  args[argc++] = (char *) "--keep-going";
  argv = args;
  g_test_init (&argc, &argv, NULL);
  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--vmm") && i + 1 < argc)
      which = argv[++i];
    else if (g_str_equal (argv[i], "--bench"))
      bench = TRUE;
  use_qemu = g_str_equal (which, "qemu");
  vmm_path = g_getenv ("VIVARIUM_VMM");
  probe_path = g_getenv ("VIVARIUM_PROBE_ELF");
  g_assert_nonnull (probe_path);
  g_assert_true (use_qemu || vmm_path != NULL);

  {
    g_autofree char *qemu = g_find_program_in_path ("qemu-system-x86_64");

    if (access ("/dev/kvm", R_OK | W_OK) != 0)
      skip_reason = "/dev/kvm is missing or not accessible";
    else if (use_qemu && qemu == NULL)
      skip_reason = "qemu-system-x86_64 is not installed";
  }
  if (bench)
    {
      if (skip_reason)
        {
          g_printerr ("%s\n", skip_reason);
          return 77;
        }
      return bench_main ();
    }

  /* spice-client-glib warns when a connection ends early ("incomplete
   * link header"): said on stderr, and left to the checks of pictures and
   * events to judge, rather than ending the run; criticals stay fatal */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add_func ("/display/connect", test_connect);
  g_test_add_func ("/display/updates", test_updates);
  g_test_add_func ("/display/cursor", test_cursor);
  g_test_add_func ("/display/input-keys", test_input_keys);
  g_test_add_func ("/display/input-position", test_input_position);
  g_test_add_func ("/display/input-buttons", test_input_buttons);
  g_test_add_func ("/display/input-wheel", test_input_wheel);
  g_test_add_func ("/display/input-relative", test_input_relative);
  g_test_add_func ("/display/leds", test_leds);
  g_test_add_func ("/display/monitor-config", test_monitor_config);
  g_test_add_func ("/display/clipboard", test_clipboard);
  g_test_add_func ("/display/reconnect", test_reconnect);
  g_test_add_func ("/display/quit", test_quit);
  {
    int ret = g_test_run ();
    machine_stop ();
    return ret;
  }
}
