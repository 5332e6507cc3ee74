"""The host side of the probe's virtio-net tests (run by run-net.sh).

Listens on 127.0.0.1 on a free port S, picks a free port F for the VMM's
forward to the guest's port 7777, and boots the probe in mode=net with
srv=S fwd=7777 under QEMU (virtio-net-pci on -netdev user) or
vivarium-vmm (--net user). Both exchanges follow net.c:

  client: the probe connects to 10.0.2.2:S (slirp: the host's loopback)
  server: once the probe prints "# net: listening on port 7777", the
          harness connects to 127.0.0.1:F, again until the forward
          reaches a listening guest

In each the probe sends BYTES bytes of its pattern (seed 1, or 3), the
harness checks them, sends BYTES bytes of pattern 2 (or 4) and "ok\\n"
or "bad\\n", closes its side and waits for the probe's FIN. The probe's
TAP passes through without its plan; the harness's own checks follow
(the bytes it got, that the probe closed, that the VMM exited with 0),
then the one plan.

With --bench tx|rx|ping it runs mode=netbench instead: a sink for tx, a
source of BYTES zero bytes for rx, nothing for ping; the probe prints
the "netbench:" line.

  net-harness.py qemu|VIVARIUM-VMM ELF [--bench tx|rx|ping] [--bytes N] [--csum] [--tso]
                 [KEY=VALUE...]   (more probe options, such as win=65535)

SPDX-License-Identifier: GPL-3.0-or-later
"""

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blkhost  # noqa: E402
from blkhost import Tap, log  # noqa: E402

MAC = "52:54:00:12:34:56"
GUEST_PORT = 7777
MASK = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9e3779b97f4a7c15) & MASK
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def pattern(seed, length):
    """net.c's net_pattern () from offset 0."""
    base = seed << 40
    words = (length + 7) // 8
    return struct.pack("<%dQ" % words, *(splitmix64(base + i) for i in range(words)))[:length]


def recv_exact(conn, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(min(1 << 16, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_all(conn):
    n = 0
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return n
        n += len(chunk)


class Exchange:
    """One side of net.c's exchange on a connected socket."""

    def __init__(self, name, guest_seed, host_seed, size):
        self.name = name
        self.guest_seed = guest_seed
        self.host_seed = host_seed
        self.size = size
        self.got = None
        self.intact = False
        self.closed = False
        self.error = None
        self.done = threading.Event()

    def run(self, conn, first=b"", host_first=False):
        """host_first: the host's first byte goes at once (see connect_forward)"""
        try:
            own = pattern(self.host_seed, self.size)
            if host_first:
                conn.sendall(own[:1])
                own = own[1:]
            data = first + recv_exact(conn, self.size - len(first))
            self.got = len(data)
            self.intact = data == pattern(self.guest_seed, self.size)
            conn.sendall(own + (b"ok\n" if self.intact else b"bad\n"))
            conn.shutdown(socket.SHUT_WR)
            self.closed = recv_all(conn) == 0
        except OSError as e:
            self.error = str(e)
        finally:
            conn.close()
            self.done.set()


def serve_client(listener, ex, timeout):
    """The probe's client connects to us."""
    listener.settimeout(timeout)
    try:
        conn, _ = listener.accept()
    except OSError as e:
        ex.error = "no connection from the guest (%s)" % e
        ex.done.set()
        return
    conn.settimeout(60)
    ex.run(conn)


def connect_forward(port, listening, ex, timeout, host="127.0.0.1", host_first=False):
    """Connects through the forward until the guest's server answers: slirp
    accepts at once and closes if the guest resets its connection.

    host_first (passt): the host speaks first, one byte. Debian 12's passt
    (0.0~git20230309) sends no ACK for the guest's SYN-ACK until it has
    data for the guest (later versions send it at once), so a guest server
    waiting for the handshake to end and a host waiting for the guest's
    bytes would wait for each other, under QEMU as under ours. (The host's
    whole 256 KiB at once, beside the guest's, once made that passt end
    the host's side early under load, its pcap showing the guest's
    segments intact: one byte is enough to end the handshake.)"""
    if not listening.wait(timeout):
        ex.error = "the guest never said it was listening"
        ex.done.set()
        return
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=60)
            if host_first:
                ex.run(conn, host_first=True)
                return
            first = conn.recv(1 << 16)
            if first:
                ex.run(conn, first)
                return
            conn.close()
        except OSError as e:
            if time.monotonic() > deadline:
                ex.error = "cannot reach the guest through the forward (%s)" % e
                ex.done.set()
                return
        if time.monotonic() > deadline:
            ex.error = "the forward never reached a listening guest"
            ex.done.set()
            return
        time.sleep(0.2)


# ---- --tap: a tap device in a network namespace of the test's own ----------

TAP = "vtap0"
TAP_HOST = "10.0.2.2"
TAP_GUEST = "10.0.2.15"


def tap_netns_setup():
    """In the new namespace: loopback up, the tap device with the host's
    end at 10.0.2.2/24, as libslirp lays it out, so the probe's tests hold"""
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
                ["ip", "addr", "add", TAP_HOST + "/24", "dev", TAP],
                ["ip", "link", "set", TAP, "up"]):
        subprocess.run(cmd, check=True)


def dhcp_server(stop):
    """Answers the guest's DHCPDISCOVER and DHCPREQUEST on the tap with
    10.0.2.15, router 10.0.2.2, DNS 10.0.2.3: what libslirp would say"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, TAP.encode())
    s.bind(("0.0.0.0", 67))
    s.settimeout(0.5)
    while not stop.is_set():
        try:
            req, _ = s.recvfrom(2048)
        except socket.timeout:
            continue
        if len(req) < 240 or req[0] != 1 or req[236:240] != b"\x63\x82\x53\x63":
            continue
        kind, i = None, 240
        while i + 1 < len(req) and req[i] != 255:
            if req[i] == 0:
                i += 1
                continue
            if req[i] == 53:
                kind = req[i + 2]
            i += 2 + req[i + 1]
        if kind not in (1, 3):
            continue
        ip = lambda a: socket.inet_aton(a)
        reply = bytearray(240)
        reply[0:4] = b"\x02\x01\x06\x00"
        reply[4:8] = req[4:8]                    # xid
        reply[10:12] = req[10:12]                # flags
        reply[16:20] = ip(TAP_GUEST)             # yiaddr
        reply[20:24] = ip(TAP_HOST)              # siaddr
        reply[28:44] = req[28:44]                # chaddr
        reply[236:240] = b"\x63\x82\x53\x63"
        reply += bytes([53, 1, 2 if kind == 1 else 5, 54, 4]) + ip(TAP_HOST)
        reply += bytes([51, 4]) + struct.pack(">I", 3600)
        reply += bytes([1, 4]) + ip("255.255.255.0") + bytes([3, 4]) + ip(TAP_HOST)
        reply += bytes([6, 4]) + ip("10.0.2.3") + bytes([255])
        s.sendto(bytes(reply), ("255.255.255.255", 68))


def bench_host(listener, kind, size, result, timeout):
    listener.settimeout(timeout)
    try:
        conn, _ = listener.accept()
        conn.settimeout(600)
        t0 = time.monotonic()
        if kind == "tx":
            result["bytes"] = recv_all(conn)
        else:
            block = bytes(1 << 16)
            left = size
            while left > 0:
                n = conn.send(block[:min(left, len(block))])
                left -= n
            conn.shutdown(socket.SHUT_WR)
            recv_all(conn)
            result["bytes"] = size
        result["secs"] = time.monotonic() - t0
        conn.close()
    except OSError as e:
        result["error"] = str(e)


def vm_argv(vmm, elf, cmdline, fwd, passt=False):
    if vmm == "qemu":
        qemu = os.environ.get("QEMU", "qemu-system-x86_64")
        return [qemu] + blkhost.QEMU_BASE + [
            "-m", "64M", "-kernel", elf, "-append", cmdline,
            "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:%d" % (fwd, GUEST_PORT),
            "-device", "virtio-net-pci,netdev=n0,disable-legacy=on,mac=" + MAC]
    return [vmm, "--kernel", elf, "--memory", "64M", "--serial", "stdio", "--cmdline", cmdline,
            "--net", "%s,mac=%s,hostfwd=tcp:127.0.0.1:%d-:%d" % ("passt" if passt else "user",
                                                                 MAC, fwd, GUEST_PORT)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmm", help="qemu, or the path of vivarium-vmm")
    ap.add_argument("elf")
    ap.add_argument("--bench", choices=["tx", "rx", "ping"])
    ap.add_argument("--bytes", type=int)
    ap.add_argument("--csum", action="store_true", help="csum=1: the checksum offloads")
    ap.add_argument("--tso", action="store_true",
                    help="tso=1 (and csum=1): TCP segmentation offload where offered")
    ap.add_argument("--tap", action="store_true",
                    help="vivarium-vmm with --net tap=, in a network namespace (root)")
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--passt", action="store_true",
                    help="vivarium-vmm with --net passt (Debian's passt) instead of user")
    ap.add_argument("extra", nargs="*", help="more KEY=VALUE options for the probe (win=...)")
    args = ap.parse_intermixed_args()

    if not os.path.exists("/dev/kvm"):
        blkhost.skip_all("/dev/kvm is missing")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        blkhost.skip_all("/dev/kvm cannot be opened (%s)" % e.strerror)
    if args.vmm == "qemu" and shutil.which(os.environ.get("QEMU", "qemu-system-x86_64")) is None:
        blkhost.skip_all("qemu-system-x86_64 is not installed")
    if args.passt and shutil.which("passt") is None:
        blkhost.skip_all("passt is not installed (Debian's passt)")
    if args.tap and not args.in_netns:
        # a namespace of its own: the tap device and its addresses touch
        # nothing of the host's network
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
            blkhost.skip_all("a tap device needs root, unshare and ip (iproute2)")
        if subprocess.run(["unshare", "--net", "true"]).returncode != 0:
            blkhost.skip_all("cannot make a network namespace here")
        return subprocess.run(["unshare", "--net", sys.executable] + sys.argv +
                              ["--in-netns"]).returncode
    dhcp_stop = threading.Event()
    if args.tap:
        tap_netns_setup()
        threading.Thread(target=dhcp_server, args=(dhcp_stop,), daemon=True).start()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # with a tap, the host's side of it is where the guest's gateway is
    listener.bind((TAP_HOST if args.tap else "127.0.0.1", 0))
    listener.listen(4)
    srv = listener.getsockname()[1]
    fwd = blkhost.free_port()

    if args.bench:
        size = args.bytes if args.bytes is not None else 64 << 20
        cmdline = "mode=netbench bench=%s srv=%d bytes=%d" % (args.bench, srv, size)
        result = {}
        host = None
        if args.bench != "ping":
            host = threading.Thread(target=bench_host, args=(listener, args.bench, size,
                                                              result, 120), daemon=True)
            host.start()
    else:
        size = args.bytes if args.bytes is not None else 256 << 10
        cmdline = "mode=net srv=%d fwd=%d bytes=%d mac=%s" % (srv, GUEST_PORT, size, MAC)
        if args.vmm == "qemu":
            cmdline += " short_hdr=0"   # QEMU 7.2 aborts on it (net.c)
        client = Exchange("client", 1, 2, size)
        server = Exchange("server", 3, 4, size)
        listening = threading.Event()
        threading.Thread(target=serve_client, args=(listener, client, 120), daemon=True).start()
        # with a tap, straight to the guest: no forward
        threading.Thread(target=connect_forward,
                         args=(GUEST_PORT if args.tap else fwd, listening, server, 120,
                               TAP_GUEST if args.tap else "127.0.0.1", args.passt),
                         daemon=True).start()
    if args.csum or args.tso:
        cmdline += " csum=1"
    if args.tso:
        cmdline += " tso=1"
    if args.passt:
        # passt answers ICMP only through ping sockets, which its user may
        # not be allowed (net.ipv4.ping_group_range)
        cmdline += " ping=0"
    for opt in args.extra:
        cmdline += " " + opt

    def on_line(line):
        if line == "# net: listening on port %d" % GUEST_PORT:
            listening.set()

    argv = vm_argv(args.vmm, args.elf, cmdline, fwd, args.passt)
    if args.tap:
        argv[-1] = "tap=%s,mac=%s" % (TAP, MAC)
    guest = blkhost.Guest(argv, on_line=on_line)
    rc = guest.wait(timeout=150)
    dhcp_stop.set()
    if guest.bailed:
        log("the probe bailed out (status %d)" % rc)
        return 1
    tap = Tap(first=guest.tests if guest.tests else
              sum(1 for line in guest.lines if line.startswith(("ok ", "not ok "))))
    if args.bench:
        if host is not None:
            host.join(timeout=5)
            tap.ok("error" not in result and "bytes" in result,
                   "host: netbench %s: %s bytes over TCP in %.3f s" % (
                       args.bench, result.get("bytes"), result.get("secs", 0)),
                   result.get("error", ""))
    else:
        for ex in (client, server):
            ex.done.wait(timeout=5)
            tap.ok(ex.intact, "host: %s: the guest's %d bytes of pattern %d arrived intact (%s "
                   "bytes)" % (ex.name, ex.size, ex.guest_seed, ex.got), ex.error or "")
            tap.ok(ex.closed, "host: %s: the guest closed the connection after the exchange"
                   % ex.name, ex.error or "")
    if args.tso and args.vmm != "qemu":
        # our card offers HOST_TSO4 with every backend: the probe must have used it
        tap.ok(any("HOST_TSO4" in line for line in guest.lines),
               "host: the probe negotiated HOST_TSO4 with the card")
    tap.ok(rc == 0, "host: the VMM exited with status 0 after the guest powered off (%d)" % rc)
    tap.plan()
    return 0


if __name__ == "__main__":
    sys.exit(main())
