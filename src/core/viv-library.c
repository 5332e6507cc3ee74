/* viv-library.c: the machines in $XDG_DATA_HOME/vivarium/machines
 *
 * VivLibrary is a GListModel of VivMachine, one per folder of the machines
 * folder, sorted by name (case-insensitive; the UUID breaks ties, so the
 * order is the same every time). Folders are read in worker threads; the
 * main thread only creates the objects.
 *
 * Deleting a machine moves its folder into machines/.deleted/ at once, so
 * that it can be undone; commit_deletes() then moves what is there to the
 * desktop's trash. Whatever is left there (the app quit meanwhile) is
 * committed by the next load.
 *
 * The machine creator works in a staging folder, machines/.new-<uuid>/,
 * renamed to machines/<uuid> once complete; it holds a lock on a file in
 * it meanwhile (viv_library_lock_staging()). A staging folder nobody holds
 * the lock on is what an app killed while creating left behind (a partial
 * copy of a disk image, gigabytes perhaps): loading removes it, and logs
 * that it did. Another Vivarium's creations in progress stay: it holds
 * their locks.
 *
 * Another process (another Vivarium, a script) may add or remove folders:
 * a monitor on the machines folder notices, and each machine watches its
 * own machine.json. Helpers come and go in the runtime folder
 * ($XDG_RUNTIME_DIR/vivarium: <uuid>.lock and <uuid>.sock): a monitor there
 * has the machine look again (viv_machine_check_helper()), so that a helper
 * another Vivarium or a terminal started is followed at once, and one whose
 * socket is gone shows as unreachable rather than "Off".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-library"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "viv-helper.h"
#include "viv-library.h"
#include "viv-machine-private.h"
#include "viv-file.h"

#define DELETED_NAME     ".deleted"

typedef struct
{
  VivMachine *machine;
  char       *key;      /* collation key of the case-folded name */
} Entry;

struct _VivLibrary
{
  GObject       parent_instance;

  char         *machines_dir;
  char         *deleted_dir;
  GPtrArray    *items;      /* of Entry*, sorted */
  GHashTable   *by_folder;  /* folder name → Entry* */
  GHashTable   *deleted;    /* folder name → VivMachine*, in .deleted */
  GFile        *machines_file;
  GFileMonitor *monitor;
  GFileMonitor *runtime_monitor;  /* $XDG_RUNTIME_DIR/vivarium */
  GCancellable *cancellable;
  gboolean      loaded;
  VivFileReplaceHook replace_hook;  /* tests only; every machine gets it */
  gpointer      replace_hook_data;
};

static void viv_library_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VivLibrary, viv_library, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      viv_library_list_model_init))

enum {
  PROP_0,
  PROP_MACHINES_DIR,
  PROP_LOADED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* --- sorting --------------------------------------------------------------------- */

static char *
sort_key (const char *name)
{
  g_autofree char *folded = g_utf8_casefold (name, -1);

  return g_utf8_collate_key (folded, -1);
}

static int
compare (const char *key_a,
         const char *uuid_a,
         const char *key_b,
         const char *uuid_b)
{
  int result = strcmp (key_a, key_b);

  return result != 0 ? result : strcmp (uuid_a, uuid_b);
}

/* Where an item with KEY and UUID goes, leaving out SKIP (or -1) */
static guint
find_position (VivLibrary *self,
               const char *key,
               const char *uuid,
               guint       skip)
{
  guint low = 0, high = self->items->len - (skip != G_MAXUINT ? 1 : 0);

  while (low < high)
    {
      guint mid = low + (high - low) / 2;
      guint index = mid;
      const Entry *entry;

      if (skip != G_MAXUINT && index >= skip)
        index++;
      entry = g_ptr_array_index (self->items, index);
      if (compare (entry->key, viv_machine_get_uuid (entry->machine), key, uuid) < 0)
        low = mid + 1;
      else
        high = mid;
    }
  return low;
}

static guint
index_of (VivLibrary *self,
          Entry      *entry)
{
  guint index;

  if (!g_ptr_array_find (self->items, entry, &index))
    g_assert_not_reached ();
  return index;
}

static void
on_machine_notify_name (VivMachine *machine,
                        GParamSpec *pspec G_GNUC_UNUSED,
                        VivLibrary *self)
{
  Entry *entry = g_hash_table_lookup (self->by_folder, viv_machine_get_uuid (machine));
  guint old_index, new_index, first, n;

  g_return_if_fail (entry != NULL && entry->machine == machine);

  g_free (entry->key);
  entry->key = sort_key (viv_machine_get_name (machine));
  old_index = index_of (self, entry);
  new_index = find_position (self, entry->key, viv_machine_get_uuid (machine), old_index);
  if (new_index == old_index)
    return;

  g_ptr_array_steal_index (self->items, old_index);
  g_ptr_array_insert (self->items, (int) new_index, entry);
  first = MIN (old_index, new_index);
  n = MAX (old_index, new_index) - first + 1;
  g_list_model_items_changed (G_LIST_MODEL (self), first, n, n);
}

/* --- adding and removing ------------------------------------------------------------- */

static Entry *
entry_new (VivLibrary *self,
           VivMachine *machine,
           char       *key)
{
  Entry *entry = g_new0 (Entry, 1);

  entry->machine = machine;
  entry->key = key != NULL ? key : sort_key (viv_machine_get_name (machine));
  viv_machine_set_replace_hook (machine, self->replace_hook, self->replace_hook_data);
  g_signal_connect (machine, "notify::name", G_CALLBACK (on_machine_notify_name), self);
  g_hash_table_insert (self->by_folder, g_strdup (viv_machine_get_uuid (machine)), entry);
  return entry;
}

static void
entry_free (Entry *entry)
{
  g_clear_object (&entry->machine);
  g_free (entry->key);
  g_free (entry);
}

/* Takes MACHINE; KEY (taken) may be NULL */
static void
insert_machine (VivLibrary *self,
                VivMachine *machine,
                char       *key)
{
  Entry *entry = entry_new (self, machine, key);
  guint position = find_position (self, entry->key, viv_machine_get_uuid (machine), G_MAXUINT);

  g_ptr_array_insert (self->items, (int) position, entry);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
}

/* Returns the machine (transfer full) */
static VivMachine *
remove_entry (VivLibrary *self,
              Entry      *entry)
{
  VivMachine *machine = g_steal_pointer (&entry->machine);
  guint position = index_of (self, entry);

  g_signal_handlers_disconnect_by_data (machine, self);
  g_ptr_array_steal_index (self->items, position);
  g_hash_table_remove (self->by_folder, viv_machine_get_uuid (machine));
  entry_free (entry);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
  return machine;
}

/* --- reading folders (in worker threads) ------------------------------------------------ */

typedef struct
{
  char             *directory;
  char             *folder;
  VivMachineConfig *config;
  GError           *error;
  GBytes           *thumbnail;
  char             *key;
  gboolean          running;
  gboolean          gone;
} Found;

static void
found_free (Found *found)
{
  g_free (found->directory);
  g_free (found->folder);
  g_clear_pointer (&found->config, viv_machine_config_free);
  g_clear_error (&found->error);
  g_clear_pointer (&found->thumbnail, g_bytes_unref);
  g_free (found->key);
  g_free (found);
}

static Found *
read_folder (const char *machines_dir,
             const char *folder)
{
  Found *found = g_new0 (Found, 1);

  found->folder = g_strdup (folder);
  found->directory = g_build_filename (machines_dir, folder, NULL);
  if (!g_file_test (found->directory, G_FILE_TEST_IS_DIR))
    {
      found->gone = TRUE;
      return found;
    }

  found->config = viv_machine_config_load_dir (found->directory, &found->error);
  if (found->config != NULL)
    {
      found->key = sort_key (found->config->name);
    }
  else
    {
      g_autofree char *display = g_filename_display_name (folder);

      found->key = sort_key (display);
    }

  found->thumbnail = viv_machine_read_thumbnail (found->directory);

  found->running = viv_helper_probe (folder, NULL) != VIV_HELPER_ABSENT;
  return found;
}

/* Moves everything in DELETED_DIR but the names in SKIP (nullable) to the
 * trash; returns the names moved, and the first error. */
static GPtrArray *
commit_deletes_in (const char         *deleted_dir,
                   const char * const *skip,
                   GError            **error)
{
  GPtrArray *done = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) dir = NULL;
  const char *name;

  dir = g_dir_open (deleted_dir, 0, NULL);
  if (dir == NULL)
    return done;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (deleted_dir, name, NULL);
      g_autoptr(GFile) file = g_file_new_for_path (path);
      g_autoptr(GError) local_error = NULL;

      if (skip != NULL && g_strv_contains (skip, name))
        continue;
      if (!g_file_trash (file, NULL, &local_error))
        {
          if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
            {
              g_debug ("cannot move %s to the trash: %s", path, local_error->message);
              if (error != NULL && *error == NULL)
                {
                  g_autofree char *display = g_filename_display_name (path);

                  g_set_error (error, local_error->domain, local_error->code,
                               /* Translators: the first %s is a folder name,
                                * the second the reason */
                               _("Could not move “%s” to the trash: %s"),
                               display, local_error->message);
                }
              continue;
            }
          g_warning ("There is no trash for %s (%s); deleting it", path, local_error->message);
          if (!viv_file_remove_tree (path))
            g_warning ("Could not remove all of %s", path);
        }
      g_ptr_array_add (done, g_strdup (name));
    }

  return done;
}

/**
 * viv_library_lock_staging:
 * @staging_dir: a staging folder, machines/.new-<uuid>
 *
 * Takes the lock saying that @staging_dir is in use, without waiting: the
 * machine creator holds it while it works there, the library takes it
 * before removing what a killed app left. The lock is the file's (flock),
 * so another Vivarium sees it, and it goes with the process: a killed app
 * holds none.
 *
 * Returns: a file descriptor to close once done (that releases the lock),
 * or -EWOULDBLOCK when someone else holds it, -ENOENT when the folder is
 * gone (or was removed while this waited for the lock), another -errno.
 */
int
viv_library_lock_staging (const char *staging_dir)
{
  g_autofree char *path = NULL;
  struct stat held, now;
  int fd;

  g_return_val_if_fail (staging_dir != NULL, -EINVAL);

  path = g_build_filename (staging_dir, VIV_LIBRARY_STAGING_LOCK, NULL);
  /* Created if missing: an app killed right after making the folder */
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return -errno;
  if (flock (fd, LOCK_EX | LOCK_NB) < 0)
    {
      int saved_errno = errno;

      close (fd);
      return -saved_errno;
    }
  /* Whoever held the lock before may have removed the folder meanwhile:
   * the lock is only worth something on the file still at PATH. */
  if (fstat (fd, &held) < 0 || stat (path, &now) < 0 ||
      held.st_dev != now.st_dev || held.st_ino != now.st_ino)
    {
      close (fd);
      return -ENOENT;
    }
  return fd;
}

/* Removes the staging folder NAME if nobody works in it; in the worker */
static void
remove_stale_staging (const char *machines_dir,
                      const char *name)
{
  g_autofree char *path = g_build_filename (machines_dir, name, NULL);
  int fd = viv_library_lock_staging (path);

  if (fd < 0)
    {
      if (fd != -EWOULDBLOCK && fd != -ENOENT)
        g_warning ("Cannot check whether %s is in use: %s", path, g_strerror (-fd));
      return;
    }
  /* Removed with the lock held, so that nobody else starts on it */
  if (viv_file_remove_tree (path))
    g_message ("Removed %s, left over by a machine creation that did not finish", path);
  else
    g_warning ("Could not remove all of %s, left over by a machine creation that did "
               "not finish", path);
  close (fd);
}

typedef struct
{
  char      *machines_dir;
  char      *deleted_dir;
  GStrv      undoable;    /* deletes this library can still undo */
  GPtrArray *found;       /* of Found*, sorted */
} LoadData;

static void
load_data_free (LoadData *data)
{
  g_free (data->machines_dir);
  g_free (data->deleted_dir);
  g_strfreev (data->undoable);
  g_clear_pointer (&data->found, g_ptr_array_unref);
  g_free (data);
}

static int
compare_found (gconstpointer a,
               gconstpointer b)
{
  const Found *found_a = *(const Found * const *) a;
  const Found *found_b = *(const Found * const *) b;

  return compare (found_a->key, found_a->folder, found_b->key, found_b->folder);
}

static void
load_thread (GTask        *task,
             gpointer      source_object G_GNUC_UNUSED,
             gpointer      task_data,
             GCancellable *cancellable G_GNUC_UNUSED)
{
  LoadData *data = task_data;
  g_autoptr(GPtrArray) committed = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;

  /* Deletes left over when the app quit before committing them */
  committed = commit_deletes_in (data->deleted_dir, (const char * const *) data->undoable,
                                 NULL);

  data->found = g_ptr_array_new_with_free_func ((GDestroyNotify) found_free);
  dir = g_dir_open (data->machines_dir, 0, &error);
  if (dir == NULL)
    {
      g_autofree char *display = g_filename_display_name (data->machines_dir);

      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               /* Translators: the first %s is a folder name,
                                * the second the reason */
                               _("Could not read the machines in “%s”: %s"),
                               display, error->message);
      return;
    }

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      Found *found;

      if (g_task_return_error_if_cancelled (task))
        return;
      if (g_str_has_prefix (name, VIV_LIBRARY_STAGING_PREFIX))
        remove_stale_staging (data->machines_dir, name);
      if (name[0] == '.')
        continue;
      found = read_folder (data->machines_dir, name);
      if (found->gone)
        found_free (found);
      else
        g_ptr_array_add (data->found, found);
    }

  g_ptr_array_sort (data->found, compare_found);
  g_task_return_boolean (task, TRUE);
}

/* The main thread's part: only creating the objects, then one items-changed
 * for all of them when the list was empty. */
static void
add_found (VivLibrary *self,
           GPtrArray  *found)
{
  g_autoptr(GPtrArray) running = g_ptr_array_new_with_free_func (g_object_unref);
  gboolean was_empty = self->items->len == 0;
  guint added = 0;

  for (guint i = 0; i < found->len; i++)
    {
      Found *f = g_ptr_array_index (found, i);
      VivMachine *machine;

      if (g_hash_table_contains (self->by_folder, f->folder) ||
          g_hash_table_contains (self->deleted, f->folder))
        continue;

      machine = viv_machine_new (f->directory, g_steal_pointer (&f->config), f->error,
                                 f->thumbnail);
      if (f->running)
        g_ptr_array_add (running, g_object_ref (machine));
      if (was_empty)
        {
          /* sorted already */
          g_ptr_array_add (self->items, entry_new (self, machine, g_steal_pointer (&f->key)));
          added++;
        }
      else
        {
          insert_machine (self, machine, g_steal_pointer (&f->key));
        }
    }

  if (added > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, added);

  /* Machines whose helpers run: the app was restarted, or another runs them */
  for (guint i = 0; i < running->len; i++)
    viv_machine_check_helper (running->pdata[i]);
}

/* --- the machines folder changed ---------------------------------------------------- */

static void
sync_folder_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable G_GNUC_UNUSED)
{
  VivLibrary *self = source_object;

  g_task_return_pointer (task, read_folder (self->machines_dir, task_data),
                         (GDestroyNotify) found_free);
}

static void
on_folder_synced (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data G_GNUC_UNUSED)
{
  VivLibrary *self = VIV_LIBRARY (object);
  Found *found = g_task_propagate_pointer (G_TASK (result), NULL);
  Entry *entry;

  if (found == NULL)
    return;

  entry = g_hash_table_lookup (self->by_folder, found->folder);
  if (found->gone && entry != NULL)
    {
      g_autoptr(VivMachine) machine = NULL;

      g_debug ("%s was removed by someone else", found->directory);
      machine = remove_entry (self, entry);
    }
  else if (!found->gone && entry == NULL &&
           !g_hash_table_contains (self->deleted, found->folder))
    {
      VivMachine *machine;

      g_debug ("%s was added by someone else", found->directory);
      machine = viv_machine_new (found->directory, g_steal_pointer (&found->config),
                                 found->error, found->thumbnail);
      insert_machine (self, machine, g_steal_pointer (&found->key));
      /* A folder is often made first and filled afterwards: read it again
       * now that the machine watches it. */
      viv_machine_reload_async (machine, self->cancellable, NULL, NULL);
      if (found->running)
        viv_machine_check_helper (machine);
    }

  found_free (found);
}

static void
sync_folder (VivLibrary *self,
             GFile      *file)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *name = NULL;
  g_autoptr(GFile) parent = NULL;

  if (file == NULL)
    return;
  parent = g_file_get_parent (file);
  name = g_file_get_basename (file);
  if (parent == NULL || name == NULL || name[0] == '.')
    return;
  if (!g_file_equal (parent, self->machines_file))
    return;

  task = g_task_new (self, self->cancellable, on_folder_synced, NULL);
  g_task_set_source_tag (task, sync_folder);
  g_task_set_task_data (task, g_steal_pointer (&name), g_free);
  g_task_run_in_thread (task, sync_folder_thread);
}

static void
on_monitor_changed (GFileMonitor      *monitor G_GNUC_UNUSED,
                    GFile             *file,
                    GFile             *other_file,
                    GFileMonitorEvent  event,
                    VivLibrary        *self)
{
  switch (event)
    {
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_DELETED:
    case G_FILE_MONITOR_EVENT_MOVED_IN:
    case G_FILE_MONITOR_EVENT_MOVED_OUT:
      sync_folder (self, file);
      break;

    case G_FILE_MONITOR_EVENT_RENAMED:
      sync_folder (self, file);
      sync_folder (self, other_file);
      break;

    case G_FILE_MONITOR_EVENT_CHANGED:
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
    case G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED:
    case G_FILE_MONITOR_EVENT_PRE_UNMOUNT:
    case G_FILE_MONITOR_EVENT_UNMOUNTED:
    case G_FILE_MONITOR_EVENT_MOVED:
    default:
      break;
    }
}

/* --- the runtime folder changed ---------------------------------------------------- */

/* A helper took or released a machine's lock, or made or lost its socket */
static void
on_runtime_changed (GFileMonitor      *monitor G_GNUC_UNUSED,
                    GFile             *file,
                    GFile             *other_file,
                    GFileMonitorEvent  event,
                    VivLibrary        *self)
{
  GFile *files[] = { file, other_file };

  if (event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *name = files[i] != NULL ? g_file_get_basename (files[i]) : NULL;
      g_autofree char *uuid = NULL;
      VivMachine *machine;

      if (name == NULL)
        continue;
      if (g_str_has_suffix (name, ".lock"))
        uuid = g_strndup (name, strlen (name) - strlen (".lock"));
      else if (g_str_has_suffix (name, ".sock"))
        uuid = g_strndup (name, strlen (name) - strlen (".sock"));
      else
        continue;
      machine = viv_library_find (self, uuid);
      if (machine != NULL)
        viv_machine_check_helper (machine);
    }
}

static void
watch_runtime_folder (VivLibrary *self)
{
  g_autofree char *dir = g_build_filename (g_get_user_runtime_dir (), "vivarium", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (dir);
  g_autoptr(GError) error = NULL;

  /* As the helpers make it: private. It must exist to be watched. */
  if (!viv_file_make_private_dir (dir, &error))
    {
      g_warning ("Cannot watch %s: %s", dir, error->message);
      return;
    }
  self->runtime_monitor = g_file_monitor_directory (file, G_FILE_MONITOR_WATCH_MOVES, NULL,
                                                    &error);
  if (self->runtime_monitor == NULL)
    {
      g_warning ("Cannot watch %s: %s", dir, error->message);
      return;
    }
  g_signal_connect (self->runtime_monitor, "changed", G_CALLBACK (on_runtime_changed), self);
}

/* --- public API ---------------------------------------------------------------------- */

/**
 * viv_library_new:
 * @machines_dir: (nullable): the folder of machine folders; %NULL for
 *   $XDG_DATA_HOME/vivarium/machines
 *
 * An empty library: viv_library_load_async() reads it.
 *
 * Returns: (transfer full): the library
 */
VivLibrary *
viv_library_new (const char *machines_dir)
{
  return g_object_new (VIV_TYPE_LIBRARY,
                       "machines-dir", machines_dir,
                       NULL);
}

const char *
viv_library_get_machines_dir (VivLibrary *self)
{
  g_return_val_if_fail (VIV_IS_LIBRARY (self), NULL);

  return self->machines_dir;
}

/**
 * viv_library_set_replace_hook:
 * @self: a library
 * @hook: (nullable): called in the worker thread that writes a
 *   machine.json, just before the rename (viv_file_replace_full())
 * @hook_data: data for @hook
 *
 * Tests only: the hook goes with every write of this library's machines,
 * those in the list and those it adds later, so that a test can stop a
 * write half-way (a crash) without touching any other library.
 */
void
viv_library_set_replace_hook (VivLibrary         *self,
                              VivFileReplaceHook  hook,
                              gpointer            hook_data)
{
  GHashTableIter iter;
  gpointer machine;

  g_return_if_fail (VIV_IS_LIBRARY (self));

  self->replace_hook = hook;
  self->replace_hook_data = hook_data;
  for (guint i = 0; i < self->items->len; i++)
    {
      Entry *entry = g_ptr_array_index (self->items, i);

      viv_machine_set_replace_hook (entry->machine, hook, hook_data);
    }
  g_hash_table_iter_init (&iter, self->deleted);
  while (g_hash_table_iter_next (&iter, NULL, &machine))
    viv_machine_set_replace_hook (machine, hook, hook_data);
}

/* Whether a load has completed */
gboolean
viv_library_get_loaded (VivLibrary *self)
{
  g_return_val_if_fail (VIV_IS_LIBRARY (self), FALSE);

  return self->loaded;
}

static void
on_loaded (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  VivLibrary *self = VIV_LIBRARY (object);
  g_autoptr(GTask) task = user_data;
  LoadData *data = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      return;
    }

  add_found (self, data->found);
  if (!self->loaded)
    {
      self->loaded = TRUE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADED]);
    }
  g_task_return_boolean (task, TRUE);
}

/**
 * viv_library_load_async:
 * @self: a library
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the machines are in the list
 * @user_data: data for @callback
 *
 * Reads every machine folder in a worker thread and adds the machines in
 * one items-changed; machines whose helpers run are then followed again
 * (viv_machine_check_helper()), and the runtime folder is watched for
 * helpers that start or end later. Deletes left over from an earlier run are
 * moved to the trash first, and staging folders of creations that did not
 * finish removed. From then on the library follows changes made
 * by other processes. Loading again adds the machines not in the list yet.
 */
void
viv_library_load_async (VivLibrary          *self,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker = NULL;
  LoadData *data;

  g_return_if_fail (VIV_IS_LIBRARY (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_library_load_async);

  /* The folder must exist to be watched, and it is watched before it is
   * read, so that nothing added meanwhile is missed. */
  if (self->monitor == NULL)
    {
      g_autoptr(GError) error = NULL;

      if (g_mkdir_with_parents (self->machines_dir, 0755) < 0)
        {
          int saved_errno = errno;
          g_autofree char *display = g_filename_display_name (self->machines_dir);

          g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                                   /* Translators: the first %s is a folder
                                    * name, the second the reason */
                                   _("Could not create the folder “%s”: %s"),
                                   display, g_strerror (saved_errno));
          return;
        }
      self->monitor = g_file_monitor_directory (self->machines_file, G_FILE_MONITOR_WATCH_MOVES,
                                                NULL, &error);
      if (self->monitor != NULL)
        g_signal_connect (self->monitor, "changed", G_CALLBACK (on_monitor_changed), self);
      else
        g_warning ("Cannot watch %s: %s", self->machines_dir, error->message);
      watch_runtime_folder (self);
    }

  data = g_new0 (LoadData, 1);
  data->machines_dir = g_strdup (self->machines_dir);
  data->deleted_dir = g_strdup (self->deleted_dir);
  data->undoable = (GStrv) g_hash_table_get_keys_as_array (self->deleted, NULL);
  for (guint i = 0; data->undoable[i] != NULL; i++)
    data->undoable[i] = g_strdup (data->undoable[i]);
  worker = g_task_new (self, cancellable, on_loaded, g_steal_pointer (&task));
  g_task_set_source_tag (worker, viv_library_load_async);
  g_task_set_task_data (worker, data, (GDestroyNotify) load_data_free);
  g_task_run_in_thread (worker, load_thread);
}

gboolean
viv_library_load_finish (VivLibrary    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (VIV_IS_LIBRARY (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_library_load_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * viv_library_find:
 * @self: a library
 * @uuid: a machine's UUID (its folder's name)
 *
 * Returns: (transfer none) (nullable): the machine in the list
 */
VivMachine *
viv_library_find (VivLibrary *self,
                  const char *uuid)
{
  Entry *entry;

  g_return_val_if_fail (VIV_IS_LIBRARY (self), NULL);
  g_return_val_if_fail (uuid != NULL, NULL);

  entry = g_hash_table_lookup (self->by_folder, uuid);
  return entry != NULL ? entry->machine : NULL;
}

/**
 * viv_library_create_machine:
 * @self: a library
 * @config: the new machine's description
 * @error: return location for a #VIV_MACHINE_CONFIG_ERROR or #GIOError
 *
 * Makes the machine's folder, named after its UUID, and writes its
 * machine.json (atomically). An existing folder is refused.
 *
 * Returns: (transfer none): the new machine, in the list
 */
VivMachine *
viv_library_create_machine (VivLibrary              *self,
                            const VivMachineConfig  *config,
                            GError                 **error)
{
  g_autofree char *directory = NULL;
  g_autofree char *path = NULL;
  VivMachine *machine;

  g_return_val_if_fail (VIV_IS_LIBRARY (self), NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!viv_machine_config_check (config, error))
    return NULL;

  directory = g_build_filename (self->machines_dir, config->uuid, NULL);
  if (g_mkdir_with_parents (self->machines_dir, 0755) < 0 || g_mkdir (directory, 0755) < 0)
    {
      int saved_errno = errno;
      g_autofree char *display = g_filename_display_name (directory);

      if (saved_errno == EEXIST)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                     /* Translators: %s is a UUID */
                     _("A machine with the UUID %s exists already"), config->uuid);
      else
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                     /* Translators: the first %s is a folder name, the
                      * second the reason */
                     _("Could not create the folder “%s”: %s"),
                     display, g_strerror (saved_errno));
      return NULL;
    }

  path = g_build_filename (directory, VIV_MACHINE_CONFIG_FILE_NAME, NULL);
  if (!viv_machine_save_config (config, path, self->replace_hook, self->replace_hook_data, error))
    {
      g_rmdir (directory);
      return NULL;
    }

  machine = viv_machine_new (directory, viv_machine_config_copy (config), NULL, NULL);
  insert_machine (self, machine, NULL);
  return machine;
}

/**
 * viv_library_delete_machine:
 * @self: a library
 * @machine: a machine in the list
 * @error: return location for a #VIV_MACHINE_ERROR or #GIOError
 *
 * Takes the machine out of the list and moves its folder into
 * machines/.deleted/ at once; viv_library_undo_delete() brings it back,
 * viv_library_commit_deletes() moves it to the trash. A running machine is
 * refused (%VIV_MACHINE_ERROR_WRONG_STATE): stop it first.
 *
 * Returns: %TRUE if the machine was taken out
 */
gboolean
viv_library_delete_machine (VivLibrary  *self,
                            VivMachine  *machine,
                            GError     **error)
{
  g_autoptr(VivMachine) removed = NULL;
  g_autofree char *target = NULL;
  const char *folder;
  Entry *entry;

  g_return_val_if_fail (VIV_IS_LIBRARY (self), FALSE);
  g_return_val_if_fail (VIV_IS_MACHINE (machine), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  folder = viv_machine_get_uuid (machine);
  entry = g_hash_table_lookup (self->by_folder, folder);
  g_return_val_if_fail (entry != NULL && entry->machine == machine, FALSE);

  /* Ours, or one that another Vivarium (or a terminal) runs */
  if (viv_machine_is_active (machine) || viv_helper_probe (folder, NULL) != VIV_HELPER_ABSENT)
    {
      g_set_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE,
                   /* Translators: %s is a machine’s name */
                   _("“%s” is running; stop it before deleting it"),
                   viv_machine_get_name (machine));
      return FALSE;
    }

  target = g_build_filename (self->deleted_dir, folder, NULL);
  if (g_mkdir_with_parents (self->deleted_dir, 0700) < 0 ||
      g_rename (viv_machine_get_directory (machine), target) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   /* Translators: the first %s is a machine’s name, the
                    * second the reason */
                   _("Could not delete “%s”: %s"),
                   viv_machine_get_name (machine), g_strerror (saved_errno));
      return FALSE;
    }

  removed = remove_entry (self, entry);
  g_hash_table_insert (self->deleted, g_strdup (folder), g_steal_pointer (&removed));
  return TRUE;
}

/**
 * viv_library_undo_delete:
 * @self: a library
 * @uuid: the UUID of a machine deleted with viv_library_delete_machine()
 * @error: return location for a #GIOError
 *
 * Moves the machine's folder back and the machine back into the list, as
 * long as its delete was not committed.
 *
 * Returns: %TRUE if the machine is back
 */
gboolean
viv_library_undo_delete (VivLibrary  *self,
                         const char  *uuid,
                         GError     **error)
{
  g_autofree char *source = NULL;
  VivMachine *machine;

  g_return_val_if_fail (VIV_IS_LIBRARY (self), FALSE);
  g_return_val_if_fail (uuid != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  machine = g_hash_table_lookup (self->deleted, uuid);
  if (machine == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           _("The machine was deleted for good already"));
      return FALSE;
    }

  source = g_build_filename (self->deleted_dir, uuid, NULL);
  if (g_file_test (viv_machine_get_directory (machine), G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   /* Translators: %s is a machine’s name */
                   _("Could not restore “%s”: its folder exists again"),
                   viv_machine_get_name (machine));
      return FALSE;
    }
  if (g_rename (source, viv_machine_get_directory (machine)) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   /* Translators: the first %s is a machine’s name, the
                    * second the reason */
                   _("Could not restore “%s”: %s"),
                   viv_machine_get_name (machine), g_strerror (saved_errno));
      return FALSE;
    }

  {
    g_autofree char *key = NULL;

    /* the table's reference goes to the list */
    g_hash_table_steal_extended (self->deleted, uuid, (gpointer *) &key, NULL);
  }
  insert_machine (self, machine, NULL);
  /* its folder was away: read it again */
  viv_machine_reload_async (machine, self->cancellable, NULL, NULL);
  return TRUE;
}

static void
commit_thread (GTask        *task,
               gpointer      source_object G_GNUC_UNUSED,
               gpointer      task_data,
               GCancellable *cancellable G_GNUC_UNUSED)
{
  GError *error = NULL;
  GPtrArray *done = commit_deletes_in (task_data, NULL, &error);

  g_object_set_data_full (G_OBJECT (task), "done", done, (GDestroyNotify) g_ptr_array_unref);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_committed (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  VivLibrary *self = VIV_LIBRARY (object);
  g_autoptr(GTask) task = user_data;
  GPtrArray *done = g_object_get_data (G_OBJECT (result), "done");
  GError *error = NULL;

  for (guint i = 0; done != NULL && i < done->len; i++)
    g_hash_table_remove (self->deleted, done->pdata[i]);

  if (task == NULL)
    {
      if (!g_task_propagate_boolean (G_TASK (result), &error))
        {
          g_warning ("%s", error->message);
          g_error_free (error);
        }
      return;
    }
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * viv_library_commit_deletes_async:
 * @self: a library
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once done
 * @user_data: data for @callback
 *
 * Moves everything in machines/.deleted/ to the desktop's trash (in a
 * worker thread); where there is no trash, deletes it, with a warning.
 * Call it when the undo toast goes away.
 */
void
viv_library_commit_deletes_async (VivLibrary          *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker = NULL;

  g_return_if_fail (VIV_IS_LIBRARY (self));

  if (callback != NULL)
    {
      task = g_task_new (self, cancellable, callback, user_data);
      g_task_set_source_tag (task, viv_library_commit_deletes_async);
    }

  worker = g_task_new (self, cancellable, on_committed, g_steal_pointer (&task));
  g_task_set_source_tag (worker, viv_library_commit_deletes_async);
  g_task_set_task_data (worker, g_strdup (self->deleted_dir), g_free);
  g_task_run_in_thread (worker, commit_thread);
}

gboolean
viv_library_commit_deletes_finish (VivLibrary    *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (VIV_IS_LIBRARY (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_library_commit_deletes_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* viv_library_commit_deletes_async() without waiting; errors are logged */
void
viv_library_commit_deletes (VivLibrary *self)
{
  g_return_if_fail (VIV_IS_LIBRARY (self));

  viv_library_commit_deletes_async (self, NULL, NULL, NULL);
}

/* --- GListModel ------------------------------------------------------------------- */

static GType
viv_library_get_item_type (GListModel *model G_GNUC_UNUSED)
{
  return VIV_TYPE_MACHINE;
}

static guint
viv_library_get_n_items (GListModel *model)
{
  return VIV_LIBRARY (model)->items->len;
}

static gpointer
viv_library_get_item (GListModel *model,
                      guint       position)
{
  VivLibrary *self = VIV_LIBRARY (model);
  Entry *entry;

  if (position >= self->items->len)
    return NULL;
  entry = g_ptr_array_index (self->items, position);
  return g_object_ref (entry->machine);
}

static void
viv_library_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = viv_library_get_item_type;
  iface->get_n_items = viv_library_get_n_items;
  iface->get_item = viv_library_get_item;
}

/* --- GObject ------------------------------------------------------------------------- */

static void
viv_library_constructed (GObject *object)
{
  VivLibrary *self = VIV_LIBRARY (object);

  G_OBJECT_CLASS (viv_library_parent_class)->constructed (object);

  if (self->machines_dir == NULL)
    self->machines_dir = g_build_filename (g_get_user_data_dir (), "vivarium", "machines", NULL);
  self->deleted_dir = g_build_filename (self->machines_dir, DELETED_NAME, NULL);
  self->machines_file = g_file_new_for_path (self->machines_dir);
}

static void
viv_library_dispose (GObject *object)
{
  VivLibrary *self = VIV_LIBRARY (object);

  g_cancellable_cancel (self->cancellable);
  if (self->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->monitor, self);
      g_file_monitor_cancel (self->monitor);
      g_clear_object (&self->monitor);
    }
  if (self->runtime_monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->runtime_monitor, self);
      g_file_monitor_cancel (self->runtime_monitor);
      g_clear_object (&self->runtime_monitor);
    }

  /* The app is going away: the deletes it made are final now. */
  if (g_hash_table_size (self->deleted) > 0)
    {
      g_autoptr(GPtrArray) done = NULL;
      g_autoptr(GError) error = NULL;

      done = commit_deletes_in (self->deleted_dir, NULL, &error);
      if (error != NULL)
        g_warning ("%s", error->message);
      g_hash_table_remove_all (self->deleted);
    }

  if (self->items->len > 0)
    {
      guint n = self->items->len;

      for (guint i = 0; i < n; i++)
        {
          Entry *entry = g_ptr_array_index (self->items, i);

          g_signal_handlers_disconnect_by_data (entry->machine, self);
        }
      g_hash_table_remove_all (self->by_folder);
      g_ptr_array_set_size (self->items, 0);
      g_list_model_items_changed (G_LIST_MODEL (self), 0, n, 0);
    }

  G_OBJECT_CLASS (viv_library_parent_class)->dispose (object);
}

static void
viv_library_finalize (GObject *object)
{
  VivLibrary *self = VIV_LIBRARY (object);

  g_ptr_array_unref (self->items);
  g_hash_table_unref (self->by_folder);
  g_hash_table_unref (self->deleted);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->machines_file);
  g_free (self->machines_dir);
  g_free (self->deleted_dir);

  G_OBJECT_CLASS (viv_library_parent_class)->finalize (object);
}

static void
viv_library_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  VivLibrary *self = VIV_LIBRARY (object);

  switch (prop_id)
    {
    case PROP_MACHINES_DIR:
      g_value_set_string (value, self->machines_dir);
      break;

    case PROP_LOADED:
      g_value_set_boolean (value, self->loaded);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_library_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  VivLibrary *self = VIV_LIBRARY (object);

  switch (prop_id)
    {
    case PROP_MACHINES_DIR:
      g_assert (self->machines_dir == NULL);
      self->machines_dir = g_value_dup_string (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_library_class_init (VivLibraryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = viv_library_constructed;
  object_class->dispose = viv_library_dispose;
  object_class->finalize = viv_library_finalize;
  object_class->get_property = viv_library_get_property;
  object_class->set_property = viv_library_set_property;

  properties[PROP_MACHINES_DIR] =
    g_param_spec_string ("machines-dir", NULL, NULL,
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOADED] =
    g_param_spec_boolean ("loaded", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
viv_library_init (VivLibrary *self)
{
  self->items = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  self->by_folder = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->deleted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->cancellable = g_cancellable_new ();
}
