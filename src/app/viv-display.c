/* viv-display.c: a machine's screen over SPICE, as a widget
 *
 * A spice-client-glib session whose every channel asks for its own
 * socket ("open-fd"): with a machine, each comes from the helper's
 * OpenDisplay (viv_machine_open_display_async); without one, from
 * viv_display_open_fd. The primary surface is kept as 256x256 textures,
 * and an invalidate marks the tiles it touches, re-uploaded at the next
 * frame: GTK 4.8 has no way to update part of a texture, and a full-HD
 * upload per small change would cost a frame.
 *
 * Input follows the guest's mouse mode: in client mode (the tablet) every
 * motion is a position in guest pixels; in server mode (a relative mouse
 * only) motions while grabbed are sent as deltas. GTK 4 offers no pointer
 * grab, confinement or warp, so in server mode the local pointer is only
 * hidden: it still stops at the screen's edges (the deltas then stop too).
 *
 * The agent, when it runs, shares the clipboard (the guest's CLIPBOARD
 * selection and the widget's GdkClipboard): text, or else an image, as
 * PNG. It also resizes the guest's screen to the widget's, 300 ms after
 * the last change.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-display"

#include "config.h"

#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <spice-client.h>
#include <spice/vd_agent.h>

#include "viv-display.h"
#include "viv-display-surface.h"
#include "viv-keymap.h"

#define RESIZE_DELAY_MS  300

struct _VivDisplay
{
  GtkWidget              parent_instance;

  VivMachine            *machine;
  GCancellable          *cancellable;   /* the session's socket requests */
  GQueue                 waiting;       /* channels waiting for viv_display_open_fd */

  SpiceSession          *session;
  SpiceMainChannel      *main;
  SpiceDisplayChannel   *display;
  SpiceInputsChannel    *inputs;
  SpiceCursorChannel    *cursor_channel;
  gboolean               cursor_pending; /* connected once there is a picture */
  /* The client's primary surface holds whatever memory it got until the
   * server's first draw into it: not shown before that */
  gboolean               primary_drawn;

  VivRemoteDisplayState  state;
  char                  *error;
  gboolean               grabbed;
  VivRemoteDisplayScale  scale_mode;
  gboolean               can_resize;
  gboolean               has_clipboard;
  gboolean               client_mouse;

  VivDisplaySurface      surface;       /* the primary surface's size and tiles */

  GdkCursor             *guest_cursor;  /* NULL: the local default */
  GdkCursor             *none_cursor;

  /* input */
  VivHeldKeys            keys;          /* by scancode */
  int                    buttons;       /* SPICE_MOUSE_BUTTON_MASK_* held */
  double                 last_x, last_y;
  gboolean               have_last;
  double                 rel_x, rel_y;  /* server mode: motion not sent yet */
  double                 scroll;        /* smooth scrolling not sent yet */

  /* the agent */
  GdkContentProvider    *clip_ours;     /* what the guest put on our clipboard */
  gboolean               clip_grabbed;  /* the guest was told we have text */
  guint                  resize_id;
  guint                  draw_id;       /* the redraw after the updates waiting now */
  int                    sent_width, sent_height;
};

static void viv_display_remote_display_init (VivRemoteDisplayInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VivDisplay, viv_display, GTK_TYPE_WIDGET,
                               G_IMPLEMENT_INTERFACE (VIV_TYPE_REMOTE_DISPLAY,
                                                      viv_display_remote_display_init))

enum {
  PROP_0,
  PROP_MACHINE,
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

static GParamSpec *properties[N_PROPS];

enum {
  NEED_FD,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void disconnect_session (VivDisplay *self, const char *error);
static void schedule_resize    (VivDisplay *self);
static void clipboard_offer    (VivDisplay *self);

/* --- properties ------------------------------------------------------------------ */

static void
set_state (VivDisplay            *self,
           VivRemoteDisplayState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_error (VivDisplay *self,
           const char *error)
{
  if (g_strcmp0 (self->error, error) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

static void
set_boolean (VivDisplay *self,
             gboolean   *field,
             gboolean    value,
             int         prop)
{
  value = !!value;
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

/* --- the picture ----------------------------------------------------------------- */

static gboolean
get_primary (VivDisplay          *self,
             SpiceDisplayPrimary *primary)
{
  if (self->display == NULL
      || !spice_display_channel_get_primary (SPICE_CHANNEL (self->display), 0, primary))
    return FALSE;
  /* Our helper's (and QEMU's) primary surface; the others are 16-bit
   * formats of old guests' drivers */
  return (primary->format == SPICE_SURFACE_FMT_32_xRGB
          || primary->format == SPICE_SURFACE_FMT_32_ARGB)
         && primary->data != NULL;
}

static void
set_guest_size (VivDisplay *self,
                int         width,
                int         height)
{
  int old_width = self->surface.width, old_height = self->surface.height;

  viv_display_surface_resize (&self->surface, width, height);
  g_object_freeze_notify (G_OBJECT (self));
  if (self->surface.width != old_width)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GUEST_WIDTH]);
  if (self->surface.height != old_height)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GUEST_HEIGHT]);
  g_object_thaw_notify (G_OBJECT (self));
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

static void
on_primary_create (SpiceChannel *channel G_GNUC_UNUSED,
                   gint          format G_GNUC_UNUSED,
                   gint          width,
                   gint          height,
                   gint          stride G_GNUC_UNUSED,
                   gint          shmid G_GNUC_UNUSED,
                   gpointer      imgdata G_GNUC_UNUSED,
                   VivDisplay   *self)
{
  self->primary_drawn = FALSE;
  set_guest_size (self, width, height);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  if (self->cursor_pending && self->cursor_channel != NULL)
    {
      self->cursor_pending = FALSE;
      spice_channel_connect (SPICE_CHANNEL (self->cursor_channel));
    }
}

static void
on_primary_destroy (SpiceChannel *channel G_GNUC_UNUSED,
                    VivDisplay   *self)
{
  set_guest_size (self, 0, 0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* spice-client-glib's channels run as coroutines that hand each message's
 * signals to the main loop in an idle callback. A redraw asked for at once
 * would paint (at GDK_PRIORITY_REDRAW, before any idle) between every two
 * messages: where a frame costs more than the messages come (software
 * rendering), they queue up and the screen falls behind by hundreds of
 * milliseconds. Asked for just after the waiting messages, one frame
 * shows them all. */
#define DRAW_PRIORITY (G_PRIORITY_DEFAULT_IDLE + 10)

static gboolean
queue_draw_idle (gpointer data)
{
  VivDisplay *self = data;

  self->draw_id = 0;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return G_SOURCE_REMOVE;
}

static void
on_invalidate (SpiceChannel *channel G_GNUC_UNUSED,
               gint          x,
               gint          y,
               gint          width,
               gint          height,
               VivDisplay   *self)
{
  self->primary_drawn = TRUE;
  if (viv_display_surface_invalidate (&self->surface, x, y, width, height)
      && self->draw_id == 0)
    self->draw_id = g_idle_add_full (DRAW_PRIORITY, queue_draw_idle, self, NULL);
}

static void
viv_display_snapshot (GtkWidget   *widget,
                      GtkSnapshot *snapshot)
{
  VivDisplay *self = VIV_DISPLAY (widget);
  SpiceDisplayPrimary primary;
  gboolean current = self->primary_drawn && get_primary (self, &primary)
                     && primary.width == self->surface.width
                     && primary.height == self->surface.height;

  /* The primary may be a new one whose primary-create is on its way */
  viv_display_surface_snapshot (&self->surface, widget, snapshot, self->scale_mode,
                                current ? primary.data : NULL, current ? primary.stride : 0);
}

static void
viv_display_measure (GtkWidget      *widget,
                     GtkOrientation  orientation,
                     int             for_size G_GNUC_UNUSED,
                     int            *minimum,
                     int            *natural,
                     int            *minimum_baseline G_GNUC_UNUSED,
                     int            *natural_baseline G_GNUC_UNUSED)
{
  VivDisplay *self = VIV_DISPLAY (widget);

  viv_display_surface_measure (&self->surface, widget, orientation, self->scale_mode,
                               minimum, natural);
}

static void
viv_display_size_allocate (GtkWidget *widget,
                           int        width G_GNUC_UNUSED,
                           int        height G_GNUC_UNUSED,
                           int        baseline G_GNUC_UNUSED)
{
  schedule_resize (VIV_DISPLAY (widget));
}

/* --- the cursor ------------------------------------------------------------------ */

static void
apply_cursor (VivDisplay *self)
{
  GdkCursor *cursor = self->guest_cursor;

  /* A relative mouse moves the guest's own pointer, which ours does not
   * follow: hidden while grabbed (it would wander off), the ordinary one
   * otherwise (the guest's shape, or its hiding, is not about ours) */
  if (!self->client_mouse)
    cursor = self->grabbed ? self->none_cursor : NULL;
  gtk_widget_set_cursor (GTK_WIDGET (self), cursor);
}

static void
on_cursor_set (SpiceCursorChannel *channel G_GNUC_UNUSED,
               gint                width,
               gint                height,
               gint                hot_x,
               gint                hot_y,
               gpointer            rgba,
               VivDisplay         *self)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  g_clear_object (&self->guest_cursor);
  if (rgba != NULL && width > 0 && height > 0)
    {
      /* spice-client-glib gives R, G, B, A bytes, not premultiplied */
      bytes = g_bytes_new (rgba, (gsize) width * height * 4);
      texture = gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8A8, bytes,
                                        (gsize) width * 4);
      self->guest_cursor = gdk_cursor_new_from_texture (texture, CLAMP (hot_x, 0, width - 1),
                                                        CLAMP (hot_y, 0, height - 1), NULL);
    }
  apply_cursor (self);
}

static void
on_cursor_hide (SpiceCursorChannel *channel G_GNUC_UNUSED,
                VivDisplay         *self)
{
  /* The guest draws its own pointer in its picture */
  g_set_object (&self->guest_cursor, self->none_cursor);
  apply_cursor (self);
}

static void
on_cursor_reset (SpiceCursorChannel *channel G_GNUC_UNUSED,
                 VivDisplay         *self)
{
  g_clear_object (&self->guest_cursor);
  apply_cursor (self);
}

/* --- keys --------------------------------------------------------------------- */

static void
send_release (guint    code,
              guint32  data G_GNUC_UNUSED,
              gpointer user_data)
{
  VivDisplay *self = user_data;

  if (self->inputs != NULL)
    spice_inputs_channel_key_release (self->inputs, code);
}

static void
release_keys (VivDisplay *self)
{
  viv_held_keys_release_all (&self->keys, send_release, self);
}

static void
key_press (VivDisplay *self,
           guint       code)
{
  if (self->inputs == NULL || viv_held_keys_press (&self->keys, code, TRUE) == 0)
    return;
  spice_inputs_channel_key_press (self->inputs, code);
}

static void
key_release (VivDisplay *self,
             guint       code)
{
  if (viv_held_keys_release (&self->keys, code) != 0)
    send_release (code, TRUE, self);
}

static void
set_grabbed (VivDisplay *self,
             gboolean    grabbed,
             GdkEvent   *event)
{
  if (self->grabbed == !!grabbed)
    return;
  if (grabbed)
    gtk_widget_grab_focus (GTK_WIDGET (self));
  viv_display_inhibit_shortcuts (GTK_WIDGET (self), grabbed, event);
  if (!grabbed)
    {
      /* Ctrl+Alt (or whatever was down) must not stay down in the guest */
      release_keys (self);
      self->have_last = FALSE;
    }
  set_boolean (self, &self->grabbed, grabbed, PROP_GRABBED);
  apply_cursor (self);
}

static gboolean
is_ctrl_alt (guint           keyval,
             GdkModifierType state)
{
  gboolean ctrl = keyval == GDK_KEY_Control_L || keyval == GDK_KEY_Control_R;
  gboolean alt = keyval == GDK_KEY_Alt_L || keyval == GDK_KEY_Alt_R
                 || keyval == GDK_KEY_Meta_L || keyval == GDK_KEY_Meta_R;

  return (ctrl && (state & GDK_ALT_MASK)) || (alt && (state & GDK_CONTROL_MASK));
}

/* --- the pointer ----------------------------------------------------------------- */

/* EVENT's position in the widget */
static gboolean
event_position (VivDisplay *self,
                GdkEvent   *event,
                double     *x,
                double     *y)
{
  GtkNative *native = gtk_widget_get_native (GTK_WIDGET (self));
  double ex, ey, nx, ny;

  if (native == NULL || !gdk_event_get_position (event, &ex, &ey))
    return FALSE;
  gtk_native_get_surface_transform (native, &nx, &ny);
  return gtk_widget_translate_coordinates (GTK_WIDGET (native), GTK_WIDGET (self),
                                           ex - nx, ey - ny, x, y);
}

static void
send_position (VivDisplay *self,
               double      x,
               double      y)
{
  VivDisplayPlace place;
  int gx, gy;

  if (self->inputs == NULL)
    return;
  if (!self->client_mouse)
    {
      int factor = gtk_widget_get_scale_factor (GTK_WIDGET (self));
      int dx, dy;

      /* Relative: only while grabbed, in device pixels */
      if (self->grabbed && self->have_last)
        {
          self->rel_x += (x - self->last_x) * factor;
          self->rel_y += (y - self->last_y) * factor;
          dx = (int) self->rel_x;
          dy = (int) self->rel_y;
          self->rel_x -= dx;
          self->rel_y -= dy;
          if (dx != 0 || dy != 0)
            spice_inputs_channel_motion (self->inputs, dx, dy, self->buttons);
        }
      self->last_x = x;
      self->last_y = y;
      self->have_last = TRUE;
      return;
    }
  if (!viv_display_surface_get_place (&self->surface, GTK_WIDGET (self), self->scale_mode,
                                      &place))
    return;
  viv_display_place_to_guest (&place, self->surface.width, self->surface.height, x, y,
                              &gx, &gy);
  spice_inputs_channel_position (self->inputs, gx, gy, 0, self->buttons);
}

static int
spice_button (guint button)
{
  switch (button)
    {
    case GDK_BUTTON_PRIMARY:   return SPICE_MOUSE_BUTTON_LEFT;
    case GDK_BUTTON_MIDDLE:    return SPICE_MOUSE_BUTTON_MIDDLE;
    case GDK_BUTTON_SECONDARY: return SPICE_MOUSE_BUTTON_RIGHT;
    case 8:                    return SPICE_MOUSE_BUTTON_SIDE;    /* back */
    case 9:                    return SPICE_MOUSE_BUTTON_EXTRA;   /* forward */
    default:                   return 0;
    }
}

static void
wheel_step (VivDisplay *self,
            int         button)
{
  int mask = button == SPICE_MOUSE_BUTTON_UP ? SPICE_MOUSE_BUTTON_MASK_UP
                                             : SPICE_MOUSE_BUTTON_MASK_DOWN;

  if (self->inputs == NULL)
    return;
  spice_inputs_channel_button_press (self->inputs, button, self->buttons | mask);
  spice_inputs_channel_button_release (self->inputs, button, self->buttons);
}

static gboolean
on_event (GtkEventControllerLegacy *controller G_GNUC_UNUSED,
          GdkEvent                 *event,
          VivDisplay               *self)
{
  GdkEventType type = gdk_event_get_event_type (event);
  double x, y;

  switch ((int) type)
    {
    case GDK_KEY_PRESS:
      {
        guint keyval = gdk_key_event_get_keyval (event);
        guint code = viv_keymap_scancode_from_keycode (gdk_key_event_get_keycode (event));

        if (!self->grabbed
            && viv_remote_display_is_host_key (keyval, gdk_event_get_modifier_state (event)))
          return GDK_EVENT_PROPAGATE;

        key_press (self, code);
        /* Ctrl+Alt gives the keyboard back, or takes it without a click */
        if (is_ctrl_alt (keyval, gdk_event_get_modifier_state (event)))
          set_grabbed (self, !self->grabbed, self->grabbed ? NULL : event);
        return GDK_EVENT_STOP;
      }
    case GDK_KEY_RELEASE:
      key_release (self, viv_keymap_scancode_from_keycode (gdk_key_event_get_keycode (event)));
      return GDK_EVENT_STOP;

    case GDK_MOTION_NOTIFY:
      if (event_position (self, event, &x, &y))
        send_position (self, x, y);
      return GDK_EVENT_PROPAGATE;

    case GDK_BUTTON_PRESS:
    case GDK_BUTTON_RELEASE:
      {
        int button = spice_button (gdk_button_event_get_button (event));
        int mask = button != 0 ? 1 << (button - 1) : 0;

        if (type == GDK_BUTTON_PRESS && !self->grabbed)
          set_grabbed (self, TRUE, event);
        if (event_position (self, event, &x, &y))
          send_position (self, x, y);
        if (button == 0 || self->inputs == NULL)
          return GDK_EVENT_STOP;
        if (type == GDK_BUTTON_PRESS)
          {
            self->buttons |= mask;
            spice_inputs_channel_button_press (self->inputs, button, self->buttons);
          }
        else if (self->buttons & mask)
          {
            self->buttons &= ~mask;
            spice_inputs_channel_button_release (self->inputs, button, self->buttons);
          }
        return GDK_EVENT_STOP;
      }

    case GDK_SCROLL:
      switch (gdk_scroll_event_get_direction (event))
        {
        case GDK_SCROLL_UP:
          wheel_step (self, SPICE_MOUSE_BUTTON_UP);
          break;
        case GDK_SCROLL_DOWN:
          wheel_step (self, SPICE_MOUSE_BUTTON_DOWN);
          break;
        case GDK_SCROLL_SMOOTH:
          {
            double dx, dy;

            /* Touchpads give fractions of a step: whole steps go out */
            gdk_scroll_event_get_deltas (event, &dx, &dy);
            self->scroll += dy;
            for (; self->scroll >= 1; self->scroll -= 1)
              wheel_step (self, SPICE_MOUSE_BUTTON_DOWN);
            for (; self->scroll <= -1; self->scroll += 1)
              wheel_step (self, SPICE_MOUSE_BUTTON_UP);
            if (gdk_scroll_event_is_stop (event))
              self->scroll = 0;
          }
          break;
        case GDK_SCROLL_LEFT:
        case GDK_SCROLL_RIGHT:
        default:
          break;     /* SPICE has no horizontal wheel */
        }
      return GDK_EVENT_STOP;

    default:
      return GDK_EVENT_PROPAGATE;
    }
}

static void
on_focus_leave (GtkEventControllerFocus *controller G_GNUC_UNUSED,
                VivDisplay              *self)
{
  /* The keys' releases go elsewhere now: the guest would see them held */
  set_grabbed (self, FALSE, NULL);
  release_keys (self);
  if (self->inputs != NULL && self->buttons != 0)
    for (int button = SPICE_MOUSE_BUTTON_LEFT; button <= SPICE_MOUSE_BUTTON_EXTRA; button++)
      if (self->buttons & (1 << (button - 1)))
        {
          self->buttons &= ~(1 << (button - 1));
          spice_inputs_channel_button_release (self->inputs, button, self->buttons);
        }
}

/* --- the agent: clipboard and resize ------------------------------------------------ */

static void
update_agent (VivDisplay *self)
{
  gboolean agent = FALSE;

  if (self->main != NULL)
    g_object_get (self->main, "agent-connected", &agent, NULL);
  g_object_freeze_notify (G_OBJECT (self));
  set_boolean (self, &self->can_resize,
               agent && spice_main_channel_agent_test_capability (self->main,
                                                                  VD_AGENT_CAP_MONITORS_CONFIG),
               PROP_CAN_RESIZE);
  set_boolean (self, &self->has_clipboard,
               agent && spice_main_channel_agent_test_capability (self->main,
                                                                  VD_AGENT_CAP_CLIPBOARD_BY_DEMAND),
               PROP_HAS_CLIPBOARD);
  g_object_thaw_notify (G_OBJECT (self));
  if (!agent)
    {
      self->clip_grabbed = FALSE;
      self->sent_width = self->sent_height = 0;
    }
  schedule_resize (self);
  clipboard_offer (self);
}

static gboolean
on_resize_timeout (gpointer data)
{
  VivDisplay *self = data;
  int factor = gtk_widget_get_scale_factor (GTK_WIDGET (self));
  int width = gtk_widget_get_width (GTK_WIDGET (self)) * factor;
  int height = gtk_widget_get_height (GTK_WIDGET (self)) * factor;

  self->resize_id = 0;
  if (!self->can_resize || self->main == NULL || width <= 0 || height <= 0
      || (width == self->sent_width && height == self->sent_height))
    return G_SOURCE_REMOVE;
  self->sent_width = width;
  self->sent_height = height;
  spice_main_channel_update_display_enabled (self->main, 0, TRUE, FALSE);
  spice_main_channel_update_display (self->main, 0, 0, 0, width, height, FALSE);
  spice_main_channel_send_monitor_config (self->main);
  return G_SOURCE_REMOVE;
}

/* The guest follows the widget's size once it stops changing */
static void
schedule_resize (VivDisplay *self)
{
  g_clear_handle_id (&self->resize_id, g_source_remove);
  if (self->can_resize && self->scale_mode == VIV_REMOTE_DISPLAY_SCALE_FIT)
    self->resize_id = g_timeout_add (RESIZE_DELAY_MS, on_resize_timeout, self);
}

static gboolean
clipboard_has_text (GdkClipboard *clipboard)
{
  GdkContentFormats *formats = gdk_clipboard_get_formats (clipboard);

  return gdk_content_formats_contain_gtype (formats, G_TYPE_STRING)
         || gdk_content_formats_contain_mime_type (formats, "text/plain;charset=utf-8")
         || gdk_content_formats_contain_mime_type (formats, "text/plain");
}

static gboolean
clipboard_has_image (GdkClipboard *clipboard)
{
  GdkContentFormats *formats = gdk_clipboard_get_formats (clipboard);

  return gdk_content_formats_contain_gtype (formats, GDK_TYPE_TEXTURE)
         || gdk_content_formats_contain_mime_type (formats, "image/png");
}

/* Tells the guest what the app's clipboard has, text or an image (when it
 * is not the guest's own) */
static void
clipboard_offer (VivDisplay *self)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (self));
  guint32 types[2];
  guint n_types = 0;
  gboolean ours = self->clip_ours != NULL
                  && gdk_clipboard_get_content (clipboard) == self->clip_ours;

  if (!self->has_clipboard || ours)
    return;
  if (clipboard_has_text (clipboard))
    types[n_types++] = VD_AGENT_CLIPBOARD_UTF8_TEXT;
  if (clipboard_has_image (clipboard))
    types[n_types++] = VD_AGENT_CLIPBOARD_IMAGE_PNG;
  if (n_types > 0)
    {
      spice_main_channel_clipboard_selection_grab (self->main,
                                                   VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD,
                                                   types, n_types);
      self->clip_grabbed = TRUE;
    }
  else if (self->clip_grabbed)
    {
      spice_main_channel_clipboard_selection_release (self->main,
                                                      VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD);
      self->clip_grabbed = FALSE;
    }
}

static void
on_clipboard_changed (GdkClipboard *clipboard,
                      VivDisplay   *self)
{
  if (self->clip_ours != NULL && gdk_clipboard_get_content (clipboard) != self->clip_ours)
    g_clear_object (&self->clip_ours);
  clipboard_offer (self);
}

typedef struct
{
  SpiceMainChannel *main;
  guint             selection;
} ClipRequest;

static void
on_clipboard_text (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  ClipRequest *request = user_data;
  g_autofree char *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (object), result, NULL);

  /* Nothing is an answer too: the agent waits for one */
  spice_main_channel_clipboard_selection_notify (request->main, request->selection,
                                                 VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                 (const guchar *) (text != NULL ? text : ""),
                                                 text != NULL ? strlen (text) : 0);
  g_object_unref (request->main);
  g_free (request);
}

static void
on_clipboard_texture (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  ClipRequest *request = user_data;
  g_autoptr(GdkTexture) texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (object),
                                                                     result, NULL);
  g_autoptr(GBytes) png = texture != NULL ? gdk_texture_save_to_png_bytes (texture) : NULL;
  gsize size = 0;
  const guchar *data = png != NULL ? g_bytes_get_data (png, &size) : NULL;

  spice_main_channel_clipboard_selection_notify (request->main, request->selection,
                                                 VD_AGENT_CLIPBOARD_IMAGE_PNG,
                                                 data != NULL ? data : (const guchar *) "",
                                                 size);
  g_object_unref (request->main);
  g_free (request);
}

static gboolean
on_clipboard_request (SpiceMainChannel *main,
                      guint             selection,
                      guint             type,
                      VivDisplay       *self)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (self));
  ClipRequest *request;

  if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD
      || (type != VD_AGENT_CLIPBOARD_UTF8_TEXT && type != VD_AGENT_CLIPBOARD_IMAGE_PNG))
    return FALSE;
  request = g_new0 (ClipRequest, 1);
  request->main = g_object_ref (main);
  request->selection = selection;
  if (type == VD_AGENT_CLIPBOARD_IMAGE_PNG)
    gdk_clipboard_read_texture_async (clipboard, NULL, on_clipboard_texture, request);
  else
    gdk_clipboard_read_text_async (clipboard, NULL, on_clipboard_text, request);
  return TRUE;
}

static gboolean
on_clipboard_grab (SpiceMainChannel *main,
                   guint             selection,
                   gpointer          types,
                   guint             n_types,
                   VivDisplay       *self)
{
  guint32 want = 0;

  if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD)
    return FALSE;
  self->clip_grabbed = FALSE;
  /* Text if the guest has text, else an image */
  for (guint i = 0; i < n_types; i++)
    if (((const guint32 *) types)[i] == VD_AGENT_CLIPBOARD_UTF8_TEXT)
      want = VD_AGENT_CLIPBOARD_UTF8_TEXT;
    else if (((const guint32 *) types)[i] == VD_AGENT_CLIPBOARD_IMAGE_PNG && want == 0)
      want = VD_AGENT_CLIPBOARD_IMAGE_PNG;
  if (want == 0)
    return FALSE;
  /* Asked for at once: GdkClipboard wants the content when set */
  spice_main_channel_clipboard_selection_request (main, selection, want);
  return TRUE;
}

static void
on_clipboard_selection (SpiceMainChannel *main G_GNUC_UNUSED,
                        guint             selection,
                        guint             type,
                        gpointer          data,
                        guint             size,
                        VivDisplay       *self)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (self));
  g_autofree char *text = NULL;
  g_autoptr(GBytes) bytes = NULL;

  if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD)
    return;
  if (type == VD_AGENT_CLIPBOARD_IMAGE_PNG)
    {
      g_autoptr(GBytes) png = g_bytes_new (data, size);
      g_autoptr(GdkTexture) texture = gdk_texture_new_from_bytes (png, NULL);
      GValue value = G_VALUE_INIT;

      /* A guest's picture that does not decode is no picture */
      if (texture == NULL)
        return;
      g_value_init (&value, GDK_TYPE_TEXTURE);
      g_value_set_object (&value, texture);
      g_clear_object (&self->clip_ours);
      self->clip_ours = gdk_content_provider_new_union ((GdkContentProvider *[]) {
          gdk_content_provider_new_for_value (&value),
          gdk_content_provider_new_for_bytes ("image/png", png),
        }, 2);
      g_value_unset (&value);
      gdk_clipboard_set_content (clipboard, self->clip_ours);
      return;
    }
  if (type != VD_AGENT_CLIPBOARD_UTF8_TEXT)
    return;
  text = g_utf8_make_valid (data, size);
  bytes = g_bytes_new (text, strlen (text));
  g_clear_object (&self->clip_ours);
  self->clip_ours = gdk_content_provider_new_union ((GdkContentProvider *[]) {
      gdk_content_provider_new_typed (G_TYPE_STRING, text),
      gdk_content_provider_new_for_bytes ("text/plain;charset=utf-8", bytes),
    }, 2);
  gdk_clipboard_set_content (clipboard, self->clip_ours);
}

/* --- the session -------------------------------------------------------------------- */

static void
on_mouse_update (SpiceChannel *channel,
                 VivDisplay   *self)
{
  int mode = 0;

  g_object_get (channel, "mouse-mode", &mode, NULL);
  self->client_mouse = mode == SPICE_MOUSE_MODE_CLIENT;
  self->have_last = FALSE;
  apply_cursor (self);
}

static void
on_display_fd (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GObject) channel = user_data;
  g_autoptr(GError) error = NULL;
  int fd = viv_machine_open_display_finish (VIV_MACHINE (object), result, &error);
  VivDisplay *self;

  if (fd >= 0)
    {
      /* The session it was for may have ended while the helper answered:
       * linking on it would only be cut off (and spice-client-glib says
       * so as a critical) when the next session takes the server */
      if (g_object_get_data (G_OBJECT (channel), "viv-display") == NULL)
        close (fd);
      else
        spice_channel_open_fd (SPICE_CHANNEL (channel), fd);
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  /* Not cancelled: the session this was for is the widget's */
  self = g_object_get_data (G_OBJECT (channel), "viv-display");
  if (self != NULL)
    disconnect_session (self, error->message);
}

static void
on_open_fd (SpiceChannel *channel,
            gint          with_tls G_GNUC_UNUSED,
            VivDisplay   *self)
{
  if (self->machine != NULL)
    viv_machine_open_display_async (self->machine, self->cancellable, on_display_fd,
                                    g_object_ref (channel));
  else
    {
      g_queue_push_tail (&self->waiting, g_object_ref (channel));
      g_signal_emit (self, signals[NEED_FD], 0);
    }
}

static void
on_channel_event (SpiceChannel      *channel,
                  SpiceChannelEvent  event,
                  VivDisplay        *self)
{
  if (SPICE_IS_MAIN_CHANNEL (channel) && event == SPICE_CHANNEL_OPENED)
    {
      set_error (self, NULL);
      set_state (self, VIV_REMOTE_DISPLAY_STATE_CONNECTED);
      return;
    }
  if (event == SPICE_CHANNEL_CLOSED && !SPICE_IS_MAIN_CHANNEL (channel))
    return;
  if (event == SPICE_CHANNEL_CLOSED || event >= SPICE_CHANNEL_ERROR_CONNECT)
    {
      g_autofree char *why = NULL;
      const GError *error = spice_channel_get_error (channel);

      if (error != NULL)
        /* Translators: %s says why, from the SPICE library */
        why = g_strdup_printf (_("The connection to the machine’s screen was lost: %s"),
                               error->message);
      disconnect_session (self, why != NULL ? why
                                            : _("The connection to the machine’s screen was lost"));
    }
}

static void
on_channel_new (SpiceSession *session G_GNUC_UNUSED,
                SpiceChannel *channel,
                VivDisplay   *self)
{
  int id = 0;

  g_object_get (channel, "channel-id", &id, NULL);
  g_object_set_data (G_OBJECT (channel), "viv-display", self);
  g_signal_connect_object (channel, "open-fd", G_CALLBACK (on_open_fd), self, 0);
  g_signal_connect_object (channel, "channel-event", G_CALLBACK (on_channel_event), self, 0);

  if (SPICE_IS_MAIN_CHANNEL (channel))
    {
      self->main = SPICE_MAIN_CHANNEL (channel);
      g_signal_connect_object (channel, "main-mouse-update", G_CALLBACK (on_mouse_update),
                               self, 0);
      g_signal_connect_object (channel, "main-agent-update", G_CALLBACK (update_agent),
                               self, G_CONNECT_SWAPPED);
      g_signal_connect_object (channel, "main-clipboard-selection-grab",
                               G_CALLBACK (on_clipboard_grab), self, 0);
      g_signal_connect_object (channel, "main-clipboard-selection",
                               G_CALLBACK (on_clipboard_selection), self, 0);
      g_signal_connect_object (channel, "main-clipboard-selection-request",
                               G_CALLBACK (on_clipboard_request), self, 0);
      on_mouse_update (channel, self);
      return;
    }
  if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      if (id != 0 || self->display != NULL)
        return;
      self->display = SPICE_DISPLAY_CHANNEL (channel);
      g_signal_connect_object (channel, "display-primary-create",
                               G_CALLBACK (on_primary_create), self, 0);
      g_signal_connect_object (channel, "display-primary-destroy",
                               G_CALLBACK (on_primary_destroy), self, 0);
      g_signal_connect_object (channel, "display-invalidate", G_CALLBACK (on_invalidate),
                               self, 0);
    }
  else if (SPICE_IS_INPUTS_CHANNEL (channel))
    self->inputs = SPICE_INPUTS_CHANNEL (channel);
  else if (SPICE_IS_CURSOR_CHANNEL (channel))
    {
      if (id != 0)
        return;
      self->cursor_channel = SPICE_CURSOR_CHANNEL (channel);
      g_signal_connect_object (channel, "cursor-set", G_CALLBACK (on_cursor_set), self, 0);
      g_signal_connect_object (channel, "cursor-hide", G_CALLBACK (on_cursor_hide), self, 0);
      g_signal_connect_object (channel, "cursor-reset", G_CALLBACK (on_cursor_reset), self, 0);
      /* spice-server sends a cursor channel that came before the guest's
       * first picture a second CURSOR_INIT when the picture comes, which
       * spice-client-glib refuses (a critical): it waits for the picture */
      if (self->surface.width == 0)
        {
          self->cursor_pending = TRUE;
          return;
        }
    }
  else
    return;     /* no sound, USB or smartcards here */
  spice_channel_connect (channel);
}

static void
on_channel_destroy (SpiceSession *session G_GNUC_UNUSED,
                    SpiceChannel *channel,
                    VivDisplay   *self)
{
  if ((gpointer) channel == self->main)
    self->main = NULL;
  else if ((gpointer) channel == self->display)
    {
      self->display = NULL;
      set_guest_size (self, 0, 0);
    }
  else if ((gpointer) channel == self->inputs)
    self->inputs = NULL;
  else if ((gpointer) channel == self->cursor_channel)
    {
      self->cursor_channel = NULL;
      self->cursor_pending = FALSE;
    }
}

static gboolean
once (gpointer data G_GNUC_UNUSED)
{
  return G_SOURCE_REMOVE;
}

static gboolean
finish_old_session (gpointer data)
{
  SpiceSession *session = data;

  spice_session_disconnect (session);
  /* Its channels finish in the main loop after they left it: it stays
   * a while longer */
  g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, 5, once, session, g_object_unref);
  return G_SOURCE_REMOVE;
}

static void
disconnect_session (VivDisplay *self,
                    const char *error)
{
  SpiceSession *session = g_steal_pointer (&self->session);
  GList *channels;

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_queue_clear_full (&self->waiting, g_object_unref);
  g_clear_handle_id (&self->resize_id, g_source_remove);
  if (session != NULL)
    {
      g_signal_handlers_disconnect_by_data (session, self);
      channels = spice_session_get_channels (session);
      for (GList *l = channels; l != NULL; l = l->next)
        {
          g_signal_handlers_disconnect_by_data (l->data, self);
          g_object_set_data (l->data, "viv-display", NULL);
        }
      /* Each channel first, while the session is whole: the session's own
       * disconnect leaves channels reading the agent with no session
       * (tests/vmm/test-display.c) */
      for (GList *l = channels; l != NULL; l = l->next)
        spice_channel_disconnect (l->data, SPICE_CHANNEL_CLOSED);
      g_list_free (channels);
      g_timeout_add (200, finish_old_session, session);
    }
  if (self->grabbed)
    set_grabbed (self, FALSE, NULL);
  viv_held_keys_forget (&self->keys);
  self->buttons = 0;
  self->main = NULL;
  self->display = NULL;
  self->inputs = NULL;
  self->cursor_channel = NULL;
  self->cursor_pending = FALSE;
  g_clear_object (&self->guest_cursor);
  apply_cursor (self);
  set_guest_size (self, 0, 0);
  update_agent (self);
  set_error (self, error);
  set_state (self, VIV_REMOTE_DISPLAY_STATE_DISCONNECTED);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* A new session; FD for its main channel, or -1 to ask for it */
static void
connect_session (VivDisplay *self,
                 int         fd)
{
  self->cancellable = g_cancellable_new ();
  self->session = spice_session_new ();
  /* No sound, no USB: nothing here would use them */
  g_object_set (self->session, "enable-audio", FALSE, "enable-usbredir", FALSE, NULL);
  g_signal_connect_object (self->session, "channel-new", G_CALLBACK (on_channel_new), self, 0);
  g_signal_connect_object (self->session, "channel-destroy", G_CALLBACK (on_channel_destroy),
                           self, 0);
  set_error (self, NULL);
  set_state (self, VIV_REMOTE_DISPLAY_STATE_CONNECTING);
  if (!spice_session_open_fd (self->session, fd))
    disconnect_session (self, _("The connection to the machine’s screen was lost"));
}

static gboolean
machine_shows (VivMachine *machine)
{
  switch (viv_machine_get_state (machine))
    {
    case VIV_MACHINE_STATE_RUNNING:
    case VIV_MACHINE_STATE_PAUSED:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
      return TRUE;
    default:
      return FALSE;
    }
}

static void
on_machine_state (VivMachine *machine,
                  GParamSpec *pspec G_GNUC_UNUSED,
                  VivDisplay *self)
{
  VivMachineState state = viv_machine_get_state (machine);

  if (!machine_shows (machine))
    {
      /* Stopped is not an error: the page says the machine is off */
      disconnect_session (self, NULL);
      return;
    }
  if (self->session == NULL
      && (state == VIV_MACHINE_STATE_RUNNING || state == VIV_MACHINE_STATE_PAUSED))
    connect_session (self, -1);
}

/* --- VivRemoteDisplay ------------------------------------------------------------------ */

static void
viv_display_send_keys (VivRemoteDisplay *display,
                       const guint      *scancodes,
                       guint             n_scancodes)
{
  VivDisplay *self = VIV_DISPLAY (display);

  if (self->inputs == NULL)
    return;
  for (guint i = 0; i < n_scancodes; i++)
    spice_inputs_channel_key_press (self->inputs, scancodes[i]);
  for (guint i = n_scancodes; i > 0; i--)
    spice_inputs_channel_key_release (self->inputs, scancodes[i - 1]);
}

static void
viv_display_release_grab (VivRemoteDisplay *display)
{
  set_grabbed (VIV_DISPLAY (display), FALSE, NULL);
}

static GdkTexture *
viv_display_dup_screen (VivRemoteDisplay *display)
{
  VivDisplay *self = VIV_DISPLAY (display);
  SpiceDisplayPrimary primary;

  if (!get_primary (self, &primary) || primary.width <= 0 || primary.height <= 0)
    return NULL;
  return viv_display_texture_new (primary.data, primary.stride, 0, 0, primary.width,
                                  primary.height);
}

static void
viv_display_disconnect (VivRemoteDisplay *display)
{
  disconnect_session (VIV_DISPLAY (display), NULL);
}

static void
viv_display_remote_display_init (VivRemoteDisplayInterface *iface)
{
  iface->send_keys = viv_display_send_keys;
  iface->release_grab = viv_display_release_grab;
  iface->dup_screen = viv_display_dup_screen;
  iface->disconnect = viv_display_disconnect;
}

/* --- GObject --------------------------------------------------------------------------- */

static void
viv_display_dispose (GObject *object)
{
  VivDisplay *self = VIV_DISPLAY (object);

  viv_display_set_machine (self, NULL);
  if (self->session != NULL)
    disconnect_session (self, NULL);
  g_clear_handle_id (&self->draw_id, g_source_remove);
  g_signal_handlers_disconnect_by_data (gtk_widget_get_clipboard (GTK_WIDGET (self)), self);
  g_clear_object (&self->clip_ours);
  g_clear_object (&self->none_cursor);
  g_clear_object (&self->guest_cursor);
  viv_display_surface_clear (&self->surface);

  G_OBJECT_CLASS (viv_display_parent_class)->dispose (object);
}

static void
viv_display_finalize (GObject *object)
{
  VivDisplay *self = VIV_DISPLAY (object);

  g_free (self->error);

  G_OBJECT_CLASS (viv_display_parent_class)->finalize (object);
}

static void
viv_display_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  VivDisplay *self = VIV_DISPLAY (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      g_value_set_object (value, self->machine);
      break;
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
      g_value_set_boolean (value, self->can_resize);
      break;
    case PROP_HAS_CLIPBOARD:
      g_value_set_boolean (value, self->has_clipboard);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_display_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  VivDisplay *self = VIV_DISPLAY (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      viv_display_set_machine (self, g_value_get_object (value));
      break;
    case PROP_SCALE_MODE:
      if (self->scale_mode != (VivRemoteDisplayScale) g_value_get_enum (value))
        {
          self->scale_mode = g_value_get_enum (value);
          gtk_widget_queue_resize (GTK_WIDGET (self));
          schedule_resize (self);
          g_object_notify_by_pspec (object, properties[PROP_SCALE_MODE]);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_display_class_init (VivDisplayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_display_dispose;
  object_class->finalize = viv_display_finalize;
  object_class->get_property = viv_display_get_property;
  object_class->set_property = viv_display_set_property;

  widget_class->snapshot = viv_display_snapshot;
  widget_class->measure = viv_display_measure;
  widget_class->size_allocate = viv_display_size_allocate;

  properties[PROP_MACHINE] =
    g_param_spec_object ("machine", NULL, NULL, VIV_TYPE_MACHINE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (object_class, PROP_MACHINE, properties[PROP_MACHINE]);

  /**
   * VivDisplay::need-fd:
   *
   * Without a machine: a SPICE channel waits for its socket; answer with
   * viv_display_open_fd(), now or later.
   */
  signals[NEED_FD] = g_signal_new ("need-fd", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 0);

#define OVERRIDE(id, name) \
  g_object_class_override_property (object_class, id, name); \
  properties[id] = g_object_class_find_property (object_class, name)
  OVERRIDE (PROP_STATE, "state");
  OVERRIDE (PROP_ERROR, "error");
  OVERRIDE (PROP_GRABBED, "grabbed");
  OVERRIDE (PROP_SCALE_MODE, "scale-mode");
  OVERRIDE (PROP_GUEST_WIDTH, "guest-width");
  OVERRIDE (PROP_GUEST_HEIGHT, "guest-height");
  OVERRIDE (PROP_CAN_RESIZE, "can-resize");
  OVERRIDE (PROP_HAS_CLIPBOARD, "has-clipboard");
#undef OVERRIDE

  gtk_widget_class_set_css_name (widget_class, "viv-display");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
viv_display_init (VivDisplay *self)
{
  GtkEventController *controller;

  g_queue_init (&self->waiting);
  self->none_cursor = gdk_cursor_new_from_name ("none", NULL);

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_focus_on_click (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);

  /* Raw events, in the capture phase: every key goes to the guest before
   * the window's shortcuts see it, and a button's release comes even after
   * a drag (a click gesture would give up) */
  controller = gtk_event_controller_legacy_new ();
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect (controller, "event", G_CALLBACK (on_event), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);

  controller = gtk_event_controller_focus_new ();
  g_signal_connect (controller, "leave", G_CALLBACK (on_focus_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);

  g_signal_connect (gtk_widget_get_clipboard (GTK_WIDGET (self)), "changed",
                    G_CALLBACK (on_clipboard_changed), self);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Machine screen"),
                                  -1);
}

/* --- public -------------------------------------------------------------------------- */

GtkWidget *
viv_display_new (void)
{
  return g_object_new (VIV_TYPE_DISPLAY, NULL);
}

/**
 * viv_display_set_machine:
 * @machine: (nullable): the machine to show
 *
 * Shows @machine's screen while it runs: connects when it runs, asking it
 * for a socket per SPICE channel, disconnects when it stops.
 */
void
viv_display_set_machine (VivDisplay *self,
                         VivMachine *machine)
{
  g_return_if_fail (VIV_IS_DISPLAY (self));
  g_return_if_fail (machine == NULL || VIV_IS_MACHINE (machine));

  if (self->machine == machine)
    return;
  if (self->machine != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->machine, self);
      disconnect_session (self, NULL);
    }
  g_set_object (&self->machine, machine);
  if (machine != NULL)
    {
      g_signal_connect_object (machine, "notify::state", G_CALLBACK (on_machine_state), self, 0);
      on_machine_state (machine, NULL, self);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MACHINE]);
}

VivMachine *
viv_display_get_machine (VivDisplay *self)
{
  g_return_val_if_fail (VIV_IS_DISPLAY (self), NULL);
  return self->machine;
}

/**
 * viv_display_open_fd:
 * @fd: a socket connected to a SPICE server, which the widget takes
 *
 * Without a machine: the first call starts a session on @fd (its main
 * channel); each channel the server then offers asks for a socket of its
 * own with VivDisplay::need-fd, and the next calls answer them in order.
 */
void
viv_display_open_fd (VivDisplay *self,
                     int         fd)
{
  g_autoptr(GObject) channel = NULL;

  g_return_if_fail (VIV_IS_DISPLAY (self));
  g_return_if_fail (fd >= 0);

  channel = g_queue_pop_head (&self->waiting);
  if (channel != NULL)
    spice_channel_open_fd (SPICE_CHANNEL (channel), fd);
  else if (self->session == NULL)
    connect_session (self, fd);
  else
    {
      g_warning ("viv_display_open_fd: no channel waits for a socket");
      close (fd);
    }
}
