/* vmm-test-machine.h: running vivarium-vmm on a machine folder, for the
 * tests that drive a real helper through org.vivarium.Vmm1
 * (test-control.c, test-display.c)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "viv-vmm1-generated.h"

/* Writes DIR/machine.json booting the probe PROBE with CMDLINE, MEMORY bytes
 * and one vCPU; EXTRA is the members after "boot" (NULL: no rng, nothing
 * else).
 * Returns the file's path. */
char *vmm_test_machine_write (const char *dir, const char *uuid, const char *probe,
                              const char *cmdline, guint64 memory, const char *extra);

/* Starts VMM --machine MACHINE_DIR with XDG_RUNTIME_DIR=RUNTIME_DIR; it
 * is killed if the test process dies. */
GSubprocess *vmm_test_machine_spawn (const char *vmm, const char *runtime_dir,
                                     const char *machine_dir, GSubprocessFlags flags);

/* A peer-to-peer D-Bus connection to the helper's SOCKET_PATH and the proxy
 * of its /org/vivarium/Vmm1 */
VivVmm1 *vmm_test_machine_connect (const char *socket_path, GDBusConnection **conn_out);

/* OpenSerial: COM1 as a non-blocking socket */
int vmm_test_machine_open_serial (VivVmm1 *proxy);

/* Appends what can be read from FD now to TO; FALSE once the other end
 * is gone (end of file) or the read failed, TRUE while more may come */
gboolean vmm_test_machine_drain (int fd, GString *to);
