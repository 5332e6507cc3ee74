/* viv-machine-private.h: what VivLibrary and VivMachine share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "viv-machine.h"

G_BEGIN_DECLS

GBytes *viv_machine_read_thumbnail (const char *directory);

G_END_DECLS
