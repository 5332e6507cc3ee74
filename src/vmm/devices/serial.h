/* devices/serial.h: a 16550A UART (the PC's COM ports)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "devices/irq_line.h"
#include "snapshot/state.h"

#define VMM_SERIAL_RX_SIZE 1024

/* Where transmitted bytes go. Called with the UART's lock held. */
typedef void (*vmm_serial_output_fn) (void *opaque, const uint8_t *data, size_t len);

struct vmm_serial {
  pthread_mutex_t lock;
  struct vmm_irq_line irq;
  vmm_serial_output_fn output;
  void *output_opaque;

  uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
  uint8_t dll, dlm;
  bool thr_irq;                 /* THR-empty interrupt pending */
  bool irq_level;               /* what we last drove the line to */

  uint8_t rx[VMM_SERIAL_RX_SIZE];
  unsigned rx_head, rx_len;
};

extern const struct vmm_io_ops vmm_serial_ops; /* 8 ports */

void vmm_serial_init    (struct vmm_serial *s, struct vmm_irq_line irq,
                         vmm_serial_output_fn output, void *output_opaque);
void vmm_serial_destroy (struct vmm_serial *s);

/* Input from the host side. Returns how many bytes were taken (the rest
 * waits until the guest reads). */
size_t vmm_serial_receive  (struct vmm_serial *s, const uint8_t *data, size_t len);
/* Room left in the receive buffer. */
size_t vmm_serial_rx_space (struct vmm_serial *s);

/* Saved state (snapshot/README.md), one section NAME: the registers, the
 * THR-empty interrupt, the bytes received and not read yet. The interrupt
 * line is derived from them: load with APPLY drives it only where the
 * loaded registers change its level, before the irqchip's own state is
 * restored over it. */
void     vmm_serial_save (const struct vmm_serial *s, struct vmm_state_writer *w, const char *name);
gboolean vmm_serial_load (struct vmm_serial *s, const struct vmm_state_file *f, const char *name,
                          bool apply, GError **error);
