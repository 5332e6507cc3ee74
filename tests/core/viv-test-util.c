/* viv-test-util.c: what the app's tests share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sched.h>

#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>

#include "viv-file.h"
#include "viv-helper.h"
#include "viv-snapshot-index.h"
#include "viv-test-util.h"
#include "viv-vmm1.h"

#define STOP_TIMEOUT_MS 30000
#define SERIAL_REPLAY   (64 * 1024)   /* what a helper replays to a new reader */
#define ROOT_VARIABLE   "VIV_TEST_ROOT"

/* --- the program's folders ---------------------------------------------------------- */

static gboolean root_inherited;

static void start_reaper (const char *root,
                          const char *program);

char *
viv_test_init_folders (const char *program)
{
  const char *inherited = g_getenv (ROOT_VARIABLE);
  g_autofree char *data_home = NULL;
  g_autofree char *runtime_dir = NULL;
  char *root;

  root_inherited = inherited != NULL;
  if (root_inherited)
    {
      root = g_strdup (inherited);
    }
  else
    {
      g_autofree char *base = g_path_get_basename (program);
      g_autofree char *template = g_strdup_printf ("vivarium-%s-XXXXXX", base);

      root = g_dir_make_tmp (template, NULL);
      g_assert_nonnull (root);
      g_setenv (ROOT_VARIABLE, root, TRUE);
      start_reaper (root, program);
    }

  data_home = g_build_filename (root, "data", NULL);
  runtime_dir = g_build_filename (root, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (data_home, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (runtime_dir, 0700), ==, 0);
  g_chmod (runtime_dir, 0700);
  g_setenv ("XDG_DATA_HOME", data_home, TRUE);
  g_setenv ("XDG_RUNTIME_DIR", runtime_dir, TRUE);
  return root;
}

char *
viv_test_init (int    *argc,
               char ***argv)
{
  char *root = viv_test_init_folders ((*argv)[0]);

  g_test_init (argc, argv, NULL);
  return root;
}

void
viv_test_finish (char *root)
{
  if (!root_inherited)
    viv_file_remove_tree (root);
  g_free (root);
}

/* --- waiting ------------------------------------------------------------------------- */

gboolean
viv_test_keep_going (gpointer data G_GNUC_UNUSED)
{
  return G_SOURCE_CONTINUE;
}

void
viv_test_sleep_ms (guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  WAIT_UNTIL (g_get_monotonic_time () >= end, ms + 1000);
}

void
viv_test_store_result (GObject      *object G_GNUC_UNUSED,
                       GAsyncResult *result,
                       gpointer      data)
{
  *(GAsyncResult **) data = g_object_ref (result);
}

GAsyncResult *
viv_test_wait_result (GAsyncResult **slot)
{
  WAIT_UNTIL (*slot != NULL, STOP_TIMEOUT_MS);
  g_assert_nonnull (*slot);
  return *slot;
}

gboolean
viv_test_can_run_machines (const char **probe_path,
                           const char  *what_skips)
{
  const char *vmm = g_getenv ("VIVARIUM_VMM");
  const char *probe = g_getenv ("VIVARIUM_PROBE_ELF");
  gboolean can;

  *probe_path = probe;
  can = access ("/dev/kvm", R_OK | W_OK) == 0 &&
        vmm != NULL && g_file_test (vmm, G_FILE_TEST_IS_EXECUTABLE) &&
        probe != NULL && g_file_test (probe, G_FILE_TEST_IS_REGULAR);
  if (!can && !root_inherited)
    g_printerr ("# SKIP: /dev/kvm is missing or not accessible, or VIVARIUM_VMM or "
                "VIVARIUM_PROBE_ELF is not set: %s\n", what_skips);
  return can;
}

GPid
viv_test_helper_pid (VivMachine *machine)
{
  g_autofree char *name = g_strconcat (viv_machine_get_uuid (machine), ".lock", NULL);
  g_autofree char *path = g_build_filename (g_get_user_runtime_dir (), "vivarium", name, NULL);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  return (GPid) g_ascii_strtoll (contents, NULL, 10);
}

void
viv_test_stop_machines (VivLibrary *library)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (library)); i++)
    {
      g_autoptr(VivMachine) machine = g_list_model_get_item (G_LIST_MODEL (library), i);
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;

      if (!viv_machine_is_active (machine))
        continue;
      WAIT_UNTIL (viv_machine_get_state (machine) != VIV_MACHINE_STATE_STARTING, STOP_TIMEOUT_MS);
      viv_machine_force_off_async (machine, NULL, viv_test_store_result, &result);
      WAIT_UNTIL (result != NULL, STOP_TIMEOUT_MS);
      if (!viv_machine_force_off_finish (machine, result, &error))
        {
          GPid pid = viv_test_helper_pid (machine);

          g_test_message ("force-off of %s: %s", viv_machine_get_name (machine),
                          error->message);
          if (pid > 0)
            kill (pid, SIGKILL);
        }
      WAIT_UNTIL (!viv_machine_is_active (machine), STOP_TIMEOUT_MS);
      g_assert_false (viv_machine_is_active (machine));
    }
}

/* --- a stand-in for a helper ------------------------------------------------------ */

struct _VivTestFakeHelper
{
  VivMachine  *machine;
  char        *lock_path;
  char        *socket_path;
  int          lock_fd;
  GDBusServer *server;
  VivVmm1     *iface;
  GPtrArray   *connections;
  GArray      *readers;       /* our ends of the serial sockets */
  GString     *backlog;       /* the last SERIAL_REPLAY bytes printed */
  guint        stop_id;
};

/* Sends all of DATA to the reader on FD; when its socket is full, lets the
 * main loop run so that the app reads. FALSE: the reader is gone, or did
 * not read for STOP_TIMEOUT_MS (a helper disconnects such a reader too). */
static gboolean
send_all (int          fd,
          const char  *data,
          gsize        len,
          gboolean     may_wait)
{
  gint64 deadline = g_get_monotonic_time () + STOP_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN && may_wait && g_get_monotonic_time () < deadline)
        {
          if (!g_main_context_iteration (NULL, FALSE))
            g_usleep (1000);
          continue;
        }
      if (n < 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static void
drop_reader (VivTestFakeHelper *self,
             guint              i)
{
  close (g_array_index (self->readers, int, i));
  g_array_remove_index (self->readers, i);
}

static gboolean
handle_open_serial (VivVmm1               *iface,
                    GDBusMethodInvocation *invocation,
                    GUnixFDList           *unused G_GNUC_UNUSED,
                    VivTestFakeHelper     *self)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  int pair[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  g_assert_cmpint (g_unix_fd_list_append (fds, pair[1], NULL), ==, 0);
  close (pair[1]);
  /* It fits in the socket: nobody reads it before the reply goes */
  g_assert_true (send_all (pair[0], self->backlog->str, self->backlog->len, FALSE));
  g_array_append_val (self->readers, pair[0]);
  viv_vmm1_complete_open_serial (iface, invocation, fds, g_variant_new_handle (0));
  return TRUE;
}

/* The helper's end: the state goes out, then the connections close, as
 * when the process exits */
static void
stop_serving (VivTestFakeHelper *self)
{
  g_clear_handle_id (&self->stop_id, g_source_remove);
  if (g_strcmp0 (viv_vmm1_get_state (self->iface), VIV_VMM_STATE_STOPPED) != 0)
    {
      viv_vmm1_set_state (self->iface, VIV_VMM_STATE_STOPPED);
      viv_vmm1_emit_state_changed (self->iface, VIV_VMM_STATE_STOPPED);
    }
  while (self->readers->len > 0)
    drop_reader (self, self->readers->len - 1);
  if (self->server != NULL)
    g_dbus_server_stop (self->server);
  g_clear_object (&self->server);
  while (self->connections->len > 0)
    {
      g_autoptr(GDBusConnection) connection = g_ptr_array_steal_index (self->connections, 0);

      g_signal_handlers_disconnect_by_data (connection, self);
      g_dbus_connection_flush_sync (connection, NULL, NULL);
      g_dbus_interface_skeleton_unexport_from_connection (G_DBUS_INTERFACE_SKELETON (self->iface),
                                                          connection);
      g_dbus_connection_close_sync (connection, NULL, NULL);
    }
  g_unlink (self->socket_path);
}

static gboolean
on_stop (gpointer data)
{
  VivTestFakeHelper *self = data;

  self->stop_id = 0;
  stop_serving (self);
  return G_SOURCE_REMOVE;
}

/* The snapshot methods, on snapshots/index.json only (no state is saved):
 * each change is written, then SnapshotsChanged, as the helper does */
static VivSnapshotIndex *
snapshot_index (VivTestFakeHelper     *self,
                GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) error = NULL;
  VivSnapshotIndex *index = viv_snapshot_index_load (viv_machine_get_directory (self->machine),
                                                     &error);

  if (index == NULL)
    g_dbus_method_invocation_return_dbus_error (invocation, "org.vivarium.Vmm1.Error.Failed",
                                                error->message);
  return index;
}

static gboolean
snapshot_saved (VivTestFakeHelper     *self,
                VivSnapshotIndex      *index,
                GDBusMethodInvocation *invocation,
                GError                *error)
{
  if (error == NULL)
    viv_snapshot_index_save (index, viv_machine_get_directory (self->machine), &error);
  if (error != NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation,
                                                  error->domain == VIV_SNAPSHOT_INDEX_ERROR &&
                                                  error->code ==
                                                    VIV_SNAPSHOT_INDEX_ERROR_NOT_FOUND
                                                  ? "org.vivarium.Vmm1.Error.NoSuchSnapshot"
                                                  : "org.vivarium.Vmm1.Error.Failed",
                                                  error->message);
      g_error_free (error);
      return FALSE;
    }
  viv_vmm1_emit_snapshots_changed (self->iface);
  return TRUE;
}

static gboolean
handle_take_snapshot (VivVmm1               *iface,
                      GDBusMethodInvocation *invocation,
                      const char            *name,
                      VivTestFakeHelper     *self)
{
  g_autoptr(VivSnapshotIndex) index = snapshot_index (self, invocation);
  g_autofree char *id = NULL;
  GError *error = NULL;

  if (index == NULL)
    return TRUE;
  if (viv_snapshot_name_check (name, &error))
    id = g_strdup (viv_snapshot_index_add (index, name, TRUE,
                                           g_get_real_time () / G_USEC_PER_SEC)->id);
  if (snapshot_saved (self, index, invocation, error))
    viv_vmm1_complete_take_snapshot (iface, invocation, id);
  return TRUE;
}

static gboolean
handle_revert_snapshot (VivVmm1               *iface,
                        GDBusMethodInvocation *invocation,
                        const char            *id,
                        VivTestFakeHelper     *self)
{
  g_autoptr(VivSnapshotIndex) index = snapshot_index (self, invocation);
  GError *error = NULL;

  if (index == NULL)
    return TRUE;
  if (viv_snapshot_index_find (index, id) == NULL)
    error = g_error_new (VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_NOT_FOUND,
                         "No snapshot %s", id);
  else
    {
      g_free (index->current);
      index->current = g_strdup (id);
    }
  if (snapshot_saved (self, index, invocation, error))
    viv_vmm1_complete_revert_snapshot (iface, invocation);
  return TRUE;
}

static gboolean
handle_delete_snapshot (VivVmm1               *iface,
                        GDBusMethodInvocation *invocation,
                        const char            *id,
                        VivTestFakeHelper     *self)
{
  g_autoptr(VivSnapshotIndex) index = snapshot_index (self, invocation);
  GError *error = NULL;

  if (index == NULL)
    return TRUE;
  viv_snapshot_index_remove (index, id, &error);
  if (snapshot_saved (self, index, invocation, error))
    viv_vmm1_complete_delete_snapshot (iface, invocation);
  return TRUE;
}

static gboolean
handle_rename_snapshot (VivVmm1               *iface,
                        GDBusMethodInvocation *invocation,
                        const char            *id,
                        const char            *name,
                        VivTestFakeHelper     *self)
{
  g_autoptr(VivSnapshotIndex) index = snapshot_index (self, invocation);
  GError *error = NULL;

  if (index == NULL)
    return TRUE;
  viv_snapshot_index_rename (index, id, name, &error);
  if (snapshot_saved (self, index, invocation, error))
    viv_vmm1_complete_rename_snapshot (iface, invocation);
  return TRUE;
}

/* PowerOff and Quit: the reply goes first */
static gboolean
handle_power_off (VivVmm1               *iface,
                  GDBusMethodInvocation *invocation,
                  VivTestFakeHelper     *self)
{
  viv_vmm1_set_state (iface, VIV_VMM_STATE_STOPPED);
  viv_vmm1_emit_state_changed (iface, VIV_VMM_STATE_STOPPED);
  g_dbus_method_invocation_return_value (invocation, NULL);
  if (self->stop_id == 0)
    self->stop_id = g_idle_add (on_stop, self);
  return TRUE;
}

static void
on_connection_closed (GDBusConnection   *connection,
                      gboolean           remote_peer_vanished G_GNUC_UNUSED,
                      GError            *error G_GNUC_UNUSED,
                      VivTestFakeHelper *self)
{
  g_signal_handlers_disconnect_by_data (connection, self);
  g_dbus_interface_skeleton_unexport_from_connection (G_DBUS_INTERFACE_SKELETON (self->iface),
                                                      connection);
  g_ptr_array_remove (self->connections, connection);
}

static gboolean
on_new_connection (GDBusServer       *server G_GNUC_UNUSED,
                   GDBusConnection   *connection,
                   VivTestFakeHelper *self)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->iface),
                                                   connection, VIV_VMM1_OBJECT_PATH, &error));
  g_assert_no_error (error);
  g_ptr_array_add (self->connections, g_object_ref (connection));
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), self);
  return TRUE;
}

VivTestFakeHelper *
viv_test_fake_helper_serve (VivMachine *machine)
{
  VivTestFakeHelper *self = g_new0 (VivTestFakeHelper, 1);
  const char *uuid = viv_machine_get_uuid (machine);
  g_autofree char *dir = g_build_filename (g_get_user_runtime_dir (), "vivarium", NULL);
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autofree char *escaped = NULL;
  g_autofree char *address = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (viv_machine_is_active (machine));
  self->machine = g_object_ref (machine);
  self->connections = g_ptr_array_new ();
  self->readers = g_array_new (FALSE, FALSE, sizeof (int));
  self->backlog = g_string_new (NULL);

  /* The lock says a helper runs the machine (its pid is left out: no test
   * must signal this process) */
  g_assert_true (viv_file_make_private_dir (dir, &error));
  g_assert_no_error (error);
  self->lock_path = viv_helper_lock_path (uuid);
  self->socket_path = viv_helper_socket_path (uuid);
  self->lock_fd = open (self->lock_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (self->lock_fd, >=, 0);
  g_assert_cmpint (flock (self->lock_fd, LOCK_EX | LOCK_NB), ==, 0);

  self->iface = viv_vmm1_skeleton_new ();
  viv_vmm1_set_state (self->iface, VIV_VMM_STATE_RUNNING);
  viv_vmm1_set_name (self->iface, viv_machine_get_name (machine));
  viv_vmm1_set_uuid (self->iface, uuid);
  g_signal_connect (self->iface, "handle-open-serial", G_CALLBACK (handle_open_serial), self);
  g_signal_connect (self->iface, "handle-power-off", G_CALLBACK (handle_power_off), self);
  g_signal_connect (self->iface, "handle-quit", G_CALLBACK (handle_power_off), self);
  g_signal_connect (self->iface, "handle-take-snapshot", G_CALLBACK (handle_take_snapshot),
                    self);
  g_signal_connect (self->iface, "handle-revert-snapshot", G_CALLBACK (handle_revert_snapshot),
                    self);
  g_signal_connect (self->iface, "handle-delete-snapshot", G_CALLBACK (handle_delete_snapshot),
                    self);
  g_signal_connect (self->iface, "handle-rename-snapshot", G_CALLBACK (handle_rename_snapshot),
                    self);

  escaped = g_dbus_address_escape_value (self->socket_path);
  address = g_strdup_printf ("unix:path=%s", escaped);
  self->server = g_dbus_server_new_sync (address,
                                         G_DBUS_SERVER_FLAGS_AUTHENTICATION_REQUIRE_SAME_USER,
                                         guid, NULL, NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (self->server, "new-connection", G_CALLBACK (on_new_connection), self);
  g_dbus_server_start (self->server);
  return self;
}

VivTestFakeHelper *
viv_test_fake_helper_new (VivMachine *machine)
{
  VivTestFakeHelper *self = viv_test_fake_helper_serve (machine);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  viv_machine_attach_async (machine, NULL, viv_test_store_result, &result);
  g_assert_true (viv_machine_attach_finish (machine, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING, STOP_TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);
  return self;
}

void
viv_test_fake_helper_print (VivTestFakeHelper *self,
                            const char        *text)
{
  gsize len = strlen (text);

  g_string_append_len (self->backlog, text, (gssize) len);
  if (self->backlog->len > SERIAL_REPLAY)
    g_string_erase (self->backlog, 0, (gssize) (self->backlog->len - SERIAL_REPLAY));

  for (guint i = self->readers->len; i > 0; i--)
    if (!send_all (g_array_index (self->readers, int, i - 1), text, len, TRUE))
      drop_reader (self, i - 1);
}

void
viv_test_fake_helper_disk_error (VivTestFakeHelper *self,
                                 guint              disk,
                                 const char        *path,
                                 const char        *operation,
                                 const char        *error,
                                 const char        *message)
{
  viv_vmm1_emit_disk_error (self->iface, disk, path, operation, error, message);
}

void
viv_test_fake_helper_set_guest_addresses (VivTestFakeHelper  *self,
                                          const char *const  *addresses)
{
  static const char *const none[] = { NULL };

  viv_vmm1_set_guest_addresses (self->iface, addresses != NULL ? addresses : none);
}

void
viv_test_fake_helper_free (VivTestFakeHelper *self)
{
  stop_serving (self);
  WAIT_UNTIL (!viv_machine_is_active (self->machine), STOP_TIMEOUT_MS);
  g_assert_false (viv_machine_is_active (self->machine));

  g_clear_object (&self->iface);
  g_unlink (self->lock_path);
  close (self->lock_fd);
  g_free (self->lock_path);
  g_free (self->socket_path);
  g_ptr_array_unref (self->connections);
  g_array_unref (self->readers);
  g_string_free (self->backlog, TRUE);
  g_object_unref (self->machine);
  g_free (self);
}

/* --- a helper that cannot be reached ----------------------------------------------- */

GSubprocess *
viv_test_unreachable_helper_new (VivMachine *machine,
                                 gboolean    refuse,
                                 GPid       *pid)
{
  const char *program = g_getenv ("VIVARIUM_TEST_FAKE_VMM");
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { program, "--machine", viv_machine_get_directory (machine),
                         refuse ? "--refuse" : NULL, NULL };
  GPid holder = 0;
  gint64 deadline;

  g_assert_nonnull (program);
  process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  g_assert_no_error (error);
  *pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (process), NULL, 10);

  /* It runs once it holds the lock, with its pid written there */
  deadline = g_get_monotonic_time () + STOP_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < deadline)
    {
      VivHelperPresence presence = viv_helper_probe (viv_machine_get_uuid (machine), &holder);

      if (presence == (refuse ? VIV_HELPER_PRESENT : VIV_HELPER_NO_SOCKET) && holder == *pid)
        break;
      g_usleep (10 * 1000);
    }
  g_assert_cmpint (holder, ==, *pid);
  return g_steal_pointer (&process);
}

/* --- helpers a test left behind ------------------------------------------------------ */

/* Whether process PID was started with NAME=VALUE in its environment */
static gboolean
process_has_env (GPid        pid,
                 const char *name,
                 const char *value)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/environ", (int) pid);
  g_autofree char *wanted = g_strconcat (name, "=", value, NULL);
  g_autofree char *environ_text = NULL;
  gsize len;

  if (!g_file_get_contents (path, &environ_text, &len, NULL))
    return FALSE;
  for (gsize at = 0; at < len; at += strlen (environ_text + at) + 1)
    if (strcmp (environ_text + at, wanted) == 0)
      return TRUE;
  return FALSE;
}

/* The vivarium-vmm processes started with NAME=VALUE in their environment:
 * the helpers of one test program (VIV_TEST_ROOT is its folder) */
static GArray *
find_helpers (const char *name,
              const char *value)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (GPid));
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *entry;

  while (proc != NULL && (entry = g_dir_read_name (proc)) != NULL)
    {
      char *end;
      long pid = strtol (entry, &end, 10);

      if (*end != '\0' || pid <= 0 || pid == getpid ())
        continue;
      if (viv_helper_is_helper_process ((GPid) pid) && process_has_env ((GPid) pid, name, value))
        {
          GPid p = (GPid) pid;

          g_array_append_val (pids, p);
        }
    }
  return pids;
}

static gboolean
all_gone (GArray *pids)
{
  for (guint i = 0; i < pids->len; i++)
    if (viv_helper_is_helper_process (g_array_index (pids, GPid, i)))
      return FALSE;
  return TRUE;
}

/* Ends the helpers of the test program whose folder is ROOT (SIGTERM, then
 * SIGKILL), removes ROOT, and notes what it ended in
 * $VIVARIUM_TEST_LEFTOVERS/PROGRAM-PID for the suite's last test
 * (leftover-helpers) to report. */
static void
sweep (const char *root,
       const char *program,
       pid_t       test_pid)
{
  g_autoptr(GArray) pids = find_helpers (ROOT_VARIABLE, root);
  const char *leftovers = g_getenv ("VIVARIUM_TEST_LEFTOVERS");
  g_autoptr(GString) note = g_string_new (NULL);
  gint64 deadline;

  for (guint i = 0; i < pids->len; i++)
    {
      GPid pid = g_array_index (pids, GPid, i);
      g_autofree char *cmdline_path = g_strdup_printf ("/proc/%d/cmdline", (int) pid);
      g_autofree char *cmdline = NULL;
      gsize len = 0;

      if (g_file_get_contents (cmdline_path, &cmdline, &len, NULL))
        for (gsize j = 0; j + 1 < len; j++)
          if (cmdline[j] == '\0')
            cmdline[j] = ' ';
      g_string_append_printf (note, "vivarium-vmm process %d (%s)\n", (int) pid,
                              cmdline != NULL ? cmdline : "?");
      kill (pid, SIGTERM);
    }

  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (!all_gone (pids) && g_get_monotonic_time () < deadline)
    g_usleep (20 * 1000);
  for (guint i = 0; i < pids->len; i++)
    if (viv_helper_is_helper_process (g_array_index (pids, GPid, i)))
      kill (g_array_index (pids, GPid, i), SIGKILL);

  if (pids->len > 0)
    {
      g_autofree char *base = g_path_get_basename (program);

      g_printerr ("# %s (process %d) left %u helper(s) running; ended now:\n%s", base,
                  (int) test_pid, pids->len, note->str);
      if (leftovers != NULL && g_mkdir_with_parents (leftovers, 0700) == 0)
        {
          g_autofree char *name = g_strdup_printf ("%s-%d", base, (int) test_pid);
          g_autofree char *path = g_build_filename (leftovers, name, NULL);

          g_file_set_contents (path, note->str, (gssize) note->len, NULL);
        }
    }

  if (g_file_test (root, G_FILE_TEST_IS_DIR))
    viv_file_remove_tree (root);
}

/* A process of its own that outlives the test program and sweeps its
 * folder when it ends, however it ends (an assertion's abort, a signal, a
 * timeout's SIGKILL): helpers are made to outlive the app (their own
 * session), so nothing else would end them. It waits for the end of a
 * pipe only the test program holds (close-on-exec: no helper holds it). */
static void
start_reaper (const char *root,
              const char *program)
{
  pid_t test_pid = getpid ();
  int fds[2];
  pid_t pid;

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid > 0)
    {
      close (fds[0]);   /* fds[1] stays open, unused, until the program ends */
      return;
    }

  /* Out of the test's process group, which a timeout kills as a whole;
   * signals meant for the test are not for this */
  setsid ();
  signal (SIGINT, SIG_IGN);
  signal (SIGTERM, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  close (fds[1]);
  for (;;)
    {
      char c;
      ssize_t n = read (fds[0], &c, 1);

      if (n == 0 || (n < 0 && errno != EINTR))
        break;
    }
  sweep (root, program, test_pid);
  _exit (0);
}

static gboolean private_mounts;
static char *private_mounts_reason;

void
viv_test_private_mounts (void)
{
  if (unshare (CLONE_NEWNS) != 0)
    {
      private_mounts_reason = g_strdup_printf ("no mount namespace: %s", g_strerror (errno));
      return;
    }
  /* Or the mounts would show in the namespace we came from */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    {
      private_mounts_reason = g_strdup_printf ("mounts not private: %s", g_strerror (errno));
      return;
    }
  private_mounts = TRUE;
}

gboolean
viv_test_mount_read_only (const char  *dir,
                          char       **reason)
{
  if (!private_mounts)
    {
      *reason = g_strdup (private_mounts_reason != NULL ? private_mounts_reason
                                                        : "viv_test_private_mounts() not called");
      return FALSE;
    }
  if (mount (dir, dir, NULL, MS_BIND, NULL) != 0 ||
      mount (NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
    {
      *reason = g_strdup_printf ("cannot mount %s read-only: %s", dir, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}
