/* virtio/net.h: the network card (virtio 1.2, 5.1)
 *
 * A modern virtio-net function (1af4:1041) with one receive and one
 * transmit queue and the control queue: the MAC address, the link status,
 * mergeable receive buffers, the checksum and TCP/UDP segmentation
 * offloads for what the guest sends (done here, net-offload.h, so every
 * backend has them), checksums the guest need not check on what it
 * receives from a backend that made them, the receive filters
 * (promiscuous, multicast, the MAC tables) and announcements after a
 * restore. Frames go to and come
 * from a backend (net/net.h) through vmm_virtio_net_card, on the backend's
 * thread. The structure keeps queue pairs apart so that more of them
 * (VIRTIO_NET_F_MQ) can follow.
 *
 * What the guest gets wrong is dropped and counted, never trusted: a
 * transmit chain shorter than the header, a runt or a frame over
 * VMM_NET_MAX_FRAME, a receive chain too small for the frame without
 * mergeable buffers, an offload the header asks for that was not
 * negotiated or does not fit the frame, a malformed control command
 * (answered with an error).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "net/net.h"
#include "virtio/device.h"

struct vmm_virtio_net;

struct vmm_virtio_net_config {
  uint8_t mac[6];
  /* The backend's frames carry valid checksums (it made them: user mode,
   * passt): the guest is offered VIRTIO_NET_F_GUEST_CSUM and told not to
   * check them again. */
  bool rx_checksummed;
  /* The longest frame the backend takes, 0 for VMM_NET_MAX_FRAME: the
   * guest's TCP segmentation offloads are cut to fit (net-offload.h) */
  size_t backend_max_frame;
  /* The guest's kicks on the data queues go to the backend's thread
   * (vmm_net_card's kick fds) rather than through the VM's loop to
   * tx_ready and rx_ready: one thread hop less per kick */
  bool backend_kicks;
  /* What the card tells the backend (net/net.h's tx_ready, rx_ready) */
  void (*tx_ready) (void *opaque);
  void (*rx_ready) (void *opaque);
  void *opaque;
};

struct vmm_virtio_net_stats {
  uint64_t tx_frames, tx_bytes, tx_dropped;     /* dropped: malformed chains */
  uint64_t rx_frames, rx_bytes, rx_dropped;     /* dropped: filtered, malformed, no room */
  uint64_t rx_filtered;
};

/* Returns the device, or NULL with ERROR set (see device.h). */
struct vmm_virtio_net *vmm_virtio_net_new  (const struct vmm_virtio_env *env,
                                            const struct vmm_virtio_net_config *config,
                                            GError **error);
struct vmm_virtio_dev *vmm_virtio_net_dev  (struct vmm_virtio_net *net);
void                   vmm_virtio_net_free (struct vmm_virtio_net *net);

/* The card as the backend calls it (net/net.h) */
struct vmm_net_card    vmm_virtio_net_card (struct vmm_virtio_net *net);

/* The link's state, shown to the guest (VIRTIO_NET_S_LINK_UP) */
void vmm_virtio_net_set_link (struct vmm_virtio_net *net, bool up);
/* Asks the guest to announce itself (gratuitous ARP), as after a restore
 * on another host: with VIRTIO_NET_F_GUEST_ANNOUNCE negotiated. */
void vmm_virtio_net_announce (struct vmm_virtio_net *net);
/* For a snapshot: the backend's calls take and give no frame until thaw
 * (which tells the backend both ways may go on); freeze returns once no
 * frame is on its way out. */
void vmm_virtio_net_freeze (struct vmm_virtio_net *net);
void vmm_virtio_net_thaw   (struct vmm_virtio_net *net);
void vmm_virtio_net_get_stats (struct vmm_virtio_net *net, struct vmm_virtio_net_stats *stats);
