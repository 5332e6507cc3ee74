/* test-virtio-net.c: virtio-net on fake queues, with a fake backend
 *
 * The device runs as in a VM (the virtio-pci transport on an MMIO bus, its
 * control queue served on a running event loop), over fake guest RAM and
 * without /dev/kvm (vmm-test.h). The test plays the guest's virtio_net
 * driver (features, the configuration space, transmit chains, receive
 * buffers, control commands) and the backend: it counts tx_ready and
 * rx_ready, calls the card's transmit with a send function that records
 * each frame, and hands the card frames with receive, from this thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "viv-bytes.h"
#include "virtio/device.h"
#include "virtio/net.h"
#include "vmm-test.h"

#define QUEUE_SIZE        128u
#define DEVICE_OFF        0x2000
#define CC_STATUS         0x14
#define Q_RX              0
#define Q_TX              1
#define Q_CTRL            2
#define N_QUEUES          3

/* Feature bits (virtio 1.2, 5.1.3) */
#define F_CSUM            0
#define F_GUEST_CSUM      1
#define F_MAC             5
#define F_HOST_TSO4       11
#define F_HOST_TSO6       12
#define F_HOST_ECN        13
#define F_HOST_UFO        14
#define F_MRG_RXBUF       15
#define F_STATUS          16
#define F_CTRL_VQ         17
#define F_CTRL_RX         18
#define F_GUEST_ANNOUNCE  21
#define F_CTRL_MAC_ADDR   23
#define BIT(f)            (1ull << (f))
#define NET_FEATURES      (BIT (F_MAC) | BIT (F_STATUS) | BIT (F_MRG_RXBUF) | BIT (F_CTRL_VQ) | \
                           BIT (F_CTRL_RX) | BIT (F_GUEST_ANNOUNCE) | BIT (F_CTRL_MAC_ADDR))
/* The transmit offloads, offered to every backend (UFO apart) */
#define TX_OFFLOADS       (BIT (F_CSUM) | BIT (F_HOST_TSO4) | BIT (F_HOST_TSO6) | \
                           BIT (F_HOST_ECN))
/* Every feature bit of 5.1.3 below 64, to see what else is offered */
#define NET_ALL_BITS      (0x00ffffffull | BIT (41) | BIT (42) | BIT (51) | BIT (52) | \
                           BIT (53) | BIT (54) | BIT (55) | BIT (56) | BIT (57) | BIT (58) | \
                           BIT (59) | BIT (60) | BIT (61) | BIT (62) | BIT (63))

#define HDR_LEN           12
#define HDR_F_DATA_VALID  2
#define S_LINK_UP         1
#define S_ANNOUNCE        2

/* Control commands (5.1.6.5) */
#define CTRL_OK           0
#define CTRL_ERR          1
#define CLASS_RX          0
#define RX_PROMISC        0
#define RX_ALLMULTI       1
#define RX_ALLUNI         2
#define RX_NOMULTI        3
#define RX_NOUNI          4
#define RX_NOBCAST        5
#define CLASS_MAC         1
#define MAC_TABLE_SET     0
#define MAC_ADDR_SET      1
#define CLASS_ANNOUNCE    3
#define ANNOUNCE_ACK      0

#define MAX_FRAME         VMM_NET_MAX_FRAME

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
static const uint8_t third_mac[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };
static const uint8_t bcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mcast_mac[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t mcast2_mac[6] = { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 };

struct fx {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_net *net;
  struct vmm_virtio_dev *dev;
  struct vmm_net_card card;
  uint64_t features;            /* what the driver asked for */
  unsigned tx_ready, rx_ready;  /* atomically: the card may call from the loop */

  /* the fake backend's send */
  GPtrArray *sent;              /* of GByteArray, each frame send took */
  unsigned send_calls;
  int send_ret;                 /* what send says (0 or -EAGAIN) */
  bool reset_in_send;           /* the driver resets (and sets up again) meanwhile */
  unsigned refuse_call;         /* send's call of this number (from 1) says -EAGAIN, once */

  /* receive buffers, by head */
  uint64_t rx_gpa[QUEUE_SIZE];
  uint32_t rx_len[QUEUE_SIZE];
  unsigned rx_outstanding;
  int log_fd;
};

static void
on_tx_ready (void *opaque)
{
  struct fx *f = opaque;

  __atomic_add_fetch (&f->tx_ready, 1, __ATOMIC_RELAXED);
}

static void
on_rx_ready (void *opaque)
{
  struct fx *f = opaque;

  __atomic_add_fetch (&f->rx_ready, 1, __ATOMIC_RELAXED);
}

static unsigned
count (unsigned *counter)
{
  return __atomic_load_n (counter, __ATOMIC_RELAXED);
}

static int
on_send (void *data, const struct iovec *iov, unsigned n_iov, size_t len)
{
  struct fx *f = data;
  GByteArray *frame;
  size_t total = 0;

  /* called without the device's lock: a backend may answer at once */
  g_assert_true (vmm_test_mutex_is_free (&f->dev->lock));
  for (unsigned i = 0; i < n_iov; i++)
    total += iov[i].iov_len;
  g_assert_cmpuint (total, ==, len);
  f->send_calls++;
  if (f->reset_in_send)
    {
      /* the driver resets the card and brings it up again on fresh rings
       * while the backend has the frame */
      f->reset_in_send = false;
      vmm_test_virtio_write (&f->t, CC_STATUS, 1, 0);
      g_assert_cmpuint (vmm_test_virtio_setup (&f->t, f->features, N_QUEUES, QUEUE_SIZE) &
                        VIRTIO_STATUS_DRIVER_OK, !=, 0);
    }
  if (f->send_ret != 0)
    return f->send_ret;
  if (f->refuse_call == f->send_calls)
    {
      f->refuse_call = 0;
      return -EAGAIN;
    }
  frame = g_byte_array_sized_new ((guint) len);
  for (unsigned i = 0; i < n_iov; i++)
    g_byte_array_append (frame, iov[i].iov_base, (guint) iov[i].iov_len);
  g_ptr_array_add (f->sent, frame);
  return 0;
}

/* MAX_FRAME: the backend's longest frame (0: any) */
static void
fx_init_backend (struct fx *f, bool rx_checksummed, size_t max_frame, uint64_t features,
                 bool driver)
{
  g_autoptr (GError) error = NULL;
  struct vmm_virtio_net_config config = {
    .rx_checksummed = rx_checksummed,
    .backend_max_frame = max_frame,
    .tx_ready = on_tx_ready,
    .rx_ready = on_rx_ready,
    .opaque = f,
  };

  memset (f, 0, sizeof *f);
  memcpy (config.mac, our_mac, 6);
  f->log_fd = vmm_test_log_capture ();
  f->sent = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  f->features = features;
  vmm_test_virtio_init (&f->t, &f->env);
  f->net = vmm_virtio_net_new (&f->env, &config, &error);
  g_assert_no_error (error);
  f->dev = vmm_virtio_net_dev (f->net);
  f->card = vmm_virtio_net_card (f->net);
  vmm_test_virtio_plug (&f->t, f->dev);
  if (driver)
    g_assert_cmpuint (vmm_test_virtio_setup (&f->t, features, N_QUEUES, QUEUE_SIZE) &
                      VIRTIO_STATUS_DRIVER_OK, !=, 0);
}

static void
fx_init_full (struct fx *f, bool rx_checksummed, uint64_t features, bool driver)
{
  fx_init_backend (f, rx_checksummed, 0, features, driver);
}

static void
fx_init (struct fx *f, uint64_t features)
{
  fx_init_full (f, false, features, true);
}

static void
fx_clear (struct fx *f)
{
  vmm_test_virtio_stop (&f->t);
  vmm_virtio_net_free (f->net);
  vmm_test_virtio_clear (&f->t);
  g_ptr_array_unref (f->sent);
  vmm_test_log_release (f->log_fd);
}

static struct vmm_virtio_net_stats
stats (struct fx *f)
{
  struct vmm_virtio_net_stats s;

  vmm_virtio_net_get_stats (f->net, &s);
  return s;
}

static uint8_t
config_byte (struct fx *f, unsigned offset)
{
  return (uint8_t) vmm_test_virtio_read (&f->t, DEVICE_OFF + offset, 1);
}

static uint16_t
config_status (struct fx *f)
{
  return (uint16_t) vmm_test_virtio_read (&f->t, DEVICE_OFF + 6, 2);
}

static void
assert_config_mac (struct fx *f, const uint8_t *mac)
{
  uint8_t got[6];

  for (unsigned i = 0; i < 6; i++)
    got[i] = config_byte (f, i);
  g_assert_cmpmem (got, 6, mac, 6);
}

/* ---- features and the configuration space ------------------------------------------ */

static void
test_features (void)
{
  struct fx f;
  uint64_t offered;

  fx_init_full (&f, false, 0, false);
  offered = vmm_test_virtio_device_features (&f.t);
  g_assert_cmphex (offered & NET_ALL_BITS, ==, NET_FEATURES | TX_OFFLOADS | BIT (F_HOST_UFO));
  g_assert_cmphex (offered & BIT (VIRTIO_F_VERSION_1), !=, 0);
  fx_clear (&f);

  /* GUEST_CSUM only when the backend's frames carry good checksums */
  fx_init_full (&f, true, 0, false);
  offered = vmm_test_virtio_device_features (&f.t);
  g_assert_cmphex (offered & NET_ALL_BITS, ==,
                   NET_FEATURES | TX_OFFLOADS | BIT (F_HOST_UFO) | BIT (F_GUEST_CSUM));
  fx_clear (&f);

  /* UFO only when a 64 KiB datagram goes whole (no IP fragmentation here) */
  fx_init_backend (&f, false, 1518, 0, false);
  offered = vmm_test_virtio_device_features (&f.t);
  g_assert_cmphex (offered & NET_ALL_BITS, ==, NET_FEATURES | TX_OFFLOADS);
  fx_clear (&f);
}

static void
test_config (void)
{
  struct fx f;

  fx_init (&f, NET_FEATURES);
  assert_config_mac (&f, our_mac);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF + 8, 2), ==, 1);   /* pairs */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF + 0, 4), ==, 0x12005452);

  /* writes are ignored, whatever their width */
  vmm_test_virtio_write (&f.t, DEVICE_OFF + 0, 4, 0xffffffff);
  vmm_test_virtio_write (&f.t, DEVICE_OFF + 4, 2, 0x0101);
  vmm_test_virtio_write (&f.t, DEVICE_OFF + 6, 2, 0);
  vmm_test_virtio_write (&f.t, DEVICE_OFF + 8, 1, 7);
  assert_config_mac (&f, our_mac);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF + 8, 2), ==, 1);
  vmm_test_log_expect (f.log_fd, "configuration space write ignored");

  /* the link: status and a config interrupt, only on a change */
  (void) vmm_test_virtio_isr (&f.t);
  vmm_virtio_net_set_link (f.net, false);
  g_assert_cmpuint (config_status (&f), ==, 0);
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 2, ==, 2);
  vmm_virtio_net_set_link (f.net, false);
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 2, ==, 0);
  vmm_virtio_net_set_link (f.net, true);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP);
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 2, ==, 2);
  fx_clear (&f);
}

/* ---- transmit ---------------------------------------------------------------------- */

/* Queues BYTES (header and frame, LEN bytes) as one chain cut at CUTS (N
 * offsets, ascending, inside it); returns its head. */
static uint16_t
tx_chain (struct fx *f, const uint8_t *bytes, uint32_t len, const uint32_t *cuts, unsigned n)
{
  struct vmm_test_vq *vq = &f->t.vq[Q_TX];
  struct vmm_test_buf bufs[8];
  uint32_t start = 0;

  g_assert_cmpuint (n + 1, <=, G_N_ELEMENTS (bufs));
  for (unsigned i = 0; i <= n; i++)
    {
      uint32_t end = i < n ? cuts[i] : len;

      g_assert_cmpuint (end, >, start);
      bufs[i] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, bytes + start, end - start),
                                        end - start, false };
      start = end;
    }
  return vmm_test_vq_add_bufs (vq, bufs, n + 1);
}

/* A header (all zero: no offloads) and a frame of LEN bytes to DST */
static uint8_t *
make_packet (const uint8_t *dst, uint32_t len, uint8_t seed)
{
  uint8_t *p = g_malloc0 (HDR_LEN + (size_t) len);

  for (uint32_t i = 0; i < len; i++)
    p[HDR_LEN + i] = (uint8_t) (seed + i * 7);
  if (len >= 6)
    memcpy (p + HDR_LEN, dst, 6);
  if (len >= 12)
    memcpy (p + HDR_LEN + 6, our_mac, 6);
  return p;
}

static int
transmit (struct fx *f, unsigned budget)
{
  return f->card.transmit (f->card.opaque, on_send, f, budget);
}

static void
expect_used (struct vmm_test_vq *vq, uint16_t head, uint32_t want_len)
{
  uint32_t id, len;

  g_assert_true (vmm_test_vq_next_used (vq, &id, &len));
  g_assert_cmpuint (id, ==, head);
  g_assert_cmpuint (len, ==, want_len);
}

static void
expect_sent (struct fx *f, unsigned i, const uint8_t *packet, uint32_t len)
{
  GByteArray *frame;

  g_assert_cmpuint (f->sent->len, >, i);
  frame = g_ptr_array_index (f->sent, i);
  g_assert_cmpmem (frame->data, frame->len, packet + HDR_LEN, len);
}

static void
test_tx_split (void)
{
  const uint32_t len = 60, total = HDR_LEN + len;
  g_autofree uint8_t *packet = make_packet (other_mac, len, 1);
  unsigned n = 0;
  struct fx f;

  fx_init (&f, NET_FEATURES);

  /* whole, then cut once at every offset, then a one-byte piece there */
  for (uint32_t k = 0; k < total; k++)
    for (unsigned shape = 0; shape < 2; shape++)
      {
        uint32_t cuts[2] = { k, k + 1 };
        unsigned n_cuts = k == 0 ? 0 : shape == 0 ? 1 : 2;
        uint16_t head;

        if ((k == 0 && shape == 1) || (shape == 1 && k + 1 >= total))
          continue;
        head = tx_chain (&f, packet, total, cuts, n_cuts);
        vmm_test_virtio_kick (&f.t, Q_TX);
        g_assert_cmpint (transmit (&f, 64), ==, 1);
        expect_used (&f.t.vq[Q_TX], head, 0);
        expect_sent (&f, n, packet, len);
        n++;
      }
  g_assert_cmpuint (f.sent->len, ==, n);
  g_assert_cmpuint (stats (&f).tx_frames, ==, n);
  g_assert_cmpuint (stats (&f).tx_bytes, ==, (uint64_t) n * len);
  g_assert_cmpuint (stats (&f).tx_dropped, ==, 0);
  fx_clear (&f);
}

static void
test_tx_kick (void)
{
  g_autofree uint8_t *packet = make_packet (other_mac, 64, 3);
  unsigned before;
  struct fx f;

  fx_init (&f, NET_FEATURES);
  before = count (&f.tx_ready);
  tx_chain (&f, packet, HDR_LEN + 64, NULL, 0);
  vmm_test_virtio_kick (&f.t, Q_TX);
  g_assert_cmpuint (count (&f.tx_ready), ==, before + 1);
  g_assert_cmpint (transmit (&f, 64), ==, 1);
  /* nothing queued: nothing sent */
  g_assert_cmpint (transmit (&f, 64), ==, 0);
  g_assert_cmpuint (f.send_calls, ==, 1);
  fx_clear (&f);
}

static void
test_tx_malformed (void)
{
  const uint32_t lens[] = {
    HDR_LEN + VMM_NET_MIN_FRAME - 1,    /* runt */
    HDR_LEN,                            /* header only */
    HDR_LEN - 1,                        /* shorter than the header */
    1,
    HDR_LEN + MAX_FRAME + 1,            /* too long */
  };
  g_autofree uint8_t *packet = make_packet (other_mac, MAX_FRAME + 1, 5);
  struct fx f;

  fx_init (&f, NET_FEATURES);
  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      uint32_t cut = lens[i] / 2;
      uint16_t head = tx_chain (&f, packet, lens[i], &cut, cut > 0 ? 1 : 0);

      vmm_test_virtio_kick (&f.t, Q_TX);
      g_assert_cmpint (transmit (&f, 64), ==, 0);
      expect_used (&f.t.vq[Q_TX], head, 0);
      g_assert_cmpuint (stats (&f).tx_dropped, ==, i + 1);
    }
  g_assert_cmpuint (f.send_calls, ==, 0);
  vmm_test_log_expect (f.log_fd, "dropped");

  /* the edges go: the smallest frame and the largest */
  tx_chain (&f, packet, HDR_LEN + VMM_NET_MIN_FRAME, NULL, 0);
  tx_chain (&f, packet, HDR_LEN + MAX_FRAME, NULL, 0);
  g_assert_cmpint (transmit (&f, 64), ==, 2);
  g_assert_cmpuint (f.sent->len, ==, 2);
  expect_sent (&f, 0, packet, VMM_NET_MIN_FRAME);
  expect_sent (&f, 1, packet, MAX_FRAME);
  g_assert_cmpuint (stats (&f).tx_dropped, ==, G_N_ELEMENTS (lens));
  g_assert_cmpuint (stats (&f).tx_frames, ==, 2);
  fx_clear (&f);
}

/* More pieces than the card gathers: dropped, counted, returned */
static void
test_tx_pieces (void)
{
  uint32_t lens[80];
  uint16_t head;
  struct fx f;

  fx_init (&f, NET_FEATURES | BIT (VIRTIO_F_RING_INDIRECT_DESC));
  lens[0] = HDR_LEN;
  for (unsigned i = 1; i < G_N_ELEMENTS (lens); i++)
    lens[i] = 1;
  head = vmm_test_vq_add_indirect (&f.t.vq[Q_TX], lens, G_N_ELEMENTS (lens),
                                   G_N_ELEMENTS (lens));
  g_assert_cmpint (transmit (&f, 64), ==, 0);
  expect_used (&f.t.vq[Q_TX], head, 0);
  g_assert_cmpuint (stats (&f).tx_dropped, ==, 1);
  g_assert_cmpuint (f.send_calls, ==, 0);

  /* 64 pieces are fine */
  head = vmm_test_vq_add_indirect (&f.t.vq[Q_TX], lens, 65, 65);
  g_assert_cmpint (transmit (&f, 64), ==, 1);
  expect_used (&f.t.vq[Q_TX], head, 0);
  g_assert_cmpuint (f.sent->len, ==, 1);
  g_assert_cmpuint (((GByteArray *) g_ptr_array_index (f.sent, 0))->len, ==, 64);
  fx_clear (&f);
}

static void
test_tx_again (void)
{
  g_autofree uint8_t *p1 = make_packet (other_mac, 100, 1);
  g_autofree uint8_t *p2 = make_packet (other_mac, 200, 2);
  g_autofree uint8_t *p3 = make_packet (other_mac, 300, 3);
  uint16_t h1, h2, h3;
  uint32_t id, len;
  struct fx f;

  fx_init (&f, NET_FEATURES);
  h1 = tx_chain (&f, p1, HDR_LEN + 100, NULL, 0);
  h2 = tx_chain (&f, p2, HDR_LEN + 200, NULL, 0);
  vmm_test_virtio_kick (&f.t, Q_TX);

  /* the backend is full: the frame stays queued */
  f.send_ret = -EAGAIN;
  g_assert_cmpint (transmit (&f, 64), ==, -EAGAIN);
  g_assert_cmpuint (f.send_calls, ==, 1);
  g_assert_false (vmm_test_vq_next_used (&f.t.vq[Q_TX], &id, &len));
  g_assert_cmpuint (stats (&f).tx_frames, ==, 0);
  g_assert_cmpuint (stats (&f).tx_dropped, ==, 0);

  /* the next transmit sends it, and the rest, in order */
  f.send_ret = 0;
  g_assert_cmpint (transmit (&f, 64), ==, 2);
  expect_used (&f.t.vq[Q_TX], h1, 0);
  expect_used (&f.t.vq[Q_TX], h2, 0);
  expect_sent (&f, 0, p1, 100);
  expect_sent (&f, 1, p2, 200);

  /* a budget: one frame a call, -EAGAIN while some are left */
  h1 = tx_chain (&f, p1, HDR_LEN + 100, NULL, 0);
  h3 = tx_chain (&f, p3, HDR_LEN + 300, NULL, 0);
  g_assert_cmpint (transmit (&f, 1), ==, -EAGAIN);
  expect_used (&f.t.vq[Q_TX], h1, 0);
  g_assert_cmpint (transmit (&f, 1), ==, 1);
  expect_used (&f.t.vq[Q_TX], h3, 0);
  expect_sent (&f, 3, p3, 300);
  g_assert_cmpuint (stats (&f).tx_frames, ==, 4);
  fx_clear (&f);
}

/* A reset while the backend has a frame: the chain belonged to the rings
 * before it and is not pushed onto the new ones */
static void
test_tx_reset (void)
{
  g_autofree uint8_t *packet = make_packet (other_mac, 100, 9);
  uint32_t id, len;
  uint16_t head;
  struct fx f;

  fx_init (&f, NET_FEATURES);
  tx_chain (&f, packet, HDR_LEN + 100, NULL, 0);
  tx_chain (&f, packet, HDR_LEN + 100, NULL, 0);
  f.reset_in_send = true;
  g_assert_cmpint (transmit (&f, 64), >=, 0);
  g_assert_cmpuint (f.send_calls, ==, 1);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[Q_TX]), ==, 0);
  g_assert_false (vmm_test_vq_next_used (&f.t.vq[Q_TX], &id, &len));
  g_assert_cmpuint (stats (&f).tx_frames, ==, 0);

  /* the new rings work */
  g_assert_cmpint (transmit (&f, 64), ==, 0);
  head = tx_chain (&f, packet, HDR_LEN + 100, NULL, 0);
  g_assert_cmpint (transmit (&f, 64), ==, 1);
  expect_used (&f.t.vq[Q_TX], head, 0);
  g_assert_cmpuint (f.send_calls, ==, 2);
  fx_clear (&f);
}

/* ---- transmit offloads --------------------------------------------------------------- */

#define GSO_NONE          0
#define GSO_TCPV4         1
#define GSO_UDP           3
#define GSO_TCPV6         4
#define GSO_ECN           0x80
#define HDR_F_NEEDS_CSUM  1
#define TH_FIN            0x01
#define TH_PSH            0x08
#define TH_ACK            0x10
#define TH_CWR            0x80
#define TCP_HLEN          32            /* with 12 bytes of options */
#define SEQ0              0xfffff000u   /* wraps within the packet */

/* The Internet checksum's sum, a byte pair at a time (not net-offload.c's) */
static uint32_t
ref_sum (const uint8_t *p, size_t n, uint32_t sum)
{
  for (size_t i = 0; i < n; i++)
    sum += i % 2 == 0 ? (uint32_t) p[i] << 8 : p[i];
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

struct ip_shape {
  bool v6, tcp;
  size_t l3, l4, end;           /* offsets in the frame */
};

static struct ip_shape
shape (bool v6, bool tcp)
{
  struct ip_shape s = { v6, tcp, 14, 0, 0 };

  s.l4 = s.l3 + (v6 ? 40 : 20);
  s.end = s.l4 + (tcp ? TCP_HLEN : 8);
  return s;
}

static uint32_t
pseudo_sum (const uint8_t *frame, const struct ip_shape *s, size_t l4_len)
{
  uint8_t tail[8] = { 0 };

  if (s->v6)
    {
      viv_put_be32 (tail, (uint32_t) l4_len);
      tail[7] = s->tcp ? 6 : 17;
      return ref_sum (tail, 8, ref_sum (frame + s->l3 + 8, 32, 0));
    }
  tail[1] = s->tcp ? 6 : 17;
  viv_put_be16 (tail + 2, (uint16_t) l4_len);
  return ref_sum (tail, 4, ref_sum (frame + s->l3 + 12, 8, 0));
}

/* A header and an Ethernet, IPv4 or IPv6, TCP or UDP frame with PAYLOAD
 * bytes, the checksum left to the card as Linux leaves it: NEEDS_CSUM and
 * the pseudo-header's sum (with the whole length) in the field. *LEN: the
 * header's and the frame's bytes. */
static uint8_t *
make_ip_packet (const struct ip_shape *s, size_t payload, uint8_t gso_type, uint16_t gso_size,
                uint8_t tcp_flags, uint32_t *len)
{
  size_t flen = s->end + payload;
  uint8_t *p = g_malloc0 (HDR_LEN + flen), *fr = p + HDR_LEN;
  uint8_t *l3 = fr + s->l3, *l4 = fr + s->l4;

  p[0] = HDR_F_NEEDS_CSUM;
  p[1] = gso_type;
  viv_put_le16 (p + 2, (uint16_t) s->end);
  viv_put_le16 (p + 4, gso_size);
  viv_put_le16 (p + 6, (uint16_t) s->l4);
  viv_put_le16 (p + 8, s->tcp ? 16 : 6);
  memcpy (fr, other_mac, 6);
  memcpy (fr + 6, our_mac, 6);
  viv_put_be16 (fr + 12, s->v6 ? 0x86dd : 0x0800);
  if (s->v6)
    {
      l3[0] = 0x60;
      viv_put_be16 (l3 + 4, (uint16_t) (flen - s->l3 - 40));
      l3[6] = s->tcp ? 6 : 17;
      l3[7] = 64;
      l3[8] = 0xfe, l3[9] = 0x80, l3[23] = 0x0f;                /* fe80::f */
      l3[24] = 0xfe, l3[25] = 0x80, l3[39] = 0x02;              /* fe80::2 */
    }
  else
    {
      l3[0] = 0x45;
      viv_put_be16 (l3 + 2, (uint16_t) (flen - s->l3));
      viv_put_be16 (l3 + 4, 0xfffe);    /* the identification wraps too */
      l3[6] = 0x40;                     /* DF */
      l3[8] = 64;
      l3[9] = s->tcp ? 6 : 17;
      l3[12] = 10, l3[13] = 0, l3[14] = 2, l3[15] = 15;
      l3[16] = 10, l3[17] = 0, l3[18] = 2, l3[19] = 2;
      viv_put_be16 (l3 + 10, (uint16_t) ~ref_sum (l3, 20, 0));
    }
  viv_put_be16 (l4, 40000);
  viv_put_be16 (l4 + 2, 5001);
  if (s->tcp)
    {
      viv_put_be32 (l4 + 4, SEQ0);
      viv_put_be32 (l4 + 8, 0x1234);
      l4[12] = TCP_HLEN / 4 << 4;
      l4[13] = tcp_flags;
      viv_put_be16 (l4 + 14, 65535);
      l4[20] = 1, l4[21] = 1, l4[22] = 8, l4[23] = 10;          /* NOP NOP timestamps */
      viv_put_be32 (l4 + 24, 777);
    }
  else
    viv_put_be16 (l4 + 4, (uint16_t) (flen - s->l4));
  for (size_t i = 0; i < payload; i++)
    fr[s->end + i] = (uint8_t) (i * 13 + i / 251);
  viv_put_be16 (l4 + (s->tcp ? 16 : 6), (uint16_t) pseudo_sum (fr, s, flen - s->l4));
  *len = (uint32_t) (HDR_LEN + flen);
  return p;
}

/* Checks a frame the card sent: lengths and checksums right, the rest as
 * in ORIG (the frame as the guest queued it) apart from what TSO changes;
 * returns the TCP sequence number (or 0) and the payload's place */
static uint32_t
check_ip_frame (const GByteArray *frame, const struct ip_shape *s, const uint8_t *orig,
                const uint8_t **payload, size_t *payload_len)
{
  const uint8_t *fr = frame->data, *l3 = fr + s->l3, *l4 = fr + s->l4;
  size_t l4_len = frame->len - s->l4;

  g_assert_cmpuint (frame->len, >=, s->end);
  g_assert_cmpmem (fr, s->l3, orig, s->l3);
  if (s->v6)
    {
      g_assert_cmpuint (viv_get_be16 (l3 + 4), ==, frame->len - s->l3 - 40);
      g_assert_cmpmem (l3 + 6, 34, orig + s->l3 + 6, 34);
    }
  else
    {
      g_assert_cmpuint (viv_get_be16 (l3 + 2), ==, frame->len - s->l3);
      g_assert_cmphex (ref_sum (l3, 20, 0), ==, 0xffff);
      g_assert_cmpmem (l3 + 12, 8, orig + s->l3 + 12, 8);
    }
  g_assert_cmphex (ref_sum (l4, l4_len, pseudo_sum (fr, s, l4_len)), ==, 0xffff);
  if (s->tcp)
    g_assert_cmpmem (l4 + 20, TCP_HLEN - 20, orig + s->l4 + 20, TCP_HLEN - 20);
  else
    g_assert_cmpuint (viv_get_be16 (l4 + 4), ==, l4_len);
  *payload = fr + s->end;
  *payload_len = frame->len - s->end;
  return s->tcp ? viv_get_be32 (l4 + 4) : 0;
}

/* NEEDS_CSUM alone, in pieces cut anywhere (the checksum field's bytes
 * apart too); without CSUM negotiated the header's flags mean nothing */
static void
test_tx_csum (void)
{
  const struct ip_shape s = shape (false, false);
  uint32_t len;
  g_autofree uint8_t *packet = make_ip_packet (&s, 333, GSO_NONE, 0, 0, &len);
  const uint32_t field = HDR_LEN + (uint32_t) s.l4 + 6;
  const uint32_t cut_sets[][3] = {
    { field, 0, 0 }, { field + 1, 0, 0 }, { 5, field - 1, field + 2 }, { HDR_LEN + 1, 40, 41 },
  };
  const uint8_t *payload;
  size_t plen;
  struct fx f;

  fx_init (&f, NET_FEATURES | TX_OFFLOADS);
  tx_chain (&f, packet, len, NULL, 0);
  for (unsigned i = 0; i < G_N_ELEMENTS (cut_sets); i++)
    tx_chain (&f, packet, len, cut_sets[i], cut_sets[i][1] ? 3 : 1);
  g_assert_cmpint (transmit (&f, 64), ==, 1 + (int) G_N_ELEMENTS (cut_sets));
  for (unsigned i = 0; i < f.sent->len; i++)
    {
      GByteArray *frame = g_ptr_array_index (f.sent, i);

      g_assert_cmpuint (frame->len, ==, len - HDR_LEN);
      check_ip_frame (frame, &s, packet + HDR_LEN, &payload, &plen);
      g_assert_cmpmem (payload, plen, packet + HDR_LEN + s.end, len - HDR_LEN - s.end);
    }

  /* the checksum's place past the end: dropped */
  viv_put_le16 (packet + 8, (uint16_t) (len - HDR_LEN - s.l4 - 1));
  tx_chain (&f, packet, len, NULL, 0);
  viv_put_le16 (packet + 6, (uint16_t) (len - HDR_LEN));
  viv_put_le16 (packet + 8, 0);
  tx_chain (&f, packet, len, NULL, 0);
  g_assert_cmpint (transmit (&f, 64), ==, 0);
  g_assert_cmpuint (stats (&f).tx_dropped, ==, 2);
  vmm_test_log_expect (f.log_fd, "past the frame's end");
  fx_clear (&f);

  /* not negotiated: the frame goes as the guest made it */
  fx_init (&f, NET_FEATURES);
  tx_chain (&f, packet, len, NULL, 0);
  g_assert_cmpint (transmit (&f, 64), ==, 1);
  expect_sent (&f, 0, packet, len - HDR_LEN);
  fx_clear (&f);
}

/* TCP segmentation, over IPv4 and IPv6, for a backend that takes 64 KiB
 * (one frame), one that takes some segments' worth (as passt), and one of
 * a 1500-byte MTU (segments of gso_size, as a NIC) */
static void
test_tx_tso (void)
{
  const size_t payload = 10007, mss = 1000;

  for (unsigned v6 = 0; v6 < 2; v6++)
    {
      const struct ip_shape s = shape (v6, true);
      const size_t max_frames[] = { 0, s.end + 3 * mss + 999, 1514 };
      const size_t want_pieces[] = { 1, 4, 11 };
      uint32_t len;
      g_autofree uint8_t *packet = make_ip_packet (&s, payload, v6 ? GSO_TCPV6 : GSO_TCPV4, mss,
                                                   TH_ACK | TH_PSH | TH_FIN | TH_CWR, &len);

      for (unsigned m = 0; m < G_N_ELEMENTS (max_frames); m++)
        {
          g_autoptr (GByteArray) joined = g_byte_array_new ();
          const uint32_t cuts[] = { HDR_LEN, HDR_LEN + 20, 3000 };
          struct fx f;

          fx_init_backend (&f, false, max_frames[m], NET_FEATURES | TX_OFFLOADS, true);
          tx_chain (&f, packet, len, cuts, 3);
          g_assert_cmpint (transmit (&f, 64), ==, 1);
          g_assert_cmpuint (f.sent->len, ==, want_pieces[m]);
          for (unsigned i = 0; i < f.sent->len; i++)
            {
              GByteArray *frame = g_ptr_array_index (f.sent, i);
              const uint8_t *data, *l4 = frame->data + s.l4;
              bool last = i + 1 == f.sent->len;
              size_t n;
              uint32_t seq = check_ip_frame (frame, &s, packet + HDR_LEN, &data, &n);

              g_assert_cmpuint (frame->len, <=, max_frames[m] ? max_frames[m] : MAX_FRAME);
              g_assert_cmphex (seq, ==, SEQ0 + (uint32_t) joined->len);
              g_assert_cmpuint (n % mss == 0 || last, ==, TRUE);
              /* FIN and PSH on the last piece only, CWR on the first */
              g_assert_cmphex (l4[13], ==, TH_ACK | (last ? TH_PSH | TH_FIN : 0) |
                               (i == 0 ? TH_CWR : 0));
              if (!v6)
                g_assert_cmphex (viv_get_be16 (frame->data + s.l3 + 4), ==,
                                 (uint16_t) (0xfffe + i));
              g_byte_array_append (joined, data, (guint) n);
            }
          g_assert_cmpmem (joined->data, joined->len, packet + HDR_LEN + s.end, payload);
          g_assert_cmpuint (stats (&f).tx_frames, ==, 1);
          fx_clear (&f);
        }
    }
}

/* UDP fragmentation offload: the datagram goes whole, lengths made right */
static void
test_tx_ufo (void)
{
  const struct ip_shape s = shape (false, false);
  const uint8_t *data;
  uint32_t len;
  g_autofree uint8_t *packet = make_ip_packet (&s, 30000, GSO_UDP, 1472, 0, &len);
  size_t n;
  struct fx f;

  /* Linux leaves a short UDP length and IP length in a UFO packet's headers */
  viv_put_be16 (packet + HDR_LEN + s.l4 + 4, 1480);
  fx_init (&f, NET_FEATURES | TX_OFFLOADS | BIT (F_HOST_UFO));
  tx_chain (&f, packet, len, NULL, 0);
  g_assert_cmpint (transmit (&f, 64), ==, 1);
  g_assert_cmpuint (f.sent->len, ==, 1);
  check_ip_frame (g_ptr_array_index (f.sent, 0), &s, packet + HDR_LEN, &data, &n);
  g_assert_cmpmem (data, n, packet + HDR_LEN + s.end, 30000);
  fx_clear (&f);
}

/* The backend full after some segments: the rest go next time, none twice */
static void
test_tx_tso_again (void)
{
  const struct ip_shape s = shape (false, true);
  uint32_t len;
  g_autofree uint8_t *packet = make_ip_packet (&s, 5500, GSO_TCPV4, 1000, TH_ACK, &len);
  g_autofree uint8_t *small = make_packet (other_mac, 100, 4);
  g_autoptr (GByteArray) joined = g_byte_array_new ();
  struct fx f;

  fx_init_backend (&f, false, 1514, NET_FEATURES | TX_OFFLOADS, true);
  tx_chain (&f, packet, len, NULL, 0);
  tx_chain (&f, small, HDR_LEN + 100, NULL, 0);
  f.refuse_call = 3;
  g_assert_cmpint (transmit (&f, 64), ==, -EAGAIN);
  g_assert_cmpuint (f.sent->len, ==, 2);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[Q_TX]), ==, 0);
  g_assert_cmpint (transmit (&f, 64), ==, 2);
  g_assert_cmpuint (f.sent->len, ==, 7);
  for (unsigned i = 0; i < 6; i++)
    {
      const uint8_t *data;
      size_t n;
      uint32_t seq = check_ip_frame (g_ptr_array_index (f.sent, i), &s, packet + HDR_LEN,
                                     &data, &n);

      g_assert_cmphex (seq, ==, SEQ0 + (uint32_t) joined->len);
      g_byte_array_append (joined, data, (guint) n);
    }
  g_assert_cmpmem (joined->data, joined->len, packet + HDR_LEN + s.end, 5500);
  expect_sent (&f, 6, small, 100);
  fx_clear (&f);
}

/* What the card cannot do is dropped, counted and said */
static void
test_tx_offload_refused (void)
{
  const struct ip_shape s4 = shape (false, true), s6 = shape (true, true);
  uint32_t len4, len6;
  g_autofree uint8_t *p4 = make_ip_packet (&s4, 3000, GSO_TCPV4, 200, TH_ACK, &len4);
  g_autofree uint8_t *p6 = make_ip_packet (&s6, 3000, GSO_TCPV6, 1000, TH_ACK, &len6);
  struct {
    uint64_t features;
    const uint8_t *packet;
    uint32_t len;
    unsigned at;                /* a byte of the packet changed (0: none) */
    uint8_t value;
    const char *log;
  } cases[] = {
    { NET_FEATURES | BIT (F_CSUM) | BIT (F_HOST_TSO6), p4, len4, 0, 0, "TCPv4 segmentation" },
    { NET_FEATURES | BIT (F_CSUM) | BIT (F_HOST_TSO4), p6, len6, 0, 0, "TCPv6 segmentation" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, 1, GSO_UDP, "UDP fragmentation" },
    { NET_FEATURES | (TX_OFFLOADS & ~BIT (F_HOST_ECN)), p4, len4, 1, GSO_TCPV4 | GSO_ECN, "ECN" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, 1, GSO_TCPV6, "IP version" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, 1, 2, "unknown gso_type" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, 0, 0xff, "without NEEDS_CSUM" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, 4, 0, "zero gso_size" },     /* 200 before */
    { NET_FEATURES | TX_OFFLOADS, p4, len4, 6, 20, "inside the IP header" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, HDR_LEN + 14 + 9, 17, "protocol" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, HDR_LEN + 12, 0x86, "other than IP" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, HDR_LEN + 14, 0x55, "bad IP header" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, HDR_LEN + 34 + 12, 0x30, "bad TCP header" },
    { NET_FEATURES | TX_OFFLOADS, p4, len4, 7, 1, "longer than 256" },
  };

  for (unsigned i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree uint8_t *p = g_memdup2 (cases[i].packet, cases[i].len);
      uint16_t head;
      struct fx f;

      if (cases[i].value == 0xff)
        p[0] = 0;                       /* flags */
      else if (cases[i].at != 0)
        p[cases[i].at] = cases[i].value;
      fx_init (&f, cases[i].features);
      head = tx_chain (&f, p, cases[i].len, NULL, 0);
      g_assert_cmpint (transmit (&f, 64), ==, 0);
      expect_used (&f.t.vq[Q_TX], head, 0);
      g_assert_cmpuint (f.send_calls, ==, 0);
      g_assert_cmpuint (stats (&f).tx_dropped, ==, 1);
      vmm_test_log_expect (f.log_fd, cases[i].log);
      fx_clear (&f);
    }
}

/* ---- receive ----------------------------------------------------------------------- */

/* N receive buffers of LEN bytes, one chain each, then a kick */
static void
give_rx (struct fx *f, unsigned n, uint32_t len)
{
  struct vmm_test_vq *vq = &f->t.vq[Q_RX];
  g_autofree uint8_t *fill = g_malloc (len);

  memset (fill, 0xee, len);
  for (unsigned i = 0; i < n; i++)
    {
      struct vmm_test_buf b = { vmm_test_vq_copy (vq, fill, len), len, true };
      uint16_t head = vmm_test_vq_add_bufs (vq, &b, 1);

      f->rx_gpa[head] = b.gpa;
      f->rx_len[head] = len;
    }
  f->rx_outstanding += n;
  vmm_test_virtio_kick (&f->t, Q_RX);
}

static uint8_t *
make_frame (const uint8_t *dst, size_t len, uint8_t seed)
{
  uint8_t *p = make_packet (dst, (uint32_t) len, seed);

  memmove (p, p + HDR_LEN, len);
  return p;
}

static int
receive (struct fx *f, const uint8_t *frame, size_t len)
{
  return f->card.receive (f->card.opaque, frame, len);
}

/* The frame the card put in the used buffers: checks the header (FLAGS,
 * num_buffers N) and the data, and each buffer's used length */
static void
expect_rx (struct fx *f, const uint8_t *frame, size_t len, uint8_t flags, unsigned n)
{
  struct vmm_test_vq *vq = &f->t.vq[Q_RX];
  g_autoptr (GByteArray) got = g_byte_array_new ();
  size_t left = HDR_LEN + len;

  for (unsigned i = 0; i < n; i++)
    {
      uint32_t id, used;
      const uint8_t *p;

      g_assert_true (vmm_test_vq_next_used (vq, &id, &used));
      g_assert_cmpuint (id, <, QUEUE_SIZE);
      g_assert_cmpuint (used, ==, MIN (left, f->rx_len[id]));
      p = vmm_test_ptr (&f->t.ram.mem, f->rx_gpa[id], used);
      if (i == 0)
        {
          g_assert_cmpuint (used, >=, HDR_LEN);
          g_assert_cmpuint (p[0], ==, flags);
          g_assert_cmpuint (p[1], ==, 0);                        /* GSO_NONE */
          g_assert_cmpuint (viv_get_le16 (p + 10), ==, n);       /* num_buffers */
        }
      g_byte_array_append (got, p, used);
      left -= used;
      f->rx_outstanding--;
    }
  g_assert_cmpuint (left, ==, 0);
  g_assert_cmpmem (got->data + HDR_LEN, got->len - HDR_LEN, frame, len);
}

static void
test_rx_one (void)
{
  g_autofree uint8_t *frame = make_frame (our_mac, 1000, 1);
  struct fx f;

  fx_init (&f, NET_FEATURES);
  give_rx (&f, 2, 2048);
  g_assert_cmpint (receive (&f, frame, 1000), ==, 0);
  expect_rx (&f, frame, 1000, 0, 1);
  /* the smallest and the largest frames */
  g_assert_cmpint (receive (&f, frame, VMM_NET_MIN_FRAME), ==, 0);
  expect_rx (&f, frame, VMM_NET_MIN_FRAME, 0, 1);
  g_assert_cmpuint (stats (&f).rx_frames, ==, 2);
  g_assert_cmpuint (stats (&f).rx_bytes, ==, 1000 + VMM_NET_MIN_FRAME);
  fx_clear (&f);

  /* GUEST_CSUM offered and taken: DATA_VALID */
  fx_init_full (&f, true, NET_FEATURES | BIT (F_GUEST_CSUM), true);
  give_rx (&f, 1, 2048);
  g_assert_cmpint (receive (&f, frame, 1000), ==, 0);
  expect_rx (&f, frame, 1000, HDR_F_DATA_VALID, 1);
  fx_clear (&f);

  /* offered, not taken: no flag */
  fx_init_full (&f, true, NET_FEATURES, true);
  give_rx (&f, 1, 2048);
  g_assert_cmpint (receive (&f, frame, 1000), ==, 0);
  expect_rx (&f, frame, 1000, 0, 1);
  fx_clear (&f);
}

/* Without MRG_RXBUF, one chain a frame, in as many pieces as the driver
 * likes (the header in one of its own, as older drivers do) */
static void
test_rx_big (void)
{
  g_autofree uint8_t *frame = make_frame (our_mac, MAX_FRAME, 2);
  const uint32_t lens[] = { HDR_LEN, 1000, MAX_FRAME - 1000 };
  struct vmm_test_vq *vq;
  struct vmm_test_buf b[3];
  g_autoptr (GByteArray) got = g_byte_array_new ();
  uint32_t id, used;

  struct fx f;

  fx_init (&f, NET_FEATURES & ~BIT (F_MRG_RXBUF));
  vq = &f.t.vq[Q_RX];
  for (unsigned i = 0; i < 3; i++)
    b[i] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, NULL, lens[i]), lens[i], true };
  vmm_test_vq_add_bufs (vq, b, 3);
  g_assert_cmpint (receive (&f, frame, MAX_FRAME), ==, 0);
  g_assert_true (vmm_test_vq_next_used (vq, &id, &used));
  g_assert_cmpuint (used, ==, HDR_LEN + MAX_FRAME);
  g_assert_cmpuint (viv_get_le16 (vmm_test_ptr (&f.t.ram.mem, b[0].gpa + 10, 2)), ==, 1);
  for (unsigned i = 1; i < 3; i++)
    g_byte_array_append (got, vmm_test_ptr (&f.t.ram.mem, b[i].gpa, lens[i]), lens[i]);
  g_assert_cmpmem (got->data, got->len, frame, MAX_FRAME);
  fx_clear (&f);
}

static void
test_rx_mergeable (void)
{
  g_autofree uint8_t *frame = make_frame (our_mac, 300, 3);
  g_autofree uint8_t *big = make_frame (our_mac, MAX_FRAME, 4);
  struct fx f;

  fx_init (&f, NET_FEATURES);
  /* 312 bytes in 64-byte buffers: 64 × 4 + 56 */
  give_rx (&f, 8, 64);
  g_assert_cmpint (receive (&f, frame, 300), ==, 0);
  expect_rx (&f, frame, 300, 0, 5);
  /* the three left take a 100-byte frame, the header in the first */
  g_assert_cmpint (receive (&f, frame, 100), ==, 0);
  expect_rx (&f, frame, 100, 0, 2);
  g_assert_cmpuint (f.rx_outstanding, ==, 1);
  g_assert_cmpint (receive (&f, frame, 40), ==, 0);
  expect_rx (&f, frame, 40, 0, 1);

  /* the largest frame in 4 KiB pages, as Linux gives them */
  give_rx (&f, 20, 4096);
  g_assert_cmpint (receive (&f, big, MAX_FRAME), ==, 0);
  expect_rx (&f, big, MAX_FRAME, 0, (HDR_LEN + MAX_FRAME + 4095) / 4096);
  g_assert_cmpuint (stats (&f).rx_frames, ==, 4);
  fx_clear (&f);
}

static void
test_rx_nobufs (void)
{
  g_autofree uint8_t *frame = make_frame (our_mac, 300, 5);
  unsigned before;
  struct fx f;

  fx_init (&f, NET_FEATURES);
  g_assert_cmpint (receive (&f, frame, 300), ==, -ENOBUFS);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[Q_RX]), ==, 0);

  /* not enough: the buffers taken go back */
  give_rx (&f, 2, 64);
  g_assert_cmpint (receive (&f, frame, 300), ==, -ENOBUFS);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[Q_RX]), ==, 0);
  g_assert_cmpuint (stats (&f).rx_dropped, ==, 0);
  g_assert_cmpuint (stats (&f).rx_frames, ==, 0);

  /* more buffers: rx_ready, and the frame goes in, the first two first */
  before = count (&f.rx_ready);
  give_rx (&f, 3, 64);
  g_assert_cmpuint (count (&f.rx_ready), >, before);
  g_assert_cmpint (receive (&f, frame, 300), ==, 0);
  expect_rx (&f, frame, 300, 0, 5);
  g_assert_cmpuint (stats (&f).rx_frames, ==, 1);
  fx_clear (&f);
}

static void
test_rx_dropped (void)
{
  g_autofree uint8_t *frame = make_frame (our_mac, MAX_FRAME + 1, 6);
  struct fx f;
  uint32_t id, len;

  /* without MRG_RXBUF a buffer too small drops the frame and comes back */
  fx_init (&f, NET_FEATURES & ~BIT (F_MRG_RXBUF));
  give_rx (&f, 1, 64);
  g_assert_cmpint (receive (&f, frame, 100), ==, 0);
  g_assert_true (vmm_test_vq_next_used (&f.t.vq[Q_RX], &id, &len));
  g_assert_cmpuint (len, ==, 0);
  g_assert_cmpuint (stats (&f).rx_dropped, ==, 1);
  vmm_test_log_expect (f.log_fd, "too small");

  /* too short, too long: dropped before a buffer is looked at */
  give_rx (&f, 1, 2048);
  g_assert_cmpint (receive (&f, frame, VMM_NET_MIN_FRAME - 1), ==, 0);
  g_assert_cmpint (receive (&f, frame, 0), ==, 0);
  g_assert_cmpint (receive (&f, frame, MAX_FRAME + 1), ==, 0);
  g_assert_false (vmm_test_vq_next_used (&f.t.vq[Q_RX], &id, &len));
  g_assert_cmpuint (stats (&f).rx_dropped, ==, 4);
  g_assert_cmpuint (stats (&f).rx_frames, ==, 0);
  g_assert_cmpint (receive (&f, frame, 60), ==, 0);
  expect_rx (&f, frame, 60, 0, 1);
  fx_clear (&f);

  /* before DRIVER_OK */
  fx_init_full (&f, false, NET_FEATURES, false);
  g_assert_cmpint (receive (&f, frame, 60), ==, 0);
  g_assert_cmpuint (stats (&f).rx_dropped, ==, 1);
  g_assert_cmpuint (vmm_test_virtio_negotiate (&f.t, NET_FEATURES) & VIRTIO_STATUS_FEATURES_OK,
                    !=, 0);
  g_assert_cmpint (receive (&f, frame, 60), ==, 0);
  g_assert_cmpuint (stats (&f).rx_dropped, ==, 2);
  fx_clear (&f);
}

/* ---- the control queue ------------------------------------------------------------- */

/* A command as CLASS, CODE and LEN bytes of DATA in a readable buffer of
 * their own, and the ack byte; returns the ack */
static uint8_t
ctrl (struct fx *f, uint8_t class, uint8_t code, const void *data, uint32_t len)
{
  struct vmm_test_vq *vq = &f->t.vq[Q_CTRL];
  const uint8_t cmd[2] = { class, code };
  const uint8_t fill = 0xee;
  struct vmm_test_buf b[3];
  unsigned n = 0;
  uint32_t id, used;
  uint16_t head;

  b[n++] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, cmd, 2), 2, false };
  if (len > 0)
    b[n++] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, data, len), len, false };
  b[n++] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, &fill, 1), 1, true };
  head = vmm_test_vq_add_bufs (vq, b, n);
  vmm_test_virtio_kick (&f->t, Q_CTRL);
  g_assert_true (vmm_test_vq_next_used (vq, &id, &used));
  g_assert_cmpuint (id, ==, head);
  g_assert_cmpuint (used, ==, 1);
  return *(uint8_t *) vmm_test_ptr (&f->t.ram.mem, b[n - 1].gpa, 1);
}

static uint8_t
ctrl_rx (struct fx *f, uint8_t code, bool on)
{
  uint8_t v = on;

  return ctrl (f, CLASS_RX, code, &v, 1);
}

/* A MAC_TABLE_SET command body: N_UC unicast entries, N_MC multicast
 * entries (the same address each), the counts as given */
static GByteArray *
mac_tables (uint32_t n_uc, const uint8_t *uc, uint32_t n_mc, const uint8_t *mc)
{
  GByteArray *b = g_byte_array_new ();
  uint8_t le[4];

  viv_put_le32 (le, n_uc);
  g_byte_array_append (b, le, 4);
  for (uint32_t i = 0; i < n_uc; i++)
    g_byte_array_append (b, uc, 6);
  viv_put_le32 (le, n_mc);
  g_byte_array_append (b, le, 4);
  for (uint32_t i = 0; i < n_mc; i++)
    g_byte_array_append (b, mc, 6);
  return b;
}

static uint8_t
ctrl_tables (struct fx *f, uint32_t n_uc, const uint8_t *uc, uint32_t n_mc, const uint8_t *mc)
{
  g_autoptr (GByteArray) b = mac_tables (n_uc, uc, n_mc, mc);

  return ctrl (f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len);
}

static void
test_ctrl_commands (void)
{
  const uint8_t two[2] = { 1, 1 };
  const uint8_t new_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
  struct fx f;

  fx_init (&f, NET_FEATURES);
  /* each RX command, on and off */
  for (uint8_t code = RX_PROMISC; code <= RX_NOBCAST; code++)
    {
      g_assert_cmpuint (ctrl_rx (&f, code, true), ==, CTRL_OK);
      g_assert_cmpuint (ctrl_rx (&f, code, false), ==, CTRL_OK);
    }
  g_assert_cmpuint (ctrl_rx (&f, RX_NOBCAST + 1, true), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_RX, RX_PROMISC, NULL, 0), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_RX, RX_PROMISC, two, 2), ==, CTRL_ERR);

  /* classes not known, or not ours (VLAN, MQ, offloads) */
  g_assert_cmpuint (ctrl (&f, 2, 0, two, 2), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, 4, 0, two, 2), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, 5, 0, two, 2), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, 0xff, 0, NULL, 0), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, 2, new_mac, 6), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_ANNOUNCE, 1, NULL, 0), ==, CTRL_ERR);

  /* MAC tables: right, then counts that do not match the bytes */
  g_assert_cmpuint (ctrl_tables (&f, 0, NULL, 0, NULL), ==, CTRL_OK);
  g_assert_cmpuint (ctrl_tables (&f, 2, other_mac, 3, mcast_mac), ==, CTRL_OK);
  {
    g_autoptr (GByteArray) b = mac_tables (2, other_mac, 3, mcast_mac);
    uint8_t zero[7] = { 0 };

    /* a byte short, a byte over, no multicast table */
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len - 1), ==, CTRL_ERR);
    g_byte_array_append (b, zero, 1);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len), ==, CTRL_ERR);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, 4 + 12), ==, CTRL_ERR);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, NULL, 0), ==, CTRL_ERR);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, zero, 3), ==, CTRL_ERR);
    /* counts past the buffer, and ones whose bytes would wrap */
    viv_put_le32 (b->data, 3);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len - 1), ==, CTRL_ERR);
    viv_put_le32 (b->data, 0xffffffff);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len - 1), ==, CTRL_ERR);
    viv_put_le32 (b->data, 0x2aaaaaab);       /* × 6 wraps to 2 in 32 bits */
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len - 1), ==, CTRL_ERR);
    viv_put_le32 (b->data, 2);
    viv_put_le32 (b->data + 16, 0xffffffff);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len - 1), ==, CTRL_ERR);
  }

  /* the MAC address: a unicast one, six bytes exactly */
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_ADDR_SET, mcast_mac, 6), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_ADDR_SET, new_mac, 5), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_ADDR_SET, two, 2), ==, CTRL_ERR);
  assert_config_mac (&f, our_mac);
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_ADDR_SET, new_mac, 6), ==, CTRL_OK);
  assert_config_mac (&f, new_mac);
  vmm_test_log_expect (f.log_fd, "refused");
  fx_clear (&f);
}

/* Chains the card cannot take a command from: answered with an error, or
 * returned empty when there is nowhere to answer */
static void
test_ctrl_malformed (void)
{
  struct vmm_test_vq *vq;
  g_autofree uint8_t *huge = g_malloc0 (4096);
  const uint8_t one = CLASS_RX;
  const uint8_t promisc_on[3] = { CLASS_RX, RX_PROMISC, 1 };
  struct vmm_test_buf b[2];
  uint32_t id, used;
  uint16_t head;
  struct fx f;

  fx_init (&f, NET_FEATURES);
  vq = &f.t.vq[Q_CTRL];

  /* no ack byte */
  b[0] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, promisc_on, 3), 3, false };
  head = vmm_test_vq_add_bufs (vq, b, 1);
  vmm_test_virtio_kick (&f.t, Q_CTRL);
  g_assert_true (vmm_test_vq_next_used (vq, &id, &used));
  g_assert_cmpuint (id, ==, head);
  g_assert_cmpuint (used, ==, 0);

  /* one byte of command, then one far too long */
  g_assert_cmpuint (ctrl (&f, CLASS_RX, 0, NULL, 0), ==, CTRL_ERR);
  b[0] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, &one, 1), 1, false };
  b[1] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, NULL, 1), 1, true };
  head = vmm_test_vq_add_bufs (vq, b, 2);
  vmm_test_virtio_kick (&f.t, Q_CTRL);
  g_assert_true (vmm_test_vq_next_used (vq, &id, &used));
  g_assert_cmpuint (used, ==, 1);
  g_assert_cmpuint (*(uint8_t *) vmm_test_ptr (&f.t.ram.mem, b[1].gpa, 1), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_RX, RX_PROMISC, huge, 4096), ==, CTRL_ERR);

  /* the queue still works */
  g_assert_cmpuint (ctrl_rx (&f, RX_PROMISC, true), ==, CTRL_OK);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, ==, 0);
  fx_clear (&f);
}

/* Commands whose feature the driver did not take are refused */
static void
test_ctrl_features (void)
{
  const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
  struct fx f;

  fx_init (&f, BIT (F_MAC) | BIT (F_STATUS) | BIT (F_CTRL_VQ));
  g_assert_cmpuint (ctrl_rx (&f, RX_PROMISC, true), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl_tables (&f, 0, NULL, 0, NULL), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_ADDR_SET, mac, 6), ==, CTRL_ERR);
  g_assert_cmpuint (ctrl (&f, CLASS_ANNOUNCE, ANNOUNCE_ACK, NULL, 0), ==, CTRL_ERR);
  assert_config_mac (&f, our_mac);
  /* no announcement without GUEST_ANNOUNCE */
  vmm_virtio_net_announce (f.net);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP);
  fx_clear (&f);
}

static void
test_ctrl_announce (void)
{
  const uint8_t zero = 0;
  struct fx f;

  /* not before DRIVER_OK */
  fx_init_full (&f, false, NET_FEATURES, false);
  vmm_virtio_net_announce (f.net);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP);
  fx_clear (&f);

  fx_init (&f, NET_FEATURES);
  (void) vmm_test_virtio_isr (&f.t);
  vmm_virtio_net_announce (f.net);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP | S_ANNOUNCE);
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 2, ==, 2);
  g_assert_cmpuint (ctrl (&f, CLASS_ANNOUNCE, ANNOUNCE_ACK, &zero, 1), ==, CTRL_ERR);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP | S_ANNOUNCE);
  g_assert_cmpuint (ctrl (&f, CLASS_ANNOUNCE, ANNOUNCE_ACK, NULL, 0), ==, CTRL_OK);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP);

  /* a reset forgets one not acked */
  vmm_virtio_net_announce (f.net);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP | S_ANNOUNCE);
  vmm_test_virtio_write (&f.t, CC_STATUS, 1, 0);
  g_assert_cmpuint (config_status (&f), ==, S_LINK_UP);
  fx_clear (&f);
}

/* A reset brings back the MAC address the card was made with, and the
 * default filters */
static void
test_ctrl_reset (void)
{
  const uint8_t new_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
  struct fx f;

  fx_init (&f, NET_FEATURES);
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_ADDR_SET, new_mac, 6), ==, CTRL_OK);
  assert_config_mac (&f, new_mac);
  g_assert_cmpuint (vmm_test_virtio_setup (&f.t, NET_FEATURES, N_QUEUES, QUEUE_SIZE) &
                    VIRTIO_STATUS_DRIVER_OK, !=, 0);
  assert_config_mac (&f, our_mac);
  fx_clear (&f);
}

/* ---- receive filters --------------------------------------------------------------- */

/* Whether a frame to DST reaches the guest */
static bool
accepts (struct fx *f, const uint8_t *dst)
{
  g_autofree uint8_t *frame = make_frame (dst, 64, 7);
  uint64_t filtered = stats (f).rx_filtered;
  uint32_t id, len;

  if (f->rx_outstanding == 0)
    give_rx (f, 4, 2048);
  g_assert_cmpint (receive (f, frame, 64), ==, 0);
  if (vmm_test_vq_next_used (&f->t.vq[Q_RX], &id, &len))
    {
      g_assert_cmpuint (len, ==, HDR_LEN + 64);
      g_assert_cmpuint (stats (f).rx_filtered, ==, filtered);
      f->rx_outstanding--;
      return true;
    }
  g_assert_cmpuint (stats (f).rx_filtered, ==, filtered + 1);
  return false;
}

static void
test_filters (void)
{
  const uint8_t new_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
  struct fx f;

  fx_init (&f, NET_FEATURES);
  /* the defaults: ours, broadcast and multicast */
  g_assert_true (accepts (&f, our_mac));
  g_assert_false (accepts (&f, other_mac));
  g_assert_true (accepts (&f, bcast_mac));
  g_assert_true (accepts (&f, mcast_mac));

  /* unicast to another: promiscuous, ALLUNI, the table */
  g_assert_cmpuint (ctrl_rx (&f, RX_PROMISC, true), ==, CTRL_OK);
  g_assert_true (accepts (&f, other_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_PROMISC, false), ==, CTRL_OK);
  g_assert_false (accepts (&f, other_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_ALLUNI, true), ==, CTRL_OK);
  g_assert_true (accepts (&f, other_mac));
  g_assert_true (accepts (&f, third_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_ALLUNI, false), ==, CTRL_OK);
  g_assert_cmpuint (ctrl_tables (&f, 1, other_mac, 0, NULL), ==, CTRL_OK);
  g_assert_true (accepts (&f, other_mac));
  g_assert_false (accepts (&f, third_mac));
  g_assert_true (accepts (&f, our_mac));

  /* broadcast: NOBCAST, unless promiscuous */
  g_assert_cmpuint (ctrl_rx (&f, RX_NOBCAST, true), ==, CTRL_OK);
  g_assert_false (accepts (&f, bcast_mac));
  g_assert_true (accepts (&f, mcast_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_PROMISC, true), ==, CTRL_OK);
  g_assert_true (accepts (&f, bcast_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_PROMISC, false), ==, CTRL_OK);
  g_assert_cmpuint (ctrl_rx (&f, RX_NOBCAST, false), ==, CTRL_OK);
  g_assert_true (accepts (&f, bcast_mac));

  /* multicast: the table, ALLMULTI, NOMULTI */
  g_assert_cmpuint (ctrl_tables (&f, 0, NULL, 1, mcast_mac), ==, CTRL_OK);
  g_assert_true (accepts (&f, mcast_mac));
  g_assert_false (accepts (&f, mcast2_mac));
  g_assert_false (accepts (&f, other_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_ALLMULTI, true), ==, CTRL_OK);
  g_assert_true (accepts (&f, mcast2_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_NOMULTI, true), ==, CTRL_OK);
  g_assert_false (accepts (&f, mcast_mac));
  g_assert_false (accepts (&f, mcast2_mac));
  g_assert_true (accepts (&f, bcast_mac));
  g_assert_cmpuint (ctrl_rx (&f, RX_NOMULTI, false), ==, CTRL_OK);
  g_assert_cmpuint (ctrl_rx (&f, RX_ALLMULTI, false), ==, CTRL_OK);
  g_assert_false (accepts (&f, mcast2_mac));

  /* tables longer than a command the card copies: read where they are */
  {
    g_autoptr (GByteArray) b = mac_tables (60, other_mac, 10, mcast_mac);

    memcpy (b->data + 4 + 59 * 6, third_mac, 6);
    memcpy (b->data + b->len - 6, mcast2_mac, 6);
    g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_TABLE_SET, b->data, b->len), ==, CTRL_OK);
    g_assert_true (accepts (&f, third_mac));
    g_assert_true (accepts (&f, other_mac));
    g_assert_true (accepts (&f, mcast2_mac));
    g_assert_false (accepts (&f, (const uint8_t[6]) { 0x02, 0, 0, 0, 0, 9 }));
    g_assert_false (accepts (&f, (const uint8_t[6]) { 0x01, 0, 0x5e, 0, 0, 9 }));
  }

  /* a table longer than the card keeps takes every frame of its kind
   * (Linux sends all its addresses, however many) */
  g_assert_cmpuint (ctrl_tables (&f, 65, other_mac, 0, NULL), ==, CTRL_OK);
  g_assert_true (accepts (&f, third_mac));
  g_assert_cmpuint (ctrl_tables (&f, 1, other_mac, 1000, mcast_mac), ==, CTRL_OK);
  g_assert_true (accepts (&f, mcast2_mac));
  g_assert_false (accepts (&f, third_mac));

  /* a new address: frames to it, not to the old one */
  g_assert_cmpuint (ctrl_tables (&f, 0, NULL, 0, NULL), ==, CTRL_OK);
  g_assert_cmpuint (ctrl (&f, CLASS_MAC, MAC_ADDR_SET, new_mac, 6), ==, CTRL_OK);
  g_assert_true (accepts (&f, new_mac));
  g_assert_false (accepts (&f, our_mac));

  /* a reset: the defaults again */
  g_assert_cmpuint (ctrl_rx (&f, RX_NOBCAST, true), ==, CTRL_OK);
  g_assert_cmpuint (vmm_test_virtio_setup (&f.t, NET_FEATURES, N_QUEUES, QUEUE_SIZE) &
                    VIRTIO_STATUS_DRIVER_OK, !=, 0);
  f.rx_outstanding = 0;
  g_assert_true (accepts (&f, bcast_mac));
  g_assert_true (accepts (&f, our_mac));
  fx_clear (&f);
}

/* ---- snapshots --------------------------------------------------------------------- */

static bool
rx_ready_heard (void *data)
{
  struct fx *f = data;

  return count (&f->rx_ready) > 0 && count (&f->tx_ready) > 0;
}

/* What the card does with the next frame and the next transmit chain */
struct outcome {
  uint32_t rx_id, rx_len;
  uint16_t rx_used_idx, tx_used_idx;
  uint8_t isr;
};

static void
next_frames (struct fx *f, const uint8_t *frame, const uint8_t *packet, struct outcome *o)
{
  uint16_t head;

  (void) vmm_test_virtio_isr (&f->t);
  g_assert_cmpint (receive (f, frame, 100), ==, 0);
  g_assert_true (vmm_test_vq_next_used (&f->t.vq[Q_RX], &o->rx_id, &o->rx_len));
  o->rx_used_idx = vmm_test_vq_used_idx (&f->t.vq[Q_RX]);
  o->isr = vmm_test_virtio_isr (&f->t);
  head = tx_chain (f, packet, HDR_LEN + 64, NULL, 0);
  vmm_test_virtio_kick (&f->t, Q_TX);
  g_assert_cmpint (transmit (f, 64), ==, 1);
  expect_used (&f->t.vq[Q_TX], head, 0);
  o->tx_used_idx = vmm_test_vq_used_idx (&f->t.vq[Q_TX]);
}

/* A card whose driver set a MAC, filters and tables, with an announcement
 * not acked, frames received and sent, is saved; restored over a copy of
 * the guest's memory, it shows the driver the same and takes the next
 * frames into the next ring slots */
static void
test_state (void)
{
  const uint8_t new_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
  g_autofree uint8_t *frame = make_frame (new_mac, 100, 5);
  g_autofree uint8_t *packet = make_packet (other_mac, 64, 9);
  g_autoptr (GBytes) file = NULL;
  struct outcome want, got;
  struct fx a, b;
  uint16_t head;

  fx_init (&a, NET_FEATURES);
  g_assert_cmpuint (ctrl (&a, CLASS_MAC, MAC_ADDR_SET, new_mac, 6), ==, CTRL_OK);
  g_assert_cmpuint (ctrl_rx (&a, RX_NOBCAST, true), ==, CTRL_OK);
  g_assert_cmpuint (ctrl_rx (&a, RX_ALLMULTI, true), ==, CTRL_OK);
  g_assert_cmpuint (ctrl_tables (&a, 1, other_mac, 2, mcast_mac), ==, CTRL_OK);
  vmm_virtio_net_announce (a.net);
  give_rx (&a, 4, 2048);
  for (unsigned i = 0; i < 2; i++)
    {
      g_assert_cmpint (receive (&a, frame, 100), ==, 0);
      expect_rx (&a, frame, 100, 0, 1);
    }
  head = tx_chain (&a, packet, HDR_LEN + 64, NULL, 0);
  vmm_test_virtio_kick (&a.t, Q_TX);
  g_assert_cmpint (transmit (&a, 64), ==, 1);
  expect_used (&a.t.vq[Q_TX], head, 0);
  file = vmm_test_virtio_save (a.dev, "virtio-net.0");

  /* the new card, its memory as saved */
  fx_init_full (&b, false, 0, false);
  vmm_test_virtio_copy_guest (&b.t, &a.t);
  memcpy (b.rx_gpa, a.rx_gpa, sizeof b.rx_gpa);
  memcpy (b.rx_len, a.rx_len, sizeof b.rx_len);
  b.rx_outstanding = a.rx_outstanding;

  next_frames (&a, frame, packet, &want);
  g_assert_cmpuint (want.rx_used_idx, ==, 3);
  g_assert_cmpuint (want.tx_used_idx, ==, 2);
  g_assert_cmpuint (want.isr & 1, ==, 1);
  fx_clear (&a);

  vmm_test_virtio_load (b.dev, file, "virtio-net.0");
  /* the backend hears that both ways may go on */
  g_assert_true (vmm_test_wait_until (rx_ready_heard, &b, 10000));
  assert_config_mac (&b, new_mac);
  g_assert_cmpuint (config_status (&b), ==, S_LINK_UP | S_ANNOUNCE);
  next_frames (&b, frame, packet, &got);
  g_assert_cmpuint (got.rx_id, ==, want.rx_id);
  g_assert_cmpuint (got.rx_len, ==, want.rx_len);
  g_assert_cmpuint (got.rx_used_idx, ==, want.rx_used_idx);
  g_assert_cmpuint (got.tx_used_idx, ==, want.tx_used_idx);
  g_assert_cmpuint (got.isr, ==, want.isr);
  b.rx_outstanding--;
  expect_sent (&b, 0, packet, 64);
  /* the filters came back: broadcast refused, the tables' unicast taken */
  g_assert_false (accepts (&b, bcast_mac));
  g_assert_true (accepts (&b, other_mac));
  g_assert_false (accepts (&b, third_mac));
  g_assert_true (accepts (&b, mcast2_mac));
  g_assert_cmpuint (ctrl (&b, CLASS_ANNOUNCE, ANNOUNCE_ACK, NULL, 0), ==, CTRL_OK);
  g_assert_cmpuint (config_status (&b), ==, S_LINK_UP);

  /* refused: cut short, a multicast MAC for the card's, a newer layout */
  g_clear_pointer (&file, g_bytes_unref);
  file = vmm_test_virtio_save (b.dev, "virtio-net.0");
  vmm_test_virtio_refusals (b.dev, file, "virtio-net.0", "virtio-net.0.device", 0, 0x03);
  fx_clear (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/virtio-net/features", test_features);
  g_test_add_func ("/virtio-net/config", test_config);
  g_test_add_func ("/virtio-net/tx/split", test_tx_split);
  g_test_add_func ("/virtio-net/tx/kick", test_tx_kick);
  g_test_add_func ("/virtio-net/tx/malformed", test_tx_malformed);
  g_test_add_func ("/virtio-net/tx/pieces", test_tx_pieces);
  g_test_add_func ("/virtio-net/tx/again", test_tx_again);
  g_test_add_func ("/virtio-net/tx/reset", test_tx_reset);
  g_test_add_func ("/virtio-net/tx/csum", test_tx_csum);
  g_test_add_func ("/virtio-net/tx/tso", test_tx_tso);
  g_test_add_func ("/virtio-net/tx/ufo", test_tx_ufo);
  g_test_add_func ("/virtio-net/tx/tso-again", test_tx_tso_again);
  g_test_add_func ("/virtio-net/tx/offload-refused", test_tx_offload_refused);
  g_test_add_func ("/virtio-net/rx/one", test_rx_one);
  g_test_add_func ("/virtio-net/rx/big", test_rx_big);
  g_test_add_func ("/virtio-net/rx/mergeable", test_rx_mergeable);
  g_test_add_func ("/virtio-net/rx/nobufs", test_rx_nobufs);
  g_test_add_func ("/virtio-net/rx/dropped", test_rx_dropped);
  g_test_add_func ("/virtio-net/ctrl/commands", test_ctrl_commands);
  g_test_add_func ("/virtio-net/ctrl/malformed", test_ctrl_malformed);
  g_test_add_func ("/virtio-net/ctrl/features", test_ctrl_features);
  g_test_add_func ("/virtio-net/ctrl/announce", test_ctrl_announce);
  g_test_add_func ("/virtio-net/ctrl/reset", test_ctrl_reset);
  g_test_add_func ("/virtio-net/filters", test_filters);
  g_test_add_func ("/virtio-net/state", test_state);
  return g_test_run ();
}
