"""What the snapshot tests share: a machine folder with the probe in
mode=snapshot (snapmode.c) and qcow2 disks, its vivarium-vmm --machine
helper driven over org.vivarium.Vmm1, the probe's serial line and its "v"
check. Used by snapshot-harness.py and snapshot-crash.py.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import ctypes
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm"))
import blkhost  # noqa: E402

try:
    import gi
    gi.require_version("Gio", "2.0")
    from gi.repository import Gio, GLib, GObject  # noqa: E402
    import spice_screen  # noqa: E402
    from gi.repository import SpiceClientGLib  # noqa: E402
except (ImportError, ValueError):
    blkhost.skip_all("Debian's python3-gi or gir1.2-spiceclientglib-2.0 is not installed")

IFACE = "org.vivarium.Vmm1"
PATH = "/org/vivarium/Vmm1"
TIMEOUT = 90

# snapmode.c's square
TICK_X, TICK_Y, TICK_SIDE = 32, 32, 128
BACKGROUND = 0x303030
CONSOLE_AFTER = 5       # console lines checked after a revert
# what "v" answers: memory, disk, TSC, virtio-console, virtio-gpu
N_CHECKS = 5


def tick_colour(tick):
    return 0x800000 | (tick & 0xffff)


class Machine:
    def __init__(self, vmm, probe, tmp, disk_format="qcow2", memory=256 << 20,
                 cmdline="mode=snapshot snap_touch=64", n_disks=1, display=False):
        """A new machine folder in TMP with N_DISKS empty 64 MiB disks (the
        probe writes to the first), its helper started (with a SPICE
        client on its display if DISPLAY)"""
        self.uuid = str(uuid.uuid4())
        self.dir = os.path.join(tmp, self.uuid)
        os.makedirs(self.dir)
        names = ["disk." + disk_format] + ["disk%d.%s" % (i, disk_format)
                                           for i in range(1, n_disks)]
        self.disks = [os.path.join(self.dir, n) for n in names]
        self.disk = self.disks[0]
        for disk in self.disks:
            blkhost.run(["qemu-img", "create", "-q", "-f", disk_format, disk, "64M"])
        with open(os.path.join(self.dir, "machine.json"), "w") as f:
            json.dump({"version": 1, "uuid": self.uuid, "name": "Snapshots",
                       "memory": memory, "cpus": 1,
                       "boot": {"kind": "kernel", "kernel": probe, "cmdline": cmdline},
                       "disks": [{"path": n, "format": disk_format} for n in names],
                       "devices": {"rng": False}}, f)
        self.start(vmm, tmp, display=display)

    @classmethod
    def attach(cls, vmm, folder, tmp, env=None, args=(), display=False):
        """The helper started anew on an existing machine FOLDER, with ENV
        added to its environment and ARGS to its command line"""
        self = cls.__new__(cls)
        self.dir = folder
        with open(os.path.join(folder, "machine.json")) as f:
            config = json.load(f)
        self.uuid = config["uuid"]
        self.disks = [os.path.join(folder, d["path"]) for d in config["disks"]]
        self.disk = self.disks[0]
        self.start(vmm, tmp, env, args, display)
        return self

    def start(self, vmm, tmp, env=None, args=(), display=False):
        """Starts the helper on the folder and connects to it"""
        run = os.path.join(tmp, "run")
        sock = os.path.join(run, "vivarium", self.uuid + ".sock")
        self.log = open(os.path.join(tmp, self.uuid + ".log"), "a+")
        self.proc = subprocess.Popen([vmm, "--machine", self.dir] + list(args),
                                     env=dict(os.environ, XDG_RUNTIME_DIR=run, **(env or {})),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        deadline = time.monotonic() + TIMEOUT
        self.conn = None
        while self.conn is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError("the helper did not come up: " + self.log.read()[-2000:])
            if os.path.exists(sock):
                try:
                    self.conn = Gio.DBusConnection.new_for_address_sync(
                        "unix:path=" + sock, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT,
                        None, None)
                except GLib.Error:
                    pass
            time.sleep(0.02)
        self.out = ""
        self.lock = threading.Lock()
        self.serial = None
        self.screen = None
        self.console = []       # the console's lines, as the agent's port carried them
        if display:
            try:
                path = self.call("ListenDisplay", None, GLib.VariantType("(s)")).unpack()[0]
                self.screen = spice_screen.Screen(path)
                for ch in self.screen.session.get_channels():
                    if isinstance(ch, SpiceClientGLib.MainChannel):
                        GObject.Object.connect(ch, "main-clipboard-selection", self._clipboard)
            except BaseException:
                self.proc.kill()
                self.proc.wait()
                raise

    def _clipboard(self, channel, selection, type_, data, size):
        self.console.append(ctypes.string_at(data, size).decode(errors="replace"))

    def idle(self, seconds):
        """Sleeps, running the SPICE client meanwhile"""
        if self.screen is None:
            time.sleep(seconds)
        else:
            self.screen.wait(lambda: False, seconds)

    def call(self, method, args=None, reply=None):
        return self.conn.call_sync(None, PATH, IFACE, method, args, reply,
                                   Gio.DBusCallFlags.NONE, TIMEOUT * 1000, None)

    def open_serial(self):
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                r, fds = self.conn.call_with_unix_fd_list_sync(
                    None, PATH, IFACE, "OpenSerial", None, GLib.VariantType("(h)"),
                    Gio.DBusCallFlags.NONE, TIMEOUT * 1000, None, None)
                break
            except GLib.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.serial = socket.socket(fileno=fds.get(r.unpack()[0]))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.serial.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.out += data.decode(errors="replace")

    def mark(self):
        with self.lock:
            return len(self.out)

    def since(self, mark):
        with self.lock:
            return self.out[mark:]

    def wait_tick(self, after, tick):
        """Waits for a "snap tick N" line, N >= TICK, after MARK AFTER"""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for m in re.finditer(r"# snap tick (\d+)", self.since(after)):
                if int(m.group(1)) >= tick:
                    return int(m.group(1))
            self.idle(0.05)
        raise RuntimeError("no tick %d: %s" % (tick, self.since(after)[-500:]))

    def first_tick(self, after):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = re.search(r"# snap tick (\d+)", self.since(after))
            if m:
                return int(m.group(1))
            self.idle(0.05)
        raise RuntimeError("no tick after a revert")

    def verify(self):
        """'v': the probe's checks (memory, disk, TSC, console and gpu);
        returns (all ok, their lines)"""
        at = self.mark()
        self.serial.send(b"v")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            lines = [l for l in self.since(at).splitlines() if re.match(r"(not )?ok \d+ - snap:", l)]
            if len(lines) >= N_CHECKS:
                return all(l.startswith("ok") for l in lines[:N_CHECKS]), lines[:N_CHECKS]
            self.idle(0.05)
        return False, ["no answer to v: " + self.since(at)[-300:]]

    def take(self, name):
        return self.call("TakeSnapshot", GLib.Variant("(s)", (name,)),
                         GLib.VariantType("(s)")).unpack()[0]

    def revert(self, sid):
        self.call("RevertSnapshot", GLib.Variant("(s)", (sid,)))

    def hold(self):
        """'h': the probe stops ticking; returns the tick it holds at"""
        at = self.mark()
        self.serial.send(b"h")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = re.search(r"# snap held at tick (\d+)", self.since(at))
            if m:
                return int(m.group(1))
            self.idle(0.05)
        raise RuntimeError("no answer to h: " + self.since(at)[-300:])

    def take_held(self, name):
        """Takes snapshot NAME with the probe held; returns (id, its tick)"""
        tick = self.hold()
        sid = self.take(name)
        self.serial.send(b"g")
        return sid, tick

    def square(self):
        """The tick the screen's square shows, if every pixel of it is one
        tick's colour and the pixels around it are the background; else
        None, and what is wrong"""
        shot = self.screen.pixels()
        if shot is None:
            return None, "no primary surface"
        w, h, stride, data = shot
        if w < TICK_X + TICK_SIDE + 1 or h < TICK_Y + TICK_SIDE + 1:
            return None, "a screen of %dx%d" % (w, h)

        def px(x, y):
            o = y * stride + x * 4
            return data[o] | data[o + 1] << 8 | data[o + 2] << 16

        first = px(TICK_X, TICK_Y)
        if first >> 16 != 0x80:
            return None, "0x%06x at the square's corner" % first
        corner = data[TICK_Y * stride + TICK_X * 4:TICK_Y * stride + TICK_X * 4 + 4]
        for y in range(TICK_Y, TICK_Y + TICK_SIDE):
            if data[y * stride + TICK_X * 4:y * stride + (TICK_X + TICK_SIDE) * 4] \
               != corner * TICK_SIDE:
                return None, "the square is not one colour (row %d)" % y
        for x, y in ((TICK_X - 1, TICK_Y), (TICK_X + TICK_SIDE, TICK_Y + TICK_SIDE),
                     (0, 0), (w - 1, h - 1)):
            if px(x, y) != BACKGROUND:
                return None, "0x%06x at (%d, %d), not the background" % (px(x, y), x, y)
        return first & 0xffff, "tick %d's colour" % (first & 0xffff)

    def check_revert(self, tap, what, tick, con_at):
        """After a revert to a snapshot taken held at TICK: the screen
        while held, the probe's checks, then 'g' and the console from
        CON_AT (len (self.console) before the revert) on. Returns the
        probe's verdict and lines."""
        seen = [None, "nothing yet"]

        def shows():
            seen[:] = self.square()
            return seen[0] == tick
        ok = self.screen.wait(shows, TIMEOUT, step=0.05)
        tap.ok(ok, "%s: the screen shows the snapshot's tick %d exactly (%s)"
               % (what, tick, seen[1]))
        good, lines = self.verify()
        self.serial.send(b"g")
        want = ["snap check at tick %d" % tick] + \
               ["snap tick %d" % (tick + k) for k in range(1, CONSOLE_AFTER + 1)]
        self.screen.wait(lambda: want[-1] in self.console[con_at:], TIMEOUT, step=0.05)
        got = self.console[con_at:]
        # first, the lines that were on their way before the revert: later
        # ticks going on from the last line read before it, and the line of
        # a 'v' at the tick of the line before
        stale = 0
        prev = re.search(r"tick (\d+)$", self.console[con_at - 1]) if con_at else None
        prev = int(prev.group(1)) if prev else -1
        while stale < len(got):
            if got[stale] == "snap tick %d" % (prev + 1):
                prev += 1
            elif got[stale] != "snap check at tick %d" % prev:   # a 'v' before the revert
                break
            stale += 1
        after = got[stale:stale + len(want)]
        tap.ok(after == want, "%s: the console goes on from tick %d: %s (%d later lines before)"
               % (what, tick, " | ".join(after), stale),
               "expected: %s\ngot: %s" % (" | ".join(want), " | ".join(got[-40:])))
        return good, lines

    def take(self, name):
        return self.call("TakeSnapshot", GLib.Variant("(s)", (name,)),
                         GLib.VariantType("(s)")).unpack()[0]

    def revert(self, sid):
        self.call("RevertSnapshot", GLib.Variant("(s)", (sid,)))

    def index(self):
        with open(os.path.join(self.dir, "snapshots", "index.json")) as f:
            return json.load(f)

    def stop(self):
        try:
            self.call("Quit")
        except GLib.Error:
            pass
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

