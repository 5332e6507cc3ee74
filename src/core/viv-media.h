/* viv-media.h: an installation disc image, and the operating system on it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <osinfo/osinfo.h>

G_BEGIN_DECLS

#define VIV_MEDIA_ERROR (viv_media_error_quark ())

/* Problems with the file itself come as G_IO_ERROR (NOT_FOUND,
 * PERMISSION_DENIED, IS_DIRECTORY, CANCELLED...), with our message. */
typedef enum
{
  VIV_MEDIA_ERROR_NOT_ISO,        /* no ISO 9660 volume descriptor */
  VIV_MEDIA_ERROR_TRUNCATED,      /* shorter than the image it starts */
  VIV_MEDIA_ERROR_NO_BOOT_FILES,  /* the database names no kernel for this OS's media */
  VIV_MEDIA_ERROR_MISSING_FILE,   /* the kernel or initrd it names is not in the image */
  VIV_MEDIA_ERROR_CORRUPT,        /* the image cannot be read as ISO 9660 */
} VivMediaError;

/* How the OS was found */
typedef enum
{
  VIV_MEDIA_OS_IDENTIFIED,        /* libosinfo recognised the media */
  VIV_MEDIA_OS_NEWER_THAN_DB,     /* a newer release of a distribution the database knows:
                                   * the newest known release's profile is used */
  VIV_MEDIA_OS_UNKNOWN,           /* not recognised: the generic Linux profile is used */
  VIV_MEDIA_OS_CHOSEN,            /* chosen by hand with viv_media_set_os() */
} VivMediaOsMatch;

#define VIV_TYPE_MEDIA (viv_media_get_type ())
G_DECLARE_FINAL_TYPE (VivMedia, viv_media, VIV, MEDIA, GObject)

GQuark          viv_media_error_quark            (void);

void            viv_media_detect_async           (GFile                *file,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
VivMedia       *viv_media_detect_finish          (GAsyncResult         *result,
                                                  GError              **error);
VivMedia       *viv_media_detect                 (GFile                *file,
                                                  GCancellable         *cancellable,
                                                  GError              **error);
VivMedia       *viv_media_copy                   (VivMedia             *self);

/* The image */
GFile          *viv_media_get_file               (VivMedia             *self);
const char     *viv_media_get_path               (VivMedia             *self);
guint64         viv_media_get_size               (VivMedia             *self);
const char     *viv_media_get_volume_id          (VivMedia             *self);
gboolean        viv_media_is_iso9660             (VivMedia             *self);

/* What is on it: "Debian 12" (read from the volume id when newer than the
 * database), "Unknown operating system" */
VivMediaOsMatch viv_media_get_os_match           (VivMedia             *self);
const char     *viv_media_get_name               (VivMedia             *self);
const char     *viv_media_get_distro             (VivMedia             *self);
const char     *viv_media_get_version            (VivMedia             *self);

/* The libosinfo profile used for it (debian11 for a Debian 12 disc) */
OsinfoOs       *viv_media_get_os                 (VivMedia             *self);
const char     *viv_media_get_os_id              (VivMedia             *self);
const char     *viv_media_get_os_name            (VivMedia             *self);
const char     *viv_media_get_os_short_id        (VivMedia             *self);
const char     *viv_media_get_os_version         (VivMedia             *self);
const char     *viv_media_get_os_vendor          (VivMedia             *self);
const char     *viv_media_get_logo_uri           (VivMedia             *self);
void            viv_media_set_os                 (VivMedia             *self,
                                                  OsinfoOs             *os);

/* Direct kernel boot: paths in the image, and the command line it needs */
const char     *viv_media_get_kernel_path        (VivMedia             *self);
const char     *viv_media_get_initrd_path        (VivMedia             *self);
gboolean        viv_media_can_boot_kernel        (VivMedia             *self);
char           *viv_media_dup_kernel_cmdline     (VivMedia             *self);
void            viv_media_check_boot_files_async (VivMedia             *self,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
gboolean        viv_media_check_boot_files_finish (VivMedia            *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);

/* Copying the kernel and initrd out of the image */
#define VIV_MEDIA_KERNEL_NAME "vmlinuz"

typedef void  (*VivMediaProgressFunc)            (guint64               done,
                                                  guint64               total,
                                                  gpointer              user_data);

char           *viv_media_dup_initrd_name        (VivMedia             *self);
gboolean        viv_media_extract_boot_files     (VivMedia             *self,
                                                  const char           *dest_dir,
                                                  VivMediaProgressFunc  progress,
                                                  gpointer              progress_data,
                                                  char                **kernel_name,
                                                  char                **initrd_name,
                                                  GCancellable         *cancellable,
                                                  GError              **error);
void            viv_media_extract_boot_files_async (VivMedia           *self,
                                                    const char         *dest_dir,
                                                    VivMediaProgressFunc progress,
                                                    gpointer            progress_data,
                                                    GDestroyNotify      progress_data_free,
                                                    GCancellable       *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer            user_data);
gboolean        viv_media_extract_boot_files_finish (VivMedia          *self,
                                                     GAsyncResult      *result,
                                                     char             **kernel_name,
                                                     char             **initrd_name,
                                                     GError           **error);

G_END_DECLS
