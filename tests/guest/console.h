/* console.h: the virtio-console tests (virtio 1.2 §5.3)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "pci.h"

/* Runs the console tests against 1af4:1043 if present (TAP lines), talking
 * to the host harness (run-console.sh) through the ports; one skip line
 * without the device, unless ports= says one is expected. */
void test_console (const struct pci *pci);

/* The port plumbing, for a guest-side service on a named port (agent.c):
 * sets the device up with MULTIPORT, DEVICE_READY, PORT_READY for every
 * port the device adds, PORT_OPEN for the console port.  False without a
 * usable multiport console. */
bool con_attach (const struct pci *pci);
/* The port the device named so, or -1 */
int con_find_port (const char *name);
/* PORT_OPEN (1) from the guest */
bool con_open_port (unsigned port);
/* The host side's last PORT_OPEN value, -1 if none came */
int con_host_open (unsigned port);
/* Receives what the device has for the driver (control and input) */
void con_poll (void);
/* Takes up to max bytes of a port's input (after con_poll) */
size_t con_take (unsigned port, void *buf, size_t max);
/* Writes len (at most 4096) bytes to a port, waiting until they are used */
bool con_write (unsigned port, const void *data, uint32_t len);
