#!/usr/bin/python3
"""Boot benchmark: vivarium-vmm against QEMU, on the same probe guest.

For each VMM: the median wall time from process start to exit after the
guest powers off (timing runs, nothing else watching), and, from separate
runs sampled through /proc, the peak RSS minus the guest RAM the guest
touched (the RSS of the guest-RAM mapping), i.e. what the VMM itself costs.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time


def guest_ram_rss_kib(pid, ram_kib):
    """RSS of the mapping that holds guest RAM: the anonymous mapping whose
    size is the guest's RAM (QEMU may round it up a little)."""
    best = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            size = None
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    size = None
                    continue
                if line.startswith("Size:"):
                    size = int(line.split()[1])
                elif line.startswith("Rss:") and size is not None:
                    if ram_kib <= size <= ram_kib + 4096:
                        rss = int(line.split()[1])
                        best = rss if best is None else max(best, rss)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return best


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def timed_run(cmd):
    start = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def memory_run(cmd, ram_kib):
    """Samples the process until it exits; returns (peak RSS, guest RSS at
    that point, overhead) in KiB, from the sample with the largest RSS."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    peak = (0, 0)
    hwm = 0
    while p.poll() is None:
        rss = status_kib(p.pid, "VmRSS")
        guest = guest_ram_rss_kib(p.pid, ram_kib)
        h = status_kib(p.pid, "VmHWM")
        if h:
            hwm = max(hwm, h)
        if rss is not None and guest is not None and rss >= peak[0]:
            peak = (rss, guest)
        time.sleep(0.0005)
    p.wait()
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} exited {p.returncode}: {p.stderr.read().decode(errors='replace')[-2000:]}")
    rss, guest = peak
    return max(hwm, rss), guest, max(hwm, rss) - guest


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--memory-mib", type=int, default=64)
    ap.add_argument("--cmdline", default="cpus=1")
    args = ap.parse_args()

    mem = args.memory_mib
    ours = [args.vmm, "--kernel", args.probe, "--memory", f"{mem}M", "--cpus", "1", "--rng",
            "--cmdline", args.cmdline, "--serial", "none"]
    qemu = [args.qemu, "-accel", "kvm", "-M", "q35", "-cpu", "host,-arch-capabilities",
            "-m", f"{mem}M", "-smp", "1", "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", "null", "-kernel", args.probe, "-append", args.cmdline,
            "-device", "virtio-rng-pci,disable-legacy=on"]

    rows = []
    for name, cmd in (("vivarium-vmm", ours), ("qemu-system-x86_64", qemu)):
        timed_run(cmd)  # warm the page cache
        times = [timed_run(cmd) for _ in range(args.runs)]
        mems = [memory_run(cmd, mem * 1024) for _ in range(max(3, args.runs // 3))]
        rows.append((name, statistics.median(times), min(times), max(times),
                     statistics.median(m[0] for m in mems),
                     statistics.median(m[1] for m in mems),
                     statistics.median(m[2] for m in mems)))

    print(f"probe: {args.probe}  guest RAM: {mem} MiB  runs: {args.runs}")
    print(f"{'':20} {'median':>10} {'min':>10} {'max':>10} {'peak RSS':>10} {'guest RSS':>10} {'overhead':>10}")
    for r in rows:
        print(f"{r[0]:20} {r[1]*1000:8.1f}ms {r[2]*1000:8.1f}ms {r[3]*1000:8.1f}ms "
              f"{r[4]/1024:7.1f}MiB {r[5]/1024:7.1f}MiB {r[6]/1024:7.1f}MiB")
    ours_row, qemu_row = rows
    print(f"time to power-off: vivarium-vmm is {qemu_row[1]/ours_row[1]:.1f}x faster than QEMU")
    print(f"RSS minus guest RAM: vivarium-vmm is {qemu_row[6]/ours_row[6]:.1f}x smaller than QEMU")


if __name__ == "__main__":
    main()
