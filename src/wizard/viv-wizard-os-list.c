/* viv-wizard-os-list.c: the operating systems libosinfo knows, searchable
 *
 * A search entry over a list of the catalog's operating systems (supported
 * releases first, newest first): typing filters it, Enter in the entry or
 * a click on a row emits "os-activated" with the item. Escape in an empty
 * entry cancels the wizard, as it does elsewhere in it. The list is a
 * GtkListView: the catalog holds about a thousand systems, of which only
 * the rows in sight are made.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-wizard"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-os-logo.h"
#include "viv-wizard-os-list.h"

struct _VivWizardOsList
{
  GtkWidget           parent_instance;

  VivOsCatalog       *catalog;
  GtkFilterListModel *filtered;
  GtkCustomFilter    *filter;
  char               *query;

  /* template children */
  GtkWidget          *box;
  GtkSearchEntry     *search_entry;
  GtkStack           *stack;
  GtkSpinner         *spinner;
  GtkListView        *list_view;
  AdwStatusPage      *error_page;
};

G_DEFINE_FINAL_TYPE (VivWizardOsList, viv_wizard_os_list, GTK_TYPE_WIDGET)

enum {
  SIGNAL_OS_ACTIVATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
update_page (VivWizardOsList *self)
{
  const char *page;

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), "error") == 0)
    return;
  if (self->catalog == NULL)
    page = "loading";
  else if (g_list_model_get_n_items (G_LIST_MODEL (self->filtered)) == 0)
    page = "empty";
  else
    page = "list";

  if (g_strcmp0 (page, "loading") == 0)
    gtk_spinner_start (self->spinner);
  else
    gtk_spinner_stop (self->spinner);
  gtk_stack_set_visible_child_name (self->stack, page);
}

static gboolean
match (gpointer item,
       gpointer user_data)
{
  VivWizardOsList *self = user_data;

  return viv_os_item_matches (VIV_OS_ITEM (item), self->query);
}

/* --- rows ---------------------------------------------------------------------------- */

static void
on_setup (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
          GtkListItem              *list_item,
          gpointer                  user_data G_GNUC_UNUSED)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *labels = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *icon = gtk_image_new ();
  GtkWidget *name = gtk_label_new (NULL);
  GtkWidget *details = gtk_label_new (NULL);

  gtk_widget_set_margin_top (box, 3);
  gtk_widget_set_margin_bottom (box, 3);
  gtk_image_set_pixel_size (GTK_IMAGE (icon), 24);
  gtk_widget_add_css_class (icon, "os-icon");
  gtk_widget_set_valign (labels, GTK_ALIGN_CENTER);
  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_END);
  gtk_label_set_xalign (GTK_LABEL (details), 0);
  gtk_label_set_ellipsize (GTK_LABEL (details), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (details, "caption");
  gtk_widget_add_css_class (details, "dim-label");
  gtk_box_append (GTK_BOX (labels), name);
  gtk_box_append (GTK_BOX (labels), details);
  gtk_box_append (GTK_BOX (box), icon);
  gtk_box_append (GTK_BOX (box), labels);
  gtk_list_item_set_child (list_item, box);
}

static void
on_bind (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
         GtkListItem              *list_item,
         gpointer                  user_data G_GNUC_UNUSED)
{
  VivOsItem *item = gtk_list_item_get_item (list_item);
  GtkWidget *box = gtk_list_item_get_child (list_item);
  GtkWidget *icon = gtk_widget_get_first_child (box);
  GtkWidget *labels = gtk_widget_get_next_sibling (icon);
  GtkWidget *name = gtk_widget_get_first_child (labels);
  GtkWidget *details = gtk_widget_get_next_sibling (name);
  GdkPaintable *logo = viv_os_logo_get_paintable (viv_os_item_get_logo_icon (item));
  g_autoptr(GString) text = g_string_new (NULL);
  const char *vendor = viv_os_item_get_vendor (item);
  const char *date = viv_os_item_get_release_date (item);

  if (logo != NULL)
    {
      gtk_image_set_from_paintable (GTK_IMAGE (icon), logo);
      gtk_widget_remove_css_class (icon, "dim-label");
    }
  else
    {
      gtk_image_set_from_icon_name (GTK_IMAGE (icon), "computer-symbolic");
      gtk_widget_add_css_class (icon, "dim-label");
    }

  if (vendor != NULL)
    g_string_append (text, vendor);
  if (date != NULL && strlen (date) >= 4)
    {
      if (text->len > 0)
        g_string_append (text, " · ");
      g_string_append_len (text, date, 4);
    }
  if (viv_os_item_get_eol (item))
    {
      if (text->len > 0)
        g_string_append (text, " · ");
      /* Translators: an operating system past its end of life */
      g_string_append (text, _("no longer supported"));
    }

  gtk_label_set_label (GTK_LABEL (name), viv_os_item_get_name (item));
  gtk_label_set_label (GTK_LABEL (details), text->str);
  gtk_accessible_update_property (GTK_ACCESSIBLE (box),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, viv_os_item_get_name (item),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, text->str,
                                  -1);
}

/* --- callbacks ----------------------------------------------------------------------- */

static void
on_search_changed (VivWizardOsList *self)
{
  g_free (self->query);
  self->query = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->search_entry)));
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  update_page (self);
}

static void
activate_position (VivWizardOsList *self,
                   guint            position)
{
  g_autoptr(VivOsItem) item = NULL;

  if (self->filtered == NULL)
    return;
  item = g_list_model_get_item (G_LIST_MODEL (self->filtered), position);
  if (item != NULL)
    g_signal_emit (self, signals[SIGNAL_OS_ACTIVATED], 0, item);
}

/* Enter picks the first system found */
static void
on_search_activate (VivWizardOsList *self)
{
  /* what was typed last counts, even before the search's delay is over */
  on_search_changed (self);
  activate_position (self, 0);
}

/* Escape clears the search, or else cancels, as it does in the rest of the wizard */
static void
on_stop_search (VivWizardOsList *self)
{
  if (gtk_editable_get_text (GTK_EDITABLE (self->search_entry))[0] != '\0')
    gtk_editable_set_text (GTK_EDITABLE (self->search_entry), "");
  else
    gtk_widget_activate_action (GTK_WIDGET (self), "wizard.cancel", NULL);
}

static void
on_list_activate (VivWizardOsList *self,
                  guint            position)
{
  activate_position (self, position);
}

/* --- public ------------------------------------------------------------------------- */

/* CATALOG, or NULL while it loads */
void
viv_wizard_os_list_set_catalog (VivWizardOsList *self,
                                VivOsCatalog    *catalog)
{
  g_return_if_fail (VIV_IS_WIZARD_OS_LIST (self));
  g_return_if_fail (catalog == NULL || VIV_IS_OS_CATALOG (catalog));

  if (!g_set_object (&self->catalog, catalog))
    return;
  gtk_filter_list_model_set_model (self->filtered, G_LIST_MODEL (catalog));
  update_page (self);
}

void
viv_wizard_os_list_set_error (VivWizardOsList *self,
                              const char      *message)
{
  g_autofree char *escaped = NULL;

  g_return_if_fail (VIV_IS_WIZARD_OS_LIST (self));

  escaped = g_markup_escape_text (message, -1);
  adw_status_page_set_description (self->error_page, escaped);
  gtk_spinner_stop (self->spinner);
  gtk_stack_set_visible_child_name (self->stack, "error");
}

void
viv_wizard_os_list_set_search_text (VivWizardOsList *self,
                                    const char      *text)
{
  g_return_if_fail (VIV_IS_WIZARD_OS_LIST (self));

  gtk_editable_set_text (GTK_EDITABLE (self->search_entry), text != NULL ? text : "");
  /* at once, without the entry's delay */
  on_search_changed (self);
}

const char *
viv_wizard_os_list_get_search_text (VivWizardOsList *self)
{
  g_return_val_if_fail (VIV_IS_WIZARD_OS_LIST (self), NULL);

  return gtk_editable_get_text (GTK_EDITABLE (self->search_entry));
}

/* How many systems the search shows (0 while loading) */
guint
viv_wizard_os_list_get_n_shown (VivWizardOsList *self)
{
  g_return_val_if_fail (VIV_IS_WIZARD_OS_LIST (self), 0);

  return self->catalog != NULL ? g_list_model_get_n_items (G_LIST_MODEL (self->filtered)) : 0;
}

/* Returns: (transfer none) (nullable): the system shown at POSITION */
VivOsItem *
viv_wizard_os_list_get_shown (VivWizardOsList *self,
                              guint            position)
{
  g_autoptr(VivOsItem) item = NULL;

  g_return_val_if_fail (VIV_IS_WIZARD_OS_LIST (self), NULL);

  if (self->catalog == NULL)
    return NULL;
  item = g_list_model_get_item (G_LIST_MODEL (self->filtered), position);
  /* the catalog keeps it */
  return item;
}

/* Typing in WIDGET searches */
void
viv_wizard_os_list_set_key_capture_widget (VivWizardOsList *self,
                                           GtkWidget       *widget)
{
  g_return_if_fail (VIV_IS_WIZARD_OS_LIST (self));

  gtk_search_entry_set_key_capture_widget (self->search_entry, widget);
}

void
viv_wizard_os_list_focus_search (VivWizardOsList *self)
{
  g_return_if_fail (VIV_IS_WIZARD_OS_LIST (self));

  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

/* --- GObject ------------------------------------------------------------------------ */

static void
viv_wizard_os_list_dispose (GObject *object)
{
  VivWizardOsList *self = VIV_WIZARD_OS_LIST (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_WIZARD_OS_LIST);
  g_clear_object (&self->filtered);
  g_clear_object (&self->catalog);

  G_OBJECT_CLASS (viv_wizard_os_list_parent_class)->dispose (object);
}

static void
viv_wizard_os_list_finalize (GObject *object)
{
  VivWizardOsList *self = VIV_WIZARD_OS_LIST (object);

  g_free (self->query);

  G_OBJECT_CLASS (viv_wizard_os_list_parent_class)->finalize (object);
}

static gboolean
viv_wizard_os_list_grab_focus (GtkWidget *widget)
{
  VivWizardOsList *self = VIV_WIZARD_OS_LIST (widget);

  return gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

static void
viv_wizard_os_list_class_init (VivWizardOsListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_wizard_os_list_dispose;
  object_class->finalize = viv_wizard_os_list_finalize;
  widget_class->grab_focus = viv_wizard_os_list_grab_focus;

  /**
   * VivWizardOsList::os-activated:
   * @item: the #VivOsItem chosen
   */
  signals[SIGNAL_OS_ACTIVATED] =
    g_signal_new ("os-activated",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, VIV_TYPE_OS_ITEM);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-wizard-os-list.ui");
  gtk_widget_class_bind_template_child (widget_class, VivWizardOsList, box);
  gtk_widget_class_bind_template_child (widget_class, VivWizardOsList, search_entry);
  gtk_widget_class_bind_template_child (widget_class, VivWizardOsList, stack);
  gtk_widget_class_bind_template_child (widget_class, VivWizardOsList, spinner);
  gtk_widget_class_bind_template_child (widget_class, VivWizardOsList, list_view);
  gtk_widget_class_bind_template_child (widget_class, VivWizardOsList, error_page);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_search_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_stop_search);
  gtk_widget_class_bind_template_callback (widget_class, on_list_activate);
}

static void
viv_wizard_os_list_init (VivWizardOsList *self)
{
  g_autoptr(GtkListItemFactory) factory = NULL;
  GtkNoSelection *selection;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->filter = gtk_custom_filter_new (match, self, NULL);
  self->filtered = gtk_filter_list_model_new (NULL, GTK_FILTER (self->filter));
  selection = gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->filtered)));

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (on_setup), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (on_bind), NULL);
  gtk_list_view_set_factory (self->list_view, factory);
  gtk_list_view_set_model (self->list_view, GTK_SELECTION_MODEL (selection));
  g_object_unref (selection);

  update_page (self);
}
