"""The host side of the probe's virtio-blk tests (run by run-blk.sh).

Builds disk images in a temporary folder, most of them with QEMU's tools,
boots the probe guest under vivarium-vmm or QEMU with all of them attached
(each disk's serial names its role: tests/guest/blk.c), passes the probe's
TAP through, then checks on the host what only the host can see, as more
TAP lines after the probe's, and prints the one plan line:

  rw0   qcow2 made by qemu-img create, written by the guest
  rw1   raw, cache=none where the file system has O_DIRECT (blk_size 4096)
  ro-5  raw holding the pattern for seed 5, readonly=on
  pat-7/1028+192=5a
        a qcow2 overlay (qemu-img create -b) of a raw pattern file, with
        192 KiB of 0x5a written at 1028 KiB by qemu-io
  pat-9/1024+4096=a5
        qemu-img convert -c of a raw pattern file with 4 MiB of 0xa5 at
        1 MiB (compressible: those clusters are stored compressed)
  pat-11
        an empty qcow2 overlay of a qcow2 pattern image (qemu-img convert)
  pat-13
        a raw pattern file called pat-13, attached to vivarium-vmm without
        serial=: its GET_ID is the file's name

Host checks afterwards: the VMM exited with 0; the guest saw every serial;
each capacity is the image's virtual size; qemu-img check and vivarium-vmm
img check pass on every qcow2 the guest had; the scratch disks hold what
the guest says it wrote (its "# blk-write" and "# blk-zero" lines replayed
onto raw files with vivarium-vmm img, then qemu-img compare); the
read-only disk and every backing file are unchanged; the pattern disks
still compare equal to their reference.

  blk-harness.py VIVARIUM-VMM ELF [--qemu] [--aio io_uring|threads]

SPDX-License-Identifier: GPL-3.0-or-later
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blkhost  # noqa: E402
from blkhost import Img, Tap, log, run  # noqa: E402

MIB = 1 << 20
CPUS = 2


def build(tmp, img, direct):
    """The disks: a list of (path, options) and what the harness needs to
    know about each: serial -> dict(path, reference raw, kind)."""
    j = lambda name: os.path.join(tmp, name)  # noqa: E731
    disks, info = [], {}

    run(["qemu-img", "create", "-q", "-f", "qcow2", j("rw0.qcow2"), "64M"])
    disks.append((j("rw0.qcow2"), {"format": "qcow2", "serial": "rw0"}))
    info["rw0"] = {"path": j("rw0.qcow2"), "kind": "scratch", "format": "qcow2"}

    img.raw(j("rw1.raw"), "40M")
    disks.append((j("rw1.raw"), {"format": "raw", "serial": "rw1",
                                 "cache": "none" if direct else None}))
    info["rw1"] = {"path": j("rw1.raw"), "kind": "scratch", "format": "raw"}

    img.raw(j("ro-5.raw"), "8M")
    img.pattern(j("ro-5.raw"), 0, 8 * MIB, 5)
    disks.append((j("ro-5.raw"), {"format": "raw", "readonly": "on", "serial": "ro-5"}))
    info["ro-5"] = {"path": j("ro-5.raw"), "kind": "readonly", "format": "raw",
                    "sha": blkhost.sha256(j("ro-5.raw"))}

    # an overlay of a raw backing file, with writes of its own by qemu-io
    img.raw(j("base7.raw"), "32M")
    img.pattern(j("base7.raw"), 0, 32 * MIB, 7)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base7.raw", "-F", "raw",
         j("ov7.qcow2")])
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1028k 192k", j("ov7.qcow2")])
    shutil.copy(j("base7.raw"), j("ref7.raw"))
    blkhost.fill(j("ref7.raw"), 1028 * 1024, 192 * 1024, 0x5a)
    serial = "pat-7/1028+192=5a"
    disks.append((j("ov7.qcow2"), {"format": "qcow2", "serial": serial}))
    info[serial] = {"path": j("ov7.qcow2"), "kind": "pattern", "format": "qcow2",
                    "ref": j("ref7.raw"), "backing": j("base7.raw"),
                    "backing_sha": blkhost.sha256(j("base7.raw"))}

    # compressed by qemu-img convert -c
    img.raw(j("src9.raw"), "16M")
    img.pattern(j("src9.raw"), 0, 16 * MIB, 9)
    blkhost.fill(j("src9.raw"), 1 * MIB, 4 * MIB, 0xa5)
    run(["qemu-img", "convert", "-c", "-O", "qcow2", j("src9.raw"), j("c9.qcow2")])
    serial = "pat-9/1024+4096=a5"
    disks.append((j("c9.qcow2"), {"format": "qcow2", "serial": serial}))
    _, out = run(["qemu-img", "check", "--output=json", j("c9.qcow2")])
    info[serial] = {"path": j("c9.qcow2"), "kind": "pattern", "format": "qcow2",
                    "ref": j("src9.raw"), "compressed": json.loads(out).get("compressed-clusters", 0)}

    # an empty overlay of a qcow2 pattern image, read-only
    img.raw(j("src11.raw"), "16M")
    img.pattern(j("src11.raw"), 0, 16 * MIB, 11)
    run(["qemu-img", "convert", "-O", "qcow2", j("src11.raw"), j("base11.qcow2")])
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base11.qcow2", "-F", "qcow2",
         j("ov11.qcow2")])
    disks.append((j("ov11.qcow2"), {"format": "qcow2", "readonly": "on", "serial": "pat-11"}))
    info["pat-11"] = {"path": j("ov11.qcow2"), "kind": "pattern", "format": "qcow2",
                      "ref": j("src11.raw"), "backing": j("base11.qcow2"),
                      "backing_sha": blkhost.sha256(j("base11.qcow2"))}

    # no serial=: GET_ID is the file's name
    img.raw(j("pat-13"), "16M")
    img.pattern(j("pat-13"), 0, 16 * MIB, 13)
    shutil.copy(j("pat-13"), j("ref13.raw"))
    disks.append((j("pat-13"), {"format": "raw"}))
    info["pat-13"] = {"path": j("pat-13"), "kind": "pattern", "format": "raw",
                      "ref": j("ref13.raw")}
    for serial, d in info.items():
        d["size"] = blkhost.virtual_size(d["path"])
        d["sha_before"] = blkhost.sha256(d["path"])
    return disks, info


def replay(img, guest, serial, ref, size):
    """The guest's successful writes to SERIAL, in order, onto a raw REF."""
    img.raw(ref, size)
    n = 0
    for line in guest.lines:
        words = line.split()
        if len(words) == 6 and words[:3] == ["#", "blk-write", serial]:
            img.pattern(ref, words[3], words[4], words[5])
            n += 1
        elif len(words) == 5 and words[:3] == ["#", "blk-zero", serial]:
            img.zeroes(ref, words[3], words[4])
            n += 1
    return n


def host_checks(tap, guest, rc, img, info, tmp):
    tap.ok(rc == 0 and not guest.bailed,
           "host: the VMM exited with status 0 after the guest powered off (%d)" % rc)

    configs = {w[0]: dict(kv.split("=", 1) for kv in w[1:] if "=" in kv)
               for w in guest.diag_lines("blk-config") if w}
    missing = sorted(set(info) - set(configs))
    tap.ok(not missing, "host: the guest saw every disk's serial through GET_ID",
           "missing: %s; seen: %s" % (", ".join(missing), ", ".join(sorted(configs))))

    sizes = []
    for serial, d in info.items():
        cap = configs.get(serial, {}).get("capacity")
        if cap is None or int(cap) * 512 != d["size"]:
            sizes.append("%s: %s sectors, image %d bytes" % (serial, cap, d["size"]))
    tap.ok(not sizes, "host: every capacity is its image's virtual size", "\n".join(sizes))

    for serial, d in info.items():
        path = d["path"]
        name = os.path.basename(path)
        if d["format"] == "qcow2":
            st, out = blkhost.qemu_check(path)
            tap.ok(st == 0, "host: qemu-img check %s (%s) passes (status %d)" % (name, serial, st),
                   out)
            st2, out2 = img("check", path, check=False)
            tap.ok(st2 == st, "host: vivarium-vmm img check %s agrees (status %d)" % (name, st2),
                   out2)
        if d["kind"] == "scratch":
            ref = os.path.join(tmp, "expect-" + serial + ".raw")
            n = replay(img, guest, serial, ref, d["size"])
            st, out = run(["qemu-img", "compare", "-f", d["format"], "-F", "raw", path, ref],
                          check=False)
            tap.ok(n > 0 and st == 0,
                   "host: %s holds what the guest wrote (%d writes and zeroings replayed, "
                   "qemu-img compare status %d)" % (name, n, st), out)
        elif d["kind"] == "readonly":
            tap.ok(blkhost.sha256(path) == d["sha_before"],
                   "host: the read-only disk %s is unchanged" % name)
        else:
            st, out = run(["qemu-img", "compare", "-f", d["format"], "-F", "raw", path, d["ref"]],
                          check=False)
            tap.ok(st == 0, "host: %s still holds the expected content (qemu-img compare "
                   "status %d)" % (name, st), out)
            if "compressed" in d:
                tap.ok(d["compressed"] > 0, "host: %s has compressed clusters (%d)"
                       % (name, d["compressed"]))
            if "backing" in d:
                tap.ok(blkhost.sha256(d["backing"]) == d["backing_sha"],
                       "host: its backing file %s is unchanged" % os.path.basename(d["backing"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmm")
    ap.add_argument("elf")
    ap.add_argument("--qemu", action="store_true", help="boot under QEMU instead")
    ap.add_argument("--aio", choices=["io_uring", "threads"])
    args = ap.parse_args()
    blkhost.check_environment(need_qemu_system=args.qemu)

    tmp = tempfile.mkdtemp(prefix="vivarium-blk-")
    try:
        img = Img(args.vmm)
        disks, info = build(tmp, img, blkhost.direct_io_works(tmp))
        cmdline = "cpus=%d disks=%d" % (CPUS, len(disks))
        if args.qemu:
            argv = blkhost.qemu_argv(args.elf, cmdline, disks, cpus=CPUS)
        else:
            argv = blkhost.vmm_argv(args.vmm, args.elf, cmdline, disks, cpus=CPUS, aio=args.aio)
        guest = blkhost.Guest(argv)
        rc = guest.wait(timeout=120)
        if guest.bailed:
            log("the probe bailed out (status %d)" % rc)
            return 1
        tap = Tap(first=guest.tests if guest.tests else
                  sum(1 for line in guest.lines if line.startswith(("ok ", "not ok "))))
        host_checks(tap, guest, rc, img, info, tmp)
        tap.plan()
        return 0
    except RuntimeError as e:
        log(str(e))
        print("Bail out! harness: %s" % str(e).splitlines()[0], flush=True)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
