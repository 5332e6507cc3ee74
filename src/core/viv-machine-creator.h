/* viv-machine-creator.h: the wizard's choices, made into a machine
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <osinfo/osinfo.h>

#include "viv-library.h"
#include "viv-machine-config.h"
#include "viv-media.h"

G_BEGIN_DECLS

typedef enum
{
  VIV_CREATOR_SOURCE_NONE,          /* nothing chosen yet */
  VIV_CREATOR_SOURCE_ISO_KERNEL,    /* an installer ISO, started from its kernel and initrd */
  VIV_CREATOR_SOURCE_ISO_FIRMWARE,  /* an ISO started by the firmware (BIOS) */
  VIV_CREATOR_SOURCE_DISK_IMAGE,    /* an existing disk image */
  VIV_CREATOR_SOURCE_KERNEL,        /* a kernel, initrd and command line of one's own */
  VIV_CREATOR_SOURCE_BLANK,         /* a new disk and nothing else, started by the firmware:
                                     * an OS chosen from the list, installed later */
} VivCreatorSource;

typedef enum
{
  VIV_DISK_IMPORT_COPY,             /* the default: into the machine's folder */
  VIV_DISK_IMPORT_REFERENCE,        /* used where it is, by its absolute path */
} VivDiskImport;

/* The disk a machine gets, in its folder */
#define VIV_MACHINE_CREATOR_DISK_NAME "disk.qcow2"

#define VIV_TYPE_MACHINE_CREATOR (viv_machine_creator_get_type ())
G_DECLARE_FINAL_TYPE (VivMachineCreator, viv_machine_creator, VIV, MACHINE_CREATOR, GObject)

VivMachineCreator *viv_machine_creator_new              (VivLibrary          *library);

/* The source */
void               viv_machine_creator_set_iso          (VivMachineCreator   *self,
                                                         VivMedia            *media,
                                                         gboolean             direct_kernel);
void               viv_machine_creator_set_disk_image   (VivMachineCreator   *self,
                                                         const char          *path,
                                                         VivDiskImport        import);
void               viv_machine_creator_set_kernel       (VivMachineCreator   *self,
                                                         const char          *kernel,
                                                         const char          *initrd,
                                                         const char          *cmdline);
void               viv_machine_creator_set_blank        (VivMachineCreator   *self);
VivCreatorSource   viv_machine_creator_get_source       (VivMachineCreator   *self);
const char        *viv_machine_creator_get_warning      (VivMachineCreator   *self);

/* The OS (its profile proposes the resources) and the resources */
void               viv_machine_creator_set_os           (VivMachineCreator   *self,
                                                         OsinfoOs            *os);
OsinfoOs          *viv_machine_creator_get_os           (VivMachineCreator   *self);
void               viv_machine_creator_set_name         (VivMachineCreator   *self,
                                                         const char          *name);
char              *viv_machine_creator_dup_name         (VivMachineCreator   *self);
void               viv_machine_creator_set_memory       (VivMachineCreator   *self,
                                                         guint64              memory);
guint64            viv_machine_creator_get_memory       (VivMachineCreator   *self);
void               viv_machine_creator_set_cpus         (VivMachineCreator   *self,
                                                         guint                cpus);
guint              viv_machine_creator_get_cpus         (VivMachineCreator   *self);
void               viv_machine_creator_set_disk_size    (VivMachineCreator   *self,
                                                         guint64              disk_size);
guint64            viv_machine_creator_get_disk_size    (VivMachineCreator   *self);

/* While creating */
double             viv_machine_creator_get_progress     (VivMachineCreator   *self);
const char        *viv_machine_creator_get_stage        (VivMachineCreator   *self);
/* What the stage copied so far, of how much (0 of 0: a stage not counted in
 * bytes), and the seconds left at the rate so far (-1: not known yet); all
 * change with the progress property, and notify::progress says so */
guint64            viv_machine_creator_get_bytes_done   (VivMachineCreator   *self);
guint64            viv_machine_creator_get_bytes_total  (VivMachineCreator   *self);
gint64             viv_machine_creator_get_seconds_left (VivMachineCreator   *self);
gint64             viv_machine_creator_estimate_seconds_left (guint64        done,
                                                              guint64        total,
                                                              gint64         elapsed_us);

void               viv_machine_creator_create_async     (VivMachineCreator   *self,
                                                         GCancellable        *cancellable,
                                                         GAsyncReadyCallback  callback,
                                                         gpointer             user_data);
VivMachine        *viv_machine_creator_create_finish    (VivMachineCreator   *self,
                                                         GAsyncResult        *result,
                                                         GError             **error);

char              *viv_machine_make_unique_name         (const char          *base,
                                                         const char * const  *taken);
char              *viv_machine_name_from_file           (const char          *path);

gboolean           viv_machine_check_image_writable     (const char          *path,
                                                         GError             **error);
void               viv_machine_check_image_writable_async (const char        *path,
                                                           GCancellable      *cancellable,
                                                           GAsyncReadyCallback callback,
                                                           gpointer           user_data);
gboolean           viv_machine_check_image_writable_finish (GAsyncResult     *result,
                                                            GError          **error);

/* Test only: called in the worker thread at each step ("folder", "disk",
 * "boot-files", "copy", "config", "commit") and at each progress report
 * (step "progress"). Returning FALSE with ERROR set fails the creation
 * there, as a real failure would. */
typedef gboolean (*VivMachineCreatorTestHook) (const char  *step,
                                               gpointer     user_data,
                                               GError     **error);

void               viv_machine_creator_set_test_hook    (VivMachineCreator   *self,
                                                         VivMachineCreatorTestHook hook,
                                                         gpointer             user_data);

G_END_DECLS
