/* viv-window-private.h: what the files of VivWindow share
 *
 * viv-window.c has the window itself (the pages, search, the view mode,
 * closing with machines running); viv-window-actions.c has the machine
 * actions (power, rename, preferences, delete and undo).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "viv-window.h"
#include "viv-wizard.h"

G_BEGIN_DECLS

struct _VivWindow
{
  AdwApplicationWindow parent_instance;

  VivLibrary          *library;
  GCancellable        *cancellable;     /* cancelled when the window goes */
  GSettings           *settings;

  /* template children */
  AdwToastOverlay     *toast_overlay;
  GtkStack            *main_stack;
  GtkButton           *view_button;
  GtkToggleButton     *search_button;
  GtkSearchBar        *search_bar;
  GtkSearchEntry      *search_entry;
  GtkStack            *stack;
  GtkSpinner          *loading_spinner;
  AdwStatusPage       *empty_page;
  VivCollectionView   *collection;
  AdwStatusPage       *error_page;
  VivMachinePage      *machine_page;

  gboolean             load_failed;

  /* Deletes the toast can still undo: UUIDs */
  GPtrArray           *pending_deletes;
  AdwToast            *delete_toast;

  /* Closing while machines run */
  AdwMessageDialog    *close_dialog;
  gboolean             close_confirmed;
  gboolean             quit_after_close;
  GPtrArray           *stopping;        /* of VivMachine */
  guint                stop_timeout_id;
  guint                stop_check_id;
  AdwToast            *stop_toast;

  /* The create-machine wizard, while it is open (a weak pointer) */
  VivWizard           *wizard;

  /* VIVARIUM_TIMING: report the first frame that shows machines */
  gulong               after_paint_id;
};

void viv_window_class_init_actions (GtkWidgetClass *widget_class);
void viv_window_init_actions       (VivWindow      *self);
void viv_window_dispose_actions    (VivWindow      *self);
void viv_window_toast              (VivWindow      *self,
                                    const char     *message);
void viv_window_commit_deletes     (VivWindow      *self);
void viv_window_force_off_stopping (VivWindow      *self);

G_END_DECLS
