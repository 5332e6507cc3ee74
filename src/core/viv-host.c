/* viv-host.c: what this computer has: memory, CPUs, free space
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-host"

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "viv-host.h"
#include "viv-machine-config.h"

#define MIB             (G_GUINT64_CONSTANT (1) << 20)
#define FALLBACK_MEMORY (G_GUINT64_CONSTANT (4) << 30)   /* where the system does not say */

/* The host's RAM in bytes (MemTotal of /proc/meminfo) */
guint64
viv_host_get_memory (void)
{
  g_autofree char *meminfo = NULL;
  long pages, page_size;

  if (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL))
    {
      const char *line = strstr (meminfo, "MemTotal:");
      guint64 kib;

      if (line != NULL && sscanf (line, "MemTotal: %" G_GUINT64_FORMAT " kB", &kib) == 1 &&
          kib > 0)
        return kib * 1024;
    }

  pages = sysconf (_SC_PHYS_PAGES);
  page_size = sysconf (_SC_PAGESIZE);
  if (pages > 0 && page_size > 0)
    return (guint64) pages * (guint64) page_size;
  return FALLBACK_MEMORY;
}

/* The most memory we propose for a machine: half the host's RAM, in whole MiB */
guint64
viv_host_get_max_guest_memory (void)
{
  return MAX (viv_host_get_memory () / 2 / MIB * MIB, MIB);
}

/* The CPUs this process may run on */
guint
viv_host_get_cpus (void)
{
  return MAX (g_get_num_processors (), 1);
}

/* The most memory a machine may have: the host's, within what machine.json
 * allows */
guint64
viv_host_memory (void)
{
  return MIN (viv_host_get_memory (), VIV_MACHINE_CONFIG_MAX_MEMORY);
}

/* The most CPUs a machine may have: the host's, within what machine.json
 * allows */
guint
viv_host_cpus (void)
{
  return MIN (viv_host_get_cpus (), VIV_MACHINE_CONFIG_MAX_CPUS);
}

/**
 * viv_host_get_free_space:
 * @folder: a folder; when it does not exist yet, its nearest existing parent
 *   is asked
 * @free_bytes: (out): the space left for an unprivileged user
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Blocks on the file system: call it from a worker thread, or use
 * viv_host_get_free_space_async().
 */
gboolean
viv_host_get_free_space (const char    *folder,
                         guint64       *free_bytes,
                         GCancellable  *cancellable,
                         GError       **error)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileInfo) info = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (folder != NULL, FALSE);
  g_return_val_if_fail (free_bytes != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  file = g_file_new_for_path (folder);
  while (!g_file_query_exists (file, cancellable))
    {
      g_autoptr(GFile) parent = g_file_get_parent (file);

      if (parent == NULL)
        break;
      g_set_object (&file, parent);
    }

  info = g_file_query_filesystem_info (file, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, cancellable,
                                       &local_error);
  if (info == NULL || !g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE))
    {
      g_autofree char *display = g_filename_display_name (folder);

      if (local_error != NULL && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      g_set_error (error, G_IO_ERROR,
                   local_error != NULL ? local_error->code : G_IO_ERROR_NOT_SUPPORTED,
                   /* Translators: the first %s is a folder name, the second
                    * the reason */
                   _("Could not find out how much space is free in “%s”: %s"),
                   display,
                   local_error != NULL ? local_error->message
                                       : _("the file system does not say"));
      return FALSE;
    }

  *free_bytes = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
  return TRUE;
}

static void
free_space_thread (GTask        *task,
                   gpointer      source_object G_GNUC_UNUSED,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  GError *error = NULL;
  guint64 *free_bytes = g_new0 (guint64, 1);

  if (viv_host_get_free_space (task_data, free_bytes, cancellable, &error))
    {
      g_task_return_pointer (task, free_bytes, g_free);
    }
  else
    {
      g_free (free_bytes);
      g_task_return_error (task, error);
    }
}

void
viv_host_get_free_space_async (const char          *folder,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (folder != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_host_get_free_space_async);
  g_task_set_task_data (task, g_strdup (folder), g_free);
  g_task_run_in_thread (task, free_space_thread);
}

gboolean
viv_host_get_free_space_finish (GAsyncResult  *result,
                                guint64       *free_bytes,
                                GError       **error)
{
  g_autofree guint64 *value = NULL;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_host_get_free_space_async, FALSE);
  g_return_val_if_fail (free_bytes != NULL, FALSE);

  value = g_task_propagate_pointer (G_TASK (result), error);
  if (value == NULL)
    return FALSE;
  *free_bytes = *value;
  return TRUE;
}
