/* test-service.c: org.vivarium.Vmm1 as control/service.c serves it, against
 * clients that misbehave and a process that runs short
 *
 * The service is the real one (the library vivarium-vmm links), around a
 * fake machine (vmm-test-vm.c), so none of this needs /dev/kvm. Each test
 * runs it in a child: this program again, with --service-child (a fresh
 * process: forking one that runs GDBus threads is not safe), in a private
 * XDG_RUNTIME_DIR, and talks to it over its socket as the app does, or
 * over raw sockets as a broken client would.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <spice-client.h>
#include <sys/stat.h>

#include "block/block.h"
#include "control/service.h"
#include "viv-vmm1.h"
#include "viv-vmm1-generated.h"
#include "vmm-test-vm.h"

#define TIMEOUT_MS 30000
#define UUID "5a0e7c43-2a1b-4c55-9a4e-0f6c1d2e3b4a"

static char *self_exe;

typedef struct {
  char *tmp;
  char *runtime_dir;
  char *machine_dir;
  char *socket_path;
  GSubprocess *child;
  GString *stderr_text;
  guint stderr_lines;
  gboolean stderr_done;
  gboolean exited;
  int exit_status;             /* -1: killed by a signal */
  GDBusConnection *conn;
  VivVmm1 *proxy;
  int serial_fd;
  GString *serial;
} Fixture;

/* ---- waiting ------------------------------------------------------------------- */

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

static void
serial_drain (Fixture *f)
{
  char buf[4096];
  ssize_t n;

  if (f->serial_fd < 0)
    return;
  while ((n = read (f->serial_fd, buf, sizeof buf)) > 0)
    g_string_append_len (f->serial, buf, n);
}

/* Iterates until COND holds or TIMEOUT_MS passes. */
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

/* Lets MS pass with the main loop running: an observation window, not a
 * wait for something to happen. */
static void
run_for (Fixture *f, guint ms)
{
  gboolean expired = FALSE;

  g_timeout_add (ms, expire_cb, &expired);
  while (!expired)
    {
      g_main_context_iteration (NULL, TRUE);
      serial_drain (f);
    }
}

/* ---- the child ---------------------------------------------------------------- */

/* DISPLAY_KIND: machine.json's display.kind; the other tests' machines
 * have none */
static void
write_machine_display (Fixture *f, const char *disks_json, const char *display_kind)
{
  g_autofree char *kernel = g_build_filename (f->machine_dir, "kernel", NULL);
  g_autofree char *path = g_build_filename (f->machine_dir, "machine.json", NULL);
  g_autofree char *json = NULL;

  g_assert_true (g_file_set_contents (kernel, "not a kernel", -1, NULL));
  json = g_strdup_printf ("{\n"
                          "  \"version\": 1,\n"
                          "  \"uuid\": \"" UUID "\",\n"
                          "  \"name\": \"Fake\",\n"
                          "  \"memory\": 67108864,\n"
                          "  \"cpus\": 1,\n"
                          "  \"boot\": { \"kind\": \"kernel\", \"kernel\": \"%s\" },\n"
                          "  \"disks\": [%s],\n"
                          "  \"display\": { \"kind\": \"%s\" }\n"
                          "}\n", kernel, disks_json ? disks_json : "", display_kind);
  g_assert_true (g_file_set_contents (path, json, -1, NULL));
}

static void
write_machine (Fixture *f, const char *disks_json)
{
  write_machine_display (f, disks_json, "none");
}

static void
fixture_init (Fixture *f, const char *runtime_name)
{
  g_autoptr(GError) error = NULL;

  f->tmp = g_dir_make_tmp ("test-service-XXXXXX", &error);
  g_assert_no_error (error);
  f->runtime_dir = g_build_filename (f->tmp, runtime_name ? runtime_name : "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->runtime_dir, 0700), ==, 0);
  f->machine_dir = g_build_filename (f->tmp, UUID, NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->machine_dir, 0755), ==, 0);
  f->socket_path = g_build_filename (f->runtime_dir, "vivarium", UUID ".sock", NULL);
  f->stderr_text = g_string_new (NULL);
  f->serial = g_string_new (NULL);
  f->serial_fd = -1;
  write_machine (f, NULL);
}

static void
on_stderr (GObject *source, GAsyncResult *result, gpointer data)
{
  Fixture *f = data;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              NULL);
  const char *text;
  gsize len;

  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      f->stderr_done = TRUE;
      return;
    }
  text = g_bytes_get_data (bytes, &len);
  for (gsize i = 0; i < len; i++)
    f->stderr_lines += text[i] == '\n';
  if (f->stderr_text->len < 65536)
    g_string_append_len (f->stderr_text, text, len);
  g_input_stream_read_bytes_async (G_INPUT_STREAM (source), 65536, G_PRIORITY_DEFAULT, NULL,
                                   on_stderr, f);
}

static void
on_child_exit (GObject *source, GAsyncResult *result, gpointer data)
{
  Fixture *f = data;
  GSubprocess *child = G_SUBPROCESS (source);

  g_subprocess_wait_finish (child, result, NULL);
  f->exited = TRUE;
  f->exit_status = g_subprocess_get_if_exited (child) ? g_subprocess_get_exit_status (child) : -1;
}

static void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* Runs the service on the machine; ARGS (NULL-terminated) go to the child. */
static void
spawn_child (Fixture *f, ...)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  const char *arg;
  va_list ap;

  g_ptr_array_add (argv, self_exe);
  g_ptr_array_add (argv, (char *) "--service-child");
  g_ptr_array_add (argv, f->machine_dir);
  va_start (ap, f);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", f->runtime_dir, TRUE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  f->child = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (f->child, NULL, on_child_exit, f);
  g_input_stream_read_bytes_async (g_subprocess_get_stderr_pipe (f->child), 65536,
                                   G_PRIORITY_DEFAULT, NULL, on_stderr, f);
}

static pid_t
child_pid (Fixture *f)
{
  return (pid_t) atoi (g_subprocess_get_identifier (f->child));
}

static gboolean
has_exited (Fixture *f, gconstpointer data)
{
  (void) data;
  return f->exited;
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
serial_has (Fixture *f, gconstpointer text)
{
  return strstr (f->serial->str, text) != NULL;
}

static char *
address (Fixture *f)
{
  return g_strdup_printf ("unix:path=%s", f->socket_path);
}

/* Waits for the socket, connects as the app does and waits for "running". */
static void
connect_app (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *addr = address (f);

  g_assert_true (wait_until (f, socket_exists, NULL, TIMEOUT_MS));
  if (f->exited)
    {
      while (!f->stderr_done)
        g_main_context_iteration (NULL, TRUE);
      g_test_message ("the service exited: %s", f->stderr_text->str);
    }
  g_assert_false (f->exited);
  f->conn = g_dbus_connection_new_for_address_sync (addr,
                                                    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                                                    NULL, NULL, &error);
  g_assert_no_error (error);
  f->proxy = viv_vmm1_proxy_new_sync (f->conn, G_DBUS_PROXY_FLAGS_NONE, NULL,
                                      VIV_VMM1_OBJECT_PATH, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (wait_until (f, state_is, VIV_VMM_STATE_RUNNING, TIMEOUT_MS));
}

static void
open_serial (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) handle = NULL;

  g_assert_true (viv_vmm1_call_open_serial_sync (f->proxy, NULL, &handle, &fds, NULL, &error));
  g_assert_no_error (error);
  f->serial_fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  g_assert_no_error (error);
  g_unix_set_fd_nonblocking (f->serial_fd, TRUE, NULL);
}

/* Quits the child if it runs, and waits for it. */
static void
fixture_clear (Fixture *f)
{
  if (f->proxy != NULL && !f->exited)
    viv_vmm1_call_quit_sync (f->proxy, NULL, NULL);
  if (f->child != NULL && !wait_until (f, has_exited, NULL, TIMEOUT_MS))
    {
      g_subprocess_force_exit (f->child);
      wait_until (f, has_exited, NULL, TIMEOUT_MS);
    }
  g_clear_object (&f->proxy);
  g_clear_object (&f->conn);
  g_clear_object (&f->child);
  if (f->serial_fd >= 0)
    close (f->serial_fd);
  g_string_free (f->serial, TRUE);
  g_string_free (f->stderr_text, TRUE);
  if (g_test_failed ())
    g_test_message ("kept %s", f->tmp);
  else
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->tmp);
      g_assert_cmpint (system (cmd), ==, 0);
    }
  g_free (f->tmp);
  g_free (f->runtime_dir);
  g_free (f->machine_dir);
  g_free (f->socket_path);
}

/* What the service logged once the machine ran (DIR/logs/vmm.log) */
static char *
log_text (Fixture *f)
{
  g_autofree char *path = g_build_filename (f->machine_dir, "logs", "vmm.log", NULL);
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static guint
count_lines_with (const char *text, const char *what)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    n += strstr (lines[i], what) != NULL;
  return n;
}

/* A field of /proc/PID/status, as a number */
static long
proc_status (pid_t pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  g_autofree char *key = g_strconcat ("\n", field, ":", NULL);
  const char *at;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (at = strstr (text, key)) == NULL)
    return -1;
  return atol (at + strlen (key));
}

static guint
proc_fds (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* A raw connection to the control socket; NULL-free: -1 when the backlog
 * is full. */
static int
raw_connect (Fixture *f)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, f->socket_path, sizeof addr.sun_path);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      g_assert_cmpint (errno, ==, EAGAIN);
      close (fd);
      return -1;
    }
  return fd;
}

static gboolean
hung_up (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

  return poll (&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

/* ---- 1. out of descriptors ------------------------------------------------------ */

static void
on_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection **out = data;

  (void) source;
  *out = g_dbus_connection_new_for_address_finish (result, &error);
  g_assert_no_error (error);
}

static gboolean
is_set (Fixture *f, gconstpointer data)
{
  (void) f;
  return *(gpointer const *) data != NULL;
}

/* The soft limit is below what the service needs: it must raise it. Then
 * it runs out (the fake machine takes every descriptor left): a client
 * waits, quietly, and is served once descriptors are free again. */
static void
test_out_of_descriptors (void)
{
  Fixture f = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GDBusConnection) late = NULL;
  g_autofree char *addr = NULL;
  g_autofree char *log = NULL;
  guint lines, log_lines;

  fixture_init (&f, NULL);
  spawn_child (&f, "--nofile", "64:256", NULL);
  connect_app (&f);
  open_serial (&f);

  g_assert_cmpint (write (f.serial_fd, "H", 1), ==, 1);
  g_assert_true (wait_until (&f, serial_has, "hogged", TIMEOUT_MS));
  lines = f.stderr_lines;
  log = log_text (&f);
  log_lines = count_lines_with (log, "accept");
  g_clear_pointer (&log, g_free);

  addr = address (&f);
  g_dbus_connection_new_for_address (addr, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL,
                                     NULL, on_connected, &late);
  run_for (&f, 2000);
  log = log_text (&f);
  g_test_message ("while out of descriptors: %u lines on stderr, %u about accept in the log",
                  f.stderr_lines - lines, count_lines_with (log, "accept") - log_lines);
  g_assert_cmpuint (f.stderr_lines - lines, <=, 3);
  g_assert_cmpuint (count_lines_with (log, "accept") - log_lines, <=, 3);
  g_assert_null (late);
  g_assert_false (f.exited);

  g_assert_cmpint (write (f.serial_fd, "F", 1), ==, 1);
  g_assert_true (wait_until (&f, serial_has, "freed", TIMEOUT_MS));
  g_assert_true (wait_until (&f, is_set, &late, TIMEOUT_MS));
  state = g_dbus_connection_call_sync (late, NULL, VIV_VMM1_OBJECT_PATH,
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new ("(ss)", "org.vivarium.Vmm1", "State"),
                                       G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE,
                                       TIMEOUT_MS, NULL, &error);
  g_assert_no_error (error);
  g_dbus_connection_close_sync (late, NULL, NULL);
  fixture_clear (&f);
}

/* A chain of N qcow2 images in DIR, top.qcow2 on top; returns its path. */
static char *
make_chain (const char *dir, unsigned n)
{
  g_autofree char *below = NULL;

  for (unsigned i = 0; i <= n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *name = i == n ? g_strdup ("top.qcow2") : g_strdup_printf ("b%u.qcow2", i);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct vmm_block_create_opts opts = {
        .path = path,
        .format = VMM_BLOCK_FORMAT_QCOW2,
        .size = below ? 0 : 1 << 20,
        .backing_file = below,
        .backing_format = VMM_BLOCK_FORMAT_QCOW2,
      };

      g_assert_cmpint (vmm_block_create (&opts, &error), ==, 0);
      g_free (below);
      below = g_steal_pointer (&name);
      if (i == n)
        return g_steal_pointer (&path);
    }
  g_assert_not_reached ();
}

/* One disk with a long backing chain does not fit in 160 descriptors: the
 * machine is refused, saying why; with a short chain it runs. */
static void
test_descriptor_budget (void)
{
  for (unsigned depth = 1; depth <= 80; depth += 79)
    {
      Fixture f = { 0 };
      g_autofree char *top = NULL;
      g_autofree char *disks = NULL;
      g_autofree char *expected = g_strdup_printf ("%u backing images", depth);

      fixture_init (&f, NULL);
      top = make_chain (f.machine_dir, depth);
      disks = g_strdup_printf ("{ \"path\": \"%s\", \"format\": \"qcow2\" }", top);
      write_machine (&f, disks);
      spawn_child (&f, "--nofile", "160:160", NULL);
      if (depth == 1)
        {
          connect_app (&f);
        }
      else
        {
          g_assert_true (wait_until (&f, has_exited, NULL, TIMEOUT_MS));
          g_assert_cmpint (f.exit_status, ==, VMM_SERVICE_EXIT_FAILED);
          while (!f.stderr_done)
            g_main_context_iteration (NULL, TRUE);
          g_test_message ("%s", f.stderr_text->str);
          g_assert_nonnull (strstr (f.stderr_text->str, "open files"));
          g_assert_nonnull (strstr (f.stderr_text->str, expected));
          g_assert_false (g_file_test (f.socket_path, G_FILE_TEST_EXISTS));
        }
      fixture_clear (&f);
    }
}

/* ---- 2. a client that does not read --------------------------------------------- */

/* Authenticates a raw connection (EXTERNAL, as our user), then never reads
 * again. */
static int
raw_client (Fixture *f)
{
  g_autofree char *uid = g_strdup_printf ("%u", (unsigned) getuid ());
  g_autoptr(GString) auth = g_string_new (NULL);
  char reply[256];
  size_t got = 0;
  int fd = raw_connect (f);

  g_assert_cmpint (fd, >=, 0);
  g_string_append_len (auth, "\0AUTH EXTERNAL ", 15);
  for (const char *p = uid; *p; p++)
    g_string_append_printf (auth, "%02x", (unsigned char) *p);
  g_string_append (auth, "\r\n");
  g_assert_cmpint (write (fd, auth->str, auth->len), ==, (ssize_t) auth->len);
  while (got == 0 || memchr (reply, '\n', got) == NULL)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      ssize_t n;

      g_assert_cmpint (poll (&p, 1, TIMEOUT_MS), ==, 1);
      n = read (fd, reply + got, sizeof reply - 1 - got);
      g_assert_cmpint (n, >, 0);
      got += (size_t) n;
    }
  reply[got] = '\0';
  g_assert_true (g_str_has_prefix (reply, "OK "));
  g_assert_cmpint (write (fd, "BEGIN\r\n", 7), ==, 7);
  return fd;
}

static void
on_call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                                             NULL);
  guint *in_flight = data;

  (*in_flight)--;
}

static gboolean
all_done (Fixture *f, gconstpointer data)
{
  (void) f;
  return *(const guint *) data == 0;
}

/* The app pauses and resumes the machine over and over; a second client
 * stopped reading long ago. It is dropped, and the helper's memory does
 * not follow what it would have had to queue. */
static void
test_client_not_reading (void)
{
  Fixture f = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  long rss_before, rss_after;
  guint changes = 0;
  int stuck;

  fixture_init (&f, NULL);
  spawn_child (&f, NULL);
  connect_app (&f);
  stuck = raw_client (&f);
  rss_before = proc_status (child_pid (&f), "VmRSS");

  while (!hung_up (stuck) && changes < 100000)
    {
      guint in_flight = 0;

      for (guint i = 0; i < 250; i++)
        {
          in_flight += 2;
          g_dbus_connection_call (f.conn, NULL, VIV_VMM1_OBJECT_PATH, "org.vivarium.Vmm1",
                                  "Pause", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, TIMEOUT_MS, NULL,
                                  on_call_done, &in_flight);
          g_dbus_connection_call (f.conn, NULL, VIV_VMM1_OBJECT_PATH, "org.vivarium.Vmm1",
                                  "Resume", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, TIMEOUT_MS, NULL,
                                  on_call_done, &in_flight);
        }
      g_assert_true (wait_until (&f, all_done, &in_flight, TIMEOUT_MS));
      changes += 500;
    }
  rss_after = proc_status (child_pid (&f), "VmRSS");
  g_test_message ("dropped after %u state changes; VmRSS %ld -> %ld kB", changes, rss_before,
                  rss_after);
  g_assert_true (hung_up (stuck));
  /* Some 4 MB in a plain build (160 MB and no drop before the bound);
   * ASan's quarantine keeps freed memory resident, hence the margin. */
  g_assert_cmpint (rss_after - rss_before, <, 96 * 1024);
  log = log_text (&f);
  g_assert_cmpuint (count_lines_with (log, "dropping a client"), ==, 1);

  /* The app is still served. */
  g_assert_true (viv_vmm1_call_pause_sync (f.proxy, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (&f, state_is, VIV_VMM_STATE_PAUSED, TIMEOUT_MS));
  close (stuck);
  fixture_clear (&f);
}

/* ---- 3. connections that never authenticate ---------------------------------------- */

static gboolean
all_hung_up (Fixture *f, gconstpointer data)
{
  const GArray *fds = data;

  (void) f;
  for (guint i = 0; i < fds->len; i++)
    if (!hung_up (g_array_index (fds, int, i)))
      return FALSE;
  return TRUE;
}

/* 120 connections that say nothing: at most VMM_SERVICE_MAX_PENDING are
 * taken on at a time (threads and descriptors stay bounded), each is
 * closed after the timeout, and the app still gets in afterwards. */
static void
test_silent_connections (void)
{
  Fixture f = { 0 };
  g_autoptr(GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GError) error = NULL;
  long threads_base, threads_max = 0;
  guint fds_base, fds_max = 0;
  gboolean expired = FALSE;
  guint timeout_id;
  pid_t pid;

  fixture_init (&f, NULL);
  spawn_child (&f, "--auth-timeout-ms", "300", NULL);
  connect_app (&f);
  pid = child_pid (&f);
  threads_base = proc_status (pid, "Threads");
  fds_base = proc_fds (pid);

  for (guint i = 0; i < 120; i++)
    {
      int fd = raw_connect (&f);

      if (fd >= 0)
        g_array_append_val (fds, fd);
    }
  g_test_message ("%u connections made", fds->len);
  g_assert_cmpuint (fds->len, >, VMM_SERVICE_MAX_PENDING);

  timeout_id = g_timeout_add (60000, expire_cb, &expired);
  while (!all_hung_up (&f, fds) && !expired)
    {
      threads_max = MAX (threads_max, proc_status (pid, "Threads"));
      fds_max = MAX (fds_max, proc_fds (pid));
      run_for (&f, 50);
    }
  if (!expired)
    g_source_remove (timeout_id);
  g_test_message ("threads %ld -> at most %ld; descriptors %u -> at most %u", threads_base,
                  threads_max, fds_base, fds_max);
  g_assert_true (all_hung_up (&f, fds));
  /* Each pending connection holds a GIO worker thread, its socket and
   * the eventfd its cancellable waits on. */
  g_assert_cmpint (threads_max, <=, threads_base + VMM_SERVICE_MAX_PENDING + 4);
  g_assert_cmpuint (fds_max, <=, fds_base + 2 * VMM_SERVICE_MAX_PENDING + 4);

  for (guint i = 0; i < fds->len; i++)
    close (g_array_index (fds, int, i));
  g_clear_object (&f.proxy);
  g_clear_object (&f.conn);
  connect_app (&f);
  g_assert_true (viv_vmm1_call_pause_sync (f.proxy, NULL, &error));
  g_assert_no_error (error);
  fixture_clear (&f);
}

/* ---- 5. a long XDG_RUNTIME_DIR ---------------------------------------------------- */

static gboolean
dir_is_empty (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);

  return dir != NULL && g_dir_read_name (dir) == NULL;
}

/* The socket's path would not fit in sun_path: a clear message, and
 * nothing made in the runtime folder (no truncated socket). */
static void
test_long_runtime_dir (void)
{
  Fixture f = { 0 };
  g_autofree char *name = g_strnfill (100, 'r');

  fixture_init (&f, name);
  g_assert_cmpuint (strlen (f.socket_path), >, 107);
  spawn_child (&f, NULL);
  g_assert_true (wait_until (&f, has_exited, NULL, TIMEOUT_MS));
  while (!f.stderr_done)
    g_main_context_iteration (NULL, TRUE);
  g_test_message ("%s", f.stderr_text->str);
  g_assert_cmpint (f.exit_status, ==, VMM_SERVICE_EXIT_FAILED);
  g_assert_nonnull (strstr (f.stderr_text->str, "XDG_RUNTIME_DIR"));
  g_assert_true (dir_is_empty (f.runtime_dir));
  fixture_clear (&f);
}

/* ---- 7. signals ----------------------------------------------------------------- */

static gboolean
file_exists (Fixture *f, gconstpointer path)
{
  (void) f;
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* SIGTERM while the machine is being built: the helper exits cleanly, the
 * machine never runs, the socket is gone. */
static void
test_sigterm_while_starting (void)
{
  Fixture f = { 0 };
  g_autofree char *creating = NULL;
  g_autofree char *release = NULL;

  fixture_init (&f, NULL);
  creating = g_build_filename (f.machine_dir, "creating", NULL);
  release = g_build_filename (f.machine_dir, "release", NULL);
  spawn_child (&f, "--gate", NULL);
  g_assert_true (wait_until (&f, file_exists, creating, TIMEOUT_MS));
  g_assert_true (g_file_test (f.socket_path, G_FILE_TEST_EXISTS));
  g_assert_cmpint (kill (child_pid (&f), SIGTERM), ==, 0);
  g_assert_true (g_file_set_contents (release, "", 0, NULL));
  g_assert_true (wait_until (&f, has_exited, NULL, TIMEOUT_MS));
  g_assert_cmpint (f.exit_status, ==, VMM_SERVICE_EXIT_OK);
  g_assert_false (g_file_test (f.socket_path, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

/* The decision service.c documents: a Pause that timed out on the client
 * while the helper was stopped still runs after SIGCONT, and State says so. */
static void
test_pause_after_sigcont (void)
{
  Fixture f = { 0 };
  g_autoptr(GError) error = NULL;

  fixture_init (&f, NULL);
  spawn_child (&f, NULL);
  connect_app (&f);
  g_assert_cmpint (kill (child_pid (&f), SIGSTOP), ==, 0);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (f.proxy), 300);
  g_assert_false (viv_vmm1_call_pause_sync (f.proxy, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (f.proxy), -1);
  g_assert_cmpint (kill (child_pid (&f), SIGCONT), ==, 0);
  g_assert_true (wait_until (&f, state_is, VIV_VMM_STATE_PAUSED, TIMEOUT_MS));
  fixture_clear (&f);
}

/* ---- 5. the display ------------------------------------------------------------ */

/* A machine without a display says so, for both ways in */
static void
test_display_none (void)
{
  Fixture f = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) handle = NULL;
  g_autofree char *path = NULL;
  g_autofree char *remote = NULL;

  fixture_init (&f, NULL);
  spawn_child (&f, NULL);
  connect_app (&f);
  g_assert_false (viv_vmm1_call_open_display_sync (f.proxy, NULL, &handle, &fds, NULL, &error));
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.vivarium.Vmm1.Error.NoDisplay");
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, ==, "This machine has no display");
  g_clear_error (&error);
  g_clear_pointer (&remote, g_free);
  g_assert_false (viv_vmm1_call_listen_display_sync (f.proxy, &path, NULL, &error));
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.vivarium.Vmm1.Error.NoDisplay");
  fixture_clear (&f);
}

/* A headless spice-client-glib session, its channels opened through
 * OpenDisplay (PROXY) or the unix socket (UNIX_PATH) */
typedef struct {
  VivVmm1 *proxy;
  SpiceSession *session;
  SpiceChannel *display;
  guint fds;
  unsigned seed;                 /* the pattern the primary should show */
} DisplayClient;

static void
on_open_fd (SpiceChannel *channel, gint with_tls, gpointer data)
{
  DisplayClient *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) handle = NULL;
  int fd;

  g_assert_false (with_tls);
  g_assert_true (viv_vmm1_call_open_display_sync (c->proxy, NULL, &handle, &fds, NULL, &error));
  g_assert_no_error (error);
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  g_assert_no_error (error);
  c->fds++;
  g_assert_true (spice_channel_open_fd (channel, fd));
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, gpointer data)
{
  DisplayClient *c = data;

  (void) session;
  g_signal_connect (channel, "open-fd", G_CALLBACK (on_open_fd), c);
  if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      c->display = channel;
      spice_channel_connect (channel);
    }
}

static void
display_client_start (DisplayClient *c, VivVmm1 *proxy, const char *unix_path)
{
  c->proxy = proxy;
  c->session = spice_session_new ();
  g_signal_connect (c->session, "channel-new", G_CALLBACK (on_channel_new), c);
  if (unix_path != NULL)
    {
      g_object_set (c->session, "unix-path", unix_path, NULL);
      g_assert_true (spice_session_connect (c->session));
    }
  else
    g_assert_true (spice_session_open_fd (c->session, -1));
}

static gboolean
no_channels (Fixture *f, gconstpointer data)
{
  const DisplayClient *c = data;
  GList *channels = spice_session_get_channels (c->session);
  gboolean none = channels == NULL;

  (void) f;
  g_list_free (channels);
  return none;
}

static void
display_client_stop (Fixture *f, DisplayClient *c)
{
  spice_session_disconnect (c->session);
  g_assert_true (wait_until (f, no_channels, c, TIMEOUT_MS));
  g_clear_object (&c->session);
}

/* Every pixel of the fake machine's screen has reached the client */
static gboolean
primary_shows_screen (Fixture *f, gconstpointer data)
{
  const DisplayClient *c = data;
  SpiceDisplayPrimary primary;

  (void) f;
  if (c->display == NULL || !spice_display_channel_get_primary (c->display, 0, &primary))
    return FALSE;
  if (primary.width != VMM_TEST_VM_SCREEN_W || primary.height != VMM_TEST_VM_SCREEN_H ||
      primary.format != SPICE_SURFACE_FMT_32_xRGB)
    return FALSE;
  for (uint32_t y = 0; y < VMM_TEST_VM_SCREEN_H; y++)
    for (uint32_t x = 0; x < VMM_TEST_VM_SCREEN_W; x++)
      {
        const uint8_t *p = primary.data + (size_t) y * (size_t) primary.stride + (size_t) x * 4;
        uint32_t e = vmm_test_vm_pixel (c->seed, x, y);

        if (p[0] != (e & 0xff) || p[1] != ((e >> 8) & 0xff) || p[2] != ((e >> 16) & 0xff))
          return FALSE;
      }
  return TRUE;
}

/* thumbnail.png in the machine folder: a PNG 320 pixels wide (the screen
 * scaled down) */
static gboolean
thumbnail_written (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->machine_dir, "thumbnail.png", NULL);
  g_autofree char *png = NULL;
  gsize len = 0;

  (void) data;
  if (!g_file_get_contents (path, &png, &len, NULL) || len < 24)
    return FALSE;
  return memcmp (png, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp (png + 12, "IHDR", 4) == 0 &&
         (((guint8) png[16] << 24) | ((guint8) png[17] << 16) | ((guint8) png[18] << 8) |
          (guint8) png[19]) == 320;
}

/* OpenDisplay's sockets carry a whole SPICE session: the client sees the
 * screen, in two sessions in turn; the screen's thumbnail is written */
static void
test_display_open (void)
{
  Fixture f = { 0 };
  DisplayClient c = { 0 };

  fixture_init (&f, NULL);
  write_machine_display (&f, NULL, "spice");
  spawn_child (&f, NULL);
  connect_app (&f);
  for (int round = 0; round < 2; round++)
    {
      memset (&c, 0, sizeof c);
      display_client_start (&c, f.proxy, NULL);
      g_assert_true (wait_until (&f, primary_shows_screen, &c, TIMEOUT_MS));
      /* main and display at least, each its own call */
      g_assert_cmpuint (c.fds, >=, 2);
      display_client_stop (&f, &c);
    }
  g_assert_true (wait_until (&f, thumbnail_written, NULL, TIMEOUT_MS));
  fixture_clear (&f);
}

static ino_t
thumbnail_inode (Fixture *f)
{
  g_autofree char *path = g_build_filename (f->machine_dir, "thumbnail.png", NULL);
  struct stat st;

  return lstat (path, &st) == 0 ? st.st_ino : 0;
}

static gboolean
thumbnail_replaced (Fixture *f, gconstpointer data)
{
  ino_t old = *(const ino_t *) data;
  ino_t now = thumbnail_inode (f);

  return now != 0 && now != old;
}

/* The thumbnail is written (atomically: a new file each time) when the
 * screen changed, and not while it stays still */
static void
test_display_thumbnail (void)
{
  Fixture f = { 0 };
  g_autofree char *path = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  gsize first_len = 0, second_len = 0;
  ino_t ino;

  fixture_init (&f, NULL);
  write_machine_display (&f, NULL, "spice");
  spawn_child (&f, NULL);
  connect_app (&f);
  open_serial (&f);
  path = g_build_filename (f.machine_dir, "thumbnail.png", NULL);
  g_assert_true (wait_until (&f, thumbnail_written, NULL, TIMEOUT_MS));
  ino = thumbnail_inode (&f);
  g_assert_true (g_file_get_contents (path, &first, &first_len, NULL));

  /* Two periods of the helper's 5 s look with a still screen: not
   * written again */
  run_for (&f, 11000);
  g_assert_cmpuint (thumbnail_inode (&f), ==, ino);

  g_assert_cmpint (write (f.serial_fd, "D", 1), ==, 1);
  g_assert_true (wait_until (&f, serial_has, "drawn", TIMEOUT_MS));
  g_assert_true (wait_until (&f, thumbnail_replaced, &ino, TIMEOUT_MS));
  g_assert_true (thumbnail_written (&f, NULL));
  g_assert_true (g_file_get_contents (path, &second, &second_len, NULL));
  /* Other colours, another picture */
  g_assert_false (first_len == second_len && memcmp (first, second, first_len) == 0);
  fixture_clear (&f);
}

/* ListenDisplay: the socket for stock clients, private, the same on every
 * call, and a client sees the screen through it */
static void
test_display_listen (void)
{
  Fixture f = { 0 };
  DisplayClient c = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *again = NULL;
  g_autofree char *expected = NULL;
  struct stat st;

  fixture_init (&f, NULL);
  write_machine_display (&f, NULL, "spice");
  spawn_child (&f, NULL);
  connect_app (&f);
  g_assert_true (viv_vmm1_call_listen_display_sync (f.proxy, &path, NULL, &error));
  g_assert_no_error (error);
  expected = g_build_filename (f.runtime_dir, "vivarium", UUID ".spice", NULL);
  g_assert_cmpstr (path, ==, expected);
  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (viv_vmm1_call_listen_display_sync (f.proxy, &again, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, path);

  display_client_start (&c, NULL, path);
  g_assert_true (wait_until (&f, primary_shows_screen, &c, TIMEOUT_MS));
  g_assert_cmpuint (c.fds, ==, 0);
  display_client_stop (&f, &c);
  fixture_clear (&f);
  /* The helper took it away */
  g_assert_false (g_file_test (expected, G_FILE_TEST_EXISTS));
}

/* ---- the child ------------------------------------------------------------------ */

static int
child_main (int argc, char *argv[])
{
  struct vmm_service_options options = { .machine_dir = argv[2] };

  for (int i = 3; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--nofile") && i + 1 < argc)
        {
          struct rlimit limit;

          if (sscanf (argv[++i], "%lu:%lu", &limit.rlim_cur, &limit.rlim_max) != 2 ||
              setrlimit (RLIMIT_NOFILE, &limit) < 0)
            return 99;
        }
      else if (g_str_equal (argv[i], "--auth-timeout-ms") && i + 1 < argc)
        options.auth_timeout_ms = (guint) atoi (argv[++i]);
      else if (g_str_equal (argv[i], "--gate"))
        vmm_test_vm_gate_dir = argv[2];
      else
        return 99;
    }
  return vmm_service_run (&options);
}

/* ---- CD-ROM drives -------------------------------------------------------------------- */

/* A firmware-boot machine with two CD-ROM drives: DISC.iso in the first,
 * the second empty. */
static void
write_machine_cdroms (Fixture *f)
{
  g_autofree char *path = g_build_filename (f->machine_dir, "machine.json", NULL);
  g_autofree char *disc = g_build_filename (f->machine_dir, "disc.iso", NULL);
  g_autofree char *other = g_build_filename (f->machine_dir, "other.iso", NULL);
  static const char json[] =
    "{\n"
    "  \"version\": 1,\n"
    "  \"uuid\": \"" UUID "\",\n"
    "  \"name\": \"Fake\",\n"
    "  \"memory\": 67108864,\n"
    "  \"cpus\": 1,\n"
    "  \"boot\": { \"kind\": \"firmware\", \"firmware\": \"bios\" },\n"
    "  \"media\": [{ \"kind\": \"cdrom\", \"path\": \"disc.iso\" },\n"
    "            { \"kind\": \"cdrom\", \"inserted\": false }],\n"
    "  \"display\": { \"kind\": \"none\" }\n"
    "}\n";

  g_assert_true (g_file_set_contents (disc, "a disc", -1, NULL));
  g_assert_true (g_file_set_contents (other, "another disc", -1, NULL));
  g_assert_true (g_file_set_contents (path, json, -1, NULL));
}

/* The Media property, as "path:inserted|path:inserted" */
static char *
media_text (Fixture *f)
{
  GVariant *media = viv_vmm1_get_media (f->proxy);
  g_autoptr(GString) text = g_string_new (NULL);
  GVariantIter iter;
  const char *path;
  gboolean inserted;

  if (media == NULL)
    return g_strdup ("(none)");
  g_variant_iter_init (&iter, media);
  while (g_variant_iter_next (&iter, "(&sb)", &path, &inserted))
    g_string_append_printf (text, "%s%s:%d", text->len > 0 ? "|" : "",
                            g_str_has_prefix (path, f->machine_dir)
                              ? path + strlen (f->machine_dir) + 1 : path,
                            inserted);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static gboolean
media_is (Fixture *f, gconstpointer expected)
{
  g_autofree char *text = media_text (f);

  return strcmp (text, expected) == 0;
}

static void
assert_dbus_error (GError *error, const char *name, const char *message)
{
  g_autofree char *remote = NULL;

  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, name);
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, ==, message);
}

static void
test_media (void)
{
  Fixture f = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;

  fixture_init (&f, NULL);
  write_machine_cdroms (&f);
  spawn_child (&f, NULL);
  connect_app (&f);
  open_serial (&f);

  /* The drives as machine.json had them, paths resolved. */
  g_assert_true (media_is (&f, "disc.iso:1|:0"));

  /* Drives that do not exist, a full drive, a missing file. */
  viv_vmm1_call_eject_medium_sync (f.proxy, 2, FALSE, NULL, &error);
  assert_dbus_error (error, "org.vivarium.Vmm1.Error.NoSuchDrive",
                     "The machine has no such CD-ROM drive");
  g_clear_error (&error);
  viv_vmm1_call_insert_medium_sync (f.proxy, 0, "other.iso", NULL, &error);
  assert_dbus_error (error, "org.vivarium.Vmm1.Error.DriveFull",
                     "The CD-ROM drive holds a disc; eject it first");
  g_clear_error (&error);
  viv_vmm1_call_insert_medium_sync (f.proxy, 1, "missing.iso", NULL, &error);
  g_assert_true (g_dbus_error_is_remote_error (error));
  g_clear_error (&error);
  g_assert_true (media_is (&f, "disc.iso:1|:0"));

  /* Eject, insert: the property follows, announced to the proxy. */
  g_assert_true (viv_vmm1_call_eject_medium_sync (f.proxy, 0, FALSE, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (&f, media_is, ":0|:0", TIMEOUT_MS));
  g_assert_true (viv_vmm1_call_insert_medium_sync (f.proxy, 1, "other.iso", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (&f, media_is, ":0|other.iso:1", TIMEOUT_MS));
  g_assert_true (viv_vmm1_call_insert_medium_sync (f.proxy, 0, "disc.iso", NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (&f, media_is, "disc.iso:1|other.iso:1", TIMEOUT_MS));

  /* The guest locks the tray: refused, the guest asked to let go; it
   * does, and says so from its own thread. */
  g_assert_cmpint (write (f.serial_fd, "L", 1), ==, 1);
  g_assert_true (wait_until (&f, serial_has, "locked", TIMEOUT_MS));
  viv_vmm1_call_eject_medium_sync (f.proxy, 0, FALSE, NULL, &error);
  assert_dbus_error (error, "org.vivarium.Vmm1.Error.MediumLocked",
                     "The guest is using the disc; it was asked to release it");
  g_clear_error (&error);
  g_assert_true (wait_until (&f, media_is, ":0|other.iso:1", TIMEOUT_MS));

  /* Forced, a locked tray opens at once. */
  g_assert_true (viv_vmm1_call_insert_medium_sync (f.proxy, 0, "disc.iso", NULL, &error));
  g_assert_cmpint (write (f.serial_fd, "L", 1), ==, 1);
  g_assert_true (wait_until (&f, serial_has, "locked\nlocked", TIMEOUT_MS));
  g_assert_true (viv_vmm1_call_eject_medium_sync (f.proxy, 0, TRUE, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (wait_until (&f, media_is, ":0|other.iso:1", TIMEOUT_MS));

  /* The guest ejects on its own. */
  g_assert_true (viv_vmm1_call_insert_medium_sync (f.proxy, 0, "disc.iso", NULL, &error));
  g_assert_true (wait_until (&f, media_is, "disc.iso:1|other.iso:1", TIMEOUT_MS));
  g_assert_cmpint (write (f.serial_fd, "E", 1), ==, 1);
  g_assert_true (wait_until (&f, media_is, ":0|other.iso:1", TIMEOUT_MS));

  log = log_text (&f);
  g_assert_nonnull (strstr (log, "the guest ejected the disc in CD-ROM drive 0"));
  fixture_clear (&f);
}

/* Direct kernel boot has no CD-ROM drive: the disc is a disk. */
static void
test_media_kernel_boot (void)
{
  Fixture f = { 0 };
  g_autoptr(GError) error = NULL;

  fixture_init (&f, NULL);
  spawn_child (&f, NULL);
  connect_app (&f);
  g_assert_true (media_is (&f, ""));
  viv_vmm1_call_eject_medium_sync (f.proxy, 0, FALSE, NULL, &error);
  assert_dbus_error (error, "org.vivarium.Vmm1.Error.NoSuchDrive",
                     "The machine has no CD-ROM drive");
  fixture_clear (&f);
}

int
main (int argc, char *argv[])
{
  if (argc >= 3 && g_str_equal (argv[1], "--service-child"))
    return child_main (argc, argv);

  signal (SIGPIPE, SIG_IGN);
  g_test_init (&argc, &argv, NULL);
  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  g_assert_nonnull (self_exe);
  g_test_add_func ("/service/out-of-descriptors", test_out_of_descriptors);
  g_test_add_func ("/service/descriptor-budget", test_descriptor_budget);
  g_test_add_func ("/service/client-not-reading", test_client_not_reading);
  g_test_add_func ("/service/silent-connections", test_silent_connections);
  g_test_add_func ("/service/long-runtime-dir", test_long_runtime_dir);
  g_test_add_func ("/service/sigterm-while-starting", test_sigterm_while_starting);
  g_test_add_func ("/service/pause-after-sigcont", test_pause_after_sigcont);
  g_test_add_func ("/service/display/none", test_display_none);
  g_test_add_func ("/service/display/open", test_display_open);
  g_test_add_func ("/service/display/listen", test_display_listen);
  g_test_add_func ("/service/display/thumbnail", test_display_thumbnail);
  g_test_add_func ("/service/media", test_media);
  g_test_add_func ("/service/media/kernel-boot", test_media_kernel_boot);
  return g_test_run ();
}
