/* viv-test-ui.h: helpers for tests that drive the real app under Xvfb
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "viv-application.h"
#include "viv-test-util.h"

G_BEGIN_DECLS

/* Iterates the default main context until CONDITION returns TRUE or
 * TIMEOUT_MS passes; returns the condition's last value. */
gboolean viv_test_wait_for       (gboolean (*condition) (gpointer data),
                                  gpointer   data,
                                  guint      timeout_ms);

/* Waits until WIDGET is mapped and its surface has painted N_FRAMES frames. */
gboolean viv_test_wait_for_frames (GtkWidget *widget,
                                   guint      n_frames,
                                   guint      timeout_ms);

/* Waits until WIDGET has painted a frame after which CONDITION holds: it
 * is asked after each frame, when what the frame showed is laid out */
gboolean viv_test_wait_for_painted (GtkWidget  *widget,
                                    gboolean  (*condition) (gpointer data),
                                    gpointer    data,
                                    guint       timeout_ms);

/* Renders WIDGET as the user sees it and saves it as NAME.png in the folder
 * named by $VIVARIUM_SCREENSHOT_DIR (the build folder's tests/screenshots).
 * Returns the path written, or NULL with a test message when it cannot. */
char    *viv_test_screenshot      (GtkWidget  *widget,
                                   const char *name);

/* Depth-first search for a descendant of ROOT of type TYPE whose
 * text (a GtkLabel's, a GtkButton's label, an AdwStatusPage's or
 * AdwPreferencesRow's title) equals TEXT (NULL: any). */
GtkWidget *viv_test_find_widget   (GtkWidget  *root,
                                   GType       type,
                                   const char *text);

/* Like viv_test_screenshot(), with POPOVER (a menu open over WINDOW) drawn
 * where it shows. */
char    *viv_test_screenshot_with_popover (GtkWidget  *window,
                                           GtkWidget  *popover,
                                           const char *name);

/* Every descendant of ROOT of type TYPE, depth first (transfer container) */
GPtrArray *viv_test_find_all      (GtkWidget  *root,
                                   GType       type);

/* The first mapped toplevel of type TYPE, or NULL */
GtkWidget *viv_test_find_toplevel (GType       type);
/* Answers DIALOG (an AdwMessageDialog) as a person does, by clicking the
 * button of RESPONSE: the dialog closes, then emits the response
 * (adw_message_dialog_response only emits, and leaves it open). */
void      viv_test_dialog_respond (gpointer    dialog,
                                   const char *response);

/* viv_test_init() for a test of the app's widgets: the locale and the
 * app's translations, as the app sets them, and gtk_test_init() */
char    *viv_test_ui_init         (int    *argc,
                                   char ***argv);

/* The app as the tests run it: registered, non-unique (it neither finds
 * nor is found by a Vivarium the user runs) and held; release and unref
 * it at the end */
VivApplication *viv_test_app_new  (void);

void     viv_test_spice_warnings_not_fatal (void);
char    *viv_test_clipboard_text  (GdkClipboard *clipboard);

G_END_DECLS
