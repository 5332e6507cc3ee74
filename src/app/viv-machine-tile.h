/* viv-machine-tile.h: one machine in the collection
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-machine.h"

G_BEGIN_DECLS

#define VIV_TYPE_MACHINE_TILE (viv_machine_tile_get_type ())
G_DECLARE_FINAL_TYPE (VivMachineTile, viv_machine_tile, VIV, MACHINE_TILE, GtkWidget)

GtkWidget  *viv_machine_tile_new          (gboolean        compact);
VivMachine *viv_machine_tile_get_machine  (VivMachineTile *self);
void        viv_machine_tile_set_machine  (VivMachineTile *self,
                                           VivMachine     *machine);
gboolean    viv_machine_tile_get_compact  (VivMachineTile *self);
const char *viv_machine_tile_get_state_text (VivMachineTile *self);
void        viv_machine_tile_popup_menu   (VivMachineTile *self,
                                           double          x,
                                           double          y);
GtkPopover *viv_machine_tile_get_menu     (VivMachineTile *self);

GMenuModel *viv_machine_menu_new          (VivMachine     *machine,
                                           gboolean        with_open);

G_END_DECLS
