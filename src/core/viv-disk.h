/* viv-disk.h: disk images: what one holds, and new ones
 *
 * The app side's one way into the engine's block library (block/block.h):
 * the wizard and the machine creator call these, so that raw and qcow2
 * are read and written by the code that runs them. Errors come as
 * GErrors with a message for people (set-up paths, as everywhere in
 * core); the block library's -errno and reason end here.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "viv-machine-config.h"

G_BEGIN_DECLS

typedef struct
{
  VivDiskFormat format;
  guint64       virtual_size;   /* what the machine sees, bytes */
  guint64       actual_size;    /* what the file takes on the host, bytes */
  char         *backing_file;   /* qcow2: the image it is based on, as written in it; or NULL */
} VivDiskInfo;

#define VIV_TYPE_DISK_INFO (viv_disk_info_get_type ())
GType        viv_disk_info_get_type    (void) G_GNUC_CONST;
VivDiskInfo *viv_disk_info_copy        (const VivDiskInfo    *info);
void         viv_disk_info_free        (VivDiskInfo          *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VivDiskInfo, viv_disk_info_free)

const char  *viv_disk_format_to_string (VivDiskFormat         format);

VivDiskInfo *viv_disk_inspect          (const char           *path,
                                        GError              **error);
void         viv_disk_inspect_async    (const char           *path,
                                        GCancellable         *cancellable,
                                        GAsyncReadyCallback   callback,
                                        gpointer              user_data);
VivDiskInfo *viv_disk_inspect_finish   (GAsyncResult         *result,
                                        GError              **error);

gboolean     viv_disk_create           (const char           *path,
                                        VivDiskFormat         format,
                                        guint64               size,
                                        GError              **error);
void         viv_disk_create_async     (const char           *path,
                                        VivDiskFormat         format,
                                        guint64               size,
                                        GCancellable         *cancellable,
                                        GAsyncReadyCallback   callback,
                                        gpointer              user_data);
gboolean     viv_disk_create_finish    (GAsyncResult         *result,
                                        GError              **error);

G_END_DECLS
