/* netdev.c: a small polling virtio-net driver
 *
 * Written from virtio 1.2 §5.1: the configuration holds the MAC (offset
 * 0) and the status (offset 6, with STATUS); every buffer starts with the
 * 12-byte struct virtio_net_hdr; with MRG_RXBUF a received frame may span
 * num_buffers buffers, the header in the first.  Queue 0 receives, queue
 * 1 transmits.  Transmit slots are single descriptors (header and frame
 * together); the last descriptors of the transmit queue are kept for the
 * malformed chains.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "netdev.h"

#define VIRTIO_VENDOR 0x1af4

#define CFG_MAC    0
#define CFG_STATUS 6

#define NET_QSIZE  256
#define BUF_LEN    2048
#define RX_BUFS    64
#define TX_SLOTS   64
/* Descriptors at the end of the transmit queue for netdev_send_chain */
#define RAW_DESCS  8

#define RXQ 0
#define TXQ 1

static uint8_t rx_buf[RX_BUFS][BUF_LEN] __attribute__ ((aligned (4096)));
static uint8_t tx_buf[TX_SLOTS][BUF_LEN] __attribute__ ((aligned (4096)));
/* TSO slots: descriptors TX_SLOTS and on */
static uint8_t tx_big[NET_TSO_SLOTS][NET_HDR_LEN + NET_TSO_FRAME] __attribute__ ((aligned (4096)));

static uint8_t *
slot_buf (uint16_t slot)
{
  return slot < TX_SLOTS ? tx_buf[slot] : tx_big[slot - TX_SLOTS];
}

static void
post_rx (struct netdev *n)
{
  struct vq *q = &n->v.vq[RXQ];

  for (uint16_t i = 0; i < n->rx_bufs; i++)
    {
      virtq_set_desc (q, i, (uint64_t) rx_buf[i], n->rx_len, VIRTQ_DESC_F_WRITE, 0);
      virtq_add_avail (q, i);
    }
  virtq_kick (q);
  n->ack_kick = false;
}

static bool
start (struct netdev *n, bool report)
{
  uint64_t extra = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS
                   | 1ull << VIRTIO_NET_F_MRG_RXBUF;
  struct vq *tq;

  if (n->want_csum)
    extra |= 1ull << VIRTIO_NET_F_CSUM | 1ull << VIRTIO_NET_F_GUEST_CSUM;
  if (n->want_csum && n->want_tso)
    extra |= 1ull << VIRTIO_NET_F_HOST_TSO4;
  if (!virtio_begin (&n->v, extra, false))
    return false;
  if (report)
    tap_diag ("net: device features 0x%016lx, driver 0x%016lx", n->v.offered, n->v.features);
  /* The configuration once the features are settled (§3.1.1 step 7) */
  for (unsigned i = 0; i < 6; i++)
    n->mac[i] = virtio_has (&n->v, VIRTIO_NET_F_MAC) ? virtio_cfg_read8 (&n->v, CFG_MAC + i) : 0;
  n->link = virtio_has (&n->v, VIRTIO_NET_F_STATUS) ? virtio_cfg_read16 (&n->v, CFG_STATUS)
                                                    : VIRTIO_NET_S_LINK_UP;
  if (!virtio_setup_queue (&n->v, RXQ, NET_QSIZE, VIRTIO_MSI_NO_VECTOR, false)
      || !virtio_setup_queue (&n->v, TXQ, NET_QSIZE, VIRTIO_MSI_NO_VECTOR, false)
      || !virtio_driver_ok (&n->v, false))
    return false;
  n->rx_bufs = n->v.vq[RXQ].size < RX_BUFS ? n->v.vq[RXQ].size : RX_BUFS;
  /* Smaller buffers only where frames may span several */
  if (!virtio_has (&n->v, VIRTIO_NET_F_MRG_RXBUF) || n->rx_len < 64 || n->rx_len > BUF_LEN)
    n->rx_len = BUF_LEN;
  tq = &n->v.vq[TXQ];
  if (tq->size <= RAW_DESCS)
    return false;
  n->tx_slots = tq->size - RAW_DESCS < TX_SLOTS ? tq->size - RAW_DESCS : TX_SLOTS;
  n->n_tx_free = 0;
  for (uint16_t i = n->tx_slots; i-- > 0;)
    n->tx_free[n->n_tx_free++] = i;
  n->n_tso_free = 0;
  if (virtio_has (&n->v, VIRTIO_NET_F_HOST_TSO4) && tq->size >= TX_SLOTS + NET_TSO_SLOTS + RAW_DESCS)
    for (uint16_t i = NET_TSO_SLOTS; i-- > 0;)
      n->tso_free[n->n_tso_free++] = (uint16_t) (TX_SLOTS + i);
  post_rx (n);
  return true;
}

bool
netdev_setup (struct netdev *n, const struct pci *pci, bool csum, bool tso, uint32_t rx_len,
              bool report)
{
  const struct pci_dev *p = NULL;

  memset (n, 0, sizeof *n);
  n->want_csum = csum;
  n->want_tso = tso;
  n->rx_len = rx_len;
  for (unsigned i = 0; i < pci->n_devs && !p; i++)
    if (pci->devs[i].vendor == VIRTIO_VENDOR && pci->devs[i].device == VIRTIO_NET_ID)
      p = &pci->devs[i];
  n->found = p != NULL;
  if (report)
    tap_ok (n->found, "net: a modern virtio-net function (%04x:%04x)%s", VIRTIO_VENDOR,
            VIRTIO_NET_ID, p ? "" : " MISSING");
  if (!p)
    return false;
  n->pci = p;
  for (unsigned b = 0; b < 6;)
    {
      bool restored;
      unsigned used = pci_bar_size (p, b, &n->bars[b], &restored);

      if (n->bars[b].present && !n->bars[b].io)
        map_phys (n->bars[b].base, n->bars[b].size);
      b += used;
    }
  n->ok = virtio_find_caps (&n->v, p, n->bars, false) && n->v.device.addr && start (n, report);
  if (report && csum && n->ok && !virtio_has (&n->v, VIRTIO_NET_F_CSUM))
    tap_diag ("net: csum=1, but the device offers no CSUM (a backend without a vnet header)");
  if (report)
    tap_ok (n->ok && virtio_has (&n->v, VIRTIO_F_VERSION_1)
            && virtio_has (&n->v, VIRTIO_NET_F_MAC) && virtio_has (&n->v, VIRTIO_NET_F_STATUS)
            && virtio_has (&n->v, VIRTIO_NET_F_MRG_RXBUF),
            "net: set up with VERSION_1 MAC STATUS MRG_RXBUF%s, %u receive buffers of %u "
            "bytes posted, %u transmit slots (queue sizes %u, %u)",
            virtio_has (&n->v, VIRTIO_NET_F_HOST_TSO4) ? " CSUM GUEST_CSUM HOST_TSO4"
            : virtio_has (&n->v, VIRTIO_NET_F_CSUM) ? " CSUM GUEST_CSUM" : "", n->rx_bufs,
            n->rx_len, n->tx_slots, n->v.vq[RXQ].size, n->v.vq[TXQ].size);
  return n->ok;
}

bool
netdev_reinit (struct netdev *n)
{
  n->ok = start (n, false);
  return n->ok;
}

bool
netdev_needs_reset (const struct netdev *n)
{
  return virtio_status (&n->v) & VIRTIO_STATUS_NEEDS_RESET;
}

/* --- transmit ------------------------------------------------------------------------- */

static void
reap_one (struct netdev *n, uint32_t id)
{
  if (id < n->tx_slots && n->n_tx_free < n->tx_slots)
    n->tx_free[n->n_tx_free++] = (uint16_t) id;
  else if (id >= TX_SLOTS && id < TX_SLOTS + NET_TSO_SLOTS && n->n_tso_free < NET_TSO_SLOTS)
    n->tso_free[n->n_tso_free++] = (uint16_t) id;
}

bool
netdev_tx_reap (struct netdev *n)
{
  uint32_t id, len;

  while (virtq_next_used (&n->v.vq[TXQ], &id, &len))
    reap_one (n, id);
  return n->n_tx_free == n->tx_slots
         && n->n_tso_free == (virtio_has (&n->v, VIRTIO_NET_F_HOST_TSO4) ? NET_TSO_SLOTS : 0);
}

/* A free slot from the stack FREE (*N_FREE of them), waiting up to 1 s
 * for the device to give one back; -1 if none came */
static int
take_slot (struct netdev *n, uint16_t *free, uint16_t *n_free)
{
  uint64_t deadline = 0;

  while (!*n_free)
    {
      netdev_flush (n);
      netdev_tx_reap (n);
      if (*n_free)
        break;
      if (!deadline)
        deadline = deadline_after_ms (1000);
      else if (deadline_passed (deadline))
        return -1;
      cpu_relax ();
    }
  return free[--*n_free];
}

uint8_t *
netdev_tx_buf (struct netdev *n, uint16_t *slot)
{
  int s = take_slot (n, n->tx_free, &n->n_tx_free);

  if (s < 0)
    return NULL;
  *slot = (uint16_t) s;
  return slot_buf (*slot) + NET_HDR_LEN;
}

uint8_t *
netdev_tx_big (struct netdev *n, uint16_t *slot)
{
  int s = virtio_has (&n->v, VIRTIO_NET_F_HOST_TSO4) ? take_slot (n, n->tso_free, &n->n_tso_free)
                                                     : -1;

  if (s < 0)
    return NULL;
  *slot = (uint16_t) s;
  return slot_buf (*slot) + NET_HDR_LEN;
}

void
netdev_send_tso (struct netdev *n, uint16_t slot, uint32_t len, uint16_t csum_start,
                 uint16_t csum_offset, uint16_t hdr_len, uint16_t mss)
{
  struct virtio_net_hdr *h = (struct virtio_net_hdr *) slot_buf (slot);

  memset (h, 0, NET_HDR_LEN);
  if (csum_start && virtio_has (&n->v, VIRTIO_NET_F_CSUM))
    {
      h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      h->csum_start = csum_start;
      h->csum_offset = csum_offset;
      if (mss && virtio_has (&n->v, VIRTIO_NET_F_HOST_TSO4))
        {
          h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
          h->gso_size = mss;
          h->hdr_len = hdr_len;
        }
    }
  virtq_set_desc (&n->v.vq[TXQ], slot, (uint64_t) slot_buf (slot), NET_HDR_LEN + len, 0, 0);
  virtq_add_avail (&n->v.vq[TXQ], slot);
  n->tx_frames++;
}

void
netdev_send (struct netdev *n, uint16_t slot, uint32_t len, uint16_t csum_start,
             uint16_t csum_offset)
{
  netdev_send_tso (n, slot, len, csum_start, csum_offset, 0, 0);
}

void
netdev_flush (struct netdev *n)
{
  virtq_kick (&n->v.vq[TXQ]);
  netdev_rx_publish (n);
}

enum vq_result
netdev_send_chain (struct netdev *n, const struct net_seg *segs, unsigned n_segs,
                   uint64_t timeout_ms)
{
  struct vq *q = &n->v.vq[TXQ];
  uint16_t first = q->size - RAW_DESCS;
  uint64_t deadline = deadline_after_ms (timeout_ms), check = deadline_after_ms (1);
  uint32_t id, len;

  if (n_segs == 0 || n_segs > RAW_DESCS)
    return VQ_BAD_ID;
  for (unsigned i = 0; i < n_segs; i++)
    virtq_set_desc (q, first + i, segs[i].addr, segs[i].len,
                    i + 1 < n_segs ? VIRTQ_DESC_F_NEXT : 0, (uint16_t) (first + i + 1));
  virtq_publish (q, first);
  for (;;)
    {
      while (virtq_next_used (q, &id, &len))
        {
          if (id == first)
            return VQ_USED;
          reap_one (n, id);
        }
      if (deadline_passed (check))
        {
          if (netdev_needs_reset (n))
            return VQ_NEEDS_RESET;
          if (deadline_passed (deadline))
            return VQ_TIMEOUT;
          check = deadline_after_ms (1);
        }
      cpu_relax ();
    }
}

/* --- receive -------------------------------------------------------------------------- */

static void
give_back (struct netdev *n, uint32_t id)
{
  virtq_add_avail (&n->v.vq[RXQ], (uint16_t) id);
  n->ack_kick = true;
}

void
netdev_rx_publish (struct netdev *n)
{
  if (n->ack_kick)
    {
      virtq_kick (&n->v.vq[RXQ]);
      n->ack_kick = false;
    }
}

uint32_t
netdev_recv (struct netdev *n, uint8_t *buf, uint32_t max)
{
  struct vq *q = &n->v.vq[RXQ];
  const struct virtio_net_hdr *h;
  uint32_t id, len, total = 0;
  uint16_t nbufs;
  bool bad = false;

  if (!virtq_next_used (q, &id, &len))
    return 0;
  if (id >= n->rx_bufs)
    {
      tap_diag ("net: a used receive element names descriptor %u", id);
      return 0;
    }
  h = (const struct virtio_net_hdr *) rx_buf[id];
  nbufs = virtio_has (&n->v, VIRTIO_NET_F_MRG_RXBUF) ? h->num_buffers : 1;
  n->last_rx_flags = h->flags;
  if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
    n->rx_data_valid++;
  if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
    n->rx_needs_csum++;
  if (nbufs == 0 || len < NET_HDR_LEN || len > n->rx_len)
    bad = true;
  else if (len - NET_HDR_LEN <= max)
    {
      memcpy (buf, rx_buf[id] + NET_HDR_LEN, len - NET_HDR_LEN);
      total = len - NET_HDR_LEN;
    }
  else
    bad = true;
  give_back (n, id);

  /* The rest of a merged frame: the device made all of it used together */
  for (uint16_t k = 1; k < nbufs; k++)
    {
      uint64_t deadline = deadline_after_ms (100);

      while (!virtq_next_used (q, &id, &len))
        {
          if (deadline_passed (deadline))
            {
              tap_diag ("net: buffer %u of %u of a merged frame never came", k, nbufs);
              n->rx_dropped++;
              return 0;
            }
          cpu_relax ();
        }
      if (id >= n->rx_bufs || len > n->rx_len)
        {
          bad = true;
          continue;
        }
      if (!bad && total + len <= max)
        {
          memcpy (buf + total, rx_buf[id], len);
          total += len;
        }
      else
        bad = true;
      give_back (n, id);
    }
  if (nbufs > 1)
    n->rx_joined++;
  if (bad)
    {
      n->rx_dropped++;
      return 0;
    }
  n->rx_frames++;
  return total;
}
