/* viv-file-chooser.c: choosing a file to open, on every GTK we build on
 *
 * GtkFileDialog (GTK 4.10) where there is one, else GtkFileChooserNative
 * (deprecated from 4.10 on); either way a portal where the app runs in a
 * sandbox. FILTER, when given, is offered first, with "All Files" after it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "viv-file-chooser.h"

static GtkFileFilter *
all_files_filter (void)
{
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("All Files"));
  gtk_file_filter_add_pattern (filter, "*");
  return filter;
}

#if GTK_CHECK_VERSION (4, 10, 0)
static void
on_dialog_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GFile *file = gtk_file_dialog_open_finish (GTK_FILE_DIALOG (object), result, &error);

  if (file == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, file, g_object_unref);
}
#else
static void
on_native_response (GtkNativeDialog *dialog,
                    int              response,
                    gpointer         user_data)
{
  g_autoptr(GTask) task = user_data;
  GFile *file = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  if (file == NULL)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "No file was chosen");
  else
    g_task_return_pointer (task, file, g_object_unref);
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}
#endif

/**
 * viv_choose_file_async:
 * @parent: the window it is modal over
 * @title: its title
 * @filter: (nullable): the files it shows first
 *
 * Asks for a file to open.
 */
void
viv_choose_file_async (GtkWindow           *parent,
                       const char          *title,
                       GtkFileFilter       *filter,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GtkFileFilter) all = all_files_filter ();
  GTask *task;

  g_return_if_fail (GTK_IS_WINDOW (parent));
  g_return_if_fail (filter == NULL || GTK_IS_FILE_FILTER (filter));

  task = g_task_new (parent, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_choose_file_async);

#if GTK_CHECK_VERSION (4, 10, 0)
  {
    g_autoptr(GtkFileDialog) dialog = gtk_file_dialog_new ();

    gtk_file_dialog_set_title (dialog, title);
    gtk_file_dialog_set_modal (dialog, TRUE);
    if (filter != NULL)
      {
        g_autoptr(GListStore) filters = g_list_store_new (GTK_TYPE_FILE_FILTER);

        g_list_store_append (filters, filter);
        g_list_store_append (filters, all);
        gtk_file_dialog_set_filters (dialog, G_LIST_MODEL (filters));
        gtk_file_dialog_set_default_filter (dialog, filter);
      }
    gtk_file_dialog_open (dialog, parent, cancellable, on_dialog_done, task);
  }
#else
  {
    GtkFileChooserNative *dialog;

    dialog = gtk_file_chooser_native_new (title, parent, GTK_FILE_CHOOSER_ACTION_OPEN,
                                          _("_Open"), _("_Cancel"));
    gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
    if (filter != NULL)
      {
        gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), filter);
        gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), all);
        gtk_file_chooser_set_filter (GTK_FILE_CHOOSER (dialog), filter);
      }
    g_signal_connect (dialog, "response", G_CALLBACK (on_native_response), task);
    gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
  }
#endif
}

/* Returns: (transfer full) (nullable): the file, or NULL with @error set
 * (G_IO_ERROR_CANCELLED, among others, when none was chosen) */
GFile *
viv_choose_file_finish (GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_choose_file_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
