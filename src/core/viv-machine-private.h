/* viv-machine-private.h: what VivLibrary and VivMachine share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "viv-file.h"
#include "viv-machine.h"

G_BEGIN_DECLS

GBytes  *viv_machine_read_thumbnail   (const char              *directory);
gboolean viv_machine_save_config      (const VivMachineConfig  *config,
                                       const char              *path,
                                       VivFileReplaceHook       hook,
                                       gpointer                 hook_data,
                                       GError                 **error);
void     viv_machine_set_replace_hook (VivMachine              *self,
                                       VivFileReplaceHook       hook,
                                       gpointer                 hook_data);

G_END_DECLS
