/* viv-disk.c: disk images: what one holds, and new ones
 *
 * Every call into the block library from the app side is in this file,
 * so that a change of its interface is one edit here. The calls block on
 * the disk: the _async forms run them in a worker thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-disk"

#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <glib/gi18n.h>

#include "block/block.h"
#include "viv-disk.h"

G_DEFINE_BOXED_TYPE (VivDiskInfo, viv_disk_info, viv_disk_info_copy, viv_disk_info_free)

VivDiskInfo *
viv_disk_info_copy (const VivDiskInfo *info)
{
  VivDiskInfo *copy;

  g_return_val_if_fail (info != NULL, NULL);

  copy = g_memdup2 (info, sizeof *info);
  copy->backing_file = g_strdup (info->backing_file);
  return copy;
}

void
viv_disk_info_free (VivDiskInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->backing_file);
  g_free (info);
}

static enum vmm_block_format
to_block_format (VivDiskFormat format)
{
  return format == VIV_DISK_FORMAT_QCOW2 ? VMM_BLOCK_FORMAT_QCOW2 : VMM_BLOCK_FORMAT_RAW;
}

/* "qcow2", "raw": the names qemu-img uses too */
const char *
viv_disk_format_to_string (VivDiskFormat format)
{
  return vmm_block_format_name (to_block_format (format));
}

/* The engine opens the whole backing chain when the machine starts: a
 * link that is missing or unreadable is a machine that never starts, so
 * it is found here, when the image is chosen. Each link is read as the
 * engine would (relative names from the folder of the image naming them),
 * without locks, as vmm_block_info() reads. */
#define MAX_CHAIN 256

static gboolean
check_backing_chain (const char  *path,
                     const char  *backing_file,
                     GError     **error)
{
  g_autofree char *display = g_filename_display_basename (path);
  g_autofree char *current = g_strdup (path);
  g_autofree char *name = g_strdup (backing_file);

  for (guint depth = 0; name != NULL; depth++)
    {
      struct vmm_block_image_info image = { 0 };
      g_autoptr(GError) reason = NULL;
      g_autofree char *dir = NULL;
      g_autofree char *link = NULL;
      g_autofree char *link_display = NULL;
      int r;

      if (depth >= MAX_CHAIN)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_LINKS,
                       /* Translators: %s is a file name */
                       _("“%s” cannot be used as a disk: the images it is based on "
                         "go round in a loop"), display);
          return FALSE;
        }

      dir = g_path_get_dirname (current);
      link = g_path_is_absolute (name) ? g_strdup (name) : g_build_filename (dir, name, NULL);
      link_display = g_filename_display_name (link);
      r = vmm_block_info (link, &image, &reason);
      if (r == -ENOENT || r == -ENOTDIR)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                       /* Translators: the first %s is a disk image's file name,
                        * the second the full name of the image it is based on */
                       _("“%s” cannot be used as a disk: the image it is based on, "
                         "“%s”, does not exist"), display, link_display);
          return FALSE;
        }
      if (r < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                       /* Translators: the first %s is a disk image's file name,
                        * the second the full name of the image it is based on,
                        * the third the reason */
                       _("“%s” cannot be used as a disk: the image it is based on, "
                         "“%s”, cannot be read: %s"), display, link_display, reason->message);
          return FALSE;
        }

      g_free (name);
      name = g_strdup (image.backing_file);
      g_free (current);
      current = g_steal_pointer (&link);
      vmm_block_image_info_clear (&image);
    }
  return TRUE;
}

/**
 * viv_disk_inspect:
 * @path: a raw or qcow2 image
 * @error: return location for a #GIOError
 *
 * What the image at @path holds: its format (qcow2 by its header, raw
 * otherwise), its sizes and what it is based on. Blocks on the disk.
 * An empty image, or one whose backing chain has a file missing or
 * unreadable, is refused with a message that says so.
 *
 * Returns: (transfer full): what it holds, or %NULL with @error set
 */
VivDiskInfo *
viv_disk_inspect (const char  *path,
                  GError     **error)
{
  struct vmm_block_image_info image = { 0 };
  VivDiskInfo *info;
  g_autoptr(GError) reason = NULL;
  int r;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  r = vmm_block_info (path, &image, &reason);
  if (r < 0)
    {
      g_autofree char *display = g_filename_display_basename (path);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                   /* Translators: the first %s is a file name, the second
                    * the reason */
                   _("“%s” cannot be used as a disk: %s"), display, reason->message);
      return NULL;
    }

  /* Nothing to start from, and nowhere to install to */
  if (image.virtual_size == 0)
    {
      g_autofree char *display = g_filename_display_basename (path);

      vmm_block_image_info_clear (&image);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   /* Translators: %s is a file name */
                   _("“%s” cannot be used as a disk: it is empty"), display);
      return NULL;
    }

  if (!check_backing_chain (path, image.backing_file, error))
    {
      vmm_block_image_info_clear (&image);
      return NULL;
    }

  info = g_new0 (VivDiskInfo, 1);
  info->format = image.format == VMM_BLOCK_FORMAT_QCOW2 ? VIV_DISK_FORMAT_QCOW2
                                                         : VIV_DISK_FORMAT_RAW;
  info->virtual_size = image.virtual_size;
  info->actual_size = image.actual_size;
  info->backing_file = g_strdup (image.backing_file);
  vmm_block_image_info_clear (&image);
  return info;
}

static void
inspect_thread (GTask        *task,
                gpointer      source_object G_GNUC_UNUSED,
                gpointer      task_data,
                GCancellable *cancellable G_GNUC_UNUSED)
{
  const char *path = task_data;
  GError *error = NULL;
  VivDiskInfo *info;

  /* A name the user chose: say so when it is not even a file */
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *display = g_filename_display_basename (path);

      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                               g_file_test (path, G_FILE_TEST_EXISTS)
                               /* Translators: %s is a file name */
                               ? _("“%s” is not a file")
                               /* Translators: %s is a file name */
                               : _("“%s” does not exist"), display);
      return;
    }

  info = viv_disk_inspect (path, &error);
  if (info == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, info, (GDestroyNotify) viv_disk_info_free);
}

/**
 * viv_disk_inspect_async:
 * @path: an image the user chose
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * viv_disk_inspect() in a worker thread, after checking that @path is a
 * file: “does not exist” and “is not a file” say more about a name the
 * user chose than the block library's reason would.
 */
void
viv_disk_inspect_async (const char          *path,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (path != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_disk_inspect_async);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, inspect_thread);
}

/**
 * viv_disk_inspect_finish:
 *
 * Returns: (transfer full): what the image holds, or %NULL with @error set
 */
VivDiskInfo *
viv_disk_inspect_finish (GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_disk_inspect_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * viv_disk_create:
 * @path: where the new image goes; nothing may be there
 * @format: qcow2 or raw
 * @size: its virtual size in bytes
 * @error: return location for a #GIOError
 *
 * Creates an empty image, never over an existing file: the block library
 * writes it under a temporary name and renames it into place, so a
 * failure leaves nothing. Blocks on the disk.
 *
 * Returns: %TRUE if the image was created
 */
gboolean
viv_disk_create (const char     *path,
                 VivDiskFormat   format,
                 guint64         size,
                 GError        **error)
{
  struct vmm_block_create_opts opts = {
    .path = path,
    .format = to_block_format (format),
    .size = size,
  };
  g_autoptr(GError) reason = NULL;
  int r;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  r = vmm_block_create (&opts, &reason);
  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                   /* Translators: %s is the reason */
                   _("Could not create the machine’s disk: %s"), reason->message);
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  char          *path;
  VivDiskFormat  format;
  guint64        size;
} CreateData;

static void
create_data_free (CreateData *data)
{
  g_free (data->path);
  g_free (data);
}

static void
create_thread (GTask        *task,
               gpointer      source_object G_GNUC_UNUSED,
               gpointer      task_data,
               GCancellable *cancellable G_GNUC_UNUSED)
{
  CreateData *data = task_data;
  GError *error = NULL;

  if (viv_disk_create (data->path, data->format, data->size, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* viv_disk_create() in a worker thread */
void
viv_disk_create_async (const char          *path,
                       VivDiskFormat        format,
                       guint64              size,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  CreateData *data;

  g_return_if_fail (path != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  data = g_new0 (CreateData, 1);
  data->path = g_strdup (path);
  data->format = format;
  data->size = size;
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_disk_create_async);
  g_task_set_task_data (task, data, (GDestroyNotify) create_data_free);
  g_task_run_in_thread (task, create_thread);
}

gboolean
viv_disk_create_finish (GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_disk_create_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
