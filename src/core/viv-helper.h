/* viv-helper.h: one vivarium-vmm process, spawned by us or found running
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "viv-machine.h"
#include "viv-vmm1-generated.h"

G_BEGIN_DECLS

/* vivarium-vmm's exit status when KVM is missing or unusable here */
#define VIV_HELPER_EXIT_NO_KVM 2

/* vivarium-vmm's exit status when another helper runs the machine already */
#define VIV_HELPER_EXIT_RUNNING 4

/* What the machine's lock and socket in $XDG_RUNTIME_DIR/vivarium say */
typedef enum
{
  VIV_HELPER_ABSENT,      /* no process holds the machine's lock */
  VIV_HELPER_PRESENT,     /* a process holds it, and its socket is there */
  VIV_HELPER_NO_SOCKET,   /* a process holds it, but there is no socket */
} VivHelperPresence;

#define VIV_TYPE_HELPER (viv_helper_get_type ())
G_DECLARE_FINAL_TYPE (VivHelper, viv_helper, VIV, HELPER, GObject)

char            *viv_helper_find_program     (void);
char            *viv_helper_socket_path      (const char    *uuid);
char            *viv_helper_lock_path        (const char    *uuid);
gboolean         viv_helper_is_running       (const char    *uuid,
                                              GPid          *pid);
VivHelperPresence viv_helper_probe         (const char    *uuid,
                                              GPid          *pid);
gboolean         viv_helper_is_helper_process (GPid          pid);
gboolean         viv_helper_terminate        (const char    *uuid,
                                              GPid           pid,
                                              GError       **error);
char            *viv_helper_read_log         (const char    *machine_dir,
                                              gsize          max_bytes,
                                              GError       **error);

VivHelper       *viv_helper_spawn            (const char    *machine_dir,
                                              const char    *uuid,
                                              const char    *restore_id,
                                              GError       **error);
void             viv_helper_attach_async     (const char    *machine_dir,
                                              const char    *uuid,
                                              GCancellable  *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer       user_data);
VivHelper       *viv_helper_attach_finish    (GAsyncResult  *result,
                                              GError       **error);
void             viv_helper_detach           (VivHelper     *self);

VivMachineState  viv_helper_get_state        (VivHelper     *self);
guint64          viv_helper_get_uptime       (VivHelper     *self);
VivVmm1         *viv_helper_get_proxy        (VivHelper     *self);
const char      *viv_helper_get_last_error   (VivHelper     *self);
gboolean         viv_helper_get_finished     (VivHelper     *self);
int              viv_helper_get_exit_status  (VivHelper     *self);
gboolean         viv_helper_get_start_failed (VivHelper     *self);
const char      *viv_helper_get_message      (VivHelper     *self);

G_END_DECLS
