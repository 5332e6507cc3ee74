/* viv-remote-display.c: the console display widgets' common interface
 *
 * The properties live here; each implementation overrides them
 * (g_object_class_override_property) and the getters read them through
 * GObject, so a caller never needs to know which widget it holds.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-remote-display"

#include "config.h"

#include "viv-remote-display.h"

G_DEFINE_INTERFACE (VivRemoteDisplay, viv_remote_display, GTK_TYPE_WIDGET)

GType
viv_remote_display_state_get_type (void)
{
  static gsize type_id;
  static const GEnumValue values[] = {
    { VIV_REMOTE_DISPLAY_STATE_DISCONNECTED, "VIV_REMOTE_DISPLAY_STATE_DISCONNECTED",
      "disconnected" },
    { VIV_REMOTE_DISPLAY_STATE_CONNECTING, "VIV_REMOTE_DISPLAY_STATE_CONNECTING", "connecting" },
    { VIV_REMOTE_DISPLAY_STATE_CONNECTED, "VIV_REMOTE_DISPLAY_STATE_CONNECTED", "connected" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type_id))
    g_once_init_leave (&type_id, g_enum_register_static ("VivRemoteDisplayState", values));
  return type_id;
}

GType
viv_remote_display_scale_get_type (void)
{
  static gsize type_id;
  static const GEnumValue values[] = {
    { VIV_REMOTE_DISPLAY_SCALE_FIT, "VIV_REMOTE_DISPLAY_SCALE_FIT", "fit" },
    { VIV_REMOTE_DISPLAY_SCALE_ORIGINAL, "VIV_REMOTE_DISPLAY_SCALE_ORIGINAL", "original" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type_id))
    g_once_init_leave (&type_id, g_enum_register_static ("VivRemoteDisplayScale", values));
  return type_id;
}

static void
viv_remote_display_default_init (VivRemoteDisplayInterface *iface)
{
  g_object_interface_install_property (iface,
    g_param_spec_enum ("state", NULL, NULL, VIV_TYPE_REMOTE_DISPLAY_STATE,
                       VIV_REMOTE_DISPLAY_STATE_DISCONNECTED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_string ("error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_boolean ("grabbed", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_enum ("scale-mode", NULL, NULL, VIV_TYPE_REMOTE_DISPLAY_SCALE,
                       VIV_REMOTE_DISPLAY_SCALE_FIT,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_int ("guest-width", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_int ("guest-height", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_boolean ("can-resize", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
  g_object_interface_install_property (iface,
    g_param_spec_boolean ("has-clipboard", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));
}

VivRemoteDisplayState
viv_remote_display_get_state (VivRemoteDisplay *self)
{
  VivRemoteDisplayState state;

  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
  g_object_get (self, "state", &state, NULL);
  return state;
}

/* Why it disconnected, translated, or NULL; free it */
char *
viv_remote_display_dup_error (VivRemoteDisplay *self)
{
  char *error = NULL;

  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), NULL);
  g_object_get (self, "error", &error, NULL);
  return error;
}

static gboolean
get_boolean (VivRemoteDisplay *self, const char *name)
{
  gboolean value = FALSE;

  g_object_get (self, name, &value, NULL);
  return value;
}

static int
get_int (VivRemoteDisplay *self, const char *name)
{
  int value = 0;

  g_object_get (self, name, &value, NULL);
  return value;
}

gboolean
viv_remote_display_get_grabbed (VivRemoteDisplay *self)
{
  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), FALSE);
  return get_boolean (self, "grabbed");
}

VivRemoteDisplayScale
viv_remote_display_get_scale_mode (VivRemoteDisplay *self)
{
  VivRemoteDisplayScale mode;

  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), VIV_REMOTE_DISPLAY_SCALE_FIT);
  g_object_get (self, "scale-mode", &mode, NULL);
  return mode;
}

void
viv_remote_display_set_scale_mode (VivRemoteDisplay *self, VivRemoteDisplayScale mode)
{
  g_return_if_fail (VIV_IS_REMOTE_DISPLAY (self));
  g_object_set (self, "scale-mode", mode, NULL);
}

int
viv_remote_display_get_guest_width (VivRemoteDisplay *self)
{
  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), 0);
  return get_int (self, "guest-width");
}

int
viv_remote_display_get_guest_height (VivRemoteDisplay *self)
{
  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), 0);
  return get_int (self, "guest-height");
}

gboolean
viv_remote_display_get_can_resize (VivRemoteDisplay *self)
{
  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), FALSE);
  return get_boolean (self, "can-resize");
}

gboolean
viv_remote_display_get_has_clipboard (VivRemoteDisplay *self)
{
  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), FALSE);
  return get_boolean (self, "has-clipboard");
}

void
viv_remote_display_send_keys (VivRemoteDisplay *self, const guint *scancodes, guint n_scancodes)
{
  g_return_if_fail (VIV_IS_REMOTE_DISPLAY (self));
  g_return_if_fail (scancodes != NULL || n_scancodes == 0);
  VIV_REMOTE_DISPLAY_GET_IFACE (self)->send_keys (self, scancodes, n_scancodes);
}

void
viv_remote_display_release_grab (VivRemoteDisplay *self)
{
  g_return_if_fail (VIV_IS_REMOTE_DISPLAY (self));
  VIV_REMOTE_DISPLAY_GET_IFACE (self)->release_grab (self);
}

GdkTexture *
viv_remote_display_dup_screen (VivRemoteDisplay *self)
{
  g_return_val_if_fail (VIV_IS_REMOTE_DISPLAY (self), NULL);
  return VIV_REMOTE_DISPLAY_GET_IFACE (self)->dup_screen (self);
}

void
viv_remote_display_disconnect (VivRemoteDisplay *self)
{
  g_return_if_fail (VIV_IS_REMOTE_DISPLAY (self));
  VIV_REMOTE_DISPLAY_GET_IFACE (self)->disconnect (self);
}

/* --- the window's keys ------------------------------------------------------------------- */

static gboolean
route_key (GtkEventControllerKey *controller)
{
  GtkWidget *window = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (controller));
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (window));

  if (focus == NULL || !VIV_IS_REMOTE_DISPLAY (focus)
      || !viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (focus)))
    return GDK_EVENT_PROPAGATE;
  /* Every key of a grabbed keyboard is the guest's: the display takes it
   * before the application's shortcuts can */
  gtk_event_controller_key_forward (controller, focus);
  return GDK_EVENT_STOP;
}

static gboolean
on_router_key_pressed (GtkEventControllerKey *controller,
                       guint                  keyval G_GNUC_UNUSED,
                       guint                  keycode G_GNUC_UNUSED,
                       GdkModifierType        state G_GNUC_UNUSED,
                       gpointer               data G_GNUC_UNUSED)
{
  return route_key (controller);
}

static void
on_router_key_released (GtkEventControllerKey *controller,
                        guint                  keyval G_GNUC_UNUSED,
                        guint                  keycode G_GNUC_UNUSED,
                        GdkModifierType        state G_GNUC_UNUSED,
                        gpointer               data G_GNUC_UNUSED)
{
  route_key (controller);
}

/**
 * viv_remote_display_route_keys:
 * @window: a window that may hold a display
 *
 * GTK runs a window's application shortcuts (Ctrl+Q, Ctrl+W...) before
 * the focused widget sees a key. While a display in @window has the
 * keyboard grabbed, this hands it every key first. Call it in the
 * window's init, before its application is set: its controller must come
 * before the one GTK adds for the application's shortcuts.
 */
void
viv_remote_display_route_keys (GtkWindow *window)
{
  GtkEventController *controller = gtk_event_controller_key_new ();

  g_return_if_fail (GTK_IS_WINDOW (window));

  gtk_event_controller_set_name (controller, "viv-remote-display-keys");
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect (controller, "key-pressed", G_CALLBACK (on_router_key_pressed), NULL);
  g_signal_connect (controller, "key-released", G_CALLBACK (on_router_key_released), NULL);
  gtk_widget_add_controller (GTK_WIDGET (window), controller);
}

/**
 * viv_remote_display_is_host_key:
 *
 * Whether a key belongs to the application while the display has the
 * focus but not the grab: F11 (fullscreen), F10, Shift+F10 and Menu (the
 * menus) and Ctrl+Tab or Ctrl+Shift+Tab (the focus out of the screen), so
 * that a keyboard can always leave the screen. Once grabbed, they too go
 * to the guest.
 */
gboolean
viv_remote_display_is_host_key (guint           keyval,
                                GdkModifierType state)
{
  GdkModifierType mods = state & gtk_accelerator_get_default_mod_mask ();

  switch (keyval)
    {
    case GDK_KEY_F11:
      return mods == 0;
    case GDK_KEY_F10:
      return mods == 0 || mods == GDK_SHIFT_MASK;
    case GDK_KEY_Menu:
      return mods == 0;
    case GDK_KEY_Tab:
    case GDK_KEY_ISO_Left_Tab:
    case GDK_KEY_KP_Tab:
      return (mods & ~GDK_SHIFT_MASK) == GDK_CONTROL_MASK;
    default:
      return FALSE;
    }
}
