/* viv-file-chooser.h: choosing a file to open, on every GTK we build on
 *
 * A widget-side helper that the wizard and the app's preferences both
 * use. It is GTK, so it cannot be in src/core; it is among the wizard's
 * public headers because the app depends on the wizard, and the wizard
 * may include no app header.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

void   viv_choose_file_async  (GtkWindow           *parent,
                               const char          *title,
                               GtkFileFilter       *filter,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data);
GFile *viv_choose_file_finish (GAsyncResult        *result,
                               GError             **error);

G_END_DECLS
