/* display/keymap.h: PC keyboard scancodes to Linux input key codes
 *
 * SPICE clients send the keys a person presses as PC AT scan codes, set 1
 * (the "XT" codes): one byte per key, bit 7 set on release, and a 0xe0
 * byte before the extended keys (the arrows, right Ctrl and Alt, the
 * Windows keys, multimedia keys). spice-gtk writes an extended key as
 * 0x100 | code; spice-server hands its keyboard interface the bytes
 * themselves. virtio-input takes Linux key codes (KEY_*). This is the
 * translation, for both forms.
 *
 * Where clients disagree, both are taken: F13 to F24 as spice-gtk on
 * Linux sends them (Linux's own set 1 decoding: 0x5d, 0x5e, 0x5f, 0x55,
 * 0xe0 03, 0xe0 77, 0xe0 04, 0x5a, 0x74, 0xe0 79, 0x6d, 0x6f) and F13 to
 * F21 and F23 as Windows clients send them (0x64 to 0x6c, 0x6e); Print
 * Screen as 0xe0 37 (the key) and 0x54 (Alt + Print Screen, and what
 * spice-gtk sends for it). Pause comes as 0xe1 1d 45 (press) and 0xe1 9d
 * c5 (release), or as 0xe0 46 (Ctrl + Break). The fake shifts a real
 * keyboard sends around some extended keys (0xe0 2a, 0xe0 36) are not
 * keys and give nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Scancodes the table knows: 0x00 to 0x7f, and 0x100 | code for 0xe0 code */
#define VMM_KEYMAP_SCANCODES 0x180

/* The Linux key code for SCANCODE (a press code: 0x01 to 0x7f, or
 * 0x100 | code for an extended key), or 0 (KEY_RESERVED) when it is no
 * key we know. */
uint16_t vmm_keymap_pc_to_linux (uint32_t scancode);

/* The other way, for a device that sends scancodes (the PS/2 keyboard):
 * the scancode of Linux key code KEY, in the same form, or 0 when the
 * table has none. Where several scancodes give KEY, the lowest: 0x54
 * (Alt + Print Screen) for KEY_SYSRQ, Linux's F13 to F24. */
uint32_t vmm_keymap_linux_to_pc (uint16_t key);

/* Sets the bit of every key code the table gives in BITMAP (N_BYTES
 * bytes, bit K in byte K / 8, as evdev and virtio-input lay them out);
 * codes past the end are left out. KEY_PAUSE is among them. */
void vmm_keymap_key_bits (uint8_t *bitmap, size_t n_bytes);

/* The bytes of a scancode stream, one at a time (spice-server's keyboard
 * interface): the state between them. Zero it to start. */
struct vmm_keymap_decoder {
  uint8_t prefix;       /* 0, 0xe0, or 0xe1 */
  uint8_t pause[2];     /* bytes after 0xe1 so far */
  uint8_t n_pause;
};

/* Takes BYTE. Returns true with *KEY and *PRESSED set when it completes a
 * key we know; false when it is a prefix, part of Pause's sequence, or
 * an unknown or fake key. */
bool vmm_keymap_decode (struct vmm_keymap_decoder *dec, uint8_t byte, uint16_t *key,
                        bool *pressed);
