/* devices/ps2.h: a PS/2 keyboard and a PS/2 mouse, behind the i8042
 *
 * The devices on the other end of the controller's two ports: each takes
 * the bytes the guest sends it (commands and their arguments) and answers
 * into its own queue, from which the controller moves bytes to its output
 * buffer one at a time. Host input (Linux key codes, relative motion)
 * becomes scancodes and movement packets in the same queues.
 *
 * No locking here: the controller (devices/i8042.c) calls every function
 * with its lock held.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "snapshot/state.h"

/* A real keyboard buffers 16 bytes; the mouse gets the same, four packets */
#define VMM_PS2_QUEUE_LEN 16

struct vmm_ps2_queue {
  uint8_t data[VMM_PS2_QUEUE_LEN];
  uint8_t head;
  uint8_t count;
};

bool vmm_ps2_queue_pop (struct vmm_ps2_queue *q, uint8_t *byte);

struct vmm_ps2_kbd {
  struct vmm_ps2_queue q;
  uint8_t cmd;             /* a command waiting for its argument, or 0 */
  uint8_t set;             /* scancode set: 1 or 2 */
  uint8_t leds;            /* as the guest set them: bit 0 Scroll, 1 Num, 2 Caps */
  uint8_t typematic;       /* stored only: see ps2.c */
  uint8_t last;            /* the last byte sent, for 0xfe (resend) */
  uint8_t mods;            /* Ctrl and Alt held: Pause and Print Screen depend on them */
  bool scanning;
  bool leds_changed;       /* the guest wrote 0xed's argument since last asked */
};

struct vmm_ps2_mouse {
  struct vmm_ps2_queue q;
  uint8_t cmd;             /* a command waiting for its argument, or 0 */
  uint8_t id;              /* 0, 3 (IntelliMouse: wheel) or 4 (Explorer: + buttons 4, 5) */
  uint8_t rate;
  uint8_t resolution;
  uint8_t rates[3];        /* the last three sample rates set, for the ID knocks */
  uint8_t buttons;         /* bit 0 left, 1 right, 2 middle, 3 side, 4 extra */
  bool reporting;
  bool remote;
  bool scale21;
  bool wrap;
  bool dirty;              /* buttons changed since the last packet */
  int32_t dx, dy, dz;      /* motion not sent yet: x right, y up, z wheel down */
};

/* Power-on state: set 2, scanning, LEDs off */
void vmm_ps2_kbd_init  (struct vmm_ps2_kbd *kbd);
/* A byte from the guest (through the controller's data port) */
void vmm_ps2_kbd_write (struct vmm_ps2_kbd *kbd, uint8_t byte);
/* A key (KEY_*) pressed or released on the host: its scancodes, in the
 * current set, when scanning; dropped when the queue is full, as a real
 * keyboard's overrun (an overrun code takes the last place). */
void vmm_ps2_kbd_key   (struct vmm_ps2_kbd *kbd, uint16_t key, bool pressed);

/* The set-1 byte the 8042 passes on for the set-2 byte CODE when it
 * translates; the caller folds an 0xf0 before it into bit 7. */
uint8_t vmm_ps2_translate (uint8_t code);

void vmm_ps2_mouse_init   (struct vmm_ps2_mouse *mouse);
void vmm_ps2_mouse_write  (struct vmm_ps2_mouse *mouse, uint8_t byte);
/* BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA; others are ignored */
void vmm_ps2_mouse_button (struct vmm_ps2_mouse *mouse, uint16_t button, bool pressed);
/* Relative motion as the host gives it: y down, wheel + up */
void vmm_ps2_mouse_move   (struct vmm_ps2_mouse *mouse, int32_t dx, int32_t dy, int32_t wheel);
/* Queues what movement packets fit (stream mode, reporting on); the
 * controller calls it whenever the queue may have room. */
void vmm_ps2_mouse_flush  (struct vmm_ps2_mouse *mouse);

/* Saved state: the fields of a keyboard and a mouse, inside the
 * controller's section (devices/i8042.c). put writes them; get reads them
 * into a copy, checking each (vmm_state_reader_fail for a bad one), with
 * the queue from its start. The keyboard's leds_changed is a note for the
 * controller, never pending between two accesses: not saved. */
void vmm_ps2_kbd_put   (const struct vmm_ps2_kbd *kbd, struct vmm_state_writer *w);
void vmm_ps2_kbd_get   (struct vmm_ps2_kbd *kbd, struct vmm_state_reader *r);
void vmm_ps2_mouse_put (const struct vmm_ps2_mouse *mouse, struct vmm_state_writer *w);
void vmm_ps2_mouse_get (struct vmm_ps2_mouse *mouse, struct vmm_state_reader *r);
