/* viv-keymap.c: evdev key codes to PC scan code set 1
 *
 * Written from the key codes of linux/input-event-codes.h and the set-1
 * make codes of the PS/2 keyboard references (the USB HID usage to PS/2
 * scan code translation table for the keys past the 84-key layout).
 * Codes 1 to 83 (Esc to keypad .) are the same numbers in both, because
 * the evdev codes were laid out after the XT keyboard; past those the
 * two orders part.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-keymap"

#include "config.h"

#include <linux/input-event-codes.h>

#include "viv-keymap.h"

/* X11's keycodes (and so GDK's hardware keycodes) are evdev's + 8 */
#define EVDEV_OFFSET 8

#define E0(code) (VIV_SCANCODE_EXTENDED | (code))

static const guint16 evdev_to_set1[] = {
  /* The keys of the 84-key AT keyboard: evdev code = scancode */
  [KEY_ESC] = 0x01,
  [KEY_1] = 0x02, [KEY_2] = 0x03, [KEY_3] = 0x04, [KEY_4] = 0x05, [KEY_5] = 0x06,
  [KEY_6] = 0x07, [KEY_7] = 0x08, [KEY_8] = 0x09, [KEY_9] = 0x0a, [KEY_0] = 0x0b,
  [KEY_MINUS] = 0x0c, [KEY_EQUAL] = 0x0d, [KEY_BACKSPACE] = 0x0e, [KEY_TAB] = 0x0f,
  [KEY_Q] = 0x10, [KEY_W] = 0x11, [KEY_E] = 0x12, [KEY_R] = 0x13, [KEY_T] = 0x14,
  [KEY_Y] = 0x15, [KEY_U] = 0x16, [KEY_I] = 0x17, [KEY_O] = 0x18, [KEY_P] = 0x19,
  [KEY_LEFTBRACE] = 0x1a, [KEY_RIGHTBRACE] = 0x1b, [KEY_ENTER] = 0x1c,
  [KEY_LEFTCTRL] = 0x1d,
  [KEY_A] = 0x1e, [KEY_S] = 0x1f, [KEY_D] = 0x20, [KEY_F] = 0x21, [KEY_G] = 0x22,
  [KEY_H] = 0x23, [KEY_J] = 0x24, [KEY_K] = 0x25, [KEY_L] = 0x26,
  [KEY_SEMICOLON] = 0x27, [KEY_APOSTROPHE] = 0x28, [KEY_GRAVE] = 0x29,
  [KEY_LEFTSHIFT] = 0x2a, [KEY_BACKSLASH] = 0x2b,
  [KEY_Z] = 0x2c, [KEY_X] = 0x2d, [KEY_C] = 0x2e, [KEY_V] = 0x2f, [KEY_B] = 0x30,
  [KEY_N] = 0x31, [KEY_M] = 0x32,
  [KEY_COMMA] = 0x33, [KEY_DOT] = 0x34, [KEY_SLASH] = 0x35, [KEY_RIGHTSHIFT] = 0x36,
  [KEY_KPASTERISK] = 0x37, [KEY_LEFTALT] = 0x38, [KEY_SPACE] = 0x39, [KEY_CAPSLOCK] = 0x3a,
  [KEY_F1] = 0x3b, [KEY_F2] = 0x3c, [KEY_F3] = 0x3d, [KEY_F4] = 0x3e, [KEY_F5] = 0x3f,
  [KEY_F6] = 0x40, [KEY_F7] = 0x41, [KEY_F8] = 0x42, [KEY_F9] = 0x43, [KEY_F10] = 0x44,
  [KEY_NUMLOCK] = 0x45, [KEY_SCROLLLOCK] = 0x46,
  [KEY_KP7] = 0x47, [KEY_KP8] = 0x48, [KEY_KP9] = 0x49, [KEY_KPMINUS] = 0x4a,
  [KEY_KP4] = 0x4b, [KEY_KP5] = 0x4c, [KEY_KP6] = 0x4d, [KEY_KPPLUS] = 0x4e,
  [KEY_KP1] = 0x4f, [KEY_KP2] = 0x50, [KEY_KP3] = 0x51, [KEY_KP0] = 0x52,
  [KEY_KPDOT] = 0x53,

  /* The 102nd key (< > on ISO keyboards), F11, F12 */
  [KEY_102ND] = 0x56, [KEY_F11] = 0x57, [KEY_F12] = 0x58,

  /* Japanese and Korean keys (USB's International and LANG usages).
   * Zenkaku/Hankaku has none: on a JIS keyboard it is the key in the
   * grave accent's place, which arrives as KEY_GRAVE. Hangul and Hanja
   * send only f2 and f1 on press; their make codes here are those
   * without the high bit, whose break codes are what the keys send. */
  [KEY_RO] = 0x73, [KEY_KATAKANA] = 0x78, [KEY_HIRAGANA] = 0x77,
  [KEY_HENKAN] = 0x79, [KEY_KATAKANAHIRAGANA] = 0x70, [KEY_MUHENKAN] = 0x7b,
  [KEY_KPJPCOMMA] = 0x5c, [KEY_YEN] = 0x7d,
  [KEY_HANGEUL] = 0x72, [KEY_HANJA] = 0x71,

  /* The 101-key keyboard's duplicated keys, behind 0xe0 */
  [KEY_KPENTER] = E0 (0x1c), [KEY_RIGHTCTRL] = E0 (0x1d), [KEY_KPSLASH] = E0 (0x35),
  [KEY_SYSRQ] = E0 (0x37), /* Print Screen; with Alt the keyboard sends 0x54 */
  [KEY_RIGHTALT] = E0 (0x38),
  [KEY_HOME] = E0 (0x47), [KEY_UP] = E0 (0x48), [KEY_PAGEUP] = E0 (0x49),
  [KEY_LEFT] = E0 (0x4b), [KEY_RIGHT] = E0 (0x4d), [KEY_END] = E0 (0x4f),
  [KEY_DOWN] = E0 (0x50), [KEY_PAGEDOWN] = E0 (0x51), [KEY_INSERT] = E0 (0x52),
  [KEY_DELETE] = E0 (0x53),
  [KEY_PAUSE] = VIV_SCANCODE_PAUSE,

  /* Windows keys */
  [KEY_LEFTMETA] = E0 (0x5b), [KEY_RIGHTMETA] = E0 (0x5c), [KEY_COMPOSE] = E0 (0x5d),

  /* Keypad extras */
  [KEY_KPEQUAL] = 0x59, [KEY_KPCOMMA] = 0x7e,

  /* F13 to F24, as the translation table has them but for two: its F22
   * (0x6d) is what Linux reads as F23 and its F24 (0x76) what Linux
   * reads as Zenkaku/Hankaku, so those two take the codes Linux reads
   * as F22 and F24, which the engine's decoder (src/vmm/display/keymap.c)
   * knows too */
  [KEY_F13] = 0x64, [KEY_F14] = 0x65, [KEY_F15] = 0x66, [KEY_F16] = 0x67,
  [KEY_F17] = 0x68, [KEY_F18] = 0x69, [KEY_F19] = 0x6a, [KEY_F20] = 0x6b,
  [KEY_F21] = 0x6c, [KEY_F22] = E0 (0x79), [KEY_F23] = 0x6e, [KEY_F24] = 0x6f,

  /* Media, power and application keys (the Consumer and Generic
   * Desktop usages of the translation table) */
  [KEY_MUTE] = E0 (0x20), [KEY_VOLUMEDOWN] = E0 (0x2e), [KEY_VOLUMEUP] = E0 (0x30),
  [KEY_PLAYPAUSE] = E0 (0x22), [KEY_STOPCD] = E0 (0x24),
  [KEY_PREVIOUSSONG] = E0 (0x10), [KEY_NEXTSONG] = E0 (0x19), [KEY_MEDIA] = E0 (0x6d),
  [KEY_CALC] = E0 (0x21), [KEY_MAIL] = E0 (0x6c), [KEY_COMPUTER] = E0 (0x6b),
  [KEY_HOMEPAGE] = E0 (0x32), [KEY_SEARCH] = E0 (0x65), [KEY_BOOKMARKS] = E0 (0x66),
  [KEY_REFRESH] = E0 (0x67), [KEY_STOP] = E0 (0x68), [KEY_FORWARD] = E0 (0x69),
  [KEY_BACK] = E0 (0x6a),
  [KEY_POWER] = E0 (0x5e), [KEY_SLEEP] = E0 (0x5f), [KEY_WAKEUP] = E0 (0x63),
};

guint
viv_keymap_scancode_from_keycode (guint hardware_keycode)
{
  guint evdev;

  if (hardware_keycode < EVDEV_OFFSET)
    return 0;
  evdev = hardware_keycode - EVDEV_OFFSET;
  if (evdev >= G_N_ELEMENTS (evdev_to_set1))
    return 0;
  return evdev_to_set1[evdev];
}

guint
viv_keymap_scancode_to_rfb (guint scancode)
{
  return (scancode & 0x7f) | ((scancode & VIV_SCANCODE_EXTENDED) ? 0x80 : 0);
}
