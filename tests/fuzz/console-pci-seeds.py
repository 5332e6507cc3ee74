#!/usr/bin/env python3
# Writes the seeds of the console-pci target (fuzz-console-pci.c says what
# the bytes mean) into corpus/console-pci/:
#
#   tests/fuzz/console-pci-seeds.py [DIR]
#
# The committed seed files are what the tests use; this is how they were
# made, so that a change to the format can make them again.
#
# SPDX-License-Identifier: GPL-3.0-or-later
import os
import struct
import sys

# The machine as fuzz-console-pci.c builds it: the console in slot 1, its
# capabilities where virtio/pci.c puts them
SLOT = 1
DEVFN = SLOT << 3
CAP_PCI_CFG = 0x84
CAP_MSIX = 0x98

# Common configuration (virtio 1.2, 4.1.4.3)
CC_DFSELECT, CC_DF, CC_GFSELECT, CC_GF = 0x00, 0x04, 0x08, 0x0c
CC_MSIX, CC_NUMQ, CC_STATUS = 0x10, 0x12, 0x14
CC_Q_SELECT, CC_Q_SIZE, CC_Q_MSIX, CC_Q_ENABLE = 0x16, 0x18, 0x1a, 0x1c
CC_Q_DESC, CC_Q_AVAIL, CC_Q_USED = 0x20, 0x28, 0x30
ISR, DEVICE_CFG, MSIX_TABLE, PBA = 0x1000, 0x2000, 0x4000, 0x5000

ACK, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
F_MULTIPORT = 1 << 1
F_INDIRECT = 1 << 28
F_EVENT_IDX = 1 << 29

QSIZE = 16
RING_BASE = 0x10000      # queue q's rings at RING_BASE + q * 0x1000
DATA_BASE = 0x40000      # buffers

OP_ECAM, OP_PIO, OP_BAR, OP_MMIO, OP_RAM, OP_NOTIFY, OP_CF8 = range(7)
WIDTH = {1: 0, 2: 1, 4: 2, 8: 3}


def op(kind, write, width, console=0):
    return bytes([kind | (8 if write else 0) | WIDTH[width] << 4 | console << 6])


def le(value, n):
    return value.to_bytes(n, 'little')


class Guest:
    def __init__(self):
        self.out = bytearray()

    # config space
    def ecam_write(self, reg, width, value, devfn=DEVFN, bus=0):
        self.out += op(OP_ECAM, True, width) + bytes([bus, devfn]) + le(reg, 2) + le(value, width)

    def ecam_read(self, reg, width, devfn=DEVFN, bus=0):
        self.out += op(OP_ECAM, False, width) + bytes([bus, devfn]) + le(reg, 2)

    def cf8_write(self, reg, width, value, devfn=DEVFN, bus=0):
        self.out += op(OP_CF8, True, width) + bytes([bus, devfn, reg]) + le(value, width)

    def cf8_read(self, reg, width, devfn=DEVFN, bus=0):
        self.out += op(OP_CF8, False, width) + bytes([bus, devfn, reg])

    def pio_write(self, port, width, value):
        self.out += op(OP_PIO, True, width) + bytes([port - 0xcf0]) + le(value, width)

    def pio_read(self, port, width):
        self.out += op(OP_PIO, False, width) + bytes([port - 0xcf0])

    # the BAR
    def bar_write(self, off, width, value, console=0):
        self.out += op(OP_BAR, True, width, console) + le(off, 2) + le(value, width)

    def bar_read(self, off, width, console=0):
        self.out += op(OP_BAR, False, width, console) + le(off, 2)

    def mmio_read(self, addr, width):
        self.out += op(OP_MMIO, False, width) + le(addr, 8)

    def notify(self, q):
        self.out += op(OP_NOTIFY, True, 2) + bytes([q])

    # guest RAM
    def ram(self, gpa, data):
        data = bytes(data)
        while data:
            chunk, data = data[:255], data[255:]
            self.out += op(OP_RAM, True, 1) + le(gpa, 3) + bytes([len(chunk)]) + chunk
            gpa += len(chunk)

    # a driver
    def setup(self, features, queues):
        self.bar_write(CC_STATUS, 1, 0)
        self.bar_write(CC_STATUS, 1, ACK)
        self.bar_write(CC_STATUS, 1, ACK | DRIVER)
        self.bar_write(CC_DFSELECT, 4, 0)
        self.bar_read(CC_DF, 4)
        self.bar_write(CC_DFSELECT, 4, 1)
        self.bar_read(CC_DF, 4)
        self.bar_write(CC_GFSELECT, 4, 0)
        self.bar_write(CC_GF, 4, features & 0xffffffff)
        self.bar_write(CC_GFSELECT, 4, 1)
        self.bar_write(CC_GF, 4, 1)                      # VERSION_1
        self.bar_write(CC_STATUS, 1, ACK | DRIVER | FEATURES_OK)
        self.bar_read(CC_STATUS, 1)
        self.bar_read(CC_NUMQ, 2)
        for q in queues:
            base = RING_BASE + q * 0x1000
            self.bar_write(CC_Q_SELECT, 2, q)
            self.bar_read(CC_Q_SIZE, 2)
            self.bar_write(CC_Q_SIZE, 2, QSIZE)
            for field, addr in ((CC_Q_DESC, base), (CC_Q_AVAIL, base + 0x400),
                                (CC_Q_USED, base + 0x800)):
                self.bar_write(field, 4, addr)
                self.bar_write(field + 4, 4, 0)
            self.bar_write(CC_Q_ENABLE, 2, 1)
        self.bar_write(CC_STATUS, 1, ACK | DRIVER | FEATURES_OK | DRIVER_OK)

    def chain(self, q, head, bufs):
        """Descriptors head, head + 1... for BUFS [(gpa, len, writable)], and
        the avail ring entry for them; the caller publishes."""
        base = RING_BASE + q * 0x1000
        for i, (gpa, length, writable) in enumerate(bufs):
            last = i == len(bufs) - 1
            flags = (0 if last else 1) | (2 if writable else 0)
            self.ram(base + 16 * (head + i), struct.pack('<QIHH', gpa, length, flags,
                                                         0 if last else head + i + 1))

    def publish(self, q, heads, start=0):
        base = RING_BASE + q * 0x1000
        for i, head in enumerate(heads):
            self.ram(base + 0x400 + 4 + 2 * ((start + i) % QSIZE), le(head, 2))
        self.ram(base + 0x400 + 2, le(start + len(heads), 2))


def bringup_hello():
    """No MULTIPORT: port 0 on queues 0 and 1; "hello" out, a buffer in."""
    g = Guest()
    g.setup(F_EVENT_IDX, [0, 1])
    g.ram(DATA_BASE, b'hello')
    g.chain(1, 0, [(DATA_BASE, 5, False)])
    g.publish(1, [0])
    g.notify(1)
    g.chain(0, 0, [(DATA_BASE + 0x1000, 64, True)])
    g.publish(0, [0])
    g.notify(0)
    g.bar_read(ISR, 1)
    for off, width in ((0, 2), (2, 2), (4, 4)):          # cols, rows, max_nr_ports
        g.bar_read(DEVICE_CFG + off, width)
    g.bar_write(DEVICE_CFG + 8, 4, ord('!'))             # emerg_wr
    return g.out


def bringup_multiport():
    """MULTIPORT: control queues, the handshake for the three ports, then
    "hello" on port 0 and on port 2, as two-descriptor chains."""
    g = Guest()
    queues = list(range(8))
    g.setup(F_MULTIPORT | F_INDIRECT, queues)
    # control receive buffers
    heads = []
    for i in range(12):
        g.chain(2, i, [(DATA_BASE + 0x100 * i, 0x100, True)])
        heads.append(i)
    g.publish(2, heads)
    g.notify(2)
    # control messages from the driver: id, event, value
    msgs = [(0, 0, 1), (0, 3, 1), (1, 3, 1), (2, 3, 1), (0, 6, 1), (2, 6, 1)]
    for i, (port, event, value) in enumerate(msgs):
        gpa = DATA_BASE + 0x2000 + 8 * i
        g.ram(gpa, struct.pack('<IHH', port, event, value))
        g.chain(3, i, [(gpa, 8, False)])
    g.publish(3, list(range(len(msgs))))
    g.notify(3)
    for port, txq in ((0, 1), (2, 7)):
        gpa = DATA_BASE + 0x3000 + 0x100 * port
        g.ram(gpa, b'hel' + b'lo\n')
        g.chain(txq, 0, [(gpa, 3, False), (gpa + 3, 3, False)])
        g.publish(txq, [0])
        g.notify(txq)
    g.chain(0, 0, [(DATA_BASE + 0x4000, 32, True)])
    g.publish(0, [0])
    g.notify(0)
    g.bar_read(ISR, 1)
    g.bar_read(CC_STATUS, 1)
    return g.out


def msix_vectors():
    """MSI-X on through the capability, vectors programmed and masked, a
    queue interrupt left pending, then unmasked and delivered."""
    g = Guest()
    g.ecam_read(CAP_MSIX, 4)
    g.ecam_read(CAP_MSIX + 4, 4)                         # table: BAR0 + 0x4000
    g.ecam_read(CAP_MSIX + 8, 4)                         # PBA: BAR0 + 0x5000
    g.ecam_write(CAP_MSIX + 2, 2, 0xc000)                # enable, function masked
    for v in range(3):
        e = MSIX_TABLE + 16 * v
        g.bar_write(e + 0, 4, 0xfee00000)
        g.bar_write(e + 4, 4, 0)
        g.bar_write(e + 8, 4, 0x40 + v)
        g.bar_write(e + 12, 4, 1)                        # masked
    g.ecam_write(CAP_MSIX + 2, 2, 0x8000)                # function unmasked
    g.setup(0, [0, 1])
    g.bar_write(CC_MSIX, 2, 0)
    g.bar_read(CC_MSIX, 2)
    for q, v in ((0, 1), (1, 2)):
        g.bar_write(CC_Q_SELECT, 2, q)
        g.bar_write(CC_Q_MSIX, 2, v)
        g.bar_read(CC_Q_MSIX, 2)
    g.ram(DATA_BASE, b'x')
    g.chain(1, 0, [(DATA_BASE, 1, False)])
    g.publish(1, [0])
    g.notify(1)
    g.bar_read(PBA, 8)                                   # vector 2 pending
    g.bar_write(MSIX_TABLE + 16 * 2 + 12, 4, 0)          # unmask: delivered
    g.bar_read(PBA, 8)
    g.bar_read(MSIX_TABLE + 16 * 2, 8)
    g.bar_write(MSIX_TABLE + 16 * 1, 8, 0xfee00000)      # a qword write
    g.bar_write(CC_STATUS, 1, 0)                         # reset
    return g.out


def indirect_event_idx():
    """INDIRECT_DESC and EVENT_IDX: "hello" in an indirect table of three
    buffers, a receive buffer the same way, then a second transmit that the
    driver's used_event decides whether to interrupt for."""
    g = Guest()
    g.setup(F_INDIRECT | F_EVENT_IDX, [0, 1])
    table = DATA_BASE + 0x800
    bufs = [(DATA_BASE, 2), (DATA_BASE + 2, 2), (DATA_BASE + 4, 2)]
    g.ram(DATA_BASE, b'hello\n')
    for i, (gpa, length) in enumerate(bufs):
        last = i == len(bufs) - 1
        g.ram(table + 16 * i, struct.pack('<QIHH', gpa, length, 0 if last else 1,
                                          0 if last else i + 1))
    base = RING_BASE + 1 * 0x1000
    g.ram(base, struct.pack('<QIHH', table, 16 * len(bufs), 4, 0))   # INDIRECT
    g.publish(1, [0])
    g.notify(1)
    rx_table = DATA_BASE + 0x900
    g.ram(rx_table, struct.pack('<QIHH', DATA_BASE + 0x1000, 32, 2, 0))
    g.ram(RING_BASE, struct.pack('<QIHH', rx_table, 16, 4, 0))
    g.publish(0, [0])
    g.notify(0)
    g.ram(base + 0x400 + 4 + 2 * QSIZE, le(1, 2))        # used_event: after the next
    g.chain(1, 1, [(DATA_BASE, 6, False)])
    g.publish(1, [1], start=1)
    g.notify(1)
    g.bar_read(ISR, 1)
    return g.out


def ctrl_overflow():
    """MULTIPORT with no control receive buffers while the driver asks and
    asks again: more answers than the device keeps (64) wait, the rest are
    dropped; then buffers come and take what waited."""
    g = Guest()
    g.setup(F_MULTIPORT, [0, 1, 2, 3])
    msgs = [(0, 0, 1)] + [(2, 3, 1)] * 47                # DEVICE_READY, PORT_READY x 47
    for round_ in range(len(msgs) // QSIZE):
        start = round_ * QSIZE
        for i in range(QSIZE):
            port, event, value = msgs[start + i]
            gpa = DATA_BASE + 0x2000 + 8 * i
            g.ram(gpa, struct.pack('<IHH', port, event, value))
            g.chain(3, i, [(gpa, 8, False)])
        g.publish(3, list(range(QSIZE)), start=start)
        g.notify(3)
    for i in range(QSIZE):
        g.chain(2, i, [(DATA_BASE + 0x100 * i, 0x100, True)])
    g.publish(2, list(range(QSIZE)))
    g.notify(2)
    g.bar_read(ISR, 1)
    return g.out


def msix_fire():
    """Vectors unmasked from the start: a queue interrupt fires at once;
    then DRIVER_OK without FEATURES_OK breaks the device, which raises the
    config vector."""
    g = Guest()
    g.ecam_write(CAP_MSIX + 2, 2, 0x8000)                # enable
    for v in range(3):
        e = MSIX_TABLE + 16 * v
        g.bar_write(e + 0, 8, 0xfee00000)
        g.bar_write(e + 8, 4, 0x50 + v)
        g.bar_write(e + 12, 4, 0)                        # unmasked
    g.setup(0, [0, 1])
    g.bar_write(CC_MSIX, 2, 0)
    g.bar_write(CC_Q_SELECT, 2, 1)
    g.bar_write(CC_Q_MSIX, 2, 2)
    g.ram(DATA_BASE, b'y')
    g.chain(1, 0, [(DATA_BASE, 1, False)])
    g.publish(1, [0])
    g.notify(1)
    g.bar_write(CC_STATUS, 1, 0)
    g.bar_write(CC_MSIX, 2, 0)
    g.bar_write(CC_STATUS, 1, ACK | DRIVER)
    g.bar_write(CC_STATUS, 1, ACK | DRIVER | DRIVER_OK)  # no FEATURES_OK: broken
    g.bar_read(CC_STATUS, 1)
    g.bar_read(ISR, 1)
    g.ecam_write(CAP_MSIX + 2, 2, 0xc000)                # function masked
    g.bar_write(CC_STATUS, 1, 0)
    return g.out


def bar_sizing_ecam():
    """Enumeration and BAR sizing as firmware does it, through ECAM: decode
    off, all-ones, read back the size, restore, decode on; then move the
    BAR and use it there."""
    g = Guest()
    for slot in range(4):
        g.ecam_read(0, 4, devfn=slot << 3)
    g.ecam_read(0x0e, 1)
    g.ecam_read(0x34, 1)
    for cap in (0x40, 0x50, 0x64, 0x74, 0x84, 0x98):
        g.ecam_read(cap, 4)
    g.ecam_write(0x04, 2, 0)                             # decode off
    for bar in range(6):
        g.ecam_read(0x10 + 4 * bar, 4)
        g.ecam_write(0x10 + 4 * bar, 4, 0xffffffff)
        g.ecam_read(0x10 + 4 * bar, 4)
    g.ecam_write(0x10, 4, 0xc0100000)
    g.ecam_write(0x14, 4, 0)
    g.ecam_write(0x04, 2, 0x0006)                        # memory, bus master
    g.bar_read(CC_NUMQ, 2)
    g.mmio_read(0xc0100000 + CC_NUMQ, 2)
    g.ecam_write(0x04, 2, 0xffff)
    g.ecam_write(0x06, 2, 0xffff)                        # status: write-1-to-clear
    g.ecam_read(0x04, 4)
    return g.out


def bar_sizing_cf8():
    """The same through the legacy ports, with a 64-bit BAR sized with
    decode left on, and the latch read back."""
    g = Guest()
    g.cf8_read(0, 4, devfn=0)
    g.cf8_read(0, 4)
    g.cf8_read(0x08, 4)
    g.cf8_write(0x10, 4, 0xffffffff)
    g.cf8_read(0x10, 4)
    g.cf8_write(0x14, 4, 0xffffffff)
    g.cf8_read(0x14, 4)
    g.cf8_write(0x10, 4, 0xc0000000)
    g.cf8_write(0x14, 4, 0)
    g.pio_read(0xcf8, 4)
    g.pio_write(0xcf8, 4, 0x80000800 | 0x3c)
    g.pio_write(0xcfc, 1, 0x0b)
    g.pio_read(0xcfc, 1)
    g.pio_read(0xcfd, 1)
    g.cf8_read(0x3c, 2)
    g.bar_read(CC_NUMQ, 2)
    return g.out


def bar_collision():
    """The second console's BAR moved onto the first's (refused: both cannot
    decode there), then away and back: each console must stay reachable
    exactly where its BAR says."""
    g = Guest()
    second = 2 << 3
    g.ecam_read(0x10, 4, devfn=second)                   # 0xc0008000
    g.ecam_write(0x10, 4, 0xc0000000, devfn=second)
    g.bar_read(CC_NUMQ, 2)
    g.bar_read(CC_NUMQ, 2, console=1)
    g.ecam_write(0x10, 4, 0xc0010000, devfn=second)      # away
    g.bar_read(CC_NUMQ, 2, console=1)
    g.ecam_write(0x04, 2, 0, devfn=second)               # decode off
    g.ecam_write(0x10, 4, 0xc0000000, devfn=second)
    g.ecam_write(0x04, 2, 0x0002, devfn=second)          # on, over the first: refused
    g.ecam_write(0x04, 2, 0)                             # the first's off
    g.ecam_write(0x04, 2, 0x0002, devfn=second)
    g.ecam_write(0x04, 2, 0, devfn=second)
    g.ecam_write(0x04, 2, 0x0002, devfn=second)          # now it decodes there
    g.bar_read(CC_NUMQ, 2, console=1)
    g.ecam_write(0x04, 2, 0x0002)                        # the first's on: refused
    g.bar_read(CC_NUMQ, 2)
    g.ecam_write(0x10, 4, 0xc0020000)                    # moved: decodes again
    g.bar_read(CC_NUMQ, 2)
    return g.out


def pci_cfg_window():
    """The VIRTIO_PCI_CAP_PCI_CFG window: the BAR through config space."""
    g = Guest()
    cap = CAP_PCI_CFG
    g.ecam_write(cap + 4, 1, 0)                          # BAR 0
    g.ecam_write(cap + 8, 4, CC_DFSELECT)
    g.ecam_write(cap + 12, 4, 4)
    g.ecam_write(cap + 16, 4, 1)                         # device_feature_select = 1
    g.ecam_write(cap + 8, 4, CC_DF)
    g.ecam_read(cap + 16, 4)                             # features 32-63
    g.ecam_write(cap + 8, 4, CC_STATUS)
    g.ecam_write(cap + 12, 4, 1)
    g.ecam_write(cap + 16, 1, ACK)
    g.ecam_read(cap + 16, 1)
    g.ecam_write(cap + 8, 4, ISR)
    g.ecam_read(cap + 16, 4)
    return g.out


SEEDS = {
    'bringup-hello': bringup_hello,
    'bringup-multiport': bringup_multiport,
    'msix-vectors': msix_vectors,
    'msix-fire': msix_fire,
    'indirect-event-idx': indirect_event_idx,
    'ctrl-overflow': ctrl_overflow,
    'bar-sizing-ecam': bar_sizing_ecam,
    'bar-sizing-cf8': bar_sizing_cf8,
    'bar-collision': bar_collision,
    'pci-cfg-window': pci_cfg_window,
}

if __name__ == '__main__':
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'corpus', 'console-pci')
    os.makedirs(out, exist_ok=True)
    for name, make in SEEDS.items():
        with open(os.path.join(out, name + '.bin'), 'wb') as f:
            f.write(make())
