/* viv-file-chooser.h: choosing a file to open, on every GTK we build on
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
