/* test-wizard.c: the create-machine wizard in the real app, under Xvfb
 *
 * Each test opens the app on an empty library of its own, opens the wizard
 * with New Machine (win.new-machine) and drives it through its actions, as
 * its rows, buttons and keys do, from the source to Create: a Debian
 * installer disc (libosinfo knows it: straight to the review), a disc
 * nobody knows (its system chosen from the list), broken files, a disk
 * image copied or used where it is, a kernel, and an operating system from
 * the list. Each checks the machine.json written and the disk (qemu-img
 * agrees on its format and size), and saves a screenshot of every step in
 * the build folder's tests/screenshots.
 *
 * The discs are made with xorriso from the files of Debian's
 * debian-installer-12-netboot-amd64 package; where either is missing, the
 * tests that need them skip, saying why.
 *
 * The ISO test prints the time from choosing the disc to the review step
 * drawn, filled in ("iso-to-review: N ms"); bench/wizard.sh collects it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <locale.h>

#include "block/block.h"
#include "viv-application.h"
#include "viv-disk.h"
#include "viv-machine-config.h"
#include "viv-host.h"
#include "viv-os-catalog.h"
#include "viv-size.h"
#include "viv-test-images.h"
#include "viv-test-ui.h"
#include "viv-machine-page.h"
#include "viv-remote-display.h"
#include "viv-window.h"
#include "viv-wizard.h"
#include "viv-wizard-os-list.h"
#include "viv-test-util.h"
#include "viv-file.h"

#define TIMEOUT_MS 30000
#define MIB        (G_GUINT64_CONSTANT (1) << 20)
#define GIB        (G_GUINT64_CONSTANT (1) << 30)
#define DEBIAN_11  "http://debian.org/debian/11"

static VivApplication *the_app;
static char *root;
static VivTestIsos isos;
static char *no_isos_reason;
static const char *probe_path;
static gboolean have_kvm;

typedef struct
{
  VivWindow  *window;
  VivLibrary *library;
  VivWizard  *wizard;      /* a weak pointer: the wizard goes once it creates */
  VivMachine *created;     /* what machine-created gave */
  gboolean    created_start;
} Fixture;

/* --- waiting ------------------------------------------------------------------- */

#define NEED_ISOS()                                   \
  G_STMT_START {                                      \
    if (isos.debian11 == NULL)                        \
      {                                               \
        g_test_skip (no_isos_reason);                 \
        return;                                       \
      }                                               \
  } G_STMT_END

/* "-ru" in a Russian run (app-wizard-ru), so its screenshots do not
 * overwrite the English ones */
static const char *shot_suffix = "";

static void
shoot (GtkWidget  *widget,
       const char *name)
{
  g_autofree char *path = NULL;
  g_autofree char *full_name = g_strconcat (name, shot_suffix, NULL);

  g_assert_true (viv_test_wait_for_frames (widget, 20, 10000));
  path = viv_test_screenshot (widget, full_name);
  g_assert_nonnull (path);
}

/* --- the wizard ------------------------------------------------------------------- */

static const char *
page (Fixture *f)
{
  g_assert_nonnull (f->wizard);
  return viv_wizard_get_page (f->wizard);
}

static void
wait_page (Fixture    *f,
           const char *name)
{
  WAIT_UNTIL (f->wizard != NULL && g_strcmp0 (viv_wizard_get_page (f->wizard), name) == 0 &&
              !viv_wizard_get_busy (f->wizard), TIMEOUT_MS);
  g_assert_cmpstr (page (f), ==, name);
  g_assert_false (viv_wizard_get_busy (f->wizard));
}

static gboolean
act (Fixture    *f,
     const char *action)
{
  return gtk_widget_activate_action (GTK_WIDGET (f->wizard), action, NULL);
}

static gboolean
act_s (Fixture    *f,
       const char *action,
       const char *arg)
{
  return gtk_widget_activate_action (GTK_WIDGET (f->wizard), action, "s", arg);
}

/* Whether ACTION is enabled, as the buttons that activate it show it */
static gboolean
action_enabled (Fixture    *f,
                const char *action)
{
  g_autoptr(GPtrArray) buttons = viv_test_find_all (GTK_WIDGET (f->wizard), GTK_TYPE_BUTTON);
  gboolean found = FALSE;
  gboolean enabled = FALSE;

  for (guint i = 0; i < buttons->len; i++)
    if (g_strcmp0 (gtk_actionable_get_action_name (buttons->pdata[i]), action) == 0)
      {
        found = TRUE;
        enabled = enabled || gtk_widget_get_sensitive (buttons->pdata[i]);
      }
  g_assert_true (found);
  return enabled;
}

/* A row's (an AdwPreferencesRow's) title; NULL if none is shown */
static GtkWidget *
find_row (Fixture    *f,
          GType       type,
          const char *title)
{
  g_autoptr(GPtrArray) rows = viv_test_find_all (GTK_WIDGET (f->wizard), type);

  for (guint i = 0; i < rows->len; i++)
    if (gtk_widget_is_drawable (rows->pdata[i]) &&
        g_strcmp0 (adw_preferences_row_get_title (rows->pdata[i]), title) == 0)
      return rows->pdata[i];
  return NULL;
}

static const char *
row_subtitle (Fixture    *f,
              const char *title)
{
  GtkWidget *row = find_row (f, ADW_TYPE_ACTION_ROW, title);

  g_assert_nonnull (row);
  return adw_action_row_get_subtitle (ADW_ACTION_ROW (row));
}

static GtkSpinButton *
spin_of (Fixture    *f,
         const char *row_title)
{
  GtkWidget *row = find_row (f, ADW_TYPE_ACTION_ROW, row_title);

  g_assert_nonnull (row);
  return GTK_SPIN_BUTTON (viv_test_find_widget (row, GTK_TYPE_SPIN_BUTTON, NULL));
}

static GtkEditable *
entry_of (Fixture    *f,
          const char *row_title)
{
  GtkWidget *row = find_row (f, ADW_TYPE_ENTRY_ROW, row_title);

  g_assert_nonnull (row);
  return GTK_EDITABLE (row);
}

/* A label the wizard shows, containing PART */
static gboolean
shows_text (Fixture    *f,
            const char *part)
{
  g_autoptr(GPtrArray) labels = viv_test_find_all (GTK_WIDGET (f->wizard), GTK_TYPE_LABEL);

  for (guint i = 0; i < labels->len; i++)
    if (gtk_widget_is_drawable (labels->pdata[i]) &&
        strstr (gtk_label_get_label (labels->pdata[i]), part) != NULL)
      return TRUE;
  return FALSE;
}

static VivWizardOsList *
shown_os_list (Fixture *f)
{
  g_autoptr(GPtrArray) lists = viv_test_find_all (GTK_WIDGET (f->wizard),
                                                  VIV_TYPE_WIZARD_OS_LIST);

  for (guint i = 0; i < lists->len; i++)
    if (gtk_widget_is_drawable (lists->pdata[i]))
      return lists->pdata[i];
  return NULL;
}

static gboolean
catalog_shown (Fixture *f)
{
  VivWizardOsList *list = shown_os_list (f);

  return list != NULL && viv_wizard_os_list_get_n_shown (list) > 0;
}

/* --- what was created ------------------------------------------------------------- */

static char *
machines_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "vivarium", "machines", NULL);
}

/* Entries in the machines' folder, hidden (staging) ones included */
static guint
count_machine_dirs (void)
{
  g_autofree char *dir = machines_dir ();
  g_autoptr(GDir) machines = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (machines != NULL && g_dir_read_name (machines) != NULL)
    n++;
  return n;
}

static void
on_machine_created (VivWizard  *wizard G_GNUC_UNUSED,
                    VivMachine *machine,
                    gboolean    start,
                    Fixture    *f)
{
  g_assert_null (f->created);
  f->created = g_object_ref (machine);
  f->created_start = start;
}

/* Create, on the review page; returns the machine's configuration as
 * written in its machine.json */
static VivMachineConfig *
create (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  VivMachineConfig *config;

  g_assert_cmpstr (page (f), ==, "review");
  g_assert_true (action_enabled (f, "wizard.create"));
  g_assert_true (act (f, "wizard.create"));
  WAIT_UNTIL (f->created != NULL && f->wizard == NULL, TIMEOUT_MS);
  g_assert_nonnull (f->created);
  g_assert_null (f->wizard);

  /* In the library, and nothing else in the folder */
  g_assert_true (viv_library_find (f->library, viv_machine_get_uuid (f->created)) == f->created);
  g_assert_cmpuint (count_machine_dirs (), ==, 1);

  path = g_build_filename (viv_machine_get_directory (f->created), VIV_MACHINE_CONFIG_FILE_NAME,
                           NULL);
  config = viv_machine_config_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

static char *
disk_path (Fixture                *f,
           const VivMachineConfig *config,
           guint                   i)
{
  const VivDiskConfig *disk;

  g_assert_cmpuint (config->disks->len, >, i);
  disk = g_ptr_array_index (config->disks, i);
  return viv_machine_config_resolve_path (viv_machine_get_directory (f->created), disk->path);
}

static OsinfoOs *
find_os (const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(OsinfoDb) db = viv_os_db_get (&error);
  OsinfoOs *os;

  g_assert_no_error (error);
  os = osinfo_db_get_os (db, id);
  g_assert_nonnull (os);
  return os;
}

/* --- fixture ------------------------------------------------------------------------ */

static void
open_wizard (Fixture *f)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.new-machine", NULL));
  f->wizard = VIV_WIZARD (viv_test_find_toplevel (VIV_TYPE_WIZARD));
  g_assert_nonnull (f->wizard);
  g_object_add_weak_pointer (G_OBJECT (f->wizard), (gpointer *) &f->wizard);
  g_signal_connect (f->wizard, "machine-created", G_CALLBACK (on_machine_created), f);
  g_assert_cmpstr (page (f), ==, "source");

  /* The list of systems, read in a worker thread */
  WAIT_UNTIL (catalog_shown (f), TIMEOUT_MS);
  g_assert_true (catalog_shown (f));
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->wizard), 3, 10000));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data G_GNUC_UNUSED)
{
  f->library = viv_application_get_library (the_app);
  WAIT_UNTIL (viv_library_get_loaded (f->library), TIMEOUT_MS);
  g_assert_true (viv_library_get_loaded (f->library));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);
  WAIT_UNTIL (viv_os_catalog_get_loaded (viv_os_catalog_get_default ()), TIMEOUT_MS);

  g_application_activate (G_APPLICATION (the_app));
  f->window = VIV_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (the_app)));
  g_assert_nonnull (f->window);
  g_object_add_weak_pointer (G_OBJECT (f->window), (gpointer *) &f->window);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), 3, 10000));

  open_wizard (f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *dir = machines_dir ();
  g_autoptr(GDir) machines = NULL;
  const char *name;

  if (f->wizard != NULL)
    gtk_window_destroy (GTK_WINDOW (f->wizard));
  viv_test_stop_machines (f->library);
  if (f->window != NULL)
    gtk_window_destroy (GTK_WINDOW (f->window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&f->created);

  machines = g_dir_open (dir, 0, NULL);
  while (machines != NULL && (name = g_dir_read_name (machines)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      viv_file_remove_tree (path);
    }
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (f->library)) == 0, TIMEOUT_MS);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);
}

/* --- tests ---------------------------------------------------------------------------- */

/* The first page; Escape (wizard.cancel) closes it, having written nothing */
static void
test_source (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  VivWizardOsList *list = shown_os_list (f);

  g_assert_true (gtk_window_get_modal (GTK_WINDOW (f->wizard)));
  g_assert_false (action_enabled (f, "wizard.back"));
  g_assert_false (action_enabled (f, "wizard.create"));
  g_assert_nonnull (find_row (f, ADW_TYPE_ACTION_ROW, _("_Installer Disc Image")));
  g_assert_nonnull (find_row (f, ADW_TYPE_ACTION_ROW, _("_Disk Image")));
  g_assert_nonnull (find_row (f, ADW_TYPE_ACTION_ROW, _("_Linux Kernel")));
  shoot (GTK_WIDGET (f->wizard), "wizard-source");

  /* libosinfo's "Unknown" is not a system one chooses */
  for (guint i = 0; i < viv_wizard_os_list_get_n_shown (list); i++)
    g_assert_cmpstr (viv_os_item_get_id (viv_wizard_os_list_get_shown (list, i)), !=,
                     "http://libosinfo.org/unknown");

  /* Searching narrows the list */
  viv_wizard_os_list_set_search_text (list, "debian 11");
  WAIT_UNTIL (viv_wizard_os_list_get_n_shown (list) < 10, TIMEOUT_MS);
  g_assert_cmpuint (viv_wizard_os_list_get_n_shown (list), >=, 1);
  g_assert_cmpstr (viv_os_item_get_id (viv_wizard_os_list_get_shown (list, 0)), ==, DEBIAN_11);
  shoot (GTK_WIDGET (f->wizard), "wizard-source-search");
  viv_wizard_os_list_set_search_text (list, "no such system at all");
  WAIT_UNTIL (viv_wizard_os_list_get_n_shown (list) == 0, TIMEOUT_MS);
  g_assert_cmpuint (viv_wizard_os_list_get_n_shown (list), ==, 0);
  g_assert_true (shows_text (f, _("Try another name, or a version number")));

  /* Ctrl+O (wizard.open-iso): a file chooser over the wizard, showing disc
   * images first; cancelling it changes nothing */
  {
    GtkWidget *chooser;

    g_assert_true (act (f, "wizard.open-iso"));
    WAIT_UNTIL (viv_test_find_toplevel (GTK_TYPE_FILE_CHOOSER) != NULL, TIMEOUT_MS);
    chooser = viv_test_find_toplevel (GTK_TYPE_FILE_CHOOSER);
    g_assert_nonnull (chooser);
    g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (chooser)) ==
                   GTK_WINDOW (f->wizard));
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    g_assert_nonnull (gtk_file_chooser_get_filter (GTK_FILE_CHOOSER (chooser)));
    g_assert_cmpstr (gtk_file_filter_get_name (gtk_file_chooser_get_filter (
                       GTK_FILE_CHOOSER (chooser))), ==, _("Disc Images"));
    shoot (chooser, "wizard-open-iso");
    gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_CANCEL);
    G_GNUC_END_IGNORE_DEPRECATIONS
    WAIT_UNTIL (viv_test_find_toplevel (GTK_TYPE_FILE_CHOOSER) == NULL, TIMEOUT_MS);
    g_assert_null (viv_test_find_toplevel (GTK_TYPE_FILE_CHOOSER));
    g_assert_cmpstr (page (f), ==, "source");
  }

  g_assert_true (act (f, "wizard.cancel"));
  WAIT_UNTIL (f->wizard == NULL, TIMEOUT_MS);
  g_assert_null (f->wizard);
  g_assert_cmpuint (count_machine_dirs (), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);
}

/* A Debian installer disc: recognised, so straight to the review, all
 * filled in; Back walks the steps it skipped; Create makes a machine that
 * boots the installer's kernel from the disc */
static void
test_iso (Fixture       *f,
          gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *resources_text = NULL;
  const VivMediaConfig *media;
  VivOsResources resources;
  gint64 start;
  double ms;

  NEED_ISOS ();

  start = g_get_monotonic_time ();
  g_assert_true (act_s (f, "wizard.choose-iso", isos.debian11));
  wait_page (f, "review");
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->wizard), 1, 10000));
  ms = (double) (g_get_monotonic_time () - start) / 1000.0;
  g_test_message ("iso-to-review: %.1f ms", ms);

  /* Filled in from what libosinfo says about Debian 11 */
  viv_os_get_resources (find_os (DEBIAN_11), &resources);
  g_assert_cmpstr (gtk_editable_get_text (entry_of (f, _("Name"))), ==, "Debian 11");
  g_assert_nonnull (strstr (row_subtitle (f, _("Operating System")), "Debian 11"));
  /* Not every disc installs: "Starts From" fits them all */
  g_assert_cmpstr (row_subtitle (f, _("Starts From")), ==, isos.debian11);
  g_assert_null (find_row (f, ADW_TYPE_ACTION_ROW, "Installs From"));
  resources_text = g_strdup (row_subtitle (f, _("Resources")));
  g_assert_nonnull (strstr (resources_text, "GiB"));
  g_assert_cmpint (viv_machine_creator_get_source (viv_wizard_get_creator (f->wizard)), ==,
                   VIV_CREATOR_SOURCE_ISO_KERNEL);
  g_assert_cmpuint (viv_machine_creator_get_memory (viv_wizard_get_creator (f->wizard)), ==,
                    resources.memory);
  g_assert_cmpuint (viv_machine_creator_get_disk_size (viv_wizard_get_creator (f->wizard)), ==,
                    resources.disk);
  g_assert_true (action_enabled (f, "wizard.create"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-review");

  /* Back: the resources, proposed for Debian 11 and bounded by the host */
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "resources");
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (spin_of (f, _("_Memory"))) * MIB, ==,
                    resources.memory);
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (spin_of (f, _("_Memory"))) * MIB, <=,
                    viv_host_get_max_guest_memory ());
  g_assert_cmpuint ((guint) gtk_spin_button_get_value (spin_of (f, _("_Processors"))), ==,
                    resources.cpus);
  g_assert_cmpuint ((guint64) gtk_spin_button_get_value (spin_of (f, _("_Disk Size"))) * GIB, ==,
                    resources.disk);
  g_assert_nonnull (strstr (row_subtitle (f, _("_Disk Size")), "free"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-resources");

  /* Back again: the disc, what is on it and how it starts */
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "media");
  g_assert_true (shows_text (f, "Debian 11"));
  g_assert_cmpstr (row_subtitle (f, _("Disc Image")), ==, isos.debian11);
  g_assert_cmpstr (row_subtitle (f, _("Starts From")), ==,
                   _("The installer’s kernel, started directly"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-media");

  /* Forward again, changing the resources on the way: Back kept them */
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  gtk_spin_button_set_value (spin_of (f, _("_Memory")), 1024);
  gtk_spin_button_set_value (spin_of (f, _("_Processors")), 1);
  gtk_spin_button_set_value (spin_of (f, _("_Disk Size")), 3);
  /* Typed as people type sizes */
  {
    GtkSpinButton *memory = spin_of (f, _("_Memory"));
    GtkSpinButton *disk_spin = spin_of (f, _("_Disk Size"));

    gtk_editable_set_text (GTK_EDITABLE (memory), "2 GiB");
    gtk_spin_button_update (memory);
    g_assert_cmpfloat (gtk_spin_button_get_value (memory), ==, 2048);
    gtk_editable_set_text (GTK_EDITABLE (memory), "1536M");
    gtk_spin_button_update (memory);
    g_assert_cmpfloat (gtk_spin_button_get_value (memory), ==, 1536);
    gtk_editable_set_text (GTK_EDITABLE (memory), "1024");
    gtk_spin_button_update (memory);
    g_assert_cmpfloat (gtk_spin_button_get_value (memory), ==, 1024);
    gtk_editable_set_text (GTK_EDITABLE (disk_spin), "3G");
    gtk_spin_button_update (disk_spin);
    g_assert_cmpfloat (gtk_spin_button_get_value (disk_spin), ==, 3);
    gtk_editable_set_text (GTK_EDITABLE (disk_spin), "lots");
    gtk_spin_button_update (disk_spin);
    g_assert_cmpfloat (gtk_spin_button_get_value (disk_spin), ==, 3);   /* unchanged */
  }
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_cmpstr (row_subtitle (f, _("Resources")), !=, resources_text);
  g_assert_nonnull (strstr (row_subtitle (f, _("Resources")), "1 GiB"));

  /* The Debian kernel does not start here: create it stopped */
  g_object_set (f->wizard, "start-machine", FALSE, NULL);
  config = create (f);
  g_assert_false (f->created_start);

  g_assert_cmpstr (config->name, ==, "Debian 11");
  g_assert_cmpstr (config->osinfo, ==, DEBIAN_11);
  g_assert_cmpuint (config->memory, ==, 1024 * MIB);
  g_assert_cmpuint (config->cpus, ==, 1);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_KERNEL);
  g_assert_nonnull (config->boot.kernel);
  g_assert_nonnull (config->boot.initrd);
  g_assert_cmpuint (config->media->len, ==, 1);
  media = g_ptr_array_index (config->media, 0);
  g_assert_cmpint (media->kind, ==, VIV_MEDIA_KIND_CDROM);
  g_assert_cmpstr (media->path, ==, isos.debian11);
  disk = disk_path (f, config, 0);
  viv_test_check_with_qemu_img (disk, "qcow2", 3 * GIB);

  /* The kernel and initrd came out of the disc, whole */
  {
    g_autofree char *kernel = viv_machine_config_resolve_path (
      viv_machine_get_directory (f->created), config->boot.kernel);
    g_autofree char *initrd = viv_machine_config_resolve_path (
      viv_machine_get_directory (f->created), config->boot.initrd);
    g_autofree char *a = NULL, *b = NULL;
    gsize len_a = 0, len_b = 0;

    g_assert_true (g_file_get_contents (kernel, &a, &len_a, NULL));
    g_assert_true (g_file_get_contents (VIV_TEST_NETBOOT_KERNEL, &b, &len_b, NULL));
    g_assert_cmpmem (a, len_a, b, len_b);
    g_assert_true (g_file_test (initrd, G_FILE_TEST_IS_REGULAR));
  }

  /* The collection shows it */
  g_assert_nonnull (f->window);
  WAIT_UNTIL (g_strcmp0 (viv_window_get_visible_page (f->window), "collection") == 0,
              TIMEOUT_MS);
  g_assert_cmpstr (viv_window_get_visible_page (f->window), ==, "collection");
  shoot (GTK_WIDGET (f->window), "wizard-created");
}

/* A disc nobody knows: it says so, with generic Linux settings, and the
 * system can be chosen from the list; a kernel cannot be found on it, so
 * the firmware would start it, which the review warns about */
static void
test_iso_unknown (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = NULL;
  VivWizardOsList *list;

  NEED_ISOS ();

  g_assert_true (act_s (f, "wizard.choose-iso", isos.unknown));
  wait_page (f, "media");
  g_assert_true (shows_text (f, _("Unknown operating system")));
  g_assert_true (shows_text (f, "SOMETHING_ELSE"));
  g_assert_true (action_enabled (f, "wizard.next"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-unknown");

  /* Named from the file ("something.iso"), not the disc's label */
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_cmpstr (gtk_editable_get_text (entry_of (f, _("Name"))), ==, "Something");
  g_assert_false (shows_text (f, "SOMETHING_ELSE"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-unknown-review");
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "media");

  /* Choose it by hand */
  g_assert_true (act (f, "wizard.show-os-list"));
  wait_page (f, "os");
  list = shown_os_list (f);
  g_assert_nonnull (list);
  viv_wizard_os_list_set_search_text (list, "debian 11");
  WAIT_UNTIL (viv_wizard_os_list_get_n_shown (list) > 0 &&
              viv_wizard_os_list_get_n_shown (list) < 10, TIMEOUT_MS);
  g_assert_cmpstr (viv_os_item_get_id (viv_wizard_os_list_get_shown (list, 0)), ==, DEBIAN_11);
  shoot (GTK_WIDGET (f->wizard), "wizard-os-list");
  g_assert_true (act_s (f, "wizard.choose-os", DEBIAN_11));
  wait_page (f, "review");

  g_assert_nonnull (strstr (row_subtitle (f, _("Operating System")), "Debian 11"));
  g_assert_cmpint (viv_machine_creator_get_source (viv_wizard_get_creator (f->wizard)), ==,
                   VIV_CREATOR_SOURCE_ISO_FIRMWARE);
  g_assert_cmpstr (row_subtitle (f, _("Starts From")), ==, isos.unknown);
  /* The firmware starts it: no warning */
  g_assert_cmpstr (row_subtitle (f, _("_Start the Machine")), ==, _("As soon as it is created"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-firmware-review");

  g_object_set (f->wizard, "start-machine", FALSE, NULL);
  config = create (f);
  g_assert_false (f->created_start);
  g_assert_cmpstr (config->osinfo, ==, DEBIAN_11);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_FIRMWARE);
  /* Debian 11 boots BIOS and has virtio-blk drivers */
  g_assert_cmpint (config->boot.firmware, ==, VIV_FIRMWARE_BIOS);
  g_assert_cmpuint (config->media->len, ==, 1);
  g_assert_cmpuint (config->disks->len, ==, 1);
  g_assert_cmpint (((VivDiskConfig *) g_ptr_array_index (config->disks, 0))->bus, ==,
                   VIV_DISK_BUS_VIRTIO);
}

static VivMachineConfig *
load_created (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (viv_machine_get_directory (f->created),
                                            VIV_MACHINE_CONFIG_FILE_NAME, NULL);
  VivMachineConfig *config = viv_machine_config_load (path, &error);

  g_assert_no_error (error);
  return config;
}

static gboolean
disc_is (Fixture    *f,
         const char *path)
{
  return g_strcmp0 (viv_machine_get_disc (f->created), path) == 0;
}

/* A disc nobody knows, left as it is: the firmware boots it, BIOS and a
 * SATA disk as for any system libosinfo does not know; then Eject and
 * Insert on the machine page, the machine stopped, change machine.json */
static void
test_iso_firmware (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = NULL;
  const VivMediaConfig *media;
  VivMachinePage *page;

  NEED_ISOS ();

  g_assert_true (act_s (f, "wizard.choose-iso", isos.unknown));
  wait_page (f, "media");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_cmpint (viv_machine_creator_get_source (viv_wizard_get_creator (f->wizard)), ==,
                   VIV_CREATOR_SOURCE_ISO_FIRMWARE);
  g_assert_cmpstr (row_subtitle (f, _("_Start the Machine")), ==, _("As soon as it is created"));
  g_assert_true (gtk_widget_get_sensitive (find_row (f, ADW_TYPE_ACTION_ROW,
                                                    _("_Start the Machine"))));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-unknown-firmware-review");

  g_object_set (f->wizard, "start-machine", FALSE, NULL);
  config = create (f);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_FIRMWARE);
  g_assert_cmpint (config->boot.firmware, ==, VIV_FIRMWARE_BIOS);
  g_assert_cmpuint (config->boot.n_order, ==, 0);   /* disk, then the disc */
  g_assert_cmpuint (config->disks->len, ==, 1);
  g_assert_cmpint (((VivDiskConfig *) g_ptr_array_index (config->disks, 0))->bus, ==,
                   VIV_DISK_BUS_SATA);
  g_assert_cmpuint (config->media->len, ==, 1);
  media = g_ptr_array_index (config->media, 0);
  g_assert_cmpint (media->kind, ==, VIV_MEDIA_KIND_CDROM);
  g_assert_true (media->inserted);
  g_assert_cmpstr (media->path, ==, isos.unknown);
  g_clear_pointer (&config, viv_machine_config_free);

  /* The machine's page: Eject, then Insert, stopped */
  viv_window_open_machine (f->window, f->created);
  page = viv_window_get_machine_page (f->window);
  g_assert_true (viv_machine_page_get_machine (page) == f->created);
  g_assert_true (viv_machine_has_cd_drive (f->created));
  g_assert_true (disc_is (f, isos.unknown));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.eject-disc", NULL));
  WAIT_UNTIL (disc_is (f, NULL), TIMEOUT_MS);
  config = load_created (f);
  media = g_ptr_array_index (config->media, 0);
  g_assert_false (media->inserted);
  g_assert_null (media->path);
  g_clear_pointer (&config, viv_machine_config_free);
  shoot (GTK_WIDGET (f->window), "machine-page-disc-ejected");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.insert-disc-file", "s",
                                             isos.debian11 != NULL ? isos.debian11
                                                                   : isos.unknown));
  WAIT_UNTIL (viv_machine_get_disc (f->created) != NULL, TIMEOUT_MS);
  config = load_created (f);
  media = g_ptr_array_index (config->media, 0);
  g_assert_true (media->inserted);
  g_assert_cmpstr (media->path, ==, isos.debian11 != NULL ? isos.debian11 : isos.unknown);
}

/* A Debian release newer than this computer's osinfo-db (Debian 12 on
 * Debian 12): named as the disc says, with the newest known release's
 * settings, said plainly; its kernel, where the older release keeps it, is
 * found on the disc before it is promised */
static void
test_iso_newer (Fixture       *f,
                gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = NULL;
  g_autofree char *os_id = NULL;

  NEED_ISOS ();

  g_assert_true (act_s (f, "wizard.choose-iso", isos.debian12));
  wait_page (f, "review");
  g_assert_cmpint (viv_media_get_os_match (viv_wizard_get_media (f->wizard)), ==,
                   VIV_MEDIA_OS_NEWER_THAN_DB);
  g_assert_cmpstr (gtk_editable_get_text (entry_of (f, _("Name"))), ==, "Debian 12");
  g_assert_nonnull (strstr (row_subtitle (f, _("Operating System")), "Debian 12"));
  g_assert_nonnull (strstr (row_subtitle (f, _("Operating System")),
                            viv_media_get_os_name (viv_wizard_get_media (f->wizard))));
  g_assert_cmpint (viv_machine_creator_get_source (viv_wizard_get_creator (f->wizard)), ==,
                   VIV_CREATOR_SOURCE_ISO_KERNEL);
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-newer-review");

  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "media");
  g_assert_true (shows_text (f, "Debian 12"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-newer-media");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");

  g_object_set (f->wizard, "start-machine", FALSE, NULL);
  os_id = g_strdup (viv_media_get_os_id (viv_wizard_get_media (f->wizard)));
  g_assert_nonnull (os_id);
  config = create (f);
  g_assert_cmpstr (config->name, ==, "Debian 12");
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_KERNEL);
  g_assert_cmpstr (config->osinfo, ==, os_id);
}

/* Files that are not discs: each says why, Next stays off, another file can
 * be chosen; nothing is written */
static void
test_iso_errors (Fixture       *f,
                 gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *truncated = g_build_filename (root, "truncated.iso", NULL);
  g_autofree char *text = g_build_filename (root, "notes.iso", NULL);
  g_autofree char *missing = g_build_filename (root, "not-there.iso", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;

  NEED_ISOS ();

  g_assert_true (g_file_get_contents (isos.debian11, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (truncated, contents, 20 * 1024, NULL));
  g_assert_true (g_file_set_contents (text, "not a disc image\n", -1, NULL));

  g_assert_true (act_s (f, "wizard.choose-iso", truncated));
  wait_page (f, "media");
  g_assert_true (shows_text (f, _("This File Cannot Be Used")));
  g_assert_true (shows_text (f, "truncated.iso"));
  g_assert_false (action_enabled (f, "wizard.next"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-error");

  g_assert_true (act_s (f, "wizard.choose-iso", text));
  WAIT_UNTIL (!viv_wizard_get_busy (f->wizard) && shows_text (f, "notes.iso"), TIMEOUT_MS);
  g_assert_true (shows_text (f, "notes.iso"));
  g_assert_false (action_enabled (f, "wizard.next"));

  g_assert_true (act_s (f, "wizard.choose-iso", missing));
  WAIT_UNTIL (!viv_wizard_get_busy (f->wizard) && shows_text (f, "not-there.iso"), TIMEOUT_MS);
  g_assert_true (shows_text (f, "not-there.iso"));
  g_assert_false (action_enabled (f, "wizard.next"));

  /* A good one after the bad ones */
  g_assert_true (act_s (f, "wizard.choose-iso", isos.debian11));
  wait_page (f, "review");

  g_assert_true (act (f, "wizard.cancel"));
  WAIT_UNTIL (f->wizard == NULL, TIMEOUT_MS);
  g_assert_cmpuint (count_machine_dirs (), ==, 0);
}

/* Drag and drop onto the main window: the wizard opens on the dropped disc */
static void
test_drop (Fixture       *f,
           gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GListModel) controllers = NULL;
  g_autoptr(GFile) file = NULL;
  GtkDropTarget *drop = NULL;
  GValue value = G_VALUE_INIT;
  gboolean accepted = FALSE;

  NEED_ISOS ();

  /* The wizard from the fixture goes; the drop opens one */
  gtk_window_destroy (GTK_WINDOW (f->wizard));
  WAIT_UNTIL (f->wizard == NULL, TIMEOUT_MS);

  controllers = gtk_widget_observe_controllers (GTK_WIDGET (f->window));
  for (guint i = 0; i < g_list_model_get_n_items (controllers) && drop == NULL; i++)
    {
      g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

      if (GTK_IS_DROP_TARGET (controller))
        drop = GTK_DROP_TARGET (controller);
    }
  g_assert_nonnull (drop);

  file = g_file_new_for_path (isos.debian11);
  g_value_init (&value, G_TYPE_FILE);
  g_value_set_object (&value, file);
  g_signal_emit_by_name (drop, "drop", &value, 10.0, 10.0, &accepted);
  g_value_unset (&value);
  g_assert_true (accepted);

  f->wizard = VIV_WIZARD (viv_test_find_toplevel (VIV_TYPE_WIZARD));
  g_assert_nonnull (f->wizard);
  g_object_add_weak_pointer (G_OBJECT (f->wizard), (gpointer *) &f->wizard);
  wait_page (f, "review");
  g_assert_cmpstr (viv_media_get_path (viv_wizard_get_media (f->wizard)), ==, isos.debian11);
}

/* Drops FILE on the main window, as a file manager would */
static void
drop_on_window (Fixture *f,
                GFile   *file)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (f->window));
  GtkDropTarget *drop = NULL;
  GValue value = G_VALUE_INIT;
  gboolean accepted = FALSE;

  for (guint i = 0; i < g_list_model_get_n_items (controllers) && drop == NULL; i++)
    {
      g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

      if (GTK_IS_DROP_TARGET (controller))
        drop = GTK_DROP_TARGET (controller);
    }
  g_assert_nonnull (drop);

  g_value_init (&value, G_TYPE_FILE);
  g_value_set_object (&value, file);
  g_signal_emit_by_name (drop, "drop", &value, 10.0, 10.0, &accepted);
  g_value_unset (&value);
  g_assert_true (accepted);
}

/* A FIFO as a disc image, chosen or dropped: refused at once, never a
 * wizard stuck "Looking at the Disc Image"; closed, a new one comes with
 * Ctrl+N, and a valid disc chosen afterwards works */
static void
test_not_regular (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *fifo = g_build_filename (root, "pipe.iso", NULL);
  g_autoptr(GFile) fifo_file = g_file_new_for_path (fifo);
  g_remove (fifo);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);

  g_assert_true (act_s (f, "wizard.choose-iso", fifo));
  WAIT_UNTIL (!viv_wizard_get_busy (f->wizard) && shows_text (f, "pipe.iso") &&
              shows_text (f, _("This File Cannot Be Used")), TIMEOUT_MS);
  g_assert_false (viv_wizard_get_busy (f->wizard));
  g_assert_true (shows_text (f, _("This File Cannot Be Used")));
  g_assert_false (action_enabled (f, "wizard.next"));
  shoot (GTK_WIDGET (f->wizard), "wizard-iso-fifo");

  /* Closed, it goes; Ctrl+N brings a new one at the start */
  gtk_window_close (GTK_WINDOW (f->wizard));
  WAIT_UNTIL (f->wizard == NULL, TIMEOUT_MS);
  g_assert_null (f->wizard);
  open_wizard (f);
  /* A new one, not the old one shown again (its address can be the old
   * one's: the allocator may hand it out again) */
  g_assert_false (shows_text (f, "pipe.iso"));
  g_assert_false (viv_wizard_get_busy (f->wizard));

  /* Dropped on the window: the same refusal */
  drop_on_window (f, fifo_file);
  WAIT_UNTIL (!viv_wizard_get_busy (f->wizard) && shows_text (f, "pipe.iso") &&
              shows_text (f, _("This File Cannot Be Used")), TIMEOUT_MS);
  g_assert_true (shows_text (f, "pipe.iso"));
  g_assert_false (action_enabled (f, "wizard.next"));
  g_unlink (fifo);

  /* As a disk image too */
  {
    g_autofree char *fifo_img = g_build_filename (root, "pipe.img", NULL);
    g_autoptr(GFile) fifo_img_file = g_file_new_for_path (fifo_img);

    g_remove (fifo_img);
    g_assert_cmpint (mkfifo (fifo_img, 0600), ==, 0);
    drop_on_window (f, fifo_img_file);
    wait_page (f, "disk-image");
    g_assert_true (gtk_widget_has_css_class (find_row (f, ADW_TYPE_ACTION_ROW, "pipe.img"),
                                             "error"));
    g_assert_false (action_enabled (f, "wizard.next"));
    g_unlink (fifo_img);
  }

  /* A good one afterwards */
  if (isos.debian11 != NULL)
    {
      g_assert_true (act_s (f, "wizard.choose-iso", isos.debian11));
      wait_page (f, "review");
      g_assert_cmpstr (viv_media_get_path (viv_wizard_get_media (f->wizard)), ==,
                       isos.debian11);
    }
}

static char *
make_image (const char *name,
            const char *format,
            guint64     size)
{
  char *path = g_build_filename (root, name, NULL);
  g_autoptr(GError) error = NULL;

  g_remove (path);
  if (!viv_disk_create (path, g_strcmp0 (format, "qcow2") == 0 ? VIV_DISK_FORMAT_QCOW2
                                                               : VIV_DISK_FORMAT_RAW,
                        size, &error))
    g_error ("cannot make %s: %s", path, error->message);
  return path;
}

/* A disk image: copied into the machine (the default), or used where it
 * is; its header read first; the review says what happens to it */
static void
test_disk_image (Fixture       *f,
                 gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *qcow2 = make_image ("old-machine.qcow2", "qcow2", 2 * GIB);
  g_autofree char *raw = make_image ("other.img", "raw", 64 * MIB);
  g_autofree char *bad = g_build_filename (root, "bad.qcow2", NULL);
  g_autoptr(VivMachineConfig) config = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *copy = NULL;

  /* Not an image at all: says why */
  g_assert_true (g_file_set_contents (bad, "QFI\xfb but nothing else", -1, NULL));
  g_assert_true (act_s (f, "wizard.choose-disk-image", bad));
  wait_page (f, "disk-image");
  g_assert_true (gtk_widget_has_css_class (find_row (f, ADW_TYPE_ACTION_ROW, "bad.qcow2"),
                                           "error"));
  g_assert_false (action_enabled (f, "wizard.next"));
  shoot (GTK_WIDGET (f->wizard), "wizard-disk-image-error");

  /* Empty, or based on an image that is gone: refused when chosen, saying
   * so, instead of a machine that fails at start */
  {
    g_autofree char *empty = g_build_filename (root, "empty.qcow2", NULL);
    g_autofree char *base = make_image ("gone-base.qcow2", "qcow2", GIB);
    g_autofree char *overlay = g_build_filename (root, "overlay.qcow2", NULL);
    struct vmm_block_create_opts opts = {
      .path = overlay, .format = VMM_BLOCK_FORMAT_QCOW2,
      .backing_file = "gone-base.qcow2", .backing_format = VMM_BLOCK_FORMAT_QCOW2,
    };
    g_autoptr(GError) reason = NULL;

    g_assert_true (g_file_set_contents (empty, "", 0, NULL));
    g_assert_true (act_s (f, "wizard.choose-disk-image", empty));
    wait_page (f, "disk-image");
    g_assert_true (gtk_widget_has_css_class (find_row (f, ADW_TYPE_ACTION_ROW, "empty.qcow2"),
                                             "error"));
    g_assert_nonnull (strstr (row_subtitle (f, "empty.qcow2"), "empty.qcow2"));
    g_assert_false (action_enabled (f, "wizard.next"));
    shoot (GTK_WIDGET (f->wizard), "wizard-disk-image-empty");

    g_remove (overlay);
    g_assert_cmpint (vmm_block_create (&opts, &reason), ==, 0);
    g_assert_no_error (reason);
    g_assert_cmpint (g_unlink (base), ==, 0);
    g_assert_true (act_s (f, "wizard.choose-disk-image", overlay));
    WAIT_UNTIL (!viv_wizard_get_busy (f->wizard) &&
                find_row (f, ADW_TYPE_ACTION_ROW, "overlay.qcow2") != NULL &&
                gtk_widget_has_css_class (find_row (f, ADW_TYPE_ACTION_ROW, "overlay.qcow2"),
                                          "error"), TIMEOUT_MS);
    g_assert_nonnull (strstr (row_subtitle (f, "overlay.qcow2"), base));
    g_assert_false (action_enabled (f, "wizard.next"));
    shoot (GTK_WIDGET (f->wizard), "wizard-disk-image-no-backing");
    g_unlink (overlay);
    g_unlink (empty);
  }

  g_assert_true (act_s (f, "wizard.choose-disk-image", qcow2));
  wait_page (f, "disk-image");
  g_assert_nonnull (strstr (row_subtitle (f, "old-machine.qcow2"), "qcow2, 2 GiB"));
  g_assert_true (action_enabled (f, "wizard.next"));
  shoot (GTK_WIDGET (f->wizard), "wizard-disk-image");

  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  g_assert_nonnull (find_row (f, ADW_TYPE_ACTION_ROW, _("Disk")));
  g_assert_null (find_row (f, ADW_TYPE_ACTION_ROW, _("_Disk Size")));
  shoot (GTK_WIDGET (f->wizard), "wizard-disk-image-resources");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_cmpstr (row_subtitle (f, _("Disk Image")), ==, qcow2);
  shoot (GTK_WIDGET (f->wizard), "wizard-disk-image-review");

  config = create (f);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_DISK);
  disk = disk_path (f, config, 0);
  g_assert_true (g_str_has_prefix (disk, viv_machine_get_directory (f->created)));
  viv_test_check_with_qemu_img (disk, "qcow2", 2 * GIB);
  g_assert_true (g_file_test (qcow2, G_FILE_TEST_IS_REGULAR));   /* the image stays */

  /* Used where it is: the machine points at it */
  g_clear_object (&f->created);
  open_wizard (f);
  g_assert_true (act_s (f, "wizard.choose-disk-image", raw));
  wait_page (f, "disk-image");
  g_assert_true (act_s (f, "wizard.disk-import", "reference"));
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_true (shows_text (f, "deleting the machine will not delete the image"));
  {
    /* A second machine of the same name is refused; another name is fine */
    GtkEditable *name = entry_of (f, _("Name"));
    const char *first = viv_machine_get_name (viv_library_find (f->library, config->uuid));

    gtk_editable_set_text (name, first);
    g_assert_false (action_enabled (f, "wizard.create"));
    g_assert_true (shows_text (f, "Another machine is called"));
    gtk_editable_set_text (name, "");
    g_assert_false (action_enabled (f, "wizard.create"));
    g_assert_true (shows_text (f, _("The machine needs a name")));
    gtk_editable_set_text (name, "Where It Is");
    g_assert_true (action_enabled (f, "wizard.create"));
  }
  g_clear_pointer (&config, viv_machine_config_free);
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;

    g_assert_true (act (f, "wizard.create"));
    WAIT_UNTIL (f->created != NULL && f->wizard == NULL, TIMEOUT_MS);
    g_assert_nonnull (f->created);
    path = g_build_filename (viv_machine_get_directory (f->created),
                             VIV_MACHINE_CONFIG_FILE_NAME, NULL);
    config = viv_machine_config_load (path, &error);
    g_assert_no_error (error);
  }
  g_assert_cmpstr (config->name, ==, "Where It Is");
  copy = disk_path (f, config, 0);
  g_assert_cmpstr (copy, ==, raw);
  viv_test_check_with_qemu_img (copy, "raw", 64 * MIB);
  g_assert_cmpuint (count_machine_dirs (), ==, 2);
}

static char *
disk_import (Fixture *f)
{
  char *import = NULL;

  g_object_get (f->wizard, "disk-import", &import, NULL);
  return import;
}

/* Issue 15: an image on a read-only file system, used where it is, was
 * accepted without a word and failed at every start ("Read-only file
 * system"). Now "Use the Image Where It Is" says why it cannot, and the
 * image is copied instead. */
static void
test_disk_image_read_only (Fixture       *f,
                           gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *dir = g_build_filename (root, "read-only", NULL);
  g_autofree char *image = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *import = NULL;
  GtkWidget *row;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  image = make_image ("read-only/shared.qcow2", "qcow2", GIB);
  if (!viv_test_mount_read_only (dir, &reason))
    {
      g_test_skip (reason);
      return;
    }

  /* Chosen to be used where it is, before the image */
  g_assert_true (act_s (f, "wizard.disk-import", "reference"));
  g_assert_true (act_s (f, "wizard.choose-disk-image", image));
  wait_page (f, "disk-image");
  import = disk_import (f);
  g_assert_cmpstr (import, ==, "copy");
  row = find_row (f, ADW_TYPE_ACTION_ROW, _("Use the Image Where It Is"));
  g_assert_nonnull (row);
  g_assert_true (gtk_widget_has_css_class (row, "warning"));
  g_assert_false (gtk_widget_get_sensitive (adw_action_row_get_activatable_widget (
    ADW_ACTION_ROW (row))));
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), ==,
                   _("The disk image is on a read-only file system: a machine cannot change "
                     "it there, so it has to be copied"));
  g_assert_true (action_enabled (f, "wizard.next"));
  shoot (GTK_WIDGET (f->wizard), "wizard-disk-image-read-only");

  /* Asked again: still copied */
  g_assert_true (act_s (f, "wizard.disk-import", "reference"));
  g_clear_pointer (&import, g_free);
  import = disk_import (f);
  g_assert_cmpstr (import, ==, "copy");
  g_assert_cmpint (viv_machine_creator_get_source (viv_wizard_get_creator (f->wizard)), ==,
                   VIV_CREATOR_SOURCE_DISK_IMAGE);

  /* Another image, writable, may be used where it is again */
  {
    g_autofree char *other = make_image ("writable.qcow2", "qcow2", GIB);

    g_assert_true (act_s (f, "wizard.choose-disk-image", other));
    wait_page (f, "disk-image");
    g_assert_false (gtk_widget_has_css_class (row, "warning"));
    g_assert_true (gtk_widget_get_sensitive (adw_action_row_get_activatable_widget (
      ADW_ACTION_ROW (row))));
    g_assert_true (act_s (f, "wizard.disk-import", "reference"));
    g_clear_pointer (&import, g_free);
    import = disk_import (f);
    g_assert_cmpstr (import, ==, "reference");
  }
  g_assert_cmpint (umount2 (dir, MNT_DETACH), ==, 0);
}

/* A kernel of one's own: its files checked before going on; the probe
 * guest, where it can run, starts at once and shows on its page */
static void
test_kernel (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *missing = g_build_filename (root, "no-such-kernel", NULL);
  g_autoptr(VivMachineConfig) config = NULL;
  const char *kernel = have_kvm ? probe_path : VIV_TEST_NETBOOT_KERNEL;
  const char *cmdline = have_kvm ? "mode=idle" : "console=ttyS0";

  if (!g_file_test (kernel, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("no kernel to boot: neither the probe guest (with /dev/kvm) nor Debian's "
                   "debian-installer-12-netboot-amd64");
      return;
    }

  g_assert_true (act (f, "wizard.show-kernel"));
  wait_page (f, "kernel");
  g_assert_false (action_enabled (f, "wizard.next"));   /* no kernel yet */

  /* One that is not there: it says so and stays */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->wizard), "wizard.choose-kernel",
                                             "(sss)", missing, "", ""));
  g_assert_true (action_enabled (f, "wizard.next"));
  g_assert_true (act (f, "wizard.next"));
  WAIT_UNTIL (!viv_wizard_get_busy (f->wizard), TIMEOUT_MS);
  g_assert_cmpstr (page (f), ==, "kernel");
  g_assert_true (shows_text (f, "no-such-kernel"));
  shoot (GTK_WIDGET (f->wizard), "wizard-kernel-error");

  /* A file that is not a kernel: the engine's words, now rather than at start */
  {
    g_autofree char *text = g_build_filename (root, "notes.txt", NULL);

    g_assert_true (g_file_set_contents (text, "not a kernel\n", -1, NULL));
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->wizard), "wizard.choose-kernel",
                                               "(sss)", text, "", ""));
    g_assert_true (act (f, "wizard.next"));
    WAIT_UNTIL (!viv_wizard_get_busy (f->wizard) && shows_text (f, "notes.txt"), TIMEOUT_MS);
    g_assert_cmpstr (page (f), ==, "kernel");
    g_assert_true (shows_text (f, "notes.txt"));
    g_assert_true (shows_text (f, "not a kernel"));
    shoot (GTK_WIDGET (f->wizard), "wizard-kernel-not-kernel");
    g_unlink (text);
  }

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->wizard), "wizard.choose-kernel",
                                             "(sss)", kernel, "", cmdline));
  shoot (GTK_WIDGET (f->wizard), "wizard-kernel");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  /* A kernel may do without a disk */
  gtk_spin_button_set_value (spin_of (f, _("_Memory")), 64);
  gtk_spin_button_set_value (spin_of (f, _("_Processors")), 1);
  gtk_spin_button_set_value (spin_of (f, _("_Disk Size")), 0);
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_nonnull (strstr (row_subtitle (f, _("Kernel")), kernel));
  g_assert_nonnull (strstr (row_subtitle (f, _("Resources")), _("no disk")));
  g_assert_true (gtk_widget_get_sensitive (find_row (f, ADW_TYPE_ACTION_ROW,
                                                     _("_Start the Machine"))));
  /* Named from the kernel's file, not "New Machine" */
  {
    g_autofree char *proposed = viv_machine_name_from_file (kernel);

    g_assert_nonnull (proposed);
    g_assert_cmpstr (gtk_editable_get_text (entry_of (f, _("Name"))), ==, proposed);
    g_assert_cmpstr (gtk_editable_get_text (entry_of (f, _("Name"))), !=, _("New Machine"));
    shoot (GTK_WIDGET (f->wizard), "wizard-kernel-review-name");
  }
  gtk_editable_set_text (entry_of (f, _("Name")), "Probe");
  g_object_set (f->wizard, "start-machine", have_kvm, NULL);
  shoot (GTK_WIDGET (f->wizard), "wizard-kernel-review");

  config = create (f);
  g_assert_cmpstr (config->name, ==, "Probe");
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_KERNEL);
  g_assert_cmpstr (config->boot.kernel, ==, kernel);
  g_assert_cmpstr (config->boot.cmdline, ==, cmdline);
  g_assert_null (config->boot.initrd);
  g_assert_cmpuint (config->memory, ==, 64 * MIB);
  g_assert_cmpuint (config->disks->len, ==, 0);
  g_assert_cmpint (f->created_start, ==, have_kvm);

  if (!have_kvm)
    {
      g_test_message ("SKIP: /dev/kvm, VIVARIUM_VMM or VIVARIUM_PROBE_ELF is missing: the "
                      "new machine is not started");
      return;
    }
  /* Started at once, on its page, its console showing the probe */
  WAIT_UNTIL (viv_machine_get_state (f->created) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->created), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_cmpstr (viv_window_get_view (f->window), ==, "machine");
  g_assert_true (viv_window_get_current_machine (f->window) == f->created);
}

/* GRUB's menu in VGA text mode (720x400, 9x16 cells): the highlighted first
 * entry is a light bar across text row 4 (as tests/vmm/spice_screen.py) */
static gboolean
shows_grub_menu (gpointer display)
{
  g_autoptr(GdkTexture) texture = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (display));
  g_autofree guint32 *pixels = NULL;
  guint lit = 0, total = 0;

  if (texture == NULL || gdk_texture_get_width (texture) != 720 ||
      gdk_texture_get_height (texture) != 400)
    return FALSE;
  pixels = g_new (guint32, 720 * 400);
  gdk_texture_download (texture, (guchar *) pixels, 720 * 4);
  for (int y = 4 * 16 + 6; y < 4 * 16 + 10; y++)
    for (int x = 27; x < 630; x++)
      {
        guint32 p = pixels[y * 720 + x];
        guint r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;

        total++;
        lit += MAX (r, MAX (g, b)) > 0x60;
      }
  return lit * 10 > total * 8;
}

/* ...and drawn to its last entry (row 12), for the screenshot */
static gboolean
shows_whole_grub_menu (gpointer display)
{
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree guint32 *pixels = NULL;
  guint lit = 0;

  if (!shows_grub_menu (display))
    return FALSE;
  texture = viv_remote_display_dup_screen (VIV_REMOTE_DISPLAY (display));
  pixels = g_new (guint32, 720 * 400);
  gdk_texture_download (texture, (guchar *) pixels, 720 * 4);
  for (int y = 12 * 16; y < 13 * 16; y++)
    for (int x = 27; x < 300; x++)
      lit += (pixels[y * 720 + x] & 0xe0e0e0) != 0;
  return lit > 50;
}

static gboolean
chooser_has_file (GtkWidget *chooser,
                  GFile     *file)
{
  g_autoptr(GFile) chosen = NULL;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  chosen = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
  G_GNUC_END_IGNORE_DEPRECATIONS
  return chosen != NULL && g_file_equal (chosen, file);
}

/* machine.json's first CD-ROM drive: 1 with a disc in, 0 empty, -1 when
 * the file cannot be read or has no drive */
static int
saved_disc_state (const char *dir)
{
  g_autoptr(VivMachineConfig) config = viv_machine_config_load_dir (dir, NULL);

  if (config == NULL || config->media->len == 0)
    return -1;
  return ((const VivMediaConfig *) g_ptr_array_index (config->media, 0))->inserted;
}

/* The promise: an ISO the wizard does not recognise (Debian's GRUB
 * rescue CD: no kernel it knows) is created with firmware boot, started,
 * and boots to its own menu in the app's console. A minute of emulated
 * real-mode code on a nested KVM: run only when VIVARIUM_TEST_GRUB is set
 * (the app-firmware test, one build). */
static void
test_grub_rescue (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  static const char iso[] = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso";
  g_autoptr(VivMachineConfig) config = NULL;
  VivMachinePage *page;
  VivDisplay *display;

  if (g_getenv ("VIVARIUM_TEST_GRUB") == NULL)
    {
      g_test_skip ("a minute long: runs as app-firmware (VIVARIUM_TEST_GRUB=1)");
      return;
    }
  if (!have_kvm || !g_file_test (iso, G_FILE_TEST_EXISTS) ||
      !g_file_test ("/usr/share/seabios/bios-256k.bin", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("needs /dev/kvm, Debian's seabios and grub-rescue-pc");
      return;
    }

  g_assert_true (act_s (f, "wizard.choose-iso", iso));
  wait_page (f, "media");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_cmpint (viv_machine_creator_get_source (viv_wizard_get_creator (f->wizard)), ==,
                   VIV_CREATOR_SOURCE_ISO_FIRMWARE);
  g_object_set (f->wizard, "start-machine", TRUE, NULL);
  config = create (f);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_FIRMWARE);
  g_assert_true (f->created_start);

  /* Started, on its page, the screen showing SeaBIOS and then GRUB */
  WAIT_UNTIL (viv_machine_get_state (f->created) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->created), ==, VIV_MACHINE_STATE_RUNNING);
  page = viv_window_get_machine_page (f->window);
  g_assert_true (viv_window_get_current_machine (f->window) == f->created);
  display = viv_machine_page_get_display (page);
  g_assert_nonnull (display);
  g_assert_true (viv_test_wait_for (shows_grub_menu, display, 600000));
  viv_test_wait_for (shows_whole_grub_menu, display, 20000);
  shoot (GTK_WIDGET (f->window), "app-grub-rescue-menu");

  /* Eject Disc on the running machine: the drive empties in the helper
   * (its Media property) and in machine.json; Insert Disc… then opens a
   * file chooser for disc images, and the disc picked goes back in */
  {
    const char *dir = viv_machine_get_directory (f->created);
    g_autoptr(VivMachineConfig) saved = NULL;
    const VivMediaConfig *media;
    GtkWidget *chooser;
    g_autoptr(GFile) file = g_file_new_for_path (iso);

    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.eject-disc", NULL));
    WAIT_UNTIL (viv_machine_get_disc (f->created) == NULL, TIMEOUT_MS);
    g_assert_null (viv_machine_get_disc (f->created));
    WAIT_UNTIL (saved_disc_state (dir) == 0, TIMEOUT_MS);
    g_assert_cmpint (saved_disc_state (dir), ==, 0);
    saved = viv_machine_config_load_dir (dir, NULL);
    media = g_ptr_array_index (saved->media, 0);
    g_assert_null (media->path);
    g_assert_cmpint (viv_machine_get_state (f->created), ==, VIV_MACHINE_STATE_RUNNING);
    shoot (GTK_WIDGET (f->window), "app-grub-rescue-ejected");

    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.insert-disc", NULL));
    WAIT_UNTIL (viv_test_find_toplevel (GTK_TYPE_FILE_CHOOSER) != NULL, TIMEOUT_MS);
    chooser = viv_test_find_toplevel (GTK_TYPE_FILE_CHOOSER);
    g_assert_nonnull (chooser);
    g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (chooser)) ==
                   GTK_WINDOW (f->window));
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    g_assert_cmpstr (gtk_file_filter_get_name (gtk_file_chooser_get_filter (
                       GTK_FILE_CHOOSER (chooser))), ==, _("Disc Images"));
    g_assert_true (gtk_file_chooser_set_file (GTK_FILE_CHOOSER (chooser), file, NULL));
    /* selected once the chooser has loaded the folder */
    WAIT_UNTIL (chooser_has_file (chooser, file), TIMEOUT_MS);
    g_assert_true (chooser_has_file (chooser, file));
    gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
    G_GNUC_END_IGNORE_DEPRECATIONS
    WAIT_UNTIL (g_strcmp0 (viv_machine_get_disc (f->created), iso) == 0, TIMEOUT_MS);
    g_assert_cmpstr (viv_machine_get_disc (f->created), ==, iso);
    WAIT_UNTIL (saved_disc_state (dir) == 1, TIMEOUT_MS);
    g_assert_cmpint (saved_disc_state (dir), ==, 1);
  }

  /* Stop it, so the fixture finds nothing running */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.force-off", NULL));
  WAIT_UNTIL (viv_machine_get_state (f->created) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
}

/* An operating system from the list: an empty disk of the size it wants,
 * for its installer later; the firmware would start it */
static void
test_os (Fixture       *f,
         gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = NULL;
  g_autofree char *disk = NULL;
  VivOsResources resources;

  g_assert_true (act_s (f, "wizard.choose-os", DEBIAN_11));
  wait_page (f, "review");
  g_assert_cmpstr (gtk_editable_get_text (entry_of (f, _("Name"))), ==, "Debian 11");
  g_assert_cmpstr (row_subtitle (f, _("Starts From")), ==,
                   _("An empty disk, to install the system on from its installer"));
  shoot (GTK_WIDGET (f->wizard), "wizard-os-review");

  /* Back goes to the resources, then the first page */
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "source");
  g_assert_true (act_s (f, "wizard.choose-os", DEBIAN_11));
  wait_page (f, "review");

  config = create (f);
  viv_os_get_resources (find_os (DEBIAN_11), &resources);
  g_assert_cmpstr (config->name, ==, "Debian 11");
  g_assert_cmpstr (config->osinfo, ==, DEBIAN_11);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_FIRMWARE);
  g_assert_cmpuint (config->media->len, ==, 0);
  g_assert_cmpuint (config->memory, ==, resources.memory);
  g_assert_cmpuint (config->cpus, ==, resources.cpus);
  disk = disk_path (f, config, 0);
  viv_test_check_with_qemu_img (disk, "qcow2", resources.disk);

  /* A second one gets a name of its own */
  g_clear_object (&f->created);
  open_wizard (f);
  g_assert_true (act_s (f, "wizard.choose-os", DEBIAN_11));
  wait_page (f, "review");
  g_assert_cmpstr (gtk_editable_get_text (entry_of (f, _("Name"))), ==, "Debian 11 (2)");
}

/* Every size the wizard shows, in one convention (viv-size.c): binary
 * units, the largest one in which the number is at least 1 (so below 1024),
 * one decimal at most and no ".0". Returns how many sizes it saw. */
static guint
assert_sizes_follow_one_convention (Fixture *f)
{
  g_autoptr(GPtrArray) labels = viv_test_find_all (GTK_WIDGET (f->wizard), GTK_TYPE_LABEL);
  /* g_format_size() puts a no-break space before the unit */
  g_autoptr(GRegex) size_re = g_regex_new ("([0-9]+(?:[.,][0-9]+)?)[ \\x{00a0}\\x{202f}]?"
                                           "(bytes?|[kKMGTP]i?B)\\b",
                                           0, 0, NULL);
  guint seen = 0;

  for (guint i = 0; i < labels->len; i++)
    {
      const char *text = gtk_label_get_label (labels->pdata[i]);
      g_autoptr(GMatchInfo) match = NULL;

      if (!gtk_widget_is_drawable (labels->pdata[i]))
        continue;
      g_regex_match (size_re, text, 0, &match);
      for (; g_match_info_matches (match); g_match_info_next (match, NULL))
        {
          g_autofree char *number = g_match_info_fetch (match, 1);
          g_autofree char *unit = g_match_info_fetch (match, 2);
          const char *point = strpbrk (number, ".,");

          g_test_message ("size shown: %s %s (in “%s”)", number, unit, text);
          g_assert_true (g_str_has_prefix (unit, "byte") || strcmp (unit, "KiB") == 0 ||
                         strcmp (unit, "MiB") == 0 || strcmp (unit, "GiB") == 0 ||
                         strcmp (unit, "TiB") == 0);
          g_assert_cmpfloat (g_ascii_strtod (number, NULL), <, 1024.0);
          if (point != NULL)
            {
              g_assert_cmpint (strlen (point + 1), ==, 1);
              g_assert_cmpint (point[1], !=, '0');
            }
          seen++;
        }
    }
  return seen;
}

/* Issue 15: "Up to 12052 MiB" beside "4 GiB", "84.2 GB free" beside "25
 * GiB", "a 500 GiB disk" beside "can grow to 536.9 GB". One convention now,
 * rounded for people where the size is only read. */
static void
test_units (Fixture       *f,
            gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *max_text = viv_size_format (viv_host_get_max_guest_memory ());
  g_autofree char *up_to = g_strdup_printf (_("Up to %s, half of this computer’s memory"),
                                            max_text);

  g_assert_true (act_s (f, "wizard.choose-os", DEBIAN_11));
  wait_page (f, "review");
  g_assert_true (act (f, "wizard.back"));
  wait_page (f, "resources");
  g_assert_cmpstr (row_subtitle (f, _("_Memory")), ==, up_to);
  /* A disk larger than any free space here: the warning compares sizes */
  gtk_spin_button_set_value (spin_of (f, _("_Disk Size")), 65536);
  WAIT_UNTIL (shows_text (f, "64 TiB"), TIMEOUT_MS);
  g_assert_true (shows_text (f, "64 TiB"));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (spin_of (f, _("_Disk Size")))), ==,
                   "64 TiB");
  /* the free space, once known, in the same units */
  WAIT_UNTIL (strstr (row_subtitle (f, _("_Disk Size")), "free") != NULL, TIMEOUT_MS);
  g_assert_cmpuint (assert_sizes_follow_one_convention (f), >=, 4);
  shoot (GTK_WIDGET (f->wizard), "wizard-units-resources");

  gtk_spin_button_set_value (spin_of (f, _("_Disk Size")), 500);
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");
  g_assert_nonnull (strstr (row_subtitle (f, _("Resources")), "500 GiB"));
  g_assert_cmpuint (assert_sizes_follow_one_convention (f), >=, 2);
  shoot (GTK_WIDGET (f->wizard), "wizard-units-review");
}

/* --- creating, stopped or failing ------------------------------------------------ */

typedef struct
{
  GMutex      lock;
  GCond       cond;
  const char *block_at;   /* the step that waits for the test */
  const char *fail_at;    /* the step that fails */
  gboolean    blocked;
  gboolean    released;
} Gate;

/* The creator's test hook, in its worker thread */
static gboolean
gate_hook (const char  *step,
           gpointer     user_data,
           GError     **error)
{
  Gate *gate = user_data;

  if (gate->fail_at != NULL && strcmp (step, gate->fail_at) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "Injected failure at %s",
                   step);
      return FALSE;
    }
  if (gate->block_at != NULL && strcmp (step, gate->block_at) == 0)
    {
      g_mutex_lock (&gate->lock);
      gate->blocked = TRUE;
      while (!gate->released)
        g_cond_wait (&gate->cond, &gate->lock);
      g_mutex_unlock (&gate->lock);
    }
  return TRUE;
}

static gboolean
gate_blocked (Gate *gate)
{
  gboolean blocked;

  g_mutex_lock (&gate->lock);
  blocked = gate->blocked;
  g_mutex_unlock (&gate->lock);
  return blocked;
}

static void
gate_release (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  gate->released = TRUE;
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
}

/* Creating shows its progress and can be cancelled; a cancelled or failed
 * creation leaves nothing behind and comes back to the review, which says
 * what happened; Create then works */
static void
test_create_stopped (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  Gate gate = { .block_at = "disk" };
  g_autoptr(VivMachineConfig) config = NULL;

  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);

  g_assert_true (act_s (f, "wizard.choose-os", DEBIAN_11));
  wait_page (f, "review");

  /* Stopped while it makes the disk */
  viv_machine_creator_set_test_hook (viv_wizard_get_creator (f->wizard), gate_hook, &gate);
  g_assert_true (act (f, "wizard.create"));
  WAIT_UNTIL (gate_blocked (&gate), TIMEOUT_MS);
  g_assert_true (gate_blocked (&gate));
  g_assert_cmpstr (page (f), ==, "creating");
  g_assert_true (viv_wizard_get_busy (f->wizard));
  g_assert_false (action_enabled (f, "wizard.back"));
  /* The stage, from the worker thread through the main loop */
  WAIT_UNTIL (shows_text (f, _("Creating the disk")), TIMEOUT_MS);
  g_assert_true (shows_text (f, _("Creating the disk")));
  shoot (GTK_WIDGET (f->wizard), "wizard-creating");
  g_assert_true (act (f, "wizard.cancel"));   /* Escape, or the Cancel button */
  gate_release (&gate);
  wait_page (f, "review");
  g_assert_nonnull (f->wizard);               /* still open */
  g_assert_true (shows_text (f, _("Cancelled: nothing was created")));
  g_assert_null (f->created);
  g_assert_cmpuint (count_machine_dirs (), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);

  /* Failing while it saves the machine */
  gate.block_at = NULL;
  gate.fail_at = "config";
  g_assert_true (act (f, "wizard.create"));
  wait_page (f, "review");
  {
    g_autofree char *message = g_strdup_printf (_("The machine could not be created: %s"),
                                                "Injected failure at config");

    g_assert_true (shows_text (f, message));
  }
  shoot (GTK_WIDGET (f->wizard), "wizard-create-error");
  g_assert_null (f->created);
  g_assert_cmpuint (count_machine_dirs (), ==, 0);
  viv_machine_creator_set_test_hook (viv_wizard_get_creator (f->wizard), NULL, NULL);

  /* Again, nothing in the way */
  config = create (f);
  g_assert_cmpstr (config->name, ==, "Debian 11");

  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
}

/* A copy slow enough for a rate: the first two reports of the copy take
 * 1.6 s each, the third waits for the test */
typedef struct
{
  Gate  gate;
  guint progress_calls;   /* in the worker only */
} SlowCopy;

static gboolean
slow_copy_hook (const char  *step,
                gpointer     user_data,
                GError     **error)
{
  SlowCopy *slow = user_data;

  if (strcmp (step, "progress") != 0)
    return TRUE;
  slow->progress_calls++;
  if (slow->progress_calls < 3)
    g_usleep (G_USEC_PER_SEC * 16 / 10);
  else if (slow->progress_calls == 3)
    return gate_hook (step, &slow->gate, error);
  return TRUE;
}

/* Copying a disk image shows how much is copied, of how much, and once
 * the rate says something, the time left */
static void
test_copy_progress (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *image = g_build_filename (root, "dense.img", NULL);
  g_autofree char *contents = g_malloc (64 * MIB);
  SlowCopy slow = { .gate = { .block_at = "progress" } };
  VivMachineCreator *creator;
  g_autofree char *done_text = NULL;
  g_autofree char *total_text = NULL;
  g_autofree char *without_time = NULL;
  GtkLabel *label = NULL;

  g_mutex_init (&slow.gate.lock);
  g_cond_init (&slow.gate.cond);

  /* Data all along, no holes: a report every few megabytes */
  memset (contents, 0x5a, 64 * MIB);
  g_assert_true (g_file_set_contents (image, contents, 64 * MIB, NULL));
  g_assert_true (act_s (f, "wizard.choose-disk-image", image));
  wait_page (f, "disk-image");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "resources");
  g_assert_true (act (f, "wizard.next"));
  wait_page (f, "review");

  creator = viv_wizard_get_creator (f->wizard);
  viv_machine_creator_set_test_hook (creator, slow_copy_hook, &slow);
  g_assert_true (act (f, "wizard.create"));
  WAIT_UNTIL (gate_blocked (&slow.gate) || f->wizard == NULL, TIMEOUT_MS);
  if (f->wizard == NULL)
    {
      /* A file system that clones files copied it in one go */
      g_test_skip ("the image was copied at once: no progress to show");
      goto out;
    }
  g_assert_true (gate_blocked (&slow.gate));
  g_assert_cmpstr (page (f), ==, "creating");

  /* The third report, through the main loop */
  WAIT_UNTIL (viv_machine_creator_get_seconds_left (creator) >= 0, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_creator_get_seconds_left (creator), >=, 0);
  g_assert_cmpuint (viv_machine_creator_get_bytes_total (creator), ==, 64 * MIB);
  g_assert_cmpuint (viv_machine_creator_get_bytes_done (creator), >, 0);
  g_assert_cmpuint (viv_machine_creator_get_bytes_done (creator), <, 64 * MIB);
  done_text = viv_size_format (viv_machine_creator_get_bytes_done (creator));
  total_text = viv_size_format (64 * MIB);
  without_time = g_strdup_printf (C_("copy progress", "%s of %s"), done_text, total_text);
  {
    g_autoptr(GPtrArray) labels = viv_test_find_all (GTK_WIDGET (f->wizard), GTK_TYPE_LABEL);

    for (guint i = 0; i < labels->len && label == NULL; i++)
      if (gtk_widget_is_drawable (labels->pdata[i]) &&
          strstr (gtk_label_get_label (labels->pdata[i]), total_text) != NULL)
        label = labels->pdata[i];
  }
  g_assert_nonnull (label);
  g_test_message ("shown: %s", gtk_label_get_label (label));
  g_assert_nonnull (strstr (gtk_label_get_label (label), done_text));
  /* and the time left too */
  g_assert_cmpstr (gtk_label_get_label (label), !=, without_time);
  g_assert_true (shows_text (f, _("Copying the disk image")));
  shoot (GTK_WIDGET (f->wizard), "wizard-copying");

  gate_release (&slow.gate);
  WAIT_UNTIL (f->created != NULL && f->wizard == NULL, TIMEOUT_MS);
  g_assert_nonnull (f->created);
  g_assert_cmpuint (count_machine_dirs (), ==, 1);

out:
  g_mutex_clear (&slow.gate.lock);
  g_cond_clear (&slow.gate.cond);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  viv_test_private_mounts ();
  root = viv_test_ui_init (&argc, &argv);
  if (g_getenv ("LANGUAGE") != NULL && g_str_has_prefix (g_getenv ("LANGUAGE"), "ru"))
    shot_suffix = "-ru";

  if (!viv_test_make_isos (root, &isos, &no_isos_reason))
    g_printerr ("# SKIP: the disc tests skip: %s\n", no_isos_reason);

  have_kvm = viv_test_can_run_machines (&probe_path,
                                        "the kernel test does not start its machine");

  the_app = viv_test_app_new ();
  /* the machine page shows running machines' screens */
  viv_test_spice_warnings_not_fatal ();

#define ADD(name, fn) g_test_add ("/wizard/" name, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("source", test_source);
  ADD ("iso", test_iso);
  ADD ("iso-newer", test_iso_newer);
  ADD ("iso-unknown", test_iso_unknown);
  ADD ("iso-firmware", test_iso_firmware);
  ADD ("grub-rescue", test_grub_rescue);
  ADD ("iso-errors", test_iso_errors);
  ADD ("drop", test_drop);
  ADD ("not-regular", test_not_regular);
  ADD ("disk-image", test_disk_image);
  ADD ("disk-image-read-only", test_disk_image_read_only);
  ADD ("kernel", test_kernel);
  ADD ("os", test_os);
  ADD ("units", test_units);
  ADD ("create-stopped", test_create_stopped);
  ADD ("copy-progress", test_copy_progress);
#undef ADD

  status = g_test_run ();

  g_application_release (G_APPLICATION (the_app));
  g_clear_object (&the_app);
  viv_os_db_shutdown ();
  viv_test_isos_clear (&isos);
  g_free (no_isos_reason);
  viv_test_finish (root);
  return status;
}
