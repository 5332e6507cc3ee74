#!/usr/bin/env python3
# Writes the seeds of the virtio-gpu target (fuzz-virtio-gpu.c says what the
# bytes mean) into corpus/virtio-gpu/:
#
#   tests/fuzz/virtio-gpu-seeds.py [DIR]
#
# The committed seed files are what the tests use; this is how they were
# made, so that a change to the format can make them again.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import os
import struct
import sys

CMD, QUEUE, RAM, RESIZE, CLEAR, RESET = range(6)
F_EDID = 1 << 1
FENCE = 1

GET_DISPLAY_INFO, CREATE_2D, UNREF, SET_SCANOUT, FLUSH, TRANSFER, ATTACH, DETACH = \
    range(0x100, 0x108)
GET_CAPSET_INFO, GET_CAPSET, GET_EDID = 0x108, 0x109, 0x10a
CTX_CREATE, SUBMIT_3D = 0x200, 0x207
UPDATE_CURSOR, MOVE_CURSOR = 0x300, 0x301
B8G8R8X8, B8G8R8A8, R8G8B8A8 = 2, 1, 67

CONTROL, CURSOR = 0, 1


def hdr(kind, flags=0, fence=0, ctx=0):
    return struct.pack('<IIQIB3x', kind, flags, fence, ctx, 0)


def record(kind, payload, arg=0):
    return struct.pack('<BBH', kind, arg, len(payload)) + payload


def cmd(kind, *fields, q=CONTROL, flags=0, fence=0, split=0, short=False, send=CMD):
    body = hdr(kind, flags, fence) + b''.join(struct.pack('<I', v & 0xffffffff) for v in fields)
    return record(send, body, q | (2 if short else 0) | (split // 4) << 2)


def attach(res, entries, claimed=None, **kw):
    body = hdr(ATTACH) + struct.pack('<II', res, len(entries) if claimed is None else claimed)
    for addr, length in entries:
        body += struct.pack('<QII', addr, length, 0)
    return record(CMD, body, kw.get('split', 0) // 4 << 2)


def transfer(res, x, y, w, h, offset):
    return cmd(TRANSFER, x, y, w, h, offset & 0xffffffff, offset >> 32, res, 0)


def ram(addr, data):
    return record(RAM, struct.pack('<I', addr) + data)


def seed(records, features=F_EDID):
    return struct.pack('<Q8x', features) + b''.join(records)


def pattern(w, h, seed_byte):
    return bytes((x & 0xff, y & 0xff, seed_byte, (x ^ y) & 0xff)[i]
                 for y in range(h) for x in range(w) for i in range(4))


def happy():
    w, h = 64, 48
    size = w * h * 4
    return seed([
        cmd(GET_DISPLAY_INFO),
        cmd(GET_EDID, 0, 0),
        ram(0x10000, pattern(w, h, 0x11)[:5000]),
        ram(0x40000, pattern(w, h, 0x11)[5000:]),
        cmd(CREATE_2D, 1, B8G8R8X8, w, h),
        attach(1, [(0x10000, 5000), (0x40000, size - 5000)]),
        transfer(1, 0, 0, w, h, 0),
        cmd(SET_SCANOUT, 0, 0, w, h, 0, 1),
        cmd(FLUSH, 0, 0, w, h, 1, 0),
        transfer(1, 3, 30, 50, 10, (30 * w + 3) * 4),
        cmd(FLUSH, 3, 30, 50, 10, 1, 0, flags=FENCE, fence=7),
        cmd(SET_SCANOUT, 8, 4, 32, 20, 0, 1),
        cmd(FLUSH, 0, 0, 12, 30, 1, 0),
        # a cursor
        ram(0x80000, pattern(64, 64, 0x33)),
        cmd(CREATE_2D, 2, B8G8R8A8, 64, 64),
        attach(2, [(0x80000, 64 * 64 * 4)]),
        transfer(2, 0, 0, 64, 64, 0),
        cmd(UPDATE_CURSOR, 0, 100, 200, 0, 2, 3, 4, 0, q=CURSOR),
        cmd(MOVE_CURSOR, 0, 110, 190, 0, 0, 0, 0, 0, q=CURSOR, short=True),
        # a new size, and the driver following it
        record(RESIZE, struct.pack('<II', 1280, 720)),
        record(CLEAR, struct.pack('<I', 1)),
        cmd(GET_DISPLAY_INFO),
        cmd(CREATE_2D, 3, R8G8B8A8, 128, 72),
        cmd(SET_SCANOUT, 0, 0, 128, 72, 0, 3),
        cmd(UNREF, 1, 0),
        cmd(DETACH, 2, 0),
        cmd(UPDATE_CURSOR, 0, 0, 0, 0, 0, 0, 0, 0, q=CURSOR),
        cmd(SET_SCANOUT, 0, 0, 0, 0, 0, 0),
        cmd(UNREF, 2, 0),
        cmd(UNREF, 3, 0),
    ])


def malformed():
    return seed([
        cmd(CREATE_2D, 0, B8G8R8X8, 64, 48),
        cmd(CREATE_2D, 1, 999, 64, 48),
        cmd(CREATE_2D, 1, B8G8R8X8, 0xffffffff, 0xffffffff),
        cmd(CREATE_2D, 1, B8G8R8X8, 16384, 16384),
        cmd(CREATE_2D, 1, B8G8R8X8, 64, 48),
        cmd(CREATE_2D, 1, B8G8R8X8, 64, 48),
        attach(1, [(0xfff000, 0x2000)]),
        attach(1, [(0x7ff000000000, 64 * 48 * 4)]),
        attach(1, [(0x10000, 16)]),
        attach(1, [(0x10000, 64 * 48 * 4)], claimed=1000),
        attach(1, [], claimed=0),
        transfer(1, 0, 0, 64, 48, 0),
        attach(1, [(0x10000, 4096)] * 4, split=12),
        transfer(1, 0xffffffff, 0, 2, 1, 0),
        transfer(1, 0, 0, 64, 48, 1),
        transfer(1, 0, 0, 1, 1, 0xffffffffffffffff),
        transfer(1, 0, 47, 64, 1, 4096 * 4 - 256),
        cmd(SET_SCANOUT, 0, 0, 65, 48, 0, 1),
        cmd(SET_SCANOUT, 0, 0, 64, 48, 5, 1),
        cmd(SET_SCANOUT, 0, 0, 64, 48, 0, 9),
        cmd(FLUSH, 0, 0xffffffff, 1, 2, 1, 0),
        cmd(FLUSH, 0, 0, 1, 1, 9, 0),
        cmd(UNREF, 9, 0),
        cmd(DETACH, 9, 0),
        cmd(GET_EDID, 3, 0),
        cmd(GET_CAPSET_INFO, 0, 0),
        cmd(GET_CAPSET, 0, 0, 0, 0),
        cmd(CTX_CREATE, 0, 0),
        cmd(SUBMIT_3D, 0, 0, flags=FENCE, fence=1),
        cmd(0x777),
        cmd(MOVE_CURSOR, 0, 0, 0, 0, 0, 0, 0, 0),
        cmd(UPDATE_CURSOR, 0, 0, 0, 0, 1, 0, 0, 0, q=CURSOR),
        cmd(UPDATE_CURSOR, 0, 0, 0, 0, 9, 0, 0, 0, q=CURSOR),
        cmd(FLUSH, q=CURSOR),
        record(CMD, b'\x00\x01'),
        cmd(CREATE_2D, 2, B8G8R8X8, split=8),
        cmd(SET_SCANOUT, 0, 0, 64, 48, 0, 1, split=20),
        record(RESIZE, struct.pack('<II', 0, 0)),
        record(RESIZE, struct.pack('<II', 100000, 1)),
        record(RESET, b''),
        cmd(SET_SCANOUT, 0, 0, 64, 48, 0, 1),
    ])


def batched():
    """Commands queued and taken in one drain, with fences"""
    recs = [cmd(CREATE_2D, 1, B8G8R8X8, 32, 32, send=QUEUE)]
    recs.append(attach(1, [(0x20000, 32 * 32 * 4)]))
    for i in range(40):
        recs.append(cmd(TRANSFER, 0, i % 32, 32, 1, (i % 32) * 128, 0, 1, 0, flags=FENCE,
                        fence=i, send=QUEUE))
        recs.append(cmd(FLUSH, 0, i % 32, 32, 1, 1, 0, send=QUEUE))
    recs.insert(2, cmd(SET_SCANOUT, 0, 0, 32, 32, 0, 1, send=QUEUE))
    recs.append(cmd(GET_DISPLAY_INFO))
    return seed(recs, features=0)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', 'virtio-gpu')
    os.makedirs(out, exist_ok=True)
    for name, data in (('happy-path', happy()), ('malformed', malformed()),
                       ('batched-fences', batched())):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
