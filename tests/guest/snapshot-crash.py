#!/usr/bin/python3
"""The snapshot crash test: vivarium-vmm killed in the middle of taking or
deleting a snapshot leaves every snapshot its index lists restorable.

  snapshot-crash.py VIVARIUM-VMM PROBE-ELF

A machine with the probe in mode=snapshot (snapmode.c) and two qcow2 disks
(the probe writes to the first) gets snapshots A and B, then its guest runs
until it has rewritten every block it writes after B, so that a new boot
writes no qcow2 metadata until the next snapshot. That folder is the base
of each case. A case starts the helper on a copy of it with a crash armed:

  - VIVARIUM_SNAPSHOT_CRASH_AT=STEP (vm-snapshot.c's crash points), then
    takes C, or deletes A for the delete steps: the helper raises SIGKILL
    at that step;
  - VIVARIUM_BLOCK_CRASH_AFTER=N (the qcow2 driver's, as in
    tests/vmm/qcow2-snapshot-crash.py): the Nth metadata write of a disk
    ends the helper as a SIGKILL would; with nothing written since the
    boot, that is inside C's disk snapshots.

Then, each a TAP line:

  1. the helper died at the crash point (and, for the qcow2 crashes, inside
     the take: C's .new- folder holds its state and memory);
  2. qemu-img check finds no harmful error on either disk (leaks, and the
     one benign window qcow2-snapshot-crash.py allows);
  3. the index lists C whole (its folder, its disk snapshot on both disks)
     only when the take was killed after the index was written, and not at
     all before; a deleted A is not listed, and B is A's no longer;
  4. the helper started anew: every listed snapshot reverts and the
     probe's "v" check passes after it;
  5. the next take works and leaves no .new- folder, no folder and no
     vivarium-* disk snapshot the index does not list; qemu-img check as
     in 2 once the helper has quit.

Without /dev/kvm, qemu-img or Debian's python3-gi it prints a skip plan.
CRASH_POINTS (space-separated) runs only those cases.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blkhost  # noqa: E402
from snapshot_common import TIMEOUT, Machine  # noqa: E402
from gi.repository import GLib  # noqa: E402

CLUSTER = 65536          # qemu-img create's default
# 64 MiB of RAM with the probe's region at 32-48 MiB; ticks every 10 ms so
# that the base's guest rewrites all of its 1024 disk blocks in seconds
MEMORY = 64 << 20
CMDLINE = "mode=snapshot snap_touch=16 snap_ms=10"

TAKE_STEPS = ["take-state", "take-memory", "take-disk-0", "take-disk-1", "take-fsync",
              "take-rename", "take-index"]
DELETE_STEPS = ["delete-index", "delete-disk-0", "delete-disk-1", "delete-folder"]
# A disk snapshot here is 8 metadata writes per disk, and N counts per
# disk, so every N dies in disk 0's: its first write, one in the middle,
# its last (disk 0 then lists C's snapshot already, disk 1 does not).
# Measured with N = 1, 2, ...: 9 no longer kills the take.
BLOCK_CRASHES = [1, 4, 8]


def qemu_check_ok(path):
    """qemu-img check's verdict as qcow2-snapshot-crash.py gives it
    (blkhost.qcow2_check_verdict); returns (ok, output)."""
    status, out = blkhost.run(["qemu-img", "check", path], check=False)
    return blkhost.qcow2_check_verdict(status, out, CLUSTER)[0], out


def check_disks(m):
    good, outs = True, []
    for disk in m.disks:
        blkhost.wait_unlocked(disk)
        ok, out = qemu_check_ok(disk)
        good = good and ok
        outs.append("%s: %s" % (os.path.basename(disk), out))
    return good, "\n".join(outs)


def disk_snapshots(path):
    """The vivarium-* snapshot ids on a disk nobody has open"""
    _, out = blkhost.run(["qemu-img", "snapshot", "-l", path])
    tags = [line.split()[1] for line in out.splitlines()[2:] if len(line.split()) > 1]
    return sorted(t[len("vivarium-"):] for t in tags if t.startswith("vivarium-"))


def listed(m):
    return {s["id"]: s for s in m.index()["snapshots"]}


def folders(m):
    return sorted(os.listdir(os.path.join(m.dir, "snapshots")))


def whole(m, sid):
    """SID's folder holds its state and memory, and every disk its snapshot"""
    d = os.path.join(m.dir, "snapshots", sid)
    return (os.path.isfile(os.path.join(d, "state.bin"))
            and os.path.isfile(os.path.join(d, "memory.bin"))
            and all(sid in disk_snapshots(disk) for disk in m.disks))


def make_base(vmm, probe, tmp):
    """The machine with A and B, its guest past rewriting every block after B"""
    m = Machine(vmm, probe, tmp, memory=MEMORY, cmdline=CMDLINE, n_disks=2)
    try:
        m.open_serial()
        t = m.wait_tick(0, 20)
        a = m.take("A")
        at = m.mark()
        t = m.wait_tick(at, t + 20)
        b = m.take("B")
        at = m.mark()
        m.wait_tick(at, t + 1024 + 20)
    finally:
        m.stop()
    if (a, b) != ("1", "2"):
        raise RuntimeError("the base's snapshots are %s and %s, not 1 and 2" % (a, b))
    return m.dir


def run_case(tap, vmm, base, tmp, name, env, delete):
    """One crash and the checks after it, on a copy of BASE"""
    # a copy under the same name: the folder's name is the machine's uuid
    cases = os.path.join(tmp, "case")
    shutil.rmtree(cases, ignore_errors=True)
    folder = os.path.join(cases, os.path.basename(base))
    shutil.copytree(base, folder)
    block = "VIVARIUM_BLOCK_CRASH_AFTER" in env
    step = env.get("VIVARIUM_SNAPSHOT_CRASH_AT", "")
    what = "the delete of A" if delete else "the take of C"
    m = m2 = None
    try:
        m = Machine.attach(vmm, folder, cases, env)
        m.open_serial()
        m.wait_tick(0, 5)
        came_up = m.proc.poll() is None
        done = True
        try:
            if delete:
                m.call("DeleteSnapshot", GLib.Variant("(s)", ("1",)))
            else:
                m.take("C")
        except GLib.Error:
            done = False
        if done:
            m.stop()
        try:
            status = m.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            status = m.proc.wait()
        # the qcow2 driver's knob ends the process with status 9
        killed = came_up and not done and status == (9 if block else -9)
        inside = True
        if block:
            new = os.path.join(folder, "snapshots", ".new-3")
            inside = all(os.path.isfile(os.path.join(new, f)) for f in ("state.bin", "memory.bin"))
        tap.ok(killed and inside, "%s: the helper is killed in %s (status %s%s)"
               % (name, what, status, "" if inside else ", before the disk snapshots"))

        good, out = check_disks(m)
        tap.ok(good, "%s: qemu-img check finds no harmful error on the disks" % name, out)

        snaps = listed(m)
        if delete:
            good = "1" not in snaps and snaps.get("2", {}).get("parent", "x") is None
            tap.ok(good, "%s: A is no longer listed, B is listed without a parent" % name,
                   json.dumps(m.index()))
        else:
            want = step == "take-index"
            good = ("3" in snaps) == want and (not want or whole(m, "3"))
            tap.ok(good, "%s: C is %s" % (name, "listed, whole" if want else "not listed"),
                   json.dumps(m.index()) + "\n" + " ".join(folders(m)))

        m2 = Machine.attach(vmm, folder, cases)
        m2.open_serial()
        m2.wait_tick(0, 5)
        bad = []
        ids = sorted(snaps)
        for sid in ids:
            try:
                m2.revert(sid)
                good, lines = m2.verify()
            except GLib.Error as e:
                good, lines = False, [e.message]
            if not good:
                bad.append("%s: %s" % (sid, "; ".join(lines)))
        tap.ok(bool(ids) and not bad, "%s: every listed snapshot (%s) reverts and checks out"
               % (name, ", ".join(ids)), "\n".join(bad))

        nid = m2.take("D")
        snaps = listed(m2)
        m2.stop()
        good_after, out = check_disks(m2)
        on_disks = [disk_snapshots(d) for d in m2.disks]
        good = (nid in snaps and whole(m2, nid)
                and set(folders(m2)) == set(snaps) | {"index.json"}
                and all(d == sorted(snaps) for d in on_disks) and good_after)
        tap.ok(good, "%s: the next take works and leaves nothing the index does not list"
               % name, "listed %s; folders %s; disks %s\n%s"
               % (sorted(snaps), folders(m2), on_disks, out))
    except (RuntimeError, GLib.Error, OSError) as e:
        tap.ok(False, "%s: the case ran to its end" % name, str(e))
        if m is not None:       # the case's helpers share their log
            m.log.seek(0)
            tap.diag(m.log.read()[-2000:])
    finally:
        for x in (m, m2):
            if x is not None and x.proc.poll() is None:
                x.proc.kill()
                x.proc.wait()


def main():
    vmm, probe = sys.argv[1], os.path.abspath(sys.argv[2])
    blkhost.check_environment()
    tap = blkhost.Tap()
    tmp = tempfile.mkdtemp(prefix="vivarium-snapshot-crash-")
    cases = ([(s, {"VIVARIUM_SNAPSHOT_CRASH_AT": s}, False) for s in TAKE_STEPS]
             + [(s, {"VIVARIUM_SNAPSHOT_CRASH_AT": s}, True) for s in DELETE_STEPS]
             + [("take, qcow2 metadata write %d" % n, {"VIVARIUM_BLOCK_CRASH_AFTER": str(n)},
                 False) for n in BLOCK_CRASHES])
    only = os.environ.get("CRASH_POINTS")
    if only:
        cases = [c for c in cases if c[0] in only.split()
                 or c[1].get("VIVARIUM_BLOCK_CRASH_AFTER") in only.split()]
    try:
        try:
            base = make_base(vmm, probe, tmp)
        except (RuntimeError, GLib.Error, OSError) as e:
            tap.ok(False, "the base machine with A and B", str(e))
            base = None
        if base is not None:
            for name, env, delete in cases:
                run_case(tap, vmm, base, tmp, name, env, delete)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tap.plan()
    return 0


if __name__ == "__main__":
    sys.exit(main())
