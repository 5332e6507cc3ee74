/* viv-collection-view.h: the machines as a grid of tiles or a list
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-machine.h"
#include "viv-machine-tile.h"

G_BEGIN_DECLS

#define VIV_TYPE_COLLECTION_VIEW (viv_collection_view_get_type ())
G_DECLARE_FINAL_TYPE (VivCollectionView, viv_collection_view, VIV, COLLECTION_VIEW, GtkWidget)

GListModel     *viv_collection_view_get_model          (VivCollectionView *self);
void            viv_collection_view_set_model          (VivCollectionView *self,
                                                        GListModel        *model);
const char     *viv_collection_view_get_search_text    (VivCollectionView *self);
void            viv_collection_view_set_search_text    (VivCollectionView *self,
                                                        const char        *text);
const char     *viv_collection_view_get_view_mode      (VivCollectionView *self);
void            viv_collection_view_set_view_mode      (VivCollectionView *self,
                                                        const char        *view_mode);
guint           viv_collection_view_get_n_items        (VivCollectionView *self);
GListModel     *viv_collection_view_get_shown          (VivCollectionView *self);
VivMachineTile *viv_collection_view_get_focused_tile   (VivCollectionView *self);
VivMachineTile *viv_collection_view_find_tile          (VivCollectionView *self,
                                                        VivMachine        *machine);
gboolean        viv_collection_view_focus_machine      (VivCollectionView *self,
                                                        VivMachine        *machine);

G_END_DECLS
