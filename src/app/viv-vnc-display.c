/* viv-vnc-display.c: a machine's screen over VNC, on gvnc
 *
 * gvnc decodes into a framebuffer of ours (a VncBaseFramebuffer over our
 * pixels, in the format we ask the server for, so it never converts).
 * We draw it as 256x256 textures, rebuilding only the tiles the server
 * said changed: a full-HD screen is 40 tiles, and a blinking cursor in
 * the guest re-uploads one of them, not the whole screen.
 *
 * Keys go as RFB's QEMU extended key events (the PC scancode from
 * viv-keymap.h, so the guest's layout applies) when the server offers
 * them, else as the keysyms GDK gives. The pointer is absolute: VNC's
 * pointer events are positions, which the server gives its tablet. The
 * clipboard is shared as text, in RFB's cut text messages (Latin-1).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-vnc-display"

#include "config.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <gvnc.h>

#include "viv-display-surface.h"
#include "viv-keymap.h"
#include "viv-remote-display.h"
#include "viv-vnc-display.h"

/* RFB's pointer button mask */
#define BUTTON_LEFT        (1 << 0)
#define BUTTON_MIDDLE      (1 << 1)
#define BUTTON_RIGHT       (1 << 2)
#define BUTTON_WHEEL_UP    (1 << 3)
#define BUTTON_WHEEL_DOWN  (1 << 4)
#define BUTTON_WHEEL_LEFT  (1 << 5)
#define BUTTON_WHEEL_RIGHT (1 << 6)

struct _VivVncDisplay
{
  GtkWidget parent_instance;

  VncConnection *conn;
  VivRemoteDisplayState state;
  char *error;
  gboolean grabbed;
  VivRemoteDisplayScale scale_mode;
  gboolean raw_first;               /* a local socket: no compression */

  /* The framebuffer gvnc writes: BGRX, 4 bytes a pixel */
  VncFramebuffer *fb;
  VncPixelFormat remote_format;     /* what the server sends, gvnc converts */
  guint8 *pixels;
  int stride;
  VivDisplaySurface surface;        /* its size, and the textures of its tiles */

  guint update_request_id;          /* the next incremental update request */
  guint8 buttons;                   /* RFB's button mask as it is now */
  double pointer_x, pointer_y;      /* the last position, in widget coordinates */
  VivHeldKeys keys;                 /* by hardware keycode: the keysym each sent */
  GdkCursor *cursor;

  /* The shared clipboard: text, Latin-1 on the wire (RFB's cut text) */
  GdkClipboard *clipboard;
  char *clipboard_from_guest;       /* what we last set, not to send it back */
  GCancellable *clipboard_cancellable;
};

enum {
  PROP_0,
  PROP_STATE,
  PROP_ERROR,
  PROP_GRABBED,
  PROP_SCALE_MODE,
  PROP_GUEST_WIDTH,
  PROP_GUEST_HEIGHT,
  PROP_CAN_RESIZE,
  PROP_HAS_CLIPBOARD,
  N_PROPS
};

/* The interface's, as overridden here */
static GParamSpec *properties[N_PROPS];

static void viv_vnc_display_remote_display_init (VivRemoteDisplayInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VivVncDisplay, viv_vnc_display, GTK_TYPE_WIDGET,
                               G_IMPLEMENT_INTERFACE (VIV_TYPE_REMOTE_DISPLAY,
                                                      viv_vnc_display_remote_display_init))

/* 32 bits a pixel, 0x00RRGGBB in host order: on a little-endian host
 * GDK_MEMORY_B8G8R8A8 once the padding byte is made 0xff */
static const VncPixelFormat local_format = {
  .bits_per_pixel = 32,
  .depth = 24,
  .byte_order = G_BYTE_ORDER,
  .true_color_flag = 1,
  .red_max = 255,
  .green_max = 255,
  .blue_max = 255,
  .red_shift = 16,
  .green_shift = 8,
  .blue_shift = 0,
};

/* ---- state ------------------------------------------------------------------ */

static void
set_state (VivVncDisplay *self, VivRemoteDisplayState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  /* The clipboard is shared while connected */
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HAS_CLIPBOARD]);
}

static void
set_error (VivVncDisplay *self, const char *error)
{
  if (g_strcmp0 (self->error, error) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

static gboolean
can_send (VivVncDisplay *self)
{
  return self->conn != NULL && self->state == VIV_REMOTE_DISPLAY_STATE_CONNECTED;
}

/* ---- the framebuffer and its tiles ------------------------------------------ */

static void
framebuffer_free (VivVncDisplay *self)
{
  viv_display_surface_clear (&self->surface);
  /* The pixels are the framebuffer's, which gvnc may hold a moment longer */
  g_clear_object (&self->fb);
  self->pixels = NULL;
}

/* A framebuffer of the server's size; gvnc converts from REMOTE */
static void
framebuffer_init (VivVncDisplay *self, const VncPixelFormat *remote)
{
  int width = vnc_connection_get_width (self->conn);
  int height = vnc_connection_get_height (self->conn);
  gboolean resized = width != self->surface.width || height != self->surface.height;

  /* QEMU says "resized" each time the guest sets its scanout again, at
   * the same size: keep the picture, or the screen flashes black until
   * the full update comes */
  if (self->fb != NULL && !resized && vnc_pixel_format_match (remote, &self->remote_format))
    return;
  framebuffer_free (self);
  self->remote_format = *remote;
  self->stride = width * 4;
  self->pixels = g_malloc0 ((gsize) self->stride * MAX (height, 1));
  self->fb = VNC_FRAMEBUFFER (vnc_base_framebuffer_new (self->pixels, width, height,
                                                        self->stride, &local_format, remote));
  g_object_set_data_full (G_OBJECT (self->fb), "viv-pixels", self->pixels, g_free);
  vnc_connection_set_framebuffer (self->conn, self->fb);
  viv_display_surface_resize (&self->surface, width, height);
  if (resized)
    {
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GUEST_WIDTH]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GUEST_HEIGHT]);
      gtk_widget_queue_resize (GTK_WIDGET (self));
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* After a whole update message: gvnc emits one signal a rectangle, and
 * the next request is one for all of them */
static gboolean
request_update (gpointer data)
{
  VivVncDisplay *self = data;

  self->update_request_id = 0;
  if (self->conn != NULL && vnc_connection_is_initialized (self->conn))
    vnc_connection_framebuffer_update_request (self->conn, TRUE, 0, 0, self->surface.width,
                                               self->surface.height);
  return G_SOURCE_REMOVE;
}

static void
on_framebuffer_update (VncConnection *conn, guint16 x, guint16 y, guint16 w, guint16 h,
                       gpointer data)
{
  VivVncDisplay *self = data;

  (void) conn;
  if (viv_display_surface_invalidate (&self->surface, x, y, w, h))
    gtk_widget_queue_draw (GTK_WIDGET (self));
  if (self->update_request_id == 0)
    self->update_request_id = g_idle_add_full (G_PRIORITY_HIGH_IDLE, request_update, self, NULL);
}

static void
on_desktop_resize (VncConnection *conn, guint16 width, guint16 height, gpointer data)
{
  VivVncDisplay *self = data;

  (void) width;
  (void) height;
  framebuffer_init (self, vnc_connection_get_pixel_format (conn));
  vnc_connection_framebuffer_update_request (conn, FALSE, 0, 0, self->surface.width,
                                             self->surface.height);
}

static void
on_pixel_format_changed (VncConnection *conn, VncPixelFormat *format, gpointer data)
{
  VivVncDisplay *self = data;

  (void) conn;
  framebuffer_init (self, format);
}

static void
on_initialized (VncConnection *conn, gpointer data)
{
  VivVncDisplay *self = data;
  /* What we can decode, best first for where the server is */
  gint32 encodings[] = {
    VNC_CONNECTION_ENCODING_ZRLE,
    VNC_CONNECTION_ENCODING_HEXTILE,
    VNC_CONNECTION_ENCODING_RAW,
    VNC_CONNECTION_ENCODING_COPY_RECT,
    VNC_CONNECTION_ENCODING_ALPHA_CURSOR,
    VNC_CONNECTION_ENCODING_RICH_CURSOR,
    VNC_CONNECTION_ENCODING_XCURSOR,
    VNC_CONNECTION_ENCODING_EXT_KEY_EVENT,
    VNC_CONNECTION_ENCODING_POINTER_CHANGE,
    VNC_CONNECTION_ENCODING_DESKTOP_RESIZE,
    VNC_CONNECTION_ENCODING_EXTENDED_DESKTOP_RESIZE,
    VNC_CONNECTION_ENCODING_LAST_RECT,
  };

  /* On a local socket copying is cheaper than compressing */
  if (self->raw_first)
    {
      encodings[0] = VNC_CONNECTION_ENCODING_RAW;
      encodings[2] = VNC_CONNECTION_ENCODING_ZRLE;
    }
  /* Our format on the wire: gvnc then copies, never converts */
  vnc_connection_set_pixel_format (conn, &local_format);
  framebuffer_init (self, &local_format);
  vnc_connection_set_encodings (conn, G_N_ELEMENTS (encodings), encodings);
  vnc_connection_framebuffer_update_request (conn, FALSE, 0, 0, self->surface.width,
                                             self->surface.height);
  set_state (self, VIV_REMOTE_DISPLAY_STATE_CONNECTED);
}

static void
on_cursor_changed (VncConnection *conn, VncCursor *cursor, gpointer data)
{
  VivVncDisplay *self = data;
  int w, h;

  (void) conn;
  g_clear_object (&self->cursor);
  w = cursor != NULL ? vnc_cursor_get_width (cursor) : 0;
  h = cursor != NULL ? vnc_cursor_get_height (cursor) : 0;
  if (w > 0 && h > 0)
    {
      /* gvnc gives cairo's ARGB32: premultiplied 0xAARRGGBB words */
      g_autoptr(GBytes) bytes = g_bytes_new (vnc_cursor_get_data (cursor), (gsize) w * h * 4);
      g_autoptr(GdkTexture) texture = gdk_memory_texture_new (w, h, VIV_DISPLAY_MEMORY_FORMAT,
                                                              bytes, (gsize) w * 4);

      self->cursor = gdk_cursor_new_from_texture (texture, vnc_cursor_get_hotx (cursor),
                                                  vnc_cursor_get_hoty (cursor), NULL);
    }
  else
    {
      /* The guest hides its pointer */
      self->cursor = gdk_cursor_new_from_name ("none", NULL);
    }
  gtk_widget_set_cursor (GTK_WIDGET (self), self->cursor);
}

static void release_keys (VivVncDisplay *self);
static void set_grabbed (VivVncDisplay *self, gboolean grabbed);

static void
connection_close (VivVncDisplay *self)
{
  VncConnection *conn = g_steal_pointer (&self->conn);

  g_clear_handle_id (&self->update_request_id, g_source_remove);
  if (conn == NULL)
    return;
  g_signal_handlers_disconnect_by_data (conn, self);
  vnc_connection_shutdown (conn);
  g_object_unref (conn);
}

static void
on_error (VncConnection *conn, const char *message, gpointer data)
{
  VivVncDisplay *self = data;

  (void) conn;
  g_debug ("VNC error: %s", message);
  /* The first says why; what follows is its consequence */
  if (self->error == NULL)
    {
      /* Translators: %s is the VNC library's reason, in English */
      g_autofree char *text = g_strdup_printf (_("The connection to the screen failed: %s"),
                                               message);
      set_error (self, text);
    }
}

static void
on_disconnected (VncConnection *conn, gpointer data)
{
  VivVncDisplay *self = data;

  (void) conn;
  set_grabbed (self, FALSE);
  viv_held_keys_forget (&self->keys);
  if (self->error == NULL && self->state != VIV_REMOTE_DISPLAY_STATE_CONNECTED)
    set_error (self, _("The machine's screen could not be reached"));
  connection_close (self);
  set_state (self, VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
}

/* ---- the clipboard ---------------------------------------------------------- */

/* The guest copied: its text (Latin-1, as RFB says) becomes ours */
static void
on_server_cut_text (VncConnection *conn, const GString *text, gpointer data)
{
  VivVncDisplay *self = data;
  g_autofree char *utf8 = NULL;

  (void) conn;
  utf8 = g_convert (text->str, text->len, "UTF-8", "ISO-8859-1", NULL, NULL, NULL);
  if (utf8 == NULL || self->clipboard == NULL)
    return;
  g_free (self->clipboard_from_guest);
  self->clipboard_from_guest = g_strdup (utf8);
  gdk_clipboard_set_text (self->clipboard, utf8);
}

static void
on_clipboard_text (GObject *source, GAsyncResult *result, gpointer data)
{
  VivVncDisplay *self;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, &error);
  g_autofree char *latin1 = NULL;
  gsize len = 0;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = data;
  if (text == NULL || !can_send (self) || g_strcmp0 (text, self->clipboard_from_guest) == 0)
    return;
  /* What Latin-1 cannot say becomes '?' rather than losing the rest */
  latin1 = g_convert_with_fallback (text, -1, "ISO-8859-1", "UTF-8", "?", NULL, &len, NULL);
  if (latin1 != NULL)
    vnc_connection_client_cut_text (self->conn, latin1, len);
}

/* We copied: the guest gets the text */
static void
on_clipboard_changed (GdkClipboard *clipboard, gpointer data)
{
  VivVncDisplay *self = data;
  GdkContentFormats *formats = gdk_clipboard_get_formats (clipboard);

  if (!can_send (self) || !gdk_content_formats_contain_gtype (formats, G_TYPE_STRING))
    return;
  g_cancellable_cancel (self->clipboard_cancellable);
  g_clear_object (&self->clipboard_cancellable);
  self->clipboard_cancellable = g_cancellable_new ();
  gdk_clipboard_read_text_async (clipboard, self->clipboard_cancellable, on_clipboard_text, self);
}

/* ---- drawing ---------------------------------------------------------------- */

static void
viv_vnc_display_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (widget);

  viv_display_surface_snapshot (&self->surface, widget, snapshot, self->scale_mode,
                                self->pixels, self->stride);
}

static void
viv_vnc_display_measure (GtkWidget      *widget,
                         GtkOrientation  orientation,
                         int             for_size,
                         int            *minimum,
                         int            *natural,
                         int            *minimum_baseline,
                         int            *natural_baseline)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (widget);

  (void) for_size;
  viv_display_surface_measure (&self->surface, widget, orientation, self->scale_mode,
                               minimum, natural);
  *minimum_baseline = *natural_baseline = -1;
}

/* ---- input ------------------------------------------------------------------ */

/* One key to the server: KEYSYM for a server without the extension */
static void
send_key (VivVncDisplay *self, gboolean down, guint32 keysym, guint scancode)
{
  if (!can_send (self))
    return;
  vnc_connection_key_event (self->conn, down, keysym, viv_keymap_scancode_to_rfb (scancode));
}

static guint32
keysym_for_keycode (VivVncDisplay *self, guint keycode)
{
  GdkDisplay *display = gtk_widget_get_display (GTK_WIDGET (self));
  g_autofree GdkKeymapKey *keys = NULL;
  g_autofree guint *keyvals = NULL;
  int n = 0;

  if (gdk_display_map_keycode (display, keycode, &keys, &keyvals, &n) && n > 0)
    return keyvals[0];
  return 0;
}

static void
send_release (guint keycode, guint32 keysym, gpointer data)
{
  send_key (data, FALSE, keysym, viv_keymap_scancode_from_keycode (keycode));
}

/* Lets the guest go of every key it holds: nothing we pressed may stay
 * down once the keys are no longer ours */
static void
release_keys (VivVncDisplay *self)
{
  viv_held_keys_release_all (&self->keys, send_release, self);
}

static void
set_grabbed (VivVncDisplay *self, gboolean grabbed)
{
  if (self->grabbed == grabbed)
    return;
  self->grabbed = grabbed;
  /* While grabbed, Alt+Tab and the like are the guest's */
  viv_display_inhibit_shortcuts (GTK_WIDGET (self), grabbed, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GRABBED]);
}

static gboolean
on_key_pressed (GtkEventControllerKey *controller, guint keyval, guint keycode,
                GdkModifierType state, gpointer data)
{
  VivVncDisplay *self = data;
  guint scancode = viv_keymap_scancode_from_keycode (keycode);
  guint32 keysym;
  gboolean is_ctrl = keyval == GDK_KEY_Control_L || keyval == GDK_KEY_Control_R;
  gboolean is_alt = keyval == GDK_KEY_Alt_L || keyval == GDK_KEY_Alt_R
                    || keyval == GDK_KEY_Meta_L || keyval == GDK_KEY_Meta_R;

  (void) controller;
  if (!can_send (self))
    return FALSE;
  /* Not grabbed, the application's keys are the application's */
  if (!self->grabbed && viv_remote_display_is_host_key (keyval, state))
    return FALSE;
  /* Ctrl+Alt gives the keyboard back, or takes it without a click */
  if ((is_ctrl && (state & GDK_ALT_MASK)) || (is_alt && (state & GDK_CONTROL_MASK)))
    {
      if (self->grabbed)
        {
          release_keys (self);
          set_grabbed (self, FALSE);
          return TRUE;
        }
      set_grabbed (self, TRUE);
    }
  /* A held key repeats as presses, as a keyboard's would */
  keysym = viv_held_keys_press (&self->keys, keycode, keyval != 0 ? keyval : 1);
  if (keysym != 0)
    send_key (self, TRUE, keysym, scancode);
  return TRUE;
}

static void
on_key_released (GtkEventControllerKey *controller, guint keyval, guint keycode,
                 GdkModifierType state, gpointer data)
{
  VivVncDisplay *self = data;
  guint32 keysym;

  (void) controller;
  (void) keyval;
  (void) state;
  keysym = viv_held_keys_release (&self->keys, keycode);
  if (keysym != 0)
    send_release (keycode, keysym, self);
}

static void
on_focus_leave (GtkEventControllerFocus *controller, gpointer data)
{
  VivVncDisplay *self = data;

  (void) controller;
  release_keys (self);
  set_grabbed (self, FALSE);
}

static void
send_pointer (VivVncDisplay *self)
{
  VivDisplayPlace place;
  int gx, gy;

  if (!can_send (self)
      || !viv_display_surface_get_place (&self->surface, GTK_WIDGET (self), self->scale_mode,
                                         &place))
    return;
  viv_display_place_to_guest (&place, self->surface.width, self->surface.height,
                              self->pointer_x, self->pointer_y, &gx, &gy);
  vnc_connection_pointer_event (self->conn, self->buttons, gx, gy);
}

static void
on_motion (GtkEventControllerMotion *controller, double x, double y, gpointer data)
{
  VivVncDisplay *self = data;

  (void) controller;
  self->pointer_x = x;
  self->pointer_y = y;
  send_pointer (self);
}

static guint8
button_mask (guint button)
{
  switch (button)
    {
    case GDK_BUTTON_PRIMARY:
      return BUTTON_LEFT;
    case GDK_BUTTON_MIDDLE:
      return BUTTON_MIDDLE;
    case GDK_BUTTON_SECONDARY:
      return BUTTON_RIGHT;
    default:
      return 0;
    }
}

static void
on_click_pressed (GtkGestureClick *gesture, int n_press, double x, double y, gpointer data)
{
  VivVncDisplay *self = data;
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));

  (void) n_press;
  if (!can_send (self))
    return;
  gtk_widget_grab_focus (GTK_WIDGET (self));
  set_grabbed (self, TRUE);
  self->pointer_x = x;
  self->pointer_y = y;
  self->buttons |= button_mask (button);
  send_pointer (self);
}

static void
on_click_released (GtkGestureClick *gesture, int n_press, double x, double y, gpointer data)
{
  VivVncDisplay *self = data;
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));

  (void) n_press;
  self->pointer_x = x;
  self->pointer_y = y;
  self->buttons &= ~button_mask (button);
  send_pointer (self);
}

/* A wheel step is a press and release of buttons 4 to 7 */
static void
wheel_click (VivVncDisplay *self, guint8 mask, int steps)
{
  for (int i = 0; i < steps; i++)
    {
      self->buttons |= mask;
      send_pointer (self);
      self->buttons &= ~mask;
      send_pointer (self);
    }
}

static gboolean
on_scroll (GtkEventControllerScroll *controller, double dx, double dy, gpointer data)
{
  VivVncDisplay *self = data;

  (void) controller;
  if (!can_send (self))
    return FALSE;
  wheel_click (self, dy < 0 ? BUTTON_WHEEL_UP : BUTTON_WHEEL_DOWN, (int) ceil (fabs (dy)));
  wheel_click (self, dx < 0 ? BUTTON_WHEEL_LEFT : BUTTON_WHEEL_RIGHT, (int) ceil (fabs (dx)));
  return TRUE;
}

/* ---- VivRemoteDisplay ------------------------------------------------------- */

static guint
keycode_for_scancode (guint scancode)
{
  for (guint keycode = 8; keycode < VIV_HELD_KEYS_MAX; keycode++)
    if (viv_keymap_scancode_from_keycode (keycode) == scancode)
      return keycode;
  return 0;
}

static void
viv_vnc_display_send_keys (VivRemoteDisplay *display, const guint *scancodes, guint n)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (display);

  /* The keysyms matter only to a server without the extension */
  for (guint i = 0; i < n; i++)
    send_key (self, TRUE, keysym_for_keycode (self, keycode_for_scancode (scancodes[i])),
              scancodes[i]);
  for (guint i = n; i > 0; i--)
    send_key (self, FALSE, keysym_for_keycode (self, keycode_for_scancode (scancodes[i - 1])),
              scancodes[i - 1]);
}

static void
viv_vnc_display_release_grab (VivRemoteDisplay *display)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (display);

  release_keys (self);
  set_grabbed (self, FALSE);
}

static GdkTexture *
viv_vnc_display_dup_screen (VivRemoteDisplay *display)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (display);

  if (self->pixels == NULL || self->surface.width <= 0 || self->surface.height <= 0)
    return NULL;
  return viv_display_texture_new (self->pixels, self->stride, 0, 0, self->surface.width,
                                  self->surface.height);
}

static void
viv_vnc_display_disconnect (VivRemoteDisplay *display)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (display);

  release_keys (self);
  set_grabbed (self, FALSE);
  connection_close (self);
  set_state (self, VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
}

static void
viv_vnc_display_remote_display_init (VivRemoteDisplayInterface *iface)
{
  iface->send_keys = viv_vnc_display_send_keys;
  iface->release_grab = viv_vnc_display_release_grab;
  iface->dup_screen = viv_vnc_display_dup_screen;
  iface->disconnect = viv_vnc_display_disconnect;
}

/* ---- opening ---------------------------------------------------------------- */

static void
connection_new (VivVncDisplay *self)
{
  connection_close (self);
  set_error (self, NULL);
  self->conn = vnc_connection_new ();
  g_signal_connect (self->conn, "vnc-initialized", G_CALLBACK (on_initialized), self);
  g_signal_connect (self->conn, "vnc-framebuffer-update", G_CALLBACK (on_framebuffer_update),
                    self);
  g_signal_connect (self->conn, "vnc-desktop-resize", G_CALLBACK (on_desktop_resize), self);
  g_signal_connect (self->conn, "vnc-pixel-format-changed",
                    G_CALLBACK (on_pixel_format_changed), self);
  g_signal_connect (self->conn, "vnc-cursor-changed", G_CALLBACK (on_cursor_changed), self);
  g_signal_connect (self->conn, "vnc-server-cut-text", G_CALLBACK (on_server_cut_text), self);
  g_signal_connect (self->conn, "vnc-error", G_CALLBACK (on_error), self);
  g_signal_connect (self->conn, "vnc-disconnected", G_CALLBACK (on_disconnected), self);
  /* VNC's "None" security type only: ours are local sockets; anything
   * asking for a password is refused with the server's reason */
  vnc_connection_set_auth_type (self->conn, 1);
}

gboolean
viv_vnc_display_open_fd (VivVncDisplay *self, int fd)
{
  g_return_val_if_fail (VIV_IS_VNC_DISPLAY (self), FALSE);
  g_return_val_if_fail (fd >= 0, FALSE);

  connection_new (self);
  self->raw_first = TRUE;
  set_state (self, VIV_REMOTE_DISPLAY_STATE_CONNECTING);
  if (!vnc_connection_open_fd (self->conn, fd))
    {
      close (fd);
      viv_vnc_display_disconnect (VIV_REMOTE_DISPLAY (self));
      return FALSE;
    }
  return TRUE;
}

gboolean
viv_vnc_display_open_address (VivVncDisplay *self, const char *host, guint16 port)
{
  g_autofree char *port_text = NULL;

  g_return_val_if_fail (VIV_IS_VNC_DISPLAY (self), FALSE);
  g_return_val_if_fail (host != NULL, FALSE);

  connection_new (self);
  self->raw_first = FALSE;
  port_text = g_strdup_printf ("%u", port);
  set_state (self, VIV_REMOTE_DISPLAY_STATE_CONNECTING);
  if (!vnc_connection_open_host (self->conn, host, port_text))
    {
      viv_vnc_display_disconnect (VIV_REMOTE_DISPLAY (self));
      return FALSE;
    }
  return TRUE;
}

/* ---- GObject ---------------------------------------------------------------- */

GtkWidget *
viv_vnc_display_new (void)
{
  return g_object_new (VIV_TYPE_VNC_DISPLAY, NULL);
}

static void
viv_vnc_display_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    case PROP_GRABBED:
      g_value_set_boolean (value, self->grabbed);
      break;
    case PROP_SCALE_MODE:
      g_value_set_enum (value, self->scale_mode);
      break;
    case PROP_GUEST_WIDTH:
      g_value_set_int (value, self->surface.width);
      break;
    case PROP_GUEST_HEIGHT:
      g_value_set_int (value, self->surface.height);
      break;
    case PROP_CAN_RESIZE:
      g_value_set_boolean (value, FALSE);
      break;
    case PROP_HAS_CLIPBOARD:
      g_value_set_boolean (value, self->state == VIV_REMOTE_DISPLAY_STATE_CONNECTED);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_vnc_display_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (object);

  switch (prop_id)
    {
    case PROP_SCALE_MODE:
      if (self->scale_mode != (VivRemoteDisplayScale) g_value_get_enum (value))
        {
          self->scale_mode = g_value_get_enum (value);
          gtk_widget_queue_resize (GTK_WIDGET (self));
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_vnc_display_realize (GtkWidget *widget)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (widget);

  GTK_WIDGET_CLASS (viv_vnc_display_parent_class)->realize (widget);
  self->clipboard = g_object_ref (gtk_widget_get_clipboard (widget));
  g_signal_connect (self->clipboard, "changed", G_CALLBACK (on_clipboard_changed), self);
}

static void
viv_vnc_display_unrealize (GtkWidget *widget)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (widget);

  g_cancellable_cancel (self->clipboard_cancellable);
  g_clear_object (&self->clipboard_cancellable);
  if (self->clipboard != NULL)
    g_signal_handlers_disconnect_by_data (self->clipboard, self);
  g_clear_object (&self->clipboard);

  /* The toplevel's shortcuts must be given back while we still have it */
  set_grabbed (self, FALSE);
  GTK_WIDGET_CLASS (viv_vnc_display_parent_class)->unrealize (widget);
}

static void
viv_vnc_display_dispose (GObject *object)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (object);

  connection_close (self);
  framebuffer_free (self);
  g_clear_object (&self->cursor);
  G_OBJECT_CLASS (viv_vnc_display_parent_class)->dispose (object);
}

static void
viv_vnc_display_finalize (GObject *object)
{
  VivVncDisplay *self = VIV_VNC_DISPLAY (object);

  g_free (self->error);
  g_free (self->clipboard_from_guest);
  G_OBJECT_CLASS (viv_vnc_display_parent_class)->finalize (object);
}

static void
viv_vnc_display_class_init (VivVncDisplayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  static const char *const names[N_PROPS] = {
    [PROP_STATE] = "state", [PROP_ERROR] = "error", [PROP_GRABBED] = "grabbed",
    [PROP_SCALE_MODE] = "scale-mode", [PROP_GUEST_WIDTH] = "guest-width",
    [PROP_GUEST_HEIGHT] = "guest-height", [PROP_CAN_RESIZE] = "can-resize",
    [PROP_HAS_CLIPBOARD] = "has-clipboard",
  };

  object_class->get_property = viv_vnc_display_get_property;
  object_class->set_property = viv_vnc_display_set_property;
  object_class->dispose = viv_vnc_display_dispose;
  object_class->finalize = viv_vnc_display_finalize;
  widget_class->snapshot = viv_vnc_display_snapshot;
  widget_class->measure = viv_vnc_display_measure;
  widget_class->realize = viv_vnc_display_realize;
  widget_class->unrealize = viv_vnc_display_unrealize;

  g_object_class_override_property (object_class, PROP_STATE, "state");
  g_object_class_override_property (object_class, PROP_ERROR, "error");
  g_object_class_override_property (object_class, PROP_GRABBED, "grabbed");
  g_object_class_override_property (object_class, PROP_SCALE_MODE, "scale-mode");
  g_object_class_override_property (object_class, PROP_GUEST_WIDTH, "guest-width");
  g_object_class_override_property (object_class, PROP_GUEST_HEIGHT, "guest-height");
  g_object_class_override_property (object_class, PROP_CAN_RESIZE, "can-resize");
  g_object_class_override_property (object_class, PROP_HAS_CLIPBOARD, "has-clipboard");
  for (guint i = PROP_0 + 1; i < N_PROPS; i++)
    properties[i] = g_object_class_find_property (object_class, names[i]);

  gtk_widget_class_set_css_name (widget_class, "vnc-display");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
viv_vnc_display_init (VivVncDisplay *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkEventController *controller;

  gtk_widget_set_focusable (widget, TRUE);
  gtk_widget_set_focus_on_click (widget, TRUE);
  gtk_widget_set_overflow (widget, GTK_OVERFLOW_HIDDEN);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Machine screen"), -1);

  controller = gtk_event_controller_key_new ();
  g_signal_connect (controller, "key-pressed", G_CALLBACK (on_key_pressed), self);
  g_signal_connect (controller, "key-released", G_CALLBACK (on_key_released), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_focus_new ();
  g_signal_connect (controller, "leave", G_CALLBACK (on_focus_leave), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_motion_new ();
  g_signal_connect (controller, "motion", G_CALLBACK (on_motion), self);
  gtk_widget_add_controller (widget, controller);

  controller = GTK_EVENT_CONTROLLER (gtk_gesture_click_new ());
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (controller), 0);
  g_signal_connect (controller, "pressed", G_CALLBACK (on_click_pressed), self);
  g_signal_connect (controller, "released", G_CALLBACK (on_click_released), self);
  gtk_widget_add_controller (widget, controller);

  controller = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES
                                                | GTK_EVENT_CONTROLLER_SCROLL_DISCRETE);
  g_signal_connect (controller, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (widget, controller);
}
