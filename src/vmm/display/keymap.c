/* display/keymap.c: PC keyboard scancodes to Linux input key codes
 *
 * One table, indexed by scancode (0x100 | code for 0xe0 code), written
 * out key by key so a reader can check it against a keyboard.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "display/keymap.h"

#include <linux/input-event-codes.h>

#define E0(code) (0x100 | (code))

static const uint16_t pc_to_linux[VMM_KEYMAP_SCANCODES] = {
  /* The main block, row by row */
  [0x01] = KEY_ESC,
  [0x02] = KEY_1, [0x03] = KEY_2, [0x04] = KEY_3, [0x05] = KEY_4, [0x06] = KEY_5,
  [0x07] = KEY_6, [0x08] = KEY_7, [0x09] = KEY_8, [0x0a] = KEY_9, [0x0b] = KEY_0,
  [0x0c] = KEY_MINUS, [0x0d] = KEY_EQUAL, [0x0e] = KEY_BACKSPACE,
  [0x0f] = KEY_TAB,
  [0x10] = KEY_Q, [0x11] = KEY_W, [0x12] = KEY_E, [0x13] = KEY_R, [0x14] = KEY_T,
  [0x15] = KEY_Y, [0x16] = KEY_U, [0x17] = KEY_I, [0x18] = KEY_O, [0x19] = KEY_P,
  [0x1a] = KEY_LEFTBRACE, [0x1b] = KEY_RIGHTBRACE, [0x1c] = KEY_ENTER,
  [0x1d] = KEY_LEFTCTRL,
  [0x1e] = KEY_A, [0x1f] = KEY_S, [0x20] = KEY_D, [0x21] = KEY_F, [0x22] = KEY_G,
  [0x23] = KEY_H, [0x24] = KEY_J, [0x25] = KEY_K, [0x26] = KEY_L,
  [0x27] = KEY_SEMICOLON, [0x28] = KEY_APOSTROPHE, [0x29] = KEY_GRAVE,
  [0x2a] = KEY_LEFTSHIFT, [0x2b] = KEY_BACKSLASH,
  [0x2c] = KEY_Z, [0x2d] = KEY_X, [0x2e] = KEY_C, [0x2f] = KEY_V, [0x30] = KEY_B,
  [0x31] = KEY_N, [0x32] = KEY_M,
  [0x33] = KEY_COMMA, [0x34] = KEY_DOT, [0x35] = KEY_SLASH, [0x36] = KEY_RIGHTSHIFT,
  [0x37] = KEY_KPASTERISK, [0x38] = KEY_LEFTALT, [0x39] = KEY_SPACE, [0x3a] = KEY_CAPSLOCK,

  /* F1 to F10, the locks, the keypad */
  [0x3b] = KEY_F1, [0x3c] = KEY_F2, [0x3d] = KEY_F3, [0x3e] = KEY_F4, [0x3f] = KEY_F5,
  [0x40] = KEY_F6, [0x41] = KEY_F7, [0x42] = KEY_F8, [0x43] = KEY_F9, [0x44] = KEY_F10,
  [0x45] = KEY_NUMLOCK, [0x46] = KEY_SCROLLLOCK,
  [0x47] = KEY_KP7, [0x48] = KEY_KP8, [0x49] = KEY_KP9, [0x4a] = KEY_KPMINUS,
  [0x4b] = KEY_KP4, [0x4c] = KEY_KP5, [0x4d] = KEY_KP6, [0x4e] = KEY_KPPLUS,
  [0x4f] = KEY_KP1, [0x50] = KEY_KP2, [0x51] = KEY_KP3,
  [0x52] = KEY_KP0, [0x53] = KEY_KPDOT,

  /* Alt + Print Screen (and spice-gtk's Print Screen), the ISO key left of
   * Z, F11, F12, keypad = */
  [0x54] = KEY_SYSRQ,
  [0x56] = KEY_102ND,
  [0x57] = KEY_F11, [0x58] = KEY_F12,
  [0x59] = KEY_KPEQUAL,

  /* F13 to F24 as Linux decodes them (spice-gtk on Linux) */
  [0x5d] = KEY_F13, [0x5e] = KEY_F14, [0x5f] = KEY_F15, [0x55] = KEY_F16,
  [E0 (0x03)] = KEY_F17, [E0 (0x77)] = KEY_F18, [E0 (0x04)] = KEY_F19, [0x5a] = KEY_F20,
  [0x74] = KEY_F21, [E0 (0x79)] = KEY_F22, [0x6d] = KEY_F23, [0x6f] = KEY_F24,
  /* ...and as Windows sends them (0x6d, its F22, is Linux's F23 above) */
  [0x64] = KEY_F13, [0x65] = KEY_F14, [0x66] = KEY_F15, [0x67] = KEY_F16,
  [0x68] = KEY_F17, [0x69] = KEY_F18, [0x6a] = KEY_F19, [0x6b] = KEY_F20,
  [0x6c] = KEY_F21, [0x6e] = KEY_F23,

  /* Japanese and Brazilian keyboards */
  [0x5c] = KEY_KPJPCOMMA,
  [0x70] = KEY_KATAKANAHIRAGANA,
  [0x73] = KEY_RO,
  [0x76] = KEY_ZENKAKUHANKAKU,
  [0x77] = KEY_HIRAGANA,
  [0x78] = KEY_KATAKANA,
  [0x79] = KEY_HENKAN,
  [0x7b] = KEY_MUHENKAN,
  [0x7d] = KEY_YEN,
  [0x7e] = KEY_KPCOMMA,

  /* Korean keyboards: the keys send only f1 and f2, on press; clients
   * (ours, QEMU's tables) give them as 0x71 and 0x72 */
  [0x71] = KEY_HANJA,
  [0x72] = KEY_HANGEUL,

  /* Extended: the right-hand modifiers, keypad Enter and /, Print Screen,
   * Ctrl + Break */
  [E0 (0x1c)] = KEY_KPENTER,
  [E0 (0x1d)] = KEY_RIGHTCTRL,
  [E0 (0x35)] = KEY_KPSLASH,
  [E0 (0x37)] = KEY_SYSRQ,
  [E0 (0x38)] = KEY_RIGHTALT,
  [E0 (0x46)] = KEY_PAUSE,

  /* The editing block and the arrows */
  [E0 (0x47)] = KEY_HOME, [E0 (0x48)] = KEY_UP, [E0 (0x49)] = KEY_PAGEUP,
  [E0 (0x4b)] = KEY_LEFT, [E0 (0x4d)] = KEY_RIGHT,
  [E0 (0x4f)] = KEY_END, [E0 (0x50)] = KEY_DOWN, [E0 (0x51)] = KEY_PAGEDOWN,
  [E0 (0x52)] = KEY_INSERT, [E0 (0x53)] = KEY_DELETE,

  /* The Windows keys and the menu key */
  [E0 (0x5b)] = KEY_LEFTMETA, [E0 (0x5c)] = KEY_RIGHTMETA, [E0 (0x5d)] = KEY_COMPOSE,

  /* ACPI keys */
  [E0 (0x5e)] = KEY_POWER, [E0 (0x5f)] = KEY_SLEEP, [E0 (0x63)] = KEY_WAKEUP,

  /* Multimedia and browser keys (Microsoft's set 1 codes for them) */
  [E0 (0x10)] = KEY_PREVIOUSSONG,
  [E0 (0x19)] = KEY_NEXTSONG,
  [E0 (0x20)] = KEY_MUTE,
  [E0 (0x21)] = KEY_CALC,
  [E0 (0x22)] = KEY_PLAYPAUSE,
  [E0 (0x24)] = KEY_STOPCD,
  [E0 (0x2e)] = KEY_VOLUMEDOWN,
  [E0 (0x30)] = KEY_VOLUMEUP,
  [E0 (0x32)] = KEY_HOMEPAGE,
  [E0 (0x65)] = KEY_SEARCH,
  [E0 (0x66)] = KEY_BOOKMARKS,
  [E0 (0x67)] = KEY_REFRESH,
  [E0 (0x68)] = KEY_STOP,
  [E0 (0x69)] = KEY_FORWARD,
  [E0 (0x6a)] = KEY_BACK,
  [E0 (0x6b)] = KEY_COMPUTER,
  [E0 (0x6c)] = KEY_MAIL,
  [E0 (0x6d)] = KEY_MEDIA,
};

uint16_t
vmm_keymap_pc_to_linux (uint32_t scancode)
{
  return scancode < VMM_KEYMAP_SCANCODES ? pc_to_linux[scancode] : KEY_RESERVED;
}

uint32_t
vmm_keymap_linux_to_pc (uint16_t key)
{
  /* A key at a time, as a person types: a scan of the table is cheap
   * enough, and keeps it the only one. */
  if (key == KEY_RESERVED)
    return 0;
  for (uint32_t i = 0; i < VMM_KEYMAP_SCANCODES; i++)
    if (pc_to_linux[i] == key)
      return i;
  return 0;
}

void
vmm_keymap_key_bits (uint8_t *bitmap, size_t n_bytes)
{
  for (unsigned i = 0; i < VMM_KEYMAP_SCANCODES; i++)
    {
      uint16_t key = pc_to_linux[i];

      if (key != KEY_RESERVED && key / 8u < n_bytes)
        bitmap[key / 8] |= (uint8_t) (1u << (key % 8));
    }
}

bool
vmm_keymap_decode (struct vmm_keymap_decoder *dec, uint8_t byte, uint16_t *key, bool *pressed)
{
  uint32_t code;

  if (dec->prefix == 0xe1)
    {
      /* Pause: 0xe1 1d 45 pressed, 0xe1 9d c5 released; nothing else
       * follows 0xe1 */
      dec->pause[dec->n_pause++] = byte;
      if (dec->n_pause < 2)
        return false;
      dec->prefix = 0;
      dec->n_pause = 0;
      if ((dec->pause[0] & 0x7f) != 0x1d || (dec->pause[1] & 0x7f) != 0x45 ||
          (dec->pause[0] & 0x80) != (dec->pause[1] & 0x80))
        return false;
      *key = KEY_PAUSE;
      *pressed = !(byte & 0x80);
      return true;
    }
  if (byte == 0xe0 || byte == 0xe1)
    {
      dec->prefix = byte;
      dec->n_pause = 0;
      return false;
    }
  code = (byte & 0x7fu) | (dec->prefix == 0xe0 ? 0x100u : 0u);
  dec->prefix = 0;
  *key = pc_to_linux[code];
  *pressed = !(byte & 0x80);
  return *key != KEY_RESERVED;
}
