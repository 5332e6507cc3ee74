/* devices/debugcon.h: the firmware's debug console (one I/O port, 0x402)
 *
 * SeaBIOS and OVMF write their debug log a byte at a time to port 0x402
 * when they run on QEMU, and check that the port reads back 0xe9 first.
 * We hand the text on a line at a time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stddef.h>

#include "bus.h"

#define VMM_PORT_DEBUGCON    0x402
#define VMM_DEBUGCON_LINE    256

struct vmm_debugcon {
  pthread_mutex_t lock;
  char line[VMM_DEBUGCON_LINE];
  size_t len;
  /* Called on a vCPU thread with one line, without its newline, NUL-ended
   * (a longer line comes in pieces). Must not block for long. */
  void (*line_fn) (void *opaque, const char *line);
  void *opaque;
};

extern const struct vmm_io_ops vmm_debugcon_ops; /* one port */

void vmm_debugcon_init    (struct vmm_debugcon *con, void (*line_fn) (void *, const char *),
                           void *opaque);
/* Hands on what is left of the last line. */
void vmm_debugcon_destroy (struct vmm_debugcon *con);
