#!/usr/bin/env python3
# Writes the seeds of the ahci target (fuzz-ahci.c says what the bytes
# mean) into corpus/ahci/:
#
#   tests/fuzz/ahci-seeds.py [DIR]
#
# The committed seed files are what the tests use; this is how they were
# made, so that a change to the format can make them again.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import os
import struct
import sys

OP_WRITE, OP_READ, OP_ISSUE, OP_WAIT, OP_POKE, OP_CONFIG, OP_TRAY, OP_RESET = range(8)
IMAGE = 0x40000
CLB = 0x1000            # OP_ISSUE's b = CLB >> 10 (low byte), FB index 0 (high byte);
                        # its a: the port (a % 6), bit 7 sets PxSACT too
B_LISTS = CLB >> 10
DATA = 0x20000


def op(kind, a=0, b=0, c=0):
    return struct.pack('<BBHI', kind, a, b, c)


class Ram:
    def __init__(self):
        self.b = bytearray(0x30000)

    def put(self, addr, data):
        self.b[addr:addr + len(data)] = data

    def command(self, slot, cfis, prds=(), packet=None, write=False, atapi=False,
                prdtl=None, ctba=None, cfl=5):
        table = 0x4000 + slot * 0x400
        flags = cfl | (1 << 6 if write else 0) | (1 << 5 if atapi else 0)
        n = len(prds) if prdtl is None else prdtl
        self.put(CLB + 32 * slot, struct.pack('<IIQ', flags | n << 16, 0,
                                              table if ctba is None else ctba))
        self.put(table, cfis)
        if packet is not None:
            self.put(table + 0x40, packet.ljust(16, b'\0'))
        for i, (addr, length) in enumerate(prds):
            self.put(table + 0x80 + 16 * i, struct.pack('<QII', addr, 0, length - 1))

    def bytes(self):
        return bytes(self.b.rstrip(b'\0'))


def h2d(command, lba=0, count=0, features=0, control=0, c=True):
    return struct.pack('<BBBBBBBBBBBBHBB', 0x27, 0x80 if c else 0, command, features & 0xff,
                       lba & 0xff, (lba >> 8) & 0xff, (lba >> 16) & 0xff, 0x40,
                       (lba >> 24) & 0xff, (lba >> 32) & 0xff, (lba >> 40) & 0xff,
                       features >> 8, count, 0, control).ljust(20, b'\0')


def port(p, reg):
    return 0x100 + p * 0x80 + reg


def enable_irqs(p):
    return op(OP_WRITE, 0, 0x04, 2) + op(OP_WRITE, 0, port(p, 0x14), 0xffffffff)


def seed(ops, ram):
    assert len(ops) % 8 == 0 and len(ops) // 8 < 256
    return bytes([len(ops) // 8]) + ops + ram.bytes()


def seeds():
    out = {}

    ram = Ram()
    ram.command(0, h2d(0xec), [(DATA, 512)])
    out['identify'] = seed(enable_irqs(0) + op(OP_ISSUE, 0, B_LISTS, 1), ram)

    ram = Ram()
    ram.command(0, h2d(0x35, 8, 4), [(DATA, 1024), (DATA + 0x1000, 1024)], write=True)
    ram.command(1, h2d(0xea))
    ram.command(2, h2d(0x25, 7, 6), [(DATA + 0x2000, 3072)])
    ram.command(3, h2d(0xc8, 500, 2), [(DATA + 0x4000, 1024)])
    ram.command(4, h2d(0xef, features=0x03, count=0x45))
    ram.command(5, h2d(0x06, count=1, features=1), [(DATA + 0x5000, 512)], write=True)
    ram.put(DATA + 0x5000, struct.pack('<Q', 16 | 8 << 48))
    ram.put(DATA, bytes(range(256)) * 4)
    out['disk-dma'] = seed(enable_irqs(0) + op(OP_ISSUE, 0, B_LISTS, 0x3f), ram)

    ram = Ram()
    for tag in range(3):
        cmd = 0x61 if tag == 0 else 0x60
        ram.command(tag, h2d(cmd, 32 + tag * 8, count=tag << 3, features=8),
                    [(DATA + tag * 0x1000, 4096)], write=tag == 0)
    out['ncq'] = seed(enable_irqs(0) + op(OP_ISSUE, 0x84, B_LISTS, 7), ram)

    ram = Ram()
    cdbs = [
        bytes([0x00]),                                  # TEST UNIT READY
        bytes([0x03, 0, 0, 0, 18]),                     # REQUEST SENSE
        bytes([0x12, 0, 0, 0, 36]),                     # INQUIRY
        bytes([0x25]),                                  # READ CAPACITY
        bytes([0x28, 0, 0, 0, 0, 16, 0, 0, 2]),         # READ(10)
        bytes([0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8]),       # GET EVENT STATUS NOTIFICATION
        bytes([0x43, 2, 0, 0, 0, 0, 0, 0, 100]),        # READ TOC, MSF
        bytes([0x43, 0, 2, 0, 0, 0, 0, 0, 100]),        # READ TOC, full
        bytes([0x46, 0, 0, 0, 0, 0, 0, 0, 64]),         # GET CONFIGURATION
        bytes([0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 64]),      # MODE SENSE(10)
        bytes([0x51, 0, 0, 0, 0, 0, 0, 0, 34]),         # READ DISC INFORMATION
        bytes([0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8]),       # MECHANISM STATUS
        bytes([0x1e, 0, 0, 0, 1]),                      # PREVENT
        bytes([0x1b, 0, 0, 0, 2]),                      # eject: refused
        bytes([0x1e]),                                  # ALLOW
        bytes([0x1b, 0, 0, 0, 2]),                      # eject
    ]
    ram.command(0, h2d(0xa1), [(DATA, 512)])
    for i, cdb in enumerate(cdbs):
        ram.command(1 + i, h2d(0xa0, features=1), [(DATA + 0x1000 * (i + 1), 4096)],
                    packet=cdb, atapi=True)
    out['atapi'] = seed(enable_irqs(1) + op(OP_ISSUE, 1, B_LISTS, 0x1ffff) +
                        op(OP_TRAY, 1, 0) + op(OP_ISSUE, 1, B_LISTS, 0x2), ram)

    ram = Ram()
    ram.command(0, h2d(0x25, 0, 8), [(0xfffff000, 4096)])       # a PRD outside RAM
    ram.command(1, h2d(0x25, 0, 8), prdtl=0xffff)               # a table past RAM's end
    ram.command(2, h2d(0x25, 0, 8), [(DATA, 4096)], ctba=0x7fffffff80)
    ram.command(3, b'\x34' + h2d(0x25, 0, 8)[1:], [(DATA, 4096)])
    ram.command(4, h2d(0x25, 0, 8), [(DATA, 4096)], cfl=0)
    ram.command(5, h2d(0x25, 0, 8), [(DATA, 512)])              # PRDs too short
    ram.command(6, h2d(0, control=4, c=False))                  # SRST
    ram.command(7, h2d(0, c=False))
    out['malformed'] = seed(enable_irqs(0) + op(OP_ISSUE, 0, B_LISTS, 0xff), ram)

    ram = Ram()
    ram.command(0, h2d(0xec), [(DATA, 512)])
    ops = (op(OP_CONFIG, 0x04, 0, 0) + op(OP_CONFIG, 0x06, 0xfee0, 0) +
           op(OP_CONFIG, 0x0c, 0x4041, 0) + op(OP_CONFIG, 0x02, 1, 0) +
           enable_irqs(0) + op(OP_ISSUE, 0, B_LISTS, 1) +
           op(OP_WRITE, 0, port(0, 0x2c), 0x301) + op(OP_WRITE, 0, port(0, 0x2c), 0x300) +
           op(OP_READ, 2, port(0, 0x28)) + op(OP_ISSUE, 0, B_LISTS, 1) +
           op(OP_WRITE, 0, 0x04, 1) + op(OP_READ, 2, 0x04) +
           op(OP_CONFIG, 0x01, 0x406, 0) + op(OP_ISSUE, 0, B_LISTS, 1) + op(OP_RESET))
    out['msi-resets'] = seed(ops, ram)
    return out


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', 'ahci')
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(data)


main()
