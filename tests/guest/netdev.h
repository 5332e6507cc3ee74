/* netdev.h: a small polling virtio-net driver (virtio 1.2 §5.1)
 *
 * The first modern 1af4:1041 function: VERSION_1, MAC, STATUS and
 * MRG_RXBUF (CSUM and GUEST_CSUM too when asked, and HOST_TSO4 then),
 * queue 0 receives into buffers of up to 2 KiB it keeps posted, queue 1
 * transmits from slots of its own (a few of 64 KiB for TSO).  No interrupts: both used rings are polled.  Used by net.c.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "virtio.h"

#define VIRTIO_NET_ID          0x1041

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16

#define VIRTIO_NET_S_LINK_UP    1

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_TCPV4    1

/* With VERSION_1 the header always has num_buffers: 12 bytes (§5.1.6) */
struct virtio_net_hdr
{
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
};
#define NET_HDR_LEN 12

/* The largest frame the driver joins from merged buffers */
#define NET_FRAME_MAX 65550
/* The largest frame sent with TSO: a 64 KiB IP packet */
#define NET_TSO_FRAME (14 + 65535)
/* Transmit slots of that size */
#define NET_TSO_SLOTS 8

struct netdev
{
  const struct pci_dev *pci;
  struct pci_bar bars[6];
  struct virtio_dev v;
  bool found, ok, want_csum, want_tso;
  uint8_t mac[6];
  uint16_t link;                 /* the status field, or LINK_UP without STATUS */
  uint16_t rx_bufs, tx_slots;
  uint32_t rx_len;               /* bytes per receive buffer */
  uint16_t tx_free[64];          /* a stack of free transmit slots */
  uint16_t n_tx_free;
  uint16_t tso_free[NET_TSO_SLOTS];      /* and of free TSO slots */
  uint16_t n_tso_free;
  bool ack_kick;                 /* receive buffers given back, not yet published */

  /* What was seen */
  uint64_t rx_frames, tx_frames, rx_joined, rx_data_valid, rx_needs_csum, rx_dropped;
  uint16_t last_rx_flags;
};

/* Finds the first virtio-net function and sets it up (TAP lines with
 * report).  csum asks for CSUM and GUEST_CSUM as well, tso (with csum) for
 * HOST_TSO4; rx_len is the size of each receive buffer (64 to 2048; 2048
 * without MRG_RXBUF). */
bool netdev_setup (struct netdev *n, const struct pci *pci, bool csum, bool tso, uint32_t rx_len,
                   bool report);
/* Reset and the same set-up again (after NEEDS_RESET) */
bool netdev_reinit (struct netdev *n);
bool netdev_needs_reset (const struct netdev *n);

/* Transmit buffer for a frame of up to 2048 - NET_HDR_LEN bytes: fill it
 * and hand it to netdev_send.  NULL if no slot came free within 1 s. */
uint8_t *netdev_tx_buf (struct netdev *n, uint16_t *slot);
/* Transmit buffer for a TSO frame of up to NET_TSO_FRAME bytes (HOST_TSO4
 * negotiated), as netdev_tx_buf */
uint8_t *netdev_tx_big (struct netdev *n, uint16_t *slot);
/* Sends the frame in slot (len bytes from the Ethernet header on).  With
 * csum_start != 0 (and CSUM negotiated) the device finishes the checksum
 * at csum_start + csum_offset. */
void netdev_send (struct netdev *n, uint16_t slot, uint32_t len, uint16_t csum_start,
                  uint16_t csum_offset);
/* The same, a TCPv4 packet the device cuts into segments of mss bytes */
void netdev_send_tso (struct netdev *n, uint16_t slot, uint32_t len, uint16_t csum_start,
                      uint16_t csum_offset, uint16_t hdr_len, uint16_t mss);
/* Publishes what netdev_send queued (one notification for a batch) */
void netdev_flush (struct netdev *n);
/* Collects completed transmissions; true once none is in flight */
bool netdev_tx_reap (struct netdev *n);

/* The next received frame joined into buf (at most max bytes), its length
 * returned; 0 if none is waiting.  Buffers are given back to the device
 * (published by netdev_rx_publish, or the next netdev_flush). */
uint32_t netdev_recv (struct netdev *n, uint8_t *buf, uint32_t max);
void netdev_rx_publish (struct netdev *n);

/* One chain of raw descriptors on the transmit queue (the malformed
 * frames): waits for it to be used.  VQ_USED, VQ_NEEDS_RESET or
 * VQ_TIMEOUT. */
struct net_seg
{
  uint64_t addr;
  uint32_t len;
};
enum vq_result netdev_send_chain (struct netdev *n, const struct net_seg *segs, unsigned n_segs,
                                  uint64_t timeout_ms);
