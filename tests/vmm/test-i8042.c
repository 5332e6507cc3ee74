/* test-i8042.c: the i8042 controller (reset only)
 *
 * Through ports 0x60 and 0x64 on a bus: the self-test, the command byte,
 * the reset line (a fake), and commands it does not know.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "devices/i8042.h"
#include "vmm-test.h"

#define KBD_DATA   VMM_PORT_I8042_DATA
#define KBD_CMD    VMM_PORT_I8042_CMD

struct kbc_fx {
  struct vmm_bus pio;
  struct vmm_i8042 kbc;
  unsigned resets;
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
kbc_fx_init (struct kbc_fx *fx)
{
  memset (fx, 0, sizeof *fx);
  vmm_bus_init (&fx->pio, "pio");
  vmm_i8042_init (&fx->kbc, fake_reset, fx);
  g_assert_cmpint (vmm_bus_register (&fx->pio, KBD_DATA, 5, &vmm_i8042_ops, &fx->kbc, "i8042"),
                   ==, 0);
}

static void
kbc_fx_destroy (struct kbc_fx *fx)
{
  g_assert_false (fx->locked_in_callback);
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
  /* A data byte with no command waiting goes nowhere */
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x99);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  /* A command interrupting another drops the first */
  kbc_command (&fx, 0x60);
  kbc_command (&fx, 0xaa);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x55);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x00);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
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
  /* The byte after is plain data again */
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x00);
  g_assert_cmpuint (fx.resets, ==, 3);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_unknown (void)
{
  struct kbc_fx fx;
  static const uint8_t cmds[] = { 0x00, 0x1f, 0x7f, 0xa1, 0xc0, 0xc1, 0xe0, 0xef };

  kbc_fx_init (&fx);
  for (unsigned i = 0; i < G_N_ELEMENTS (cmds); i++)
    {
      kbc_command (&fx, cmds[i]);
      vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0xfe);
    }
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x30);
  /* Bytes for devices that are not there: nothing comes back */
  kbc_command (&fx, 0xd4);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0xff);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0xff);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);
  /* ... except the echo commands */
  kbc_command (&fx, 0xd2);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x42);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x42);
  kbc_command (&fx, 0xd3);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x43);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x43);
  /* Wide writes are dropped */
  vmm_test_bus_out (&fx.pio, KBD_CMD, 1, 0x60);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 2, 0x1234);
  vmm_test_bus_out (&fx.pio, KBD_DATA, 1, 0x30);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x30);
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_fx_destroy (&fx);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/i8042/self-test", test_i8042_self_test);
  g_test_add_func ("/i8042/command-byte", test_i8042_command_byte);
  g_test_add_func ("/i8042/reset", test_i8042_reset);
  g_test_add_func ("/i8042/unknown", test_i8042_unknown);

  return g_test_run ();
}
