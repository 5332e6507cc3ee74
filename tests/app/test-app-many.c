/* test-app-many.c: the app with a library of 500 machines
 *
 * The machines are made before the app starts, as a user's library would
 * be; the app must then show them without stalling its main loop: the
 * longest gap between two iterations of the main loop, from the app's
 * start until the collection shows its tiles and has been scrolled to its
 * end, stays under MAX_GAP_MS. Making the window and drawing its first
 * frame (the same work whatever the library holds) and taking screenshots
 * are left out.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <locale.h>

#include <glib/gstdio.h>

#include "viv-application.h"
#include "viv-machine-tile.h"
#include "viv-test-ui.h"
#include "viv-window.h"
#include "viv-test-util.h"
#include "viv-file.h"

#define N_MACHINES 500
#define TIMEOUT_MS 60000
#define MIB        (G_GUINT64_CONSTANT (1) << 20)

/* Sanitizers make everything several times slower */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define MAX_GAP_MS 1000
#else
#define MAX_GAP_MS 250
#endif

static char *root;

typedef struct
{
  gint64 last;
  gint64 max_gap;
  gint64 max_gap_at;
  gint64 start;
  gboolean measuring;
  gint64 first_frame_cost;
} Gaps;

/* The window's first frame lays out and draws it all for the first time
 * (styles, fonts, the renderer): the same whatever the library holds, so
 * it is measured on its own. */
static void
on_after_paint (GdkFrameClock *clock,
                Gaps          *gaps)
{
  gint64 now = g_get_monotonic_time ();

  gaps->first_frame_cost = now - gaps->last;
  gaps->last = now;
  g_signal_handlers_disconnect_by_func (clock, on_after_paint, gaps);
}

static gboolean
on_tick (gpointer data)
{
  Gaps *gaps = data;
  gint64 now = g_get_monotonic_time ();

  if (gaps->measuring && gaps->last != 0 && now - gaps->last > gaps->max_gap)
    {
      gaps->max_gap = now - gaps->last;
      gaps->max_gap_at = now - gaps->start;
    }
  gaps->last = now;
  return G_SOURCE_CONTINUE;
}

static void
make_machines (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "vivarium", "machines", NULL);
  const char *oses[] = { "http://debian.org/debian/11", "http://fedoraproject.org/fedora/37",
                         NULL };

  for (guint i = 0; i < N_MACHINES; i++)
    {
      g_autofree char *name = g_strdup_printf ("Machine %03u", i);
      g_autoptr(VivMachineConfig) config = viv_machine_config_new (name, 256 * MIB, 1);
      g_autofree char *folder = NULL;
      g_autofree char *path = NULL;
      g_autoptr(GError) error = NULL;

      config->osinfo = g_strdup (oses[i % G_N_ELEMENTS (oses)]);
      folder = g_build_filename (dir, config->uuid, NULL);
      path = g_build_filename (folder, "machine.json", NULL);
      g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
      g_assert_true (viv_machine_config_save (config, path, &error));
      g_assert_no_error (error);
    }
}

static guint
count_tiles (GtkWidget *window)
{
  g_autoptr(GPtrArray) tiles = viv_test_find_all (window, VIV_TYPE_MACHINE_TILE);
  guint n = 0;

  for (guint i = 0; i < tiles->len; i++)
    if (gtk_widget_get_mapped (tiles->pdata[i]) &&
        viv_machine_tile_get_machine (tiles->pdata[i]) != NULL)
      n++;
  return n;
}

static void
on_loaded (VivLibrary *library G_GNUC_UNUSED,
           GParamSpec *pspec G_GNUC_UNUSED,
           gint64     *loaded)
{
  *loaded = g_get_monotonic_time ();
}

static void
test_many (void)
{
  g_autoptr(VivApplication) app = viv_test_app_new ();
  g_autoptr(GPtrArray) scrolled = NULL;
  Gaps gaps = { 0 };
  gint64 first_frame = 0, shown = 0, loaded = 0, activate_start, activate_end;
  VivWindow *window;
  VivLibrary *library;
  GtkAdjustment *adjustment;
  guint tick;

  gaps.start = g_get_monotonic_time ();
  gaps.measuring = TRUE;
  tick = g_timeout_add_full (G_PRIORITY_HIGH, 2, on_tick, &gaps, NULL);

  library = viv_application_get_library (app);
  g_signal_connect (library, "notify::loaded", G_CALLBACK (on_loaded), &loaded);
  /* Making the window is measured on its own: it is the same for any library */
  gaps.measuring = FALSE;
  activate_start = g_get_monotonic_time ();
  g_application_activate (G_APPLICATION (app));
  activate_end = g_get_monotonic_time ();
  gaps.last = 0;
  gaps.measuring = TRUE;
  g_signal_connect (gtk_widget_get_frame_clock (GTK_WIDGET (gtk_application_get_active_window (GTK_APPLICATION (app)))),
                    "after-paint", G_CALLBACK (on_after_paint), &gaps);
  window = VIV_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_assert_nonnull (window);

  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (window), 1, TIMEOUT_MS));
  first_frame = g_get_monotonic_time ();

  WAIT_UNTIL (g_strcmp0 (viv_window_get_visible_page (window), "collection") == 0 &&
              count_tiles (GTK_WIDGET (window)) > 0, TIMEOUT_MS);
  shown = g_get_monotonic_time ();
  g_assert_cmpstr (viv_window_get_visible_page (window), ==, "collection");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (library)), ==, N_MACHINES);
  g_assert_cmpuint (viv_collection_view_get_n_items (viv_window_get_collection (window)), ==,
                    N_MACHINES);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (window), 5, TIMEOUT_MS));
  /* (a screenshot stops the main loop for a while: not the app's doing) */
  gaps.measuring = FALSE;
  g_free (viv_test_screenshot (GTK_WIDGET (window), "collection-500"));
  gaps.last = 0;
  gaps.measuring = TRUE;

  /* Scroll to the end, a page at a time: tiles are recycled as they go */
  scrolled = viv_test_find_all (GTK_WIDGET (viv_window_get_collection (window)),
                                GTK_TYPE_SCROLLED_WINDOW);
  g_assert_cmpuint (scrolled->len, >=, 1);
  adjustment = gtk_scrolled_window_get_vadjustment (scrolled->pdata[0]);
  while (gtk_adjustment_get_value (adjustment) + gtk_adjustment_get_page_size (adjustment) <
         gtk_adjustment_get_upper (adjustment) - 1)
    {
      gtk_adjustment_set_value (adjustment, gtk_adjustment_get_value (adjustment) +
                                            gtk_adjustment_get_page_size (adjustment));
      g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (window), 2, TIMEOUT_MS));
    }
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (window), 3, TIMEOUT_MS));
  g_assert_cmpuint (count_tiles (GTK_WIDGET (window)), >, 0);
  g_assert_true (g_strcmp0 (viv_window_get_visible_page (window), "collection") == 0);
  gaps.measuring = FALSE;
  g_free (viv_test_screenshot (GTK_WIDGET (window), "collection-500-end"));
  g_source_remove (tick);

  g_test_message ("window made in %.0f ms, its first frame in %.0f ms; first frame %.0f ms "
                  "after the start, machines shown after %.0f ms (library loaded after %.0f "
                  "ms); longest main loop gap otherwise %.1f ms, %.0f ms after the start",
                  (activate_end - activate_start) / 1000.0, gaps.first_frame_cost / 1000.0,
                  (first_frame - gaps.start) / 1000.0, (shown - gaps.start) / 1000.0,
                  loaded != 0 ? (loaded - gaps.start) / 1000.0 : -1.0,
                  gaps.max_gap / 1000.0, gaps.max_gap_at / 1000.0);
  g_assert_cmpint (gaps.max_gap, <, MAX_GAP_MS * 1000);

  g_signal_handlers_disconnect_by_data (library, &loaded);
  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_application_release (G_APPLICATION (app));
}

int
main (int   argc,
      char *argv[])
{
  int status;

  root = viv_test_ui_init (&argc, &argv);

  make_machines ();
  g_test_add_func ("/collection/many", test_many);
  status = g_test_run ();

  viv_test_finish (root);
  return status;
}
