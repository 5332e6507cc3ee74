#!/usr/bin/python3
"""Display benchmark: vivarium-vmm against QEMU, on the same probe guest
(mode=display) and the same client (run by bench/display.sh).

The client is tests/vmm/test-display --bench: a headless spice-client-glib
session, through OpenDisplay's socket for ours and QEMU's
`-spice unix=on,...,image-compression=off` for QEMU (virtio-gpu-pci,
virtio-keyboard/tablet-pci, the agent's port on virtio-serial). After
`setmode 1920 1080` and an uncounted warm-up pass it runs the probe's
`bench small 300 60` (64x64 solid fills), `bench full 60 10`, `bench full
300 60` and `bench full 300 120` (full-HD solid fills), and then measures the helper's CPU use for 10 s with the client connected
and nothing changing on the screen. It prints "result NAME VALUE" lines.

Latency: from the guest's rdtsc just after the TRANSFER_TO_HOST_2D's
response (just before its RESOURCE_FLUSH) to the host's rdtsc in the
client's first display-invalidate that shows the update's colour at the
rectangle's centre; the guest's TSC is the host's plus an offset, taken
from `sync` (the probe reads its TSC just before the end of a line goes out
and sends it after: the offset's largest lower bound over 100 tries; the
latencies are short by at most one serial byte's way to the host). At 10 Hz
the pipeline is idle between frames: that row is a frame's latency; at
60 Hz both VMMs are saturated on this machine and latency there includes
the frames waiting. Frames the client never
showed (overtaken by a later one) count in fps, not in the latencies.
fps: the frames the client saw over the time they were offered in (or
until the last was seen, if later). CPU: utime + stime of every thread of
the helper's process but the vCPU threads (QEMU names them "CPU n/KVM";
ours "vmm-vcpuN"), since the probe busy-polls
and that is the guest's cost, not the display path's; and of all threads.

Each round runs ours and QEMU back to back, which goes first alternating;
the table gives each one's median over the rounds and the ratio of the
medians, oriented so that >= 1.00 means vivarium-vmm is ahead.
"""
import argparse
import os
import statistics
import subprocess
import sys

ROWS = [  # name, label, unit, lower is better
    ("small-median-ms", "64x64 update latency, median", "ms", True),
    ("small-p99-ms", "64x64 update latency, p99", "ms", True),
    ("full10-median-ms", "1920x1080 full frame latency at 10 Hz, median", "ms", True),
    ("full10-p99-ms", "1920x1080 full frame latency at 10 Hz, p99", "ms", True),
    ("full60-median-ms", "1920x1080 full frame latency at 60 Hz (saturated), median", "ms", True),
    ("full60-p99-ms", "1920x1080 full frame latency at 60 Hz (saturated), p99", "ms", True),
    ("full60-fps", "1920x1080 full frames offered at 60 Hz", "fps", False),
    ("full120-fps", "1920x1080 full frames offered at 120 Hz", "fps", False),
    ("idle-cpu-pct", "idle CPU, still screen, without vCPU threads", "% of a core", True),
    ("idle-cpu-total-pct", "idle CPU, still screen, whole process", "% of a core", True),
]


def run_client(args, which):
    env = dict(os.environ, VIVARIUM_VMM=args.vmm, VIVARIUM_PROBE_ELF=args.probe)
    p = subprocess.run([args.client, "--bench", "--vmm", which], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=900)
    err = p.stderr.decode(errors="replace")
    sys.stderr.write("".join("  %s: %s\n" % (which, l) for l in err.splitlines()
                             if not l.startswith("(")))
    if p.returncode != 0:
        sys.exit("%s --bench --vmm %s exited %d:\n%s" % (args.client, which, p.returncode,
                                                          err[-3000:]))
    res = {}
    for line in p.stdout.decode(errors="replace").splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "result":
            res[f[1]] = float(f[2])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    results = {"vmm": [], "qemu": []}
    for r in range(args.rounds):
        order = ["vmm", "qemu"] if r % 2 == 0 else ["qemu", "vmm"]
        for which in order:
            print("round %d: %s" % (r + 1, which), file=sys.stderr, flush=True)
            results[which].append(run_client(args, which))
    qemu_version = subprocess.run(["qemu-system-x86_64", "--version"], stdout=subprocess.PIPE,
                                  text=True).stdout.split("\n")[0].split("version ")[-1]
    print("vivarium-vmm vs QEMU %s: probe guest (1 vCPU, mode=display, 1920x1080), headless "
          "spice-client-glib, median of %d rounds" % (qemu_version, args.rounds))
    print()
    print("| row | vivarium-vmm | QEMU | ratio (>= 1.00: we are ahead) |")
    print("|---|---:|---:|---:|")
    for key, label, unit, lower in ROWS:
        vals = {}
        for which in ("vmm", "qemu"):
            got = [r[key] for r in results[which] if key in r]
            vals[which] = statistics.median(got) if got else float("nan")
        a, b = vals["vmm"], vals["qemu"]
        if lower:
            ratio = b / a if a > 0 else float("inf") if b > 0 else float("nan")
        else:
            ratio = a / b if b > 0 else float("nan")
        print("| %s (%s) | %.3f | %.3f | %.2f |" % (label, unit, a, b, ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
