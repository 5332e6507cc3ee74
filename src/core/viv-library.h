/* viv-library.h: the machines in $XDG_DATA_HOME/vivarium/machines
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "viv-file.h"
#include "viv-machine.h"

G_BEGIN_DECLS

/* The machine creator's staging folders, machines/.new-<uuid>/, and the
 * file in each that its owner holds locked (flock) while it works there */
#define VIV_LIBRARY_STAGING_PREFIX ".new-"
#define VIV_LIBRARY_STAGING_LOCK   ".staging-lock"

#define VIV_TYPE_LIBRARY (viv_library_get_type ())
G_DECLARE_FINAL_TYPE (VivLibrary, viv_library, VIV, LIBRARY, GObject)

VivLibrary *viv_library_new                  (const char              *machines_dir);
const char *viv_library_get_machines_dir     (VivLibrary              *self);
gboolean    viv_library_get_loaded           (VivLibrary              *self);

void        viv_library_load_async           (VivLibrary              *self,
                                              GCancellable            *cancellable,
                                              GAsyncReadyCallback      callback,
                                              gpointer                 user_data);
gboolean    viv_library_load_finish          (VivLibrary              *self,
                                              GAsyncResult            *result,
                                              GError                 **error);

VivMachine *viv_library_find                 (VivLibrary              *self,
                                              const char              *uuid);
VivMachine *viv_library_create_machine       (VivLibrary              *self,
                                              const VivMachineConfig  *config,
                                              GError                 **error);
gboolean    viv_library_delete_machine       (VivLibrary              *self,
                                              VivMachine              *machine,
                                              GError                 **error);
gboolean    viv_library_undo_delete          (VivLibrary              *self,
                                              const char              *uuid,
                                              GError                 **error);
void        viv_library_commit_deletes       (VivLibrary              *self);
void        viv_library_commit_deletes_async (VivLibrary              *self,
                                              GCancellable            *cancellable,
                                              GAsyncReadyCallback      callback,
                                              gpointer                 user_data);
gboolean    viv_library_commit_deletes_finish (VivLibrary             *self,
                                               GAsyncResult           *result,
                                               GError                **error);

int         viv_library_lock_staging         (const char              *staging_dir);

void        viv_library_set_replace_hook     (VivLibrary              *self,
                                              VivFileReplaceHook       hook,
                                              gpointer                 hook_data);

G_END_DECLS
