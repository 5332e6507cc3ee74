/* viv-window-actions.c: what can be done to a machine, as window actions
 *
 * Each action takes the machine's UUID ("s"), so that menus, the machine
 * page, key bindings and tests all go through the same door:
 *
 *   win.open-machine, win.start-machine, win.pause-machine,
 *   win.resume-machine, win.shutdown-machine, win.force-off-machine,
 *   win.reset-machine, win.rename-machine, win.machine-preferences,
 *   win.show-machine-log, win.delete-machine
 *
 * and win.undo-delete brings back what the last delete toast offers.
 * Failures become toasts. Forcing off asks first. Deleting needs no
 * confirmation: the machine's folder moves aside at once, the toast offers
 * to undo it, and the delete is committed (to the trash) when the toast
 * goes away.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-window"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-machine-preferences.h"
#include "viv-undo-toast.h"
#include "viv-window-private.h"

typedef gboolean (*MachineFinish) (VivMachine    *machine,
                                   GAsyncResult  *result,
                                   GError       **error);

static VivMachine *
lookup (VivWindow *self,
        GVariant  *parameter)
{
  const char *uuid = g_variant_get_string (parameter, NULL);
  VivMachine *machine = viv_library_find (self->library, uuid);

  if (machine == NULL)
    g_debug ("no machine %s (deleted meanwhile?)", uuid);
  return machine;
}

/* --- power --------------------------------------------------------------------------- */

typedef struct
{
  VivWindow     *window;
  MachineFinish  finish;
} PowerCall;

static PowerCall *
power_call_new (VivWindow     *self,
                MachineFinish  finish)
{
  PowerCall *call = g_new0 (PowerCall, 1);

  call->window = g_object_ref (self);
  call->finish = finish;
  return call;
}

static void
on_power_done (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  PowerCall *call = user_data;
  g_autoptr(GError) error = NULL;

  /* A start that failed says so on the machine's tile and page: no toast too */
  if (!call->finish (VIV_MACHINE (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      viv_machine_get_start_failure (VIV_MACHINE (object)) == VIV_MACHINE_START_FAILURE_NONE)
    viv_window_toast (call->window, error->message);
  g_object_unref (call->window);
  g_free (call);
}

#define POWER_ACTION(verb)                                                              \
  static void                                                                           \
  verb##_action (GtkWidget  *widget,                                                    \
                 const char *action_name G_GNUC_UNUSED,                                 \
                 GVariant   *parameter)                                                 \
  {                                                                                     \
    VivWindow *self = VIV_WINDOW (widget);                                              \
    VivMachine *machine = lookup (self, parameter);                                     \
                                                                                        \
    if (machine != NULL)                                                                \
      viv_machine_##verb##_async (machine, self->cancellable, on_power_done,            \
                                  power_call_new (self, viv_machine_##verb##_finish));  \
  }

POWER_ACTION (pause)
POWER_ACTION (resume)
POWER_ACTION (shutdown)
POWER_ACTION (reset)

/* A machine this version cannot start (firmware boot) says why instead,
 * whichever way Start was asked for */
static void
start_action (GtkWidget  *widget,
              const char *action_name G_GNUC_UNUSED,
              GVariant   *parameter)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = lookup (self, parameter);

  if (machine == NULL)
    return;
  if (!viv_machine_can_start_yet (machine))
    {
      viv_window_toast (self, viv_machine_get_cannot_start_reason (machine));
      return;
    }
  viv_machine_start_async (machine, self->cancellable, on_power_done,
                           power_call_new (self, viv_machine_start_finish));
}

/* Forcing off is pulling the plug: what the guest had not written is lost,
 * so it asks first (as virt-manager does), with Cancel as the default */
static void
on_force_off_response (AdwMessageDialog *dialog,
                       const char       *response,
                       VivWindow        *self)
{
  VivMachine *machine = g_object_get_data (G_OBJECT (dialog), "machine");

  if (g_strcmp0 (response, "force-off") != 0)
    return;
  viv_machine_force_off_async (machine, self->cancellable, on_power_done,
                               power_call_new (self, viv_machine_force_off_finish));
}

static void
force_off_action (GtkWidget  *widget,
                  const char *action_name G_GNUC_UNUSED,
                  GVariant   *parameter)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = lookup (self, parameter);
  g_autofree char *heading = NULL;
  AdwMessageDialog *dialog;

  if (machine == NULL)
    return;

  /* Translators: a dialog's title; %s is a machine’s name */
  heading = g_strdup_printf (_("Force Off “%s”?"), viv_machine_get_name (machine));
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), heading, NULL));
  gtk_window_set_destroy_with_parent (GTK_WINDOW (dialog), TRUE);
  if (viv_machine_get_state (machine) == VIV_MACHINE_STATE_UNREACHABLE)
    {
      g_autofree char *body =
        g_strdup_printf (_("Vivarium cannot reach the machine’s helper process (vivarium-vmm, "
                           "process %d): that process is asked to end. The machine stops at "
                           "once, and anything it has not saved is lost."),
                         (int) viv_machine_get_helper_pid (machine));

      adw_message_dialog_set_body (dialog, body);
    }
  else
    adw_message_dialog_set_body (dialog,
                                 _("The machine stops at once, as if its power were cut. "
                                   "Anything it has not saved is lost."));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "force-off", _("_Force Off"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "force-off", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");

  g_object_set_data_full (G_OBJECT (dialog), "machine", g_object_ref (machine), g_object_unref);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_force_off_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
open_action (GtkWidget  *widget,
             const char *action_name G_GNUC_UNUSED,
             GVariant   *parameter)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = lookup (self, parameter);

  if (machine != NULL)
    viv_window_open_machine (self, machine);
}

/* --- rename ------------------------------------------------------------------------- */

static void
on_renamed (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(VivWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!viv_machine_rename_finish (VIV_MACHINE (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    viv_window_toast (self, error->message);
}

/* The name in the dialog, or NULL with the reason in ERROR */
static char *
dialog_name (GtkEditable  *entry,
             GError      **error)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (entry)));

  if (!viv_machine_check_name (name, error))
    return NULL;
  return g_steal_pointer (&name);
}

static void
on_rename_text_changed (GtkEditable      *entry,
                        AdwMessageDialog *dialog)
{
  GtkLabel *error_label = g_object_get_data (G_OBJECT (dialog), "error-label");
  g_autoptr(GError) error = NULL;
  g_autofree char *name = dialog_name (entry, &error);

  adw_message_dialog_set_response_enabled (dialog, "rename", name != NULL);
  gtk_label_set_label (error_label, error != NULL ? error->message : NULL);
  gtk_widget_set_visible (GTK_WIDGET (error_label), error != NULL);
  if (error != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (entry), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (entry), "error");
}

static void
on_rename_response (AdwMessageDialog *dialog,
                    const char       *response,
                    VivWindow        *self)
{
  VivMachine *machine = g_object_get_data (G_OBJECT (dialog), "machine");
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "entry");
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;

  if (g_strcmp0 (response, "rename") != 0)
    return;
  name = dialog_name (entry, &error);
  if (name == NULL)
    {
      viv_window_toast (self, error->message);
      return;
    }
  if (g_strcmp0 (name, viv_machine_get_name (machine)) != 0)
    viv_machine_rename_async (machine, name, self->cancellable, on_renamed,
                              g_object_ref (self));
}

static void
rename_action (GtkWidget  *widget,
               const char *action_name G_GNUC_UNUSED,
               GVariant   *parameter)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = lookup (self, parameter);
  g_autofree char *heading = NULL;
  AdwMessageDialog *dialog;
  GtkWidget *box, *entry, *error_label;

  if (machine == NULL)
    return;
  if (viv_machine_get_state (machine) == VIV_MACHINE_STATE_BROKEN)
    {
      viv_window_toast (self, viv_machine_get_broken_reason (machine));
      return;
    }

  /* Translators: a dialog's title; %s is a machine’s name */
  heading = g_strdup_printf (_("Rename “%s”"), viv_machine_get_name (machine));
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), heading, NULL));
  gtk_window_set_destroy_with_parent (GTK_WINDOW (dialog), TRUE);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  entry = gtk_entry_new ();
  gtk_editable_set_text (GTK_EDITABLE (entry), viv_machine_get_name (machine));
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Name"),
                                  -1);
  error_label = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (error_label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (error_label), 0.0f);
  gtk_widget_add_css_class (error_label, "error");
  gtk_widget_add_css_class (error_label, "caption");
  gtk_widget_set_visible (error_label, FALSE);
  gtk_box_append (GTK_BOX (box), entry);
  gtk_box_append (GTK_BOX (box), error_label);
  adw_message_dialog_set_extra_child (dialog, box);

  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "rename", _("_Rename"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "rename", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "rename");
  adw_message_dialog_set_close_response (dialog, "cancel");

  g_object_set_data_full (G_OBJECT (dialog), "machine", g_object_ref (machine), g_object_unref);
  g_object_set_data (G_OBJECT (dialog), "entry", entry);
  g_object_set_data (G_OBJECT (dialog), "error-label", error_label);
  g_signal_connect (entry, "changed", G_CALLBACK (on_rename_text_changed), dialog);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_rename_response), self, 0);

  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

/* --- preferences and the log -------------------------------------------------------- */

static void
show_preferences (VivWindow  *self,
                  VivMachine *machine,
                  const char *page)
{
  VivMachinePreferences *preferences = viv_machine_preferences_new (machine, GTK_WINDOW (self));

  gtk_window_set_destroy_with_parent (GTK_WINDOW (preferences), TRUE);
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (preferences), page);
  gtk_window_present (GTK_WINDOW (preferences));
}

static void
preferences_action (GtkWidget  *widget,
                    const char *action_name G_GNUC_UNUSED,
                    GVariant   *parameter)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = lookup (self, parameter);

  if (machine == NULL)
    return;
  if (viv_machine_get_state (machine) == VIV_MACHINE_STATE_BROKEN)
    {
      show_preferences (self, machine, "troubleshooting");
      return;
    }
  /* After a failed start, the page that fixes it */
  switch (viv_machine_get_start_failure (machine))
    {
    case VIV_MACHINE_START_FAILURE_DISK:
      show_preferences (self, machine, "disks");
      return;
    case VIV_MACHINE_START_FAILURE_KERNEL:
      show_preferences (self, machine, "boot");
      return;
    case VIV_MACHINE_START_FAILURE_NO_KVM:
    case VIV_MACHINE_START_FAILURE_OTHER:
      show_preferences (self, machine, "troubleshooting");
      return;
    case VIV_MACHINE_START_FAILURE_SETTINGS:
    case VIV_MACHINE_START_FAILURE_NONE:
    default:
      break;
    }
  show_preferences (self, machine, "general");
}

static void
show_log_action (GtkWidget  *widget,
                 const char *action_name G_GNUC_UNUSED,
                 GVariant   *parameter)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = lookup (self, parameter);

  if (machine != NULL)
    show_preferences (self, machine, "troubleshooting");
}

/* --- delete and undo ----------------------------------------------------------------- */

static void
on_deletes_committed (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(VivWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!viv_library_commit_deletes_finish (VIV_LIBRARY (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    viv_window_toast (self, error->message);
}

/* The deletes the toast offered to undo are final now */
void
viv_window_commit_deletes (VivWindow *self)
{
  if (self->pending_deletes == NULL || self->pending_deletes->len == 0)
    return;
  g_ptr_array_set_size (self->pending_deletes, 0);
  if (gtk_widget_get_realized (GTK_WIDGET (self)))
    viv_library_commit_deletes_async (self->library, NULL, on_deletes_committed,
                                      g_object_ref (self));
  else
    viv_library_commit_deletes (self->library);   /* errors are logged */
}

static gboolean
commit_deletes_cb (gpointer data)
{
  VivWindow *self = data;

  /* Unless its Undo button was what dismissed it */
  if (self->pending_deletes != NULL)
    viv_window_commit_deletes (self);
  return G_SOURCE_REMOVE;
}

/* A toast already shown says how many deletes it now undoes */
static void
show_delete_toast (VivWindow  *self,
                   VivMachine *machine)
{
  g_autofree char *title = NULL;
  guint n = self->pending_deletes->len;

  if (n == 1)
    {
      /* a toast's title is markup */
      g_autofree char *name = g_markup_escape_text (viv_machine_get_name (machine), -1);

      /* Translators: %s is a machine’s name */
      title = g_strdup_printf (_("“%s” deleted"), name);
    }
  else
    title = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u machine deleted",
                                          "%u machines deleted", n),
                             n);
  viv_undo_toast_show (&self->delete_toast, GTK_WIDGET (self), self->toast_overlay, title,
                       "win.undo-delete", commit_deletes_cb);
}

static void
delete_action (GtkWidget  *widget,
               const char *action_name G_GNUC_UNUSED,
               GVariant   *parameter)
{
  VivWindow *self = VIV_WINDOW (widget);
  VivMachine *machine = lookup (self, parameter);
  g_autoptr(GError) error = NULL;
  g_autoptr(VivMachine) held = NULL;

  if (machine == NULL)
    return;

  held = g_object_ref (machine);
  if (!viv_library_delete_machine (self->library, machine, &error))
    {
      /* A running machine, for one: the message says to stop it first */
      viv_window_toast (self, error->message);
      return;
    }
  g_ptr_array_add (self->pending_deletes, g_strdup (viv_machine_get_uuid (held)));
  show_delete_toast (self, held);
}

static void
undo_delete_action (GtkWidget  *widget,
                    const char *action_name G_GNUC_UNUSED,
                    GVariant   *parameter G_GNUC_UNUSED)
{
  VivWindow *self = VIV_WINDOW (widget);
  g_autoptr(GPtrArray) uuids = g_steal_pointer (&self->pending_deletes);

  self->pending_deletes = g_ptr_array_new_with_free_func (g_free);
  viv_undo_toast_withdraw (&self->delete_toast);

  for (guint i = 0; i < uuids->len; i++)
    {
      g_autoptr(GError) error = NULL;

      if (!viv_library_undo_delete (self->library, uuids->pdata[i], &error))
        viv_window_toast (self, error->message);
    }
}

/* --- set-up -------------------------------------------------------------------------- */

void
viv_window_class_init_actions (GtkWidgetClass *widget_class)
{
  static const struct {
    const char *name;
    GtkWidgetActionActivateFunc activate;
  } actions[] = {
    { "win.open-machine", open_action },
    { "win.start-machine", start_action },
    { "win.pause-machine", pause_action },
    { "win.resume-machine", resume_action },
    { "win.shutdown-machine", shutdown_action },
    { "win.force-off-machine", force_off_action },
    { "win.reset-machine", reset_action },
    { "win.rename-machine", rename_action },
    { "win.machine-preferences", preferences_action },
    { "win.show-machine-log", show_log_action },
    { "win.delete-machine", delete_action },
  };

  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    gtk_widget_class_install_action (widget_class, actions[i].name, "s", actions[i].activate);
  gtk_widget_class_install_action (widget_class, "win.undo-delete", NULL, undo_delete_action);
}

void
viv_window_init_actions (VivWindow *self)
{
  self->pending_deletes = g_ptr_array_new_with_free_func (g_free);
}

void
viv_window_dispose_actions (VivWindow *self)
{
  viv_undo_toast_forget (&self->delete_toast, GTK_WIDGET (self));
  viv_window_commit_deletes (self);
  g_clear_pointer (&self->pending_deletes, g_ptr_array_unref);
}
