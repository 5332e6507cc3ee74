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
#include <dirent.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "block/block.h"
#include "control/disk-errors.h"
#include "devices/fanout.h"
#include "log.h"
#include "viv-file.h"
#include "viv-machine-config.h"
#include "viv-vmm1.h"
#include "viv-vmm1-generated.h"
#include "vm.h"
#include "vm-snapshot.h"
#include "viv-snapshot-index.h"

#define ERROR_WRONG_STATE "org.vivarium.Vmm1.Error.WrongState"
#define ERROR_FAILED      "org.vivarium.Vmm1.Error.Failed"
#define ERROR_NO_DISPLAY  "org.vivarium.Vmm1.Error.NoDisplay"
#define ERROR_NO_SUCH_DRIVE "org.vivarium.Vmm1.Error.NoSuchDrive"
#define ERROR_DRIVE_FULL    "org.vivarium.Vmm1.Error.DriveFull"
#define ERROR_MEDIUM_LOCKED "org.vivarium.Vmm1.Error.MediumLocked"
#define ERROR_NO_SUCH_SNAPSHOT "org.vivarium.Vmm1.Error.NoSuchSnapshot"
#define ERROR_BUSY        "org.vivarium.Vmm1.Error.Busy"
#define LOG_MAX_BYTES    (4 * 1024 * 1024)
#define LOG_KEEP         4
#define LISTEN_BACKLOG   64
#define ACCEPT_RETRY_MS  500    /* after accept failed for want of descriptors */
#define FLUSH_TIMEOUT_MS 2000   /* on the way out, for clients to take the last signals */
#define MAX_CHAIN        1024   /* backing images counted per disk */
/* The thumbnail is written this long after the screen first changes
 * (spice.c says when, once per thumbnail): a one-shot timer, so a still
 * screen costs nothing, and a busy one a write every few seconds. */
#define THUMBNAIL_SECONDS 5

/* Descriptors, for the budget checked before the machine is built: the
 * helper's own (GLib, KVM and the VM, the loops, the log, the lock and the
 * listening socket), each vCPU's, each disk's (image, I/O thread, io_uring,
 * eventfds) plus one per backing image, and what clients may hold. */
#define FDS_BASE         25
#define FDS_PER_CPU      2
#define FDS_PER_DISK     10
/* The SPICE server's thread and wake-ups, its unix socket and a few
 * clients' channel connections */
#define FDS_DISPLAY      32
#define FDS_CLIENTS      (VMM_SERVICE_MAX_CLIENTS + VMM_SERVICE_MAX_PENDING + \
                          VMM_FANOUT_MAX_CLIENTS + 4)

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
  /* A snapshot is being taken, reverted to or deleted on a worker thread:
   * the machine is not destroyed meanwhile (a stop waits in stop_deferred) */
  gboolean snapshot_busy;
  gpointer stop_deferred;

  VivVmm1 *iface;
  GPtrArray *connections;        /* Client, authenticated */
  GPtrArray *pending;            /* Pending, still authenticating */
  int listen_fd;
  char *guid;
  guint accept_id;               /* watching listen_fd */
  guint accept_retry_id;         /* or waiting to look again */
  gboolean accept_failing;
  guint auth_timeout_ms;
  guint quit_id;
  GDBusNodeInfo *bus_shim;
  char *socket_path;
  char *lock_path;
  int lock_fd;

  struct vmm_loop io_loop;       /* for the serial clients */
  gboolean io_loop_inited, io_loop_ready;
  struct vmm_fanout serial;

  guint uptime_id;
  guint signal_ids[3];

  char *display_path;            /* ListenDisplay's socket, once asked for */
  char *thumbnail_path;          /* DIR/thumbnail.png */
  guint thumbnail_id;
  gboolean thumbnail_failing;    /* logged once until a write works again */

  /* What the CD-ROM drives hold now; config.cdroms[i].path points here,
   * so that a Reset builds the machine with the discs of the moment. */
  char *media_paths[VMM_MAX_CDROMS];
} Service;

typedef struct {
  Service *s;
  unsigned drive;
  bool inserted;
} MediumEvent;

typedef struct {
  Service *s;
  char address[16];
} LeaseEvent;

typedef struct {
  Service *s;
  enum vmm_exit_reason reason;
  char *message;
} StopEvent;

/* An authenticated client. WRITTEN is the serial of the last message the
 * connection's worker thread took off its queue to send (set by an
 * outgoing filter, which runs there); the last serial the main thread gave
 * a message, minus that, is how far the client is behind. */
typedef struct {
  GDBusConnection *connection;
  gint *written;                 /* owned by the filter */
  guint filter_id, closed_id;
  gboolean dropped;
} Client;

/* A connection still authenticating (on a GIO worker thread) */
typedef struct {
  Service *s;
  GSocket *socket;
  GCancellable *cancellable;
  guint timeout_id;
} Pending;

static void check_backlogs (Service *s);

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
  check_backlogs (s);
}

static GSocket *
client_socket (GDBusConnection *connection)
{
  GIOStream *stream = g_dbus_connection_get_stream (connection);

  return G_IS_SOCKET_CONNECTION (stream)
           ? g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream)) : NULL;
}

/* Shutting the socket down fails the write the worker is stuck in and ends
 * the connection: "closed" follows, and what was queued for it is freed. */
static void
drop_client (Client *c)
{
  GSocket *socket = client_socket (c->connection);

  c->dropped = TRUE;
  if (socket != NULL)
    g_socket_shutdown (socket, TRUE, TRUE, NULL);
}

/* A client that stopped reading: messages queue up for it without end (a
 * signal a second from Uptime alone). Drop it once it is too far behind,
 * as the serial fan-out drops a console reader that does not keep up. */
static void
check_backlogs (Service *s)
{
  for (guint i = 0; i < s->connections->len; i++)
    {
      Client *c = s->connections->pdata[i];
      guint32 queued = g_dbus_connection_get_last_serial (c->connection);
      guint32 written = (guint32) g_atomic_int_get (c->written);
      gint32 behind = (gint32) (queued - written);

      if (c->dropped || behind <= VMM_SERVICE_MAX_BEHIND)
        continue;
      vmm_log_warning ("dropping a client that is %d messages behind: it does not read", behind);
      drop_client (c);
    }
}

static void
on_flushed (GObject *source, GAsyncResult *result, gpointer data)
{
  guint *n_flushing = data;

  g_dbus_connection_flush_finish (G_DBUS_CONNECTION (source), result, NULL);
  (*n_flushing)--;
}

static gboolean
expire_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Pushes what is queued to every client, for a while: a client that does
 * not read is dropped rather than waited for. */
static void
flush_clients (Service *s)
{
  guint *n_flushing = g_new0 (guint, 1);
  gboolean expired = FALSE;
  guint timeout_id;

  for (guint i = 0; i < s->connections->len; i++)
    {
      Client *c = s->connections->pdata[i];

      (*n_flushing)++;
      g_dbus_connection_flush (c->connection, NULL, on_flushed, n_flushing);
    }
  timeout_id = g_timeout_add (FLUSH_TIMEOUT_MS, expire_cb, &expired);
  while (*n_flushing > 0 && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timeout_id);
  if (*n_flushing == 0)
    {
      g_free (n_flushing);
      return;
    }
  /* A flush still waits on a client that does not read: ending its
   * connection ends the flush. */
  for (guint i = 0; i < s->connections->len; i++)
    drop_client (s->connections->pdata[i]);
  expired = FALSE;
  timeout_id = g_timeout_add (FLUSH_TIMEOUT_MS, expire_cb, &expired);
  while (*n_flushing > 0 && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timeout_id);
  if (*n_flushing == 0)
    g_free (n_flushing);
  /* else a callback may still come: N_FLUSHING stays allocated for it */
}

/* At low priority, after the skeleton's own idle has sent the last
 * PropertiesChanged: push what is queued to every client, then leave. */
static gboolean
quit_cb (gpointer data)
{
  Service *s = data;

  s->quit_id = 0;
  flush_clients (s);
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
  s->quit_id = g_idle_add_full (G_PRIORITY_LOW, quit_cb, s, NULL);
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
  check_backlogs (s);
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

/* ---- CD-ROM drives ------------------------------------------------------------------ */

/* The Media property from config.cdroms: (path or "", inserted) per drive.
 * The skeleton announces it with PropertiesChanged when it differs. */
static void
update_media (Service *s)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sb)"));
  for (unsigned i = 0; i < s->config.n_cdroms; i++)
    {
      const char *path = s->config.cdroms[i].path;

      g_variant_builder_add (&builder, "(sb)", path != NULL ? path : "", path != NULL);
    }
  viv_vmm1_set_media (s->iface, g_variant_builder_end (&builder));
}

/* Takes PATH (NULL: the drive is empty). */
static void
set_medium (Service *s, unsigned drive, char *path)
{
  g_assert (drive < s->config.n_cdroms);
  g_free (s->media_paths[drive]);
  s->media_paths[drive] = path;
  s->config.cdroms[drive].path = path;
  update_media (s);
  check_backlogs (s);
}

/* After a revert the drives hold the snapshot's discs (devices/ahci.h):
 * the Media property, and so machine.json, follows as after InsertMedium */
static void
follow_media (Service *s)
{
  if (s->vm == NULL || s->vm->ahci == NULL)
    return;
  for (unsigned i = 0; i < s->config.n_cdroms; i++)
    {
      char *path = vmm_ahci_dup_medium_path (s->vm->ahci, s->vm->cdrom_port[i]);

      if (g_strcmp0 (path, s->media_paths[i]) == 0)
        {
          g_free (path);
          continue;
        }
      vmm_log_info ("CD-ROM drive %u holds %s again, as in the snapshot", i,
                    path != NULL ? path : "no disc");
      set_medium (s, i, path);
    }
}

static gboolean
on_medium_main (gpointer data)
{
  MediumEvent *e = data;
  Service *s = e->s;

  /* A guest that closes the tray again finds the drive as it was. */
  if (!e->inserted && e->drive < s->config.n_cdroms && s->media_paths[e->drive] != NULL)
    {
      vmm_log_info ("the guest ejected the disc in CD-ROM drive %u", e->drive);
      set_medium (s, e->drive, NULL);
    }
  g_free (e);
  return G_SOURCE_REMOVE;
}

/* On the controller's thread: the guest ejected a disc. Only queue. */
static void
on_medium (void *data, unsigned drive, bool inserted)
{
  MediumEvent *e = g_new0 (MediumEvent, 1);

  e->s = data;
  e->drive = drive;
  e->inserted = inserted;
  g_main_context_invoke (NULL, on_medium_main, e);
}

static gboolean
on_lease_main (gpointer data)
{
  LeaseEvent *e = data;
  const char *const addresses[] = { e->address, NULL };

  if (e->s->vm != NULL)
    viv_vmm1_set_guest_addresses (e->s->iface, addresses);
  g_free (e);
  return G_SOURCE_REMOVE;
}

/* On the network's thread: the guest was leased an address. Only queue. */
static void
on_lease (struct vmm_vm *vm, const char *address, void *data)
{
  LeaseEvent *e = g_new0 (LeaseEvent, 1);

  (void) vm;
  e->s = data;
  g_strlcpy (e->address, address, sizeof e->address);
  g_main_context_invoke (NULL, on_lease_main, e);
}

/* Builds and starts the VM; on failure sets ERROR. AT_LAUNCH: the main loop
 * does not run yet. */
static void on_display_changed (void *data);

static gboolean
start_vm (Service *s, gboolean at_launch, GError **error)
{
  struct vmm_vm *vm;
  int ret;

  set_state (s, VIV_VMM_STATE_STARTING);
  /* a new machine asks for its address again */
  viv_vmm1_set_guest_addresses (s->iface, (const char *const[]) { NULL });
  vm = vmm_vm_create (&s->config, error);
  if (vm == NULL)
    return FALSE;
  if (at_launch)
    {
      /* A stop signal that came while the machine was being built is
       * taken now, and the machine never runs. Not further: quit() queues
       * the loop's end, which must come once the loop runs. */
      while (!s->quitting && g_main_context_iteration (NULL, FALSE))
        ;
      if (s->quitting)
        {
          vmm_vm_destroy (vm);
          return TRUE;
        }
    }
  /* A new machine has a new display server: the socket a client asked
   * for is made again (a Reset keeps it). */
  if (s->display_path != NULL && vmm_vm_get_spice (vm) != NULL)
    {
      g_autoptr(GError) local = NULL;

      if (!vmm_spice_listen_unix (vmm_vm_get_spice (vm), s->display_path, &local))
        vmm_log_warning ("%s", local->message);
    }
  vmm_vm_set_callbacks (vm, on_vm_exit, on_vm_panic, s);
  vmm_vm_set_disk_error_fn (vm, vmm_disk_error_to_dbus, s->iface);
  vmm_vm_set_display_changed_fn (vm, on_display_changed, s);
  if (s->config.n_cdroms > 0)
    vmm_vm_set_medium_fn (vm, on_medium, s);
  vmm_vm_set_lease_fn (vm, on_lease, s);
  g_mutex_lock (&s->vm_lock);
  s->vm = vm;
  g_mutex_unlock (&s->vm_lock);
  /* Started from a snapshot: its state replaces the boot's before a vCPU runs */
  if (at_launch && s->opts.restore_id != NULL)
    {
      if (!vmm_vm_snapshot_revert (vm, s->opts.machine_dir, s->opts.restore_id, error))
        return FALSE;
      vmm_log_info ("started from snapshot %s", s->opts.restore_id);
      follow_media (s);
      viv_vmm1_emit_snapshots_changed (s->iface);
    }
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

  if (s->snapshot_busy)
    {
      /* the worker uses the machine: this comes back when it is done */
      s->stop_deferred = e;
      return G_SOURCE_REMOVE;
    }
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
          if (!start_vm (s, FALSE, &error))
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
  check_backlogs (s);
  return G_SOURCE_CONTINUE;
}

/* ---- methods --------------------------------------------------------------------- */

/* A method call is carried out when the helper reads it, however late. A
 * client whose call timed out (the helper was stopped with SIGSTOP, or
 * very busy) cannot tell whether it ran: after SIGCONT a queued Pause
 * still pauses the machine, and the client learns so from StateChanged and
 * the State property, which it must follow rather than assume a timed-out
 * call failed. D-Bus messages carry no deadline, so the helper cannot know
 * which calls their callers gave up on; dropping calls it judged stale
 * would leave state the client did ask for undone just as silently. */

static gboolean
require_state (Service *s, GDBusMethodInvocation *invocation, const char *state)
{
  if (s->snapshot_busy)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_BUSY,
        _("A snapshot is being taken or reverted to; try again when it is done"));
      return FALSE;
    }
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
    {
      set_state (s, VIV_VMM_STATE_STOPPED);
      finish (s, VMM_SERVICE_EXIT_OK);
    }
}

static gboolean
handle_quit (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  quit (data);
  viv_vmm1_complete_quit (iface, invocation);
  return TRUE;
}

/* ---- snapshots ----------------------------------------------------------------------- */

typedef enum { SNAP_TAKE, SNAP_REVERT, SNAP_DELETE, SNAP_RENAME } SnapOp;

typedef struct {
  Service *s;
  SnapOp op;
  char *id, *name;
  GDBusMethodInvocation *invocation;
} SnapJob;

static void
snap_job_free (SnapJob *job)
{
  g_free (job->id);
  g_free (job->name);
  g_clear_object (&job->invocation);
  g_free (job);
}

/* On a worker thread: the machine pauses for it, the main loop goes on */
static void
snap_job_run (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  SnapJob *job = data;
  Service *s = job->s;
  g_autoptr(GError) error = NULL;
  char *id = NULL;
  gboolean ok = FALSE;

  (void) source;
  (void) cancellable;
  switch (job->op)
    {
    case SNAP_TAKE:
      id = vmm_vm_snapshot_take (s->vm, s->opts.machine_dir, job->name, &error);
      ok = id != NULL;
      break;
    case SNAP_REVERT:
      ok = vmm_vm_snapshot_revert (s->vm, s->opts.machine_dir, job->id, &error);
      break;
    case SNAP_DELETE:
      ok = vmm_vm_snapshot_delete (s->vm, s->opts.machine_dir, job->id, &error);
      break;
    case SNAP_RENAME:
      ok = vmm_vm_snapshot_rename (s->opts.machine_dir, job->id, job->name, &error);
      break;
    }
  if (!ok)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, id ? id : g_strdup (""), g_free);
}

static void
snap_job_done (GObject *source, GAsyncResult *result, gpointer data)
{
  SnapJob *job = g_task_get_task_data (G_TASK (result));
  Service *s = job->s;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = g_task_propagate_pointer (G_TASK (result), &error);

  (void) source;
  (void) data;
  s->snapshot_busy = FALSE;
  if (s->stop_deferred != NULL)
    on_stop_main (g_steal_pointer (&s->stop_deferred));
  if (id == NULL)
    {
      const char *name = g_error_matches (error, VIV_SNAPSHOT_INDEX_ERROR,
                                          VIV_SNAPSHOT_INDEX_ERROR_NOT_FOUND)
                         ? ERROR_NO_SUCH_SNAPSHOT : ERROR_FAILED;

      vmm_log_warning ("snapshot: %s", error->message);
      g_dbus_method_invocation_return_dbus_error (job->invocation, name, error->message);
      return;
    }
  switch (job->op)
    {
    case SNAP_TAKE:
      vmm_log_info ("took snapshot %s, “%s”", id, job->name);
      viv_vmm1_complete_take_snapshot (s->iface, g_steal_pointer (&job->invocation), id);
      break;
    case SNAP_REVERT:
      vmm_log_info ("went back to snapshot %s", job->id);
      follow_media (s);
      if (s->vm != NULL)         /* from there, as it was: paused or running */
        set_state (s, vmm_vm_is_paused (s->vm) ? VIV_VMM_STATE_PAUSED : VIV_VMM_STATE_RUNNING);
      viv_vmm1_complete_revert_snapshot (s->iface, g_steal_pointer (&job->invocation));
      break;
    case SNAP_DELETE:
      vmm_log_info ("deleted snapshot %s", job->id);
      viv_vmm1_complete_delete_snapshot (s->iface, g_steal_pointer (&job->invocation));
      break;
    case SNAP_RENAME:
      viv_vmm1_complete_rename_snapshot (s->iface, g_steal_pointer (&job->invocation));
      break;
    }
  viv_vmm1_emit_snapshots_changed (s->iface);
}

static gboolean
snap_start (Service *s, GDBusMethodInvocation *invocation, SnapOp op, const char *id,
            const char *name)
{
  g_autoptr(GTask) task = NULL;
  SnapJob *job;

  if (s->vm == NULL || s->finished || s->quitting)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_WRONG_STATE,
                                                  _("The machine is not running"));
      return TRUE;
    }
  if (s->snapshot_busy)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_BUSY,
        _("Another snapshot is being taken, reverted to or deleted; try again when it is done"));
      return TRUE;
    }
  s->snapshot_busy = TRUE;
  job = g_new0 (SnapJob, 1);
  job->s = s;
  job->op = op;
  job->id = g_strdup (id);
  job->name = g_strdup (name);
  job->invocation = g_object_ref (invocation);
  task = g_task_new (NULL, NULL, snap_job_done, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) snap_job_free);
  g_task_run_in_thread (task, snap_job_run);
  return TRUE;
}

static gboolean
handle_take_snapshot (VivVmm1 *iface, GDBusMethodInvocation *invocation, const char *name,
                      gpointer data)
{
  (void) iface;
  return snap_start (data, invocation, SNAP_TAKE, NULL, name);
}

static gboolean
handle_revert_snapshot (VivVmm1 *iface, GDBusMethodInvocation *invocation, const char *id,
                        gpointer data)
{
  (void) iface;
  return snap_start (data, invocation, SNAP_REVERT, id, NULL);
}

static gboolean
handle_delete_snapshot (VivVmm1 *iface, GDBusMethodInvocation *invocation, const char *id,
                        gpointer data)
{
  (void) iface;
  return snap_start (data, invocation, SNAP_DELETE, id, NULL);
}

static gboolean
handle_rename_snapshot (VivVmm1 *iface, GDBusMethodInvocation *invocation, const char *id,
                        const char *name, gpointer data)
{
  (void) iface;
  return snap_start (data, invocation, SNAP_RENAME, id, name);
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

/* The running machine's display server; or NULL, having answered
 * NoDisplay or WrongState. */
static struct vmm_spice *
require_display (Service *s, GDBusMethodInvocation *invocation)
{
  if (s->config.display.kind == VMM_DISPLAY_NONE)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NO_DISPLAY,
                                                  _("This machine has no display"));
      return NULL;
    }
  if (s->vm == NULL || s->finished || vmm_vm_get_spice (s->vm) == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_WRONG_STATE,
                                                  _("The machine is not running"));
      return NULL;
    }
  return vmm_vm_get_spice (s->vm);
}

static gboolean
handle_open_display (VivVmm1 *iface, GDBusMethodInvocation *invocation, GUnixFDList *unused,
                     gpointer data)
{
  Service *s = data;
  struct vmm_spice *spice = require_display (s, invocation);
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  (void) unused;
  if (spice == NULL)
    return TRUE;
  fd = vmm_spice_connect_client (spice, &error);
  if (fd < 0)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED, error->message);
      return TRUE;
    }
  fds = g_unix_fd_list_new ();
  if (g_unix_fd_list_append (fds, fd, &error) < 0)
    {
      close (fd);
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED, error->message);
      return TRUE;
    }
  close (fd);
  viv_vmm1_complete_open_display (iface, invocation, fds, g_variant_new_handle (0));
  return TRUE;
}

/* $XDG_RUNTIME_DIR/vivarium/<uuid>.spice, made once and kept */
static gboolean
handle_listen_display (VivVmm1 *iface, GDBusMethodInvocation *invocation, gpointer data)
{
  Service *s = data;
  struct vmm_spice *spice = require_display (s, invocation);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;

  if (spice == NULL)
    return TRUE;
  if (s->display_path == NULL)
    {
      name = g_strconcat (s->mc->uuid, ".spice", NULL);
      path = g_build_filename (g_get_user_runtime_dir (), "vivarium", name, NULL);
      if (!vmm_spice_listen_unix (spice, path, &error))
        {
          g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED, error->message);
          return TRUE;
        }
      vmm_log_info ("display clients may connect to spice+unix://%s", path);
      s->display_path = g_steal_pointer (&path);
    }
  viv_vmm1_complete_listen_display (iface, invocation, s->display_path);
  return TRUE;
}

/* THUMBNAIL_SECONDS after the screen changed: DIR/thumbnail.png. A
 * failed write is tried again as long as it fails. */
/* The machine exists (running or paused) and DRIVE is one of its CD-ROM
 * drives; else the call is answered with the error. */
static gboolean
require_drive (Service *s, GDBusMethodInvocation *invocation, guint drive)
{
  if (s->vm == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_WRONG_STATE,
                                                  _("The machine is not running"));
      return FALSE;
    }
  if (drive >= s->config.n_cdroms)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NO_SUCH_DRIVE,
        s->config.n_cdroms == 0 ? _("The machine has no CD-ROM drive")
                                : _("The machine has no such CD-ROM drive"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
handle_eject_medium (VivVmm1 *iface, GDBusMethodInvocation *invocation, guint drive,
                     gboolean force, gpointer data)
{
  Service *s = data;
  int ret;

  if (!require_drive (s, invocation, drive))
    return TRUE;
  ret = vmm_vm_eject_medium (s->vm, drive, force);
  switch (ret)
    {
    case 0:
      if (s->media_paths[drive] != NULL)
        vmm_log_info ("ejected the disc in CD-ROM drive %u%s", drive, force ? " (forced)" : "");
      set_medium (s, drive, NULL);
      viv_vmm1_complete_eject_medium (iface, invocation);
      break;
    case -EBUSY:
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_MEDIUM_LOCKED,
        _("The guest is using the disc; it was asked to release it"));
      break;
    case -ENODEV:
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_NO_SUCH_DRIVE,
                                                  _("The machine has no such CD-ROM drive"));
      break;
    default:
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED, g_strerror (-ret));
      break;
    }
  return TRUE;
}

static gboolean
handle_insert_medium (VivVmm1 *iface, GDBusMethodInvocation *invocation, guint drive,
                      const char *path, gpointer data)
{
  Service *s = data;
  g_autofree char *resolved = NULL;
  g_autoptr(GError) error = NULL;

  if (!require_drive (s, invocation, drive))
    return TRUE;
  if (s->media_paths[drive] != NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_DRIVE_FULL,
        _("The CD-ROM drive holds a disc; eject it first"));
      return TRUE;
    }
  if (path[0] == '\0')
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED,
                                                  _("No disc image was given"));
      return TRUE;
    }
  resolved = viv_machine_config_resolve_path (s->opts.machine_dir, path);
  if (!vmm_vm_insert_medium (s->vm, drive, resolved, &error))
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_FAILED, error->message);
      return TRUE;
    }
  vmm_log_info ("inserted %s in CD-ROM drive %u", resolved, drive);
  set_medium (s, drive, g_steal_pointer (&resolved));
  viv_vmm1_complete_insert_medium (iface, invocation);
  return TRUE;
}

static gboolean
update_thumbnail (gpointer data)
{
  Service *s = data;
  g_autoptr(GError) error = NULL;
  int ret;

  if (s->vm == NULL || vmm_vm_get_spice (s->vm) == NULL || s->thumbnail_path == NULL)
    {
      s->thumbnail_id = 0;
      return G_SOURCE_REMOVE;
    }
  ret = vmm_spice_write_thumbnail_if_changed (vmm_vm_get_spice (s->vm), s->thumbnail_path,
                                              &error);
  if (ret < 0 && !s->thumbnail_failing)
    vmm_log_warning ("cannot write the thumbnail: %s", error->message);
  s->thumbnail_failing = ret < 0;
  if (ret < 0)
    return G_SOURCE_CONTINUE;
  s->thumbnail_id = 0;
  return G_SOURCE_REMOVE;
}

/* On the main thread: the screen changed, a thumbnail is due */
static gboolean
arm_thumbnail (gpointer data)
{
  Service *s = data;

  if (s->thumbnail_id == 0 && !s->quitting)
    s->thumbnail_id = g_timeout_add_seconds (THUMBNAIL_SECONDS, update_thumbnail, s);
  return G_SOURCE_REMOVE;
}

/* From the display device's thread (vmm_spice_set_changed_fn) */
static void
on_display_changed (void *data)
{
  g_idle_add (arm_thumbnail, data);
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
client_free (gpointer data)
{
  Client *c = data;

  g_signal_handler_disconnect (c->connection, c->closed_id);
  g_dbus_connection_remove_filter (c->connection, c->filter_id);
  g_object_unref (c->connection);
  g_free (c);
}

/* On the connection's worker thread, as each message leaves its queue */
static GDBusMessage *
outgoing_filter (GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
                 gpointer data)
{
  (void) connection;
  if (!incoming)
    g_atomic_int_set ((gint *) data, (gint) g_dbus_message_get_serial (message));
  return message;
}

static void resume_accepting (Service *s);

static void
on_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished,
                      GError *error, gpointer data)
{
  Service *s = data;

  (void) remote_peer_vanished;
  (void) error;
  g_dbus_interface_skeleton_unexport_from_connection (G_DBUS_INTERFACE_SKELETON (s->iface),
                                                      connection);
  for (guint i = 0; i < s->connections->len; i++)
    if (((Client *) s->connections->pdata[i])->connection == connection)
      {
        g_ptr_array_remove_index_fast (s->connections, i);
        break;
      }
  resume_accepting (s);
}

static void
add_client (Service *s, GDBusConnection *connection)
{
  g_autoptr(GError) error = NULL;
  Client *c;

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (s->iface), connection,
                                         VIV_VMM1_OBJECT_PATH, &error))
    {
      vmm_log_warning ("cannot serve a client: %s", error->message);
      g_dbus_connection_close (connection, NULL, NULL, NULL);
      return;
    }
  if (s->bus_shim == NULL)
    s->bus_shim = g_dbus_node_info_new_for_xml (bus_shim_xml, NULL);
  if (s->bus_shim != NULL)
    g_dbus_connection_register_object (connection, "/org/freedesktop/DBus",
                                       s->bus_shim->interfaces[0], &bus_shim_vtable, NULL, NULL,
                                       NULL);
  c = g_new0 (Client, 1);
  c->connection = g_object_ref (connection);
  c->written = g_new0 (gint, 1);
  c->filter_id = g_dbus_connection_add_filter (connection, outgoing_filter, c->written, g_free);
  c->closed_id = g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), s);
  g_ptr_array_add (s->connections, c);
  g_dbus_connection_start_message_processing (connection);
}

static void
pending_free (Pending *p)
{
  g_clear_handle_id (&p->timeout_id, g_source_remove);
  g_object_unref (p->cancellable);
  g_object_unref (p->socket);
  g_free (p);
}

/* A peer that does not finish authenticating would hold its thread and
 * descriptor forever. */
static gboolean
on_auth_timeout (gpointer data)
{
  Pending *p = data;

  p->timeout_id = 0;
  vmm_log_debug ("closing a connection that did not authenticate in time");
  g_cancellable_cancel (p->cancellable);
  g_socket_shutdown (p->socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_auth_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Pending *p = data;
  Service *s = p->s;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = g_dbus_connection_new_finish (result, &error);

  (void) source;
  g_ptr_array_remove_fast (s->pending, p);
  pending_free (p);
  if (connection == NULL)
    vmm_log_debug ("a client did not authenticate: %s", error->message);
  else if (s->finished)
    g_dbus_connection_close (connection, NULL, NULL, NULL);
  else
    add_client (s, connection);
  resume_accepting (s);
}

/* Authenticates FD (taken) on a GIO worker thread, for at most the
 * timeout; the peer must be our user. */
static void
begin_auth (Service *s, int fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, &error);
  g_autoptr(GSocketConnection) stream = NULL;
  Pending *p;

  if (socket == NULL)
    {
      vmm_log_warning ("cannot serve a client: %s", error->message);
      close (fd);
      return;
    }
  stream = g_socket_connection_factory_create_connection (socket);
  p = g_new0 (Pending, 1);
  p->s = s;
  p->socket = g_object_ref (socket);
  p->cancellable = g_cancellable_new ();
  p->timeout_id = g_timeout_add (s->auth_timeout_ms, on_auth_timeout, p);
  g_ptr_array_add (s->pending, p);
  g_dbus_connection_new (G_IO_STREAM (stream), s->guid,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER |
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_REQUIRE_SAME_USER |
                         G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
                         NULL, p->cancellable, on_auth_done, p);
}

static gboolean
at_capacity (Service *s)
{
  return s->pending->len >= VMM_SERVICE_MAX_PENDING ||
         s->pending->len + s->connections->len >= VMM_SERVICE_MAX_CLIENTS;
}

static gboolean on_listen_ready (int fd, GIOCondition condition, gpointer data);

static gboolean
retry_accept (gpointer data)
{
  Service *s = data;

  s->accept_retry_id = 0;
  resume_accepting (s);
  return G_SOURCE_REMOVE;
}

/* Watches the listening socket again, unless it is watched, a retry is
 * due, or the clients are at their cap (then the next one waits in the
 * socket's backlog until one leaves). */
static void
resume_accepting (Service *s)
{
  if (s->listen_fd < 0 || s->accept_id != 0 || s->accept_retry_id != 0 || s->finished ||
      at_capacity (s))
    return;
  s->accept_id = g_unix_fd_add (s->listen_fd, G_IO_IN, on_listen_ready, s);
}

/* GDBusServer retries a failed accept at once, forever: out of descriptors
 * it spins, floods the log and answers no one. Here a failure stops the
 * watch; the connection waits in the backlog, and we look again a little
 * later, saying so once. */
static gboolean
on_listen_ready (int fd, GIOCondition condition, gpointer data)
{
  Service *s = data;

  (void) condition;
  while (!at_capacity (s))
    {
      int client = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

      if (client < 0)
        {
          int saved = errno;

          if (saved == EINTR || saved == ECONNABORTED)
            continue;
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            return G_SOURCE_CONTINUE;
          if (!s->accept_failing)
            vmm_log_warning ("cannot accept a client: %s; trying again every %u ms",
                             g_strerror (saved), ACCEPT_RETRY_MS);
          s->accept_failing = TRUE;
          s->accept_id = 0;
          s->accept_retry_id = g_timeout_add (ACCEPT_RETRY_MS, retry_accept, s);
          return G_SOURCE_REMOVE;
        }
      if (s->accept_failing)
        vmm_log_info ("accepting clients again");
      s->accept_failing = FALSE;
      begin_auth (s, client);
    }
  s->accept_id = 0;
  return G_SOURCE_REMOVE;
}

/* The control socket: our own accept on a listening socket, each
 * connection authenticated by GDBus, so that the number of connections,
 * the time they take to authenticate and a failing accept are ours to
 * bound (GDBusServer bounds none of them). */
static gboolean
start_server (Service *s, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  /* Made under another name of the same length and renamed once it
   * listens: a client that sees the socket can connect. */
  g_autofree char *tmp_path = g_strdup (s->socket_path);
  int fd, saved;

  g_assert (g_str_has_suffix (tmp_path, ".sock"));
  memcpy (tmp_path + strlen (tmp_path) - 5, ".tmp~", 5);
  g_assert (strlen (tmp_path) < sizeof addr.sun_path);   /* checked in take_lock */
  memcpy (addr.sun_path, tmp_path, strlen (tmp_path) + 1);
  g_unlink (tmp_path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    goto fail;
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    goto fail;
  /* The folder is 0700 already; the socket itself is ours alone too. */
  if (chmod (tmp_path, 0600) < 0)
    vmm_log_warning ("cannot make %s private: %s", tmp_path, g_strerror (errno));
  if (listen (fd, LISTEN_BACKLOG) < 0 || rename (tmp_path, s->socket_path) < 0)
    {
      saved = errno;
      g_unlink (tmp_path);
      errno = saved;
      goto fail;
    }
  s->listen_fd = fd;
  s->guid = g_dbus_generate_guid ();
  resume_accepting (s);
  return TRUE;

fail:
  saved = errno;
  if (fd >= 0)
    close (fd);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _("Cannot listen on %s: %s"),
               s->socket_path, g_strerror (saved));
  return FALSE;
}

static void
stop_server (Service *s)
{
  g_clear_handle_id (&s->accept_id, g_source_remove);
  g_clear_handle_id (&s->accept_retry_id, g_source_remove);
  if (s->listen_fd >= 0)
    close (s->listen_fd);
  s->listen_fd = -1;
  /* Authentications in flight end at once, and their callbacks run before
   * S goes away. */
  for (guint i = 0; i < s->pending->len; i++)
    {
      Pending *p = s->pending->pdata[i];

      g_cancellable_cancel (p->cancellable);
      g_socket_shutdown (p->socket, TRUE, TRUE, NULL);
    }
  while (s->pending->len > 0)
    g_main_context_iteration (NULL, TRUE);
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
  g_autofree char *socket_path = g_build_filename (dir, sock_name, NULL);
  struct sockaddr_un addr;
  char pid[32];
  int fd;

  /* A longer path would be cut short: the helper would listen where no
   * client looks. Checked before anything is made. */
  if (strlen (socket_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The control socket %s would be %zu bytes long; a socket path can have at "
                     "most %zu. Set XDG_RUNTIME_DIR to a shorter folder."),
                   socket_path, strlen (socket_path), sizeof addr.sun_path - 1);
      return VMM_SERVICE_EXIT_FAILED;
    }
  if (!viv_file_make_private_dir (dir, error))
    return VMM_SERVICE_EXIT_FAILED;
  s->lock_path = g_build_filename (dir, lock_name, NULL);
  s->socket_path = g_steal_pointer (&socket_path);

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
  /* The drives' discs are the service's own from here on. */
  for (unsigned i = 0; i < s->config.n_cdroms; i++)
    {
      s->media_paths[i] = g_strdup (s->config.cdroms[i].path);
      s->config.cdroms[i].path = s->media_paths[i];
    }
  return TRUE;
}

/* ---- descriptors ------------------------------------------------------------------ */

/* Out of descriptors the helper cannot open a disk, accept a client or
 * make a console: take all the system lets us. */
static void
raise_fd_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) < 0)
    vmm_log_warning ("cannot raise the limit on open files: %s", g_strerror (errno));
}

static unsigned
count_open_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;
  unsigned n = 0;

  if (dir == NULL)
    return 3;
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.')
      n++;
  closedir (dir);
  return n > 0 ? n - 1 : 0;    /* less the one opendir holds */
}

/* Backing images under PATH, each one a descriptor while the disk is open.
 * An image we cannot read counts as none: opening the disk says why. */
static unsigned
count_backing_images (const char *path)
{
  g_autofree char *current = g_strdup (path);
  unsigned n = 0;

  while (n < MAX_CHAIN)
    {
      struct vmm_block_image_info info = { 0 };
      g_autofree char *dir = NULL;
      char *next;

      if (vmm_block_info (current, &info, NULL) < 0)
        break;
      if (info.backing_file == NULL)
        {
          vmm_block_image_info_clear (&info);
          break;
        }
      dir = g_path_get_dirname (current);
      next = g_path_is_absolute (info.backing_file) ? g_strdup (info.backing_file)
                                                    : g_build_filename (dir, info.backing_file,
                                                                        NULL);
      vmm_block_image_info_clear (&info);
      g_free (current);
      current = next;
      n++;
    }
  return n;
}

/* Refuses a machine that cannot fit in the limit on open files, rather
 * than failing somewhere inside (a disk that does not open, a client that
 * cannot connect). */
static gboolean
check_fd_budget (Service *s, GError **error)
{
  struct rlimit limit;
  unsigned backing = 0, needed;

  if (getrlimit (RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur == RLIM_INFINITY)
    return TRUE;
  for (unsigned i = 0; i < s->config.n_disks; i++)
    if (s->config.disks[i].format != VMM_BLOCK_FORMAT_RAW)
      backing += count_backing_images (s->config.disks[i].path);
  needed = count_open_fds () + FDS_BASE + FDS_PER_CPU * s->config.cpus +
           FDS_PER_DISK * s->config.n_disks + backing + FDS_CLIENTS +
           (s->config.display.kind != VMM_DISPLAY_NONE ? FDS_DISPLAY : 0);
  if (needed <= limit.rlim_cur)
    return TRUE;
  g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
               _("The machine needs about %u open files (%u disks, %u backing images) but the "
                 "limit is %llu. Raise the limit (ulimit -n) or use fewer disks or shorter "
                 "backing chains."),
               needed, s->config.n_disks, backing, (unsigned long long) limit.rlim_cur);
  return FALSE;
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
  s->listen_fd = -1;
  s->status = VMM_SERVICE_EXIT_OK;
  s->connections = g_ptr_array_new_with_free_func (client_free);
  s->pending = g_ptr_array_new ();
  s->auth_timeout_ms = options->auth_timeout_ms > 0 ? options->auth_timeout_ms
                                                    : VMM_SERVICE_AUTH_TIMEOUT_MS;
  g_mutex_init (&s->vm_lock);
  raise_fd_limit ();

  /* 1. The description: refused, naming the field, before anything else;
   * and a machine that cannot fit in the limit on open files. */
  s->mc = viv_machine_config_load_dir (options->machine_dir, &error);
  if (s->mc == NULL ||
      !viv_machine_config_validate_files (s->mc, options->machine_dir, &error) ||
      !build_config (s, &error) ||
      !check_fd_budget (s, &error))
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
  viv_vmm1_set_guest_addresses (s->iface, (const char *const[]) { NULL });
  g_signal_connect (s->iface, "handle-pause", G_CALLBACK (handle_pause), s);
  g_signal_connect (s->iface, "handle-resume", G_CALLBACK (handle_resume), s);
  g_signal_connect (s->iface, "handle-power-button", G_CALLBACK (handle_power_button), s);
  g_signal_connect (s->iface, "handle-power-off", G_CALLBACK (handle_power_off), s);
  g_signal_connect (s->iface, "handle-reset", G_CALLBACK (handle_reset), s);
  g_signal_connect (s->iface, "handle-quit", G_CALLBACK (handle_quit), s);
  g_signal_connect (s->iface, "handle-take-snapshot", G_CALLBACK (handle_take_snapshot), s);
  g_signal_connect (s->iface, "handle-revert-snapshot", G_CALLBACK (handle_revert_snapshot), s);
  g_signal_connect (s->iface, "handle-delete-snapshot", G_CALLBACK (handle_delete_snapshot), s);
  g_signal_connect (s->iface, "handle-rename-snapshot", G_CALLBACK (handle_rename_snapshot), s);
  g_signal_connect (s->iface, "handle-open-serial", G_CALLBACK (handle_open_serial), s);
  g_signal_connect (s->iface, "handle-open-display", G_CALLBACK (handle_open_display), s);
  g_signal_connect (s->iface, "handle-listen-display", G_CALLBACK (handle_listen_display), s);
  g_signal_connect (s->iface, "handle-eject-medium", G_CALLBACK (handle_eject_medium), s);
  g_signal_connect (s->iface, "handle-insert-medium", G_CALLBACK (handle_insert_medium), s);
  update_media (s);
  s->io_loop_inited = vmm_loop_init (&s->io_loop) == 0;
  if (!s->io_loop_inited || vmm_loop_start (&s->io_loop) < 0)
    {
      g_printerr ("vivarium-vmm: %s\n", _("Cannot start the console loop"));
      status = VMM_SERVICE_EXIT_FAILED;
      goto out;
    }
  s->io_loop_ready = TRUE;
  vmm_fanout_init (&s->serial, &s->io_loop, serial_input, s);

  /* 4. The stop signals, before anything that a signal's default action
   * would leave behind (the socket), and while the machine is built. */
  s->signal_ids[0] = g_unix_signal_add (SIGTERM, on_unix_signal, s);
  s->signal_ids[1] = g_unix_signal_add (SIGINT, on_unix_signal, s);
  s->signal_ids[2] = g_unix_signal_add (SIGHUP, on_unix_signal, s);

  /* 5. The control socket, at once: clients see "starting" while the
   * machine is built. */
  if (options->verbose)
    vmm_log_set_level (VMM_LOG_DEBUG);
  s->loop = g_main_loop_new (NULL, FALSE);
  set_state (s, VIV_VMM_STATE_STARTING);
  if (!start_server (s, &error))
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      status = VMM_SERVICE_EXIT_FAILED;
      goto out;
    }

  /* 6. The machine. Until it exists, errors go to stderr only: a failed
   * start changes nothing in the machine's folder. A stop signal while it
   * is built means it never runs (s->quitting). */
  if (!start_vm (s, TRUE, &error))
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      status = error_status (error);
      goto out;
    }

  /* 7. From here on the log is DIR/logs/vmm.log. */
  if (!s->quitting)
    {
      log_dir = g_build_filename (options->machine_dir, "logs", NULL);
      if (vmm_log_open_file (log_dir, "vmm.log", LOG_MAX_BYTES, LOG_KEEP) < 0)
        vmm_log_warning ("cannot open %s/vmm.log; logging to stderr", log_dir);
      vmm_log_info ("machine “%s” (%s): %llu MiB, %u CPUs, running", s->mc->name, s->mc->uuid,
                    (unsigned long long) (s->mc->memory >> 20), s->mc->cpus);
      s->uptime_id = g_timeout_add_seconds (1, update_uptime, s);
      if (s->config.display.kind != VMM_DISPLAY_NONE)
        {
          s->thumbnail_path = g_build_filename (options->machine_dir, "thumbnail.png", NULL);
        }
    }

  g_main_loop_run (s->loop);
  status = s->status;

out:
  for (unsigned i = 0; i < G_N_ELEMENTS (s->signal_ids); i++)
    g_clear_handle_id (&s->signal_ids[i], g_source_remove);
  g_clear_handle_id (&s->uptime_id, g_source_remove);
  g_clear_handle_id (&s->thumbnail_id, g_source_remove);
  g_clear_handle_id (&s->quit_id, g_source_remove);
  s->finished = TRUE;            /* no more clients */
  stop_server (s);
  /* A peer that does not read was dropped by flush_clients: closing
   * does not wait for it. */
  for (guint i = 0; i < s->connections->len; i++)
    g_dbus_connection_close (((Client *) s->connections->pdata[i])->connection, NULL, NULL,
                             NULL);
  g_ptr_array_unref (s->connections);
  g_ptr_array_unref (s->pending);
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
  g_free (s->display_path);
  g_free (s->thumbnail_path);
  for (unsigned i = 0; i < G_N_ELEMENTS (s->media_paths); i++)
    g_free (s->media_paths[i]);
  g_free (s->guid);
  g_mutex_clear (&s->vm_lock);
  vmm_log_close_file ();
  return status;
}
