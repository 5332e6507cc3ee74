/* viv-machine-preferences.h: a machine's settings, and its log
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-machine.h"

G_BEGIN_DECLS

#define VIV_TYPE_MACHINE_PREFERENCES (viv_machine_preferences_get_type ())
G_DECLARE_FINAL_TYPE (VivMachinePreferences, viv_machine_preferences, VIV, MACHINE_PREFERENCES,
                      AdwPreferencesWindow)

VivMachinePreferences *viv_machine_preferences_new         (VivMachine            *machine,
                                                            GtkWindow             *parent);
VivMachine            *viv_machine_preferences_get_machine (VivMachinePreferences *self);
char                  *viv_machine_preferences_dup_log     (VivMachinePreferences *self);
gboolean               viv_machine_preferences_get_busy    (VivMachinePreferences *self);
gboolean               viv_machine_preferences_get_passt_found (VivMachinePreferences *self);

G_END_DECLS
