/* viv-application.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-application"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-application.h"
#include "viv-window.h"

struct _VivApplication
{
  AdwApplication parent_instance;

  GSettings *settings;
};

G_DEFINE_FINAL_TYPE (VivApplication, viv_application, ADW_TYPE_APPLICATION)

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

static void
viv_application_quit_action (GSimpleAction *action G_GNUC_UNUSED,
                             GVariant      *parameter G_GNUC_UNUSED,
                             gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
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

  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit",
                                         (const char *[]) { "<Control>q", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "window.close",
                                         (const char *[]) { "<Control>w", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.new-machine",
                                         (const char *[]) { "<Control>n", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.show-help-overlay",
                                         (const char *[]) { "<Control>question", NULL });
}

static void
viv_application_dispose (GObject *object)
{
  VivApplication *self = VIV_APPLICATION (object);

  g_clear_object (&self->settings);

  G_OBJECT_CLASS (viv_application_parent_class)->dispose (object);
}

static void
viv_application_class_init (VivApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = viv_application_dispose;

  app_class->activate = viv_application_activate;
  app_class->startup = viv_application_startup;
}

static void
viv_application_init (VivApplication *self)
{
  self->settings = g_settings_new (BASE_APP_ID);
}
