/* viv-kernel.h: whether a file is a kernel the engine boots
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean viv_kernel_check (const char  *path,
                           GError     **error);

G_END_DECLS
