/* display/keymap.h: PC scancodes to Linux input codes
 *
 * Placeholder declaration for display/spice.c until the keymap's own
 * header lands (written with virtio-input); the implementation lives there.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>

/* SCANCODE: a set-1 make code, 0xe0XX for one sent after the 0xe0 prefix.
 * Returns the Linux KEY_* code, or 0 for none. */
uint16_t vmm_keymap_from_pc (uint16_t scancode);
