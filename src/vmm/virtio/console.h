/* virtio/console.h: the console device with multiport (virtio 1.2, 5.3)
 *
 * Port 0 is the console (hvc0 in Linux); further ports are named (the
 * guest sees /dev/virtio-ports/NAME): the SPICE agent's
 * "com.redhat.spice.0" is one. Each port is connected on the host to a
 * character backend: stdio, a file (output only), a listening unix socket
 * (one client at a time; connecting and disconnecting opens and closes the
 * port for the guest), or nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/chardev.h"   /* enum vmm_chardev_kind, struct vmm_chardev_spec */
#include "virtio/device.h"

#define VMM_CONSOLE_MAX_PORTS 16   /* port 0 included */

struct vmm_console_port_spec {
  const char *name;                  /* NULL for port 0 */
  struct vmm_chardev_spec backend;
};

struct vmm_console_config {
  struct vmm_chardev_spec console;   /* port 0 */
  unsigned n_ports;                  /* named ports, after port 0 */
  struct vmm_console_port_spec ports[VMM_CONSOLE_MAX_PORTS - 1];
};

struct vmm_virtio_console;

/* Creates the device and opens its backends. Returns the device, or NULL
 * with ERROR set (see device.h): a socket path that cannot be bound, a
 * file that cannot be created, a duplicate or invalid port name. */
struct vmm_virtio_console *vmm_virtio_console_new  (const struct vmm_virtio_env *env,
                                                    const struct vmm_console_config *config,
                                                    GError **error);
struct vmm_virtio_dev     *vmm_virtio_console_dev  (struct vmm_virtio_console *console);
void                       vmm_virtio_console_free (struct vmm_virtio_console *console);

