/* viv-collection-view.c: the machines as a grid of tiles or a list
 *
 * The library's machines go through a GtkFilterListModel (the search, on
 * the name) into a GtkGridView or, in list mode, a GtkListView: both
 * recycle their tiles, so a library of hundreds of machines costs only the
 * tiles on screen (and the rows the view keeps ready around them). A tile
 * takes about a millisecond to make, and a view makes a hundred or more at
 * once, so the machines reach the view a few rows per frame (a
 * GtkSliceListModel that grows) rather than all in one long frame.
 * Activating an item (a click, Enter) emits "activate-machine".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-collection-view"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-collection-view.h"

/* Machines handed to the view per frame while it fills */
#define ITEMS_PER_FRAME 12

struct _VivCollectionView
{
  GtkWidget           parent_instance;

  GListModel         *model;
  GtkStringFilter    *filter;
  GtkFilterListModel *filtered;
  GtkSliceListModel  *slice;         /* what the view has been given so far */
  GtkNoSelection     *selection;
  char               *view_mode;
  guint               attach_id;     /* waiting for the view's size */

  /* template children */
  GtkStack           *view_stack;
  GtkGridView        *grid_view;
  GtkListView        *list_view;
};

G_DEFINE_FINAL_TYPE (VivCollectionView, viv_collection_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MODEL,
  PROP_SEARCH_TEXT,
  PROP_VIEW_MODE,
  PROP_N_ITEMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  ACTIVATE_MACHINE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* --- items ---------------------------------------------------------------------- */

static void
on_setup (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
          GtkListItem              *item,
          gpointer                  compact)
{
  gtk_list_item_set_child (item, viv_machine_tile_new (GPOINTER_TO_INT (compact)));
}

static void
on_bind (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
         GtkListItem              *item,
         gpointer                  data G_GNUC_UNUSED)
{
  viv_machine_tile_set_machine (VIV_MACHINE_TILE (gtk_list_item_get_child (item)),
                                gtk_list_item_get_item (item));
}

static void
on_unbind (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
           GtkListItem              *item,
           gpointer                  data G_GNUC_UNUSED)
{
  viv_machine_tile_set_machine (VIV_MACHINE_TILE (gtk_list_item_get_child (item)), NULL);
}

static GtkListItemFactory *
tile_factory_new (gboolean compact)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();

  g_signal_connect (factory, "setup", G_CALLBACK (on_setup), GINT_TO_POINTER (compact));
  g_signal_connect (factory, "bind", G_CALLBACK (on_bind), NULL);
  g_signal_connect (factory, "unbind", G_CALLBACK (on_unbind), NULL);
  return factory;
}

static void
on_activate (VivCollectionView *self,
             guint              position)
{
  g_autoptr(VivMachine) machine = g_list_model_get_item (G_LIST_MODEL (self->selection),
                                                         position);

  if (machine != NULL)
    g_signal_emit (self, signals[ACTIVATE_MACHINE], 0, machine);
}

static void
on_filtered_changed (VivCollectionView *self,
                     guint              position G_GNUC_UNUSED,
                     guint              removed,
                     guint              added)
{
  if (removed != added)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

/* The view that shows the machines now */
static GtkWidget *
current_view (VivCollectionView *self)
{
  return g_strcmp0 (self->view_mode, "list") == 0 ? GTK_WIDGET (self->list_view)
                                                 : GTK_WIDGET (self->grid_view);
}

/* Only the view on show gets the machines, and only once it has its size:
 * a list view makes items for as many rows as might fit, and without a
 * size it assumes the most columns (hundreds of tiles, made for nothing). */
static gboolean
attach_model_tick (GtkWidget     *widget,
                   GdkFrameClock *clock G_GNUC_UNUSED,
                   gpointer       data G_GNUC_UNUSED)
{
  VivCollectionView *self = VIV_COLLECTION_VIEW (widget);
  gboolean list = g_strcmp0 (self->view_mode, "list") == 0;
  GtkWidget *view = current_view (self);
  guint size;

  if (gtk_widget_get_width (view) == 0)
    return G_SOURCE_CONTINUE;

  if (gtk_grid_view_get_model (self->grid_view) == NULL &&
      gtk_list_view_get_model (self->list_view) == NULL)
    {
      gtk_slice_list_model_set_size (self->slice, ITEMS_PER_FRAME);
      gtk_grid_view_set_model (self->grid_view,
                               list ? NULL : GTK_SELECTION_MODEL (self->selection));
      gtk_list_view_set_model (self->list_view,
                               list ? GTK_SELECTION_MODEL (self->selection) : NULL);
      return G_SOURCE_CONTINUE;
    }

  /* A few more rows each frame, until the view has them all */
  size = gtk_slice_list_model_get_size (self->slice);
  if (size < g_list_model_get_n_items (G_LIST_MODEL (self->filtered)))
    {
      gtk_slice_list_model_set_size (self->slice, size + ITEMS_PER_FRAME);
      return G_SOURCE_CONTINUE;
    }

  gtk_slice_list_model_set_size (self->slice, G_MAXUINT);
  self->attach_id = 0;
  return G_SOURCE_REMOVE;
}

static void
attach_model (VivCollectionView *self)
{
  /* The view shown starts over; the other one lets go of its tiles */
  gtk_grid_view_set_model (self->grid_view, NULL);
  gtk_list_view_set_model (self->list_view, NULL);
  if (self->attach_id == 0)
    self->attach_id = gtk_widget_add_tick_callback (GTK_WIDGET (self), attach_model_tick,
                                                    NULL, NULL);
}

/* --- public API -------------------------------------------------------------------- */

GListModel *
viv_collection_view_get_model (VivCollectionView *self)
{
  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), NULL);

  return self->model;
}

void
viv_collection_view_set_model (VivCollectionView *self,
                               GListModel        *model)
{
  g_return_if_fail (VIV_IS_COLLECTION_VIEW (self));
  g_return_if_fail (model == NULL || G_IS_LIST_MODEL (model));

  if (!g_set_object (&self->model, model))
    return;
  gtk_filter_list_model_set_model (self->filtered, model);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
}

const char *
viv_collection_view_get_search_text (VivCollectionView *self)
{
  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), NULL);

  return gtk_string_filter_get_search (self->filter);
}

void
viv_collection_view_set_search_text (VivCollectionView *self,
                                     const char        *text)
{
  g_return_if_fail (VIV_IS_COLLECTION_VIEW (self));

  if (text != NULL && *text == '\0')
    text = NULL;
  if (g_strcmp0 (text, gtk_string_filter_get_search (self->filter)) == 0)
    return;
  gtk_string_filter_set_search (self->filter, text);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEARCH_TEXT]);
}

const char *
viv_collection_view_get_view_mode (VivCollectionView *self)
{
  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), NULL);

  return self->view_mode;
}

/* "grid" or "list" */
void
viv_collection_view_set_view_mode (VivCollectionView *self,
                                   const char        *view_mode)
{
  gboolean had_focus;

  g_return_if_fail (VIV_IS_COLLECTION_VIEW (self));
  g_return_if_fail (g_strcmp0 (view_mode, "grid") == 0 || g_strcmp0 (view_mode, "list") == 0);

  if (g_strcmp0 (self->view_mode, view_mode) == 0)
    return;

  had_focus = gtk_widget_get_focus_child (GTK_WIDGET (self)) != NULL;
  g_free (self->view_mode);
  self->view_mode = g_strdup (view_mode);
  gtk_stack_set_visible_child_name (self->view_stack, view_mode);
  attach_model (self);
  if (had_focus)
    gtk_widget_grab_focus (current_view (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_MODE]);
}

/* How many machines the search lets through */
guint
viv_collection_view_get_n_items (VivCollectionView *self)
{
  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), 0);

  return g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
}

/* The machines shown, in order (transfer none) */
GListModel *
viv_collection_view_get_shown (VivCollectionView *self)
{
  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), NULL);

  return G_LIST_MODEL (self->filtered);
}

/* The tile with the keyboard focus, or NULL */
VivMachineTile *
viv_collection_view_get_focused_tile (VivCollectionView *self)
{
  GtkRoot *root;
  GtkWidget *focus;

  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), NULL);

  root = gtk_widget_get_root (GTK_WIDGET (self));
  focus = root != NULL ? gtk_root_get_focus (root) : NULL;
  if (focus == NULL || !gtk_widget_is_ancestor (focus, GTK_WIDGET (self)))
    return NULL;

  /* The list views put the focus on the item that holds the tile. */
  for (GtkWidget *widget = focus; widget != NULL && widget != GTK_WIDGET (self);
       widget = gtk_widget_get_parent (widget))
    {
      GtkWidget *child = gtk_widget_get_first_child (widget);

      if (VIV_IS_MACHINE_TILE (widget))
        return VIV_MACHINE_TILE (widget);
      if (child != NULL && VIV_IS_MACHINE_TILE (child))
        return VIV_MACHINE_TILE (child);
    }
  return NULL;
}

/* The tile that shows MACHINE now, in the current view, if one does */
VivMachineTile *
viv_collection_view_find_tile (VivCollectionView *self,
                               VivMachine        *machine)
{
  GtkWidget *view;

  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), NULL);
  g_return_val_if_fail (VIV_IS_MACHINE (machine), NULL);

  view = current_view (self);
  for (GtkWidget *item = gtk_widget_get_first_child (view); item != NULL;
       item = gtk_widget_get_next_sibling (item))
    {
      GtkWidget *child = gtk_widget_get_first_child (item);

      if (child != NULL && VIV_IS_MACHINE_TILE (child) &&
          gtk_widget_get_visible (item) &&
          viv_machine_tile_get_machine (VIV_MACHINE_TILE (child)) == machine)
        return VIV_MACHINE_TILE (child);
    }
  return NULL;
}

/* Moves the keyboard focus to MACHINE's tile, when it has one */
gboolean
viv_collection_view_focus_machine (VivCollectionView *self,
                                   VivMachine        *machine)
{
  VivMachineTile *tile;

  g_return_val_if_fail (VIV_IS_COLLECTION_VIEW (self), FALSE);
  g_return_val_if_fail (VIV_IS_MACHINE (machine), FALSE);

  tile = viv_collection_view_find_tile (self, machine);
  if (tile == NULL)
    return FALSE;
  return gtk_widget_grab_focus (gtk_widget_get_parent (GTK_WIDGET (tile)));
}

/* --- GObject ------------------------------------------------------------------------- */

static gboolean
viv_collection_view_grab_focus (GtkWidget *widget)
{
  VivCollectionView *self = VIV_COLLECTION_VIEW (widget);

  return gtk_widget_grab_focus (current_view (self));
}

static void
viv_collection_view_dispose (GObject *object)
{
  VivCollectionView *self = VIV_COLLECTION_VIEW (object);

  if (self->attach_id != 0)
    gtk_widget_remove_tick_callback (GTK_WIDGET (self), self->attach_id);
  self->attach_id = 0;

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_COLLECTION_VIEW);

  if (self->filtered != NULL)
    g_signal_handlers_disconnect_by_data (self->filtered, self);
  g_clear_object (&self->selection);
  g_clear_object (&self->slice);
  g_clear_object (&self->filtered);
  g_clear_object (&self->filter);
  g_clear_object (&self->model);

  G_OBJECT_CLASS (viv_collection_view_parent_class)->dispose (object);
}

static void
viv_collection_view_finalize (GObject *object)
{
  VivCollectionView *self = VIV_COLLECTION_VIEW (object);

  g_free (self->view_mode);

  G_OBJECT_CLASS (viv_collection_view_parent_class)->finalize (object);
}

static void
viv_collection_view_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  VivCollectionView *self = VIV_COLLECTION_VIEW (object);

  switch (prop_id)
    {
    case PROP_MODEL:
      g_value_set_object (value, self->model);
      break;

    case PROP_SEARCH_TEXT:
      g_value_set_string (value, viv_collection_view_get_search_text (self));
      break;

    case PROP_VIEW_MODE:
      g_value_set_string (value, self->view_mode);
      break;

    case PROP_N_ITEMS:
      g_value_set_uint (value, viv_collection_view_get_n_items (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_collection_view_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  VivCollectionView *self = VIV_COLLECTION_VIEW (object);

  switch (prop_id)
    {
    case PROP_MODEL:
      viv_collection_view_set_model (self, g_value_get_object (value));
      break;

    case PROP_SEARCH_TEXT:
      viv_collection_view_set_search_text (self, g_value_get_string (value));
      break;

    case PROP_VIEW_MODE:
      viv_collection_view_set_view_mode (self, g_value_get_string (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_collection_view_class_init (VivCollectionViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_collection_view_dispose;
  object_class->finalize = viv_collection_view_finalize;
  object_class->get_property = viv_collection_view_get_property;
  object_class->set_property = viv_collection_view_set_property;

  widget_class->grab_focus = viv_collection_view_grab_focus;

  properties[PROP_MODEL] =
    g_param_spec_object ("model", NULL, NULL,
                         G_TYPE_LIST_MODEL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SEARCH_TEXT] =
    g_param_spec_string ("search-text", NULL, NULL,
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_VIEW_MODE] =
    g_param_spec_string ("view-mode", NULL, NULL,
                         "grid",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL,
                       0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * VivCollectionView::activate-machine:
   * @self: the view
   * @machine: the machine clicked, or chosen with Enter
   */
  signals[ACTIVATE_MACHINE] =
    g_signal_new ("activate-machine",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, VIV_TYPE_MACHINE);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-collection-view.ui");
  gtk_widget_class_bind_template_child (widget_class, VivCollectionView, view_stack);
  gtk_widget_class_bind_template_child (widget_class, VivCollectionView, grid_view);
  gtk_widget_class_bind_template_child (widget_class, VivCollectionView, list_view);

  gtk_widget_class_set_css_name (widget_class, "collectionview");
}

static void
viv_collection_view_init (VivCollectionView *self)
{
  g_autoptr(GtkListItemFactory) grid_factory = NULL;
  g_autoptr(GtkListItemFactory) list_factory = NULL;
  GtkExpression *name;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->view_mode = g_strdup ("grid");

  name = gtk_property_expression_new (VIV_TYPE_MACHINE, NULL, "name");
  self->filter = gtk_string_filter_new (name);
  gtk_string_filter_set_ignore_case (self->filter, TRUE);
  gtk_string_filter_set_match_mode (self->filter, GTK_STRING_FILTER_MATCH_MODE_SUBSTRING);
  self->filtered = gtk_filter_list_model_new (NULL, GTK_FILTER (g_object_ref (self->filter)));
  self->slice = gtk_slice_list_model_new (G_LIST_MODEL (g_object_ref (self->filtered)), 0, 0);
  self->selection = gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->slice)));
  g_signal_connect_swapped (self->filtered, "items-changed", G_CALLBACK (on_filtered_changed),
                            self);

  grid_factory = tile_factory_new (FALSE);
  list_factory = tile_factory_new (TRUE);
  gtk_grid_view_set_factory (self->grid_view, grid_factory);
  gtk_list_view_set_factory (self->list_view, list_factory);
  attach_model (self);
  g_signal_connect_swapped (self->grid_view, "activate", G_CALLBACK (on_activate), self);
  g_signal_connect_swapped (self->list_view, "activate", G_CALLBACK (on_activate), self);
}
