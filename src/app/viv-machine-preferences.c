/* viv-machine-preferences.c: a machine's settings, and its log
 *
 * Four pages: General (name, OS, memory and processors, bounded by what
 * this computer has), Boot (what the machine boots: a disk, a Linux kernel
 * with its ramdisk and command line, or a firmware), Disks (its disks,
 * then its disc images, read-only), and Troubleshooting (the machine's
 * folder and identifier, and the helper's log, with a button that copies
 * it). Every change goes through VivMachine, which writes machine.json
 * atomically in a worker thread; a running machine takes the new memory
 * and processors when it next starts, and the page says so while that is
 * pending.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-machine-preferences"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-machine-preferences.h"
#include "viv-host.h"
#include "viv-os-catalog.h"
#include "viv-size.h"
#include "viv-file-chooser.h"

#define MIB               (G_GUINT64_CONSTANT (1) << 20)
#define LOG_MAX_BYTES     (256 * 1024)
#define RESOURCES_DELAY_MS 400

enum {
  BOOT_INDEX_DISK,
  BOOT_INDEX_KERNEL,
  BOOT_INDEX_BIOS,
  BOOT_INDEX_UEFI,
};

struct _VivMachinePreferences
{
  AdwPreferencesWindow parent_instance;

  VivMachine          *machine;
  GCancellable        *cancellable;
  gboolean             updating;      /* filling the rows: no saving */
  guint                resources_id;  /* a change of memory or CPUs to save */
  guint                saving;        /* changes on their way to disk */
  gboolean             log_loading;
  guint                log_scroll_id;
  char                *log;

  /* template children */
  AdwEntryRow         *name_row;
  AdwActionRow        *os_row;
  AdwPreferencesGroup *resources_group;
  AdwActionRow        *memory_row;
  GtkSpinButton       *memory_spin;
  AdwActionRow        *cpus_row;
  GtkSpinButton       *cpus_spin;
  AdwComboRow         *boot_kind_row;
  AdwEntryRow         *kernel_row;
  AdwEntryRow         *initrd_row;
  AdwEntryRow         *cmdline_row;
  GtkListBox          *disks_list;
  AdwActionRow        *uuid_row;
  AdwActionRow        *folder_row;
  GtkStack            *log_stack;
  GtkTextView         *log_view;
  GtkLabel            *log_empty_label;
};

G_DEFINE_FINAL_TYPE (VivMachinePreferences, viv_machine_preferences, ADW_TYPE_PREFERENCES_WINDOW)

enum {
  PROP_0,
  PROP_MACHINE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* --- helpers ------------------------------------------------------------------------- */

static void
toast (VivMachinePreferences *self,
       const char            *message)
{
  g_autofree char *escaped = g_markup_escape_text (message, -1);
  AdwToast *toast = adw_toast_new (escaped);

  adw_toast_set_timeout (toast, 5);
  adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), toast);
}

static gboolean
is_editing (gpointer widget)
{
  return (gtk_widget_get_state_flags (GTK_WIDGET (widget)) & GTK_STATE_FLAG_FOCUS_WITHIN) != 0;
}

static void
set_entry_text (AdwEntryRow *row,
                const char  *text)
{
  /* What the user is typing stays */
  if (is_editing (row))
    return;
  gtk_editable_set_text (GTK_EDITABLE (row), text != NULL ? text : "");
}

static void
set_css_class (GtkWidget  *widget,
               const char *css_class,
               gboolean    set)
{
  if (set)
    gtk_widget_add_css_class (widget, css_class);
  else
    gtk_widget_remove_css_class (widget, css_class);
}

static guint
boot_index (const VivBootConfig *boot)
{
  switch (boot->kind)
    {
    case VIV_BOOT_KIND_KERNEL:
      return BOOT_INDEX_KERNEL;
    case VIV_BOOT_KIND_FIRMWARE:
      return boot->firmware == VIV_FIRMWARE_UEFI ? BOOT_INDEX_UEFI : BOOT_INDEX_BIOS;
    case VIV_BOOT_KIND_DISK:
    default:
      return BOOT_INDEX_DISK;
    }
}

static void
update_boot_rows (VivMachinePreferences *self)
{
  guint selected = adw_combo_row_get_selected (self->boot_kind_row);
  gboolean kernel = selected == BOOT_INDEX_KERNEL;
  gboolean firmware = selected == BOOT_INDEX_BIOS || selected == BOOT_INDEX_UEFI;

  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->boot_kind_row),
                               firmware ? _("The firmware starts the disc in the CD-ROM drive, "
                                            "else the first disk")
                                        : NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->kernel_row), kernel);
  gtk_widget_set_visible (GTK_WIDGET (self->initrd_row), kernel);
  gtk_widget_set_visible (GTK_WIDGET (self->cmdline_row), kernel);
}

static void
update_pending (VivMachinePreferences *self)
{
  adw_preferences_group_set_description (self->resources_group,
                                          viv_machine_get_pending_changes (self->machine)
                                          ? _("Memory and processor changes apply the next "
                                              "time the machine starts")
                                          : NULL);
}

static GtkWidget *
disk_row_new (const VivDiskConfig *disk,
              const char          *machine_dir)
{
  g_autofree char *resolved = viv_machine_config_resolve_path (machine_dir, disk->path);
  g_autofree char *display = g_filename_display_name (resolved);
  g_autofree char *base = g_path_get_basename (display);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *icon = gtk_image_new_from_icon_name ("drive-harddisk-symbolic");
  GtkWidget *format = gtk_label_new (disk->format == VIV_DISK_FORMAT_QCOW2 ? "QCOW2"
                                                                           : _("Raw"));

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), base);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), display);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
  gtk_widget_add_css_class (format, "dim-label");
  gtk_widget_set_tooltip_text (format, _("Format"));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), format);
  {
    /* Translators: the bus a disk is on: VirtIO or SATA */
    GtkWidget *bus = gtk_label_new (disk->bus == VIV_DISK_BUS_SATA ? _("SATA") : _("VirtIO"));

    gtk_widget_add_css_class (bus, "dim-label");
    gtk_widget_set_tooltip_text (bus, _("Bus"));
    adw_action_row_add_suffix (ADW_ACTION_ROW (row), bus);
  }
  if (disk->readonly)
    {
      GtkWidget *readonly = gtk_label_new (_("Read-Only"));

      gtk_widget_add_css_class (readonly, "dim-label");
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), readonly);
    }
  return row;
}

/* A disc image (machine.json's "media"): the guest only reads it */
static GtkWidget *
disc_row_new (const VivMediaConfig *media,
              const char           *machine_dir)
{
  g_autofree char *resolved = viv_machine_config_resolve_path (machine_dir, media->path);
  g_autofree char *display = g_filename_display_name (resolved);
  g_autofree char *base = g_path_get_basename (display);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *icon = gtk_image_new_from_icon_name ("media-optical-symbolic");
  GtkWidget *kind = gtk_label_new (_("Disc Image"));
  GtkWidget *readonly = gtk_label_new (_("Read-Only"));

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), base);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), display);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
  gtk_widget_add_css_class (kind, "dim-label");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), kind);
  gtk_widget_add_css_class (readonly, "dim-label");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), readonly);
  return row;
}

static void
on_drive_disc_changed (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(VivMachinePreferences) self = user_data;
  g_autofree char *message = viv_machine_change_disc_finish (VIV_MACHINE (source), result);

  if (message != NULL)
    toast (self, message);
}

static void
on_drive_eject (VivMachinePreferences *self)
{
  viv_machine_eject_disc_async (self->machine, self->cancellable, on_drive_disc_changed,
                                g_object_ref (self));
}

static void
on_drive_disc_chosen (GObject      *source G_GNUC_UNUSED,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  g_autoptr(VivMachinePreferences) self = user_data;
  g_autoptr(GFile) file = viv_choose_file_finish (result, NULL);
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

  if (path != NULL && self->machine != NULL)
    viv_machine_insert_disc_async (self->machine, path, self->cancellable, on_drive_disc_changed,
                                   g_object_ref (self));
}

static void
on_drive_insert (VivMachinePreferences *self)
{
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("Disc Images"));
  gtk_file_filter_add_mime_type (filter, "application/x-cd-image");
  gtk_file_filter_add_suffix (filter, "iso");
  viv_choose_file_async (GTK_WINDOW (self), _("Insert Disc"), filter, self->cancellable,
                         on_drive_disc_chosen, g_object_ref (self));
}

/* The CD-ROM drive of a machine started by its firmware: its disc (the
 * running machine's) or Empty, with Eject or Insert */
static GtkWidget *
drive_row_new (VivMachinePreferences *self)
{
  const char *disc = viv_machine_get_disc (self->machine);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *icon = gtk_image_new_from_icon_name ("media-optical-symbolic");
  GtkWidget *button;

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("CD-ROM Drive"));
  if (disc != NULL)
    {
      g_autofree char *resolved =
        viv_machine_config_resolve_path (viv_machine_get_directory (self->machine), disc);
      g_autofree char *display = g_filename_display_name (resolved);

      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), display);
      button = gtk_button_new_with_mnemonic (_("_Eject"));
      g_signal_connect_object (button, "clicked", G_CALLBACK (on_drive_eject), self,
                               G_CONNECT_SWAPPED);
    }
  else
    {
      /* Translators: a CD-ROM drive without a disc */
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), _("Empty"));
      button = gtk_button_new_with_mnemonic (_("_Insert…"));
      g_signal_connect_object (button, "clicked", G_CALLBACK (on_drive_insert), self,
                               G_CONNECT_SWAPPED);
    }
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_name (button, "drive-button");
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
  return row;
}

static void
update_disks (VivMachinePreferences *self,
              const VivMachineConfig *config)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->disks_list))) != NULL)
    gtk_list_box_remove (self->disks_list, child);

  for (guint i = 0; config != NULL && i < config->disks->len; i++)
    gtk_list_box_append (self->disks_list,
                         disk_row_new (g_ptr_array_index (config->disks, i),
                                       viv_machine_get_directory (self->machine)));
  /* Booted by a firmware, the first medium is the drive Eject and Insert
   * change; with direct kernel boot, discs are read-only disks. */
  for (guint i = 0; config != NULL && i < config->media->len; i++)
    {
      const VivMediaConfig *media = g_ptr_array_index (config->media, i);

      if (i == 0 && viv_machine_config_uses_firmware (config))
        gtk_list_box_append (self->disks_list, drive_row_new (self));
      else if (media->inserted && media->path != NULL)
        gtk_list_box_append (self->disks_list,
                             disc_row_new (media, viv_machine_get_directory (self->machine)));
    }

  if (config == NULL || (config->disks->len == 0 && config->media->len == 0))
    {
      GtkWidget *row = adw_action_row_new ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("No Disks"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                   _("This machine boots without a disk"));
      gtk_list_box_append (self->disks_list, row);
    }
}

static void
update_os (VivMachinePreferences *self)
{
  const char *os_id = viv_machine_get_os_id (self->machine);
  const char *name = viv_os_catalog_get_name (viv_os_catalog_get_default (), os_id);

  adw_action_row_set_subtitle (self->os_row,
                               name != NULL ? name : os_id != NULL ? os_id : _("Unknown"));
}

/* Fills the rows from the machine */
static void
update (VivMachinePreferences *self)
{
  const VivMachineConfig *config = viv_machine_get_config (self->machine);
  g_autofree char *host_size = NULL;
  g_autofree char *host_memory = NULL;
  g_autofree char *host_cpus = NULL;
  g_autofree char *folder = NULL;
  guint64 memory_mib;
  guint cpus;

  self->updating = TRUE;

  set_entry_text (self->name_row, viv_machine_get_name (self->machine));
  gtk_widget_remove_css_class (GTK_WIDGET (self->name_row), "error");
  update_os (self);

  memory_mib = viv_host_memory () / MIB;
  cpus = viv_host_cpus ();
  host_size = viv_size_format (viv_host_memory ());
  /* Translators: %s is an amount of memory, "15.5 GiB" */
  host_memory = g_strdup_printf (_("This computer has %s"), host_size);
  adw_action_row_set_subtitle (self->memory_row, host_memory);
  host_cpus = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "This computer has %u processor",
                                            "This computer has %u processors", cpus),
                               cpus);
  adw_action_row_set_subtitle (self->cpus_row, host_cpus);

  if (config != NULL && self->resources_id == 0)
    {
      GtkAdjustment *memory = gtk_spin_button_get_adjustment (self->memory_spin);
      GtkAdjustment *processors = gtk_spin_button_get_adjustment (self->cpus_spin);
      guint64 config_mib = config->memory / MIB;

      /* A machine made elsewhere may have more than this computer: keep it */
      gtk_adjustment_set_lower (memory, (double) (VIV_MACHINE_CONFIG_MIN_MEMORY / MIB));
      gtk_adjustment_set_upper (memory, (double) MAX (memory_mib, config_mib));
      gtk_adjustment_set_value (memory, (double) config_mib);
      gtk_adjustment_set_upper (processors, (double) MAX (cpus, config->cpus));
      gtk_adjustment_set_value (processors, (double) config->cpus);
    }

  if (config != NULL)
    {
      adw_combo_row_set_selected (self->boot_kind_row, boot_index (&config->boot));
      set_entry_text (self->kernel_row, config->boot.kernel);
      set_entry_text (self->initrd_row, config->boot.initrd);
      set_entry_text (self->cmdline_row, config->boot.cmdline);
      gtk_widget_remove_css_class (GTK_WIDGET (self->kernel_row), "error");
    }
  update_boot_rows (self);
  update_disks (self, config);
  update_pending (self);

  adw_action_row_set_subtitle (self->uuid_row, viv_machine_get_uuid (self->machine));
  folder = g_filename_display_name (viv_machine_get_directory (self->machine));
  adw_action_row_set_subtitle (self->folder_row, folder);

  /* Translators: the title of a machine's preferences; %s is its name */
  {
    g_autofree char *title = g_strdup_printf (_("%s — Preferences"),
                                              viv_machine_get_name (self->machine));

    gtk_window_set_title (GTK_WINDOW (self), title);
  }

  self->updating = FALSE;
}

/* --- name ---------------------------------------------------------------------------- */

static void
on_renamed (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(VivMachinePreferences) self = user_data;
  g_autoptr(GError) error = NULL;

  self->saving--;
  if (!viv_machine_rename_finish (VIV_MACHINE (object), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      toast (self, error->message);
      gtk_widget_add_css_class (GTK_WIDGET (self->name_row), "error");
    }
}

static void
on_name_changed (VivMachinePreferences *self)
{
  g_autofree char *name = NULL;

  if (self->updating)
    return;
  name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->name_row))));
  set_css_class (GTK_WIDGET (self->name_row), "error", !viv_machine_check_name (name, NULL));
}

static void
on_name_apply (VivMachinePreferences *self)
{
  g_autofree char *name = NULL;
  g_autoptr(GError) error = NULL;

  name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->name_row))));
  if (!viv_machine_check_name (name, &error))
    {
      toast (self, error->message);
      return;
    }
  if (g_strcmp0 (name, viv_machine_get_name (self->machine)) == 0)
    return;

  self->saving++;
  viv_machine_rename_async (self->machine, name, self->cancellable, on_renamed,
                            g_object_ref (self));
}

/* --- memory and processors -------------------------------------------------------------- */

static void
on_resources_saved (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(VivMachinePreferences) self = user_data;
  g_autoptr(GError) error = NULL;

  self->saving--;
  if (!viv_machine_set_resources_finish (VIV_MACHINE (object), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      toast (self, error->message);
      update (self);
    }
}

static void
save_resources (VivMachinePreferences *self)
{
  guint64 memory = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin) * MIB;
  guint cpus = (guint) gtk_spin_button_get_value_as_int (self->cpus_spin);

  g_clear_handle_id (&self->resources_id, g_source_remove);
  self->saving++;
  /* Not cancelled with the window: a change made is saved */
  viv_machine_set_resources_async (self->machine, memory, cpus, NULL, on_resources_saved,
                                   g_object_ref (self));
}

static gboolean
save_resources_cb (gpointer data)
{
  VivMachinePreferences *self = data;

  self->resources_id = 0;
  save_resources (self);
  return G_SOURCE_REMOVE;
}

static void
on_resources_changed (VivMachinePreferences *self)
{
  if (self->updating)
    return;
  /* Spinning goes through many values: save the one it stops at */
  g_clear_handle_id (&self->resources_id, g_source_remove);
  self->resources_id = g_timeout_add (RESOURCES_DELAY_MS, save_resources_cb, self);
}

/* --- boot ------------------------------------------------------------------------------ */

static void
on_boot_saved (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(VivMachinePreferences) self = user_data;
  g_autoptr(GError) error = NULL;

  self->saving--;
  if (!viv_machine_set_boot_finish (VIV_MACHINE (object), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      toast (self, error->message);
    }
}

static void
save_boot (VivMachinePreferences *self)
{
  const VivMachineConfig *config = viv_machine_get_config (self->machine);
  const char *kernel = gtk_editable_get_text (GTK_EDITABLE (self->kernel_row));
  VivBootKind kind;
  VivFirmware firmware;

  if (config == NULL)
    return;

  firmware = config->boot.firmware;
  switch (adw_combo_row_get_selected (self->boot_kind_row))
    {
    case BOOT_INDEX_KERNEL:
      kind = VIV_BOOT_KIND_KERNEL;
      /* Nothing to boot yet: wait for the kernel */
      if (*kernel == '\0')
        {
          gtk_widget_add_css_class (GTK_WIDGET (self->kernel_row), "error");
          return;
        }
      break;
    case BOOT_INDEX_BIOS:
      kind = VIV_BOOT_KIND_FIRMWARE;
      firmware = VIV_FIRMWARE_BIOS;
      break;
    case BOOT_INDEX_UEFI:
      kind = VIV_BOOT_KIND_FIRMWARE;
      firmware = VIV_FIRMWARE_UEFI;
      break;
    case BOOT_INDEX_DISK:
    default:
      kind = VIV_BOOT_KIND_DISK;
      break;
    }
  gtk_widget_remove_css_class (GTK_WIDGET (self->kernel_row), "error");

  self->saving++;
  viv_machine_set_boot_async (self->machine, kind, firmware, kernel,
                              gtk_editable_get_text (GTK_EDITABLE (self->initrd_row)),
                              gtk_editable_get_text (GTK_EDITABLE (self->cmdline_row)),
                              NULL, on_boot_saved, g_object_ref (self));
}

static void
on_boot_kind_changed (VivMachinePreferences *self)
{
  update_boot_rows (self);
  if (!self->updating)
    save_boot (self);
}

static void
on_boot_apply (VivMachinePreferences *self)
{
  save_boot (self);
}

static void
file_chosen (VivMachinePreferences *self,
             AdwEntryRow           *row,
             GFile                 *file)
{
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

  if (path == NULL)
    return;
  gtk_editable_set_text (GTK_EDITABLE (row), path);
  save_boot (self);
}

static void
on_file_chosen (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (object);
  g_autoptr(GFile) file = viv_choose_file_finish (result, NULL);

  if (file != NULL && !g_cancellable_is_cancelled (self->cancellable))
    file_chosen (self, user_data, file);
}

static void
choose_file (VivMachinePreferences *self,
             AdwEntryRow           *row,
             const char            *title)
{
  viv_choose_file_async (GTK_WINDOW (self), title, NULL, self->cancellable, on_file_chosen, row);
}

static void
on_choose_kernel (VivMachinePreferences *self)
{
  choose_file (self, self->kernel_row, _("Choose the Kernel"));
}

static void
on_choose_initrd (VivMachinePreferences *self)
{
  choose_file (self, self->initrd_row, _("Choose the Initial Ramdisk"));
}

/* --- the log ------------------------------------------------------------------------- */

/* The end of the log is what matters. The text view scrolls wrong before
 * it has laid out its lines, so it scrolls on a frame after it shows. */
static gboolean
scroll_log_tick (GtkWidget     *widget G_GNUC_UNUSED,
                 GdkFrameClock *clock G_GNUC_UNUSED,
                 gpointer       data)
{
  VivMachinePreferences *self = data;
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->log_view);

  self->log_scroll_id = 0;
  gtk_text_view_scroll_mark_onscreen (self->log_view, gtk_text_buffer_get_insert (buffer));
  return G_SOURCE_REMOVE;
}

static void
scroll_log_to_end (VivMachinePreferences *self)
{
  if (self->log_scroll_id == 0)
    self->log_scroll_id = gtk_widget_add_tick_callback (GTK_WIDGET (self->log_view),
                                                        scroll_log_tick, self, NULL);
}

static void
on_log_read (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(VivMachinePreferences) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;

  log = viv_machine_read_log_finish (VIV_MACHINE (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->log_loading = FALSE;

  g_clear_pointer (&self->log, g_free);
  if (log == NULL)
    {
      g_autofree char *message = NULL;

      /* Translators: %s says why */
      message = g_strdup_printf (_("Could not read the log: %s"), error->message);
      gtk_label_set_label (self->log_empty_label, message);
      gtk_stack_set_visible_child_name (self->log_stack, "empty");
    }
  else if (*log == '\0')
    {
      gtk_label_set_label (self->log_empty_label,
                           _("The log is empty: this machine has not run yet"));
      gtk_stack_set_visible_child_name (self->log_stack, "empty");
    }
  else
    {
      GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->log_view);
      GtkTextIter end;

      gtk_text_buffer_set_text (buffer, log, -1);
      gtk_text_buffer_get_end_iter (buffer, &end);
      gtk_text_buffer_place_cursor (buffer, &end);
      gtk_stack_set_visible_child_name (self->log_stack, "log");
      scroll_log_to_end (self);
      self->log = g_steal_pointer (&log);
    }
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "prefs.copy-log", self->log != NULL);
}

static void
load_log (VivMachinePreferences *self)
{
  if (self->log_loading)
    return;
  self->log_loading = TRUE;
  viv_machine_read_log_async (self->machine, LOG_MAX_BYTES, self->cancellable, on_log_read,
                              g_object_ref (self));
}

static void
refresh_log_action (GtkWidget  *widget,
                    const char *action_name G_GNUC_UNUSED,
                    GVariant   *parameter G_GNUC_UNUSED)
{
  load_log (VIV_MACHINE_PREFERENCES (widget));
}

static void
copy_log_action (GtkWidget  *widget,
                 const char *action_name G_GNUC_UNUSED,
                 GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (widget);

  if (self->log == NULL)
    return;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), self->log);
  toast (self, _("Log copied to the clipboard"));
}

/* --- public API ------------------------------------------------------------------------ */

VivMachinePreferences *
viv_machine_preferences_new (VivMachine *machine,
                             GtkWindow  *parent)
{
  g_return_val_if_fail (VIV_IS_MACHINE (machine), NULL);
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);

  return g_object_new (VIV_TYPE_MACHINE_PREFERENCES,
                       "machine", machine,
                       "transient-for", parent,
                       NULL);
}

VivMachine *
viv_machine_preferences_get_machine (VivMachinePreferences *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PREFERENCES (self), NULL);

  return self->machine;
}

/* The log as shown (and copied), or NULL while there is none */
char *
viv_machine_preferences_dup_log (VivMachinePreferences *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PREFERENCES (self), NULL);

  return g_strdup (self->log);
}

/* Whether a change is on its way to disk, or the log is being read */
gboolean
viv_machine_preferences_get_busy (VivMachinePreferences *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PREFERENCES (self), FALSE);

  return self->saving > 0 || self->resources_id != 0 || self->log_loading;
}

/* --- GObject ------------------------------------------------------------------------- */

static void
on_machine_notify (VivMachinePreferences *self)
{
  update (self);
}

static void
on_machine_disc (VivMachinePreferences *self)
{
  update_disks (self, viv_machine_get_config (self->machine));
}

static void
on_os_catalog_loaded (VivMachinePreferences *self)
{
  update_os (self);
}

static gboolean
viv_machine_preferences_close_request (GtkWindow *window)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (window);

  /* A change still waiting for its delay is saved now */
  if (self->resources_id != 0)
    save_resources (self);

  return GTK_WINDOW_CLASS (viv_machine_preferences_parent_class)->close_request (window);
}

static void
viv_machine_preferences_constructed (GObject *object)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (object);

  G_OBJECT_CLASS (viv_machine_preferences_parent_class)->constructed (object);

  g_assert (VIV_IS_MACHINE (self->machine));
  g_signal_connect_object (self->machine, "notify::config", G_CALLBACK (on_machine_notify),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->machine, "notify::disc", G_CALLBACK (on_machine_disc),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->machine, "notify::pending-changes",
                           G_CALLBACK (update_pending), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (viv_os_catalog_get_default (), "notify::loaded",
                           G_CALLBACK (on_os_catalog_loaded), self, G_CONNECT_SWAPPED);
  update (self);
  load_log (self);
}

static void
viv_machine_preferences_dispose (GObject *object)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->resources_id, g_source_remove);
  if (self->log_scroll_id != 0 && self->log_view != NULL)
    gtk_widget_remove_tick_callback (GTK_WIDGET (self->log_view), self->log_scroll_id);
  self->log_scroll_id = 0;

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_MACHINE_PREFERENCES);

  G_OBJECT_CLASS (viv_machine_preferences_parent_class)->dispose (object);
}

static void
viv_machine_preferences_finalize (GObject *object)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (object);

  g_clear_object (&self->machine);
  g_clear_object (&self->cancellable);
  g_free (self->log);

  G_OBJECT_CLASS (viv_machine_preferences_parent_class)->finalize (object);
}

static void
viv_machine_preferences_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (object);

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
viv_machine_preferences_set_property (GObject      *object,
                                      guint         prop_id,
                                      const GValue *value,
                                      GParamSpec   *pspec)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      g_assert (self->machine == NULL);
      self->machine = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_machine_preferences_class_init (VivMachinePreferencesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = viv_machine_preferences_constructed;
  object_class->dispose = viv_machine_preferences_dispose;
  object_class->finalize = viv_machine_preferences_finalize;
  object_class->get_property = viv_machine_preferences_get_property;
  object_class->set_property = viv_machine_preferences_set_property;

  window_class->close_request = viv_machine_preferences_close_request;

  properties[PROP_MACHINE] =
    g_param_spec_object ("machine", NULL, NULL,
                         VIV_TYPE_MACHINE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-machine-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, name_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, os_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, resources_group);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, memory_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, memory_spin);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, cpus_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, cpus_spin);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, boot_kind_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, kernel_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, initrd_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, cmdline_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, disks_list);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, uuid_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, folder_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, log_stack);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, log_view);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, log_empty_label);
  gtk_widget_class_bind_template_callback (widget_class, on_name_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_name_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_resources_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_kind_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_kernel);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_initrd);

  gtk_widget_class_install_action (widget_class, "prefs.refresh-log", NULL, refresh_log_action);
  gtk_widget_class_install_action (widget_class, "prefs.copy-log", NULL, copy_log_action);
}

static void
viv_machine_preferences_init (VivMachinePreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "prefs.copy-log", FALSE);
}
