"""The crash test (run by tests/guest/run-blk-crash.sh): SIGKILL vivarium-vmm while the
probe guest writes, again and again on the same qcow2 image, and check after
each kill that the image is consistent and that everything the guest saw
flushed is there.

The guest runs mode=writeloop (tests/guest/blkmode.c): numbered operations,
each a checksummed 4 KiB record written to a slot or a discard of a slot's
whole 64 KiB cluster, a FLUSH every few, and "# wl flushed RUN COUNT" after
each completed FLUSH. Run k is killed at a random moment after its first
flush. Then, each a TAP line:

  - qemu-img check finds no corruption (status 0, or 3 for leaked clusters
    only: reported), and vivarium-vmm img check says the same;
  - read back through qemu-img convert -O raw, every slot whose last
    operation the guest saw flushed holds exactly that: the record (magic,
    run, number, slot, offset, CRC-32) or, after a discard, zeroes. Slots
    that an operation after the last announced flush may have touched
    (at most wl_ahead operations of each killed run) may hold anything.

A last run stops by itself after a fixed count, flushes and powers off;
every slot is then checked strictly.

  blk-crash.py VIVARIUM-VMM ELF [--aio io_uring|threads] [--kills N]
                                [--seed S]

SPDX-License-Identifier: GPL-3.0-or-later
"""

import argparse
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import zlib

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blkhost  # noqa: E402
from blkhost import Img, Tap, log, run  # noqa: E402

SLOTS = 4096          # wl_slots
BITS = 12
STRIDE = 65536        # wl_stride: one slot per 64 KiB cluster
FLUSH_EVERY = 8       # wl_flush
DEPTH = 16            # wl_depth
AHEAD = 64            # wl_ahead
DISCARD_EVERY = 8     # wl_discard
REC = 4096
SIZE = SLOTS * STRIDE
M64 = (1 << 64) - 1
FINAL_COUNT = 12000


def perm(x, bits):
    m = (1 << bits) - 1
    x = (x * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & M64 & m
    x ^= x >> (bits // 2 + 1)
    x = (x * 0xD6E8FEB86659FD93) & M64 & m
    x ^= x >> (bits // 2)
    return x & m


def slot_of(run_no, n):
    return perm((n + run_no * 0x9E37) & (SLOTS - 1), BITS)


def record_offset(slot):
    places = (STRIDE - REC) // 512 + 1
    return slot * STRIDE + (((slot * 0x2545F4914F6CDD1D) & M64) >> 40) % places * 512


def is_discard(n):
    return DISCARD_EVERY and n % DISCARD_EVERY == DISCARD_EVERY - 1


def expected(history):
    """For each slot: its last flushed operation, (run, n) or None, and
    whether an unflushed operation may have touched it since."""
    last = {}
    maybe = set()
    for run_no, flushed, killed in history:
        # the last SLOTS flushed operations of a run touch every slot once
        for n in range(max(0, flushed - SLOTS), flushed):
            s = slot_of(run_no, n)
            last[s] = (run_no, n)
            maybe.discard(s)
        if killed:
            for n in range(flushed, flushed + AHEAD):
                maybe.add(slot_of(run_no, n))
    return last, maybe


def check_record(data, slot, want):
    """None if DATA is what operation WANT (run, n) left at SLOT, else why."""
    if want is None or is_discard(want[1]):
        return None if data == bytes(REC) else (
            "not zeroes (%s)" % ("never written" if want is None else
                                 "discarded by run %d operation %d" % want))
    run_no, n = want
    magic, r, num, s, off = struct.unpack_from("<8sQQQQ", data)
    crc = struct.unpack_from("<I", data, REC - 4)[0]
    if magic != b"VIVWLREC":
        return "no record (want run %d operation %d)" % want
    if zlib.crc32(data[:REC - 4]) != crc:
        return "a torn or damaged record (CRC), want run %d operation %d" % want
    if (r, num, s, off) != (run_no, n, slot, record_offset(slot)):
        return "record of run %d operation %d (slot %d), want run %d operation %d" % (
            r, num, s, run_no, n)
    return None


def verify(image, history, tmp):
    """Returns (strict slots checked, slots skipped, problems)."""
    raw = os.path.join(tmp, "read.raw")
    if os.path.exists(raw):
        os.unlink(raw)
    run(["qemu-img", "convert", "-O", "raw", image, raw])
    last, maybe = expected(history)
    problems = []
    strict = 0
    with open(raw, "rb") as f:
        for slot in range(SLOTS):
            if slot in maybe:
                continue
            strict += 1
            f.seek(record_offset(slot))
            why = check_record(f.read(REC), slot, last.get(slot))
            if why:
                problems.append("slot %d: %s" % (slot, why))
    os.unlink(raw)
    return strict, len(maybe), problems


def check_image(tap, img, image, what):
    """qemu-img check and ours; returns the leaked clusters."""
    st, out = blkhost.qemu_check(image)
    leaks = blkhost.leaked_clusters(out) if st == 3 else 0
    tap.ok(st in (0, 3), "%s: qemu-img check: %s (status %d)" % (
        what, "clean" if st == 0 else "%d leaked clusters, no corruption" % leaks
        if st == 3 else "CORRUPT", st), out)
    st2, out2 = img("check", image, check=False)
    tap.ok(st2 == st, "%s: vivarium-vmm img check agrees (status %d)" % (what, st2), out2)
    return leaks


def writeloop(vmm, elf, image, run_no, aio, count=0):
    cmdline = ("cpus=2 mode=writeloop wl_run=%d wl_slots=%d wl_stride=%d wl_flush=%d "
               "wl_depth=%d wl_ahead=%d wl_discard=%d" % (run_no, SLOTS, STRIDE, FLUSH_EVERY,
                                                          DEPTH, AHEAD, DISCARD_EVERY))
    if count:
        cmdline += " wl_count=%d" % count
    state = {"flushed": 0, "first": threading.Event()}

    def on_line(line):
        words = line.split()
        if len(words) == 5 and words[:3] == ["#", "wl", "flushed"] and int(words[3]) == run_no:
            state["flushed"] = int(words[4])
            state["first"].set()
        elif line.startswith("Bail out!"):
            log(line)
            state["first"].set()

    argv = blkhost.vmm_argv(vmm, elf, cmdline, [(image, {"format": "qcow2", "serial": "wl0"})],
                            cpus=2, aio=aio)
    return blkhost.Guest(argv, on_line=on_line, echo=False), state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmm")
    ap.add_argument("elf")
    ap.add_argument("--aio", choices=["io_uring", "threads"])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    blkhost.check_environment()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)

    tap = Tap()
    tap.diag("seed %d (--seed to repeat), aio %s, %d kills" % (seed, args.aio or "default",
                                                                args.kills))
    tmp = tempfile.mkdtemp(prefix="vivarium-crash-")
    try:
        img = Img(args.vmm)
        image = os.path.join(tmp, "wl.qcow2")
        img("create", "-f", "qcow2", image, SIZE)
        history = []
        total_leaks = 0
        for k in range(1, args.kills + 2):
            final = k == args.kills + 1
            guest, state = writeloop(args.vmm, args.elf, image, k, args.aio,
                                     FINAL_COUNT if final else 0)
            if final:
                rc = guest.wait(timeout=60)
                what = "final run %d" % k
                tap.ok(rc == 0 and not guest.bailed and state["flushed"] == FINAL_COUNT,
                       "%s: %d operations, all flushed, and a power-off (status %d)"
                       % (what, state["flushed"], rc), "\n".join(guest.lines[-10:]))
            else:
                started = state["first"].wait(timeout=20)
                delay = rng.uniform(0.02, 1.2)
                time.sleep(delay)
                guest.kill()
                rc = guest.wait(timeout=10)
                what = "kill %d" % k
                tap.ok(started and not guest.bailed and rc == -9,
                       "%s: SIGKILL %.2f s after the first flush, %d operations flushed "
                       "(status %d)" % (what, delay, state["flushed"], rc),
                       "\n".join(guest.lines[-10:]))
            history.append((k, state["flushed"], not final))
            waited = blkhost.wait_unlocked(image)
            if waited > 0.05:
                tap.diag("%s: the image stayed locked %.2f s after the VMM was gone" % (what, waited))
            leaks = check_image(tap, img, image, what)
            total_leaks = max(total_leaks, leaks)
            strict, loose, problems = verify(image, history, tmp)
            tap.ok(not problems, "%s: every flushed operation is on the disk (%d slots checked "
                   "exactly, %d touched since the last flush left out)" % (what, strict, loose),
                   "\n".join(problems[:20]))
        tap.diag("leaked clusters at the end: %d; image %d KiB on the host"
                 % (total_leaks, os.stat(image).st_blocks // 2))
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
