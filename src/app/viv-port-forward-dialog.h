/* viv-port-forward-dialog.h: adds or edits one port forward of a machine
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-machine-config.h"

G_BEGIN_DECLS

#define VIV_TYPE_PORT_FORWARD_DIALOG (viv_port_forward_dialog_get_type ())
G_DECLARE_FINAL_TYPE (VivPortForwardDialog, viv_port_forward_dialog, VIV, PORT_FORWARD_DIALOG,
                      AdwWindow)

VivPortForwardDialog *viv_port_forward_dialog_new         (GtkWindow             *parent,
                                                           const VivPortForward  *forward,
                                                           GPtrArray             *others);
VivPortForward       *viv_port_forward_dialog_dup_forward (VivPortForwardDialog  *self);
const char           *viv_port_forward_dialog_get_problem (VivPortForwardDialog  *self);
gboolean              viv_port_forward_dialog_get_editing (VivPortForwardDialog  *self);

G_END_DECLS
