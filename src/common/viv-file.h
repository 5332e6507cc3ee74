/* viv-file.h: atomic file replacement and private folders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean viv_file_replace          (const char  *path,
                                    const void  *data,
                                    gsize        len,
                                    GError     **error);
gboolean viv_file_make_private_dir (const char  *path,
                                    GError     **error);

/* Removes PATH and, for a folder (not a link to one), everything in it.
 * Best effort: what cannot be removed is left (and named in a debug
 * message). Returns whether all of it went. */
gboolean viv_file_remove_tree      (const char  *path);

/* Test only: called by viv_file_replace() with the temporary file's path
 * once it is written, fsynced and closed, just before the rename. Tests use it
 * to simulate a crash at that point (raise (SIGKILL) from the hook). Not
 * thread-safe; leave it unset (NULL) outside tests. */
typedef void (*VivFileReplaceHook) (const char *tmp_path,
                                    gpointer    user_data);

void     viv_file_set_replace_hook (VivFileReplaceHook  hook,
                                    gpointer            user_data);

G_END_DECLS
