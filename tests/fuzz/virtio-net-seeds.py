#!/usr/bin/env python3
# Writes the seeds of the virtio-net target (fuzz-virtio-net.c says what
# the bytes mean) into corpus/virtio-net/:
#
#   tests/fuzz/virtio-net-seeds.py [DIR]
#
# The committed seed files are what the tests use; this is how they were
# made, so that a change to the format can make them again.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import os
import struct
import sys

(OP_SETUP, OP_KICK, OP_COMMON, OP_CONFIG_READ, OP_CONFIG_WRITE, OP_POKE, OP_ISR, OP_RESET,
 OP_TRANSMIT, OP_RECEIVE, OP_LINK, OP_ANNOUNCE) = range(12)

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
F_CSUM, F_HOST_TSO4, F_HOST_TSO6, F_HOST_ECN, F_HOST_UFO = 0, 11, 12, 13, 14
OFFLOADS = sum(1 << f for f in (F_CSUM, F_HOST_TSO4, F_HOST_TSO6, F_HOST_ECN, F_HOST_UFO))
F_GUEST_CSUM, F_MAC, F_MRG_RXBUF, F_STATUS, F_CTRL_VQ, F_CTRL_RX = 1, 5, 15, 16, 17, 18
F_GUEST_ANNOUNCE, F_CTRL_MAC_ADDR, F_INDIRECT_DESC, F_EVENT_IDX = 21, 23, 28, 29
FEATURES = sum(1 << f for f in (F_MAC, F_MRG_RXBUF, F_STATUS, F_CTRL_VQ, F_CTRL_RX,
                                F_GUEST_ANNOUNCE, F_CTRL_MAC_ADDR))

RX, TX, CTRL = 0, 1, 2
QSIZE = 16
# the rings of queue q at RINGS[q]: desc, avail, used (16 entries: 256,
# 38 and 134 bytes); buffers from DATA, indirect tables at TABLE
RINGS = [(0x000, 0x100, 0x200), (0x400, 0x500, 0x600), (0x800, 0x900, 0xa00)]
TABLE = 0xc00
DATA = 0x1000

OUR_MAC = bytes([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
OTHER_MAC = bytes([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef])
MCAST = bytes([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01])


def op(kind, a=0, b=0, c=0):
    return struct.pack('<BBHI', kind, a, b, c)


class Ram:
    def __init__(self):
        self.b = bytearray(0x40000)
        self.next = DATA
        self.desc_next = [0, 0, 0]
        self.avail_idx = [0, 0, 0]

    def put(self, off, data):
        assert off + len(data) <= len(self.b)
        self.b[off:off + len(data)] = data

    def alloc(self, data):
        at = self.next
        self.put(at, data)
        self.next += (len(data) + 15) & ~15
        return at

    def chain(self, q, bufs):
        """bufs: [(bytes or length, writable)]; a direct chain made available on q"""
        desc, avail, _ = RINGS[q]
        head = self.desc_next[q]
        for k, (data, writable) in enumerate(bufs):
            i = self.desc_next[q]
            self.desc_next[q] += 1
            if isinstance(data, int):
                addr, length = self.alloc(bytes(data)), data
            else:
                addr, length = self.alloc(data), len(data)
            flags = (F_WRITE if writable else 0) | (F_NEXT if k + 1 < len(bufs) else 0)
            self.put(desc + 16 * i, struct.pack('<QIHH', addr, length, flags, i + 1))
        self.put(avail + 4 + 2 * (self.avail_idx[q] % QSIZE), struct.pack('<H', head))
        self.avail_idx[q] += 1
        self.put(avail + 2, struct.pack('<H', self.avail_idx[q]))
        return head

    def trimmed(self):
        end = len(self.b)
        while end > 0 and self.b[end - 1] == 0:
            end -= 1
        return bytes(self.b[:end])


def seed(ops, ram, features=FEATURES, checksummed=False, qsize=QSIZE):
    hdr = struct.pack('<Q', features)
    for d, a, u in RINGS:
        hdr += struct.pack('<HIII', qsize, d, a, u)
    hdr += struct.pack('<BB', len(ops), 1 if checksummed else 0)
    hdr += bytes(64 - len(hdr))
    return hdr + b''.join(ops) + ram.trimmed()


def packet(dst, length, seed_byte=1):
    frame = bytearray((seed_byte + 7 * i) & 0xff for i in range(length))
    frame[0:6] = dst
    frame[6:12] = OUR_MAC
    return bytes(12) + bytes(frame)


def ip_packet(v6, tcp, payload, gso_type, gso_size):
    """A header asking for the checksum (and segmentation when gso_type)
    and an Ethernet, IPv4 or IPv6, TCP or UDP frame of payload bytes"""
    l3 = 14
    l4 = l3 + (40 if v6 else 20)
    end = l4 + (20 if tcp else 8)
    frame = bytearray(end + payload)
    frame[0:6] = OTHER_MAC
    frame[6:12] = OUR_MAC
    proto = 6 if tcp else 17
    if v6:
        frame[12:14] = b'\x86\xdd'
        frame[l3:l3 + 8] = struct.pack('>BBHHBB', 0x60, 0, 0, end + payload - l3 - 40, proto, 64)
        frame[l3 + 8:l3 + 40] = bytes([0xfe, 0x80] + [0] * 13 + [15] + [0xfe, 0x80] + [0] * 13 + [2])
    else:
        frame[12:14] = b'\x08\x00'
        frame[l3:l3 + 20] = struct.pack('>BBHHHBBH4s4s', 0x45, 0, end + payload - l3, 1, 0x4000,
                                        64, proto, 0, bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2]))
    if tcp:
        frame[l4:l4 + 20] = struct.pack('>HHIIBBHHH', 40000, 5001, 1000, 1, 5 << 4, 0x18, 65535,
                                         0, 0)
    else:
        frame[l4:l4 + 8] = struct.pack('>HHHH', 40000, 5001, end + payload - l4, 0)
    for i in range(payload):
        frame[end + i] = (i * 13) & 0xff
    hdr = struct.pack('<BBHHHHH', 1, gso_type, end, gso_size, l4, 16 if tcp else 6, 0)
    return hdr + bytes(frame)


def ctrl(r, cls, code, data=b''):
    return r.chain(CTRL, [(bytes([cls, code]) + data, False), (1, True)])


def mac_tables(uc, mc):
    return (struct.pack('<I', len(uc)) + b''.join(uc) +
            struct.pack('<I', len(mc)) + b''.join(mc))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', 'virtio-net')
    os.makedirs(out, exist_ok=True)
    seeds = {}

    # transmit: a frame cut inside the header, one after it, sent
    r = Ram()
    p = packet(OTHER_MAC, 60)
    r.chain(TX, [(p[:5], False), (p[5:], False)])
    r.chain(TX, [(p[:12], False), (p[12:30], False), (p[30:], False)])
    seeds['tx-split'] = seed([op(OP_SETUP), op(OP_KICK, TX), op(OP_TRANSMIT, 64),
                              op(OP_ISR)], r)

    # the backend full, then taking them; a budget of one
    r = Ram()
    for n in (60, 100, 1500):
        r.chain(TX, [(packet(OTHER_MAC, n), False)])
    seeds['tx-eagain'] = seed([op(OP_SETUP), op(OP_TRANSMIT, 64, 0, 1),
                               op(OP_TRANSMIT, 1), op(OP_TRANSMIT, 64)], r)

    # a reset (and a new bring-up) from inside send
    r = Ram()
    r.chain(TX, [(packet(OTHER_MAC, 100), False)])
    r.chain(TX, [(packet(OTHER_MAC, 200), False)])
    seeds['tx-reset-in-send'] = seed([op(OP_SETUP), op(OP_TRANSMIT, 64, 3),
                                      op(OP_TRANSMIT, 64, 1), op(OP_TRANSMIT, 64)], r)

    # runt, header only, shorter than the header, and a good one
    r = Ram()
    r.chain(TX, [(packet(OTHER_MAC, 13), False)])
    r.chain(TX, [(bytes(12), False)])
    r.chain(TX, [(bytes(7), False)])
    r.chain(TX, [(packet(OTHER_MAC, 14), False), (4, True)])
    seeds['tx-malformed'] = seed([op(OP_SETUP), op(OP_TRANSMIT, 64)], r)

    # mergeable receive buffers: a frame over five, then one too many
    r = Ram()
    for _ in range(6):
        r.chain(RX, [(64, True)])
    seeds['rx-mergeable'] = seed([op(OP_SETUP), op(OP_KICK, RX), op(OP_RECEIVE, 0, 300, DATA),
                                  op(OP_RECEIVE, 0, 400, DATA), op(OP_RECEIVE, 1, 20, DATA),
                                  op(OP_ISR)], r)

    # one big buffer a frame, without MRG_RXBUF, GUEST_CSUM; too small; the largest
    r = Ram()
    r.chain(RX, [(12, True), (1514, True)])
    r.chain(RX, [(64, True)])
    r.chain(RX, [(12, True), (0xffff, True), (20, True)])
    seeds['rx-big'] = seed([op(OP_SETUP), op(OP_RECEIVE, 0, 1000, 0),
                            op(OP_RECEIVE, 0, 100, 0), op(OP_RECEIVE, 0x80, 0x12, 0),
                            op(OP_RECEIVE, 0x83, 0x13, 0)],
                           r, features=(FEATURES & ~(1 << F_MRG_RXBUF)) | (1 << F_GUEST_CSUM),
                           checksummed=True)

    # the transmit offloads: a checksum left to the card, TSO over IPv4 and
    # IPv6 (whole for one backend, cut to 1514-byte frames for the other),
    # UFO, a TSO packet cut in its headers
    for checksummed in (False, True):
        r = Ram()
        r.chain(TX, [(ip_packet(False, False, 300, 0, 0), False)])
        p = ip_packet(False, True, 5000, 1, 1000)
        r.chain(TX, [(p[:40], False), (p[40:3000], False), (p[3000:], False)])
        r.chain(TX, [(ip_packet(True, True, 4000, 4 | 0x80, 1200), False)])
        r.chain(TX, [(ip_packet(False, False, 3000, 3, 1472), False)])
        seeds['tx-offload' + ('-cut' if checksummed else '')] = seed(
            [op(OP_SETUP), op(OP_TRANSMIT, 64, 0, 0x4), op(OP_TRANSMIT, 64)], r,
            features=FEATURES | OFFLOADS, checksummed=checksummed)

    # the control queue: filters, tables (one long), the MAC, announce
    r = Ram()
    ctrl(r, 0, 0, b'\x01')                                      # promiscuous on
    ctrl(r, 0, 5, b'\x01')                                      # no broadcast
    ctrl(r, 1, 0, mac_tables([OTHER_MAC], [MCAST] * 3))
    ctrl(r, 1, 0, mac_tables([OTHER_MAC] * 70, [MCAST] * 100))
    ctrl(r, 1, 1, bytes([0x02, 1, 2, 3, 4, 5]))                 # MAC_ADDR_SET
    ctrl(r, 1, 1, MCAST)                                        # refused: multicast
    ctrl(r, 3, 0)                                               # announce ack
    ctrl(r, 9, 9, b'\x00')                                      # no such class
    for _ in range(4):
        r.chain(RX, [(2048, True)])
    seeds['ctrl'] = seed([op(OP_SETUP), op(OP_ANNOUNCE), op(OP_KICK, CTRL),
                          op(OP_CONFIG_READ, 0, 2), op(OP_CONFIG_READ, 6, 1),
                          op(OP_RECEIVE, 1, 64, 0), op(OP_RECEIVE, 3, 64, DATA),
                          op(OP_LINK, 0), op(OP_CONFIG_WRITE, 0, 2, 0xffffffff),
                          op(OP_ISR), op(OP_RESET)], r)

    # indirect tables and EVENT_IDX both ways
    r = Ram()
    table = TABLE
    p = packet(MCAST, 80)
    parts = [p[:12], p[12:40], p[40:]]
    for k, part in enumerate(parts):
        addr = r.alloc(part)
        r.put(table + 16 * k, struct.pack('<QIHH', addr, len(part),
                                          F_NEXT if k + 1 < len(parts) else 0, k + 1))
    desc, avail, _ = RINGS[TX]
    r.put(desc, struct.pack('<QIHH', table, 16 * len(parts), F_INDIRECT, 0))
    r.put(avail + 4, struct.pack('<H', 0))
    r.put(avail + 2, struct.pack('<H', 1))
    r.desc_next[TX], r.avail_idx[TX] = 1, 1
    r.chain(RX, [(4096, True)])
    seeds['indirect-event-idx'] = seed(
        [op(OP_SETUP), op(OP_KICK, TX), op(OP_TRANSMIT, 8), op(OP_RECEIVE, 2, 80, DATA),
         op(OP_POKE, 0, 1, RINGS[RX][1] + 2), op(OP_RECEIVE, 0, 80, DATA)],
        r, features=FEATURES | (1 << F_INDIRECT_DESC) | (1 << F_EVENT_IDX))

    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
