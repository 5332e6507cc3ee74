/* viv-wizard-source.c: what the machine starts from
 *
 * - a disc image (wizard.open-iso, wizard.choose-iso): detected in a worker
 *   thread (VivMedia); what libosinfo recognises goes straight to the
 *   review, a disc nobody recognises stays on its page to have its system
 *   chosen by hand, a file that cannot be used says why and offers another.
 *   The "detecting" page only shows when detection takes a while, so a quick
 *   one does not flash it;
 * - a disk image (wizard.open-disk-image, wizard.choose-disk-image): its
 *   header read in a worker thread (format, size), then copied or used
 *   where it is (wizard.disk-import), which an image on a read-only file
 *   system cannot be;
 * - a kernel (wizard.show-kernel, wizard.choose-kernel): its files checked
 *   off the main thread before going on, the kernel's boot protocol with
 *   the engine's detection (viv-kernel);
 * - an operating system from the list (wizard.choose-os), for a machine
 *   with an empty disk that its firmware starts. The same list
 *   (wizard.show-os-list) changes the system of the other sources.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-wizard"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-disk.h"
#include "viv-file-chooser.h"
#include "viv-kernel.h"
#include "viv-os-logo.h"
#include "viv-size.h"
#include "viv-wizard-private.h"

/* Quicker than this, the "detecting" page is not worth showing */
#define DETECT_PAGE_DELAY_MS 250

typedef enum
{
  PICK_ISO,
  PICK_DISK_IMAGE,
  PICK_KERNEL,
  PICK_INITRD,
} Pick;

static void choose_iso        (VivWizard  *self,
                               const char *path);
static void choose_disk_image (VivWizard  *self,
                               const char *path);
static void on_boot_files_checked (GObject      *object,
                                   GAsyncResult *result,
                                   gpointer      user_data);

/* --- common ------------------------------------------------------------------------ */

static void
toast (VivWizard  *self,
       const char *message)
{
  g_autofree char *escaped = g_markup_escape_text (message, -1);
  AdwToast *toast = adw_toast_new (escaped);

  adw_toast_set_timeout (toast, 5);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
clear_cancellable (GCancellable **cancellable)
{
  if (*cancellable != NULL)
    g_cancellable_cancel (*cancellable);
  g_clear_object (cancellable);
}

/* Stops looking at files: another source was chosen, or the wizard goes */
void
viv_wizard_cancel_source_tasks (VivWizard *self)
{
  g_clear_handle_id (&self->detect_delay_id, g_source_remove);
  clear_cancellable (&self->detect_cancellable);
  self->checking_detected = FALSE;
  clear_cancellable (&self->disk_cancellable);
  clear_cancellable (&self->kernel_cancellable);
  if (self->detecting_spinner != NULL)
    gtk_spinner_stop (self->detecting_spinner);
  if (self->disk_spinner != NULL)
    gtk_spinner_stop (self->disk_spinner);
}

/* Whether Next can leave PAGE */
gboolean
viv_wizard_source_can_go_on (VivWizard  *self,
                             const char *page)
{
  if (g_strcmp0 (page, "media") == 0)
    return self->media != NULL && self->detect_cancellable == NULL;
  if (g_strcmp0 (page, "disk-image") == 0)
    return self->disk_ok && self->disk_cancellable == NULL;
  if (g_strcmp0 (page, "kernel") == 0)
    return gtk_editable_get_text (GTK_EDITABLE (self->kernel_entry))[0] != '\0' &&
           self->kernel_cancellable == NULL;
  return FALSE;
}

static gboolean
is_iso_source (VivWizard *self)
{
  VivCreatorSource source = viv_machine_creator_get_source (self->creator);

  return self->media != NULL &&
         (source == VIV_CREATOR_SOURCE_ISO_KERNEL || source == VIV_CREATOR_SOURCE_ISO_FIRMWARE);
}

static GdkPaintable *
os_logo (OsinfoOs *os)
{
  const char *id;

  if (os == NULL)
    return NULL;
  id = osinfo_entity_get_id (OSINFO_ENTITY (os));
  return viv_os_logo_get_paintable (viv_os_catalog_get_logo (viv_os_catalog_get_default (), id));
}

/**
 * viv_wizard_describe_os:
 * @name: (out): what the machine runs, for people
 * @detail: (out) (nullable): what that means for its settings
 * @logo: (out) (nullable) (transfer none): the system's logo
 */
void
viv_wizard_describe_os (VivWizard     *self,
                        char         **name,
                        char         **detail,
                        GdkPaintable **logo)
{
  OsinfoOs *os = viv_machine_creator_get_os (self->creator);
  const char *os_name = os != NULL ? osinfo_product_get_name (OSINFO_PRODUCT (os)) : NULL;

  *detail = NULL;
  *logo = os_logo (os);

  if (is_iso_source (self))
    {
      switch (viv_media_get_os_match (self->media))
        {
        case VIV_MEDIA_OS_NEWER_THAN_DB:
          *name = g_strdup (viv_media_get_name (self->media));
          *detail = g_strdup_printf (_("Newer than this computer’s list of operating systems: "
                                       "the settings for %s are used"), os_name);
          return;

        case VIV_MEDIA_OS_UNKNOWN:
          *name = g_strdup (_("Unknown operating system"));
          *detail = g_strdup_printf (_("The settings for %s are used"), os_name);
          return;

        case VIV_MEDIA_OS_IDENTIFIED:
        case VIV_MEDIA_OS_CHOSEN:
        default:
          *name = g_strdup (viv_media_get_name (self->media));
          return;
        }
    }

  if (os_name != NULL)
    {
      *name = g_strdup (os_name);
      return;
    }
  *name = g_strdup (_("Not chosen"));
  *detail = g_strdup (_("Settings for most systems are used"));
}

/* --- file choosers ------------------------------------------------------------------- */

static void
file_picked (VivWizard *self,
             Pick       pick,
             GFile     *file)
{
  g_autofree char *path = g_file_get_path (file);

  if (path == NULL)
    {
      toast (self, _("Only files on this computer can be used"));
      return;
    }

  switch (pick)
    {
    case PICK_ISO:
      choose_iso (self, path);
      break;
    case PICK_DISK_IMAGE:
      choose_disk_image (self, path);
      break;
    case PICK_KERNEL:
      gtk_editable_set_text (GTK_EDITABLE (self->kernel_entry), path);
      break;
    case PICK_INITRD:
      gtk_editable_set_text (GTK_EDITABLE (self->initrd_entry), path);
      break;
    default:
      g_assert_not_reached ();
    }
}

static GtkFileFilter *
make_filter (Pick pick)
{
  GtkFileFilter *filter = gtk_file_filter_new ();

  switch (pick)
    {
    case PICK_ISO:
      gtk_file_filter_set_name (filter, _("Disc Images"));
      gtk_file_filter_add_mime_type (filter, "application/x-cd-image");
      gtk_file_filter_add_suffix (filter, "iso");
      break;
    case PICK_DISK_IMAGE:
      gtk_file_filter_set_name (filter, _("Disk Images"));
      gtk_file_filter_add_mime_type (filter, "application/x-qemu-disk");
      gtk_file_filter_add_mime_type (filter, "application/x-raw-disk-image");
      gtk_file_filter_add_suffix (filter, "qcow2");
      gtk_file_filter_add_suffix (filter, "img");
      gtk_file_filter_add_suffix (filter, "raw");
      break;
    case PICK_KERNEL:
    case PICK_INITRD:
    default:
      g_clear_object (&filter);
      return NULL;
    }
  return filter;
}

static const char *
pick_title (Pick pick)
{
  switch (pick)
    {
    case PICK_ISO:
      return _("Choose an Installer Disc Image");
    case PICK_DISK_IMAGE:
      return _("Choose a Disk Image");
    case PICK_KERNEL:
      return _("Choose the Kernel");
    case PICK_INITRD:
      return _("Choose the Initial RAM Disk");
    default:
      g_assert_not_reached ();
    }
}

static void
on_file_chosen (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  VivWizard *self = VIV_WIZARD (object);
  g_autoptr(GFile) file = viv_choose_file_finish (result, NULL);

  if (file != NULL && !self->disposed)
    file_picked (self, GPOINTER_TO_INT (user_data), file);
}

static void
open_file_chooser (VivWizard *self,
                   Pick       pick)
{
  g_autoptr(GtkFileFilter) filter = make_filter (pick);

  viv_choose_file_async (GTK_WINDOW (self), pick_title (pick), filter, self->cancellable,
                         on_file_chosen, GINT_TO_POINTER (pick));
}

static void
open_iso_action (GtkWidget  *widget,
                 const char *action_name G_GNUC_UNUSED,
                 GVariant   *parameter G_GNUC_UNUSED)
{
  open_file_chooser (VIV_WIZARD (widget), PICK_ISO);
}

static void
open_disk_image_action (GtkWidget  *widget,
                        const char *action_name G_GNUC_UNUSED,
                        GVariant   *parameter G_GNUC_UNUSED)
{
  open_file_chooser (VIV_WIZARD (widget), PICK_DISK_IMAGE);
}

static void
open_kernel_file_action (GtkWidget  *widget,
                         const char *action_name G_GNUC_UNUSED,
                         GVariant   *parameter)
{
  const char *which = g_variant_get_string (parameter, NULL);

  open_file_chooser (VIV_WIZARD (widget),
                     g_strcmp0 (which, "initrd") == 0 ? PICK_INITRD : PICK_KERNEL);
}

/* --- a disc image ------------------------------------------------------------------ */

static void
set_media_logo (GtkImage     *image,
                GdkPaintable *logo,
                const char   *fallback)
{
  if (logo != NULL)
    {
      gtk_image_set_from_paintable (image, logo);
      gtk_widget_remove_css_class (GTK_WIDGET (image), "dim-label");
    }
  else
    {
      gtk_image_set_from_icon_name (image, fallback);
      gtk_widget_add_css_class (GTK_WIDGET (image), "dim-label");
    }
}

static void
update_media_page (VivWizard *self)
{
  VivMedia *media = self->media;
  const char *volume_id = viv_media_get_volume_id (media);
  g_autofree char *description = NULL;

  set_media_logo (self->media_logo, os_logo (viv_media_get_os (media)), "media-optical-symbolic");
  gtk_label_set_label (self->media_title, viv_media_get_name (media));

  switch (viv_media_get_os_match (media))
    {
    case VIV_MEDIA_OS_NEWER_THAN_DB:
      description = g_strdup_printf (_("Newer than this computer’s list of operating systems: "
                                       "the settings for %s are used."),
                                     viv_media_get_os_name (media));
      break;

    case VIV_MEDIA_OS_UNKNOWN:
      if (volume_id != NULL && volume_id[0] != '\0')
        /* Translators: %s is the disc's label ("SOMETHING_ELSE") */
        description = g_strdup_printf (_("Vivarium does not recognise the system on this disc "
                                         "(labelled “%s”), so settings that suit most Linux "
                                         "systems are used. If you know which it is, choose it "
                                         "below."), volume_id);
      else
        description = g_strdup (_("Vivarium does not recognise the system on this disc, so "
                                  "settings that suit most Linux systems are used. If you know "
                                  "which it is, choose it below."));
      break;

    case VIV_MEDIA_OS_CHOSEN:
      description = g_strdup (_("Chosen by hand"));
      break;

    case VIV_MEDIA_OS_IDENTIFIED:
    default:
      break;
    }
  gtk_label_set_label (self->media_description, description);
  gtk_widget_set_visible (GTK_WIDGET (self->media_description), description != NULL);

  adw_action_row_set_subtitle (self->media_os_row, viv_media_get_os_name (media));
  adw_action_row_set_subtitle (self->media_file_row, viv_media_get_path (media));
  adw_action_row_set_subtitle (self->media_boot_row,
                               viv_machine_creator_get_source (self->creator) ==
                               VIV_CREATOR_SOURCE_ISO_KERNEL
                               ? _("The installer’s kernel, started directly")
                               : _("Its boot loader, through the firmware"));
}

static void
show_media_error (VivWizard    *self,
                  const GError *error)
{
  g_autofree char *escaped = g_markup_escape_text (error->message, -1);

  adw_status_page_set_description (self->media_error_page, escaped);
  gtk_stack_set_visible_child_name (self->media_stack, "error");
}

static gboolean
show_detecting_page (gpointer data)
{
  VivWizard *self = data;

  self->detect_delay_id = 0;
  viv_wizard_show_page (self, "media", TRUE);
  return G_SOURCE_REMOVE;
}

/* The disc is known, as far as it can be: on to the review, or its page
 * when its system is unknown */
static void
media_ready (VivWizard *self)
{
  gboolean from_source = self->detect_delay_id != 0 || !viv_wizard_is_page (self, "media");

  g_clear_handle_id (&self->detect_delay_id, g_source_remove);
  gtk_spinner_stop (self->detecting_spinner);
  update_media_page (self);
  gtk_stack_set_visible_child_name (self->media_stack, "detected");

  switch (viv_media_get_os_match (self->media))
    {
    case VIV_MEDIA_OS_IDENTIFIED:
    case VIV_MEDIA_OS_NEWER_THAN_DB:
    case VIV_MEDIA_OS_CHOSEN:
      /* All is known: nothing to ask */
      viv_wizard_go_to_review (self, "media");
      break;

    case VIV_MEDIA_OS_UNKNOWN:
    default:
      viv_wizard_show_page (self, "media", from_source);
      break;
    }
  g_debug ("%s: from choosing to the %s page in %.1f ms", viv_media_get_path (self->media),
           viv_wizard_get_page (self),
           (double) (g_get_monotonic_time () - self->detect_started) / 1000.0);
}

static void
on_detected (GObject      *object G_GNUC_UNUSED,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VivMedia) media = viv_media_detect_finish (result, &error);

  /* Gone, or replaced by another choice */
  if (self->disposed || g_task_get_cancellable (G_TASK (result)) != self->detect_cancellable)
    return;
  g_clear_object (&self->detect_cancellable);

  if (media == NULL)
    {
      gboolean from_source = self->detect_delay_id != 0 || !viv_wizard_is_page (self, "media");

      g_clear_handle_id (&self->detect_delay_id, g_source_remove);
      gtk_spinner_stop (self->detecting_spinner);
      show_media_error (self, error);
      viv_wizard_show_page (self, "media", from_source);
      return;
    }

  self->media = g_steal_pointer (&media);
  viv_machine_creator_set_os (self->creator, NULL);

  /* A release newer than the database: where its kernel is comes from an
   * older one, a guess to check on the disc first */
  if (viv_media_get_os_match (self->media) == VIV_MEDIA_OS_NEWER_THAN_DB &&
      viv_media_can_boot_kernel (self->media))
    {
      viv_machine_creator_set_iso (self->creator, self->media, FALSE);
      self->checking_detected = TRUE;
      self->detect_cancellable = g_cancellable_new ();
      viv_media_check_boot_files_async (self->media, self->detect_cancellable,
                                        on_boot_files_checked, g_object_ref (self));
      return;
    }

  viv_machine_creator_set_iso (self->creator, self->media,
                               viv_media_can_boot_kernel (self->media));
  media_ready (self);
}

static void
choose_iso (VivWizard  *self,
            const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autofree char *display = g_filename_display_basename (path);

  viv_wizard_cancel_source_tasks (self);
  g_clear_object (&self->media);
  g_free (self->iso_path);
  self->iso_path = g_strdup (path);
  self->detect_started = g_get_monotonic_time ();

  adw_status_page_set_description (self->detecting_page, display);
  gtk_stack_set_visible_child_name (self->media_stack, "detecting");
  gtk_spinner_start (self->detecting_spinner);

  self->detect_cancellable = g_cancellable_new ();
  viv_media_detect_async (file, self->detect_cancellable, on_detected, g_object_ref (self));

  if (viv_wizard_is_page (self, "media"))
    viv_wizard_update_actions (self);
  else
    self->detect_delay_id = g_timeout_add (DETECT_PAGE_DELAY_MS, show_detecting_page, self);
}

static void
choose_iso_action (GtkWidget  *widget,
                   const char *action_name G_GNUC_UNUSED,
                   GVariant   *parameter)
{
  choose_iso (VIV_WIZARD (widget), g_variant_get_string (parameter, NULL));
}

/* --- a disk image ------------------------------------------------------------------- */

static void
show_reference_row (VivWizard *self)
{
  gboolean problem = self->disk_write_problem != NULL;

  adw_action_row_set_subtitle (self->reference_row,
                               problem ? self->disk_write_problem
                                       : _("Quicker and takes no space, but the machine changes "
                                           "the image"));
  if (problem)
    gtk_widget_add_css_class (GTK_WIDGET (self->reference_row), "warning");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->reference_row), "warning");
  /* The row stays readable: only its choice is off */
  gtk_widget_set_sensitive (GTK_WIDGET (self->reference_check), !problem);
}

/* An image on a read-only file system (a disc, a read-only share) can only
 * be copied: say so on "Use the Image Where It Is", and choose the copy */
static void
on_disk_writable_checked (GObject      *object G_GNUC_UNUSED,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean writable = viv_machine_check_image_writable_finish (result, &error);

  if (self->disposed || g_task_get_cancellable (G_TASK (result)) != self->disk_cancellable)
    return;
  g_clear_object (&self->disk_cancellable);
  gtk_spinner_stop (self->disk_spinner);

  g_clear_pointer (&self->disk_write_problem, g_free);
  if (!writable)
    {
      self->disk_write_problem = g_strdup (error->message);
      viv_wizard_set_disk_import (self, "copy");
    }
  show_reference_row (self);
  viv_wizard_update_actions (self);
}

static void
on_disk_info (GObject      *object G_GNUC_UNUSED,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VivDiskInfo) info = viv_disk_inspect_finish (result, &error);

  if (self->disposed || g_task_get_cancellable (G_TASK (result)) != self->disk_cancellable)
    return;
  g_clear_object (&self->disk_cancellable);
  gtk_spinner_stop (self->disk_spinner);

  if (info == NULL)
    {
      self->disk_ok = FALSE;
      adw_action_row_set_subtitle (self->disk_file_row, error->message);
      gtk_widget_add_css_class (GTK_WIDGET (self->disk_file_row), "error");
    }
  else
    {
      const char *format = viv_disk_format_to_string (info->format);
      g_autofree char *size = viv_size_format (info->virtual_size);
      g_autofree char *subtitle = NULL;

      self->disk_ok = TRUE;
      g_free (self->disk_format);
      self->disk_format = g_strdup (format);
      self->disk_virtual_size = info->virtual_size;
      self->disk_actual_size = info->actual_size;
      /* Translators: a disk image: its format ("qcow2"), its size ("20 GiB")
       * and where it is */
      subtitle = g_strdup_printf (_("%s, %s — %s"), format, size, self->disk_path);
      adw_action_row_set_subtitle (self->disk_file_row, subtitle);

      /* Whether it can be used where it is, before anyone chooses to */
      gtk_spinner_start (self->disk_spinner);
      self->disk_cancellable = g_cancellable_new ();
      viv_machine_check_image_writable_async (self->disk_path, self->disk_cancellable,
                                              on_disk_writable_checked, g_object_ref (self));
    }
  viv_wizard_update_actions (self);
}

static void
choose_disk_image (VivWizard  *self,
                   const char *path)
{
  g_autofree char *display = g_filename_display_basename (path);

  viv_wizard_cancel_source_tasks (self);
  g_clear_object (&self->media);
  g_free (self->disk_path);
  self->disk_path = g_canonicalize_filename (path, NULL);
  self->disk_ok = FALSE;
  g_clear_pointer (&self->disk_format, g_free);
  g_clear_pointer (&self->disk_write_problem, g_free);
  show_reference_row (self);
  viv_machine_creator_set_disk_image (self->creator, self->disk_path,
                                      g_strcmp0 (self->disk_import, "reference") == 0
                                      ? VIV_DISK_IMPORT_REFERENCE : VIV_DISK_IMPORT_COPY);
  viv_machine_creator_set_os (self->creator, NULL);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->disk_file_row), display);
  adw_action_row_set_subtitle (self->disk_file_row, self->disk_path);
  gtk_widget_remove_css_class (GTK_WIDGET (self->disk_file_row), "error");
  gtk_spinner_start (self->disk_spinner);

  self->disk_cancellable = g_cancellable_new ();
  viv_disk_inspect_async (self->disk_path, self->disk_cancellable, on_disk_info,
                          g_object_ref (self));

  viv_wizard_show_page (self, "disk-image", !viv_wizard_is_page (self, "disk-image"));
}

static void
choose_disk_image_action (GtkWidget  *widget,
                          const char *action_name G_GNUC_UNUSED,
                          GVariant   *parameter)
{
  choose_disk_image (VIV_WIZARD (widget), g_variant_get_string (parameter, NULL));
}

/* "copy" or "reference" */
void
viv_wizard_set_disk_import (VivWizard  *self,
                            const char *import)
{
  if (g_strcmp0 (import, "copy") != 0 && g_strcmp0 (import, "reference") != 0)
    {
      g_warning ("“%s” is neither “copy” nor “reference”", import);
      return;
    }
  if (g_strcmp0 (self->disk_import, import) == 0)
    return;
  /* It would fail at every start */
  if (g_strcmp0 (import, "reference") == 0 && self->disk_write_problem != NULL)
    return;
  g_free (self->disk_import);
  self->disk_import = g_strdup (import);
  if (viv_machine_creator_get_source (self->creator) == VIV_CREATOR_SOURCE_DISK_IMAGE)
    {
      OsinfoOs *os = viv_machine_creator_get_os (self->creator);
      g_autoptr(OsinfoOs) kept = os != NULL ? g_object_ref (os) : NULL;

      viv_machine_creator_set_disk_image (self->creator, self->disk_path,
                                          g_strcmp0 (import, "reference") == 0
                                          ? VIV_DISK_IMPORT_REFERENCE : VIV_DISK_IMPORT_COPY);
      viv_machine_creator_set_os (self->creator, kept);
    }
  g_object_notify (G_OBJECT (self), "disk-import");
}

/* --- a kernel ----------------------------------------------------------------------- */

static char *
entry_text (AdwEntryRow *row)
{
  g_autofree char *text = g_strdup (gtk_editable_get_text (GTK_EDITABLE (row)));

  return g_strstrip (g_steal_pointer (&text));
}

static void
apply_kernel (VivWizard *self)
{
  g_autofree char *kernel = entry_text (self->kernel_entry);
  g_autofree char *initrd = entry_text (self->initrd_entry);
  g_autofree char *cmdline = entry_text (self->cmdline_entry);

  if (kernel[0] == '\0')
    return;
  viv_machine_creator_set_kernel (self->creator, kernel, initrd[0] != '\0' ? initrd : NULL,
                                  cmdline);
}

static void
on_kernel_changed (VivWizard *self)
{
  if (self->updating)
    return;
  clear_cancellable (&self->kernel_cancellable);
  gtk_widget_set_visible (GTK_WIDGET (self->kernel_error), FALSE);
  if (viv_wizard_is_page (self, "kernel"))
    apply_kernel (self);
  viv_wizard_update_actions (self);
}

static void
show_kernel (VivWizard *self)
{
  viv_wizard_cancel_source_tasks (self);
  g_clear_object (&self->media);
  viv_machine_creator_set_os (self->creator, NULL);
  viv_wizard_show_page (self, "kernel", !viv_wizard_is_page (self, "kernel"));
  apply_kernel (self);
  viv_wizard_update_actions (self);
}

static void
show_kernel_action (GtkWidget  *widget,
                    const char *action_name G_GNUC_UNUSED,
                    GVariant   *parameter G_GNUC_UNUSED)
{
  show_kernel (VIV_WIZARD (widget));
}

/* (kernel, initrd, command line): the kernel page, filled in; "" for none */
static void
choose_kernel_action (GtkWidget  *widget,
                      const char *action_name G_GNUC_UNUSED,
                      GVariant   *parameter)
{
  VivWizard *self = VIV_WIZARD (widget);
  const char *kernel, *initrd, *cmdline;

  g_variant_get (parameter, "(&s&s&s)", &kernel, &initrd, &cmdline);
  self->updating = TRUE;
  gtk_editable_set_text (GTK_EDITABLE (self->kernel_entry), kernel);
  gtk_editable_set_text (GTK_EDITABLE (self->initrd_entry), initrd);
  gtk_editable_set_text (GTK_EDITABLE (self->cmdline_entry), cmdline);
  self->updating = FALSE;
  gtk_widget_set_visible (GTK_WIDGET (self->kernel_error), FALSE);
  show_kernel (self);
}

static void
check_kernel_thread (GTask        *task,
                     gpointer      source_object G_GNUC_UNUSED,
                     gpointer      task_data,
                     GCancellable *cancellable G_GNUC_UNUSED)
{
  char **paths = task_data;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *display = NULL;

      if (paths[i] == NULL || g_file_test (paths[i], G_FILE_TEST_IS_REGULAR))
        continue;
      display = g_filename_display_name (paths[i]);
      if (i == 0)
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                 /* Translators: %s is a file name */
                                 _("The kernel “%s” does not exist"), display);
      else
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                 /* Translators: %s is a file name */
                                 _("The initial RAM disk “%s” does not exist"), display);
      return;
    }

  /* What the engine would refuse at start, refused now, in its words */
  if (!viv_kernel_check (paths[0], &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
on_kernel_checked (GObject      *object G_GNUC_UNUSED,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;

  if (self->disposed || g_task_get_cancellable (G_TASK (result)) != self->kernel_cancellable)
    return;
  g_clear_object (&self->kernel_cancellable);

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      gtk_label_set_label (self->kernel_error, error->message);
      gtk_widget_set_visible (GTK_WIDGET (self->kernel_error), TRUE);
      viv_wizard_update_actions (self);
      return;
    }
  if (viv_wizard_is_page (self, "kernel"))
    viv_wizard_show_page (self, "resources", TRUE);
}

/* Next on the kernel page: on, once the files are found */
void
viv_wizard_next_from_kernel (VivWizard *self)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *kernel = entry_text (self->kernel_entry);
  g_autofree char *initrd = entry_text (self->initrd_entry);
  char **paths = g_new0 (char *, 3);

  apply_kernel (self);
  paths[0] = g_canonicalize_filename (kernel, NULL);
  paths[1] = initrd[0] != '\0' ? g_canonicalize_filename (initrd, NULL) : NULL;

  clear_cancellable (&self->kernel_cancellable);
  self->kernel_cancellable = g_cancellable_new ();
  task = g_task_new (NULL, self->kernel_cancellable, on_kernel_checked, g_object_ref (self));
  g_task_set_source_tag (task, viv_wizard_next_from_kernel);
  g_task_set_task_data (task, paths, (GDestroyNotify) g_strfreev);
  g_task_run_in_thread (task, check_kernel_thread);
  viv_wizard_update_actions (self);
}

/* --- operating systems -------------------------------------------------------------- */

/* Back from the list to where it was opened: a disc's system was all that
 * was missing, so on to the review */
static void
leave_os_list (VivWizard *self)
{
  if (g_strcmp0 (self->os_list_from, "media") == 0)
    viv_wizard_go_to_review (self, "media");
  else
    gtk_widget_activate_action (GTK_WIDGET (self), "wizard.back", NULL);
}

static void
on_boot_files_checked (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean found;

  found = viv_media_check_boot_files_finish (VIV_MEDIA (object), result, &error);
  if (self->disposed || g_task_get_cancellable (G_TASK (result)) != self->detect_cancellable)
    return;
  g_clear_object (&self->detect_cancellable);

  /* Not there: its boot loader, through the firmware, as for a disc that
   * names no kernel */
  if (!found)
    g_debug ("%s: no direct kernel boot: %s", viv_media_get_path (self->media), error->message);
  viv_machine_creator_set_iso (self->creator, self->media, found);
  viv_machine_creator_set_os (self->creator, NULL);
  if (self->checking_detected)
    {
      /* The end of the detection */
      self->checking_detected = FALSE;
      media_ready (self);
      return;
    }
  update_media_page (self);
  if (viv_wizard_is_page (self, "os"))
    leave_os_list (self);
  else
    viv_wizard_update_actions (self);
}

static void
choose_os (VivWizard *self,
           VivOsItem *item)
{
  OsinfoOs *os = viv_os_item_get_os (item);

  if (viv_wizard_is_page (self, "os"))
    {
      /* For the source chosen before */
      if (is_iso_source (self))
        {
          viv_media_set_os (self->media, os);
          update_media_page (self);
          if (viv_media_can_boot_kernel (self->media))
            {
              /* Where that system keeps its kernel is a guess for this
               * disc: look for it first (busy meanwhile) */
              clear_cancellable (&self->detect_cancellable);
              self->checking_detected = FALSE;
              self->detect_cancellable = g_cancellable_new ();
              viv_media_check_boot_files_async (self->media, self->detect_cancellable,
                                                on_boot_files_checked, g_object_ref (self));
              viv_wizard_update_actions (self);
              return;
            }
          viv_machine_creator_set_iso (self->creator, self->media, FALSE);
          viv_machine_creator_set_os (self->creator, NULL);
          update_media_page (self);
        }
      else
        {
          viv_machine_creator_set_os (self->creator, os);
        }
      leave_os_list (self);
      return;
    }

  /* From the first page: a machine for that system, which it installs later */
  viv_wizard_cancel_source_tasks (self);
  g_clear_object (&self->media);
  viv_machine_creator_set_os (self->creator, os);
  viv_machine_creator_set_blank (self->creator);
  viv_wizard_go_to_review (self, NULL);
}

static void
on_os_activated (VivWizard *self,
                 VivOsItem *item)
{
  choose_os (self, item);
}

static void
choose_os_action (GtkWidget  *widget,
                  const char *action_name G_GNUC_UNUSED,
                  GVariant   *parameter)
{
  VivWizard *self = VIV_WIZARD (widget);
  const char *id = g_variant_get_string (parameter, NULL);
  VivOsItem *item;

  if (self->catalog == NULL)
    {
      /* Once the list is there */
      g_free (self->pending_os_id);
      self->pending_os_id = g_strdup (id);
      return;
    }
  item = viv_os_catalog_find (self->catalog, id);
  if (item == NULL)
    {
      g_warning ("No operating system “%s” in the database", id);
      return;
    }
  choose_os (self, item);
}

static void
show_os_list_action (GtkWidget  *widget,
                     const char *action_name G_GNUC_UNUSED,
                     GVariant   *parameter G_GNUC_UNUSED)
{
  VivWizard *self = VIV_WIZARD (widget);
  g_autofree char *text = NULL;

  if (viv_machine_creator_get_source (self->creator) == VIV_CREATOR_SOURCE_NONE ||
      viv_wizard_is_page (self, "os") || viv_wizard_is_page (self, "creating"))
    return;

  if (is_iso_source (self))
    {
      g_autofree char *display = g_filename_display_basename (viv_media_get_path (self->media));

      /* Translators: %s is a file name */
      text = g_strdup_printf (_("Which operating system is on “%s”? Its settings are used for "
                                "the machine: memory, processors, disk size, and how it "
                                "starts."), display);
    }
  else
    {
      text = g_strdup (_("Which operating system will the machine run? Its recommended memory, "
                         "processors and disk size are proposed."));
    }
  gtk_label_set_label (self->os_page_label, text);

  g_free (self->os_list_from);
  self->os_list_from = g_strdup (viv_wizard_get_page (self));
  viv_wizard_show_page (self, "os", TRUE);
}

static void
on_catalog_loaded (GObject      *object G_GNUC_UNUSED,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VivOsCatalog) catalog = viv_os_catalog_new_finish (result, &error);

  if (self->disposed)
    return;
  if (catalog == NULL)
    {
      viv_wizard_os_list_set_error (self->source_os_list, error->message);
      viv_wizard_os_list_set_error (self->os_list, error->message);
      return;
    }

  self->catalog = g_steal_pointer (&catalog);
  viv_wizard_os_list_set_catalog (self->source_os_list, self->catalog);
  viv_wizard_os_list_set_catalog (self->os_list, self->catalog);
  if (self->pending_os_id != NULL)
    {
      g_autofree char *id = g_steal_pointer (&self->pending_os_id);

      gtk_widget_activate_action (GTK_WIDGET (self), "wizard.choose-os", "s", id);
    }
}

/* --- public ------------------------------------------------------------------------ */

/**
 * viv_wizard_choose_file:
 * @self: a wizard
 * @file: a disc image, or a disk image (qcow2, .img, .raw)
 *
 * Chooses @file, as a drop on the main window does: a disc image is
 * detected, a disk image is read. Its name tells which.
 */
void
viv_wizard_choose_file (VivWizard *self,
                        GFile     *file)
{
  static const char * const disk_suffixes[] = { ".qcow2", ".qcow", ".img", ".raw", NULL };
  g_autofree char *path = NULL;
  g_autofree char *folded = NULL;

  g_return_if_fail (VIV_IS_WIZARD (self));
  g_return_if_fail (G_IS_FILE (file));

  path = g_file_get_path (file);
  if (path == NULL)
    {
      toast (self, _("Only files on this computer can be used"));
      return;
    }
  if (viv_wizard_is_page (self, "creating"))
    return;

  folded = g_utf8_casefold (path, -1);
  for (guint i = 0; disk_suffixes[i] != NULL; i++)
    if (g_str_has_suffix (folded, disk_suffixes[i]))
      {
        choose_disk_image (self, path);
        return;
      }
  choose_iso (self, path);
}

void
viv_wizard_init_source (VivWizard *self)
{
  /* Typing on the first page searches the systems */
  viv_wizard_os_list_set_key_capture_widget (self->source_os_list, self->source_page);
  viv_os_catalog_new_async (self->cancellable, on_catalog_loaded, g_object_ref (self));
}

void
viv_wizard_dispose_source (VivWizard *self)
{
  viv_wizard_cancel_source_tasks (self);
  g_clear_object (&self->media);
  g_clear_pointer (&self->iso_path, g_free);
  g_clear_pointer (&self->disk_path, g_free);
  g_clear_pointer (&self->disk_format, g_free);
}

void
viv_wizard_class_init_source (GtkWidgetClass *widget_class)
{
  gtk_widget_class_bind_template_callback (widget_class, on_kernel_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_os_activated);

  gtk_widget_class_install_action (widget_class, "wizard.open-iso", NULL, open_iso_action);
  gtk_widget_class_install_action (widget_class, "wizard.choose-iso", "s", choose_iso_action);
  gtk_widget_class_install_action (widget_class, "wizard.open-disk-image", NULL,
                                   open_disk_image_action);
  gtk_widget_class_install_action (widget_class, "wizard.choose-disk-image", "s",
                                   choose_disk_image_action);
  gtk_widget_class_install_action (widget_class, "wizard.show-kernel", NULL, show_kernel_action);
  gtk_widget_class_install_action (widget_class, "wizard.choose-kernel", "(sss)",
                                   choose_kernel_action);
  gtk_widget_class_install_action (widget_class, "wizard.open-kernel-file", "s",
                                   open_kernel_file_action);
  gtk_widget_class_install_action (widget_class, "wizard.show-os-list", NULL,
                                   show_os_list_action);
  gtk_widget_class_install_action (widget_class, "wizard.choose-os", "s", choose_os_action);
}
