/* fuzz-virtio-net.c: virtio-net driven through its virtio-pci transport
 *
 * The card as it runs in a VM: the modern virtio-pci transport on an MMIO
 * bus, over fake guest RAM, with KVM faked (vmm-test-virtio.c), the control
 * queue served on the device's loop thread when a drain runs out of budget.
 * The input is the guest (what it writes to the common and the device
 * configuration, what it puts in RAM: rings, transmit chains, receive
 * buffers, control commands; when it kicks and reads) and the backend
 * (transmit with a budget, through a send that takes a frame or says
 * -EAGAIN as the input says, and may reset the card meanwhile, as a
 * driver on another vCPU can; receive of frames the input makes; the
 * link, announcements).
 *
 * Checked: send is called without the card's lock, with the length its
 * pieces add up to, between VMM_NET_MIN_FRAME and VMM_NET_MAX_FRAME, every
 * piece in guest RAM but the card's copies of rewritten headers (at most
 * 256 bytes each, read whole); transmit sends at most its budget and returns that
 * count or -EAGAIN; receive returns 0 or -ENOBUFS.
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
 *   [8..21]   queue 0 (receive): size u16, desc u32, avail u32, used u32
 *             (size 0: left alone)
 *   [22..35]  queue 1 (transmit), the same
 *   [36..49]  queue 2 (control), the same
 *   [50]      n_ops
 *   [51]      bit 0: the backend's frames are checksummed (GUEST_CSUM
 *             offered) and it takes frames of up to 1514 bytes (the
 *             guest's TSO packets cut to fit, no UFO); else any frame
 *
 *   op: kind u8, a u8, b u16, c u32 (little-endian)
 *
 *   transmit: budget a; send says -EAGAIN on its k-th call when bit k % 32
 *             of c is set; b bit 0: the first send resets the card, bit 1:
 *             and sets it up again from the header
 *   receive:  a frame of b bytes (+ 65536 with a bit 7) copied from RAM at
 *             c; its destination by a % 4: ours, broadcast, multicast, as
 *             copied
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "viv-bytes.h"
#include "virtio/device.h"
#include "virtio/net.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER_LEN   64u
#define OP_LEN       8u
#define IMAGE_MAX    0x40000u       /* RAM the input can fill: 256 KiB */
#define N_QUEUES     3u
#define N_DEVS       2u
#define FRAME_MAX    (0x10000u + 0xffffu)

#define CC_STATUS    0x14
#define COMMON_LEN   0x3c
#define ISR_OFF      0x1000
#define DEVICE_OFF   0x2000
#define CONFIG_LEN   12

enum {
  OP_SETUP, OP_KICK, OP_COMMON, OP_CONFIG_READ, OP_CONFIG_WRITE, OP_POKE, OP_ISR, OP_RESET,
  OP_TRANSMIT, OP_RECEIVE, OP_LINK, OP_ANNOUNCE, N_OPS
};

static const uint8_t card_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct fuzz_dev {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_net *net;
  struct vmm_virtio_dev *dev;
  struct vmm_net_card card;
  uint64_t offered;

  /* the current transmit's send, as the op says */
  const uint8_t *hdr;
  unsigned send_calls;
  uint32_t eagain_mask;
  uint16_t reset_how;
};

struct fuzz {
  struct fuzz_dev d[N_DEVS];
  uint8_t frame[FRAME_MAX];
  bool trace;                   /* VIVARIUM_FUZZ_TRACE: what each transmit and receive did */
};

static struct fuzz *fz;

static void
on_ready (void *opaque)
{
  (void) opaque;
}

static int
on_send (void *data, const struct iovec *iov, unsigned n_iov, size_t len)
{
  struct fuzz_dev *d = data;
  const struct vmm_mem_region *ram = &d->t.ram.mem.regions[0];
  const uint8_t *lo = ram->host, *hi = ram->host + ram->size;
  size_t total = 0;
  unsigned k = d->send_calls++;

  if (pthread_mutex_trylock (&d->dev->lock) != 0)
    {
      fprintf (stderr, "send was called with the card's lock held\n");
      abort ();
    }
  pthread_mutex_unlock (&d->dev->lock);
  for (unsigned i = 0; i < n_iov; i++)
    {
      const uint8_t *p = iov[i].iov_base;

      if (iov[i].iov_len == 0)
        {
          fprintf (stderr, "send was given an empty piece\n");
          abort ();
        }
      if (p < lo || p > hi || iov[i].iov_len > (size_t) (hi - p))
        {
          /* the card's own copy of headers it rewrote (an offload): small,
           * and readable, which a sanitizer checks */
          volatile uint8_t sum = 0;

          if (iov[i].iov_len > 256)
            {
              fprintf (stderr, "send was given %zu bytes outside guest RAM\n", iov[i].iov_len);
              abort ();
            }
          for (size_t j = 0; j < iov[i].iov_len; j++)
            sum += p[j];
        }
      total += iov[i].iov_len;
    }
  if (total != len || len < VMM_NET_MIN_FRAME || len > VMM_NET_MAX_FRAME)
    {
      fprintf (stderr, "send was given %zu bytes in pieces of %zu\n", len, total);
      abort ();
    }
  if (k == 0 && (d->reset_how & 1))
    {
      vmm_test_virtio_write (&d->t, CC_STATUS, 1, 0);
      if (d->reset_how & 2)
        vmm_test_virtio_setup_from (&d->t, d->hdr, N_QUEUES, d->offered, 0);
    }
  return (d->eagain_mask >> (k % 32)) & 1 ? -EAGAIN : 0;
}

static void
cleanup (void)
{
  if (fz == NULL)
    return;
  for (unsigned k = 0; k < N_DEVS; k++)
    {
      vmm_test_virtio_stop (&fz->d[k].t);
      vmm_virtio_net_free (fz->d[k].net);
      vmm_test_virtio_clear (&fz->d[k].t);
    }
  free (fz);
  fz = NULL;
}

static struct fuzz *
fuzz_new (void)
{
  struct fuzz *f = calloc (1, sizeof *f);

  /* guests that get things wrong are logged; here that is every input */
  vmm_log_set_fd (open ("/dev/null", O_WRONLY | O_CLOEXEC));
  for (unsigned k = 0; k < N_DEVS; k++)
    {
      g_autoptr (GError) error = NULL;
      struct fuzz_dev *d = &f->d[k];
      struct vmm_virtio_net_config config = {
        .rx_checksummed = k == 1,
        .backend_max_frame = k == 1 ? 1514 : 0,
        .tx_ready = on_ready,
        .rx_ready = on_ready,
        .opaque = d,
      };

      memcpy (config.mac, card_mac, 6);
      vmm_test_virtio_init (&d->t, &d->env);
      d->net = vmm_virtio_net_new (&d->env, &config, &error);
      g_assert_no_error (error);
      d->dev = vmm_virtio_net_dev (d->net);
      d->card = vmm_virtio_net_card (d->net);
      vmm_test_virtio_plug (&d->t, d->dev);
      d->offered = vmm_test_virtio_device_features (&d->t);
    }
  f->trace = g_getenv ("VIVARIUM_FUZZ_TRACE") != NULL;
  atexit (cleanup);
  return f;
}

static void
transmit (struct fuzz_dev *d, unsigned budget, uint16_t how, uint32_t eagain)
{
  int ret;

  d->send_calls = 0;
  d->eagain_mask = eagain;
  d->reset_how = how;
  ret = d->card.transmit (d->card.opaque, on_send, d, budget);
  if (ret != -EAGAIN && (ret < 0 || (unsigned) ret > budget || (unsigned) ret > d->send_calls))
    {
      fprintf (stderr, "transmit with a budget of %u returned %d after %u sends\n", budget, ret,
               d->send_calls);
      abort ();
    }
  if (fz->trace)
    fprintf (stderr, "transmit (budget %u): %d, %u sends\n", budget, ret, d->send_calls);
}

static void
receive (struct fuzz_dev *d, uint8_t dst, size_t len, uint32_t from)
{
  static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
  const uint8_t *ram = d->t.ram.mem.regions[0].host;
  uint8_t *frame = fz->frame;
  size_t off = from % IMAGE_MAX;
  int ret;

  /* a copy: the backend's frame is never guest memory */
  memcpy (frame, ram + off, MIN (len, IMAGE_MAX - off));
  if (len > IMAGE_MAX - off)
    memset (frame + (IMAGE_MAX - off), 0x5a, len - (IMAGE_MAX - off));
  if (len >= 6 && dst < 3)
    memcpy (frame, dst == 0 ? card_mac : dst == 1 ? bcast : mcast, 6);
  ret = d->card.receive (d->card.opaque, frame, len);
  if (ret != 0 && ret != -ENOBUFS)
    {
      fprintf (stderr, "receive of %zu bytes returned %d\n", len, ret);
      abort ();
    }
  if (fz->trace)
    fprintf (stderr, "receive (%zu bytes): %d\n", len, ret);
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
      vmm_test_virtio_setup_from (&d->t, hdr, N_QUEUES, d->offered, a);
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
      vmm_test_virtio_write (&d->t, DEVICE_OFF + a % (CONFIG_LEN + 4), widths[b % 4], c);
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
    case OP_TRANSMIT:
      transmit (d, a, b, c);
      break;
    case OP_RECEIVE:
      receive (d, a % 4, (a & 0x80 ? 0x10000u : 0) + b, c);
      break;
    case OP_LINK:
      vmm_virtio_net_set_link (d->net, a & 1);
      break;
    case OP_ANNOUNCE:
      {
        struct vmm_virtio_net_stats stats;

        vmm_virtio_net_announce (d->net);
        vmm_virtio_net_get_stats (d->net, &stats);
      }
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
  d = &fz->d[data[51] % N_DEVS];
  d->hdr = data;
  ram = &d->t.ram.mem.regions[0];

  n_ops = MIN (data[50], (size - HEADER_LEN) / OP_LEN);
  image = MIN (size - HEADER_LEN - n_ops * OP_LEN, IMAGE_MAX);
  memcpy (ram->host, data + HEADER_LEN + n_ops * OP_LEN, image);

  for (size_t i = 0; i < n_ops; i++)
    run_op (d, data, data + HEADER_LEN + i * OP_LEN);

  if (fz->trace)
    {
      struct vmm_virtio_net_stats s;

      vmm_virtio_net_get_stats (d->net, &s);
      fprintf (stderr, "status %#x; tx %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
               " dropped), rx %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " dropped, %"
               G_GUINT64_FORMAT " filtered)\n",
               (unsigned) vmm_test_virtio_read (&d->t, CC_STATUS, 1), s.tx_frames, s.tx_dropped,
               s.rx_frames, s.rx_dropped, s.rx_filtered);
    }

  /* Nothing left for the next input: after the reset the device's loop
   * leaves the queues alone, and RAM reads as zeroes again. The link is
   * up again, as the card starts. */
  vmm_test_virtio_write (&d->t, CC_STATUS, 1, 0);
  vmm_virtio_net_set_link (d->net, true);
  memset (ram->host, 0, IMAGE_MAX);
  if (madvise (ram->host + IMAGE_MAX, ram->size - IMAGE_MAX, MADV_DONTNEED) != 0)
    abort ();
  return 0;
}
