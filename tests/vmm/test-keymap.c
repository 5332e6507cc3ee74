/* test-keymap.c: PC scancodes to Linux key codes (display/keymap.c)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>
#include <linux/input-event-codes.h>

#include "display/keymap.h"

#define E0(code) (0x100u | (code))

/* A sample from every part of the keyboard, as set 1 has them */
static void
test_sample (void)
{
  static const struct { uint32_t scancode; uint16_t key; } sample[] = {
    { 0x01, KEY_ESC }, { 0x02, KEY_1 }, { 0x0b, KEY_0 }, { 0x0e, KEY_BACKSPACE },
    { 0x10, KEY_Q }, { 0x1e, KEY_A }, { 0x2c, KEY_Z }, { 0x32, KEY_M }, { 0x39, KEY_SPACE },
    { 0x1c, KEY_ENTER }, { 0x29, KEY_GRAVE }, { 0x2b, KEY_BACKSLASH }, { 0x56, KEY_102ND },
    { 0x1d, KEY_LEFTCTRL }, { 0x2a, KEY_LEFTSHIFT }, { 0x36, KEY_RIGHTSHIFT },
    { 0x38, KEY_LEFTALT }, { 0x3a, KEY_CAPSLOCK },
    { E0 (0x1d), KEY_RIGHTCTRL }, { E0 (0x38), KEY_RIGHTALT },
    { E0 (0x5b), KEY_LEFTMETA }, { E0 (0x5c), KEY_RIGHTMETA }, { E0 (0x5d), KEY_COMPOSE },
    { 0x3b, KEY_F1 }, { 0x44, KEY_F10 }, { 0x57, KEY_F11 }, { 0x58, KEY_F12 },
    { 0x5d, KEY_F13 }, { 0x64, KEY_F13 }, { 0x6f, KEY_F24 }, { E0 (0x03), KEY_F17 },
    { 0x45, KEY_NUMLOCK }, { 0x46, KEY_SCROLLLOCK },
    { 0x47, KEY_KP7 }, { 0x52, KEY_KP0 }, { 0x53, KEY_KPDOT }, { 0x37, KEY_KPASTERISK },
    { 0x4a, KEY_KPMINUS }, { 0x4e, KEY_KPPLUS }, { E0 (0x35), KEY_KPSLASH },
    { E0 (0x1c), KEY_KPENTER },
    { E0 (0x48), KEY_UP }, { E0 (0x50), KEY_DOWN }, { E0 (0x4b), KEY_LEFT },
    { E0 (0x4d), KEY_RIGHT }, { E0 (0x47), KEY_HOME }, { E0 (0x4f), KEY_END },
    { E0 (0x49), KEY_PAGEUP }, { E0 (0x51), KEY_PAGEDOWN }, { E0 (0x52), KEY_INSERT },
    { E0 (0x53), KEY_DELETE }, { E0 (0x37), KEY_SYSRQ }, { 0x54, KEY_SYSRQ },
    { E0 (0x20), KEY_MUTE }, { E0 (0x2e), KEY_VOLUMEDOWN }, { E0 (0x30), KEY_VOLUMEUP },
    { E0 (0x22), KEY_PLAYPAUSE }, { E0 (0x5e), KEY_POWER },
    { 0x73, KEY_RO }, { 0x7d, KEY_YEN }, { 0x79, KEY_HENKAN }, { 0x7b, KEY_MUHENKAN },
    /* Korean: the codes whose presses the keys send as f1 and f2 */
    { 0x71, KEY_HANJA }, { 0x72, KEY_HANGEUL },
    /* no key */
    { 0x00, KEY_RESERVED }, { 0x7f, KEY_RESERVED }, { E0 (0x2a), KEY_RESERVED },
    { E0 (0x36), KEY_RESERVED }, { E0 (0x01), KEY_RESERVED }, { 0x180, KEY_RESERVED },
    { 0xe01c, KEY_RESERVED }, { UINT32_MAX, KEY_RESERVED },
  };

  for (unsigned i = 0; i < G_N_ELEMENTS (sample); i++)
    {
      g_test_message ("scancode %#x", sample[i].scancode);
      g_assert_cmpuint (vmm_keymap_pc_to_linux (sample[i].scancode), ==, sample[i].key);
    }
}

/* Every letter, digit, F key up to F24 and keypad key is there */
static void
test_complete (void)
{
  uint8_t bits[KEY_CNT / 8] = { 0 };
  static const uint16_t must[] = {
    KEY_NUMLOCK, KEY_KPENTER, KEY_KPSLASH, KEY_KPASTERISK, KEY_KPMINUS, KEY_KPPLUS,
    KEY_KPDOT, KEY_KPEQUAL, KEY_KPCOMMA, KEY_KPJPCOMMA, KEY_PAUSE, KEY_SYSRQ,
    KEY_LEFTMETA, KEY_RIGHTMETA, KEY_RIGHTALT, KEY_RIGHTCTRL, KEY_COMPOSE,
    KEY_NEXTSONG, KEY_PREVIOUSSONG, KEY_STOPCD, KEY_CALC, KEY_MAIL, KEY_HOMEPAGE,
  };

  vmm_keymap_key_bits (bits, sizeof bits);
#define HAS(k) ((bits[(k) / 8] >> ((k) % 8)) & 1)
  for (unsigned k = KEY_ESC; k <= KEY_KPDOT; k++)
    g_assert_true (HAS (k));
  for (unsigned k = KEY_F13; k <= KEY_F24; k++)
    g_assert_true (HAS (k));
  g_assert_true (HAS (KEY_F11) && HAS (KEY_F12));
  for (unsigned k = KEY_HOME; k <= KEY_DELETE; k++)
    g_assert_true (HAS (k));
  for (unsigned i = 0; i < G_N_ELEMENTS (must); i++)
    g_assert_true (HAS (must[i]));
  /* nothing past the keyboard's: no buttons */
  g_assert_false (HAS (BTN_LEFT));
  g_assert_false (HAS (KEY_RESERVED));
#undef HAS

  /* a short bitmap is not written past its end */
  {
    uint8_t small[4] = { 0 };

    vmm_keymap_key_bits (small, 2);
    g_assert_cmpuint (small[0], ==, 0xfe);   /* KEY_ESC (1) to KEY_6 (7) */
    g_assert_cmpuint (small[1], ==, 0xff);
    g_assert_cmpuint (small[2], ==, 0);
    g_assert_cmpuint (small[3], ==, 0);
  }
}

/* No two scancodes give one key, except those meant to: the F keys both
 * Linux and Windows clients send, Print Screen with and without Alt, and
 * Pause (the 0xe1 sequence is not in the table, 0xe0 46 is) */
static void
test_no_duplicates (void)
{
  static const uint32_t aliases[] = {
    0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6e,   /* Windows' F13-F21, F23 */
    0x54,                                                         /* Alt + Print Screen */
  };
  unsigned count[KEY_CNT] = { 0 };

  for (uint32_t sc = 0; sc < VMM_KEYMAP_SCANCODES; sc++)
    {
      uint16_t key = vmm_keymap_pc_to_linux (sc);
      bool alias = false;

      g_assert_cmpuint (key, <, KEY_CNT);
      for (unsigned i = 0; i < G_N_ELEMENTS (aliases); i++)
        alias |= aliases[i] == sc;
      if (alias)
        g_assert_cmpuint (key, !=, KEY_RESERVED);
      else if (key != KEY_RESERVED)
        count[key]++;
    }
  for (unsigned k = 1; k < KEY_CNT; k++)
    if (count[k] > 1)
      g_error ("%u scancodes give key %u", count[k], k);
  /* each alias's key is also given by its main scancode */
  for (unsigned i = 0; i < G_N_ELEMENTS (aliases); i++)
    g_assert_cmpuint (count[vmm_keymap_pc_to_linux (aliases[i])], ==, 1);
}

static void
feed (struct vmm_keymap_decoder *dec, const uint8_t *bytes, size_t n, GString *out)
{
  for (size_t i = 0; i < n; i++)
    {
      uint16_t key;
      bool pressed;

      if (vmm_keymap_decode (dec, bytes[i], &key, &pressed))
        g_string_append_printf (out, "%c%u ", pressed ? '+' : '-', key);
    }
}

/* The byte stream spice-server hands its keyboard interface */
static void
test_decode (void)
{
  struct vmm_keymap_decoder dec;
  g_autoptr (GString) out = g_string_new (NULL);
  /* a, A with the shift, right Ctrl, Up (with the fake shift a real
   * keyboard sends), Pause, an unknown key, a stray 0xe1 */
  static const uint8_t bytes[] = {
    0x1e, 0x9e,
    0x2a, 0x1e, 0x9e, 0xaa,
    0xe0, 0x1d, 0xe0, 0x9d,
    0xe0, 0x2a, 0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0xaa,
    0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5,
    0x7f, 0xff,
    0xe1, 0x1e, 0x9e, 0x30,
  };

  memset (&dec, 0, sizeof dec);
  feed (&dec, bytes, sizeof bytes, out);
  g_assert_cmpstr (out->str, ==,
                   "+30 -30 "
                   "+42 +30 -30 -42 "
                   "+97 -97 "
                   "+103 -103 "
                   "+119 -119 "
                   "+48 ");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/keymap/sample", test_sample);
  g_test_add_func ("/keymap/complete", test_complete);
  g_test_add_func ("/keymap/no-duplicates", test_no_duplicates);
  g_test_add_func ("/keymap/decode", test_decode);
  return g_test_run ();
}
