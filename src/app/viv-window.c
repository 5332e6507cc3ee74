/* viv-window.c: the main window: the collection of machines
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-window"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-window.h"

struct _VivWindow
{
  AdwApplicationWindow parent_instance;

  /* template children */
  AdwToastOverlay *toast_overlay;
  GtkStack        *stack;
  AdwStatusPage   *empty_page;
  GtkFlowBox      *collection;

  /* The machines shown in the collection. An empty store until the machine
   * library exists; the page switch below already follows it. */
  GListModel *machines;
};

G_DEFINE_FINAL_TYPE (VivWindow, viv_window, ADW_TYPE_APPLICATION_WINDOW)

VivWindow *
viv_window_new (VivApplication *application)
{
  VivWindow *self;
  GSettings *settings;

  g_return_val_if_fail (VIV_IS_APPLICATION (application), NULL);

  self = g_object_new (VIV_TYPE_WINDOW,
                       "application", application,
                       NULL);

  settings = viv_application_get_settings (application);
  g_settings_bind (settings, "window-width", self, "default-width",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_GET_NO_CHANGES);
  g_settings_bind (settings, "window-height", self, "default-height",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_GET_NO_CHANGES);
  g_settings_bind (settings, "window-maximized", self, "maximized",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_GET_NO_CHANGES);

  return self;
}

const char *
viv_window_get_visible_page (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return gtk_stack_get_visible_child_name (self->stack);
}

void
viv_window_add_toast (VivWindow *self,
                      AdwToast  *toast)
{
  g_return_if_fail (VIV_IS_WINDOW (self));
  g_return_if_fail (ADW_IS_TOAST (toast));

  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

GListModel *
viv_window_get_machines (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return self->machines;
}

static void
viv_window_update_page (VivWindow *self)
{
  gboolean empty = g_list_model_get_n_items (self->machines) == 0;

  gtk_stack_set_visible_child_name (self->stack, empty ? "empty" : "collection");
}

static void
on_machines_changed (VivWindow  *self,
                     guint       position G_GNUC_UNUSED,
                     guint       removed G_GNUC_UNUSED,
                     guint       added G_GNUC_UNUSED,
                     GListModel *model G_GNUC_UNUSED)
{
  viv_window_update_page (self);
}

static void
viv_window_new_machine_action (GtkWidget  *widget,
                               const char *action_name G_GNUC_UNUSED,
                               GVariant   *parameter G_GNUC_UNUSED)
{
  VivWindow *self = VIV_WINDOW (widget);
  AdwToast *toast;

  toast = adw_toast_new (_("Creating machines is not available yet"));
  adw_toast_set_timeout (toast, 4);
  viv_window_add_toast (self, toast);
}

static void
viv_window_dispose (GObject *object)
{
  VivWindow *self = VIV_WINDOW (object);

  if (self->machines != NULL)
    g_signal_handlers_disconnect_by_data (self->machines, self);
  g_clear_object (&self->machines);

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_WINDOW);

  G_OBJECT_CLASS (viv_window_parent_class)->dispose (object);
}

static void
viv_window_class_init (VivWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-window.ui");
  gtk_widget_class_bind_template_child (widget_class, VivWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, empty_page);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, collection);

  gtk_widget_class_install_action (widget_class, "win.new-machine", NULL,
                                   viv_window_new_machine_action);
}

static void
viv_window_init (VivWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  if (g_strcmp0 (PROFILE, "development") == 0)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");

  adw_status_page_set_icon_name (self->empty_page, APP_ID "-symbolic");

  self->machines = G_LIST_MODEL (g_list_store_new (G_TYPE_OBJECT));
  g_signal_connect_object (self->machines, "items-changed",
                           G_CALLBACK (on_machines_changed), self, G_CONNECT_SWAPPED);
  viv_window_update_page (self);
}
