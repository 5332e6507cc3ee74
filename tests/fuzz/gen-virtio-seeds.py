#!/usr/bin/env python3
# Writes the seed corpora of the virtq and virtio-blk fuzz targets
# (corpus/virtq, corpus/virtio-blk): well-formed rings and requests, and
# the reproducers of past findings, in the input formats described at the
# top of fuzz-virtq.c and fuzz-virtio-blk.c. The committed files are what
# the tests use; run this again after changing a format:
#
#   tests/fuzz/gen-virtio-seeds.py
#
# SPDX-License-Identifier: GPL-3.0-or-later
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Ram:
    """Guest RAM, as a bytearray the size of what the seed uses."""

    def __init__(self, size):
        self.b = bytearray(size)

    def put(self, off, data):
        self.b[off:off + len(data)] = data

    def desc(self, table, i, addr, length, flags, nxt=0):
        self.put(table + 16 * i, struct.pack('<QIHH', addr, length, flags, nxt))

    def avail(self, avail, heads, idx=None):
        for k, h in enumerate(heads):
            self.put(avail + 4 + 2 * k, struct.pack('<H', h))
        self.put(avail + 2, struct.pack('<H', len(heads) if idx is None else idx))

    def trimmed(self):
        end = len(self.b)
        while end > 0 and self.b[end - 1] == 0:
            end -= 1
        return bytes(self.b[:end])


def write(target, name, data):
    folder = os.path.join(HERE, 'corpus', target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), 'wb') as f:
        f.write(data)


# ---- virtq ------------------------------------------------------------------

OP = dict(pop=0, push=1, drain=2, drain_quiet=3, enable=4, disable=5, should_notify=6,
          unpop=7, poke=8, publish=9, restart=10, chain_copy=11)


def virtq_seed(size_log2, flags, desc, avail, used, ops, ram):
    hdr = struct.pack('<BHBHHHB5x', size_log2, 0, flags, desc, avail, used, len(ops))
    body = b''
    for op in ops:
        name, *args = op if isinstance(op, tuple) else (op,)
        body += struct.pack('<BBBB', OP[name], *(list(args) + [0, 0, 0])[:3])
    return hdr + body + ram.trimmed()


def virtq_seeds():
    D, A, U, DATA = 0x0000, 0x1000, 0x2000, 0x4000

    # three direct chains: readable, writable, both
    r = Ram(0x8000)
    r.desc(D, 0, DATA, 64, 0)
    r.desc(D, 1, DATA + 0x100, 128, F_WRITE)
    r.desc(D, 2, DATA + 0x200, 16, F_NEXT, 3)
    r.desc(D, 3, DATA + 0x300, 512, F_WRITE)
    r.avail(A, [0, 1, 2])
    write('virtq', 'direct-chains', virtq_seed(3, 0, D, A, U, ['drain', 'should_notify'], r))

    # one at a time, as a device with its own loop: pop, copy, push, notify
    write('virtq', 'pop-push', virtq_seed(3, 0, D, A, U,
                                          ['pop', ('chain_copy', 0, 64, 0x5a), ('push', 0, 4, 0),
                                           'should_notify', 'pop', 'unpop', 'pop',
                                           ('push', 0, 0, 0), 'enable', 'disable', 'drain'], r))

    # an indirect table of three, with EVENT_IDX
    r = Ram(0x8000)
    T = 0x3000
    r.desc(T, 0, DATA, 16, F_NEXT, 1)
    r.desc(T, 1, DATA + 0x100, 1024, F_NEXT | F_WRITE, 2)
    r.desc(T, 2, DATA + 0x800, 1, F_WRITE)
    r.desc(D, 0, T, 48, F_INDIRECT)
    r.desc(D, 1, DATA + 0x1000, 32, 0)
    r.avail(A, [0, 1])
    write('virtq', 'indirect-event-idx',
          virtq_seed(4, 3, D, A, U, ['pop', ('chain_copy', 0, 0, 0x11), ('push', 0, 17, 0),
                                     'should_notify', 'drain', 'enable', 'should_notify'], r))

    # a full ring of 8 the driver keeps refilling: drains stop at the budget
    r = Ram(0x8000)
    for i in range(8):
        r.desc(D, i, DATA + 0x40 * i, 32, F_WRITE)
    r.avail(A, list(range(8)) * 1)
    for k in range(8):
        r.put(A + 4 + 2 * k, struct.pack('<H', k))
    ops = ['drain']
    for _ in range(4):
        ops += [('publish', 3), 'drain']
    ops += [('publish', 3), ('publish', 3), 'drain', 'drain_quiet', 'enable']
    write('virtq', 'budget-refill', virtq_seed(3, 0, D, A, U, ops, r))

    # a long chain through a ring of 256
    r = Ram(0xa000)
    for i in range(200):
        r.desc(D, i, DATA + 0x20 * i, 32, F_NEXT | (F_WRITE if i >= 100 else 0), i + 1)
    r.desc(D, 200, DATA + 0x20 * 200, 32, F_WRITE)
    r.avail(A, [0])
    write('virtq', 'long-chain', virtq_seed(8, 0, D, A, U, ['drain', ('restart', 1), 'drain'], r))

    # issue 16: used ring two bytes after the avail ring, no EVENT_IDX, a
    # request answered at once; the queue must not start (and if it did,
    # turning kicks on and off must not move avail->idx)
    r = Ram(0x8000)
    A16 = 0x1002
    r.desc(D, 0, DATA, 16, 0)
    r.avail(A16, [0])
    write('virtq', 'issue16-overlapping-rings',
          virtq_seed(3, 0, D, A16, A16 + 2, ['drain', 'enable', 'disable', 'drain', 'drain'], r))


# ---- virtio-blk -------------------------------------------------------------

BOP = dict(setup=0, kick=1, wait=2, common=3, config=4, poke=5, isr=6, reset=7)
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES = 0, 1, 4, 8, 11, 13

# Device feature bits the seeds ask for (fuzz-virtio-blk.c masks with what
# the device offers)
F_SEG_MAX, F_BLK_SIZE, F_FLUSH, F_TOPOLOGY, F_MQ, F_DISCARD, F_WZ = 2, 6, 9, 10, 12, 13, 14
F_INDIRECT_DESC, F_EVENT_IDX = 28, 29


def blk_seed(features, queues, ops, ram):
    """queues: [(size, desc, avail, used)] for queues 0 and 1"""
    qs = list(queues) + [(0, 0, 0, 0)] * (2 - len(queues))
    hdr = struct.pack('<Q', features)
    for size, d, a, u in qs:
        hdr += struct.pack('<HIII', size, d, a, u)
    hdr += struct.pack('<B', len(ops))
    hdr += bytes(64 - len(hdr))
    body = b''
    for op in ops:
        name, *args = op if isinstance(op, tuple) else (op,)
        body += struct.pack('<BBHI', BOP[name], *(list(args) + [0, 0, 0])[:3])
    return hdr + body + ram.trimmed()


def blk_seeds():
    D, A, U, DATA = 0x0000, 0x1000, 0x2000, 0x4000
    feats = ((1 << F_SEG_MAX) | (1 << F_BLK_SIZE) | (1 << F_FLUSH) | (1 << F_TOPOLOGY) |
             (1 << F_DISCARD) | (1 << F_WZ))

    def request(r, head, typ, sector, data_len, writable_data, status_at, base, table=None):
        """A three-part request at descriptors head.. (or in an indirect table)"""
        hdr = base
        r.put(hdr, struct.pack('<IIQ', typ, 0, sector))
        t = table if table is not None else D
        i = 0 if table is not None else head
        n = []
        r.desc(t, i, hdr, 16, F_NEXT, i + 1)
        if data_len:
            r.desc(t, i + 1, base + 0x200, data_len, F_NEXT | (F_WRITE if writable_data else 0),
                   i + 2)
            r.desc(t, i + 2, status_at, 1, F_WRITE)
            return 3
        r.desc(t, i + 1, status_at, 1, F_WRITE)
        return 2

    q0 = [(16, D, A, U)]
    std = ['setup', ('kick', 0), 'wait']

    r = Ram(0x8000)
    request(r, 0, T_IN, 2, 1024, True, DATA + 0xff0, DATA)
    r.avail(A, [0])
    write('virtio-blk', 'read', blk_seed(feats, q0, std, r))

    r = Ram(0x8000)
    request(r, 0, T_OUT, 4, 512, False, DATA + 0xff0, DATA)
    r.put(DATA + 0x200, bytes(range(256)) * 2)
    request(r, 3, T_FLUSH, 0, 0, False, DATA + 0xff1, DATA + 0x1000)
    r.avail(A, [0, 3])
    write('virtio-blk', 'write-flush', blk_seed(feats, q0, std + ['isr'], r))

    r = Ram(0x8000)
    request(r, 0, T_GET_ID, 0, 20, True, DATA + 0xff0, DATA)
    r.avail(A, [0])
    write('virtio-blk', 'get-id', blk_seed(feats, q0, std + [('config', 0, 8)], r))

    r = Ram(0x8000)
    hdr_len = request(r, 0, T_DISCARD, 0, 16, False, DATA + 0xff0, DATA)
    r.put(DATA + 0x200, struct.pack('<QII', 8, 8, 0))     # sector 8, 8 sectors, flags
    request(r, 3, T_WRITE_ZEROES, 0, 16, False, DATA + 0xff1, DATA + 0x1000)
    r.put(DATA + 0x1200, struct.pack('<QII', 32, 4, 1))   # unmap
    r.avail(A, [0, 3])
    write('virtio-blk', 'discard-write-zeroes', blk_seed(feats, q0, std, r))

    # an indirect table, two queues, EVENT_IDX
    r = Ram(0x10000)
    T = 0x3000
    request(r, 0, T_IN, 0, 4096, True, DATA + 0xff0, DATA, table=T)
    r.desc(D, 0, T, 48, F_INDIRECT)
    r.avail(A, [0])
    D1, A1, U1 = 0x8000, 0x9000, 0xa000
    r.put(DATA + 0x2000, struct.pack('<IIQ', T_IN, 0, 1))
    r.desc(D1, 0, DATA + 0x2000, 16, F_NEXT, 1)
    r.desc(D1, 1, DATA + 0x2200, 512, F_NEXT | F_WRITE, 2)
    r.desc(D1, 2, DATA + 0x2ff0, 1, F_WRITE)
    r.avail(A1, [0])
    write('virtio-blk', 'indirect-mq-event-idx',
          blk_seed(feats | (1 << F_MQ) | (1 << F_INDIRECT_DESC) | (1 << F_EVENT_IDX),
                   [(16, D, A, U), (16, D1, A1, U1)], ['setup', ('kick', 0), ('kick', 1), 'wait',
                                                       'reset'], r))

    # adjacent reads that merge, kicked once
    r = Ram(0x8000)
    heads = []
    for k in range(4):
        request(r, 3 * k, T_IN, k, 512, True, DATA + 0x3f00 + k, DATA + 0x800 * k)
        heads.append(3 * k)
    r.avail(A, heads)
    write('virtio-blk', 'merged-reads', blk_seed(feats, q0, std, r))

    # issue 16: the used ring two bytes after the avail ring, no EVENT_IDX,
    # a request without a status byte waiting at DRIVER_OK
    r = Ram(0x8000)
    A16 = 0x1002
    r.put(DATA, struct.pack('<IIQ', T_IN, 0, 0))
    r.desc(D, 0, DATA, 16, 0)
    r.avail(A16, [0])
    write('virtio-blk', 'issue16-overlapping-rings',
          blk_seed(feats, [(16, D, A16, A16 + 2)], ['setup', 'wait', ('kick', 0), 'wait'], r))


if __name__ == '__main__':
    virtq_seeds()
    blk_seeds()
