/* net/net.h: a network backend and the network card it serves
 *
 * A backend (user-mode NAT with libslirp, a tap device, passt) moves
 * Ethernet frames between the guest's network card (virtio/net.c) and the
 * host. Each runs on an I/O thread of its own: the card tells it, from any
 * thread, that the guest queued frames to send or gave buffers to receive
 * into; the backend then calls the card back from its thread to take the
 * guest's frames and to hand it frames. Neither knows the other's code:
 * vm.c wires them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include <glib.h>

/* The largest frame either way: 64 KiB of IP packet, an Ethernet header
 * and a VLAN tag */
#define VMM_NET_MAX_FRAME   (65536 + 14 + 4)
/* The smallest: an Ethernet header */
#define VMM_NET_MIN_FRAME   14

/* Takes one frame of LEN bytes the guest sent, in N_IOV pieces (valid
 * only during the call). Returns 0, or -EAGAIN when the backend cannot
 * take it now: the card keeps it and the rest for the next transmit. */
typedef int (*vmm_net_send_fn) (void *data, const struct iovec *iov, unsigned n_iov, size_t len);

/* The card, as a backend sees it. Both functions are called from the
 * backend's thread only. */
struct vmm_net_card {
  void *opaque;
  /* The guest's kicks for the transmit and receive queues, for the
   * backend's thread to poll (or -1): readable means as tx_ready and
   * rx_ready; the backend reads them to empty (eventfds). Saves the hop
   * through the VM's loop on every kick. */
  int tx_kick_fd, rx_kick_fd;
  /* Hands SEND the frames the guest queued, at most BUDGET. Returns how
   * many went, or -EAGAIN when frames are left: the budget ran out, or
   * SEND refused one (it stays queued). Then the backend calls again when
   * it can: the card does not say tx_ready for frames it already has. */
  int (*transmit) (void *opaque, vmm_net_send_fn send, void *send_data, unsigned budget);
  /* A frame for the guest. Returns 0 (delivered, or dropped because it was
   * malformed or the card is not running: counted by the card), or
   * -ENOBUFS when the guest has no buffers for it now: the backend keeps
   * it or drops it, and hears rx_ready when the guest gives buffers. */
  int (*receive)  (void *opaque, const void *frame, size_t len);
};

struct vmm_net_backend;

struct vmm_net_backend_ops {
  const char *name;                     /* "user", "tap", "passt": for logs */
  /* From any thread: the guest queued frames (call transmit). */
  void (*tx_ready) (struct vmm_net_backend *be);
  /* From any thread: the guest gave receive buffers (receive may succeed). */
  void (*rx_ready) (struct vmm_net_backend *be);
  /* Stops the backend's thread and frees it. */
  void (*free)     (struct vmm_net_backend *be);
};

struct vmm_net_backend {
  const struct vmm_net_backend_ops *ops;
};

/* What a backend tells the VM about the guest, from its thread */
struct vmm_net_events {
  void *opaque;
  /* The guest was given ADDRESS ("10.0.2.15") by the backend's DHCP
   * server (user mode only). */
  void (*lease) (void *opaque, const char *address);
};

/* A backend's poll loop, after poll: TX and RX polled the card's kick
 * fds; a readable one is emptied and sets its flag */
void vmm_net_take_kicks (const struct pollfd *tx, const struct pollfd *rx,
                         atomic_bool *tx_pending, atomic_bool *rx_pending);

static inline void
vmm_net_backend_free (struct vmm_net_backend *be)
{
  if (be != NULL)
    be->ops->free (be);
}
