/* viv-machine-page.h: one machine, full window: its state, power and console
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-display.h"
#include "viv-machine.h"
#include "viv-serial-console.h"
#include "viv-snapshot-timeline.h"

G_BEGIN_DECLS

#define VIV_TYPE_MACHINE_PAGE (viv_machine_page_get_type ())
G_DECLARE_FINAL_TYPE (VivMachinePage, viv_machine_page, VIV, MACHINE_PAGE, GtkWidget)

VivMachine       *viv_machine_page_get_machine     (VivMachinePage *self);
void              viv_machine_page_set_machine     (VivMachinePage *self,
                                                    VivMachine     *machine);
VivSerialConsole *viv_machine_page_get_console     (VivMachinePage *self);
VivDisplay       *viv_machine_page_get_display     (VivMachinePage *self);
const char       *viv_machine_page_get_console_view (VivMachinePage *self);
GtkWindow        *viv_machine_page_get_console_window (VivMachinePage *self);
gboolean          viv_machine_page_get_agent_hint_shown (VivMachinePage *self);
gboolean          viv_machine_page_get_fullscreen  (VivMachinePage *self);
const char       *viv_machine_page_get_content     (VivMachinePage *self);
void              viv_machine_page_popup_menu      (VivMachinePage *self);
void              viv_machine_page_focus_content   (VivMachinePage *self);
gboolean          viv_machine_page_get_disk_banner_shown (VivMachinePage *self);
VivSnapshotTimeline *viv_machine_page_get_timeline  (VivMachinePage *self);
AdwToast         *viv_machine_page_get_snapshot_toast (VivMachinePage *self);

G_END_DECLS
