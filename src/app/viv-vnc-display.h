/* viv-vnc-display.h: a machine's screen over VNC
 *
 * The VivRemoteDisplay of machines that offer only VNC (libvirt's), on
 * gvnc's VncConnection: GLib only, the drawing and input are ours.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define VIV_TYPE_VNC_DISPLAY (viv_vnc_display_get_type ())
G_DECLARE_FINAL_TYPE (VivVncDisplay, viv_vnc_display, VIV, VNC_DISPLAY, GtkWidget)

GtkWidget *viv_vnc_display_new          (void);
/* Speaks VNC over FD (a connected socket), which the display then owns */
gboolean   viv_vnc_display_open_fd      (VivVncDisplay *self,
                                         int            fd);
gboolean   viv_vnc_display_open_address (VivVncDisplay *self,
                                         const char    *host,
                                         guint16        port);

G_END_DECLS
