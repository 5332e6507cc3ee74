/* devices/i8042.c: the PS/2 controller
 *
 * An 8042 with its two ports, the keyboard on the first and the mouse on
 * the second (devices/ps2.c). Firmware, boot loaders and installers read
 * the keyboard only through here; pulsing its reset line is also how a PC
 * reboots (the FADT's reset register points here too).
 *
 * The output buffer holds one byte. Devices queue their bytes; when the
 * buffer is empty, the controller moves the next one in, the keyboard's
 * first, and holds back the bytes of a port the command byte disables
 * (as a real controller inhibits that port's clock). Keyboard bytes pass
 * through the 8042's set 2 to set 1 translation on their way when the
 * command byte asks for it. The controller's own answers (command byte,
 * self test, echoes) go in front of a device's byte, which waits for its
 * turn instead of being lost, as QEMU does.
 *
 * Interrupts: IRQ 1 is high while the buffer holds a keyboard-side byte
 * and the command byte enables it, IRQ 12 the same for the mouse. The
 * lines are ISA edges: a read drops the line, and the next byte raises
 * it again.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/i8042.h"

#include <string.h>

#include <glib/gi18n.h>

#include <linux/input-event-codes.h>

#define DATA_PORT   0
#define CMD_PORT    4

#define STS_OBF      0x01
#define STS_SYS      0x04
#define STS_CMD      0x08
#define STS_UNLOCKED 0x10  /* the keyboard lock switch is off */
#define STS_AUX_OBF  0x20

#define CB_KBD_INT   0x01
#define CB_AUX_INT   0x02
#define CB_KBD_OFF   0x10
#define CB_AUX_OFF   0x20
#define CB_XLATE     0x40

#define CMD_READ_RAM       0x20  /* to 0x3f; 0x20 is the command byte */
#define CMD_WRITE_RAM      0x60  /* to 0x7f */
#define CMD_DISABLE_AUX    0xa7
#define CMD_ENABLE_AUX     0xa8
#define CMD_TEST_AUX       0xa9
#define CMD_SELF_TEST      0xaa
#define CMD_TEST_KBD       0xab
#define CMD_DISABLE_KBD    0xad
#define CMD_ENABLE_KBD     0xae
#define CMD_READ_INPORT    0xc0
#define CMD_READ_OUTPORT   0xd0
#define CMD_WRITE_OUTPORT  0xd1
#define CMD_WRITE_KBD_OUT  0xd2
#define CMD_WRITE_AUX_OUT  0xd3
#define CMD_WRITE_AUX      0xd4
#define CMD_PULSE_FIRST    0xf0

#define OUTPORT_RESET      0x01  /* active low: 0 holds the CPU in reset */
#define OUTPORT_A20        0x02

#define INPORT_UNLOCKED    0x80

static uint8_t
command_byte (const struct vmm_i8042 *kbc)
{
  return kbc->ram[0];
}

/* What the guest reads next comes from */
static enum vmm_i8042_source
out_source (const struct vmm_i8042 *kbc)
{
  return kbc->ctrl_src != VMM_I8042_NONE ? kbc->ctrl_src : kbc->out_src;
}

/* An answer of the controller itself, for the port SRC */
static void
put_ctrl (struct vmm_i8042 *kbc, uint8_t value, enum vmm_i8042_source src)
{
  kbc->ctrl_out = value;
  kbc->ctrl_src = src;
}

/* Moves the next device byte into an empty output buffer */
static void
refill (struct vmm_i8042 *kbc)
{
  uint8_t cb = command_byte (kbc);
  uint8_t b;

  if (kbc->out_src == VMM_I8042_NONE && !(cb & CB_KBD_OFF))
    {
      while (vmm_ps2_queue_pop (&kbc->kbd.q, &b))
        {
          if (cb & CB_XLATE)
            {
              if (b == 0xf0)
                {
                  kbc->xlate_break = true;
                  continue;
                }
              b = vmm_ps2_translate (b) | (kbc->xlate_break ? 0x80 : 0x00);
              kbc->xlate_break = false;
            }
          kbc->out = b;
          kbc->out_src = VMM_I8042_KBD;
          break;
        }
    }
  if (kbc->out_src == VMM_I8042_NONE && !(cb & CB_AUX_OFF) &&
      vmm_ps2_queue_pop (&kbc->mouse.q, &b))
    {
      kbc->out = b;
      kbc->out_src = VMM_I8042_AUX;
    }
  vmm_ps2_mouse_flush (&kbc->mouse);
}

/* Called with the lock held after every change. AFTER_READ: the guest
 * took a byte; a line that stays high goes low first, an edge for the
 * next byte. */
static void
update_irq (struct vmm_i8042 *kbc, bool after_read)
{
  enum vmm_i8042_source src = out_source (kbc);
  uint8_t cb = command_byte (kbc);
  bool kbd = src == VMM_I8042_KBD && (cb & CB_KBD_INT);
  bool aux = src == VMM_I8042_AUX && (cb & CB_AUX_INT);

  if (after_read && kbc->kbd_level)
    {
      kbc->kbd_level = false;
      vmm_irq_line_set (&kbc->kbd_irq, false);
    }
  if (after_read && kbc->aux_level)
    {
      kbc->aux_level = false;
      vmm_irq_line_set (&kbc->aux_irq, false);
    }
  if (kbd != kbc->kbd_level)
    {
      kbc->kbd_level = kbd;
      vmm_irq_line_set (&kbc->kbd_irq, kbd);
    }
  if (aux != kbc->aux_level)
    {
      kbc->aux_level = aux;
      vmm_irq_line_set (&kbc->aux_irq, aux);
    }
}

static void
kbc_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_i8042 *kbc = opaque;
  enum vmm_i8042_source src;
  uint8_t value;

  if (len != 1 || (offset != DATA_PORT && offset != CMD_PORT))
    return;
  pthread_mutex_lock (&kbc->lock);
  if (offset == DATA_PORT)
    {
      if (kbc->ctrl_src != VMM_I8042_NONE)
        {
          value = kbc->ctrl_out;
          kbc->ctrl_src = VMM_I8042_NONE;
        }
      else if (kbc->out_src != VMM_I8042_NONE)
        {
          value = kbc->out;
          kbc->out_src = VMM_I8042_NONE;
        }
      else
        value = kbc->last_read;   /* as a real one: the last byte again */
      kbc->last_read = value;
      refill (kbc);
      update_irq (kbc, true);
    }
  else
    {
      src = out_source (kbc);
      value = (uint8_t) ((src != VMM_I8042_NONE ? STS_OBF : 0) |
                         (src == VMM_I8042_AUX ? STS_AUX_OBF : 0) |
                         STS_SYS | STS_UNLOCKED |
                         (kbc->last_write_cmd ? STS_CMD : 0));
    }
  pthread_mutex_unlock (&kbc->lock);
  *(uint8_t *) data = value;
}

/* A byte to the command port; true when it pulses reset */
static bool
write_command (struct vmm_i8042 *kbc, uint8_t value)
{
  kbc->pending_cmd = 0;
  if (value >= CMD_READ_RAM && value < CMD_READ_RAM + sizeof kbc->ram)
    {
      put_ctrl (kbc, kbc->ram[value - CMD_READ_RAM], VMM_I8042_KBD);
      return false;
    }
  if (value >= CMD_WRITE_RAM && value < CMD_WRITE_RAM + sizeof kbc->ram)
    {
      kbc->pending_cmd = value;
      return false;
    }
  switch (value)
    {
    case CMD_SELF_TEST:    put_ctrl (kbc, 0x55, VMM_I8042_KBD); break;
    case CMD_TEST_KBD:
    case CMD_TEST_AUX:     put_ctrl (kbc, 0x00, VMM_I8042_KBD); break;
    case CMD_READ_INPORT:  put_ctrl (kbc, INPORT_UNLOCKED, VMM_I8042_KBD); break;
    case CMD_READ_OUTPORT: put_ctrl (kbc, kbc->output_port, VMM_I8042_KBD); break;
    case CMD_DISABLE_AUX:  kbc->ram[0] |= CB_AUX_OFF; break;
    case CMD_ENABLE_AUX:   kbc->ram[0] &= (uint8_t) ~CB_AUX_OFF; break;
    case CMD_DISABLE_KBD:  kbc->ram[0] |= CB_KBD_OFF; break;
    case CMD_ENABLE_KBD:   kbc->ram[0] &= (uint8_t) ~CB_KBD_OFF; break;
    case CMD_WRITE_OUTPORT:
    case CMD_WRITE_KBD_OUT:
    case CMD_WRITE_AUX_OUT:
    case CMD_WRITE_AUX:
      kbc->pending_cmd = value;
      break;
    default:
      /* 0xf0-0xff pulse output lines low for a moment; bit 0 is reset. */
      if (value >= CMD_PULSE_FIRST && !(value & 0x01))
        return true;
      if (value < CMD_PULSE_FIRST)
        vmm_log_guest (&kbc->rl, "i8042: unknown command 0x%02x", value);
      break;
    }
  return false;
}

/* A byte to the data port: a command's argument, or one for the
 * keyboard; true when it pulses reset */
static bool
write_data (struct vmm_i8042 *kbc, uint8_t value)
{
  uint8_t cmd = kbc->pending_cmd;

  kbc->pending_cmd = 0;
  if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + sizeof kbc->ram)
    {
      kbc->ram[cmd - CMD_WRITE_RAM] = value;
      if (!(command_byte (kbc) & CB_XLATE))
        kbc->xlate_break = false;
      return false;
    }
  switch (cmd)
    {
    case CMD_WRITE_OUTPORT:
      kbc->output_port = value | OUTPORT_RESET;
      return !(value & OUTPORT_RESET);
    case CMD_WRITE_KBD_OUT:
      put_ctrl (kbc, value, VMM_I8042_KBD);  /* as if the keyboard sent it */
      break;
    case CMD_WRITE_AUX_OUT:
      put_ctrl (kbc, value, VMM_I8042_AUX);  /* as if the mouse sent it */
      break;
    case CMD_WRITE_AUX:
      vmm_ps2_mouse_write (&kbc->mouse, value);
      break;
    default:
      vmm_ps2_kbd_write (&kbc->kbd, value);
      break;
    }
  return false;
}

/* The keyboard's LED bits (0 Scroll, 1 Num, 2 Caps) as evdev numbers them */
static uint32_t
led_bits (uint8_t ps2)
{
  return (ps2 & 0x02 ? 1u << LED_NUML : 0) | (ps2 & 0x04 ? 1u << LED_CAPSL : 0) |
         (ps2 & 0x01 ? 1u << LED_SCROLLL : 0);
}

static void
kbc_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_i8042 *kbc = opaque;
  uint8_t value = *(const uint8_t *) data;
  bool reset, leds_changed;
  uint32_t leds = 0;

  if (len != 1 || (offset != DATA_PORT && offset != CMD_PORT))
    return;

  pthread_mutex_lock (&kbc->lock);
  kbc->last_write_cmd = offset == CMD_PORT;
  if (offset == CMD_PORT)
    reset = write_command (kbc, value);
  else
    reset = write_data (kbc, value);
  leds_changed = kbc->kbd.leds_changed;
  if (leds_changed)
    leds = led_bits (kbc->kbd.leds);
  kbc->kbd.leds_changed = false;
  refill (kbc);
  update_irq (kbc, false);
  pthread_mutex_unlock (&kbc->lock);

  if (leds_changed && kbc->leds.leds != NULL)
    kbc->leds.leds (kbc->leds.data, leds);
  if (reset && kbc->reset != NULL)
    kbc->reset (kbc->opaque);
}

const struct vmm_io_ops vmm_i8042_ops = {
  .read = kbc_read,
  .write = kbc_write,
};

/* ---- the host's input --------------------------------------------------------------- */

static void
keyboard_key (void *data, uint16_t code, bool pressed)
{
  struct vmm_i8042 *kbc = data;

  /* Buttons are the mouse's */
  if (code >= BTN_MISC && code < KEY_OK)
    return;
  pthread_mutex_lock (&kbc->lock);
  vmm_ps2_kbd_key (&kbc->kbd, code, pressed);
  refill (kbc);
  update_irq (kbc, false);
  pthread_mutex_unlock (&kbc->lock);
}

static void
mouse_button (void *data, uint16_t code, bool pressed)
{
  struct vmm_i8042 *kbc = data;

  pthread_mutex_lock (&kbc->lock);
  vmm_ps2_mouse_button (&kbc->mouse, code, pressed);
  refill (kbc);
  update_irq (kbc, false);
  pthread_mutex_unlock (&kbc->lock);
}

static void
mouse_move (struct vmm_i8042 *kbc, int32_t dx, int32_t dy, int32_t wheel)
{
  pthread_mutex_lock (&kbc->lock);
  vmm_ps2_mouse_move (&kbc->mouse, dx, dy, wheel);
  refill (kbc);
  update_irq (kbc, false);
  pthread_mutex_unlock (&kbc->lock);
}

static void
mouse_rel (void *data, int32_t dx, int32_t dy)
{
  mouse_move (data, dx, dy, 0);
}

static void
mouse_wheel (void *data, int32_t dy)
{
  mouse_move (data, 0, 0, dy);
}

struct vmm_input_sink
vmm_i8042_keyboard_sink (struct vmm_i8042 *kbc)
{
  return (struct vmm_input_sink) { .key = keyboard_key, .data = kbc };
}

struct vmm_input_sink
vmm_i8042_mouse_sink (struct vmm_i8042 *kbc)
{
  return (struct vmm_input_sink) {
    .key = mouse_button, .rel = mouse_rel, .wheel = mouse_wheel, .data = kbc,
  };
}

bool
vmm_i8042_keyboard_active (struct vmm_i8042 *kbc)
{
  bool active;

  pthread_mutex_lock (&kbc->lock);
  active = kbc->kbd.scanning && !(command_byte (kbc) & CB_KBD_OFF);
  pthread_mutex_unlock (&kbc->lock);
  return active;
}

bool
vmm_i8042_mouse_active (struct vmm_i8042 *kbc)
{
  bool active;

  pthread_mutex_lock (&kbc->lock);
  active = (kbc->mouse.reporting || kbc->mouse.remote) && !(command_byte (kbc) & CB_AUX_OFF);
  pthread_mutex_unlock (&kbc->lock);
  return active;
}

void
vmm_i8042_init (struct vmm_i8042 *kbc, struct vmm_irq_line kbd_irq, struct vmm_irq_line aux_irq,
                const struct vmm_input_led_listener *leds, void (*reset) (void *opaque),
                void *opaque)
{
  memset (kbc, 0, sizeof *kbc);
  pthread_mutex_init (&kbc->lock, NULL);
  kbc->kbd_irq = kbd_irq;
  kbc->aux_irq = aux_irq;
  if (leds != NULL)
    kbc->leds = *leds;
  kbc->reset = reset;
  kbc->opaque = opaque;
  kbc->ram[0] = 0x30;  /* both ports disabled, no interrupts, no translation */
  kbc->output_port = OUTPORT_RESET | OUTPORT_A20;
  vmm_ps2_kbd_init (&kbc->kbd);
  vmm_ps2_mouse_init (&kbc->mouse);
}

void
vmm_i8042_destroy (struct vmm_i8042 *kbc)
{
  pthread_mutex_destroy (&kbc->lock);
}

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1

void
vmm_i8042_save (const struct vmm_i8042 *kbc, struct vmm_state_writer *w, const char *name)
{
  /* The host's keys may arrive meanwhile: the lock puts them before or after */
  pthread_mutex_t *lock = (pthread_mutex_t *) &kbc->lock;

  pthread_mutex_lock (lock);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_bytes (w, kbc->ram, sizeof kbc->ram);
  vmm_state_put_u8 (w, kbc->pending_cmd);
  vmm_state_put_bool (w, kbc->last_write_cmd);
  vmm_state_put_u8 (w, kbc->output_port);
  vmm_state_put_u8 (w, kbc->out);
  vmm_state_put_u8 (w, (uint8_t) kbc->out_src);
  vmm_state_put_u8 (w, kbc->ctrl_out);
  vmm_state_put_u8 (w, (uint8_t) kbc->ctrl_src);
  vmm_state_put_u8 (w, kbc->last_read);
  vmm_state_put_bool (w, kbc->xlate_break);
  vmm_ps2_kbd_put (&kbc->kbd, w);
  vmm_ps2_mouse_put (&kbc->mouse, w);
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

static bool
pending_cmd_known (uint8_t cmd)
{
  return cmd == 0 || (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 32) ||
         cmd == CMD_WRITE_OUTPORT || cmd == CMD_WRITE_KBD_OUT || cmd == CMD_WRITE_AUX_OUT ||
         cmd == CMD_WRITE_AUX;
}

gboolean
vmm_i8042_load (struct vmm_i8042 *kbc, const struct vmm_state_file *f, const char *name,
                bool apply, GError **error)
{
  struct vmm_state_reader r;
  struct vmm_i8042 *c = g_new0 (struct vmm_i8042, 1);
  uint8_t out_src, ctrl_src;
  uint32_t leds;
  gboolean ok = FALSE;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    goto out;
  vmm_state_get_bytes (&r, c->ram, sizeof c->ram);
  c->pending_cmd = vmm_state_get_u8 (&r);
  c->last_write_cmd = vmm_state_get_bool (&r);
  c->output_port = vmm_state_get_u8 (&r);
  c->out = vmm_state_get_u8 (&r);
  out_src = vmm_state_get_u8 (&r);
  c->ctrl_out = vmm_state_get_u8 (&r);
  ctrl_src = vmm_state_get_u8 (&r);
  c->last_read = vmm_state_get_u8 (&r);
  c->xlate_break = vmm_state_get_bool (&r);
  vmm_ps2_kbd_get (&c->kbd, &r);
  vmm_ps2_mouse_get (&c->mouse, &r);
  if (!pending_cmd_known (c->pending_cmd))
    vmm_state_reader_fail (&r, N_("the i8042 waits for an unknown command’s data"));
  if (out_src > VMM_I8042_AUX || ctrl_src > VMM_I8042_AUX)
    vmm_state_reader_fail (&r, N_("the i8042’s output buffer names an unknown port"));
  /* The reset line is held high while the machine runs */
  if (!(c->output_port & OUTPORT_RESET))
    vmm_state_reader_fail (&r, N_("the i8042’s output port holds the CPU in reset"));
  if (!vmm_state_reader_done (&r, error))
    goto out;
  ok = TRUE;
  if (!apply)
    goto out;

  pthread_mutex_lock (&kbc->lock);
  memcpy (kbc->ram, c->ram, sizeof kbc->ram);
  kbc->pending_cmd = c->pending_cmd;
  kbc->last_write_cmd = c->last_write_cmd;
  kbc->output_port = c->output_port;
  kbc->out = c->out;
  kbc->out_src = (enum vmm_i8042_source) out_src;
  kbc->ctrl_out = c->ctrl_out;
  kbc->ctrl_src = (enum vmm_i8042_source) ctrl_src;
  kbc->last_read = c->last_read;
  kbc->xlate_break = c->xlate_break;
  kbc->kbd = c->kbd;
  kbc->mouse = c->mouse;
  leds = led_bits (kbc->kbd.leds);
  update_irq (kbc, false);
  pthread_mutex_unlock (&kbc->lock);
  if (kbc->leds.leds != NULL)
    kbc->leds.leds (kbc->leds.data, leds);

out:
  g_free (c);
  return ok;
}
