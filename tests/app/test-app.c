/* test-app.c: the real app under Xvfb: it starts, shows its empty state and
 * its actions work. Screenshots go to the build folder's tests/screenshots.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "viv-application.h"
#include "viv-window.h"
#include "viv-wizard.h"
#include "viv-test-ui.h"
#include "viv-file.h"

static VivApplication *the_app;
static char *root;   /* the test's XDG_DATA_HOME and XDG_RUNTIME_DIR */

typedef struct {
  VivApplication *app;
  VivWindow *window;
  const char *suffix; /* "" or "-ru": screenshots of a translated run */
} Fixture;

static gboolean
library_shown (gpointer data)
{
  return g_strcmp0 (viv_window_get_visible_page (data), "loading") != 0;
}

static void
fixture_setup (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *language = g_getenv ("LANGUAGE");

  f->suffix = (language != NULL && g_str_has_prefix (language, "ru")) ? "-ru" : "";
  f->app = the_app;
  g_assert_null (gtk_application_get_active_window (GTK_APPLICATION (f->app)));
  g_application_activate (G_APPLICATION (f->app));

  f->window = VIV_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (f->app)));
  g_assert_nonnull (f->window);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), 3, 10000));
  g_assert_true (viv_test_wait_for (library_shown, f->window, 10000));
}

static void close_other_windows (Fixture *f);

static void
fixture_teardown (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  close_other_windows (f);
  gtk_window_destroy (GTK_WINDOW (f->window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static char *
shot_name (Fixture *f, const char *name)
{
  return g_strconcat (name, f->suffix, NULL);
}

static void
test_empty_state (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *name = shot_name (f, "empty-state");
  g_autofree char *path = NULL;
  GtkWidget *status, *button;

  /* An empty library shows the empty state, not an empty grid. */
  g_assert_cmpuint (g_list_model_get_n_items (viv_window_get_machines (f->window)), ==, 0);
  g_assert_cmpstr (viv_window_get_visible_page (f->window), ==, "empty");

  status = viv_test_find_widget (GTK_WIDGET (f->window), ADW_TYPE_STATUS_PAGE, _("No Machines"));
  g_assert_nonnull (status);
  g_assert_true (gtk_widget_is_visible (status) && gtk_widget_get_mapped (status));

  /* The empty state offers "New Machine", wired to the window's action. */
  button = viv_test_find_widget (status, GTK_TYPE_BUTTON, _("_New Machine"));
  g_assert_nonnull (button);
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (button)), ==,
                   "win.new-machine");
  g_assert_true (gtk_widget_get_sensitive (button));

  if (*f->suffix != '\0')
    {
      /* The translation was found and used: the title is not the English one. */
      g_assert_cmpstr (adw_status_page_get_title (ADW_STATUS_PAGE (status)), !=, "No Machines");
    }

  path = viv_test_screenshot (GTK_WIDGET (f->window), name);
  g_assert_nonnull (path);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
}

static GtkWidget *find_toplevel (GType type);

static gboolean
wizard_shown (gpointer data G_GNUC_UNUSED)
{
  return find_toplevel (VIV_TYPE_WIZARD) != NULL;
}

static gboolean
wizard_gone (gpointer data G_GNUC_UNUSED)
{
  return find_toplevel (VIV_TYPE_WIZARD) == NULL;
}

/* New Machine opens the wizard, modal over the window; Escape closes it
 * (test-wizard drives the wizard itself) */
static void
test_new_machine (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *name = shot_name (f, "new-machine");
  g_autofree char *path = NULL;
  GtkWidget *wizard;

  g_assert_false (wizard_shown (NULL));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.new-machine", NULL));
  g_assert_true (viv_test_wait_for (wizard_shown, NULL, 5000));
  wizard = find_toplevel (VIV_TYPE_WIZARD);
  g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (wizard)) == GTK_WINDOW (f->window));
  g_assert_true (gtk_window_get_modal (GTK_WINDOW (wizard)));
  g_assert_cmpstr (viv_wizard_get_page (VIV_WIZARD (wizard)), ==, "source");

  /* A second New Machine brings back the same wizard */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.new-machine", NULL));
  g_assert_true (find_toplevel (VIV_TYPE_WIZARD) == wizard);

  g_assert_true (viv_test_wait_for_frames (wizard, 20, 5000));
  path = viv_test_screenshot (wizard, name);
  g_assert_nonnull (path);

  g_assert_true (gtk_widget_activate_action (wizard, "wizard.cancel", NULL));
  g_assert_true (viv_test_wait_for (wizard_gone, NULL, 5000));
}

static gboolean
has_shortcuts_window (gpointer data G_GNUC_UNUSED)
{
  return find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW) != NULL;
}

static void
test_shortcuts (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  GtkApplication *gtk_app = GTK_APPLICATION (f->app);
  g_autofree char *name = shot_name (f, "shortcuts");
  g_auto(GStrv) accels = NULL;
  GtkWidget *shortcuts;

  /* Every action has a keyboard path. */
  accels = gtk_application_get_accels_for_action (gtk_app, "win.new-machine");
  g_assert_cmpstr (accels[0], ==, "<Control>n");
  g_clear_pointer (&accels, g_strfreev);
  accels = gtk_application_get_accels_for_action (gtk_app, "app.quit");
  g_assert_cmpstr (accels[0], ==, "<Control>q");
  g_clear_pointer (&accels, g_strfreev);
  accels = gtk_application_get_accels_for_action (gtk_app, "win.show-help-overlay");
  g_assert_cmpstr (accels[0], ==, "<Control>question");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.show-help-overlay",
                                             NULL));
  g_assert_true (viv_test_wait_for (has_shortcuts_window, NULL, 5000));
  shortcuts = find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW);
  g_assert_true (viv_test_wait_for_frames (shortcuts, 20, 5000));
  g_free (viv_test_screenshot (shortcuts, name));
}

static GtkWidget *
find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) w = g_list_model_get_item (toplevels, i);
      if (g_type_is_a (G_OBJECT_TYPE (w), type) && gtk_widget_get_mapped (w))
        return w;
    }
  return NULL;
}

static gboolean
about_shown (gpointer data G_GNUC_UNUSED)
{
  return find_toplevel (ADW_TYPE_ABOUT_WINDOW) != NULL;
}

static void
test_about (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *name = shot_name (f, "about");
  g_autofree char *path = NULL;
  GtkWidget *about;

  g_action_group_activate_action (G_ACTION_GROUP (f->app), "about", NULL);
  g_assert_true (viv_test_wait_for (about_shown, NULL, 5000));
  about = find_toplevel (ADW_TYPE_ABOUT_WINDOW);
  g_assert_cmpstr (adw_about_window_get_version (ADW_ABOUT_WINDOW (about)), ==, PACKAGE_VERSION);
  g_assert_true (viv_test_wait_for_frames (about, 20, 5000));
  path = viv_test_screenshot (about, name);
  g_assert_nonnull (path);
}

/* Closes every window but the main one, which the fixture closes. */
static void
close_other_windows (Fixture *f)
{
  GList *windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (f->app)));

  for (GList *l = windows; l != NULL; l = l->next)
    if (l->data != (gpointer) f->window)
      gtk_window_destroy (GTK_WINDOW (l->data));
  g_list_free (windows);
}

int
main (int argc, char *argv[])
{
  int status;

  /* A library of our own, empty */
  root = viv_test_ui_init (&argc, &argv);

  /* One application for the whole run, as in a real session; each test
   * opens its own main window. Non-unique: the test must not find, or be
   * found by, a Vivarium the user is running. */
  the_app = viv_test_app_new ();

  g_test_add ("/app/empty-state", Fixture, NULL, fixture_setup, test_empty_state,
              fixture_teardown);
  g_test_add ("/app/new-machine", Fixture, NULL, fixture_setup, test_new_machine,
              fixture_teardown);
  g_test_add ("/app/shortcuts", Fixture, NULL, fixture_setup, test_shortcuts,
              fixture_teardown);
  g_test_add ("/app/about", Fixture, NULL, fixture_setup, test_about, fixture_teardown);

  status = g_test_run ();
  g_application_release (G_APPLICATION (the_app));
  g_clear_object (&the_app);
  viv_test_finish (root);
  return status;
}
