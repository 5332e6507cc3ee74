/* viv-undo-toast.c: the "… deleted" toast with an Undo button
 *
 * A delete that can be undone shows a toast whose Undo button activates an
 * action on its owner (the window, or a page under it, whose actions the
 * toast cannot reach by name); once the toast goes by itself, the owner's
 * COMMIT runs (from an idle, after an Undo that dismissed the toast). The
 * owner keeps the toast shown in a slot, NULL when none is.
 *
 * A second delete while the toast shows updates that toast (its title, and
 * its time-out starts again) instead of replacing it: dismissing a toast
 * still sliding in and adding another crashes libadwaita 1.2 in
 * adw_animation_skip.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-undo-toast"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-undo-toast.h"

#define UNDO_TIMEOUT_S 7

typedef struct
{
  AdwToast    **slot;         /* in the owner */
  char         *undo_action;
  GSourceFunc   commit;
} UndoToast;

static void
undo_toast_free (UndoToast *undo)
{
  g_free (undo->undo_action);
  g_free (undo);
}

static void
on_undo_clicked (AdwToast  *toast,
                 GtkWidget *owner)
{
  UndoToast *undo = g_object_get_data (G_OBJECT (toast), "viv-undo-toast");

  gtk_widget_activate_action (owner, undo->undo_action, NULL);
}

static void
on_dismissed (AdwToast  *toast,
              GtkWidget *owner)
{
  UndoToast *undo = g_object_get_data (G_OBJECT (toast), "viv-undo-toast");

  /* Withdrawn (by Undo, say): nothing to commit */
  if (*undo->slot != toast)
    return;
  g_clear_object (undo->slot);
  /* Undo's action may run just after the toast goes: commit after it */
  g_idle_add_full (G_PRIORITY_DEFAULT, undo->commit, g_object_ref (owner), g_object_unref);
}

/**
 * viv_undo_toast_show:
 * @slot: where @owner keeps the toast shown, or %NULL
 * @owner: the widget whose @undo_action Undo activates and @commit gets
 * @overlay: the overlay to show the toast in
 * @title: the toast's title (markup)
 * @undo_action: the action Undo activates on @owner
 * @commit: called with @owner in an idle once the toast went by itself
 *
 * Shows @title in a toast with an Undo button, or in the one @slot holds.
 */
void
viv_undo_toast_show (AdwToast        **slot,
                     GtkWidget        *owner,
                     AdwToastOverlay  *overlay,
                     const char       *title,
                     const char       *undo_action,
                     GSourceFunc       commit)
{
  UndoToast *undo;

  g_return_if_fail (slot != NULL);
  g_return_if_fail (GTK_IS_WIDGET (owner));
  g_return_if_fail (ADW_IS_TOAST_OVERLAY (overlay));
  g_return_if_fail (title != NULL && undo_action != NULL && commit != NULL);

  if (*slot != NULL)
    {
      adw_toast_set_title (*slot, title);
      /* Added again while shown, a toast's time-out starts again */
      adw_toast_overlay_add_toast (overlay, g_object_ref (*slot));
      return;
    }

  undo = g_new0 (UndoToast, 1);
  undo->slot = slot;
  undo->undo_action = g_strdup (undo_action);
  undo->commit = commit;

  *slot = adw_toast_new (title);
  g_object_set_data_full (G_OBJECT (*slot), "viv-undo-toast", undo,
                          (GDestroyNotify) undo_toast_free);
  adw_toast_set_button_label (*slot, _("_Undo"));
  g_signal_connect_object (*slot, "button-clicked", G_CALLBACK (on_undo_clicked), owner, 0);
  adw_toast_set_priority (*slot, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_set_timeout (*slot, UNDO_TIMEOUT_S);
  g_signal_connect_object (*slot, "dismissed", G_CALLBACK (on_dismissed), owner, 0);
  adw_toast_overlay_add_toast (overlay, g_object_ref (*slot));
}

/* Takes the toast out of SLOT and dismisses it: no commit follows */
void
viv_undo_toast_withdraw (AdwToast **slot)
{
  g_autoptr(AdwToast) toast = NULL;

  g_return_if_fail (slot != NULL);

  toast = g_steal_pointer (slot);
  if (toast != NULL)
    adw_toast_dismiss (toast);
}

/* For OWNER's dispose: the toast may stay on screen, but it no longer
 * calls OWNER */
void
viv_undo_toast_forget (AdwToast  **slot,
                       GtkWidget  *owner)
{
  g_return_if_fail (slot != NULL);

  if (*slot == NULL)
    return;
  g_signal_handlers_disconnect_by_data (*slot, owner);
  g_clear_object (slot);
}
