/* test-serial.c: the 8250 UART
 *
 * COM1 through its struct vmm_io_ops, directly and on a bus: registers,
 * loopback, the FIFOs, output and input, and its interrupt line (a fake
 * that counts what it sees).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "devices/serial.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define UART_RBR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

struct serial_fx {
  struct vmm_bus pio;
  struct vmm_serial s;
  struct vmm_test_irq irq;
  GByteArray *out;
  bool out_locked;   /* the output callback ran with the UART's lock held */
};

static void
serial_output (void *opaque, const uint8_t *data, size_t len)
{
  struct serial_fx *fx = opaque;

  fx->out_locked = !vmm_test_mutex_is_free (&fx->s.lock);
  g_byte_array_append (fx->out, data, (guint) len);
}

static void
serial_fx_init (struct serial_fx *fx)
{
  vmm_bus_init (&fx->pio, "pio");
  fx->out = g_byte_array_new ();
  vmm_serial_init (&fx->s, vmm_test_irq_line (&fx->irq, VMM_IRQ_COM1), serial_output, fx);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_COM1, 8, &vmm_serial_ops, &fx->s,
                                     "com1"), ==, 0);
}

static void
serial_fx_destroy (struct serial_fx *fx)
{
  g_assert_cmpuint (fx->irq.redundant, ==, 0);
  vmm_serial_destroy (&fx->s);
  g_byte_array_unref (fx->out);
  vmm_bus_destroy (&fx->pio);
}

static uint8_t
uart_in (struct serial_fx *fx, unsigned reg)
{
  return (uint8_t) vmm_test_bus_in (&fx->pio, VMM_PORT_COM1 + reg, 1);
}

static void
uart_out (struct serial_fx *fx, unsigned reg, uint8_t value)
{
  vmm_test_bus_out (&fx->pio, VMM_PORT_COM1 + reg, 1, value);
}

static void
test_serial_scratch (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);
  /* 8250 autoconfig: the scratch register tells a 16450+ from an 8250 */
  uart_out (&fx, UART_SCR, 0xa5);
  g_assert_cmphex (uart_in (&fx, UART_SCR), ==, 0xa5);
  uart_out (&fx, UART_SCR, 0x5a);
  g_assert_cmphex (uart_in (&fx, UART_SCR), ==, 0x5a);
  /* The handler directly, offsets from the base */
  vmm_test_dev_out (&vmm_serial_ops, &fx.s, UART_SCR, 1, 0x3c);
  g_assert_cmphex (vmm_test_dev_in (&vmm_serial_ops, &fx.s, UART_SCR, 1), ==, 0x3c);
  /* Wider accesses are not for a UART */
  vmm_test_dev_out (&vmm_serial_ops, &fx.s, UART_SCR, 2, 0x1111);
  g_assert_cmphex (uart_in (&fx, UART_SCR), ==, 0x3c);
  g_assert_cmphex (vmm_test_dev_in (&vmm_serial_ops, &fx.s, UART_LSR, 2), ==, 0xffff);
  /* Idle state: THR empty, nothing received, no interrupt */
  g_assert_cmphex (uart_in (&fx, UART_LSR), ==, 0x60);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 0);
  serial_fx_destroy (&fx);
}

static void
test_serial_loopback (void)
{
  struct serial_fx fx;
  uint8_t msr;

  serial_fx_init (&fx);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0xb0);   /* DCD, DSR, CTS */

  /* 8250 autoconfig: MCR = LOOP | OUT2 | RTS reads back as DCD | CTS */
  uart_out (&fx, UART_MCR, 0x1a);
  g_assert_cmphex (uart_in (&fx, UART_MCR), ==, 0x1a);
  msr = uart_in (&fx, UART_MSR);
  g_assert_cmphex (msr & 0xf0, ==, 0x90);
  g_assert_cmphex (msr & 0x0f, ==, 0x02);                   /* DSR went away: DDSR */
  g_assert_cmphex (uart_in (&fx, UART_MSR), ==, 0x90);      /* deltas clear on read */
  uart_out (&fx, UART_MCR, 0x1f);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0xf0);
  uart_out (&fx, UART_MCR, 0x1b);                           /* OUT1 off: RI trailing edge */
  g_assert_cmphex (uart_in (&fx, UART_MSR), ==, 0xb4);
  uart_out (&fx, UART_MCR, 0x10);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0x00);

  /* Data sent in loopback comes back in RBR, not out */
  uart_out (&fx, UART_RBR, 0x41);
  uart_out (&fx, UART_RBR, 0x42);
  g_assert_cmpuint (fx.out->len, ==, 0);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 0x41);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 0x42);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  /* and the outside is disconnected */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "x", 1), ==, 0);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);

  /* Back to normal: the cable is there again, bytes go out */
  uart_out (&fx, UART_MCR, 0x0b);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0xb0);
  uart_out (&fx, UART_RBR, 0x43);
  g_assert_cmpuint (fx.out->len, ==, 1);
  g_assert_cmphex (fx.out->data[0], ==, 0x43);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (fx.irq.calls, ==, 0);   /* no interrupt was enabled */
  serial_fx_destroy (&fx);
}

static void
test_serial_fifo (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);
  g_assert_cmphex (uart_in (&fx, UART_IIR) & 0xc0, ==, 0x00);
  /* 8250 autoconfig: FCR = ENABLE | CLEAR_RCVR | CLEAR_XMIT; IIR[7:6] says 16550A */
  uart_out (&fx, UART_FCR, 0x07);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0xc1);
  /* Clearing the receive FIFO drops what was received */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "abc", 3), ==, 3);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
  uart_out (&fx, UART_FCR, 0x03);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  uart_out (&fx, UART_FCR, 0x00);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  serial_fx_destroy (&fx);
}

static void
test_serial_dlab (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);
  g_assert_cmphex (uart_in (&fx, UART_LCR), ==, 0x03);

  uart_out (&fx, UART_IER, 0x05);
  uart_out (&fx, UART_LCR, 0x83);
  g_assert_cmphex (uart_in (&fx, UART_LCR), ==, 0x83);
  g_assert_cmphex (uart_in (&fx, 0), ==, 0x01);        /* DLL: 115200 baud */
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x00);        /* DLM */
  uart_out (&fx, 0, 0x0c);                              /* 9600 baud */
  uart_out (&fx, 1, 0x00);
  g_assert_cmphex (uart_in (&fx, 0), ==, 0x0c);
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x00);
  uart_out (&fx, 1, 0x12);
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x12);
  g_assert_cmpuint (fx.out->len, ==, 0);               /* DLL writes are not data */

  uart_out (&fx, UART_LCR, 0x03);
  g_assert_cmphex (uart_in (&fx, UART_IER), ==, 0x05);  /* DLM did not touch IER */
  uart_out (&fx, UART_RBR, 'z');
  g_assert_cmpuint (fx.out->len, ==, 1);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "q", 1), ==, 1);
  uart_out (&fx, UART_LCR, 0x83);
  g_assert_cmphex (uart_in (&fx, 0), ==, 0x0c);        /* DLL, not the received byte */
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x12);
  uart_out (&fx, UART_LCR, 0x03);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'q');
  g_assert_cmphex (uart_in (&fx, UART_IER), ==, 0x05);
  uart_out (&fx, UART_IER, 0xff);
  g_assert_cmphex (uart_in (&fx, UART_IER), ==, 0x0f);  /* the upper bits do not exist */
  serial_fx_destroy (&fx);
}

static void
test_serial_output (void)
{
  struct serial_fx fx;
  static const char msg[] = "Linux version 6.1\r\n\x00\xff";

  serial_fx_init (&fx);
  for (unsigned i = 0; i < sizeof msg; i++)
    {
      /* as a polling driver does */
      g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x20, ==, 0x20);
      uart_out (&fx, UART_RBR, (uint8_t) msg[i]);
    }
  g_assert_cmpuint (fx.out->len, ==, sizeof msg);
  g_assert_cmpmem (fx.out->data, fx.out->len, msg, sizeof msg);
  g_assert_true (fx.out_locked);   /* as serial.h says */
  /* A word write to THR is not a byte */
  vmm_test_bus_out (&fx.pio, VMM_PORT_COM1, 2, 0x4141);
  g_assert_cmpuint (fx.out->len, ==, sizeof msg);
  g_assert_cmpuint (fx.irq.calls, ==, 0);
  serial_fx_destroy (&fx);
}

static void
test_serial_thri (void)
{
  struct serial_fx fx;
  uint8_t iir1, iir2;

  serial_fx_init (&fx);

  uart_out (&fx, UART_IER, 0x02);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_true (fx.irq.level);
  g_assert_cmpuint (fx.irq.gsi, ==, VMM_IRQ_COM1);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x02);   /* reading acknowledges it */
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 2);

  uart_out (&fx, UART_RBR, 'a');                         /* sent at once: empty again */
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  g_assert_true (fx.irq.level);
  uart_out (&fx, UART_RBR, 'b');                         /* already up: no call */
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  uart_out (&fx, UART_FCR, 0x01);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0xc2);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_false (fx.irq.level);

  /* Masking a pending one drops the line; unmasking brings it back */
  uart_out (&fx, UART_RBR, 'c');
  g_assert_cmpuint (fx.irq.calls, ==, 5);
  uart_out (&fx, UART_IER, 0x00);
  g_assert_cmpuint (fx.irq.calls, ==, 6);
  g_assert_false (fx.irq.level);

  /* 8250 startup's UART_BUG_THRE test: THRE comes back when re-enabled */
  uart_out (&fx, UART_IER, 0x02);
  iir1 = uart_in (&fx, UART_IIR);
  uart_out (&fx, UART_IER, 0x00);
  uart_out (&fx, UART_IER, 0x02);
  iir2 = uart_in (&fx, UART_IIR);
  uart_out (&fx, UART_IER, 0x00);
  g_assert_cmphex (iir1 & 0x0f, ==, 0x02);
  g_assert_cmphex (iir2 & 0x0f, ==, 0x02);
  g_assert_false (fx.irq.level);
  g_assert_cmpuint (fx.out->len, ==, 3);
  serial_fx_destroy (&fx);
}

static void
test_serial_receive (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);

  /* Without IER.RDI: data is there, no interrupt */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "xy", 2), ==, 2);
  g_assert_cmphex (uart_in (&fx, UART_LSR), ==, 0x61);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 0);
  /* Enabling it with data waiting raises the line */
  uart_out (&fx, UART_IER, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_true (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x04);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'x');
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'y');
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_LSR), ==, 0x60);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);

  /* With it: one raise for a burst, in order, dropped when drained */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "abc", 3), ==, 3);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "de", 2), ==, 2);
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  g_assert_true (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x04);
  for (const char *p = "abcde"; *p != '\0'; p++)
    {
      g_assert_true (fx.irq.level);
      g_assert_cmphex (uart_in (&fx, UART_RBR), ==, (uint8_t) *p);
    }
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_false (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  /* Reading an empty RBR changes nothing */
  uart_in (&fx, UART_RBR);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, NULL, 0), ==, 0);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  serial_fx_destroy (&fx);
}

static void
test_serial_rx_full (void)
{
  struct serial_fx fx;
  uint8_t data[VMM_SERIAL_RX_SIZE + 100];
  unsigned next_in = 0, next_out = 0;

  serial_fx_init (&fx);
  for (unsigned i = 0; i < sizeof data; i++)
    data[i] = (uint8_t) (i * 7 + 1);
  uart_out (&fx, UART_IER, 0x01);

  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data, 1000), ==, 1000);
  next_in = 1000;
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE - 1000);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data + next_in, 100), ==, VMM_SERIAL_RX_SIZE - 1000);
  next_in = VMM_SERIAL_RX_SIZE;
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 0);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data + next_in, 1), ==, 0);
  g_assert_cmpuint (fx.irq.calls, ==, 1);

  /* Drain part of it, refill across the ring's end, drain it all in order */
  for (; next_out < 600; next_out++)
    g_assert_cmphex (uart_in (&fx, UART_RBR), ==, data[next_out]);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 600);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data + next_in, sizeof data - next_in), ==, 100);
  next_in += 100;
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 500);
  for (; next_out < next_in; next_out++)
    {
      g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
      g_assert_cmphex (uart_in (&fx, UART_RBR), ==, data[next_out]);
    }
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);

  /* Loopback into a full buffer drops the byte */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data, VMM_SERIAL_RX_SIZE), ==, VMM_SERIAL_RX_SIZE);
  uart_out (&fx, UART_MCR, 0x1b);
  uart_out (&fx, UART_RBR, 0xee);
  uart_out (&fx, UART_MCR, 0x0b);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 0);
  for (unsigned i = 0; i < VMM_SERIAL_RX_SIZE; i++)
    g_assert_cmphex (uart_in (&fx, UART_RBR), ==, data[i]);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  serial_fx_destroy (&fx);
}

static void
test_serial_irq_priority (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);

  /* THRE and received data both pending: one raise, data reported first */
  uart_out (&fx, UART_IER, 0x03);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "k", 1), ==, 1);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x04);   /* does not ack THRE */
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'k');
  g_assert_cmpuint (fx.irq.calls, ==, 1);                /* THRE still pending */
  g_assert_true (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x02);
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);
  /* Enabling RDI with nothing received raises nothing */
  uart_out (&fx, UART_IER, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 2);

  /* Modem status interrupt: a loopback line change, cleared by reading MSR */
  uart_out (&fx, UART_IER, 0x08);
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  uart_out (&fx, UART_MCR, 0x1a);                        /* DSR drops: delta */
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x00);
  g_assert_cmpuint (fx.irq.calls, ==, 3);                /* IIR does not clear it */
  uart_in (&fx, UART_MSR);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_false (fx.irq.level);
  uart_out (&fx, UART_MCR, 0x1a);                        /* no change: no delta */
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  uart_out (&fx, UART_MCR, 0x0b);
  uart_in (&fx, UART_MSR);
  uart_out (&fx, UART_IER, 0x00);
  g_assert_false (fx.irq.level);
  g_assert_cmpuint (fx.irq.calls % 2, ==, 0);
  serial_fx_destroy (&fx);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_serial (void *s, const struct vmm_state_file *f, const char *name, bool apply,
             GError **error)
{
  return vmm_serial_load (s, f, name, apply, error);
}

static void
save_serial (struct serial_fx *fx, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_state_begin (w, "other", 1);
  vmm_state_end (w);
  vmm_serial_save (&fx->s, w, "serial.0");
  vmm_test_state_close (st, w);
}

/* A UART in loopback with bytes waiting (wrapped in its buffer), a
 * divisor, FIFOs on, a modem status change not read and its receive
 * interrupt up, saved and loaded into a fresh one: the line goes up, the
 * registers read the same, the bytes come out in order. */
static void
test_serial_state (void)
{
  struct serial_fx a, b;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;

  serial_fx_init (&a);
  uart_out (&a, UART_LCR, 0x80);
  uart_out (&a, UART_RBR, 0x0c);      /* 9600 baud */
  uart_out (&a, UART_IER, 0x00);
  uart_out (&a, UART_LCR, 0x1b);      /* 8 bits, even parity */
  uart_out (&a, UART_FCR, 0xc1);
  uart_out (&a, UART_SCR, 0x42);
  uart_out (&a, UART_MCR, 0x10 | 0x02);   /* loopback, RTS: CTS changes */
  for (unsigned i = 0; i < VMM_SERIAL_RX_SIZE - 3; i++)
    uart_out (&a, UART_RBR, (uint8_t) i);
  for (unsigned i = 0; i < VMM_SERIAL_RX_SIZE - 10; i++)
    g_assert_cmpuint (uart_in (&a, UART_RBR), ==, (uint8_t) i);
  for (unsigned i = 0; i < 20; i++)
    uart_out (&a, UART_RBR, (uint8_t) (0xa0 + i));
  uart_out (&a, UART_IER, 0x01 | 0x08);
  g_assert_true (a.irq.level);
  save_serial (&a, &sa);

  serial_fx_init (&b);
  save_serial (&b, &sb0);
  g_assert_true (vmm_serial_load (&b.s, sa.file, "serial.0", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "serial.0", load_serial, &b.s, 0, 0x10);
  /* The modem status not what MCR gives */
  {
    const struct vmm_state_section *s = vmm_test_state_section (&sa, "serial.0");
    g_autofree uint8_t *copy = g_memdup2 (s->data, s->len);
    struct vmm_test_state st = { 0 };

    copy[3] ^= 0x80;
    vmm_test_state_make (&st, "serial.0", 1, copy, s->len);
    g_assert_false (vmm_serial_load (&b.s, st.file, "serial.0", true, &error));
    vmm_test_state_assert_refused (&error, VMM_STATE_ERROR_DAMAGED, "serial.0");
    vmm_test_state_clear (&st);
  }
  g_assert_cmpuint (b.irq.calls, ==, 0);
  save_serial (&b, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "serial.0");
  vmm_test_state_clear (&sb);

  g_assert_true (vmm_serial_load (&b.s, sa.file, "serial.0", true, &error));
  g_assert_no_error (error);
  g_assert_true (b.irq.level);
  g_assert_cmpuint (b.irq.calls, ==, 1);
  save_serial (&b, &sb);
  vmm_test_state_assert_same (&sa, &sb, "serial.0");

  /* B goes on as A does */
  for (unsigned reg = UART_IER; reg <= UART_SCR; reg++)
    if (reg != UART_MSR)
      g_assert_cmphex (uart_in (&b, reg), ==, uart_in (&a, reg));
  g_assert_cmphex (uart_in (&b, UART_MSR), ==, uart_in (&a, UART_MSR));
  g_assert_cmphex (uart_in (&b, UART_MSR), ==, uart_in (&a, UART_MSR));
  uart_out (&b, UART_LCR, 0x9b);
  g_assert_cmphex (uart_in (&b, UART_RBR), ==, 0x0c);
  uart_out (&b, UART_LCR, 0x1b);
  for (unsigned i = 0; i < 30; i++)
    g_assert_cmphex (uart_in (&b, UART_RBR), ==, uart_in (&a, UART_RBR));
  g_assert_false (b.irq.level);
  g_assert_cmphex (uart_in (&b, UART_LSR), ==, uart_in (&a, UART_LSR));

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  serial_fx_destroy (&a);
  serial_fx_destroy (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/serial/scratch", test_serial_scratch);
  g_test_add_func ("/serial/loopback", test_serial_loopback);
  g_test_add_func ("/serial/fifo", test_serial_fifo);
  g_test_add_func ("/serial/dlab", test_serial_dlab);
  g_test_add_func ("/serial/output", test_serial_output);
  g_test_add_func ("/serial/thr-empty-irq", test_serial_thri);
  g_test_add_func ("/serial/receive", test_serial_receive);
  g_test_add_func ("/serial/rx-full", test_serial_rx_full);
  g_test_add_func ("/serial/irq-priority", test_serial_irq_priority);
  g_test_add_func ("/serial/state", test_serial_state);

  return g_test_run ();
}
