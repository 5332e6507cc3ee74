/* control/service.c: vivarium-vmm --machine DIR, the org.vivarium.Vmm1 service
 *
 * The main thread runs a GLib main loop: the peer-to-peer D-Bus server, the
 * method calls, signals and timers. The VM runs on its own threads and
 * reports its end through a callback, handed over to the main thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "vivarium-vmm"

#include "config.h"

#include "control/service.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/disk-errors.h"
#include "devices/fanout.h"
#include "log.h"
#include "viv-file.h"
#include "viv-machine-config.h"
#include "viv-vmm1.h"
#include "viv-vmm1-generated.h"
#include "vm.h"

#define ERROR_WRONG_STATE "org.vivarium.Vmm1.Error.WrongState"
#define ERROR_FAILED      "org.vivarium.Vmm1.Error.Failed"
#define LOG_MAX_BYTES    (4 * 1024 * 1024)
#define LOG_KEEP         4

typedef struct {
  struct vmm_service_options opts;
  GMainLoop *loop;
  int status;

  VivMachineConfig *mc;
  struct vmm_config config;

  GMutex vm_lock;                /* vm, against serial input on the io loop */
  struct vmm_vm *vm;
  const char *state;
  gboolean quitting;
  gboolean finished;

  VivVmm1 *iface;
  GDBusServer *server;
  GPtrArray *connections;
  GDBusNodeInfo *bus_shim;
  char *socket_path;
  char *lock_path;
  int lock_fd;

  struct vmm_loop io_loop;       /* for the serial clients */
  gboolean io_loop_inited, io_loop_ready;
  struct vmm_fanout serial;

  guint uptime_id;
  guint signal_ids[3];
} Service;

typedef struct {
  Service *s;
  enum vmm_exit_reason reason;
  char *message;
} StopEvent;

/* ---- state ----------------------------------------------------------------- */

static void
set_state (Service *s, const char *state)
{
  if (g_strcmp0 (s->state, state) == 0)
    return;
  s->state = state;
  vmm_log_info ("state: %s", state);
  viv_vmm1_set_state (s->iface, state);
  viv_vmm1_emit_state_changed (s->iface, state);
}

/* At low priority, after the skeleton's own idle has sent the last
 * PropertiesChanged: push what is queued to every client, then leave. */
static gboolean
quit_cb (gpointer data)
{
  Service *s = data;

  for (guint i = 0; i < s->connections->len; i++)
    g_dbus_connection_flush_sync (s->connections->pdata[i], NULL, NULL);
  g_main_loop_quit (s->loop);
  return G_SOURCE_REMOVE;
}

/* The machine is gone for good: flush and free it, then leave once
 * clients have the last state change. */
static void
finish (Service *s, int status)
{
  if (s->finished)
    return;
  s->finished = TRUE;
  s->status = status;
  g_mutex_lock (&s->vm_lock);
  vmm_vm_destroy (s->vm);   /* flushes the disks */
  s->vm = NULL;
  g_mutex_unlock (&s->vm_lock);
  g_idle_add_full (G_PRIORITY_LOW, quit_cb, s, NULL);
}

/* ---- the VM's lifecycle ---------------------------------------------------------- */

static gboolean on_stop_main (gpointer data);

/* On a VM thread: hand over to the main thread. */
static void
on_vm_exit (struct vmm_vm *vm, enum vmm_exit_reason reason, const char *message, void *data)
{
  StopEvent *e = g_new0 (StopEvent, 1);

  (void) vm;
  e->s = data;
  e->reason = reason;
  e->message = g_strdup (message);
  g_main_context_invoke (NULL, on_stop_main, e);
}

static gboolean
emit_panic_main (gpointer data)
{
  Service *s = data;

  viv_vmm1_emit_guest_panicked (s->iface);
  return G_SOURCE_REMOVE;
}

static void
on_vm_panic (struct vmm_vm *vm, void *data)
{
  (void) vm;
  g_main_context_invoke (NULL, emit_panic_main, data);
}

static void
serial_output (void *data, const uint8_t *bytes, size_t len)
{
  Service *s = data;

  vmm_fanout_write (&s->serial, bytes, len);
}

static size_t
serial_input (void *data, const uint8_t *bytes, size_t len)
{
  Service *s = data;
  size_t taken = 0;

  g_mutex_lock (&s->vm_lock);
  if (s->vm != NULL)
    taken = vmm_vm_serial_input (s->vm, bytes, len);
  g_mutex_unlock (&s->vm_lock);
  return taken;
}

/* Builds and starts the VM; on failure sets ERROR. */
static gboolean
start_vm (Service *s, GError **error)
{
  struct vmm_vm *vm;
  int ret;

  set_state (s, VIV_VMM_STATE_STARTING);
  vm = vmm_vm_create (&s->config, error);
  if (vm == NULL)
    return FALSE;
  vmm_vm_set_callbacks (vm, on_vm_exit, on_vm_panic, s);
  vmm_disk_errors_forward (vm, s->iface);
  g_mutex_lock (&s->vm_lock);
  s->vm = vm;
  g_mutex_unlock (&s->vm_lock);
  ret = vmm_vm_start (vm);
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot start the virtual machine: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  viv_vmm1_set_uptime (s->iface, 0);
  set_state (s, VIV_VMM_STATE_RUNNING);
  return TRUE;
}

static void
fail (Service *s, const char *message)
{
  vmm_log_error ("%s", message);
  viv_vmm1_emit_error (s->iface, message);
  set_state (s, VIV_VMM_STATE_CRASHED);
  finish (s, VMM_SERVICE_EXIT_FAILED);
}

static gboolean
on_stop_main (gpointer data)
{
  StopEvent *e = data;
  Service *s = e->s;
  g_autoptr(GError) error = NULL;

  if (s->vm != NULL)
    vmm_vm_wait (s->vm, NULL);

  switch (e->reason)
    {
    case VMM_EXIT_RESET:
      if (!s->quitting)
        {
          vmm_log_info ("resetting the machine");
          g_mutex_lock (&s->vm_lock);
          vmm_vm_destroy (s->vm);
          s->vm = NULL;
          g_mutex_unlock (&s->vm_lock);
          if (!start_vm (s, &error))
            fail (s, error->message);
          break;
        }
      G_GNUC_FALLTHROUGH;
    case VMM_EXIT_POWER_OFF:
    case VMM_EXIT_STOPPED:
    case VMM_EXIT_NONE:
      set_state (s, VIV_VMM_STATE_STOPPED);
      finish (s, VMM_SERVICE_EXIT_OK);
      break;
    case VMM_EXIT_ERROR:
      fail (s, e->message ? e->message : _("The virtual machine failed"));
      break;
    }
  g_free (e->message);
  g_free (e);
  return G_SOURCE_REMOVE;
}

static gboolean
update_uptime (gpointer data)
{
  Service *s = data;

  if (s->vm != NULL)
    viv_vmm1_set_uptime (s->iface, vmm_vm_uptime_ns (s->vm) / 1000000000u);
  return G_SOURCE_CONTINUE;
}

/* ---- methods --------------------------------------------------------------------- */

static gboolean
require_state (Service *s, GDBusMethodInvocation *invocation, const char *state)
{
  if (s->vm != NULL && g_strcmp0 (s->state, state) == 0)
    return TRUE;
  g_dbus_method_invocation_return_dbus_error (invocation, ERROR_WRONG_STATE,
    s->vm == NULL ? _("The machine is not running") : g_strcmp0 (state, VIV_VMM_STATE_RUNNING) == 0
                    ? _("The machine is not running") : _("The machine is not paused"));
  return FALSE;
}

static gboolean
handle_pause (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  Service *s = data;

  if (!require_state (s, invocation, VIV_VMM_STATE_RUNNING))
    return TRUE;
  vmm_vm_pause (s->vm);
  set_state (s, VIV_VMM_STATE_PAUSED);
  viv_vmm1_complete_pause (iface, invocation);
  return TRUE;
}

static gboolean
handle_resume (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  Service *s = data;

  if (!require_state (s, invocation, VIV_VMM_STATE_PAUSED))
    return TRUE;
  vmm_vm_resume (s->vm);
  set_state (s, VIV_VMM_STATE_RUNNING);
  viv_vmm1_complete_resume (iface, invocation);
  return TRUE;
}

static gboolean
handle_power_button (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  Service *s = data;

  /* Pressing it again while the guest shuts down is allowed. */
  if (g_strcmp0 (s->state, VIV_VMM_STATE_SHUTTING_DOWN) != 0 &&
      !require_state (s, invocation, VIV_VMM_STATE_RUNNING))
    return TRUE;
  vmm_vm_power_button (s->vm);
  set_state (s, VIV_VMM_STATE_SHUTTING_DOWN);
  viv_vmm1_complete_power_button (iface, invocation);
  return TRUE;
}

static gboolean
handle_power_off (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  Service *s = data;

  if (s->vm != NULL)
    vmm_vm_request_exit (s->vm, VMM_EXIT_STOPPED, "switched off");
  viv_vmm1_complete_power_off (iface, invocation);
  return TRUE;
}

static gboolean
handle_reset (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  Service *s = data;

  if (s->vm == NULL || s->finished)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_WRONG_STATE,
                                                  _("The machine is not running"));
      return TRUE;
    }
  vmm_vm_request_exit (s->vm, VMM_EXIT_RESET, NULL);
  viv_vmm1_complete_reset (iface, invocation);
  return TRUE;
}

static void
quit (Service *s)
{
  s->quitting = TRUE;
  if (s->vm != NULL)
    vmm_vm_request_exit (s->vm, VMM_EXIT_STOPPED, "quit");
  else if (!s->finished)
    finish (s, VMM_SERVICE_EXIT_OK);
}

static gboolean
handle_quit (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  quit (data);
  viv_vmm1_complete_quit (iface, invocation);
  return TRUE;
}

static gboolean
handle_open_serial (VivVmm1 *iface, GDBusMethodInvocation *invocation, GUnixFDList *unused,
                    gpointer data)
{
  Service *s = data;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  int pair[2];
  int ret;

  (void) unused;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED, g_strerror (errno));
      return TRUE;
    }
  fds = g_unix_fd_list_new ();
  if (g_unix_fd_list_append (fds, pair[1], &error) < 0)
    {
      close (pair[0]);
      close (pair[1]);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  close (pair[1]);
  ret = vmm_fanout_attach (&s->serial, pair[0]);   /* takes pair[0] */
  if (ret < 0)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED, g_strerror (-ret));
      return TRUE;
    }
  viv_vmm1_complete_open_serial (iface, invocation, fds, g_variant_new_handle (0));
  return TRUE;
}

static gboolean
on_unix_signal (gpointer data)
{
  Service *s = data;

  vmm_log_info ("stopping on a signal");
  quit (s);
  return G_SOURCE_CONTINUE;
}

/* ---- the D-Bus server --------------------------------------------------------------- */

/* Tools written for a message bus (gdbus call --address ...) greet the peer
 * with org.freedesktop.DBus.Hello and may add match rules. A peer-to-peer
 * server has no bus; these few answers let such tools talk to us. */
static const char bus_shim_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.DBus'>"
  "    <method name='Hello'><arg type='s' direction='out'/></method>"
  "    <method name='AddMatch'><arg type='s' direction='in'/></method>"
  "    <method name='RemoveMatch'><arg type='s' direction='in'/></method>"
  "    <method name='GetId'><arg type='s' direction='out'/></method>"
  "  </interface>"
  "</node>";

static void
bus_shim_call (GDBusConnection *connection, const char *sender, const char *path,
               const char *interface, const char *method, GVariant *parameters,
               GDBusMethodInvocation *invocation, gpointer data)
{
  (void) connection; (void) sender; (void) path; (void) interface; (void) parameters;
  (void) data;
  if (g_str_equal (method, "Hello"))
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", ":1.0"));
  else if (g_str_equal (method, "GetId"))
    g_dbus_method_invocation_return_value (invocation,
                                           g_variant_new ("(s)",
                                                          g_dbus_connection_get_guid (connection)));
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static const GDBusInterfaceVTable bus_shim_vtable = { .method_call = bus_shim_call };

static void
on_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished,
                      GError *error, gpointer data)
{
  Service *s = data;

  (void) remote_peer_vanished;
  (void) error;
  g_dbus_interface_skeleton_unexport_from_connection (G_DBUS_INTERFACE_SKELETON (s->iface),
                                                      connection);
  g_ptr_array_remove (s->connections, connection);
}

static gboolean
on_new_connection (GDBusServer *server, GDBusConnection *connection, gpointer data)
{
  Service *s = data;
  g_autoptr(GError) error = NULL;

  (void) server;
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (s->iface), connection,
                                         VIV_VMM1_OBJECT_PATH, &error))
    {
      vmm_log_warning ("cannot serve a client: %s", error->message);
      return FALSE;
    }
  if (s->bus_shim == NULL)
    s->bus_shim = g_dbus_node_info_new_for_xml (bus_shim_xml, NULL);
  if (s->bus_shim != NULL)
    g_dbus_connection_register_object (connection, "/org/freedesktop/DBus",
                                       s->bus_shim->interfaces[0], &bus_shim_vtable, NULL, NULL,
                                       NULL);
  g_ptr_array_add (s->connections, g_object_ref (connection));
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), s);
  return TRUE;
}

static gboolean
start_server (Service *s, GError **error)
{
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autofree char *address = NULL;
  g_autofree char *escaped = g_dbus_address_escape_value (s->socket_path);

  address = g_strdup_printf ("unix:path=%s", escaped);
  s->server = g_dbus_server_new_sync (address, G_DBUS_SERVER_FLAGS_AUTHENTICATION_REQUIRE_SAME_USER,
                                      guid, NULL, NULL, error);
  if (s->server == NULL)
    return FALSE;
  /* The folder is 0700 already; the socket itself is ours alone too. */
  if (chmod (s->socket_path, 0600) < 0)
    vmm_log_warning ("cannot make %s private: %s", s->socket_path, g_strerror (errno));
  g_signal_connect (s->server, "new-connection", G_CALLBACK (on_new_connection), s);
  g_dbus_server_start (s->server);
  return TRUE;
}

/* ---- set-up --------------------------------------------------------------------- */

/* Takes the machine's lock in the runtime folder: one helper per machine. A
 * socket left by a helper that died is removed. */
static int
take_lock (Service *s, GError **error)
{
  g_autofree char *dir = g_build_filename (g_get_user_runtime_dir (), "vivarium", NULL);
  g_autofree char *lock_name = g_strconcat (s->mc->uuid, ".lock", NULL);
  g_autofree char *sock_name = g_strconcat (s->mc->uuid, ".sock", NULL);
  char pid[32];
  int fd;

  if (!viv_file_make_private_dir (dir, error))
    return VMM_SERVICE_EXIT_FAILED;
  s->lock_path = g_build_filename (dir, lock_name, NULL);
  s->socket_path = g_build_filename (dir, sock_name, NULL);

  fd = open (s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _("Cannot open %s: %s"),
                   s->lock_path, g_strerror (saved));
      return VMM_SERVICE_EXIT_FAILED;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) < 0)
    {
      ssize_t n = pread (fd, pid, sizeof pid - 1, 0);
      pid[n > 0 ? n : 0] = '\0';
      g_strchomp (pid);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   _("The machine “%s” is already running (vivarium-vmm process %s)"),
                   s->mc->name, *pid ? pid : "?");
      close (fd);
      return VMM_SERVICE_EXIT_RUNNING;
    }
  s->lock_fd = fd;
  snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
  if (ftruncate (fd, 0) < 0 || pwrite (fd, pid, strlen (pid), 0) < 0)
    vmm_log_warning ("cannot record our pid in %s", s->lock_path);

  /* We hold the lock, so a socket there is a dead helper's. */
  if (g_unlink (s->socket_path) == 0)
    vmm_log_info ("removed a stale socket %s", s->socket_path);
  return VMM_SERVICE_EXIT_OK;
}

/* machine.json -> the engine's configuration; serial output goes to the
 * clients of OpenSerial. */
static gboolean
build_config (Service *s, GError **error)
{
  if (!vmm_config_from_machine (&s->config, s->mc, s->opts.machine_dir, error))
    return FALSE;
  s->config.kvm_path = s->opts.kvm_path;
  s->config.serial_output = serial_output;
  s->config.serial_data = s;
  return TRUE;
}

static int
error_status (const GError *error)
{
  if (g_error_matches (error, VMM_ERROR, VMM_ERROR_NO_KVM))
    return VMM_SERVICE_EXIT_NO_KVM;
  return VMM_SERVICE_EXIT_FAILED;
}

int
vmm_service_run (const struct vmm_service_options *options)
{
  Service service = { 0 }, *s = &service;
  g_autoptr(GError) error = NULL;
  g_autofree char *log_dir = NULL;
  int status;

  s->opts = *options;
  s->lock_fd = -1;
  s->status = VMM_SERVICE_EXIT_OK;
  s->connections = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_init (&s->vm_lock);

  /* 1. The description: refused, naming the field, before anything else. */
  s->mc = viv_machine_config_load_dir (options->machine_dir, &error);
  if (s->mc == NULL ||
      !viv_machine_config_validate_files (s->mc, options->machine_dir, &error) ||
      !build_config (s, &error))
    {
      g_printerr (_("vivarium-vmm: %s: %s\n"), options->machine_dir, error->message);
      status = VMM_SERVICE_EXIT_FAILED;
      goto out;
    }

  /* 2. One helper per machine. */
  status = take_lock (s, &error);
  if (status != VMM_SERVICE_EXIT_OK)
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      goto out;
    }

  /* 3. The service object, and the serial fan-out on its own loop. */
  s->iface = viv_vmm1_skeleton_new ();
  viv_vmm1_set_name (s->iface, s->mc->name);
  viv_vmm1_set_uuid (s->iface, s->mc->uuid);
  viv_vmm1_set_memory (s->iface, s->mc->memory);
  viv_vmm1_set_cpus (s->iface, s->mc->cpus);
  viv_vmm1_set_pid (s->iface, (guint) getpid ());
  g_signal_connect (s->iface, "handle-pause", G_CALLBACK (handle_pause), s);
  g_signal_connect (s->iface, "handle-resume", G_CALLBACK (handle_resume), s);
  g_signal_connect (s->iface, "handle-power-button", G_CALLBACK (handle_power_button), s);
  g_signal_connect (s->iface, "handle-power-off", G_CALLBACK (handle_power_off), s);
  g_signal_connect (s->iface, "handle-reset", G_CALLBACK (handle_reset), s);
  g_signal_connect (s->iface, "handle-quit", G_CALLBACK (handle_quit), s);
  g_signal_connect (s->iface, "handle-open-serial", G_CALLBACK (handle_open_serial), s);
  s->io_loop_inited = vmm_loop_init (&s->io_loop) == 0;
  if (!s->io_loop_inited || vmm_loop_start (&s->io_loop) < 0)
    {
      g_printerr ("vivarium-vmm: %s\n", _("Cannot start the console loop"));
      status = VMM_SERVICE_EXIT_FAILED;
      goto out;
    }
  s->io_loop_ready = TRUE;
  vmm_fanout_init (&s->serial, &s->io_loop, serial_input, s);

  /* 4. The control socket, at once: clients see "starting" while the
   * machine is built. */
  if (options->verbose)
    vmm_log_set_level (VMM_LOG_DEBUG);
  s->loop = g_main_loop_new (NULL, FALSE);
  set_state (s, VIV_VMM_STATE_STARTING);
  if (!start_server (s, &error))
    {
      g_printerr ("vivarium-vmm: %s: %s\n", s->socket_path, error->message);
      status = VMM_SERVICE_EXIT_FAILED;
      goto out;
    }

  /* 5. The machine. Until it exists, errors go to stderr only: a failed
   * start changes nothing in the machine's folder. */
  if (!start_vm (s, &error))
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      status = error_status (error);
      goto out;
    }

  /* 6. From here on the log is DIR/logs/vmm.log. */
  log_dir = g_build_filename (options->machine_dir, "logs", NULL);
  if (vmm_log_open_file (log_dir, "vmm.log", LOG_MAX_BYTES, LOG_KEEP) < 0)
    vmm_log_warning ("cannot open %s/vmm.log; logging to stderr", log_dir);
  vmm_log_info ("machine “%s” (%s): %llu MiB, %u CPUs, running", s->mc->name, s->mc->uuid,
                (unsigned long long) (s->mc->memory >> 20), s->mc->cpus);

  s->uptime_id = g_timeout_add_seconds (1, update_uptime, s);
  s->signal_ids[0] = g_unix_signal_add (SIGTERM, on_unix_signal, s);
  s->signal_ids[1] = g_unix_signal_add (SIGINT, on_unix_signal, s);
  s->signal_ids[2] = g_unix_signal_add (SIGHUP, on_unix_signal, s);

  g_main_loop_run (s->loop);
  status = s->status;

out:
  for (unsigned i = 0; i < G_N_ELEMENTS (s->signal_ids); i++)
    g_clear_handle_id (&s->signal_ids[i], g_source_remove);
  g_clear_handle_id (&s->uptime_id, g_source_remove);
  if (s->server != NULL)
    {
      g_dbus_server_stop (s->server);
      g_clear_object (&s->server);
    }
  for (unsigned i = 0; i < s->connections->len; i++)
    g_dbus_connection_close_sync (s->connections->pdata[i], NULL, NULL);
  g_ptr_array_unref (s->connections);
  if (s->socket_path != NULL && s->lock_fd >= 0)
    g_unlink (s->socket_path);
  g_mutex_lock (&s->vm_lock);
  vmm_vm_destroy (s->vm);
  s->vm = NULL;
  g_mutex_unlock (&s->vm_lock);
  if (s->io_loop_ready)
    {
      vmm_loop_stop (&s->io_loop);
      vmm_fanout_destroy (&s->serial);
    }
  if (s->io_loop_inited)
    vmm_loop_destroy (&s->io_loop);
  if (s->lock_fd >= 0)
    close (s->lock_fd);
  g_clear_object (&s->iface);
  g_clear_pointer (&s->bus_shim, g_dbus_node_info_unref);
  g_clear_pointer (&s->loop, g_main_loop_unref);
  g_clear_pointer (&s->mc, viv_machine_config_free);
  vmm_config_clear (&s->config);
  g_free (s->socket_path);
  g_free (s->lock_path);
  g_mutex_clear (&s->vm_lock);
  vmm_log_close_file ();
  return status;
}
