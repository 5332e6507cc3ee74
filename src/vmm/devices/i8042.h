/* devices/i8042.h: the PS/2 controller, with a keyboard and a mouse
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "devices/irq_line.h"
#include "devices/ps2.h"
#include "display/display.h"
#include "log.h"
#include "snapshot/state.h"

enum vmm_i8042_source {
  VMM_I8042_NONE,
  VMM_I8042_KBD,
  VMM_I8042_AUX,
};

struct vmm_i8042 {
  pthread_mutex_t lock;
  uint8_t ram[32];         /* ram[0] is the command byte */
  uint8_t pending_cmd;     /* a command waiting for its data byte, or 0 */
  bool last_write_cmd;     /* the last byte the guest wrote went to 0x64 */
  bool sys;                /* the status register's system flag */
  uint8_t output_port;

  /* The output buffer: a byte from a device's queue, and in front of it
   * the controller's own answer, if any */
  uint8_t out;
  enum vmm_i8042_source out_src;
  uint8_t ctrl_out;
  enum vmm_i8042_source ctrl_src;
  uint8_t last_read;       /* what a read of an empty buffer gives */
  bool xlate_break;        /* translating: an 0xf0 from the keyboard, folded into the next byte */

  struct vmm_ps2_kbd kbd;
  struct vmm_ps2_mouse mouse;

  struct vmm_irq_line kbd_irq, aux_irq;
  bool kbd_level, aux_level;
  struct vmm_input_led_listener leds;
  struct vmm_ratelimit rl;

  void (*reset) (void *opaque);  /* called with no lock held */
  void *opaque;
};

/* Its ISA interrupts: the keyboard's and the mouse's */
#define VMM_I8042_KBD_IRQ 1
#define VMM_I8042_AUX_IRQ 12

/* Ports 0x60 (offset 0) to 0x64 (offset 4); 0x61-0x63 are not ours. */
extern const struct vmm_io_ops vmm_i8042_ops;

/* KBD_IRQ and AUX_IRQ are ISA IRQs 1 and 12, driven as edges: each
 * byte the guest can read raises its line again. LEDS (may be NULL) hears
 * the keyboard LEDs the guest sets, called with no lock held. */
void vmm_i8042_init    (struct vmm_i8042 *kbc, struct vmm_irq_line kbd_irq,
                        struct vmm_irq_line aux_irq, const struct vmm_input_led_listener *leds,
                        void (*reset) (void *opaque), void *opaque);
void vmm_i8042_destroy (struct vmm_i8042 *kbc);

/* The host's input, for the display server (from its thread): the
 * keyboard takes KEY_* codes (key only); the mouse takes BTN_LEFT,
 * BTN_RIGHT, BTN_MIDDLE, BTN_SIDE and BTN_EXTRA through key, rel and
 * wheel; it has no abs. */
struct vmm_input_sink vmm_i8042_keyboard_sink (struct vmm_i8042 *kbc);
struct vmm_input_sink vmm_i8042_mouse_sink    (struct vmm_i8042 *kbc);

/* Whether the guest listens: the keyboard is scanning and its port is
 * enabled in the command byte; the mouse reports (stream or remote) and
 * its port is enabled. For choosing where the host's input goes. */
bool vmm_i8042_keyboard_active (struct vmm_i8042 *kbc);
bool vmm_i8042_mouse_active    (struct vmm_i8042 *kbc);

/* Saved state (snapshot/README.md), one section NAME: the controller's RAM
 * (the command byte first), the command waiting for its data, the output
 * port, the output buffer and the controller's answer in front of it, the
 * translation's pending break, and the keyboard's and the mouse's state
 * (devices/ps2.h) with the bytes in their queues. IRQs 1 and 12 are
 * derived: load with APPLY drives them only where their level changes,
 * and hands the keyboard's LEDs to the listener, so the host's follow. */
void     vmm_i8042_save (const struct vmm_i8042 *kbc, struct vmm_state_writer *w,
                         const char *name);
gboolean vmm_i8042_load (struct vmm_i8042 *kbc, const struct vmm_state_file *f,
                         const char *name, bool apply, GError **error);
