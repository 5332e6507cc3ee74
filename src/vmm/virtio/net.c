/* virtio/net.c: the network card
 *
 * Queues: 0 receive, 1 transmit, 2 control. The transport calls
 * queue_notify on the VM's loop thread; for the data queues that only
 * wakes the backend, which takes the guest's frames (transmit) and gives
 * it frames (receive) from its own thread. Everything that touches the
 * queues holds dev->lock; the backend's send function is called without
 * it, since a backend may answer a frame at once (libslirp replies to an
 * ARP request inside slirp_input), and a reset meanwhile is noticed by its
 * generation number.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>

#include "viv-bytes.h"
#include "virtio/net-offload.h"

#define VIRTIO_ID_NET              1
#define PCI_CLASS_ETHERNET         0x020000
#define NET_QUEUE_SIZE             256

#define RX_QUEUE                   0
#define TX_QUEUE                   1
#define CTRL_QUEUE                 2

/* Feature bits (5.1.3) */
#define VIRTIO_NET_F_CSUM          0
#define VIRTIO_NET_F_GUEST_CSUM    1
#define VIRTIO_NET_F_MAC           5
#define VIRTIO_NET_F_HOST_TSO4     11
#define VIRTIO_NET_F_HOST_TSO6     12
#define VIRTIO_NET_F_HOST_ECN      13
#define VIRTIO_NET_F_HOST_UFO      14
#define VIRTIO_NET_F_MRG_RXBUF     15
#define VIRTIO_NET_F_STATUS        16
#define VIRTIO_NET_F_CTRL_VQ       17
#define VIRTIO_NET_F_CTRL_RX       18
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

#define VIRTIO_NET_S_LINK_UP       1
#define VIRTIO_NET_S_ANNOUNCE      2

/* struct virtio_net_hdr with num_buffers: 12 bytes for VERSION_1 */
#define NET_HDR_LEN                12
#define NET_HDR_F_DATA_VALID       2
#define NET_HDR_GSO_NONE           0

/* The configuration space: mac, status, max_virtqueue_pairs, mtu */
#define CONFIG_SIZE                12

/* Control commands (5.1.6.5) */
#define CTRL_OK                    0
#define CTRL_ERR                   1
#define CTRL_RX                    0
#define CTRL_RX_PROMISC            0
#define CTRL_RX_ALLMULTI           1
#define CTRL_RX_ALLUNI             2
#define CTRL_RX_NOMULTI            3
#define CTRL_RX_NOUNI              4
#define CTRL_RX_NOBCAST            5
#define CTRL_MAC                   1
#define CTRL_MAC_TABLE_SET         0
#define CTRL_MAC_ADDR_SET          1
#define CTRL_ANNOUNCE              3
#define CTRL_ANNOUNCE_ACK          0
/* The longest command copied whole (MAC_ADDR_SET: 8 bytes); MAC tables,
 * of any length, are read from the chain (read_mac_table) */
#define CTRL_MAX_COMMAND           64

/* Entries of each MAC table kept; a longer table makes the card take
 * every frame of that kind, as QEMU does past its 64 */
#define MAC_TABLE_MAX              64

struct mac_table {
  unsigned n;
  bool overflow;
  uint8_t mac[MAC_TABLE_MAX][6];
};

struct vmm_virtio_net {
  struct vmm_virtio_dev dev;
  struct vmm_virtio_net_config config;  /* config.mac: the one the card was made with */
  uint8_t mac[6];               /* the driver's (CTRL_MAC_ADDR_SET), until a reset */
  uint16_t status;
  int tx_kick_fd, rx_kick_fd;   /* the data queues' kicks, with config.backend_kicks; else -1 */
  uint64_t generation;          /* + 1 at every reset: a frame sent across one is not pushed */
  unsigned tx_next_piece;       /* of the first frame queued, when the backend took only some */
  /* A snapshot: the backend's calls take and give nothing while frozen;
   * tx_busy counts transmits sending without the lock (tx_idle: none) */
  bool frozen;
  unsigned tx_busy;
  pthread_cond_t tx_idle;

  /* Receive filters (CTRL_RX, CTRL_MAC); the defaults take every frame
   * for our MAC, broadcast and multicast */
  bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
  struct mac_table uc, mc;

  struct vmm_virtio_net_stats stats;
  uint8_t ctrl_buf[CTRL_MAX_COMMAND];
};

static bool
queue_running (struct vmm_virtio_net *net, unsigned q)
{
  const struct vmm_virtio_dev *dev = &net->dev;

  return (dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) &&
         dev->queues[q].enabled && dev->queues[q].vq.started && !dev->queues[q].vq.broken;
}

/* ---- configuration ------------------------------------------------------------- */

static void
net_config_read (struct vmm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
  struct vmm_virtio_net *net = dev->priv;
  uint8_t config[CONFIG_SIZE] = { 0 };

  memcpy (config, net->mac, 6);
  viv_put_le16 (config + 6, net->status);
  viv_put_le16 (config + 8, 1);                 /* max_virtqueue_pairs */
  viv_put_le16 (config + 10, 1500);             /* mtu (without VIRTIO_NET_F_MTU: advice) */
  memcpy (data, config + offset, len);
}

/* The MAC is the driver's to set only through the control queue (5.1.4.2) */
static void
net_config_write (struct vmm_virtio_dev *dev, uint32_t offset, const void *data, uint32_t len)
{
  (void) offset;
  (void) data;
  (void) len;
  vmm_log_guest (&dev->rl, "virtio-net: configuration space write ignored");
}

static void
reset_filters (struct vmm_virtio_net *net)
{
  net->promisc = net->allmulti = net->alluni = false;
  net->nomulti = net->nouni = net->nobcast = false;
  memset (&net->uc, 0, sizeof net->uc);
  memset (&net->mc, 0, sizeof net->mc);
}

static void
net_reset (struct vmm_virtio_dev *dev)
{
  struct vmm_virtio_net *net = dev->priv;

  net->generation++;
  net->tx_next_piece = 0;
  net->status &= (uint16_t) ~VIRTIO_NET_S_ANNOUNCE;
  /* the next driver (another OS, after a reboot) finds the card's own MAC */
  memcpy (net->mac, net->config.mac, 6);
  reset_filters (net);
}

static int
net_activate (struct vmm_virtio_dev *dev)
{
  struct vmm_virtio_net *net = dev->priv;

  /* both ways may have waited for the driver */
  net->config.rx_ready (net->config.opaque);
  net->config.tx_ready (net->config.opaque);
  return 0;
}

/* ---- transmit ------------------------------------------------------------------ */

/* The frame in CHAIN's readable part after the header, as at most MAX
 * iovecs; returns how many, 0 when it needs more */
static unsigned
frame_iov (const struct virtq_chain *chain, struct iovec *iov, unsigned max)
{
  uint64_t skip = NET_HDR_LEN;
  unsigned n = 0;

  for (unsigned i = 0; i < chain->n_out; i++)
    {
      const struct virtq_iov *seg = &chain->iov[i];
      uint64_t len = seg->len;

      if (skip >= len)
        {
          skip -= len;
          continue;
        }
      if (n == max)
        return 0;
      iov[n].iov_base = (uint8_t *) seg->base + skip;
      iov[n].iov_len = (size_t) (len - skip);
      skip = 0;
      n++;
    }
  return n;
}

/* Reads the header of the frame in CHAIN into HDR; NULL when the card can
 * do what it asks, else why not: only what was negotiated is done
 * (5.1.6.2.1) */
static const char *
tx_offload_refused (struct vmm_virtio_net *net, const struct virtq_chain *chain,
                    struct vmm_net_tx_header *hdr)
{
  const struct vmm_virtio_dev *dev = &net->dev;
  uint8_t raw[NET_HDR_LEN];
  unsigned gso;

  virtq_chain_read (chain, 0, raw, NET_HDR_LEN);
  vmm_net_tx_header_parse (hdr, raw);
  if (!vmm_virtio_has_feature (dev, VIRTIO_NET_F_CSUM))
    {
      /* without CSUM the header's fields mean nothing */
      hdr->flags = 0;
      hdr->gso_type = VMM_NET_GSO_NONE;
      return NULL;
    }
  gso = hdr->gso_type & (unsigned) ~VMM_NET_GSO_ECN;
  if ((hdr->gso_type & VMM_NET_GSO_ECN) && !vmm_virtio_has_feature (dev, VIRTIO_NET_F_HOST_ECN))
    return "ECN segmentation offload not negotiated";
  switch (gso)
    {
    case VMM_NET_GSO_NONE:
      return NULL;
    case VMM_NET_GSO_TCPV4:
      return vmm_virtio_has_feature (dev, VIRTIO_NET_F_HOST_TSO4) ? NULL
             : "TCPv4 segmentation offload not negotiated";
    case VMM_NET_GSO_TCPV6:
      return vmm_virtio_has_feature (dev, VIRTIO_NET_F_HOST_TSO6) ? NULL
             : "TCPv6 segmentation offload not negotiated";
    case VMM_NET_GSO_UDP:
      return vmm_virtio_has_feature (dev, VIRTIO_NET_F_HOST_UFO) ? NULL
             : "UDP fragmentation offload not negotiated";
    default:
      return "an unknown gso_type";
    }
}

/* A frame the card will not send: said, counted, given back */
static void
tx_drop (struct vmm_virtio_net *net, uint16_t head, uint64_t len, const char *why)
{
  vmm_log_guest (&net->dev.rl, "virtio-net: a %llu-byte frame to send dropped (%s)",
                 (unsigned long long) len, why);
  net->stats.tx_dropped++;
  virtq_push (&net->dev.queues[TX_QUEUE].vq, head, 0);
}

static int
card_transmit (void *opaque, vmm_net_send_fn send, void *send_data, unsigned budget)
{
  struct vmm_virtio_net *net = opaque;
  struct vmm_virtio_dev *dev = &net->dev;
  struct virtq *vq = &dev->queues[TX_QUEUE].vq;
  struct virtq_chain chain;
  struct iovec iov[64];
  bool pushed = false;
  int sent = 0, ret = 0;

  pthread_mutex_lock (&dev->lock);
  while (!net->frozen && queue_running (net, TX_QUEUE)
         && (ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      uint64_t generation = net->generation;
      uint64_t len = chain.out_len > NET_HDR_LEN ? chain.out_len - NET_HDR_LEN : 0;
      struct vmm_net_tx_header hdr;
      const char *why = NULL;
      unsigned n_iov, next;
      int r;

      if (len > VMM_NET_MAX_FRAME)
        why = "too long";
      else if (len < VMM_NET_MIN_FRAME)
        why = "too short";
      else if ((n_iov = frame_iov (&chain, iov, G_N_ELEMENTS (iov))) == 0)
        why = "in too many pieces";
      else
        why = tx_offload_refused (net, &chain, &hdr);
      if (why != NULL)
        {
          tx_drop (net, chain.head, len, why);
          pushed = true;
          continue;
        }

      /* Without the lock: the backend may hand the guest a frame at once */
      next = net->tx_next_piece;
      net->tx_busy++;
      pthread_mutex_unlock (&dev->lock);
      if (hdr.flags & VMM_NET_HDR_F_NEEDS_CSUM || hdr.gso_type != VMM_NET_GSO_NONE)
        r = vmm_net_tx_offload (&hdr, iov, n_iov, (size_t) len, net->config.backend_max_frame,
                                &next, send, send_data, &why);
      else
        r = send (send_data, iov, n_iov, (size_t) len);
      pthread_mutex_lock (&dev->lock);
      if (--net->tx_busy == 0)
        pthread_cond_broadcast (&net->tx_idle);
      if (net->generation != generation)
        break;                  /* reset meanwhile: the chain is gone */
      net->tx_next_piece = next;
      if (r == -EAGAIN)
        {
          virtq_unpop (vq);
          ret = -EAGAIN;
          break;
        }
      if (r == -EINVAL)
        {
          tx_drop (net, chain.head, len, why);
          pushed = true;
          continue;
        }
      net->stats.tx_frames++;
      net->stats.tx_bytes += len;
      virtq_push (vq, chain.head, 0);
      pushed = true;
      sent++;
    }
  if (ret == -EIO)
    vmm_virtio_set_queue_broken (dev, TX_QUEUE);
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, TX_QUEUE);
  pthread_mutex_unlock (&dev->lock);
  return ret == -EAGAIN ? -EAGAIN : sent;
}

/* ---- receive ------------------------------------------------------------------- */

static bool
mac_in (const struct mac_table *t, const uint8_t *mac)
{
  for (unsigned i = 0; i < t->n; i++)
    if (memcmp (t->mac[i], mac, 6) == 0)
      return true;
  return false;
}

/* What the receive filters let through, by destination (5.1.6.5.1-2) */
static bool
filter_accepts (const struct vmm_virtio_net *net, const uint8_t *dst)
{
  static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

  if (net->promisc)
    return true;
  if (memcmp (dst, bcast, 6) == 0)
    return !net->nobcast;
  if (dst[0] & 1)
    return !net->nomulti && (net->allmulti || net->mc.overflow || net->mc.n == 0 ||
                             mac_in (&net->mc, dst));
  if (memcmp (dst, net->mac, 6) == 0)
    return true;
  return !net->nouni && (net->alluni || net->uc.overflow || mac_in (&net->uc, dst));
}

/* Writes LEN bytes of DATA at OFFSET into CHAIN's writable part; returns
 * how many fit. With NB (the header's num_buffers) not NULL, notes where
 * its two bytes land. */
static uint32_t
chain_write_at (const struct virtq_chain *chain, uint64_t offset, const void *data, uint32_t len)
{
  const uint8_t *p = data;
  uint32_t done = 0;

  for (unsigned i = chain->n_out; i < chain->n_out + chain->n_in && done < len; i++)
    {
      const struct virtq_iov *seg = &chain->iov[i];
      uint32_t n;

      if (offset >= seg->len)
        {
          offset -= seg->len;
          continue;
        }
      n = (uint32_t) MIN ((uint64_t) seg->len - offset, (uint64_t) (len - done));
      memcpy ((uint8_t *) seg->base + offset, p + done, n);
      done += n;
      offset = 0;
    }
  return done;
}

/* The host address of byte OFFSET of CHAIN's writable part, or NULL */
static uint8_t *
chain_byte (const struct virtq_chain *chain, uint64_t offset)
{
  for (unsigned i = chain->n_out; i < chain->n_out + chain->n_in; i++)
    {
      if (offset < chain->iov[i].len)
        return (uint8_t *) chain->iov[i].base + offset;
      offset -= chain->iov[i].len;
    }
  return NULL;
}

static int
card_receive (void *opaque, const void *frame, size_t len)
{
  struct vmm_virtio_net *net = opaque;
  struct vmm_virtio_dev *dev = &net->dev;
  struct virtq *vq = &dev->queues[RX_QUEUE].vq;
  bool mergeable = vmm_virtio_has_feature (dev, VIRTIO_NET_F_MRG_RXBUF);
  uint8_t hdr[NET_HDR_LEN] = { 0 };
  struct { uint16_t head; uint32_t len; } used[64];
  uint8_t *num_buffers[2] = { NULL, NULL };
  uint64_t total = NET_HDR_LEN + (uint64_t) len, done = 0;
  unsigned n_used = 0;
  int ret = 0;

  pthread_mutex_lock (&dev->lock);
  if (net->frozen)
    {
      ret = -ENOBUFS;           /* thaw says rx_ready */
      goto out;
    }
  if (!queue_running (net, RX_QUEUE) || len < VMM_NET_MIN_FRAME || len > VMM_NET_MAX_FRAME)
    {
      net->stats.rx_dropped++;
      goto out;
    }
  if (!filter_accepts (net, frame))
    {
      net->stats.rx_filtered++;
      goto out;
    }

  if (net->config.rx_checksummed && vmm_virtio_has_feature (dev, VIRTIO_NET_F_GUEST_CSUM))
    hdr[0] = NET_HDR_F_DATA_VALID;
  hdr[1] = NET_HDR_GSO_NONE;

  while (done < total)
    {
      struct virtq_chain chain;
      uint64_t off;
      int r = virtq_pop (vq, &chain);

      if (r == 0 && virtq_enable_notify (vq))
        r = virtq_pop (vq, &chain);
      if (r < 0)
        {
          vmm_virtio_set_queue_broken (dev, RX_QUEUE);
          net->stats.rx_dropped++;
          goto out;
        }
      if (r == 0)
        {
          /* No room now: the chains taken go back, the driver's kick on
           * new buffers brings rx_ready */
          while (n_used-- > 0)
            virtq_unpop (vq);
          ret = -ENOBUFS;
          goto out;
        }
      if (n_used == G_N_ELEMENTS (used))
        {
          /* buffers so small that a frame takes more than 64: dropped */
          vmm_log_guest (&dev->rl, "virtio-net: receive buffers too small for a %zu-byte frame",
                         len);
          virtq_unpop (vq);
          while (n_used-- > 0)
            virtq_unpop (vq);
          net->stats.rx_dropped++;
          goto out;
        }
      virtq_disable_notify (vq);
      if (chain.in_len < (n_used == 0 ? NET_HDR_LEN : 1) || (!mergeable && chain.in_len < total))
        {
          /* A buffer too small to use: without mergeable buffers the
           * driver promised room for any frame (5.1.6.3.1) */
          vmm_log_guest (&dev->rl, "virtio-net: a %llu-byte receive buffer is too small for "
                         "a %zu-byte frame; frame dropped",
                         (unsigned long long) chain.in_len, len);
          virtq_push (vq, chain.head, 0);
          while (n_used-- > 0)
            virtq_push (vq, used[n_used].head, 0);
          net->stats.rx_dropped++;
          if (virtq_should_notify (vq))
            vmm_virtio_notify_queue (dev, RX_QUEUE);
          goto out;
        }
      off = 0;
      if (n_used == 0)
        {
          num_buffers[0] = chain_byte (&chain, 10);
          num_buffers[1] = chain_byte (&chain, 11);
          off = chain_write_at (&chain, 0, hdr, NET_HDR_LEN);
          done = off;
        }
      off += chain_write_at (&chain, off, (const uint8_t *) frame + (done - NET_HDR_LEN),
                             (uint32_t) MIN (total - done, (uint64_t) UINT32_MAX));
      done += off - (n_used == 0 ? NET_HDR_LEN : 0);
      used[n_used].head = chain.head;
      used[n_used].len = (uint32_t) off;
      n_used++;
    }

  /* num_buffers: how many chains the frame took (1 without MRG_RXBUF) */
  if (num_buffers[0] != NULL)
    *num_buffers[0] = (uint8_t) n_used;
  if (num_buffers[1] != NULL)
    *num_buffers[1] = (uint8_t) (n_used >> 8);
  for (unsigned i = 0; i < n_used; i++)
    virtq_push (vq, used[i].head, used[i].len);
  net->stats.rx_frames++;
  net->stats.rx_bytes += len;
  if (virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, RX_QUEUE);
out:
  pthread_mutex_unlock (&dev->lock);
  return ret;
}

struct vmm_net_card
vmm_virtio_net_card (struct vmm_virtio_net *net)
{
  return (struct vmm_net_card) {
    .opaque = net, .tx_kick_fd = net->tx_kick_fd, .rx_kick_fd = net->rx_kick_fd,
    .transmit = card_transmit, .receive = card_receive,
  };
}

/* ---- the control queue --------------------------------------------------------- */

/* A MAC table at *OFF of CHAIN's readable part: le32 entries, then the
 * addresses. Read from the chain, since a driver sends every address its
 * interface has (Linux), however many: a table longer than MAC_TABLE_MAX
 * is taken as an overflow, not refused. Moves *OFF past it; false when
 * malformed. */
static bool
read_mac_table (const struct virtq_chain *chain, uint64_t *off, struct mac_table *t)
{
  uint8_t le[4];
  uint32_t n;

  if (virtq_chain_read (chain, *off, le, 4) != 4)
    return false;
  *off += 4;
  n = viv_get_le32 (le);
  if (n > (chain->out_len - *off) / 6)
    return false;
  memset (t, 0, sizeof *t);
  t->overflow = n > MAC_TABLE_MAX;
  t->n = t->overflow ? 0 : n;
  for (unsigned i = 0; i < t->n; i++)
    if (virtq_chain_read (chain, *off + 6 * i, t->mac[i], 6) != 6)
      return false;
  *off += 6 * (uint64_t) n;
  return true;
}

/* CHAIN's command: LEN bytes (its readable part), of which CMD holds the
 * first MIN (LEN, CTRL_MAX_COMMAND) */
static uint8_t
ctrl_command (struct vmm_virtio_net *net, const struct virtq_chain *chain, const uint8_t *cmd,
              uint64_t len)
{
  uint8_t class, code;

  if (len < 2)
    return CTRL_ERR;
  class = cmd[0];
  code = cmd[1];
  cmd += 2;
  len -= 2;

  switch (class)
    {
    case CTRL_RX:
      {
        bool on;

        if (!vmm_virtio_has_feature (&net->dev, VIRTIO_NET_F_CTRL_RX) || len != 1)
          return CTRL_ERR;
        on = cmd[0] != 0;
        switch (code)
          {
          case CTRL_RX_PROMISC: net->promisc = on; break;
          case CTRL_RX_ALLMULTI: net->allmulti = on; break;
          case CTRL_RX_ALLUNI: net->alluni = on; break;
          case CTRL_RX_NOMULTI: net->nomulti = on; break;
          case CTRL_RX_NOUNI: net->nouni = on; break;
          case CTRL_RX_NOBCAST: net->nobcast = on; break;
          default: return CTRL_ERR;
          }
        return CTRL_OK;
      }
    case CTRL_MAC:
      if (code == CTRL_MAC_ADDR_SET)
        {
          if (!vmm_virtio_has_feature (&net->dev, VIRTIO_NET_F_CTRL_MAC_ADDR) || len != 6 ||
              (cmd[0] & 1))
            return CTRL_ERR;
          memcpy (net->mac, cmd, 6);
          return CTRL_OK;
        }
      if (code == CTRL_MAC_TABLE_SET)
        {
          struct mac_table uc, mc;
          uint64_t off = 2;

          if (!vmm_virtio_has_feature (&net->dev, VIRTIO_NET_F_CTRL_RX) ||
              !read_mac_table (chain, &off, &uc) || !read_mac_table (chain, &off, &mc) ||
              off != chain->out_len)
            return CTRL_ERR;
          net->uc = uc;
          net->mc = mc;
          return CTRL_OK;
        }
      return CTRL_ERR;
    case CTRL_ANNOUNCE:
      if (code != CTRL_ANNOUNCE_ACK || len != 0 ||
          !vmm_virtio_has_feature (&net->dev, VIRTIO_NET_F_GUEST_ANNOUNCE))
        return CTRL_ERR;
      net->status &= (uint16_t) ~VIRTIO_NET_S_ANNOUNCE;
      return CTRL_OK;
    default:
      return CTRL_ERR;
    }
}

static void
ctrl_notify (struct vmm_virtio_net *net)
{
  struct vmm_virtio_dev *dev = &net->dev;
  struct virtq *vq = &dev->queues[CTRL_QUEUE].vq;
  unsigned budget = virtq_drain_budget (vq);
  struct virtq_chain chain;
  bool pushed = false;
  int ret;

  while ((ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      uint8_t ack = CTRL_ERR;

      /* the command is readable, the one-byte answer writable */
      virtq_chain_read (&chain, 0, net->ctrl_buf,
                        (uint32_t) MIN (chain.out_len, (uint64_t) sizeof net->ctrl_buf));
      if (chain.in_len >= 1)
        ack = ctrl_command (net, &chain, net->ctrl_buf, chain.out_len);
      if (ack != CTRL_OK)
        vmm_log_guest (&dev->rl, "virtio-net: control command %u/%u refused",
                       chain.out_len >= 1 ? net->ctrl_buf[0] : 0,
                       chain.out_len >= 2 ? net->ctrl_buf[1] : 0);
      virtq_push (vq, chain.head, chain.in_len >= 1 ? virtq_chain_write (&chain, &ack, 1) : 0);
      pushed = true;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, CTRL_QUEUE);
  else if (ret < 0)
    vmm_virtio_set_queue_broken (dev, CTRL_QUEUE);
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, CTRL_QUEUE);
}

/* Called with the lock held, on the loop thread */
static void
net_queue_notify (struct vmm_virtio_dev *dev, unsigned q)
{
  struct vmm_virtio_net *net = dev->priv;

  switch (q)
    {
    case RX_QUEUE:
      net->config.rx_ready (net->config.opaque);
      break;
    case TX_QUEUE:
      net->config.tx_ready (net->config.opaque);
      break;
    case CTRL_QUEUE:
      ctrl_notify (net);
      break;
    default:
      break;
    }
}

/* ---- snapshots ----------------------------------------------------------------- */

#define NET_STATE_VERSION 1

static void
save_mac_table (struct vmm_state_writer *w, const struct mac_table *t)
{
  vmm_state_put_bool (w, t->overflow);
  vmm_state_put_blob (w, t->mac, 6 * t->n);
}

static void
load_mac_table (struct vmm_state_reader *r, struct mac_table *t)
{
  const uint8_t *macs;
  uint32_t len;

  memset (t, 0, sizeof *t);
  t->overflow = vmm_state_get_bool (r);
  macs = vmm_state_get_blob (r, sizeof t->mac, &len);
  if (macs == NULL)
    return;
  /* A longer table than the card keeps is an overflow, kept empty */
  if (len % 6 != 0 || (t->overflow && len != 0))
    vmm_state_reader_fail (r, N_("a MAC address table is malformed"));
  t->n = len / 6;
  memcpy (t->mac, macs, len);
}

/* What the driver set: its MAC, the receive filters and MAC tables, and
 * the status it reads (the link as it last saw it, an announcement it has
 * not acknowledged). The backend is the host's: the caller sets the link
 * from it afterwards (vmm_virtio_net_set_link tells the guest if that
 * changed), and drained the transmit queue (no frame half sent). */
static void
net_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w, const char *name)
{
  struct vmm_virtio_net *net = dev->priv;

  g_assert (net->tx_next_piece == 0);
  vmm_state_begin (w, name, NET_STATE_VERSION);
  vmm_state_put_bytes (w, net->mac, 6);
  vmm_state_put_u16 (w, net->status);
  vmm_state_put_bool (w, net->promisc);
  vmm_state_put_bool (w, net->allmulti);
  vmm_state_put_bool (w, net->alluni);
  vmm_state_put_bool (w, net->nomulti);
  vmm_state_put_bool (w, net->nouni);
  vmm_state_put_bool (w, net->nobcast);
  save_mac_table (w, &net->uc);
  save_mac_table (w, &net->mc);
  vmm_state_end (w);
}

static gboolean
net_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
          bool apply, GError **error)
{
  struct vmm_virtio_net *net = dev->priv;
  struct vmm_state_reader r;
  g_autofree struct mac_table *uc = g_new0 (struct mac_table, 1);
  g_autofree struct mac_table *mc = g_new0 (struct mac_table, 1);
  uint8_t mac[6];
  uint16_t status;
  bool flags[6];

  if (!vmm_state_reader_init (&r, f, name, NET_STATE_VERSION, error))
    return FALSE;
  vmm_state_get_bytes (&r, mac, 6);
  status = vmm_state_get_u16 (&r);
  for (unsigned i = 0; i < G_N_ELEMENTS (flags); i++)
    flags[i] = vmm_state_get_bool (&r);
  load_mac_table (&r, uc);
  load_mac_table (&r, mc);
  /* CTRL_MAC_ADDR_SET takes no multicast address */
  if (mac[0] & 1)
    vmm_state_reader_fail (&r, N_("the card's MAC address is a multicast one"));
  if (status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE))
    vmm_state_reader_fail (&r, N_("an unknown link status"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  memcpy (net->mac, mac, 6);
  net->status = status;
  net->promisc = flags[0];
  net->allmulti = flags[1];
  net->alluni = flags[2];
  net->nomulti = flags[3];
  net->nouni = flags[4];
  net->nobcast = flags[5];
  net->uc = *uc;
  net->mc = *mc;
  return TRUE;
}

/* ---- the device ---------------------------------------------------------------- */

static const struct vmm_virtio_ops net_ops = {
  .name = "net",
  .device_id = VIRTIO_ID_NET,
  .pci_class = PCI_CLASS_ETHERNET,
  .features = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) |
              (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN) |
              (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
              (1ull << VIRTIO_NET_F_MRG_RXBUF) | (1ull << VIRTIO_NET_F_CTRL_VQ) |
              (1ull << VIRTIO_NET_F_CTRL_RX) | (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE) |
              (1ull << VIRTIO_NET_F_CTRL_MAC_ADDR),
  .num_queues = 3,
  .queue_size = NET_QUEUE_SIZE,
  .config_size = CONFIG_SIZE,
  .config_read = net_config_read,
  .config_write = net_config_write,
  .activate = net_activate,
  .reset = net_reset,
  .queue_notify = net_queue_notify,
  .save = net_save,
  .load = net_load,
};

struct vmm_virtio_net *
vmm_virtio_net_new (const struct vmm_virtio_env *env, const struct vmm_virtio_net_config *config,
                    GError **error)
{
  struct vmm_virtio_net *net = calloc (1, sizeof *net);

  if (net == NULL)
    {
      vmm_virtio_set_error (error, -ENOMEM);
      return NULL;
    }
  net->config = *config;
  memcpy (net->mac, config->mac, 6);
  net->status = VIRTIO_NET_S_LINK_UP;
  if (!vmm_virtio_pci_init (&net->dev, &net_ops, net, env, error))
    {
      free (net);
      return NULL;
    }
  if (net->config.backend_max_frame == 0 || net->config.backend_max_frame > VMM_NET_MAX_FRAME)
    net->config.backend_max_frame = VMM_NET_MAX_FRAME;
  if (config->rx_checksummed)
    net->dev.device_features |= 1ull << VIRTIO_NET_F_GUEST_CSUM;
  /* A TCP packet is cut to fit any backend; a UDP datagram is not
   * fragmented here, so UFO only where it goes whole */
  if (net->config.backend_max_frame == VMM_NET_MAX_FRAME)
    net->dev.device_features |= 1ull << VIRTIO_NET_F_HOST_UFO;
  net->tx_kick_fd = net->rx_kick_fd = -1;
  pthread_cond_init (&net->tx_idle, NULL);
  if (config->backend_kicks)
    {
      net->tx_kick_fd = vmm_virtio_queue_detach_notify (&net->dev, TX_QUEUE);
      net->rx_kick_fd = vmm_virtio_queue_detach_notify (&net->dev, RX_QUEUE);
    }
  return net;
}

struct vmm_virtio_dev *
vmm_virtio_net_dev (struct vmm_virtio_net *net)
{
  return &net->dev;
}

void
vmm_virtio_net_free (struct vmm_virtio_net *net)
{
  if (net == NULL)
    return;
  vmm_virtio_pci_destroy (&net->dev);
  pthread_cond_destroy (&net->tx_idle);
  free (net);
}

void
vmm_virtio_net_freeze (struct vmm_virtio_net *net)
{
  pthread_mutex_lock (&net->dev.lock);
  net->frozen = true;
  while (net->tx_busy > 0)
    pthread_cond_wait (&net->tx_idle, &net->dev.lock);
  /* A frame the backend took only some pieces of goes again whole after:
   * a TCP receiver drops what it has twice, as after a lost ACK */
  net->tx_next_piece = 0;
  pthread_mutex_unlock (&net->dev.lock);
}

void
vmm_virtio_net_thaw (struct vmm_virtio_net *net)
{
  pthread_mutex_lock (&net->dev.lock);
  net->frozen = false;
  pthread_mutex_unlock (&net->dev.lock);
  net->config.rx_ready (net->config.opaque);
  net->config.tx_ready (net->config.opaque);
}

void
vmm_virtio_net_set_link (struct vmm_virtio_net *net, bool up)
{
  pthread_mutex_lock (&net->dev.lock);
  if (up != ((net->status & VIRTIO_NET_S_LINK_UP) != 0))
    {
      net->status ^= VIRTIO_NET_S_LINK_UP;
      vmm_virtio_config_changed (&net->dev);
    }
  pthread_mutex_unlock (&net->dev.lock);
}

void
vmm_virtio_net_announce (struct vmm_virtio_net *net)
{
  pthread_mutex_lock (&net->dev.lock);
  if (vmm_virtio_has_feature (&net->dev, VIRTIO_NET_F_GUEST_ANNOUNCE) &&
      (net->dev.status & VIRTIO_STATUS_DRIVER_OK))
    {
      net->status |= VIRTIO_NET_S_ANNOUNCE;
      vmm_virtio_config_changed (&net->dev);
    }
  pthread_mutex_unlock (&net->dev.lock);
}

void
vmm_virtio_net_get_stats (struct vmm_virtio_net *net, struct vmm_virtio_net_stats *stats)
{
  pthread_mutex_lock (&net->dev.lock);
  *stats = net->stats;
  pthread_mutex_unlock (&net->dev.lock);
}
