/* viv-display.h: a machine's screen over SPICE, as a widget
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "viv-machine.h"
#include "viv-remote-display.h"

G_BEGIN_DECLS

#define VIV_TYPE_DISPLAY (viv_display_get_type ())
G_DECLARE_FINAL_TYPE (VivDisplay, viv_display, VIV, DISPLAY, GtkWidget)

GtkWidget  *viv_display_new         (void);
void        viv_display_set_machine (VivDisplay *self,
                                     VivMachine *machine);
VivMachine *viv_display_get_machine (VivDisplay *self);
void        viv_display_open_fd     (VivDisplay *self,
                                     int         fd);

G_END_DECLS
