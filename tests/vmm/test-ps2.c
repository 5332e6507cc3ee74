/* test-ps2.c: SPICE input through the i8042's PS/2 keyboard and mouse
 *
 * The probe guest in mode=ps2 (tests/guest/ps2.c) initialises the i8042
 * as SeaBIOS and Linux do, drives no virtio input device, and prints each
 * byte it reads from port 0x60 as "# kbd XX" or "# aux XX". A headless
 * spice-client-glib session, on the helper's OpenDisplay sockets, types
 * keys and moves and clicks the mouse; the bytes must be the translated
 * set-1 scancodes and 3-byte mouse packets. The guest's LED command
 * (0xED) must reach the client's key modifiers. The cases share one
 * machine and run in order.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <spice-client.h>
#include <string.h>
#include <unistd.h>

#include "viv-file.h"
#include "vmm-test-machine.h"

#define WAIT_MS 30000

static const char *vmm_path;
static const char *probe_path;
static const char *skip_reason;

static struct {
  char *tmp, *runtime_dir, *machine_dir, *dbus_path;
  GSubprocess *proc;
  gboolean exited;
  int exit_status;
  GDBusConnection *conn;
  VivVmm1 *proxy;
  int serial_fd;
  guint serial_watch;
  GString *serial;
  gsize mark;
  SpiceSession *session;
  SpiceChannel *main, *inputs;
  gboolean inputs_open;
  gboolean ready;
} vm = { .serial_fd = -1 };

#define CHECK(cond, ...) \
  do { if (!(cond)) { g_test_fail_printf (__VA_ARGS__); return; } } while (0)

#define NEED_MACHINE() \
  do { \
    if (skip_reason) { g_test_skip (skip_reason); return; } \
    if (!vm.ready) { g_test_fail_printf ("the machine is not ready"); return; } \
  } while (0)

static gboolean
keep_awake (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

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

static gboolean
on_serial (int fd, GIOCondition cond, gpointer data)
{
  (void) cond;
  (void) data;
  if (vmm_test_machine_drain (fd, vm.serial))
    return G_SOURCE_CONTINUE;
  vm.serial_watch = 0;
  return G_SOURCE_REMOVE;
}

static gboolean
serial_has (gconstpointer text)
{
  return strstr (vm.serial->str + MIN (vm.mark, vm.serial->len), text) != NULL || vm.exited;
}

static void
mark (void)
{
  vmm_test_machine_drain (vm.serial_fd, vm.serial);
  vm.mark = vm.serial->len;
}

static void
command (const char *line)
{
  size_t done = 0, len = strlen (line);

  mark ();
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

/* The bytes of the device's lines ("# kbd XX") since the mark, as hex */
static char *
bytes_since_mark (const char *dev)
{
  g_autofree char *prefix = g_strdup_printf ("# %s ", dev);
  GString *out = g_string_new (NULL);
  const char *p = vm.serial->str + MIN (vm.mark, vm.serial->len);

  while ((p = strstr (p, prefix)) != NULL)
    {
      const char *end = strchr (p, '\n');

      if (end == NULL)
        break;
      if (p == vm.serial->str || p[-1] == '\n')
        g_string_append_printf (out, "%s%.2s", out->len ? " " : "", p + strlen (prefix));
      p = end;
    }
  return g_string_free (out, FALSE);
}

struct want {
  const char *dev, *bytes;
};

static gboolean
bytes_are (gconstpointer data)
{
  const struct want *w = data;
  g_autofree char *got = bytes_since_mark (w->dev);

  return g_str_equal (got, w->bytes) || vm.exited;
}

/* Waits until the device's bytes since the mark are exactly BYTES */
static gboolean
expect_bytes (const char *dev, const char *bytes, char **got)
{
  struct want w = { dev, bytes };
  gboolean ok;

  wait_for (bytes_are, &w, 5000);
  /* and nothing more arrives */
  wait_for (never, NULL, 200);
  *got = bytes_since_mark (dev);
  ok = g_str_equal (*got, bytes);
  if (!ok)
    g_test_message ("COM1 since the mark:\n%s", vm.serial->str + MIN (vm.mark, vm.serial->len));
  return ok;
}

/* ---- the machine and the client ----------------------------------------------- */

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
on_open_fd (SpiceChannel *channel, gint with_tls, gpointer data)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  (void) data;
  g_assert_false (with_tls);
  if (!viv_vmm1_call_open_display_sync (vm.proxy, NULL, &handle, &fds, NULL, &error))
    g_error ("OpenDisplay: %s", error->message);
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  g_assert_no_error (error);
  g_assert_true (spice_channel_open_fd (channel, fd));
}

static void
on_channel_event (SpiceChannel *channel, SpiceChannelEvent event, gpointer data)
{
  (void) data;
  if (SPICE_IS_INPUTS_CHANNEL (channel) && event == SPICE_CHANNEL_OPENED)
    vm.inputs_open = TRUE;
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, gpointer data)
{
  (void) session;
  (void) data;
  g_signal_connect (channel, "open-fd", G_CALLBACK (on_open_fd), NULL);
  g_signal_connect (channel, "channel-event", G_CALLBACK (on_channel_event), NULL);
  if (SPICE_IS_MAIN_CHANNEL (channel))
    vm.main = channel;
  else if (SPICE_IS_INPUTS_CHANNEL (channel))
    {
      vm.inputs = channel;
      spice_channel_connect (channel);
    }
}

static gboolean
inputs_ready (gconstpointer data)
{
  (void) data;
  return (vm.main != NULL && vm.inputs != NULL && vm.inputs_open) || vm.exited;
}

static gboolean
mouse_mode_is (gconstpointer data)
{
  gint mode = 0;

  g_object_get (vm.main, "mouse-mode", &mode, NULL);
  return mode == GPOINTER_TO_INT (data) || vm.exited;
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
  return key_modifiers () == GPOINTER_TO_INT (data) || vm.exited;
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
  if (vm.session != NULL)
    {
      spice_session_disconnect (vm.session);
      wait_for (never, NULL, 200);
      g_clear_object (&vm.session);
    }
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
  if (vm.tmp != NULL)
    viv_file_remove_tree (vm.tmp);
}

/* ---- the cases ------------------------------------------------------------------- */

/* The probe's i8042 set-up passes (its TAP lines), then a client connects */
static void
test_init (void)
{
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *sock = g_strconcat (uuid, ".sock", NULL);
  g_autofree char *json = NULL;

  if (skip_reason)
    {
      g_test_skip (skip_reason);
      return;
    }
  vm.serial = g_string_new (NULL);
  vm.tmp = g_dir_make_tmp ("vivarium-ps2-XXXXXX", NULL);
  vm.runtime_dir = g_build_filename (vm.tmp, "run", NULL);
  g_assert_cmpint (g_mkdir (vm.runtime_dir, 0700), ==, 0);
  vm.machine_dir = g_build_filename (vm.tmp, uuid, NULL);
  json = vmm_test_machine_write (vm.machine_dir, uuid, probe_path, "cpus=1 mode=ps2", 64u << 20,
                                 "  \"display\": { \"kind\": \"spice\" },\n"
                                 "  \"devices\": { \"rng\": false }");
  vm.dbus_path = g_build_filename (vm.runtime_dir, "vivarium", sock, NULL);
  vm.proc = vmm_test_machine_spawn (vmm_path, vm.runtime_dir, vm.machine_dir,
                                    G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_wait_async (vm.proc, NULL, on_machine_exit, NULL);
  CHECK (wait_for (file_exists, vm.dbus_path, WAIT_MS) && !vm.exited, "the helper did not start");
  vm.proxy = vmm_test_machine_connect (vm.dbus_path, &vm.conn);
  vm.serial_fd = vmm_test_machine_open_serial (vm.proxy);
  vm.serial_watch = g_unix_fd_add (vm.serial_fd, G_IO_IN | G_IO_HUP, on_serial, NULL);

  vm.mark = 0;
  CHECK (wait_for (serial_has, "# ps2 ready\n", WAIT_MS) && !vm.exited,
         "no \"# ps2 ready\"; COM1:\n%s", vm.serial->str);
  CHECK (strstr (vm.serial->str, "\nnot ok ") == NULL, "the probe's i8042 set-up failed:\n%s",
         vm.serial->str);
  CHECK (strstr (vm.serial->str, "ok 12 - ps2:") != NULL, "no ps2 TAP lines:\n%s",
         vm.serial->str);

  vm.session = spice_session_new ();
  g_object_set (vm.session, "enable-audio", FALSE, NULL);
  g_signal_connect (vm.session, "channel-new", G_CALLBACK (on_channel_new), NULL);
  g_assert_true (spice_session_open_fd (vm.session, -1));
  CHECK (wait_for (inputs_ready, NULL, WAIT_MS) && !vm.exited, "the inputs channel did not open");
  vm.ready = TRUE;
}

/* A letter, an arrow (E0-prefixed), Shift with a letter: set 1, as the
 * controller's translation gives it */
static void
test_keys (void)
{
  SpiceInputsChannel *inputs;
  static const struct { const char *what; guint keys[4]; const char *bytes; } cases[] = {
    { "A", { 0x1e, 0 }, "1e 9e" },
    { "Up", { 0x148, 0 }, "e0 48 e0 c8" },
    { "Shift+A", { 0x2a, 0x1e, 0 }, "2a 1e 9e aa" },
    { "Right Ctrl", { 0x11d, 0 }, "e0 1d e0 9d" },
  };

  NEED_MACHINE ();
  inputs = SPICE_INPUTS_CHANNEL (vm.inputs);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = NULL;
      guint n = 0;

      mark ();
      while (cases[i].keys[n])
        spice_inputs_channel_key_press (inputs, cases[i].keys[n++]);
      while (n > 0)
        spice_inputs_channel_key_release (inputs, cases[i].keys[--n]);
      CHECK (expect_bytes ("kbd", cases[i].bytes, &got), "%s: keyboard bytes \"%s\", not \"%s\"",
             cases[i].what, got, cases[i].bytes);
      g_test_message ("%s: %s", cases[i].what, got);
    }
}

/* Relative motion and buttons as 3-byte packets (server mouse mode: no
 * tablet driver runs) */
static void
test_mouse (void)
{
  SpiceInputsChannel *inputs;
  g_autofree char *got = NULL;

  NEED_MACHINE ();
  inputs = SPICE_INPUTS_CHANNEL (vm.inputs);
  spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (vm.main), SPICE_MOUSE_MODE_SERVER);
  CHECK (wait_for (mouse_mode_is, GINT_TO_POINTER (SPICE_MOUSE_MODE_SERVER), WAIT_MS)
         && !vm.exited, "the server did not switch to server mouse mode");

  mark ();
  spice_inputs_channel_motion (inputs, 5, -3, 0);
  /* PS/2's Y grows upwards */
  CHECK (expect_bytes ("aux", "08 05 03", &got), "motion (5, -3): aux bytes \"%s\"", got);
  g_clear_pointer (&got, g_free);

  mark ();
  spice_inputs_channel_motion (inputs, -2, 4, 0);
  CHECK (expect_bytes ("aux", "38 fe fc", &got), "motion (-2, 4): aux bytes \"%s\"", got);
  g_clear_pointer (&got, g_free);

  mark ();
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_LEFT,
                                     SPICE_MOUSE_BUTTON_MASK_LEFT);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_LEFT, 0);
  CHECK (expect_bytes ("aux", "09 00 00 08 00 00", &got), "left click: aux bytes \"%s\"", got);
  g_clear_pointer (&got, g_free);
  mark ();
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_RIGHT,
                                     SPICE_MOUSE_BUTTON_MASK_RIGHT);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_RIGHT, 0);
  CHECK (expect_bytes ("aux", "0a 00 00 08 00 00", &got), "right click: aux bytes \"%s\"", got);
  g_clear_pointer (&got, g_free);
  /* Nothing of that reached the keyboard */
  got = bytes_since_mark ("kbd");
  CHECK (got[0] == '\0', "keyboard bytes during the clicks: \"%s\"", got);
}

/* 0xED from the guest reaches the client's key modifiers */
static void
test_leds (void)
{
  static const struct { const char *cmd, *reply; gint mods; } cases[] = {
    { "leds 4\n", "# done leds 4 fa fa", SPICE_INPUTS_CAPS_LOCK },
    { "leds 3\n", "# done leds 3 fa fa", SPICE_INPUTS_NUM_LOCK | SPICE_INPUTS_SCROLL_LOCK },
    { "leds 0\n", "# done leds 0 fa fa", 0 },
  };

  NEED_MACHINE ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      command (cases[i].cmd);
      CHECK (wait_for (serial_has, cases[i].reply, WAIT_MS) && !vm.exited,
             "no \"%s\"; COM1 since:\n%s", cases[i].reply, vm.serial->str + vm.mark);
      CHECK (wait_for (modifiers_are, GINT_TO_POINTER (cases[i].mods), WAIT_MS),
             "%s: the client's key modifiers are %#x, not %#x", cases[i].reply, key_modifiers (),
             cases[i].mods);
    }
}

static void
test_quit (void)
{
  NEED_MACHINE ();
  command ("quit\n");
  CHECK (wait_for (has_exited, NULL, WAIT_MS), "the machine did not power off");
  CHECK (vm.exit_status == 0, "the helper exited with %d", vm.exit_status);
}

int
main (int argc, char *argv[])
{
  char **args = g_new0 (char *, argc + 2);

  memcpy (args, argv, sizeof (char *) * argc);
  args[argc++] = (char *) "--keep-going";
  argv = args;
  g_test_init (&argc, &argv, NULL);
  vmm_path = g_getenv ("VIVARIUM_VMM");
  probe_path = g_getenv ("VIVARIUM_PROBE_ELF");
  g_assert_nonnull (probe_path);
  g_assert_nonnull (vmm_path);
  if (access ("/dev/kvm", R_OK | W_OK) != 0)
    skip_reason = "/dev/kvm is missing or not accessible";

  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add_func ("/ps2/init", test_init);
  g_test_add_func ("/ps2/keys", test_keys);
  g_test_add_func ("/ps2/mouse", test_mouse);
  g_test_add_func ("/ps2/leds", test_leds);
  g_test_add_func ("/ps2/quit", test_quit);
  {
    int ret = g_test_run ();
    machine_stop ();
    g_free (args);
    return ret;
  }
}
