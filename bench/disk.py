#!/usr/bin/python3
"""Disk benchmark: vivarium-vmm against QEMU, on the same probe guest and
the same image files (run by bench/disk.sh).

The images: a raw file of --size, fully written with vivarium-vmm img
write-pattern, and a qcow2 made from it with qemu-img convert (so every
cluster is allocated and random reads read real data on both formats; the
writes then overwrite in place). Both VMMs get one vCPU and one
virtio-blk-pci disk with io_uring (QEMU: -drive aio=io_uring; ours: the
default --aio io_uring) and the same cache mode (cache=none is O_DIRECT for
both; writeback the host page cache).

The guest is the probe in mode=diskbench (tests/guest/blkmode.c): 4 KiB
random reads, 4 KiB random writes, 128 KiB sequential reads and writes,
each for --secs seconds with 32 requests in flight on one queue, polling
the used ring; its clock is the TSC calibrated against the ACPI PM timer.
Each configuration runs --rounds times, the VMMs alternating, and which of
them goes first alternating too (the first run after an idle spell pays
for a colder host); the table shows medians. Before each cache=writeback
run the image is read once through the page cache, so both VMMs start
from the same warm cache: this host reclaims page cache that stays idle
for a while (DAMON), and whichever VMM ran first used to pay the misses.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

WORKLOADS = [("randread", "4 KiB random read", "iops", "IOPS"),
             ("randwrite", "4 KiB random write", "iops", "IOPS"),
             ("seqread", "128 KiB sequential read", "mibps", "MiB/s"),
             ("seqwrite", "128 KiB sequential write", "mibps", "MiB/s")]


def run(cmd):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("%s exited %d:\n%s" % (cmd[0], p.returncode,
                                         (p.stdout + p.stderr).decode(errors="replace")[-3000:]))
    return p.stdout.decode(errors="replace")


def warm(path):
    """Reads PATH through the page cache (for cache=writeback runs)."""
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass


def guest_cmdline(secs):
    return "cpus=1 mode=diskbench bench_secs=%d bench_qd=32 bench_seq_kib=128" % secs


def ours(args, path, fmt, cache):
    return [args.vmm, "--kernel", args.probe, "--memory", "64M", "--cpus", "1",
            "--serial", "stdio", "--cmdline", guest_cmdline(args.secs),
            "--disk", "%s,format=%s,cache=%s,serial=bench" % (path, fmt, cache),
            "--aio", "io_uring"]


def qemu(args, path, fmt, cache):
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-cpu", "host,-arch-capabilities",
            "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-m", "64M", "-smp", "1", "-kernel", args.probe,
            "-append", guest_cmdline(args.secs),
            "-drive", "file=%s,if=none,id=d0,format=%s,aio=io_uring,cache=%s" % (path, fmt, cache),
            "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,serial=bench"]


def parse(out):
    """{workload: {key: value}} from the guest's "# bench NAME k=v..." lines."""
    res = {}
    for line in out.splitlines():
        m = re.match(r"# bench (\w+) (.*)", line)
        if m and m.group(1) in dict((w[0], 1) for w in WORKLOADS):
            res[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split())
        if line.startswith("not ok") or line.startswith("Bail out!"):
            sys.exit("the guest failed: " + line)
    if len(res) != len(WORKLOADS):
        sys.exit("the guest printed no results:\n" + out[-3000:])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache", choices=["none", "writeback", "both"], default="both")
    ap.add_argument("--dir", default="/var/tmp", help="where the images go (not a tmpfs for "
                    "cache=none)")
    ap.add_argument("--size", default="1G")
    args = ap.parse_args()
    caches = ["none", "writeback"] if args.cache == "both" else [args.cache]

    tmp = tempfile.mkdtemp(prefix="vivarium-diskbench-", dir=args.dir)
    try:
        raw = os.path.join(tmp, "bench.raw")
        qcow2 = os.path.join(tmp, "bench.qcow2")
        print("preparing %s images in %s ..." % (args.size, tmp), file=sys.stderr, flush=True)
        run([args.vmm, "img", "create", "-f", "raw", raw, args.size])
        size = os.path.getsize(raw)
        run([args.vmm, "img", "write-pattern", "-f", "raw", raw, "0", str(size), "1"])
        run(["qemu-img", "convert", "-O", "qcow2", raw, qcow2])
        results = {}
        for fmt, path in (("raw", raw), ("qcow2", qcow2)):
            for cache in caches:
                for r in range(args.rounds):
                    order = (("ours", ours), ("qemu", qemu))
                    for name, build in order if r % 2 == 0 else order[::-1]:
                        cmd = build(args, path, fmt, cache)
                        if cache == "writeback":
                            warm(path)
                        print("%s %s cache=%s round %d" % (name, fmt, cache, r + 1),
                              file=sys.stderr, flush=True)
                        res = parse(run(cmd))
                        for w, kv in res.items():
                            results.setdefault((fmt, cache, w, name), []).append(kv)
        print("vivarium-vmm vs QEMU %s (virtio-blk-pci, io_uring), probe guest with 1 vCPU, "
              "queue depth 32, %d s per workload, median of %d rounds; %s images in %s"
              % (run(["qemu-system-x86_64", "--version"]).split("\n")[0].split("version ")[-1],
                 args.secs, args.rounds, args.size, args.dir))
        print()
        print("| image | cache | workload | vivarium-vmm | QEMU | ours / QEMU | notifications per "
              "request (ours, QEMU) |")
        print("|---|---|---|---:|---:|---:|---|")
        for fmt in ("raw", "qcow2"):
            for cache in caches:
                for w, what, key, unit in WORKLOADS:
                    vals, kicks = {}, {}
                    for name in ("ours", "qemu"):
                        runs = results[(fmt, cache, w, name)]
                        vals[name] = statistics.median(float(kv[key]) for kv in runs)
                        kicks[name] = statistics.median(
                            float(kv["kicks"]) / max(float(kv["ios"]), 1) for kv in runs)
                    ratio = vals["ours"] / vals["qemu"] if vals["qemu"] else float("nan")
                    fmtv = (lambda v: "%.0f" % v) if key == "iops" else (lambda v: "%.1f" % v)
                    print("| %s | %s | %s %s | %s | %s | %.2f | %.3f, %.3f |"
                          % (fmt, cache, what, unit, fmtv(vals["ours"]), fmtv(vals["qemu"]),
                             ratio, kicks["ours"], kicks["qemu"]))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
