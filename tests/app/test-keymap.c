/* test-keymap.c: the hardware keycode to PC scancode table
 *
 * Every expected value is written here from the scan code set 1
 * references (make codes; 0xe0-prefixed keys as 0x100 | code), not
 * derived from the table under test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <linux/input-event-codes.h>

#include "viv-keymap.h"

/* GDK's hardware keycode of an evdev key */
#define X(evdev) ((evdev) + 8)

typedef struct {
  const char *name;
  guint       keycode;
  guint       scancode;
} Key;

/* A PC-105 (ISO) keyboard, row by row, then the keypad */
static const Key pc105[] = {
  { "Escape", X (KEY_ESC), 0x01 },
  { "F1", X (KEY_F1), 0x3b }, { "F2", X (KEY_F2), 0x3c }, { "F3", X (KEY_F3), 0x3d },
  { "F4", X (KEY_F4), 0x3e }, { "F5", X (KEY_F5), 0x3f }, { "F6", X (KEY_F6), 0x40 },
  { "F7", X (KEY_F7), 0x41 }, { "F8", X (KEY_F8), 0x42 }, { "F9", X (KEY_F9), 0x43 },
  { "F10", X (KEY_F10), 0x44 }, { "F11", X (KEY_F11), 0x57 }, { "F12", X (KEY_F12), 0x58 },
  { "Print", X (KEY_SYSRQ), 0x137 }, { "Scroll_Lock", X (KEY_SCROLLLOCK), 0x46 },
  { "Pause", X (KEY_PAUSE), 0x146 },

  { "grave", X (KEY_GRAVE), 0x29 },
  { "1", X (KEY_1), 0x02 }, { "2", X (KEY_2), 0x03 }, { "3", X (KEY_3), 0x04 },
  { "4", X (KEY_4), 0x05 }, { "5", X (KEY_5), 0x06 }, { "6", X (KEY_6), 0x07 },
  { "7", X (KEY_7), 0x08 }, { "8", X (KEY_8), 0x09 }, { "9", X (KEY_9), 0x0a },
  { "0", X (KEY_0), 0x0b }, { "minus", X (KEY_MINUS), 0x0c }, { "equal", X (KEY_EQUAL), 0x0d },
  { "BackSpace", X (KEY_BACKSPACE), 0x0e },

  { "Tab", X (KEY_TAB), 0x0f },
  { "q", X (KEY_Q), 0x10 }, { "w", X (KEY_W), 0x11 }, { "e", X (KEY_E), 0x12 },
  { "r", X (KEY_R), 0x13 }, { "t", X (KEY_T), 0x14 }, { "y", X (KEY_Y), 0x15 },
  { "u", X (KEY_U), 0x16 }, { "i", X (KEY_I), 0x17 }, { "o", X (KEY_O), 0x18 },
  { "p", X (KEY_P), 0x19 }, { "bracketleft", X (KEY_LEFTBRACE), 0x1a },
  { "bracketright", X (KEY_RIGHTBRACE), 0x1b }, { "Return", X (KEY_ENTER), 0x1c },

  { "Caps_Lock", X (KEY_CAPSLOCK), 0x3a },
  { "a", X (KEY_A), 0x1e }, { "s", X (KEY_S), 0x1f }, { "d", X (KEY_D), 0x20 },
  { "f", X (KEY_F), 0x21 }, { "g", X (KEY_G), 0x22 }, { "h", X (KEY_H), 0x23 },
  { "j", X (KEY_J), 0x24 }, { "k", X (KEY_K), 0x25 }, { "l", X (KEY_L), 0x26 },
  { "semicolon", X (KEY_SEMICOLON), 0x27 }, { "apostrophe", X (KEY_APOSTROPHE), 0x28 },
  { "numbersign (ISO)", X (KEY_BACKSLASH), 0x2b },

  { "Shift_L", X (KEY_LEFTSHIFT), 0x2a }, { "less (102nd key)", X (KEY_102ND), 0x56 },
  { "z", X (KEY_Z), 0x2c }, { "x", X (KEY_X), 0x2d }, { "c", X (KEY_C), 0x2e },
  { "v", X (KEY_V), 0x2f }, { "b", X (KEY_B), 0x30 }, { "n", X (KEY_N), 0x31 },
  { "m", X (KEY_M), 0x32 }, { "comma", X (KEY_COMMA), 0x33 }, { "period", X (KEY_DOT), 0x34 },
  { "slash", X (KEY_SLASH), 0x35 }, { "Shift_R", X (KEY_RIGHTSHIFT), 0x36 },

  { "Control_L", X (KEY_LEFTCTRL), 0x1d }, { "Super_L", X (KEY_LEFTMETA), 0x15b },
  { "Alt_L", X (KEY_LEFTALT), 0x38 }, { "space", X (KEY_SPACE), 0x39 },
  { "Alt_R", X (KEY_RIGHTALT), 0x138 }, { "Super_R", X (KEY_RIGHTMETA), 0x15c },
  { "Menu", X (KEY_COMPOSE), 0x15d }, { "Control_R", X (KEY_RIGHTCTRL), 0x11d },

  { "Insert", X (KEY_INSERT), 0x152 }, { "Home", X (KEY_HOME), 0x147 },
  { "Prior", X (KEY_PAGEUP), 0x149 }, { "Delete", X (KEY_DELETE), 0x153 },
  { "End", X (KEY_END), 0x14f }, { "Next", X (KEY_PAGEDOWN), 0x151 },
  { "Up", X (KEY_UP), 0x148 }, { "Left", X (KEY_LEFT), 0x14b },
  { "Down", X (KEY_DOWN), 0x150 }, { "Right", X (KEY_RIGHT), 0x14d },

  { "Num_Lock", X (KEY_NUMLOCK), 0x45 }, { "KP_Divide", X (KEY_KPSLASH), 0x135 },
  { "KP_Multiply", X (KEY_KPASTERISK), 0x37 }, { "KP_Subtract", X (KEY_KPMINUS), 0x4a },
  { "KP_7", X (KEY_KP7), 0x47 }, { "KP_8", X (KEY_KP8), 0x48 }, { "KP_9", X (KEY_KP9), 0x49 },
  { "KP_Add", X (KEY_KPPLUS), 0x4e },
  { "KP_4", X (KEY_KP4), 0x4b }, { "KP_5", X (KEY_KP5), 0x4c }, { "KP_6", X (KEY_KP6), 0x4d },
  { "KP_1", X (KEY_KP1), 0x4f }, { "KP_2", X (KEY_KP2), 0x50 }, { "KP_3", X (KEY_KP3), 0x51 },
  { "KP_Enter", X (KEY_KPENTER), 0x11c },
  { "KP_0", X (KEY_KP0), 0x52 }, { "KP_Decimal", X (KEY_KPDOT), 0x53 },
};

static const Key extra[] = {
  /* F13 to F24 (USB to PS/2 table; F22 and F24 as Linux reads them, as
   * the table's 0x6d and 0x76 are Linux's F23 and Zenkaku/Hankaku) */
  { "F13", X (KEY_F13), 0x64 }, { "F14", X (KEY_F14), 0x65 }, { "F15", X (KEY_F15), 0x66 },
  { "F16", X (KEY_F16), 0x67 }, { "F17", X (KEY_F17), 0x68 }, { "F18", X (KEY_F18), 0x69 },
  { "F19", X (KEY_F19), 0x6a }, { "F20", X (KEY_F20), 0x6b }, { "F21", X (KEY_F21), 0x6c },
  { "F22", X (KEY_F22), 0x179 }, { "F23", X (KEY_F23), 0x6e }, { "F24", X (KEY_F24), 0x6f },
  { "KP_Equal", X (KEY_KPEQUAL), 0x59 }, { "KP_Separator", X (KEY_KPCOMMA), 0x7e },

  /* Media keys */
  { "AudioMute", X (KEY_MUTE), 0x120 },
  { "AudioLowerVolume", X (KEY_VOLUMEDOWN), 0x12e },
  { "AudioRaiseVolume", X (KEY_VOLUMEUP), 0x130 },
  { "AudioPlay", X (KEY_PLAYPAUSE), 0x122 }, { "AudioStop", X (KEY_STOPCD), 0x124 },
  { "AudioPrev", X (KEY_PREVIOUSSONG), 0x110 }, { "AudioNext", X (KEY_NEXTSONG), 0x119 },
  { "AudioMedia", X (KEY_MEDIA), 0x16d },
  { "Calculator", X (KEY_CALC), 0x121 }, { "Mail", X (KEY_MAIL), 0x16c },
  { "MyComputer", X (KEY_COMPUTER), 0x16b }, { "HomePage", X (KEY_HOMEPAGE), 0x132 },
  { "Search", X (KEY_SEARCH), 0x165 }, { "Favorites", X (KEY_BOOKMARKS), 0x166 },
  { "Refresh", X (KEY_REFRESH), 0x167 }, { "Stop", X (KEY_STOP), 0x168 },
  { "Forward", X (KEY_FORWARD), 0x169 }, { "Back", X (KEY_BACK), 0x16a },
  { "PowerOff", X (KEY_POWER), 0x15e }, { "Sleep", X (KEY_SLEEP), 0x15f },
  { "WakeUp", X (KEY_WAKEUP), 0x163 },

  /* Japanese (JIS 109) */
  { "Henkan", X (KEY_HENKAN), 0x79 }, { "Muhenkan", X (KEY_MUHENKAN), 0x7b },
  { "Hiragana_Katakana", X (KEY_KATAKANAHIRAGANA), 0x70 },
  { "Katakana", X (KEY_KATAKANA), 0x78 }, { "Hiragana", X (KEY_HIRAGANA), 0x77 },
  { "yen", X (KEY_YEN), 0x7d }, { "backslash (Ro)", X (KEY_RO), 0x73 },
  { "KP_JPComma", X (KEY_KPJPCOMMA), 0x5c },

  /* Korean */
  { "Hangul", X (KEY_HANGEUL), 0x72 }, { "Hangul_Hanja", X (KEY_HANJA), 0x71 },
};

static void
check_keys (const Key *keys,
            gsize      n_keys)
{
  for (gsize i = 0; i < n_keys; i++)
    {
      guint got = viv_keymap_scancode_from_keycode (keys[i].keycode);

      if (got != keys[i].scancode)
        g_test_message ("%s (keycode %u): 0x%x, expected 0x%x", keys[i].name,
                        keys[i].keycode, got, keys[i].scancode);
      g_assert_cmphex (got, ==, keys[i].scancode);
    }
}

static void
test_pc105 (void)
{
  /* The count guards against a key lost while editing the list */
  g_assert_cmpuint (G_N_ELEMENTS (pc105), ==, 105);
  check_keys (pc105, G_N_ELEMENTS (pc105));
}

static void
test_extra (void)
{
  check_keys (extra, G_N_ELEMENTS (extra));
}

static void
test_unknown (void)
{
  /* Below X11's first keycode, out of the table, and a hole in it */
  g_assert_cmphex (viv_keymap_scancode_from_keycode (0), ==, 0);
  g_assert_cmphex (viv_keymap_scancode_from_keycode (7), ==, 0);
  g_assert_cmphex (viv_keymap_scancode_from_keycode (X (KEY_RESERVED)), ==, 0);
  g_assert_cmphex (viv_keymap_scancode_from_keycode (X (KEY_MACRO)), ==, 0);
  g_assert_cmphex (viv_keymap_scancode_from_keycode (X (KEY_MAX)), ==, 0);
  g_assert_cmphex (viv_keymap_scancode_from_keycode (G_MAXUINT), ==, 0);
}

/* No two keycodes give the same scancode: the guest could not tell them
 * apart, and a release could free the wrong key */
static void
test_unique (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_direct_hash, g_direct_equal);
  guint n = 0;

  for (guint keycode = 0; keycode < 1024; keycode++)
    {
      guint scancode = viv_keymap_scancode_from_keycode (keycode);
      gpointer other;

      if (scancode == 0)
        continue;
      n++;
      /* One byte after the optional 0xe0, without the break bit */
      g_assert_cmphex (scancode & ~(VIV_SCANCODE_EXTENDED | 0x7f), ==, 0);
      if (g_hash_table_lookup_extended (seen, GUINT_TO_POINTER (scancode), NULL, &other))
        {
          g_test_message ("keycodes %u and %u both give 0x%x",
                          GPOINTER_TO_UINT (other), keycode, scancode);
          g_assert_not_reached ();
        }
      g_hash_table_insert (seen, GUINT_TO_POINTER (scancode), GUINT_TO_POINTER (keycode));
    }
  g_assert_cmpuint (n, >=, G_N_ELEMENTS (pc105) + G_N_ELEMENTS (extra));
}

/* RFB's QEMU Extended Key Event: the 0xe0 prefix as the byte's high bit */
static void
test_rfb (void)
{
  g_assert_cmphex (viv_keymap_scancode_to_rfb (0), ==, 0);
  g_assert_cmphex (viv_keymap_scancode_to_rfb (0x1e), ==, 0x1e);
  g_assert_cmphex (viv_keymap_scancode_to_rfb (0x11c), ==, 0x9c);
  g_assert_cmphex (viv_keymap_scancode_to_rfb (0x11d), ==, 0x9d);
  g_assert_cmphex (viv_keymap_scancode_to_rfb (0x148), ==, 0xc8);
  g_assert_cmphex (viv_keymap_scancode_to_rfb (VIV_SCANCODE_PAUSE), ==, 0xc6);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/keymap/pc105", test_pc105);
  g_test_add_func ("/keymap/extra", test_extra);
  g_test_add_func ("/keymap/unknown", test_unknown);
  g_test_add_func ("/keymap/unique", test_unique);
  g_test_add_func ("/keymap/rfb", test_rfb);

  return g_test_run ();
}
