/* test-snapshots.c: the snapshot timeline in the real app under Xvfb
 *
 * A stopped machine whose snapshots/index.json the test writes: "Fresh
 * install" (1), then "Updates" (2) after it, then, reverted to 1,
 * "Experiment" (3), the current one: a branch. 1 and 2 have thumbnails,
 * 3 has none. The machine page's timeline shows them; the operations run
 * through a fake `vivarium-vmm snapshot` (fake-vmm-snapshot.c, selected by
 * $VIVARIUM_VMM as the helper is) that changes index.json as the engine
 * does, so take, rename, revert and delete with undo run end to end.
 * Screenshots go to the build folder's tests/screenshots.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gdk/x11/gdkx.h>

#include "viv-application.h"
#include "viv-file.h"
#include "viv-machine-page.h"
#include "viv-snapshot-timeline.h"
#include "viv-test-probe.h"
#include "viv-test-ui.h"
#include "viv-window.h"

#define TIMEOUT_MS 20000
#define MIB        (G_GUINT64_CONSTANT (1) << 20)

static VivApplication *the_app;
static char *root;

typedef struct
{
  VivWindow           *window;
  VivLibrary          *library;
  VivMachine          *machine;
  VivMachinePage      *page;
  VivSnapshotTimeline *timeline;
  char                *log;       /* what the fake engine ran */
} Fixture;

/* --- helpers ------------------------------------------------------------------------ */

static void
shoot (GtkWidget  *widget,
       const char *name)
{
  g_autofree char *path = NULL;

  g_assert_true (viv_test_wait_for_frames (widget, 20, 10000));
  path = viv_test_screenshot (widget, name);
  g_assert_nonnull (path);
}

static GBytes *
png_of_color (guint32 rgb)
{
  const int w = 64, h = 40;
  g_autofree guchar *pixels = g_malloc ((gsize) w * h * 4);
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  for (int i = 0; i < w * h; i++)
    {
      /* a diagonal stripe, to tell a picture from a flat colour */
      gboolean stripe = (i % w + i / w) % 16 < 4;

      pixels[i * 4 + 0] = stripe ? 255 : (rgb >> 16) & 0xff;
      pixels[i * 4 + 1] = stripe ? 255 : (rgb >> 8) & 0xff;
      pixels[i * 4 + 2] = stripe ? 255 : rgb & 0xff;
      pixels[i * 4 + 3] = 255;
    }
  data = g_bytes_new_take (g_steal_pointer (&pixels), (gsize) w * h * 4);
  texture = gdk_memory_texture_new (w, h, GDK_MEMORY_R8G8B8A8, data, (gsize) w * 4);
  return gdk_texture_save_to_png_bytes (texture);
}

static void
write_thumbnail (const char *machine_dir,
                 const char *id,
                 guint32     rgb)
{
  g_autofree char *dir = g_build_filename (machine_dir, VIV_SNAPSHOT_INDEX_DIR, id, NULL);
  g_autofree char *path = g_build_filename (dir, "thumbnail.png", NULL);
  g_autoptr(GBytes) png = png_of_color (rgb);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, g_bytes_get_data (png, NULL),
                                      (gssize) g_bytes_get_size (png), NULL));
}

/* 1 → 2, 1 → 3, current 3 */
static void
write_branch (const char *machine_dir)
{
  g_autoptr(VivSnapshotIndex) index = viv_snapshot_index_new ();
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  viv_snapshot_index_add (index, "Fresh install", FALSE, now - 3 * 3600 - 60);
  viv_snapshot_index_add (index, "Updates", TRUE, now - 2 * 3600 - 60);
  g_free (index->current);
  index->current = g_strdup ("1");
  viv_snapshot_index_add (index, "Experiment", TRUE, now - 25 * 60);
  g_assert_true (viv_snapshot_index_save (index, machine_dir, &error));
  g_assert_no_error (error);
  write_thumbnail (machine_dir, "1", 0x3465a4);
  write_thumbnail (machine_dir, "2", 0x4e9a06);
}

/* What the engine's file says now */
static VivSnapshotIndex *
index_on_disk (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  VivSnapshotIndex *index = viv_snapshot_index_load (viv_machine_get_directory (f->machine),
                                                     &error);

  g_assert_no_error (error);
  return index;
}

static gboolean
on_disk_has (Fixture    *f,
             const char *id)
{
  g_autoptr(VivSnapshotIndex) index = index_on_disk (f);

  return viv_snapshot_index_find (index, id) != NULL;
}

static gboolean
is_at (Fixture    *f,
       const char *id,
       int         column,
       int         row)
{
  int c = -1, r = -1;

  if (!viv_snapshot_timeline_get_position (f->timeline, id, &c, &r))
    return FALSE;
  if (c != column || r != row)
    g_test_message ("%s is at (%d, %d), not (%d, %d)", id != NULL ? id : "here", c, r,
                    column, row);
  return c == column && r == row;
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
wait_no_dialog (void)
{
  WAIT_UNTIL (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG) == NULL, TIMEOUT_MS);
  g_assert_null (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
}

static gboolean
act (Fixture    *f,
     const char *action,
     const char *id)
{
  if (id == NULL)
    return gtk_widget_activate_action (GTK_WIDGET (f->page), action, NULL);
  return gtk_widget_activate_action (GTK_WIDGET (f->page), action, "s", id);
}

static char *
fake_log (Fixture *f)
{
  char *text = NULL;

  if (!g_file_get_contents (f->log, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static guint
count_in_log (Fixture    *f,
              const char *part)
{
  g_autofree char *text = fake_log (f);
  guint n = 0;

  for (const char *p = strstr (text, part); p != NULL; p = strstr (p + 1, part))
    n++;
  return n;
}

/* The take button in the panel, which follows machine.take-snapshot */
static GtkWidget *
take_button (Fixture *f)
{
  g_autoptr(GPtrArray) buttons = viv_test_find_all (GTK_WIDGET (f->page), GTK_TYPE_BUTTON);

  for (guint i = 0; i < buttons->len; i++)
    if (g_strcmp0 (gtk_actionable_get_action_name (buttons->pdata[i]),
                   "machine.take-snapshot") == 0 && gtk_widget_get_mapped (buttons->pdata[i]))
      return buttons->pdata[i];
  return NULL;
}

/* --- fixture ------------------------------------------------------------------------ */

static void
open_page (Fixture *f)
{
  g_application_activate (G_APPLICATION (the_app));
  f->window = VIV_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (the_app)));
  g_assert_nonnull (f->window);
  g_object_add_weak_pointer (G_OBJECT (f->window), (gpointer *) &f->window);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), 3, 10000));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (f->window), "win.open-machine", "s",
                                             viv_machine_get_uuid (f->machine)));
  f->page = viv_window_get_machine_page (f->window);
  f->timeline = viv_machine_page_get_timeline (f->page);
  g_object_set (f->page, "show-snapshots", TRUE, NULL);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(VivMachineConfig) config = viv_machine_config_new ("Timeline", 64 * MIB, 1);
  g_autoptr(GError) error = NULL;
  const char *content = data;

  f->library = viv_application_get_library (the_app);
  WAIT_UNTIL (viv_library_get_loaded (f->library), TIMEOUT_MS);
  g_assert_true (viv_library_get_loaded (f->library));
  f->machine = viv_library_create_machine (f->library, config, &error);
  g_assert_no_error (error);
  if (g_strcmp0 (content, "branch") == 0)
    write_branch (viv_machine_get_directory (f->machine));
  else if (g_strcmp0 (content, "damaged") == 0)
    {
      g_autofree char *dir = g_build_filename (viv_machine_get_directory (f->machine),
                                               VIV_SNAPSHOT_INDEX_DIR, NULL);
      g_autofree char *path = g_build_filename (dir, VIV_SNAPSHOT_INDEX_FILE, NULL);

      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
      g_assert_true (g_file_set_contents (path, "{ \"version\": 1, ", -1, NULL));
    }
  f->log = g_build_filename (root, "fake-vmm-snapshot.log", NULL);
  g_remove (f->log);
  g_setenv ("VIVARIUM_FAKE_SNAPSHOT_LOG", f->log, TRUE);
  g_unsetenv ("VIVARIUM_FAKE_SNAPSHOT_DELAY_MS");
  open_page (f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  g_autofree char *dir = g_strdup (viv_machine_get_directory (f->machine));

  for (guint i = g_list_model_get_n_items (toplevels); i > 0; i--)
    {
      g_autoptr(GtkWidget) window = g_list_model_get_item (toplevels, i - 1);

      if (!VIV_IS_WINDOW (window))
        gtk_window_destroy (GTK_WINDOW (window));
    }
  if (f->window != NULL)
    gtk_window_destroy (GTK_WINDOW (f->window));
  /* a delete the window's end made final runs to its end */
  WAIT_UNTIL (!viv_machine_get_snapshot_busy (f->machine), TIMEOUT_MS);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  viv_file_remove_tree (dir);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (f->library)) == 0, TIMEOUT_MS);
  g_free (f->log);
}

/* --- tests ---------------------------------------------------------------------------- */

/* The branch: three cards on two rows, "You are here" after 3 */
static void
test_timeline (Fixture       *f,
               gconstpointer  data G_GNUC_UNUSED)
{
  GtkWidget *card, *here;
  GtkStack *thumb;

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 3);
  g_assert_cmpstr (viv_snapshot_timeline_get_view (f->timeline), ==, "timeline");

  /* left to right in time; 3 branches off 1 on a row of its own */
  g_assert_true (is_at (f, "1", 0, 0));
  g_assert_true (is_at (f, "2", 1, 0));
  g_assert_true (is_at (f, "3", 2, 1));
  g_assert_true (is_at (f, NULL, 3, 1));
  here = viv_snapshot_timeline_get_here (f->timeline);
  g_assert_nonnull (here);
  g_assert_cmpstr (gtk_label_get_label (GTK_LABEL (here)), ==, _("You are here"));

  /* each card: its name and its age, and says so to a screen reader */
  card = viv_snapshot_timeline_get_card (f->timeline, "2");
  g_assert_nonnull (viv_test_find_widget (card, GTK_TYPE_LABEL, "Updates"));
  g_assert_nonnull (viv_test_find_widget (card, GTK_TYPE_LABEL, "2 hours ago"));
  g_assert_true (gtk_widget_get_focusable (card));
  g_assert_cmpint (gtk_accessible_get_accessible_role (GTK_ACCESSIBLE (card)), ==,
                   GTK_ACCESSIBLE_ROLE_BUTTON);
  g_assert_cmpstr (gtk_widget_get_tooltip_text (card), ==, "Updates, taken 2 hours ago");
  card = viv_snapshot_timeline_get_card (f->timeline, "3");
  g_assert_cmpstr (gtk_widget_get_tooltip_text (card), ==,
                   "Experiment, taken 25 minutes ago, the current snapshot");
  g_assert_true (gtk_widget_has_css_class (card, "current"));
  /* the current one is selected to begin with */
  g_assert_cmpstr (viv_snapshot_timeline_get_selected (f->timeline), ==, "3");

  /* 1 has a thumbnail, 3 none: a placeholder */
  thumb = g_object_get_data (G_OBJECT (viv_snapshot_timeline_get_card (f->timeline, "1")),
                             "viv-thumb-stack");
  WAIT_UNTIL (g_strcmp0 (gtk_stack_get_visible_child_name (thumb), "picture") == 0, TIMEOUT_MS);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (thumb), ==, "picture");
  thumb = g_object_get_data (G_OBJECT (card), "viv-thumb-stack");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (thumb), ==, "placeholder");

  shoot (GTK_WIDGET (f->window), "snapshot-timeline");
}

/* The keyboard and the mouse: a click selects, the arrows move, the Menu
 * key and a right-click open the card's menu */
static void
test_keys (Fixture       *f,
           gconstpointer  data G_GNUC_UNUSED)
{
  GtkWidget *card1, *card2, *card3;
  GtkPopover *menu;

  if (!viv_test_have_xdotool () || !GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      g_test_skip ("xdotool is not installed: no X input events");
      return;
    }
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  card1 = viv_snapshot_timeline_get_card (f->timeline, "1");
  card2 = viv_snapshot_timeline_get_card (f->timeline, "2");
  card3 = viv_snapshot_timeline_get_card (f->timeline, "3");
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), 20, 10000));

  g_assert_true (viv_test_pointer_to (card1, 20, gtk_widget_get_height (card1) - 10));
  g_assert_true (viv_test_xdo ("click 1"));
  WAIT_UNTIL (gtk_widget_has_focus (card1), TIMEOUT_MS);
  g_assert_true (gtk_widget_has_focus (card1));
  g_assert_cmpstr (viv_snapshot_timeline_get_selected (f->timeline), ==, "1");

  g_assert_true (viv_test_xdo ("key Right"));
  WAIT_UNTIL (gtk_widget_has_focus (card2), TIMEOUT_MS);
  g_assert_true (gtk_widget_has_focus (card2));
  g_assert_cmpstr (viv_snapshot_timeline_get_selected (f->timeline), ==, "2");
  g_assert_true (viv_test_xdo ("key Down"));
  WAIT_UNTIL (gtk_widget_has_focus (card3), TIMEOUT_MS);
  g_assert_true (gtk_widget_has_focus (card3));
  g_assert_true (viv_test_xdo ("key Left"));
  WAIT_UNTIL (gtk_widget_has_focus (card2), TIMEOUT_MS);
  g_assert_true (gtk_widget_has_focus (card2));

  g_assert_true (viv_test_xdo ("key Menu"));
  WAIT_UNTIL ((menu = viv_snapshot_timeline_get_menu (f->timeline, "2")) != NULL &&
              gtk_widget_get_mapped (GTK_WIDGET (menu)), TIMEOUT_MS);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (menu)));
  g_assert_true (viv_test_find_widget (GTK_WIDGET (menu), GTK_TYPE_LABEL, _("_Revert")) != NULL ||
                 viv_test_find_widget (GTK_WIDGET (menu), GTK_TYPE_LABEL, "Revert") != NULL);
  {
    g_autofree char *path = NULL;

    g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (menu), 10, 10000));
    path = viv_test_screenshot_with_popover (GTK_WIDGET (f->window), GTK_WIDGET (menu),
                                             "snapshot-card-menu");
    g_assert_nonnull (path);
  }
  g_assert_true (viv_test_xdo ("key Escape"));
  WAIT_UNTIL (!gtk_widget_get_mapped (GTK_WIDGET (menu)), TIMEOUT_MS);
  g_assert_false (gtk_widget_get_mapped (GTK_WIDGET (menu)));

  /* Ctrl+T takes a snapshot: its dialog */
  g_assert_true (viv_test_xdo ("key ctrl+t"));
  {
    GtkWidget *dialog = wait_dialog ();

    g_assert_true (ADW_IS_MESSAGE_DIALOG (dialog));
    viv_test_dialog_respond (dialog, "cancel");
    wait_no_dialog ();
  }

  /* a right-click selects the card and opens its menu */
  g_assert_true (viv_test_pointer_to (card3, 20, gtk_widget_get_height (card3) - 10));
  g_assert_true (viv_test_xdo ("click 3"));
  WAIT_UNTIL ((menu = viv_snapshot_timeline_get_menu (f->timeline, "3")) != NULL &&
              gtk_widget_get_mapped (GTK_WIDGET (menu)), TIMEOUT_MS);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (menu)));
  g_assert_cmpstr (viv_snapshot_timeline_get_selected (f->timeline), ==, "3");
  gtk_popover_popdown (menu);
}

/* Take, with the name checked in the dialog, on a machine that is off */
static void
test_take (Fixture       *f,
           gconstpointer  data G_GNUC_UNUSED)
{
  AdwMessageDialog *dialog;
  GtkWidget *entry;
  g_autoptr(VivSnapshotIndex) index = NULL;
  g_autofree char *proposed = g_strdup_printf (_("Snapshot %u"), 4);

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  g_assert_true (act (f, "machine.take-snapshot", NULL));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  entry = viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_ENTRY, NULL);
  g_assert_nonnull (entry);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (entry)), ==, proposed);
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "take"));
  shoot (GTK_WIDGET (dialog), "snapshot-take-dialog");

  /* refused as the engine refuses it, and the dialog says why */
  gtk_editable_set_text (GTK_EDITABLE (entry), "   ");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "take"));
  g_assert_true (gtk_widget_has_css_class (entry, "error"));
  g_assert_true (viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_LABEL, NULL) != NULL);
  gtk_editable_set_text (GTK_EDITABLE (entry), "bad\tname");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "take"));
  shoot (GTK_WIDGET (dialog), "snapshot-take-dialog-invalid");

  gtk_editable_set_text (GTK_EDITABLE (entry), "Before the upgrade");
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "take"));
  viv_test_dialog_respond (dialog, "take");
  wait_no_dialog ();

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 4, TIMEOUT_MS);
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 4);
  g_assert_cmpuint (count_in_log (f, "snapshot take --machine"), ==, 1);
  index = index_on_disk (f);
  g_assert_cmpstr (index->current, ==, "4");
  g_assert_cmpstr (viv_snapshot_index_find (index, "4")->name, ==, "Before the upgrade");
  g_assert_cmpstr (viv_snapshot_index_find (index, "4")->parent, ==, "3");
  /* after 3, on its row, and "You are here" after it */
  g_assert_true (is_at (f, "4", 3, 1));
  g_assert_true (is_at (f, NULL, 4, 1));
  g_assert_cmpstr (viv_snapshot_timeline_get_selected (f->timeline), ==, "4");
  g_assert_false (viv_machine_get_snapshot_busy (f->machine));
}

/* One operation at a time: the actions wait while one runs */
static void
test_busy (Fixture       *f,
           gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;
  GtkWidget *button;

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3 && take_button (f) != NULL,
              TIMEOUT_MS);
  button = take_button (f);
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_sensitive (button));

  g_setenv ("VIVARIUM_FAKE_SNAPSHOT_DELAY_MS", "4000", TRUE);
  g_assert_true (act (f, "machine.rename-snapshot", "1"));
  {
    AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
    GtkWidget *entry = viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_ENTRY, NULL);

    gtk_editable_set_text (GTK_EDITABLE (entry), "First Boot");
    viv_test_dialog_respond (dialog, "rename");
  }
  WAIT_UNTIL (viv_machine_get_snapshot_busy (f->machine), TIMEOUT_MS);
  g_assert_true (viv_machine_get_snapshot_busy (f->machine));
  g_assert_false (gtk_widget_get_sensitive (button));

  /* a second operation is refused, not queued behind the first (asked at
   * once: the screenshot's frames may take seconds on a loaded machine) */
  viv_machine_take_snapshot_async (f->machine, "Too soon", NULL, viv_test_store_result,
                                   &result);
  id = viv_machine_take_snapshot_finish (f->machine, viv_test_wait_result (&result), &error);
  g_assert_null (id);
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BUSY);
  shoot (GTK_WIDGET (f->window), "snapshot-busy");

  WAIT_UNTIL (!viv_machine_get_snapshot_busy (f->machine), TIMEOUT_MS);
  g_unsetenv ("VIVARIUM_FAKE_SNAPSHOT_DELAY_MS");
  WAIT_UNTIL (gtk_widget_get_sensitive (button), TIMEOUT_MS);
  g_assert_true (gtk_widget_get_sensitive (button));
  WAIT_UNTIL (viv_test_find_widget (viv_snapshot_timeline_get_card (f->timeline, "1"),
                                    GTK_TYPE_LABEL, "First Boot") != NULL, TIMEOUT_MS);
  g_assert_nonnull (viv_test_find_widget (viv_snapshot_timeline_get_card (f->timeline, "1"),
                                          GTK_TYPE_LABEL, "First Boot"));
  g_assert_cmpuint (count_in_log (f, "snapshot take"), ==, 0);
}

/* Revert asks first; reverted, "You are here" starts a branch after 1 */
static void
test_revert (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  AdwMessageDialog *dialog;
  g_autofree char *heading = g_strdup_printf (_("Revert to “%s”?"), "Fresh install");
  g_autoptr(VivSnapshotIndex) index = NULL;

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  g_assert_true (act (f, "machine.revert-snapshot", "1"));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, heading);
  g_assert_cmpstr (adw_message_dialog_get_body (dialog), ==,
                   _("The machine’s current state will be lost."));
  g_assert_cmpint (adw_message_dialog_get_response_appearance (dialog, "revert"), ==,
                   ADW_RESPONSE_DESTRUCTIVE);
  g_assert_true (adw_message_dialog_has_response (dialog, "take-first"));
  shoot (GTK_WIDGET (dialog), "snapshot-revert-dialog");

  /* Cancel does nothing */
  viv_test_dialog_respond (dialog, "cancel");
  wait_no_dialog ();
  viv_test_sleep_ms (200);
  g_assert_cmpuint (count_in_log (f, "snapshot revert"), ==, 0);

  /* Take Snapshot First: a snapshot of where it is, then the revert */
  g_assert_true (act (f, "machine.revert-snapshot", "1"));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  viv_test_dialog_respond (dialog, "take-first");
  wait_no_dialog ();
  WAIT_UNTIL (count_in_log (f, "snapshot revert --machine") == 1 &&
              !viv_machine_get_snapshot_busy (f->machine), TIMEOUT_MS);
  g_assert_cmpuint (count_in_log (f, "snapshot take --machine"), ==, 1);
  g_assert_cmpuint (count_in_log (f, "snapshot revert --machine"), ==, 1);
  index = index_on_disk (f);
  g_assert_cmpstr (index->current, ==, "1");
  g_assert_nonnull (viv_snapshot_index_find (index, "4"));
  g_assert_cmpstr (viv_snapshot_index_find (index, "4")->parent, ==, "3");

  /* 1 has children: "You are here" is on a new row, right after it */
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 4 && is_at (f, NULL, 1, 2),
              TIMEOUT_MS);
  g_assert_true (is_at (f, NULL, 1, 2));
  g_assert_true (gtk_widget_has_css_class (viv_snapshot_timeline_get_card (f->timeline, "1"),
                                           "current"));
  shoot (GTK_WIDGET (f->window), "snapshot-timeline-reverted");
}

/* Off, reverting to a running machine's snapshot starts the machine from it
 * (vivarium-vmm --machine DIR --restore ID): here the fake helper refuses,
 * and the failed start is shown */
static void
test_start_from (Fixture       *f,
                 gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *heading = g_strdup_printf (_("Start From “%s”?"), "Updates");
  g_autofree char *command = NULL;
  AdwMessageDialog *dialog;

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  command = g_strdup_printf ("--machine %s --restore 2", viv_machine_get_directory (f->machine));
  g_assert_true (act (f, "machine.revert-snapshot", "2"));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, heading);
  g_assert_cmpstr (adw_message_dialog_get_body (dialog), ==,
                   _("The machine starts as it was then. What its disks hold now will be "
                     "lost."));
  g_assert_cmpstr (adw_message_dialog_get_response_label (dialog, "revert"), ==, _("_Start"));
  shoot (GTK_WIDGET (dialog), "snapshot-start-from-dialog");
  viv_test_dialog_respond (dialog, "revert");
  wait_no_dialog ();
  WAIT_UNTIL (count_in_log (f, command) == 1 && !viv_machine_get_snapshot_busy (f->machine),
              TIMEOUT_MS);
  g_assert_cmpuint (count_in_log (f, command), ==, 1);
  /* not the command line's revert of the disks */
  g_assert_cmpuint (count_in_log (f, "snapshot revert"), ==, 0);
  /* the start failed as any start does: the machine says so, and the toast */
  WAIT_UNTIL (viv_machine_get_error_message (f->machine) != NULL &&
              viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_LABEL,
                                    viv_machine_get_error_message (f->machine)) != NULL,
              TIMEOUT_MS);
  g_assert_nonnull (viv_machine_get_error_message (f->machine));
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_LABEL,
                                          viv_machine_get_error_message (f->machine)));
  g_assert_false (viv_machine_get_snapshot_busy (f->machine));
  shoot (GTK_WIDGET (f->window), "snapshot-start-from-failed");
}

/* Delete: gone at once, Undo brings it back; the toast going deletes it */
static void
test_delete_undo (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *toast_title = g_strdup_printf (_("“%s” deleted"), "Updates");
  AdwToast *toast;

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  g_assert_true (act (f, "machine.delete-snapshot", "2"));
  /* at once, before anything ran */
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 2);
  g_assert_null (viv_snapshot_timeline_get_card (f->timeline, "2"));
  toast = viv_machine_page_get_snapshot_toast (f->page);
  g_assert_nonnull (toast);
  g_assert_cmpstr (adw_toast_get_title (toast), ==, toast_title);
  WAIT_UNTIL (viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_LABEL, toast_title) != NULL,
              TIMEOUT_MS);
  shoot (GTK_WIDGET (f->window), "snapshot-delete-toast");

  /* the toast's own button, as a click does */
  {
    GtkWidget *undo = viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_BUTTON, _("_Undo"));

    g_assert_nonnull (undo);
    g_assert_true (gtk_widget_is_sensitive (undo));
    g_assert_true (gtk_widget_activate (undo));
  }
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 3);
  g_assert_true (is_at (f, "2", 1, 0));
  g_assert_null (viv_machine_page_get_snapshot_toast (f->page));
  viv_test_sleep_ms (300);
  g_assert_cmpuint (count_in_log (f, "snapshot delete"), ==, 0);
  g_assert_true (on_disk_has (f, "2"));

  /* Deleted again, and the toast goes: now it is deleted */
  g_assert_true (act (f, "machine.delete-snapshot", "2"));
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 2);
  g_assert_true (on_disk_has (f, "2"));
  toast = viv_machine_page_get_snapshot_toast (f->page);
  g_assert_nonnull (toast);
  /* as its time-out would, once it is in (a toast dismissed while it
   * slides in breaks libadwaita 1.2's next toast) */
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), 40, 10000));
  adw_toast_dismiss (toast);
  WAIT_UNTIL (!on_disk_has (f, "2"), TIMEOUT_MS);
  g_assert_false (on_disk_has (f, "2"));
  g_assert_cmpuint (count_in_log (f, "snapshot delete --machine"), ==, 1);
  /* it does not come back meanwhile */
  while (viv_machine_get_snapshot_busy (f->machine) ||
         viv_machine_get_snapshots (f->machine, NULL) == NULL ||
         viv_snapshot_index_find (viv_machine_get_snapshots (f->machine, NULL), "2") != NULL)
    {
      g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 2);
      g_main_context_iteration (NULL, TRUE);
    }
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 2);
  g_assert_true (is_at (f, "1", 0, 0));
  g_assert_true (is_at (f, "3", 1, 0));
}

/* A failure says what the engine said, and the card comes back */
static void
test_delete_fails (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  const char *said = "The snapshot’s state file cannot be removed: Permission denied";

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  g_setenv ("VIVARIUM_FAKE_SNAPSHOT_FAIL", said, TRUE);
  g_assert_true (act (f, "machine.delete-snapshot", "2"));
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 2);
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), 20, 10000));
  adw_toast_dismiss (viv_machine_page_get_snapshot_toast (f->page));
  WAIT_UNTIL (viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_LABEL, said) != NULL,
              TIMEOUT_MS);
  g_unsetenv ("VIVARIUM_FAKE_SNAPSHOT_FAIL");
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_LABEL, said));
  g_assert_cmpuint (count_in_log (f, "snapshot delete --machine"), ==, 1);
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 3);
  g_assert_true (is_at (f, "2", 1, 0));
  g_assert_true (on_disk_has (f, "2"));
  shoot (GTK_WIDGET (f->window), "snapshot-delete-failed");
}

/* A running machine: the operations go to its helper over D-Bus (a fake
 * helper served by the test, viv-test-util.h), not to the command line */
static void
test_running (Fixture       *f,
              gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivTestFakeHelper) helper = viv_test_fake_helper_new (f->machine);
  g_autofree char *refused = g_strdup_printf (_("“%s” was taken while the machine was off: "
                                                "shut the machine down to revert to it."),
                                              "Fresh install");
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3 && take_button (f) != NULL &&
              gtk_widget_get_sensitive (take_button (f)), TIMEOUT_MS);
  g_assert_true (gtk_widget_get_sensitive (take_button (f)));

  g_assert_true (act (f, "machine.take-snapshot", NULL));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  g_assert_cmpstr (adw_message_dialog_get_body (dialog), ==,
                   _("The snapshot keeps the machine as it is now: its disks, and what runs "
                     "in it."));
  entry = viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_ENTRY, NULL);
  gtk_editable_set_text (GTK_EDITABLE (entry), "Running");
  viv_test_dialog_respond (dialog, "take");
  wait_no_dialog ();
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 4, TIMEOUT_MS);
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 4);
  {
    g_autoptr(VivSnapshotIndex) index = index_on_disk (f);

    g_assert_true (viv_snapshot_index_find (index, "4")->memory);
    g_assert_cmpstr (index->current, ==, "4");
  }
  g_assert_true (is_at (f, "4", 3, 1));
  g_assert_cmpuint (count_in_log (f, "snapshot"), ==, 0);

  /* 1 was taken while off: refused before anything is asked */
  g_assert_true (act (f, "machine.revert-snapshot", "1"));
  WAIT_UNTIL (viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_LABEL, refused) != NULL,
              TIMEOUT_MS);
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (f->window), GTK_TYPE_LABEL, refused));
  g_assert_null (viv_test_find_toplevel (ADW_TYPE_MESSAGE_DIALOG));

  /* 2 ran: reverted by the helper; "You are here" branches off it */
  g_assert_true (act (f, "machine.revert-snapshot", "2"));
  viv_test_dialog_respond (wait_dialog (), "revert");
  wait_no_dialog ();
  WAIT_UNTIL (is_at (f, NULL, 2, 0), TIMEOUT_MS);
  g_assert_true (is_at (f, NULL, 2, 0));
  g_assert_true (gtk_widget_has_css_class (viv_snapshot_timeline_get_card (f->timeline, "2"),
                                           "current"));

  /* rename and delete too */
  g_assert_true (act (f, "machine.rename-snapshot", "4"));
  dialog = ADW_MESSAGE_DIALOG (wait_dialog ());
  gtk_editable_set_text (GTK_EDITABLE (viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_ENTRY,
                                                             NULL)), "Running, renamed");
  viv_test_dialog_respond (dialog, "rename");
  wait_no_dialog ();
  WAIT_UNTIL (viv_test_find_widget (GTK_WIDGET (f->timeline), GTK_TYPE_LABEL,
                                    "Running, renamed") != NULL, TIMEOUT_MS);
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (f->timeline), GTK_TYPE_LABEL,
                                          "Running, renamed"));
  g_assert_true (act (f, "machine.delete-snapshot", "3"));
  g_assert_true (viv_test_wait_for_frames (GTK_WIDGET (f->window), 20, 10000));
  adw_toast_dismiss (viv_machine_page_get_snapshot_toast (f->page));
  WAIT_UNTIL (!on_disk_has (f, "3"), TIMEOUT_MS);
  g_assert_false (on_disk_has (f, "3"));
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3 &&
              is_at (f, "4", 2, 1), TIMEOUT_MS);
  g_assert_true (is_at (f, "4", 2, 1));
  g_assert_cmpuint (count_in_log (f, "snapshot"), ==, 0);
  shoot (GTK_WIDGET (f->window), "snapshot-timeline-running");
}

/* Another program changes the index (the engine from a terminal): the
 * timeline follows the file */
static void
test_file_changes (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivSnapshotIndex) index = NULL;
  g_autoptr(GError) error = NULL;

  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 3, TIMEOUT_MS);
  index = index_on_disk (f);
  g_assert_true (viv_snapshot_index_rename (index, "3", "Changed outside", &error));
  viv_snapshot_index_add (index, "From a terminal", FALSE, g_get_real_time () / G_USEC_PER_SEC);
  g_assert_true (viv_snapshot_index_save (index, viv_machine_get_directory (f->machine), &error));
  g_assert_no_error (error);
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 4, TIMEOUT_MS);
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 4);
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (f->timeline), GTK_TYPE_LABEL,
                                          "Changed outside"));
  g_assert_true (is_at (f, "4", 3, 1));
}

/* No snapshots: the empty state offers to take one */
static void
test_empty (Fixture       *f,
            gconstpointer  data G_GNUC_UNUSED)
{
  GtkWidget *title, *button;

  WAIT_UNTIL (g_strcmp0 (viv_snapshot_timeline_get_view (f->timeline), "empty") == 0 &&
              viv_machine_get_snapshots (f->machine, NULL) != NULL, TIMEOUT_MS);
  g_assert_cmpstr (viv_snapshot_timeline_get_view (f->timeline), ==, "empty");
  title = viv_test_find_widget (GTK_WIDGET (f->timeline), ADW_TYPE_STATUS_PAGE,
                                _("No Snapshots"));
  g_assert_nonnull (title);
  button = viv_test_find_widget (GTK_WIDGET (f->timeline), GTK_TYPE_BUTTON, _("_Take Snapshot"));
  g_assert_nonnull (button);
  WAIT_UNTIL (gtk_widget_get_mapped (button), TIMEOUT_MS);
  g_assert_true (gtk_widget_get_mapped (button));
  shoot (GTK_WIDGET (f->window), "snapshot-timeline-empty");

  /* its button takes the first one */
  g_assert_true (gtk_widget_activate (button));
  viv_test_dialog_respond (wait_dialog (), "take");
  wait_no_dialog ();
  WAIT_UNTIL (viv_snapshot_timeline_get_n_cards (f->timeline) == 1, TIMEOUT_MS);
  g_assert_cmpuint (viv_snapshot_timeline_get_n_cards (f->timeline), ==, 1);
  g_assert_true (is_at (f, "1", 0, 0));
  g_assert_true (is_at (f, NULL, 1, 0));
}

/* A damaged index is said, not guessed at */
static void
test_damaged (Fixture       *f,
              gconstpointer  data G_GNUC_UNUSED)
{
  const GError *error = NULL;

  WAIT_UNTIL (g_strcmp0 (viv_snapshot_timeline_get_view (f->timeline), "error") == 0,
              TIMEOUT_MS);
  g_assert_cmpstr (viv_snapshot_timeline_get_view (f->timeline), ==, "error");
  g_assert_null (viv_machine_get_snapshots (f->machine, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (viv_test_find_widget (GTK_WIDGET (f->timeline), ADW_TYPE_STATUS_PAGE,
                                          _("The Snapshots Cannot Be Read")));
}

int
main (int   argc,
      char *argv[])
{
  int status;

  root = viv_test_ui_init (&argc, &argv);
  the_app = viv_test_app_new ();

#define ADD(name, content, fn) g_test_add ("/snapshots/" name, Fixture, content, \
                                           fixture_setup, fn, fixture_teardown)
  ADD ("timeline", "branch", test_timeline);
  ADD ("keys", "branch", test_keys);
  ADD ("take", "branch", test_take);
  ADD ("busy", "branch", test_busy);
  ADD ("revert", "branch", test_revert);
  ADD ("start-from", "branch", test_start_from);
  ADD ("delete-undo", "branch", test_delete_undo);
  ADD ("delete-fails", "branch", test_delete_fails);
  ADD ("running", "branch", test_running);
  ADD ("file-changes", "branch", test_file_changes);
  ADD ("empty", "none", test_empty);
  ADD ("damaged", "damaged", test_damaged);

  status = g_test_run ();

  g_application_release (G_APPLICATION (the_app));
  g_clear_object (&the_app);
  viv_test_finish (root);
  return status;
}
