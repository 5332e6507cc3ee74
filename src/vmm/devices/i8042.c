/* devices/i8042.c: the PS/2 controller
 *
 * No keyboard or mouse is attached: guests get their input from virtio and
 * SPICE, and the ACPI tables do not announce this controller. It is here
 * because PC firmware probes it and because pulsing its reset line is how
 * a PC reboots (the FADT's reset register points here too).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/i8042.h"

#include <string.h>

#define DATA_PORT   0
#define CMD_PORT    4

#define STS_OBF     0x01
#define STS_SYS     0x04
#define STS_CMD     0x08
#define STS_TIMEOUT 0x40

#define CMD_READ_CB        0x20
#define CMD_WRITE_CB       0x60
#define CMD_DISABLE_AUX    0xa7
#define CMD_ENABLE_AUX     0xa8
#define CMD_TEST_AUX       0xa9
#define CMD_SELF_TEST      0xaa
#define CMD_TEST_KBD       0xab
#define CMD_DISABLE_KBD    0xad
#define CMD_ENABLE_KBD     0xae
#define CMD_READ_OUTPORT   0xd0
#define CMD_WRITE_OUTPORT  0xd1
#define CMD_WRITE_KBD_OUT  0xd2
#define CMD_WRITE_AUX_OUT  0xd3
#define CMD_WRITE_AUX      0xd4
#define CMD_PULSE_FIRST    0xf0

#define OUTPORT_RESET      0x01  /* active low: 0 holds the CPU in reset */
#define OUTPORT_A20        0x02

static void
put_output (struct vmm_i8042 *kbc, uint8_t value)
{
  kbc->out = value;
  kbc->out_full = true;
}

static void
kbc_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_i8042 *kbc = opaque;
  uint8_t value = 0xff;

  if (len != 1 || (offset != DATA_PORT && offset != CMD_PORT))
    return;
  pthread_mutex_lock (&kbc->lock);
  if (offset == DATA_PORT)
    {
      value = kbc->out;
      kbc->out_full = false;
    }
  else
    value = (uint8_t) ((kbc->out_full ? STS_OBF : 0) | STS_SYS |
                       (kbc->pending_cmd ? STS_CMD : 0));
  pthread_mutex_unlock (&kbc->lock);
  *(uint8_t *) data = value;
}

static void
kbc_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_i8042 *kbc = opaque;
  uint8_t value = *(const uint8_t *) data;
  bool reset = false;

  if (len != 1 || (offset != DATA_PORT && offset != CMD_PORT))
    return;

  pthread_mutex_lock (&kbc->lock);
  if (offset == CMD_PORT)
    {
      kbc->pending_cmd = 0;
      switch (value)
        {
        case CMD_READ_CB:      put_output (kbc, kbc->command_byte); break;
        case CMD_SELF_TEST:    put_output (kbc, 0x55); break;
        case CMD_TEST_KBD:
        case CMD_TEST_AUX:     put_output (kbc, 0x00); break;
        case CMD_READ_OUTPORT: put_output (kbc, kbc->output_port); break;
        case CMD_DISABLE_AUX:  kbc->command_byte |= 0x20; break;
        case CMD_ENABLE_AUX:   kbc->command_byte &= ~0x20; break;
        case CMD_DISABLE_KBD:  kbc->command_byte |= 0x10; break;
        case CMD_ENABLE_KBD:   kbc->command_byte &= ~0x10; break;
        case CMD_WRITE_CB:
        case CMD_WRITE_OUTPORT:
        case CMD_WRITE_KBD_OUT:
        case CMD_WRITE_AUX_OUT:
        case CMD_WRITE_AUX:
          kbc->pending_cmd = value;
          break;
        default:
          /* 0xf0-0xff pulse output lines low for a moment; bit 0 is reset. */
          if (value >= CMD_PULSE_FIRST && !(value & 0x01))
            reset = true;
          else if (value < CMD_PULSE_FIRST)
            vmm_log_guest (&kbc->rl, "i8042: unknown command 0x%02x", value);
          break;
        }
    }
  else
    {
      switch (kbc->pending_cmd)
        {
        case CMD_WRITE_CB:
          kbc->command_byte = value;
          break;
        case CMD_WRITE_OUTPORT:
          kbc->output_port = value | OUTPORT_RESET;
          if (!(value & OUTPORT_RESET))
            reset = true;
          break;
        case CMD_WRITE_KBD_OUT:
        case CMD_WRITE_AUX_OUT:
          put_output (kbc, value); /* echoed back as if the device sent it */
          break;
        default:
          /* A byte for a keyboard or mouse that is not there: real
           * controllers answer with a timeout; nothing comes back. */
          break;
        }
      kbc->pending_cmd = 0;
    }
  pthread_mutex_unlock (&kbc->lock);

  if (reset && kbc->reset != NULL)
    kbc->reset (kbc->opaque);
}

const struct vmm_io_ops vmm_i8042_ops = {
  .read = kbc_read,
  .write = kbc_write,
};

void
vmm_i8042_init (struct vmm_i8042 *kbc, void (*reset) (void *opaque), void *opaque)
{
  memset (kbc, 0, sizeof *kbc);
  pthread_mutex_init (&kbc->lock, NULL);
  kbc->reset = reset;
  kbc->opaque = opaque;
  kbc->command_byte = 0x30;  /* both ports disabled, no interrupts */
  kbc->output_port = OUTPORT_RESET | OUTPORT_A20;
}

void
vmm_i8042_destroy (struct vmm_i8042 *kbc)
{
  pthread_mutex_destroy (&kbc->lock);
}
