/* fuzz-virtio-input.c: virtio-input driven through its virtio-pci transport
 *
 * The three kinds of the device as they run in a VM: the modern
 * virtio-pci transport on an MMIO bus, over fake guest RAM, with KVM
 * faked (vmm-test-virtio.c), and the queues served on the device's loop
 * thread. The input is the guest (what it writes to the common and the
 * device configuration, what it puts in RAM: rings, event buffers, status
 * events; when it kicks and reads) and the display server (keys, pointer
 * motion and the wheel, through the sink, from this thread as from the
 * server's). The LED listener checks that it is called with the device
 * locked and only with LED bits.
 *
 * Each input does bounded work and leaves nothing behind: it ends with a
 * reset, and RAM goes back to zeroes. A loop that does not end is a
 * timeout (libFuzzer's -timeout, replay's alarm): a finding.
 *
 * Input: a 64-byte header, N_OPS ops of 8 bytes, then RAM from address 0
 * (at most IMAGE_MAX bytes).
 *
 *   [0..7]    driver features (masked with what the device offers, unless
 *             the setup op says raw)
 *   [8..21]   queue 0 (events): size u16, desc u32, avail u32, used u32
 *             (size 0: left alone)
 *   [22..35]  queue 1 (status), the same
 *   [36]      n_ops
 *   [37]      the device: 0 keyboard, 1 tablet, 2 mouse (modulo 3)
 *
 *   op: kind u8, a u8, b u16, c u32 (little-endian)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>
#include <linux/input-event-codes.h>

#include "log.h"
#include "viv-bytes.h"
#include "virtio/input.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER_LEN   64u
#define OP_LEN       8u
#define IMAGE_MAX    0x40000u       /* RAM the input can fill: 256 KiB */
#define N_QUEUES     2u
#define N_KINDS      3u

#define CC_STATUS    0x14
#define COMMON_LEN   0x3c
#define ISR_OFF      0x1000
#define DEVICE_OFF   0x2000
#define CONFIG_LEN   136

enum {
  OP_SETUP, OP_KICK, OP_COMMON, OP_CONFIG_READ, OP_CONFIG_WRITE, OP_POKE, OP_ISR, OP_RESET,
  OP_KEY, OP_ABS, OP_REL, OP_WHEEL, N_OPS
};

struct fuzz_dev {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_input *in;
  struct vmm_virtio_dev *dev;
  struct vmm_input_sink sink;
  uint64_t offered;
};

struct fuzz {
  struct fuzz_dev d[N_KINDS];
};

static struct fuzz *fz;

static void
on_leds (void *data, uint32_t leds)
{
  struct fuzz_dev *d = data;

  /* Called on the device's thread with its lock held, only LED bits */
  if (pthread_mutex_trylock (&d->dev->lock) == 0)
    {
      fprintf (stderr, "the LED listener was called without the device's lock\n");
      abort ();
    }
  if (leds & ~((1u << LED_NUML) | (1u << LED_CAPSL) | (1u << LED_SCROLLL)))
    {
      fprintf (stderr, "the LED listener was given %#x\n", leds);
      abort ();
    }
}

static void
cleanup (void)
{
  if (fz == NULL)
    return;
  for (unsigned k = 0; k < N_KINDS; k++)
    {
      vmm_test_virtio_stop (&fz->d[k].t);
      vmm_virtio_input_free (fz->d[k].in);
      vmm_test_virtio_clear (&fz->d[k].t);
    }
}

static struct fuzz *
fuzz_new (void)
{
  struct fuzz *f = calloc (1, sizeof *f);

  /* guests that get things wrong are logged; here that is every input */
  vmm_log_set_fd (open ("/dev/null", O_WRONLY | O_CLOEXEC));
  for (unsigned k = 0; k < N_KINDS; k++)
    {
      g_autoptr (GError) error = NULL;
      struct fuzz_dev *d = &f->d[k];
      const struct vmm_input_led_listener leds = { on_leds, d };

      vmm_test_virtio_init (&d->t, &d->env);
      d->in = vmm_virtio_input_new (&d->env, (enum vmm_input_kind) k, &leds, &error);
      g_assert_no_error (error);
      d->dev = vmm_virtio_input_dev (d->in);
      d->sink = vmm_virtio_input_sink (d->in);
      vmm_test_virtio_plug (&d->t, d->dev);
      d->offered = vmm_test_virtio_device_features (&d->t);
    }
  atexit (cleanup);
  return f;
}

static void
setup (struct fuzz_dev *d, const uint8_t *hdr, uint8_t how)
{
  vmm_test_virtio_setup_from (&d->t, hdr, N_QUEUES, d->offered, how);
}

static void
run_op (struct fuzz_dev *d, const uint8_t *hdr, const uint8_t *op)
{
  uint8_t a = op[1];
  uint16_t b = viv_get_le16 (op + 2);
  uint32_t c = viv_get_le32 (op + 4);
  static const uint32_t widths[] = { 1, 2, 4, 8 };

  switch (op[0] % N_OPS)
    {
    case OP_SETUP:
      setup (d, hdr, a);
      break;
    case OP_KICK:
      vmm_test_virtio_kick (&d->t, a % (N_QUEUES + 1));
      break;
    case OP_COMMON:
      {
        uint32_t len = widths[b % 3];
        uint32_t off = (a % (COMMON_LEN / len)) * len;

        vmm_test_virtio_write (&d->t, off, len, c);
      }
      break;
    case OP_CONFIG_READ:
      vmm_test_virtio_read (&d->t, DEVICE_OFF + a % (CONFIG_LEN + 4), widths[b % 4]);
      break;
    case OP_CONFIG_WRITE:
      /* mostly select and subsel, sometimes anywhere */
      vmm_test_virtio_write (&d->t, DEVICE_OFF + (b & 0x100 ? a % (CONFIG_LEN + 4) : a % 2),
                             widths[b % 4], c);
      break;
    case OP_POKE:
      /* The guest, meanwhile, on another vCPU */
      vmm_test_put16 (&d->t.ram.mem, c % (IMAGE_MAX - 1), b);
      break;
    case OP_ISR:
      vmm_test_virtio_read (&d->t, ISR_OFF, 1);
      break;
    case OP_RESET:
      vmm_test_virtio_write (&d->t, CC_STATUS, 1, 0);
      break;
    case OP_KEY:
      d->sink.key (d->sink.data, b, a & 1);
      break;
    case OP_ABS:
      d->sink.abs (d->sink.data, b, (uint32_t) a << 8 | a, c & 0xffff, c >> 16);
      break;
    case OP_REL:
      d->sink.rel (d->sink.data, (int16_t) b, (int32_t) c);
      break;
    case OP_WHEEL:
      d->sink.wheel (d->sink.data, (int32_t) c);
      break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vmm_mem_region *ram;
  struct fuzz_dev *d;
  size_t n_ops, image;

  if (size < HEADER_LEN)
    return 0;
  if (fz == NULL)
    fz = fuzz_new ();
  d = &fz->d[data[37] % N_KINDS];
  ram = &d->t.ram.mem.regions[0];

  n_ops = MIN (data[36], (size - HEADER_LEN) / OP_LEN);
  image = MIN (size - HEADER_LEN - n_ops * OP_LEN, IMAGE_MAX);
  memcpy (ram->host, data + HEADER_LEN + n_ops * OP_LEN, image);

  for (size_t i = 0; i < n_ops; i++)
    run_op (d, data, data + HEADER_LEN + i * OP_LEN);

  /* Nothing left for the next input: after the reset the device's loop
   * leaves the queues alone, and RAM reads as zeroes again. */
  vmm_test_virtio_write (&d->t, CC_STATUS, 1, 0);
  memset (ram->host, 0, IMAGE_MAX);
  if (madvise (ram->host + IMAGE_MAX, ram->size - IMAGE_MAX, MADV_DONTNEED) != 0)
    abort ();
  return 0;
}
