/* viv-snapshot-timeline.c: a machine's snapshots, left to right in time
 *
 * Each snapshot is a card (its thumbnail, name and age) in a grid: one
 * column per snapshot, oldest first, so that time runs left to right. A
 * snapshot's first child goes on in its row; another child, taken after
 * reverting to it, starts a branch on a row of its own, joined to its
 * parent by a line. "You are here" follows the current snapshot (the
 * parent of the next one taken), in its row, or on a new row when the
 * current one has children already; without one it stands at the start.
 *
 * Cards take the keyboard focus: the arrows move between them (Left and
 * Right in time, Up and Down between rows), Enter, Space, the Menu key and
 * Shift+F10 open a card's menu, as a right-click or its menu button do.
 * The menu's items are the machine page's actions (machine.revert-snapshot,
 * machine.rename-snapshot, machine.delete-snapshot, with the snapshot's id),
 * found up the widget tree. The widget keeps its own copy of what it
 * shows: the index it was given may go away.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-snapshot-timeline"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-snapshot-timeline.h"

#define THUMB_WIDTH   128
#define THUMB_HEIGHT  72
#define LINE_WIDTH    2
#define AGE_REFRESH_S 60

typedef struct
{
  char      *id;
  char      *name;
  char      *parent;      /* the nearest shown ancestor's id, or NULL */
  gint64     created;
  gboolean   memory;
  int        column;
  int        row;
  GtkWidget *card;
} Node;

static void
node_free (Node *node)
{
  g_free (node->id);
  g_free (node->name);
  g_free (node->parent);
  g_free (node);
}

struct _VivSnapshotTimeline
{
  GtkWidget     parent_instance;

  GtkStack     *stack;
  AdwStatusPage *error_page;
  GtkWidget    *canvas;
  GPtrArray    *nodes;        /* of Node *, oldest first */
  GHashTable   *by_id;        /* id → Node * (in nodes) */
  char         *current;      /* the shown current snapshot, or NULL */
  GtkWidget    *here;
  int           here_column;
  int           here_row;
  char         *selected;
  char         *machine_dir;
  GStrv         hidden;
  GCancellable *thumbnails;   /* the thumbnails being read, for these cards */
  guint         age_id;

  /* the last index given, kept to lay it out again with other hidden ids */
  GPtrArray    *source;       /* of Node *, unlaid */
  char         *source_current;
  char         *error_message;
};

G_DEFINE_FINAL_TYPE (VivSnapshotTimeline, viv_snapshot_timeline, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_SELECTED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* --- the canvas: the cards in a grid, and the lines between them --------------- */

#define VIV_TYPE_TIMELINE_CANVAS (viv_timeline_canvas_get_type ())
G_DECLARE_FINAL_TYPE (VivTimelineCanvas, viv_timeline_canvas, VIV, TIMELINE_CANVAS, GtkWidget)

struct _VivTimelineCanvas
{
  GtkWidget            parent_instance;
  VivSnapshotTimeline *timeline;   /* not a reference: it owns us */
};

G_DEFINE_FINAL_TYPE (VivTimelineCanvas, viv_timeline_canvas, GTK_TYPE_WIDGET)

static void
line_color (GtkWidget *widget,
            GdkRGBA   *color)
{
#if GTK_CHECK_VERSION (4, 10, 0)
  gtk_widget_get_color (widget, color);
#else
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), color);
#endif
  color->alpha *= 0.35f;
}

static void
append_rect (GtkSnapshot   *snapshot,
             const GdkRGBA *color,
             float          x0,
             float          y0,
             float          x1,
             float          y1)
{
  graphene_rect_t rect;

  graphene_rect_init (&rect, MIN (x0, x1), MIN (y0, y1), ABS (x1 - x0), ABS (y1 - y0));
  gtk_snapshot_append_color (snapshot, color, &rect);
}

/* From FROM's right edge to TO's left edge: across, then down to TO's row
 * half-way in the gap, then across again */
static void
append_link (GtkWidget     *canvas,
             GtkSnapshot   *snapshot,
             const GdkRGBA *color,
             GtkWidget     *from,
             GtkWidget     *to)
{
  graphene_rect_t a, b;
  float x0, y0, x1, y1, xm;
  const float half = LINE_WIDTH / 2.0f;

  if (!gtk_widget_compute_bounds (from, canvas, &a) || !gtk_widget_compute_bounds (to, canvas, &b))
    return;
  x0 = a.origin.x + a.size.width;
  y0 = a.origin.y + a.size.height / 2;
  x1 = b.origin.x;
  y1 = b.origin.y + b.size.height / 2;
  if (G_APPROX_VALUE (y0, y1, 0.5f))
    {
      append_rect (snapshot, color, x0, y0 - half, x1, y0 + half);
      return;
    }
  /* a branch: it leaves its parent's card from below, and goes across to
   * the child's */
  xm = a.origin.x + MIN (a.size.width / 2, 24.0f);
  y0 = a.origin.y + a.size.height;
  append_rect (snapshot, color, xm - half, y0, xm + half, y1 + half);
  append_rect (snapshot, color, xm - half, y1 - half, x1, y1 + half);
}

static void
viv_timeline_canvas_snapshot (GtkWidget   *widget,
                              GtkSnapshot *snapshot)
{
  VivTimelineCanvas *self = VIV_TIMELINE_CANVAS (widget);
  VivSnapshotTimeline *timeline = self->timeline;
  GdkRGBA color;

  line_color (widget, &color);
  if (timeline != NULL && timeline->nodes != NULL)
    {
      for (guint i = 0; i < timeline->nodes->len; i++)
        {
          Node *node = timeline->nodes->pdata[i];
          Node *parent = node->parent != NULL ? g_hash_table_lookup (timeline->by_id, node->parent)
                                              : NULL;

          if (parent != NULL)
            append_link (widget, snapshot, &color, parent->card, node->card);
        }
      if (timeline->here != NULL && timeline->current != NULL)
        {
          Node *current = g_hash_table_lookup (timeline->by_id, timeline->current);

          if (current != NULL)
            append_link (widget, snapshot, &color, current->card, timeline->here);
        }
    }

  GTK_WIDGET_CLASS (viv_timeline_canvas_parent_class)->snapshot (widget, snapshot);
}

static void
viv_timeline_canvas_dispose (GObject *object)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (object))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (viv_timeline_canvas_parent_class)->dispose (object);
}

static void
viv_timeline_canvas_class_init (VivTimelineCanvasClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = viv_timeline_canvas_dispose;
  widget_class->snapshot = viv_timeline_canvas_snapshot;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_GRID_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "snapshottimeline");
}

static void
viv_timeline_canvas_init (VivTimelineCanvas *self)
{
  GtkGridLayout *layout = GTK_GRID_LAYOUT (gtk_widget_get_layout_manager (GTK_WIDGET (self)));

  gtk_grid_layout_set_column_spacing (layout, 32);
  gtk_grid_layout_set_row_spacing (layout, 16);
  gtk_widget_set_halign (GTK_WIDGET (self), GTK_ALIGN_START);
  gtk_widget_set_valign (GTK_WIDGET (self), GTK_ALIGN_START);
}

static void
place (GtkWidget *canvas,
       GtkWidget *child,
       int        column,
       int        row)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (canvas);
  GtkGridLayoutChild *layout_child;

  gtk_widget_set_parent (child, canvas);
  layout_child = GTK_GRID_LAYOUT_CHILD (gtk_layout_manager_get_layout_child (layout, child));
  gtk_grid_layout_child_set_column (layout_child, column);
  gtk_grid_layout_child_set_row (layout_child, row);
}

/* --- ages --------------------------------------------------------------------------- */

/* "2 hours ago", for a card */
static char *
age_text (gint64 created)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GDateTime) then = g_date_time_new_from_unix_local (created);
  GTimeSpan span;
  gint64 n;

  if (then == NULL)
    return g_strdup ("");
  span = g_date_time_difference (now, then);
  if (span < G_TIME_SPAN_MINUTE)
    return g_strdup (_("Just now"));
  if (span < G_TIME_SPAN_HOUR)
    {
      n = span / G_TIME_SPAN_MINUTE;
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d minute ago", "%d minutes ago",
                                           (gulong) n), (int) n);
    }
  if (span < G_TIME_SPAN_DAY)
    {
      n = span / G_TIME_SPAN_HOUR;
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d hour ago", "%d hours ago",
                                           (gulong) n), (int) n);
    }
  if (span < 30 * G_TIME_SPAN_DAY)
    {
      n = span / G_TIME_SPAN_DAY;
      if (n == 1)
        return g_strdup (_("Yesterday"));
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d day ago", "%d days ago",
                                           (gulong) n), (int) n);
    }
  /* Translators: a snapshot's date, long ago; see g_date_time_format() */
  return g_date_time_format (then, _("%e %B %Y"));
}

/* --- a card ------------------------------------------------------------------------- */

static void move_focus (VivSnapshotTimeline *self,
                        Node                *from,
                        guint                keyval);

static Node *
card_node (GtkWidget *card)
{
  return g_object_get_data (G_OBJECT (card), "viv-node");
}

static VivSnapshotTimeline *
card_timeline (GtkWidget *card)
{
  return VIV_SNAPSHOT_TIMELINE (gtk_widget_get_ancestor (card, VIV_TYPE_SNAPSHOT_TIMELINE));
}

static void
popup_card_menu (GtkWidget *card)
{
  GtkMenuButton *button = g_object_get_data (G_OBJECT (card), "viv-menu-button");

  gtk_menu_button_popup (button);
}

static gboolean
on_card_key (GtkEventControllerKey *controller,
             guint                  keyval,
             guint                  keycode G_GNUC_UNUSED,
             GdkModifierType        state,
             gpointer               data G_GNUC_UNUSED)
{
  GtkWidget *card = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (controller));
  VivSnapshotTimeline *self = card_timeline (card);
  GdkModifierType mods = state & gtk_accelerator_get_default_mod_mask ();

  switch (keyval)
    {
    case GDK_KEY_Left:
    case GDK_KEY_KP_Left:
    case GDK_KEY_Right:
    case GDK_KEY_KP_Right:
    case GDK_KEY_Up:
    case GDK_KEY_KP_Up:
    case GDK_KEY_Down:
    case GDK_KEY_KP_Down:
      if (mods != 0)
        return FALSE;
      move_focus (self, card_node (card), keyval);
      return TRUE;

    case GDK_KEY_Return:
    case GDK_KEY_KP_Enter:
    case GDK_KEY_ISO_Enter:
    case GDK_KEY_space:
    case GDK_KEY_KP_Space:
    case GDK_KEY_Menu:
      if (mods != 0)
        return FALSE;
      viv_snapshot_timeline_select (self, card_node (card)->id);
      popup_card_menu (card);
      return TRUE;

    case GDK_KEY_F10:
      if (mods != GDK_SHIFT_MASK)
        return FALSE;
      viv_snapshot_timeline_select (self, card_node (card)->id);
      popup_card_menu (card);
      return TRUE;

    default:
      return FALSE;
    }
}

static void
on_card_pressed (GtkGestureClick *gesture,
                 int              n_press G_GNUC_UNUSED,
                 double           x G_GNUC_UNUSED,
                 double           y G_GNUC_UNUSED,
                 gpointer         data G_GNUC_UNUSED)
{
  GtkWidget *card = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (gesture));
  VivSnapshotTimeline *self = card_timeline (card);
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));

  viv_snapshot_timeline_select (self, card_node (card)->id);
  gtk_widget_grab_focus (card);
  if (button == GDK_BUTTON_SECONDARY)
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
      popup_card_menu (card);
    }
}

static GMenuModel *
card_menu (const char *id)
{
  GMenu *menu = g_menu_new ();
  GMenu *section = g_menu_new ();
  g_autoptr(GMenuItem) revert = g_menu_item_new (_("_Revert"), NULL);
  g_autoptr(GMenuItem) rename = g_menu_item_new (_("Re_name…"), NULL);
  g_autoptr(GMenuItem) delete = g_menu_item_new (_("_Delete"), NULL);

  g_menu_item_set_action_and_target (revert, "machine.revert-snapshot", "s", id);
  g_menu_item_set_action_and_target (rename, "machine.rename-snapshot", "s", id);
  g_menu_item_set_action_and_target (delete, "machine.delete-snapshot", "s", id);
  g_menu_append_item (menu, revert);
  g_menu_append_item (menu, rename);
  g_menu_append_item (section, delete);
  g_menu_append_section (menu, NULL, G_MENU_MODEL (section));
  g_object_unref (section);
  return G_MENU_MODEL (menu);
}

/* What a screen reader says for the card, and its tooltip */
static char *
card_label (Node       *node,
            gboolean    current)
{
  g_autofree char *age = age_text (node->created);

  if (current)
    /* Translators: a snapshot card's accessible label: its name, then its
     * age ("2 hours ago"); the machine continues from this one */
    return g_strdup_printf (_("%s, taken %s, the current snapshot"), node->name, age);
  /* Translators: a snapshot card's accessible label: its name, then its age */
  return g_strdup_printf (_("%s, taken %s"), node->name, age);
}

static void
update_card_age (VivSnapshotTimeline *self,
                 Node                *node)
{
  GtkLabel *age = g_object_get_data (G_OBJECT (node->card), "viv-age");
  g_autofree char *text = age_text (node->created);
  g_autofree char *label = card_label (node, g_strcmp0 (node->id, self->current) == 0);
  g_autoptr(GDateTime) then = g_date_time_new_from_unix_local (node->created);
  g_autofree char *exact = then != NULL ? g_date_time_format (then, "%c") : NULL;

  gtk_label_set_label (age, text);
  gtk_widget_set_tooltip_text (GTK_WIDGET (age), exact);
  gtk_widget_set_tooltip_text (node->card, label);
  gtk_accessible_update_property (GTK_ACCESSIBLE (node->card),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  node->memory ? _("Taken while the machine ran")
                                               : _("Taken while the machine was off"),
                                  GTK_ACCESSIBLE_PROPERTY_HAS_POPUP, TRUE,
                                  -1);
}

static void
on_thumbnail_loaded (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GtkWidget) card = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  char *contents = NULL;
  gsize len;
  GtkStack *stack;

  if (!g_file_load_contents_finish (G_FILE (object), result, &contents, &len, NULL, &error))
    {
      /* no thumbnail (a snapshot taken while off has none): the placeholder stays */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
          !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("thumbnail: %s", error->message);
      return;
    }
  bytes = g_bytes_new_take (contents, len);
  texture = gdk_texture_new_from_bytes (bytes, &error);
  if (texture == NULL)
    {
      g_debug ("thumbnail: %s", error->message);
      return;
    }
  stack = g_object_get_data (G_OBJECT (card), "viv-thumb-stack");
  gtk_picture_set_paintable (GTK_PICTURE (gtk_stack_get_child_by_name (stack, "picture")),
                             GDK_PAINTABLE (texture));
  gtk_stack_set_visible_child_name (stack, "picture");
}

static GtkWidget *
card_new (VivSnapshotTimeline *self,
          Node                *node)
{
  GtkWidget *card = g_object_new (GTK_TYPE_BOX, "orientation", GTK_ORIENTATION_VERTICAL,
                                  "spacing", 2, "focusable", TRUE,
                                  "accessible-role", GTK_ACCESSIBLE_ROLE_BUTTON,
                                  "css-name", "snapshotcard", NULL);
  GtkWidget *overlay = gtk_overlay_new ();
  GtkWidget *thumb_stack = gtk_stack_new ();
  GtkWidget *picture = gtk_picture_new ();
  GtkWidget *placeholder = gtk_image_new_from_icon_name ("camera-photo-symbolic");
  GtkWidget *menu_button = gtk_menu_button_new ();
  GtkWidget *name = gtk_label_new (node->name);
  GtkWidget *age = gtk_label_new (NULL);
  g_autoptr(GMenuModel) menu = card_menu (node->id);
  GtkEventController *keys = gtk_event_controller_key_new ();
  GtkGesture *click = gtk_gesture_click_new ();

  gtk_widget_add_css_class (card, "card");
  gtk_widget_set_size_request (thumb_stack, THUMB_WIDTH, THUMB_HEIGHT);
  gtk_widget_add_css_class (thumb_stack, "thumbnail");
  gtk_widget_set_overflow (thumb_stack, GTK_OVERFLOW_HIDDEN);
  gtk_picture_set_content_fit (GTK_PICTURE (picture), GTK_CONTENT_FIT_COVER);
  gtk_image_set_pixel_size (GTK_IMAGE (placeholder), 32);
  gtk_widget_add_css_class (placeholder, "dim-label");
  gtk_stack_add_named (GTK_STACK (thumb_stack), placeholder, "placeholder");
  gtk_stack_add_named (GTK_STACK (thumb_stack), picture, "picture");
  gtk_stack_set_visible_child_name (GTK_STACK (thumb_stack), "placeholder");
  gtk_overlay_set_child (GTK_OVERLAY (overlay), thumb_stack);

  /* For the mouse: the keyboard opens the menu from the card itself */
  gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (menu_button), "view-more-symbolic");
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (menu_button), menu);
  gtk_widget_set_halign (menu_button, GTK_ALIGN_END);
  gtk_widget_set_valign (menu_button, GTK_ALIGN_START);
  gtk_widget_set_margin_top (menu_button, 4);
  gtk_widget_set_margin_end (menu_button, 4);
  gtk_widget_set_can_focus (menu_button, FALSE);
  gtk_widget_add_css_class (menu_button, "osd");
  gtk_widget_add_css_class (menu_button, "circular");
  gtk_widget_set_tooltip_text (menu_button, _("Snapshot Menu"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (menu_button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Snapshot Menu"), -1);
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), menu_button);
  gtk_box_append (GTK_BOX (card), overlay);

  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_END);
  gtk_label_set_max_width_chars (GTK_LABEL (name), 14);
  gtk_label_set_xalign (GTK_LABEL (name), 0.0f);
  gtk_widget_add_css_class (name, "heading");
  gtk_widget_set_margin_start (name, 8);
  gtk_widget_set_margin_end (name, 8);
  gtk_widget_set_margin_top (name, 4);
  gtk_box_append (GTK_BOX (card), name);
  gtk_label_set_xalign (GTK_LABEL (age), 0.0f);
  gtk_widget_add_css_class (age, "dim-label");
  gtk_widget_add_css_class (age, "caption");
  gtk_widget_set_margin_start (age, 8);
  gtk_widget_set_margin_end (age, 8);
  gtk_widget_set_margin_bottom (age, 8);
  gtk_box_append (GTK_BOX (card), age);

  g_object_set_data (G_OBJECT (card), "viv-node", node);
  g_object_set_data (G_OBJECT (card), "viv-age", age);
  g_object_set_data (G_OBJECT (card), "viv-menu-button", menu_button);
  g_object_set_data (G_OBJECT (card), "viv-thumb-stack", thumb_stack);

  g_signal_connect (keys, "key-pressed", G_CALLBACK (on_card_key), NULL);
  gtk_widget_add_controller (card, keys);
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), 0);
  g_signal_connect (click, "pressed", G_CALLBACK (on_card_pressed), NULL);
  gtk_widget_add_controller (card, GTK_EVENT_CONTROLLER (click));

  node->card = card;
  if (self->machine_dir != NULL)
    {
      g_autofree char *path = g_build_filename (self->machine_dir, VIV_SNAPSHOT_INDEX_DIR,
                                                node->id, "thumbnail.png", NULL);
      g_autoptr(GFile) file = g_file_new_for_path (path);

      g_file_load_contents_async (file, self->thumbnails, on_thumbnail_loaded,
                                  g_object_ref (card));
    }
  return card;
}

/* --- layout ------------------------------------------------------------------------- */

static Node *
find_node (VivSnapshotTimeline *self,
           const char          *id)
{
  return id != NULL && self->by_id != NULL ? g_hash_table_lookup (self->by_id, id) : NULL;
}

static gboolean
is_hidden (VivSnapshotTimeline *self,
           const char          *id)
{
  return self->hidden != NULL && id != NULL &&
         g_strv_contains ((const char *const *) self->hidden, id);
}

/* The nearest ancestor of ID (itself included) that shows */
static const char *
shown_ancestor (VivSnapshotTimeline *self,
                const char          *id)
{
  guint guard = 0;

  while (id != NULL && is_hidden (self, id) && guard++ <= self->source->len)
    {
      const char *parent = NULL;

      for (guint i = 0; i < self->source->len; i++)
        {
          Node *node = self->source->pdata[i];

          if (g_str_equal (node->id, id))
            {
              parent = node->parent;
              break;
            }
        }
      id = parent;
    }
  return id;
}

static void
assign_rows (VivSnapshotTimeline *self,
             Node                *node,
             int                  row,
             int                 *next_row)
{
  gboolean first = TRUE;

  node->row = row;
  for (guint i = 0; i < self->nodes->len; i++)
    {
      Node *child = self->nodes->pdata[i];

      if (g_strcmp0 (child->parent, node->id) != 0)
        continue;
      assign_rows (self, child, first ? row : (*next_row)++, next_row);
      first = FALSE;
    }
}

static gboolean
has_children (VivSnapshotTimeline *self,
              const char          *id)
{
  for (guint i = 0; i < self->nodes->len; i++)
    if (g_strcmp0 (((Node *) self->nodes->pdata[i])->parent, id) == 0)
      return TRUE;
  return FALSE;
}

static GtkWidget *
here_new (void)
{
  GtkWidget *here = gtk_label_new (_("You are here"));

  gtk_widget_add_css_class (here, "snapshot-here");
  gtk_widget_set_valign (here, GTK_ALIGN_CENTER);
  gtk_widget_set_halign (here, GTK_ALIGN_START);
  gtk_accessible_update_property (GTK_ACCESSIBLE (here), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("You are here: the machine continues from the snapshot "
                                    "before this mark"), -1);
  return here;
}

static void
update_selection_classes (VivSnapshotTimeline *self)
{
  for (guint i = 0; self->nodes != NULL && i < self->nodes->len; i++)
    {
      Node *node = self->nodes->pdata[i];

      if (g_strcmp0 (node->id, self->selected) == 0)
        gtk_widget_add_css_class (node->card, "selected");
      else
        gtk_widget_remove_css_class (node->card, "selected");
      gtk_accessible_update_state (GTK_ACCESSIBLE (node->card), GTK_ACCESSIBLE_STATE_SELECTED,
                                   g_strcmp0 (node->id, self->selected) == 0, -1);
    }
}

static gboolean
refresh_ages (gpointer data)
{
  VivSnapshotTimeline *self = data;

  for (guint i = 0; self->nodes != NULL && i < self->nodes->len; i++)
    update_card_age (self, self->nodes->pdata[i]);
  return G_SOURCE_CONTINUE;
}

/* Lays the cards out again from the source, without the hidden ones */
static void
rebuild (VivSnapshotTimeline *self)
{
  GtkWidget *child;
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *focus = root != NULL ? gtk_root_get_focus (root) : NULL;
  g_autofree char *focused = NULL;
  int next_row = 0;
  int shift;
  Node *current;

  if (focus != NULL && gtk_widget_is_ancestor (focus, self->canvas))
    {
      for (GtkWidget *w = focus; w != NULL && w != self->canvas; w = gtk_widget_get_parent (w))
        if (card_node (w) != NULL)
          focused = g_strdup (card_node (w)->id);
      if (focused == NULL)
        focused = g_strdup ("");
    }

  g_cancellable_cancel (self->thumbnails);
  g_clear_object (&self->thumbnails);
  self->thumbnails = g_cancellable_new ();
  while ((child = gtk_widget_get_first_child (self->canvas)) != NULL)
    gtk_widget_unparent (child);
  self->here = NULL;
  g_clear_pointer (&self->nodes, g_ptr_array_unref);
  g_clear_pointer (&self->by_id, g_hash_table_unref);
  g_clear_pointer (&self->current, g_free);

  if (self->error_message != NULL)
    {
      adw_status_page_set_description (self->error_page, self->error_message);
      gtk_stack_set_visible_child_name (self->stack, "error");
      return;
    }

  self->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  self->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; self->source != NULL && i < self->source->len; i++)
    {
      Node *from = self->source->pdata[i];
      Node *node;

      if (is_hidden (self, from->id))
        continue;
      node = g_new0 (Node, 1);
      node->id = g_strdup (from->id);
      node->name = g_strdup (from->name);
      node->parent = g_strdup (shown_ancestor (self, from->parent));
      node->created = from->created;
      node->memory = from->memory;
      g_ptr_array_add (self->nodes, node);
      g_hash_table_insert (self->by_id, node->id, node);
    }

  if (self->nodes->len == 0)
    {
      gtk_stack_set_visible_child_name (self->stack, "empty");
      g_clear_pointer (&self->selected, g_free);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
      return;
    }

  self->current = g_strdup (shown_ancestor (self, self->source_current));
  current = find_node (self, self->current);
  /* No current snapshot: "You are here" comes first */
  shift = current == NULL ? 1 : 0;
  for (guint i = 0; i < self->nodes->len; i++)
    {
      Node *node = self->nodes->pdata[i];

      node->column = (int) i + shift;
      if (node->parent == NULL)
        assign_rows (self, node, next_row++, &next_row);
    }
  if (current == NULL)
    {
      self->here_column = 0;
      self->here_row = 0;
    }
  else
    {
      self->here_column = current->column + 1;
      self->here_row = has_children (self, current->id) ? next_row++ : current->row;
    }

  for (guint i = 0; i < self->nodes->len; i++)
    {
      Node *node = self->nodes->pdata[i];
      GtkWidget *card = card_new (self, node);

      if (node == current)
        gtk_widget_add_css_class (card, "current");
      place (self->canvas, card, node->column, node->row);
      update_card_age (self, node);
    }
  self->here = here_new ();
  place (self->canvas, self->here, self->here_column, self->here_row);

  /* The selection stays on its snapshot, else goes to the current one */
  if (find_node (self, self->selected) == NULL)
    {
      g_free (self->selected);
      self->selected = g_strdup (current != NULL ? current->id
                                                 : ((Node *) self->nodes->pdata[0])->id);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
    }
  update_selection_classes (self);
  gtk_stack_set_visible_child_name (self->stack, "timeline");

  if (focused != NULL && !viv_snapshot_timeline_focus_card (self, focused))
    viv_snapshot_timeline_focus_card (self, self->selected);
}

/* Left and Right: the card before or after in time; Up and Down: the
 * nearest card in the row above or below */
static void
move_focus (VivSnapshotTimeline *self,
            Node                *from,
            guint                keyval)
{
  Node *best = NULL;
  int best_distance = G_MAXINT;
  int drow = 0, dcol = 0;

  if (from == NULL || self->nodes == NULL)
    return;
  if (keyval == GDK_KEY_Left || keyval == GDK_KEY_KP_Left)
    dcol = gtk_widget_get_direction (GTK_WIDGET (self)) == GTK_TEXT_DIR_RTL ? 1 : -1;
  else if (keyval == GDK_KEY_Right || keyval == GDK_KEY_KP_Right)
    dcol = gtk_widget_get_direction (GTK_WIDGET (self)) == GTK_TEXT_DIR_RTL ? -1 : 1;
  else if (keyval == GDK_KEY_Up || keyval == GDK_KEY_KP_Up)
    drow = -1;
  else
    drow = 1;

  for (guint i = 0; i < self->nodes->len; i++)
    {
      Node *node = self->nodes->pdata[i];
      int distance;

      if (node == from)
        continue;
      if (dcol != 0)
        {
          if ((node->column - from->column) * dcol <= 0)
            continue;
          distance = ABS (node->column - from->column);
        }
      else
        {
          if ((node->row - from->row) * drow <= 0)
            continue;
          /* the next row first, then the nearest column in it */
          distance = ABS (node->row - from->row) * 10000 + ABS (node->column - from->column);
        }
      if (distance < best_distance)
        {
          best = node;
          best_distance = distance;
        }
    }
  if (best == NULL)
    {
      gtk_widget_error_bell (GTK_WIDGET (self));
      return;
    }
  viv_snapshot_timeline_select (self, best->id);
  gtk_widget_grab_focus (best->card);
}

/* --- public API --------------------------------------------------------------------- */

GtkWidget *
viv_snapshot_timeline_new (void)
{
  return g_object_new (VIV_TYPE_SNAPSHOT_TIMELINE, NULL);
}

/**
 * viv_snapshot_timeline_set_index:
 * @self: a timeline
 * @index: (nullable): the snapshots to show (copied)
 * @machine_dir: (nullable): the machine's folder, where the thumbnails are
 * @error_message: (nullable): why there is no index, shown instead
 */
void
viv_snapshot_timeline_set_index (VivSnapshotTimeline    *self,
                                 const VivSnapshotIndex *index,
                                 const char             *machine_dir,
                                 const char             *error_message)
{
  g_return_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self));

  g_clear_pointer (&self->source, g_ptr_array_unref);
  g_clear_pointer (&self->source_current, g_free);
  g_clear_pointer (&self->error_message, g_free);
  g_free (self->machine_dir);
  self->machine_dir = g_strdup (machine_dir);
  self->error_message = g_strdup (error_message);
  self->source = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  if (index != NULL)
    {
      for (guint i = 0; i < index->snapshots->len; i++)
        {
          VivSnapshot *snapshot = index->snapshots->pdata[i];
          Node *node = g_new0 (Node, 1);

          node->id = g_strdup (snapshot->id);
          node->name = g_strdup (snapshot->name);
          node->parent = g_strdup (snapshot->parent);
          node->created = snapshot->created;
          node->memory = snapshot->memory;
          g_ptr_array_add (self->source, node);
        }
      self->source_current = g_strdup (index->current);
    }
  rebuild (self);
}

/* Snapshots not to show (deleted, while their delete can be undone); their
 * children hang from their parents meanwhile */
void
viv_snapshot_timeline_set_hidden (VivSnapshotTimeline *self,
                                  const char *const   *ids)
{
  g_return_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self));

  g_strfreev (self->hidden);
  self->hidden = g_strdupv ((char **) ids);
  rebuild (self);
}

const char *
viv_snapshot_timeline_get_selected (VivSnapshotTimeline *self)
{
  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), NULL);

  return self->selected;
}

void
viv_snapshot_timeline_select (VivSnapshotTimeline *self,
                              const char          *id)
{
  g_return_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self));

  if (g_strcmp0 (self->selected, id) == 0 || (id != NULL && find_node (self, id) == NULL))
    return;
  g_free (self->selected);
  self->selected = g_strdup (id);
  update_selection_classes (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
}

/* Moves the keyboard focus to ID's card (NULL: the selected one) */
gboolean
viv_snapshot_timeline_focus_card (VivSnapshotTimeline *self,
                                  const char          *id)
{
  Node *node;

  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), FALSE);

  node = find_node (self, id != NULL ? id : self->selected);
  if (node == NULL)
    return FALSE;
  viv_snapshot_timeline_select (self, node->id);
  return gtk_widget_grab_focus (node->card);
}

void
viv_snapshot_timeline_popup_menu (VivSnapshotTimeline *self,
                                  const char          *id)
{
  Node *node;

  g_return_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self));

  node = find_node (self, id != NULL ? id : self->selected);
  if (node != NULL)
    popup_card_menu (node->card);
}

const char *
viv_snapshot_timeline_get_view (VivSnapshotTimeline *self)
{
  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), NULL);

  return gtk_stack_get_visible_child_name (self->stack);
}

guint
viv_snapshot_timeline_get_n_cards (VivSnapshotTimeline *self)
{
  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), 0);

  return self->nodes != NULL ? self->nodes->len : 0;
}

GtkWidget *
viv_snapshot_timeline_get_card (VivSnapshotTimeline *self,
                                const char          *id)
{
  Node *node;

  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), NULL);

  node = find_node (self, id);
  return node != NULL ? node->card : NULL;
}

/* Where ID's card is in the grid (NULL: "You are here"), as laid out */
gboolean
viv_snapshot_timeline_get_position (VivSnapshotTimeline *self,
                                    const char          *id,
                                    int                 *column,
                                    int                 *row)
{
  GtkWidget *widget;
  GtkGridLayoutChild *layout_child;

  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), FALSE);

  widget = id != NULL ? viv_snapshot_timeline_get_card (self, id) : self->here;
  if (widget == NULL)
    return FALSE;
  layout_child = GTK_GRID_LAYOUT_CHILD (
    gtk_layout_manager_get_layout_child (gtk_widget_get_layout_manager (self->canvas), widget));
  *column = gtk_grid_layout_child_get_column (layout_child);
  *row = gtk_grid_layout_child_get_row (layout_child);
  return TRUE;
}

GtkWidget *
viv_snapshot_timeline_get_here (VivSnapshotTimeline *self)
{
  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), NULL);

  return self->here;
}

/* The menu of ID's card, once it was opened */
GtkPopover *
viv_snapshot_timeline_get_menu (VivSnapshotTimeline *self,
                                const char          *id)
{
  GtkWidget *card;

  g_return_val_if_fail (VIV_IS_SNAPSHOT_TIMELINE (self), NULL);

  card = viv_snapshot_timeline_get_card (self, id);
  if (card == NULL)
    return NULL;
  return gtk_menu_button_get_popover (g_object_get_data (G_OBJECT (card), "viv-menu-button"));
}

/* --- GObject ------------------------------------------------------------------------- */

static void
viv_snapshot_timeline_map (GtkWidget *widget)
{
  VivSnapshotTimeline *self = VIV_SNAPSHOT_TIMELINE (widget);

  GTK_WIDGET_CLASS (viv_snapshot_timeline_parent_class)->map (widget);
  refresh_ages (self);
  if (self->age_id == 0)
    self->age_id = g_timeout_add_seconds (AGE_REFRESH_S, refresh_ages, self);
}

static void
viv_snapshot_timeline_unmap (GtkWidget *widget)
{
  VivSnapshotTimeline *self = VIV_SNAPSHOT_TIMELINE (widget);

  g_clear_handle_id (&self->age_id, g_source_remove);
  GTK_WIDGET_CLASS (viv_snapshot_timeline_parent_class)->unmap (widget);
}

static void
viv_snapshot_timeline_dispose (GObject *object)
{
  VivSnapshotTimeline *self = VIV_SNAPSHOT_TIMELINE (object);

  g_clear_handle_id (&self->age_id, g_source_remove);
  if (self->thumbnails != NULL)
    g_cancellable_cancel (self->thumbnails);
  g_clear_object (&self->thumbnails);
  if (self->canvas != NULL)
    VIV_TIMELINE_CANVAS (self->canvas)->timeline = NULL;
  self->here = NULL;
  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_SNAPSHOT_TIMELINE);
  self->canvas = NULL;
  g_clear_pointer (&self->nodes, g_ptr_array_unref);
  g_clear_pointer (&self->by_id, g_hash_table_unref);

  G_OBJECT_CLASS (viv_snapshot_timeline_parent_class)->dispose (object);
}

static void
viv_snapshot_timeline_finalize (GObject *object)
{
  VivSnapshotTimeline *self = VIV_SNAPSHOT_TIMELINE (object);

  g_clear_pointer (&self->source, g_ptr_array_unref);
  g_free (self->source_current);
  g_free (self->error_message);
  g_free (self->current);
  g_free (self->selected);
  g_free (self->machine_dir);
  g_strfreev (self->hidden);

  G_OBJECT_CLASS (viv_snapshot_timeline_parent_class)->finalize (object);
}

static void
viv_snapshot_timeline_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  VivSnapshotTimeline *self = VIV_SNAPSHOT_TIMELINE (object);

  switch (prop_id)
    {
    case PROP_SELECTED:
      g_value_set_string (value, self->selected);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_snapshot_timeline_class_init (VivSnapshotTimelineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_snapshot_timeline_dispose;
  object_class->finalize = viv_snapshot_timeline_finalize;
  object_class->get_property = viv_snapshot_timeline_get_property;
  widget_class->map = viv_snapshot_timeline_map;
  widget_class->unmap = viv_snapshot_timeline_unmap;

  properties[PROP_SELECTED] =
    g_param_spec_string ("selected", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (VIV_TYPE_TIMELINE_CANVAS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-snapshot-timeline.ui");
  gtk_widget_class_bind_template_child (widget_class, VivSnapshotTimeline, stack);
  gtk_widget_class_bind_template_child (widget_class, VivSnapshotTimeline, error_page);
  gtk_widget_class_bind_template_child (widget_class, VivSnapshotTimeline, canvas);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "snapshots");
}

static void
viv_snapshot_timeline_init (VivSnapshotTimeline *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  VIV_TIMELINE_CANVAS (self->canvas)->timeline = self;
  self->thumbnails = g_cancellable_new ();
  self->source = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  rebuild (self);
}
