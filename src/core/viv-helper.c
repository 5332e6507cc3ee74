/* viv-helper.c: one vivarium-vmm process, spawned by us or found running
 *
 * A VivHelper follows one helper process for VivMachine: it spawns
 * `vivarium-vmm --machine DIR` (or finds one already running, when the app
 * restarted), connects to its org.vivarium.Vmm1 socket, follows its State
 * and, when the process ends, says how: stopped, or crashed and why.
 *
 * A helper we spawned is watched through its exit status and stderr; one
 * we attached to (not our child) through its D-Bus connection, which the
 * kernel closes when the process dies. Helpers outlive the app: they run in
 * a session of their own, ignore SIGPIPE (their stderr is a pipe to us),
 * and nothing here kills them, except viv_helper_terminate() when asked to
 * end one that cannot be reached on its socket (after checking that it is
 * the machine's vivarium-vmm).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-helper"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "viv-helper.h"
#include "viv-vmm1.h"

#define STDERR_MAX         (64 * 1024)
#define CONNECT_POLL_MS    10
#define CONNECT_SLOW_MS    500
#define CONNECT_TIMEOUT_S  30
#define STDERR_GRACE_MS    1000
#define LOG_TAIL_BYTES     (16 * 1024)
#define LOG_TAIL_LINES     20
#define TERMINATE_TIMEOUT_S 30
#define TERMINATE_POLL_MS  50

struct _VivHelper
{
  GObject          parent_instance;

  char            *machine_dir;
  char            *uuid;
  char            *socket_path;
  GCancellable    *cancellable;

  /* A helper we spawned; NULL when we attached to one */
  GSubprocess     *process;
  GString         *stderr_text;       /* its first STDERR_MAX bytes */
  gboolean         stderr_done;
  gboolean         exited;
  int              exit_status;       /* -1: none (killed, or not our child) */
  int              term_signal;       /* 0: none */
  guint            poll_id;           /* waiting for the socket */
  guint            grace_id;          /* waiting for the end of stderr */
  gint64           deadline;

  gboolean         connecting;
  GDBusConnection *connection;
  VivVmm1         *proxy;
  GTask           *attach_task;

  VivMachineState  state;
  gboolean         reached_running;   /* so its log is this run's */
  gboolean         start_failed;      /* it exited with an error before running */
  guint64          uptime;
  char            *last_error;        /* the last Error signal */
  gboolean         finishing;
  gboolean         finished;
  gboolean         detached;
  char            *message;
};

G_DEFINE_FINAL_TYPE (VivHelper, viv_helper, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_STATE,
  PROP_UPTIME,
  PROP_CONNECTED,
  N_PROPS
};

enum {
  FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

/* --- paths and files (these block: call them from a worker thread) --------- */

/**
 * viv_helper_find_program:
 *
 * The vivarium-vmm to run: $VIVARIUM_VMM (the tests, a build folder), else
 * the one in $PATH, else the installed one.
 *
 * Returns: (transfer full): a path
 */
char *
viv_helper_find_program (void)
{
  const char *env = g_getenv ("VIVARIUM_VMM");
  char *path;

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  path = g_find_program_in_path ("vivarium-vmm");
  if (path != NULL)
    return path;
  return g_build_filename (BINDIR, "vivarium-vmm", NULL);
}

static char *
runtime_path (const char *uuid,
              const char *suffix)
{
  g_autofree char *name = g_strconcat (uuid, suffix, NULL);

  return g_build_filename (g_get_user_runtime_dir (), "vivarium", name, NULL);
}

char *
viv_helper_socket_path (const char *uuid)
{
  g_return_val_if_fail (uuid != NULL, NULL);

  return runtime_path (uuid, ".sock");
}

char *
viv_helper_lock_path (const char *uuid)
{
  g_return_val_if_fail (uuid != NULL, NULL);

  return runtime_path (uuid, ".lock");
}

/* Whether someone holds an flock() on the file with this device and inode,
 * from /proc/locks: looking must not take the lock, even for a moment, or a
 * helper starting just then would believe the machine already runs. *HOLDER
 * is the process that took the lock (0 when /proc/locks cannot be read). */
static gboolean
flock_holder (dev_t  dev,
              ino_t  ino,
              GPid  *holder)
{
  g_autofree char *locks = NULL;
  g_auto(GStrv) lines = NULL;

  *holder = 0;
  if (!g_file_get_contents ("/proc/locks", &locks, NULL, NULL))
    return TRUE;   /* cannot tell: let the socket answer */

  lines = g_strsplit (locks, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char kind[16], where[64];
      unsigned int major_no, minor_no;
      unsigned long inode;
      long pid;

      /* "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters
       * ("1: -> FLOCK ...") do not hold it. */
      if (sscanf (lines[i], "%*s %15s %*s %*s %ld %63s", kind, &pid, where) != 3 ||
          strcmp (kind, "FLOCK") != 0)
        continue;
      if (sscanf (where, "%x:%x:%lu", &major_no, &minor_no, &inode) != 3)
        continue;
      if (major_no == major (dev) && minor_no == minor (dev) && inode == (unsigned long) ino)
        {
          *holder = (GPid) pid;
          return TRUE;
        }
    }
  return FALSE;
}

/* The pid a helper wrote in its lock file; 0 if none */
static GPid
lock_file_pid (const char *lock_path)
{
  g_autofree char *contents = NULL;
  gsize len;
  gint64 pid;

  if (!g_file_get_contents (lock_path, &contents, &len, NULL) || len > 32)
    return 0;
  pid = g_ascii_strtoll (contents, NULL, 10);
  return pid > 0 && pid <= G_MAXINT ? (GPid) pid : 0;
}

/**
 * viv_helper_probe:
 * @uuid: a machine's UUID
 * @pid: (out) (optional): the process that holds the lock, from the lock
 *   file (what the helper wrote there), or 0 if unknown
 *
 * Whether a process holds the machine's lock in $XDG_RUNTIME_DIR/vivarium,
 * and whether its socket is there. A helper holds the lock before it makes
 * the socket, and until it ends; a socket someone removed (or a runtime
 * folder cleaned up under it) leaves a helper nobody can reach. Blocks:
 * call it from a worker thread.
 *
 * Returns: what the runtime folder says
 */
VivHelperPresence
viv_helper_probe (const char *uuid,
                  GPid       *pid)
{
  g_autofree char *lock_path = NULL;
  g_autofree char *socket_path = NULL;
  struct stat st;
  GPid holder;

  g_return_val_if_fail (uuid != NULL, VIV_HELPER_ABSENT);

  if (pid != NULL)
    *pid = 0;

  lock_path = viv_helper_lock_path (uuid);
  socket_path = viv_helper_socket_path (uuid);
  if (stat (lock_path, &st) < 0 || !flock_holder (st.st_dev, st.st_ino, &holder))
    return VIV_HELPER_ABSENT;

  if (pid != NULL)
    *pid = lock_file_pid (lock_path);
  return g_file_test (socket_path, G_FILE_TEST_EXISTS) ? VIV_HELPER_PRESENT
                                                        : VIV_HELPER_NO_SOCKET;
}

/**
 * viv_helper_is_running:
 * @uuid: a machine's UUID
 * @pid: (out) (optional): the helper's process id, or 0 if unknown
 *
 * Whether a vivarium-vmm holds the machine's lock in
 * $XDG_RUNTIME_DIR/vivarium and its socket is there. Blocks: call it from
 * a worker thread.
 *
 * Returns: %TRUE if a helper runs the machine
 */
gboolean
viv_helper_is_running (const char *uuid,
                       GPid       *pid)
{
  g_return_val_if_fail (uuid != NULL, FALSE);

  if (viv_helper_probe (uuid, pid) == VIV_HELPER_PRESENT)
    return TRUE;
  if (pid != NULL)
    *pid = 0;
  return FALSE;
}

/**
 * viv_helper_is_helper_process:
 * @pid: a process id
 *
 * Whether the process runs a program called vivarium-vmm (its executable,
 * from /proc; a program replaced since it started counts too).
 *
 * Returns: %TRUE if it is a vivarium-vmm
 */
gboolean
viv_helper_is_helper_process (GPid pid)
{
  g_autofree char *link = NULL;
  g_autofree char *exe = NULL;
  g_autofree char *base = NULL;

  if (pid <= 0)
    return FALSE;
  link = g_strdup_printf ("/proc/%d/exe", (int) pid);
  exe = g_file_read_link (link, NULL);
  if (exe == NULL)
    return FALSE;
  if (g_str_has_suffix (exe, " (deleted)"))
    exe[strlen (exe) - strlen (" (deleted)")] = '\0';
  base = g_path_get_basename (exe);
  return strcmp (base, "vivarium-vmm") == 0;
}

/**
 * viv_helper_terminate:
 * @uuid: a machine's UUID
 * @pid: the process that viv_helper_probe() said holds its lock
 * @error: return location for a #VIV_MACHINE_ERROR
 *
 * Asks a helper that cannot be reached on its socket to end (SIGTERM: it
 * stops the machine and ends as on PowerOff), and waits until it has
 * released the machine's lock. Only a process that still holds this
 * machine's lock, wrote @pid in it and is a vivarium-vmm gets the signal:
 * a pid seen a moment ago may be another process by now. Blocks: call it
 * from a worker thread.
 *
 * Returns: %TRUE once the helper has ended, or was gone already
 */
gboolean
viv_helper_terminate (const char  *uuid,
                      GPid         pid,
                      GError     **error)
{
  g_autofree char *lock_path = NULL;
  struct stat st;
  GPid holder;
  gint64 deadline;

  g_return_val_if_fail (uuid != NULL, FALSE);

  lock_path = viv_helper_lock_path (uuid);
  if (stat (lock_path, &st) < 0 || !flock_holder (st.st_dev, st.st_ino, &holder))
    return TRUE;   /* it ended meanwhile */

  if (pid <= 0 || holder != pid || lock_file_pid (lock_path) != pid ||
      !viv_helper_is_helper_process (pid))
    {
      g_set_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED,
                   /* Translators: %d is a process id */
                   _("Process %d, which holds the machine’s lock, is not a helper "
                     "(vivarium-vmm) of this machine: it was left alone."),
                   (int) pid);
      return FALSE;
    }

  g_debug ("sending SIGTERM to the unreachable helper of %s, process %d", uuid, (int) pid);
  if (kill (pid, SIGTERM) < 0 && errno != ESRCH)
    {
      int saved_errno = errno;

      g_set_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED,
                   /* Translators: %d is a process id, %s the reason */
                   _("Could not stop the machine’s helper process %d: %s"),
                   (int) pid, g_strerror (saved_errno));
      return FALSE;
    }

  /* It flushes the disks and ends; the lock goes with it. */
  deadline = g_get_monotonic_time () + TERMINATE_TIMEOUT_S * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      if (stat (lock_path, &st) < 0 || !flock_holder (st.st_dev, st.st_ino, &holder) ||
          holder != pid)
        return TRUE;
      g_usleep (TERMINATE_POLL_MS * 1000);
    }

  g_set_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED,
               /* Translators: %d is a process id, the second %d a number of seconds */
               _("The machine’s helper process %d did not stop within %d seconds."),
               (int) pid, TERMINATE_TIMEOUT_S);
  return FALSE;
}

/**
 * viv_helper_read_log:
 * @machine_dir: a machine's folder
 * @max_bytes: how much of the end of the log to read
 * @error: return location for a #GIOError
 *
 * The last part of MACHINE_DIR/logs/vmm.log, from the start of a line, as
 * valid UTF-8; empty when there is no log. Blocks: call it from a worker
 * thread.
 *
 * Returns: (transfer full): the text, or %NULL with @error set
 */
char *
viv_helper_read_log (const char  *machine_dir,
                     gsize        max_bytes,
                     GError     **error)
{
  g_autofree char *path = NULL;
  g_autofree char *buf = NULL;
  const char *start;
  struct stat st;
  gsize len, done = 0;
  goffset offset;
  int fd;

  g_return_val_if_fail (machine_dir != NULL, NULL);

  path = g_build_filename (machine_dir, "logs", "vmm.log", NULL);
  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_autofree char *display = NULL;

      if (saved_errno == ENOENT)
        return g_strdup ("");
      display = g_filename_display_name (path);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   /* Translators: the first %s is a file name, the second
                    * the reason, like “Permission denied” */
                   _("Could not read “%s”: %s"), display, g_strerror (saved_errno));
      return NULL;
    }

  if (fstat (fd, &st) < 0)
    st.st_size = 0;
  len = MIN ((gsize) st.st_size, max_bytes);
  offset = st.st_size - (goffset) len;
  buf = g_malloc (len + 1);
  while (done < len)
    {
      ssize_t n = pread (fd, buf + done, len - done, offset + (goffset) done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += (gsize) n;
    }
  close (fd);
  buf[done] = '\0';

  start = buf;
  if (offset > 0)
    {
      const char *newline = memchr (buf, '\n', done);

      start = newline != NULL ? newline + 1 : buf + done;
    }
  return g_utf8_make_valid (start, (gssize) (buf + done - start));
}

/* The last N lines of TEXT, without a newline at the end */
static char *
last_lines (const char *text,
            guint       n)
{
  g_autofree char *copy = g_strdup (text);
  const char *p;

  g_strchomp (copy);
  p = copy + strlen (copy);
  while (p > copy)
    {
      if (p[-1] == '\n' && n-- <= 1)
        break;
      p--;
    }
  return g_strdup (p);
}

/* What the helper wrote on stderr, without its informational log lines
 * ("[   12.345678] vivarium-vmm info: state: starting"): those are in the
 * log, and the error is what matters here. */
static char *
stderr_errors (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GString *out = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];

      if (line[0] == '[' && (strstr (line, "] vivarium-vmm info: ") != NULL ||
                             strstr (line, "] vivarium-vmm debug: ") != NULL))
        continue;
      if (out->len > 0)
        g_string_append_c (out, '\n');
      g_string_append (out, line);
    }
  return g_strstrip (g_string_free (out, FALSE));
}

/* --- state ------------------------------------------------------------------- */

static VivMachineState
state_from_string (const char      *state,
                   VivMachineState  fallback)
{
  static const struct {
    const char *name;
    VivMachineState state;
  } states[] = {
    { VIV_VMM_STATE_STARTING, VIV_MACHINE_STATE_STARTING },
    { VIV_VMM_STATE_RUNNING, VIV_MACHINE_STATE_RUNNING },
    { VIV_VMM_STATE_PAUSED, VIV_MACHINE_STATE_PAUSED },
    { VIV_VMM_STATE_SHUTTING_DOWN, VIV_MACHINE_STATE_SHUTTING_DOWN },
    { VIV_VMM_STATE_STOPPED, VIV_MACHINE_STATE_STOPPED },
    { VIV_VMM_STATE_CRASHED, VIV_MACHINE_STATE_CRASHED },
  };

  for (guint i = 0; state != NULL && i < G_N_ELEMENTS (states); i++)
    if (strcmp (state, states[i].name) == 0)
      return states[i].state;
  return fallback;
}

static void
set_state (VivHelper       *self,
           VivMachineState  state)
{
  if (self->finished || self->state == state)
    return;
  self->state = state;
  if (state == VIV_MACHINE_STATE_RUNNING || state == VIV_MACHINE_STATE_PAUSED ||
      state == VIV_MACHINE_STATE_SHUTTING_DOWN)
    self->reached_running = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_uptime (VivHelper *self,
            guint64    uptime)
{
  if (self->uptime == uptime)
    return;
  self->uptime = uptime;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UPTIME]);
}

/* --- the end ------------------------------------------------------------------ */

static void
emit_finished (VivHelper       *self,
               VivMachineState  state,
               char            *message)
{
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->grace_id, g_source_remove);
  g_free (self->message);
  self->message = message;
  set_state (self, state);
  self->finished = TRUE;
  set_uptime (self, 0);
  if (!self->detached)
    g_signal_emit (self, signals[FINISHED], 0);
}

typedef struct
{
  VivMachineState  state;
  char            *message;
} Ending;

static void
ending_free (Ending *ending)
{
  g_free (ending->message);
  g_free (ending);
}

static void
read_log_tail_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data G_GNUC_UNUSED,
                      GCancellable *cancellable G_GNUC_UNUSED)
{
  VivHelper *self = source_object;

  g_task_return_pointer (task, viv_helper_read_log (self->machine_dir, LOG_TAIL_BYTES, NULL),
                         g_free);
}

static void
on_log_tail_read (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data G_GNUC_UNUSED)
{
  VivHelper *self = VIV_HELPER (object);
  Ending *ending = g_task_get_task_data (G_TASK (result));
  g_autofree char *log = g_task_propagate_pointer (G_TASK (result), NULL);
  g_autoptr(GString) message = g_string_new (ending->message);

  if (log != NULL && *log != '\0')
    {
      g_autofree char *path = g_build_filename (self->machine_dir, "logs", "vmm.log", NULL);
      g_autofree char *display = g_filename_display_name (path);
      g_autofree char *tail = last_lines (log, LOG_TAIL_LINES);

      g_string_append (message, "\n\n");
      /* Translators: %s is the file name of the machine’s log; the last
       * lines of the log follow */
      g_string_append_printf (message, _("The end of its log, %s:"), display);
      g_string_append_c (message, '\n');
      g_string_append (message, tail);
    }

  emit_finished (self, ending->state, g_string_free (g_steal_pointer (&message), FALSE));
}

/* Ends with STATE and MESSAGE (taken); when the machine ran, the end of
 * its log is added to the message, read in a worker thread. */
static void
finish (VivHelper       *self,
        VivMachineState  state,
        char            *message)
{
  g_autoptr(GTask) task = NULL;
  Ending *ending;

  if (self->finishing)
    {
      g_free (message);
      return;
    }
  self->finishing = TRUE;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->grace_id, g_source_remove);

  if (state != VIV_MACHINE_STATE_CRASHED || !self->reached_running)
    {
      emit_finished (self, state, message);
      return;
    }

  ending = g_new0 (Ending, 1);
  ending->state = state;
  ending->message = message;
  task = g_task_new (self, NULL, on_log_tail_read, NULL);
  g_task_set_source_tag (task, finish);
  g_task_set_task_data (task, ending, (GDestroyNotify) ending_free);
  g_task_run_in_thread (task, read_log_tail_thread);
}

/* Appends what a helper that could not start wrote on stderr to
 * MACHINE_DIR/logs/vmm.log, where Show Log finds it. */
static void
log_start_failure_thread (GTask        *task,
                          gpointer      source_object,
                          gpointer      task_data,
                          GCancellable *cancellable G_GNUC_UNUSED)
{
  VivHelper *self = source_object;
  const char *said = task_data;
  g_autofree char *dir = g_build_filename (self->machine_dir, "logs", NULL);
  g_autofree char *path = g_build_filename (dir, "vmm.log", NULL);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *when = g_date_time_format (now, "%F %T");
  g_autoptr(GString) text = g_string_new (NULL);
  int fd;

  /* The log is for people and bug reports: in English, like the engine's */
  g_string_append_printf (text, "--- %s: vivarium-vmm could not start the machine "
                          "(exit status %d); it wrote:\n", when, self->exit_status);
  g_string_append (text, said);
  if (text->str[text->len - 1] != '\n')
    g_string_append_c (text, '\n');

  if (g_mkdir_with_parents (dir, 0700) < 0 ||
      (fd = g_open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0)
    {
      g_warning ("cannot write %s: %s", path, g_strerror (errno));
      g_task_return_boolean (task, FALSE);
      return;
    }
  if (write (fd, text->str, text->len) != (ssize_t) text->len)
    g_warning ("cannot write %s: %s", path, g_strerror (errno));
  close (fd);
  g_task_return_boolean (task, TRUE);
}

static void
on_start_failure_logged (GObject      *object,
                         GAsyncResult *result G_GNUC_UNUSED,
                         gpointer      user_data)
{
  /* The engine's own words: VivMachine explains them */
  emit_finished (VIV_HELPER (object), VIV_MACHINE_STATE_CRASHED, user_data);
}

/* A helper we spawned has exited and its stderr is read (or we gave up
 * waiting for the end of it). */
static void
finish_spawned (VivHelper *self)
{
  g_autoptr(GString) message = NULL;
  g_autofree char *err = NULL;

  if (self->exit_status == 0)
    {
      finish (self, VIV_MACHINE_STATE_STOPPED, NULL);
      return;
    }

  err = stderr_errors (self->stderr_text->str);

  /* It refused to start (its configuration, a disk, the kernel): not a
   * crash. Its stderr is all it said, and it wrote no log yet: keep that
   * in the log. */
  if (self->term_signal == 0 && self->exit_status > 0 &&
      self->exit_status != VIV_HELPER_EXIT_RUNNING && !self->reached_running &&
      self->last_error == NULL)
    {
      g_autoptr(GTask) task = NULL;

      self->start_failed = TRUE;
      self->finishing = TRUE;
      g_clear_handle_id (&self->grace_id, g_source_remove);
      task = g_task_new (self, NULL, on_start_failure_logged, g_steal_pointer (&err));
      g_task_set_source_tag (task, finish_spawned);
      /* a copy: after the grace period, stderr may still be read into it */
      g_task_set_task_data (task, g_strdup (self->stderr_text->str), g_free);
      g_task_run_in_thread (task, log_start_failure_thread);
      return;
    }

  message = g_string_new (NULL);
  if (self->last_error != NULL)
    g_string_append (message, self->last_error);
  if (*err != '\0' && (self->last_error == NULL || strstr (err, self->last_error) == NULL))
    {
      if (message->len > 0)
        g_string_append_c (message, '\n');
      g_string_append (message, err);
    }
  if (message->len > 0)
    g_string_append_c (message, '\n');
  if (self->term_signal != 0)
    g_string_append_printf (message,
                            /* Translators: %d is a signal number, %s its
                             * description, like “Killed” */
                            _("The machine’s helper process, vivarium-vmm, was killed by "
                              "signal %d (%s)."),
                            self->term_signal, g_strsignal (self->term_signal));
  else
    g_string_append_printf (message,
                            /* Translators: %d is an exit status */
                            _("The machine’s helper process, vivarium-vmm, exited with "
                              "status %d."),
                            self->exit_status);

  finish (self, VIV_MACHINE_STATE_CRASHED, g_string_free (g_steal_pointer (&message), FALSE));
}

static void
maybe_finish_spawned (VivHelper *self)
{
  if (self->detached || self->process == NULL || !self->exited || !self->stderr_done)
    return;
  finish_spawned (self);
}

/* A helper we attached to is gone: its connection closed. */
static void
finish_attached (VivHelper *self)
{
  switch (self->state)
    {
    case VIV_MACHINE_STATE_STOPPED:
      finish (self, VIV_MACHINE_STATE_STOPPED, NULL);
      break;

    case VIV_MACHINE_STATE_CRASHED:
      finish (self, VIV_MACHINE_STATE_CRASHED,
              g_strdup (self->last_error != NULL ? self->last_error
                                                 : _("The virtual machine failed.")));
      break;

    case VIV_MACHINE_STATE_STARTING:
    case VIV_MACHINE_STATE_RUNNING:
    case VIV_MACHINE_STATE_PAUSED:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
    case VIV_MACHINE_STATE_BROKEN:
    default:
      self->reached_running = TRUE;
      finish (self, VIV_MACHINE_STATE_CRASHED,
              g_strdup (_("The machine’s helper process, vivarium-vmm, ended unexpectedly.")));
      break;
    }
}

static gboolean
on_grace_expired (gpointer data)
{
  VivHelper *self = data;

  self->grace_id = 0;
  self->stderr_done = TRUE;
  maybe_finish_spawned (self);
  return G_SOURCE_REMOVE;
}

static void
on_process_exited (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(VivHelper) self = user_data;
  GSubprocess *process = G_SUBPROCESS (object);

  if (!g_subprocess_wait_finish (process, result, NULL) || self->detached)
    return;

  self->exited = TRUE;
  if (g_subprocess_get_if_exited (process))
    self->exit_status = g_subprocess_get_exit_status (process);
  else if (g_subprocess_get_if_signaled (process))
    self->term_signal = g_subprocess_get_term_sig (process);
  g_debug ("vivarium-vmm for %s ended (status %d, signal %d)", self->uuid,
           self->exit_status, self->term_signal);

  /* Another helper ran the machine already, and we reached that one:
   * follow it as if we had attached to it. */
  if (self->exit_status == VIV_HELPER_EXIT_RUNNING && self->proxy != NULL)
    {
      g_clear_object (&self->process);
      return;
    }

  if (!self->stderr_done && self->grace_id == 0)
    self->grace_id = g_timeout_add (STDERR_GRACE_MS, on_grace_expired, self);
  maybe_finish_spawned (self);
}

static void read_stderr (VivHelper *self);

static void
on_stderr_read (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(VivHelper) self = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);
  if (self->detached)
    return;
  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      self->stderr_done = TRUE;
      g_clear_handle_id (&self->grace_id, g_source_remove);
      maybe_finish_spawned (self);
      return;
    }

  if (self->stderr_text->len < STDERR_MAX)
    {
      gsize size;
      const char *data = g_bytes_get_data (bytes, &size);

      g_string_append_len (self->stderr_text, data,
                           MIN (size, STDERR_MAX - self->stderr_text->len));
    }
  read_stderr (self);
}

static void
read_stderr (VivHelper *self)
{
  GInputStream *stream = g_subprocess_get_stderr_pipe (self->process);

  g_input_stream_read_bytes_async (stream, 4096, G_PRIORITY_DEFAULT, self->cancellable,
                                   on_stderr_read, g_object_ref (self));
}

/* --- the connection ------------------------------------------------------------- */

static void
on_proxy_state_changed (VivVmm1    *proxy G_GNUC_UNUSED,
                        const char *state,
                        VivHelper  *self)
{
  set_state (self, state_from_string (state, self->state));
}

static void
on_proxy_notify_state (VivVmm1    *proxy,
                       GParamSpec *pspec G_GNUC_UNUSED,
                       VivHelper  *self)
{
  set_state (self, state_from_string (viv_vmm1_get_state (proxy), self->state));
}

static void
on_proxy_notify_uptime (VivVmm1    *proxy,
                        GParamSpec *pspec G_GNUC_UNUSED,
                        VivHelper  *self)
{
  if (!self->finished)
    set_uptime (self, viv_vmm1_get_uptime (proxy));
}

static void
on_proxy_error (VivVmm1    *proxy G_GNUC_UNUSED,
                const char *message,
                VivHelper  *self)
{
  g_free (self->last_error);
  self->last_error = g_strdup (message);
}

static void
drop_connection (VivHelper *self)
{
  gboolean had_proxy = self->proxy != NULL;

  if (self->proxy != NULL)
    g_signal_handlers_disconnect_by_data (self->proxy, self);
  if (self->connection != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->connection, self);
      if (!g_dbus_connection_is_closed (self->connection))
        g_dbus_connection_close (self->connection, NULL, NULL, NULL);
    }
  g_clear_object (&self->proxy);
  g_clear_object (&self->connection);
  if (had_proxy)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
}

static void
on_connection_closed (GDBusConnection *connection G_GNUC_UNUSED,
                      gboolean         remote_peer_vanished G_GNUC_UNUSED,
                      GError          *error G_GNUC_UNUSED,
                      VivHelper       *self)
{
  g_debug ("the connection to the helper of %s closed", self->uuid);
  drop_connection (self);
  if (self->process == NULL && !self->detached)
    finish_attached (self);
}

static gboolean poll_socket (gpointer data);

static void
connect_failed (VivHelper    *self,
                const GError *error)
{
  self->connecting = FALSE;
  drop_connection (self);
  g_debug ("cannot connect to the helper of %s: %s", self->uuid, error->message);

  if (self->attach_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->attach_task);

      self->finished = TRUE;
      g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_NOT_FOUND,
                               /* Translators: %s is the reason */
                               _("Could not connect to the machine’s helper process: %s"),
                               error->message);
      return;
    }

  /* A spawned helper: the socket may be a dead helper's that ours has not
   * replaced yet; try again until the process answers or ends. */
  if (!self->exited && self->poll_id == 0)
    self->poll_id = g_timeout_add (CONNECT_POLL_MS, poll_socket, self);
}

static void
on_proxy_ready (GObject      *object G_GNUC_UNUSED,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(VivHelper) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VivVmm1) proxy = NULL;

  proxy = viv_vmm1_proxy_new_finish (result, &error);
  if (self->detached)
    return;
  if (proxy == NULL)
    {
      connect_failed (self, error);
      return;
    }
  if (self->connection == NULL || g_dbus_connection_is_closed (self->connection))
    {
      g_autoptr(GError) closed =
        g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED, _("The connection was closed"));

      connect_failed (self, closed);
      if (self->process == NULL && self->attach_task == NULL && !self->finished)
        finish_attached (self);
      return;
    }

  self->connecting = FALSE;
  self->proxy = g_steal_pointer (&proxy);
  g_signal_connect_object (self->proxy, "state-changed",
                           G_CALLBACK (on_proxy_state_changed), self, 0);
  g_signal_connect_object (self->proxy, "notify::state",
                           G_CALLBACK (on_proxy_notify_state), self, 0);
  g_signal_connect_object (self->proxy, "notify::uptime",
                           G_CALLBACK (on_proxy_notify_uptime), self, 0);
  g_signal_connect_object (self->proxy, "error", G_CALLBACK (on_proxy_error), self, 0);
  g_signal_connect_object (self->connection, "closed",
                           G_CALLBACK (on_connection_closed), self, 0);

  set_state (self, state_from_string (viv_vmm1_get_state (self->proxy), self->state));
  set_uptime (self, viv_vmm1_get_uptime (self->proxy));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);

  if (self->attach_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->attach_task);

      g_task_return_pointer (task, g_object_ref (self), g_object_unref);
    }
}

static void
on_connection_ready (GObject      *object G_GNUC_UNUSED,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(VivHelper) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = NULL;

  connection = g_dbus_connection_new_for_address_finish (result, &error);
  if (self->detached)
    {
      if (connection != NULL)
        g_dbus_connection_close (connection, NULL, NULL, NULL);
      return;
    }
  if (connection == NULL)
    {
      connect_failed (self, error);
      return;
    }

  self->connection = g_steal_pointer (&connection);
  viv_vmm1_proxy_new (self->connection, G_DBUS_PROXY_FLAGS_NONE, NULL, VIV_VMM1_OBJECT_PATH,
                      self->cancellable, on_proxy_ready, g_object_ref (self));
}

static void
connect_begin (VivHelper *self)
{
  g_autofree char *escaped = g_dbus_address_escape_value (self->socket_path);
  g_autofree char *address = g_strdup_printf ("unix:path=%s", escaped);

  self->connecting = TRUE;
  g_dbus_connection_new_for_address (address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                                     NULL, self->cancellable, on_connection_ready,
                                     g_object_ref (self));
}

/* A spawned helper creates its socket a few milliseconds after it starts
 * (a stat() on the runtime folder, a tmpfs, every CONNECT_POLL_MS). */
static gboolean
poll_socket (gpointer data)
{
  VivHelper *self = data;

  if (self->exited || self->proxy != NULL)
    {
      self->poll_id = 0;
      return G_SOURCE_REMOVE;
    }
  if (self->connecting)
    return G_SOURCE_CONTINUE;

  if (g_get_monotonic_time () > self->deadline)
    {
      /* Something is slow or stuck; keep looking, less often. */
      g_message ("the helper of %s has not answered for %d s", self->uuid, CONNECT_TIMEOUT_S);
      self->deadline = G_MAXINT64;
      self->poll_id = g_timeout_add (CONNECT_SLOW_MS, poll_socket, self);
      return G_SOURCE_REMOVE;
    }

  if (g_file_test (self->socket_path, G_FILE_TEST_EXISTS))
    connect_begin (self);
  return G_SOURCE_CONTINUE;
}

/* --- construction ---------------------------------------------------------------- */

static VivHelper *
helper_new (const char *machine_dir,
            const char *uuid)
{
  VivHelper *self = g_object_new (VIV_TYPE_HELPER, NULL);

  self->machine_dir = g_strdup (machine_dir);
  self->uuid = g_strdup (uuid);
  self->socket_path = viv_helper_socket_path (uuid);
  return self;
}

static void
child_setup (gpointer user_data G_GNUC_UNUSED)
{
  /* Its own session: the helper outlives the app, and the terminal the app
   * was started from. Its stderr is a pipe to the app, which may quit: a
   * write there must fail with EPIPE, not kill it (an ignored signal stays
   * ignored across exec). */
  setsid ();
  signal (SIGPIPE, SIG_IGN);
}

/**
 * viv_helper_spawn:
 * @machine_dir: the machine's folder
 * @uuid: the machine's UUID
 * @restore_id: (nullable): a snapshot of the running machine to start from
 *   (`--restore`) instead of booting
 * @error: return location for a #VIV_MACHINE_ERROR
 *
 * Runs `vivarium-vmm --machine MACHINE_DIR` and follows it: the helper is
 * STARTING until it answers on its socket, then in the state it reports;
 * #VivHelper::finished says how it ended.
 *
 * Returns: (transfer full): the helper, or %NULL if it could not be run
 */
VivHelper *
viv_helper_spawn (const char  *machine_dir,
                  const char  *uuid,
                  const char  *restore_id,
                  GError     **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *program = NULL;
  GSubprocess *process;
  VivHelper *self;

  g_return_val_if_fail (machine_dir != NULL, NULL);
  g_return_val_if_fail (uuid != NULL, NULL);

  program = viv_helper_find_program ();
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  process = g_subprocess_launcher_spawn (launcher, &local_error,
                                         program, "--machine", machine_dir,
                                         restore_id != NULL ? "--restore" : NULL,
                                         restore_id, NULL);
  if (process == NULL)
    {
      g_autofree char *display = g_filename_display_name (program);

      g_set_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_NOT_FOUND,
                   /* Translators: the first %s is a program’s file name, the
                    * second the reason */
                   _("Could not run the machine’s helper, %s: %s"),
                   display, local_error->message);
      return NULL;
    }

  self = helper_new (machine_dir, uuid);
  self->process = process;
  self->state = VIV_MACHINE_STATE_STARTING;
  self->deadline = g_get_monotonic_time () + CONNECT_TIMEOUT_S * G_USEC_PER_SEC;
  read_stderr (self);
  g_subprocess_wait_async (process, self->cancellable, on_process_exited, g_object_ref (self));
  self->poll_id = g_timeout_add (CONNECT_POLL_MS, poll_socket, self);
  return self;
}

static void
attach_check_thread (GTask        *task,
                     gpointer      source_object G_GNUC_UNUSED,
                     gpointer      task_data,
                     GCancellable *cancellable G_GNUC_UNUSED)
{
  g_task_return_boolean (task, viv_helper_is_running (task_data, NULL));
}

static void
on_attach_checked (GObject      *object G_GNUC_UNUSED,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  const char *machine_dir = g_task_get_task_data (task);
  const char *uuid = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  VivHelper *self;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (error != NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_NOT_FOUND,
                                 _("The machine is not running"));
      return;
    }

  self = helper_new (machine_dir, uuid);
  self->state = VIV_MACHINE_STATE_STARTING;
  /* Cancelling the attach task cancels its result (GTask checks), not the
   * connection, which ends quickly anyway. */
  self->attach_task = g_steal_pointer (&task);
  connect_begin (self);
  /* The attach task holds no reference; the connection's callbacks do,
   * and the task returns one. */
  g_object_unref (self);
}

/**
 * viv_helper_attach_async:
 * @machine_dir: the machine's folder
 * @uuid: the machine's UUID
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when connected, or when there is nothing to connect to
 * @user_data: data for @callback
 *
 * Connects to the helper that runs the machine already (the app was
 * restarted): its lock is held and its socket answers.
 */
void
viv_helper_attach_async (const char          *machine_dir,
                         const char          *uuid,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) check = NULL;

  g_return_if_fail (machine_dir != NULL);
  g_return_if_fail (uuid != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_helper_attach_async);
  g_task_set_task_data (task, g_strdup (machine_dir), g_free);

  check = g_task_new (NULL, cancellable, on_attach_checked, g_steal_pointer (&task));
  g_task_set_source_tag (check, viv_helper_attach_async);
  g_task_set_task_data (check, g_strdup (uuid), g_free);
  g_task_run_in_thread (check, attach_check_thread);
}

/**
 * viv_helper_attach_finish:
 * @result: the result
 * @error: return location for a #VIV_MACHINE_ERROR
 *
 * Returns: (transfer full): the connected helper, or %NULL
 */
VivHelper *
viv_helper_attach_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_helper_attach_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * viv_helper_detach:
 * @self: a helper
 *
 * Stops following the helper: no more notifications or signals. The
 * process itself is left alone.
 */
void
viv_helper_detach (VivHelper *self)
{
  g_return_if_fail (VIV_IS_HELPER (self));

  if (self->detached)
    return;
  self->detached = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->grace_id, g_source_remove);
  drop_connection (self);
  if (self->attach_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->attach_task);
      GError *error = NULL;

      g_cancellable_set_error_if_cancelled (self->cancellable, &error);
      g_task_return_error (task, error);
    }
  /* GSubprocess still reaps the process when it exits. */
  g_clear_object (&self->process);
}

/* --- properties ---------------------------------------------------------------- */

VivMachineState
viv_helper_get_state (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), VIV_MACHINE_STATE_STOPPED);

  return self->state;
}

guint64
viv_helper_get_uptime (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), 0);

  return self->uptime;
}

/* NULL until the helper answers, and after it went away */
VivVmm1 *
viv_helper_get_proxy (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), NULL);

  return self->proxy;
}

const char *
viv_helper_get_last_error (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), NULL);

  return self->last_error;
}

gboolean
viv_helper_get_finished (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), FALSE);

  return self->finished;
}

/* Whether it exited with an error before the machine ran: its message
 * is then what the engine wrote on stderr, which is in the log too. */
gboolean
viv_helper_get_start_failed (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), FALSE);

  return self->start_failed;
}

/* -1 when it did not exit on its own, or is not our child */
int
viv_helper_get_exit_status (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), -1);

  return self->exit_status;
}

/* Why it crashed, once finished; NULL when it stopped cleanly */
const char *
viv_helper_get_message (VivHelper *self)
{
  g_return_val_if_fail (VIV_IS_HELPER (self), NULL);

  return self->message;
}

static void
viv_helper_dispose (GObject *object)
{
  VivHelper *self = VIV_HELPER (object);

  viv_helper_detach (self);

  G_OBJECT_CLASS (viv_helper_parent_class)->dispose (object);
}

static void
viv_helper_finalize (GObject *object)
{
  VivHelper *self = VIV_HELPER (object);

  g_clear_object (&self->cancellable);
  g_string_free (self->stderr_text, TRUE);
  g_free (self->machine_dir);
  g_free (self->uuid);
  g_free (self->socket_path);
  g_free (self->last_error);
  g_free (self->message);

  G_OBJECT_CLASS (viv_helper_parent_class)->finalize (object);
}

static void
viv_helper_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  VivHelper *self = VIV_HELPER (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_UPTIME:
      g_value_set_uint64 (value, self->uptime);
      break;

    case PROP_CONNECTED:
      g_value_set_boolean (value, self->proxy != NULL);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_helper_class_init (VivHelperClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = viv_helper_dispose;
  object_class->finalize = viv_helper_finalize;
  object_class->get_property = viv_helper_get_property;

  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       VIV_TYPE_MACHINE_STATE, VIV_MACHINE_STATE_STOPPED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_UPTIME] =
    g_param_spec_uint64 ("uptime", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * VivHelper::finished:
   *
   * The helper is gone: its state is STOPPED, or CRASHED with a message.
   */
  signals[FINISHED] =
    g_signal_new ("finished",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
viv_helper_init (VivHelper *self)
{
  self->cancellable = g_cancellable_new ();
  self->stderr_text = g_string_new (NULL);
  self->exit_status = -1;
  self->state = VIV_MACHINE_STATE_STOPPED;
}
