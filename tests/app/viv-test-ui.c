/* viv-test-ui.c: helpers for tests that drive the real app under Xvfb
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <locale.h>

#include <adwaita.h>
#include <glib/gstdio.h>

#include "viv-test-ui.h"

static gboolean
on_timeout (gpointer data)
{
  gboolean *expired = data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
keep_polling (gpointer data G_GNUC_UNUSED)
{
  return G_SOURCE_CONTINUE;
}

gboolean
viv_test_wait_for (gboolean (*condition) (gpointer data),
                   gpointer   data,
                   guint      timeout_ms)
{
  gboolean expired = FALSE;
  guint id, poll_id;
  gboolean ok;
  gint64 next = 0;

  id = g_timeout_add (timeout_ms, on_timeout, &expired);
  /* A condition may change with no event of the main loop's (a helper's
   * thread, a file, a child): look again at least every 20 ms. But a
   * costly one (a whole screen compared) looked at that often would take
   * the main loop from what it waits for: never more than a fifth of the
   * time in it. */
  poll_id = g_timeout_add (20, keep_polling, NULL);
  for (;;)
    {
      gint64 start = g_get_monotonic_time ();

      if (start >= next)
        {
          if ((ok = condition (data)))
            break;
          next = g_get_monotonic_time () + 4 * (g_get_monotonic_time () - start);
        }
      if (expired)
        {
          ok = condition (data);
          break;
        }
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (poll_id);
  if (!expired)
    g_source_remove (id);
  return ok;
}

typedef struct {
  GtkWidget *widget;
  guint frames;
  guint wanted;
  gboolean (*condition) (gpointer data);
  gpointer data;
  gboolean done;
} FrameWait;

static void
on_after_paint (GdkFrameClock *clock G_GNUC_UNUSED,
                gpointer       data)
{
  FrameWait *wait = data;

  /* Keep frames coming until we have seen enough of them. */
  wait->frames++;
  wait->done = wait->frames >= wait->wanted &&
               (wait->condition == NULL || wait->condition (wait->data));
  if (!wait->done)
    gtk_widget_queue_draw (wait->widget);
}

static gboolean
frames_done (gpointer data)
{
  FrameWait *wait = data;

  return wait->done;
}

static gboolean
is_mapped (gpointer data)
{
  return gtk_widget_get_mapped (GTK_WIDGET (data)) &&
         gtk_widget_get_frame_clock (GTK_WIDGET (data)) != NULL;
}

static gboolean
wait_for_painted (FrameWait *wait,
                  guint      timeout_ms)
{
  GdkFrameClock *clock;
  gulong id;
  gboolean ok;

  if (!viv_test_wait_for (is_mapped, wait->widget, timeout_ms))
    return FALSE;

  clock = gtk_widget_get_frame_clock (wait->widget);
  id = g_signal_connect (clock, "after-paint", G_CALLBACK (on_after_paint), wait);
  /* Something must be drawn for frames to come: ask for a redraw. */
  gtk_widget_queue_draw (wait->widget);
  ok = viv_test_wait_for (frames_done, wait, timeout_ms);
  g_signal_handler_disconnect (clock, id);
  return ok;
}

gboolean
viv_test_wait_for_frames (GtkWidget *widget,
                          guint      n_frames,
                          guint      timeout_ms)
{
  FrameWait wait = { widget, 0, n_frames, NULL, NULL, n_frames == 0 };

  return wait_for_painted (&wait, timeout_ms);
}

gboolean
viv_test_wait_for_painted (GtkWidget  *widget,
                           gboolean  (*condition) (gpointer data),
                           gpointer    data,
                           guint       timeout_ms)
{
  FrameWait wait = { widget, 0, 1, condition, data, FALSE };

  return wait_for_painted (&wait, timeout_ms);
}

char *
viv_test_screenshot (GtkWidget  *widget,
                     const char *name)
{
  const char *dir = g_getenv ("VIVARIUM_SCREENSHOT_DIR");
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GtkSnapshot) snapshot = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *file = NULL;
  g_autofree char *path = NULL;
  GskRenderer *renderer;
  int width, height;

  if (dir == NULL)
    {
      g_test_message ("VIVARIUM_SCREENSHOT_DIR is not set: no screenshot of %s", name);
      return NULL;
    }
  g_mkdir_with_parents (dir, 0755);

  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  paintable = gtk_widget_paintable_new (widget);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  if (node == NULL)
    {
      g_test_message ("%s drew nothing", name);
      return NULL;
    }

  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  file = g_strconcat (name, ".png", NULL);
  path = g_build_filename (dir, file, NULL);
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_test_message ("could not write %s", path);
      return NULL;
    }
  g_test_message ("screenshot: %s", path);
  return g_steal_pointer (&path);
}

static const char *
widget_text (GtkWidget *widget)
{
  if (GTK_IS_LABEL (widget))
    return gtk_label_get_label (GTK_LABEL (widget));
  if (ADW_IS_STATUS_PAGE (widget))
    return adw_status_page_get_title (ADW_STATUS_PAGE (widget));
  if (GTK_IS_BUTTON (widget))
    return gtk_button_get_label (GTK_BUTTON (widget));
  if (ADW_IS_PREFERENCES_ROW (widget))
    return adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget));
  return NULL;
}

GtkWidget *
viv_test_find_widget (GtkWidget  *root,
                      GType       type,
                      const char *text)
{
  if (g_type_is_a (G_OBJECT_TYPE (root), type) &&
      (text == NULL || g_strcmp0 (widget_text (root), text) == 0))
    return root;

  for (GtkWidget *child = gtk_widget_get_first_child (root);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = viv_test_find_widget (child, type, text);
      if (found != NULL)
        return found;
    }
  return NULL;
}

char *
viv_test_screenshot_with_popover (GtkWidget  *window,
                                  GtkWidget  *popover,
                                  const char *name)
{
  const char *dir = g_getenv ("VIVARIUM_SCREENSHOT_DIR");
  g_autoptr(GdkPaintable) window_paintable = NULL;
  g_autoptr(GdkPaintable) popover_paintable = NULL;
  g_autoptr(GtkSnapshot) snapshot = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *file = NULL;
  g_autofree char *path = NULL;
  GdkSurface *surface;
  double window_dx, window_dy, popover_dx, popover_dy;
  int width, height, x, y;

  if (dir == NULL)
    {
      g_test_message ("VIVARIUM_SCREENSHOT_DIR is not set: no screenshot of %s", name);
      return NULL;
    }
  g_mkdir_with_parents (dir, 0755);

  /* Where the popover's widget is, in the window widget's coordinates:
   * its surface's place in the parent surface, less the shadows around
   * both widgets in their surfaces. */
  surface = gtk_native_get_surface (GTK_NATIVE (popover));
  gtk_native_get_surface_transform (GTK_NATIVE (window), &window_dx, &window_dy);
  gtk_native_get_surface_transform (GTK_NATIVE (popover), &popover_dx, &popover_dy);
  x = gdk_popup_get_position_x (GDK_POPUP (surface)) + (int) (popover_dx - window_dx);
  y = gdk_popup_get_position_y (GDK_POPUP (surface)) + (int) (popover_dy - window_dy);

  width = gtk_widget_get_width (window);
  height = gtk_widget_get_height (window);
  window_paintable = gtk_widget_paintable_new (window);
  popover_paintable = gtk_widget_paintable_new (popover);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (window_paintable, GDK_SNAPSHOT (snapshot), width, height);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y));
  gdk_paintable_snapshot (popover_paintable, GDK_SNAPSHOT (snapshot),
                          gtk_widget_get_width (popover), gtk_widget_get_height (popover));
  gtk_snapshot_restore (snapshot);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  if (node == NULL)
    return NULL;

  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  file = g_strconcat (name, ".png", NULL);
  path = g_build_filename (dir, file, NULL);
  if (!gdk_texture_save_to_png (texture, path))
    {
      g_test_message ("could not write %s", path);
      return NULL;
    }
  g_test_message ("screenshot: %s", path);
  return g_steal_pointer (&path);
}

static void
find_all (GtkWidget *root,
          GType      type,
          GPtrArray *found)
{
  if (g_type_is_a (G_OBJECT_TYPE (root), type))
    g_ptr_array_add (found, root);
  for (GtkWidget *child = gtk_widget_get_first_child (root);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    find_all (child, type, found);
}

GPtrArray *
viv_test_find_all (GtkWidget *root,
                   GType      type)
{
  GPtrArray *found = g_ptr_array_new ();

  find_all (root, type, found);
  return found;
}

GtkWidget *
viv_test_find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) widget = g_list_model_get_item (toplevels, i);

      if (g_type_is_a (G_OBJECT_TYPE (widget), type) && gtk_widget_get_mapped (widget))
        return widget;
    }
  return NULL;
}

void
viv_test_dialog_respond (gpointer    dialog,
                         const char *response)
{
  const char *label = adw_message_dialog_get_response_label (ADW_MESSAGE_DIALOG (dialog), response);
  GtkWidget *button = viv_test_find_widget (GTK_WIDGET (dialog), GTK_TYPE_BUTTON, label);

  g_assert_nonnull (button);
  g_signal_emit_by_name (button, "clicked");
}

char *
viv_test_ui_init (int    *argc,
                  char ***argv)
{
  char *root = viv_test_init_folders ((*argv)[0]);

  /* As main.c starts the app */
  setlocale (LC_ALL, "");
  viv_application_init_i18n ();
  gtk_test_init (argc, argv, NULL);
  return root;
}

VivApplication *
viv_test_app_new (void)
{
  g_autoptr(GError) error = NULL;
  VivApplication *app = viv_application_new ();

  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (app), NULL, &error);
  g_assert_no_error (error);
  g_application_hold (G_APPLICATION (app));
  return app;
}

static gboolean
from_spice (const GLogField *fields,
            gsize            n_fields)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
      return g_str_has_prefix (fields[i].value, "GSpice")
             || g_strcmp0 (fields[i].value, "Spice") == 0;
  return FALSE;
}

/* Warnings and criticals stay fatal, but spice-client-glib's */
static GLogWriterOutput
write_log (GLogLevelFlags   level,
           const GLogField *fields,
           gsize            n_fields,
           gpointer         data)
{
  GLogWriterOutput output = g_log_writer_default (level, fields, n_fields, data);

  if ((level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL)) && !from_spice (fields, n_fields))
    {
      g_printerr ("(a warning or critical outside spice-client-glib ends the test)\n");
      abort ();
    }
  return output;
}

/**
 * viv_test_spice_warnings_not_fatal:
 *
 * spice-client-glib complains when a connection ends inside its link
 * (a warning for "incomplete link header", a critical for "incomplete
 * link reply"), as a machine page's screen does when the page moves to
 * another machine, the machine stops or the session reconnects while a
 * channel opens; the next client also takes the helper's server from
 * the one before. Those go to the log and the tests' checks decide;
 * every other warning and critical still ends the test. (GLib's fatal
 * handler cannot pick out one domain: spice logs through the structured
 * API, which does not ask it; a writer can.) For the tests that show a
 * running machine's screen; call it once.
 */
void
viv_test_spice_warnings_not_fatal (void)
{
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_log_set_writer_func (write_log, NULL, NULL);
}

static void
on_clipboard_text (GObject      *object,
                   GAsyncResult *result,
                   gpointer      data)
{
  char **text = data;

  *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (object), result, NULL);
  if (*text == NULL)
    *text = g_strdup ("");
}

/* CLIPBOARD's text, "" when it has none (read within 10 s) */
char *
viv_test_clipboard_text (GdkClipboard *clipboard)
{
  char *text = NULL;

  gdk_clipboard_read_text_async (clipboard, NULL, on_clipboard_text, &text);
  WAIT_UNTIL (text != NULL, 10000);
  return text != NULL ? text : g_strdup ("");
}
