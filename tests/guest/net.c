/* net.c: mode=net and mode=netbench, a small IPv4 stack on virtio-net
 *
 * Ethernet, ARP, IPv4 (no fragments), ICMP echo, UDP for DHCP, and one
 * TCP connection at a time: in order only (anything else is dropped and
 * answered with a duplicate ACK), go-back-N retransmission after a
 * timeout or three duplicate ACKs, at most win= bytes in flight (default
 * 32 KiB), the peer's MSS from its SYN.  Every received IPv4, ICMP, UDP
 * and TCP checksum is verified; the bad ones are counted and dropped.
 * Everything polls (netdev.c).  Options: csum=1 negotiates CSUM and
 * GUEST_CSUM and sends TCP segments with NEEDS_CSUM, so the device's
 * checksum paths are used; rxbuf=N posts receive buffers of N bytes
 * (64 to 2048), so that frames span several with MRG_RXBUF.
 *
 * mode=net (run-net.sh and net-harness.py play the host side):
 *   DHCP, ARP for the gateway, pings to it; then the TCP exchanges.  In
 *   both the probe sends bytes= bytes (default 256 KiB) of its pattern,
 *   and the host sends bytes= bytes of another pattern followed by
 *   "ok\n" or "bad\n" (whether what it got was right), then closes its
 *   side; the probe checks what it got, then closes its own:
 *     client: connect to 10.0.2.2:srv (the host's 127.0.0.1:srv through
 *             slirp); the probe's pattern seed 1, the host's 2
 *     server: "# net: listening on port FWD" (fwd=, default 7777), then
 *             the host connects through its forward; seeds 3 and 4
 *   Then the malformed frames (a chain shorter than the header, one over
 *   65562 bytes, a runt): each must be used, and a ping must work after
 *   it; short_hdr=0 skips the first, which makes QEMU 7.2 abort.
 *
 * mode=netbench (bench/net.*): after DHCP and ARP, bench=tx sends bytes=
 *   to 10.0.2.2:srv and closes; bench=rx takes what the host sends until
 *   it closes; both print "netbench: tx|rx BYTES bytes in US us".
 *   bench=ping pings the gateway count= times (default 200) and prints
 *   "netbench: ping N rtt-median US us".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "net.h"
#include "netdev.h"

#define ETH_ARP  0x0806
#define ETH_IP   0x0800
#define IPP_ICMP 1
#define IPP_TCP  6
#define IPP_UDP  17

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* IPv4 addresses as their four bytes in memory (network order) */
#define IP4(a, b, c, d) ((uint32_t) (a) | (uint32_t) (b) << 8 | (uint32_t) (c) << 16 \
                         | (uint32_t) (d) << 24)
#define IPF(ip) (ip) & 0xff, (ip) >> 8 & 0xff, (ip) >> 16 & 0xff, (ip) >> 24
#define IPFMT "%u.%u.%u.%u"
#define MACFMT "%02x:%02x:%02x:%02x:%02x:%02x"
#define MACF(m) (m)[0], (m)[1], (m)[2], (m)[3], (m)[4], (m)[5]

#define RCV_WND 65535u
#define RTO_MIN_MS 200
#define RTO_MAX_MS 3000

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static struct netdev nd;
static uint8_t frame[NET_FRAME_MAX + 64] __attribute__ ((aligned (64)));
static uint32_t my_ip, gw_ip, dns_ip, net_mask;
static uint8_t gw_mac[6];
static bool gw_mac_known;
static uint16_t ip_id;

/* What was checked on the way in */
static struct
{
  uint64_t ip, bad_ip, bad_icmp, bad_udp, tcp, bad_tcp, unhandled;
} cnt;

/* --- helpers -------------------------------------------------------------------------- */

static inline uint16_t get16 (const uint8_t *p) { return (uint16_t) (p[0] << 8 | p[1]); }
static inline uint32_t get32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}
static inline void put16 (uint8_t *p, uint16_t v) { p[0] = (uint8_t) (v >> 8); p[1] = (uint8_t) v; }
static inline void put32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}
static inline uint32_t
getip (const uint8_t *p)
{
  uint32_t v;
  __builtin_memcpy (&v, p, 4);
  return v;
}
static inline void putip (uint8_t *p, uint32_t v) { __builtin_memcpy (p, &v, 4); }

static uint64_t
now_us (void)
{
  return rdtsc () * 1000 / clock_tsc_per_ms ();
}

static uint64_t
splitmix64 (uint64_t x)
{
  uint64_t z = x + 0x9e3779b97f4a7c15ull;

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void
net_pattern (uint32_t seed, uint64_t off, uint8_t *p, uint32_t len)
{
  uint64_t base = (uint64_t) seed << 40;

  while (len && off % 8)
    {
      *p++ = (uint8_t) (splitmix64 (base + off / 8) >> (8 * (off % 8)));
      off++;
      len--;
    }
  for (; len >= 8; len -= 8, off += 8, p += 8)
    {
      uint64_t w = splitmix64 (base + off / 8);
      __builtin_memcpy (p, &w, 8);
    }
  for (uint64_t w = splitmix64 (base + off / 8), b = 0; b < len; b++)
    p[b] = (uint8_t) (w >> (8 * b));
}

/* The Internet checksum (RFC 1071) summed in the machine's order, which
 * gives the right bytes when stored the same way; every part but the
 * last must have an even length */
static uint64_t
csum_add (uint64_t s, const uint8_t *p, uint32_t len)
{
  for (; len >= 8; len -= 8, p += 8)
    {
      uint32_t a, b;
      __builtin_memcpy (&a, p, 4);
      __builtin_memcpy (&b, p + 4, 4);
      s += (uint64_t) a + b;
    }
  for (; len >= 2; len -= 2, p += 2)
    {
      uint16_t w;
      __builtin_memcpy (&w, p, 2);
      s += w;
    }
  if (len)
    s += *p;
  return s;
}

static uint16_t
csum_fold (uint64_t s)
{
  while (s >> 16)
    s = (s & 0xffff) + (s >> 16);
  return (uint16_t) s;
}

static uint64_t
pseudo_sum (uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
  uint8_t ph[12];

  putip (ph, src);
  putip (ph + 4, dst);
  ph[8] = 0;
  ph[9] = proto;
  put16 (ph + 10, len);
  return csum_add (0, ph, 12);
}

static void
store_csum (uint8_t *field, uint64_t s)
{
  uint16_t c = (uint16_t) ~csum_fold (s);
  __builtin_memcpy (field, &c, 2);
}

/* --- sending -------------------------------------------------------------------------- */

/* A transmit buffer with the Ethernet header filled in: *l3 is where
 * the payload goes */
static uint8_t *
eth_begin_len (uint16_t *slot, const uint8_t *dst, uint16_t type, uint32_t len)
{
  uint8_t *f = len > 2048 - NET_HDR_LEN ? netdev_tx_big (&nd, slot) : netdev_tx_buf (&nd, slot);

  if (!f)
    return NULL;
  memcpy (f, dst, 6);
  memcpy (f + 6, nd.mac, 6);
  put16 (f + 12, type);
  return f;
}

static uint8_t *
eth_begin (uint16_t *slot, const uint8_t *dst, uint16_t type)
{
  return eth_begin_len (slot, dst, type, 0);
}

/* An IPv4 header at p for a payload of len bytes */
static void
ip_header (uint8_t *p, uint8_t proto, uint32_t src, uint32_t dst, uint32_t len)
{
  p[0] = 0x45;
  p[1] = 0;
  put16 (p + 2, (uint16_t) (20 + len));
  put16 (p + 4, ip_id++);
  put16 (p + 6, 0x4000);   /* DF */
  p[8] = 64;
  p[9] = proto;
  p[10] = p[11] = 0;
  putip (p + 12, src);
  putip (p + 16, dst);
  store_csum (p + 10, csum_add (0, p, 20));
}

/* --- receiving ------------------------------------------------------------------------ */

static struct
{
  bool got;
  uint32_t ip;
  uint8_t mac[6];
} arp_reply;

static struct
{
  bool got, payload_ok;
  uint16_t id, seq;
  uint64_t when;
} echo_reply;

static uint8_t echo_payload[56];

static struct
{
  bool got;
  uint32_t len;
  uint8_t msg[600];
} dhcp_in;

struct tcb;
static struct tcb *the_tcb;
static void tcp_input (const uint8_t *eth, uint32_t src, uint32_t dst, const uint8_t *seg,
                       uint32_t len);
static void tcp_output (struct tcb *t);

static void
arp_input (const uint8_t *a, uint32_t len)
{
  uint16_t slot;
  uint8_t *f;

  if (len < 28 || get16 (a) != 1 || get16 (a + 2) != ETH_IP || a[4] != 6 || a[5] != 4)
    return;
  if (get16 (a + 6) == 2)
    {
      arp_reply.got = true;
      arp_reply.ip = getip (a + 14);
      memcpy (arp_reply.mac, a + 8, 6);
    }
  else if (get16 (a + 6) == 1 && my_ip && getip (a + 24) == my_ip
           && (f = eth_begin (&slot, a + 8, ETH_ARP)))
    {
      uint8_t *r = f + 14;

      memcpy (r, a, 6);
      put16 (r + 6, 2);
      memcpy (r + 8, nd.mac, 6);
      putip (r + 14, my_ip);
      memcpy (r + 18, a + 8, 10);
      netdev_send (&nd, slot, 14 + 28, 0, 0);
    }
}

static void
icmp_input (const uint8_t *p, uint32_t len)
{
  if (len < 8 || csum_fold (csum_add (0, p, len)) != 0xffff)
    {
      cnt.bad_icmp++;
      return;
    }
  if (p[0] == 0 && p[1] == 0)
    {
      echo_reply.got = true;
      echo_reply.when = rdtsc ();
      echo_reply.id = get16 (p + 4);
      echo_reply.seq = get16 (p + 6);
      echo_reply.payload_ok = len - 8 == sizeof echo_payload
                              && memcmp (p + 8, echo_payload, sizeof echo_payload) == 0;
    }
}

static void
udp_input (uint32_t src, uint32_t dst, const uint8_t *u, uint32_t len)
{
  if (len < 8 || get16 (u + 4) > len || get16 (u + 4) < 8)
    {
      cnt.bad_udp++;
      return;
    }
  len = get16 (u + 4);
  if (get16 (u + 6) != 0
      && csum_fold (csum_add (pseudo_sum (src, dst, IPP_UDP, (uint16_t) len), u, len))
         != 0xffff)
    {
      cnt.bad_udp++;
      return;
    }
  if (get16 (u + 2) == 68 && len - 8 <= sizeof dhcp_in.msg)
    {
      memcpy (dhcp_in.msg, u + 8, len - 8);
      dhcp_in.len = len - 8;
      dhcp_in.got = true;
    }
}

static void
ip_input (const uint8_t *eth, const uint8_t *p, uint32_t len)
{
  uint32_t hl, tl, src, dst;

  cnt.ip++;
  if (len < 20 || (p[0] >> 4) != 4 || (hl = (p[0] & 15) * 4u) < 20 || hl > len
      || (tl = get16 (p + 2)) < hl || tl > len
      || csum_fold (csum_add (0, p, hl)) != 0xffff)
    {
      cnt.bad_ip++;
      return;
    }
  src = getip (p + 12);
  dst = getip (p + 16);
  if (my_ip && dst != my_ip && dst != 0xffffffffu)
    return;
  if ((get16 (p + 6) & 0x3fff) != 0)
    {
      cnt.unhandled++;   /* a fragment */
      return;
    }
  switch (p[9])
    {
    case IPP_ICMP:
      icmp_input (p + hl, tl - hl);
      break;
    case IPP_UDP:
      udp_input (src, dst, p + hl, tl - hl);
      break;
    case IPP_TCP:
      tcp_input (eth, src, dst, p + hl, tl - hl);
      break;
    default:
      cnt.unhandled++;
    }
}

/* Handles every frame waiting, then sends what TCP has to send */
static unsigned
net_poll (void)
{
  unsigned n = 0;
  uint32_t len;

  while ((len = netdev_recv (&nd, frame, sizeof frame)) != 0)
    {
      n++;
      if (len < 14 || (memcmp (frame, nd.mac, 6) != 0 && memcmp (frame, bcast, 6) != 0))
        continue;
      if (get16 (frame + 12) == ETH_ARP)
        arp_input (frame + 14, len - 14);
      else if (get16 (frame + 12) == ETH_IP)
        ip_input (frame, frame + 14, len - 14);
      else
        cnt.unhandled++;
    }
  if (the_tcb)
    tcp_output (the_tcb);
  netdev_tx_reap (&nd);
  netdev_flush (&nd);
  return n;
}

/* --- DHCP ------------------------------------------------------------------------------ */

static const uint8_t *
dhcp_option (const uint8_t *m, uint32_t len, uint8_t code, uint8_t *olen)
{
  for (uint32_t i = 240; i < len;)
    {
      if (m[i] == 255)
        break;
      if (m[i] == 0)
        {
          i++;
          continue;
        }
      if (i + 2 > len || i + 2 + m[i + 1] > len)
        break;
      if (m[i] == code)
        {
          *olen = m[i + 1];
          return m + i + 2;
        }
      i += 2u + m[i + 1];
    }
  return NULL;
}

static void
dhcp_send (uint32_t xid, uint8_t type, uint32_t want_ip, uint32_t server)
{
  uint16_t slot;
  uint8_t *f = eth_begin (&slot, bcast, ETH_IP), *u, *m, *o;
  uint32_t len;

  if (!f)
    return;
  u = f + 34;
  m = u + 8;
  memset (m, 0, 240);
  m[0] = 1;
  m[1] = 1;
  m[2] = 6;
  put32 (m + 4, xid);
  put16 (m + 10, 0x8000);   /* broadcast replies: no address yet */
  memcpy (m + 28, nd.mac, 6);
  put32 (m + 236, 0x63825363);
  o = m + 240;
  *o++ = 53, *o++ = 1, *o++ = type;
  if (want_ip)
    {
      *o++ = 50, *o++ = 4;
      putip (o, want_ip);
      o += 4;
    }
  if (server)
    {
      *o++ = 54, *o++ = 4;
      putip (o, server);
      o += 4;
    }
  *o++ = 55, *o++ = 3, *o++ = 1, *o++ = 3, *o++ = 6;
  *o++ = 255;
  len = (uint32_t) (o - m);
  put16 (u, 68);
  put16 (u + 2, 67);
  put16 (u + 4, (uint16_t) (8 + len));
  u[6] = u[7] = 0;
  store_csum (u + 6, csum_add (pseudo_sum (0, 0xffffffffu, IPP_UDP, (uint16_t) (8 + len)),
                               u, 8 + len));
  ip_header (f + 14, IPP_UDP, 0, 0xffffffffu, 8 + len);
  netdev_send (&nd, slot, 34 + 8 + len, 0, 0);
  netdev_flush (&nd);
}

/* Sends TYPE and waits for a reply of WANT to xid: its yiaddr */
static bool
dhcp_exchange (uint32_t xid, uint8_t type, uint32_t want_ip, uint32_t server, uint8_t want)
{
  for (unsigned attempt = 0; attempt < 5; attempt++)
    {
      uint64_t deadline = deadline_after_ms (1000);

      dhcp_in.got = false;
      dhcp_send (xid, type, want_ip, server);
      while (!deadline_passed (deadline))
        {
          uint8_t ol;
          const uint8_t *t;

          net_poll ();
          if (!dhcp_in.got)
            continue;
          dhcp_in.got = false;
          if (dhcp_in.len < 240 || dhcp_in.msg[0] != 2 || get32 (dhcp_in.msg + 4) != xid
              || get32 (dhcp_in.msg + 236) != 0x63825363)
            continue;
          t = dhcp_option (dhcp_in.msg, dhcp_in.len, 53, &ol);
          if (t && ol == 1 && *t == want)
            return true;
        }
    }
  return false;
}

static uint32_t
dhcp_ip_option (uint8_t code)
{
  uint8_t ol;
  const uint8_t *p = dhcp_option (dhcp_in.msg, dhcp_in.len, code, &ol);

  return p && ol >= 4 ? getip (p) : 0;
}

static bool
dhcp (void)
{
  uint32_t xid = (uint32_t) rdtsc (), offered, server;

  if (!dhcp_exchange (xid, 1, 0, 0, 2))
    {
      tap_diag ("net: no DHCPOFFER");
      return false;
    }
  offered = getip (dhcp_in.msg + 16);
  server = dhcp_ip_option (54);
  tap_diag ("net: DHCPOFFER of " IPFMT " from " IPFMT, IPF (offered), IPF (server));
  if (!dhcp_exchange (xid, 3, offered, server, 5))
    {
      tap_diag ("net: no DHCPACK");
      return false;
    }
  my_ip = getip (dhcp_in.msg + 16);
  gw_ip = dhcp_ip_option (3);
  dns_ip = dhcp_ip_option (6);
  net_mask = dhcp_ip_option (1);
  tap_diag ("net: lease " IPFMT " router " IPFMT " dns " IPFMT, IPF (my_ip), IPF (gw_ip),
            IPF (dns_ip));
  return my_ip != 0 && gw_ip != 0;
}

/* --- ARP and ICMP --------------------------------------------------------------------- */

static bool
arp_resolve (uint32_t ip, uint8_t *mac)
{
  for (unsigned attempt = 0; attempt < 5; attempt++)
    {
      uint64_t deadline = deadline_after_ms (500);
      uint16_t slot;
      uint8_t *f = eth_begin (&slot, bcast, ETH_ARP), *a;

      if (!f)
        return false;
      a = f + 14;
      put16 (a, 1);
      put16 (a + 2, ETH_IP);
      a[4] = 6;
      a[5] = 4;
      put16 (a + 6, 1);
      memcpy (a + 8, nd.mac, 6);
      putip (a + 14, my_ip);
      memset (a + 18, 0, 6);
      putip (a + 24, ip);
      arp_reply.got = false;
      netdev_send (&nd, slot, 14 + 28, 0, 0);
      netdev_flush (&nd);
      while (!deadline_passed (deadline))
        {
          net_poll ();
          if (arp_reply.got && arp_reply.ip == ip)
            {
              memcpy (mac, arp_reply.mac, 6);
              return true;
            }
        }
    }
  return false;
}

/* One echo request to the gateway; the round trip in microseconds, or
 * -1 without a right reply within timeout_ms */
static int64_t
ping (uint16_t id, uint16_t seq, uint64_t timeout_ms)
{
  uint16_t slot;
  uint8_t *f = eth_begin (&slot, gw_mac, ETH_IP), *p;
  uint64_t t0, deadline = deadline_after_ms (timeout_ms);

  if (!f)
    return -1;
  for (unsigned i = 0; i < sizeof echo_payload; i++)
    echo_payload[i] = (uint8_t) (seq + i * 7);
  p = f + 34;
  p[0] = 8;
  p[1] = 0;
  p[2] = p[3] = 0;
  put16 (p + 4, id);
  put16 (p + 6, seq);
  memcpy (p + 8, echo_payload, sizeof echo_payload);
  store_csum (p + 2, csum_add (0, p, 8 + sizeof echo_payload));
  ip_header (f + 14, IPP_ICMP, my_ip, gw_ip, 8 + sizeof echo_payload);
  echo_reply.got = false;
  t0 = rdtsc ();
  netdev_send (&nd, slot, 34 + 8 + sizeof echo_payload, 0, 0);
  netdev_flush (&nd);
  while (!deadline_passed (deadline))
    {
      net_poll ();
      if (echo_reply.got && echo_reply.id == id && echo_reply.seq == seq)
        return echo_reply.payload_ok ? (int64_t) ((echo_reply.when - t0) * 1000
                                                  / clock_tsc_per_ms ())
                                     : -1;
    }
  return -1;
}

/* --- TCP ------------------------------------------------------------------------------ */

enum tcp_state { TCP_CLOSED, TCP_LISTEN, TCP_SYN_SENT, TCP_SYN_RCVD, TCP_ESTABLISHED };

struct tcb
{
  enum tcp_state state;
  uint32_t rip;
  uint16_t lport, rport;
  uint8_t rmac[6];
  uint16_t mss;

  /* Sending: tx_total bytes of pattern tx_seed, then a FIN once fin_queued */
  uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, wnd_limit;
  uint64_t tx_total;
  uint32_t tx_seed;
  bool fin_queued;
  uint64_t rto_deadline;
  uint32_t rto_ms;
  unsigned dupacks;

  /* Receiving: the first rx_expect bytes checked against rx_seed (with
   * rx_check), the rest kept in tail */
  uint32_t irs, rcv_nxt;
  uint64_t rx_count, rx_expect, rx_bad_at;
  uint32_t rx_seed;
  bool rx_check, peer_fin, reset, ack_pending;
  uint8_t tail[64];
  unsigned tail_len;
  uint64_t rx_first_us;

  uint64_t retransmits, segs_out, segs_in, out_of_order, tso_out;
};

static struct tcb tcb;

static inline bool seq_lt (uint32_t a, uint32_t b) { return (int32_t) (a - b) < 0; }
static inline bool seq_le (uint32_t a, uint32_t b) { return (int32_t) (a - b) <= 0; }

static uint32_t
stream_end (const struct tcb *t)
{
  return t->iss + 1 + (uint32_t) t->tx_total;
}

/* One segment: flags, data from the stream at seq (len bytes; more than
 * the MSS as a TSO packet, which the device cuts) */
static bool
tcp_send (struct tcb *t, uint8_t flags, uint32_t seq, uint32_t len)
{
  uint16_t slot;
  uint32_t hl = flags & TH_SYN ? 24 : 20;
  uint8_t *f = eth_begin_len (&slot, t->rmac, ETH_IP, 34 + hl + len), *s;
  bool offload = virtio_has (&nd.v, VIRTIO_NET_F_CSUM);
  uint64_t sum;

  if (!f)
    return false;
  s = f + 34;
  put16 (s, t->lport);
  put16 (s + 2, t->rport);
  put32 (s + 4, seq);
  put32 (s + 8, flags & TH_ACK ? t->rcv_nxt : 0);
  s[12] = (uint8_t) (hl / 4 << 4);
  s[13] = flags;
  put16 (s + 14, (uint16_t) RCV_WND);
  s[16] = s[17] = s[18] = s[19] = 0;
  if (flags & TH_SYN)
    {
      s[20] = 2;
      s[21] = 4;
      put16 (s + 22, 1460);
    }
  if (len)
    net_pattern (t->tx_seed, seq - t->iss - 1, s + hl, len);
  sum = pseudo_sum (my_ip, t->rip, IPP_TCP, (uint16_t) (hl + len));
  if (offload)
    {
      /* The device adds the segment to the pseudo-header's sum (§5.1.6.2) */
      uint16_t c = csum_fold (sum);
      __builtin_memcpy (s + 16, &c, 2);
    }
  else
    store_csum (s + 16, csum_add (sum, s, hl + len));
  ip_header (f + 14, IPP_TCP, my_ip, t->rip, hl + len);
  if (len > t->mss)
    {
      netdev_send_tso (&nd, slot, 34 + hl + len, 34, 16, (uint16_t) (34 + hl), t->mss);
      t->tso_out++;
    }
  else
    netdev_send (&nd, slot, 34 + hl + len, offload ? 34 : 0, 16);
  t->segs_out++;
  t->ack_pending = false;
  return true;
}

static void
tcp_reset_reply (const uint8_t *eth, uint32_t src, const uint8_t *s, uint32_t len)
{
  /* RFC 9293 §3.10.7.1: a segment for no connection gets a RST */
  struct tcb r = { 0 };
  uint8_t flags = s[13];
  uint32_t hl = (s[12] >> 4) * 4u;

  if (flags & TH_RST)
    return;
  r.rip = src;
  r.lport = get16 (s + 2);
  r.rport = get16 (s);
  memcpy (r.rmac, eth + 6, 6);
  if (flags & TH_ACK)
    tcp_send (&r, TH_RST, get32 (s + 8), 0);
  else
    {
      r.rcv_nxt = get32 (s + 4) + (len - hl) + !!(flags & TH_SYN) + !!(flags & TH_FIN);
      tcp_send (&r, TH_RST | TH_ACK, 0, 0);
    }
}

static uint16_t
parse_mss (const uint8_t *s, uint32_t hl)
{
  for (uint32_t i = 20; i < hl;)
    {
      if (s[i] == 0)
        break;
      if (s[i] == 1)
        {
          i++;
          continue;
        }
      if (i + 1 >= hl || s[i + 1] < 2)
        break;
      /* no larger than our own MTU allows (RFC 9293 3.7.1): passt offers 65480 */
      if (s[i] == 2 && s[i + 1] == 4 && i + 4 <= hl)
        return get16 (s + i + 2) < 1460 ? get16 (s + i + 2) : 1460;
      i += s[i + 1];
    }
  return 536;
}

static void
tcp_deliver (struct tcb *t, const uint8_t *d, uint32_t len)
{
  static uint8_t want[2048];

  if (!t->rx_count)
    t->rx_first_us = now_us ();
  if (t->rx_check && t->rx_count < t->rx_expect)
    {
      uint32_t n = t->rx_expect - t->rx_count < len ? (uint32_t) (t->rx_expect - t->rx_count)
                                                    : len;

      net_pattern (t->rx_seed, t->rx_count, want, n);
      if (memcmp (want, d, n) != 0 && t->rx_bad_at == UINT64_MAX)
        for (uint32_t i = 0; i < n; i++)
          if (want[i] != d[i])
            {
              t->rx_bad_at = t->rx_count + i;
              break;
            }
      t->rx_count += n;
      d += n;
      len -= n;
    }
  if (t->rx_check)
    for (uint32_t i = 0; i < len && t->tail_len < sizeof t->tail; i++)
      t->tail[t->tail_len++] = d[i];
  t->rx_count += len;
}

static void
tcp_input (const uint8_t *eth, uint32_t src, uint32_t dst, const uint8_t *s, uint32_t len)
{
  struct tcb *t = the_tcb;
  uint32_t hl, seq, ack, dlen;
  uint8_t flags;

  cnt.tcp++;
  if (len < 20 || (hl = (s[12] >> 4) * 4u) < 20 || hl > len
      || csum_fold (csum_add (pseudo_sum (src, dst, IPP_TCP, (uint16_t) len), s, len)) != 0xffff)
    {
      cnt.bad_tcp++;
      return;
    }
  flags = s[13];
  seq = get32 (s + 4);
  ack = get32 (s + 8);
  dlen = len - hl;

  if (t && t->state == TCP_LISTEN && get16 (s + 2) == t->lport && (flags & TH_SYN)
      && !(flags & (TH_ACK | TH_RST)))
    {
      t->rip = src;
      t->rport = get16 (s);
      memcpy (t->rmac, eth + 6, 6);
      t->irs = seq;
      t->rcv_nxt = seq + 1;
      t->mss = parse_mss (s, hl);
      t->snd_wnd = get16 (s + 14);
      t->state = TCP_SYN_RCVD;
      tcp_send (t, TH_SYN | TH_ACK, t->iss, 0);
      t->snd_nxt = t->snd_max = t->iss + 1;
      t->rto_deadline = deadline_after_ms (t->rto_ms);
      return;
    }
  if (!t || t->state == TCP_CLOSED || t->state == TCP_LISTEN || src != t->rip
      || get16 (s + 2) != t->lport || get16 (s) != t->rport)
    {
      tcp_reset_reply (eth, src, s, len);
      return;
    }
  t->segs_in++;
  if (flags & TH_RST)
    {
      t->reset = true;
      t->state = TCP_CLOSED;
      return;
    }
  if (t->state == TCP_SYN_SENT)
    {
      if ((flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) && ack == t->iss + 1)
        {
          t->irs = seq;
          t->rcv_nxt = seq + 1;
          t->snd_una = ack;
          t->mss = parse_mss (s, hl);
          t->snd_wnd = get16 (s + 14);
          t->state = TCP_ESTABLISHED;
          t->ack_pending = true;
          t->rto_ms = RTO_MIN_MS;
        }
      return;
    }
  if (flags & TH_SYN)
    {
      /* Our SYN-ACK (or ACK) was lost: say it again */
      if (t->state == TCP_SYN_RCVD)
        tcp_send (t, TH_SYN | TH_ACK, t->iss, 0);
      else
        t->ack_pending = true;
      return;
    }
  if (!(flags & TH_ACK))
    return;
  if (t->state == TCP_SYN_RCVD)
    {
      if (ack != t->iss + 1)
        return;
      t->snd_una = ack;
      t->state = TCP_ESTABLISHED;
      t->rto_ms = RTO_MIN_MS;
    }

  /* The acknowledgement */
  if (seq_lt (t->snd_una, ack) && seq_le (ack, t->snd_max))
    {
      t->snd_una = ack;
      if (seq_lt (t->snd_nxt, ack))
        t->snd_nxt = ack;
      t->dupacks = 0;
      t->rto_ms = RTO_MIN_MS;
      t->rto_deadline = deadline_after_ms (t->rto_ms);
    }
  else if (ack == t->snd_una && dlen == 0 && !(flags & TH_FIN) && t->snd_una != t->snd_max
           && get16 (s + 14) == t->snd_wnd && ++t->dupacks == 3)
    {
      t->snd_nxt = t->snd_una;   /* go back N */
      t->retransmits++;
    }
  t->snd_wnd = get16 (s + 14);

  /* The data, in order only */
  if (dlen || (flags & TH_FIN))
    {
      if (seq == t->rcv_nxt && !t->peer_fin)
        {
          if (dlen)
            tcp_deliver (t, s + hl, dlen);
          t->rcv_nxt += dlen;
          if (flags & TH_FIN)
            {
              t->rcv_nxt++;
              t->peer_fin = true;
            }
        }
      else
        t->out_of_order++;
      t->ack_pending = true;
    }
}

/* Sends what the window allows, retransmits on time-out, ACKs */
static void
tcp_output (struct tcb *t)
{
  uint32_t end, wnd, seg_max;

  if (t->state == TCP_SYN_SENT || t->state == TCP_SYN_RCVD)
    {
      if (deadline_passed (t->rto_deadline))
        {
          tcp_send (t, t->state == TCP_SYN_SENT ? TH_SYN : TH_SYN | TH_ACK, t->iss, 0);
          t->retransmits++;
          t->rto_ms = t->rto_ms * 2 > RTO_MAX_MS ? RTO_MAX_MS : t->rto_ms * 2;
          t->rto_deadline = deadline_after_ms (t->rto_ms);
        }
      return;
    }
  if (t->state != TCP_ESTABLISHED)
    return;
  if (t->snd_una != t->snd_max && deadline_passed (t->rto_deadline))
    {
      t->snd_nxt = t->snd_una;
      t->retransmits++;
      t->rto_ms = t->rto_ms * 2 > RTO_MAX_MS ? RTO_MAX_MS : t->rto_ms * 2;
      t->rto_deadline = deadline_after_ms (t->rto_ms);
    }
  end = stream_end (t);
  wnd = t->snd_wnd < t->wnd_limit ? t->snd_wnd : t->wnd_limit;
  /* With TSO, packets of whole segments up to 64 KiB */
  seg_max = virtio_has (&nd.v, VIRTIO_NET_F_HOST_TSO4)
            ? (65535 - 40) / t->mss * t->mss : t->mss;
  while (seq_lt (t->snd_nxt, end))
    {
      uint32_t in_flight = t->snd_nxt - t->snd_una, len = end - t->snd_nxt;

      if (in_flight >= wnd)
        break;
      if (len > seg_max)
        len = seg_max;
      if (len > wnd - in_flight)
        {
          /* No small segments while some are in flight */
          if (in_flight && wnd - in_flight < t->mss)
            break;
          len = wnd - in_flight;
          if (len > t->mss)
            len -= len % t->mss;
        }
      if (!tcp_send (t, TH_ACK | TH_PSH, t->snd_nxt, len))
        break;
      if (t->snd_una == t->snd_max)
        t->rto_deadline = deadline_after_ms (t->rto_ms);
      t->snd_nxt += len;
      if (seq_lt (t->snd_max, t->snd_nxt))
        t->snd_max = t->snd_nxt;
    }
  if (t->fin_queued && t->snd_nxt == end)
    {
      if (tcp_send (t, TH_FIN | TH_ACK, end, 0))
        {
          if (t->snd_una == t->snd_max)
            t->rto_deadline = deadline_after_ms (t->rto_ms);
          t->snd_nxt = end + 1;
          t->snd_max = end + 1;
        }
    }
  if (t->ack_pending)
    tcp_send (t, TH_ACK, t->snd_nxt, 0);
}

static void
tcb_init (struct tcb *t, uint16_t lport)
{
  memset (t, 0, sizeof *t);
  t->lport = lport;
  t->iss = (uint32_t) (rdtsc () >> 4);
  t->snd_una = t->snd_nxt = t->snd_max = t->iss;
  t->wnd_limit = (uint32_t) cmdline_number ("win", 32768);
  t->rto_ms = RTO_MIN_MS * 2;
  t->mss = 536;
  t->rx_bad_at = UINT64_MAX;
  the_tcb = t;
}

static bool
tcp_wait (struct tcb *t, bool (*done) (const struct tcb *), uint64_t timeout_ms)
{
  uint64_t deadline = deadline_after_ms (timeout_ms);

  while (!done (t))
    {
      if (t->reset || deadline_passed (deadline))
        return false;
      net_poll ();
    }
  return true;
}

static bool established (const struct tcb *t) { return t->state == TCP_ESTABLISHED; }
static bool all_acked (const struct tcb *t) { return t->snd_una == stream_end (t); }
static bool peer_closed (const struct tcb *t) { return t->peer_fin; }
static bool fin_acked (const struct tcb *t) { return t->snd_una == stream_end (t) + 1; }

static bool
tcp_connect (struct tcb *t, uint32_t ip, uint16_t port, uint64_t timeout_ms)
{
  tcb_init (t, (uint16_t) (40000 + (rdtsc () >> 8) % 20000));
  t->rip = ip;
  t->rport = port;
  memcpy (t->rmac, gw_mac, 6);
  t->state = TCP_SYN_SENT;
  tcp_send (t, TH_SYN, t->iss, 0);
  t->snd_nxt = t->snd_max = t->iss + 1;
  t->rto_deadline = deadline_after_ms (t->rto_ms);
  netdev_flush (&nd);
  return tcp_wait (t, established, timeout_ms);
}

/* The exchange of mode=net on an established connection (see the top) */
static void
tcp_exchange (struct tcb *t, const char *who, uint32_t my_seed, uint32_t host_seed,
              uint64_t bytes)
{
  uint64_t t0 = now_us (), t1;
  bool sent, got, closed;
  int verdict_len;

  tap_diag ("net: %s: connected, " IPFMT ":%u <-> " IPFMT ":%u, MSS %u, window %u", who,
            IPF (my_ip), t->lport, IPF (t->rip), t->rport, t->mss, t->snd_wnd);
  t->tx_seed = my_seed;
  t->tx_total = bytes;
  t->rx_seed = host_seed;
  t->rx_expect = bytes;
  t->rx_check = true;
  sent = tcp_wait (t, all_acked, 20000);
  t1 = now_us ();
  tap_ok (sent, "net: %s: sent %lu bytes of pattern %u, all acknowledged (%lu us, "
          "%lu retransmissions)", who, bytes, my_seed, t1 - t0, t->retransmits);
  if (virtio_has (&nd.v, VIRTIO_NET_F_HOST_TSO4) && 2u * t->mss <= t->wnd_limit)
    tap_ok (t->tso_out > 0, "net: %s: %lu of the segments went as TSO packets of up to "
            "64 KiB for the device to cut", who, t->tso_out);
  got = tcp_wait (t, peer_closed, 20000);
  tap_ok (got && t->rx_count >= bytes && t->rx_bad_at == UINT64_MAX,
          "net: %s: received the host's %lu bytes of pattern %u intact, then its FIN "
          "(%lu bytes in all, first bad byte %ld, %lu segments out of order)", who, bytes,
          host_seed, t->rx_count, t->rx_bad_at == UINT64_MAX ? -1l : (long) t->rx_bad_at,
          t->out_of_order);
  verdict_len = t->tail_len && t->tail[t->tail_len - 1] == '\n' ? (int) t->tail_len - 1
                                                               : (int) t->tail_len;
  tap_ok (t->tail_len == 3 && memcmp (t->tail, "ok\n", 3) == 0,
          "net: %s: the host says it got the probe's bytes intact (\"%.*s\")", who,
          verdict_len, (const char *) t->tail);
  t->fin_queued = true;
  closed = tcp_wait (t, fin_acked, 5000);
  tap_ok (closed && t->peer_fin, "net: %s: closed cleanly, FIN both ways (%lu segments out, "
          "%lu in, %lu us in all)", who, t->segs_out, t->segs_in, now_us () - t0);
  t->state = TCP_CLOSED;
  the_tcb = NULL;
}

/* --- the tests -------------------------------------------------------------------------- */

static bool
parse_mac (const char *s, uint8_t *mac)
{
  for (unsigned i = 0; i < 6; i++)
    {
      unsigned v = 0;

      for (unsigned k = 0; k < 2; k++, s++)
        {
          char c = *s;
          unsigned d = c >= '0' && c <= '9' ? (unsigned) (c - '0')
                       : c >= 'a' && c <= 'f' ? (unsigned) (c - 'a' + 10)
                       : c >= 'A' && c <= 'F' ? (unsigned) (c - 'A' + 10) : 16;
          if (d == 16)
            return false;
          v = v * 16 + d;
        }
      mac[i] = (uint8_t) v;
      if (i < 5 && *s++ != ':')
        return false;
    }
  return true;
}

static NORETURN void
finish (const struct acpi *acpi)
{
  tap_diag ("%u tests, %u failed; powering off", tap_count (), tap_failures ());
  tap_plan ();
  acpi_power_off (acpi);
  tap_bail ("power-off did not take effect");
}

static bool
bring_up (const struct pci *pci, bool report)
{
  if (!netdev_setup (&nd, pci, cmdline_number ("csum", 0) != 0, cmdline_number ("tso", 0) != 0,
                     (uint32_t) cmdline_number ("rxbuf", 2048), report))
    return false;
  if (report)
    {
      char want[32];
      uint8_t mac[6];
      bool have = cmdline_string ("mac", want, sizeof want) && parse_mac (want, mac);

      tap_ok (have ? memcmp (mac, nd.mac, 6) == 0 : !(nd.mac[0] & 1) && (nd.mac[0] | nd.mac[1]
                                                                         | nd.mac[2]),
              "net: the MAC in the configuration is " MACFMT "%s", MACF (nd.mac),
              have ? " as given with mac=" : " (unicast, not zero)");
      tap_ok (nd.link & VIRTIO_NET_S_LINK_UP, "net: the link is up (status 0x%x)", nd.link);
    }
  if (!tap_ok (dhcp (), "net: DHCP DISCOVER, OFFER, REQUEST, ACK give a lease"))
    return false;
  gw_mac_known = arp_resolve (gw_ip, gw_mac);
  if (report)
    tap_ok (gw_mac_known, "net: ARP: the gateway " IPFMT " is at " MACFMT, IPF (gw_ip),
            MACF (gw_mac));
  return gw_mac_known;
}

bool
net_lease (const struct pci *pci)
{
  return bring_up (pci, false);
}

static bool
ping_some (const char *after, unsigned n)
{
  char rtts[128];
  size_t at = 0;
  unsigned good = 0;

  rtts[0] = '\0';
  /* ping=0: a network that does not answer ICMP (passt without ping
   * sockets for its user) */
  if (cmdline_number ("ping", 1) == 0)
    {
      tap_skip ("ping=0 (this network does not answer ICMP)", "net: ICMP echo to the gateway%s",
                after);
      return true;
    }
  for (unsigned i = 0; i < n; i++)
    {
      int64_t us = ping (0x5650, (uint16_t) (i + 1), 1000);

      if (us >= 0)
        good++;
      if (at < sizeof rtts - 16)
        at += (size_t) snprintf (rtts + at, sizeof rtts - at, "%s%ld", i ? " " : "", (long) us);
    }
  return tap_ok (good == n, "net: ICMP echo to the gateway%s: %u of %u replies with the right id, "
                 "seq and payload (RTT us: %s)", after, good, n, rtts);
}

static void
test_malformed (void)
{
  static uint8_t zero[16] __attribute__ ((aligned (16)));
  static uint8_t big[70000] __attribute__ ((aligned (4096)));
  static const struct
  {
    const char *what;
    uint32_t hdr, frame;
  } cases[] = {
    { "a chain of 6 bytes, shorter than the 12-byte header", 6, 0 },
    { "a frame of 69988 bytes (70000 with the header, over 65562)", NET_HDR_LEN, 69988 },
    { "a runt: the header and 8 bytes", NET_HDR_LEN, 8 },
  };

  memset (big, 0xa5, sizeof big);
  memcpy (big, gw_mac, 6);
  memcpy (big + 6, nd.mac, 6);
  put16 (big + 12, ETH_IP);
  for (unsigned i = 0; i < ARRAY_SIZE (cases); i++)
    {
      struct net_seg segs[2] = { { (uint64_t) zero, cases[i].hdr }, { (uint64_t) big,
                                                                       cases[i].frame } };
      enum vq_result r;
      bool reinit = false;

      if (i == 0 && cmdline_number ("short_hdr", 1) == 0)
        {
          /* QEMU 7.2 aborts on it: iov_copy's assertion in virtio_net_flush_tx */
          tap_skip ("short_hdr=0 (QEMU 7.2 aborts on it)", "net: malformed: %s", cases[i].what);
          continue;
        }
      while (!netdev_tx_reap (&nd))
        net_poll ();
      r = netdev_send_chain (&nd, segs, cases[i].frame ? 2 : 1, 2000);
      if (r == VQ_NEEDS_RESET)
        reinit = netdev_reinit (&nd);
      /* The device must complete it: NEEDS_RESET fails, but the reset
       * lets the tests go on */
      tap_ok (r == VQ_USED, "net: malformed: %s: used%s", cases[i].what,
              r == VQ_USED ? ""
              : r == VQ_NEEDS_RESET ? (reinit ? " (NOT: NEEDS_RESET; reset and set up again)"
                                              : " (NOT: NEEDS_RESET, and the reset FAILED)")
              : " (NOT: timed out)");
      ping_some (" after it", 1);
    }
}

static void
test_tcp (void)
{
  uint64_t bytes = cmdline_number ("bytes", 256 * 1024);
  uint16_t srv = (uint16_t) cmdline_number ("srv", 0), fwd = (uint16_t) cmdline_number ("fwd",
                                                                                         7777);
  bool ok;

  if (!srv)
    tap_skip ("no srv= given", "net: client: connect to the host");
  else
    {
      ok = tcp_connect (&tcb, gw_ip, srv, 5000);
      tap_ok (ok, "net: client: connected to " IPFMT ":%u (the host's loopback)%s", IPF (gw_ip),
              srv, tcb.reset ? ", but it was reset" : "");
      if (ok)
        tcp_exchange (&tcb, "client", 1, 2, bytes);
      the_tcb = NULL;
    }

  if (cmdline_number ("server", 1) == 0)
    {
      tap_skip ("server=0", "net: server: the host connects through the forward to port %u", fwd);
      return;
    }
  tcb_init (&tcb, fwd);
  tcb.state = TCP_LISTEN;
  tap_diag ("net: listening on port %u", fwd);
  ok = tcp_wait (&tcb, established, 30000);
  tap_ok (ok, "net: server: the host connected through the forward to port %u (from " IPFMT
          ":%u)", fwd, IPF (tcb.rip), tcb.rport);
  if (ok)
    tcp_exchange (&tcb, "server", 3, 4, bytes);
  the_tcb = NULL;
}

NORETURN void
net_mode (const struct pci *pci, const struct acpi *acpi)
{
  if (bring_up (pci, true))
    {
      ping_some ("", 4);
      test_tcp ();
      tap_ok (cnt.bad_ip == 0 && cnt.bad_tcp == 0 && cnt.bad_udp == 0 && cnt.bad_icmp == 0,
              "net: every received checksum was right (%lu IPv4 packets, %lu TCP segments; "
              "bad: IPv4 %lu, TCP %lu, UDP %lu, ICMP %lu)", cnt.ip, cnt.tcp, cnt.bad_ip,
              cnt.bad_tcp, cnt.bad_udp, cnt.bad_icmp);
      tap_diag ("net: frames in %lu, out %lu; merged %lu, DATA_VALID %lu, NEEDS_CSUM %lu, "
                "dropped %lu", nd.rx_frames, nd.tx_frames, nd.rx_joined, nd.rx_data_valid,
                nd.rx_needs_csum, nd.rx_dropped);
      test_malformed ();
    }
  if (nd.ok)
    virtio_reset (&nd.v);
  finish (acpi);
}

/* --- mode=netbench ------------------------------------------------------------------------ */

static void
sort_u64 (uint64_t *v, unsigned n)
{
  for (unsigned i = 1; i < n; i++)
    for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--)
      {
        uint64_t x = v[j];
        v[j] = v[j - 1];
        v[j - 1] = x;
      }
}

NORETURN void
netbench_mode (const struct pci *pci, const struct acpi *acpi)
{
  uint64_t bytes = cmdline_number ("bytes", 64ull << 20);
  uint16_t srv = (uint16_t) cmdline_number ("srv", 0);

  if (bring_up (pci, false))
    {
      if (cmdline_is ("bench", "ping"))
        {
          static uint64_t rtt[1000];
          unsigned n = (unsigned) cmdline_number ("count", 200), good = 0;

          if (n > ARRAY_SIZE (rtt))
            n = ARRAY_SIZE (rtt);
          for (unsigned i = 0; i < n; i++)
            {
              int64_t us = ping (0x4e42, (uint16_t) i, 1000);
              if (us >= 0)
                rtt[good++] = (uint64_t) us;
            }
          sort_u64 (rtt, good);
          tap_diag ("netbench: ping %u rtt-median %lu us", good, good ? rtt[good / 2] : 0);
          tap_ok (good == n, "netbench: %u of %u echo replies", good, n);
        }
      else
        {
          bool tx = !cmdline_is ("bench", "rx"), ok;
          uint64_t t0, t1;

          ok = tcp_connect (&tcb, gw_ip, srv, 5000);
          if (ok && tx)
            {
              tcb.tx_seed = 5;
              tcb.tx_total = bytes;
              t0 = now_us ();
              ok = tcp_wait (&tcb, all_acked, 600000);
              t1 = now_us ();
              tcb.fin_queued = true;
              ok = tcp_wait (&tcb, fin_acked, 5000) && ok;
              tcp_wait (&tcb, peer_closed, 5000);
              tap_diag ("netbench: tx %lu bytes in %lu us", bytes, t1 - t0);
            }
          else if (ok)
            {
              ok = tcp_wait (&tcb, peer_closed, 600000);
              t1 = now_us ();
              t0 = tcb.rx_first_us ? tcb.rx_first_us : t1;
              tcb.fin_queued = true;
              tcp_wait (&tcb, fin_acked, 5000);
              tap_diag ("netbench: rx %lu bytes in %lu us", tcb.rx_count, t1 - t0);
            }
          tap_ok (ok, "netbench: %s over TCP to " IPFMT ":%u (%lu retransmissions, %lu bad "
                  "checksums)", tx ? "tx" : "rx", IPF (gw_ip), srv, tcb.retransmits,
                  cnt.bad_tcp + cnt.bad_ip);
          the_tcb = NULL;
        }
    }
  if (nd.ok)
    virtio_reset (&nd.v);
  finish (acpi);
}
