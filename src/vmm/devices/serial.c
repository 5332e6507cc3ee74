/* devices/serial.c: a 16550A UART
 *
 * Transmission is instant: THR is always empty, so the THR-empty interrupt
 * comes back right after each write. Reception goes through a buffer larger
 * than the 16-byte FIFO, so host input is not lost while the guest is slow.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/serial.h"

#include <string.h>

#include <glib/gi18n.h>

/* Register offsets */
#define UART_RBR 0  /* read, DLAB 0 */
#define UART_THR 0  /* write, DLAB 0 */
#define UART_DLL 0  /* DLAB 1 */
#define UART_IER 1  /* DLAB 0 */
#define UART_DLM 1  /* DLAB 1 */
#define UART_IIR 2  /* read */
#define UART_FCR 2  /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI   0x01
#define IER_THRI  0x02
#define IER_RLSI  0x04
#define IER_MSI   0x08

#define IIR_NO_INT 0x01
#define IIR_MSI    0x00
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_FIFO   0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80
#define MSR_DELTA 0x0f

/* With no modem attached, the lines read as a cable that is present. */
#define MSR_DEFAULT (MSR_DCD | MSR_DSR | MSR_CTS)

static uint8_t
current_iir (const struct vmm_serial *s)
{
  uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

  if ((s->ier & IER_RDI) && s->rx_len > 0)
    return IIR_RDI | fifo;
  if ((s->ier & IER_THRI) && s->thr_irq)
    return IIR_THRI | fifo;
  if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA))
    return IIR_MSI | fifo;
  return IIR_NO_INT | fifo;
}

/* Called with the lock held, after any state change. */
static void
update_irq (struct vmm_serial *s)
{
  bool level = !(current_iir (s) & IIR_NO_INT);

  if (level != s->irq_level)
    {
      s->irq_level = level;
      vmm_irq_line_set (&s->irq, level);
    }
}

/* The modem status lines MCR gives: in loopback mode they mirror the
 * modem control outputs. */
static uint8_t
msr_lines_for (uint8_t mcr)
{
  if (!(mcr & MCR_LOOP))
    return MSR_DEFAULT;
  return ((mcr & MCR_RTS) ? MSR_CTS : 0) | ((mcr & MCR_DTR) ? MSR_DSR : 0) |
         ((mcr & MCR_OUT1) ? MSR_RI : 0) | ((mcr & MCR_OUT2) ? MSR_DCD : 0);
}

static void
set_msr_lines (struct vmm_serial *s, uint8_t lines)
{
  uint8_t old = s->msr;
  uint8_t delta = 0;

  if ((old ^ lines) & MSR_CTS)
    delta |= MSR_DCTS;
  if ((old ^ lines) & MSR_DSR)
    delta |= MSR_DDSR;
  if ((old ^ lines) & MSR_DCD)
    delta |= MSR_DDCD;
  if ((old & MSR_RI) && !(lines & MSR_RI))
    delta |= MSR_TERI;
  s->msr = lines | (old & MSR_DELTA) | delta;
}

static void
rx_push (struct vmm_serial *s, uint8_t byte)
{
  if (s->rx_len == VMM_SERIAL_RX_SIZE)
    return; /* overrun: the byte is lost, as on hardware */
  s->rx[(s->rx_head + s->rx_len) % VMM_SERIAL_RX_SIZE] = byte;
  s->rx_len++;
}

static void
serial_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_serial *s = opaque;
  uint8_t value = 0xff;

  if (len != 1)
    return;

  pthread_mutex_lock (&s->lock);
  switch (offset)
    {
    case UART_RBR:
      if (s->lcr & LCR_DLAB)
        value = s->dll;
      else if (s->rx_len > 0)
        {
          value = s->rx[s->rx_head];
          s->rx_head = (s->rx_head + 1) % VMM_SERIAL_RX_SIZE;
          s->rx_len--;
        }
      else
        value = 0;
      break;
    case UART_IER:
      value = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
      break;
    case UART_IIR:
      value = current_iir (s);
      /* Reading IIR acknowledges a THR-empty interrupt it reports. */
      if ((value & 0x0f) == IIR_THRI)
        s->thr_irq = false;
      break;
    case UART_LCR:
      value = s->lcr;
      break;
    case UART_MCR:
      value = s->mcr;
      break;
    case UART_LSR:
      value = LSR_THRE | LSR_TEMT | (s->rx_len > 0 ? LSR_DR : 0);
      break;
    case UART_MSR:
      value = s->msr;
      s->msr &= ~MSR_DELTA;
      break;
    case UART_SCR:
      value = s->scr;
      break;
    }
  update_irq (s);
  pthread_mutex_unlock (&s->lock);
  *(uint8_t *) data = value;
}

static void
serial_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_serial *s = opaque;
  uint8_t value;

  if (len != 1)
    return;
  value = *(const uint8_t *) data;

  pthread_mutex_lock (&s->lock);
  switch (offset)
    {
    case UART_THR:
      if (s->lcr & LCR_DLAB)
        s->dll = value;
      else
        {
          if (s->mcr & MCR_LOOP)
            rx_push (s, value);
          else if (s->output != NULL)
            s->output (s->output_opaque, &value, 1);
          /* sent at once: THR is empty again */
          s->thr_irq = true;
        }
      break;
    case UART_IER:
      if (s->lcr & LCR_DLAB)
        s->dlm = value;
      else
        {
          /* Enabling the THR-empty interrupt while THR is empty raises it. */
          if (!(s->ier & IER_THRI) && (value & IER_THRI))
            s->thr_irq = true;
          s->ier = value & 0x0f;
        }
      break;
    case UART_FCR:
      if (value & FCR_CLEAR_RX)
        s->rx_head = s->rx_len = 0;
      s->fcr = value & (FCR_ENABLE | 0xc0);
      break;
    case UART_LCR:
      s->lcr = value;
      break;
    case UART_MCR:
      s->mcr = value & 0x1f;
      set_msr_lines (s, msr_lines_for (s->mcr));
      break;
    case UART_SCR:
      s->scr = value;
      break;
    default:
      break; /* LSR and MSR are read-only */
    }
  update_irq (s);
  pthread_mutex_unlock (&s->lock);
}

const struct vmm_io_ops vmm_serial_ops = {
  .read = serial_read,
  .write = serial_write,
};

void
vmm_serial_init (struct vmm_serial *s, struct vmm_irq_line irq, vmm_serial_output_fn output,
                 void *output_opaque)
{
  memset (s, 0, sizeof *s);
  pthread_mutex_init (&s->lock, NULL);
  s->irq = irq;
  s->output = output;
  s->output_opaque = output_opaque;
  s->msr = MSR_DEFAULT;
  s->mcr = MCR_OUT2;
  /* 115200 baud 8n1, what firmware leaves behind */
  s->dll = 1;
  s->lcr = 0x03;
}

void
vmm_serial_destroy (struct vmm_serial *s)
{
  pthread_mutex_destroy (&s->lock);
}

size_t
vmm_serial_receive (struct vmm_serial *s, const uint8_t *data, size_t len)
{
  size_t n = 0;

  pthread_mutex_lock (&s->lock);
  /* In loopback mode the line is disconnected from the outside. */
  if (!(s->mcr & MCR_LOOP))
    for (; n < len && s->rx_len < VMM_SERIAL_RX_SIZE; n++)
      rx_push (s, data[n]);
  update_irq (s);
  pthread_mutex_unlock (&s->lock);
  return n;
}

size_t
vmm_serial_rx_space (struct vmm_serial *s)
{
  size_t space;

  pthread_mutex_lock (&s->lock);
  space = VMM_SERIAL_RX_SIZE - s->rx_len;
  pthread_mutex_unlock (&s->lock);
  return space;
}

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1

void
vmm_serial_save (const struct vmm_serial *s, struct vmm_state_writer *w, const char *name)
{
  /* The host's input may arrive meanwhile: the lock makes it before or after */
  pthread_mutex_t *lock = (pthread_mutex_t *) &s->lock;
  uint8_t rx[VMM_SERIAL_RX_SIZE];

  pthread_mutex_lock (lock);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u8 (w, s->ier);
  vmm_state_put_u8 (w, s->lcr);
  vmm_state_put_u8 (w, s->mcr);
  vmm_state_put_u8 (w, s->msr);
  vmm_state_put_u8 (w, s->scr);
  vmm_state_put_u8 (w, s->fcr);
  vmm_state_put_u8 (w, s->dll);
  vmm_state_put_u8 (w, s->dlm);
  vmm_state_put_bool (w, s->thr_irq);
  for (unsigned i = 0; i < s->rx_len; i++)
    rx[i] = s->rx[(s->rx_head + i) % VMM_SERIAL_RX_SIZE];
  vmm_state_put_blob (w, rx, s->rx_len);
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

gboolean
vmm_serial_load (struct vmm_serial *s, const struct vmm_state_file *f, const char *name,
                 bool apply, GError **error)
{
  struct vmm_state_reader r;
  struct vmm_serial c = { 0 };
  const uint8_t *rx;
  uint32_t rx_len = 0;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  c.ier = vmm_state_get_u8 (&r);
  c.lcr = vmm_state_get_u8 (&r);
  c.mcr = vmm_state_get_u8 (&r);
  c.msr = vmm_state_get_u8 (&r);
  c.scr = vmm_state_get_u8 (&r);
  c.fcr = vmm_state_get_u8 (&r);
  c.dll = vmm_state_get_u8 (&r);
  c.dlm = vmm_state_get_u8 (&r);
  c.thr_irq = vmm_state_get_bool (&r);
  rx = vmm_state_get_blob (&r, VMM_SERIAL_RX_SIZE, &rx_len);
  if ((c.ier & ~0x0f) || (c.mcr & ~0x1f) || (c.fcr & ~(FCR_ENABLE | 0xc0)))
    vmm_state_reader_fail (&r, N_("a UART register has reserved bits set"));
  /* The lines follow MCR; only the deltas are the UART's to remember */
  if ((c.msr & ~MSR_DELTA) != msr_lines_for (c.mcr))
    vmm_state_reader_fail (&r, N_("the UART’s modem status does not match its modem control"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  pthread_mutex_lock (&s->lock);
  s->ier = c.ier;
  s->lcr = c.lcr;
  s->mcr = c.mcr;
  s->msr = c.msr;
  s->scr = c.scr;
  s->fcr = c.fcr;
  s->dll = c.dll;
  s->dlm = c.dlm;
  s->thr_irq = c.thr_irq;
  if (rx_len > 0)
    memcpy (s->rx, rx, rx_len);
  s->rx_head = 0;
  s->rx_len = rx_len;
  update_irq (s);
  pthread_mutex_unlock (&s->lock);
  return TRUE;
}
