/* viv-window.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-application.h"
#include "viv-collection-view.h"
#include "viv-library.h"
#include "viv-machine-page.h"

G_BEGIN_DECLS

#define VIV_TYPE_WINDOW (viv_window_get_type ())

G_DECLARE_FINAL_TYPE (VivWindow, viv_window, VIV, WINDOW, AdwApplicationWindow)

VivWindow         *viv_window_new                (VivApplication *application);
const char        *viv_window_get_visible_page   (VivWindow      *self);
const char        *viv_window_get_view           (VivWindow      *self);
void               viv_window_add_toast          (VivWindow      *self,
                                                  AdwToast       *toast);
GListModel        *viv_window_get_machines       (VivWindow      *self);
VivLibrary        *viv_window_get_library        (VivWindow      *self);
VivCollectionView *viv_window_get_collection     (VivWindow      *self);
VivMachinePage    *viv_window_get_machine_page   (VivWindow      *self);
VivMachine        *viv_window_get_current_machine (VivWindow     *self);
void               viv_window_open_machine       (VivWindow      *self,
                                                  VivMachine     *machine);
void               viv_window_request_quit       (VivWindow      *self);
GtkWindow         *viv_window_new_machine        (VivWindow      *self,
                                                  GFile          *file);

G_END_DECLS
