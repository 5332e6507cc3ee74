#!/usr/bin/python3
"""The snapshot test: vivarium-vmm --machine running the probe in
mode=snapshot with a qcow2 disk, driven over org.vivarium.Vmm1.

  snapshot-harness.py VIVARIUM-VMM PROBE-ELF

The probe ticks, rewriting a page, a disk block and the screen each tick
and writing the tick to its virtio-console, keeping ledgers of what went
where; "v" on its serial line makes it check memory and disk against them
and the console's and gpu's queues (TAP lines, which come out here as the
harness's own checks). Snapshots are taken with the probe held ("h", then
"g"): at tick S, every device done with it. After each revert, with a
SPICE client on the helper's display:

  - the screen shows S's square exactly (tick_colour (S) on every pixel of
    it) while the probe is still held: the gpu's resource and scanout came
    back, since the screen showed a later tick before the revert;
  - the console lines (port 0's text, seen as the agent's clipboard
    messages: port 0 has nothing behind it under --machine) go on from S:
    after the revert "snap check at tick S" (from "v"), then "snap tick
    S+1", "S+2"... with no tick missing or repeated and nothing else (only
    lines of ticks after S that were on their way before the revert may
    come first).

The harness:

  1. takes A, lets the guest run on, checks; reverts to A: the ticks go on
     from A's, and memory, disk and TSC check out; reverts to A again: the
     same tick again (restoring twice gives the same state);
  2. a branch: from A, runs and takes B; reverts to A, runs and takes C
     (B and C are both A's children); reverts to B and to C, checking
     each;
  3. deletes A, the middle of the tree: B and C keep their content
     (reverting to each still checks out), and the index gives them no
     parent;
  4. renames C; the command line refuses the running machine;
  5. powers off; takes, reverts to and deletes a disks-only snapshot with
     vivarium-vmm snapshot (a running snapshot is refused there);
     qemu-img check finds the disk clean and lists the disk snapshots B
     and C and not A; a raw disk is refused with a message.

Without /dev/kvm, qemu-img or Debian's python3-gi it prints a skip plan.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import ctypes
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
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


def tick_colour(tick):
    return 0x800000 | (tick & 0xffff)


class Machine:
    def __init__(self, vmm, probe, tmp, disk_format="qcow2", display=True):
        self.uuid = str(uuid.uuid4())
        self.dir = os.path.join(tmp, self.uuid)
        os.makedirs(self.dir)
        self.disk = os.path.join(self.dir, "disk." + disk_format)
        blkhost.run(["qemu-img", "create", "-q", "-f", disk_format, self.disk, "64M"])
        with open(os.path.join(self.dir, "machine.json"), "w") as f:
            json.dump({"version": 1, "uuid": self.uuid, "name": "Snapshots",
                       "memory": 256 << 20, "cpus": 1,
                       "boot": {"kind": "kernel", "kernel": probe,
                                "cmdline": "mode=snapshot snap_touch=64"},
                       "disks": [{"path": os.path.basename(self.disk), "format": disk_format}],
                       "devices": {"rng": False}}, f)
        run = os.path.join(tmp, "run")
        sock = os.path.join(run, "vivarium", self.uuid + ".sock")
        self.log = open(os.path.join(tmp, self.uuid + ".log"), "w+")
        self.proc = subprocess.Popen([vmm, "--machine", self.dir],
                                     env=dict(os.environ, XDG_RUNTIME_DIR=run),
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
        """'v': the probe's checks (memory, disk, TSC; console and gpu with
        a display); returns (all ok, their lines)"""
        at = self.mark()
        want = 3 if self.screen is None else 5
        self.serial.send(b"v")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            lines = [l for l in self.since(at).splitlines() if re.match(r"(not )?ok \d+ - snap:", l)]
            if len(lines) >= want:
                return all(l.startswith("ok") for l in lines[:want]), lines[:want]
            self.idle(0.05)
        return False, ["no answer to v: " + self.since(at)[-300:]]

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
        # first, the lines of later ticks that were on their way before the
        # revert: they go on from the last line read before it
        stale = 0
        prev = re.search(r"tick (\d+)$", self.console[con_at - 1]) if con_at else None
        prev = int(prev.group(1)) if prev else -1
        while stale < len(got) and got[stale] == "snap tick %d" % (prev + 1):
            stale += 1
            prev += 1
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


def main():
    vmm, probe = sys.argv[1], os.path.abspath(sys.argv[2])
    blkhost.check_environment()
    tap = blkhost.Tap()
    tmp = tempfile.mkdtemp(prefix="vivarium-snapshot-")
    m = None
    try:
        m = Machine(vmm, probe, tmp)
        m.open_serial()
        m.wait_tick(0, 20)
        a, t = m.take_held("A")
        tap.ok(a == "1", "TakeSnapshot A at tick %d gives id 1 (%s)" % (t, a))
        at = m.mark()
        m.wait_tick(at, t + 30)
        good, lines = m.verify()
        tap.ok(good, "the guest checks out after A was taken", "\n".join(lines))

        for round_ in (1, 2):
            at, con_at = m.mark(), len(m.console)
            m.revert(a)
            good, lines = m.check_revert(tap, "revert %d to A" % round_, t, con_at)
            first = m.first_tick(at)
            tap.ok(t <= first <= t + 20, "revert %d to A: the ticks go on from A's (%d after %d)"
                   % (round_, first, t))
            tap.ok(good, "revert %d to A: memory, disk and TSC check out" % round_,
                   "\n".join(lines))

        # a branch: B and C both after A
        at = m.mark()
        m.wait_tick(at, t + 30)
        b, tb = m.take_held("B")
        con_at = len(m.console)
        m.revert(a)
        good, lines = m.check_revert(tap, "revert to A for a branch", t, con_at)
        tap.ok(good, "revert to A for a branch: the guest checks out", "\n".join(lines))
        at = m.mark()
        m.wait_tick(at, t + 50)
        c, tc = m.take_held("C")
        idx = m.index()
        parents = {s["id"]: s["parent"] for s in idx["snapshots"]}
        tap.ok(parents == {a: None, b: a, c: a} and idx["current"] == c,
               "B and C are both A's children, C current (%s)" % json.dumps(idx["snapshots"]))
        for sid, tick, name in ((b, tb, "B"), (c, tc, "C")):
            at, con_at = m.mark(), len(m.console)
            m.revert(sid)
            good, lines = m.check_revert(tap, "revert to %s" % name, tick, con_at)
            first = m.first_tick(at)
            tap.ok(good and tick <= first <= tick + 20,
                   "revert to %s: the ticks go on from %d (%d) and the guest checks out"
                   % (name, tick, first), "\n".join(lines))

        # the middle of the tree goes; its children keep their content
        m.call("DeleteSnapshot", GLib.Variant("(s)", (a,)))
        idx = m.index()
        parents = {s["id"]: s["parent"] for s in idx["snapshots"]}
        tap.ok(parents == {b: None, c: None} and not os.path.exists(
               os.path.join(m.dir, "snapshots", a)),
               "DeleteSnapshot A: B and C remain, without a parent; A's folder is gone")
        for sid, tick, name in ((b, tb, "B"), (c, tc, "C")):
            con_at = len(m.console)
            m.revert(sid)
            good, lines = m.check_revert(tap, "after A was deleted, revert to %s" % name, tick,
                                         con_at)
            tap.ok(good, "after A was deleted, reverting to %s still checks out" % name,
                   "\n".join(lines))
        try:
            m.revert(a)
            tap.ok(False, "reverting to a deleted snapshot is refused")
        except GLib.Error as e:
            tap.ok("NoSuchSnapshot" in e.message, "reverting to a deleted snapshot is refused (%s)"
                   % e.message)

        m.call("RenameSnapshot", GLib.Variant("(ss)", (c, "Before the upgrade")))
        names = {s["id"]: s["name"] for s in m.index()["snapshots"]}
        tap.ok(names.get(c) == "Before the upgrade", "RenameSnapshot names C anew")
        env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "run"))
        cli = [vmm, "snapshot", "--machine", m.dir]
        p = subprocess.run(cli + ["take", "Off"], env=env, capture_output=True, text=True)
        tap.ok(p.returncode == 1 and "running" in p.stderr,
               "vivarium-vmm snapshot refuses a running machine (%s)" % p.stderr.strip())
        m.stop()

        # the machine off: disks only, through the command line
        p = subprocess.run(cli + ["take", "Off"], env=env, capture_output=True, text=True)
        off = p.stdout.strip()
        snap = {s["id"]: s for s in m.index()["snapshots"]}
        tap.ok(p.returncode == 0 and off in snap and not snap[off]["memory"]
               and snap[off]["parent"] == c,
               "snapshot take with the machine off: id %s, disks only, after C (%s)"
               % (off, p.stderr.strip()))
        p = subprocess.run(cli + ["revert", b], env=env, capture_output=True, text=True)
        tap.ok(p.returncode == 1 and "ran" in p.stderr,
               "snapshot revert of a running snapshot with the machine off is refused (%s)"
               % p.stderr.strip())
        p = subprocess.run(cli + ["revert", off], env=env, capture_output=True, text=True)
        tap.ok(p.returncode == 0 and m.index()["current"] == off,
               "snapshot revert to the disks-only snapshot (%s)" % p.stderr.strip())
        p = subprocess.run(cli + ["delete", off], env=env, capture_output=True, text=True)
        tap.ok(p.returncode == 0 and off not in {s["id"] for s in m.index()["snapshots"]},
               "snapshot delete with the machine off (%s)" % p.stderr.strip())

        status, out = blkhost.qemu_check(m.disk)
        tap.ok(status == 0, "qemu-img check: the disk is clean", out)
        _, out = blkhost.run(["qemu-img", "snapshot", "-l", m.disk])
        tap.ok("vivarium-" + b in out and "vivarium-" + c in out and "vivarium-" + a + " " not in out,
               "qemu-img snapshot -l lists B's and C's disk snapshots, not A's", out)

        # a raw disk: refused, and nothing is left
        raw = Machine(vmm, probe, tmp, disk_format="raw", display=False)
        raw.open_serial()
        raw.wait_tick(0, 5)
        try:
            raw.take("X")
            tap.ok(False, "a machine with a raw disk: TakeSnapshot is refused")
        except GLib.Error as e:
            tap.ok("qcow2" in e.message and not os.path.exists(
                os.path.join(raw.dir, "snapshots", "1")),
                "a machine with a raw disk: TakeSnapshot is refused (%s)" % e.message)
        raw.stop()
    except (RuntimeError, GLib.Error, OSError) as e:
        tap.ok(False, "the test ran to its end", str(e))
        if m is not None:
            m.log.seek(0)
            tap.diag(m.log.read()[-3000:])
    finally:
        if m is not None and m.proc.poll() is None:
            m.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.plan()
    return 0


if __name__ == "__main__":
    sys.exit(main())
