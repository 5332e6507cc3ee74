/* viv-window.c: the main window: the collection of machines, and a machine
 *
 * Two pages slide into each other: the library (a header bar with New
 * Machine, search and the grid/list switch, over the collection or its
 * empty, loading, no-results or error state) and a machine's page. The
 * machine actions live in viv-window-actions.c.
 *
 * Closing the window while machines run asks whether to keep them running
 * (their helpers go on without the app, which finds them again when it
 * starts) or to stop them first.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-window"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "viv-remote-display.h"
#include "viv-shortcuts.h"
#include "viv-window-private.h"

/* How long "Stop Them" waits for the guests to power off before it
 * switches the rest off */
#define STOP_TIMEOUT_S 30

G_DEFINE_FINAL_TYPE (VivWindow, viv_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_LIBRARY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void update_page (VivWindow *self);

/* --- public API ------------------------------------------------------------------ */

VivWindow *
viv_window_new (VivApplication *application)
{
  VivWindow *self;

  g_return_val_if_fail (VIV_IS_APPLICATION (application), NULL);

  self = g_object_new (VIV_TYPE_WINDOW,
                       "application", application,
                       "library", viv_application_get_library (application),
                       NULL);

  self->settings = g_object_ref (viv_application_get_settings (application));
  g_settings_bind (self->settings, "window-width", self, "default-width",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_GET_NO_CHANGES);
  g_settings_bind (self->settings, "window-height", self, "default-height",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_GET_NO_CHANGES);
  g_settings_bind (self->settings, "window-maximized", self, "maximized",
                   G_SETTINGS_BIND_DEFAULT | G_SETTINGS_BIND_GET_NO_CHANGES);
  g_settings_bind (self->settings, "view-mode", self->collection, "view-mode",
                   G_SETTINGS_BIND_DEFAULT);

  /* win.view-mode, with "grid" or "list": Ctrl+1, Ctrl+2 and the header's button */
  {
    g_autoptr(GAction) action = g_settings_create_action (self->settings, "view-mode");

    g_action_map_add_action (G_ACTION_MAP (self), action);
  }

  return self;
}

/* The library page's content: "loading", "empty", "collection",
 * "no-results" or "error" */
const char *
viv_window_get_visible_page (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return gtk_stack_get_visible_child_name (self->stack);
}

/* "library" or "machine" */
const char *
viv_window_get_view (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return gtk_stack_get_visible_child_name (self->main_stack);
}

void
viv_window_add_toast (VivWindow *self,
                      AdwToast  *toast)
{
  g_return_if_fail (VIV_IS_WINDOW (self));
  g_return_if_fail (ADW_IS_TOAST (toast));

  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

void
viv_window_toast (VivWindow  *self,
                  const char *message)
{
  AdwToast *toast;
  g_autofree char *line = NULL;
  g_autofree char *escaped = NULL;
  const char *end;

  g_return_if_fail (VIV_IS_WINDOW (self));

  /* One line: the rest of a long message is in the log */
  end = strchr (message, '\n');
  line = end != NULL ? g_strndup (message, (gsize) (end - message)) : g_strdup (message);
  escaped = g_markup_escape_text (line, -1);   /* a toast's title is markup */
  toast = adw_toast_new (escaped);
  adw_toast_set_timeout (toast, 5);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* All the machines (the library), whatever the search shows */
GListModel *
viv_window_get_machines (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return G_LIST_MODEL (self->library);
}

VivLibrary *
viv_window_get_library (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return self->library;
}

VivCollectionView *
viv_window_get_collection (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return self->collection;
}

VivMachinePage *
viv_window_get_machine_page (VivWindow *self)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  return self->machine_page;
}

/* The machine the keyboard acts on: the page's, or the focused tile's */
VivMachine *
viv_window_get_current_machine (VivWindow *self)
{
  VivMachineTile *tile;

  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);

  if (g_strcmp0 (viv_window_get_view (self), "machine") == 0)
    return viv_machine_page_get_machine (self->machine_page);

  tile = viv_collection_view_get_focused_tile (self->collection);
  return tile != NULL ? viv_machine_tile_get_machine (tile) : NULL;
}

static void
set_library_page_active (VivWindow *self,
                         gboolean   active)
{
  /* Type-to-search only on the library page: on a machine's page, typing
   * goes to the machine. */
  gtk_search_entry_set_key_capture_widget (self->search_entry,
                                           active ? GTK_WIDGET (self) : NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.search", active);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.back", !active);
}

/* Shows MACHINE's page */
void
viv_window_open_machine (VivWindow  *self,
                         VivMachine *machine)
{
  g_return_if_fail (VIV_IS_WINDOW (self));
  g_return_if_fail (VIV_IS_MACHINE (machine));

  viv_machine_page_set_machine (self->machine_page, machine);
  gtk_stack_set_visible_child_name (self->main_stack, "machine");
  set_library_page_active (self, FALSE);
  gtk_window_set_title (GTK_WINDOW (self), viv_machine_get_name (machine));
  viv_machine_page_focus_content (self->machine_page);
}

static void
go_back (VivWindow *self)
{
  VivMachine *machine = viv_machine_page_get_machine (self->machine_page);

  if (g_strcmp0 (viv_window_get_view (self), "library") == 0)
    return;

  gtk_stack_set_visible_child_name (self->main_stack, "library");
  /* without animations there is no transition to wait for */
  if (!gtk_stack_get_transition_running (self->main_stack))
    viv_machine_page_set_machine (self->machine_page, NULL);
  set_library_page_active (self, TRUE);
  gtk_window_set_title (GTK_WINDOW (self), _("Vivarium"));
  if (machine == NULL || !viv_collection_view_focus_machine (self->collection, machine))
    gtk_widget_grab_focus (GTK_WIDGET (self->collection));
}

static void
on_main_stack_transition (VivWindow *self)
{
  /* The page lets go of its machine (and its console) once it is out of sight */
  if (!gtk_stack_get_transition_running (self->main_stack) &&
      g_strcmp0 (viv_window_get_view (self), "library") == 0)
    viv_machine_page_set_machine (self->machine_page, NULL);
}

/* --- the wizard ------------------------------------------------------------------------ */

static void
on_machine_created (VivWindow  *self,
                    VivMachine *machine,
                    gboolean    start)
{
  if (start)
    {
      /* Its page, where its console shows it starting */
      viv_window_open_machine (self, machine);
      gtk_widget_activate_action (GTK_WIDGET (self), "win.start-machine", "s",
                                  viv_machine_get_uuid (machine));
      return;
    }
  if (g_strcmp0 (viv_window_get_view (self), "machine") == 0)
    go_back (self);
  update_page (self);
  viv_collection_view_focus_machine (self->collection, machine);
}

/**
 * viv_window_new_machine:
 * @self: the window
 * @file: (nullable): a disc or disk image, already chosen
 *
 * Opens the create-machine wizard, or brings back the one that is open.
 *
 * Returns: (transfer none): the wizard
 */
GtkWindow *
viv_window_new_machine (VivWindow *self,
                        GFile     *file)
{
  g_return_val_if_fail (VIV_IS_WINDOW (self), NULL);
  g_return_val_if_fail (file == NULL || G_IS_FILE (file), NULL);

  if (self->wizard == NULL)
    {
      self->wizard = viv_wizard_new (GTK_WINDOW (self), self->library);
      g_object_add_weak_pointer (G_OBJECT (self->wizard), (gpointer *) &self->wizard);
      g_signal_connect_object (self->wizard, "machine-created", G_CALLBACK (on_machine_created),
                               self, G_CONNECT_SWAPPED);
    }
  gtk_window_present (GTK_WINDOW (self->wizard));
  if (file != NULL)
    viv_wizard_choose_file (self->wizard, file);
  return GTK_WINDOW (self->wizard);
}

/* A disc image dropped on the window: a new machine from it */
static gboolean
on_drop (GtkDropTarget *target G_GNUC_UNUSED,
         const GValue  *value,
         double         x G_GNUC_UNUSED,
         double         y G_GNUC_UNUSED,
         VivWindow     *self)
{
  GFile *file = NULL;

  if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      GSList *files = g_value_get_boxed (value);

      file = files != NULL ? files->data : NULL;
    }
  else if (G_VALUE_HOLDS (value, G_TYPE_FILE))
    {
      file = g_value_get_object (value);
    }
  if (file == NULL)
    return FALSE;

  viv_window_new_machine (self, file);
  return TRUE;
}

/* Closes the window, asking first when machines run, then quits the app */
void
viv_window_request_quit (VivWindow *self)
{
  g_return_if_fail (VIV_IS_WINDOW (self));

  self->quit_after_close = TRUE;
  gtk_window_close (GTK_WINDOW (self));
}

/* --- the library page ---------------------------------------------------------------- */

static void
update_page (VivWindow *self)
{
  VivApplication *app = VIV_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  const char *load_error = app != NULL ? viv_application_get_library_error (app) : NULL;
  const char *page;

  if (load_error != NULL)
    {
      g_autofree char *escaped = g_markup_escape_text (load_error, -1);

      adw_status_page_set_description (self->error_page, escaped);
      page = "error";
    }
  else if (!viv_library_get_loaded (self->library))
    page = "loading";
  else if (g_list_model_get_n_items (G_LIST_MODEL (self->library)) == 0)
    page = "empty";
  else if (viv_collection_view_get_n_items (self->collection) == 0)
    page = "no-results";
  else
    page = "collection";

  if (g_strcmp0 (page, "loading") == 0)
    gtk_spinner_start (self->loading_spinner);
  else
    gtk_spinner_stop (self->loading_spinner);

  /* Nothing to search or to show otherwise without machines */
  {
    gboolean machines = g_strcmp0 (page, "collection") == 0 ||
                        g_strcmp0 (page, "no-results") == 0;

    gtk_widget_set_visible (GTK_WIDGET (self->search_button), machines);
    gtk_widget_set_visible (GTK_WIDGET (self->view_button), machines);
  }

  gtk_stack_set_visible_child_name (self->stack, page);
}

static void
on_library_changed (VivWindow *self)
{
  VivMachine *shown = viv_machine_page_get_machine (self->machine_page);

  update_page (self);

  /* The machine on show was deleted, here or elsewhere */
  if (shown != NULL &&
      viv_library_find (self->library, viv_machine_get_uuid (shown)) != shown)
    go_back (self);
}

static void
on_shown_changed (VivWindow *self)
{
  update_page (self);
}

static void
on_activate_machine (VivWindow  *self,
                     VivMachine *machine)
{
  viv_window_open_machine (self, machine);
}

static void
on_view_mode_changed (VivWindow *self)
{
  gboolean grid = g_strcmp0 (viv_collection_view_get_view_mode (self->collection), "grid") == 0;
  const char *tooltip = grid ? _("Show as a List") : _("Show as a Grid");

  /* The button switches to the other mode */
  gtk_button_set_icon_name (self->view_button, grid ? "view-list-symbolic"
                                                    : "view-grid-symbolic");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->view_button), "s",
                                    grid ? "list" : "grid");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->view_button), tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->view_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip,
                                  -1);
}

static void
on_search_changed (VivWindow *self)
{
  viv_collection_view_set_search_text (self->collection,
                                       gtk_editable_get_text (GTK_EDITABLE (self->search_entry)));
  update_page (self);
}

/* Enter in the search entry opens the first machine found */
static void
on_search_activate (VivWindow *self)
{
  GListModel *shown = viv_collection_view_get_shown (self->collection);
  g_autoptr(VivMachine) first = g_list_model_get_item (shown, 0);

  if (first != NULL)
    viv_window_open_machine (self, first);
}

static void
on_search_mode_changed (VivWindow *self)
{
  if (!gtk_search_bar_get_search_mode (self->search_bar))
    {
      gtk_editable_set_text (GTK_EDITABLE (self->search_entry), "");
      if (gtk_widget_get_focus_child (GTK_WIDGET (self->search_bar)) != NULL ||
          gtk_window_get_focus (GTK_WINDOW (self)) == NULL)
        gtk_widget_grab_focus (GTK_WIDGET (self->collection));
    }
}

static void
on_library_error (VivWindow *self)
{
  update_page (self);
}

/* --- actions ---------------------------------------------------------------------- */

static void
back_action (GtkWidget  *widget,
             const char *action_name G_GNUC_UNUSED,
             GVariant   *parameter G_GNUC_UNUSED)
{
  go_back (VIV_WINDOW (widget));
}

static void
search_action (GtkWidget  *widget,
               const char *action_name G_GNUC_UNUSED,
               GVariant   *parameter G_GNUC_UNUSED)
{
  VivWindow *self = VIV_WINDOW (widget);
  gboolean enabled = !gtk_search_bar_get_search_mode (self->search_bar);

  /* (a disabled action still comes here through its accelerator) */
  if (g_strcmp0 (viv_window_get_view (self), "library") != 0)
    return;

  gtk_search_bar_set_search_mode (self->search_bar, enabled);
  if (enabled)
    gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

static void
new_machine_action (GtkWidget  *widget,
                    const char *action_name G_GNUC_UNUSED,
                    GVariant   *parameter G_GNUC_UNUSED)
{
  viv_window_new_machine (VIV_WINDOW (widget), NULL);
}

/* The Menu key and Shift+F10: the focused tile's menu, or the page's */
static void
context_menu_action (GtkWidget  *widget,
                     const char *action_name G_GNUC_UNUSED,
                     GVariant   *parameter G_GNUC_UNUSED)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachineTile *tile;

  if (g_strcmp0 (viv_window_get_view (self), "machine") == 0)
    {
      viv_machine_page_popup_menu (self->machine_page);
      return;
    }
  tile = viv_collection_view_get_focused_tile (self->collection);
  if (tile != NULL)
    viv_machine_tile_popup_menu (tile, -1, -1);
}

static void
force_off_all_action (GtkWidget  *widget,
                      const char *action_name G_GNUC_UNUSED,
                      GVariant   *parameter G_GNUC_UNUSED)
{
  viv_window_force_off_stopping (VIV_WINDOW (widget));
}

/* --- closing while machines run ---------------------------------------------------- */

static guint
count_active (VivWindow *self)
{
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->library)); i++)
    {
      g_autoptr(VivMachine) machine = g_list_model_get_item (G_LIST_MODEL (self->library), i);

      if (viv_machine_is_active (machine))
        n++;
    }
  return n;
}

static gboolean
close_now (gpointer data)
{
  VivWindow *self = data;

  gtk_window_close (GTK_WINDOW (self));
  return G_SOURCE_REMOVE;
}

static void
check_stopped (VivWindow *self)
{
  if (self->stopping == NULL)
    return;
  for (guint i = 0; i < self->stopping->len; i++)
    if (viv_machine_is_active (self->stopping->pdata[i]))
      return;

  /* All off: close, but not from inside the machine's notification */
  if (self->close_confirmed)
    return;
  g_clear_handle_id (&self->stop_check_id, g_source_remove);
  self->close_confirmed = TRUE;
  g_idle_add_full (G_PRIORITY_DEFAULT, close_now, g_object_ref (self), g_object_unref);
}

static void
on_stopping_state (VivWindow *self)
{
  check_stopped (self);
}

/* A machine is "stopped" before its helper has gone; nothing notifies when
 * the helper goes, so look again now and then. */
static gboolean
check_stopped_cb (gpointer data)
{
  VivWindow *self = data;

  check_stopped (self);
  return G_SOURCE_CONTINUE;
}

static void
stop_done (VivWindow    *self,
           gboolean      ok,
           const GError *error)
{
  /* A machine that is stopping anyway is no failure */
  if (!ok && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      !g_error_matches (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE))
    viv_window_toast (self, error->message);
  check_stopped (self);
}

static void
on_shutdown_done (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(VivWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = viv_machine_shutdown_finish (VIV_MACHINE (object), result, &error);

  stop_done (self, ok, error);
}

static void
on_force_off_done (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(VivWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = viv_machine_force_off_finish (VIV_MACHINE (object), result, &error);

  stop_done (self, ok, error);
}

void
viv_window_force_off_stopping (VivWindow *self)
{
  if (self->stopping == NULL)
    return;
  for (guint i = 0; i < self->stopping->len; i++)
    {
      VivMachine *machine = self->stopping->pdata[i];

      if (viv_machine_is_active (machine))
        viv_machine_force_off_async (machine, NULL, on_force_off_done, g_object_ref (self));
    }
}

static gboolean
stop_timeout_cb (gpointer data)
{
  VivWindow *self = data;

  self->stop_timeout_id = 0;
  viv_window_force_off_stopping (self);
  return G_SOURCE_REMOVE;
}

static void
stop_machines (VivWindow *self)
{
  guint n;

  self->stopping = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->library)); i++)
    {
      g_autoptr(VivMachine) machine = g_list_model_get_item (G_LIST_MODEL (self->library), i);

      if (!viv_machine_is_active (machine))
        continue;
      g_ptr_array_add (self->stopping, g_object_ref (machine));
      g_signal_connect_object (machine, "notify::state", G_CALLBACK (on_stopping_state), self,
                               G_CONNECT_SWAPPED);

      /* A guest powers off when it sees the power button; one that cannot
       * see it (paused, not started yet) is switched off. */
      if (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING)
        viv_machine_shutdown_async (machine, NULL, on_shutdown_done, g_object_ref (self));
      else if (viv_machine_get_state (machine) != VIV_MACHINE_STATE_SHUTTING_DOWN)
        viv_machine_force_off_async (machine, NULL, on_force_off_done, g_object_ref (self));
    }

  n = self->stopping->len;
  if (n > 0)
    {
      g_autofree char *title = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                             "Stopping %u machine…",
                                                             "Stopping %u machines…", n),
                                                n);

      self->stop_toast = adw_toast_new (title);
      adw_toast_set_timeout (self->stop_toast, 0);
      adw_toast_set_priority (self->stop_toast, ADW_TOAST_PRIORITY_HIGH);
      adw_toast_set_button_label (self->stop_toast, _("_Force Off"));
      adw_toast_set_action_name (self->stop_toast, "win.force-off-all");
      adw_toast_overlay_add_toast (self->toast_overlay, g_object_ref (self->stop_toast));
      self->stop_timeout_id = g_timeout_add_seconds (STOP_TIMEOUT_S, stop_timeout_cb, self);
      self->stop_check_id = g_timeout_add (100, check_stopped_cb, self);
      gtk_widget_set_sensitive (GTK_WIDGET (self->main_stack), FALSE);
    }
  check_stopped (self);
}

static void
on_close_response (AdwMessageDialog *dialog G_GNUC_UNUSED,
                   const char       *response,
                   VivWindow        *self)
{
  self->close_dialog = NULL;

  if (g_strcmp0 (response, "keep") == 0)
    {
      /* The helpers go on; the next start of the app finds them. */
      self->close_confirmed = TRUE;
      g_idle_add_full (G_PRIORITY_DEFAULT, close_now, g_object_ref (self), g_object_unref);
    }
  else if (g_strcmp0 (response, "stop") == 0)
    {
      stop_machines (self);
    }
  else
    {
      self->quit_after_close = FALSE;
    }
}

static void
ask_before_closing (VivWindow *self,
                    guint      n_active)
{
  AdwMessageDialog *dialog;
  g_autofree char *heading = NULL;

  if (self->close_dialog != NULL)
    {
      gtk_window_present (GTK_WINDOW (self->close_dialog));
      return;
    }

  heading = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u Machine Is Running",
                                          "%u Machines Are Running", n_active),
                             n_active);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), heading, NULL));
  adw_message_dialog_set_body (dialog,
                               g_dngettext (GETTEXT_PACKAGE,
                                            "It can keep running without Vivarium, which finds "
                                            "it again when it starts. Or it can be shut down now.",
                                            "They can keep running without Vivarium, which finds "
                                            "them again when it starts. Or they can be shut down "
                                            "now.",
                                            n_active));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "stop", g_dngettext (GETTEXT_PACKAGE, "_Stop It",
                                                         "_Stop Them", n_active),
                                    "keep", g_dngettext (GETTEXT_PACKAGE, "_Keep It Running",
                                                         "_Keep Them Running", n_active),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "stop", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (dialog, "keep", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "keep");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_close_response), self, 0);

  self->close_dialog = dialog;
  gtk_window_present (GTK_WINDOW (dialog));
}

static gboolean
viv_window_close_request (GtkWindow *window)
{
  VivWindow *self = VIV_WINDOW (window);
  guint n_active;

  if (self->stopping != NULL && !self->close_confirmed)
    return TRUE;   /* waiting for the machines to stop */

  n_active = count_active (self);
  if (n_active > 0 && !self->close_confirmed)
    {
      ask_before_closing (self, n_active);
      return TRUE;
    }

  viv_window_commit_deletes (self);
  if (self->quit_after_close)
    {
      GApplication *app = G_APPLICATION (gtk_window_get_application (window));

      if (app != NULL)
        g_application_quit (app);
    }

  return GTK_WINDOW_CLASS (viv_window_parent_class)->close_request (window);
}

/* --- keyboard -------------------------------------------------------------------- */

/* A machine shortcut: the window action named in ARGS, for the current machine */
static gboolean
on_machine_shortcut (GtkWidget *widget,
                     GVariant  *args,
                     gpointer   user_data G_GNUC_UNUSED)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = viv_window_get_current_machine (self);
  const char *action = g_variant_get_string (args, NULL);
  g_autofree char *name = NULL;

  if (machine == NULL)
    return FALSE;

  /* One key pauses and resumes */
  if (g_strcmp0 (action, "pause-machine") == 0 &&
      viv_machine_get_state (machine) == VIV_MACHINE_STATE_PAUSED)
    action = "resume-machine";

  name = g_strconcat ("win.", action, NULL);
  return gtk_widget_activate_action (widget, name, "s", viv_machine_get_uuid (machine));
}

static void
add_machine_binding (GtkWidgetClass *widget_class,
                     const char     *accelerator,
                     const char     *action)
{
  guint keyval;
  GdkModifierType mods;

  if (!gtk_accelerator_parse (accelerator, &keyval, &mods))
    g_assert_not_reached ();
  gtk_widget_class_add_binding (widget_class, keyval, mods, on_machine_shortcut, "s", action);
}

/* --- VIVARIUM_TIMING ---------------------------------------------------------------- */

static void
on_after_paint (GdkFrameClock *clock,
                VivWindow     *self)
{
  VivMachineTile *tile = NULL;
  g_autoptr(VivMachine) first = NULL;
  const char *timing;

  if (g_strcmp0 (viv_window_get_visible_page (self), "collection") != 0)
    return;
  first = g_list_model_get_item (viv_collection_view_get_shown (self->collection), 0);
  if (first != NULL)
    tile = viv_collection_view_find_tile (self->collection, first);
  if (tile == NULL || !gtk_widget_get_mapped (GTK_WIDGET (tile)))
    return;

  /* CLOCK_MONOTONIC, as bench/app-start.sh reads it */
  printf ("vivarium-timing: first-collection-frame %" G_GINT64_FORMAT " us, %u machines\n",
          g_get_monotonic_time (),
          g_list_model_get_n_items (G_LIST_MODEL (self->library)));
  fflush (stdout);
  g_signal_handler_disconnect (clock, self->after_paint_id);
  self->after_paint_id = 0;

  timing = g_getenv ("VIVARIUM_TIMING");
  if (g_strcmp0 (timing, "quit") == 0)
    g_application_quit (G_APPLICATION (gtk_window_get_application (GTK_WINDOW (self))));
}

static void
viv_window_realize (GtkWidget *widget)
{
  VivWindow *self = VIV_WINDOW (widget);

  GTK_WIDGET_CLASS (viv_window_parent_class)->realize (widget);

  if (g_getenv ("VIVARIUM_TIMING") != NULL && self->after_paint_id == 0)
    self->after_paint_id = g_signal_connect (gtk_widget_get_frame_clock (widget), "after-paint",
                                             G_CALLBACK (on_after_paint), self);
}

static void
viv_window_unrealize (GtkWidget *widget)
{
  VivWindow *self = VIV_WINDOW (widget);

  if (self->after_paint_id != 0)
    g_clear_signal_handler (&self->after_paint_id, gtk_widget_get_frame_clock (widget));

  GTK_WIDGET_CLASS (viv_window_parent_class)->unrealize (widget);
}

/* --- GObject ------------------------------------------------------------------------- */

static void
viv_window_constructed (GObject *object)
{
  VivWindow *self = VIV_WINDOW (object);
  VivApplication *app;

  G_OBJECT_CLASS (viv_window_parent_class)->constructed (object);

  g_assert (VIV_IS_LIBRARY (self->library));
  viv_collection_view_set_model (self->collection, G_LIST_MODEL (self->library));
  g_signal_connect_object (self->library, "items-changed", G_CALLBACK (on_library_changed),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->library, "notify::loaded", G_CALLBACK (on_library_changed),
                           self, G_CONNECT_SWAPPED);
  app = VIV_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  if (app != NULL)
    g_signal_connect_object (app, "notify::library-error", G_CALLBACK (on_library_error),
                             self, G_CONNECT_SWAPPED);
  update_page (self);
}

static void
viv_window_dispose (GObject *object)
{
  VivWindow *self = VIV_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  viv_window_dispose_actions (self);
  g_clear_handle_id (&self->stop_timeout_id, g_source_remove);
  g_clear_handle_id (&self->stop_check_id, g_source_remove);
  g_clear_pointer (&self->stopping, g_ptr_array_unref);
  if (self->stop_toast != NULL)
    adw_toast_dismiss (self->stop_toast);
  g_clear_object (&self->stop_toast);
  if (self->close_dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (self->close_dialog));
  if (self->wizard != NULL)
    {
      g_object_remove_weak_pointer (G_OBJECT (self->wizard), (gpointer *) &self->wizard);
      gtk_window_destroy (GTK_WINDOW (self->wizard));
      self->wizard = NULL;
    }

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_WINDOW);

  g_clear_object (&self->settings);
  g_clear_object (&self->library);

  G_OBJECT_CLASS (viv_window_parent_class)->dispose (object);
}

static void
viv_window_finalize (GObject *object)
{
  VivWindow *self = VIV_WINDOW (object);

  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (viv_window_parent_class)->finalize (object);
}

static void
viv_window_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  VivWindow *self = VIV_WINDOW (object);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      g_value_set_object (value, self->library);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_window_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  VivWindow *self = VIV_WINDOW (object);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      g_assert (self->library == NULL);
      self->library = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_window_class_init (VivWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = viv_window_constructed;
  object_class->dispose = viv_window_dispose;
  object_class->finalize = viv_window_finalize;
  object_class->get_property = viv_window_get_property;
  object_class->set_property = viv_window_set_property;

  widget_class->realize = viv_window_realize;
  widget_class->unrealize = viv_window_unrealize;

  window_class->close_request = viv_window_close_request;

  properties[PROP_LIBRARY] =
    g_param_spec_object ("library", NULL, NULL,
                         VIV_TYPE_LIBRARY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (VIV_TYPE_COLLECTION_VIEW);
  g_type_ensure (VIV_TYPE_MACHINE_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-window.ui");
  gtk_widget_class_bind_template_child (widget_class, VivWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, view_button);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, search_button);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, search_bar);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, search_entry);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, loading_spinner);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, empty_page);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, collection);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, error_page);
  gtk_widget_class_bind_template_child (widget_class, VivWindow, machine_page);
  gtk_widget_class_bind_template_callback (widget_class, on_activate_machine);
  gtk_widget_class_bind_template_callback (widget_class, on_shown_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_search_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_search_mode_changed);

  gtk_widget_class_install_action (widget_class, "win.new-machine", NULL, new_machine_action);
  gtk_widget_class_install_action (widget_class, "win.back", NULL, back_action);
  gtk_widget_class_install_action (widget_class, "win.search", NULL, search_action);
  gtk_widget_class_install_action (widget_class, "win.context-menu", NULL, context_menu_action);
  gtk_widget_class_install_action (widget_class, "win.force-off-all", NULL,
                                   force_off_all_action);
  viv_window_class_init_actions (widget_class);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "win.back", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Left, GDK_ALT_MASK, "win.back",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Back, 0, "win.back", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Menu, 0, "win.context-menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK,
                                       "win.context-menu", NULL);

  add_machine_binding (widget_class, VIV_ACCEL_START, "start-machine");
  add_machine_binding (widget_class, VIV_ACCEL_PAUSE, "pause-machine");
  add_machine_binding (widget_class, VIV_ACCEL_SHUTDOWN, "shutdown-machine");
  add_machine_binding (widget_class, VIV_ACCEL_FORCE_OFF, "force-off-machine");
  add_machine_binding (widget_class, VIV_ACCEL_RESET, "reset-machine");
  add_machine_binding (widget_class, VIV_ACCEL_RENAME, "rename-machine");
  add_machine_binding (widget_class, VIV_ACCEL_PREFERENCES, "machine-preferences");
  add_machine_binding (widget_class, VIV_ACCEL_SHOW_LOG, "show-machine-log");
  add_machine_binding (widget_class, VIV_ACCEL_DELETE, "delete-machine");
}

static void
on_back_button_pressed (GtkGestureClick *gesture,
                        int              n_press G_GNUC_UNUSED,
                        double           x G_GNUC_UNUSED,
                        double           y G_GNUC_UNUSED,
                        VivWindow       *self)
{
  if (g_strcmp0 (viv_window_get_view (self), "machine") != 0)
    return;
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  go_back (self);
}

static void
viv_window_init (VivWindow *self)
{
  GtkGesture *back;

  gtk_widget_init_template (GTK_WIDGET (self));
  viv_remote_display_route_keys (GTK_WINDOW (self));

  if (g_strcmp0 (PROFILE, "development") == 0)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");

  self->cancellable = g_cancellable_new ();
  adw_status_page_set_icon_name (self->empty_page, APP_ID "-symbolic");
  gtk_search_bar_connect_entry (self->search_bar, GTK_EDITABLE (self->search_entry));
  set_library_page_active (self, TRUE);

  g_signal_connect_object (self->main_stack, "notify::transition-running",
                           G_CALLBACK (on_main_stack_transition), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->collection, "notify::view-mode",
                           G_CALLBACK (on_view_mode_changed), self, G_CONNECT_SWAPPED);
  on_view_mode_changed (self);

  /* Dropping a disc image (or a disk image) makes a machine of it */
  {
    GtkDropTarget *drop = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);

    gtk_drop_target_set_gtypes (drop, (GType[2]) { GDK_TYPE_FILE_LIST, G_TYPE_FILE }, 2);
    g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
    gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
  }

  /* The mouse's back button */
  back = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (back), 8);
  g_signal_connect (back, "pressed", G_CALLBACK (on_back_button_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (back));

  viv_window_init_actions (self);
}
