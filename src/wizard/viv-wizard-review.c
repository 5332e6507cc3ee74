/* viv-wizard-review.c: resources, review, creating
 *
 * The resources the operating system proposes (bounded by the host: never
 * more than half its memory, nor more processors than it has), editable
 * as sizes ("2 GiB", or "2G", "2048M", "20" typed in), with the space left
 * in the machines' folder and a warning when the disk would not fit. Then
 * the review: the name (made from the system, unique, editable), what the
 * machine is made from, its resources, the creator's warning, whether to
 * start it. Then the creation, with its progress, which Cancel stops
 * (the creator leaves nothing behind).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-wizard"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-host.h"
#include "viv-size.h"
#include "viv-wizard-private.h"

#define MIN_MEMORY_MIB 64
#define MAX_DISK_GIB   65536   /* 64 TiB */

/* --- sizes in spin buttons ----------------------------------------------------------- */

/* TEXT as bytes: "2G", "1.5 GiB", "2048M"; a bare number is in UNIT */
static gboolean
parse_size (const char *text,
            guint64     unit,
            guint64    *bytes)
{
  g_autoptr(GString) compact = g_string_new (NULL);
  gboolean bare = TRUE;

  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isspace (*p))
      {
        g_string_append_c (compact, *p);
        if (!g_ascii_isdigit (*p) && *p != '.')
          bare = FALSE;
      }
  if (compact->len == 0)
    return FALSE;

  /* The units as viv_size_format_exact() writes them in this language
   * ("8 ГиБ"), which viv_size_parse() does not know */
  if (!bare)
    {
      static const struct {
        guint64 unit;
        gboolean gib;
      } units[] = { { VIV_GIB, TRUE }, { VIV_MIB, FALSE } };

      for (guint i = 0; i < G_N_ELEMENTS (units); i++)
        {
          g_autofree char *shown = units[i].gib ? viv_size_format_exact (VIV_GIB)
                                                : viv_size_format_exact (VIV_MIB);
          g_autofree char *name = NULL;
          char *p = shown;

          /* "1 ГиБ" less the number and the spaces: "ГиБ" */
          while (*p != '\0' && (g_ascii_isdigit (*p) || g_ascii_isspace (*p)))
            p++;
          name = g_strstrip (g_strdup (p));
          if (name[0] != '\0' &&
              g_str_has_suffix (compact->str, name))
            {
              g_string_truncate (compact, compact->len - strlen (name));
              unit = units[i].unit;
              bare = TRUE;
              for (const char *q = compact->str; *q != '\0'; q++)
                if (!g_ascii_isdigit (*q) && *q != '.')
                  bare = FALSE;
              if (!bare || compact->len == 0)
                return FALSE;
              break;
            }
        }
    }

  if (bare)
    {
      double value = g_ascii_strtod (compact->str, NULL);

      if (value < 0 || value > (double) G_MAXUINT64 / (double) unit)
        return FALSE;
      *bytes = (guint64) (value * (double) unit);
      return TRUE;
    }
  return viv_size_parse (compact->str, bytes, NULL);
}

static int
size_input (GtkSpinButton *spin,
            double        *value,
            guint64        unit,
            char        *(*format) (guint64 bytes))
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));
  double current = gtk_spin_button_get_value (spin);
  g_autofree char *shown = format ((guint64) current * unit);
  guint64 bytes;

  /* What the output wrote, in whatever language */
  if (g_strcmp0 (text, shown) == 0)
    {
      *value = current;
      return TRUE;
    }
  if (!parse_size (text, unit, &bytes))
    return GTK_INPUT_ERROR;
  *value = (double) ((bytes + unit / 2) / unit);
  return TRUE;
}

static char *
format_memory (guint64 bytes)
{
  return viv_size_format_exact (bytes);
}

static char *
format_disk (guint64 bytes)
{
  if (bytes == 0)
    /* Translators: the disk size of a machine without a disk */
    return g_strdup (C_("disk size", "None"));
  return viv_size_format_exact (bytes);
}

static void
size_output (GtkSpinButton *spin,
             guint64        unit,
             char        *(*format) (guint64 bytes))
{
  double value = gtk_adjustment_get_value (gtk_spin_button_get_adjustment (spin));
  g_autofree char *text = format ((guint64) value * unit);

  if (g_strcmp0 (text, gtk_editable_get_text (GTK_EDITABLE (spin))) != 0)
    gtk_editable_set_text (GTK_EDITABLE (spin), text);
}

static int
on_memory_input (GtkSpinButton *spin,
                 double        *value,
                 gpointer       user_data G_GNUC_UNUSED)
{
  return size_input (spin, value, VIV_MIB, format_memory);
}

static gboolean
on_memory_output (GtkSpinButton *spin,
                  gpointer       user_data G_GNUC_UNUSED)
{
  size_output (spin, VIV_MIB, format_memory);
  return TRUE;
}

static int
on_disk_input (GtkSpinButton *spin,
               double        *value,
               gpointer       user_data G_GNUC_UNUSED)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));

  if (g_strcmp0 (text, C_("disk size", "None")) == 0 || g_ascii_strcasecmp (text, "none") == 0)
    {
      *value = 0;
      return TRUE;
    }
  return size_input (spin, value, VIV_GIB, format_disk);
}

static gboolean
on_disk_output (GtkSpinButton *spin,
                gpointer       user_data G_GNUC_UNUSED)
{
  size_output (spin, VIV_GIB, format_disk);
  return TRUE;
}

/* --- resources --------------------------------------------------------------------- */

static gboolean
copies_image (VivWizard *self)
{
  return viv_machine_creator_get_source (self->creator) == VIV_CREATOR_SOURCE_DISK_IMAGE &&
         g_strcmp0 (self->disk_import, "reference") != 0;
}

/* Returns: (nullable): why the disk may not fit */
static char *
space_problem (VivWizard *self)
{
  g_autofree char *free_text = NULL;
  g_autofree char *need_text = NULL;
  guint64 need;

  if (!self->free_space_known)
    return NULL;
  if (viv_machine_creator_get_source (self->creator) == VIV_CREATOR_SOURCE_DISK_IMAGE)
    need = copies_image (self) ? self->disk_actual_size : 0;
  else
    need = viv_machine_creator_get_disk_size (self->creator);
  if (need <= self->free_space)
    return NULL;

  free_text = viv_size_format (self->free_space);
  need_text = viv_size_format (need);
  if (copies_image (self))
    /* Translators: both %s are sizes ("20.5 GiB") */
    return g_strdup_printf (_("Copying the image takes %s, more than the %s free on this "
                              "computer."), need_text, free_text);
  /* Translators: both %s are sizes ("20.5 GiB") */
  return g_strdup_printf (_("The disk can grow to %s, more than the %s free on this computer: "
                            "the machine would stop when it is full."), need_text, free_text);
}

static void
update_space (VivWizard *self)
{
  g_autofree char *problem = space_problem (self);

  if (self->free_space_known)
    {
      g_autofree char *free_text = viv_size_format (self->free_space);
      /* Translators: %s is a size ("20.5 GiB") */
      g_autofree char *subtitle = g_strdup_printf (_("%s free on this computer"), free_text);

      adw_action_row_set_subtitle (self->disk_row, subtitle);
    }
  gtk_label_set_label (self->space_warning_label, problem);
  gtk_widget_set_visible (self->space_warning, problem != NULL);
}

static void
on_free_space (GObject      *object G_GNUC_UNUSED,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  guint64 free_space = 0;

  if (!viv_host_get_free_space_finish (result, &free_space, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("no free space known: %s", error->message);
      return;
    }
  if (self->disposed)
    return;
  self->free_space = free_space;
  self->free_space_known = TRUE;
  update_space (self);
  if (viv_wizard_is_page (self, "review"))
    viv_wizard_refresh_review (self);
}

static void
query_free_space (VivWizard *self)
{
  viv_host_get_free_space_async (viv_library_get_machines_dir (self->library), self->cancellable,
                                 on_free_space, g_object_ref (self));
}

void
viv_wizard_refresh_resources (VivWizard *self)
{
  VivCreatorSource source = viv_machine_creator_get_source (self->creator);
  OsinfoOs *os = viv_machine_creator_get_os (self->creator);
  GtkAdjustment *memory = gtk_spin_button_get_adjustment (self->memory_spin);
  GtkAdjustment *cpus = gtk_spin_button_get_adjustment (self->cpus_spin);
  GtkAdjustment *disk = gtk_spin_button_get_adjustment (self->disk_spin);
  guint64 max_memory = viv_host_get_max_guest_memory ();
  guint host_cpus = viv_host_get_cpus ();
  gboolean image = source == VIV_CREATOR_SOURCE_DISK_IMAGE;
  g_autofree char *description = NULL;
  g_autofree char *max_text = viv_size_format (max_memory);
  g_autofree char *memory_subtitle = NULL;
  g_autofree char *cpus_subtitle = NULL;

  self->updating = TRUE;
  gtk_adjustment_set_lower (memory, MIN_MEMORY_MIB);
  gtk_adjustment_set_upper (memory, MAX ((double) (max_memory / VIV_MIB), MIN_MEMORY_MIB));
  gtk_spin_button_set_value (self->memory_spin,
                             (double) (viv_machine_creator_get_memory (self->creator) / VIV_MIB));
  gtk_adjustment_set_upper (cpus, MAX (host_cpus, 1));
  gtk_spin_button_set_value (self->cpus_spin, viv_machine_creator_get_cpus (self->creator));
  /* A kernel may do without a disk */
  gtk_adjustment_set_lower (disk, source == VIV_CREATOR_SOURCE_KERNEL ? 0 : 1);
  gtk_adjustment_set_upper (disk, MAX_DISK_GIB);
  if (!image)
    gtk_spin_button_set_value (self->disk_spin,
                               (double) ((viv_machine_creator_get_disk_size (self->creator) +
                                          VIV_GIB - 1) / VIV_GIB));
  self->updating = FALSE;

  gtk_widget_set_visible (GTK_WIDGET (self->disk_row), !image);
  gtk_widget_set_visible (GTK_WIDGET (self->image_disk_row), image);
  if (image)
    {
      g_autofree char *size = viv_size_format (self->disk_virtual_size);
      g_autofree char *base = g_filename_display_basename (self->disk_path);
      g_autofree char *subtitle = NULL;

      if (copies_image (self))
        /* Translators: the first %s is a file name, the second a size */
        subtitle = g_strdup_printf (_("A copy of “%s”, %s"), base, size);
      else
        /* Translators: the first %s is a file name, the second a size */
        subtitle = g_strdup_printf (_("“%s”, %s, used where it is"), base, size);
      adw_action_row_set_subtitle (self->image_disk_row, subtitle);
    }

  if (os != NULL)
    /* Translators: %s is an operating system ("Debian 11") */
    description = g_strdup_printf (_("Proposed for %s"), osinfo_product_get_name (OSINFO_PRODUCT (os)));
  else
    description = g_strdup (_("Proposed for most systems"));
  adw_preferences_group_set_description (self->resources_group, description);

  /* Translators: %s is a size ("7.7 GiB") */
  memory_subtitle = g_strdup_printf (_("Up to %s, half of this computer’s memory"), max_text);
  adw_action_row_set_subtitle (self->memory_row, memory_subtitle);
  cpus_subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "This computer has %u processor",
                                                "This computer has %u processors", host_cpus),
                                   host_cpus);
  adw_action_row_set_subtitle (self->cpus_row, cpus_subtitle);

  update_space (self);
  query_free_space (self);
}

static void
on_resources_changed (GtkSpinButton *spin,
                      VivWizard     *self)
{
  double value = gtk_spin_button_get_value (spin);

  if (self->updating)
    return;
  if (spin == self->memory_spin)
    viv_machine_creator_set_memory (self->creator, (guint64) value * VIV_MIB);
  else if (spin == self->cpus_spin)
    viv_machine_creator_set_cpus (self->creator, (guint) value);
  else if (spin == self->disk_spin)
    viv_machine_creator_set_disk_size (self->creator, (guint64) value * VIV_GIB);
  update_space (self);
}

/* --- review ------------------------------------------------------------------------ */

gboolean
viv_wizard_can_start (VivWizard *self)
{
  VivCreatorSource source = viv_machine_creator_get_source (self->creator);

  /* Everything but an empty machine has something to boot: a kernel, or
   * a disc or disk image the firmware starts */
  return source != VIV_CREATOR_SOURCE_NONE && source != VIV_CREATOR_SOURCE_BLANK;
}

static char *
name_text (VivWizard *self)
{
  g_autofree char *text = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->name_row)));

  return g_strstrip (g_steal_pointer (&text));
}

/* Returns: (nullable): what is wrong with the name */
static char *
name_problem (VivWizard *self)
{
  g_autofree char *name = name_text (self);
  g_autofree char *folded = NULL;
  GListModel *machines = G_LIST_MODEL (self->library);

  if (name[0] == '\0')
    return g_strdup (_("The machine needs a name"));
  folded = g_utf8_casefold (name, -1);
  for (guint i = 0; i < g_list_model_get_n_items (machines); i++)
    {
      g_autoptr(VivMachine) machine = g_list_model_get_item (machines, i);
      g_autofree char *other = g_utf8_casefold (viv_machine_get_name (machine), -1);

      if (strcmp (folded, other) == 0)
        /* Translators: %s is a machine's name */
        return g_strdup_printf (_("Another machine is called “%s”"), name);
    }
  return NULL;
}

static void
check_name (VivWizard *self)
{
  g_autofree char *problem = name_problem (self);

  gtk_label_set_label (self->name_error, problem);
  gtk_widget_set_visible (GTK_WIDGET (self->name_error), problem != NULL);
  if (problem != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->name_row), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->name_row), "error");
}

gboolean
viv_wizard_review_can_create (VivWizard *self)
{
  g_autofree char *problem = name_problem (self);

  return problem == NULL && self->create_cancellable == NULL &&
         viv_machine_creator_get_source (self->creator) != VIV_CREATOR_SOURCE_NONE;
}

static void
on_name_changed (VivWizard *self)
{
  if (self->updating)
    return;
  self->name_edited = TRUE;
  check_name (self);
  viv_wizard_update_actions (self);
}

static char *
resources_summary (VivWizard *self)
{
  guint cpus = viv_machine_creator_get_cpus (self->creator);
  g_autofree char *memory = viv_size_format (viv_machine_creator_get_memory (self->creator));
  g_autofree char *memory_text = NULL;
  g_autofree char *cpus_text = NULL;
  g_autofree char *disk_text = NULL;

  /* Translators: part of "2 GiB of memory, 2 processors, a 20 GiB disk" */
  memory_text = g_strdup_printf (_("%s of memory"), memory);
  cpus_text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u processor", "%u processors",
                                            cpus), cpus);
  if (viv_machine_creator_get_source (self->creator) == VIV_CREATOR_SOURCE_DISK_IMAGE)
    {
      disk_text = g_strdup (copies_image (self) ? _("a copy of the disk image")
                                                : _("the disk image, where it is"));
    }
  else if (viv_machine_creator_get_disk_size (self->creator) == 0)
    {
      disk_text = g_strdup (_("no disk"));
    }
  else
    {
      g_autofree char *size = viv_size_format (viv_machine_creator_get_disk_size (self->creator));

      /* Translators: part of "2 GiB of memory, 2 processors, a 20 GiB disk" */
      disk_text = g_strdup_printf (_("a %s disk"), size);
    }
  /* Translators: the machine's memory, processors and disk, as above */
  return g_strdup_printf (C_("resources", "%s, %s, %s"), memory_text, cpus_text, disk_text);
}

static void
update_source_row (VivWizard *self)
{
  AdwPreferencesRow *row = ADW_PREFERENCES_ROW (self->review_source_row);
  g_autoptr(GString) subtitle = g_string_new (NULL);
  const char *title = NULL;

  switch (viv_machine_creator_get_source (self->creator))
    {
    case VIV_CREATOR_SOURCE_ISO_KERNEL:
    case VIV_CREATOR_SOURCE_ISO_FIRMWARE:
      /* Translators: the disc a new machine starts from; not every disc installs */
      title = _("Starts From");
      g_string_append (subtitle, viv_media_get_path (self->media));
      break;

    case VIV_CREATOR_SOURCE_DISK_IMAGE:
      title = _("Disk Image");
      g_string_append (subtitle, self->disk_path);
      break;

    case VIV_CREATOR_SOURCE_KERNEL:
      {
        g_autofree char *initrd = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->initrd_entry))));
        g_autofree char *cmdline = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->cmdline_entry))));

        title = _("Kernel");
        g_string_append (subtitle, gtk_editable_get_text (GTK_EDITABLE (self->kernel_entry)));
        if (initrd[0] != '\0')
          {
            g_string_append_c (subtitle, '\n');
            /* Translators: %s is a file name */
            g_string_append_printf (subtitle, _("Initial RAM disk: %s"), initrd);
          }
        if (cmdline[0] != '\0')
          {
            g_string_append_c (subtitle, '\n');
            /* Translators: %s is a kernel's command line */
            g_string_append_printf (subtitle, _("Command line: %s"), cmdline);
          }
      }
      break;

    case VIV_CREATOR_SOURCE_BLANK:
      title = _("Starts From");
      g_string_append (subtitle, _("An empty disk, to install the system on from its installer"));
      break;

    case VIV_CREATOR_SOURCE_NONE:
    default:
      break;
    }
  adw_preferences_row_set_title (row, title != NULL ? title : "");
  adw_action_row_set_subtitle (self->review_source_row, subtitle->str);
}

static void
update_start_row (VivWizard *self)
{
  gboolean can_start = viv_wizard_can_start (self);

  self->updating = TRUE;
  gtk_switch_set_active (self->start_switch, can_start && self->start_machine);
  self->updating = FALSE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->start_row), can_start);
  adw_action_row_set_subtitle (self->start_row,
                               can_start ? _("As soon as it is created")
                                         : _("Vivarium cannot start this machine yet"));
}

static void
on_start_switch_changed (VivWizard *self)
{
  if (self->updating || !viv_wizard_can_start (self))
    return;
  g_object_set (self, "start-machine", gtk_switch_get_active (self->start_switch), NULL);
}

void
viv_wizard_refresh_review (VivWizard *self)
{
  g_autofree char *os_name = NULL;
  g_autofree char *os_detail = NULL;
  g_autofree char *subtitle = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *space = space_problem (self);
  g_autoptr(GString) warning = g_string_new (viv_machine_creator_get_warning (self->creator));
  GdkPaintable *logo = NULL;

  if (!self->name_edited)
    {
      g_autofree char *name = viv_machine_creator_dup_name (self->creator);

      self->updating = TRUE;
      gtk_editable_set_text (GTK_EDITABLE (self->name_row), name);
      self->updating = FALSE;
    }
  check_name (self);

  viv_wizard_describe_os (self, &os_name, &os_detail, &logo);
  subtitle = os_detail != NULL ? g_strdup_printf ("%s\n%s", os_name, os_detail)
                               : g_strdup (os_name);
  adw_action_row_set_subtitle (self->review_os_row, subtitle);
  if (logo != NULL)
    {
      gtk_image_set_from_paintable (self->review_logo, logo);
      gtk_widget_remove_css_class (GTK_WIDGET (self->review_logo), "dim-label");
    }
  else
    {
      gtk_image_set_from_icon_name (self->review_logo, "computer-symbolic");
      gtk_widget_add_css_class (GTK_WIDGET (self->review_logo), "dim-label");
    }

  update_source_row (self);
  summary = resources_summary (self);
  adw_action_row_set_subtitle (self->review_resources_row, summary);

  if (space != NULL)
    {
      if (warning->len > 0)
        g_string_append (warning, "\n\n");
      g_string_append (warning, space);
    }
  gtk_label_set_label (self->review_warning_label, warning->str);
  gtk_widget_set_visible (self->review_warning, warning->len > 0);
  gtk_widget_set_visible (self->review_error, FALSE);

  update_start_row (self);
  viv_wizard_update_actions (self);
}

/* --- creating ---------------------------------------------------------------------- */

/* "about 2 minutes left", rounded as people say it */
static char *
time_left_text (gint64 seconds)
{
  guint n;

  if (seconds <= 5)
    return g_strdup (_("a few seconds left"));
  if (seconds <= 55)    /* to the next 5 s, under a minute */
    {
      n = (guint) (seconds + 4) / 5 * 5;
      /* Translators: the time a copy needs still; %u is a number of seconds */
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "about %u second left",
                                           "about %u seconds left", n), n);
    }
  if (seconds < 90 * 60)
    {
      n = (guint) ((seconds + 30) / 60);
      /* Translators: the time a copy needs still; %u is a number of minutes */
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "about %u minute left",
                                           "about %u minutes left", n), n);
    }
  n = (guint) MIN ((seconds + 30 * 60) / 3600, G_MAXUINT);
  /* Translators: the time a copy needs still; %u is a number of hours */
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "about %u hour left",
                                       "about %u hours left", n), n);
}

/* "1.2 GiB of 4 GiB — about 2 minutes left"; NULL for a stage not
 * counted in bytes. Sizes as everywhere else (viv_size_format()). */
static char *
copied_text (VivMachineCreator *creator)
{
  guint64 total = viv_machine_creator_get_bytes_total (creator);
  gint64 seconds = viv_machine_creator_get_seconds_left (creator);
  g_autofree char *done_text = NULL;
  g_autofree char *total_text = NULL;
  g_autofree char *left_text = NULL;

  if (total == 0)
    return NULL;
  done_text = viv_size_format (MIN (viv_machine_creator_get_bytes_done (creator), total));
  total_text = viv_size_format (total);
  if (seconds < 0)
    /* Translators: a copy's progress: the size copied, then the size in all
     * ("1.2 GiB of 4 GiB") */
    return g_strdup_printf (C_("copy progress", "%s of %s"), done_text, total_text);
  left_text = time_left_text (seconds);
  /* Translators: a copy's progress: the size copied, the size in all, then the time left
   * ("1.2 GiB of 4 GiB — about 2 minutes left") */
  return g_strdup_printf (C_("copy progress", "%s of %s — %s"), done_text, total_text,
                          left_text);
}

static void
on_progress (VivWizard *self)
{
  const char *stage = viv_machine_creator_get_stage (self->creator);
  g_autofree char *escaped = stage != NULL ? g_markup_escape_text (stage, -1) : NULL;
  g_autofree char *copied = copied_text (self->creator);

  gtk_progress_bar_set_fraction (self->progress_bar,
                                 viv_machine_creator_get_progress (self->creator));
  adw_status_page_set_description (self->creating_page, escaped);
  gtk_label_set_label (self->progress_label, copied != NULL ? copied : "");
  gtk_widget_set_visible (GTK_WIDGET (self->progress_label), copied != NULL);
}

static void
on_created (GObject      *object G_GNUC_UNUSED,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(VivWizard) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VivMachine) machine = NULL;

  if (self->disposed)
    return;
  machine = viv_machine_creator_create_finish (self->creator, result, &error);
  g_clear_object (&self->create_cancellable);

  if (machine == NULL)
    {
      viv_wizard_show_page (self, "review", FALSE);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          AdwToast *toast = adw_toast_new (_("Cancelled: nothing was created"));

          adw_toast_set_timeout (toast, 3);
          adw_toast_overlay_add_toast (self->toast_overlay, toast);
          return;
        }
      {
        /* Translators: %s is the reason */
        g_autofree char *message = g_strdup_printf (_("The machine could not be created: %s"),
                                                    error->message);

        gtk_label_set_label (self->review_error_label, message);
        gtk_widget_set_visible (self->review_error, TRUE);
      }
      return;
    }

  g_signal_emit_by_name (self, "machine-created", machine,
                         self->start_machine && viv_wizard_can_start (self));
  gtk_window_destroy (GTK_WINDOW (self));
}

void
viv_wizard_create (VivWizard *self)
{
  g_autofree char *name = name_text (self);
  g_autofree char *title = NULL;

  g_return_if_fail (self->create_cancellable == NULL);

  viv_machine_creator_set_name (self->creator, name);
  /* Translators: %s is the new machine's name */
  title = g_strdup_printf (_("Creating “%s”"), name);
  adw_status_page_set_title (self->creating_page, title);
  adw_status_page_set_description (self->creating_page, NULL);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_widget_set_visible (GTK_WIDGET (self->progress_label), FALSE);

  self->create_cancellable = g_cancellable_new ();
  viv_wizard_show_page (self, "creating", FALSE);
  viv_machine_creator_create_async (self->creator, self->create_cancellable, on_created,
                                    g_object_ref (self));
}

void
viv_wizard_init_review (VivWizard *self)
{
  g_signal_connect_object (self->creator, "notify::progress", G_CALLBACK (on_progress), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->creator, "notify::stage", G_CALLBACK (on_progress), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect (self, "notify::start-machine", G_CALLBACK (update_start_row), NULL);
  query_free_space (self);
}

void
viv_wizard_class_init_review (GtkWidgetClass *widget_class)
{
  gtk_widget_class_bind_template_callback (widget_class, on_memory_input);
  gtk_widget_class_bind_template_callback (widget_class, on_memory_output);
  gtk_widget_class_bind_template_callback (widget_class, on_disk_input);
  gtk_widget_class_bind_template_callback (widget_class, on_disk_output);
  gtk_widget_class_bind_template_callback (widget_class, on_resources_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_name_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_start_switch_changed);
}
