/* test-i8042.c: the i8042 controller, its keyboard and its mouse
 *
 * Through ports 0x60 and 0x64 on a bus: the self-test, the command byte,
 * the reset line (a fake), commands it does not know; the sequences
 * SeaBIOS and Linux send to set the keyboard and mouse up; keys typed
 * through the input sink read back in sets 1 and 2; the LEDs; IRQs 1 and
 * 12 (fakes); mouse packets; the order of the two devices' bytes; full
 * queues.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>
#include <linux/input-event-codes.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "devices/i8042.h"
#include "display/keymap.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define KBD_DATA   VMM_PORT_I8042_DATA
#define KBD_CMD    VMM_PORT_I8042_CMD

struct kbc_fx {
  struct vmm_bus pio;
  struct vmm_i8042 kbc;
  struct vmm_test_irq irq1, irq12;
  struct vmm_input_sink keyboard, mouse;
  unsigned resets;
  unsigned led_calls;
  uint32_t leds;
  bool locked_in_callback;
};

static void
fake_reset (void *opaque)
{
  struct kbc_fx *fx = opaque;

  fx->resets++;
  if (!vmm_test_mutex_is_free (&fx->kbc.lock))
    fx->locked_in_callback = true;
}

static void
fake_leds (void *data, uint32_t leds)
{
  struct kbc_fx *fx = data;

  fx->led_calls++;
  fx->leds = leds;
  if (!vmm_test_mutex_is_free (&fx->kbc.lock))
    fx->locked_in_callback = true;
}

static void
kbc_fx_init (struct kbc_fx *fx)
{
  struct vmm_irq_line irq1, irq12;
  struct vmm_input_led_listener leds = { fake_leds, fx };

  memset (fx, 0, sizeof *fx);
  vmm_bus_init (&fx->pio, "pio");
  irq1 = vmm_test_irq_line (&fx->irq1, VMM_I8042_KBD_IRQ);
  irq12 = vmm_test_irq_line (&fx->irq12, VMM_I8042_AUX_IRQ);
  vmm_i8042_init (&fx->kbc, irq1, irq12, &leds, fake_reset, fx);
  fx->keyboard = vmm_i8042_keyboard_sink (&fx->kbc);
  fx->mouse = vmm_i8042_mouse_sink (&fx->kbc);
  g_assert_cmpint (vmm_bus_register (&fx->pio, KBD_DATA, 5, &vmm_i8042_ops, &fx->kbc, "i8042"),
                   ==, 0);
}

static void
kbc_fx_destroy (struct kbc_fx *fx)
{
  g_assert_false (fx->locked_in_callback);
  /* Lines are only driven when they change */
  g_assert_cmpuint (fx->irq1.redundant, ==, 0);
  g_assert_cmpuint (fx->irq12.redundant, ==, 0);
  vmm_i8042_destroy (&fx->kbc);
  vmm_bus_destroy (&fx->pio);
}

static uint8_t
kbc_status (struct kbc_fx *fx)
{
  return (uint8_t) vmm_test_bus_in (&fx->pio, KBD_CMD, 1);
}

static void
kbc_command (struct kbc_fx *fx, uint8_t cmd)
{
  vmm_test_bus_out (&fx->pio, KBD_CMD, 1, cmd);
}

/* Reads the output buffer if OBF says there is something: -1 if not. */
static int
kbc_read_data (struct kbc_fx *fx)
{
  if (!(kbc_status (fx) & 0x01))
    return -1;
  return (int) vmm_test_bus_in (&fx->pio, KBD_DATA, 1);
}

static void
kbc_write_data (struct kbc_fx *fx, uint8_t value)
{
  vmm_test_bus_out (&fx->pio, KBD_DATA, 1, value);
}

static void
kbc_write_cb (struct kbc_fx *fx, uint8_t cb)
{
  kbc_command (fx, 0x60);
  kbc_write_data (fx, cb);
}

static uint8_t
kbc_read_cb (struct kbc_fx *fx)
{
  kbc_command (fx, 0x20);
  return (uint8_t) kbc_read_data (fx);
}

/* Reads what there is to read from the port AUX says (the status's 0x20),
 * up to a byte from the other port, and compares it with EXPECTED. */
static void
check_bytes (struct kbc_fx *fx, bool aux, const uint8_t *expected, size_t n_expected)
{
  uint8_t got[64];
  size_t n = 0;

  while (n < sizeof got && (kbc_status (fx) & 0x21) == (aux ? 0x21 : 0x01))
    got[n++] = (uint8_t) vmm_test_bus_in (&fx->pio, KBD_DATA, 1);
  if (n != n_expected || memcmp (got, expected, n) != 0)
    {
      g_autoptr (GString) s = g_string_new ("read:");

      for (size_t i = 0; i < n; i++)
        g_string_append_printf (s, " %02x", got[i]);
      g_test_message ("%s", s->str);
    }
  g_assert_cmpmem (got, n, expected, n_expected);
}

#define EXPECT_KBD(fx, ...) \
  do { static const uint8_t e_[] = { __VA_ARGS__ }; check_bytes (fx, false, e_, sizeof e_); } while (0)
#define EXPECT_AUX(fx, ...) \
  do { static const uint8_t e_[] = { __VA_ARGS__ }; check_bytes (fx, true, e_, sizeof e_); } while (0)
#define EXPECT_NOTHING(fx) \
  g_assert_cmphex (kbc_status (fx) & 0x01, ==, 0x00)

static void
type (struct kbc_fx *fx, uint16_t key, bool pressed)
{
  fx->keyboard.key (fx->keyboard.data, key, pressed);
}

static void
tap (struct kbc_fx *fx, uint16_t key)
{
  type (fx, key, true);
  type (fx, key, false);
}

/* A command to the mouse, through 0xd4 */
static void
aux_write (struct kbc_fx *fx, uint8_t value)
{
  kbc_command (fx, 0xd4);
  kbc_write_data (fx, value);
}

static void
test_i8042_self_test (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0);
  g_assert_cmphex (kbc_status (&fx) & 0x04, ==, 0x04);   /* system flag */
  kbc_command (&fx, 0xaa);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x01);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x55);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);
  g_assert_cmpint (kbc_read_data (&fx), ==, -1);
  kbc_command (&fx, 0xab);                              /* keyboard interface test */
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x00);
  kbc_command (&fx, 0xa9);                              /* aux interface test */
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x00);
  /* The handler directly: offsets 0 and 4; 1-3 are not ours */
  vmm_test_dev_out (&vmm_i8042_ops, &fx.kbc, 4, 1, 0xaa);
  g_assert_cmphex (vmm_test_dev_in (&vmm_i8042_ops, &fx.kbc, 4, 1) & 0x01, ==, 0x01);
  g_assert_cmphex (vmm_test_dev_in (&vmm_i8042_ops, &fx.kbc, 0, 1), ==, 0x55);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, KBD_DATA + 1, 1), ==, 0xff);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, KBD_CMD, 2), ==, 0xffff);  /* straddles the end */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, KBD_DATA, 2), ==, 0xffff);
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_command_byte (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x30);
  kbc_command (&fx, 0x60);
  g_assert_cmphex (kbc_status (&fx) & 0x08, ==, 0x08);   /* waiting for its byte */
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x45);
  g_assert_cmphex (kbc_status (&fx) & 0x08, ==, 0x00);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);   /* a write produces no output */
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  /* Port enable/disable commands flip their bits */
  kbc_command (&fx, 0xad);
  kbc_command (&fx, 0xa7);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x75);
  kbc_command (&fx, 0xae);
  kbc_command (&fx, 0xa8);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  /* A data byte with no command waiting goes to the keyboard, which does
   * not know 0x99; the controller's answer goes in front of its answer */
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x99);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0xfe);
  g_assert_cmpint (kbc_read_data (&fx), ==, -1);
  /* A command interrupting another drops the first */
  kbc_command (&fx, 0x60);
  kbc_command (&fx, 0xaa);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x55);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x00);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0xfe);     /* the keyboard had the 0x00 */
  /* The controller's RAM past the command byte */
  kbc_command (&fx, 0x7f);
  kbc_write_data (&fx, 0x5a);
  kbc_command (&fx, 0x3f);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x5a);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  /* The input port: the keyboard is not locked */
  kbc_command (&fx, 0xc0);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x80);
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_reset (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);

  /* The pulse: what Linux's reboot=k and the FADT reset register do */
  kbc_command (&fx, VMM_ACPI_RESET_VALUE);
  g_assert_cmpuint (fx.resets, ==, 1);
  kbc_command (&fx, 0xff);                              /* pulses nothing */
  g_assert_cmpuint (fx.resets, ==, 1);
  kbc_command (&fx, 0xf0);                              /* pulses bits 0-3, reset among them */
  g_assert_cmpuint (fx.resets, ==, 2);
  kbc_command (&fx, 0xfd);                              /* bit 1 only: not reset */
  g_assert_cmpuint (fx.resets, ==, 2);

  /* The output port */
  kbc_command (&fx, 0xd0);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x03);      /* reset high, A20 on */
  kbc_command (&fx, 0xd1);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0xdd);                 /* bit 0 set: running */
  g_assert_cmpuint (fx.resets, ==, 2);
  kbc_command (&fx, 0xd0);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0xdd);
  kbc_command (&fx, 0xd1);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0xdc);                 /* bit 0 clear: reset */
  g_assert_cmpuint (fx.resets, ==, 3);
  kbc_command (&fx, 0xd0);
  g_assert_cmphex (kbc_read_data (&fx) & 0x01, ==, 0x01);
  /* The byte after is for the keyboard again (held back: its port is off) */
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x00);
  g_assert_cmpuint (fx.resets, ==, 3);
  EXPECT_NOTHING (&fx);
  /* ... and a pulse while the devices have bytes waiting still resets */
  tap (&fx, KEY_A);
  kbc_command (&fx, 0xfe);
  g_assert_cmpuint (fx.resets, ==, 4);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_unknown (void)
{
  struct kbc_fx fx;
  static const uint8_t cmds[] = { 0x00, 0x1f, 0x80, 0xa1, 0xc1, 0xe0, 0xef };

  kbc_fx_init (&fx);
  for (unsigned i = 0; i < G_N_ELEMENTS (cmds); i++)
    {
      kbc_command (&fx, cmds[i]);
      vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0xf2);     /* to the keyboard */
    }
  g_assert_cmpuint (fx.resets, ==, 0);
  g_assert_cmpint (kbc_read_cb (&fx), ==, 0x30);
  /* The keyboard's answers wait while its port is off */
  EXPECT_NOTHING (&fx);
  kbc_command (&fx, 0xae);
  EXPECT_KBD (&fx, 0xfa, 0xab, 0x83, 0xfa, 0xab, 0x83, 0xfa, 0xab, 0x83, 0xfa, 0xab, 0x83,
              0xfa, 0xab, 0x83, 0xfa);  /* then its 16 bytes were full */
  /* Bytes for the mouse: answered, held back while its port is off */
  kbc_command (&fx, 0xd4);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0xff);
  EXPECT_NOTHING (&fx);
  kbc_command (&fx, 0xa8);
  EXPECT_AUX (&fx, 0xfa, 0xaa, 0x00);
  /* Commands a device does not know: resend */
  aux_write (&fx, 0x00);
  EXPECT_AUX (&fx, 0xfe);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x01);
  EXPECT_KBD (&fx, 0xfe);
  /* The echo commands */
  kbc_command (&fx, 0xd2);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x42);
  EXPECT_KBD (&fx, 0x42);
  kbc_command (&fx, 0xd3);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x43);
  EXPECT_AUX (&fx, 0x43);
  /* An empty buffer reads as its last byte */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, KBD_DATA, 1), ==, 0x43);
  /* Wide writes are dropped */
  vmm_test_bus_out (&fx.pio, KBD_CMD, 1, 0x60);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 2, 0x1234);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x30);
  g_assert_cmpint (kbc_read_cb (&fx), ==, 0x30);
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_fx_destroy (&fx);
}

/* SeaBIOS's ps2port.c: the controller, then each keyboard command with
 * the other port off and no interrupts, and translation on at the end */
static void
seabios_kbd_command (struct kbc_fx *fx, uint8_t *ctr, uint8_t cmd)
{
  kbc_write_cb (fx, (uint8_t) ((*ctr | 0x30) & ~0x03));
  kbc_write_cb (fx, (uint8_t) ((*ctr | 0x30) & ~0x13));
  kbc_write_data (fx, cmd);
}

static void
test_i8042_seabios (void)
{
  struct kbc_fx fx;
  uint8_t ctr = 0x30;

  kbc_fx_init (&fx);
  EXPECT_NOTHING (&fx);
  kbc_command (&fx, 0xad);
  kbc_command (&fx, 0xa7);
  EXPECT_NOTHING (&fx);
  kbc_command (&fx, 0xaa);
  EXPECT_KBD (&fx, 0x55);
  kbc_command (&fx, 0xab);
  EXPECT_KBD (&fx, 0x00);

  seabios_kbd_command (&fx, &ctr, 0xff);              /* reset */
  EXPECT_KBD (&fx, 0xfa, 0xaa);
  kbc_write_cb (&fx, ctr);
  seabios_kbd_command (&fx, &ctr, 0xf5);              /* disable */
  EXPECT_KBD (&fx, 0xfa);
  kbc_write_cb (&fx, ctr);
  seabios_kbd_command (&fx, &ctr, 0xf0);              /* set 2 */
  kbc_write_data (&fx, 0x02);
  EXPECT_KBD (&fx, 0xfa, 0xfa);
  kbc_write_cb (&fx, ctr);
  ctr = 0x61;                                          /* aux off, translation, IRQ 1 */
  g_assert_false (vmm_i8042_keyboard_active (&fx.kbc));
  seabios_kbd_command (&fx, &ctr, 0xf4);              /* enable */
  EXPECT_KBD (&fx, 0xfa);
  kbc_write_cb (&fx, ctr);
  g_assert_true (vmm_i8042_keyboard_active (&fx.kbc));
  g_assert_false (vmm_i8042_mouse_active (&fx.kbc));
  g_assert_false (fx.irq1.level);

  /* A key: set 1, with an interrupt for each byte */
  type (&fx, KEY_ENTER, true);
  g_assert_true (fx.irq1.level);
  g_assert_false (fx.irq12.level);
  EXPECT_KBD (&fx, 0x1c);
  g_assert_false (fx.irq1.level);
  type (&fx, KEY_ENTER, false);
  EXPECT_KBD (&fx, 0x9c);
  g_assert_cmpuint (fx.irq1.calls, ==, 4);
  kbc_fx_destroy (&fx);
}

/* Linux's i8042.c, atkbd.c and psmouse-base.c */
static void
test_i8042_linux (void)
{
  struct kbc_fx fx;
  static const uint8_t imps[] = { 200, 100, 80 }, imex[] = { 200, 200, 80 };

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x61);                            /* as SeaBIOS left it */
  /* i8042_controller_check, _selftest, _init */
  EXPECT_NOTHING (&fx);
  kbc_command (&fx, 0xaa);
  EXPECT_KBD (&fx, 0x55);
  g_assert_cmphex (kbc_read_cb (&fx), ==, 0x61);
  g_assert_cmphex (kbc_read_cb (&fx), ==, 0x61);
  kbc_write_cb (&fx, 0x70);                            /* ports off, no IRQs, translation */
  /* i8042_check_aux: loopback, the bit test, the IRQ test */
  kbc_command (&fx, 0xd3);
  kbc_write_data (&fx, 0x5a);
  EXPECT_AUX (&fx, 0x5a);
  kbc_command (&fx, 0xa7);
  g_assert_cmphex (kbc_read_cb (&fx) & 0x20, ==, 0x20);
  kbc_command (&fx, 0xa8);
  g_assert_cmphex (kbc_read_cb (&fx) & 0x20, ==, 0x00);
  kbc_write_cb (&fx, 0x52);                            /* AUX IRQ on */
  kbc_command (&fx, 0xd3);
  kbc_write_data (&fx, 0xa5);
  g_assert_true (fx.irq12.level);
  g_assert_false (fx.irq1.level);
  EXPECT_AUX (&fx, 0xa5);
  g_assert_false (fx.irq12.level);
  kbc_write_cb (&fx, 0x47);                            /* both on, both IRQs, translation */

  /* atkbd: ID (translated as real hardware does), LEDs, rate, enable */
  kbc_write_data (&fx, 0xf2);
  EXPECT_KBD (&fx, 0xfa, 0xab, 0x41);
  kbc_write_data (&fx, 0xf5);
  EXPECT_KBD (&fx, 0xfa);
  kbc_write_data (&fx, 0xed);
  kbc_write_data (&fx, 0x00);
  EXPECT_KBD (&fx, 0xfa, 0xfa);
  kbc_write_data (&fx, 0xf3);
  kbc_write_data (&fx, 0x00);
  EXPECT_KBD (&fx, 0xfa, 0xfa);
  kbc_write_data (&fx, 0xf4);
  EXPECT_KBD (&fx, 0xfa);
  kbc_write_data (&fx, 0xee);
  EXPECT_KBD (&fx, 0xee);
  /* The scancode set, asked for: both bytes acknowledged, then 2, translated */
  kbc_write_data (&fx, 0xf0);
  kbc_write_data (&fx, 0x00);
  EXPECT_KBD (&fx, 0xfa, 0xfa, 0x41);

  /* psmouse: ID, reset, the IntelliMouse and Explorer knocks */
  aux_write (&fx, 0xf2);
  EXPECT_AUX (&fx, 0xfa, 0x00);
  aux_write (&fx, 0xff);
  EXPECT_AUX (&fx, 0xfa, 0xaa, 0x00);
  for (unsigned i = 0; i < G_N_ELEMENTS (imps); i++)
    {
      aux_write (&fx, 0xf3);
      aux_write (&fx, imps[i]);
    }
  EXPECT_AUX (&fx, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
  aux_write (&fx, 0xf2);
  EXPECT_AUX (&fx, 0xfa, 0x03);
  for (unsigned i = 0; i < G_N_ELEMENTS (imex); i++)
    {
      aux_write (&fx, 0xf3);
      aux_write (&fx, imex[i]);
    }
  EXPECT_AUX (&fx, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
  aux_write (&fx, 0xf2);
  EXPECT_AUX (&fx, 0xfa, 0x04);
  /* Logitech's PS2++ probe (resolution 0, three 1:1 scalings, status)
   * must not find one: nothing in the status's model bits, 0 buttons */
  aux_write (&fx, 0xe8);
  aux_write (&fx, 0x00);
  aux_write (&fx, 0xe6);
  aux_write (&fx, 0xe6);
  aux_write (&fx, 0xe6);
  aux_write (&fx, 0xe9);
  EXPECT_AUX (&fx, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x00, 0x00, 80);
  aux_write (&fx, 0xe8);
  aux_write (&fx, 0x03);
  aux_write (&fx, 0xe7);
  aux_write (&fx, 0xf4);
  aux_write (&fx, 0xe9);
  EXPECT_AUX (&fx, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x30, 0x03, 80);
  g_assert_true (vmm_i8042_mouse_active (&fx.kbc));
  /* After a reset, a plain mouse again */
  aux_write (&fx, 0xff);
  aux_write (&fx, 0xf2);
  EXPECT_AUX (&fx, 0xfa, 0xaa, 0x00, 0xfa, 0x00);
  g_assert_false (vmm_i8042_mouse_active (&fx.kbc));
  kbc_fx_destroy (&fx);
}

/* Keys through the sink, with translation on (set 1) */
static void
test_i8042_keys_set1 (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x44);                            /* ports on, translation, no IRQs */
  tap (&fx, KEY_A);
  EXPECT_KBD (&fx, 0x1e, 0x9e);
  tap (&fx, KEY_UP);
  EXPECT_KBD (&fx, 0xe0, 0x48, 0xe0, 0xc8);
  tap (&fx, KEY_RIGHTCTRL);
  EXPECT_KBD (&fx, 0xe0, 0x1d, 0xe0, 0x9d);
  tap (&fx, KEY_KPENTER);
  EXPECT_KBD (&fx, 0xe0, 0x1c, 0xe0, 0x9c);
  tap (&fx, KEY_F7);                                   /* set 2's 0x83 */
  EXPECT_KBD (&fx, 0x41, 0xc1);
  tap (&fx, KEY_LEFTMETA);
  EXPECT_KBD (&fx, 0xe0, 0x5b, 0xe0, 0xdb);
  /* Pause: all on the press; with Ctrl, Break */
  type (&fx, KEY_PAUSE, true);
  EXPECT_KBD (&fx, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
  type (&fx, KEY_PAUSE, false);
  EXPECT_NOTHING (&fx);
  type (&fx, KEY_LEFTCTRL, true);
  tap (&fx, KEY_PAUSE);
  type (&fx, KEY_LEFTCTRL, false);
  EXPECT_KBD (&fx, 0x1d, 0xe0, 0x46, 0xe0, 0xc6, 0x9d);
  /* Print Screen; with Alt, SysRq */
  tap (&fx, KEY_SYSRQ);
  EXPECT_KBD (&fx, 0xe0, 0x2a, 0xe0, 0x37, 0xe0, 0xb7, 0xe0, 0xaa);
  type (&fx, KEY_RIGHTALT, true);
  tap (&fx, KEY_SYSRQ);
  type (&fx, KEY_RIGHTALT, false);
  EXPECT_KBD (&fx, 0xe0, 0x38, 0x54, 0xd4, 0xe0, 0xb8);
  /* Codes with no key, and the mouse's buttons, send nothing */
  tap (&fx, KEY_RESERVED);
  tap (&fx, KEY_MACRO1);
  tap (&fx, BTN_LEFT);
  EXPECT_NOTHING (&fx);
  /* Scanning off: keys are not sent */
  kbc_write_data (&fx, 0xf5);
  EXPECT_KBD (&fx, 0xfa);
  g_assert_false (vmm_i8042_keyboard_active (&fx.kbc));
  tap (&fx, KEY_A);
  EXPECT_NOTHING (&fx);
  kbc_write_data (&fx, 0xf4);
  EXPECT_KBD (&fx, 0xfa);
  /* Native set 1, with translation off */
  kbc_write_data (&fx, 0xf0);
  kbc_write_data (&fx, 0x01);
  EXPECT_KBD (&fx, 0xfa, 0xfa);
  kbc_write_cb (&fx, 0x04);
  kbc_write_data (&fx, 0xf0);
  kbc_write_data (&fx, 0x00);
  EXPECT_KBD (&fx, 0xfa, 0xfa, 0x01);
  tap (&fx, KEY_LEFT);
  EXPECT_KBD (&fx, 0xe0, 0x4b, 0xe0, 0xcb);
  /* Set 3 is refused; the keyboard stays in set 1 */
  kbc_write_data (&fx, 0xf0);
  kbc_write_data (&fx, 0x03);
  EXPECT_KBD (&fx, 0xfa, 0xfe);
  tap (&fx, KEY_B);
  EXPECT_KBD (&fx, 0x30, 0xb0);
  /* Resend: the last byte the keyboard sent again */
  kbc_write_data (&fx, 0xfe);
  EXPECT_KBD (&fx, 0xfe);
  kbc_fx_destroy (&fx);
}

/* The same keys with translation off: set 2 as the keyboard sends it */
static void
test_i8042_keys_set2 (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x04);
  kbc_write_data (&fx, 0xf2);
  EXPECT_KBD (&fx, 0xfa, 0xab, 0x83);
  tap (&fx, KEY_A);
  EXPECT_KBD (&fx, 0x1c, 0xf0, 0x1c);
  tap (&fx, KEY_UP);
  EXPECT_KBD (&fx, 0xe0, 0x75, 0xe0, 0xf0, 0x75);
  tap (&fx, KEY_F7);
  EXPECT_KBD (&fx, 0x83, 0xf0, 0x83);
  tap (&fx, KEY_ESC);
  EXPECT_KBD (&fx, 0x76, 0xf0, 0x76);
  type (&fx, KEY_PAUSE, true);
  EXPECT_KBD (&fx, 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77);
  type (&fx, KEY_PAUSE, false);
  EXPECT_NOTHING (&fx);
  tap (&fx, KEY_SYSRQ);
  EXPECT_KBD (&fx, 0xe0, 0x12, 0xe0, 0x7c, 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12);
  type (&fx, KEY_LEFTALT, true);
  tap (&fx, KEY_SYSRQ);
  type (&fx, KEY_LEFTALT, false);
  EXPECT_KBD (&fx, 0x11, 0x84, 0xf0, 0x84, 0xf0, 0x11);
  /* Every key the table knows makes it through both ways: in set 2
   * and back through the translation, the set-1 code it came from */
  for (uint16_t key = 1; key < KEY_MAX; key++)
    {
      uint32_t pc = vmm_keymap_linux_to_pc (key);
      uint8_t got[16];
      size_t n = 0;

      if (pc == 0 || key == KEY_PAUSE || key == KEY_SYSRQ)
        continue;
      kbc_write_cb (&fx, 0x44);
      type (&fx, key, true);
      while (n < sizeof got && (kbc_status (&fx) & 0x01))
        got[n++] = (uint8_t) kbc_read_data (&fx);
      if (pc & 0x100)
        {
          g_assert_cmpuint (n, ==, 2);
          g_assert_cmphex (got[0], ==, 0xe0);
        }
      else
        g_assert_cmpuint (n, ==, 1);
      g_assert_cmphex (got[n - 1], ==, pc & 0x7f);
      g_assert_cmpuint (vmm_keymap_pc_to_linux (pc), ==, key);
      kbc_write_cb (&fx, 0x04);
      type (&fx, key, false);
      n = 0;
      while (n < sizeof got && (kbc_status (&fx) & 0x01))
        got[n++] = (uint8_t) kbc_read_data (&fx);
      g_assert_cmpuint (n, ==, (pc & 0x100) ? 3 : 2);
      g_assert_cmphex (got[n - 2], ==, 0xf0);
      g_assert_cmphex (vmm_ps2_translate (got[n - 1]), ==, pc & 0x7f);
    }
  kbc_fx_destroy (&fx);
}

static void
test_i8042_leds (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x44);
  kbc_write_data (&fx, 0xed);
  g_assert_cmpuint (fx.led_calls, ==, 0);
  kbc_write_data (&fx, 0x07);
  g_assert_cmpuint (fx.led_calls, ==, 1);
  g_assert_cmphex (fx.leds, ==, (1u << LED_NUML) | (1u << LED_CAPSL) | (1u << LED_SCROLLL));
  kbc_write_data (&fx, 0xed);
  kbc_write_data (&fx, 0x02);                          /* Num Lock */
  g_assert_cmphex (fx.leds, ==, 1u << LED_NUML);
  kbc_write_data (&fx, 0xed);
  kbc_write_data (&fx, 0x04);                          /* Caps Lock */
  g_assert_cmphex (fx.leds, ==, 1u << LED_CAPSL);
  EXPECT_KBD (&fx, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
  /* A command in place of the argument is a command */
  kbc_write_data (&fx, 0xed);
  kbc_write_data (&fx, 0xf2);
  EXPECT_KBD (&fx, 0xfa, 0xfa, 0xab, 0x41);
  g_assert_cmpuint (fx.led_calls, ==, 3);
  /* A reset puts them out */
  kbc_write_data (&fx, 0xff);
  EXPECT_KBD (&fx, 0xfa, 0xaa);
  g_assert_cmpuint (fx.led_calls, ==, 4);
  g_assert_cmphex (fx.leds, ==, 0);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_irq (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x44);                            /* ports on, IRQs off */
  tap (&fx, KEY_A);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x01);
  g_assert_false (fx.irq1.level);
  kbc_write_cb (&fx, 0x45);                            /* IRQ 1 on: the byte waiting raises it */
  g_assert_true (fx.irq1.level);
  g_assert_cmpuint (fx.irq1.calls, ==, 1);
  /* Reading the first byte: low, then high again for the second */
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x1e);
  g_assert_true (fx.irq1.level);
  g_assert_cmpuint (fx.irq1.calls, ==, 3);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x9e);
  g_assert_false (fx.irq1.level);
  g_assert_cmpuint (fx.irq1.calls, ==, 4);
  /* Reading an empty buffer changes nothing */
  vmm_test_bus_in (&fx.pio, KBD_DATA, 1);
  g_assert_cmpuint (fx.irq1.calls, ==, 4);
  /* A disabled port: no byte, no interrupt, until it is enabled */
  kbc_command (&fx, 0xad);
  tap (&fx, KEY_B);
  g_assert_false (fx.irq1.level);
  EXPECT_NOTHING (&fx);
  kbc_command (&fx, 0xae);
  g_assert_true (fx.irq1.level);
  EXPECT_KBD (&fx, 0x30, 0xb0);
  g_assert_false (fx.irq1.level);
  /* The controller's own answers raise IRQ 1 too, as on real hardware */
  kbc_command (&fx, 0x20);
  g_assert_true (fx.irq1.level);
  EXPECT_KBD (&fx, 0x45);
  g_assert_false (fx.irq1.level);
  /* The mouse's line is IRQ 12 */
  kbc_write_cb (&fx, 0x47);
  aux_write (&fx, 0xf4);
  g_assert_true (fx.irq12.level);
  g_assert_false (fx.irq1.level);
  EXPECT_AUX (&fx, 0xfa);
  g_assert_false (fx.irq12.level);
  g_assert_cmpuint (fx.irq12.calls, ==, 2);
  kbc_fx_destroy (&fx);
}

static void
rel (struct kbc_fx *fx, int32_t dx, int32_t dy)
{
  fx->mouse.rel (fx->mouse.data, dx, dy);
}

static void
click (struct kbc_fx *fx, uint16_t button, bool pressed)
{
  fx->mouse.key (fx->mouse.data, button, pressed);
}

static void
knock (struct kbc_fx *fx, uint8_t r1, uint8_t r2, uint8_t r3)
{
  const uint8_t rates[] = { r1, r2, r3 };

  for (unsigned i = 0; i < G_N_ELEMENTS (rates); i++)
    {
      aux_write (fx, 0xf3);
      aux_write (fx, rates[i]);
    }
  EXPECT_AUX (fx, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
}

static void
test_i8042_mouse (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x47);
  aux_write (&fx, 0xff);
  EXPECT_AUX (&fx, 0xfa, 0xaa, 0x00);
  /* Not reporting: motion is not measured */
  rel (&fx, 5, 5);
  click (&fx, BTN_LEFT, true);
  click (&fx, BTN_LEFT, false);
  EXPECT_NOTHING (&fx);
  aux_write (&fx, 0xf4);
  EXPECT_AUX (&fx, 0xfa);

  /* y grows upwards; signs in the first byte */
  rel (&fx, 10, -5);
  EXPECT_AUX (&fx, 0x08, 0x0a, 0x05);
  rel (&fx, -3, 4);
  EXPECT_AUX (&fx, 0x38, 0xfd, 0xfc);
  rel (&fx, -256, 0);
  EXPECT_AUX (&fx, 0x18, 0x01, 0x00, 0x18, 0xff, 0x00);   /* -255, then -1 */
  /* Buttons */
  click (&fx, BTN_LEFT, true);
  EXPECT_AUX (&fx, 0x09, 0x00, 0x00);
  click (&fx, BTN_RIGHT, true);
  click (&fx, BTN_MIDDLE, true);
  EXPECT_AUX (&fx, 0x0b, 0x00, 0x00, 0x0f, 0x00, 0x00);
  click (&fx, BTN_LEFT, false);
  click (&fx, BTN_RIGHT, false);
  click (&fx, BTN_MIDDLE, false);
  click (&fx, BTN_SIDE, true);                               /* not on this mouse */
  click (&fx, BTN_SIDE, false);
  EXPECT_AUX (&fx, 0x0e, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x08, 0x00, 0x00);
  /* A large motion, several packets of at most 255 */
  rel (&fx, 600, -300);
  EXPECT_AUX (&fx, 0x08, 0xff, 0xff, 0x08, 0xff, 0x2d, 0x08, 0x5a, 0x00);
  /* The wheel needs ID 3 */
  fx.mouse.wheel (fx.mouse.data, 1);
  EXPECT_NOTHING (&fx);
  aux_write (&fx, 0xf5);
  EXPECT_AUX (&fx, 0xfa);
  knock (&fx, 200, 100, 80);
  aux_write (&fx, 0xf4);
  EXPECT_AUX (&fx, 0xfa);
  fx.mouse.wheel (fx.mouse.data, 1);                        /* up: -1 */
  EXPECT_AUX (&fx, 0x08, 0x00, 0x00, 0xff);
  fx.mouse.wheel (fx.mouse.data, -2);
  EXPECT_AUX (&fx, 0x08, 0x00, 0x00, 0x02);
  rel (&fx, 1, 1);
  EXPECT_AUX (&fx, 0x28, 0x01, 0xff, 0x00);
  /* ID 4: the wheel in 4 bits, buttons 4 and 5 */
  aux_write (&fx, 0xf5);
  EXPECT_AUX (&fx, 0xfa);
  knock (&fx, 200, 200, 80);
  aux_write (&fx, 0xf4);
  EXPECT_AUX (&fx, 0xfa);
  fx.mouse.wheel (fx.mouse.data, 1);
  EXPECT_AUX (&fx, 0x08, 0x00, 0x00, 0x0f);
  fx.mouse.wheel (fx.mouse.data, -10);                      /* 7, then 3 */
  EXPECT_AUX (&fx, 0x08, 0x00, 0x00, 0x07, 0x08, 0x00, 0x00, 0x03);
  click (&fx, BTN_SIDE, true);
  click (&fx, BTN_EXTRA, true);
  EXPECT_AUX (&fx, 0x08, 0x00, 0x00, 0x10, 0x08, 0x00, 0x00, 0x30);
  click (&fx, BTN_SIDE, false);
  click (&fx, BTN_EXTRA, false);
  EXPECT_AUX (&fx, 0x08, 0x00, 0x00, 0x20, 0x08, 0x00, 0x00, 0x00);

  /* Remote mode: motion waits for 0xeb */
  aux_write (&fx, 0xff);
  EXPECT_AUX (&fx, 0xfa, 0xaa, 0x00);
  aux_write (&fx, 0xf0);
  EXPECT_AUX (&fx, 0xfa);
  g_assert_true (vmm_i8042_mouse_active (&fx.kbc));
  rel (&fx, 7, -2);
  click (&fx, BTN_RIGHT, true);
  EXPECT_NOTHING (&fx);
  aux_write (&fx, 0xeb);
  EXPECT_AUX (&fx, 0xfa, 0x0a, 0x07, 0x02);
  aux_write (&fx, 0xeb);
  EXPECT_AUX (&fx, 0xfa, 0x0a, 0x00, 0x00);
  aux_write (&fx, 0xe9);
  EXPECT_AUX (&fx, 0xfa, 0x41, 0x02, 100);
  /* Back to stream mode, reporting off */
  aux_write (&fx, 0xea);
  EXPECT_AUX (&fx, 0xfa);
  rel (&fx, 7, -2);
  EXPECT_NOTHING (&fx);
  /* Wrap mode echoes until 0xec */
  aux_write (&fx, 0xee);
  aux_write (&fx, 0x12);
  aux_write (&fx, 0xf2);
  aux_write (&fx, 0xec);
  aux_write (&fx, 0xf2);
  EXPECT_AUX (&fx, 0xfa, 0x12, 0xf2, 0xfa, 0xfa, 0x00);
  kbc_fx_destroy (&fx);
}

/* The keyboard's bytes go first; a disabled port's bytes wait */
static void
test_i8042_order (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x47);
  aux_write (&fx, 0xf4);
  EXPECT_AUX (&fx, 0xfa);
  /* A mouse byte already in the buffer is read first; then the keys */
  rel (&fx, 1, 0);
  tap (&fx, KEY_A);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x08);
  EXPECT_KBD (&fx, 0x1e, 0x9e);
  EXPECT_AUX (&fx, 0x01, 0x00);
  /* With both waiting behind a controller answer, the keyboard first */
  kbc_command (&fx, 0xad);
  kbc_command (&fx, 0xa7);
  rel (&fx, 2, 0);
  tap (&fx, KEY_A);
  EXPECT_NOTHING (&fx);
  kbc_command (&fx, 0xa8);
  kbc_command (&fx, 0xae);                            /* the mouse's first byte is out already */
  EXPECT_AUX (&fx, 0x08);
  EXPECT_KBD (&fx, 0x1e, 0x9e);
  EXPECT_AUX (&fx, 0x02, 0x00);
  kbc_write_cb (&fx, 0x67);                           /* mouse off */
  rel (&fx, 3, 0);
  tap (&fx, KEY_B);
  EXPECT_KBD (&fx, 0x30, 0xb0);
  kbc_command (&fx, 0xa8);
  EXPECT_AUX (&fx, 0x08, 0x03, 0x00);
  kbc_write_cb (&fx, 0x57);                           /* keyboard off */
  tap (&fx, KEY_C);
  rel (&fx, 4, 0);
  EXPECT_AUX (&fx, 0x08, 0x04, 0x00);
  kbc_command (&fx, 0xae);
  EXPECT_KBD (&fx, 0x2e, 0xae);
  /* A controller answer goes before a device byte, which is not lost */
  tap (&fx, KEY_D);
  kbc_command (&fx, 0x20);
  EXPECT_KBD (&fx, 0x47, 0x20, 0xa0);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_full (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x44);
  kbc_command (&fx, 0xad);
  /* 15 presses fit (one place left for the overrun code), then the overrun */
  for (unsigned i = 0; i < 40; i++)
    {
      type (&fx, KEY_1, true);
      g_assert_cmpuint (fx.kbc.kbd.q.count, <=, VMM_PS2_QUEUE_LEN);
    }
  kbc_command (&fx, 0xae);
  EXPECT_KBD (&fx, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
              0x02, 0x02, 0xff);
  /* Room again */
  type (&fx, KEY_1, false);
  EXPECT_KBD (&fx, 0x82);
  /* An extended key does not go in half */
  kbc_command (&fx, 0xad);
  for (unsigned i = 0; i < 14; i++)
    type (&fx, KEY_2, true);
  type (&fx, KEY_UP, true);                           /* 2 bytes, 2 places: no */
  kbc_command (&fx, 0xae);
  EXPECT_KBD (&fx, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
              0x03, 0xff);

  /* The mouse keeps what does not fit and sends it as room comes */
  kbc_write_cb (&fx, 0x44);
  aux_write (&fx, 0xf4);
  EXPECT_AUX (&fx, 0xfa);
  kbc_command (&fx, 0xa7);
  for (unsigned i = 0; i < 100; i++)
    {
      rel (&fx, 100, 0);
      g_assert_cmpuint (fx.kbc.mouse.q.count, <=, VMM_PS2_QUEUE_LEN);
    }
  kbc_command (&fx, 0xa8);
  {
    unsigned total = 0, packets = 0;

    while (kbc_status (&fx) & 0x01)
      {
        uint8_t b0 = (uint8_t) kbc_read_data (&fx);
        uint8_t dx = (uint8_t) kbc_read_data (&fx);
        uint8_t dy = (uint8_t) kbc_read_data (&fx);

        g_assert_cmphex (b0, ==, 0x08);
        g_assert_cmphex (dy, ==, 0);
        total += dx;
        packets++;
      }
    g_assert_cmpuint (total, ==, 10000);
    g_assert_cmpuint (packets, ==, 43);   /* 5 of 100 while there was room, 37 of 255, 65 */
  }
  kbc_fx_destroy (&fx);
}

/* The display server types from its own thread while a vCPU reads */
struct typist {
  struct kbc_fx *fx;
  unsigned keys;
  gint done;
};

static gpointer
typist_run (gpointer data)
{
  struct typist *t = data;

  for (unsigned i = 0; i < t->keys; i++)
    {
      tap (t->fx, KEY_A);
      t->fx->mouse.rel (t->fx->mouse.data, 1, 0);
    }
  g_atomic_int_set (&t->done, 1);
  return NULL;
}

static void
test_i8042_threads (void)
{
  struct kbc_fx fx;
  struct typist t = { &fx, 2000, 0 };
  GThread *thread;
  unsigned kbd = 0, aux = 0;
  bool last_round = false;

  kbc_fx_init (&fx);
  kbc_write_cb (&fx, 0x47);
  aux_write (&fx, 0xf4);
  EXPECT_AUX (&fx, 0xfa);
  thread = g_thread_new ("typist", typist_run, &t);
  /* Until the typist is done and one more pass found the buffer empty */
  while (!last_round)
    {
      uint8_t status;

      last_round = g_atomic_int_get (&t.done);
      while ((status = kbc_status (&fx)) & 0x01)
        {
          uint8_t b = (uint8_t) kbc_read_data (&fx);

          if (status & 0x20)
            aux++;
          else
            {
              /* A's press and release, or the overrun code */
              g_assert_true (b == 0x1e || b == 0x9e || b == 0xff);
              kbd++;
            }
        }
    }
  g_thread_join (thread);
  g_assert_cmpuint (kbd, >, 0);
  g_assert_cmpuint (aux % 3, ==, 0);
  g_assert_false (fx.irq1.level);
  g_assert_false (fx.irq12.level);
  kbc_fx_destroy (&fx);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_kbc (void *kbc, const struct vmm_state_file *f, const char *name, bool apply,
          GError **error)
{
  return vmm_i8042_load (kbc, f, name, apply, error);
}

static void
save_kbc (struct kbc_fx *fx, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_i8042_save (&fx->kbc, w, "i8042");
  vmm_test_state_close (st, w);
}

/* Everything the guest reads from now on, port by port: -1 ends it */
static void
drain (struct kbc_fx *fx, int *out, size_t max)
{
  size_t n = 0;
  uint8_t st;

  while (n + 2 < max && ((st = kbc_status (fx)) & 0x01))
    {
      out[n++] = st & 0x20;
      out[n++] = (int) vmm_test_bus_in (&fx->pio, KBD_DATA, 1);
    }
  out[n] = -1;
}

/* Linux's set-up, with Caps Lock on, an IntelliMouse reporting; keys and
 * motion in the queues, a byte in the output buffer with its IRQ up, a
 * command to the mouse waiting for its byte: saved, and loaded into a
 * fresh controller, which the guest then reads the same bytes from. */
static void
test_i8042_state (void)
{
  struct kbc_fx a, b;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  int got_a[128], got_b[128];

  kbc_fx_init (&a);
  kbc_write_cb (&a, 0x47);
  kbc_write_data (&a, 0xed);
  kbc_write_data (&a, 0x04);
  EXPECT_KBD (&a, 0xfa, 0xfa);
  aux_write (&a, 0xff);
  EXPECT_AUX (&a, 0xfa, 0xaa, 0x00);
  knock (&a, 200, 100, 80);
  aux_write (&a, 0xf4);
  EXPECT_AUX (&a, 0xfa);
  a.keyboard.key (a.keyboard.data, KEY_LEFTCTRL, true);
  a.keyboard.key (a.keyboard.data, KEY_A, true);
  a.keyboard.key (a.keyboard.data, KEY_A, false);
  rel (&a, 300, 2);
  a.mouse.wheel (a.mouse.data, 1);
  g_assert_cmphex (vmm_test_bus_in (&a.pio, KBD_DATA, 1), ==, 0x1d);   /* Ctrl down */
  g_assert_true (a.irq1.level);
  kbc_command (&a, 0xd4);
  save_kbc (&a, &sa);

  kbc_fx_init (&b);
  save_kbc (&b, &sb0);
  g_assert_true (vmm_i8042_load (&b.kbc, sa.file, "i8042", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "i8042", load_kbc, &b.kbc, 32, 0x99);
  g_assert_cmpuint (b.irq1.calls + b.irq12.calls + b.led_calls, ==, 0);
  save_kbc (&b, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "i8042");
  vmm_test_state_clear (&sb);

  g_assert_true (vmm_i8042_load (&b.kbc, sa.file, "i8042", true, &error));
  g_assert_no_error (error);
  save_kbc (&b, &sb);
  vmm_test_state_assert_same (&sa, &sb, "i8042");
  g_assert_true (b.irq1.level);
  g_assert_false (b.irq12.level);
  g_assert_cmpuint (b.led_calls, ==, 1);
  g_assert_cmphex (b.leds, ==, 1u << LED_CAPSL);
  g_assert_true (vmm_i8042_keyboard_active (&b.kbc));
  g_assert_true (vmm_i8042_mouse_active (&b.kbc));

  /* The mouse command's byte, then everything queued, the same from both */
  kbc_write_data (&a, 0xf2);
  kbc_write_data (&b, 0xf2);
  drain (&a, got_a, G_N_ELEMENTS (got_a));
  drain (&b, got_b, G_N_ELEMENTS (got_b));
  for (unsigned i = 0; got_a[i] != -1 || got_b[i] != -1; i++)
    g_assert_cmpint (got_b[i], ==, got_a[i]);
  /* ... and Ctrl still held: Pause is Break */
  b.keyboard.key (b.keyboard.data, KEY_PAUSE, true);
  EXPECT_KBD (&b, 0xe0, 0x46, 0xe0, 0xc6);

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  kbc_fx_destroy (&a);
  kbc_fx_destroy (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/i8042/self-test", test_i8042_self_test);
  g_test_add_func ("/i8042/command-byte", test_i8042_command_byte);
  g_test_add_func ("/i8042/reset", test_i8042_reset);
  g_test_add_func ("/i8042/unknown", test_i8042_unknown);
  g_test_add_func ("/i8042/seabios", test_i8042_seabios);
  g_test_add_func ("/i8042/linux", test_i8042_linux);
  g_test_add_func ("/i8042/keys-set1", test_i8042_keys_set1);
  g_test_add_func ("/i8042/keys-set2", test_i8042_keys_set2);
  g_test_add_func ("/i8042/leds", test_i8042_leds);
  g_test_add_func ("/i8042/irq", test_i8042_irq);
  g_test_add_func ("/i8042/mouse", test_i8042_mouse);
  g_test_add_func ("/i8042/order", test_i8042_order);
  g_test_add_func ("/i8042/full", test_i8042_full);
  g_test_add_func ("/i8042/threads", test_i8042_threads);
  g_test_add_func ("/i8042/state", test_i8042_state);

  return g_test_run ();
}
