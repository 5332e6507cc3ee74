/* viv-undo-toast.h: the "… deleted" toast with an Undo button
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

void viv_undo_toast_show     (AdwToast        **slot,
                              GtkWidget        *owner,
                              AdwToastOverlay  *overlay,
                              const char       *title,
                              const char       *undo_action,
                              GSourceFunc       commit);
void viv_undo_toast_withdraw (AdwToast        **slot);
void viv_undo_toast_forget   (AdwToast        **slot,
                              GtkWidget        *owner);

G_END_DECLS
