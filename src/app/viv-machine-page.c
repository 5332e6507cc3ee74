/* viv-machine-page.c: one machine, full window: its state, power and console
 *
 * What a click on a tile opens: a header bar with a back button, the
 * machine's name and state, and its power actions (start, pause or resume,
 * shut down; reset, force off and the rest in a menu), over the machine's
 * console while it runs, or a status page saying why there is none. The
 * page's machine.* actions forward to the window's actions with the
 * machine's UUID, and are enabled as the machine's state allows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-machine-page"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-machine-page.h"

struct _VivMachinePage
{
  GtkWidget         parent_instance;

  VivMachine       *machine;

  /* template children */
  GtkWidget        *box;
  AdwWindowTitle   *window_title;
  GtkMenuButton    *menu_button;
  GtkButton        *start_button;
  GtkButton        *pause_button;
  GtkButton        *resume_button;
  GtkButton        *shutdown_button;
  GtkStack         *content_stack;
  GtkSpinner       *spinner;
  VivSerialConsole *console;
  AdwStatusPage    *problem_page;
  GtkButton        *problem_start_button;
  GtkRevealer      *disk_banner;
  GtkLabel         *disk_banner_label;
  GtkButton        *disk_banner_button;
};

G_DEFINE_FINAL_TYPE (VivMachinePage, viv_machine_page, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MACHINE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The first line of a message; a crash's message goes on with the log. */
static char *
first_line (const char *text)
{
  const char *end;

  if (text == NULL)
    return NULL;
  end = strchr (text, '\n');
  return end != NULL ? g_strndup (text, (gsize) (end - text)) : g_strdup (text);
}

/* The button that opens the preferences page that fixes a failed start
 * (win.machine-preferences opens that page) */
static const char *
fix_label (VivMachineStartFailure failure)
{
  switch (failure)
    {
    case VIV_MACHINE_START_FAILURE_DISK:
      return _("Open _Disks Preferences");
    case VIV_MACHINE_START_FAILURE_KERNEL:
      return _("Open _Boot Preferences");
    case VIV_MACHINE_START_FAILURE_SETTINGS:
    case VIV_MACHINE_START_FAILURE_NO_KVM:
    case VIV_MACHINE_START_FAILURE_OTHER:
    case VIV_MACHINE_START_FAILURE_NONE:
    default:
      return _("Open _Preferences");
    }
}

static void
update (VivMachinePage *self)
{
  VivMachineState state;
  const char *page;
  gboolean broken;
  gboolean can_start;

  if (self->machine == NULL)
    {
      adw_window_title_set_title (self->window_title, NULL);
      adw_window_title_set_subtitle (self->window_title, NULL);
      gtk_spinner_stop (self->spinner);
      return;
    }

  state = viv_machine_get_state (self->machine);
  broken = state == VIV_MACHINE_STATE_BROKEN;
  can_start = viv_machine_can_start_yet (self->machine);

  adw_window_title_set_title (self->window_title, viv_machine_get_name (self->machine));
  adw_window_title_set_subtitle (self->window_title,
                                 can_start || state != VIV_MACHINE_STATE_STOPPED
                                 ? viv_machine_get_state_label (self->machine) : _("Can’t Start Yet"));

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.start",
                                 can_start &&
                                 (state == VIV_MACHINE_STATE_STOPPED ||
                                  state == VIV_MACHINE_STATE_CRASHED));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.pause",
                                 state == VIV_MACHINE_STATE_RUNNING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.resume",
                                 state == VIV_MACHINE_STATE_PAUSED);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.shutdown",
                                 state == VIV_MACHINE_STATE_RUNNING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.reset",
                                 state == VIV_MACHINE_STATE_RUNNING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.force-off",
                                 viv_machine_is_active (self->machine) ||
                                 state == VIV_MACHINE_STATE_UNREACHABLE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.rename", !broken);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.preferences", !broken);

  gtk_widget_set_visible (GTK_WIDGET (self->start_button),
                          can_start &&
                          (state == VIV_MACHINE_STATE_STOPPED ||
                           state == VIV_MACHINE_STATE_CRASHED));
  gtk_widget_set_visible (GTK_WIDGET (self->shutdown_button),
                          viv_machine_is_active (self->machine));
  gtk_widget_set_visible (GTK_WIDGET (self->pause_button),
                          state == VIV_MACHINE_STATE_RUNNING ||
                          state == VIV_MACHINE_STATE_STARTING ||
                          state == VIV_MACHINE_STATE_SHUTTING_DOWN);
  gtk_widget_set_visible (GTK_WIDGET (self->resume_button), state == VIV_MACHINE_STATE_PAUSED);

  switch (state)
    {
    case VIV_MACHINE_STATE_STARTING:
      page = "starting";
      break;

    case VIV_MACHINE_STATE_RUNNING:
    case VIV_MACHINE_STATE_PAUSED:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
      page = "console";
      break;

    case VIV_MACHINE_STATE_CRASHED:
      {
        g_autofree char *line = first_line (viv_machine_get_error_message (self->machine));
        g_autofree char *escaped = line != NULL ? g_markup_escape_text (line, -1) : NULL;

        VivMachineStartFailure failure = viv_machine_get_start_failure (self->machine);

        page = "problem";
        adw_status_page_set_description (self->problem_page, escaped);
        gtk_widget_set_visible (GTK_WIDGET (self->problem_start_button), TRUE);
        gtk_widget_remove_css_class (GTK_WIDGET (self->problem_start_button), "destructive-action");
        gtk_widget_add_css_class (GTK_WIDGET (self->problem_start_button), "suggested-action");
        if (failure == VIV_MACHINE_START_FAILURE_NONE)
          {
            adw_status_page_set_title (self->problem_page, _("The Machine Stopped Unexpectedly"));
            gtk_button_set_label (self->problem_start_button, _("_Start Again"));
            gtk_actionable_set_action_name (GTK_ACTIONABLE (self->problem_start_button),
                                            "machine.start");
          }
        else
          {
            /* Starting again would fail the same way: offer what fixes it */
            adw_status_page_set_title (self->problem_page, _("The Machine Could Not Start"));
            gtk_button_set_label (self->problem_start_button, fix_label (failure));
            gtk_actionable_set_action_name (GTK_ACTIONABLE (self->problem_start_button),
                                            "machine.preferences");
            gtk_widget_set_visible (GTK_WIDGET (self->problem_start_button),
                                    failure != VIV_MACHINE_START_FAILURE_OTHER &&
                                    failure != VIV_MACHINE_START_FAILURE_NO_KVM);
          }
      }
      break;

    case VIV_MACHINE_STATE_BROKEN:
      {
        const char *reason = viv_machine_get_broken_reason (self->machine);
        g_autofree char *escaped = reason != NULL ? g_markup_escape_text (reason, -1) : NULL;

        page = "problem";
        adw_status_page_set_title (self->problem_page, _("This Machine Cannot Be Used"));
        adw_status_page_set_description (self->problem_page, escaped);
        gtk_widget_set_visible (GTK_WIDGET (self->problem_start_button), FALSE);
      }
      break;

    case VIV_MACHINE_STATE_UNREACHABLE:
      {
        g_autofree char *description =
          g_strdup_printf (_("Its helper process, vivarium-vmm (process %d), is running, but "
                             "Vivarium cannot reach it: its control socket is gone or does "
                             "not answer. Force it off to use the machine again."),
                           (int) viv_machine_get_helper_pid (self->machine));

        page = "problem";
        adw_status_page_set_title (self->problem_page, _("The Machine Cannot Be Reached"));
        adw_status_page_set_description (self->problem_page, description);
        gtk_button_set_label (self->problem_start_button, _("_Force Off…"));
        gtk_widget_remove_css_class (GTK_WIDGET (self->problem_start_button), "suggested-action");
        gtk_widget_add_css_class (GTK_WIDGET (self->problem_start_button), "destructive-action");
        gtk_actionable_set_action_name (GTK_ACTIONABLE (self->problem_start_button),
                                        "machine.force-off");
        gtk_widget_set_visible (GTK_WIDGET (self->problem_start_button), TRUE);
      }
      break;

    case VIV_MACHINE_STATE_STOPPED:
    default:
      page = can_start ? "off" : "cannot-start";
      break;
    }

  if (g_strcmp0 (page, "starting") == 0)
    gtk_spinner_start (self->spinner);
  else
    gtk_spinner_stop (self->spinner);

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), page) != 0)
    {
      gboolean had_focus = gtk_widget_get_focus_child (GTK_WIDGET (self)) != NULL;

      gtk_stack_set_visible_child_name (self->content_stack, page);
      if (g_strcmp0 (page, "console") == 0 && had_focus)
        gtk_widget_grab_focus (GTK_WIDGET (self->console));
    }
}

/* The banner for a disk that failed on the host, while the machine runs */
static void
update_disk_banner (VivMachinePage *self)
{
  const char *problem = NULL;
  gboolean active = FALSE;

  if (self->machine != NULL)
    {
      VivMachineState state = viv_machine_get_state (self->machine);

      problem = viv_machine_get_disk_problem (self->machine);
      active = state == VIV_MACHINE_STATE_RUNNING || state == VIV_MACHINE_STATE_PAUSED ||
               state == VIV_MACHINE_STATE_SHUTTING_DOWN;
    }
  if (problem != NULL)
    gtk_label_set_label (self->disk_banner_label, problem);
  gtk_revealer_set_reveal_child (self->disk_banner, problem != NULL && active);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.dismiss-disk-problem",
                                 problem != NULL);
}

static void
on_machine_notify (VivMachinePage *self)
{
  update (self);
  update_disk_banner (self);
}

static void
dismiss_disk_problem (GtkWidget  *widget,
                      const char *action_name G_GNUC_UNUSED,
                      GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  gboolean had_focus = gtk_widget_has_focus (GTK_WIDGET (self->disk_banner_button));

  if (self->machine != NULL)
    viv_machine_dismiss_disk_problem (self->machine);
  /* the focus was on the button that goes away: into the page */
  if (had_focus)
    viv_machine_page_focus_content (self);
}

/* Whether the disk banner shows (tests) */
gboolean
viv_machine_page_get_disk_banner_shown (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), FALSE);

  return gtk_revealer_get_reveal_child (self->disk_banner);
}

static void
forward_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  static const struct {
    const char *page;
    const char *window;
  } actions[] = {
    { "machine.start", "win.start-machine" },
    { "machine.pause", "win.pause-machine" },
    { "machine.resume", "win.resume-machine" },
    { "machine.shutdown", "win.shutdown-machine" },
    { "machine.force-off", "win.force-off-machine" },
    { "machine.reset", "win.reset-machine" },
    { "machine.rename", "win.rename-machine" },
    { "machine.preferences", "win.machine-preferences" },
    { "machine.show-log", "win.show-machine-log" },
  };

  if (self->machine == NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    if (g_strcmp0 (action_name, actions[i].page) == 0)
      {
        gtk_widget_activate_action (widget, actions[i].window, "s",
                                    viv_machine_get_uuid (self->machine));
        return;
      }
  g_assert_not_reached ();
}

/* --- public API ------------------------------------------------------------------- */

VivMachine *
viv_machine_page_get_machine (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return self->machine;
}

void
viv_machine_page_set_machine (VivMachinePage *self,
                              VivMachine     *machine)
{
  g_return_if_fail (VIV_IS_MACHINE_PAGE (self));
  g_return_if_fail (machine == NULL || VIV_IS_MACHINE (machine));

  if (self->machine == machine)
    return;

  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  g_set_object (&self->machine, machine);
  if (machine != NULL)
    {
      g_signal_connect_swapped (machine, "notify::name", G_CALLBACK (on_machine_notify), self);
      g_signal_connect_swapped (machine, "notify::state", G_CALLBACK (on_machine_notify), self);
      g_signal_connect_swapped (machine, "notify::error-message",
                                G_CALLBACK (on_machine_notify), self);
      g_signal_connect_swapped (machine, "notify::broken-reason",
                                G_CALLBACK (on_machine_notify), self);
      g_signal_connect_swapped (machine, "notify::config", G_CALLBACK (on_machine_notify), self);
      g_signal_connect_swapped (machine, "notify::disk-problem",
                                G_CALLBACK (update_disk_banner), self);
      g_signal_connect_swapped (machine, "notify::helper-pid",
                                G_CALLBACK (on_machine_notify), self);
    }
  viv_serial_console_set_machine (self->console, machine);
  update (self);
  update_disk_banner (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MACHINE]);
}

VivSerialConsole *
viv_machine_page_get_console (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return self->console;
}

/* What the page shows under its header: "off", "cannot-start", "starting", "console" or
 * "problem" */
const char *
viv_machine_page_get_content (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return gtk_stack_get_visible_child_name (self->content_stack);
}

/* Moves the keyboard focus into the page: the console, or what the page offers */
void
viv_machine_page_focus_content (VivMachinePage *self)
{
  GtkWidget *child;

  g_return_if_fail (VIV_IS_MACHINE_PAGE (self));

  child = gtk_stack_get_visible_child (self->content_stack);
  if (child == GTK_WIDGET (self->console) && gtk_widget_grab_focus (child))
    return;
  if (child != NULL && gtk_widget_child_focus (child, GTK_DIR_TAB_FORWARD))
    return;
  gtk_widget_child_focus (GTK_WIDGET (self), GTK_DIR_TAB_FORWARD);
}

/* Opens the machine menu (the Menu key) */
void
viv_machine_page_popup_menu (VivMachinePage *self)
{
  g_return_if_fail (VIV_IS_MACHINE_PAGE (self));

  gtk_menu_button_popup (self->menu_button);
}

/* --- GObject ------------------------------------------------------------------------- */

static void
viv_machine_page_dispose (GObject *object)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (object);

  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  g_clear_object (&self->machine);

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_MACHINE_PAGE);

  G_OBJECT_CLASS (viv_machine_page_parent_class)->dispose (object);
}

static void
viv_machine_page_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      g_value_set_object (value, self->machine);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_machine_page_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      viv_machine_page_set_machine (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_machine_page_class_init (VivMachinePageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  static const char *actions[] = {
    "machine.start", "machine.pause", "machine.resume", "machine.shutdown",
    "machine.force-off", "machine.reset", "machine.rename", "machine.preferences",
    "machine.show-log",
  };

  object_class->dispose = viv_machine_page_dispose;
  object_class->get_property = viv_machine_page_get_property;
  object_class->set_property = viv_machine_page_set_property;


  properties[PROP_MACHINE] =
    g_param_spec_object ("machine", NULL, NULL,
                         VIV_TYPE_MACHINE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (VIV_TYPE_SERIAL_CONSOLE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-machine-page.ui");
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, box);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, window_title);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, menu_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, start_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, pause_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, resume_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, shutdown_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, content_stack);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, spinner);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, console);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, problem_page);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, problem_start_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, disk_banner);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, disk_banner_label);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, disk_banner_button);

  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    gtk_widget_class_install_action (widget_class, actions[i], NULL, forward_action);
  gtk_widget_class_install_action (widget_class, "machine.dismiss-disk-problem", NULL,
                                   dismiss_disk_problem);

  gtk_widget_class_set_css_name (widget_class, "machinepage");
}

static void
viv_machine_page_init (VivMachinePage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  update (self);
  update_disk_banner (self);
}
