/* test-control.c: org.vivarium.Vmm1 against a real helper
 *
 * Each test makes a machine folder (machine.json booting the probe guest in
 * its idle mode: it prints "tick N" on COM1 and powers off when the ACPI
 * power button is pressed), runs vivarium-vmm --machine on it with a
 * private XDG_RUNTIME_DIR, and drives it through the generated proxy.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "viv-file.h"
#include "vmm-test-machine.h"

#define TIMEOUT_MS 20000

static const char *vmm_path;
static const char *probe_path;
static gboolean have_kvm;

typedef struct {
  char *tmp;            /* everything of the test lives here */
  char *runtime_dir;
  char *machine_dir;
  char *uuid;
  char *socket_path;
  GSubprocess *helper;
  GDBusConnection *conn;
  VivVmm1 *proxy;
  GPtrArray *states;    /* StateChanged, in order */
  int serial_fd;
  GString *serial;      /* what the guest printed */
  gboolean exited;
  int exit_status;
} Fixture;

/* ---- waiting --------------------------------------------------------------- */

static gboolean
expire_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
poll_cb (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

/* Iterates the main context until COND holds or TIMEOUT_MS passes; also
 * drains the serial socket. */
static void serial_drain (Fixture *f);

static gboolean
wait_until (Fixture *f, gboolean (*cond) (Fixture *f, gconstpointer data), gconstpointer data,
            guint timeout_ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (timeout_ms, expire_cb, &expired);
  guint tick = g_timeout_add (20, poll_cb, NULL);

  for (;;)
    {
      serial_drain (f);
      if (cond (f, data) || expired)
        break;
      g_main_context_iteration (NULL, TRUE);
    }
  if (!expired)
    g_source_remove (id);
  g_source_remove (tick);
  return cond (f, data);
}

static void
sleep_ms (Fixture *f, guint ms)
{
  gboolean expired = FALSE;

  g_timeout_add (ms, expire_cb, &expired);
  while (!expired)
    {
      g_main_context_iteration (NULL, TRUE);
      serial_drain (f);
    }
}

/* ---- the helper --------------------------------------------------------------- */

static void
on_state_changed (VivVmm1 *proxy, const char *state, gpointer data)
{
  Fixture *f = data;

  (void) proxy;
  g_ptr_array_add (f->states, g_strdup (state));
}

static void
on_helper_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  Fixture *f = data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  f->exited = TRUE;
  f->exit_status = g_subprocess_get_if_exited (G_SUBPROCESS (source))
                     ? g_subprocess_get_exit_status (G_SUBPROCESS (source)) : -1;
}

static gboolean
socket_exists (Fixture *f, gconstpointer data)
{
  (void) data;
  return g_file_test (f->socket_path, G_FILE_TEST_EXISTS) || f->exited;
}

static gboolean
state_is (Fixture *f, gconstpointer state)
{
  return g_strcmp0 (viv_vmm1_get_state (f->proxy), state) == 0;
}

static gboolean
has_exited (Fixture *f, gconstpointer data)
{
  (void) data;
  return f->exited;
}

static gboolean
serial_has (Fixture *f, gconstpointer text)
{
  return strstr (f->serial->str, text) != NULL;
}

static void
serial_drain (Fixture *f)
{
  vmm_test_machine_drain (f->serial_fd, f->serial);
}

static void
open_serial (Fixture *f)
{
  f->serial_fd = vmm_test_machine_open_serial (f->proxy);
}

static GSubprocess *
spawn_helper (Fixture *f, GSubprocessFlags flags)
{
  return vmm_test_machine_spawn (vmm_path, f->runtime_dir, f->machine_dir, flags);
}

static VivVmm1 *
connect_proxy (Fixture *f, GDBusConnection **conn_out)
{
  return vmm_test_machine_connect (f->socket_path, conn_out);
}

/* The number after the last "tick " the guest printed, or -1. */
static long
last_tick (Fixture *f)
{
  const char *p = g_strrstr (f->serial->str, "tick ");

  return p ? strtol (p + 5, NULL, 10) : -1;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *cmdline = data ? data : "mode=idle";
  g_autofree char *json = NULL;
  g_autofree char *sock = NULL;

  if (!have_kvm)
    {
      g_test_skip ("/dev/kvm is missing or not accessible: no helper can run here");
      return;
    }
  f->serial_fd = -1;
  f->serial = g_string_new (NULL);
  f->states = g_ptr_array_new_with_free_func (g_free);
  f->tmp = g_dir_make_tmp ("vivarium-control-XXXXXX", NULL);
  f->runtime_dir = g_build_filename (f->tmp, "run", NULL);
  g_assert_cmpint (g_mkdir (f->runtime_dir, 0700), ==, 0);
  f->uuid = g_uuid_string_random ();
  f->machine_dir = g_build_filename (f->tmp, f->uuid, NULL);
  json = vmm_test_machine_write (f->machine_dir, f->uuid, probe_path, cmdline, 64u << 20, NULL);
  sock = g_strconcat (f->uuid, ".sock", NULL);
  f->socket_path = g_build_filename (f->runtime_dir, "vivarium", sock, NULL);

  f->helper = spawn_helper (f, G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_wait_async (f->helper, NULL, on_helper_exit, f);
  g_assert_true (wait_until (f, socket_exists, NULL, TIMEOUT_MS));
  g_assert_false (f->exited);
  f->proxy = connect_proxy (f, &f->conn);
  g_signal_connect (f->proxy, "state-changed", G_CALLBACK (on_state_changed), f);
  g_assert_true (wait_until (f, state_is, "running", TIMEOUT_MS));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  if (f->helper != NULL)
    {
      if (!f->exited)
        g_subprocess_force_exit (f->helper);
      wait_until (f, has_exited, NULL, TIMEOUT_MS);
    }
  if (f->serial_fd >= 0)
    close (f->serial_fd);
  g_clear_object (&f->proxy);
  if (f->conn != NULL)
    g_dbus_connection_close_sync (f->conn, NULL, NULL);
  g_clear_object (&f->conn);
  g_clear_object (&f->helper);
  if (f->tmp != NULL)
    viv_file_remove_tree (f->tmp);
  g_free (f->tmp);
  g_free (f->runtime_dir);
  g_free (f->machine_dir);
  g_free (f->uuid);
  g_free (f->socket_path);
  if (f->states)
    g_ptr_array_unref (f->states);
  if (f->serial)
    g_string_free (f->serial, TRUE);
}

#define SKIP_WITHOUT_KVM() do { if (!have_kvm) return; } while (0)

/* ---- tests ------------------------------------------------------------------- */

static gboolean
ticks_after (Fixture *f, gconstpointer n)
{
  return last_tick (f) > GPOINTER_TO_INT (n);
}

static void
test_properties (Fixture *f, gconstpointer data)
{
  g_autofree char *log_path = NULL;
  g_autofree char *log = NULL;

  (void) data;
  SKIP_WITHOUT_KVM ();
  g_assert_cmpstr (viv_vmm1_get_name (f->proxy), ==, "Probe");
  g_assert_cmpstr (viv_vmm1_get_uuid (f->proxy), ==, f->uuid);
  g_assert_cmpuint (viv_vmm1_get_memory (f->proxy), ==, 64u << 20);
  g_assert_cmpuint (viv_vmm1_get_cpus (f->proxy), ==, 1);
  g_assert_cmpuint (viv_vmm1_get_pid (f->proxy), ==,
                    (guint) atoi (g_subprocess_get_identifier (f->helper)));

  /* starting → running: the helper logged both (the log file exists from
   * "running" on; "starting" went to stderr before it) */
  log_path = g_build_filename (f->machine_dir, "logs", "vmm.log", NULL);
  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "running"));

  /* The socket is private. */
  {
    struct stat st;
    g_assert_cmpint (g_stat (f->socket_path, &st), ==, 0);
    g_assert_cmpuint (st.st_mode & 0777, ==, 0600);
    g_assert_cmpint (g_stat (f->runtime_dir, &st), ==, 0);
  }
}

static void
test_pause_resume (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  long before, after;

  (void) data;
  SKIP_WITHOUT_KVM ();
  open_serial (f);
  g_assert_true (wait_until (f, ticks_after, GINT_TO_POINTER (2), TIMEOUT_MS));

  g_assert_true (viv_vmm1_call_pause_sync (f->proxy, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (f, state_is, "paused", TIMEOUT_MS));
  sleep_ms (f, 200);   /* let what was in flight arrive */
  before = last_tick (f);
  sleep_ms (f, 800);
  after = last_tick (f);
  g_assert_cmpint (after, ==, before);            /* the counter stopped */

  /* Pausing twice is refused, naming why. */
  g_assert_false (viv_vmm1_call_pause_sync (f->proxy, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "not running"));
  g_clear_error (&error);

  g_assert_true (viv_vmm1_call_resume_sync (f->proxy, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (f, state_is, "running", TIMEOUT_MS));
  g_assert_true (wait_until (f, ticks_after, GINT_TO_POINTER ((int) after + 2), TIMEOUT_MS));
}

static void
test_power_button (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  (void) data;
  SKIP_WITHOUT_KVM ();
  open_serial (f);
  g_assert_true (wait_until (f, ticks_after, GINT_TO_POINTER (0), TIMEOUT_MS));
  g_assert_true (viv_vmm1_call_power_button_sync (f->proxy, NULL, &error));
  g_assert_no_error (error);
  /* The guest sees the ACPI event, says so, and powers off. */
  g_assert_true (wait_until (f, has_exited, NULL, TIMEOUT_MS));
  g_assert_cmpint (f->exit_status, ==, 0);
  g_assert_true (serial_has (f, "power button"));
  g_assert_cmpuint (f->states->len, >=, 2);
  g_assert_cmpstr (f->states->pdata[f->states->len - 2], ==, "shutting-down");
  g_assert_cmpstr (f->states->pdata[f->states->len - 1], ==, "stopped");
  g_assert_false (g_file_test (f->socket_path, G_FILE_TEST_EXISTS));
}

static void
test_power_off (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  (void) data;
  SKIP_WITHOUT_KVM ();
  g_assert_true (viv_vmm1_call_power_off_sync (f->proxy, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (f, has_exited, NULL, TIMEOUT_MS));
  g_assert_cmpint (f->exit_status, ==, 0);
  g_assert_cmpstr (f->states->pdata[f->states->len - 1], ==, "stopped");
  g_assert_false (g_file_test (f->socket_path, G_FILE_TEST_EXISTS));
}

static void
test_quit (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  (void) data;
  SKIP_WITHOUT_KVM ();
  g_assert_true (viv_vmm1_call_quit_sync (f->proxy, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (f, has_exited, NULL, TIMEOUT_MS));
  g_assert_cmpint (f->exit_status, ==, 0);
}

static gboolean
booted_twice (Fixture *f, gconstpointer data)
{
  const char *first = strstr (f->serial->str, "vivarium probe guest");

  (void) data;
  return first != NULL && strstr (first + 1, "vivarium probe guest") != NULL;
}

/* The StateChanged signals went "starting" then "running" (signals are
 * dispatched by iterating, so waiting on this is what lets them in). */
static gboolean
restarted (Fixture *f, gconstpointer data)
{
  (void) data;
  for (guint i = 0; i + 1 < f->states->len; i++)
    if (g_str_equal (f->states->pdata[i], "starting") &&
        g_str_equal (f->states->pdata[f->states->len - 1], "running"))
      return TRUE;
  return FALSE;
}

static void
test_reset (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  (void) data;
  SKIP_WITHOUT_KVM ();
  open_serial (f);
  g_assert_true (wait_until (f, ticks_after, GINT_TO_POINTER (1), TIMEOUT_MS));
  g_assert_true (viv_vmm1_call_reset_sync (f->proxy, NULL, &error));
  g_assert_no_error (error);
  /* The same helper boots the guest again: the banner comes twice, the
   * state passes through "starting", the process stays. */
  g_assert_true (wait_until (f, booted_twice, NULL, TIMEOUT_MS));
  g_assert_true (wait_until (f, restarted, NULL, TIMEOUT_MS));
  g_assert_cmpstr (viv_vmm1_get_state (f->proxy), ==, "running");
  g_assert_false (f->exited);
}

static void
test_two_clients (Fixture *f, gconstpointer data)
{
  g_autoptr(GDBusConnection) conn2 = NULL;
  g_autoptr(VivVmm1) proxy2 = NULL;
  g_autoptr(GError) error = NULL;

  (void) data;
  SKIP_WITHOUT_KVM ();
  proxy2 = connect_proxy (f, &conn2);
  g_assert_cmpstr (viv_vmm1_get_state (proxy2), ==, "running");
  g_assert_true (viv_vmm1_call_pause_sync (f->proxy, NULL, &error));
  g_assert_no_error (error);
  /* The second client hears of it too. */
  while (g_strcmp0 (viv_vmm1_get_state (proxy2), "paused") != 0)
    g_main_context_iteration (NULL, TRUE);
  g_dbus_connection_close_sync (conn2, NULL, NULL);
}

static void
test_reconnect (Fixture *f, gconstpointer data)
{
  (void) data;
  SKIP_WITHOUT_KVM ();
  /* Dropping the connection leaves the machine running; a new one sees it. */
  g_clear_object (&f->proxy);
  g_dbus_connection_close_sync (f->conn, NULL, NULL);
  g_clear_object (&f->conn);
  sleep_ms (f, 300);
  g_assert_false (f->exited);
  f->proxy = connect_proxy (f, &f->conn);
  g_assert_cmpstr (viv_vmm1_get_state (f->proxy), ==, "running");
}

static void
test_gdbus_tool (Fixture *f, gconstpointer data)
{
  g_autofree char *address = g_strdup_printf ("unix:path=%s", f->socket_path);
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = -1;
  /* gdbus takes any address for a message bus and wants a destination;
   * the helper answers its Hello and ignores the name. */
  const char *argv[] = { "gdbus", "call", "--address", address, "--dest", "org.vivarium.Vmm1",
                         "--object-path", "/org/vivarium/Vmm1",
                         "--method", "org.vivarium.Vmm1.Pause", NULL };

  (void) data;
  SKIP_WITHOUT_KVM ();
  g_autofree char *gdbus = g_find_program_in_path ("gdbus");

  if (gdbus == NULL)
    {
      g_test_skip ("gdbus is not installed (libglib2.0-bin)");
      return;
    }
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("gdbus: %s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_true (wait_until (f, state_is, "paused", TIMEOUT_MS));
}

static void
test_second_helper (Fixture *f, gconstpointer data)
{
  g_autoptr(GSubprocess) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;

  (void) data;
  SKIP_WITHOUT_KVM ();
  second = spawn_helper (f, G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_assert_true (g_subprocess_communicate_utf8 (second, NULL, NULL, NULL, &err, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (second), ==, 4);
  g_assert_nonnull (strstr (err, "already running"));
  /* and the first one is untouched */
  g_assert_cmpstr (viv_vmm1_get_state (f->proxy), ==, "running");
  g_assert_true (g_file_test (f->socket_path, G_FILE_TEST_EXISTS));
}

static void
on_panicked (VivVmm1 *proxy, gpointer data)
{
  (void) proxy;
  *(gboolean *) data = TRUE;
}

static gboolean
flag_set (Fixture *f, gconstpointer flag)
{
  (void) f;
  return *(const gboolean *) flag;
}

/* The guest reports a panic through pvpanic: the GuestPanicked signal. */
static void
test_guest_panic (Fixture *f, gconstpointer data)
{
  gboolean panicked = FALSE;

  (void) data;
  SKIP_WITHOUT_KVM ();
  g_signal_connect (f->proxy, "guest-panicked", G_CALLBACK (on_panicked), &panicked);
  /* The probe reports it as soon as it is in its idle loop; a client
   * connecting later has missed the signal, so look at the log too. */
  if (!wait_until (f, flag_set, &panicked, 2000))
    {
      g_autofree char *log_path = g_build_filename (f->machine_dir, "logs", "vmm.log", NULL);
      g_autofree char *log = NULL;
      g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
      g_assert_nonnull (strstr (log, "kernel panic"));
    }
  g_assert_cmpstr (viv_vmm1_get_state (f->proxy), ==, "running");
}

static void
test_sigterm (Fixture *f, gconstpointer data)
{
  (void) data;
  SKIP_WITHOUT_KVM ();
  g_subprocess_send_signal (f->helper, SIGTERM);
  g_assert_true (wait_until (f, has_exited, NULL, TIMEOUT_MS));
  g_assert_cmpint (f->exit_status, ==, 0);
  g_assert_false (g_file_test (f->socket_path, G_FILE_TEST_EXISTS));
}

/* ---- starts that must fail ----------------------------------------------------- */

static char *
listing (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  GString *s = g_string_new (NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;
      if (g_stat (path, &st) == 0)
        g_ptr_array_add (names, g_strdup_printf ("%s %lld %lld", name, (long long) st.st_size,
                                                 (long long) st.st_mtime));
    }
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (s, "%s\n", (char *) names->pdata[i]);
  return g_string_free (s, FALSE);
}

typedef struct {
  const char *name;
  const char *json;       /* %s is the uuid, %s the probe */
  const char *expect;     /* in stderr */
} BadCase;

static const BadCase bad_cases[] = {
  { "missing-cpus", "{\"version\":1,\"uuid\":\"%s\",\"name\":\"x\",\"memory\":67108864,"
    "\"boot\":{\"kind\":\"kernel\",\"kernel\":\"%s\"}}", "cpus" },
  { "wrong-type", "{\"version\":1,\"uuid\":\"%s\",\"name\":\"x\",\"memory\":\"64M\",\"cpus\":1,"
    "\"boot\":{\"kind\":\"kernel\",\"kernel\":\"%s\"}}", "memory" },
  { "newer-version", "{\"version\":2,\"uuid\":\"%s\",\"name\":\"x\",\"memory\":67108864,\"cpus\":1,"
    "\"boot\":{\"kind\":\"kernel\",\"kernel\":\"%s\"}}", "version" },
  { "missing-disk", "{\"version\":1,\"uuid\":\"%s\",\"name\":\"x\",\"memory\":67108864,\"cpus\":1,"
    "\"boot\":{\"kind\":\"kernel\",\"kernel\":\"%s\"},"
    "\"disks\":[{\"path\":\"nope.qcow2\",\"format\":\"qcow2\"}]}", "disks[0].path" },
  { "not-json", "{\"version\": 1, %s %s", "machine.json" },
};

static void
test_bad_machine (gconstpointer data)
{
  const BadCase *c = data;
  g_autofree char *tmp = g_dir_make_tmp ("vivarium-bad-XXXXXX", NULL);
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *dir = g_build_filename (tmp, uuid, NULL);
  g_autofree char *path = g_build_filename (dir, "machine.json", NULL);
  g_autofree char *json = NULL;
  g_autofree char *run = g_build_filename (tmp, "run", NULL);
  g_autofree char *before = NULL, *after = NULL, *err = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) p = NULL;
  g_autoptr(GError) error = NULL;

  /* The helper checks KVM before it reads the machine (exit status 2). */
  if (!have_kvm)
    {
      g_test_skip ("/dev/kvm is missing or not accessible");
      viv_file_remove_tree (tmp);
      return;
    }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  /* the cases are templates with the uuid and the probe's path */
  json = g_strdup_printf (c->json, uuid, probe_path);
#pragma GCC diagnostic pop
  g_mkdir (run, 0700);
  g_mkdir (dir, 0755);
  g_assert_true (g_file_set_contents (path, json, -1, NULL));
  before = listing (dir);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", run, TRUE);
  p = g_subprocess_launcher_spawn (launcher, &error, vmm_path, "--machine", dir, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (p, NULL, NULL, NULL, &err, &error));
  g_test_message ("%s: %s", c->name, err);
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 1);
  g_assert_nonnull (strstr (err, c->expect));

  /* Nothing in the machine's folder changed. */
  after = listing (dir);
  g_assert_cmpstr (after, ==, before);
  viv_file_remove_tree (tmp);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  vmm_path = g_getenv ("VIVARIUM_VMM");
  probe_path = g_getenv ("VIVARIUM_PROBE_ELF");
  g_assert_nonnull (vmm_path);
  g_assert_nonnull (probe_path);
  have_kvm = access ("/dev/kvm", R_OK | W_OK) == 0;
  if (!have_kvm)
    g_printerr ("SKIP: /dev/kvm is missing or not accessible; the control tests need a helper\n");

#define ADD(name, fn) g_test_add ("/control/" name, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("properties", test_properties);
  ADD ("pause-resume", test_pause_resume);
  ADD ("power-button", test_power_button);
  ADD ("power-off", test_power_off);
  ADD ("reset", test_reset);
  ADD ("quit", test_quit);
  ADD ("two-clients", test_two_clients);
  ADD ("reconnect", test_reconnect);
  ADD ("gdbus-tool", test_gdbus_tool);
  ADD ("second-helper", test_second_helper);
  ADD ("sigterm", test_sigterm);
  g_test_add ("/control/guest-panic", Fixture, "mode=idle panic=1", fixture_setup,
              test_guest_panic, fixture_teardown);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/control/bad-machine/%s", bad_cases[i].name);
      g_test_add_data_func (name, &bad_cases[i], test_bad_machine);
    }
  return g_test_run ();
}
