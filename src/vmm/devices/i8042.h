/* devices/i8042.h: the PS/2 controller, enough for firmware and for reset
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "log.h"

struct vmm_i8042 {
  pthread_mutex_t lock;
  uint8_t command_byte;
  uint8_t pending_cmd;     /* a command waiting for its data byte, or 0 */
  uint8_t out;             /* output buffer */
  bool out_full;
  uint8_t output_port;
  struct vmm_ratelimit rl;

  void (*reset) (void *opaque);  /* called with no lock held */
  void *opaque;
};

/* Ports 0x60 (offset 0) to 0x64 (offset 4); 0x61-0x63 are not ours. */
extern const struct vmm_io_ops vmm_i8042_ops;

void vmm_i8042_init    (struct vmm_i8042 *kbc, void (*reset) (void *opaque), void *opaque);
void vmm_i8042_destroy (struct vmm_i8042 *kbc);
