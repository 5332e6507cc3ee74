/* viv-serial-console.h: a machine's serial console, as text
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-machine.h"

G_BEGIN_DECLS

/* Lines kept; older ones scroll away for good */
#define VIV_SERIAL_CONSOLE_MAX_LINES 5000

#define VIV_TYPE_SERIAL_CONSOLE (viv_serial_console_get_type ())
G_DECLARE_FINAL_TYPE (VivSerialConsole, viv_serial_console, VIV, SERIAL_CONSOLE, GtkWidget)

GtkWidget  *viv_serial_console_new           (void);
VivMachine *viv_serial_console_get_machine   (VivSerialConsole *self);
void        viv_serial_console_set_machine   (VivSerialConsole *self,
                                              VivMachine       *machine);
gboolean    viv_serial_console_get_connected (VivSerialConsole *self);
gboolean    viv_serial_console_get_silent    (VivSerialConsole *self);
char       *viv_serial_console_dup_text      (VivSerialConsole *self);
void        viv_serial_console_send          (VivSerialConsole *self,
                                              const char       *data,
                                              gsize             len);

G_END_DECLS
