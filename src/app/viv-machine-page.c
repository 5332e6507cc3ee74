/* viv-machine-page.c: one machine, full window: its state, power and console
 *
 * What a click on a tile opens: a header bar with a back button, the
 * machine's name and state, and its power actions (start, pause or resume,
 * shut down; reset, force off and the rest in a menu), over the machine's
 * console while it runs, or a status page saying why there is none. The
 * page's machine.* actions forward to the window's actions with the
 * machine's UUID, and are enabled as the machine's state allows.
 *
 * The console is the machine's screen (a VivDisplay) when it has one, its
 * serial console otherwise; the serial console is one click away either
 * way (machine.show-serial). The screen's own actions are the console.*
 * group: Send Key, zoom to fit or 100 %, fullscreen (the header then
 * slides over the screen when the pointer reaches the top edge), and
 * "Open in New Window", which moves the screen, with its session, into a
 * window of its own until that window closes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-machine-page"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-display.h"
#include "viv-file-chooser.h"
#include "viv-machine-page.h"
#include "viv-shortcuts.h"
#include "viv-snapshot-timeline.h"
#include "viv-undo-toast.h"
#include "viv-window-private.h"

/* How long the guest may take to start its agent before the hint says it
 * has none: a desktop guest's agent starts with its session */
#define AGENT_HINT_DELAY_MS  15000
/* Fullscreen: the pointer this near the top edge shows the header */
#define REVEAL_EDGE          4

struct _VivMachinePage
{
  GtkWidget         parent_instance;

  VivMachine       *machine;

  GSimpleActionGroup *console_actions;
  gboolean          show_serial;        /* the serial console rather than the screen */
  gboolean          agent_hint_dismissed;
  guint             agent_hint_id;      /* AGENT_HINT_DELAY_MS after the screen came */
  gboolean          agent_hint_due;
  GtkWindow        *console_window;     /* the screen's own window, while it has one */
  GtkWindow        *fullscreen_window;  /* the window we made fullscreen */
  gboolean          fullscreen_on;      /* asked for, until the window says it left */
  gboolean          fullscreen_seen;    /* the window said it was fullscreen */

  /* template children */
  AdwFlap          *flap;
  AdwHeaderBar     *header_bar;
  GtkToggleButton  *serial_button;
  GtkToggleButton  *fullscreen_button;
  GtkMenuButton    *send_key_button;
  GtkStack         *console_stack;
  GtkBox           *display_slot;
  GtkWidget        *display_area;
  GtkScrolledWindow *display_scroller;
  VivDisplay       *display;
  AdwStatusPage    *display_status;
  GtkSpinner       *display_spinner;
  GtkButton        *reconnect_button;
  GtkRevealer      *agent_revealer;
  GtkWidget        *box;
  AdwWindowTitle   *window_title;
  GtkLabel         *address_label;
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
  GtkRevealer      *snapshots_revealer;
  GtkSpinner       *snapshots_spinner;
  GtkLabel         *snapshots_status;
  VivSnapshotTimeline *timeline;

  /* snapshots */
  gboolean          show_snapshots;
  char             *snapshot_doing;     /* what the spinner is for, while busy */
  char             *select_after;       /* a snapshot just taken, to select once shown */
  GPtrArray        *hidden_snapshots;   /* ids, NULL-terminated: deleted, maybe undone */
  char             *delete_pending;     /* the id the toast can still bring back */
  VivMachine       *delete_machine;     /* its machine */
  AdwToast         *delete_toast;
};

G_DEFINE_FINAL_TYPE (VivMachinePage, viv_machine_page, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MACHINE,
  PROP_SHOW_SERIAL,
  PROP_SHOW_SNAPSHOTS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void update (VivMachinePage *self);
static void update_console (VivMachinePage *self);
static void update_snapshot_actions (VivMachinePage *self);

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

/* --- the CD-ROM drive's disc --------------------------------------------------------- */

/* Eject with a disc in, Insert with none, both only while the machine
 * is off or running (not while it starts or stops) */
static void
update_disc_actions (VivMachinePage *self)
{
  VivMachineState state = viv_machine_get_state (self->machine);
  gboolean settled = state == VIV_MACHINE_STATE_STOPPED || state == VIV_MACHINE_STATE_CRASHED ||
                     state == VIV_MACHINE_STATE_RUNNING || state == VIV_MACHINE_STATE_PAUSED;
  gboolean drive = settled && viv_machine_has_cd_drive (self->machine);
  gboolean disc = viv_machine_get_disc (self->machine) != NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.eject-disc", drive && disc);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.insert-disc", drive && !disc);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.insert-disc-file", drive && !disc);
}

static void
disc_toast (VivMachinePage *self,
            const char     *message)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (VIV_IS_WINDOW (root))
    viv_window_toast (VIV_WINDOW (root), message);
  else
    g_warning ("%s", message);
}

static void
on_disc_changed (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(VivMachinePage) self = user_data;
  g_autofree char *message = viv_machine_change_disc_finish (VIV_MACHINE (source), result);

  if (message != NULL)
    disc_toast (self, message);
}

static void
eject_disc (GtkWidget  *widget,
            const char *action_name G_GNUC_UNUSED,
            GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);

  if (self->machine == NULL)
    return;
  viv_machine_eject_disc_async (self->machine, NULL, on_disc_changed, g_object_ref (self));
}

static void
insert_disc_file (GtkWidget  *widget,
                  const char *action_name G_GNUC_UNUSED,
                  GVariant   *parameter)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);

  if (self->machine == NULL)
    return;
  viv_machine_insert_disc_async (self->machine, g_variant_get_string (parameter, NULL), NULL,
                                 on_disc_changed, g_object_ref (self));
}

static void
on_disc_chosen (GObject      *source G_GNUC_UNUSED,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(VivMachinePage) self = user_data;
  g_autoptr(GFile) file = viv_choose_file_finish (result, NULL);
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

  if (path != NULL)
    gtk_widget_activate_action (GTK_WIDGET (self), "machine.insert-disc-file", "s", path);
}

static void
insert_disc (GtkWidget  *widget,
             const char *action_name G_GNUC_UNUSED,
             GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  GtkRoot *root = gtk_widget_get_root (widget);

  if (self->machine == NULL)
    return;
  gtk_file_filter_set_name (filter, _("Disc Images"));
  gtk_file_filter_add_mime_type (filter, "application/x-cd-image");
  gtk_file_filter_add_suffix (filter, "iso");
  viv_choose_file_async (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, _("Insert Disc"),
                         filter, NULL, on_disc_chosen, g_object_ref (self));
}

/* The guest's addresses, while it runs and the helper knows them */
static void
update_address (VivMachinePage *self)
{
  const char *const *addresses = NULL;
  g_autofree char *text = NULL;
  VivMachineState state;

  if (self->machine != NULL)
    {
      state = viv_machine_get_state (self->machine);
      if (state == VIV_MACHINE_STATE_RUNNING || state == VIV_MACHINE_STATE_PAUSED)
        addresses = viv_machine_get_guest_addresses (self->machine);
    }
  if (addresses != NULL && addresses[0] != NULL)
    text = g_strjoinv (", ", (char **) addresses);
  /* the text stays as it is while it is the same: a selection in it too */
  if (text != NULL && g_strcmp0 (gtk_label_get_label (self->address_label), text) != 0)
    gtk_label_set_label (self->address_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->address_label), text != NULL);
}

static void
update (VivMachinePage *self)
{
  VivMachineState state;
  const char *page;
  gboolean broken;
  gboolean can_start;

  update_address (self);
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
  if (viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (self->display))
      && self->console_window == NULL)
    adw_window_title_set_subtitle (self->window_title, _("Press Ctrl+Alt to release the keyboard"));
  else
    adw_window_title_set_subtitle (self->window_title,
                                   can_start || state != VIV_MACHINE_STATE_STOPPED
                                   ? viv_machine_get_state_label (self->machine)
                                   : _("Can’t Start Yet"));

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
  update_disc_actions (self);
  update_snapshot_actions (self);

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

  update_console (self);
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), page) != 0)
    {
      gboolean had_focus = gtk_widget_get_focus_child (GTK_WIDGET (self)) != NULL;

      gtk_stack_set_visible_child_name (self->content_stack, page);
      if (g_strcmp0 (page, "console") == 0 && had_focus)
        viv_machine_page_focus_content (self);
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

/* --- the console: the screen or the serial console ---------------------------------- */

static gboolean
has_display (VivMachinePage *self)
{
  const VivMachineConfig *config = self->machine != NULL ? viv_machine_get_config (self->machine)
                                                         : NULL;

  /* (a broken machine has no config) */
  return config != NULL && config->display.kind == VIV_DISPLAY_KIND_SPICE;
}

static gboolean
machine_shows (VivMachinePage *self)
{
  VivMachineState state = self->machine != NULL ? viv_machine_get_state (self->machine)
                                                : VIV_MACHINE_STATE_STOPPED;

  return state == VIV_MACHINE_STATE_RUNNING || state == VIV_MACHINE_STATE_PAUSED
         || state == VIV_MACHINE_STATE_SHUTTING_DOWN;
}

static void
set_console_enabled (VivMachinePage *self,
                     const char     *name,
                     gboolean        enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self->console_actions), name);

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

static void
on_agent_hint_timeout (gpointer data)
{
  VivMachinePage *self = data;

  self->agent_hint_id = 0;
  gtk_revealer_set_reveal_child (self->agent_revealer,
                                 self->agent_hint_due && !self->agent_hint_dismissed);
}

/* The status over the screen while there is no picture, and the agent's hint */
static void
update_display_status (VivMachinePage *self)
{
  VivRemoteDisplay *display = VIV_REMOTE_DISPLAY (self->display);
  VivRemoteDisplayState state = viv_remote_display_get_state (display);
  gboolean picture = state == VIV_REMOTE_DISPLAY_STATE_CONNECTED
                     && viv_remote_display_get_guest_width (display) > 0;
  const char *title = NULL;
  g_autofree char *description = NULL;
  gboolean busy = FALSE;
  gboolean reconnect = FALSE;

  switch (state)
    {
    case VIV_REMOTE_DISPLAY_STATE_CONNECTED:
      title = _("Waiting for the Screen");
      description = g_strdup (_("The machine has not drawn anything on its screen yet."));
      busy = TRUE;
      break;
    case VIV_REMOTE_DISPLAY_STATE_CONNECTING:
      title = _("Connecting to the Screen…");
      busy = TRUE;
      break;
    case VIV_REMOTE_DISPLAY_STATE_DISCONNECTED:
    default:
      title = _("The Screen Is Not Available");
      description = viv_remote_display_dup_error (display);
      if (description == NULL)
        description = g_strdup (_("The connection to the machine’s screen is closed."));
      reconnect = machine_shows (self);
      break;
    }
  gtk_widget_set_visible (GTK_WIDGET (self->display_status), !picture);
  adw_status_page_set_title (self->display_status, title);
  adw_status_page_set_description (self->display_status, description);
  /* No spinner: its animation redraws the window every frame, and where a
   * frame costs more than its interval (software rendering) the idle
   * sources that spice-client-glib's coroutines wait on never run */
  gtk_widget_set_visible (GTK_WIDGET (self->display_spinner), FALSE);
  (void) busy;
  gtk_widget_set_visible (GTK_WIDGET (self->reconnect_button), reconnect);
  set_console_enabled (self, "reconnect", reconnect);
  set_console_enabled (self, "send-key", state == VIV_REMOTE_DISPLAY_STATE_CONNECTED);

  /* No agent: said once the guest had time to start it */
  self->agent_hint_due = picture && !viv_remote_display_get_can_resize (display);
  if (!self->agent_hint_due)
    {
      g_clear_handle_id (&self->agent_hint_id, g_source_remove);
      gtk_revealer_set_reveal_child (self->agent_revealer, FALSE);
    }
  else if (self->agent_hint_id == 0 && !gtk_revealer_get_reveal_child (self->agent_revealer))
    self->agent_hint_id = g_timeout_add_once (AGENT_HINT_DELAY_MS, on_agent_hint_timeout, self);
}

static void
update_console (VivMachinePage *self)
{
  gboolean display = has_display (self);
  gboolean screen = display && !self->show_serial;
  const char *view;

  if (!screen)
    view = "serial";
  else if (self->console_window != NULL)
    view = "detached";
  else
    view = "display";
  gtk_stack_set_visible_child_name (self->console_stack, view);

  gtk_widget_set_visible (GTK_WIDGET (self->serial_button), display);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.show-serial", display);
  gtk_widget_set_visible (GTK_WIDGET (self->send_key_button), screen && machine_shows (self));
  gtk_widget_set_visible (GTK_WIDGET (self->fullscreen_button), screen && machine_shows (self));
  set_console_enabled (self, "fullscreen", screen);
  set_console_enabled (self, "zoom", screen);
  set_console_enabled (self, "detach", screen && self->console_window == NULL
                                       && machine_shows (self));
  set_console_enabled (self, "attach", self->console_window != NULL);
  update_display_status (self);
}

/* The window the screen is in, and the flap with its header */
static GtkWindow *
screen_window (VivMachinePage *self)
{
  GtkRoot *root = gtk_widget_get_root (self->display_area);

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static AdwFlap *
screen_flap (VivMachinePage *self)
{
  if (self->console_window != NULL)
    return g_object_get_data (G_OBJECT (self->console_window), "viv-flap");
  return self->flap;
}

static void on_window_fullscreened (GtkWindow *window, GParamSpec *pspec, VivMachinePage *self);

/* The header over the screen or beside it, as the window is fullscreen or not */
static void
apply_fullscreen (VivMachinePage *self)
{
  GtkWindow *window = screen_window (self);
  /* What we asked for: a window manager may take its time, or (none at
   * all, as under Xvfb) never say */
  gboolean fullscreen = window != NULL && self->fullscreen_on
                        && window == self->fullscreen_window;
  AdwFlap *flap = screen_flap (self);
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self->console_actions),
                                                "fullscreen");

  if (flap != NULL)
    {
      adw_flap_set_fold_policy (flap, fullscreen ? ADW_FLAP_FOLD_POLICY_ALWAYS
                                                 : ADW_FLAP_FOLD_POLICY_NEVER);
      adw_flap_set_reveal_flap (flap, !fullscreen);
    }
  /* the other flap, if the screen moved while fullscreen */
  if (flap != self->flap)
    {
      adw_flap_set_fold_policy (self->flap, ADW_FLAP_FOLD_POLICY_NEVER);
      adw_flap_set_reveal_flap (self->flap, TRUE);
    }
  g_simple_action_set_state (G_SIMPLE_ACTION (action), g_variant_new_boolean (fullscreen));
  if (!fullscreen && self->fullscreen_window != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->fullscreen_window, on_window_fullscreened, self);
      g_clear_weak_pointer (&self->fullscreen_window);
    }
}

static void
on_window_fullscreened (GtkWindow      *window,
                        GParamSpec     *pspec G_GNUC_UNUSED,
                        VivMachinePage *self)
{
  /* Left by the window manager's own means */
  if (gtk_window_is_fullscreen (window))
    self->fullscreen_seen = TRUE;
  else if (self->fullscreen_seen)
    self->fullscreen_on = self->fullscreen_seen = FALSE;
  apply_fullscreen (self);
}

static void
set_fullscreen (VivMachinePage *self,
                gboolean        fullscreen)
{
  GtkWindow *window = screen_window (self);

  if (window == NULL)
    return;
  if (fullscreen)
    {
      if (self->fullscreen_window != window)
        {
          if (self->fullscreen_window != NULL)
            {
              g_signal_handlers_disconnect_by_func (self->fullscreen_window,
                                                    on_window_fullscreened, self);
              gtk_window_unfullscreen (self->fullscreen_window);
            }
          g_set_weak_pointer (&self->fullscreen_window, window);
          g_signal_connect (window, "notify::fullscreened", G_CALLBACK (on_window_fullscreened),
                            self);
        }
      self->fullscreen_on = TRUE;
      gtk_window_fullscreen (window);
      /* the screen keeps the keyboard's focus */
      gtk_widget_grab_focus (GTK_WIDGET (self->display));
    }
  else
    {
      self->fullscreen_on = self->fullscreen_seen = FALSE;
      if (self->fullscreen_window != NULL)
        gtk_window_unfullscreen (self->fullscreen_window);
    }
  apply_fullscreen (self);
}

/* Fullscreen: the header shows while the pointer is at the top edge or on it */
static void
on_flap_motion (GtkEventControllerMotion *controller,
                double                    x G_GNUC_UNUSED,
                double                    y,
                gpointer                  data G_GNUC_UNUSED)
{
  AdwFlap *flap = ADW_FLAP (gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (controller)));
  GtkWidget *header = adw_flap_get_flap (flap);

  if (adw_flap_get_fold_policy (flap) != ADW_FLAP_FOLD_POLICY_ALWAYS)
    return;
  if (y <= REVEAL_EDGE)
    adw_flap_set_reveal_flap (flap, TRUE);
  else if (adw_flap_get_reveal_flap (flap) && y > gtk_widget_get_height (header) + 24)
    {
      /* not while one of its menus is open */
      for (GList *l = g_object_get_data (G_OBJECT (flap), "viv-menus"); l != NULL; l = l->next)
        {
          GtkPopover *popover = gtk_menu_button_get_popover (l->data);

          if (popover != NULL && gtk_widget_get_visible (GTK_WIDGET (popover)))
            return;
        }
      adw_flap_set_reveal_flap (flap, FALSE);
    }
}

static void
watch_flap (AdwFlap   *flap,
            GtkWidget *menu_button,
            GtkWidget *other_menu_button)
{
  GtkEventController *motion = gtk_event_controller_motion_new ();
  GList *menus = g_list_prepend (g_list_prepend (NULL, menu_button), other_menu_button);

  g_object_set_data_full (G_OBJECT (flap), "viv-menus", menus, (GDestroyNotify) g_list_free);
  gtk_event_controller_set_propagation_phase (motion, GTK_PHASE_CAPTURE);
  g_signal_connect (motion, "motion", G_CALLBACK (on_flap_motion), NULL);
  gtk_widget_add_controller (GTK_WIDGET (flap), motion);
}

/* --- Open in New Window ------------------------------------------------------------- */

static void attach_screen (VivMachinePage *self);

static gboolean
on_console_window_close (GtkWindow      *window G_GNUC_UNUSED,
                         VivMachinePage *self)
{
  attach_screen (self);
  return FALSE;
}

static void
on_console_window_title (VivMachinePage *self)
{
  AdwWindowTitle *title;

  if (self->console_window == NULL || self->machine == NULL)
    return;
  title = g_object_get_data (G_OBJECT (self->console_window), "viv-title");
  adw_window_title_set_title (title, viv_machine_get_name (self->machine));
  adw_window_title_set_subtitle (title, viv_remote_display_get_grabbed (VIV_REMOTE_DISPLAY (self->display))
                                        ? _("Press Ctrl+Alt to release the keyboard") : NULL);
  gtk_window_set_title (self->console_window, viv_machine_get_name (self->machine));
}

static GtkWidget *
header_button (GtkWidget  *button,
               const char *icon,
               const char *label)
{
  if (GTK_IS_MENU_BUTTON (button))
    gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (button), icon);
  else
    gtk_button_set_icon_name (GTK_BUTTON (button), icon);
  gtk_widget_set_tooltip_text (button, label);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
  return button;
}

/* Moves the screen, its session and all, into a window of its own */
static void
detach_screen (VivMachinePage *self)
{
  GtkWindow *parent = GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self)));
  AdwWindow *window;
  GtkWidget *header, *title, *flap, *send_key, *fullscreen, *attach;
  GtkEventController *keys;
  GtkShortcut *shortcut;

  if (self->console_window != NULL || !has_display (self))
    return;
  set_fullscreen (self, FALSE);

  window = ADW_WINDOW (adw_window_new ());
  /* before the application: its shortcuts come after the screen's keys */
  viv_remote_display_route_keys (GTK_WINDOW (window));
  if (GTK_IS_WINDOW (parent))
    gtk_window_set_application (GTK_WINDOW (window), gtk_window_get_application (parent));
  gtk_window_set_default_size (GTK_WINDOW (window), 1024, 768);
  gtk_widget_insert_action_group (GTK_WIDGET (window), "console",
                                  G_ACTION_GROUP (self->console_actions));
  gtk_widget_add_css_class (GTK_WIDGET (window), "console-window");

  header = adw_header_bar_new ();
  title = adw_window_title_new (NULL, NULL);
  adw_header_bar_set_title_widget (ADW_HEADER_BAR (header), title);
  attach = header_button (gtk_button_new (), "view-restore-symbolic",
                          _("Back to the Main Window"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (attach), "console.attach");
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), attach);
  fullscreen = header_button (gtk_toggle_button_new (), "view-fullscreen-symbolic", _("Fullscreen"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (fullscreen), "console.fullscreen");
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), fullscreen);
  send_key = header_button (gtk_menu_button_new (), "input-keyboard-symbolic", _("Send Key"));
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (send_key),
                                  gtk_menu_button_get_menu_model (self->send_key_button));
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), send_key);

  flap = adw_flap_new ();
  g_object_set (flap, "orientation", GTK_ORIENTATION_VERTICAL,
                "fold-policy", ADW_FLAP_FOLD_POLICY_NEVER,
                "transition-type", ADW_FLAP_TRANSITION_TYPE_OVER, "locked", TRUE, "modal", FALSE,
                "swipe-to-open", FALSE, "swipe-to-close", FALSE, NULL);
  adw_flap_set_flap (ADW_FLAP (flap), header);
  watch_flap (ADW_FLAP (flap), send_key, send_key);

  g_object_ref (self->display_area);
  gtk_box_remove (self->display_slot, self->display_area);
  adw_flap_set_content (ADW_FLAP (flap), self->display_area);
  g_object_unref (self->display_area);
  adw_window_set_content (window, flap);

  g_object_set_data (G_OBJECT (window), "viv-flap", flap);
  g_object_set_data (G_OBJECT (window), "viv-title", title);

  /* F11 there as here */
  keys = gtk_shortcut_controller_new ();
  shortcut = gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_F11, 0),
                               gtk_named_action_new ("console.fullscreen"));
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (keys), shortcut);
  gtk_widget_add_controller (GTK_WIDGET (window), keys);

  self->console_window = GTK_WINDOW (window);
  g_signal_connect (window, "close-request", G_CALLBACK (on_console_window_close), self);
  on_console_window_title (self);
  update_console (self);
  gtk_window_present (GTK_WINDOW (window));
  gtk_widget_grab_focus (GTK_WIDGET (self->display));
}

/* Back into the page; the screen's window closes */
static void
attach_screen (VivMachinePage *self)
{
  GtkWindow *window = self->console_window;
  AdwFlap *flap;

  if (window == NULL)
    return;
  set_fullscreen (self, FALSE);
  flap = g_object_get_data (G_OBJECT (window), "viv-flap");
  self->console_window = NULL;
  g_signal_handlers_disconnect_by_func (window, on_console_window_close, self);
  g_object_ref (self->display_area);
  adw_flap_set_content (flap, NULL);
  gtk_box_append (self->display_slot, self->display_area);
  g_object_unref (self->display_area);
  gtk_window_destroy (window);
  update_console (self);
  apply_fullscreen (self);
}

/* --- the console actions -------------------------------------------------------------- */

static const struct {
  const char *name;
  guint       scancodes[3];
} send_keys[] = {
  { "ctrl-alt-delete",    { 0x1d, 0x38, 0x153 } },
  { "ctrl-alt-backspace", { 0x1d, 0x38, 0x0e } },
  { "ctrl-alt-f1",        { 0x1d, 0x38, 0x3b } },
  { "ctrl-alt-f2",        { 0x1d, 0x38, 0x3c } },
  { "ctrl-alt-f3",        { 0x1d, 0x38, 0x3d } },
  { "ctrl-alt-f4",        { 0x1d, 0x38, 0x3e } },
  { "ctrl-alt-f5",        { 0x1d, 0x38, 0x3f } },
  { "ctrl-alt-f6",        { 0x1d, 0x38, 0x40 } },
  { "ctrl-alt-f7",        { 0x1d, 0x38, 0x41 } },
  { "ctrl-alt-f8",        { 0x1d, 0x38, 0x42 } },
  { "ctrl-alt-f9",        { 0x1d, 0x38, 0x43 } },
  { "ctrl-alt-f10",       { 0x1d, 0x38, 0x44 } },
  { "ctrl-alt-f11",       { 0x1d, 0x38, 0x57 } },
  { "ctrl-alt-f12",       { 0x1d, 0x38, 0x58 } },
  { "print",              { 0x137 } },
};

static void
on_send_key (GSimpleAction *action G_GNUC_UNUSED,
             GVariant      *parameter,
             gpointer       data)
{
  VivMachinePage *self = data;
  const char *name = g_variant_get_string (parameter, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (send_keys); i++)
    if (g_str_equal (name, send_keys[i].name))
      {
        guint n = 0;

        while (n < G_N_ELEMENTS (send_keys[i].scancodes) && send_keys[i].scancodes[n] != 0)
          n++;
        viv_remote_display_send_keys (VIV_REMOTE_DISPLAY (self->display), send_keys[i].scancodes,
                                      n);
        return;
      }
  g_warning ("console.send-key: no key “%s”", name);
}

static void
on_zoom (GSimpleAction *action,
         GVariant      *value,
         gpointer       data)
{
  VivMachinePage *self = data;
  gboolean original = g_str_equal (g_variant_get_string (value, NULL), "original");

  g_simple_action_set_state (action, value);
  viv_remote_display_set_scale_mode (VIV_REMOTE_DISPLAY (self->display),
                                     original ? VIV_REMOTE_DISPLAY_SCALE_ORIGINAL
                                              : VIV_REMOTE_DISPLAY_SCALE_FIT);
  gtk_scrolled_window_set_policy (self->display_scroller,
                                  original ? GTK_POLICY_AUTOMATIC : GTK_POLICY_NEVER,
                                  original ? GTK_POLICY_AUTOMATIC : GTK_POLICY_NEVER);
}

static void
on_fullscreen (GSimpleAction *action G_GNUC_UNUSED,
               GVariant      *value,
               gpointer       data)
{
  set_fullscreen (data, g_variant_get_boolean (value));
}

static void
on_detach (GSimpleAction *action G_GNUC_UNUSED,
           GVariant      *parameter G_GNUC_UNUSED,
           gpointer       data)
{
  detach_screen (data);
}

static void
on_attach (GSimpleAction *action G_GNUC_UNUSED,
           GVariant      *parameter G_GNUC_UNUSED,
           gpointer       data)
{
  VivMachinePage *self = data;

  attach_screen (self);
  gtk_window_present (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))));
  gtk_widget_grab_focus (GTK_WIDGET (self->display));
}

static void
on_reconnect (GSimpleAction *action G_GNUC_UNUSED,
              GVariant      *parameter G_GNUC_UNUSED,
              gpointer       data)
{
  VivMachinePage *self = data;

  viv_display_set_machine (self->display, NULL);
  viv_display_set_machine (self->display, self->machine);
}

static void
on_dismiss_agent_hint (GSimpleAction *action G_GNUC_UNUSED,
                       GVariant      *parameter G_GNUC_UNUSED,
                       gpointer       data)
{
  VivMachinePage *self = data;

  self->agent_hint_dismissed = TRUE;
  gtk_revealer_set_reveal_child (self->agent_revealer, FALSE);
  gtk_widget_grab_focus (GTK_WIDGET (self->display));
}

static void
on_display_notify (VivMachinePage *self)
{
  update (self);
  update_display_status (self);
  on_console_window_title (self);
}

static void
set_show_serial (VivMachinePage *self,
                 gboolean        show_serial)
{
  gboolean had_focus = gtk_widget_get_focus_child (GTK_WIDGET (self)) != NULL;

  if (self->show_serial == !!show_serial)
    return;
  self->show_serial = !!show_serial;
  if (show_serial)
    attach_screen (self);
  update_console (self);
  if (had_focus)
    viv_machine_page_focus_content (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_SERIAL]);
}

static void
on_machine_notify (VivMachinePage *self)
{
  /* the screen while the machine has one (and its config says so) */
  if (viv_display_get_machine (self->display) != (has_display (self) ? self->machine : NULL))
    viv_display_set_machine (self->display, has_display (self) ? self->machine : NULL);
  if (!machine_shows (self))
    {
      attach_screen (self);
      set_fullscreen (self, FALSE);
    }
  update (self);
  update_disk_banner (self);
  on_console_window_title (self);
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

/* --- snapshots ------------------------------------------------------------------------ */

/* The timeline panel under the console (machine.show-snapshots) and the
 * snapshot actions: take (a dialog proposing a name), revert (after a
 * confirmation, which can take a snapshot first), rename (a dialog) and
 * delete. A delete is undoable: the card goes at once, the toast offers
 * Undo, and the machine deletes the snapshot only once the toast is gone.
 * While an operation runs the panel spins and the actions wait. */

static void
toast (VivMachinePage *self,
       const char     *message)
{
  disc_toast (self, message);
}

static const char *
snapshot_name (VivMachinePage *self,
               const char     *id)
{
  const VivSnapshotIndex *index = self->machine != NULL
                                  ? viv_machine_get_snapshots (self->machine, NULL) : NULL;
  VivSnapshot *snapshot = index != NULL && id != NULL ? viv_snapshot_index_find (index, id)
                                                      : NULL;

  return snapshot != NULL ? snapshot->name : NULL;
}

static void
update_snapshot_actions (VivMachinePage *self)
{
  gboolean busy = self->machine != NULL && viv_machine_get_snapshot_busy (self->machine);
  gboolean can = self->machine != NULL && !busy && viv_machine_can_snapshot (self->machine);
  gboolean known = self->machine != NULL && viv_machine_get_snapshots (self->machine, NULL) != NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.take-snapshot", can);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.revert-snapshot", can && known);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.rename-snapshot", can && known);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "machine.delete-snapshot", can && known);
  gtk_widget_set_visible (GTK_WIDGET (self->snapshots_spinner), busy);
  gtk_spinner_set_spinning (self->snapshots_spinner, busy);
  gtk_label_set_label (self->snapshots_status, busy ? self->snapshot_doing : NULL);
}

static void
update_timeline (VivMachinePage *self)
{
  const GError *error = NULL;
  const VivSnapshotIndex *index = NULL;

  if (self->machine != NULL)
    index = viv_machine_get_snapshots (self->machine, &error);
  viv_snapshot_timeline_set_hidden (self->timeline, self->hidden_snapshots->len > 0
                                    ? (const char *const *) self->hidden_snapshots->pdata
                                    : NULL);
  viv_snapshot_timeline_set_index (self->timeline, index,
                                   self->machine != NULL
                                   ? viv_machine_get_directory (self->machine) : NULL,
                                   error != NULL ? error->message : NULL);
  update_snapshot_actions (self);
}

static void
set_doing (VivMachinePage *self,
           const char     *doing)
{
  g_free (self->snapshot_doing);
  self->snapshot_doing = g_strdup (doing);
  update_snapshot_actions (self);
}

/* "Snapshot 3", the first such name not taken */
static char *
proposed_name (VivMachinePage *self)
{
  const VivSnapshotIndex *index = viv_machine_get_snapshots (self->machine, NULL);
  guint n = index != NULL ? index->snapshots->len + 1 : 1;

  for (;; n++)
    {
      /* Translators: the name a new snapshot gets unless changed; %u counts them */
      g_autofree char *name = g_strdup_printf (_("Snapshot %u"), n);
      gboolean taken = FALSE;

      for (guint i = 0; index != NULL && i < index->snapshots->len; i++)
        if (g_strcmp0 (((VivSnapshot *) index->snapshots->pdata[i])->name, name) == 0)
          taken = TRUE;
      if (!taken)
        return g_steal_pointer (&name);
    }
}

static GtkWindow *
parent_window (VivMachinePage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

/* A dialog asking for a snapshot's name: NAME to start with, RESPONSE the
 * button that takes it, enabled while the name is valid */
static void
on_name_changed (GtkEditable      *entry,
                 AdwMessageDialog *dialog)
{
  GtkLabel *error_label = g_object_get_data (G_OBJECT (dialog), "error-label");
  const char *response = g_object_get_data (G_OBJECT (dialog), "ok-response");
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  g_autoptr(GError) error = NULL;
  gboolean ok = viv_snapshot_name_check (name, &error);

  adw_message_dialog_set_response_enabled (dialog, response, ok);
  gtk_label_set_label (error_label, error != NULL ? error->message : NULL);
  gtk_widget_set_visible (GTK_WIDGET (error_label), error != NULL);
  if (error != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (entry), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (entry), "error");
}

static AdwMessageDialog *
name_dialog (VivMachinePage *self,
             const char     *heading,
             const char     *body,
             const char     *name,
             const char     *response,
             const char     *response_label)
{
  AdwMessageDialog *dialog;
  GtkWidget *box, *entry, *error_label;

  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent_window (self), heading, body));
  gtk_window_set_destroy_with_parent (GTK_WINDOW (dialog), TRUE);
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  entry = gtk_entry_new ();
  gtk_editable_set_text (GTK_EDITABLE (entry), name);
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Name"), -1);
  error_label = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (error_label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (error_label), 0.0f);
  gtk_widget_add_css_class (error_label, "error");
  gtk_widget_add_css_class (error_label, "caption");
  gtk_widget_set_visible (error_label, FALSE);
  gtk_box_append (GTK_BOX (box), entry);
  gtk_box_append (GTK_BOX (box), error_label);
  adw_message_dialog_set_extra_child (dialog, box);

  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), response, response_label,
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, response, ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, response);
  adw_message_dialog_set_close_response (dialog, "cancel");

  g_object_set_data (G_OBJECT (dialog), "entry", entry);
  g_object_set_data (G_OBJECT (dialog), "error-label", error_label);
  g_object_set_data_full (G_OBJECT (dialog), "ok-response", g_strdup (response), g_free);
  g_signal_connect (entry, "changed", G_CALLBACK (on_name_changed), dialog);
  on_name_changed (GTK_EDITABLE (entry), dialog);
  return dialog;
}

/* The name the dialog holds, when valid */
static char *
dialog_name (AdwMessageDialog *dialog)
{
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "entry");
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (entry)));

  return viv_snapshot_name_check (name, NULL) ? g_steal_pointer (&name) : NULL;
}

/* take */

typedef struct
{
  VivMachinePage *page;       /* a reference */
  char           *revert_to;  /* a revert to run once taken, or NULL */
} TakeCall;

static void
take_call_free (TakeCall *call)
{
  g_object_unref (call->page);
  g_free (call->revert_to);
  g_free (call);
}

static void revert_now (VivMachinePage *self, const char *id);

static void
on_snapshot_taken (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  TakeCall *call = user_data;
  VivMachinePage *self = call->page;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = viv_machine_take_snapshot_finish (VIV_MACHINE (object), result, &error);

  set_doing (self, NULL);
  if (id == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast (self, error->message);
    }
  else
    {
      g_free (self->select_after);
      self->select_after = g_strdup (id);
      viv_snapshot_timeline_select (self->timeline, id);
      if (call->revert_to != NULL && VIV_MACHINE (object) == self->machine)
        revert_now (self, call->revert_to);
    }
  take_call_free (call);
}

static void
take_now (VivMachinePage *self,
          const char     *name,
          const char     *revert_to)
{
  TakeCall *call = g_new0 (TakeCall, 1);

  call->page = g_object_ref (self);
  call->revert_to = g_strdup (revert_to);
  set_doing (self, _("Taking a snapshot…"));
  viv_machine_take_snapshot_async (self->machine, name, NULL, on_snapshot_taken, call);
}

static void
on_take_response (AdwMessageDialog *dialog,
                  const char       *response,
                  VivMachinePage   *self)
{
  g_autofree char *name = NULL;

  if (g_strcmp0 (response, "take") != 0 || self->machine == NULL)
    return;
  name = dialog_name (dialog);
  if (name != NULL)
    take_now (self, name, NULL);
}

static void
take_snapshot (GtkWidget  *widget,
               const char *action_name G_GNUC_UNUSED,
               GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  g_autofree char *name = NULL;
  AdwMessageDialog *dialog;

  if (self->machine == NULL)
    return;
  name = proposed_name (self);
  dialog = name_dialog (self, _("Take Snapshot"),
                        viv_machine_get_state (self->machine) == VIV_MACHINE_STATE_STOPPED ||
                        viv_machine_get_state (self->machine) == VIV_MACHINE_STATE_CRASHED
                        ? _("The snapshot keeps the machine’s disks as they are now.")
                        : _("The snapshot keeps the machine as it is now: its disks, and "
                            "what runs in it."),
                        name, "take", _("_Take Snapshot"));
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_take_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (g_object_get_data (G_OBJECT (dialog), "entry"));
}

/* revert */

static void
on_snapshot_reverted (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(VivMachinePage) self = user_data;
  g_autoptr(GError) error = NULL;

  set_doing (self, NULL);
  if (!viv_machine_revert_snapshot_finish (VIV_MACHINE (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    toast (self, error->message);
}

static void
revert_now (VivMachinePage *self,
            const char     *id)
{
  set_doing (self, _("Reverting…"));
  viv_machine_revert_snapshot_async (self->machine, id, NULL, on_snapshot_reverted,
                                     g_object_ref (self));
}

static void
on_revert_response (AdwMessageDialog *dialog,
                    const char       *response,
                    VivMachinePage   *self)
{
  const char *id = g_object_get_data (G_OBJECT (dialog), "snapshot");
  VivMachine *machine = g_object_get_data (G_OBJECT (dialog), "machine");

  if (machine != self->machine)
    return;
  if (g_strcmp0 (response, "revert") == 0)
    revert_now (self, id);
  else if (g_strcmp0 (response, "take-first") == 0)
    {
      g_autofree char *name = proposed_name (self);

      take_now (self, name, id);
    }
}

static void
revert_snapshot (GtkWidget  *widget,
                 const char *action_name G_GNUC_UNUSED,
                 GVariant   *parameter)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  const char *id = g_variant_get_string (parameter, NULL);
  const char *name = self->machine != NULL ? snapshot_name (self, id) : NULL;
  g_autofree char *heading = NULL;
  AdwMessageDialog *dialog;
  gboolean ran, starts;

  if (name == NULL)
    return;
  ran = viv_snapshot_index_find (viv_machine_get_snapshots (self->machine, NULL), id)->memory;
  /* A machine that is off starts from a running machine's snapshot */
  starts = ran && !viv_machine_is_active (self->machine);
  /* The engine reverts a running machine only to a snapshot of a running
   * one: say so before asking */
  if (viv_machine_is_active (self->machine) && !ran)
    {
      g_autofree char *message =
        /* Translators: %s is a snapshot’s name */
        g_strdup_printf (_("“%s” was taken while the machine was off: shut the machine down "
                           "to revert to it."), name);

      toast (self, message);
      return;
    }
  heading = starts ? /* Translators: a dialog's title; %s is a snapshot’s name */
                     g_strdup_printf (_("Start From “%s”?"), name)
                   : /* Translators: a dialog's title; %s is a snapshot’s name */
                     g_strdup_printf (_("Revert to “%s”?"), name);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent_window (self), heading,
                                                       starts
                                                       ? _("The machine starts as it was "
                                                           "then. What its disks hold now will "
                                                           "be lost.")
                                                       : _("The machine’s current state will "
                                                           "be lost.")));
  gtk_window_set_destroy_with_parent (GTK_WINDOW (dialog), TRUE);
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "take-first", _("Take Snapshot _First"),
                                    "revert", starts ? _("_Start") : _("_Revert"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "revert", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "snapshot", g_strdup (id), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "machine", g_object_ref (self->machine),
                          g_object_unref);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_revert_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* rename */

static void
on_snapshot_renamed (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(VivMachinePage) self = user_data;
  g_autoptr(GError) error = NULL;

  set_doing (self, NULL);
  if (!viv_machine_rename_snapshot_finish (VIV_MACHINE (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    toast (self, error->message);
}

static void
on_rename_response (AdwMessageDialog *dialog,
                    const char       *response,
                    VivMachinePage   *self)
{
  const char *id = g_object_get_data (G_OBJECT (dialog), "snapshot");
  VivMachine *machine = g_object_get_data (G_OBJECT (dialog), "machine");
  g_autofree char *name = NULL;

  if (g_strcmp0 (response, "rename") != 0 || machine != self->machine)
    return;
  name = dialog_name (dialog);
  if (name == NULL || g_strcmp0 (name, snapshot_name (self, id)) == 0)
    return;
  set_doing (self, _("Renaming…"));
  viv_machine_rename_snapshot_async (self->machine, id, name, NULL, on_snapshot_renamed,
                                     g_object_ref (self));
}

static void
rename_snapshot (GtkWidget  *widget,
                 const char *action_name G_GNUC_UNUSED,
                 GVariant   *parameter)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  const char *id = g_variant_get_string (parameter, NULL);
  const char *name = self->machine != NULL ? snapshot_name (self, id) : NULL;
  g_autofree char *heading = NULL;
  AdwMessageDialog *dialog;

  if (name == NULL)
    return;
  /* Translators: a dialog's title; %s is a snapshot’s name */
  heading = g_strdup_printf (_("Rename “%s”"), name);
  dialog = name_dialog (self, heading, NULL, name, "rename", _("_Rename"));
  g_object_set_data_full (G_OBJECT (dialog), "snapshot", g_strdup (id), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "machine", g_object_ref (self->machine),
                          g_object_unref);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_rename_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (g_object_get_data (G_OBJECT (dialog), "entry"));
}

/* delete, with undo */

#define DELETE_RETRY_MS 250

/* One delete the toast let go: it waits while another operation runs */
typedef struct
{
  VivMachine *machine;
  char       *id;
  GWeakRef    page;
} DeleteRun;

static void delete_run_start (DeleteRun *run);

static void
delete_run_free (DeleteRun *run)
{
  g_object_unref (run->machine);
  g_free (run->id);
  g_weak_ref_clear (&run->page);
  g_free (run);
}

static void
unhide_snapshot (VivMachinePage *self,
                 const char     *id)
{
  for (guint i = 0; i < self->hidden_snapshots->len; i++)
    if (g_strcmp0 (self->hidden_snapshots->pdata[i], id) == 0)
      {
        g_ptr_array_remove_index (self->hidden_snapshots, i);
        return;
      }
}

static void
hide_snapshot (VivMachinePage *self,
               const char     *id)
{
  g_ptr_array_add (self->hidden_snapshots, g_strdup (id));
}

static gboolean
delete_run_retry (gpointer data)
{
  delete_run_start (data);
  return G_SOURCE_REMOVE;
}

static void
on_snapshot_deleted (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  DeleteRun *run = user_data;
  g_autoptr(VivMachinePage) self = g_weak_ref_get (&run->page);
  g_autoptr(GError) error = NULL;

  if (!viv_machine_delete_snapshot_finish (VIV_MACHINE (object), result, &error) &&
      g_error_matches (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BUSY))
    {
      g_timeout_add (DELETE_RETRY_MS, delete_run_retry, run);
      return;
    }
  if (self != NULL)
    {
      /* Shown again if it could not go; else hidden until the index read
       * next no longer has it (on_snapshots_changed), so it does not flash */
      if (error != NULL)
        {
          toast (self, error->message);
          unhide_snapshot (self, run->id);
        }
      if (self->machine == run->machine)
        {
          set_doing (self, NULL);
          update_timeline (self);
        }
    }
  else if (error != NULL)
    g_warning ("cannot delete snapshot %s: %s", run->id, error->message);
  delete_run_free (run);
}

static void
delete_run_start (DeleteRun *run)
{
  g_autoptr(VivMachinePage) self = g_weak_ref_get (&run->page);

  if (viv_machine_get_snapshot_busy (run->machine))
    {
      g_timeout_add (DELETE_RETRY_MS, delete_run_retry, run);
      return;
    }
  if (self != NULL && self->machine == run->machine)
    set_doing (self, _("Deleting…"));
  viv_machine_delete_snapshot_async (run->machine, run->id, NULL, on_snapshot_deleted, run);
}

/* The delete the toast offers to undo is final now; a page that goes
 * (DISPOSING) hears nothing more of it */
static void
commit_delete_full (VivMachinePage *self,
                    gboolean        disposing)
{
  DeleteRun *run;

  if (self->delete_pending == NULL)
    return;
  run = g_new0 (DeleteRun, 1);
  run->machine = g_object_ref (self->delete_machine);
  run->id = g_steal_pointer (&self->delete_pending);
  g_weak_ref_init (&run->page, disposing ? NULL : self);
  g_clear_object (&self->delete_machine);
  delete_run_start (run);
}

static void
commit_delete (VivMachinePage *self)
{
  commit_delete_full (self, FALSE);
}

static gboolean
commit_delete_cb (gpointer data)
{
  commit_delete (data);
  return G_SOURCE_REMOVE;
}

static void
delete_snapshot (GtkWidget  *widget,
                 const char *action_name G_GNUC_UNUSED,
                 GVariant   *parameter)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  const char *id = g_variant_get_string (parameter, NULL);
  const char *name = self->machine != NULL ? snapshot_name (self, id) : NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *title = NULL;
  GtkRoot *root = gtk_widget_get_root (widget);

  if (name == NULL || !VIV_IS_WINDOW (root))
    return;

  /* The last delete can no longer be undone */
  commit_delete (self);

  escaped = g_markup_escape_text (name, -1);   /* a toast's title is markup */
  /* Translators: %s is a snapshot’s name */
  title = g_strdup_printf (_("“%s” deleted"), escaped);
  self->delete_pending = g_strdup (id);
  self->delete_machine = g_object_ref (self->machine);
  hide_snapshot (self, id);
  update_timeline (self);
  /* A toast already shown says the new delete: the last one is committed */
  viv_undo_toast_show (&self->delete_toast, widget, VIV_WINDOW (root)->toast_overlay, title,
                       "machine.undo-delete-snapshot", commit_delete_cb);
}

static void
undo_delete_snapshot (GtkWidget  *widget,
                      const char *action_name G_GNUC_UNUSED,
                      GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePage *self = VIV_MACHINE_PAGE (widget);
  g_autofree char *id = g_steal_pointer (&self->delete_pending);

  g_clear_object (&self->delete_machine);
  viv_undo_toast_withdraw (&self->delete_toast);
  if (id == NULL)
    return;
  unhide_snapshot (self, id);
  update_timeline (self);
  viv_snapshot_timeline_focus_card (self->timeline, id);
}

static void
on_snapshots_changed (VivMachinePage *self)
{
  const VivSnapshotIndex *index = viv_machine_get_snapshots (self->machine, NULL);

  /* deleted for good: nothing to hide any more */
  for (guint i = self->hidden_snapshots->len; index != NULL && i > 0; i--)
    if (viv_snapshot_index_find (index, self->hidden_snapshots->pdata[i - 1]) == NULL)
      g_ptr_array_remove_index (self->hidden_snapshots, i - 1);
  update_timeline (self);
  if (self->select_after != NULL)
    {
      viv_snapshot_timeline_select (self->timeline, self->select_after);
      g_clear_pointer (&self->select_after, g_free);
    }
}

static void
set_show_snapshots (VivMachinePage *self,
                    gboolean        show)
{
  if (self->show_snapshots == !!show)
    return;
  self->show_snapshots = !!show;
  gtk_revealer_set_reveal_child (self->snapshots_revealer, show);
  if (show)
    viv_snapshot_timeline_focus_card (self->timeline, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_SNAPSHOTS]);
}

/* The timeline (tests) */
VivSnapshotTimeline *
viv_machine_page_get_timeline (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return self->timeline;
}

/* The toast of the last snapshot deleted, while it can be undone (tests) */
AdwToast *
viv_machine_page_get_snapshot_toast (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return self->delete_toast;
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
  attach_screen (self);
  set_fullscreen (self, FALSE);
  /* the last delete is final: its toast would bring back another machine's snapshot */
  viv_undo_toast_withdraw (&self->delete_toast);
  commit_delete (self);
  g_clear_pointer (&self->select_after, g_free);
  g_set_object (&self->machine, machine);
  self->show_serial = FALSE;
  self->agent_hint_dismissed = FALSE;
  viv_display_set_machine (self->display, has_display (self) ? machine : NULL);
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
      g_signal_connect_swapped (machine, "notify::disc", G_CALLBACK (update_disc_actions), self);
      g_signal_connect_swapped (machine, "notify::guest-addresses", G_CALLBACK (update_address),
                                self);
      g_signal_connect_swapped (machine, "notify::snapshot-busy",
                                G_CALLBACK (update_snapshot_actions), self);
      g_signal_connect_swapped (machine, "snapshots-changed", G_CALLBACK (on_snapshots_changed),
                                self);
    }
  viv_serial_console_set_machine (self->console, machine);
  update_timeline (self);
  update (self);
  update_disk_banner (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MACHINE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_SERIAL]);
}

VivSerialConsole *
viv_machine_page_get_console (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return self->console;
}

/* The machine's screen (shown or not: see viv_machine_page_get_console_view) */
VivDisplay *
viv_machine_page_get_display (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return self->display;
}

/* What the console shows: "display", "detached" or "serial" */
const char *
viv_machine_page_get_console_view (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return gtk_stack_get_visible_child_name (self->console_stack);
}

/* The screen's own window, while "Open in New Window" made one */
GtkWindow *
viv_machine_page_get_console_window (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), NULL);

  return self->console_window;
}

/* Whether the screen is fullscreen, as asked (console.fullscreen) */
gboolean
viv_machine_page_get_fullscreen (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), FALSE);

  return self->fullscreen_on;
}

/* Whether the hint about the missing agent shows */
gboolean
viv_machine_page_get_agent_hint_shown (VivMachinePage *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PAGE (self), FALSE);

  return gtk_revealer_get_reveal_child (self->agent_revealer);
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
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), "console") == 0)
    {
      const char *view = gtk_stack_get_visible_child_name (self->console_stack);

      if (g_strcmp0 (view, "display") == 0 && gtk_widget_grab_focus (GTK_WIDGET (self->display)))
        return;
      if (g_strcmp0 (view, "serial") == 0 && gtk_widget_grab_focus (GTK_WIDGET (self->console)))
        return;
      child = gtk_stack_get_visible_child (self->console_stack);
    }
  {
    GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
    GtkWidget *focus = root != NULL ? gtk_root_get_focus (root) : NULL;

    /* already there */
    if (child != NULL && focus != NULL && gtk_widget_is_ancestor (focus, child))
      return;
  }
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
  viv_undo_toast_forget (&self->delete_toast, GTK_WIDGET (self));
  commit_delete_full (self, TRUE);
  g_clear_pointer (&self->hidden_snapshots, g_ptr_array_unref);
  g_clear_pointer (&self->snapshot_doing, g_free);
  g_clear_pointer (&self->select_after, g_free);
  g_clear_object (&self->machine);
  if (self->console_window != NULL)
    attach_screen (self);
  if (self->fullscreen_window != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->fullscreen_window, on_window_fullscreened, self);
      g_clear_weak_pointer (&self->fullscreen_window);
    }
  g_clear_handle_id (&self->agent_hint_id, g_source_remove);
  if (self->display != NULL)
    g_signal_handlers_disconnect_by_data (self->display, self);
  g_clear_object (&self->console_actions);

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

    case PROP_SHOW_SERIAL:
      g_value_set_boolean (value, self->show_serial);
      break;

    case PROP_SHOW_SNAPSHOTS:
      g_value_set_boolean (value, self->show_snapshots);
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

    case PROP_SHOW_SERIAL:
      set_show_serial (self, g_value_get_boolean (value));
      break;

    case PROP_SHOW_SNAPSHOTS:
      set_show_snapshots (self, g_value_get_boolean (value));
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
  properties[PROP_SHOW_SERIAL] =
    g_param_spec_boolean ("show-serial", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHOW_SNAPSHOTS] =
    g_param_spec_boolean ("show-snapshots", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (VIV_TYPE_SERIAL_CONSOLE);
  g_type_ensure (VIV_TYPE_DISPLAY);
  g_type_ensure (VIV_TYPE_SNAPSHOT_TIMELINE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-machine-page.ui");
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, box);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, flap);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, header_bar);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, serial_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, fullscreen_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, send_key_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, console_stack);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, display_slot);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, display_area);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, display_scroller);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, display);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, display_status);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, display_spinner);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, reconnect_button);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, agent_revealer);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, window_title);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, address_label);
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
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, snapshots_revealer);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, snapshots_spinner);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, snapshots_status);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePage, timeline);

  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    gtk_widget_class_install_action (widget_class, actions[i], NULL, forward_action);
  gtk_widget_class_install_action (widget_class, "machine.dismiss-disk-problem", NULL,
                                   dismiss_disk_problem);
  gtk_widget_class_install_property_action (widget_class, "machine.show-serial", "show-serial");
  gtk_widget_class_install_property_action (widget_class, "machine.show-snapshots",
                                            "show-snapshots");
  gtk_widget_class_install_action (widget_class, "machine.take-snapshot", NULL, take_snapshot);
  gtk_widget_class_install_action (widget_class, "machine.revert-snapshot", "s",
                                   revert_snapshot);
  gtk_widget_class_install_action (widget_class, "machine.rename-snapshot", "s",
                                   rename_snapshot);
  gtk_widget_class_install_action (widget_class, "machine.delete-snapshot", "s",
                                   delete_snapshot);
  gtk_widget_class_install_action (widget_class, "machine.undo-delete-snapshot", NULL,
                                   undo_delete_snapshot);
  {
    guint key;
    GdkModifierType mods;

    if (gtk_accelerator_parse (VIV_ACCEL_TAKE_SNAPSHOT, &key, &mods))
      gtk_widget_class_add_binding_action (widget_class, key, mods, "machine.take-snapshot",
                                           NULL);
  }
  gtk_widget_class_install_action (widget_class, "machine.eject-disc", NULL, eject_disc);
  gtk_widget_class_install_action (widget_class, "machine.insert-disc", NULL, insert_disc);
  gtk_widget_class_install_action (widget_class, "machine.insert-disc-file", "s",
                                   insert_disc_file);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_E,
                                       GDK_CONTROL_MASK | GDK_SHIFT_MASK, "machine.eject-disc",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_O,
                                       GDK_CONTROL_MASK | GDK_SHIFT_MASK, "machine.insert-disc",
                                       NULL);
  /* F11 here; with the screen focused but not grabbed it comes through too
   * (viv_remote_display_is_host_key) */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F11, 0, "console.fullscreen", NULL);

  gtk_widget_class_set_css_name (widget_class, "machinepage");
}

static const GActionEntry console_entries[] = {
  { "send-key", on_send_key, "s", NULL, NULL, { 0 } },
  { "zoom", NULL, "s", "'fit'", on_zoom, { 0 } },
  { "fullscreen", NULL, NULL, "false", on_fullscreen, { 0 } },
  { "detach", on_detach, NULL, NULL, NULL, { 0 } },
  { "attach", on_attach, NULL, NULL, NULL, { 0 } },
  { "reconnect", on_reconnect, NULL, NULL, NULL, { 0 } },
  { "dismiss-agent-hint", on_dismiss_agent_hint, NULL, NULL, NULL, { 0 } },
};

static void
viv_machine_page_init (VivMachinePage *self)
{
  static const char *display_props[] = {
    "notify::state", "notify::guest-width", "notify::can-resize", "notify::grabbed",
    "notify::error",
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  self->hidden_snapshots = g_ptr_array_new_null_terminated (0, g_free, TRUE);

  self->console_actions = g_simple_action_group_new ();
  g_action_map_add_action_entries (G_ACTION_MAP (self->console_actions), console_entries,
                                   G_N_ELEMENTS (console_entries), self);
  gtk_widget_insert_action_group (GTK_WIDGET (self), "console",
                                  G_ACTION_GROUP (self->console_actions));
  for (guint i = 0; i < G_N_ELEMENTS (display_props); i++)
    g_signal_connect_swapped (self->display, display_props[i], G_CALLBACK (on_display_notify),
                              self);
  watch_flap (self->flap, GTK_WIDGET (self->menu_button), GTK_WIDGET (self->send_key_button));
  update (self);
  update_disk_banner (self);
}
