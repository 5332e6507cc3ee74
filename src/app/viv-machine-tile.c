/* viv-machine-tile.c: one machine in the collection
 *
 * A tile shows a machine's thumbnail (or, until it has one, its OS's logo or
 * a computer on a neutral background), its name, its OS and its state, with
 * a badge while it runs or is paused and an error style when it crashed or
 * cannot be used. The thumbnail is the helper's thumbnail.png, which
 * VivMachine reloads when its folder's monitor sees it change (no timer
 * here); while the machine does not run it is its last screen, dimmed.
 * The collection recycles tiles: set_machine() rebinds one.
 * A compact tile is a row of the list view.
 *
 * Right click, a long press, or the Menu key (through the window) open its
 * context menu; the menu's items are the window's machine actions, with the
 * machine's UUID as their target.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-machine-tile"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-machine-tile.h"
#include "viv-os-catalog.h"
#include "viv-os-logo.h"
#include "viv-shortcuts.h"

#define THUMBNAIL_WIDTH          192
#define THUMBNAIL_HEIGHT         144
#define COMPACT_THUMBNAIL_WIDTH  64
#define COMPACT_THUMBNAIL_HEIGHT 48

struct _VivMachineTile
{
  GtkWidget   parent_instance;

  VivMachine *machine;
  gboolean    compact;
  GtkPopover *menu;       /* made on first use */
  GBytes     *thumbnail_png;  /* the machine's thumbnail, as read, and its picture */
  GdkTexture *thumbnail;

  /* template children */
  GtkBox     *box;
  GtkOverlay *thumbnail_frame;
  GtkImage   *placeholder;
  GtkPicture *picture;
  GtkImage   *badge;
  GtkBox     *labels;
  GtkLabel   *name_label;
  GtkLabel   *os_label;
  GtkLabel   *state_label;
  GtkLabel   *end_state_label;   /* the state, at the end of a compact tile */
};

G_DEFINE_FINAL_TYPE (VivMachineTile, viv_machine_tile, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MACHINE,
  PROP_COMPACT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* --- the context menu ---------------------------------------------------------- */

static void
append_item (GMenu      *section,
             const char *label,
             const char *action,
             const char *uuid,
             const char *accel)
{
  g_autoptr(GMenuItem) item = g_menu_item_new (label, NULL);

  g_menu_item_set_action_and_target_value (item, action, g_variant_new_string (uuid));
  if (accel != NULL)
    g_menu_item_set_attribute (item, "accel", "s", accel);
  g_menu_append_item (section, item);
}

/**
 * viv_machine_menu_new:
 * @machine: a machine
 * @with_open: whether to offer "Open" first
 *
 * The machine's actions that make sense in its state, as window actions
 * with its UUID as the target.
 *
 * Returns: (transfer full): the menu
 */
GMenuModel *
viv_machine_menu_new (VivMachine *machine,
                      gboolean    with_open)
{
  g_autoptr(GMenu) menu = g_menu_new ();
  g_autoptr(GMenu) power = g_menu_new ();
  g_autoptr(GMenu) edit = g_menu_new ();
  g_autoptr(GMenu) remove = g_menu_new ();
  const char *uuid;
  VivMachineState state;

  g_return_val_if_fail (VIV_IS_MACHINE (machine), NULL);

  uuid = viv_machine_get_uuid (machine);
  state = viv_machine_get_state (machine);

  if (with_open)
    append_item (power, _("_Open"), "win.open-machine", uuid, "Return");

  switch (state)
    {
    case VIV_MACHINE_STATE_STOPPED:
    case VIV_MACHINE_STATE_CRASHED:
      if (viv_machine_can_start_yet (machine))
        append_item (power, _("_Start"), "win.start-machine", uuid, VIV_ACCEL_START);
      break;

    case VIV_MACHINE_STATE_RUNNING:
      append_item (power, _("_Pause"), "win.pause-machine", uuid, VIV_ACCEL_PAUSE);
      append_item (power, _("Shut _Down"), "win.shutdown-machine", uuid, VIV_ACCEL_SHUTDOWN);
      append_item (power, _("_Reset"), "win.reset-machine", uuid, VIV_ACCEL_RESET);
      append_item (power, _("_Force Off"), "win.force-off-machine", uuid, VIV_ACCEL_FORCE_OFF);
      break;

    case VIV_MACHINE_STATE_PAUSED:
      append_item (power, _("Res_ume"), "win.resume-machine", uuid, VIV_ACCEL_PAUSE);
      append_item (power, _("_Force Off"), "win.force-off-machine", uuid, VIV_ACCEL_FORCE_OFF);
      break;

    case VIV_MACHINE_STATE_STARTING:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
    case VIV_MACHINE_STATE_UNREACHABLE:
      append_item (power, _("_Force Off"), "win.force-off-machine", uuid, VIV_ACCEL_FORCE_OFF);
      break;

    case VIV_MACHINE_STATE_BROKEN:
    default:
      break;
    }

  if (state != VIV_MACHINE_STATE_BROKEN)
    {
      append_item (edit, _("Re_name…"), "win.rename-machine", uuid, VIV_ACCEL_RENAME);
      append_item (edit, _("P_references"), "win.machine-preferences", uuid,
                   VIV_ACCEL_PREFERENCES);
    }
  append_item (edit, _("Show _Log"), "win.show-machine-log", uuid, VIV_ACCEL_SHOW_LOG);
  append_item (remove, _("_Delete"), "win.delete-machine", uuid, VIV_ACCEL_DELETE);

  g_menu_append_section (menu, NULL, G_MENU_MODEL (power));
  g_menu_append_section (menu, NULL, G_MENU_MODEL (edit));
  g_menu_append_section (menu, NULL, G_MENU_MODEL (remove));
  return G_MENU_MODEL (g_steal_pointer (&menu));
}

/**
 * viv_machine_tile_popup_menu:
 * @self: a tile with a machine
 * @x: where to point, in the tile's coordinates; negative: at the tile
 * @y: the same, vertically
 *
 * Opens the tile's context menu, made for the machine's state now.
 */
void
viv_machine_tile_popup_menu (VivMachineTile *self,
                             double          x,
                             double          y)
{
  g_autoptr(GMenuModel) model = NULL;

  g_return_if_fail (VIV_IS_MACHINE_TILE (self));

  if (self->machine == NULL)
    return;

  model = viv_machine_menu_new (self->machine, TRUE);
  if (self->menu == NULL)
    {
      self->menu = GTK_POPOVER (gtk_popover_menu_new_from_model (model));
      gtk_widget_set_parent (GTK_WIDGET (self->menu), GTK_WIDGET (self));
      gtk_popover_set_has_arrow (self->menu, FALSE);
      gtk_widget_set_halign (GTK_WIDGET (self->menu), GTK_ALIGN_START);
    }
  else
    {
      gtk_popover_menu_set_menu_model (GTK_POPOVER_MENU (self->menu), model);
    }

  if (x >= 0 && y >= 0)
    {
      gtk_popover_set_pointing_to (self->menu, &(GdkRectangle) { (int) x, (int) y, 1, 1 });
    }
  else
    {
      int width = gtk_widget_get_width (GTK_WIDGET (self));
      int height = gtk_widget_get_height (GTK_WIDGET (self));

      gtk_popover_set_pointing_to (self->menu,
                                   &(GdkRectangle) { width / 2, height / 2, 1, 1 });
    }
  gtk_popover_popup (self->menu);
}

/* (nullable): the context menu, once it was opened */
GtkPopover *
viv_machine_tile_get_menu (VivMachineTile *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_TILE (self), NULL);

  return self->menu;
}

static void
on_secondary_click (GtkGestureClick *gesture,
                    int              n_press G_GNUC_UNUSED,
                    double           x,
                    double           y,
                    VivMachineTile  *self)
{
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  viv_machine_tile_popup_menu (self, x, y);
}

static void
on_long_press (GtkGestureLongPress *gesture,
               double               x,
               double               y,
               VivMachineTile      *self)
{
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  viv_machine_tile_popup_menu (self, x, y);
}

/* --- showing the machine ---------------------------------------------------------- */

static void
update_layout (VivMachineTile *self)
{
  int width = self->compact ? COMPACT_THUMBNAIL_WIDTH : THUMBNAIL_WIDTH;
  int height = self->compact ? COMPACT_THUMBNAIL_HEIGHT : THUMBNAIL_HEIGHT;
  float xalign = self->compact ? 0.0f : 0.5f;

  gtk_orientable_set_orientation (GTK_ORIENTABLE (self->box),
                                  self->compact ? GTK_ORIENTATION_HORIZONTAL
                                                : GTK_ORIENTATION_VERTICAL);
  gtk_box_set_spacing (self->box, self->compact ? 12 : 6);
  gtk_widget_set_size_request (GTK_WIDGET (self->thumbnail_frame), width, height);
  gtk_image_set_pixel_size (self->placeholder, self->compact ? 24 : 64);
  gtk_image_set_pixel_size (self->badge, self->compact ? 12 : 16);
  gtk_widget_set_margin_end (GTK_WIDGET (self->badge), self->compact ? 3 : 6);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->badge), self->compact ? 3 : 6);
  gtk_label_set_xalign (self->name_label, xalign);
  gtk_label_set_xalign (self->os_label, xalign);
  gtk_label_set_xalign (self->state_label, xalign);
  gtk_widget_set_hexpand (GTK_WIDGET (self->labels), self->compact);
  gtk_widget_set_size_request (GTK_WIDGET (self->labels), self->compact ? -1 : width, -1);
  /* A row has the state at its end; a tile, under the name */
  gtk_widget_set_visible (GTK_WIDGET (self->state_label), !self->compact);
  gtk_widget_set_visible (GTK_WIDGET (self->end_state_label), self->compact);

  if (self->compact)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self), "compact");
      gtk_widget_add_css_class (GTK_WIDGET (self->thumbnail_frame), "compact");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self), "compact");
      gtk_widget_remove_css_class (GTK_WIDGET (self->thumbnail_frame), "compact");
    }
}

static void
set_css_class (GtkWidget  *widget,
               const char *css_class,
               gboolean    set)
{
  if (set)
    gtk_widget_add_css_class (widget, css_class);
  else
    gtk_widget_remove_css_class (widget, css_class);
}

static const char *
problem_of (VivMachine *machine)
{
  switch (viv_machine_get_state (machine))
    {
    case VIV_MACHINE_STATE_BROKEN:
      return viv_machine_get_broken_reason (machine);
    case VIV_MACHINE_STATE_CRASHED:
      return viv_machine_get_error_message (machine);
    case VIV_MACHINE_STATE_STOPPED:
      return viv_machine_get_cannot_start_reason (machine);
    case VIV_MACHINE_STATE_UNREACHABLE:
      return _("Its helper process is running but does not answer. Force it off to use "
               "the machine again.");
    case VIV_MACHINE_STATE_STARTING:
    case VIV_MACHINE_STATE_RUNNING:
    case VIV_MACHINE_STATE_PAUSED:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
    default:
      return NULL;
    }
}

static void
update_os (VivMachineTile *self)
{
  VivOsCatalog *catalog = viv_os_catalog_get_default ();
  const char *os_id = viv_machine_get_os_id (self->machine);
  const char *os_name = viv_os_catalog_get_name (catalog, os_id);
  GdkPaintable *logo = viv_os_logo_get_paintable (viv_os_catalog_get_logo (catalog, os_id));

  /* Tiles keep a line for it, so that a row of tiles lines up */
  gtk_label_set_label (self->os_label, os_name);
  gtk_widget_set_visible (GTK_WIDGET (self->os_label), os_name != NULL || !self->compact);

  if (viv_machine_get_state (self->machine) == VIV_MACHINE_STATE_BROKEN)
    gtk_image_set_from_icon_name (self->placeholder, "computer-fail-symbolic");
  else if (logo != NULL)
    gtk_image_set_from_paintable (self->placeholder, logo);
  else
    gtk_image_set_from_icon_name (self->placeholder, "computer-symbolic");
  set_css_class (GTK_WIDGET (self->placeholder), "logo", logo != NULL);
}

/* The machine's thumbnail.png as a picture, decoded when it changes */
static void
update_thumbnail (VivMachineTile *self)
{
  GBytes *png = self->machine != NULL ? viv_machine_get_thumbnail (self->machine) : NULL;
  g_autoptr(GError) error = NULL;

  if (png == self->thumbnail_png)
    return;
  g_clear_pointer (&self->thumbnail_png, g_bytes_unref);
  g_clear_object (&self->thumbnail);
  if (png == NULL)
    return;
  self->thumbnail_png = g_bytes_ref (png);
  self->thumbnail = gdk_texture_new_from_bytes (png, &error);
  if (self->thumbnail == NULL)
    g_debug ("cannot load the thumbnail of %s: %s", viv_machine_get_uuid (self->machine),
             error->message);
}

/* Whether the machine's screen is what its thumbnail shows: a helper runs
 * it and draws. Paused counts: its screen is still there, as it was, and
 * the badge says it is paused. Otherwise the thumbnail is its last screen
 * and is shown dimmed. */
static gboolean
shows_live_screen (VivMachineState state)
{
  switch (state)
    {
    case VIV_MACHINE_STATE_RUNNING:
    case VIV_MACHINE_STATE_PAUSED:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
      return TRUE;
    case VIV_MACHINE_STATE_STOPPED:
    case VIV_MACHINE_STATE_STARTING:
    case VIV_MACHINE_STATE_CRASHED:
    case VIV_MACHINE_STATE_BROKEN:
    case VIV_MACHINE_STATE_UNREACHABLE:
    default:
      return FALSE;
    }
}

static void
update (VivMachineTile *self)
{
  g_autofree char *accessible = NULL;
  VivMachineState state;
  const char *badge_icon = NULL;
  const char *badge_class = NULL;
  const char *problem;
  const char *state_text;
  gboolean can_start;
  gboolean error;

  if (self->machine == NULL)
    {
      gtk_label_set_label (self->name_label, NULL);
      gtk_label_set_label (self->state_label, NULL);
      gtk_label_set_label (self->end_state_label, NULL);
      gtk_widget_set_visible (GTK_WIDGET (self->badge), FALSE);
      update_thumbnail (self);
      gtk_picture_set_paintable (self->picture, NULL);
      gtk_widget_remove_css_class (GTK_WIDGET (self->picture), "dimmed");
      gtk_widget_set_visible (GTK_WIDGET (self->picture), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->placeholder), TRUE);
      return;
    }

  state = viv_machine_get_state (self->machine);
  error = state == VIV_MACHINE_STATE_CRASHED || state == VIV_MACHINE_STATE_BROKEN ||
          state == VIV_MACHINE_STATE_UNREACHABLE;
  /* "Off" would promise a Start that this version cannot do */
  can_start = state != VIV_MACHINE_STATE_STOPPED || viv_machine_can_start_yet (self->machine);
  state_text = can_start ? viv_machine_get_state_label (self->machine) : _("Can’t Start Yet");

  gtk_label_set_label (self->name_label, viv_machine_get_name (self->machine));
  for (guint i = 0; i < 2; i++)
    {
      GtkWidget *label = GTK_WIDGET (i == 0 ? self->state_label : self->end_state_label);

      gtk_label_set_label (GTK_LABEL (label), state_text);
      set_css_class (label, "error", error);
      set_css_class (label, "success", state == VIV_MACHINE_STATE_RUNNING);
      set_css_class (label, "warning", state == VIV_MACHINE_STATE_PAUSED || !can_start);
      set_css_class (label, "dim-label", state == VIV_MACHINE_STATE_STOPPED && can_start);
    }
  set_css_class (GTK_WIDGET (self->thumbnail_frame), "error", error);
  update_os (self);

  update_thumbnail (self);
  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (self->thumbnail));
  set_css_class (GTK_WIDGET (self->picture), "dimmed", !shows_live_screen (state));
  gtk_widget_set_visible (GTK_WIDGET (self->picture), self->thumbnail != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->placeholder), self->thumbnail == NULL);

  switch (state)
    {
    case VIV_MACHINE_STATE_RUNNING:
      badge_icon = "media-playback-start-symbolic";
      badge_class = "running";
      break;
    case VIV_MACHINE_STATE_PAUSED:
      badge_icon = "media-playback-pause-symbolic";
      badge_class = "paused";
      break;
    case VIV_MACHINE_STATE_CRASHED:
    case VIV_MACHINE_STATE_BROKEN:
    case VIV_MACHINE_STATE_UNREACHABLE:
      badge_icon = "dialog-warning-symbolic";
      badge_class = "error";
      break;
    case VIV_MACHINE_STATE_STOPPED:
    case VIV_MACHINE_STATE_STARTING:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
    default:
      break;
    }
  /* A row says it in words, at its end */
  gtk_widget_set_visible (GTK_WIDGET (self->badge), badge_icon != NULL && !self->compact);
  if (badge_icon != NULL)
    {
      gtk_image_set_from_icon_name (self->badge, badge_icon);
      gtk_widget_set_css_classes (GTK_WIDGET (self->badge),
                                  (const char *[]) { "badge", badge_class, NULL });
    }

  problem = problem_of (self->machine);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self), problem);

  /* Translators: how a screen reader names a machine's tile: its name, then its state */
  accessible = g_strdup_printf (_("%s, %s"), viv_machine_get_name (self->machine), state_text);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, accessible,
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  problem != NULL ? problem : "",
                                  -1);
}

static void
on_machine_notify (VivMachineTile *self)
{
  update (self);
}

static void
on_os_catalog_loaded (VivMachineTile *self)
{
  if (self->machine != NULL)
    update_os (self);
}

/* --- public API ------------------------------------------------------------------ */

GtkWidget *
viv_machine_tile_new (gboolean compact)
{
  return g_object_new (VIV_TYPE_MACHINE_TILE,
                       "compact", compact,
                       NULL);
}

VivMachine *
viv_machine_tile_get_machine (VivMachineTile *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_TILE (self), NULL);

  return self->machine;
}

void
viv_machine_tile_set_machine (VivMachineTile *self,
                              VivMachine     *machine)
{
  static const char *watched[] = {
    "notify::name", "notify::os-id", "notify::state", "notify::thumbnail",
    "notify::broken-reason", "notify::error-message", "notify::config",
  };

  g_return_if_fail (VIV_IS_MACHINE_TILE (self));
  g_return_if_fail (machine == NULL || VIV_IS_MACHINE (machine));

  if (self->machine == machine)
    return;

  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  if (self->menu != NULL)
    gtk_popover_popdown (self->menu);
  g_set_object (&self->machine, machine);
  if (machine != NULL)
    for (guint i = 0; i < G_N_ELEMENTS (watched); i++)
      g_signal_connect_swapped (machine, watched[i], G_CALLBACK (on_machine_notify), self);

  update (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MACHINE]);
}

gboolean
viv_machine_tile_get_compact (VivMachineTile *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_TILE (self), FALSE);

  return self->compact;
}

/* The state as the tile shows it */
const char *
viv_machine_tile_get_state_text (VivMachineTile *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_TILE (self), NULL);

  return gtk_label_get_label (self->state_label);
}

/* --- GtkWidget: one child, and the menu popover ---------------------------------------- */

static void
viv_machine_tile_measure (GtkWidget      *widget,
                          GtkOrientation  orientation,
                          int             for_size,
                          int            *minimum,
                          int            *natural,
                          int            *minimum_baseline,
                          int            *natural_baseline)
{
  VivMachineTile *self = VIV_MACHINE_TILE (widget);

  gtk_widget_measure (GTK_WIDGET (self->box), orientation, for_size,
                      minimum, natural, minimum_baseline, natural_baseline);
}

static void
viv_machine_tile_size_allocate (GtkWidget *widget,
                                int        width,
                                int        height,
                                int        baseline)
{
  VivMachineTile *self = VIV_MACHINE_TILE (widget);

  gtk_widget_allocate (GTK_WIDGET (self->box), width, height, baseline, NULL);
  if (self->menu != NULL)
    gtk_popover_present (self->menu);
}

/* --- GObject ------------------------------------------------------------------------- */

static void
viv_machine_tile_dispose (GObject *object)
{
  VivMachineTile *self = VIV_MACHINE_TILE (object);

  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  g_clear_object (&self->machine);
  g_clear_pointer (&self->thumbnail_png, g_bytes_unref);
  g_clear_object (&self->thumbnail);
  g_clear_pointer ((GtkWidget **) &self->menu, gtk_widget_unparent);

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_MACHINE_TILE);

  G_OBJECT_CLASS (viv_machine_tile_parent_class)->dispose (object);
}

static void
viv_machine_tile_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  VivMachineTile *self = VIV_MACHINE_TILE (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      g_value_set_object (value, self->machine);
      break;

    case PROP_COMPACT:
      g_value_set_boolean (value, self->compact);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_machine_tile_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  VivMachineTile *self = VIV_MACHINE_TILE (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      viv_machine_tile_set_machine (self, g_value_get_object (value));
      break;

    case PROP_COMPACT:
      self->compact = g_value_get_boolean (value);
      update_layout (self);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_machine_tile_class_init (VivMachineTileClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_machine_tile_dispose;
  object_class->get_property = viv_machine_tile_get_property;
  object_class->set_property = viv_machine_tile_set_property;

  widget_class->measure = viv_machine_tile_measure;
  widget_class->size_allocate = viv_machine_tile_size_allocate;

  properties[PROP_MACHINE] =
    g_param_spec_object ("machine", NULL, NULL,
                         VIV_TYPE_MACHINE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COMPACT] =
    g_param_spec_boolean ("compact", NULL, NULL,
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-machine-tile.ui");
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, box);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, thumbnail_frame);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, placeholder);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, picture);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, badge);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, labels);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, name_label);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, os_label);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, state_label);
  gtk_widget_class_bind_template_child (widget_class, VivMachineTile, end_state_label);

  gtk_widget_class_set_css_name (widget_class, "machinetile");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
viv_machine_tile_init (VivMachineTile *self)
{
  GtkGesture *click;
  GtkGesture *long_press;

  gtk_widget_init_template (GTK_WIDGET (self));

  click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (on_secondary_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  long_press = gtk_gesture_long_press_new ();
  gtk_gesture_single_set_touch_only (GTK_GESTURE_SINGLE (long_press), TRUE);
  g_signal_connect (long_press, "pressed", G_CALLBACK (on_long_press), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (long_press));

  g_signal_connect_object (viv_os_catalog_get_default (), "notify::loaded",
                           G_CALLBACK (on_os_catalog_loaded), self, G_CONNECT_SWAPPED);

  update_layout (self);
}
