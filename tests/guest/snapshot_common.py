"""What the snapshot tests share: a machine folder with the probe in
mode=snapshot (snapmode.c) and qcow2 disks, its vivarium-vmm --machine
helper driven over org.vivarium.Vmm1, the probe's serial line and its "v"
check. Used by snapshot-harness.py and snapshot-crash.py.

SPDX-License-Identifier: GPL-3.0-or-later
"""
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
import blkhost  # noqa: E402

try:
    import gi
    gi.require_version("Gio", "2.0")
    from gi.repository import Gio, GLib  # noqa: E402
except (ImportError, ValueError):
    blkhost.skip_all("Debian's python3-gi is not installed")

IFACE = "org.vivarium.Vmm1"
PATH = "/org/vivarium/Vmm1"
TIMEOUT = 90


class Machine:
    def __init__(self, vmm, probe, tmp, disk_format="qcow2", memory=256 << 20,
                 cmdline="mode=snapshot snap_touch=64", n_disks=1):
        """A new machine folder in TMP with N_DISKS empty 64 MiB disks (the
        probe writes to the first), its helper started"""
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
        self.start(vmm, tmp)

    @classmethod
    def attach(cls, vmm, folder, tmp, env=None):
        """The helper started anew on an existing machine FOLDER, with ENV
        added to its environment"""
        self = cls.__new__(cls)
        self.dir = folder
        with open(os.path.join(folder, "machine.json")) as f:
            config = json.load(f)
        self.uuid = config["uuid"]
        self.disks = [os.path.join(folder, d["path"]) for d in config["disks"]]
        self.disk = self.disks[0]
        self.start(vmm, tmp, env)
        return self

    def start(self, vmm, tmp, env=None):
        """Starts the helper on the folder and connects to it"""
        run = os.path.join(tmp, "run")
        sock = os.path.join(run, "vivarium", self.uuid + ".sock")
        self.log = open(os.path.join(tmp, self.uuid + ".log"), "a+")
        self.proc = subprocess.Popen([vmm, "--machine", self.dir],
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
            time.sleep(0.05)
        raise RuntimeError("no tick %d: %s" % (tick, self.since(after)[-500:]))

    def first_tick(self, after):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = re.search(r"# snap tick (\d+)", self.since(after))
            if m:
                return int(m.group(1))
            time.sleep(0.05)
        raise RuntimeError("no tick after a revert")

    def verify(self):
        """'v': the probe's three checks; returns (all ok, their lines)"""
        at = self.mark()
        self.serial.send(b"v")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            lines = [l for l in self.since(at).splitlines() if re.match(r"(not )?ok \d+ - snap:", l)]
            if len(lines) >= 3:
                return all(l.startswith("ok") for l in lines[:3]), lines[:3]
            time.sleep(0.05)
        return False, ["no answer to v: " + self.since(at)[-300:]]

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
