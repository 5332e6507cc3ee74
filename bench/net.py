#!/usr/bin/python3
"""Network benchmark: vivarium-vmm against QEMU, the probe guest on
user-mode networking (run by bench/net.sh).

Rows, each measured by the probe itself (mode=netbench, TSC clock) with
the host side played by tests/guest/net-harness.py:

  tx    TCP, guest to a sink on the host's loopback (10.0.2.2), MB/s
  rx    TCP, a source on the host's loopback to the guest, MB/s
  ping  ICMP echo to the gateway (libslirp answers it), median of 200, us

Both VMMs get the same probe, 64 MiB of RAM, a virtio-net card with the
same MAC behind libslirp. The probe asks for the checksum offloads and TCP
segmentation offload (csum=1 tso=1), as Linux's virtio_net driver does, and
uses what each card offers: ours offers both (it finishes checksums and
hands libslirp 64 KiB TCP packets whole), QEMU's none on -netdev user. Each round runs ours and QEMU back to back, which
goes first alternating; the table gives each one's median over the rounds
and the ratio of the medians, oriented so that >= 1.00 means ahead.
"""
import argparse
import re
import statistics
import subprocess
import sys

ROWS = [("tx", "TCP guest to host", "MB/s", True),
        ("rx", "TCP host to guest", "MB/s", True),
        ("ping", "ICMP round trip to the gateway", "us", False)]


def measure(run_net, vmm, probe, kind, size):
    out = subprocess.run([run_net, vmm, probe, "--bench", kind, "--bytes", str(size), "--tso"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         timeout=600).stdout
    if kind == "ping":
        m = re.search(r"netbench: ping \d+ rtt-median (\d+) us", out)
        return float(m.group(1)) if m else float("nan")
    m = re.search(r"netbench: %s (\d+) bytes in (\d+) us" % kind, out)
    if not m or " not ok " in out:
        return float("nan")
    return int(m.group(1)) / int(m.group(2))     # bytes per us = MB/s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--run-net", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bytes", type=int, default=64 << 20)
    args = ap.parse_args()
    results = {"vivarium": {k: [] for k, *_ in ROWS}, "qemu": {k: [] for k, *_ in ROWS}}
    for r in range(args.rounds):
        order = ["vivarium", "qemu"] if r % 2 == 0 else ["qemu", "vivarium"]
        for kind, *_ in ROWS:
            for which in order:
                vmm = args.vmm if which == "vivarium" else "qemu"
                v = measure(args.run_net, vmm, args.probe, kind, args.bytes)
                results[which][kind].append(v)
                print("round %d %-8s %-4s %.1f" % (r + 1, which, kind, v), flush=True)
    print()
    print("| %-32s | vivarium-vmm | QEMU | ratio |" % "")
    print("|%s|--------------|------|-------|" % ("-" * 34))
    for kind, label, unit, higher_better in ROWS:
        ours = statistics.median(results["vivarium"][kind])
        theirs = statistics.median(results["qemu"][kind])
        ratio = ours / theirs if higher_better else theirs / ours
        print("| %-32s | %8.1f %-4s| %6.1f %-4s| %5.2f |" % (label, ours, unit, theirs, unit,
                                                          ratio))
        print("result %s-vivarium %.1f" % (kind, ours))
        print("result %s-qemu %.1f" % (kind, theirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
