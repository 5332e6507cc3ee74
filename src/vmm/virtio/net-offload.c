/* virtio/net-offload.c: checksums and segmentation the guest left to the card
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/net-offload.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "viv-bytes.h"

/* The headers copied and rewritten for each piece: an Ethernet header with
 * a VLAN tag, IPv6 with extension headers, TCP with options */
#define HDR_MAX         256
/* The pieces of one frame sent: the copied headers and the guest's */
#define OUT_MAX         70

#define ETH_P_IPV4      0x0800
#define ETH_P_IPV6      0x86dd
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88a8
#define IPPROTO_TCP_    6
#define IPPROTO_UDP_    17

#define TH_FIN          0x01
#define TH_PSH          0x08
#define TH_CWR          0x80

void
vmm_net_tx_header_parse (struct vmm_net_tx_header *h, const uint8_t *p)
{
  h->flags = p[0];
  h->gso_type = p[1];
  /* p[2..3]: hdr_len, a hint only (5.1.6.2); the headers are parsed */
  h->gso_size = viv_get_le16 (p + 4);
  h->csum_start = viv_get_le16 (p + 6);
  h->csum_offset = viv_get_le16 (p + 8);
}

/* ---- the Internet checksum ------------------------------------------------------- */

/* A running sum of big-endian 16-bit words; ODD when an odd number of
 * bytes went in, so the next byte is a word's low half */
struct csum {
  uint64_t sum;
  bool odd;
};

static void
csum_bytes (struct csum *c, const uint8_t *p, size_t n)
{
  if (n == 0)
    return;
  if (c->odd)
    {
      c->sum += p[0];
      p++;
      n--;
      c->odd = false;
    }
  /* two words at a time: (hi << 16 | lo) folds to hi + lo */
  for (; n >= 4; p += 4, n -= 4)
    c->sum += viv_get_be32 (p);
  if (n >= 2)
    {
      c->sum += viv_get_be16 (p);
      p += 2;
      n -= 2;
    }
  if (n == 1)
    {
      c->sum += (uint32_t) p[0] << 8;
      c->odd = true;
    }
}

static void
csum_iov (struct csum *c, const struct iovec *iov, unsigned n_iov, size_t offset, size_t len)
{
  for (unsigned i = 0; i < n_iov && len > 0; i++)
    {
      size_t n;

      if (offset >= iov[i].iov_len)
        {
          offset -= iov[i].iov_len;
          continue;
        }
      n = MIN (iov[i].iov_len - offset, len);
      csum_bytes (c, (const uint8_t *) iov[i].iov_base + offset, n);
      len -= n;
      offset = 0;
    }
}

static uint16_t
csum_fold (const struct csum *c)
{
  uint64_t s = c->sum;

  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return (uint16_t) s;
}

/* What goes in the checksum field: the complement, never 0 (an all-zero
 * UDP checksum means "none"; Linux sends 0xffff for every kind) */
static uint16_t
csum_final (const struct csum *c)
{
  uint16_t v = (uint16_t) ~csum_fold (c);

  return v == 0 ? 0xffff : v;
}

uint16_t
vmm_net_csum_iov (const struct iovec *iov, unsigned n_iov, size_t offset, size_t len,
                  uint32_t sum)
{
  struct csum c = { sum, false };

  csum_iov (&c, iov, n_iov, offset, len);
  return csum_fold (&c);
}

/* ---- frames in pieces -------------------------------------------------------------- */

/* Copies up to LEN bytes of IOV from its start; returns how many */
static size_t
iov_copy (uint8_t *to, const struct iovec *iov, unsigned n_iov, size_t len)
{
  size_t done = 0;

  for (unsigned i = 0; i < n_iov && done < len; i++)
    {
      size_t n = MIN (iov[i].iov_len, len - done);

      memcpy (to + done, iov[i].iov_base, n);
      done += n;
    }
  return done;
}

/* Appends the LEN bytes of IN from OFFSET to OUT (*N used of MAX);
 * false when they take more pieces than that */
static bool
iov_slice (struct iovec *out, unsigned *n, unsigned max, const struct iovec *in,
           unsigned n_in, size_t offset, size_t len)
{
  for (unsigned i = 0; i < n_in && len > 0; i++)
    {
      size_t k;

      if (offset >= in[i].iov_len)
        {
          offset -= in[i].iov_len;
          continue;
        }
      if (*n == max)
        return false;
      k = MIN (in[i].iov_len - offset, len);
      out[*n].iov_base = (uint8_t *) in[i].iov_base + offset;
      out[*n].iov_len = k;
      (*n)++;
      len -= k;
      offset = 0;
    }
  return len == 0;
}

/* NEEDS_CSUM alone: the sum from csum_start on, at csum_start + csum_offset */
static int
send_checksummed (const struct vmm_net_tx_header *h, const struct iovec *iov, unsigned n_iov,
                  size_t len, vmm_net_send_fn send, void *send_data, const char **why)
{
  size_t at = (size_t) h->csum_start + h->csum_offset;
  struct csum c = { 0, false };
  struct iovec out[OUT_MAX];
  uint8_t field[2];
  unsigned n = 0;

  if (h->csum_start >= len || at + 2 > len)
    {
      *why = "the checksum's place is past the frame's end";
      return -EINVAL;
    }
  /* the field holds the pseudo-header's sum, which is meant to be added */
  csum_iov (&c, iov, n_iov, h->csum_start, len - h->csum_start);
  viv_put_be16 (field, csum_final (&c));
  iov_slice (out, &n, OUT_MAX, iov, n_iov, 0, at);
  out[n].iov_base = field;
  out[n++].iov_len = 2;
  if (!iov_slice (out, &n, OUT_MAX, iov, n_iov, at + 2, len - at - 2))
    {
      *why = "the frame is in too many pieces";
      return -EINVAL;
    }
  return send (send_data, out, n, len) == -EAGAIN ? -EAGAIN : 0;
}

/* Where a segmentation offload's headers are */
struct layout {
  size_t l3, l4, end;           /* the IP header, TCP/UDP header, payload */
  size_t ip_len;                /* the IPv4 header's length (IHL), or 40 */
  bool v6, tcp;
};

static const char *
parse_layout (const struct vmm_net_tx_header *h, const uint8_t *hb, size_t have,
              struct layout *lo)
{
  unsigned gso = h->gso_type & (uint8_t) ~VMM_NET_GSO_ECN;
  uint16_t type;
  uint8_t proto;

  if (!(h->flags & VMM_NET_HDR_F_NEEDS_CSUM))
    return "a segmentation offload without NEEDS_CSUM";
  if (gso != VMM_NET_GSO_TCPV4 && gso != VMM_NET_GSO_TCPV6 && gso != VMM_NET_GSO_UDP)
    return "an unknown gso_type";
  lo->l3 = 14;
  type = viv_get_be16 (hb + 12);
  if (type == ETH_P_8021Q || type == ETH_P_8021AD)
    {
      lo->l3 = 18;
      type = viv_get_be16 (hb + 16);
    }
  if (type != ETH_P_IPV4 && type != ETH_P_IPV6)
    return "a segmentation offload of something other than IP";
  lo->v6 = type == ETH_P_IPV6;
  lo->tcp = gso != VMM_NET_GSO_UDP;
  if ((gso == VMM_NET_GSO_TCPV4 && lo->v6) || (gso == VMM_NET_GSO_TCPV6 && !lo->v6))
    return "gso_type is not the packet's IP version";
  if (lo->l3 + 40 > have || hb[lo->l3] >> 4 != (lo->v6 ? 6 : 4))
    return "a bad IP header";
  lo->ip_len = lo->v6 ? 40 : (size_t) (hb[lo->l3] & 15) * 4;
  proto = lo->tcp ? IPPROTO_TCP_ : IPPROTO_UDP_;
  lo->l4 = h->csum_start;
  if (lo->ip_len < 20 || lo->l4 < lo->l3 + lo->ip_len)
    return "csum_start is inside the IP header";
  /* IPv4 says its protocol; IPv6 does where no extension header follows */
  if (lo->v6 ? lo->l4 == lo->l3 + 40 && hb[lo->l3 + 6] != proto : hb[lo->l3 + 9] != proto)
    return "the packet's protocol is not the one gso_type says";
  if (lo->l4 + 20 > have)
    return "headers longer than 256 bytes";
  lo->end = lo->l4 + (lo->tcp ? (size_t) (hb[lo->l4 + 12] >> 4) * 4 : 8);
  if (lo->tcp && lo->end < lo->l4 + 20)
    return "a bad TCP header";
  if (lo->end > have)
    return "headers longer than 256 bytes, or than the frame";
  if (lo->tcp && h->gso_size == 0)
    return "a TCP segmentation offload with a zero gso_size";
  return NULL;
}

/* The sum of the pseudo-header (RFC 9293 3.1, RFC 8200 8.1) */
static void
csum_pseudo (struct csum *c, const uint8_t *hb, const struct layout *lo, size_t l4_len)
{
  uint8_t tail[8] = { 0 };

  if (lo->v6)
    {
      csum_bytes (c, hb + lo->l3 + 8, 32);
      viv_put_be32 (tail, (uint32_t) l4_len);
      tail[7] = lo->tcp ? IPPROTO_TCP_ : IPPROTO_UDP_;
      csum_bytes (c, tail, 8);
    }
  else
    {
      csum_bytes (c, hb + lo->l3 + 12, 8);
      tail[1] = lo->tcp ? IPPROTO_TCP_ : IPPROTO_UDP_;
      viv_put_be16 (tail + 2, (uint16_t) l4_len);
      csum_bytes (c, tail, 4);
    }
}

int
vmm_net_tx_offload (const struct vmm_net_tx_header *h, const struct iovec *iov,
                    unsigned n_iov, size_t len, size_t max_frame, unsigned *next,
                    vmm_net_send_fn send, void *send_data, const char **why)
{
  uint8_t hb[HDR_MAX], sb[HDR_MAX];
  struct iovec out[OUT_MAX];
  struct layout lo;
  size_t have, payload, piece, n_pieces, field;
  uint32_t seq0;
  uint16_t id0;

  if ((h->gso_type & (uint8_t) ~VMM_NET_GSO_ECN) == VMM_NET_GSO_NONE)
    {
      *next = 0;
      return send_checksummed (h, iov, n_iov, len, send, send_data, why);
    }
  have = iov_copy (hb, iov, n_iov, MIN (len, (size_t) HDR_MAX));
  if (have < 18 || (*why = parse_layout (h, hb, have, &lo)) != NULL)
    {
      if (have < 18)
        *why = "a frame too short for its headers";
      return -EINVAL;
    }

  payload = len - lo.end;
  if (!lo.tcp || len <= max_frame)
    piece = payload;            /* whole */
  else if (max_frame > lo.end + h->gso_size)
    piece = (max_frame - lo.end) / h->gso_size * h->gso_size;
  else
    piece = h->gso_size;
  if (!lo.tcp && len > max_frame)
    {
      *why = "a UDP datagram longer than the network takes";
      return -EINVAL;
    }
  n_pieces = payload == 0 ? 1 : (payload + piece - 1) / piece;
  field = lo.l4 + (lo.tcp ? 16 : 6);
  seq0 = lo.tcp ? viv_get_be32 (hb + lo.l4 + 4) : 0;
  id0 = lo.v6 ? 0 : viv_get_be16 (hb + lo.l3 + 4);

  for (size_t i = *next; i < n_pieces; i++)
    {
      size_t off = i * piece, n = MIN (piece, payload - off), total = lo.end + n;
      struct csum c = { 0, false };
      unsigned n_out = 1;

      memcpy (sb, hb, lo.end);
      if (lo.v6)
        viv_put_be16 (sb + lo.l3 + 4, (uint16_t) (total - lo.l3 - 40));
      else
        {
          struct csum ip = { 0, false };

          viv_put_be16 (sb + lo.l3 + 2, (uint16_t) (total - lo.l3));
          viv_put_be16 (sb + lo.l3 + 4, (uint16_t) (id0 + i));
          sb[lo.l3 + 10] = sb[lo.l3 + 11] = 0;
          csum_bytes (&ip, sb + lo.l3, lo.ip_len);
          viv_put_be16 (sb + lo.l3 + 10, (uint16_t) ~csum_fold (&ip));
        }
      if (lo.tcp)
        {
          /* FIN and PSH end the packet, CWR starts it (as a NIC's TSO) */
          viv_put_be32 (sb + lo.l4 + 4, seq0 + (uint32_t) off);
          if (i + 1 < n_pieces)
            sb[lo.l4 + 13] &= (uint8_t) ~(TH_FIN | TH_PSH);
          if (i > 0)
            sb[lo.l4 + 13] &= (uint8_t) ~TH_CWR;
        }
      else
        viv_put_be16 (sb + lo.l4 + 4, (uint16_t) (total - lo.l4));
      sb[field] = sb[field + 1] = 0;
      csum_pseudo (&c, sb, &lo, total - lo.l4);
      csum_bytes (&c, sb + lo.l4, lo.end - lo.l4);
      csum_iov (&c, iov, n_iov, lo.end + off, n);
      viv_put_be16 (sb + field, lo.tcp ? (uint16_t) ~csum_fold (&c) : csum_final (&c));

      out[0].iov_base = sb;
      out[0].iov_len = lo.end;
      if (!iov_slice (out, &n_out, OUT_MAX, iov, n_iov, lo.end + off, n))
        {
          *why = "the frame is in too many pieces";
          return -EINVAL;
        }
      if (send (send_data, out, n_out, total) == -EAGAIN)
        {
          *next = (unsigned) i;
          return -EAGAIN;
        }
    }
  *next = 0;
  return 0;
}
