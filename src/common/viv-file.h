/* viv-file.h: atomic file replacement, private folders, and the small file
 * helpers the engine and the app both use
 *
 * Errors: GError on what sets things up (replacing a file, making a
 * folder), with a message for people; the thin wrappers return -errno or
 * set errno, and their callers turn that into a GError.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Called by viv_file_replace_full() with the temporary file's path once it
 * is written, fsynced and closed, just before the rename. Tests use it to
 * simulate a crash at that point (raise (SIGKILL) from the hook). */
typedef void (*VivFileReplaceHook) (const char *tmp_path,
                                    gpointer    user_data);

gboolean viv_file_replace          (const char          *path,
                                    const void          *data,
                                    gsize                len,
                                    GError             **error);
gboolean viv_file_replace_full     (const char          *path,
                                    const void          *data,
                                    gsize                len,
                                    VivFileReplaceHook   hook,
                                    gpointer             hook_data,
                                    GError             **error);
gboolean viv_file_make_private_dir (const char          *path,
                                    GError             **error);

/* Removes PATH and, for a folder (not a link to one), everything in it.
 * Best effort: what cannot be removed is left (and named in a debug
 * message). Returns whether all of it went. */
gboolean viv_file_remove_tree      (const char          *path);

/* Thin wrappers: FALSE with errno set, or -errno */
gboolean viv_file_write_all        (int                  fd,
                                    const void          *data,
                                    gsize                len);
int      viv_file_fsync_dir        (const char          *path);

/* GErrors from errno, with the message people read */
void     viv_file_set_io_error     (GError             **error,
                                    int                  saved_errno,
                                    const char          *format,
                                    ...) G_GNUC_PRINTF (3, 4);
void     viv_file_set_write_error  (GError             **error,
                                    int                  saved_errno,
                                    const char          *path);

G_END_DECLS
