/* virtio/net-offload.h: what a frame's header asks the network card to
 * finish before the frame leaves (virtio 1.2, 5.1.6.2)
 *
 * With VIRTIO_NET_F_CSUM the guest may leave a checksum for the card: the
 * sum from csum_start to the end of the frame goes at csum_start +
 * csum_offset. With HOST_TSO4/TSO6 (and ECN) it may hand over a TCP packet
 * of up to 64 KiB to be cut into gso_size segments, with HOST_UFO a UDP
 * datagram of up to 64 KiB. Here that work is done for backends that take
 * plain frames: a TCP packet goes out in as few pieces as the backend's
 * longest frame allows (libslirp takes it whole, a tap gets gso_size
 * segments, as a NIC would send them), each with its lengths, IP
 * identification, flags and checksums made right; a UDP datagram goes out
 * whole. The guest's frame is never written to (its buffers are the
 * device's to read only): the header bytes that change are copied, and the
 * rest is sent from guest memory as it is.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net/net.h"

#define VMM_NET_HDR_F_NEEDS_CSUM   1

#define VMM_NET_GSO_NONE           0
#define VMM_NET_GSO_TCPV4          1
#define VMM_NET_GSO_UDP            3
#define VMM_NET_GSO_TCPV6          4
#define VMM_NET_GSO_ECN            0x80

/* The fields of struct virtio_net_hdr the transmit path reads */
struct vmm_net_tx_header {
  uint8_t flags;
  uint8_t gso_type;             /* VMM_NET_GSO_*, with VMM_NET_GSO_ECN */
  uint16_t gso_size;            /* the MSS for TCP */
  uint16_t csum_start, csum_offset;
};

/* Reads the header's first 10 bytes (little-endian, VERSION_1) */
void vmm_net_tx_header_parse (struct vmm_net_tx_header *h, const uint8_t *p);

/* Sends the frame of LEN bytes in IOV (N_IOV pieces) as H asks, through
 * SEND: frames of at most MAX_FRAME bytes (a TCP packet that fits goes
 * whole; none is cut below gso_size). *NEXT is the first piece still to
 * send, 0 for a new frame. Returns 0 when all went; -EAGAIN when SEND
 * refused one, *NEXT then says which to start from next time; -EINVAL when
 * the header does not fit the frame (not a TCP or UDP packet over IPv4 or
 * IPv6 where gso_type says so, a checksum place past its end, a zero
 * gso_size): *WHY says why, nothing was sent. */
int vmm_net_tx_offload (const struct vmm_net_tx_header *h, const struct iovec *iov,
                        unsigned n_iov, size_t len, size_t max_frame, unsigned *next,
                        vmm_net_send_fn send, void *send_data, const char **why);

/* The Internet checksum's sum (RFC 1071) of LEN bytes of IOV from OFFSET,
 * added to SUM, as a 16-bit big-endian value before the final complement */
uint16_t vmm_net_csum_iov (const struct iovec *iov, unsigned n_iov, size_t offset, size_t len,
                           uint32_t sum);
