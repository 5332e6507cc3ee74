/* viv-machine-preferences.c: a machine's settings, and its log
 *
 * Five pages: General (name, OS, memory and processors, bounded by what
 * this computer has), Boot (what the machine boots: a disk, a Linux kernel
 * with its ramdisk and command line, or a firmware), Disks (its disks,
 * then its disc images, read-only), Network (the connection, the MAC
 * address, the port forwards, each saved as it is made; a running machine
 * takes them when it next starts) and Troubleshooting (the machine's
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
#include "viv-port-forward-dialog.h"
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

/* The Connection row's items, as in the .ui */
enum {
  NETWORK_INDEX_USER,
  NETWORK_INDEX_PASST,
  NETWORK_INDEX_TAP,
  NETWORK_INDEX_NONE,
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
  gboolean             passt_found;   /* in $PATH when the window opened */

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
  AdwPreferencesGroup *network_group;
  AdwComboRow         *connection_row;
  AdwEntryRow         *tap_row;
  AdwEntryRow         *mac_row;
  AdwPreferencesGroup *forwards_group;
  GtkListBox          *forwards_list;
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

static void update_network (VivMachinePreferences  *self,
                            const VivMachineConfig *config);

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
  update_network (self, config);
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

/* --- network --------------------------------------------------------------------------- */

static guint
network_index (VivNetworkMode mode)
{
  switch (mode)
    {
    case VIV_NETWORK_MODE_PASST:
      return NETWORK_INDEX_PASST;
    case VIV_NETWORK_MODE_TAP:
      return NETWORK_INDEX_TAP;
    case VIV_NETWORK_MODE_NONE:
      return NETWORK_INDEX_NONE;
    case VIV_NETWORK_MODE_USER:
    default:
      return NETWORK_INDEX_USER;
    }
}

static VivNetworkMode
selected_network_mode (VivMachinePreferences *self)
{
  switch (adw_combo_row_get_selected (self->connection_row))
    {
    case NETWORK_INDEX_PASST:
      return VIV_NETWORK_MODE_PASST;
    case NETWORK_INDEX_TAP:
      return VIV_NETWORK_MODE_TAP;
    case NETWORK_INDEX_NONE:
      return VIV_NETWORK_MODE_NONE;
    case NETWORK_INDEX_USER:
    default:
      return VIV_NETWORK_MODE_USER;
    }
}

/* Forwards are the user-mode stacks' business: libslirp's and passt's */
static gboolean
mode_forwards (VivNetworkMode mode)
{
  return mode == VIV_NETWORK_MODE_USER || mode == VIV_NETWORK_MODE_PASST;
}

static void
network_clear (VivNetworkConfig *network)
{
  g_clear_pointer (&network->mac, g_free);
  g_clear_pointer (&network->tap, g_free);
  g_clear_pointer (&network->forwards, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VivNetworkConfig, network_clear)

static VivPortForward *
forward_copy (const VivPortForward *forward)
{
  VivPortForward *copy = viv_port_forward_new (forward->protocol, forward->host_port,
                                               forward->guest_port);

  copy->address = g_strdup (forward->address);
  /* what a later version wrote in it is kept */
  copy->unknown = forward->unknown != NULL ? json_object_ref (forward->unknown) : NULL;
  return copy;
}

/* The machine's network card, to change and save (clear it) */
static gboolean
network_from_machine (VivMachinePreferences *self,
                      VivNetworkConfig      *network)
{
  const VivMachineConfig *config = viv_machine_get_config (self->machine);

  if (config == NULL)
    return FALSE;
  network->mode = config->network.mode;
  network->mac = g_strdup (config->network.mac);
  network->tap = g_strdup (config->network.tap);
  network->forwards = g_ptr_array_new_with_free_func ((GDestroyNotify) viv_port_forward_free);
  for (guint i = 0; i < config->network.forwards->len; i++)
    g_ptr_array_add (network->forwards,
                     forward_copy (g_ptr_array_index (config->network.forwards, i)));
  return TRUE;
}

/* Whether machine.json would take NETWORK: the config's own check, on a
 * copy of the machine's description */
static gboolean
check_network (VivMachinePreferences   *self,
               const VivNetworkConfig  *network,
               GError                 **error)
{
  const VivMachineConfig *config = viv_machine_get_config (self->machine);
  g_autoptr(VivMachineConfig) copy = NULL;

  if (config == NULL)
    return TRUE;
  copy = viv_machine_config_copy (config);
  copy->network.mode = network->mode;
  g_free (copy->network.mac);
  copy->network.mac = g_strdup (network->mac);
  g_free (copy->network.tap);
  copy->network.tap = g_strdup (network->tap);
  g_ptr_array_set_size (copy->network.forwards, 0);
  for (guint i = 0; i < network->forwards->len; i++)
    g_ptr_array_add (copy->network.forwards, forward_copy (g_ptr_array_index (network->forwards, i)));
  return viv_machine_config_check (copy, error);
}

static void
on_network_saved (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(VivMachinePreferences) self = user_data;
  g_autoptr(GError) error = NULL;

  self->saving--;
  if (!viv_machine_set_network_finish (VIV_MACHINE (object), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      g_debug ("network not saved: %s", error->message);
      toast (self, error->message);
      update (self);
    }
}

static void
save_network (VivMachinePreferences  *self,
              const VivNetworkConfig *network)
{
  self->saving++;
  /* Not cancelled with the window: a change made is saved */
  viv_machine_set_network_async (self->machine, network, NULL, on_network_saved,
                                 g_object_ref (self));
}

/* "TCP 2222 → 22" */
static char *
forward_title (const VivPortForward *forward)
{
  /* Translators: a port forward: the protocol (TCP or UDP), the port on
   * this computer, the port on the machine */
  return g_strdup_printf (_("%s %u → %u"), forward->protocol == VIV_PROTOCOL_UDP ? "UDP" : "TCP",
                          forward->host_port, forward->guest_port);
}

/* Who can connect: the host's own programs, anyone, or those that reach a
 * particular address of the host */
static char *
forward_reach (const VivPortForward *forward)
{
  g_autoptr(GInetAddress) address = NULL;

  if (forward->address == NULL)
    return g_strdup (_("This computer only"));
  address = g_inet_address_new_from_string (forward->address);
  if (address != NULL && g_inet_address_get_is_loopback (address))
    return g_strdup (_("This computer only"));
  if (address != NULL && g_inet_address_get_is_any (address))
    return g_strdup (_("All addresses"));
  return g_strdup (forward->address);
}

static GtkWidget *
forward_button_new (const char *icon_name,
                    const char *tooltip,
                    const char *action_name,
                    guint       index)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon_name);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip,
                                  -1);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action_name);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "u", index);
  gtk_widget_add_css_class (button, "flat");
  return button;
}

static GtkWidget *
forward_row_new (const VivPortForward *forward,
                 guint                 index)
{
  g_autofree char *title = forward_title (forward);
  g_autofree char *reach = forward_reach (forward);
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), reach);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                             forward_button_new ("document-edit-symbolic", _("Edit"),
                                                 "prefs.edit-forward", index));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                             forward_button_new ("user-trash-symbolic", _("Remove"),
                                                 "prefs.remove-forward", index));
  return row;
}

static void
update_forwards (VivMachinePreferences  *self,
                 const VivMachineConfig *config)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->forwards_list))) != NULL)
    gtk_list_box_remove (self->forwards_list, child);

  for (guint i = 0; config != NULL && i < config->network.forwards->len; i++)
    gtk_list_box_append (self->forwards_list,
                         forward_row_new (g_ptr_array_index (config->network.forwards, i), i));
  if (config == NULL || config->network.forwards->len == 0)
    {
      GtkWidget *row = adw_action_row_new ();

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("No Port Forwards"));
      gtk_widget_add_css_class (row, "dim-label");
      gtk_list_box_append (self->forwards_list, row);
    }
}

/* What the selected connection allows, and what it needs */
static void update_network_notice (VivMachinePreferences *self);

static void
update_network_rows (VivMachinePreferences *self)
{
  VivNetworkMode mode = selected_network_mode (self);
  gboolean on_page = g_strcmp0 (adw_preferences_window_get_visible_page_name (
                                  ADW_PREFERENCES_WINDOW (self)), "network") == 0;

  update_network_notice (self);
  gtk_widget_set_visible (GTK_WIDGET (self->tap_row), mode == VIV_NETWORK_MODE_TAP);
  gtk_widget_set_sensitive (GTK_WIDGET (self->mac_row), mode != VIV_NETWORK_MODE_NONE);
  gtk_widget_set_sensitive (GTK_WIDGET (self->forwards_group), mode_forwards (mode));
  adw_preferences_group_set_description (self->forwards_group,
                                         mode_forwards (mode)
                                         ? _("Connections to a port of this computer go to a "
                                             "port of the machine")
                                         : _("Only shared and passt connections forward ports"));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "prefs.add-forward",
                                 on_page && mode_forwards (mode));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "prefs.generate-mac",
                                 mode != VIV_NETWORK_MODE_NONE);
}

/* What the card's group says: that passt is missing, or that a running
 * machine keeps its card until it starts again */
static void
update_network_notice (VivMachinePreferences *self)
{
  const char *notice = NULL;

  if (selected_network_mode (self) == VIV_NETWORK_MODE_PASST && !self->passt_found)
    notice = _("passt is not installed");
  else if (viv_machine_is_active (self->machine))
    notice = _("Changes take effect the next time the machine starts");
  adw_preferences_group_set_description (self->network_group, notice);
}

static void
update_network (VivMachinePreferences  *self,
                const VivMachineConfig *config)
{
  if (config != NULL)
    {
      g_autofree char *mac = viv_machine_config_dup_mac (config);

      adw_combo_row_set_selected (self->connection_row, network_index (config->network.mode));
      set_entry_text (self->tap_row, config->network.tap);
      set_entry_text (self->mac_row, mac);
      if (!is_editing (self->tap_row))
        gtk_widget_remove_css_class (GTK_WIDGET (self->tap_row), "error");
      if (!is_editing (self->mac_row))
        gtk_widget_remove_css_class (GTK_WIDGET (self->mac_row), "error");
    }
  update_forwards (self, config);
  update_network_rows (self);
}

/* The tap device's name as typed: NULL when empty */
static char *
dup_tap_text (VivMachinePreferences *self)
{
  g_autofree char *tap = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->tap_row))));

  return *tap != '\0' ? g_steal_pointer (&tap) : NULL;
}

/* Whether the tap row holds a name machine.json takes, as its error style says */
static gboolean
check_tap (VivMachinePreferences  *self,
           GError                **error)
{
  g_auto(VivNetworkConfig) network = { 0, };
  gboolean ok;

  if (!network_from_machine (self, &network))
    return FALSE;
  network.mode = VIV_NETWORK_MODE_TAP;
  g_free (network.tap);
  network.tap = dup_tap_text (self);
  ok = check_network (self, &network, error);
  set_css_class (GTK_WIDGET (self->tap_row), "error", !ok);
  return ok;
}

static void
on_tap_changed (VivMachinePreferences *self)
{
  if (!self->updating)
    check_tap (self, NULL);
}

static void
save_mode (VivMachinePreferences *self)
{
  g_auto(VivNetworkConfig) network = { 0, };
  g_autoptr(GError) error = NULL;
  VivNetworkMode mode = selected_network_mode (self);

  if (!network_from_machine (self, &network))
    return;
  if (mode == VIV_NETWORK_MODE_TAP)
    {
      g_autofree char *tap = dup_tap_text (self);

      /* Nothing to connect to yet: wait for the device's name */
      if (!check_tap (self, &error))
        {
          /* machine.json's message names its field; a person gets the rule */
          if (tap != NULL)
            toast (self, _("A device name has at most 15 characters, no spaces, “/” or “:”"));
          return;
        }
      if (network.mode == mode && g_strcmp0 (tap, network.tap) == 0)
        return;
      g_free (network.tap);
      network.tap = g_steal_pointer (&tap);
    }
  else if (network.mode == mode)
    {
      return;
    }
  network.mode = mode;
  save_network (self, &network);
}

static void
on_tap_apply (VivMachinePreferences *self)
{
  save_mode (self);
}

static void
on_connection_changed (VivMachinePreferences *self)
{
  update_network_rows (self);
  if (!self->updating)
    save_mode (self);
}

/* The MAC address as typed, in lower case; NULL when empty (the default) */
static char *
dup_mac_text (VivMachinePreferences *self)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->mac_row))));

  return *text != '\0' ? g_ascii_strdown (text, -1) : NULL;
}

static gboolean
check_mac (VivMachinePreferences  *self,
           GError                **error)
{
  g_auto(VivNetworkConfig) network = { 0, };
  gboolean ok;

  if (!network_from_machine (self, &network))
    return FALSE;
  g_free (network.mac);
  network.mac = dup_mac_text (self);
  ok = check_network (self, &network, error);
  set_css_class (GTK_WIDGET (self->mac_row), "error", !ok);
  return ok;
}

static void
on_mac_changed (VivMachinePreferences *self)
{
  if (!self->updating)
    check_mac (self, NULL);
}

/* An empty address is the default one, derived from the machine's UUID */
static void
save_mac (VivMachinePreferences *self)
{
  const VivMachineConfig *config = viv_machine_get_config (self->machine);
  g_auto(VivNetworkConfig) network = { 0, };
  g_autoptr(GError) error = NULL;
  g_autofree char *mac = dup_mac_text (self);
  g_autofree char *current = NULL;

  if (config == NULL)
    return;
  if (!check_mac (self, &error))
    {
      toast (self, _("An address is like 52:54:00:12:34:56, its first pair even"));
      return;
    }
  current = viv_machine_config_dup_mac (config);
  if (g_strcmp0 (mac, current) == 0 || (mac == NULL && config->network.mac == NULL))
    return;
  network_from_machine (self, &network);
  g_free (network.mac);
  network.mac = g_steal_pointer (&mac);
  save_network (self, &network);
}

static void
on_mac_apply (VivMachinePreferences *self)
{
  save_mac (self);
}

/* QEMU's prefix, 52:54:00, as the default address: locally administered
 * and unicast, so no card's vendor-assigned address can be the same */
static void
generate_mac_action (GtkWidget  *widget,
                     const char *action_name G_GNUC_UNUSED,
                     GVariant   *parameter G_GNUC_UNUSED)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (widget);
  g_autofree char *mac = g_strdup_printf ("52:54:00:%02x:%02x:%02x",
                                          (guint) g_random_int_range (0, 256),
                                          (guint) g_random_int_range (0, 256),
                                          (guint) g_random_int_range (0, 256));

  gtk_editable_set_text (GTK_EDITABLE (self->mac_row), mac);
  save_mac (self);
}

static void
on_forward_dialog_apply (VivPortForwardDialog  *dialog,
                         VivMachinePreferences *self)
{
  g_auto(VivNetworkConfig) network = { 0, };
  guint index = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (dialog), "forward-index"));
  VivPortForward *forward = viv_port_forward_dialog_dup_forward (dialog);

  if (!network_from_machine (self, &network))
    {
      viv_port_forward_free (forward);
      return;
    }
  /* INDEX is one more than the edited forward's place; 0 adds */
  if (index > 0 && index <= network.forwards->len)
    {
      viv_port_forward_free (network.forwards->pdata[index - 1]);
      network.forwards->pdata[index - 1] = forward;
    }
  else
    {
      g_ptr_array_add (network.forwards, forward);
    }
  save_network (self, &network);
}

/* The forward at INDEX, or a new one (INDEX G_MAXUINT) */
static void
open_forward_dialog (VivMachinePreferences *self,
                     guint                  index)
{
  const VivMachineConfig *config = viv_machine_get_config (self->machine);
  g_autoptr(GPtrArray) others = g_ptr_array_new ();
  const VivPortForward *forward = NULL;
  VivPortForwardDialog *dialog;

  if (config == NULL)
    return;
  for (guint i = 0; i < config->network.forwards->len; i++)
    {
      if (i == index)
        forward = g_ptr_array_index (config->network.forwards, i);
      else
        g_ptr_array_add (others, g_ptr_array_index (config->network.forwards, i));
    }
  if (index != G_MAXUINT && forward == NULL)
    return;

  dialog = viv_port_forward_dialog_new (GTK_WINDOW (self), forward, others);
  g_object_set_data (G_OBJECT (dialog), "forward-index",
                     GUINT_TO_POINTER (forward != NULL ? index + 1 : 0));
  g_signal_connect_object (dialog, "apply", G_CALLBACK (on_forward_dialog_apply), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
add_forward_action (GtkWidget  *widget,
                    const char *action_name G_GNUC_UNUSED,
                    GVariant   *parameter G_GNUC_UNUSED)
{
  open_forward_dialog (VIV_MACHINE_PREFERENCES (widget), G_MAXUINT);
}

static void
edit_forward_action (GtkWidget  *widget,
                     const char *action_name G_GNUC_UNUSED,
                     GVariant   *parameter)
{
  open_forward_dialog (VIV_MACHINE_PREFERENCES (widget), g_variant_get_uint32 (parameter));
}

static void
remove_forward_action (GtkWidget  *widget,
                       const char *action_name G_GNUC_UNUSED,
                       GVariant   *parameter)
{
  VivMachinePreferences *self = VIV_MACHINE_PREFERENCES (widget);
  g_auto(VivNetworkConfig) network = { 0, };
  guint index = g_variant_get_uint32 (parameter);

  if (!network_from_machine (self, &network) || index >= network.forwards->len)
    return;
  g_ptr_array_remove_index (network.forwards, index);
  save_network (self, &network);
}

/* The connections' list: passt only when it is installed */
static void
update_connection_check (AdwComboRow *row,
                         GParamSpec  *pspec G_GNUC_UNUSED,
                         GtkListItem *item)
{
  GtkWidget *check = g_object_get_data (G_OBJECT (item), "check");

  if (check != NULL)
    gtk_widget_set_opacity (check, adw_combo_row_get_selected (row) ==
                                   gtk_list_item_get_position (item) ? 1 : 0);
}

static void
on_connection_item_setup (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
                          GtkListItem              *item,
                          VivMachinePreferences    *self G_GNUC_UNUSED)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *labels = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *title = gtk_label_new (NULL);
  GtkWidget *subtitle = gtk_label_new (NULL);
  GtkWidget *check = gtk_image_new_from_icon_name ("object-select-symbolic");

  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_xalign (GTK_LABEL (subtitle), 0);
  gtk_widget_add_css_class (subtitle, "dim-label");
  gtk_widget_add_css_class (subtitle, "caption");
  gtk_widget_set_hexpand (labels, TRUE);
  gtk_box_append (GTK_BOX (labels), title);
  gtk_box_append (GTK_BOX (labels), subtitle);
  gtk_box_append (GTK_BOX (box), labels);
  gtk_box_append (GTK_BOX (box), check);
  g_object_set_data (G_OBJECT (item), "title", title);
  g_object_set_data (G_OBJECT (item), "subtitle", subtitle);
  g_object_set_data (G_OBJECT (item), "check", check);
  gtk_list_item_set_child (item, box);
}

static void
on_connection_item_bind (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
                         GtkListItem              *item,
                         VivMachinePreferences    *self)
{
  GtkStringObject *string = gtk_list_item_get_item (item);
  gboolean missing = gtk_list_item_get_position (item) == NETWORK_INDEX_PASST &&
                     !self->passt_found;

  gtk_label_set_label (g_object_get_data (G_OBJECT (item), "title"),
                       gtk_string_object_get_string (string));
  gtk_label_set_label (g_object_get_data (G_OBJECT (item), "subtitle"),
                       missing ? _("passt is not installed") : "");
  gtk_widget_set_visible (g_object_get_data (G_OBJECT (item), "subtitle"), missing);
  gtk_widget_set_sensitive (gtk_list_item_get_child (item), !missing);
  gtk_list_item_set_selectable (item, !missing);
  gtk_list_item_set_activatable (item, !missing);
  update_connection_check (self->connection_row, NULL, item);
  g_signal_connect_object (self->connection_row, "notify::selected",
                           G_CALLBACK (update_connection_check), item, 0);
}

static void
on_connection_item_unbind (GtkSignalListItemFactory *factory G_GNUC_UNUSED,
                           GtkListItem              *item,
                           VivMachinePreferences    *self)
{
  /* (the window's dispose may have let go of the row first) */
  if (self->connection_row != NULL)
    g_signal_handlers_disconnect_by_func (self->connection_row, update_connection_check, item);
}

static void
setup_connection_row (VivMachinePreferences *self)
{
  g_autoptr(GtkListItemFactory) factory = gtk_signal_list_item_factory_new ();
  g_autofree char *passt = g_find_program_in_path ("passt");

  self->passt_found = passt != NULL;
  g_signal_connect_object (factory, "setup", G_CALLBACK (on_connection_item_setup), self, 0);
  g_signal_connect_object (factory, "bind", G_CALLBACK (on_connection_item_bind), self, 0);
  g_signal_connect_object (factory, "unbind", G_CALLBACK (on_connection_item_unbind), self, 0);
  adw_combo_row_set_list_factory (self->connection_row, factory);
}

/* Whether the network page shows passt as installed (tests: see $PATH) */
gboolean
viv_machine_preferences_get_passt_found (VivMachinePreferences *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_PREFERENCES (self), FALSE);

  return self->passt_found;
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
on_machine_state (VivMachinePreferences *self)
{
  update_network_notice (self);
}

static void
on_visible_page (VivMachinePreferences *self)
{
  update_network_rows (self);
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
  g_signal_connect_object (self->machine, "notify::state", G_CALLBACK (on_machine_state),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self, "notify::visible-page", G_CALLBACK (on_visible_page),
                           self, G_CONNECT_SWAPPED);
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
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, network_group);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, connection_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, tap_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, mac_row);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, forwards_group);
  gtk_widget_class_bind_template_child (widget_class, VivMachinePreferences, forwards_list);
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
  gtk_widget_class_bind_template_callback (widget_class, on_connection_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_tap_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_tap_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_mac_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_mac_apply);

  gtk_widget_class_install_action (widget_class, "prefs.refresh-log", NULL, refresh_log_action);
  gtk_widget_class_install_action (widget_class, "prefs.copy-log", NULL, copy_log_action);
  gtk_widget_class_install_action (widget_class, "prefs.add-forward", NULL, add_forward_action);
  gtk_widget_class_install_action (widget_class, "prefs.edit-forward", "u", edit_forward_action);
  gtk_widget_class_install_action (widget_class, "prefs.remove-forward", "u",
                                   remove_forward_action);
  gtk_widget_class_install_action (widget_class, "prefs.generate-mac", NULL, generate_mac_action);
  /* Ctrl+N on the Network page: the action is enabled there only */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "prefs.add-forward", NULL);
}

static void
viv_machine_preferences_init (VivMachinePreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "prefs.copy-log", FALSE);
  setup_connection_row (self);
}
