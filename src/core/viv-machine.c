/* viv-machine.c: one machine of the library, and its vivarium-vmm helper
 *
 * A VivMachine is one folder, $XDG_DATA_HOME/vivarium/machines/<uuid>/,
 * with its machine.json and thumbnail.png, plus the helper process that
 * runs it, when it runs. Files are read and written in worker threads;
 * machine.json is only ever replaced atomically, one change at a time (the
 * queue below), so two changes made in quick succession both land.
 *
 * A machine.json that cannot be used makes the machine BROKEN: it keeps its
 * folder's name as its name and the reason, and its file is left as it is.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-machine"

#include "config.h"

#include <string.h>

#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "viv-file.h"
#include "viv-helper.h"
#include "viv-machine.h"
#include "viv-machine-private.h"

#define RELOAD_DELAY_MS   50
#define THUMBNAIL_NAME    "thumbnail.png"
#define WRONG_STATE_ERROR "org.vivarium.Vmm1.Error.WrongState"
#define MEDIUM_LOCKED_ERROR "org.vivarium.Vmm1.Error.MediumLocked"
#define BUSY_ERROR        "org.vivarium.Vmm1.Error.Busy"
#define SOCKET_GRACE_MS   2000   /* a helper makes its socket just after its lock */
#define UNREACHABLE_POLL_S 1     /* how often an unreachable helper is looked at again */

struct _VivMachine
{
  GObject           parent_instance;

  char             *directory;
  char             *uuid;            /* the folder's name */
  char             *folder_name;     /* the same, for people */
  VivMachineConfig *config;          /* NULL when broken */
  char             *broken_reason;
  VivMachineState   state;
  char             *error_message;
  VivMachineStartFailure start_failure; /* valid while CRASHED */
  GBytes           *thumbnail;       /* thumbnail.png, as read */
  guint64           uptime;
  gboolean          pending_changes;

  VivHelper        *helper;          /* while a helper runs the machine */
  char             *disk_problem;    /* the last DiskError, for people, this run */
  GStrv             guest_addresses; /* the helper's GuestAddresses; NULL when none */
  guint64           running_memory;  /* what the helper was started with */
  guint             running_cpus;
  GPtrArray        *start_tasks;     /* waiting for the machine to run */
  GPtrArray        *restart_tasks;   /* waiting for the last helper to go */

  /* A helper found in the runtime folder (see viv_machine_check_helper()) */
  GPid              helper_pid;      /* the unreachable helper's, from its lock */
  gboolean          checking;        /* a probe or an attach is under way */
  gboolean          check_again;     /* something changed meanwhile */
  gboolean          attach_failed;   /* the last attach failed: probe once more */
  gboolean          socket_grace_over;
  guint             socket_grace_id; /* a lock without a socket: wait for it */
  guint             unreachable_poll_id;

  GCancellable     *cancellable;     /* reloads; cancelled on dispose */
  GFileMonitor     *monitor;         /* the machine's folder */
  guint             reload_config_id;
  guint             reload_thumbnail_id;
  guint64           generation;      /* bumped when we change the config */
  GQueue            saves;           /* of GTask: changes to machine.json */
  VivFileReplaceHook replace_hook;   /* tests: see viv_library_set_replace_hook() */
  gpointer          replace_hook_data;

  /* snapshots/index.json, once someone asked (viv_machine_get_snapshots()) */
  gboolean          snapshots_wanted;
  VivSnapshotIndex *snapshots;       /* as last read; NULL before, or when it cannot be */
  GError           *snapshots_error;
  GFileMonitor     *snapshots_monitor;
  guint             read_snapshots_id;
  gboolean          reading_snapshots;
  gboolean          read_snapshots_again;
  gboolean          snapshot_busy;   /* an operation runs */
};

G_DEFINE_FINAL_TYPE (VivMachine, viv_machine, G_TYPE_OBJECT)

G_DEFINE_BOXED_TYPE (VivMachineConfig, viv_machine_config,
                     viv_machine_config_copy, viv_machine_config_free)

G_DEFINE_ENUM_TYPE (VivMachineState, viv_machine_state,
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_STOPPED, "stopped"),
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_STARTING, "starting"),
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_RUNNING, "running"),
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_PAUSED, "paused"),
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_SHUTTING_DOWN, "shutting-down"),
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_CRASHED, "crashed"),
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_BROKEN, "broken"),
  G_DEFINE_ENUM_VALUE (VIV_MACHINE_STATE_UNREACHABLE, "unreachable"))

G_DEFINE_QUARK (viv-machine-error-quark, viv_machine_error)

/* A state in a word or two, for tiles and headers */
const char *
viv_machine_state_to_string (VivMachineState state)
{
  switch (state)
    {
    case VIV_MACHINE_STATE_STOPPED:
      /* Translators: the state of a machine that is not running */
      return C_("machine state", "Off");
    case VIV_MACHINE_STATE_STARTING:
      return C_("machine state", "Starting…");
    case VIV_MACHINE_STATE_RUNNING:
      return C_("machine state", "Running");
    case VIV_MACHINE_STATE_PAUSED:
      return C_("machine state", "Paused");
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
      return C_("machine state", "Shutting Down…");
    case VIV_MACHINE_STATE_CRASHED:
      return C_("machine state", "Crashed");
    case VIV_MACHINE_STATE_BROKEN:
      /* Translators: the state of a machine whose machine.json cannot be used */
      return C_("machine state", "Broken");
    case VIV_MACHINE_STATE_UNREACHABLE:
      /* Translators: the state of a machine whose helper process runs but
       * does not answer */
      return C_("machine state", "Not Responding");
    default:
      g_return_val_if_reached (NULL);
    }
}

enum {
  PROP_0,
  PROP_UUID,
  PROP_DIRECTORY,
  PROP_NAME,
  PROP_CONFIG,
  PROP_OS_ID,
  PROP_STATE,
  PROP_BROKEN_REASON,
  PROP_ERROR_MESSAGE,
  PROP_THUMBNAIL,
  PROP_UPTIME,
  PROP_PENDING_CHANGES,
  PROP_DISK_PROBLEM,
  PROP_HELPER_PID,
  PROP_DISC,
  PROP_GUEST_ADDRESSES,
  PROP_SNAPSHOT_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_DISK_ERROR,
  SIGNAL_SNAPSHOTS_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void schedule_reload_config (VivMachine *self);
static void set_helper_pid         (VivMachine *self,
                                    GPid        pid);
static void terminate_unreachable  (VivMachine          *self,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);

/* --- setters ------------------------------------------------------------------ */

static void
notify (VivMachine *self,
        guint       prop_id)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

static void
set_state (VivMachine      *self,
           VivMachineState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  notify (self, PROP_STATE);
}

/* What the engine said when it refused to start (its stderr), as one of
 * a few reasons a person can act on. Its words name files and
 * machine.json's fields; those stay in the log. */
static VivMachineStartFailure
start_failure_from_text (const char *text)
{
  g_autofree char *lower = g_utf8_strdown (text != NULL ? text : "", -1);
  static const char *const kernel_words[] = { "kernel", "initrd", "boot protocol", NULL };
  static const char *const disk_words[] = {
    "disk", "image", "qcow2", "backing", "read-only file system", "locked", NULL
  };
  static const char *const settings_words[] = {
    "machine.json", "field", "must be", "invalid", "unknown", "missing", NULL
  };

  for (guint i = 0; kernel_words[i] != NULL; i++)
    if (strstr (lower, kernel_words[i]) != NULL)
      return VIV_MACHINE_START_FAILURE_KERNEL;
  for (guint i = 0; disk_words[i] != NULL; i++)
    if (strstr (lower, disk_words[i]) != NULL)
      return VIV_MACHINE_START_FAILURE_DISK;
  for (guint i = 0; settings_words[i] != NULL; i++)
    if (strstr (lower, settings_words[i]) != NULL)
      return VIV_MACHINE_START_FAILURE_SETTINGS;
  return VIV_MACHINE_START_FAILURE_OTHER;
}

static const char *
start_failure_explanation (VivMachineStartFailure failure)
{
  switch (failure)
    {
    case VIV_MACHINE_START_FAILURE_DISK:
      return _("One of the machine’s disks cannot be opened: its image may have been moved, "
               "deleted or damaged, or be in use by another program.");
    case VIV_MACHINE_START_FAILURE_KERNEL:
      return _("The machine’s kernel cannot be booted: the file may have been moved or "
               "deleted, or it is not a Linux kernel this version can start.");
    case VIV_MACHINE_START_FAILURE_SETTINGS:
      return _("The machine’s settings are not valid for this version of Vivarium.");
    case VIV_MACHINE_START_FAILURE_NO_KVM:
      return _("This computer cannot run virtual machines now: KVM, the kernel’s support "
               "for them, is missing or not usable. The log says why.");
    case VIV_MACHINE_START_FAILURE_OTHER:
    case VIV_MACHINE_START_FAILURE_NONE:
    default:
      return _("The virtual machine could not be set up. The log says why.");
    }
}

static void
set_string (VivMachine  *self,
            char       **field,
            const char  *value,
            guint        prop_id)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  notify (self, prop_id);
}

static void
set_uptime (VivMachine *self,
            guint64     uptime)
{
  if (self->uptime == uptime)
    return;
  self->uptime = uptime;
  notify (self, PROP_UPTIME);
}

static void
update_pending_changes (VivMachine *self)
{
  gboolean pending = FALSE;

  if (self->helper != NULL && self->config != NULL)
    {
      VivVmm1 *proxy = viv_helper_get_proxy (self->helper);
      guint64 memory = proxy != NULL ? viv_vmm1_get_memory (proxy) : self->running_memory;
      guint cpus = proxy != NULL ? viv_vmm1_get_cpus (proxy) : self->running_cpus;

      pending = self->config->memory != memory || self->config->cpus != cpus;
    }

  if (self->pending_changes == pending)
    return;
  self->pending_changes = pending;
  notify (self, PROP_PENDING_CHANGES);
}

/* Takes CONFIG (NULL: broken, with REASON) and notifies what changed. */
static void
set_config (VivMachine       *self,
            VivMachineConfig *config,
            const char       *reason)
{
  g_autoptr(VivMachineConfig) old = self->config;
  gboolean name_changed, os_changed;

  g_object_freeze_notify (G_OBJECT (self));

  if (config != NULL && old != NULL && viv_machine_config_equal (config, old))
    {
      /* the same content: keep the old pointer, which callers may hold */
      viv_machine_config_free (config);
      self->config = g_steal_pointer (&old);
    }
  else if (config != NULL || old != NULL)
    {
      self->config = config;
      name_changed = g_strcmp0 (old != NULL ? old->name : self->folder_name,
                                config != NULL ? config->name : self->folder_name) != 0;
      os_changed = g_strcmp0 (old != NULL ? old->osinfo : NULL,
                              config != NULL ? config->osinfo : NULL) != 0;
      notify (self, PROP_CONFIG);
      notify (self, PROP_DISC);
      if (name_changed)
        notify (self, PROP_NAME);
      if (os_changed)
        notify (self, PROP_OS_ID);
    }

  set_string (self, &self->broken_reason, config != NULL ? NULL : reason, PROP_BROKEN_REASON);
  if (self->helper == NULL && self->state != VIV_MACHINE_STATE_UNREACHABLE)
    {
      if (config == NULL)
        set_state (self, VIV_MACHINE_STATE_BROKEN);
      else if (self->state == VIV_MACHINE_STATE_BROKEN)
        set_state (self, VIV_MACHINE_STATE_STOPPED);
    }
  update_pending_changes (self);

  g_object_thaw_notify (G_OBJECT (self));
}

/* --- the helper ------------------------------------------------------------------ */

static void
resolve_start_tasks (VivMachine   *self,
                     const GError *error)
{
  g_autoptr(GPtrArray) tasks = NULL;

  if (self->start_tasks->len == 0)
    return;
  tasks = g_steal_pointer (&self->start_tasks);
  self->start_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < tasks->len; i++)
    {
      if (error != NULL)
        g_task_return_error (tasks->pdata[i], g_error_copy (error));
      else
        g_task_return_boolean (tasks->pdata[i], TRUE);
    }
}

static void update_guest_addresses (VivMachine *self);

static void
drop_helper (VivMachine *self)
{
  if (self->helper == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->helper, self);
  viv_helper_detach (self->helper);
  g_clear_object (&self->helper);
  update_guest_addresses (self);
}

static void
on_helper_notify_state (VivHelper  *helper,
                        GParamSpec *pspec G_GNUC_UNUSED,
                        VivMachine *self)
{
  VivMachineState state = viv_helper_get_state (helper);

  if (state == VIV_MACHINE_STATE_CRASHED && viv_helper_get_last_error (helper) != NULL)
    set_string (self, &self->error_message, viv_helper_get_last_error (helper),
                PROP_ERROR_MESSAGE);
  set_state (self, state);

  if (state == VIV_MACHINE_STATE_RUNNING || state == VIV_MACHINE_STATE_PAUSED ||
      state == VIV_MACHINE_STATE_SHUTTING_DOWN)
    resolve_start_tasks (self, NULL);
}

static void
on_helper_notify_uptime (VivHelper  *helper,
                         GParamSpec *pspec G_GNUC_UNUSED,
                         VivMachine *self)
{
  set_uptime (self, viv_helper_get_uptime (helper));
}

static void
on_helper_notify_connected (VivHelper  *helper G_GNUC_UNUSED,
                            GParamSpec *pspec G_GNUC_UNUSED,
                            VivMachine *self)
{
  update_pending_changes (self);
}

static void on_attached_after_start (GObject      *object,
                                     GAsyncResult *result,
                                     gpointer      user_data);
static void spawn_helper            (VivMachine   *self,
                                     const char   *restore_id,
                                     GTask        *task);

static void
on_helper_finished (VivHelper  *helper,
                    VivMachine *self)
{
  g_autoptr(VivHelper) finished = g_object_ref (helper);
  VivMachineState state = viv_helper_get_state (helper);
  const char *message = viv_helper_get_message (helper);

  drop_helper (self);
  set_uptime (self, 0);

  /* Another helper was running it (another Vivarium started it just now):
   * follow that one. */
  if (viv_helper_get_exit_status (finished) == VIV_HELPER_EXIT_RUNNING)
    {
      viv_helper_attach_async (self->directory, self->uuid, self->cancellable,
                               on_attached_after_start, g_object_ref (self));
      return;
    }

  g_object_freeze_notify (G_OBJECT (self));
  self->start_failure = VIV_MACHINE_START_FAILURE_NONE;
  if (state == VIV_MACHINE_STATE_CRASHED && viv_helper_get_start_failed (finished))
    {
      self->start_failure = viv_helper_get_exit_status (finished) == VIV_HELPER_EXIT_NO_KVM
                            ? VIV_MACHINE_START_FAILURE_NO_KVM
                            : start_failure_from_text (message);
      set_string (self, &self->error_message, start_failure_explanation (self->start_failure),
                  PROP_ERROR_MESSAGE);
      /* The app's own logs, for whoever runs it from a terminal */
      g_message ("“%s” could not start: %s", self->folder_name, message);
    }
  else if (state == VIV_MACHINE_STATE_CRASHED)
    set_string (self, &self->error_message,
                message != NULL ? message : _("The machine stopped unexpectedly."),
                PROP_ERROR_MESSAGE);
  else
    state = VIV_MACHINE_STATE_STOPPED;
  set_state (self, self->config == NULL ? VIV_MACHINE_STATE_BROKEN : state);
  update_pending_changes (self);
  g_object_thaw_notify (G_OBJECT (self));

  if (state == VIV_MACHINE_STATE_CRASHED)
    {
      g_autoptr(GError) error =
        g_error_new_literal (VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED, self->error_message);

      resolve_start_tasks (self, error);
    }
  else
    {
      resolve_start_tasks (self, NULL);
    }

  /* A file that broke while the machine ran is reported now. */
  if (self->config == NULL)
    schedule_reload_config (self);

  /* Started again while the last helper was on its way out */
  if (self->restart_tasks->len > 0)
    {
      g_autoptr(GPtrArray) tasks = g_steal_pointer (&self->restart_tasks);

      self->restart_tasks = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < tasks->len; i++)
        {
          if (self->helper == NULL)
            spawn_helper (self, NULL, g_object_ref (tasks->pdata[i]));
          else
            g_ptr_array_add (self->start_tasks, g_object_ref (tasks->pdata[i]));
        }
    }
}

/* --- disk errors ------------------------------------------------------------------- */

/* What a DiskError means, for the machine page's banner. The helper's
 * policy (org.vivarium.Vmm1.xml): the guest got an I/O error and the
 * machine goes on, so there is nothing to resume: free space and the
 * guest's next writes succeed. */
static char *
disk_problem_text (const char *path,
                   const char *error)
{
  g_autofree char *name = g_path_get_basename (path);

  if (g_strcmp0 (error, "ENOSPC") == 0 || g_strcmp0 (error, "EDQUOT") == 0)
    /* Translators: %s is a disk image's file name */
    return g_strdup_printf (_("The host’s disk is full: the machine could not write to “%s”. "
                              "Free space on the host; the machine goes on and can write "
                              "again once there is room."), name);
  /* Translators: %s is a disk image's file name, then an error's code, as EIO */
  return g_strdup_printf (_("The machine’s disk “%s” failed on the host (%s). Its system got "
                            "an I/O error; the machine’s log says more."), name, error);
}

static void
on_proxy_disk_error (VivVmm1    *proxy,
                     guint       disk,
                     const char *path,
                     const char *operation,
                     const char *error,
                     const char *message,
                     VivMachine *self)
{
  g_autofree char *text = NULL;

  /* A proxy of a helper we let go of */
  if (self->helper == NULL || viv_helper_get_proxy (self->helper) != proxy)
    return;
  g_debug ("%s: disk %u: %s", self->folder_name, disk, message);
  text = disk_problem_text (path, error);
  set_string (self, &self->disk_problem, text, PROP_DISK_PROBLEM);
  g_signal_emit (self, signals[SIGNAL_DISK_ERROR], 0, disk, path, operation, error, message);
}

static void save_disc (VivMachine *self, const char *path, GTask *task);
static void on_proxy_snapshots_changed (VivVmm1 *proxy, VivMachine *self);

/* The helper's GuestAddresses, kept so that notify::guest-addresses says
 * when they changed, not each time the proxy's properties do */
static void
update_guest_addresses (VivMachine *self)
{
  VivVmm1 *proxy = self->helper != NULL ? viv_helper_get_proxy (self->helper) : NULL;
  const char *const *addresses = proxy != NULL ? viv_vmm1_get_guest_addresses (proxy) : NULL;

  if (addresses != NULL && addresses[0] == NULL)
    addresses = NULL;
  if (addresses == NULL && self->guest_addresses == NULL)
    return;
  if (addresses != NULL && self->guest_addresses != NULL &&
      g_strv_equal (addresses, (const char *const *) self->guest_addresses))
    return;
  g_strfreev (self->guest_addresses);
  self->guest_addresses = g_strdupv ((char **) addresses);
  notify (self, PROP_GUEST_ADDRESSES);
}

static void
on_proxy_guest_addresses (VivVmm1    *proxy G_GNUC_UNUSED,
                          GParamSpec *pspec G_GNUC_UNUSED,
                          VivMachine *self)
{
  update_guest_addresses (self);
}

/* The helper's Media property: its first drive's disc, or NULL with
 * *KNOWN FALSE when the helper says nothing (no drive, not connected) */
static const char *
helper_disc (VivMachine *self,
             gboolean   *known)
{
  VivVmm1 *proxy = self->helper != NULL ? viv_helper_get_proxy (self->helper) : NULL;
  GVariant *media = proxy != NULL ? viv_vmm1_get_media (proxy) : NULL;
  const char *path = NULL;
  gboolean inserted = FALSE;

  *known = FALSE;
  if (media == NULL || g_variant_n_children (media) == 0)
    return NULL;
  *known = TRUE;
  g_variant_get_child (media, 0, "(&sb)", &path, &inserted);
  return inserted && path[0] != '\0' ? path : NULL;
}

/* The helper changed a disc (a call, or the guest ejected it): machine.json
 * follows, so that the next start has the same disc. */
static void
on_proxy_media (VivVmm1    *proxy G_GNUC_UNUSED,
                GParamSpec *pspec G_GNUC_UNUSED,
                VivMachine *self)
{
  gboolean known;
  const char *path = helper_disc (self, &known);
  const VivMediaConfig *media;

  notify (self, PROP_DISC);
  if (!known || self->config == NULL || self->config->media->len == 0)
    return;
  media = g_ptr_array_index (self->config->media, 0);
  if (media->inserted == (path != NULL) && (path == NULL || g_strcmp0 (path, media->path) == 0))
    return;
  save_disc (self, path, NULL);
}

/* The helper's proxy, each time it connects */
static void
watch_disk_errors (VivMachine *self)
{
  VivVmm1 *proxy = self->helper != NULL ? viv_helper_get_proxy (self->helper) : NULL;

  /* connected or not: the addresses are the new proxy's, or none */
  update_guest_addresses (self);
  if (proxy == NULL ||
      g_signal_handler_find (proxy, G_SIGNAL_MATCH_FUNC | G_SIGNAL_MATCH_DATA, 0, 0, NULL,
                             on_proxy_disk_error, self) != 0)
    return;
  g_signal_connect_object (proxy, "disk-error", G_CALLBACK (on_proxy_disk_error), self, 0);
  g_signal_connect_object (proxy, "notify::media", G_CALLBACK (on_proxy_media), self, 0);
  g_signal_connect_object (proxy, "notify::guest-addresses",
                           G_CALLBACK (on_proxy_guest_addresses), self, 0);
  g_signal_connect_object (proxy, "snapshots-changed", G_CALLBACK (on_proxy_snapshots_changed),
                           self, 0);
  notify (self, PROP_DISC);
}

static void
on_helper_connected_disk_errors (VivHelper  *helper G_GNUC_UNUSED,
                                 GParamSpec *pspec G_GNUC_UNUSED,
                                 VivMachine *self)
{
  watch_disk_errors (self);
}

/* A new run: what the last one's disks did is past */
static void
disk_errors_adopt (VivMachine *self,
                   VivHelper  *helper)
{
  set_string (self, &self->disk_problem, NULL, PROP_DISK_PROBLEM);
  g_signal_connect (helper, "notify::connected", G_CALLBACK (on_helper_connected_disk_errors),
                    self);
  watch_disk_errors (self);
}

/**
 * viv_machine_get_disk_problem:
 *
 * Returns: (nullable): what the last disk error of this run means, for
 *   people (a sentence for the machine page's banner), until dismissed
 */
const char *
viv_machine_get_disk_problem (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->disk_problem;
}

/* The person read it: the page's banner goes (until the next disk error) */
void
viv_machine_dismiss_disk_problem (VivMachine *self)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  set_string (self, &self->disk_problem, NULL, PROP_DISK_PROBLEM);
}

static void
adopt_helper (VivMachine *self,
              VivHelper  *helper)
{
  g_assert (self->helper == NULL);

  /* a new run: what the last start failed on is past */
  self->start_failure = VIV_MACHINE_START_FAILURE_NONE;
  self->helper = g_object_ref (helper);
  set_helper_pid (self, 0);
  g_signal_connect (helper, "notify::state", G_CALLBACK (on_helper_notify_state), self);
  g_signal_connect (helper, "notify::uptime", G_CALLBACK (on_helper_notify_uptime), self);
  g_signal_connect (helper, "notify::connected", G_CALLBACK (on_helper_notify_connected), self);
  g_signal_connect (helper, "finished", G_CALLBACK (on_helper_finished), self);
  disk_errors_adopt (self, helper);

  g_object_freeze_notify (G_OBJECT (self));
  on_helper_notify_state (helper, NULL, self);
  set_uptime (self, viv_helper_get_uptime (helper));
  update_pending_changes (self);
  g_object_thaw_notify (G_OBJECT (self));
}

static void
on_attached_after_start (GObject      *object G_GNUC_UNUSED,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(VivMachine) self = user_data;
  g_autoptr(VivHelper) helper = NULL;
  g_autoptr(GError) error = NULL;

  helper = viv_helper_attach_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (helper == NULL)
    {
      set_state (self, self->config == NULL ? VIV_MACHINE_STATE_BROKEN
                                            : VIV_MACHINE_STATE_STOPPED);
      resolve_start_tasks (self, error);
      return;
    }
  if (self->helper != NULL)
    {
      viv_helper_detach (helper);
      return;
    }
  adopt_helper (self, helper);
}

/* --- construction ------------------------------------------------------------------ */

static void
on_monitor_changed (GFileMonitor      *monitor G_GNUC_UNUSED,
                    GFile             *file,
                    GFile             *other_file,
                    GFileMonitorEvent  event,
                    VivMachine        *self);

/**
 * viv_machine_new:
 * @directory: the machine's folder
 * @config: (transfer full) (nullable): its machine.json, as read
 * @load_error: (nullable): why machine.json could not be read, when @config
 *   is %NULL
 * @thumbnail: (nullable): its thumbnail.png, as viv_machine_read_thumbnail() read it
 *
 * A machine from what VivLibrary read in a worker thread. The machine
 * watches its folder from then on: it reloads machine.json and the
 * thumbnail when they change.
 *
 * Returns: (transfer full): the machine
 */
VivMachine *
viv_machine_new (const char       *directory,
                 VivMachineConfig *config,
                 const GError     *load_error,
                 GBytes           *thumbnail)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *base = NULL;
  VivMachine *self;

  g_return_val_if_fail (directory != NULL, NULL);
  g_return_val_if_fail (config != NULL || load_error != NULL, NULL);

  self = g_object_new (VIV_TYPE_MACHINE, NULL);
  self->directory = g_canonicalize_filename (directory, NULL);
  base = g_path_get_basename (self->directory);
  self->uuid = g_strdup (base);
  self->folder_name = g_filename_display_name (base);
  if (config != NULL)
    {
      self->config = config;
    }
  else
    {
      self->broken_reason = g_strdup (load_error->message);
      self->state = VIV_MACHINE_STATE_BROKEN;
    }
  self->thumbnail = thumbnail != NULL ? g_bytes_ref (thumbnail) : NULL;

  file = g_file_new_for_path (self->directory);
  self->monitor = g_file_monitor_directory (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (self->monitor != NULL)
    g_signal_connect (self->monitor, "changed", G_CALLBACK (on_monitor_changed), self);
  else
    g_debug ("cannot watch %s: %s", self->directory, error->message);

  return self;
}

/* Tests: VivLibrary passes its hook on to each machine (see
 * viv_library_set_replace_hook()); the saves started after this use it */
void
viv_machine_set_replace_hook (VivMachine         *self,
                              VivFileReplaceHook  hook,
                              gpointer            hook_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  self->replace_hook = hook;
  self->replace_hook_data = hook_data;
}

/**
 * viv_machine_read_thumbnail:
 * @directory: a machine's folder
 *
 * Reads its thumbnail.png, in a worker thread (the library's scan and the
 * machine's reloads both do). A file that is not a PNG counts as none.
 *
 * Returns: (transfer full) (nullable): the file's bytes
 */
GBytes *
viv_machine_read_thumbnail (const char *directory)
{
  static const char png_signature[8] = "\x89PNG\r\n\x1a\n";
  g_autofree char *path = g_build_filename (directory, THUMBNAIL_NAME, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len;

  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return NULL;
  if (!g_file_get_contents (path, &contents, &len, &error))
    {
      g_debug ("cannot load %s: %s", path, error->message);
      return NULL;
    }
  if (len < sizeof png_signature || memcmp (contents, png_signature, sizeof png_signature) != 0)
    {
      g_debug ("cannot load %s: not a PNG image", path);
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&contents), len);
}

/* --- getters --------------------------------------------------------------------- */

const char *
viv_machine_get_uuid (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->uuid;
}

const char *
viv_machine_get_directory (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->directory;
}

/* The name from machine.json, or the folder's name when it is broken */
const char *
viv_machine_get_name (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->config != NULL ? self->config->name : self->folder_name;
}

/* Whether this version can start the machine at all, whatever its state: every boot
 * kind can, now that the engine runs firmware. A broken machine counts as startable
 * here: its state already says why it cannot. Kept for the callers that ask. */
gboolean
viv_machine_can_start_yet (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);

  return TRUE;
}

/* Why this version cannot start the machine, for people; NULL when it can */
const char *
viv_machine_get_cannot_start_reason (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  /* Every boot kind starts since firmware boot came (issue 19) */
  return NULL;
}

/* Valid until the next notify::config; NULL when the machine is broken */
const VivMachineConfig *
viv_machine_get_config (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->config;
}

const char *
viv_machine_get_os_id (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->config != NULL ? self->config->osinfo : NULL;
}

VivMachineState
viv_machine_get_state (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), VIV_MACHINE_STATE_STOPPED);

  return self->state;
}

const char *
viv_machine_get_broken_reason (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->broken_reason;
}

/* Why the last start failed before the guest ran; NONE unless the state
 * is CRASHED because of that. */
VivMachineStartFailure
viv_machine_get_start_failure (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), VIV_MACHINE_START_FAILURE_NONE);

  return self->state == VIV_MACHINE_STATE_CRASHED ? self->start_failure
                                                  : VIV_MACHINE_START_FAILURE_NONE;
}

/* The state in a word or two, for tiles and headers: a start that failed
 * is not a crash. */
const char *
viv_machine_get_state_label (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  if (viv_machine_get_start_failure (self) != VIV_MACHINE_START_FAILURE_NONE)
    /* Translators: the state of a machine whose last start failed before it ran */
    return C_("machine state", "Could Not Start");
  return viv_machine_state_to_string (self->state);
}

const char *
viv_machine_get_error_message (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->error_message;
}

/**
 * viv_machine_get_thumbnail:
 *
 * The machine's thumbnail.png, as read (the widgets decode it): a new
 * #GBytes each time the file changes.
 *
 * Returns: (transfer none) (nullable): the PNG file
 */
GBytes *
viv_machine_get_thumbnail (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return self->thumbnail;
}

guint64
viv_machine_get_uptime (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), 0);

  return self->uptime;
}

gboolean
viv_machine_get_pending_changes (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);

  return self->pending_changes;
}

/* Whether a helper runs the machine (from STARTING to SHUTTING_DOWN): it
 * cannot be started, deleted or moved then. */
gboolean
viv_machine_is_active (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);

  return self->helper != NULL;
}

/* --- start and attach --------------------------------------------------------------- */

/**
 * viv_machine_start_async:
 * @self: a machine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the machine runs, or could not start
 * @user_data: data for @callback
 *
 * Runs `vivarium-vmm --machine DIR` for the machine. It completes when the
 * machine runs (or ran and stopped already); it fails with the helper's
 * error, which is also the error-message property, when it could not start.
 * Cancelling it only stops the wait: the machine goes on starting.
 */
void
viv_machine_start_async (VivMachine          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_start_async);

  if (self->config == NULL)
    {
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BROKEN,
                               /* Translators: the first %s is a machine’s name,
                                * the second the reason */
                               _("“%s” cannot be started: %s"),
                               self->folder_name, self->broken_reason);
      return;
    }
  if (self->helper == NULL && self->state == VIV_MACHINE_STATE_UNREACHABLE)
    {
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE,
                               /* Translators: %s is a machine’s name, %d a process id */
                               _("“%s” is running already, but its helper process (%d) does "
                                 "not answer. Force it off first."),
                               viv_machine_get_name (self), (int) self->helper_pid);
      return;
    }
  if (self->helper != NULL)
    {
      VivMachineState state = viv_helper_get_state (self->helper);

      /* It stopped, and its helper is about to end: start after it. */
      if (state == VIV_MACHINE_STATE_STOPPED || state == VIV_MACHINE_STATE_CRASHED)
        {
          g_ptr_array_add (self->restart_tasks, g_steal_pointer (&task));
          return;
        }
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE,
                               /* Translators: %s is a machine’s name */
                               _("“%s” is running already"), self->config->name);
      return;
    }

  spawn_helper (self, NULL, g_steal_pointer (&task));
}

/* Runs a helper for the machine (from the snapshot RESTORE_ID, if not
 * NULL); TASK (taken) completes once it runs */
static void
spawn_helper (VivMachine *self,
              const char *restore_id,
              GTask      *task)
{
  g_autoptr(VivHelper) helper = NULL;
  g_autoptr(GError) error = NULL;

  g_assert (self->helper == NULL);

  if (self->config == NULL)
    {
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BROKEN,
                               _("“%s” cannot be started: %s"),
                               self->folder_name, self->broken_reason);
      g_object_unref (task);
      return;
    }

  helper = viv_helper_spawn (self->directory, self->uuid, restore_id, &error);
  if (helper == NULL)
    {
      set_string (self, &self->error_message, error->message, PROP_ERROR_MESSAGE);
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }

  g_object_freeze_notify (G_OBJECT (self));
  set_string (self, &self->error_message, NULL, PROP_ERROR_MESSAGE);
  self->running_memory = self->config->memory;
  self->running_cpus = self->config->cpus;
  g_ptr_array_add (self->start_tasks, task);
  adopt_helper (self, helper);
  g_object_thaw_notify (G_OBJECT (self));
}

gboolean
viv_machine_start_finish (VivMachine    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_machine_start_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_attached (GObject      *object G_GNUC_UNUSED,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  VivMachine *self = g_task_get_source_object (task);
  g_autoptr(VivHelper) helper = NULL;
  g_autoptr(GError) error = NULL;

  helper = viv_helper_attach_finish (result, &error);
  if (helper == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* started or attached meanwhile */
  if (self->helper != NULL)
    viv_helper_detach (helper);
  else
    adopt_helper (self, helper);
  g_task_return_boolean (task, TRUE);
}

/**
 * viv_machine_attach_async:
 * @self: a machine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when connected, or when no helper runs the machine
 * @user_data: data for @callback
 *
 * Follows the helper that runs the machine already: the app was restarted
 * while the machine ran. Fails with %VIV_MACHINE_ERROR_NOT_FOUND when no
 * helper runs it; succeeds at once when the machine follows one already.
 */
void
viv_machine_attach_async (VivMachine          *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_attach_async);

  if (self->helper != NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  viv_helper_attach_async (self->directory, self->uuid, cancellable, on_attached,
                           g_steal_pointer (&task));
}

gboolean
viv_machine_attach_finish (VivMachine    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_machine_attach_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- a helper found in the runtime folder ------------------------------------------ */

/* A helper the machine does not follow yet may run it: another Vivarium
 * started it, or someone did from a terminal, or this app was restarted.
 * The library calls viv_machine_check_helper() when it loads and whenever
 * the runtime folder changes; the machine then probes the lock and socket
 * (in a worker thread) and attaches to the helper it finds. A helper that
 * holds the lock but cannot be reached (its socket was removed, or does not
 * answer) makes the machine UNREACHABLE, with the helper's pid, so that it
 * is not shown as "Off" and can be forced off (SIGTERM). Its end is not
 * something the runtime folder's monitor sees (a lock released when a
 * process exits changes no file), so an UNREACHABLE machine looks again
 * every UNREACHABLE_POLL_S. */

typedef struct
{
  VivHelperPresence presence;
  GPid              pid;
} Probe;

static void
set_helper_pid (VivMachine *self,
                GPid        pid)
{
  if (self->helper_pid == pid)
    return;
  self->helper_pid = pid;
  notify (self, PROP_HELPER_PID);
}

static gboolean
on_unreachable_poll (gpointer data)
{
  VivMachine *self = data;

  if (self->state != VIV_MACHINE_STATE_UNREACHABLE || self->helper != NULL)
    {
      self->unreachable_poll_id = 0;
      return G_SOURCE_REMOVE;
    }
  viv_machine_check_helper (self);
  return G_SOURCE_CONTINUE;
}

static void
set_unreachable (VivMachine *self,
                 GPid        pid)
{
  if (self->state != VIV_MACHINE_STATE_UNREACHABLE || self->helper_pid != pid)
    g_message ("the helper of “%s” (process %d) holds its lock but cannot be reached",
               viv_machine_get_name (self), (int) pid);
  g_object_freeze_notify (G_OBJECT (self));
  set_helper_pid (self, pid);
  set_state (self, VIV_MACHINE_STATE_UNREACHABLE);
  g_object_thaw_notify (G_OBJECT (self));
  if (self->unreachable_poll_id == 0)
    self->unreachable_poll_id = g_timeout_add_seconds (UNREACHABLE_POLL_S, on_unreachable_poll,
                                                       self);
}

static void
leave_unreachable (VivMachine *self)
{
  if (self->state != VIV_MACHINE_STATE_UNREACHABLE)
    return;
  g_object_freeze_notify (G_OBJECT (self));
  set_helper_pid (self, 0);
  set_state (self, self->config == NULL ? VIV_MACHINE_STATE_BROKEN : VIV_MACHINE_STATE_STOPPED);
  g_object_thaw_notify (G_OBJECT (self));
  g_clear_handle_id (&self->unreachable_poll_id, g_source_remove);
}

static void
probe_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data G_GNUC_UNUSED,
              GCancellable *cancellable G_GNUC_UNUSED)
{
  VivMachine *self = source_object;
  Probe *probe = g_new0 (Probe, 1);

  probe->presence = viv_helper_probe (self->uuid, &probe->pid);
  g_task_return_pointer (task, probe, g_free);
}

static void probe_begin (VivMachine *self);

static void
check_done (VivMachine *self)
{
  self->checking = FALSE;
  if (self->check_again)
    {
      self->check_again = FALSE;
      viv_machine_check_helper (self);
    }
}

static gboolean
on_socket_grace_over (gpointer data)
{
  VivMachine *self = data;

  self->socket_grace_id = 0;
  self->socket_grace_over = TRUE;
  viv_machine_check_helper (self);
  return G_SOURCE_REMOVE;
}

static void
on_check_attached (GObject      *object G_GNUC_UNUSED,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(VivMachine) self = user_data;
  g_autoptr(VivHelper) helper = NULL;
  g_autoptr(GError) error = NULL;

  helper = viv_helper_attach_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (helper != NULL)
    {
      if (self->helper == NULL)
        adopt_helper (self, helper);
      else
        viv_helper_detach (helper);
      check_done (self);
      return;
    }

  /* It may have ended meanwhile: look again before saying it is unreachable */
  g_debug ("cannot attach to the helper of %s: %s", self->uuid, error->message);
  self->attach_failed = TRUE;
  probe_begin (self);
}

static void
on_probed (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data G_GNUC_UNUSED)
{
  VivMachine *self = VIV_MACHINE (object);
  g_autofree Probe *probe = g_task_propagate_pointer (G_TASK (result), NULL);
  gboolean attach_failed = self->attach_failed;

  if (probe == NULL)   /* cancelled: the machine is going */
    return;

  self->attach_failed = FALSE;
  if (self->helper != NULL)
    {
      /* started or attached meanwhile: it follows its own helper */
      check_done (self);
      return;
    }

  switch (probe->presence)
    {
    case VIV_HELPER_PRESENT:
      if (attach_failed)
        {
          set_unreachable (self, probe->pid);
          break;
        }
      viv_helper_attach_async (self->directory, self->uuid, self->cancellable,
                               on_check_attached, g_object_ref (self));
      return;

    case VIV_HELPER_NO_SOCKET:
      /* A helper makes its socket just after taking its lock */
      if (self->state == VIV_MACHINE_STATE_UNREACHABLE || self->socket_grace_over)
        set_unreachable (self, probe->pid);
      else if (self->socket_grace_id == 0)
        self->socket_grace_id = g_timeout_add (SOCKET_GRACE_MS, on_socket_grace_over, self);
      break;

    case VIV_HELPER_ABSENT:
    default:
      leave_unreachable (self);
      break;
    }

  self->socket_grace_over = FALSE;
  check_done (self);
}

static void
probe_begin (VivMachine *self)
{
  g_autoptr(GTask) task = g_task_new (self, self->cancellable, on_probed, NULL);

  self->checking = TRUE;
  g_task_set_source_tag (task, probe_begin);
  g_task_run_in_thread (task, probe_thread);
}

/**
 * viv_machine_check_helper:
 * @self: a machine
 *
 * Looks in the runtime folder for a helper that runs the machine, when the
 * machine follows none: one that answers is followed (as by
 * viv_machine_attach_async()); one that holds the machine's lock but does
 * not answer makes the machine UNREACHABLE; when none runs it any more, an
 * UNREACHABLE machine is off again. VivLibrary calls this when it loads and
 * when the runtime folder changes.
 */
void
viv_machine_check_helper (VivMachine *self)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  if (self->helper != NULL)
    return;
  if (self->checking)
    {
      self->check_again = TRUE;
      return;
    }
  probe_begin (self);
}

/* The pid of the helper that runs the machine but cannot be reached (the
 * state is UNREACHABLE); 0 otherwise */
GPid
viv_machine_get_helper_pid (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), 0);

  return self->helper_pid;
}

static void
terminate_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable G_GNUC_UNUSED)
{
  VivMachine *self = source_object;
  GError *error = NULL;

  if (viv_helper_terminate (self->uuid, GPOINTER_TO_INT (task_data), &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_terminated (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  VivMachine *self = VIV_MACHINE (object);
  g_autoptr(GTask) outer = user_data;
  GError *error = NULL;

  /* Whatever happened, the runtime folder says what runs now */
  viv_machine_check_helper (self);
  if (g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_boolean (outer, TRUE);
  else
    g_task_return_error (outer, error);
}

/* Force Off for an UNREACHABLE machine: SIGTERM to its helper, which ends
 * as on PowerOff; completes once the helper is gone */
static void
terminate_unreachable (VivMachine          *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) outer = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(GTask) task = NULL;

  g_task_set_source_tag (outer, viv_machine_force_off_async);
  /* Not cancelled with the window: a signal sent is sent, and the state
   * must follow it */
  task = g_task_new (self, NULL, on_terminated, g_steal_pointer (&outer));
  g_task_set_source_tag (task, terminate_unreachable);
  g_task_set_task_data (task, GINT_TO_POINTER (self->helper_pid), NULL);
  g_task_run_in_thread (task, terminate_thread);
}

/* --- calls to a running helper ---------------------------------------------------------- */

static VivVmm1 *
require_proxy (VivMachine  *self,
               GError     **error)
{
  VivVmm1 *proxy = self->helper != NULL ? viv_helper_get_proxy (self->helper) : NULL;

  if (proxy == NULL)
    g_set_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE,
                 /* Translators: %s is a machine’s name */
                 _("“%s” is not running"), viv_machine_get_name (self));
  return proxy;
}

static GError *
error_from_dbus (GError *error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  int code = g_strcmp0 (remote, WRONG_STATE_ERROR) == 0 ? VIV_MACHINE_ERROR_WRONG_STATE
             : g_strcmp0 (remote, MEDIUM_LOCKED_ERROR) == 0 ? VIV_MACHINE_ERROR_MEDIUM_LOCKED
             : g_strcmp0 (remote, BUSY_ERROR) == 0 ? VIV_MACHINE_ERROR_BUSY
             : VIV_MACHINE_ERROR_FAILED;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return error;
  g_dbus_error_strip_remote_error (error);
  error->domain = VIV_MACHINE_ERROR;
  error->code = code;
  return error;
}

static void
on_call_done (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) reply = NULL;
  GError *error = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (object), result, &error);
  if (reply == NULL)
    g_task_return_error (task, error_from_dbus (error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
call_helper (VivMachine          *self,
             const char          *method,
             gpointer             source_tag,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  VivVmm1 *proxy;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);

  proxy = require_proxy (self, &error);
  if (proxy == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_dbus_proxy_call (G_DBUS_PROXY (proxy), method, NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                     cancellable, on_call_done, g_steal_pointer (&task));
}

static gboolean
call_helper_finish (VivMachine    *self,
                    GAsyncResult  *result,
                    gpointer       source_tag,
                    GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Stops the vCPUs; the machine becomes PAUSED. */
void
viv_machine_pause_async (VivMachine          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  call_helper (self, "Pause", viv_machine_pause_async, cancellable, callback, user_data);
}

gboolean
viv_machine_pause_finish (VivMachine    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  return call_helper_finish (self, result, viv_machine_pause_async, error);
}

void
viv_machine_resume_async (VivMachine          *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  call_helper (self, "Resume", viv_machine_resume_async, cancellable, callback, user_data);
}

gboolean
viv_machine_resume_finish (VivMachine    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  return call_helper_finish (self, result, viv_machine_resume_async, error);
}

/* Presses the ACPI power button: the guest shuts down when it will. */
void
viv_machine_shutdown_async (VivMachine          *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  call_helper (self, "PowerButton", viv_machine_shutdown_async, cancellable, callback,
               user_data);
}

gboolean
viv_machine_shutdown_finish (VivMachine    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  return call_helper_finish (self, result, viv_machine_shutdown_async, error);
}

/* Switches the machine off at once; the helper flushes the disks and ends. */
void
viv_machine_force_off_async (VivMachine          *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  if (self->helper == NULL && self->state == VIV_MACHINE_STATE_UNREACHABLE)
    {
      terminate_unreachable (self, cancellable, callback, user_data);
      return;
    }
  call_helper (self, "PowerOff", viv_machine_force_off_async, cancellable, callback,
               user_data);
}

gboolean
viv_machine_force_off_finish (VivMachine    *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  return call_helper_finish (self, result, viv_machine_force_off_async, error);
}

void
viv_machine_reset_async (VivMachine          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  call_helper (self, "Reset", viv_machine_reset_async, cancellable, callback, user_data);
}

gboolean
viv_machine_reset_finish (VivMachine    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  return call_helper_finish (self, result, viv_machine_reset_async, error);
}

/* The fd of a helper's "(h)" reply (OpenSerial, OpenDisplay), or -1 with
 * ERROR set: the D-Bus error as ours, or MISSING when no fd came */
static int
fd_reply_finish (GObject       *proxy,
                 GAsyncResult  *result,
                 const char    *missing,
                 GError       **error)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) reply = NULL;
  GError *local = NULL;
  gint32 handle;
  int fd;

  reply = g_dbus_proxy_call_with_unix_fd_list_finish (G_DBUS_PROXY (proxy), &fds, result,
                                                      &local);
  if (reply == NULL)
    {
      g_propagate_error (error, error_from_dbus (local));
      return -1;
    }
  g_variant_get (reply, "(h)", &handle);
  fd = fds != NULL ? g_unix_fd_list_get (fds, handle, &local) : -1;
  if (fd < 0)
    {
      if (local == NULL)
        local = g_error_new_literal (VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED, missing);
      g_propagate_error (error, local);
    }
  return fd;
}

static void
on_serial_opened (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GSocket) socket = NULL;
  GError *error = NULL;
  int fd;

  fd = fd_reply_finish (object, result, _("The helper sent no serial console"), &error);
  if (fd < 0)
    {
      g_task_return_error (task, error);
      return;
    }

  socket = g_socket_new_from_fd (fd, &error);
  if (socket == NULL)
    {
      g_close (fd, NULL);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, g_socket_connection_factory_create_connection (socket),
                         g_object_unref);
}

/**
 * viv_machine_open_serial_async:
 * @self: a running machine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the connection
 * @user_data: data for @callback
 *
 * Connects to the guest's serial console (COM1): reading gives the last
 * 64 KiB the guest printed, then what it prints; what is written is typed
 * into the guest.
 */
void
viv_machine_open_serial_async (VivMachine          *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  VivVmm1 *proxy;

  g_return_if_fail (VIV_IS_MACHINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_open_serial_async);

  proxy = require_proxy (self, &error);
  if (proxy == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_dbus_proxy_call_with_unix_fd_list (G_DBUS_PROXY (proxy), "OpenSerial", NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, cancellable,
                                       on_serial_opened, g_steal_pointer (&task));
}

/**
 * viv_machine_open_serial_finish:
 *
 * Returns: (transfer full): a #GSocketConnection, or %NULL with @error set
 */
GIOStream *
viv_machine_open_serial_finish (VivMachine    *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_open_serial_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
close_fd (gpointer data)
{
  int *fd = data;

  g_close (*fd, NULL);
  g_free (fd);
}

static void
on_display_opened (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  int fd;

  fd = fd_reply_finish (object, result, _("The helper sent no display connection"), &error);
  if (fd < 0)
    {
      g_task_return_error (task, error);
      return;
    }
  /* Boxed with a destructor: a result nobody takes (the caller went away)
   * still closes the socket */
  g_task_return_pointer (task, g_memdup2 (&fd, sizeof fd), close_fd);
}

/**
 * viv_machine_open_display_async:
 * @self: a running machine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the socket
 * @user_data: data for @callback
 *
 * Opens a new connection to the machine's SPICE server (the helper's
 * OpenDisplay). SPICE opens one connection per channel: call this once
 * for each channel that asks for one.
 */
void
viv_machine_open_display_async (VivMachine          *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  VivVmm1 *proxy;

  g_return_if_fail (VIV_IS_MACHINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_open_display_async);

  proxy = require_proxy (self, &error);
  if (proxy == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_dbus_proxy_call_with_unix_fd_list (G_DBUS_PROXY (proxy), "OpenDisplay", NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, cancellable,
                                       on_display_opened, g_steal_pointer (&task));
}

/**
 * viv_machine_open_display_finish:
 *
 * Returns: a connected socket's file descriptor, which the caller owns, or
 *   -1 with @error set
 */
int
viv_machine_open_display_finish (VivMachine    *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_autofree int *boxed = NULL;
  int fd;

  g_return_val_if_fail (VIV_IS_MACHINE (self), -1);
  g_return_val_if_fail (g_task_is_valid (result, self), -1);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_open_display_async, -1);

  boxed = g_task_propagate_pointer (G_TASK (result), error);
  if (boxed == NULL)
    return -1;
  fd = *boxed;
  return fd;
}

/* --- snapshots --------------------------------------------------------------------------- */

/* The machine keeps snapshots/index.json as last read (in a worker thread):
 * read the first time someone asks, then again when the file changes (a
 * monitor on it), when the helper says SnapshotsChanged, and after each
 * operation; "snapshots-changed" follows each read. An operation goes to
 * the helper over D-Bus while one runs the machine, else to the engine's
 * command line, `vivarium-vmm snapshot VERB --machine DIR ...`, whose
 * stderr line is the error's message. One runs at a time: snapshot-busy. */

typedef enum
{
  SNAPSHOT_TAKE,
  SNAPSHOT_REVERT,
  SNAPSHOT_DELETE,
  SNAPSHOT_RENAME,
} SnapshotVerb;

static const struct {
  const char *method;   /* org.vivarium.Vmm1's */
  const char *verb;     /* vivarium-vmm snapshot's */
} snapshot_verbs[] = {
  [SNAPSHOT_TAKE] = { "TakeSnapshot", "take" },
  [SNAPSHOT_REVERT] = { "RevertSnapshot", "revert" },
  [SNAPSHOT_DELETE] = { "DeleteSnapshot", "delete" },
  [SNAPSHOT_RENAME] = { "RenameSnapshot", "rename" },
};

typedef struct
{
  SnapshotVerb  verb;
  char         *id;
  char         *name;
} SnapshotOp;

static void
snapshot_op_free (SnapshotOp *op)
{
  g_free (op->id);
  g_free (op->name);
  g_free (op);
}

typedef struct
{
  VivSnapshotIndex *index;
  GError           *error;
} SnapshotRead;

static void
snapshot_read_free (SnapshotRead *read)
{
  g_clear_pointer (&read->index, viv_snapshot_index_free);
  g_clear_error (&read->error);
  g_free (read);
}

static void
read_snapshots_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data G_GNUC_UNUSED,
                       GCancellable *cancellable G_GNUC_UNUSED)
{
  VivMachine *self = source_object;
  SnapshotRead *read = g_new0 (SnapshotRead, 1);

  read->index = viv_snapshot_index_load (self->directory, &read->error);
  g_task_return_pointer (task, read, (GDestroyNotify) snapshot_read_free);
}

static void read_snapshots (VivMachine *self);

/* The engine's reason: the first line it wrote that says something */
static char *
first_line_of (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_strstrip (lines[i]);
      if (lines[i][0] != '\0')
        return g_strdup (lines[i]);
    }
  return NULL;
}

static void
on_snapshots_read (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data G_GNUC_UNUSED)
{
  VivMachine *self = VIV_MACHINE (object);
  SnapshotRead *read = g_task_propagate_pointer (G_TASK (result), NULL);

  if (read == NULL)   /* cancelled: the machine is going */
    return;
  self->reading_snapshots = FALSE;
  g_clear_pointer (&self->snapshots, viv_snapshot_index_free);
  g_clear_error (&self->snapshots_error);
  self->snapshots = g_steal_pointer (&read->index);
  self->snapshots_error = g_steal_pointer (&read->error);
  snapshot_read_free (read);
  if (self->snapshots_error != NULL)
    g_debug ("%s: %s", self->folder_name, self->snapshots_error->message);
  g_signal_emit (self, signals[SIGNAL_SNAPSHOTS_CHANGED], 0);
  if (self->read_snapshots_again)
    read_snapshots (self);
}

static void
read_snapshots (VivMachine *self)
{
  g_autoptr(GTask) task = NULL;

  self->read_snapshots_again = FALSE;
  if (self->reading_snapshots)
    {
      /* it may have read the file before this change */
      self->read_snapshots_again = TRUE;
      return;
    }
  self->reading_snapshots = TRUE;
  task = g_task_new (self, self->cancellable, on_snapshots_read, NULL);
  g_task_set_source_tag (task, read_snapshots);
  g_task_run_in_thread (task, read_snapshots_thread);
}

static gboolean
read_snapshots_cb (gpointer data)
{
  VivMachine *self = data;

  self->read_snapshots_id = 0;
  read_snapshots (self);
  return G_SOURCE_REMOVE;
}

/* Writes come in bursts (write, then rename): read once the burst is over */
static void
schedule_read_snapshots (VivMachine *self)
{
  /* nobody asked yet: the first viv_machine_get_snapshots() reads it */
  if (!self->snapshots_wanted)
    return;
  if (self->read_snapshots_id == 0)
    self->read_snapshots_id = g_timeout_add (RELOAD_DELAY_MS, read_snapshots_cb, self);
}

static void
on_snapshots_monitor_changed (GFileMonitor      *monitor G_GNUC_UNUSED,
                              GFile             *file G_GNUC_UNUSED,
                              GFile             *other_file G_GNUC_UNUSED,
                              GFileMonitorEvent  event,
                              VivMachine        *self)
{
  if (event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED)
    return;
  schedule_read_snapshots (self);
}

static void
on_proxy_snapshots_changed (VivVmm1    *proxy,
                            VivMachine *self)
{
  if (self->helper == NULL || viv_helper_get_proxy (self->helper) != proxy)
    return;
  schedule_read_snapshots (self);
}

/**
 * viv_machine_get_snapshots:
 * @self: a machine
 * @error: (out) (optional) (nullable): why the index cannot be read, if it cannot
 *
 * The machine's snapshots as snapshots/index.json says, as last read. The
 * first call starts reading it (in a worker thread) and returns %NULL;
 * #VivMachine::snapshots-changed says when it was read, and whenever it
 * changes after that. A machine without snapshots has an empty index.
 *
 * Returns: (transfer none) (nullable): the index, valid until the next
 *   #VivMachine::snapshots-changed; %NULL while not read, or when it
 *   cannot be (then @error says why)
 */
const VivSnapshotIndex *
viv_machine_get_snapshots (VivMachine    *self,
                           const GError **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  if (!self->snapshots_wanted)
    {
      g_autofree char *path = g_build_filename (self->directory, VIV_SNAPSHOT_INDEX_DIR,
                                                VIV_SNAPSHOT_INDEX_FILE, NULL);
      g_autoptr(GFile) file = g_file_new_for_path (path);
      g_autoptr(GError) local = NULL;

      self->snapshots_wanted = TRUE;
      /* a file that does not exist yet is watched too (GIO polls its folder) */
      self->snapshots_monitor = g_file_monitor_file (file, G_FILE_MONITOR_NONE, NULL, &local);
      if (self->snapshots_monitor != NULL)
        g_signal_connect (self->snapshots_monitor, "changed",
                          G_CALLBACK (on_snapshots_monitor_changed), self);
      else
        g_debug ("cannot watch %s: %s", path, local->message);
      read_snapshots (self);
    }
  if (error != NULL)
    *error = self->snapshots_error;
  return self->snapshots;
}

/* Whether a snapshot operation runs (the others are refused meanwhile) */
gboolean
viv_machine_get_snapshot_busy (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);

  return self->snapshot_busy;
}

/* Whether the machine is in a state where snapshots can be taken, reverted
 * to, renamed or deleted: off, or running or paused with its helper
 * answering (not while it starts or stops, nor broken or unreachable) */
gboolean
viv_machine_can_snapshot (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);

  switch (self->state)
    {
    case VIV_MACHINE_STATE_STOPPED:
    case VIV_MACHINE_STATE_CRASHED:
      return self->helper == NULL && self->config != NULL;
    case VIV_MACHINE_STATE_RUNNING:
    case VIV_MACHINE_STATE_PAUSED:
      return self->helper != NULL && viv_helper_get_proxy (self->helper) != NULL;
    case VIV_MACHINE_STATE_STARTING:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
    case VIV_MACHINE_STATE_BROKEN:
    case VIV_MACHINE_STATE_UNREACHABLE:
    default:
      return FALSE;
    }
}

static void
set_snapshot_busy (VivMachine *self,
                   gboolean    busy)
{
  if (self->snapshot_busy == busy)
    return;
  self->snapshot_busy = busy;
  notify (self, PROP_SNAPSHOT_BUSY);
}

/* The operation ended, well or not: the index may have changed either way */
static void
snapshot_op_done (GTask  *task,
                  char   *id,
                  GError *error)
{
  VivMachine *self = g_task_get_source_object (task);

  set_snapshot_busy (self, FALSE);
  schedule_read_snapshots (self);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, id != NULL ? id : g_strdup (""), g_free);
}

static void
on_snapshot_called (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) reply = NULL;
  SnapshotOp *op = g_task_get_task_data (task);
  GError *error = NULL;
  char *id = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (object), result, &error);
  if (reply == NULL)
    {
      snapshot_op_done (task, NULL, error_from_dbus (error));
      return;
    }
  if (op->verb == SNAPSHOT_TAKE)
    g_variant_get (reply, "(s)", &id);
  snapshot_op_done (task, id, NULL);
}

static void
on_snapshot_command_done (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  GSubprocess *process = G_SUBPROCESS (object);
  g_autoptr(GTask) task = user_data;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  GError *error = NULL;

  if (!g_subprocess_communicate_utf8_finish (process, result, &out, &err, &error))
    {
      snapshot_op_done (task, NULL, error);
      return;
    }
  if (!g_subprocess_get_successful (process))
    {
      g_autofree char *line = first_line_of (err);

      snapshot_op_done (task, NULL,
                        g_error_new_literal (VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED,
                                             line != NULL ? line
                                             : _("The snapshot operation failed. The "
                                                 "machine’s log may say why.")));
      return;
    }
  snapshot_op_done (task, out != NULL ? g_strdup (g_strstrip (out)) : NULL, NULL);
}

static void
run_snapshot_command (VivMachine *self,
                      GTask      *task)
{
  SnapshotOp *op = g_task_get_task_data (task);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *program = viv_helper_find_program ();
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, program);
  g_ptr_array_add (argv, (char *) "snapshot");
  g_ptr_array_add (argv, (char *) snapshot_verbs[op->verb].verb);
  g_ptr_array_add (argv, (char *) "--machine");
  g_ptr_array_add (argv, self->directory);
  if (op->id != NULL)
    g_ptr_array_add (argv, op->id);
  if (op->name != NULL)
    g_ptr_array_add (argv, op->name);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  if (process == NULL)
    {
      g_autofree char *display = g_filename_display_name (program);

      snapshot_op_done (task, NULL,
                        g_error_new (VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_NOT_FOUND,
                                     _("Could not run the machine’s helper, %s: %s"),
                                     display, error->message));
      return;
    }
  /* Not cancellable: an engine that was told to take a snapshot finishes
   * it, and the busy flag must last as long */
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_snapshot_command_done,
                                       g_object_ref (task));
}

static gboolean
snapshot_has_memory (VivMachine *self,
                     const char *id)
{
  const VivSnapshotIndex *index = viv_machine_get_snapshots (self, NULL);
  const VivSnapshot *snapshot = index != NULL ? viv_snapshot_index_find (index, id) : NULL;

  return snapshot != NULL && snapshot->memory;
}

static void
on_started_from_snapshot (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (viv_machine_start_finish (VIV_MACHINE (object), result, &error))
    snapshot_op_done (task, NULL, NULL);
  else
    snapshot_op_done (task, NULL, error);
}

static SnapshotOp *
snapshot_op_new (SnapshotVerb  verb,
                 const char   *id,
                 const char   *name)
{
  SnapshotOp *op = g_new0 (SnapshotOp, 1);

  op->verb = verb;
  op->id = g_strdup (id);
  op->name = g_strdup (name);
  return op;
}

/* Starts VERB on snapshot ID (NULL: a new one) with NAME (NULL: none, else
 * checked first) for the task made of the rest: the one path of every
 * snapshot operation, to the helper over D-Bus or to the command line */
static void
snapshot_begin (VivMachine          *self,
                SnapshotVerb         verb,
                const char          *id,
                const char          *name,
                gpointer             source_tag,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  SnapshotOp *op;
  VivVmm1 *proxy;

  if (name != NULL && !viv_snapshot_name_check (name, &error))
    {
      g_task_report_new_error (self, callback, user_data, source_tag, VIV_MACHINE_ERROR,
                               VIV_MACHINE_ERROR_INVALID_NAME, "%s", error->message);
      return;
    }

  op = snapshot_op_new (verb, id, name);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, op, (GDestroyNotify) snapshot_op_free);

  if (self->snapshot_busy)
    {
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BUSY,
                               _("Another snapshot operation is under way. Try again once "
                                 "it is done."));
      return;
    }
  if (!viv_machine_can_snapshot (self))
    {
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE,
                               /* Translators: %s is a machine’s name */
                               _("“%s” cannot change its snapshots now: wait until it is "
                                 "off or running."), viv_machine_get_name (self));
      return;
    }

  set_snapshot_busy (self, TRUE);
  proxy = self->helper != NULL ? viv_helper_get_proxy (self->helper) : NULL;
  if (proxy == NULL && op->verb == SNAPSHOT_REVERT && self->helper == NULL &&
      self->config != NULL && snapshot_has_memory (self, op->id))
    {
      /* Back to a running machine's snapshot while off: the machine starts from it */
      GTask *start = g_task_new (self, NULL, on_started_from_snapshot, g_object_ref (task));

      g_task_set_source_tag (start, viv_machine_start_async);
      spawn_helper (self, op->id, start);
      return;
    }
  if (proxy == NULL)
    {
      run_snapshot_command (self, task);
      return;
    }

  {
    GVariant *parameters;

    switch (op->verb)
      {
      case SNAPSHOT_TAKE:
        parameters = g_variant_new ("(s)", op->name);
        break;
      case SNAPSHOT_RENAME:
        parameters = g_variant_new ("(ss)", op->id, op->name);
        break;
      case SNAPSHOT_REVERT:
      case SNAPSHOT_DELETE:
      default:
        parameters = g_variant_new ("(s)", op->id);
        break;
      }
    /* No timeout: saving a large memory takes its time. Not cancellable,
     * as above. */
    g_dbus_proxy_call (G_DBUS_PROXY (proxy), snapshot_verbs[op->verb].method, parameters,
                       G_DBUS_CALL_FLAGS_NONE, G_MAXINT, NULL, on_snapshot_called,
                       g_object_ref (task));
  }
}

/* The snapshot's id (a new one's for a take, else ""), or NULL with ERROR set */
static char *
snapshot_finish (VivMachine    *self,
                 GAsyncResult  *result,
                 gpointer       source_tag,
                 GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static gboolean
snapshot_finish_done (VivMachine    *self,
                      GAsyncResult  *result,
                      gpointer       source_tag,
                      GError       **error)
{
  g_autofree char *id = snapshot_finish (self, result, source_tag, error);

  return id != NULL;
}

/**
 * viv_machine_take_snapshot_async:
 * @self: a machine, off or running
 * @name: the snapshot's name (see viv_snapshot_name_check())
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once it is taken, or could not be
 * @user_data: data for @callback
 *
 * Takes a snapshot of the machine after the current one: its disks, and
 * its memory and devices when it runs. Fails with %VIV_MACHINE_ERROR_BUSY
 * while another snapshot operation runs. Cancelling only stops the wait:
 * the engine finishes what it was asked.
 */
void
viv_machine_take_snapshot_async (VivMachine          *self,
                                 const char          *name,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (name != NULL);

  snapshot_begin (self, SNAPSHOT_TAKE, NULL, name, viv_machine_take_snapshot_async,
                  cancellable, callback, user_data);
}

/**
 * viv_machine_take_snapshot_finish:
 *
 * Returns: (transfer full): the new snapshot's id, or %NULL with @error set
 */
char *
viv_machine_take_snapshot_finish (VivMachine    *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  return snapshot_finish (self, result, viv_machine_take_snapshot_async, error);
}

/* Puts the machine back to snapshot ID; a running machine runs on from
 * there (a snapshot taken while it was off needs it off) */
void
viv_machine_revert_snapshot_async (VivMachine          *self,
                                   const char          *id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (id != NULL);

  snapshot_begin (self, SNAPSHOT_REVERT, id, NULL, viv_machine_revert_snapshot_async,
                  cancellable, callback, user_data);
}

gboolean
viv_machine_revert_snapshot_finish (VivMachine    *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  return snapshot_finish_done (self, result, viv_machine_revert_snapshot_async, error);
}

/* Removes snapshot ID; its children keep their content */
void
viv_machine_delete_snapshot_async (VivMachine          *self,
                                   const char          *id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (id != NULL);

  snapshot_begin (self, SNAPSHOT_DELETE, id, NULL, viv_machine_delete_snapshot_async,
                  cancellable, callback, user_data);
}

gboolean
viv_machine_delete_snapshot_finish (VivMachine    *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  return snapshot_finish_done (self, result, viv_machine_delete_snapshot_async, error);
}

void
viv_machine_rename_snapshot_async (VivMachine          *self,
                                   const char          *id,
                                   const char          *name,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (id != NULL);
  g_return_if_fail (name != NULL);

  snapshot_begin (self, SNAPSHOT_RENAME, id, name, viv_machine_rename_snapshot_async,
                  cancellable, callback, user_data);
}

gboolean
viv_machine_rename_snapshot_finish (VivMachine    *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  return snapshot_finish_done (self, result, viv_machine_rename_snapshot_async, error);
}

/* --- changes to machine.json ---------------------------------------------------------- */

typedef struct
{
  char         *name;     /* NULL: not changed */
  gboolean      resources;
  guint64       memory;
  guint         cpus;
  gboolean      boot;
  VivBootKind   boot_kind;
  VivFirmware   firmware;
  char         *kernel;
  char         *initrd;
  char         *cmdline;
  gboolean      disc;     /* the first CD-ROM drive's disc */
  char         *disc_path; /* NULL: ejected */
  gboolean      network;
  VivNetworkMode net_mode;
  char         *mac;
  char         *tap;
  GPtrArray    *forwards; /* of VivPortForward* */
} Change;

static void
change_free (Change *change)
{
  g_free (change->name);
  g_free (change->kernel);
  g_free (change->initrd);
  g_free (change->cmdline);
  g_free (change->disc_path);
  g_free (change->mac);
  g_free (change->tap);
  g_clear_pointer (&change->forwards, g_ptr_array_unref);
  g_free (change);
}

static void save_next (VivMachine *self);

/* What a worker thread writes: the machine's test hook goes with it */
typedef struct
{
  VivMachineConfig   *config;
  char               *path;
  VivFileReplaceHook  hook;
  gpointer            hook_data;
} Save;

static void
save_free (Save *save)
{
  g_clear_pointer (&save->config, viv_machine_config_free);
  g_free (save->path);
  g_free (save);
}

/**
 * viv_machine_save_config:
 * @config: a configuration
 * @path: where to write it
 * @hook: (nullable): a test hook, called before the rename
 * @hook_data: data for @hook
 * @error: return location for a #VIV_MACHINE_CONFIG_ERROR or a #GIOError
 *
 * viv_machine_config_save(), with the library's test hook. Blocks on the
 * disk.
 */
gboolean
viv_machine_save_config (const VivMachineConfig  *config,
                         const char              *path,
                         VivFileReplaceHook       hook,
                         gpointer                 hook_data,
                         GError                 **error)
{
  g_autofree char *data = NULL;
  gsize len;

  if (!viv_machine_config_check (config, error))
    return FALSE;
  data = viv_machine_config_to_data (config, &len);
  return viv_file_replace_full (path, data, len, hook, hook_data, error);
}

static void
save_thread (GTask        *task,
             gpointer      source_object G_GNUC_UNUSED,
             gpointer      task_data,
             GCancellable *cancellable G_GNUC_UNUSED)
{
  Save *save = task_data;
  GError *error = NULL;

  if (!viv_machine_save_config (save->config, save->path, save->hook, save->hook_data, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_saved (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data G_GNUC_UNUSED)
{
  VivMachine *self = VIV_MACHINE (object);
  g_autoptr(GTask) change_task = g_queue_pop_head (&self->saves);
  GError *error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), &error))
    {
      Save *saved = g_task_get_task_data (G_TASK (result));

      /* What is on disk now; a reload that read the file before is stale. */
      self->generation++;
      set_config (self, viv_machine_config_copy (saved->config), NULL);
      g_task_return_boolean (change_task, TRUE);
    }
  else
    {
      g_task_return_error (change_task, error);
    }

  save_next (self);
}

/* Applies the first queued change to the current config, checks it and
 * writes it in a worker thread. */
static void
save_next (VivMachine *self)
{
  GTask *change_task;

  while ((change_task = g_queue_peek_head (&self->saves)) != NULL)
    {
      Change *change = g_task_get_task_data (change_task);
      g_autoptr(VivMachineConfig) config = NULL;
      g_autoptr(GTask) task = NULL;
      g_autoptr(GError) error = NULL;
      Save *save;

      if (self->config == NULL)
        {
          g_set_error (&error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BROKEN,
                       /* Translators: the first %s is a machine’s name,
                        * the second the reason */
                       _("“%s” cannot be changed: %s"),
                       self->folder_name, self->broken_reason);
        }
      else
        {
          config = viv_machine_config_copy (self->config);
          if (change->name != NULL)
            {
              g_free (config->name);
              config->name = g_strdup (change->name);
            }
          if (change->resources)
            {
              config->memory = change->memory;
              config->cpus = change->cpus;
            }
          if (change->boot)
            {
              config->boot.kind = change->boot_kind;
              config->boot.firmware = change->firmware;
              g_free (config->boot.kernel);
              config->boot.kernel = g_strdup (change->kernel);
              g_free (config->boot.initrd);
              config->boot.initrd = g_strdup (change->initrd);
              g_free (config->boot.cmdline);
              config->boot.cmdline = g_strdup (change->cmdline);
            }
          if (change->disc)
            {
              VivMediaConfig *media;

              /* Inserting into a machine without a drive gives it one. */
              if (config->media->len == 0)
                g_ptr_array_add (config->media, viv_media_config_new (NULL, VIV_MEDIA_KIND_CDROM));
              media = g_ptr_array_index (config->media, 0);
              g_free (media->path);
              media->path = g_strdup (change->disc_path);
              media->inserted = change->disc_path != NULL;
            }
          if (change->network)
            {
              config->network.mode = change->net_mode;
              g_free (config->network.mac);
              config->network.mac = g_strdup (change->mac);
              g_free (config->network.tap);
              config->network.tap = g_strdup (change->tap);
              g_ptr_array_set_size (config->network.forwards, 0);
              for (guint i = 0; i < change->forwards->len; i++)
                g_ptr_array_add (config->network.forwards,
                                 viv_port_forward_copy (g_ptr_array_index (change->forwards, i)));
            }
          viv_machine_config_check (config, &error);
        }

      if (error != NULL)
        {
          g_queue_pop_head (&self->saves);
          g_task_return_error (change_task, g_steal_pointer (&error));
          g_object_unref (change_task);
          continue;
        }

      save = g_new0 (Save, 1);
      save->config = g_steal_pointer (&config);
      save->path = g_build_filename (self->directory, VIV_MACHINE_CONFIG_FILE_NAME, NULL);
      save->hook = self->replace_hook;
      save->hook_data = self->replace_hook_data;
      task = g_task_new (self, NULL, on_saved, NULL);
      g_task_set_source_tag (task, save_next);
      g_task_set_task_data (task, save, (GDestroyNotify) save_free);
      g_task_run_in_thread (task, save_thread);
      return;
    }
}

static void
queue_change (VivMachine *self,
              GTask      *task,
              Change     *change)
{
  gboolean idle = g_queue_is_empty (&self->saves);

  g_task_set_task_data (task, change, (GDestroyNotify) change_free);
  g_queue_push_tail (&self->saves, g_object_ref (task));
  if (idle)
    save_next (self);
}

/**
 * viv_machine_check_name:
 * @name: a name, as it would be saved
 * @error: return location for a %VIV_MACHINE_ERROR_INVALID_NAME
 *
 * Whether viv_machine_rename_async() would take @name (after dropping the
 * spaces at either end), so that a dialog can say why before it is tried.
 *
 * Returns: %TRUE if the name can be used
 */
gboolean
viv_machine_check_name (const char  *name,
                        GError     **error)
{
  g_return_val_if_fail (name != NULL, FALSE);

  if (*name == '\0')
    {
      g_set_error_literal (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_INVALID_NAME,
                           _("The name must not be empty"));
      return FALSE;
    }
  if (strlen (name) > VIV_MACHINE_CONFIG_MAX_NAME)
    {
      g_set_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_INVALID_NAME,
                   /* Translators: %d is a number of bytes */
                   _("The name is too long: at most %d bytes"), VIV_MACHINE_CONFIG_MAX_NAME);
      return FALSE;
    }
  if (!g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_INVALID_NAME,
                           _("The name is not valid text"));
      return FALSE;
    }
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      {
        g_set_error_literal (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_INVALID_NAME,
                             _("The name must not contain control characters"));
        return FALSE;
      }
  return TRUE;
}

/**
 * viv_machine_rename_async:
 * @self: a machine
 * @name: the new name; spaces at either end are dropped
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once machine.json is written
 * @user_data: data for @callback
 *
 * Renames the machine: machine.json is replaced atomically in a worker
 * thread. An empty name, or one longer than 256 bytes, is refused
 * (%VIV_MACHINE_ERROR_INVALID_NAME).
 */
void
viv_machine_rename_async (VivMachine          *self,
                          const char          *name,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  Change *change;

  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (name != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_rename_async);

  change = g_new0 (Change, 1);
  change->name = g_strstrip (g_strdup (name));
  if (!viv_machine_check_name (change->name, &error))
    {
      change_free (change);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  queue_change (self, task, change);
}

gboolean
viv_machine_rename_finish (VivMachine    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_machine_rename_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * viv_machine_set_resources_async:
 * @self: a machine
 * @memory: memory in bytes, a whole number of MiB
 * @cpus: number of virtual CPUs
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once machine.json is written
 * @user_data: data for @callback
 *
 * Changes the machine's memory and CPUs in machine.json (atomically, in a
 * worker thread). A running machine keeps what it has until it starts
 * again: pending-changes says so meanwhile.
 */
void
viv_machine_set_resources_async (VivMachine          *self,
                                 guint64              memory,
                                 guint                cpus,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Change *change;

  g_return_if_fail (VIV_IS_MACHINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_set_resources_async);

  change = g_new0 (Change, 1);
  change->resources = TRUE;
  change->memory = memory;
  change->cpus = cpus;
  queue_change (self, task, change);
}

gboolean
viv_machine_set_resources_finish (VivMachine    *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_set_resources_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* An empty string is no string: the field is left out of machine.json */
static char *
dup_nonempty (const char *text)
{
  return text != NULL && *text != '\0' ? g_strdup (text) : NULL;
}

/**
 * viv_machine_set_boot_async:
 * @self: a machine
 * @kind: how the machine boots
 * @firmware: the firmware, for %VIV_BOOT_KIND_FIRMWARE (else kept as given)
 * @kernel: (nullable): the kernel, for %VIV_BOOT_KIND_KERNEL
 * @initrd: (nullable): the initial ramdisk
 * @cmdline: (nullable): the kernel command line
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once machine.json is written
 * @user_data: data for @callback
 *
 * Changes the machine's boot source in machine.json (atomically, in a worker
 * thread). Empty strings leave the field out. A description that is not
 * complete (no kernel to boot, say) is refused with the config's error. A
 * running machine boots the new way the next time it starts.
 */
void
viv_machine_set_boot_async (VivMachine          *self,
                            VivBootKind          kind,
                            VivFirmware          firmware,
                            const char          *kernel,
                            const char          *initrd,
                            const char          *cmdline,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Change *change;

  g_return_if_fail (VIV_IS_MACHINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_set_boot_async);

  change = g_new0 (Change, 1);
  change->boot = TRUE;
  change->boot_kind = kind;
  change->firmware = firmware;
  change->kernel = dup_nonempty (kernel);
  change->initrd = dup_nonempty (initrd);
  change->cmdline = dup_nonempty (cmdline);
  queue_change (self, task, change);
}

gboolean
viv_machine_set_boot_finish (VivMachine    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_set_boot_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * viv_machine_set_network_async:
 * @self: a machine
 * @network: the network card: mode, MAC address (%NULL: the default one
 *   derived from the UUID), tap device, port forwards
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once machine.json is written
 * @user_data: data for @callback
 *
 * Changes the machine's network card in machine.json (atomically, in a
 * worker thread). The machine's own unknown members of "network" stay;
 * each forward's go with it, as @network has them. A value machine.json
 * cannot take (a MAC address that is not unicast, a tap device name Linux
 * refuses, the same port forwarded twice) is refused with the config's
 * error. A running machine keeps its network card until it starts again.
 */
void
viv_machine_set_network_async (VivMachine             *self,
                               const VivNetworkConfig *network,
                               GCancellable           *cancellable,
                               GAsyncReadyCallback     callback,
                               gpointer                user_data)
{
  g_autoptr(GTask) task = NULL;
  Change *change;

  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (network != NULL && network->forwards != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_set_network_async);

  change = g_new0 (Change, 1);
  change->network = TRUE;
  change->net_mode = network->mode;
  change->mac = dup_nonempty (network->mac);
  change->tap = dup_nonempty (network->tap);
  change->forwards = g_ptr_array_new_with_free_func ((GDestroyNotify) viv_port_forward_free);
  for (guint i = 0; i < network->forwards->len; i++)
    g_ptr_array_add (change->forwards,
                     viv_port_forward_copy (g_ptr_array_index (network->forwards, i)));
  queue_change (self, task, change);
}

gboolean
viv_machine_set_network_finish (VivMachine    *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_set_network_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * viv_machine_get_guest_addresses:
 * @self: a machine
 *
 * The guest's network addresses the running helper knows of (with
 * user-mode networking, the one its DHCP server leased). Changes with
 * notify::guest-addresses.
 *
 * Returns: (nullable) (array zero-terminated=1): the addresses, as text
 *   ("10.0.2.15"), or %NULL when none is known or the machine is not running
 */
const char *const *
viv_machine_get_guest_addresses (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  return (const char *const *) self->guest_addresses;
}

/* --- discs ------------------------------------------------------------------------- */

/**
 * viv_machine_has_cd_drive:
 * @self: a machine
 *
 * Whether the machine has a CD-ROM drive whose disc can be changed: it
 * boots through a firmware (with direct kernel boot, a disc is a
 * read-only disk). Changes with notify::config.
 *
 * Returns: %TRUE if Eject and Insert apply
 */
gboolean
viv_machine_has_cd_drive (VivMachine *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);

  return self->config != NULL && viv_machine_config_uses_firmware (self->config);
}

/**
 * viv_machine_get_disc:
 * @self: a machine
 *
 * The disc in the first CD-ROM drive: the running helper's, else
 * machine.json's. Changes with notify::disc.
 *
 * Returns: (nullable): its path (absolute, or relative to the machine's
 *   folder), or %NULL when the drive is empty or there is none
 */
const char *
viv_machine_get_disc (VivMachine *self)
{
  const VivMediaConfig *media;
  const char *path;
  gboolean known;

  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);

  path = helper_disc (self, &known);
  if (known)
    return path;
  if (self->config == NULL || self->config->media->len == 0)
    return NULL;
  media = g_ptr_array_index (self->config->media, 0);
  return media->inserted ? media->path : NULL;
}

/* Queues the change of the first drive's disc in machine.json; TASK (may
 * be NULL) returns when it is written. */
static void
save_disc (VivMachine *self,
           const char *path,
           GTask      *task)
{
  g_autoptr(GTask) own = NULL;
  Change *change = g_new0 (Change, 1);

  if (task == NULL)
    task = own = g_task_new (self, NULL, NULL, NULL);
  change->disc = TRUE;
  change->disc_path = g_strdup (path);
  queue_change (self, task, change);
}

static void
on_disc_call_done (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GVariant) reply = NULL;
  GError *error = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (object), result, &error);
  if (reply == NULL)
    {
      g_task_return_error (task, error_from_dbus (error));
      return;
    }
  /* machine.json follows the Media property (on_proxy_media) */
  g_task_return_boolean (task, TRUE);
}

static void
change_disc (VivMachine          *self,
             const char          *path,
             gpointer             source_tag,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  VivVmm1 *proxy;
  gboolean known;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);

  proxy = self->helper != NULL ? viv_helper_get_proxy (self->helper) : NULL;
  helper_disc (self, &known);
  if (proxy != NULL && known)
    {
      if (path != NULL)
        g_dbus_proxy_call (G_DBUS_PROXY (proxy), "InsertMedium", g_variant_new ("(us)", 0, path),
                           G_DBUS_CALL_FLAGS_NONE, -1, cancellable, on_disc_call_done,
                           g_steal_pointer (&task));
      else
        g_dbus_proxy_call (G_DBUS_PROXY (proxy), "EjectMedium", g_variant_new ("(ub)", 0, FALSE),
                           G_DBUS_CALL_FLAGS_NONE, -1, cancellable, on_disc_call_done,
                           g_steal_pointer (&task));
      return;
    }
  if (self->helper != NULL && viv_machine_get_state (self) != VIV_MACHINE_STATE_STOPPED)
    {
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE,
                               _("The disc can be changed once the machine has started"));
      return;
    }
  save_disc (self, path, task);
}

/**
 * viv_machine_eject_disc_async:
 * @self: a machine with a CD-ROM drive
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the drive is empty
 * @user_data: data for @callback
 *
 * Takes the disc out of the first CD-ROM drive: through the helper while
 * the machine runs (machine.json follows), else in machine.json. A guest
 * using the disc gives %VIV_MACHINE_ERROR_MEDIUM_LOCKED: it was asked to
 * release it, and notify::disc says when it has.
 */
void
viv_machine_eject_disc_async (VivMachine          *self,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));

  change_disc (self, NULL, viv_machine_eject_disc_async, cancellable, callback, user_data);
}

gboolean
viv_machine_eject_disc_finish (VivMachine    *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_eject_disc_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

char *
viv_machine_change_disc_finish (VivMachine   *self,
                                GAsyncResult *result)
{
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (g_task_get_source_tag (G_TASK (result)) == viv_machine_eject_disc_async)
    ok = viv_machine_eject_disc_finish (self, result, &error);
  else
    ok = viv_machine_insert_disc_finish (self, result, &error);
  if (ok || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return NULL;
  if (g_error_matches (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_MEDIUM_LOCKED))
    return g_strdup (_("The guest is using the disc; it was asked to release it"));
  return g_strdup_printf (_("Could not change the disc: %s"), error->message);
}

/**
 * viv_machine_insert_disc_async:
 * @self: a machine with a CD-ROM drive
 * @path: a disc image (an ISO)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the disc is in
 * @user_data: data for @callback
 *
 * Puts @path in the first CD-ROM drive, which must be empty: through the
 * helper while the machine runs (machine.json follows), else in
 * machine.json.
 */
void
viv_machine_insert_disc_async (VivMachine          *self,
                               const char          *path,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (VIV_IS_MACHINE (self));
  g_return_if_fail (path != NULL && path[0] != '\0');

  change_disc (self, path, viv_machine_insert_disc_async, cancellable, callback, user_data);
}

gboolean
viv_machine_insert_disc_finish (VivMachine    *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_insert_disc_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- reading files ------------------------------------------------------------------ */

static void
read_log_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable G_GNUC_UNUSED)
{
  VivMachine *self = source_object;
  gsize max_bytes = *(gsize *) task_data;
  GError *error = NULL;
  char *text;

  text = viv_helper_read_log (self->directory, max_bytes, &error);
  if (text == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, text, g_free);
}

/**
 * viv_machine_read_log_async:
 * @self: a machine
 * @max_bytes: how much of the end of the log to read
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the text
 * @user_data: data for @callback
 *
 * Reads the last part of logs/vmm.log in a worker thread, from the start
 * of a line. A machine that never ran has an empty log.
 */
void
viv_machine_read_log_async (VivMachine          *self,
                            gsize                max_bytes,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (VIV_IS_MACHINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_read_log_async);
  g_task_set_task_data (task, g_memdup2 (&max_bytes, sizeof max_bytes), g_free);
  g_task_run_in_thread (task, read_log_thread);
}

char *
viv_machine_read_log_finish (VivMachine    *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_machine_read_log_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

enum {
  RELOAD_CONFIG    = 1 << 0,
  RELOAD_THUMBNAIL = 1 << 1,
};

typedef struct
{
  guint             what;
  guint64           generation;   /* the machine's, when the reload began */
  VivMachineConfig *config;
  GError           *error;
  GBytes           *thumbnail;
} Reload;

static void
reload_free (Reload *reload)
{
  g_clear_pointer (&reload->config, viv_machine_config_free);
  g_clear_error (&reload->error);
  g_clear_pointer (&reload->thumbnail, g_bytes_unref);
  g_free (reload);
}

static void
reload_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable G_GNUC_UNUSED)
{
  VivMachine *self = source_object;
  Reload *reload = task_data;

  if (reload->what & RELOAD_CONFIG)
    reload->config = viv_machine_config_load_dir (self->directory, &reload->error);

  if (reload->what & RELOAD_THUMBNAIL)
    reload->thumbnail = viv_machine_read_thumbnail (self->directory);

  g_task_return_boolean (task, TRUE);
}

static void on_reloaded (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data);

/* Reads WHAT in a worker thread, applies it on the main thread, then
 * completes OUTER_TASK (taken; nullable). */
static void
reload_begin (VivMachine *self,
              guint       what,
              GTask      *outer_task)
{
  g_autoptr(GTask) task = NULL;
  Reload *reload = g_new0 (Reload, 1);

  reload->what = what;
  reload->generation = self->generation;
  task = g_task_new (self, self->cancellable, on_reloaded, outer_task);
  g_task_set_source_tag (task, reload_begin);
  g_task_set_task_data (task, reload, (GDestroyNotify) reload_free);
  g_task_run_in_thread (task, reload_thread);
}

/* Applies what a reload read; a stale read of machine.json is redone. */
static void
reload_apply (VivMachine *self,
              Reload     *reload)
{
  if (reload->what & RELOAD_THUMBNAIL)
    {
      if (self->thumbnail != reload->thumbnail)
        {
          g_clear_pointer (&self->thumbnail, g_bytes_unref);
          self->thumbnail = g_steal_pointer (&reload->thumbnail);
          notify (self, PROP_THUMBNAIL);
        }
    }

  if (reload->what & RELOAD_CONFIG)
    {
      /* We changed machine.json while this read it: read it again. */
      if (reload->generation != self->generation || !g_queue_is_empty (&self->saves))
        {
          schedule_reload_config (self);
          return;
        }
      set_config (self, g_steal_pointer (&reload->config),
                  reload->error != NULL ? reload->error->message : NULL);
    }
}

static void
on_reloaded (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) outer_task = user_data;
  g_autoptr(GError) error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), &error))
    reload_apply (VIV_MACHINE (object), g_task_get_task_data (G_TASK (result)));

  if (outer_task == NULL)
    return;
  if (error != NULL)
    g_task_return_error (outer_task, g_steal_pointer (&error));
  else
    g_task_return_boolean (outer_task, TRUE);
}

static gboolean
reload_config_cb (gpointer data)
{
  VivMachine *self = data;

  self->reload_config_id = 0;
  reload_begin (self, RELOAD_CONFIG, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
reload_thumbnail_cb (gpointer data)
{
  VivMachine *self = data;

  self->reload_thumbnail_id = 0;
  reload_begin (self, RELOAD_THUMBNAIL, NULL);
  return G_SOURCE_REMOVE;
}

/* Edits come in bursts (write, then rename): read once the burst is over. */
static void
schedule_reload_config (VivMachine *self)
{
  if (self->reload_config_id == 0)
    self->reload_config_id = g_timeout_add (RELOAD_DELAY_MS, reload_config_cb, self);
}

static void
schedule_reload_thumbnail (VivMachine *self)
{
  if (self->reload_thumbnail_id == 0)
    self->reload_thumbnail_id = g_timeout_add (RELOAD_DELAY_MS, reload_thumbnail_cb, self);
}

static gboolean
is_named (GFile      *file,
          const char *name)
{
  g_autofree char *base = file != NULL ? g_file_get_basename (file) : NULL;

  return g_strcmp0 (base, name) == 0;
}

static void
on_monitor_changed (GFileMonitor      *monitor G_GNUC_UNUSED,
                    GFile             *file,
                    GFile             *other_file,
                    GFileMonitorEvent  event,
                    VivMachine        *self)
{
  if (event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED)
    return;
  if (is_named (file, VIV_MACHINE_CONFIG_FILE_NAME) ||
      is_named (other_file, VIV_MACHINE_CONFIG_FILE_NAME))
    schedule_reload_config (self);
  if (is_named (file, THUMBNAIL_NAME) || is_named (other_file, THUMBNAIL_NAME))
    schedule_reload_thumbnail (self);
}

/**
 * viv_machine_reload_async:
 * @self: a machine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once read
 * @user_data: data for @callback
 *
 * Reads machine.json and the thumbnail again, in a worker thread. The
 * machine does this on its own when they change; VivLibrary calls it when
 * it cannot be sure that no change was missed.
 */
void
viv_machine_reload_async (VivMachine          *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (VIV_IS_MACHINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_reload_async);
  reload_begin (self, RELOAD_CONFIG | RELOAD_THUMBNAIL, g_steal_pointer (&task));
}

gboolean
viv_machine_reload_finish (VivMachine    *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_machine_reload_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- GObject ------------------------------------------------------------------------- */

static void
viv_machine_dispose (GObject *object)
{
  VivMachine *self = VIV_MACHINE (object);

  /* The helper goes on running: the app may quit, the machine does not. */
  drop_helper (self);
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->reload_config_id, g_source_remove);
  g_clear_handle_id (&self->reload_thumbnail_id, g_source_remove);
  g_clear_handle_id (&self->socket_grace_id, g_source_remove);
  g_clear_handle_id (&self->unreachable_poll_id, g_source_remove);
  if (self->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->monitor, self);
      g_file_monitor_cancel (self->monitor);
      g_clear_object (&self->monitor);
    }
  g_clear_pointer (&self->thumbnail, g_bytes_unref);
  g_clear_handle_id (&self->read_snapshots_id, g_source_remove);
  if (self->snapshots_monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->snapshots_monitor, self);
      g_file_monitor_cancel (self->snapshots_monitor);
      g_clear_object (&self->snapshots_monitor);
    }

  G_OBJECT_CLASS (viv_machine_parent_class)->dispose (object);
}

static void
viv_machine_finalize (GObject *object)
{
  VivMachine *self = VIV_MACHINE (object);

  g_assert (g_queue_is_empty (&self->saves));
  g_ptr_array_unref (self->start_tasks);
  g_ptr_array_unref (self->restart_tasks);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->config, viv_machine_config_free);
  g_free (self->directory);
  g_free (self->uuid);
  g_free (self->folder_name);
  g_free (self->broken_reason);
  g_free (self->error_message);
  g_free (self->disk_problem);
  g_strfreev (self->guest_addresses);
  g_clear_pointer (&self->snapshots, viv_snapshot_index_free);
  g_clear_error (&self->snapshots_error);

  G_OBJECT_CLASS (viv_machine_parent_class)->finalize (object);
}

static void
viv_machine_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  VivMachine *self = VIV_MACHINE (object);

  switch (prop_id)
    {
    case PROP_UUID:
      g_value_set_string (value, self->uuid);
      break;

    case PROP_DIRECTORY:
      g_value_set_string (value, self->directory);
      break;

    case PROP_NAME:
      g_value_set_string (value, viv_machine_get_name (self));
      break;

    case PROP_CONFIG:
      g_value_set_boxed (value, self->config);
      break;

    case PROP_OS_ID:
      g_value_set_string (value, viv_machine_get_os_id (self));
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_BROKEN_REASON:
      g_value_set_string (value, self->broken_reason);
      break;

    case PROP_ERROR_MESSAGE:
      g_value_set_string (value, self->error_message);
      break;

    case PROP_DISK_PROBLEM:
      g_value_set_string (value, self->disk_problem);
      break;

    case PROP_DISC:
      g_value_set_string (value, viv_machine_get_disc (self));
      break;

    case PROP_GUEST_ADDRESSES:
      g_value_set_boxed (value, self->guest_addresses);
      break;

    case PROP_THUMBNAIL:
      g_value_set_boxed (value, self->thumbnail);
      break;

    case PROP_UPTIME:
      g_value_set_uint64 (value, self->uptime);
      break;

    case PROP_PENDING_CHANGES:
      g_value_set_boolean (value, self->pending_changes);
      break;

    case PROP_HELPER_PID:
      g_value_set_int (value, self->helper_pid);
      break;

    case PROP_SNAPSHOT_BUSY:
      g_value_set_boolean (value, self->snapshot_busy);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_machine_class_init (VivMachineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = viv_machine_dispose;
  object_class->finalize = viv_machine_finalize;
  object_class->get_property = viv_machine_get_property;

  properties[PROP_UUID] =
    g_param_spec_string ("uuid", NULL, NULL, NULL, flags);
  properties[PROP_DIRECTORY] =
    g_param_spec_string ("directory", NULL, NULL, NULL, flags);
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL, flags);
  properties[PROP_CONFIG] =
    g_param_spec_boxed ("config", NULL, NULL, VIV_TYPE_MACHINE_CONFIG, flags);
  properties[PROP_OS_ID] =
    g_param_spec_string ("os-id", NULL, NULL, NULL, flags);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       VIV_TYPE_MACHINE_STATE, VIV_MACHINE_STATE_STOPPED, flags);
  properties[PROP_BROKEN_REASON] =
    g_param_spec_string ("broken-reason", NULL, NULL, NULL, flags);
  properties[PROP_ERROR_MESSAGE] =
    g_param_spec_string ("error-message", NULL, NULL, NULL, flags);
  properties[PROP_THUMBNAIL] =
    g_param_spec_boxed ("thumbnail", NULL, NULL, G_TYPE_BYTES, flags);
  properties[PROP_UPTIME] =
    g_param_spec_uint64 ("uptime", NULL, NULL, 0, G_MAXUINT64, 0, flags);
  properties[PROP_PENDING_CHANGES] =
    g_param_spec_boolean ("pending-changes", NULL, NULL, FALSE, flags);
  properties[PROP_HELPER_PID] =
    g_param_spec_int ("helper-pid", NULL, NULL, 0, G_MAXINT, 0, flags);

  properties[PROP_DISK_PROBLEM] =
    g_param_spec_string ("disk-problem", NULL, NULL, NULL, flags);

  properties[PROP_DISC] =
    g_param_spec_string ("disc", NULL, NULL, NULL, flags);
  properties[PROP_GUEST_ADDRESSES] =
    g_param_spec_boxed ("guest-addresses", NULL, NULL, G_TYPE_STRV, flags);
  properties[PROP_SNAPSHOT_BUSY] =
    g_param_spec_boolean ("snapshot-busy", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * VivMachine::disk-error:
   * @disk: the disk's place in the machine's disks
   * @path: its image
   * @operation: "read", "write", "flush", "discard" or "write-zeroes"
   * @error: the errno's name: "ENOSPC" when the host's disk is full
   * @message: the helper's log line
   *
   * A disk request failed on the host (org.vivarium.Vmm1's DiskError,
   * rate-limited by the helper); the guest got an I/O error and the
   * machine goes on. #VivMachine:disk-problem says it for people.
   */
  signals[SIGNAL_DISK_ERROR] =
    g_signal_new ("disk-error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 5, G_TYPE_UINT, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING,
                  G_TYPE_STRING);

  /**
   * VivMachine::snapshots-changed:
   *
   * viv_machine_get_snapshots() has read snapshots/index.json again: after
   * each snapshot operation, when the helper said SnapshotsChanged, when
   * the file changed, and the first time it was read.
   */
  signals[SIGNAL_SNAPSHOTS_CHANGED] =
    g_signal_new ("snapshots-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 0);
}

static void
viv_machine_init (VivMachine *self)
{
  self->state = VIV_MACHINE_STATE_STOPPED;
  self->cancellable = g_cancellable_new ();
  self->start_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  self->restart_tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_queue_init (&self->saves);
}
