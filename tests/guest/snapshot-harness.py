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
     and C and not A; a raw disk is refused with a message;
  6. starts the machine that is off from B (vivarium-vmm --machine DIR
     --restore B): the screen, console and probe check out as after a
     revert; a disks-only snapshot is refused there.

Without /dev/kvm, qemu-img, Debian's python3-gi or gir1.2-spiceclientglib-2.0 it
prints a skip plan.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blkhost  # noqa: E402
# (snapshot_common skips the test without python3-gi or spice-client-glib)
from snapshot_common import TIMEOUT, Machine  # noqa: E402
from gi.repository import GLib  # noqa: E402


def main():
    vmm, probe = sys.argv[1], os.path.abspath(sys.argv[2])
    blkhost.check_environment()
    tap = blkhost.Tap()
    tmp = tempfile.mkdtemp(prefix="vivarium-snapshot-")
    m = None
    try:
        m = Machine(vmm, probe, tmp, display=True)
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
        p = subprocess.run([vmm, "--machine", m.dir, "--restore", off], env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        tap.ok(p.returncode == 1 and "off" in p.stderr and m.index()["current"] == off,
               "vivarium-vmm --restore refuses a disks-only snapshot (%s)" % p.stderr.strip())
        p = subprocess.run(cli + ["delete", off], env=env, capture_output=True, text=True)
        tap.ok(p.returncode == 0 and off not in {s["id"] for s in m.index()["snapshots"]},
               "snapshot delete with the machine off (%s)" % p.stderr.strip())

        # the machine off, started from B (vivarium-vmm --restore): B's screen,
        # console, memory, disk and TSC, before its first tick
        m = Machine.attach(vmm, m.dir, tmp, args=["--restore", b], display=True)
        m.open_serial()
        good, lines = m.check_revert(tap, "started from B", tb, 0)
        tap.ok(good, "started from B with --restore: the guest checks out", "\n".join(lines))
        tap.ok(m.index()["current"] == b, "the index says the machine is at B")
        m.stop()

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
