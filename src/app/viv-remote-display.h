/* viv-remote-display.h: what every console display widget offers
 *
 * A machine's screen, keyboard and pointer in a widget, whatever the
 * protocol: VivDisplay speaks SPICE (our helper, libvirt's SPICE
 * machines), VivVncDisplay speaks VNC (libvirt machines with VNC only).
 * The machine page, the console window and the tests use only this
 * interface, so the two widgets behave the same:
 *
 * - it draws the guest's screen with its aspect kept: scaled to fit the
 *   widget ("scale-mode" FIT, the default, HiDPI aware) or one guest
 *   pixel per device pixel (ORIGINAL, inside a scrolled window);
 * - a click grabs the keyboard (and the pointer when the guest has only a
 *   relative mouse); Ctrl+Alt releases it, or grabs it without a click;
 *   while grabbed every key is the guest's (see
 *   viv_remote_display_route_keys) and the desktop's
 *   shortcuts are inhibited; losing focus releases every key the guest
 *   holds down;
 * - keys go to the guest as PC scancodes from viv-keymap.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef enum {
  VIV_REMOTE_DISPLAY_STATE_DISCONNECTED,   /* not yet connected, or gone: see "error" */
  VIV_REMOTE_DISPLAY_STATE_CONNECTING,
  VIV_REMOTE_DISPLAY_STATE_CONNECTED,      /* connected; the guest may not have drawn yet */
} VivRemoteDisplayState;

typedef enum {
  VIV_REMOTE_DISPLAY_SCALE_FIT,            /* the whole screen in the widget, aspect kept */
  VIV_REMOTE_DISPLAY_SCALE_ORIGINAL,       /* one guest pixel per device pixel */
} VivRemoteDisplayScale;

#define VIV_TYPE_REMOTE_DISPLAY_STATE (viv_remote_display_state_get_type ())
GType viv_remote_display_state_get_type (void) G_GNUC_CONST;
#define VIV_TYPE_REMOTE_DISPLAY_SCALE (viv_remote_display_scale_get_type ())
GType viv_remote_display_scale_get_type (void) G_GNUC_CONST;

#define VIV_TYPE_REMOTE_DISPLAY (viv_remote_display_get_type ())
G_DECLARE_INTERFACE (VivRemoteDisplay, viv_remote_display, VIV, REMOTE_DISPLAY, GtkWidget)

/* Properties every implementation has (installed by the interface):
 *   "state"          VivRemoteDisplayState, read-only
 *   "error"          string, read-only: why it disconnected (translated), or NULL
 *   "grabbed"        boolean, read-only: keyboard (and maybe pointer) grabbed
 *   "scale-mode"     VivRemoteDisplayScale, read-write
 *   "guest-width",
 *   "guest-height"   int, read-only: the guest's screen, 0 before it has one
 *   "can-resize"     boolean, read-only: the guest follows the widget's size
 *                    (SPICE with the agent running; never for VNC)
 *   "has-clipboard"  boolean, read-only: the clipboard is shared
 */
struct _VivRemoteDisplayInterface
{
  GTypeInterface parent_iface;

  /* Presses SCANCODES in order, then releases them in reverse (Send Key) */
  void        (*send_keys)    (VivRemoteDisplay *self,
                               const guint      *scancodes,
                               guint             n_scancodes);
  void        (*release_grab) (VivRemoteDisplay *self);
  /* The guest's screen as it is now, for tests and screenshots; NULL
   * before the guest has drawn */
  GdkTexture *(*dup_screen)   (VivRemoteDisplay *self);
  void        (*disconnect)   (VivRemoteDisplay *self);
};

VivRemoteDisplayState viv_remote_display_get_state        (VivRemoteDisplay *self);
char                 *viv_remote_display_dup_error        (VivRemoteDisplay *self);
gboolean              viv_remote_display_get_grabbed      (VivRemoteDisplay *self);
VivRemoteDisplayScale viv_remote_display_get_scale_mode   (VivRemoteDisplay *self);
void                  viv_remote_display_set_scale_mode   (VivRemoteDisplay *self,
                                                           VivRemoteDisplayScale mode);
int                   viv_remote_display_get_guest_width  (VivRemoteDisplay *self);
int                   viv_remote_display_get_guest_height (VivRemoteDisplay *self);
gboolean              viv_remote_display_get_can_resize   (VivRemoteDisplay *self);
gboolean              viv_remote_display_get_has_clipboard (VivRemoteDisplay *self);
void                  viv_remote_display_send_keys        (VivRemoteDisplay *self,
                                                           const guint      *scancodes,
                                                           guint             n_scancodes);
void                  viv_remote_display_release_grab     (VivRemoteDisplay *self);
GdkTexture           *viv_remote_display_dup_screen       (VivRemoteDisplay *self);
void                  viv_remote_display_disconnect       (VivRemoteDisplay *self);

void                  viv_remote_display_route_keys       (GtkWindow        *window);
gboolean              viv_remote_display_is_host_key      (guint            keyval,
                                                           GdkModifierType  state);

G_END_DECLS
