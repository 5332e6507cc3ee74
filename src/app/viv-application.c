/* viv-application.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-application"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-application.h"
#include "viv-os-catalog.h"
#include "viv-window.h"

struct _VivApplication
{
  AdwApplication parent_instance;

  GSettings     *settings;
  VivLibrary    *library;        /* made at startup */
  char          *library_error;  /* why it could not be read */
  GCancellable  *cancellable;    /* cancelled at shutdown */
};

G_DEFINE_FINAL_TYPE (VivApplication, viv_application, ADW_TYPE_APPLICATION)

enum {
  PROP_0,
  PROP_LIBRARY_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Translations are looked up in LOCALEDIR, or in VIVARIUM_LOCALEDIR when the
 * app runs from its build folder (meson devenv and the tests set it). */
void
viv_application_init_i18n (void)
{
  const char *localedir = g_getenv ("VIVARIUM_LOCALEDIR");

  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}

VivApplication *
viv_application_new (void)
{
  return g_object_new (VIV_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", RESOURCE_PATH,
                       NULL);
}

GSettings *
viv_application_get_settings (VivApplication *self)
{
  g_return_val_if_fail (VIV_IS_APPLICATION (self), NULL);

  return self->settings;
}

/* The machines, one library for the whole app; NULL before startup */
VivLibrary *
viv_application_get_library (VivApplication *self)
{
  g_return_val_if_fail (VIV_IS_APPLICATION (self), NULL);

  return self->library;
}

/* Why the library could not be read, or NULL */
const char *
viv_application_get_library_error (VivApplication *self)
{
  g_return_val_if_fail (VIV_IS_APPLICATION (self), NULL);

  return self->library_error;
}

static void
on_library_loaded (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(VivApplication) self = user_data;
  g_autoptr(GError) error = NULL;

  if (viv_library_load_finish (VIV_LIBRARY (object), result, &error))
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_warning ("%s", error->message);
  g_free (self->library_error);
  self->library_error = g_strdup (error->message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LIBRARY_ERROR]);
}

static void
viv_application_activate (GApplication *app)
{
  GtkWindow *window;

  window = gtk_application_get_active_window (GTK_APPLICATION (app));
  if (window == NULL)
    window = GTK_WINDOW (viv_window_new (VIV_APPLICATION (app)));

  gtk_window_present (window);
}

static void
viv_application_about_action (GSimpleAction *action G_GNUC_UNUSED,
                              GVariant      *parameter G_GNUC_UNUSED,
                              gpointer       user_data)
{
  static const char *developers[] = { "The Vivarium developers", NULL };
  VivApplication *self = user_data;
  GtkWindow *window;
  GtkWidget *about;

  window = gtk_application_get_active_window (GTK_APPLICATION (self));
  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", window,
                        "application-name", _("Vivarium"),
                        "application-icon", APP_ID,
                        "developer-name", _("The Vivarium developers"),
                        "version", PACKAGE_VERSION,
                        "comments", _("Create, run and keep virtual machines"),
                        "license-type", GTK_LICENSE_GPL_3_0,
                        "developers", developers,
                        /* Translators: replace with your names, one per line */
                        "translator-credits", _("translator-credits"),
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

/* Quitting closes the main window, which asks first when machines run */
static void
viv_application_quit_action (GSimpleAction *action G_GNUC_UNUSED,
                             GVariant      *parameter G_GNUC_UNUSED,
                             gpointer       user_data)
{
  VivApplication *self = user_data;
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (self));

  for (GList *l = windows; l != NULL; l = l->next)
    if (VIV_IS_WINDOW (l->data))
      {
        viv_window_request_quit (l->data);
        return;
      }
  g_application_quit (G_APPLICATION (self));
}

static const GActionEntry app_actions[] = {
  { .name = "about", .activate = viv_application_about_action },
  { .name = "quit", .activate = viv_application_quit_action },
};

static void
viv_application_startup (GApplication *app)
{
  VivApplication *self = VIV_APPLICATION (app);

  G_APPLICATION_CLASS (viv_application_parent_class)->startup (app);

  g_set_application_name (_("Vivarium"));
  gtk_window_set_default_icon_name (APP_ID);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions,
                                   G_N_ELEMENTS (app_actions), self);

  /* Both read in worker threads from now on, so that the first window
   * finds them (nearly) ready */
  viv_os_catalog_load (viv_os_catalog_get_default ());
  self->library = viv_library_new (NULL);
  viv_library_load_async (self->library, self->cancellable, on_library_loaded,
                          g_object_ref (self));

  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit",
                                         (const char *[]) { "<Control>q", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "window.close",
                                         (const char *[]) { "<Control>w", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.new-machine",
                                         (const char *[]) { "<Control>n", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.show-help-overlay",
                                         (const char *[]) { "<Control>question", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.search",
                                         (const char *[]) { "<Control>f", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.view-mode::grid",
                                         (const char *[]) { "<Control>1", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.view-mode::list",
                                         (const char *[]) { "<Control>2", NULL });
}

static void
viv_application_shutdown (GApplication *app)
{
  VivApplication *self = VIV_APPLICATION (app);

  g_cancellable_cancel (self->cancellable);

  G_APPLICATION_CLASS (viv_application_parent_class)->shutdown (app);

  /* Machines let go of their helpers, which go on running */
  g_clear_object (&self->library);
}

static void
viv_application_dispose (GObject *object)
{
  VivApplication *self = VIV_APPLICATION (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->library);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (viv_application_parent_class)->dispose (object);
}

static void
viv_application_finalize (GObject *object)
{
  VivApplication *self = VIV_APPLICATION (object);

  g_clear_object (&self->cancellable);
  g_free (self->library_error);

  G_OBJECT_CLASS (viv_application_parent_class)->finalize (object);
}

static void
viv_application_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  VivApplication *self = VIV_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_LIBRARY_ERROR:
      g_value_set_string (value, self->library_error);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_application_class_init (VivApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = viv_application_dispose;
  object_class->finalize = viv_application_finalize;
  object_class->get_property = viv_application_get_property;

  app_class->activate = viv_application_activate;
  app_class->startup = viv_application_startup;
  app_class->shutdown = viv_application_shutdown;

  properties[PROP_LIBRARY_ERROR] =
    g_param_spec_string ("library-error", NULL, NULL,
                         NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
viv_application_init (VivApplication *self)
{
  self->settings = g_settings_new (BASE_APP_ID);
  self->cancellable = g_cancellable_new ();
}
