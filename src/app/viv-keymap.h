/* viv-keymap.h: a key's hardware code as the PC keyboard scancode
 *
 * The console widgets send keys to the guest as the scancodes a PC
 * keyboard would, so the guest's own layout applies (not ours): GDK
 * gives the key's hardware code (the evdev code + 8 on both X11 and
 * Wayland), this table gives its scan code set 1 ("XT") make code.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Keys sent as 0xe0 then a code are 0x100 | code (spice-client-glib's
 * convention); the break code is the make code | 0x80 */
#define VIV_SCANCODE_EXTENDED 0x100

/* Pause has no make code of its own: the keyboard sends e1 1d 45 e1 9d c5
 * on press and nothing on release. The table gives e0 46 (what Ctrl+Break
 * sends), which QEMU's key tables take for Pause and its PS/2 keyboard
 * turns back into the e1 sequence; a sender that writes bytes itself
 * must check for this value. */
#define VIV_SCANCODE_PAUSE (VIV_SCANCODE_EXTENDED | 0x46)

/* The set-1 scancode of HARDWARE_KEYCODE (GdkEvent's keycode), or 0 when
 * the key has none we know of */
guint viv_keymap_scancode_from_keycode (guint hardware_keycode);

/* SCANCODE as RFB's QEMU Extended Key Event carries it: one byte, the
 * 0xe0 prefix as its high bit (0x11c -> 0x9c); 0 stays 0 */
guint viv_keymap_scancode_to_rfb (guint scancode);

G_END_DECLS
