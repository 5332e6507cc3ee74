/* viv-wizard.c: the create-machine wizard
 *
 * A modal window over the main one, with one page at a time:
 *
 *   source ─┬─ media (a disc image: detecting, what is on it, or why not) ─┐
 *           ├─ disk-image (copy it, or use it where it is) ────────────────┤
 *           ├─ kernel (kernel, initial RAM disk, command line) ────────────┼─ resources ─ review ─ creating
 *           └─ an operating system from the list ──────────────────────────┘
 *
 * plus "os", the list of operating systems, opened from the steps that can
 * change the system (a disc nobody recognised, the review). Choices go into
 * a VivMachineCreator as they are made; nothing is written before Create,
 * and the creator leaves nothing behind when it fails or is cancelled.
 *
 * Quick where it can be: a disc image that libosinfo recognises, or an
 * operating system picked from the list, goes straight to the review, all
 * filled in (Back walks through the steps skipped, resources included).
 * Every step is an action (wizard.*), for the buttons, the keys and the
 * tests alike; Back keeps what was chosen.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-wizard"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-wizard-private.h"

G_DEFINE_FINAL_TYPE (VivWizard, viv_wizard, ADW_TYPE_WINDOW)

enum {
  PROP_0,
  PROP_LIBRARY,
  PROP_PAGE,
  PROP_DISK_IMPORT,
  PROP_START_MACHINE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_MACHINE_CREATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* --- helpers ------------------------------------------------------------------------ */

gboolean
viv_wizard_is_page (VivWizard  *self,
                    const char *page)
{
  return g_strcmp0 (gtk_stack_get_visible_child_name (self->stack), page) == 0;
}

/* --- pages -------------------------------------------------------------------------- */

static const char *
page_subtitle (const char *page)
{
  static const struct {
    const char *page;
    const char *subtitle;
  } subtitles[] = {
    { "source", N_("Where It Starts From") },
    { "media", N_("Installer Disc Image") },
    { "disk-image", N_("Disk Image") },
    { "kernel", N_("Linux Kernel") },
    { "os", N_("Operating System") },
    { "resources", N_("Resources") },
    { "review", N_("Review and Create") },
    { "creating", N_("Creating") },
  };

  for (guint i = 0; i < G_N_ELEMENTS (subtitles); i++)
    if (g_strcmp0 (page, subtitles[i].page) == 0)
      return _(subtitles[i].subtitle);
  return NULL;
}

static gboolean
can_go_on (VivWizard *self)
{
  const char *page = gtk_stack_get_visible_child_name (self->stack);

  if (g_strcmp0 (page, "resources") == 0)
    return TRUE;
  return viv_wizard_source_can_go_on (self, page);
}

/* The buttons and actions the page allows */
void
viv_wizard_update_actions (VivWizard *self)
{
  const char *page = gtk_stack_get_visible_child_name (self->stack);
  gboolean creating = g_strcmp0 (page, "creating") == 0;
  gboolean review = g_strcmp0 (page, "review") == 0;
  gboolean has_next = g_strcmp0 (page, "media") == 0 || g_strcmp0 (page, "disk-image") == 0 ||
                      g_strcmp0 (page, "kernel") == 0 || g_strcmp0 (page, "resources") == 0;
  gboolean can_create = review && viv_wizard_review_can_create (self);

  gtk_widget_set_visible (GTK_WIDGET (self->back_button), self->history->len > 0 && !creating);
  gtk_widget_set_visible (GTK_WIDGET (self->next_button), has_next);
  gtk_widget_set_visible (GTK_WIDGET (self->create_button), review);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.back",
                                 self->history->len > 0 && !creating);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.next", has_next && can_go_on (self));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.create", can_create);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "wizard.edit-resources", review);

  /* Enter goes on */
  if (review)
    gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (self->create_button));
  else if (has_next)
    gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (self->next_button));
  else
    gtk_window_set_default_widget (GTK_WINDOW (self), NULL);
}

static void
focus_page (VivWizard  *self,
            const char *page)
{
  GtkWidget *target = NULL;

  if (g_strcmp0 (page, "source") == 0)
    target = GTK_WIDGET (self->source_list);
  else if (g_strcmp0 (page, "os") == 0)
    target = GTK_WIDGET (self->os_list);
  else if (g_strcmp0 (page, "kernel") == 0)
    target = GTK_WIDGET (self->kernel_entry);
  else if (g_strcmp0 (page, "resources") == 0)
    target = GTK_WIDGET (self->memory_spin);
  else if (g_strcmp0 (page, "review") == 0 || g_strcmp0 (page, "media") == 0 ||
           g_strcmp0 (page, "disk-image") == 0)
    target = gtk_widget_get_visible (GTK_WIDGET (self->next_button))
             ? GTK_WIDGET (self->next_button) : GTK_WIDGET (self->create_button);

  if (g_strcmp0 (page, "source") == 0)
    {
      /* the first row */
      GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->source_list, 0);

      if (row != NULL)
        target = GTK_WIDGET (row);
    }
  if (target != NULL && gtk_widget_get_sensitive (target))
    gtk_widget_grab_focus (target);
}

/* Shows PAGE; PUSH: Back comes back to the page shown now */
void
viv_wizard_show_page (VivWizard  *self,
                      const char *page,
                      gboolean    push)
{
  const char *current = gtk_stack_get_visible_child_name (self->stack);

  if (g_strcmp0 (current, page) == 0)
    {
      viv_wizard_update_actions (self);
      return;
    }
  if (push)
    g_ptr_array_add (self->history, g_strdup (current));

  if (g_strcmp0 (page, "resources") == 0)
    viv_wizard_refresh_resources (self);
  else if (g_strcmp0 (page, "review") == 0)
    viv_wizard_refresh_review (self);

  adw_window_title_set_subtitle (self->window_title, page_subtitle (page));
  gtk_stack_set_visible_child_name (self->stack, page);
  viv_wizard_update_actions (self);
  focus_page (self, page);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAGE]);
}

/* Straight to the review, with Back going through the steps on the way:
 * source, VIA (the page of the source, or NULL), resources */
void
viv_wizard_go_to_review (VivWizard  *self,
                         const char *via)
{
  g_ptr_array_set_size (self->history, 0);
  g_ptr_array_add (self->history, g_strdup ("source"));
  if (via != NULL)
    g_ptr_array_add (self->history, g_strdup (via));
  g_ptr_array_add (self->history, g_strdup ("resources"));
  viv_wizard_show_page (self, "review", FALSE);
}

static void
go_back (VivWizard *self)
{
  g_autofree char *previous = NULL;

  if (self->history->len == 0 || viv_wizard_is_page (self, "creating"))
    return;

  /* Leaving a disc image being looked at, or the source, stops the work */
  if (viv_wizard_is_page (self, "media") || viv_wizard_is_page (self, "disk-image") ||
      viv_wizard_is_page (self, "kernel"))
    viv_wizard_cancel_source_tasks (self);

  previous = g_ptr_array_steal_index (self->history, self->history->len - 1);
  viv_wizard_show_page (self, previous, FALSE);
}

/* --- actions ------------------------------------------------------------------------ */

static void
back_action (GtkWidget  *widget,
             const char *action_name G_GNUC_UNUSED,
             GVariant   *parameter G_GNUC_UNUSED)
{
  go_back (VIV_WIZARD (widget));
}

static void
next_action (GtkWidget  *widget,
             const char *action_name G_GNUC_UNUSED,
             GVariant   *parameter G_GNUC_UNUSED)
{
  VivWizard *self = VIV_WIZARD (widget);
  const char *page = gtk_stack_get_visible_child_name (self->stack);

  if (!can_go_on (self))
    return;

  if (g_strcmp0 (page, "kernel") == 0)
    viv_wizard_next_from_kernel (self);   /* once the files are found */
  else if (g_strcmp0 (page, "media") == 0 || g_strcmp0 (page, "disk-image") == 0)
    viv_wizard_show_page (self, "resources", TRUE);
  else if (g_strcmp0 (page, "resources") == 0)
    viv_wizard_show_page (self, "review", TRUE);
}

static void
edit_resources_action (GtkWidget  *widget,
                       const char *action_name G_GNUC_UNUSED,
                       GVariant   *parameter G_GNUC_UNUSED)
{
  VivWizard *self = VIV_WIZARD (widget);

  /* The review always comes after the resources */
  if (viv_wizard_is_page (self, "review"))
    go_back (self);
}

static void
create_action (GtkWidget  *widget,
               const char *action_name G_GNUC_UNUSED,
               GVariant   *parameter G_GNUC_UNUSED)
{
  VivWizard *self = VIV_WIZARD (widget);

  if (viv_wizard_is_page (self, "review") && viv_wizard_review_can_create (self))
    viv_wizard_create (self);
}

/* While creating: stop it (the review comes back). Otherwise: close. */
static void
cancel_action (GtkWidget  *widget,
               const char *action_name G_GNUC_UNUSED,
               GVariant   *parameter G_GNUC_UNUSED)
{
  VivWizard *self = VIV_WIZARD (widget);

  if (self->create_cancellable != NULL)
    {
      g_cancellable_cancel (self->create_cancellable);
      return;
    }
  gtk_window_close (GTK_WINDOW (self));
}

/* --- public ----------------------------------------------------------------------- */

/**
 * viv_wizard_new:
 * @parent: (nullable): the window it is modal over
 * @library: the library the machine goes into
 *
 * Returns: (transfer none): the wizard (a toplevel: it frees itself when closed)
 */
VivWizard *
viv_wizard_new (GtkWindow  *parent,
                VivLibrary *library)
{
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (VIV_IS_LIBRARY (library), NULL);

  return g_object_new (VIV_TYPE_WIZARD,
                       "transient-for", parent,
                       "application", parent != NULL ? gtk_window_get_application (parent) : NULL,
                       "library", library,
                       NULL);
}

/* The page shown: "source", "media", "disk-image", "kernel", "os",
 * "resources", "review" or "creating" */
const char *
viv_wizard_get_page (VivWizard *self)
{
  g_return_val_if_fail (VIV_IS_WIZARD (self), NULL);

  return gtk_stack_get_visible_child_name (self->stack);
}

/* Looking at a file, or creating */
gboolean
viv_wizard_get_busy (VivWizard *self)
{
  g_return_val_if_fail (VIV_IS_WIZARD (self), FALSE);

  return self->detect_cancellable != NULL || self->disk_cancellable != NULL ||
         self->kernel_cancellable != NULL || self->create_cancellable != NULL;
}

VivMachineCreator *
viv_wizard_get_creator (VivWizard *self)
{
  g_return_val_if_fail (VIV_IS_WIZARD (self), NULL);

  return self->creator;
}

/* Returns: (nullable) (transfer none): the disc image detected */
VivMedia *
viv_wizard_get_media (VivWizard *self)
{
  g_return_val_if_fail (VIV_IS_WIZARD (self), NULL);

  return self->media;
}

/* --- GObject ------------------------------------------------------------------------ */

static gboolean
viv_wizard_close_request (GtkWindow *window)
{
  VivWizard *self = VIV_WIZARD (window);

  /* Whatever is under way stops; a creation removes what it began */
  g_cancellable_cancel (self->cancellable);
  if (self->create_cancellable != NULL)
    g_cancellable_cancel (self->create_cancellable);
  viv_wizard_cancel_source_tasks (self);

  return GTK_WINDOW_CLASS (viv_wizard_parent_class)->close_request (window);
}

static void
viv_wizard_dispose (GObject *object)
{
  VivWizard *self = VIV_WIZARD (object);

  self->disposed = TRUE;
  g_cancellable_cancel (self->cancellable);
  if (self->create_cancellable != NULL)
    g_cancellable_cancel (self->create_cancellable);
  viv_wizard_dispose_source (self);

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_WIZARD);

  g_clear_object (&self->creator);
  g_clear_object (&self->library);
  g_clear_object (&self->catalog);

  G_OBJECT_CLASS (viv_wizard_parent_class)->dispose (object);
}

static void
viv_wizard_finalize (GObject *object)
{
  VivWizard *self = VIV_WIZARD (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->history, g_ptr_array_unref);
  g_free (self->pending_os_id);
  g_free (self->os_list_from);
  g_free (self->disk_import);
  g_free (self->disk_write_problem);

  G_OBJECT_CLASS (viv_wizard_parent_class)->finalize (object);
}

static void
viv_wizard_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  VivWizard *self = VIV_WIZARD (object);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      g_value_set_object (value, self->library);
      break;
    case PROP_PAGE:
      g_value_set_string (value, viv_wizard_get_page (self));
      break;
    case PROP_DISK_IMPORT:
      g_value_set_string (value, self->disk_import);
      break;
    case PROP_START_MACHINE:
      g_value_set_boolean (value, self->start_machine);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_wizard_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  VivWizard *self = VIV_WIZARD (object);

  switch (prop_id)
    {
    case PROP_LIBRARY:
      g_assert (self->library == NULL);
      self->library = g_value_dup_object (value);
      break;
    case PROP_DISK_IMPORT:
      viv_wizard_set_disk_import (self, g_value_get_string (value));
      break;
    case PROP_START_MACHINE:
      if (self->start_machine != g_value_get_boolean (value))
        {
          self->start_machine = g_value_get_boolean (value);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_wizard_constructed (GObject *object)
{
  VivWizard *self = VIV_WIZARD (object);

  G_OBJECT_CLASS (viv_wizard_parent_class)->constructed (object);

  g_assert (VIV_IS_LIBRARY (self->library));
  self->creator = viv_machine_creator_new (self->library);
  viv_wizard_init_source (self);
  viv_wizard_init_review (self);
  viv_wizard_update_actions (self);
}

static void
viv_wizard_class_init (VivWizardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = viv_wizard_constructed;
  object_class->dispose = viv_wizard_dispose;
  object_class->finalize = viv_wizard_finalize;
  object_class->get_property = viv_wizard_get_property;
  object_class->set_property = viv_wizard_set_property;
  window_class->close_request = viv_wizard_close_request;

  properties[PROP_LIBRARY] =
    g_param_spec_object ("library", NULL, NULL, VIV_TYPE_LIBRARY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PAGE] =
    g_param_spec_string ("page", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* "copy" or "reference": what happens to a disk image */
  properties[PROP_DISK_IMPORT] =
    g_param_spec_string ("disk-import", NULL, NULL, "copy",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* Start the machine once it is created (where it can start) */
  properties[PROP_START_MACHINE] =
    g_param_spec_boolean ("start-machine", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * VivWizard::machine-created:
   * @machine: the new machine, in the library
   * @start: whether it should start now
   *
   * The wizard closes after it.
   */
  signals[SIGNAL_MACHINE_CREATED] =
    g_signal_new ("machine-created",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, VIV_TYPE_MACHINE, G_TYPE_BOOLEAN);

  g_type_ensure (VIV_TYPE_WIZARD_OS_LIST);
  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/ui/viv-wizard.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, VivWizard, name)
  BIND (toast_overlay);
  BIND (back_button);
  BIND (window_title);
  BIND (next_button);
  BIND (create_button);
  BIND (stack);
  BIND (source_page);
  BIND (source_list);
  BIND (source_os_list);
  BIND (media_stack);
  BIND (detecting_page);
  BIND (detecting_spinner);
  BIND (media_logo);
  BIND (media_title);
  BIND (media_description);
  BIND (media_os_row);
  BIND (media_file_row);
  BIND (media_boot_row);
  BIND (media_error_page);
  BIND (disk_file_row);
  BIND (reference_row);
  BIND (reference_check);
  BIND (disk_spinner);
  BIND (kernel_entry);
  BIND (initrd_entry);
  BIND (cmdline_entry);
  BIND (kernel_error);
  BIND (os_page_label);
  BIND (os_list);
  BIND (resources_group);
  BIND (memory_row);
  BIND (memory_spin);
  BIND (cpus_row);
  BIND (cpus_spin);
  BIND (disk_row);
  BIND (disk_spin);
  BIND (image_disk_row);
  BIND (space_warning);
  BIND (space_warning_label);
  BIND (review_error);
  BIND (review_error_label);
  BIND (review_warning);
  BIND (review_warning_label);
  BIND (name_row);
  BIND (name_error);
  BIND (review_os_row);
  BIND (review_logo);
  BIND (review_source_row);
  BIND (review_resources_row);
  BIND (start_row);
  BIND (start_switch);
  BIND (creating_page);
  BIND (progress_bar);
  BIND (progress_label);
#undef BIND

  gtk_widget_class_install_action (widget_class, "wizard.back", NULL, back_action);
  gtk_widget_class_install_action (widget_class, "wizard.next", NULL, next_action);
  gtk_widget_class_install_action (widget_class, "wizard.edit-resources", NULL,
                                   edit_resources_action);
  gtk_widget_class_install_action (widget_class, "wizard.create", NULL, create_action);
  gtk_widget_class_install_action (widget_class, "wizard.cancel", NULL, cancel_action);
  gtk_widget_class_install_property_action (widget_class, "wizard.disk-import", "disk-import");
  gtk_widget_class_install_property_action (widget_class, "wizard.start-machine",
                                            "start-machine");
  viv_wizard_class_init_source (widget_class);
  viv_wizard_class_init_review (widget_class);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "wizard.cancel", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Left, GDK_ALT_MASK, "wizard.back",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Back, 0, "wizard.back", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Right, GDK_ALT_MASK, "wizard.next",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Forward, 0, "wizard.next", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK,
                                       "wizard.open-iso", NULL);
}

static void
viv_wizard_init (VivWizard *self)
{
  /* Before the template: its buttons read these through their actions */
  self->disk_import = g_strdup ("copy");
  self->start_machine = TRUE;

  gtk_widget_init_template (GTK_WIDGET (self));

  /* Enter in a spin button goes on (GtkSpinButton:activates-default is GTK 4.14;
   * its text has one in GTK 4.8 already) */
  {
    GtkSpinButton *spins[] = { self->memory_spin, self->cpus_spin, self->disk_spin };

    for (guint i = 0; i < G_N_ELEMENTS (spins); i++)
      {
        GtkEditable *text = gtk_editable_get_delegate (GTK_EDITABLE (spins[i]));

        if (GTK_IS_TEXT (text))
          gtk_text_set_activates_default (GTK_TEXT (text), TRUE);
      }
  }

#if ADW_CHECK_VERSION (1, 3, 0)
  /* Paths that people may want to copy (libadwaita 1.2 cannot select them) */
  adw_action_row_set_subtitle_selectable (self->media_file_row, TRUE);
  adw_action_row_set_subtitle_selectable (self->disk_file_row, TRUE);
  adw_action_row_set_subtitle_selectable (self->review_source_row, TRUE);
#endif

  if (g_strcmp0 (PROFILE, "development") == 0)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");

  self->cancellable = g_cancellable_new ();
  self->history = g_ptr_array_new_with_free_func (g_free);
  adw_window_title_set_subtitle (self->window_title, page_subtitle ("source"));
}
