/* net/user.h: user-mode networking, libslirp on a thread of its own
 *
 * The guest sits behind a NAT on 10.0.2.0/24 (fec0::/64 for IPv6): the
 * gateway 10.0.2.2 is the host (its loopback too), 10.0.2.3 forwards DNS
 * to the host's resolver, DHCP leases 10.0.2.15 onwards, as QEMU's
 * -netdev user. Host ports can be forwarded to the guest.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "net/net.h"

struct vmm_net_forward {
  bool udp;
  const char *host_address;     /* an IPv4 or IPv6 literal; NULL: 127.0.0.1 */
  uint16_t host_port;
  uint16_t guest_port;
};

struct vmm_net_user_config {
  const struct vmm_net_forward *forwards;
  unsigned n_forwards;
};

/* Starts user-mode networking for CARD (copied; its functions are called
 * from the backend's thread). Errors (VMM_NET_ERROR): a forward whose host
 * port cannot be bound (in use, not permitted), a bad address, libslirp or
 * the thread failing. */
struct vmm_net_backend *vmm_net_user_new (const struct vmm_net_user_config *config,
                                          const struct vmm_net_card *card,
                                          const struct vmm_net_events *events, GError **error);

#define VMM_NET_ERROR (vmm_net_error_quark ())
GQuark vmm_net_error_quark (void);

/* For tests: the DHCP lease (yiaddr of a DHCPACK) in FRAME, an Ethernet
 * frame from the DHCP server to the guest, as text in ADDRESS (16 bytes).
 * False when FRAME is anything else. */
bool vmm_net_dhcp_ack_address (const uint8_t *frame, size_t len, char address[16]);
