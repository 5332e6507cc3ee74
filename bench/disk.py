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
Each request in flight has a buffer of its own (until 2026-11-22 a new
request could reuse the buffer of one still in flight, so how much guest
memory the copies touched depended on how each VMM batched its answers).

How the two are paired, because this kind of host drifts (neighbours,
page-cache reclaim, writeback) by more than the differences measured:
each workload runs in its own VM (bench_only=), ours and QEMU's back to
back, --rounds times, which of them goes first alternating. Before every
run the image is fsync'ed, so no dirty pages of the previous run are
written back during this one (whoever ran after a writer used to pay for
its writeback), and for cache=writeback read once through the page
cache, so every run starts from the same clean, cached image. The table
gives the median of each VMM's rounds, and the median (and the range) of
the rounds' ratios ours / QEMU: a ratio is taken between two runs that
were seconds apart.

--peer PATH compares with another vivarium-vmm instead of QEMU (a build of
another commit: A/B of an engine change), measured the same way;
--format, --cache and --workload pick a part of the table. On a 2-CPU
host an A/A comparison (one binary against itself, 16 rounds of 1 s)
gave a median ratio of 1.03 with quartiles 0.98 and 1.09: differences of
a few per cent need many rounds.
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


def settle(path, cache):
    """Writes back what the last run left dirty in PATH and, for
    cache=writeback, reads it all through the page cache: every run starts
    from a clean image, cached when the cache is used."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if cache == "writeback":
        with open(path, "rb", buffering=0) as f:
            while f.read(1 << 20):
                pass


def guest_cmdline(secs, workload):
    return ("cpus=1 mode=diskbench bench_secs=%d bench_qd=32 bench_seq_kib=128 bench_only=%s"
            % (secs, workload))


def ours(args, path, fmt, cache, workload, vmm=None):
    return [vmm or args.vmm, "--kernel", args.probe, "--memory", "64M", "--cpus", "1",
            "--serial", "stdio", "--cmdline", guest_cmdline(args.secs, workload),
            "--disk", "%s,format=%s,cache=%s,serial=bench" % (path, fmt, cache),
            "--aio", "io_uring"]


def qemu(args, path, fmt, cache, workload):
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", "q35", "-cpu", "host,-arch-capabilities",
            "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-m", "64M", "-smp", "1", "-kernel", args.probe,
            "-append", guest_cmdline(args.secs, workload),
            "-drive", "file=%s,if=none,id=d0,format=%s,aio=io_uring,cache=%s" % (path, fmt, cache),
            "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,serial=bench"]


def parse(out, workload):
    """{key: value} from the guest's "# bench WORKLOAD k=v..." line."""
    res = None
    for line in out.splitlines():
        m = re.match(r"# bench (\w+) (.*)", line)
        if m and m.group(1) == workload:
            res = dict(kv.split("=", 1) for kv in m.group(2).split())
        if line.startswith("not ok") or line.startswith("Bail out!"):
            sys.exit("the guest failed: " + line)
    if res is None:
        sys.exit("the guest printed no result for %s:\n%s" % (workload, out[-3000:]))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache", choices=["none", "writeback", "both"], default="both")
    ap.add_argument("--format", choices=["raw", "qcow2", "both"], default="both")
    ap.add_argument("--workload", choices=[w[0] for w in WORKLOADS] + ["all"], default="all")
    ap.add_argument("--peer", default="qemu", help="qemu, or another vivarium-vmm binary to "
                    "compare with (a build of another commit), measured the same way")
    ap.add_argument("--dir", default="/var/tmp", help="where the images go (not a tmpfs for "
                    "cache=none)")
    ap.add_argument("--size", default="1G")
    args = ap.parse_args()
    caches = ["none", "writeback"] if args.cache == "both" else [args.cache]
    formats = ["raw", "qcow2"] if args.format == "both" else [args.format]
    workloads = [w for w in WORKLOADS if args.workload in ("all", w[0])]

    tmp = tempfile.mkdtemp(prefix="vivarium-diskbench-", dir=args.dir)
    try:
        raw = os.path.join(tmp, "bench.raw")
        qcow2 = os.path.join(tmp, "bench.qcow2")
        print("preparing %s images in %s ..." % (args.size, tmp), file=sys.stderr, flush=True)
        run([args.vmm, "img", "create", "-f", "raw", raw, args.size])
        size = os.path.getsize(raw)
        run([args.vmm, "img", "write-pattern", "-f", "raw", raw, "0", str(size), "1"])
        if "qcow2" in formats:
            run(["qemu-img", "convert", "-O", "qcow2", raw, qcow2])
        if args.peer == "qemu":
            peer_name, peer = "QEMU", qemu
            title = "vivarium-vmm vs QEMU %s (virtio-blk-pci, io_uring)" % run(
                ["qemu-system-x86_64", "--version"]).split("\n")[0].split("version ")[-1]
        else:
            peer_name = "peer"
            peer = lambda a, p, f, c, w: ours(a, p, f, c, w, vmm=args.peer)
            title = "vivarium-vmm (%s) vs the peer vivarium-vmm (%s)" % (args.vmm, args.peer)
        results = {}
        for fmt in formats:
            path = raw if fmt == "raw" else qcow2
            for cache in caches:
                for r in range(args.rounds):
                    for w in workloads:
                        order = (("ours", ours), ("peer", peer))
                        for name, build in order if r % 2 == 0 else order[::-1]:
                            settle(path, cache)
                            print("%s %s cache=%s %s round %d" % (name, fmt, cache, w[0], r + 1),
                                  file=sys.stderr, flush=True)
                            kv = parse(run(build(args, path, fmt, cache, w[0])), w[0])
                            results.setdefault((fmt, cache, w[0], name), []).append(kv)
        print("%s, probe guest with 1 vCPU, queue depth 32, %d s per run, %d rounds; %s images "
              "in %s" % (title, args.secs, args.rounds, args.size, args.dir))
        print()
        print("| image | cache | workload | vivarium-vmm | %s | ours / %s | lowest–highest "
              "round | notifications per request (ours, %s) |" % (peer_name, peer_name, peer_name))
        print("|---|---|---|---:|---:|---:|---|---|")
        for fmt in formats:
            for cache in caches:
                for w, what, key, unit in workloads:
                    vals, kicks = {}, {}
                    for name in ("ours", "peer"):
                        runs = results[(fmt, cache, w, name)]
                        vals[name] = statistics.median(float(kv[key]) for kv in runs)
                        kicks[name] = statistics.median(
                            float(kv["kicks"]) / max(float(kv["ios"]), 1) for kv in runs)
                    ratios = [float(a[key]) / float(b[key]) if float(b[key]) else float("nan")
                              for a, b in zip(results[(fmt, cache, w, "ours")],
                                              results[(fmt, cache, w, "peer")])]
                    fmtv = (lambda v: "%.0f" % v) if key == "iops" else (lambda v: "%.1f" % v)
                    print("| %s | %s | %s %s | %s | %s | %.2f | %.2f–%.2f | %.3f, %.3f |"
                          % (fmt, cache, what, unit, fmtv(vals["ours"]), fmtv(vals["peer"]),
                             statistics.median(ratios), min(ratios), max(ratios),
                             kicks["ours"], kicks["peer"]))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
