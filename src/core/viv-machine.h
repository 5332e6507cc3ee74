/* viv-machine.h: one machine of the library, and its vivarium-vmm helper
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "viv-machine-config.h"
#include "viv-snapshot-index.h"

G_BEGIN_DECLS

#define VIV_TYPE_MACHINE_CONFIG (viv_machine_config_get_type ())
GType viv_machine_config_get_type (void) G_GNUC_CONST;

typedef enum
{
  VIV_MACHINE_STATE_STOPPED,
  VIV_MACHINE_STATE_STARTING,
  VIV_MACHINE_STATE_RUNNING,
  VIV_MACHINE_STATE_PAUSED,
  VIV_MACHINE_STATE_SHUTTING_DOWN,
  VIV_MACHINE_STATE_CRASHED,        /* see the error-message property */
  VIV_MACHINE_STATE_BROKEN,         /* machine.json cannot be used: see broken-reason */
  VIV_MACHINE_STATE_UNREACHABLE,    /* a helper runs it but does not answer: see helper-pid */
} VivMachineState;

#define VIV_TYPE_MACHINE_STATE (viv_machine_state_get_type ())
GType viv_machine_state_get_type (void) G_GNUC_CONST;
const char *viv_machine_state_to_string (VivMachineState state);

/* Why a start failed before the guest ran (the state is then CRASHED) */
typedef enum
{
  VIV_MACHINE_START_FAILURE_NONE,       /* it did not, or it ran and then crashed */
  VIV_MACHINE_START_FAILURE_SETTINGS,   /* the engine refused the machine's settings */
  VIV_MACHINE_START_FAILURE_DISK,       /* a disk image cannot be opened */
  VIV_MACHINE_START_FAILURE_KERNEL,     /* the kernel or initrd cannot be booted */
  VIV_MACHINE_START_FAILURE_NO_KVM,     /* this computer cannot run machines (KVM) */
  VIV_MACHINE_START_FAILURE_OTHER,
} VivMachineStartFailure;

#define VIV_MACHINE_ERROR (viv_machine_error_quark ())

typedef enum
{
  VIV_MACHINE_ERROR_BROKEN,         /* machine.json cannot be used */
  VIV_MACHINE_ERROR_WRONG_STATE,    /* running, or not running, as the call needs */
  VIV_MACHINE_ERROR_INVALID_NAME,
  VIV_MACHINE_ERROR_NOT_FOUND,      /* no vivarium-vmm to run, or none running to attach to */
  VIV_MACHINE_ERROR_FAILED,         /* the helper failed; the message says how */
  VIV_MACHINE_ERROR_MEDIUM_LOCKED,  /* the guest holds the disc; it was asked to let go */
  VIV_MACHINE_ERROR_BUSY,           /* another snapshot operation runs */
} VivMachineError;

#define VIV_TYPE_MACHINE (viv_machine_get_type ())
G_DECLARE_FINAL_TYPE (VivMachine, viv_machine, VIV, MACHINE, GObject)

GQuark                  viv_machine_error_quark         (void);

VivMachine             *viv_machine_new                 (const char              *directory,
                                                         VivMachineConfig        *config,
                                                         const GError            *load_error,
                                                         GBytes                  *thumbnail);

const char             *viv_machine_get_uuid            (VivMachine              *self);
const char             *viv_machine_get_directory       (VivMachine              *self);
const char             *viv_machine_get_name            (VivMachine              *self);
const VivMachineConfig *viv_machine_get_config          (VivMachine              *self);
const char             *viv_machine_get_os_id           (VivMachine              *self);
VivMachineState         viv_machine_get_state           (VivMachine              *self);
const char             *viv_machine_get_broken_reason   (VivMachine              *self);
const char             *viv_machine_get_error_message   (VivMachine              *self);
const char             *viv_machine_get_disk_problem    (VivMachine              *self);
void                    viv_machine_dismiss_disk_problem (VivMachine             *self);
VivMachineStartFailure  viv_machine_get_start_failure   (VivMachine              *self);
const char             *viv_machine_get_state_label     (VivMachine              *self);
GBytes                 *viv_machine_get_thumbnail       (VivMachine              *self);
guint64                 viv_machine_get_uptime          (VivMachine              *self);
gboolean                viv_machine_get_pending_changes (VivMachine              *self);
gboolean                viv_machine_is_active           (VivMachine              *self);
GPid                    viv_machine_get_helper_pid      (VivMachine              *self);
void                    viv_machine_check_helper        (VivMachine              *self);
gboolean                viv_machine_can_start_yet       (VivMachine              *self);
const char             *viv_machine_get_cannot_start_reason (VivMachine           *self);
gboolean                viv_machine_check_name          (const char              *name,
                                                         GError                 **error);

void                    viv_machine_start_async         (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_start_finish        (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_attach_async        (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_attach_finish       (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_pause_async         (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_pause_finish        (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_resume_async        (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_resume_finish       (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_shutdown_async      (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_shutdown_finish     (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_force_off_async     (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_force_off_finish    (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_reset_async         (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_reset_finish        (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_open_serial_async   (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
GIOStream              *viv_machine_open_serial_finish  (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_open_display_async  (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
int                     viv_machine_open_display_finish (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_rename_async        (VivMachine              *self,
                                                         const char              *name,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_rename_finish       (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_set_resources_async (VivMachine              *self,
                                                         guint64                  memory,
                                                         guint                    cpus,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_set_resources_finish (VivMachine             *self,
                                                          GAsyncResult           *result,
                                                          GError                **error);
void                    viv_machine_set_boot_async      (VivMachine              *self,
                                                         VivBootKind              kind,
                                                         VivFirmware              firmware,
                                                         const char              *kernel,
                                                         const char              *initrd,
                                                         const char              *cmdline,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
void                    viv_machine_set_network_async   (VivMachine              *self,
                                                         const VivNetworkConfig  *network,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_set_network_finish  (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
const char *const      *viv_machine_get_guest_addresses (VivMachine              *self);
gboolean                viv_machine_has_cd_drive        (VivMachine              *self);
const char             *viv_machine_get_disc            (VivMachine              *self);
void                    viv_machine_eject_disc_async    (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_eject_disc_finish   (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_insert_disc_async   (VivMachine              *self,
                                                         const char              *path,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_insert_disc_finish  (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
/* Finishes whichever of eject and insert RESULT came from; NULL when it
 * worked or was cancelled, else what to tell the user (free it) */
char                   *viv_machine_change_disc_finish (VivMachine              *self,
                                                         GAsyncResult            *result);
gboolean                viv_machine_set_boot_finish     (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_read_log_async      (VivMachine              *self,
                                                         gsize                    max_bytes,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
char                   *viv_machine_read_log_finish     (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);
void                    viv_machine_reload_async        (VivMachine              *self,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
gboolean                viv_machine_reload_finish       (VivMachine              *self,
                                                         GAsyncResult            *result,
                                                         GError                 **error);

/* Snapshots: snapshots/index.json, read in a worker thread and kept; the
 * operations go to the helper while one runs the machine, else to
 * `vivarium-vmm snapshot`. One operation at a time (snapshot-busy). */
const VivSnapshotIndex *viv_machine_get_snapshots       (VivMachine              *self,
                                                         const GError           **error);
gboolean                viv_machine_get_snapshot_busy   (VivMachine              *self);
gboolean                viv_machine_can_snapshot        (VivMachine              *self);
void                    viv_machine_take_snapshot_async (VivMachine              *self,
                                                         const char              *name,
                                                         GCancellable            *cancellable,
                                                         GAsyncReadyCallback      callback,
                                                         gpointer                 user_data);
char                   *viv_machine_take_snapshot_finish (VivMachine             *self,
                                                          GAsyncResult           *result,
                                                          GError                **error);
void                    viv_machine_revert_snapshot_async (VivMachine            *self,
                                                           const char            *id,
                                                           GCancellable          *cancellable,
                                                           GAsyncReadyCallback    callback,
                                                           gpointer               user_data);
gboolean                viv_machine_revert_snapshot_finish (VivMachine           *self,
                                                            GAsyncResult         *result,
                                                            GError              **error);
void                    viv_machine_delete_snapshot_async (VivMachine            *self,
                                                           const char            *id,
                                                           GCancellable          *cancellable,
                                                           GAsyncReadyCallback    callback,
                                                           gpointer               user_data);
gboolean                viv_machine_delete_snapshot_finish (VivMachine           *self,
                                                            GAsyncResult         *result,
                                                            GError              **error);
void                    viv_machine_rename_snapshot_async (VivMachine            *self,
                                                           const char            *id,
                                                           const char            *name,
                                                           GCancellable          *cancellable,
                                                           GAsyncReadyCallback    callback,
                                                           gpointer               user_data);
gboolean                viv_machine_rename_snapshot_finish (VivMachine           *self,
                                                            GAsyncResult         *result,
                                                            GError              **error);

G_END_DECLS
