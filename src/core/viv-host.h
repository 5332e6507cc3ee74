/* viv-host.h: what this computer has: memory, CPUs, free space
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

guint64     viv_host_get_memory             (void);
guint64     viv_host_get_max_guest_memory   (void);
guint       viv_host_get_cpus               (void);
/* The most a machine may have: the host's, within what machine.json allows */
guint64     viv_host_memory                 (void);
guint       viv_host_cpus                   (void);
gboolean    viv_host_get_free_space         (const char           *folder,
                                             guint64              *free_bytes,
                                             GCancellable         *cancellable,
                                             GError              **error);
void        viv_host_get_free_space_async   (const char           *folder,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean    viv_host_get_free_space_finish  (GAsyncResult         *result,
                                             guint64              *free_bytes,
                                             GError              **error);

G_END_DECLS
