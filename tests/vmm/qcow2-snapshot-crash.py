"""Snapshot operations killed at every metadata write (run by
qcow2-snapshot-crash.sh): vivarium-vmm img snapshot -c/-a/-d/--rename with
VIVARIUM_BLOCK_CRASH_AFTER=N, which makes the Nth metadata write exit as a
SIGKILL would, for N = 1, 2, ... until the operation completes. After each
kill, TAP lines:

  - qemu-img check finds no corruption: status 0, 3 (leaks), or 2 when every
    error is the one benign window qcow2-snapshot.c describes: an active
    entry with COPIED set on a cluster qemu-img also reports leaked with
    one reference (the refcount one too high, the cluster the active
    state's alone);
  - the snapshot list is the old one or the new one, exactly;
  - every snapshot listed reads back (qemu-img convert -l snapshot.name=)
    as it was taken, and the active disk is the old state or the new one.

  qcow2-snapshot-crash.py VIVARIUM-VMM

SPDX-License-Identifier: GPL-3.0-or-later
"""

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "guest"))
import blkhost  # noqa: E402

VMM = sys.argv[1]
n_tests = 0
failed = False
benign = 0


def tap(ok, desc, detail=""):
    global n_tests, failed
    n_tests += 1
    print(("ok" if ok else "not ok") + " %d - %s" % (n_tests, desc))
    if not ok:
        failed = True
        for line in detail.splitlines():
            print("# " + line)


def run(*args, env=None, check=True):
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def img(*args, **kw):
    return run(VMM, "img", *args, **kw)


def raw_of(path, out, snapshot=None):
    args = ["qemu-img", "convert", "-U", "-O", "raw"]
    if snapshot is not None:
        args += ["-l", "snapshot.name=" + snapshot]
    run(*args, path, out)


def names(path):
    out = run("qemu-img", "snapshot", "-U", "-l", path).stdout
    return [line.split()[1] for line in out.splitlines()[2:] if line.strip()]


def qemu_check_ok(path, cs):
    """0 or 3, or 2 with only benign COPIED errors; returns (ok, output)."""
    global benign
    p = run("qemu-img", "check", path, check=False)
    out = p.stdout + p.stderr
    ok, harmless = blkhost.qcow2_check_verdict(p.returncode, out, cs)
    benign += harmless
    return ok, out


def prepare(d, cs):
    """An image with snapshots s1, s2 and an active state after them, and
    the raw contents of each."""
    path = os.path.join(d, "base-%d.qcow2" % cs)
    img("create", "-f", "qcow2", "-o", "cluster_size=%d" % cs, path, "4M")
    img("write-pattern", path, "0", "1500000", "1")
    img("snapshot", "-c", "s1", path)
    img("write-pattern", path, "700000", "1500000", "2")
    img("snapshot", "-c", "s2", path)
    img("write-pattern", path, "100000", "300000", "3")
    raws = {}
    for name in ("s1", "s2", None):
        out = os.path.join(d, "%s.raw" % (name or "active"))
        raw_of(path, out, name)
        raws[name or "active"] = out
    return path, raws


def crash_loop(d, cs, base, raws, op, args, new_names, new_active):
    """Kills OP at metadata write 1, 2, ... and checks each image left."""
    old_names = ["s1", "s2"]
    n = 0
    while True:
        n += 1
        if n > 500:
            tap(False, "%s (%d): does not finish within 500 metadata writes" % (op, cs))
            return
        path = os.path.join(d, "t.qcow2")
        shutil.copyfile(base, path)
        env = dict(os.environ, VIVARIUM_BLOCK_CRASH_AFTER=str(n))
        p = img("snapshot", *args, path, env=env, check=False)
        if p.returncode == 0:
            q = run("qemu-img", "check", path, check=False)
            ok, out = q.returncode == 0, q.stdout + q.stderr
            got = names(path)
            tap(ok and got == new_names, "%s (%d clusters): completes after %d writes, clean"
                % (op, cs, n - 1), out + " ".join(got))
            return
        if p.returncode != 9:
            tap(False, "%s (%d): killed at write %d: status %d" % (op, cs, n, p.returncode),
                p.stdout + p.stderr)
            return
        desc = "%s (%d), killed at write %d" % (op, cs, n)
        ok, out = qemu_check_ok(path, cs)
        tap(ok, desc + ": qemu-img check finds no harmful error", out)
        got = names(path)
        state = "old" if got == old_names else "new" if got == new_names else None
        tap(state is not None, desc + ": the snapshot list is the old or the new one",
            " ".join(got))
        bad = []
        for name in got:
            want = raws.get({"r2": "s2", "s3": "active"}.get(name, name))
            out = os.path.join(d, "x.raw")
            raw_of(path, out, name)
            if want is None or not filecmp.cmp(out, want, shallow=False):
                bad.append(name)
        tap(not bad, desc + ": every snapshot listed reads back right", " ".join(bad))
        out = os.path.join(d, "x.raw")
        raw_of(path, out)
        same = [k for k in ("active", new_active) if filecmp.cmp(out, raws[k], shallow=False)]
        tap(bool(same), desc + ": the active disk is the old or the new state")


def main():
    if shutil.which("qemu-img") is None:
        print("1..0 # SKIP qemu-img is not installed")
        return 0
    with tempfile.TemporaryDirectory() as d:
        for cs in [int(c) for c in os.environ.get("CRASH_CLUSTER_SIZES", "65536 512").split()]:
            base, raws = prepare(d, cs)
            crash_loop(d, cs, base, raws, "create", ["-c", "s3"], ["s1", "s2", "s3"], "active")
            crash_loop(d, cs, base, raws, "apply", ["-a", "s1"], ["s1", "s2"], "s1")
            crash_loop(d, cs, base, raws, "delete", ["-d", "s1"], ["s2"], "active")
            crash_loop(d, cs, base, raws, "rename", ["--rename", "s2", "r2"], ["s1", "r2"],
                       "active")
    print("# %d images left with only the benign COPIED window" % benign)
    print("1..%d" % n_tests)
    return 1 if failed else 0


sys.exit(main())
