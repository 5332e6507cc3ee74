/* test-collection.c: the real app under Xvfb with a library of machines
 *
 * Each test starts from the same library, made by the test in a private
 * XDG_DATA_HOME: "Probe" boots the probe guest (tests/guest/) in its idle
 * mode, where it prints "tick N" on COM1 and powers off when the ACPI power
 * button is pressed; "Plain Debian" is a stopped machine that says it runs
 * Debian 11; a third folder holds a machine.json that cannot be read. The
 * tests drive the app through its actions, as its menus, buttons and keys
 * do, and save screenshots in the build folder's tests/screenshots.
 *
 * Where /dev/kvm (or the helper, or the probe) is missing, the tests that
 * run a machine skip, saying why.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <locale.h>

#include "viv-application.h"
#include "viv-helper.h"
#include "viv-host.h"
#include "viv-machine-preferences.h"
#include "viv-machine-tile.h"
#include "viv-os-catalog.h"
#include "viv-port-forward-dialog.h"
#include "viv-serial-console.h"
#include "viv-test-ui.h"
#include "viv-window.h"
#include "viv-test-util.h"
#include "viv-file.h"

#define TIMEOUT_MS   20000
#define MIB          (G_GUINT64_CONSTANT (1) << 20)
#define BROKEN_NAME  "broken-machine"

static VivApplication *the_app;
static char *root;
static const char *probe_path;
static gboolean have_kvm;

typedef struct
{
  VivWindow  *window;
  VivLibrary *library;
  VivMachine *probe;
  VivMachine *plain;
  VivMachine *broken;
} Fixture;

/* --- waiting ------------------------------------------------------------------- */

static void
frames (Fixture *f,
        guint    n)
{
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), n, 10000));
}

static void
shoot (GtkWidget  *widget,
       const char *name)
{
  g_autofree char *path = NULL;

  g_assert_true (viv_test_wait_for_frames (widget, 20, 10000));
  path = viv_test_screenshot (widget, name);
  g_assert_nonnull (path);
}

/* --- the library ----------------------------------------------------------------- */

static char *
machines_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "vivarium", "machines", NULL);
}

static VivMachine *
create (VivLibrary       *library,
        VivMachineConfig *config)
{
  g_autoptr(VivMachineConfig) owned = config;
  g_autoptr(GError) error = NULL;
  VivMachine *machine = viv_library_create_machine (library, config, &error);

  g_assert_no_error (error);
  return machine;
}

static gboolean
need_kvm (void)
{
  if (!have_kvm)
    {
      g_test_skip ("/dev/kvm is missing or not accessible, or VIVARIUM_VMM or "
                   "VIVARIUM_PROBE_ELF is not set: no machine can run here");
      return FALSE;
    }
  return TRUE;
}

/* --- the window ------------------------------------------------------------------- */

static VivMachineTile *
tile_of (Fixture    *f,
         VivMachine *machine)
{
  return viv_collection_view_find_tile (viv_window_get_collection (f->window), machine);
}

static guint
count_tiles (Fixture *f)
{
  g_autoptr(GPtrArray) tiles = viv_test_find_all (GTK_WIDGET (viv_window_get_collection (f->window)),
                                                  VIV_TYPE_MACHINE_TILE);
  guint n = 0;

  for (guint i = 0; i < tiles->len; i++)
    if (gtk_widget_get_mapped (tiles->pdata[i]) &&
        viv_machine_tile_get_machine (tiles->pdata[i]) != NULL)
      n++;
  return n;
}

static const char *
tile_state (Fixture    *f,
            VivMachine *machine)
{
  VivMachineTile *tile = tile_of (f, machine);

  return tile != NULL ? viv_machine_tile_get_state_text (tile) : NULL;
}

static gboolean
activate (Fixture    *f,
          const char *action,
          VivMachine *machine)
{
  if (machine == NULL)
    return gtk_widget_activate_action (GTK_WIDGET (f->window), action, NULL);
  return gtk_widget_activate_action (GTK_WIDGET (f->window), action, "s",
                                     viv_machine_get_uuid (machine));
}

static gboolean
has_label (GtkWidget  *root_widget,
           const char *text)
{
  return viv_test_find_widget (root_widget, GTK_TYPE_LABEL, text) != NULL;
}

static gboolean
label_contains (GtkWidget  *root_widget,
                const char *part)
{
  g_autoptr(GPtrArray) labels = viv_test_find_all (root_widget, GTK_TYPE_LABEL);

  for (guint i = 0; i < labels->len; i++)
    if (gtk_widget_get_mapped (labels->pdata[i]) &&
        strstr (gtk_label_get_label (labels->pdata[i]), part) != NULL)
      return TRUE;
  return FALSE;
}

static void
open_window (Fixture *f)
{
  g_application_activate (G_APPLICATION (the_app));
  f->window = VIV_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (the_app)));
  g_assert_nonnull (f->window);
  g_object_add_weak_pointer (G_OBJECT (f->window), (gpointer *) &f->window);
  frames (f, 3);
}

static char *
console_text (Fixture *f)
{
  VivMachinePage *page = viv_window_get_machine_page (f->window);

  return viv_serial_console_dup_text (viv_machine_page_get_console (page));
}

static gboolean
console_has (Fixture    *f,
             const char *part)
{
  g_autofree char *text = console_text (f);

  return strstr (text, part) != NULL;
}

static GtkTextView *
console_view (Fixture *f)
{
  VivMachinePage *page = viv_window_get_machine_page (f->window);

  return GTK_TEXT_VIEW (viv_test_find_widget (GTK_WIDGET (page), GTK_TYPE_TEXT_VIEW, NULL));
}

/* The last line is on screen. Asked after a frame, when the lines on
 * screen are laid out: a line the text view has not laid out yet has no
 * height, and would look on screen at the bottom edge. */
static gboolean
console_end_in_sight (gpointer data)
{
  GtkTextView *view = console_view (data);
  GtkTextIter end;
  GdkRectangle line, visible;

  gtk_text_buffer_get_end_iter (gtk_text_view_get_buffer (view), &end);
  gtk_text_view_get_iter_location (view, &end, &line);
  gtk_text_view_get_visible_rect (view, &visible);
  return line.height > 0 && line.y >= visible.y &&
         line.y + line.height <= visible.y + visible.height;
}

/* A user dragging the console's scrollbar to the bottom; whether the end
 * is in sight (for viv_test_wait_for_painted) */
static gboolean
drag_console_to_end (gpointer data)
{
  GtkTextView *view = console_view (data);
  GtkAdjustment *adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (view));

  gtk_adjustment_set_value (adjustment, gtk_adjustment_get_upper (adjustment) -
                                        gtk_adjustment_get_page_size (adjustment));
  return console_end_in_sight (data);
}

/* Waits until a frame shows the end of the console's text */
static void
wait_console_end (Fixture *f)
{
  g_assert_true (viv_test_wait_for_painted (GTK_WIDGET (f->window), console_end_in_sight, f,
                                            TIMEOUT_MS));
}

/* Prints N lines, the last one LAST, and waits until the console has them */
static void
print_burst (Fixture           *f,
             VivTestFakeHelper *helper,
             guint              n,
             const char        *last)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint i = 1; i < n; i++)
    g_string_append_printf (text, "output line %u of a burst\n", i);
  g_string_append_printf (text, "%s\n", last);
  viv_test_fake_helper_print (helper, text->str);
  WAIT_UNTIL (console_has (f, last), TIMEOUT_MS);
  g_assert_true (console_has (f, last));
}

/* --- thumbnails ------------------------------------------------------------------- */

/* The tile's picture of MACHINE, whether it shows or not */
static GtkPicture *
tile_picture (Fixture    *f,
              VivMachine *machine)
{
  VivMachineTile *tile = tile_of (f, machine);
  g_autoptr(GPtrArray) pictures = NULL;

  if (tile == NULL)
    return NULL;
  pictures = viv_test_find_all (GTK_WIDGET (tile), GTK_TYPE_PICTURE);
  g_assert_cmpuint (pictures->len, ==, 1);
  return pictures->pdata[0];
}

/* (nullable): the thumbnail the tile shows: its picture's texture, when the
 * picture is what the tile shows */
static GdkTexture *
tile_thumbnail (Fixture    *f,
                VivMachine *machine)
{
  GtkPicture *picture = tile_picture (f, machine);
  GdkPaintable *paintable;

  if (picture == NULL || !gtk_widget_get_mapped (GTK_WIDGET (picture)))
    return NULL;
  paintable = gtk_picture_get_paintable (picture);
  return GDK_IS_TEXTURE (paintable) ? GDK_TEXTURE (paintable) : NULL;
}

static gboolean
tile_shows_placeholder (Fixture    *f,
                        VivMachine *machine)
{
  VivMachineTile *tile = tile_of (f, machine);
  g_autoptr(GPtrArray) images = viv_test_find_all (GTK_WIDGET (tile), GTK_TYPE_IMAGE);
  gboolean shown = FALSE;

  for (guint i = 0; i < images->len; i++)
    if (gtk_widget_has_css_class (images->pdata[i], "placeholder-icon"))
      shown = gtk_widget_get_mapped (images->pdata[i]);
  return shown && tile_thumbnail (f, machine) == NULL;
}

/* The tile shows a thumbnail, dimmed */
/* The size of the tile's thumbnail frame, what it shows in it aside */
static void
frame_size (Fixture    *f,
            VivMachine *machine,
            int        *width,
            int        *height)
{
  GtkWidget *frame = gtk_widget_get_parent (GTK_WIDGET (tile_picture (f, machine)));

  *width = gtk_widget_get_width (frame);
  *height = gtk_widget_get_height (frame);
}

static gboolean
tile_dimmed (Fixture    *f,
             VivMachine *machine)
{
  return tile_thumbnail (f, machine) != NULL &&
         gtk_widget_has_css_class (GTK_WIDGET (tile_picture (f, machine)), "dimmed");
}

static GBytes *
pixels_of (GdkTexture *texture)
{
  gsize stride = (gsize) gdk_texture_get_width (texture) * 4;
  gsize size = stride * (gsize) gdk_texture_get_height (texture);
  guchar *data = g_malloc (size);

  gdk_texture_download (texture, data, stride);
  return g_bytes_new_take (data, size);
}

static gboolean
same_pixels (GdkTexture *a,
             GdkTexture *b)
{
  g_autoptr(GBytes) pa = NULL;
  g_autoptr(GBytes) pb = NULL;

  if (a == NULL || b == NULL)
    return a == b;
  if (gdk_texture_get_width (a) != gdk_texture_get_width (b) ||
      gdk_texture_get_height (a) != gdk_texture_get_height (b))
    return FALSE;
  pa = pixels_of (a);
  pb = pixels_of (b);
  return g_bytes_equal (pa, pb);
}

/* (nullable): MACHINE's thumbnail.png on disk now, decoded */
static GdkTexture *
thumbnail_on_disk (VivMachine *machine)
{
  g_autofree char *path = g_build_filename (viv_machine_get_directory (machine),
                                            "thumbnail.png", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);

  return gdk_texture_new_from_file (file, NULL);
}

/* The tile shows the thumbnail.png on disk, and it is not NOT (nullable) */
static gboolean
tile_shows_disk_thumbnail (Fixture    *f,
                           VivMachine *machine,
                           GdkTexture *not)
{
  GdkTexture *shown = tile_thumbnail (f, machine);
  g_autoptr(GdkTexture) on_disk = NULL;

  if (shown == NULL || (not != NULL && same_pixels (shown, not)))
    return FALSE;
  on_disk = thumbnail_on_disk (machine);
  return on_disk != NULL && same_pixels (shown, on_disk);
}

/* A W × H PNG of one colour */
static GBytes *
solid_png (int     width,
           int     height,
           guint32 argb)
{
  gsize stride = (gsize) width * 4;
  g_autofree guint32 *data = g_new (guint32, (gsize) width * height);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  for (gsize i = 0; i < (gsize) width * height; i++)
    data[i] = argb;
  bytes = g_bytes_new (data, stride * height);
  texture = gdk_memory_texture_new (width, height, GDK_MEMORY_DEFAULT, bytes, stride);
  return gdk_texture_save_to_png_bytes (texture);
}

/* As the helper writes it: a new file, then renamed over the old one */
static void
replace_thumbnail (VivMachine *machine,
                   GBytes     *png)
{
  g_autofree char *path = g_build_filename (viv_machine_get_directory (machine),
                                            "thumbnail.png", NULL);
  g_autofree char *temporary = g_strconcat (path, ".new", NULL);

  g_assert_true (g_file_set_contents (temporary, g_bytes_get_data (png, NULL),
                                      (gssize) g_bytes_get_size (png), NULL));
  g_assert_cmpint (g_rename (temporary, path), ==, 0);
}

/* --- fixture ------------------------------------------------------------------------ */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) probe = NULL;
  g_autoptr(VivMachineConfig) plain = NULL;
  g_autofree char *dir = machines_dir ();
  g_autofree char *broken_dir = g_build_filename (dir, BROKEN_NAME, NULL);
  g_autofree char *broken_json = g_build_filename (broken_dir, "machine.json", NULL);

  f->library = viv_application_get_library (the_app);
  WAIT_UNTIL (viv_library_get_loaded (f->library), TIMEOUT_MS);
  g_assert_true (viv_library_get_loaded (f->library));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);

  probe = viv_machine_config_new ("Probe", 64 * MIB, 1);
  probe->boot.kind = VIV_BOOT_KIND_KERNEL;
  probe->boot.kernel = g_strdup (probe_path != NULL ? probe_path : "/nonexistent/probe.elf");
  probe->boot.cmdline = g_strdup ("mode=idle");
  probe->devices.rng = FALSE;
  f->probe = create (f->library, g_steal_pointer (&probe));

  plain = viv_machine_config_new ("Plain Debian", 64 * MIB, 1);
  plain->osinfo = g_strdup ("http://debian.org/debian/11");
  f->plain = create (f->library, g_steal_pointer (&plain));

  /* As another program (or a bad disk) would leave it */
  g_assert_cmpint (g_mkdir_with_parents (broken_dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (broken_json, "{ \"version\": 1, \"name\": ", -1, NULL));
  WAIT_UNTIL (viv_library_find (f->library, BROKEN_NAME) != NULL, TIMEOUT_MS);
  f->broken = viv_library_find (f->library, BROKEN_NAME);
  g_assert_nonnull (f->broken);
  WAIT_UNTIL (viv_machine_get_state (f->broken) == VIV_MACHINE_STATE_BROKEN, TIMEOUT_MS);

  /* The OS names come from osinfo-db, read in a worker thread */
  WAIT_UNTIL (viv_os_catalog_get_loaded (viv_os_catalog_get_default ()), TIMEOUT_MS);

  open_window (f);
  WAIT_UNTIL (g_strcmp0 (viv_window_get_visible_page (f->window), "collection") == 0 &&
              count_tiles (f) == 3, TIMEOUT_MS);
  g_assert_cmpstr (viv_window_get_visible_page (f->window), ==, "collection");
}

static void
close_other_windows (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = g_list_model_get_n_items (toplevels); i > 0; i--)
    {
      g_autoptr(GtkWidget) window = g_list_model_get_item (toplevels, i - 1);

      if (!VIV_IS_WINDOW (window))
        gtk_window_destroy (GTK_WINDOW (window));
    }
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *dir = machines_dir ();
  g_autofree char *trash = g_build_filename (g_get_user_data_dir (), "Trash", NULL);

  close_other_windows ();
  viv_test_stop_machines (f->library);
  if (f->window != NULL)
    gtk_window_destroy (GTK_WINDOW (f->window));
  while (g_main_context_iteration (NULL, FALSE))
    ;

  /* The library follows the folder: it empties as the folders go (the
   * folder itself stays: the library watches it) */
  {
    g_autoptr(GDir) machines = g_dir_open (dir, 0, NULL);
    const char *name;

    while (machines != NULL && (name = g_dir_read_name (machines)) != NULL)
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);

        viv_file_remove_tree (path);
      }
  }
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (f->library)) == 0, TIMEOUT_MS);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);
  viv_file_remove_tree (trash);
}

/* --- tests ---------------------------------------------------------------------------- */

static void
test_tiles (Fixture       *f,
            gconstpointer  data G_GNUC_UNUSED)
{
  VivMachineTile *broken, *plain;
  GtkWidget *collection = GTK_WIDGET (viv_window_get_collection (f->window));

  g_assert_cmpuint (count_tiles (f), ==, 3);

  /* The names, the OS, the state */
  g_assert_true (has_label (collection, "Probe"));
  g_assert_true (has_label (collection, "Plain Debian"));
  g_assert_true (has_label (collection, BROKEN_NAME));
  plain = tile_of (f, f->plain);
  g_assert_nonnull (plain);
  g_assert_true (has_label (GTK_WIDGET (plain), "Debian 11"));
  g_assert_cmpstr (tile_state (f, f->plain), ==, C_("machine state", "Off"));

  /* The broken one says so, in the error style, with the reason at hand */
  broken = tile_of (f, f->broken);
  g_assert_nonnull (broken);
  g_assert_cmpstr (viv_machine_tile_get_state_text (broken), ==, C_("machine state", "Broken"));
  g_assert_nonnull (gtk_widget_get_tooltip_text (GTK_WIDGET (broken)));
  g_assert_cmpstr (gtk_widget_get_tooltip_text (GTK_WIDGET (broken)), ==,
                   viv_machine_get_broken_reason (f->broken));
  {
    GtkWidget *label = viv_test_find_widget (GTK_WIDGET (broken), GTK_TYPE_LABEL,
                                             C_("machine state", "Broken"));

    g_assert_nonnull (label);
    g_assert_true (gtk_widget_has_css_class (label, "error"));
  }

  shoot (GTK_WIDGET (f->window), "collection-grid");

  /* Its page says why it cannot be used */
  g_assert_true (activate (f, "win.open-machine", f->broken));
  WAIT_UNTIL (g_strcmp0 (viv_window_get_view (f->window), "machine") == 0, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_page_get_content (viv_window_get_machine_page (f->window)), ==,
                   "problem");
  shoot (GTK_WIDGET (f->window), "machine-page-broken");
  g_assert_true (activate (f, "win.back", NULL));
  g_assert_cmpstr (viv_window_get_view (f->window), ==, "library");
  /* Escape and Alt+Left do nothing more on the library page */
  activate (f, "win.back", NULL);
  g_assert_cmpstr (viv_window_get_view (f->window), ==, "library");
}

static void
test_list_view (Fixture       *f,
                gconstpointer  data G_GNUC_UNUSED)
{
  VivCollectionView *collection = viv_window_get_collection (f->window);
  GSettings *settings = viv_application_get_settings (the_app);
  g_autofree char *mode = NULL;

  g_assert_cmpstr (viv_collection_view_get_view_mode (collection), ==, "grid");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.view-mode", "s",
                                             "list"));
  g_assert_cmpstr (viv_collection_view_get_view_mode (collection), ==, "list");
  mode = g_settings_get_string (settings, "view-mode");
  g_assert_cmpstr (mode, ==, "list");

  WAIT_UNTIL (count_tiles (f) == 3, TIMEOUT_MS);
  g_assert_cmpuint (count_tiles (f), ==, 3);
  g_assert_true (viv_machine_tile_get_compact (tile_of (f, f->plain)));
  shoot (GTK_WIDGET (f->window), "collection-list");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.view-mode", "s",
                                             "grid"));
  g_assert_cmpstr (viv_collection_view_get_view_mode (collection), ==, "grid");
  WAIT_UNTIL (count_tiles (f) == 3, TIMEOUT_MS);
  g_assert_false (viv_machine_tile_get_compact (tile_of (f, f->plain)));
}

static void
test_search (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  VivCollectionView *collection = viv_window_get_collection (f->window);
  GtkWidget *bar = viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_SEARCH_BAR, NULL);
  GtkWidget *entry = viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_SEARCH_ENTRY, NULL);

  g_assert_nonnull (bar);
  g_assert_nonnull (entry);
  g_assert_false (gtk_search_bar_get_search_mode (GTK_SEARCH_BAR (bar)));

  /* Ctrl+F */
  g_assert_true (activate (f, "win.search", NULL));
  g_assert_true (gtk_search_bar_get_search_mode (GTK_SEARCH_BAR (bar)));

  gtk_editable_set_text (GTK_EDITABLE (entry), "deb");
  WAIT_UNTIL (viv_collection_view_get_n_items (collection) == 1, TIMEOUT_MS);
  g_assert_cmpuint (viv_collection_view_get_n_items (collection), ==, 1);
  WAIT_UNTIL (count_tiles (f) == 1, TIMEOUT_MS);
  g_assert_nonnull (tile_of (f, f->plain));
  shoot (GTK_WIDGET (f->window), "collection-search");

  gtk_editable_set_text (GTK_EDITABLE (entry), "no such machine");
  WAIT_UNTIL (g_strcmp0 (viv_window_get_visible_page (f->window), "no-results") == 0,
              TIMEOUT_MS);
  g_assert_cmpstr (viv_window_get_visible_page (f->window), ==, "no-results");
  shoot (GTK_WIDGET (f->window), "collection-no-results");

  /* Closing the search shows everything again */
  g_assert_true (activate (f, "win.search", NULL));
  WAIT_UNTIL (viv_collection_view_get_n_items (collection) == 3, TIMEOUT_MS);
  g_assert_cmpuint (viv_collection_view_get_n_items (collection), ==, 3);
  g_assert_cmpstr (viv_window_get_visible_page (f->window), ==, "collection");
}

static void
test_context_menu (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  VivCollectionView *collection = viv_window_get_collection (f->window);
  VivMachineTile *tile;
  GtkPopover *menu;

  /* The Menu key (or Shift+F10) opens the focused tile's menu */
  g_assert_true (viv_collection_view_focus_machine (collection, f->plain));
  tile = viv_collection_view_get_focused_tile (collection);
  g_assert_nonnull (tile);
  g_assert_true (viv_machine_tile_get_machine (tile) == f->plain);
  g_assert_true (viv_window_get_current_machine (f->window) == f->plain);

  g_assert_true (activate (f, "win.context-menu", NULL));
  menu = viv_machine_tile_get_menu (tile);
  g_assert_nonnull (menu);
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (menu)), TIMEOUT_MS);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (menu)));
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (menu), 10, 10000));
  frames (f, 10);
  g_assert_true (label_contains (GTK_WIDGET (menu), "Start") ||
                 has_label (GTK_WIDGET (menu), _("_Start")));
  g_free (viv_test_screenshot_with_popover (GTK_WIDGET (f->window), GTK_WIDGET (menu),
                                            "context-menu"));
  gtk_popover_popdown (menu);

  /* The menu for a machine that cannot be used offers no start */
  {
    g_autoptr(GMenuModel) model = viv_machine_menu_new (f->broken, TRUE);
    gboolean has_start = FALSE;

    for (int s = 0; s < g_menu_model_get_n_items (model); s++)
      {
        g_autoptr(GMenuModel) section = g_menu_model_get_item_link (model, s, G_MENU_LINK_SECTION);

        for (int i = 0; i < g_menu_model_get_n_items (section); i++)
          {
            g_autofree char *action = NULL;

            g_menu_model_get_item_attribute (section, i, G_MENU_ATTRIBUTE_ACTION, "s", &action);
            if (g_strcmp0 (action, "win.start-machine") == 0)
              has_start = TRUE;
          }
      }
    g_assert_false (has_start);
  }
}

/* Every machine action has a key, on the window */
static void
test_keys (Fixture       *f,
           gconstpointer  data G_GNUC_UNUSED)
{
  static const char *wanted[] = {
    "start-machine", "pause-machine", "shutdown-machine", "force-off-machine",
    "reset-machine", "rename-machine", "machine-preferences", "show-machine-log",
    "delete-machine",
  };
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  GListModel *controllers = gtk_widget_observe_controllers (GTK_WIDGET (f->window));
  GtkApplication *app = GTK_APPLICATION (the_app);
  g_auto(GStrv) accels = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

      if (!GTK_IS_SHORTCUT_CONTROLLER (controller))
        continue;
      for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (controller)); j++)
        {
          g_autoptr(GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (controller), j);
          GVariant *args = gtk_shortcut_get_arguments (shortcut);

          if (args != NULL && g_variant_is_of_type (args, G_VARIANT_TYPE_STRING))
            g_ptr_array_add (found, g_variant_dup_string (args, NULL));
        }
    }
  g_object_unref (controllers);

  for (guint i = 0; i < G_N_ELEMENTS (wanted); i++)
    {
      gboolean ok = g_ptr_array_find_with_equal_func (found, wanted[i], g_str_equal, NULL);

      if (!ok)
        g_test_message ("no key for %s", wanted[i]);
      g_assert_true (ok);
    }

  accels = gtk_application_get_accels_for_action (app, "win.search");
  g_assert_cmpstr (accels[0], ==, "<Control>f");
  g_clear_pointer (&accels, g_strfreev);
  accels = gtk_application_get_accels_for_action (app, "win.view-mode::list");
  g_assert_cmpstr (accels[0], ==, "<Control>2");
}

static GtkWidget *
wait_dialog (void)
{
  GtkWidget *dialog = NULL;

  WAIT_UNTIL ((dialog = viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG)) != NULL, TIMEOUT_MS);
  g_assert_nonnull (dialog);
  g_assert_true (viv_test_wait_for_frames (dialog, 10, 10000));
  return dialog;
}

static void
test_rename (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  g_assert_true (activate (f, "win.rename-machine", f->plain));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  entry = viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_ENTRY, NULL);
  g_assert_nonnull (entry);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (entry)), ==, "Plain Debian");
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "rename"));

  /* An empty name is refused, and the dialog says why */
  gtk_editable_set_text (GTK_EDITABLE (entry), "   ");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "rename"));
  g_assert_true (has_label (GTK_WIDGET (dialog), _("The name must not be empty")));
  g_assert_true (gtk_widget_has_css_class (entry, "error"));
  shoot (GTK_WIDGET (dialog), "rename-dialog-invalid");

  gtk_editable_set_text (GTK_EDITABLE (entry), "Renamed Debian");
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "rename"));
  shoot (GTK_WIDGET (dialog), "rename-dialog");
  viv_test_dialog_respond (dialog, "rename");

  WAIT_UNTIL (g_strcmp0 (viv_machine_get_name (f->plain), "Renamed Debian") == 0, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_get_name (f->plain), ==, "Renamed Debian");
  WAIT_UNTIL (has_label (GTK_WIDGET (f->window), "Renamed Debian"), TIMEOUT_MS);
  g_assert_true (has_label (GTK_WIDGET (f->window), "Renamed Debian"));
  WAIT_UNTIL (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) == NULL, TIMEOUT_MS);
}

static void
test_delete_undo (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *folder = g_strdup (viv_machine_get_directory (f->plain));
  g_autofree char *uuid = g_strdup (viv_machine_get_uuid (f->plain));
  g_autofree char *toast = NULL;
  g_autofree char *dir = machines_dir ();
  g_autofree char *set_aside = g_build_filename (dir, ".deleted", uuid, NULL);

  /* Deleted at once, with an undo */
  g_assert_true (activate (f, "win.delete-machine", f->plain));
  g_assert_null (viv_library_find (f->library, uuid));
  g_assert_false (g_file_test (folder, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (set_aside, G_FILE_TEST_IS_DIR));
  WAIT_UNTIL (count_tiles (f) == 2, TIMEOUT_MS);
  g_assert_cmpuint (count_tiles (f), ==, 2);
  toast = g_strdup_printf (_("“%s” deleted"), "Plain Debian");
  WAIT_UNTIL (has_label (GTK_WIDGET (f->window), toast), TIMEOUT_MS);
  g_assert_true (has_label (GTK_WIDGET (f->window), toast));
  shoot (GTK_WIDGET (f->window), "delete-toast");

  g_assert_true (activate (f, "win.undo-delete", NULL));
  g_assert_nonnull (viv_library_find (f->library, uuid));
  g_assert_true (g_file_test (folder, G_FILE_TEST_IS_DIR));
  WAIT_UNTIL (count_tiles (f) == 3, TIMEOUT_MS);
  g_assert_cmpuint (count_tiles (f), ==, 3);
  f->plain = viv_library_find (f->library, uuid);

  /* Deleted again, and the window closes: the delete is final (the
   * folder goes to the trash) */
  g_assert_true (activate (f, "win.delete-machine", f->plain));
  g_assert_true (g_file_test (set_aside, G_FILE_TEST_IS_DIR));
  gtk_window_destroy (GTK_WINDOW (f->window));
  g_assert_null (f->window);
  WAIT_UNTIL (!g_file_test (set_aside, G_FILE_TEST_EXISTS), TIMEOUT_MS);
  g_assert_false (g_file_test (set_aside, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (folder, G_FILE_TEST_EXISTS));
}

/* Closes the toast shown, as its close button (or its time-out) does */
static void
close_toast (Fixture *f)
{
  g_autoptr(GPtrArray) buttons = viv_test_find_all (GTK_WIDGET (f->window), GTK_TYPE_BUTTON);

  for (guint i = 0; i < buttons->len; i++)
    {
      GtkWidget *parent = gtk_widget_get_parent (buttons->pdata[i]);

      if (parent != NULL && g_strcmp0 (gtk_widget_get_css_name (parent), "toast") == 0 &&
          gtk_widget_get_mapped (buttons->pdata[i]) &&
          gtk_widget_has_css_class (buttons->pdata[i], "circular"))
        {
          g_assert_true (gtk_widget_activate (buttons->pdata[i]));
          return;
        }
    }
  g_assert_not_reached ();
}

/* Two deletes in a row, the second while the first one's toast still
 * slides in (libadwaita 1.2 crashed when that toast was dismissed for a
 * new one): one toast says both, and undoes or commits both */
static void
test_delete_two (Fixture       *f,
                 gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *plain = g_strdup (viv_machine_get_uuid (f->plain));
  g_autofree char *probe = g_strdup (viv_machine_get_uuid (f->probe));
  g_autofree char *plain_folder = g_strdup (viv_machine_get_directory (f->plain));
  g_autofree char *probe_folder = g_strdup (viv_machine_get_directory (f->probe));
  g_autofree char *dir = machines_dir ();
  g_autofree char *plain_aside = g_build_filename (dir, ".deleted", plain, NULL);
  g_autofree char *probe_aside = g_build_filename (dir, ".deleted", probe, NULL);
  g_autofree char *two = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u machine deleted",
                                                       "%u machines deleted", 2), 2);

  /* Undo brings both back; a few times, as the crash did not come every
   * time */
  for (guint round = 0; round < 4; round++)
    {
      WAIT_UNTIL (count_tiles (f) == 3, TIMEOUT_MS);
      f->plain = viv_library_find (f->library, plain);
      f->probe = viv_library_find (f->library, probe);
      g_assert_true (activate (f, "win.delete-machine", f->plain));
      frames (f, 1 + round);      /* its toast slides in for 300 ms */
      g_assert_true (activate (f, "win.delete-machine", f->probe));
      g_assert_true (g_file_test (plain_aside, G_FILE_TEST_IS_DIR));
      g_assert_true (g_file_test (probe_aside, G_FILE_TEST_IS_DIR));
      WAIT_UNTIL (count_tiles (f) == 1 && has_label (GTK_WIDGET (f->window), two), TIMEOUT_MS);
      g_assert_true (has_label (GTK_WIDGET (f->window), two));
      g_assert_cmpuint (count_tiles (f), ==, 1);
      if (round == 0)
        shoot (GTK_WIDGET (f->window), "delete-two-toast");
      /* in, as it is when a click on Undo finds it (dismissed while it
       * slides in, a toast breaks libadwaita 1.2's next one) */
      frames (f, 40);

      g_assert_true (activate (f, "win.undo-delete", NULL));
      g_assert_nonnull (viv_library_find (f->library, plain));
      g_assert_nonnull (viv_library_find (f->library, probe));
      g_assert_true (g_file_test (plain_folder, G_FILE_TEST_IS_DIR));
      g_assert_true (g_file_test (probe_folder, G_FILE_TEST_IS_DIR));
      WAIT_UNTIL (count_tiles (f) == 3, TIMEOUT_MS);
      g_assert_cmpuint (count_tiles (f), ==, 3);
    }
  f->plain = viv_library_find (f->library, plain);
  f->probe = viv_library_find (f->library, probe);

  /* Again, and the toast goes: both deletes are final (to the trash) */
  g_assert_true (activate (f, "win.delete-machine", f->plain));
  frames (f, 2);
  g_assert_true (activate (f, "win.delete-machine", f->probe));
  WAIT_UNTIL (has_label (GTK_WIDGET (f->window), two), TIMEOUT_MS);
  g_assert_true (has_label (GTK_WIDGET (f->window), two));
  frames (f, 40);     /* in, as it is when its time-out comes */
  close_toast (f);
  WAIT_UNTIL (!g_file_test (plain_aside, G_FILE_TEST_EXISTS) &&
              !g_file_test (probe_aside, G_FILE_TEST_EXISTS), TIMEOUT_MS);
  g_assert_false (g_file_test (plain_aside, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (probe_aside, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (plain_folder, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (probe_folder, G_FILE_TEST_EXISTS));
  g_assert_null (viv_library_find (f->library, plain));
  g_assert_null (viv_library_find (f->library, probe));
  g_assert_cmpuint (count_tiles (f), ==, 1);
}

static VivMachinePreferences *
wait_preferences (void)
{
  GtkWidget *preferences = NULL;

  WAIT_UNTIL ((preferences = viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES)) != NULL,
              TIMEOUT_MS);
  g_assert_nonnull (preferences);
  g_assert_true (viv_test_wait_for_frames (preferences, 10, 10000));
  return VIV_MACHINE_PREFERENCES (preferences);
}

static void
show_page (VivMachinePreferences *preferences,
           const char            *page,
           const char            *shot)
{
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (preferences), page);
  WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
  shoot (GTK_WIDGET (preferences), shot);
}

static void
test_preferences (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  VivMachinePreferences *preferences;
  g_autoptr(GPtrArray) spins = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  const VivMachineConfig *config;
  GtkAdjustment *memory, *cpus;

  g_assert_true (activate (f, "win.machine-preferences", f->plain));
  preferences = wait_preferences ();
  g_assert_true (viv_machine_preferences_get_machine (preferences) == f->plain);

  /* Bounded by this computer */
  spins = viv_test_find_all (GTK_WIDGET (preferences), GTK_TYPE_SPIN_BUTTON);
  g_assert_cmpuint (spins->len, ==, 2);
  memory = gtk_spin_button_get_adjustment (spins->pdata[0]);
  cpus = gtk_spin_button_get_adjustment (spins->pdata[1]);
  g_assert_cmpfloat (gtk_adjustment_get_value (memory), ==, 64);
  g_assert_cmpfloat (gtk_adjustment_get_upper (memory), ==, (double) (viv_host_memory () / MIB));
  g_assert_cmpfloat (gtk_adjustment_get_upper (cpus), ==, (double) viv_host_cpus ());
  g_assert_cmpfloat (gtk_adjustment_get_value (cpus), ==, 1);

  show_page (preferences, "general", "preferences-general");

  /* Memory and processors: saved once the spinning stops */
  gtk_spin_button_set_value (spins->pdata[0], 256);
  gtk_spin_button_set_value (spins->pdata[1], viv_host_cpus ());
  WAIT_UNTIL (viv_machine_get_config (f->plain)->memory == 256 * MIB &&
              viv_machine_get_config (f->plain)->cpus == viv_host_cpus (), TIMEOUT_MS);
  config = viv_machine_get_config (f->plain);
  g_assert_cmpuint (config->memory, ==, 256 * MIB);
  g_assert_cmpuint (config->cpus, ==, viv_host_cpus ());

  /* The name, through the entry row's apply button */
  entries = viv_test_find_all (GTK_WIDGET (preferences), ADW_TYPE_ENTRY_ROW);
  /* name, kernel, initrd, command line; the Network page's tap device and MAC address */
  g_assert_cmpuint (entries->len, ==, 6);
  gtk_editable_set_text (GTK_EDITABLE (entries->pdata[0]), "");
  g_assert_true (gtk_widget_has_css_class (entries->pdata[0], "error"));
  gtk_editable_set_text (GTK_EDITABLE (entries->pdata[0]), "Debian Eleven");
  g_assert_false (gtk_widget_has_css_class (entries->pdata[0], "error"));
  g_signal_emit_by_name (entries->pdata[0], "apply");
  WAIT_UNTIL (g_strcmp0 (viv_machine_get_name (f->plain), "Debian Eleven") == 0, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_get_name (f->plain), ==, "Debian Eleven");

  /* The boot source: a kernel, with its command line */
  {
    GtkWidget *combo = viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_COMBO_ROW, NULL);

    g_assert_nonnull (combo);
    g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (combo)), ==, 0);
    g_assert_false (gtk_widget_get_visible (entries->pdata[1]));
    adw_combo_row_set_selected (ADW_COMBO_ROW (combo), 1);
    g_assert_true (gtk_widget_get_visible (entries->pdata[1]));
    /* no kernel yet: nothing saved, the row asks for one */
    g_assert_true (gtk_widget_has_css_class (entries->pdata[1], "error"));
    gtk_editable_set_text (GTK_EDITABLE (entries->pdata[1]), "/boot/vmlinuz-test");
    gtk_editable_set_text (GTK_EDITABLE (entries->pdata[3]), "console=ttyS0 quiet");
    g_signal_emit_by_name (entries->pdata[3], "apply");
    WAIT_UNTIL (viv_machine_get_config (f->plain)->boot.kind == VIV_BOOT_KIND_KERNEL,
                TIMEOUT_MS);
    config = viv_machine_get_config (f->plain);
    g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_KERNEL);
    g_assert_cmpstr (config->boot.kernel, ==, "/boot/vmlinuz-test");
    g_assert_cmpstr (config->boot.cmdline, ==, "console=ttyS0 quiet");
    g_assert_null (config->boot.initrd);
  }
  show_page (preferences, "boot", "preferences-boot");
  show_page (preferences, "disks", "preferences-disks");
  show_page (preferences, "troubleshooting", "preferences-troubleshooting");

  /* Never ran: no log to copy */
  {
    g_autofree char *log = viv_machine_preferences_dup_log (preferences);

    g_assert_null (log);
  }

  gtk_window_close (GTK_WINDOW (preferences));
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);

  /* It was written to disk */
  {
    g_autofree char *path = g_build_filename (viv_machine_get_directory (f->plain),
                                              "machine.json", NULL);
    g_autoptr(VivMachineConfig) on_disk = viv_machine_config_load (path, NULL);

    g_assert_nonnull (on_disk);
    g_assert_cmpstr (on_disk->name, ==, "Debian Eleven");
    g_assert_cmpuint (on_disk->memory, ==, 256 * MIB);
    g_assert_cmpstr (on_disk->boot.kernel, ==, "/boot/vmlinuz-test");
  }
}

/* The Disks page lists the disc image too (machine.json's "media"), after
 * the disks: with direct kernel boot as a read-only disk, with firmware as
 * the CD-ROM drive's disc */
static void
test_preferences_disc (Fixture       *f,
                       gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = viv_machine_config_new ("Live Disc", 64 * MIB, 1);
  VivMachinePreferences *preferences;
  VivMachine *machine;
  GtkWidget *disc;

  config->boot.kind = VIV_BOOT_KIND_KERNEL;
  config->boot.kernel = g_strdup ("/boot/vmlinuz-test");
  g_ptr_array_add (config->disks, viv_disk_config_new ("disk.qcow2", VIV_DISK_FORMAT_QCOW2));
  g_ptr_array_add (config->media, viv_media_config_new ("/srv/discs/live-system.iso",
                                                        VIV_MEDIA_KIND_CDROM));
  machine = create (f->library, g_steal_pointer (&config));

  g_assert_true (activate (f, "win.machine-preferences", machine));
  preferences = wait_preferences ();
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (preferences), "disks");

  disc = viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_ACTION_ROW, "live-system.iso");
  g_assert_nonnull (disc);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (disc)), ==,
                   "/srv/discs/live-system.iso");
  g_assert_true (has_label (disc, _("Disc Image")));
  g_assert_true (has_label (disc, _("Read-Only")));
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_ACTION_ROW,
                                          "disk.qcow2"));
  /* a machine with a disk has no "No Disks" row */
  g_assert_null (viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_ACTION_ROW,
                                       _("No Disks")));
  show_page (preferences, "disks", "preferences-disks-disc");
  gtk_window_close (GTK_WINDOW (preferences));
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);

  /* Started by its firmware: the CD-ROM drive, its disc and Eject */
  config = viv_machine_config_new ("Installer", 64 * MIB, 1);
  config->boot.kind = VIV_BOOT_KIND_FIRMWARE;
  config->boot.firmware = VIV_FIRMWARE_BIOS;
  g_ptr_array_add (config->media, viv_media_config_new ("/srv/discs/installer.iso",
                                                        VIV_MEDIA_KIND_CDROM));
  machine = create (f->library, g_steal_pointer (&config));
  g_assert_true (activate (f, "win.machine-preferences", machine));
  preferences = wait_preferences ();
  disc = viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_ACTION_ROW,
                               _("CD-ROM Drive"));
  g_assert_nonnull (disc);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (disc)), ==,
                   "/srv/discs/installer.iso");
  g_assert_nonnull (viv_test_find_widget (disc, GTK_TYPE_BUTTON, _("_Eject")));
  show_page (preferences, "disks", "preferences-disks-drive");
  gtk_window_close (GTK_WINDOW (preferences));
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);

  /* Without a disk, the disc is what it has: no "No Disks" row either */
  config = viv_machine_config_new ("Disc Only", 64 * MIB, 1);
  config->boot.kind = VIV_BOOT_KIND_KERNEL;
  config->boot.kernel = g_strdup ("/boot/vmlinuz-test");
  g_ptr_array_add (config->media, viv_media_config_new ("live.iso", VIV_MEDIA_KIND_CDROM));
  machine = create (f->library, g_steal_pointer (&config));
  g_assert_true (activate (f, "win.machine-preferences", machine));
  preferences = wait_preferences ();
  disc = viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_ACTION_ROW, "live.iso");
  g_assert_nonnull (disc);
  g_assert_true (g_str_has_prefix (adw_action_row_get_subtitle (ADW_ACTION_ROW (disc)),
                                   viv_machine_get_directory (machine)));
  g_assert_null (viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_ACTION_ROW,
                                       _("No Disks")));
  gtk_window_close (GTK_WINDOW (preferences));
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);
}

/* --- the Network page ----------------------------------------------------------------- */

static VivMachineConfig *
config_on_disk (VivMachine *machine)
{
  g_autofree char *path = g_build_filename (viv_machine_get_directory (machine), "machine.json",
                                            NULL);
  g_autoptr(GError) error = NULL;
  VivMachineConfig *config = viv_machine_config_load (path, &error);

  g_assert_no_error (error);
  return config;
}

/* The page's rows, by their titles */
static GtkWidget *
row (VivMachinePreferences *preferences,
     GType                  type,
     const char            *title)
{
  GtkWidget *widget = viv_test_find_widget (GTK_WIDGET (preferences), type, title);

  g_assert_nonnull (widget);
  return widget;
}

static GtkWidget *
group (VivMachinePreferences *preferences,
       const char            *title)
{
  g_autoptr(GPtrArray) groups = viv_test_find_all (GTK_WIDGET (preferences),
                                                   ADW_TYPE_PREFERENCES_GROUP);

  for (guint i = 0; i < groups->len; i++)
    if (g_strcmp0 (adw_preferences_group_get_title (groups->pdata[i]), title) == 0)
      return groups->pdata[i];
  g_assert_not_reached ();
}

static VivPortForwardDialog *
wait_forward_dialog (void)
{
  GtkWidget *dialog = NULL;

  WAIT_UNTIL ((dialog = viv_test_find_toplevel (VIV_TYPE_PORT_FORWARD_DIALOG)) != NULL,
              TIMEOUT_MS);
  g_assert_nonnull (dialog);
  g_assert_true (viv_test_wait_for_frames (dialog, 5, 10000));
  return VIV_PORT_FORWARD_DIALOG (dialog);
}

static void
wait_forward_dialog_gone (void)
{
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_PORT_FORWARD_DIALOG) == NULL, TIMEOUT_MS);
  g_assert_null (viv_test_find_toplevel (VIV_TYPE_PORT_FORWARD_DIALOG));
}

/* The dialog's spin buttons: the host's port, then the machine's */
static GtkSpinButton *
dialog_spin (VivPortForwardDialog *dialog,
             guint                 i)
{
  g_autoptr(GPtrArray) spins = viv_test_find_all (GTK_WIDGET (dialog), GTK_TYPE_SPIN_BUTTON);

  g_assert_cmpuint (spins->len, ==, 2);
  return spins->pdata[i];
}

/* Enter in a spin button: the dialog's default button */
static void
press_enter (GtkSpinButton *spin)
{
  g_assert_true (gtk_widget_grab_focus (GTK_WIDGET (spin)));
  gtk_widget_activate_default (GTK_WIDGET (spin));
}

static guint
n_forwards (VivMachine *machine)
{
  return viv_machine_get_config (machine)->network.forwards->len;
}

static const VivPortForward *
forward_at (VivMachine *machine,
            guint       i)
{
  return g_ptr_array_index (viv_machine_get_config (machine)->network.forwards, i);
}

static gboolean
preferences_focus_reaches (GtkWidget *window,
                           GtkWidget *target)
{
  for (guint i = 0; i < 128 && !gtk_widget_has_focus (target); i++)
    if (!gtk_widget_child_focus (window, GTK_DIR_TAB_FORWARD))
      gtk_widget_child_focus (window, GTK_DIR_TAB_FORWARD);
  return gtk_widget_has_focus (target);
}

/* Whether a shortcut controller of WIDGET has KEYVAL with MODIFIERS for
 * ACTION: the key binding itself, as a key press would find it */
static gboolean
has_shortcut (GtkWidget       *widget,
              guint            keyval,
              GdkModifierType  modifiers,
              const char      *action)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

      if (!GTK_IS_SHORTCUT_CONTROLLER (controller))
        continue;
      for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (controller)); j++)
        {
          g_autoptr(GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (controller), j);
          GtkShortcutTrigger *trigger = gtk_shortcut_get_trigger (shortcut);
          GtkShortcutAction *named = gtk_shortcut_get_action (shortcut);

          if (GTK_IS_KEYVAL_TRIGGER (trigger) && GTK_IS_NAMED_ACTION (named) &&
              gtk_keyval_trigger_get_keyval (GTK_KEYVAL_TRIGGER (trigger)) == keyval &&
              gtk_keyval_trigger_get_modifiers (GTK_KEYVAL_TRIGGER (trigger)) == modifiers &&
              g_strcmp0 (gtk_named_action_get_action_name (GTK_NAMED_ACTION (named)),
                         action) == 0)
            return TRUE;
        }
    }
  return FALSE;
}

/* The popover under WIDGET that is mapped, or NULL */
static GtkWidget *
mapped_popover (GtkWidget *widget)
{
  g_autoptr(GPtrArray) popovers = viv_test_find_all (widget, GTK_TYPE_POPOVER);

  for (guint i = 0; i < popovers->len; i++)
    if (gtk_widget_get_mapped (popovers->pdata[i]))
      return popovers->pdata[i];
  return NULL;
}

/* A folder for $PATH, with a stand-in passt or without */
static char *
path_dir (gboolean with_passt)
{
  g_autofree char *dir = g_build_filename (root, with_passt ? "path-passt" : "path-empty", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  if (with_passt)
    {
      g_autofree char *passt = g_build_filename (dir, "passt", NULL);

      g_assert_true (g_file_set_contents (passt, "#!/bin/sh\nexit 1\n", -1, NULL));
      g_assert_cmpint (g_chmod (passt, 0755), ==, 0);
    }
  return g_steal_pointer (&dir);
}

/* The preferences of MACHINE, with passt installed or not */
static VivMachinePreferences *
open_network_page (Fixture    *f,
                   VivMachine *machine,
                   gboolean    with_passt)
{
  g_autofree char *old_path = g_strdup (g_getenv ("PATH"));
  g_autofree char *dir = path_dir (with_passt);
  VivMachinePreferences *preferences;

  g_setenv ("PATH", dir, TRUE);
  g_assert_true (activate (f, "win.machine-preferences", machine));
  preferences = wait_preferences ();
  if (old_path != NULL)
    g_setenv ("PATH", old_path, TRUE);
  else
    g_unsetenv ("PATH");
  g_assert_cmpint (viv_machine_preferences_get_passt_found (preferences), ==, with_passt);
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (preferences), "network");
  return preferences;
}

static void
close_preferences (VivMachinePreferences *preferences)
{
  WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
  gtk_window_close (GTK_WINDOW (preferences));
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);
}

/* The connection, a tap device's name, the MAC address: each saved as it
 * is chosen or applied, each refused in its row when machine.json would
 * refuse it */
static void
test_preferences_network (Fixture       *f,
                          gconstpointer  data G_GNUC_UNUSED)
{
  VivMachinePreferences *preferences;
  g_autoptr(VivMachineConfig) on_disk = NULL;
  g_autofree char *derived = viv_machine_config_dup_mac (viv_machine_get_config (f->plain));
  GtkWidget *connection, *tap, *mac, *forwards;

  preferences = open_network_page (f, f->plain, FALSE);
  connection = row (preferences, ADW_TYPE_COMBO_ROW, _("Connection"));
  tap = row (preferences, ADW_TYPE_ENTRY_ROW, _("Device Name"));
  mac = row (preferences, ADW_TYPE_ENTRY_ROW, _("MAC Address"));
  forwards = group (preferences, _("Port Forwards"));

  /* A new machine: shared, the MAC address derived from its UUID */
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (connection)), ==, 0);
  g_assert_false (gtk_widget_get_visible (tap));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (mac)), ==, derived);
  g_assert_true (gtk_widget_is_sensitive (forwards));
  g_assert_nonnull (viv_test_find_widget (forwards, ADW_TYPE_ACTION_ROW, _("No Port Forwards")));
  show_page (preferences, "network", "preferences-network");

  /* No network card: nothing to forward */
  adw_combo_row_set_selected (ADW_COMBO_ROW (connection), 3);
  WAIT_UNTIL (viv_machine_get_config (f->plain)->network.mode == VIV_NETWORK_MODE_NONE,
              TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_config (f->plain)->network.mode, ==, VIV_NETWORK_MODE_NONE);
  g_assert_false (gtk_widget_is_sensitive (forwards));
  g_assert_false (gtk_widget_is_sensitive (mac));
  on_disk = config_on_disk (f->plain);
  g_assert_cmpint (on_disk->network.mode, ==, VIV_NETWORK_MODE_NONE);
  g_clear_pointer (&on_disk, viv_machine_config_free);

  /* A tap device: nothing is saved until it has a name Linux takes */
  adw_combo_row_set_selected (ADW_COMBO_ROW (connection), 2);
  g_assert_true (gtk_widget_get_visible (tap));
  g_assert_true (gtk_widget_has_css_class (tap, "error"));
  gtk_editable_set_text (GTK_EDITABLE (tap), "no such/device");
  g_assert_true (gtk_widget_has_css_class (tap, "error"));
  g_signal_emit_by_name (tap, "apply");
  WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_config (f->plain)->network.mode, ==, VIV_NETWORK_MODE_NONE);
  g_assert_true (gtk_widget_has_css_class (tap, "error"));
  show_page (preferences, "network", "preferences-network-tap-invalid");
  gtk_editable_set_text (GTK_EDITABLE (tap), "tap-vivarium-net0");   /* 17 bytes: too long */
  g_assert_true (gtk_widget_has_css_class (tap, "error"));
  gtk_editable_set_text (GTK_EDITABLE (tap), "tap0");
  g_assert_false (gtk_widget_has_css_class (tap, "error"));
  g_signal_emit_by_name (tap, "apply");
  WAIT_UNTIL (viv_machine_get_config (f->plain)->network.mode == VIV_NETWORK_MODE_TAP,
              TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_config (f->plain)->network.mode, ==, VIV_NETWORK_MODE_TAP);
  g_assert_cmpstr (viv_machine_get_config (f->plain)->network.tap, ==, "tap0");
  g_assert_false (gtk_widget_is_sensitive (forwards));
  on_disk = config_on_disk (f->plain);
  g_assert_cmpint (on_disk->network.mode, ==, VIV_NETWORK_MODE_TAP);
  g_assert_cmpstr (on_disk->network.tap, ==, "tap0");
  g_clear_pointer (&on_disk, viv_machine_config_free);
  show_page (preferences, "network", "preferences-network-tap");

  /* Shared again; the tap device's name is kept for later */
  adw_combo_row_set_selected (ADW_COMBO_ROW (connection), 0);
  WAIT_UNTIL (viv_machine_get_config (f->plain)->network.mode == VIV_NETWORK_MODE_USER,
              TIMEOUT_MS);
  g_assert_false (gtk_widget_get_visible (tap));
  g_assert_true (gtk_widget_is_sensitive (forwards));
  on_disk = config_on_disk (f->plain);
  g_assert_cmpint (on_disk->network.mode, ==, VIV_NETWORK_MODE_USER);
  g_assert_cmpstr (on_disk->network.tap, ==, "tap0");
  g_clear_pointer (&on_disk, viv_machine_config_free);

  /* A multicast address is no card's; neither is half of one */
  gtk_editable_set_text (GTK_EDITABLE (mac), "01:00:5e:00:00:01");
  g_assert_true (gtk_widget_has_css_class (mac, "error"));
  g_signal_emit_by_name (mac, "apply");
  gtk_editable_set_text (GTK_EDITABLE (mac), "52:54:00:12:34");
  g_assert_true (gtk_widget_has_css_class (mac, "error"));
  g_signal_emit_by_name (mac, "apply");
  WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
  g_assert_null (viv_machine_get_config (f->plain)->network.mac);

  /* Generate: a random one with QEMU's prefix, saved at once */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.generate-mac",
                                             NULL));
  g_assert_false (gtk_widget_has_css_class (mac, "error"));
  WAIT_UNTIL (viv_machine_get_config (f->plain)->network.mac != NULL, TIMEOUT_MS);
  {
    const char *generated = viv_machine_get_config (f->plain)->network.mac;

    g_assert_nonnull (generated);
    g_assert_true (g_str_has_prefix (generated, "52:54:00:"));
    g_assert_cmpuint (strlen (generated), ==, 17);
    g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (mac)), ==, generated);
    on_disk = config_on_disk (f->plain);
    g_assert_cmpstr (on_disk->network.mac, ==, generated);
    g_clear_pointer (&on_disk, viv_machine_config_free);
  }
  /* upper case is taken, and written as machine.json writes it */
  gtk_editable_set_text (GTK_EDITABLE (mac), "52:54:00:AB:CD:EF");
  g_assert_false (gtk_widget_has_css_class (mac, "error"));
  g_signal_emit_by_name (mac, "apply");
  WAIT_UNTIL (g_strcmp0 (viv_machine_get_config (f->plain)->network.mac,
                         "52:54:00:ab:cd:ef") == 0, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_get_config (f->plain)->network.mac, ==, "52:54:00:ab:cd:ef");

  close_preferences (preferences);

  /* passt is offered where it is installed */
  preferences = open_network_page (f, f->plain, TRUE);
  connection = row (preferences, ADW_TYPE_COMBO_ROW, _("Connection"));
  adw_combo_row_set_selected (ADW_COMBO_ROW (connection), 1);
  WAIT_UNTIL (viv_machine_get_config (f->plain)->network.mode == VIV_NETWORK_MODE_PASST,
              TIMEOUT_MS);
  on_disk = config_on_disk (f->plain);
  g_assert_cmpint (on_disk->network.mode, ==, VIV_NETWORK_MODE_PASST);
  g_clear_pointer (&on_disk, viv_machine_config_free);
  g_assert_cmpstr (adw_preferences_group_get_description (ADW_PREFERENCES_GROUP (
                     group (preferences, _("Network Card")))), ==, "");
  close_preferences (preferences);

  /* ... and where it is not, a machine that uses it says so */
  preferences = open_network_page (f, f->plain, FALSE);
  connection = row (preferences, ADW_TYPE_COMBO_ROW, _("Connection"));
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (connection)), ==, 1);
  g_assert_cmpstr (adw_preferences_group_get_description (ADW_PREFERENCES_GROUP (
                     group (preferences, _("Network Card")))), ==,
                   _("passt is not installed"));
  show_page (preferences, "network", "preferences-network-passt-missing");

  /* its item in the list is there, but cannot be chosen */
  {
    GtkWidget *popover = NULL;
    GtkWidget *item;

    gtk_widget_activate (connection);
    WAIT_UNTIL ((popover = mapped_popover (connection)) != NULL, TIMEOUT_MS);
    g_assert_nonnull (popover);
    g_assert_true (viv_test_wait_for_frames (popover, 10, 10000));
    item = viv_test_find_widget (popover, GTK_TYPE_LABEL, _("passt is not installed"));
    g_assert_nonnull (item);
    g_assert_false (gtk_widget_is_sensitive (item));
    item = viv_test_find_widget (popover, GTK_TYPE_LABEL, _("Existing Tap Device"));
    g_assert_nonnull (item);
    g_assert_true (gtk_widget_is_sensitive (item));
    g_free (viv_test_screenshot_with_popover (GTK_WIDGET (preferences), popover,
                                              "preferences-network-connections"));
    gtk_popover_popdown (GTK_POPOVER (popover));
    /* gone, and its surface with it, before the window goes */
    WAIT_UNTIL (!gtk_widget_get_mapped (popover), TIMEOUT_MS);
    g_assert_false (gtk_widget_get_mapped (popover));
    g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (preferences), 5, 10000));
  }
  close_preferences (preferences);
}

/* Port forwards: added, edited and removed through the dialog and the
 * rows' buttons; a second forward of the same protocol and port is
 * refused in the dialog; ports out of 1–65535 cannot be entered */
static void
test_preferences_forwards (Fixture       *f,
                           gconstpointer  data G_GNUC_UNUSED)
{
  VivMachinePreferences *preferences;
  VivPortForwardDialog *dialog;
  g_autoptr(VivMachineConfig) on_disk = NULL;
  GtkWidget *forwards, *forward_row, *button;
  g_autofree char *title = NULL;

  preferences = open_network_page (f, f->plain, FALSE);
  forwards = group (preferences, _("Port Forwards"));

  /* Ctrl+N adds, Enter and Escape answer the dialog (the bindings; the
   * tests activate what they bind) */
  g_assert_true (has_shortcut (GTK_WIDGET (preferences), GDK_KEY_n, GDK_CONTROL_MASK,
                               "prefs.add-forward"));

  /* Ctrl+N's action, on this page only */
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (preferences), "general");
  gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.add-forward", NULL);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (preferences), 3, 10000));
  g_assert_null (viv_test_find_toplevel (VIV_TYPE_PORT_FORWARD_DIALOG));
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (preferences), "network");

  /* Add TCP 2222 → 22: ports out of range are clamped; Enter adds */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.add-forward",
                                             NULL));
  dialog = wait_forward_dialog ();
  g_assert_false (viv_port_forward_dialog_get_editing (dialog));
  g_assert_true (has_shortcut (GTK_WIDGET (dialog), GDK_KEY_Escape, 0, "window.close"));
  /* the port to type comes first */
  g_assert_true (gtk_widget_is_ancestor (gtk_root_get_focus (GTK_ROOT (dialog)),
                                         GTK_WIDGET (dialog_spin (dialog, 0))));
  gtk_spin_button_set_value (dialog_spin (dialog, 0), 0);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (dialog_spin (dialog, 0)), ==, 1);
  gtk_spin_button_set_value (dialog_spin (dialog, 0), 70000);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (dialog_spin (dialog, 0)), ==, 65535);
  gtk_spin_button_set_value (dialog_spin (dialog, 1), -5);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (dialog_spin (dialog, 1)), ==, 1);
  gtk_spin_button_set_value (dialog_spin (dialog, 0), 2222);
  gtk_spin_button_set_value (dialog_spin (dialog, 1), 22);
  g_assert_null (viv_port_forward_dialog_get_problem (dialog));
  shoot (GTK_WIDGET (dialog), "preferences-network-add-forward");
  press_enter (dialog_spin (dialog, 1));
  wait_forward_dialog_gone ();
  WAIT_UNTIL (n_forwards (f->plain) == 1, TIMEOUT_MS);
  g_assert_cmpuint (n_forwards (f->plain), ==, 1);
  g_assert_cmpint (forward_at (f->plain, 0)->protocol, ==, VIV_PROTOCOL_TCP);
  g_assert_cmpuint (forward_at (f->plain, 0)->host_port, ==, 2222);
  g_assert_cmpuint (forward_at (f->plain, 0)->guest_port, ==, 22);
  g_assert_null (forward_at (f->plain, 0)->address);
  on_disk = config_on_disk (f->plain);
  g_assert_cmpuint (on_disk->network.forwards->len, ==, 1);
  g_clear_pointer (&on_disk, viv_machine_config_free);
  title = g_strdup_printf (_("%s %u → %u"), "TCP", 2222, 22);
  forward_row = row (preferences, ADW_TYPE_ACTION_ROW, title);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (forward_row)), ==,
                   _("This computer only"));

  /* Edit it: reachable from other computers, to the machine's port 2200 */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.edit-forward", "u",
                                             0));
  dialog = wait_forward_dialog ();
  g_assert_true (viv_port_forward_dialog_get_editing (dialog));
  g_assert_cmpint (gtk_spin_button_get_value_as_int (dialog_spin (dialog, 0)), ==, 2222);
  /* its own port is no conflict */
  g_assert_null (viv_port_forward_dialog_get_problem (dialog));
  gtk_spin_button_set_value (dialog_spin (dialog, 1), 2200);
  gtk_switch_set_active (GTK_SWITCH (viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_SWITCH,
                                                           NULL)), TRUE);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "forward.apply", NULL));
  wait_forward_dialog_gone ();
  WAIT_UNTIL (forward_at (f->plain, 0)->guest_port == 2200, TIMEOUT_MS);
  g_assert_cmpuint (n_forwards (f->plain), ==, 1);
  g_assert_cmpuint (forward_at (f->plain, 0)->guest_port, ==, 2200);
  g_assert_cmpstr (forward_at (f->plain, 0)->address, ==, "0.0.0.0");
  on_disk = config_on_disk (f->plain);
  g_assert_cmpstr (((VivPortForward *) on_disk->network.forwards->pdata[0])->address, ==,
                   "0.0.0.0");
  g_clear_pointer (&on_disk, viv_machine_config_free);
  g_clear_pointer (&title, g_free);
  title = g_strdup_printf (_("%s %u → %u"), "TCP", 2222, 2200);
  forward_row = row (preferences, ADW_TYPE_ACTION_ROW, title);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (forward_row)), ==,
                   _("All addresses"));

  /* TCP 2222 again: refused in the dialog, which stays open; UDP 2222 is
   * another port */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.add-forward",
                                             NULL));
  dialog = wait_forward_dialog ();
  gtk_spin_button_set_value (dialog_spin (dialog, 0), 2222);
  g_assert_nonnull (viv_port_forward_dialog_get_problem (dialog));
  g_assert_true (label_contains (GTK_WIDGET (dialog), viv_port_forward_dialog_get_problem (dialog)));
  press_enter (dialog_spin (dialog, 0));
  shoot (GTK_WIDGET (dialog), "preferences-network-duplicate");
  g_assert_true (viv_test_find_toplevel (VIV_TYPE_PORT_FORWARD_DIALOG) == GTK_WIDGET (dialog));
  g_assert_cmpuint (n_forwards (f->plain), ==, 1);
  adw_combo_row_set_selected (ADW_COMBO_ROW (viv_test_find_widget (GTK_WIDGET (dialog),
                                                                   ADW_TYPE_COMBO_ROW, NULL)), 1);
  g_assert_null (viv_port_forward_dialog_get_problem (dialog));
  gtk_spin_button_set_value (dialog_spin (dialog, 1), 53);
  press_enter (dialog_spin (dialog, 1));
  wait_forward_dialog_gone ();
  WAIT_UNTIL (n_forwards (f->plain) == 2, TIMEOUT_MS);
  g_assert_cmpuint (n_forwards (f->plain), ==, 2);
  g_assert_cmpint (forward_at (f->plain, 1)->protocol, ==, VIV_PROTOCOL_UDP);
  g_assert_cmpuint (forward_at (f->plain, 1)->host_port, ==, 2222);
  g_assert_cmpuint (forward_at (f->plain, 1)->guest_port, ==, 53);

  /* Escape cancels: nothing changes */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.add-forward",
                                             NULL));
  dialog = wait_forward_dialog ();
  gtk_spin_button_set_value (dialog_spin (dialog, 0), 8080);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "window.close", NULL));
  wait_forward_dialog_gone ();
  WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
  g_assert_cmpuint (n_forwards (f->plain), ==, 2);
  show_page (preferences, "network", "preferences-network-forwards");

  /* The rows' buttons are reached with Tab */
  g_clear_pointer (&title, g_free);
  title = g_strdup_printf (_("%s %u → %u"), "UDP", 2222, 53);
  forward_row = row (preferences, ADW_TYPE_ACTION_ROW, title);
  button = viv_test_find_widget (forward_row, GTK_TYPE_BUTTON, NULL);
  g_assert_nonnull (button);
  g_assert_true (preferences_focus_reaches (GTK_WIDGET (preferences), button));

  /* Remove the first: the second stays */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.remove-forward",
                                             "u", 0));
  WAIT_UNTIL (n_forwards (f->plain) == 1, TIMEOUT_MS);
  g_assert_cmpuint (n_forwards (f->plain), ==, 1);
  g_assert_cmpint (forward_at (f->plain, 0)->protocol, ==, VIV_PROTOCOL_UDP);
  on_disk = config_on_disk (f->plain);
  g_assert_cmpuint (on_disk->network.forwards->len, ==, 1);
  g_assert_cmpuint (((VivPortForward *) on_disk->network.forwards->pdata[0])->guest_port, ==, 53);
  g_clear_pointer (&on_disk, viv_machine_config_free);

  /* Without a network card nothing is forwarded: the group and its action are off */
  g_assert_true (gtk_widget_is_sensitive (forwards));
  adw_combo_row_set_selected (ADW_COMBO_ROW (row (preferences, ADW_TYPE_COMBO_ROW,
                                                  _("Connection"))), 3);
  WAIT_UNTIL (viv_machine_get_config (f->plain)->network.mode == VIV_NETWORK_MODE_NONE,
              TIMEOUT_MS);
  g_assert_false (gtk_widget_is_sensitive (forwards));
  gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.add-forward", NULL);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (preferences), 3, 10000));
  g_assert_null (viv_test_find_toplevel (VIV_TYPE_PORT_FORWARD_DIALOG));
  close_preferences (preferences);
}

/* A running machine's address, as its helper knows it, on its page; its
 * preferences say network changes wait for the next start */
static void
test_guest_address (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivTestFakeHelper) helper = viv_test_fake_helper_new (f->probe);
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  static const char *const lease[] = { "10.0.2.15", NULL };
  VivMachinePreferences *preferences;
  GtkWidget *label;

  g_assert_true (activate (f, "win.open-machine", f->probe));
  g_object_set (page, "show-serial", TRUE, NULL);
  frames (f, 3);
  g_assert_null (viv_machine_get_guest_addresses (f->probe));
  label = viv_test_find_widget (GTK_WIDGET (page), GTK_TYPE_LABEL, "10.0.2.15");
  g_assert_true (label == NULL || !gtk_widget_get_mapped (label));

  /* The guest took its lease */
  viv_test_fake_helper_set_guest_addresses (helper, lease);
  WAIT_UNTIL (viv_machine_get_guest_addresses (f->probe) != NULL, TIMEOUT_MS);
  g_assert_nonnull (viv_machine_get_guest_addresses (f->probe));
  g_assert_cmpstr (viv_machine_get_guest_addresses (f->probe)[0], ==, "10.0.2.15");
  WAIT_UNTIL ((label = viv_test_find_widget (GTK_WIDGET (page), GTK_TYPE_LABEL, "10.0.2.15"))
              != NULL && gtk_widget_get_mapped (label), TIMEOUT_MS);
  g_assert_nonnull (label);
  g_assert_true (gtk_widget_get_mapped (label));
  g_assert_true (gtk_label_get_selectable (GTK_LABEL (label)));
  shoot (GTK_WIDGET (f->window), "machine-page-address");

  /* Running: the preferences say the network changes wait */
  preferences = open_network_page (f, f->probe, FALSE);
  g_assert_cmpstr (adw_preferences_group_get_description (
                     ADW_PREFERENCES_GROUP (group (preferences, _("Network Card")))), ==,
                   _("Changes take effect the next time the machine starts"));
  show_page (preferences, "network", "preferences-network-running");
  close_preferences (preferences);

  /* Forgotten (a new lease is coming): nothing shown */
  viv_test_fake_helper_set_guest_addresses (helper, NULL);
  WAIT_UNTIL (viv_machine_get_guest_addresses (f->probe) == NULL, TIMEOUT_MS);
  g_assert_null (viv_machine_get_guest_addresses (f->probe));
  WAIT_UNTIL (!gtk_widget_get_mapped (label), TIMEOUT_MS);
  g_assert_false (gtk_widget_get_mapped (label));

  /* Known again, then the machine stops: gone with it */
  viv_test_fake_helper_set_guest_addresses (helper, lease);
  WAIT_UNTIL (viv_machine_get_guest_addresses (f->probe) != NULL && gtk_widget_get_mapped (label),
              TIMEOUT_MS);
  g_assert_true (gtk_widget_get_mapped (label));
  g_clear_pointer (&helper, viv_test_fake_helper_free);
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_null (viv_machine_get_guest_addresses (f->probe));
  WAIT_UNTIL (!gtk_widget_get_mapped (label), TIMEOUT_MS);
  g_assert_false (gtk_widget_get_mapped (label));
}

static gboolean
start_probe (Fixture *f)
{
  g_assert_true (activate (f, "win.start-machine", f->probe));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_RUNNING ||
              viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_STOPPED ||
              viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_CRASHED, TIMEOUT_MS);
  if (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_RUNNING)
    {
      /* it idles, or it would have stopped by now */
      viv_test_sleep_ms (500);
      if (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_RUNNING)
        return TRUE;
    }
  g_test_skip ("the probe guest did not keep running (no idle mode?): state is not running");
  return FALSE;
}

static void
test_run (Fixture       *f,
          gconstpointer  data G_GNUC_UNUSED)
{
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  g_autofree char *clipboard = NULL;
  g_autofree char *log = NULL;
  VivMachinePreferences *preferences;

  if (!need_kvm ())
    return;

  /* Start from the collection: the tile follows */
  if (!start_probe (f))
    return;
  WAIT_UNTIL (g_strcmp0 (tile_state (f, f->probe), C_("machine state", "Running")) == 0,
              TIMEOUT_MS);
  g_assert_cmpstr (tile_state (f, f->probe), ==, C_("machine state", "Running"));
  g_assert_cmpstr (tile_state (f, f->plain), ==, C_("machine state", "Off"));
  shoot (GTK_WIDGET (f->window), "collection-running");

  /* A running machine is not deleted: a toast says why */
  g_assert_true (activate (f, "win.delete-machine", f->probe));
  g_assert_nonnull (viv_library_find (f->library, viv_machine_get_uuid (f->probe)));
  WAIT_UNTIL (label_contains (GTK_WIDGET (f->window), "stop it before deleting it"),
              TIMEOUT_MS);
  g_assert_true (label_contains (GTK_WIDGET (f->window), "stop it before deleting it"));

  /* Its page shows its serial console */
  g_assert_true (activate (f, "win.open-machine", f->probe));
  /* its screen shows first: these cases read the serial console, a click away */
  g_object_set (viv_window_get_machine_page (f->window), "show-serial", TRUE, NULL);
  g_assert_cmpstr (viv_window_get_view (f->window), ==, "machine");
  g_assert_true (viv_machine_page_get_machine (page) == f->probe);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "console");
  WAIT_UNTIL (console_has (f, "tick "), TIMEOUT_MS);
  g_assert_true (console_has (f, "tick "));
  WAIT_UNTIL (label_contains (GTK_WIDGET (f->window), "stop it before") == FALSE, 8000);
  WAIT_UNTIL (console_has (f, "tick 60"), TIMEOUT_MS);
  shoot (GTK_WIDGET (f->window), "machine-page");
  {
    /* It follows the output: the end is in sight */
    GtkWidget *view = viv_test_find_widget (GTK_WIDGET (page), GTK_TYPE_TEXT_VIEW, NULL);
    GtkAdjustment *adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (view));

    g_assert_cmpfloat (gtk_adjustment_get_upper (adjustment), >,
                       gtk_adjustment_get_page_size (adjustment));
    /* Text keeps coming; the scrolling follows it at the next frame, and
     * what a frame shows is only known once it is drawn (test_console_follow
     * has the details) */
    wait_console_end (f);
    g_assert_cmpfloat (gtk_adjustment_get_value (adjustment) +
                       gtk_adjustment_get_page_size (adjustment), >=,
                       gtk_adjustment_get_upper (adjustment) - 30);
  }

  /* Pause and resume, from the page */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.pause", NULL));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_PAUSED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_PAUSED);
  shoot (GTK_WIDGET (f->window), "machine-page-paused");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.resume", NULL));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_RUNNING);

  /* Changes to a running machine wait for its next start, and say so */
  g_assert_true (activate (f, "win.machine-preferences", f->probe));
  preferences = wait_preferences ();
  {
    g_autoptr(GPtrArray) spins = viv_test_find_all (GTK_WIDGET (preferences),
                                                    GTK_TYPE_SPIN_BUTTON);
    const char *note = _("Memory and processor changes apply the next time the machine starts");

    g_assert_false (viv_machine_get_pending_changes (f->probe));
    g_assert_false (label_contains (GTK_WIDGET (preferences), note));
    gtk_spin_button_set_value (spins->pdata[0], 128);
    WAIT_UNTIL (viv_machine_get_pending_changes (f->probe), TIMEOUT_MS);
    g_assert_true (viv_machine_get_pending_changes (f->probe));
    g_assert_cmpuint (viv_machine_get_config (f->probe)->memory, ==, 128 * MIB);
    WAIT_UNTIL (label_contains (GTK_WIDGET (preferences), note), TIMEOUT_MS);
    g_assert_true (label_contains (GTK_WIDGET (preferences), note));
    shoot (GTK_WIDGET (preferences), "preferences-pending");
    gtk_window_close (GTK_WINDOW (preferences));
    WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);
  }

  /* The log, copied to the clipboard */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.show-log", NULL));
  preferences = wait_preferences ();
  WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
  log = viv_machine_preferences_dup_log (preferences);
  g_assert_nonnull (log);
  g_assert_nonnull (strstr (log, viv_machine_get_uuid (f->probe)));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (preferences), "prefs.copy-log", NULL));
  clipboard = viv_test_clipboard_text (gtk_widget_get_clipboard (GTK_WIDGET (preferences)));
  g_assert_cmpstr (clipboard, ==, log);
  shoot (GTK_WIDGET (preferences), "preferences-log");
  gtk_window_close (GTK_WINDOW (preferences));

  /* Shut down (the ACPI power button): the guest powers off */
  g_assert_true (activate (f, "win.shutdown-machine", f->probe));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_STOPPED);
  WAIT_UNTIL (g_strcmp0 (viv_machine_page_get_content (page), "off") == 0, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "off");
  shoot (GTK_WIDGET (f->window), "machine-page-off");

  g_assert_true (activate (f, "win.back", NULL));
  WAIT_UNTIL (g_strcmp0 (tile_state (f, f->probe), C_("machine state", "Off")) == 0, TIMEOUT_MS);
  g_assert_cmpstr (tile_state (f, f->probe), ==, C_("machine state", "Off"));
}

/* A machine this version cannot start (it boots a firmware) says so on its
 * tile, its page and its Boot preferences, and is not offered Start; back on
 * a kernel, it is again */
static void
set_boot (VivMachine  *machine,
          VivBootKind  kind,
          VivFirmware  firmware)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  viv_machine_set_boot_async (machine, kind, firmware, "/boot/vmlinuz-test", NULL, NULL, NULL,
                              viv_test_store_result, &result);
  WAIT_UNTIL (result != NULL, TIMEOUT_MS);
  g_assert_true (viv_machine_set_boot_finish (machine, result, &error));
  g_assert_no_error (error);
}

/* Every boot kind starts now: BIOS and UEFI firmware as well as a kernel.
 * The tile and the page offer Start; the Boot preferences say what the
 * firmware boots. */
static void
test_firmware_kinds (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  VivMachinePreferences *preferences;
  GtkWidget *combo;
  const VivFirmware kinds[] = { VIV_FIRMWARE_BIOS, VIV_FIRMWARE_UEFI };

  g_assert_true (activate (f, "win.open-machine", f->plain));
  WAIT_UNTIL (g_strcmp0 (viv_window_get_view (f->window), "machine") == 0, TIMEOUT_MS);
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      set_boot (f->plain, VIV_BOOT_KIND_FIRMWARE, kinds[i]);
      g_assert_true (viv_machine_can_start_yet (f->plain));
      g_assert_null (viv_machine_get_cannot_start_reason (f->plain));
      WAIT_UNTIL (g_strcmp0 (viv_machine_page_get_content (page), "off") == 0, TIMEOUT_MS);
      g_assert_cmpstr (tile_state (f, f->plain), ==, C_("machine state", "Off"));
    }

  /* The Boot preferences say what the firmware boots */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.preferences", NULL));
  preferences = wait_preferences ();
  combo = viv_test_find_widget (GTK_WIDGET (preferences), ADW_TYPE_COMBO_ROW, NULL);
  g_assert_nonnull (combo);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (combo)), ==,
                   _("The firmware starts the disc in the CD-ROM drive, else the first disk"));
  show_page (preferences, "boot", "preferences-boot-firmware");
  gtk_window_close (GTK_WINDOW (preferences));
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);

  set_boot (f->plain, VIV_BOOT_KIND_KERNEL, VIV_FIRMWARE_UNSET);
  WAIT_UNTIL (g_strcmp0 (viv_machine_page_get_content (page), "off") == 0, TIMEOUT_MS);
}

/* The console keeps the end in sight however the output comes. A guest
 * prints a line at a time, but an app that runs late (a loaded machine)
 * reads several lines at once, and the text view lays them out after the
 * frame that scrolls for them: the check in test_run failed that way. The
 * helper here is the test's own, so this runs without /dev/kvm, and what
 * load would do by chance the bursts do every time. */
static void
test_console_follow (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivTestFakeHelper) helper = viv_test_fake_helper_new (f->probe);
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  GtkAdjustment *adjustment;

  /* What it printed before the page opened comes first */
  viv_test_fake_helper_print (helper, "early output\n");
  g_assert_true (activate (f, "win.open-machine", f->probe));
  /* its screen shows first: these cases read the serial console, a click away */
  g_object_set (viv_window_get_machine_page (f->window), "show-serial", TRUE, NULL);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "console");
  WAIT_UNTIL (console_has (f, "early output"), TIMEOUT_MS);
  g_assert_true (console_has (f, "early output"));
  g_assert_true (viv_serial_console_get_connected (viv_machine_page_get_console (page)));

  /* Bursts of lines, more of them each time: the end stays in sight */
  for (guint round = 0; round < 12; round++)
    {
      g_autofree char *last = g_strdup_printf ("the end of burst %u", round);

      print_burst (f, helper, 2 + round * 3, last);
      wait_console_end (f);
    }
  /* More than it scrolls through in one frame: it goes on at the next */
  print_burst (f, helper, 400, "the end of the long burst");
  wait_console_end (f);
  adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (console_view (f)));
  g_assert_cmpfloat (gtk_adjustment_get_upper (adjustment), >,
                     2 * gtk_adjustment_get_page_size (adjustment));
  shoot (GTK_WIDGET (f->window), "machine-page-console");

  /* Scrolled up by the user, it stays where the user put it */
  gtk_adjustment_set_value (adjustment, 0);
  print_burst (f, helper, 8, "while scrolled up");
  frames (f, 3);
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, 0);
  g_assert_false (console_end_in_sight (f));

  /* Back at the end, as the user drags the scrollbar there (again at
   * each frame until the end shows: the text view lays out the lines it
   * brings on screen, which can move the end), it follows again.
   * scroll_to_mark() animates to a place fixed when it starts, which that
   * layout can leave short of the end. */
  g_assert_true (viv_test_wait_for_painted (GTK_WIDGET (f->window), drag_console_to_end, f,
                                            TIMEOUT_MS));
  print_burst (f, helper, 8, "following again");
  wait_console_end (f);
}

/* A guest that writes nothing on the serial console (a kernel without
 * console=ttyS0) no longer leaves a blank page: after a few seconds the page
 * says what it waits for and how to get output, and the first output takes
 * the hint away. The stand-in helper serves a running machine that is silent
 * until told to print. */
static void
test_console_silent (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivTestFakeHelper) helper = viv_test_fake_helper_new (f->probe);
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  VivSerialConsole *console = viv_machine_page_get_console (page);

  g_assert_true (activate (f, "win.open-machine", f->probe));
  /* its screen shows first: these cases read the serial console, a click away */
  g_object_set (viv_window_get_machine_page (f->window), "show-serial", TRUE, NULL);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "console");
  WAIT_UNTIL (viv_serial_console_get_connected (console), TIMEOUT_MS);
  g_assert_true (viv_serial_console_get_connected (console));
  /* Not at once: a guest takes a moment to say something */
  g_assert_false (viv_serial_console_get_silent (console));
  g_assert_false (label_contains (GTK_WIDGET (page), "console=ttyS0"));

  WAIT_UNTIL (viv_serial_console_get_silent (console), TIMEOUT_MS);
  g_assert_true (viv_serial_console_get_silent (console));
  frames (f, 3);
  g_assert_true (label_contains (GTK_WIDGET (page), _("Waiting for Output")));
  g_assert_true (label_contains (GTK_WIDGET (page), "console=ttyS0"));
  shoot (GTK_WIDGET (f->window), "machine-page-console-silent");

  viv_test_fake_helper_print (helper, "at last\n");
  WAIT_UNTIL (console_has (f, "at last"), TIMEOUT_MS);
  g_assert_false (viv_serial_console_get_silent (console));
  frames (f, 3);
  g_assert_false (label_contains (GTK_WIDGET (page), _("Waiting for Output")));
}

/* A disk that fails on the host (the helper's DiskError; here the
 * stand-in helper's): the page says so in a banner, the host's disk full
 * in words of its own; the machine goes on, so the banner's one button
 * dismisses it, reached with Tab as with the pointer. */
static gboolean
focus_reaches (Fixture   *f,
               GtkWidget *target)
{
  /* Tab through the window, at most a lap of it */
  for (guint i = 0; i < 64 && !gtk_widget_has_focus (target); i++)
    if (!gtk_widget_child_focus (GTK_WIDGET (f->window), GTK_DIR_TAB_FORWARD))
      gtk_widget_child_focus (GTK_WIDGET (f->window), GTK_DIR_TAB_FORWARD);
  return gtk_widget_has_focus (target);
}

static void
count_disk_error (VivMachine *machine G_GNUC_UNUSED,
                  guint       disk G_GNUC_UNUSED,
                  const char *path G_GNUC_UNUSED,
                  const char *operation,
                  const char *error G_GNUC_UNUSED,
                  const char *message G_GNUC_UNUSED,
                  guint      *heard)
{
  g_assert_nonnull (operation);
  (*heard)++;
}

static void
test_disk_error (Fixture       *f,
                 gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivTestFakeHelper) helper = viv_test_fake_helper_new (f->probe);
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  g_autofree char *image = g_build_filename (viv_machine_get_directory (f->probe), "disk.qcow2",
                                             NULL);
  GtkWidget *button;
  guint heard = 0;

  g_signal_connect (f->probe, "disk-error", G_CALLBACK (count_disk_error), &heard);
  g_assert_true (activate (f, "win.open-machine", f->probe));
  /* its screen shows first: these cases read the serial console, a click away */
  g_object_set (viv_window_get_machine_page (f->window), "show-serial", TRUE, NULL);
  g_assert_false (viv_machine_page_get_disk_banner_shown (page));

  viv_test_fake_helper_disk_error (helper, 0, image, "write", "ENOSPC",
                                   "disk 0 (disk.qcow2): write of 4096 bytes at sector 8 "
                                   "failed: No space left on device (ENOSPC)");
  WAIT_UNTIL (viv_machine_page_get_disk_banner_shown (page), TIMEOUT_MS);
  g_assert_true (viv_machine_page_get_disk_banner_shown (page));
  g_assert_cmpuint (heard, ==, 1);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_RUNNING);
  frames (f, 10);
  g_assert_true (label_contains (GTK_WIDGET (page), _("The host’s disk is full")));
  g_assert_true (label_contains (GTK_WIDGET (page), "“disk.qcow2”"));
  shoot (GTK_WIDGET (f->window), "machine-page-disk-full");

  /* dismissed from the keyboard: Tab to the button, then Enter */
  button = viv_test_find_widget (GTK_WIDGET (page), GTK_TYPE_BUTTON, _("_Dismiss"));
  g_assert_nonnull (button);
  g_assert_true (focus_reaches (f, button));
  gtk_widget_activate (button);
  WAIT_UNTIL (!viv_machine_page_get_disk_banner_shown (page), TIMEOUT_MS);
  g_assert_false (viv_machine_page_get_disk_banner_shown (page));
  g_assert_null (viv_machine_get_disk_problem (f->probe));
  g_signal_handlers_disconnect_by_func (f->probe, count_disk_error, &heard);

  /* another error, another banner, in general words */
  viv_test_fake_helper_disk_error (helper, 1, "/somewhere/data.raw", "read", "EIO",
                                   "disk 1 (/somewhere/data.raw): read failed");
  WAIT_UNTIL (viv_machine_page_get_disk_banner_shown (page), TIMEOUT_MS);
  g_assert_true (viv_machine_page_get_disk_banner_shown (page));
  frames (f, 10);
  g_assert_true (label_contains (GTK_WIDGET (page), "“data.raw”"));
  g_assert_false (label_contains (GTK_WIDGET (page), _("The host’s disk is full")));
  shoot (GTK_WIDGET (f->window), "machine-page-disk-error");

  /* the machine stops: nothing to say about its disks any more */
  g_clear_pointer (&helper, viv_test_fake_helper_free);
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_false (viv_machine_page_get_disk_banner_shown (page));
}

/* Force Off asks first, Cancel the default; the stand-in helper serves a
 * running machine without /dev/kvm, and its PowerOff stops it. The
 * dialog's buttons are clicked, as a person does: that also closes it
 * (adw_message_dialog_response() alone does not) */
static void
click_response (AdwMessageDialog *dialog,
                const char       *label)
{
  GtkWidget *button = viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_BUTTON, label);

  g_assert_nonnull (button);
  gtk_widget_activate (button);
  WAIT_UNTIL (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) == NULL, TIMEOUT_MS);
  g_assert_null (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
}

static void
test_force_off (Fixture       *f,
                gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivTestFakeHelper) helper = viv_test_fake_helper_new (f->probe);
  AdwMessageDialog *dialog;

  /* Cancel: it runs on */
  g_assert_true (activate (f, "win.force-off-machine", f->probe));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  g_assert_cmpstr (adw_message_dialog_get_default_response (dialog), ==, "cancel");
  g_assert_cmpstr (adw_message_dialog_get_close_response (dialog), ==, "cancel");
  g_assert_cmpint (adw_message_dialog_get_response_appearance (dialog, "force-off"), ==,
                   ADW_RESPONSE_DESTRUCTIVE);
  shoot (GTK_WIDGET (dialog), "force-off-dialog");
  click_response (dialog, _("_Cancel"));
  frames (f, 3);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_RUNNING);

  /* The page's menu item and the key go through the same door */
  g_assert_true (activate (f, "win.open-machine", f->probe));
  /* its screen shows first: these cases read the serial console, a click away */
  g_object_set (viv_window_get_machine_page (f->window), "show-serial", TRUE, NULL);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (viv_window_get_machine_page (f->window)),
                                             "machine.force-off", NULL));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  click_response (dialog, _("_Force Off"));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_STOPPED);
}

/* Whether MENU (a machine's menu) has an item for ACTION */
static gboolean
menu_has_action (GMenuModel *menu,
                 const char *action)
{
  for (int i = 0; i < g_menu_model_get_n_items (menu); i++)
    {
      g_autoptr(GMenuModel) section = g_menu_model_get_item_link (menu, i, G_MENU_LINK_SECTION);
      g_autofree char *name = NULL;

      if (section != NULL && menu_has_action (section, action))
        return TRUE;
      if (g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_ACTION, "s", &name) &&
          g_strcmp0 (name, action) == 0)
        return TRUE;
    }
  return FALSE;
}

/* A helper that runs the machine but cannot be reached (its socket gone):
 * not "Off", with its pid, and Force Off from the tile's menu, the key and
 * the page's button ends it */
static void
test_unreachable (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GMenuModel) menu = NULL;
  g_autofree char *pid_text = NULL;
  VivMachinePage *page;
  AdwMessageDialog *dialog;
  GtkWidget *button;
  GtkWidget *focus;
  GPid pid;

  process = viv_test_unreachable_helper_new (f->plain, FALSE, &pid);
  pid_text = g_strdup_printf ("process %d", (int) pid);
  WAIT_UNTIL (g_strcmp0 (tile_state (f, f->plain), C_("machine state", "Not Responding")) == 0,
              TIMEOUT_MS);
  g_assert_cmpstr (tile_state (f, f->plain), ==, C_("machine state", "Not Responding"));
  g_assert_cmpint (viv_machine_get_helper_pid (f->plain), ==, pid);
  shoot (GTK_WIDGET (f->window), "collection-unreachable");

  /* The tile's menu (Menu key) offers Force Off, and no Start */
  menu = viv_machine_menu_new (f->plain, TRUE);
  g_assert_true (menu_has_action (menu, "win.force-off-machine"));
  g_assert_false (menu_has_action (menu, "win.start-machine"));

  /* The page says why, with the pid, and offers Force Off */
  g_assert_true (activate (f, "win.open-machine", f->plain));
  page = viv_window_get_machine_page (f->window);
  WAIT_UNTIL (g_strcmp0 (viv_machine_page_get_content (page), "problem") == 0, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "problem");
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (page), ADW_TYPE_STATUS_PAGE,
                                          _("The Machine Cannot Be Reached")));
  WAIT_UNTIL (label_contains (GTK_WIDGET (page), pid_text), TIMEOUT_MS);
  g_assert_true (label_contains (GTK_WIDGET (page), pid_text));
  button = viv_test_find_widget (GTK_WIDGET (page), GTK_TYPE_BUTTON, _("_Force Off…"));
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_mapped (button));
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (button)), ==,
                   "machine.force-off");
  g_assert_true (gtk_button_get_use_underline (GTK_BUTTON (button)));

  /* The keyboard gets there: the page's content takes the focus, and the
   * button takes it from there (Tab, or its mnemonic) */
  viv_machine_page_focus_content (page);
  frames (f, 3);
  focus = gtk_root_get_focus (GTK_ROOT (f->window));
  g_assert_nonnull (focus);
  g_assert_true (gtk_widget_is_ancestor (focus, gtk_widget_get_parent (button)));
  g_assert_true (gtk_widget_is_sensitive (button));
  g_assert_true (gtk_widget_grab_focus (button));
  shoot (GTK_WIDGET (f->window), "machine-page-unreachable");

  /* Cancel: it runs on */
  gtk_widget_activate (button);
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  g_assert_true (strstr (adw_message_dialog_get_body (dialog), pid_text) != NULL);
  shoot (GTK_WIDGET (dialog), "force-off-unreachable-dialog");
  click_response (dialog, _("_Cancel"));
  frames (f, 3);
  g_assert_cmpint (viv_machine_get_state (f->plain), ==, VIV_MACHINE_STATE_UNREACHABLE);
  g_assert_cmpint (kill (pid, 0), ==, 0);

  /* Force Off: the process ends, the machine is off */
  gtk_widget_activate (button);
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  click_response (dialog, _("_Force Off"));
  WAIT_UNTIL (viv_machine_get_state (f->plain) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->plain), ==, VIV_MACHINE_STATE_STOPPED);
  g_assert_true (g_subprocess_wait (process, NULL, NULL));
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  WAIT_UNTIL (g_strcmp0 (viv_machine_page_get_content (page), "off") == 0, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "off");
}

static void
test_crash (Fixture       *f,
            gconstpointer  data G_GNUC_UNUSED)
{
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  VivMachineTile *tile;
  GtkWidget *label;
  GPid pid;

  if (!need_kvm ())
    return;
  if (!start_probe (f))
    return;

  pid = viv_test_helper_pid (f->probe);
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);

  WAIT_UNTIL (g_strcmp0 (tile_state (f, f->probe), C_("machine state", "Crashed")) == 0,
              TIMEOUT_MS);
  g_assert_cmpstr (tile_state (f, f->probe), ==, C_("machine state", "Crashed"));
  tile = tile_of (f, f->probe);
  label = viv_test_find_widget (GTK_WIDGET (tile), GTK_TYPE_LABEL, C_("machine state", "Crashed"));
  g_assert_true (gtk_widget_has_css_class (label, "error"));
  g_assert_cmpstr (gtk_widget_get_tooltip_text (GTK_WIDGET (tile)), ==,
                   viv_machine_get_error_message (f->probe));
  /* the others are untouched */
  g_assert_cmpstr (tile_state (f, f->plain), ==, C_("machine state", "Off"));
  g_assert_cmpstr (tile_state (f, f->broken), ==, C_("machine state", "Broken"));
  shoot (GTK_WIDGET (f->window), "collection-crashed");

  g_assert_true (activate (f, "win.open-machine", f->probe));
  /* its screen shows first: these cases read the serial console, a click away */
  g_object_set (viv_window_get_machine_page (f->window), "show-serial", TRUE, NULL);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "problem");
  shoot (GTK_WIDGET (f->window), "machine-page-crashed");

  /* "Show Log" */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.show-log", NULL));
  {
    VivMachinePreferences *preferences = wait_preferences ();
    g_autofree char *log = NULL;

    g_assert_cmpstr (adw_preferences_window_get_visible_page_name (ADW_PREFERENCES_WINDOW (preferences)),
                     ==, "troubleshooting");
    WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
    log = viv_machine_preferences_dup_log (preferences);
    g_assert_nonnull (log);
    gtk_window_close (GTK_WINDOW (preferences));
  }
}

/* A running machine's tile shows the thumbnail its helper writes, and
 * follows it as the screen changes (the probe's idle picture has a counter
 * that changes at each tick): the machine watches its folder. Stopped, the
 * tile keeps the last one, dimmed. */
static void
test_thumbnail_live (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GdkTexture) first = NULL;
  g_autoptr(GdkTexture) last = NULL;
  g_autoptr(GdkTexture) on_disk = NULL;

  if (!need_kvm ())
    return;
  /* A new machine has no thumbnail yet: its OS's logo, or a computer */
  g_assert_true (tile_shows_placeholder (f, f->probe));
  if (!start_probe (f))
    return;
  g_assert_cmpint (viv_machine_get_config (f->probe)->display.kind, ==, VIV_DISPLAY_KIND_SPICE);

  /* The helper writes thumbnail.png a few seconds after the screen changed */
  WAIT_UNTIL (tile_shows_disk_thumbnail (f, f->probe, NULL), TIMEOUT_MS);
  g_assert_true (tile_shows_disk_thumbnail (f, f->probe, NULL));
  g_assert_false (tile_dimmed (f, f->probe));
  first = g_object_ref (tile_thumbnail (f, f->probe));
  g_assert_cmpint (gdk_texture_get_width (first), >, 0);

  /* The counter moved: a new one, shown */
  WAIT_UNTIL (tile_shows_disk_thumbnail (f, f->probe, first), TIMEOUT_MS);
  g_assert_true (tile_shows_disk_thumbnail (f, f->probe, first));
  g_assert_false (tile_dimmed (f, f->probe));
  shoot (GTK_WIDGET (f->window), "collection-thumbnail-live");
  {
    AdwStyleManager *style = adw_style_manager_get_default ();

    adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_DARK);
    shoot (GTK_WIDGET (f->window), "collection-thumbnail-live-dark");
    adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_DEFAULT);
  }

  /* Paused, the screen is still the machine's: not dimmed */
  g_assert_true (activate (f, "win.pause-machine", f->probe));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_PAUSED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_PAUSED);
  frames (f, 2);
  g_assert_nonnull (tile_thumbnail (f, f->probe));
  g_assert_false (tile_dimmed (f, f->probe));
  g_assert_true (activate (f, "win.resume-machine", f->probe));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_RUNNING);

  /* Stopped: the last thumbnail stays, dimmed */
  g_assert_true (activate (f, "win.shutdown-machine", f->probe));
  WAIT_UNTIL (viv_machine_get_state (f->probe) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_STOPPED);
  WAIT_UNTIL (tile_dimmed (f, f->probe), TIMEOUT_MS);
  g_assert_true (tile_dimmed (f, f->probe));
  /* a write the helper made just before it went is shown too */
  WAIT_UNTIL (tile_shows_disk_thumbnail (f, f->probe, NULL), TIMEOUT_MS);
  g_assert_true (tile_shows_disk_thumbnail (f, f->probe, NULL));
  last = g_object_ref (tile_thumbnail (f, f->probe));
  on_disk = thumbnail_on_disk (f->probe);
  g_assert_true (same_pixels (last, on_disk));
  g_assert_false (tile_dimmed (f, f->plain));
  shoot (GTK_WIDGET (f->window), "collection-thumbnail-dimmed");
  {
    AdwStyleManager *style = adw_style_manager_get_default ();

    adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_DARK);
    shoot (GTK_WIDGET (f->window), "collection-thumbnail-dimmed-dark");
    adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_DEFAULT);
  }

  /* and in the list */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.view-mode", "s",
                                             "list"));
  WAIT_UNTIL (count_tiles (f) == 3 && viv_machine_tile_get_compact (tile_of (f, f->probe)),
              TIMEOUT_MS);
  g_assert_true (tile_dimmed (f, f->probe));
  g_assert_true (same_pixels (tile_thumbnail (f, f->probe), last));
  shoot (GTK_WIDGET (f->window), "collection-list-thumbnail-dimmed");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.view-mode", "s",
                                             "grid"));
  WAIT_UNTIL (count_tiles (f) == 3, TIMEOUT_MS);
}

/* thumbnail.png replaced on disk (write, then rename) while the app runs is
 * picked up; deleted, the tile goes back to its placeholder */
static void
test_thumbnail_replaced (Fixture       *f,
                         gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GBytes) red = solid_png (320, 240, 0xffc01c28);
  g_autoptr(GBytes) blue = solid_png (320, 200, 0xff1c71d8);
  g_autoptr(GdkTexture) red_texture = gdk_texture_new_from_bytes (red, NULL);
  g_autoptr(GdkTexture) blue_texture = gdk_texture_new_from_bytes (blue, NULL);
  g_autofree char *path = g_build_filename (viv_machine_get_directory (f->plain),
                                            "thumbnail.png", NULL);

  g_assert_true (tile_shows_placeholder (f, f->plain));
  g_assert_false (tile_dimmed (f, f->plain));

  replace_thumbnail (f->plain, red);
  WAIT_UNTIL (same_pixels (tile_thumbnail (f, f->plain), red_texture), TIMEOUT_MS);
  g_assert_true (same_pixels (tile_thumbnail (f, f->plain), red_texture));
  /* a stopped machine's */
  g_assert_true (tile_dimmed (f, f->plain));

  replace_thumbnail (f->plain, blue);
  WAIT_UNTIL (same_pixels (tile_thumbnail (f, f->plain), blue_texture), TIMEOUT_MS);
  g_assert_true (same_pixels (tile_thumbnail (f, f->plain), blue_texture));
  g_assert_true (tile_dimmed (f, f->plain));
  /* A picture wider than the frame does not make the tile wider than the
   * others, which show their placeholder */
  frames (f, 3);
  {
    int width, height, other_width, other_height;

    frame_size (f, f->plain, &width, &height);
    frame_size (f, f->broken, &other_width, &other_height);
    g_assert_cmpint (width, >, 0);
    g_assert_cmpint (width, ==, other_width);
    g_assert_cmpint (height, ==, other_height);
  }

  g_assert_cmpint (g_unlink (path), ==, 0);
  WAIT_UNTIL (tile_shows_placeholder (f, f->plain), TIMEOUT_MS);
  g_assert_true (tile_shows_placeholder (f, f->plain));
}

/* The engine refuses to start (a disk it cannot open), as a fake engine
 * says on stderr: no KVM needed. */
static void
test_start_refused (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  VivMachinePage *page = viv_window_get_machine_page (f->window);
  const char *said = "vivarium-vmm: cannot open /m/disk.qcow2: Read-only file system "
                     "(disks[0].path)";
  const char *state = C_("machine state", "Could Not Start");
  g_autofree char *fake = g_build_filename (root, "fake-vmm", NULL);
  g_autofree char *script =
    g_strdup_printf ("#!/bin/sh\n"
                     "echo '[    0.000100] vivarium-vmm info: state: starting' >&2\n"
                     "echo '%s' >&2\nexit 1\n", said);
  g_autofree char *saved = g_strdup (g_getenv ("VIVARIUM_VMM"));
  VivMachinePreferences *preferences;
  VivMachineTile *tile;
  GtkWidget *button;
  g_autofree char *log = NULL;

  g_assert_true (g_file_set_contents (fake, script, -1, NULL));
  g_assert_cmpint (g_chmod (fake, 0755), ==, 0);
  g_setenv ("VIVARIUM_VMM", fake, TRUE);

  g_assert_true (activate (f, "win.start-machine", f->probe));
  WAIT_UNTIL (g_strcmp0 (tile_state (f, f->probe), state) == 0, TIMEOUT_MS);
  g_assert_cmpstr (tile_state (f, f->probe), ==, state);
  tile = tile_of (f, f->probe);
  g_assert_true (gtk_widget_has_css_class (viv_test_find_widget (GTK_WIDGET (tile),
                                                                 GTK_TYPE_LABEL, state),
                                           "error"));
  g_assert_cmpstr (gtk_widget_get_tooltip_text (GTK_WIDGET (tile)), ==,
                   viv_machine_get_error_message (f->probe));
  /* said once, on the tile: no toast with the engine's words */
  frames (f, 10);
  g_assert_false (label_contains (GTK_WIDGET (f->window), "vivarium-vmm"));
  g_assert_false (label_contains (GTK_WIDGET (f->window), "disks[0]"));
  g_assert_false (label_contains (GTK_WIDGET (f->window),
                                  viv_machine_get_error_message (f->probe)));
  shoot (GTK_WIDGET (f->window), "collection-start-refused");

  /* The page: why in words, and the way to fix it instead of Start Again */
  g_assert_true (activate (f, "win.open-machine", f->probe));
  /* its screen shows first: these cases read the serial console, a click away */
  g_object_set (viv_window_get_machine_page (f->window), "show-serial", TRUE, NULL);
  g_assert_cmpstr (viv_machine_page_get_content (page), ==, "problem");
  WAIT_UNTIL (label_contains (GTK_WIDGET (f->window), _("The Machine Could Not Start")),
              TIMEOUT_MS);
  g_assert_true (label_contains (GTK_WIDGET (f->window), _("The Machine Could Not Start")));
  g_assert_true (label_contains (GTK_WIDGET (f->window),
                                 viv_machine_get_error_message (f->probe)));
  g_assert_false (label_contains (GTK_WIDGET (f->window), "disks[0]"));
  g_assert_false (label_contains (GTK_WIDGET (f->window), _("_Start Again")));
  button = viv_test_find_widget (GTK_WIDGET (page), GTK_TYPE_BUTTON,
                                 _("Open _Disks Preferences"));
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_mapped (button));
  shoot (GTK_WIDGET (f->window), "machine-page-start-refused");

  g_assert_true (gtk_widget_activate (button));
  preferences = wait_preferences ();
  g_assert_cmpstr (adw_preferences_window_get_visible_page_name (ADW_PREFERENCES_WINDOW (preferences)),
                   ==, "disks");
  gtk_window_close (GTK_WINDOW (preferences));
  WAIT_UNTIL (viv_test_find_toplevel (VIV_TYPE_MACHINE_PREFERENCES) == NULL, TIMEOUT_MS);

  /* Show Log: the engine's words, start-up lines included */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "machine.show-log", NULL));
  preferences = wait_preferences ();
  WAIT_UNTIL (!viv_machine_preferences_get_busy (preferences), TIMEOUT_MS);
  log = viv_machine_preferences_dup_log (preferences);
  g_assert_nonnull (log);
  g_assert_nonnull (strstr (log, said));
  g_assert_nonnull (strstr (log, "vivarium-vmm info: state: starting"));
  g_assert_false (label_contains (GTK_WIDGET (preferences),
                                  _("The log is empty: this machine has not run yet")));
  shoot (GTK_WIDGET (preferences), "preferences-log-start-refused");
  gtk_window_close (GTK_WINDOW (preferences));

  if (saved != NULL)
    g_setenv ("VIVARIUM_VMM", saved, TRUE);
  else
    g_unsetenv ("VIVARIUM_VMM");
}

static void
test_close_running (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  AdwMessageDialog *dialog;
  g_autofree char *uuid = NULL;

  if (!need_kvm ())
    return;
  if (!start_probe (f))
    return;
  uuid = g_strdup (viv_machine_get_uuid (f->probe));

  /* Closing asks; Cancel keeps the window */
  gtk_window_close (GTK_WINDOW (f->window));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  g_assert_nonnull (f->window);
  shoot (GTK_WIDGET (dialog), "keep-running-dialog");
  viv_test_dialog_respond (dialog, "cancel");
  WAIT_UNTIL (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) == NULL, TIMEOUT_MS);
  frames (f, 3);
  g_assert_nonnull (f->window);
  g_assert_true (viv_machine_is_active (f->probe));

  /* Quitting asks too */
  g_action_group_activate_action (G_ACTION_GROUP (the_app), "quit", NULL);
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  viv_test_dialog_respond (dialog, "cancel");
  WAIT_UNTIL (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) == NULL, TIMEOUT_MS);

  /* Keep it running: the window goes, the machine does not */
  gtk_window_close (GTK_WINDOW (f->window));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  viv_test_dialog_respond (dialog, "keep");
  WAIT_UNTIL (f->window == NULL, TIMEOUT_MS);
  g_assert_null (f->window);
  g_assert_true (viv_helper_is_running (uuid, NULL));
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_RUNNING);

  /* The next start of the app finds it running: a new library attaches */
  {
    g_autoptr(VivLibrary) restarted = viv_library_new (NULL);
    g_autoptr(GAsyncResult) result = NULL;
    VivMachine *found;

    viv_library_load_async (restarted, NULL, viv_test_store_result, &result);
    WAIT_UNTIL (result != NULL, TIMEOUT_MS);
    g_assert_true (viv_library_load_finish (restarted, result, NULL));
    found = viv_library_find (restarted, uuid);
    g_assert_nonnull (found);
    WAIT_UNTIL (viv_machine_get_state (found) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
    g_assert_cmpint (viv_machine_get_state (found), ==, VIV_MACHINE_STATE_RUNNING);
  }

  /* A new window shows it running */
  open_window (f);
  WAIT_UNTIL (g_strcmp0 (tile_state (f, f->probe), C_("machine state", "Running")) == 0,
              TIMEOUT_MS);
  g_assert_cmpstr (tile_state (f, f->probe), ==, C_("machine state", "Running"));

  /* Stop them: the machine shuts down, then the window closes */
  gtk_window_close (GTK_WINDOW (f->window));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  viv_test_dialog_respond (dialog, "stop");
  WAIT_UNTIL (f->window == NULL, TIMEOUT_MS);
  g_assert_null (f->window);
  g_assert_false (viv_machine_is_active (f->probe));
  g_assert_cmpint (viv_machine_get_state (f->probe), ==, VIV_MACHINE_STATE_STOPPED);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  root = viv_test_ui_init (&argc, &argv);
  have_kvm = viv_test_can_run_machines (&probe_path, "the tests that run a machine skip");

  the_app = viv_test_app_new ();
  /* the machine page shows running machines' screens */
  viv_test_spice_warnings_not_fatal ();

#define ADD(name, fn) g_test_add ("/collection/" name, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("tiles", test_tiles);
  ADD ("list-view", test_list_view);
  ADD ("search", test_search);
  ADD ("context-menu", test_context_menu);
  ADD ("keys", test_keys);
  ADD ("rename", test_rename);
  ADD ("delete-undo", test_delete_undo);
  ADD ("delete-two", test_delete_two);
  ADD ("preferences", test_preferences);
  ADD ("preferences-disc", test_preferences_disc);
  ADD ("preferences-network", test_preferences_network);
  ADD ("preferences-forwards", test_preferences_forwards);
  ADD ("guest-address", test_guest_address);
  ADD ("firmware-kinds", test_firmware_kinds);
  ADD ("run", test_run);
  ADD ("console-follow", test_console_follow);
  ADD ("console-silent", test_console_silent);
  ADD ("force-off", test_force_off);
  ADD ("disk-error", test_disk_error);
  ADD ("unreachable", test_unreachable);
  ADD ("crash", test_crash);
  ADD ("thumbnail-live", test_thumbnail_live);
  ADD ("thumbnail-replaced", test_thumbnail_replaced);
  ADD ("start-refused", test_start_refused);
  ADD ("close-running", test_close_running);

  status = g_test_run ();

  g_application_release (G_APPLICATION (the_app));
  g_clear_object (&the_app);
  viv_test_finish (root);
  return status;
}
