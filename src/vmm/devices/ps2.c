/* devices/ps2.c: a PS/2 keyboard and a PS/2 mouse
 *
 * The keyboard is an MF2 keyboard (ID 0xab 0x83) speaking scancode set 2,
 * or set 1 when asked; set 3 is refused (0xfe to the set), which drivers
 * take as "stay with set 2". Its codes come from the PC scancode table in
 * display/keymap.c (set 1), turned into set 2 through the 8042's
 * translation table read backwards, so both sets come from one table.
 * Typematic repeat is not generated here: the SPICE client repeats a held
 * key as presses, as the host's own repeat does, so the rate the guest
 * sets (0xf3) is stored and acknowledged only. The fake shifts a real
 * keyboard sends around the editing keys while Num Lock is on are left
 * out: drivers drop them.
 *
 * The mouse is a standard PS/2 mouse that becomes an IntelliMouse (ID 3,
 * a wheel) or an IntelliMouse Explorer (ID 4, a wheel and buttons 4 and
 * 5) on the sample-rate knocks drivers send. Motion from the host is
 * added up and sent as packets while there is room in the queue, at
 * most 255 counts an axis each, so a large motion becomes several packets
 * and the overflow bits stay clear. Resolution and scaling are stored
 * only: the host's pointer already has its acceleration.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/ps2.h"

#include <string.h>

#include <glib.h>
#include <glib/gi18n.h>
#include <linux/input-event-codes.h>

#include "display/keymap.h"

#define PS2_ACK     0xfa
#define PS2_RESEND  0xfe
#define PS2_BAT_OK  0xaa
#define PS2_ECHO    0xee

/* ---- the queue ---------------------------------------------------------------------- */

static unsigned
queue_free (const struct vmm_ps2_queue *q)
{
  return VMM_PS2_QUEUE_LEN - q->count;
}

/* A byte at the end, or nothing when full: the device's answer is lost,
 * as when a real one overruns, and the driver times out. */
static void
queue_push (struct vmm_ps2_queue *q, uint8_t byte)
{
  if (q->count >= VMM_PS2_QUEUE_LEN)
    return;
  q->data[(q->head + q->count) % VMM_PS2_QUEUE_LEN] = byte;
  q->count++;
}

static uint8_t
queue_last (const struct vmm_ps2_queue *q)
{
  return q->data[(q->head + q->count + VMM_PS2_QUEUE_LEN - 1) % VMM_PS2_QUEUE_LEN];
}

static void
queue_clear (struct vmm_ps2_queue *q)
{
  q->head = 0;
  q->count = 0;
}

bool
vmm_ps2_queue_pop (struct vmm_ps2_queue *q, uint8_t *byte)
{
  if (q->count == 0)
    return false;
  *byte = q->data[q->head];
  q->head = (uint8_t) ((q->head + 1) % VMM_PS2_QUEUE_LEN);
  q->count--;
  return true;
}

/* ---- scancodes ---------------------------------------------------------------------- */

/* The 8042's translation of set-2 bytes to set 1, for bytes below 0x80;
 * from 0x80 up it passes bytes on as they are, except 0x83 (F7) and 0x84
 * (Alt + Print Screen). 0x00, the overrun code, becomes set 1's 0xff. */
static const uint8_t set2_to_set1[0x80] = {
  0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
  0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
  0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
  0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
  0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
  0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
  0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
  0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

uint8_t
vmm_ps2_translate (uint8_t code)
{
  if (code < 0x80)
    return set2_to_set1[code];
  if (code == 0x83)
    return 0x41;
  if (code == 0x84)
    return 0x54;
  return code;
}

/* The set-2 code of the set-1 code CODE (below 0x80): the translation
 * backwards. F7 and Alt + Print Screen are the two set-1 codes that two
 * set-2 bytes translate to; the keys send 0x83 and 0x84. */
static uint8_t
set1_to_set2 (uint8_t code)
{
  if (code == 0x41)
    return 0x83;
  if (code == 0x54)
    return 0x84;
  for (unsigned i = 1; i < G_N_ELEMENTS (set2_to_set1); i++)
    if (set2_to_set1[i] == code)
      return (uint8_t) i;
  return 0;
}

#define MOD_CTRL 0x03
#define MOD_ALT  0x0c

static uint8_t
modifier_bit (uint16_t key)
{
  switch (key)
    {
    case KEY_LEFTCTRL:  return 0x01;
    case KEY_RIGHTCTRL: return 0x02;
    case KEY_LEFTALT:   return 0x04;
    case KEY_RIGHTALT:  return 0x08;
    default:            return 0;
    }
}

/* The set-1 bytes of KEY going down or up into SEQ (at least 6 bytes):
 * their count, 0 when the key sends nothing. */
static unsigned
key_set1 (const struct vmm_ps2_kbd *kbd, uint16_t key, bool pressed, uint8_t *seq)
{
  static const uint8_t pause[] = { 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5 };
  static const uint8_t ctrl_break[] = { 0xe0, 0x46, 0xe0, 0xc6 };
  static const uint8_t print_down[] = { 0xe0, 0x2a, 0xe0, 0x37 };
  static const uint8_t print_up[] = { 0xe0, 0xb7, 0xe0, 0xaa };
  uint8_t release = pressed ? 0 : 0x80;
  uint32_t code;

  switch (key)
    {
    case KEY_PAUSE:
      /* Press and release at once, on the press; Ctrl + Pause is Break */
      if (!pressed)
        return 0;
      if (kbd->mods & MOD_CTRL)
        {
          memcpy (seq, ctrl_break, sizeof ctrl_break);
          return sizeof ctrl_break;
        }
      memcpy (seq, pause, sizeof pause);
      return sizeof pause;
    case KEY_SYSRQ:
      /* Print Screen is an extended key with a fake shift; with Alt
       * held, it is SysRq, a plain one */
      if (kbd->mods & MOD_ALT)
        {
          seq[0] = 0x54 | release;
          return 1;
        }
      memcpy (seq, pressed ? print_down : print_up, 4);
      return 4;
    default:
      code = vmm_keymap_linux_to_pc (key);
      if (code == 0)
        return 0;
      if (code & 0x100)
        {
          seq[0] = 0xe0;
          seq[1] = (uint8_t) (code & 0x7f) | release;
          return 2;
        }
      seq[0] = (uint8_t) code | release;
      return 1;
    }
}

/* ---- the keyboard ------------------------------------------------------------------- */

static void
kbd_send (struct vmm_ps2_kbd *kbd, uint8_t byte)
{
  queue_push (&kbd->q, byte);
  kbd->last = byte;
}

static void
kbd_defaults (struct vmm_ps2_kbd *kbd)
{
  kbd->set = 2;
  kbd->typematic = 0x2b;   /* 10.9 characters a second after 500 ms */
  kbd->cmd = 0;
}

void
vmm_ps2_kbd_init (struct vmm_ps2_kbd *kbd)
{
  memset (kbd, 0, sizeof *kbd);
  kbd_defaults (kbd);
  kbd->scanning = true;
}

void
vmm_ps2_kbd_write (struct vmm_ps2_kbd *kbd, uint8_t byte)
{
  /* An argument, unless a command came instead (arguments are all below
   * the first command, 0xed) */
  if (kbd->cmd != 0 && byte < 0xed)
    {
      uint8_t cmd = kbd->cmd;

      kbd->cmd = 0;
      switch (cmd)
        {
        case 0xed:
          kbd->leds = byte & 0x07;
          kbd->leds_changed = true;
          kbd_send (kbd, PS2_ACK);
          return;
        case 0xf3:
          kbd->typematic = byte & 0x7f;
          kbd_send (kbd, PS2_ACK);
          return;
        case 0xf0:
          if (byte == 0)
            {
              kbd_send (kbd, PS2_ACK);
              kbd_send (kbd, kbd->set);
            }
          else if (byte == 1 || byte == 2)
            {
              kbd->set = byte;
              kbd_send (kbd, PS2_ACK);
            }
          else
            kbd_send (kbd, PS2_RESEND);
          return;
        default:
          g_assert_not_reached ();
        }
    }
  kbd->cmd = 0;

  switch (byte)
    {
    case 0xed:  /* LEDs */
    case 0xf0:  /* scancode set */
    case 0xf3:  /* typematic rate and delay */
      kbd->cmd = byte;
      kbd_send (kbd, PS2_ACK);
      break;
    case 0xee:
      kbd_send (kbd, PS2_ECHO);
      break;
    case 0xf2:  /* identify: an MF2 keyboard */
      kbd_send (kbd, PS2_ACK);
      kbd_send (kbd, 0xab);
      kbd_send (kbd, 0x83);
      break;
    case 0xf4:  /* enable scanning: the buffer is cleared */
      queue_clear (&kbd->q);
      kbd->scanning = true;
      kbd_send (kbd, PS2_ACK);
      break;
    case 0xf5:  /* defaults, scanning off */
    case 0xf6:  /* defaults, scanning on */
      queue_clear (&kbd->q);
      kbd_defaults (kbd);
      kbd->scanning = byte == 0xf6;
      kbd_send (kbd, PS2_ACK);
      break;
    case 0xf7: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd:
      /* Set 3's key types: nothing to do in sets 1 and 2 */
      kbd_send (kbd, PS2_ACK);
      break;
    case 0xfe:
      queue_push (&kbd->q, kbd->last);
      break;
    case 0xff:  /* reset: acknowledged, then the self test passed */
      queue_clear (&kbd->q);
      kbd_defaults (kbd);
      if (kbd->leds != 0)
        kbd->leds_changed = true;
      kbd->leds = 0;
      kbd->scanning = true;
      kbd_send (kbd, PS2_ACK);
      kbd_send (kbd, PS2_BAT_OK);
      break;
    default:
      kbd_send (kbd, PS2_RESEND);
      break;
    }
}

void
vmm_ps2_kbd_key (struct vmm_ps2_kbd *kbd, uint16_t key, bool pressed)
{
  uint8_t set1[8], seq[16];
  unsigned n1, n = 0;
  uint8_t mod = modifier_bit (key);
  uint8_t overrun;

  if (pressed)
    kbd->mods |= mod;
  else
    kbd->mods &= (uint8_t) ~mod;
  if (!kbd->scanning)
    return;

  n1 = key_set1 (kbd, key, pressed, set1);
  if (kbd->set == 1)
    {
      memcpy (seq, set1, n1);
      n = n1;
    }
  else
    {
      for (unsigned i = 0; i < n1; i++)
        {
          if (set1[i] == 0xe0 || set1[i] == 0xe1)
            {
              seq[n++] = set1[i];
              continue;
            }
          if (set1[i] & 0x80)
            seq[n++] = 0xf0;
          seq[n++] = set1_to_set2 (set1[i] & 0x7f);
        }
    }
  if (n == 0)
    return;

  /* A key goes in whole or not at all, leaving the last place for the
   * overrun code a real keyboard puts there when it has no room. */
  overrun = kbd->set == 1 ? 0xff : 0x00;
  if (n < queue_free (&kbd->q))
    {
      for (unsigned i = 0; i < n; i++)
        queue_push (&kbd->q, seq[i]);
    }
  else if (queue_free (&kbd->q) > 0 && (kbd->q.count == 0 || queue_last (&kbd->q) != overrun))
    queue_push (&kbd->q, overrun);
}

/* ---- the mouse ---------------------------------------------------------------------- */

#define BUTTON_LEFT   0x01
#define BUTTON_RIGHT  0x02
#define BUTTON_MIDDLE 0x04
#define BUTTON_SIDE   0x08
#define BUTTON_EXTRA  0x10

/* Motion waiting to be sent is kept within this, whatever the host sends */
#define MOTION_MAX    (1 << 20)

static void
mouse_defaults (struct vmm_ps2_mouse *mouse)
{
  mouse->rate = 100;
  mouse->resolution = 2;       /* 4 counts a millimetre */
  mouse->scale21 = false;
  mouse->reporting = false;
  mouse->remote = false;
  mouse->cmd = 0;
  mouse->dx = mouse->dy = mouse->dz = 0;
  mouse->dirty = false;
}

void
vmm_ps2_mouse_init (struct vmm_ps2_mouse *mouse)
{
  memset (mouse, 0, sizeof *mouse);
  mouse_defaults (mouse);
}

static unsigned
packet_size (const struct vmm_ps2_mouse *mouse)
{
  return mouse->id == 0 ? 3 : 4;
}

static int32_t
clamp (int32_t v, int32_t lo, int32_t hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* One movement packet with what it can carry of the motion not sent */
static void
mouse_packet (struct vmm_ps2_mouse *mouse)
{
  int32_t dx = clamp (mouse->dx, -255, 255);
  int32_t dy = clamp (mouse->dy, -255, 255);
  int32_t dz = 0;
  uint8_t b0 = 0x08 | (mouse->buttons & (BUTTON_LEFT | BUTTON_RIGHT | BUTTON_MIDDLE));

  if (dx < 0)
    b0 |= 0x10;
  if (dy < 0)
    b0 |= 0x20;
  queue_push (&mouse->q, b0);
  queue_push (&mouse->q, (uint8_t) (dx & 0xff));
  queue_push (&mouse->q, (uint8_t) (dy & 0xff));
  if (mouse->id == 3)
    {
      dz = clamp (mouse->dz, -127, 127);
      queue_push (&mouse->q, (uint8_t) (dz & 0xff));
    }
  else if (mouse->id == 4)
    {
      dz = clamp (mouse->dz, -8, 7);
      queue_push (&mouse->q, (uint8_t) ((dz & 0x0f) |
                                        ((mouse->buttons & (BUTTON_SIDE | BUTTON_EXTRA)) << 1)));
    }
  mouse->dx -= dx;
  mouse->dy -= dy;
  /* A mouse without a wheel loses its motion */
  mouse->dz = mouse->id == 0 ? 0 : mouse->dz - dz;
  mouse->dirty = false;
}

void
vmm_ps2_mouse_flush (struct vmm_ps2_mouse *mouse)
{
  if (!mouse->reporting || mouse->remote)
    return;
  while ((mouse->dirty || mouse->dx != 0 || mouse->dy != 0 || mouse->dz != 0) &&
         queue_free (&mouse->q) >= packet_size (mouse))
    mouse_packet (mouse);
}

/* Three sample rates in a row switch the mouse's extensions on, as
 * IntelliMouse drivers knock: 200, 100, 80 for the wheel (ID 3), 200,
 * 200, 80 for the wheel and two more buttons (ID 4). */
static void
mouse_set_rate (struct vmm_ps2_mouse *mouse, uint8_t rate)
{
  mouse->rate = rate;
  mouse->rates[0] = mouse->rates[1];
  mouse->rates[1] = mouse->rates[2];
  mouse->rates[2] = rate;
  if (mouse->rates[0] == 200 && mouse->rates[1] == 100 && mouse->rates[2] == 80)
    mouse->id = 3;
  else if (mouse->rates[0] == 200 && mouse->rates[1] == 200 && mouse->rates[2] == 80)
    mouse->id = 4;
}

void
vmm_ps2_mouse_write (struct vmm_ps2_mouse *mouse, uint8_t byte)
{
  uint8_t status;

  /* Wrap mode echoes everything but its way out and reset */
  if (mouse->wrap && byte != 0xec && byte != 0xff)
    {
      queue_push (&mouse->q, byte);
      return;
    }
  /* An argument, unless a command came instead (arguments are all below
   * the first command, 0xe6) */
  if (mouse->cmd != 0 && byte < 0xe6)
    {
      if (mouse->cmd == 0xf3)
        mouse_set_rate (mouse, byte);
      else
        mouse->resolution = byte & 0x03;
      mouse->cmd = 0;
      queue_push (&mouse->q, PS2_ACK);
      return;
    }
  mouse->cmd = 0;

  switch (byte)
    {
    case 0xe6:
    case 0xe7:
      mouse->scale21 = byte == 0xe7;
      queue_push (&mouse->q, PS2_ACK);
      break;
    case 0xe8:  /* resolution */
    case 0xf3:  /* sample rate */
      mouse->cmd = byte;
      queue_push (&mouse->q, PS2_ACK);
      break;
    case 0xe9:  /* status: mode and buttons, resolution, rate */
      status = (uint8_t) ((mouse->remote ? 0x40 : 0) | (mouse->reporting ? 0x20 : 0) |
                          (mouse->scale21 ? 0x10 : 0) |
                          (mouse->buttons & BUTTON_LEFT ? 0x04 : 0) |
                          (mouse->buttons & BUTTON_MIDDLE ? 0x02 : 0) |
                          (mouse->buttons & BUTTON_RIGHT ? 0x01 : 0));
      queue_push (&mouse->q, PS2_ACK);
      queue_push (&mouse->q, status);
      queue_push (&mouse->q, mouse->resolution);
      queue_push (&mouse->q, mouse->rate);
      break;
    case 0xea:  /* stream mode */
    case 0xf0:  /* remote mode */
      mouse->remote = byte == 0xf0;
      mouse->dx = mouse->dy = mouse->dz = 0;
      queue_push (&mouse->q, PS2_ACK);
      break;
    case 0xeb:  /* read data: a packet, even with nothing in it */
      queue_push (&mouse->q, PS2_ACK);
      if (queue_free (&mouse->q) >= packet_size (mouse))
        mouse_packet (mouse);
      break;
    case 0xec:
    case 0xee:
      mouse->wrap = byte == 0xee;
      queue_push (&mouse->q, PS2_ACK);
      break;
    case 0xf2:
      queue_push (&mouse->q, PS2_ACK);
      queue_push (&mouse->q, mouse->id);
      break;
    case 0xf4:
    case 0xf5:
      /* Motion not sent yet is dropped; bytes queued stay */
      mouse->reporting = byte == 0xf4;
      mouse->dx = mouse->dy = mouse->dz = 0;
      mouse->dirty = false;
      queue_push (&mouse->q, PS2_ACK);
      break;
    case 0xf6:
      queue_clear (&mouse->q);
      mouse_defaults (mouse);
      queue_push (&mouse->q, PS2_ACK);
      break;
    case 0xff:  /* reset: acknowledged, self test passed, ID 0 */
      queue_clear (&mouse->q);
      mouse_defaults (mouse);
      mouse->id = 0;
      mouse->wrap = false;
      memset (mouse->rates, 0, sizeof mouse->rates);
      queue_push (&mouse->q, PS2_ACK);
      queue_push (&mouse->q, PS2_BAT_OK);
      queue_push (&mouse->q, 0x00);
      break;
    default:
      queue_push (&mouse->q, PS2_RESEND);
      break;
    }
}

void
vmm_ps2_mouse_button (struct vmm_ps2_mouse *mouse, uint16_t button, bool pressed)
{
  uint8_t bit;

  switch (button)
    {
    case BTN_LEFT:   bit = BUTTON_LEFT; break;
    case BTN_RIGHT:  bit = BUTTON_RIGHT; break;
    case BTN_MIDDLE: bit = BUTTON_MIDDLE; break;
    case BTN_SIDE:   bit = BUTTON_SIDE; break;
    case BTN_EXTRA:  bit = BUTTON_EXTRA; break;
    default:         return;
    }
  if (pressed)
    mouse->buttons |= bit;
  else
    mouse->buttons &= (uint8_t) ~bit;
  /* Buttons 4 and 5 show only in the Explorer's packets */
  if (bit & (BUTTON_SIDE | BUTTON_EXTRA) && mouse->id != 4)
    return;
  if (mouse->reporting && !mouse->remote)
    mouse->dirty = true;
  vmm_ps2_mouse_flush (mouse);
}

void
vmm_ps2_mouse_move (struct vmm_ps2_mouse *mouse, int32_t dx, int32_t dy, int32_t wheel)
{
  /* A disabled mouse in stream mode measures nothing */
  if (!mouse->reporting && !mouse->remote)
    return;
  mouse->dx = clamp (clamp (dx, -MOTION_MAX, MOTION_MAX) + mouse->dx, -MOTION_MAX, MOTION_MAX);
  /* PS/2's y grows upwards, its wheel downwards */
  mouse->dy = clamp (mouse->dy - clamp (dy, -MOTION_MAX, MOTION_MAX), -MOTION_MAX, MOTION_MAX);
  if (mouse->id != 0)
    mouse->dz = clamp (mouse->dz - clamp (wheel, -MOTION_MAX, MOTION_MAX), -MOTION_MAX,
                       MOTION_MAX);
  vmm_ps2_mouse_flush (mouse);
}

/* ---- saved state -------------------------------------------------------------------- */

static void
queue_put (const struct vmm_ps2_queue *q, struct vmm_state_writer *w)
{
  uint8_t bytes[VMM_PS2_QUEUE_LEN];

  for (unsigned i = 0; i < q->count; i++)
    bytes[i] = q->data[(q->head + i) % VMM_PS2_QUEUE_LEN];
  vmm_state_put_blob (w, bytes, q->count);
}

static void
queue_get (struct vmm_ps2_queue *q, struct vmm_state_reader *r)
{
  uint32_t n = 0;
  const uint8_t *bytes = vmm_state_get_blob (r, VMM_PS2_QUEUE_LEN, &n);

  memset (q, 0, sizeof *q);
  if (bytes == NULL)
    return;
  memcpy (q->data, bytes, n);
  q->count = (uint8_t) n;
}

void
vmm_ps2_kbd_put (const struct vmm_ps2_kbd *kbd, struct vmm_state_writer *w)
{
  queue_put (&kbd->q, w);
  vmm_state_put_u8 (w, kbd->cmd);
  vmm_state_put_u8 (w, kbd->set);
  vmm_state_put_u8 (w, kbd->leds);
  vmm_state_put_u8 (w, kbd->typematic);
  vmm_state_put_u8 (w, kbd->last);
  vmm_state_put_u8 (w, kbd->mods);
  vmm_state_put_bool (w, kbd->scanning);
}

void
vmm_ps2_kbd_get (struct vmm_ps2_kbd *kbd, struct vmm_state_reader *r)
{
  memset (kbd, 0, sizeof *kbd);
  queue_get (&kbd->q, r);
  kbd->cmd = vmm_state_get_u8 (r);
  kbd->set = vmm_state_get_u8 (r);
  kbd->leds = vmm_state_get_u8 (r);
  kbd->typematic = vmm_state_get_u8 (r);
  kbd->last = vmm_state_get_u8 (r);
  kbd->mods = vmm_state_get_u8 (r);
  kbd->scanning = vmm_state_get_bool (r);
  if (kbd->cmd != 0 && kbd->cmd != 0xed && kbd->cmd != 0xf0 && kbd->cmd != 0xf3)
    vmm_state_reader_fail (r, N_("the PS/2 keyboard waits for an unknown command’s argument"));
  if ((kbd->set != 1 && kbd->set != 2) || (kbd->leds & ~0x07) || (kbd->typematic & ~0x7f) ||
      (kbd->mods & ~(MOD_CTRL | MOD_ALT)))
    vmm_state_reader_fail (r, N_("a PS/2 keyboard setting is out of range"));
}

void
vmm_ps2_mouse_put (const struct vmm_ps2_mouse *mouse, struct vmm_state_writer *w)
{
  queue_put (&mouse->q, w);
  vmm_state_put_u8 (w, mouse->cmd);
  vmm_state_put_u8 (w, mouse->id);
  vmm_state_put_u8 (w, mouse->rate);
  vmm_state_put_u8 (w, mouse->resolution);
  vmm_state_put_bytes (w, mouse->rates, sizeof mouse->rates);
  vmm_state_put_u8 (w, mouse->buttons);
  vmm_state_put_bool (w, mouse->reporting);
  vmm_state_put_bool (w, mouse->remote);
  vmm_state_put_bool (w, mouse->scale21);
  vmm_state_put_bool (w, mouse->wrap);
  vmm_state_put_bool (w, mouse->dirty);
  vmm_state_put_u32 (w, (uint32_t) mouse->dx);
  vmm_state_put_u32 (w, (uint32_t) mouse->dy);
  vmm_state_put_u32 (w, (uint32_t) mouse->dz);
}

static bool
motion_ok (int32_t v)
{
  return v >= -MOTION_MAX && v <= MOTION_MAX;
}

void
vmm_ps2_mouse_get (struct vmm_ps2_mouse *mouse, struct vmm_state_reader *r)
{
  memset (mouse, 0, sizeof *mouse);
  queue_get (&mouse->q, r);
  mouse->cmd = vmm_state_get_u8 (r);
  mouse->id = vmm_state_get_u8 (r);
  mouse->rate = vmm_state_get_u8 (r);
  mouse->resolution = vmm_state_get_u8 (r);
  vmm_state_get_bytes (r, mouse->rates, sizeof mouse->rates);
  mouse->buttons = vmm_state_get_u8 (r);
  mouse->reporting = vmm_state_get_bool (r);
  mouse->remote = vmm_state_get_bool (r);
  mouse->scale21 = vmm_state_get_bool (r);
  mouse->wrap = vmm_state_get_bool (r);
  mouse->dirty = vmm_state_get_bool (r);
  mouse->dx = (int32_t) vmm_state_get_u32 (r);
  mouse->dy = (int32_t) vmm_state_get_u32 (r);
  mouse->dz = (int32_t) vmm_state_get_u32 (r);
  if (mouse->cmd != 0 && mouse->cmd != 0xe8 && mouse->cmd != 0xf3)
    vmm_state_reader_fail (r, N_("the PS/2 mouse waits for an unknown command’s argument"));
  if ((mouse->id != 0 && mouse->id != 3 && mouse->id != 4) || mouse->resolution > 3 ||
      (mouse->buttons & ~0x1f) || !motion_ok (mouse->dx) || !motion_ok (mouse->dy) ||
      !motion_ok (mouse->dz))
    vmm_state_reader_fail (r, N_("a PS/2 mouse setting is out of range"));
}
