#!/usr/bin/python3
"""Snapshot benchmark: vivarium-vmm against QEMU, the probe guest in
mode=snapshot with half its memory touched and a qcow2 disk (run by
bench/snapshot.sh).

For each memory size (256 MiB, 1 GiB, 4 GiB by default) and each round:

  save     ours: TakeSnapshot over org.vivarium.Vmm1 (the call returns when
           the snapshot is on disk and the guest runs again);
           QEMU: HMP savevm over QMP
  restore  ours: RevertSnapshot (returns with the guest running from the
           snapshot); QEMU: HMP loadvm then cont

The guest ticks between the two (QEMU's loadvm reads its vmstate back
from the page cache; dropping the cache changes little on a virtual disk
the host caches, as here). Half the memory is touched, at most
1900 MiB (so at 4 GiB, 1900 MiB). Prints the median of the rounds per row,
and the ratios (>= 1.00: ours is faster). Each machine's files are in a
temporary folder on the same file system (the build's), so both write to
the same disk.
"""
import argparse
import json
import mmap
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

# QEMU's q35 keeps 2 GiB below 4 GiB once the guest has more than 2.75:
# the probe's region (from 32 MiB, in the first RAM range) must fit both
TOUCH_MAX_MIB = 1900


def touch(mib):
    return min(mib // 2, TOUCH_MAX_MIB)


def disk_bandwidth(where, mib=512):
    """The disk's write bandwidth in MB/s: MIB MiB of random bytes written
    with O_DIRECT in 1 MiB writes, then fsync (as dd oflag=direct)"""
    buf = mmap.mmap(-1, 1 << 20)
    buf.write(os.urandom(1 << 20))
    path = os.path.join(where, "bandwidth.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(mib):
            os.write(fd, buf)
        os.fsync(fd)
        return mib * (1 << 20) / (time.perf_counter() - t0) / 1e6
    finally:
        os.close(fd)
        os.unlink(path)


import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

IFACE = "org.vivarium.Vmm1"
PATH = "/org/vivarium/Vmm1"


def ours(vmm, probe, tmp, mib):
    u = str(uuid.uuid4())
    mdir = os.path.join(tmp, u)
    os.makedirs(mdir)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", os.path.join(mdir, "disk.qcow2"),
                    "64M"], check=True)
    with open(os.path.join(mdir, "machine.json"), "w") as f:
        json.dump({"version": 1, "uuid": u, "name": "bench", "memory": mib << 20, "cpus": 1,
                   "boot": {"kind": "kernel", "kernel": probe,
                            "cmdline": "mode=snapshot snap_touch=%d" % touch(mib)},
                   "disks": [{"path": "disk.qcow2", "format": "qcow2"}],
                   "devices": {"rng": False}}, f)
    run = os.path.join(tmp, "run")
    sock = os.path.join(run, "vivarium", u + ".sock")
    p = subprocess.Popen([vmm, "--machine", mdir], env=dict(os.environ, XDG_RUNTIME_DIR=run),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    conn = None
    while conn is None:
        if p.poll() is not None:
            sys.exit("the helper exited")
        if os.path.exists(sock):
            try:
                conn = Gio.DBusConnection.new_for_address_sync(
                    "unix:path=" + sock, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)
            except GLib.Error:
                pass
        time.sleep(0.01)

    def call(method, args, reply=None):
        return conn.call_sync(None, PATH, IFACE, method, args, reply, Gio.DBusCallFlags.NONE,
                              600000, None)
    # the probe fills its memory first: a second per GiB or so
    time.sleep(3 + mib / 1024 * 2)
    t0 = time.perf_counter()
    sid = call("TakeSnapshot", GLib.Variant("(s)", ("bench",)), GLib.VariantType("(s)")).unpack()[0]
    save = time.perf_counter() - t0
    time.sleep(1)
    t0 = time.perf_counter()
    call("RevertSnapshot", GLib.Variant("(s)", (sid,)))
    restore = time.perf_counter() - t0
    call("Quit", None)
    p.wait(60)
    shutil.rmtree(mdir, ignore_errors=True)
    return save, restore


def qmp(sock_path):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(500):
        try:
            s.connect(sock_path)
            break
        except OSError:
            time.sleep(0.01)
    f = s.makefile("rw")
    f.readline()

    def cmd(name, **args):
        f.write(json.dumps({"execute": name, "arguments": args} if args else {"execute": name})
                + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "return" in reply or "error" in reply:
                return reply
    cmd("qmp_capabilities")
    return cmd


def qemu(probe, tmp, mib):
    d = tempfile.mkdtemp(dir=tmp)
    disk = os.path.join(d, "disk.qcow2")
    sock = os.path.join(d, "qmp")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
    p = subprocess.Popen(["qemu-system-x86_64", "-accel", "kvm", "-M", "q35",
                          "-cpu", "host,-arch-capabilities", "-m", "%dM" % mib, "-nodefaults",
                          "-display", "none", "-no-reboot", "-serial", "null",
                          "-kernel", probe, "-append", "mode=snapshot snap_touch=%d" % touch(mib),
                          "-drive", "file=%s,if=none,id=d0,format=qcow2" % disk,
                          "-device", "virtio-blk-pci,drive=d0,disable-legacy=on",
                          "-qmp", "unix:%s,server=on,wait=off" % sock],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    cmd = qmp(sock)
    time.sleep(3 + mib / 1024 * 2)
    t0 = time.perf_counter()
    r = cmd("human-monitor-command", **{"command-line": "savevm bench"})
    save = time.perf_counter() - t0
    if r.get("return"):
        sys.exit("savevm: " + r["return"])
    time.sleep(1)
    t0 = time.perf_counter()
    r = cmd("human-monitor-command", **{"command-line": "loadvm bench"})
    cmd("cont")
    restore = time.perf_counter() - t0
    if r.get("return"):
        sys.exit("loadvm: " + r["return"])
    cmd("quit")
    p.wait(60)
    shutil.rmtree(d, ignore_errors=True)
    return save, restore


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--dir", required=True, help="where the machines' files go")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="256,1024,4096", help="MiB, comma-separated")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vivarium-snapbench-", dir=args.dir)
    rows = []
    try:
        bandwidth = disk_bandwidth(tmp)
        for mib in [int(x) for x in args.sizes.split(",")]:
            res = {"ours": [], "qemu": []}
            for r in range(args.rounds):
                for which in (["ours", "qemu"] if r % 2 == 0 else ["qemu", "ours"]):
                    v = ours(args.vmm, args.probe, tmp, mib) if which == "ours" \
                        else qemu(args.probe, tmp, mib)
                    res[which].append(v)
                    print("%d MiB round %d %-4s save %.3f s restore %.3f s"
                          % (mib, r + 1, which, v[0], v[1]), flush=True)
            rows.append((mib, res))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(res, which, k):
        return statistics.median(x[k] for x in res[which])
    print()
    print("The disk: %.0f MB/s (512 MiB, O_DIRECT, 1 MiB writes, fsync); ours saved the touched "
          "memory at %s MB/s (median of each size)" % (bandwidth, ", ".join(
              "%.0f" % (touch(mib) * (1 << 20) / med(res, "ours", 0) / 1e6) for mib, res in rows)))
    print("| guest (half touched) | save, ours | save, QEMU | ratio | restore, ours | "
          "restore, QEMU | ratio |")
    print("|---|---|---|---|---|---|---|")
    for mib, res in rows:
        so, sq = med(res, "ours", 0), med(res, "qemu", 0)
        ro, rq = med(res, "ours", 1), med(res, "qemu", 1)
        print("| %d MiB | %.3f s | %.3f s | %.2f | %.1f ms | %.1f ms | %.1f |"
              % (mib, so, sq, sq / so, ro * 1000, rq * 1000, rq / ro))
    return 0


if __name__ == "__main__":
    sys.exit(main())
