/* viv-window.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-application.h"

G_BEGIN_DECLS

#define VIV_TYPE_WINDOW (viv_window_get_type ())

G_DECLARE_FINAL_TYPE (VivWindow, viv_window, VIV, WINDOW, AdwApplicationWindow)

VivWindow  *viv_window_new               (VivApplication *application);
const char *viv_window_get_visible_page  (VivWindow      *self);
void        viv_window_add_toast         (VivWindow      *self,
                                          AdwToast       *toast);
GListModel *viv_window_get_machines      (VivWindow      *self);

G_END_DECLS
