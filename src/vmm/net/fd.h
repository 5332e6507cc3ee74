/* net/fd.h: backends that move frames over a file descriptor
 *
 * - tap: an existing tap device the user made (ip tuntap add ... user
 *   NAME), a frame per read and write;
 * - passt: Debian's passt, started for the VM on a unix socket in a
 *   private folder, a frame per 32-bit big-endian length and the frame, as
 *   QEMU's -netdev stream speaks to it. passt gives the guest the host's
 *   own address and routes (no NAT), and forwards host ports.
 *
 * Each runs a thread of its own, as net/user.c does.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "net/user.h"

/* Attaches to the tap device NAME. Errors (VMM_NET_ERROR): no such device,
 * not a tap device, not permitted (it belongs to another user), no
 * /dev/net/tun. */
struct vmm_net_backend *vmm_net_tap_new   (const char *name, const struct vmm_net_card *card,
                                           GError **error);

/* Starts PASST (NULL: "passt" from PATH) with CONFIG's port forwards.
 * Errors: passt is not installed or does not start. */
struct vmm_net_backend *vmm_net_passt_new (const char *passt,
                                           const struct vmm_net_user_config *config,
                                           const struct vmm_net_card *card,
                                           const struct vmm_net_events *events, GError **error);
