#!/usr/bin/python3
"""Console benchmark: the app's display widget against remote-viewer, on
the same probe guest under the same helper (run by bench/console.sh).

Each run is bench/console-bench (tests/app/console-bench in the build
folder) under a fresh `xvfb-run -s "-screen 0 2560x1600x24"`: it starts a
machine of its own (vivarium-vmm, the probe guest with mode=display), shows
its screen, and after `setmode 1920 1080` runs the probe's `bench full 120
60` (a warm-up, not counted), `bench small 300 60` (64x64 solid fills at
(256, 256)), `bench full 60 10` and `bench full 300 60` (full-HD solid
fills), then measures the client process's CPU use for 10 s with nothing
changing on the screen. It prints "result NAME VALUE" lines.

The clients:
  ours           a GtkWindow holding a VivDisplay of WxH (1280x720: the
                 guest's 1920x1080 scaled by 2/3), connected as the app
                 connects it (OpenDisplay); with GTK's default renderer
                 (GL: on Xvfb that is Mesa's llvmpipe, on the CPU) and with
                 GSK_RENDERER=cairo (what GTK 3's remote-viewer draws with);
  remote-viewer  Debian's virt-viewer (GTK 3, spice-gtk), GNOME Boxes'
                 display route, with --auto-resize=never and --zoom giving
                 the same size, on the helper's ListenDisplay socket.

Latency: from the guest's rdtsc just before its RESOURCE_FLUSH (the guest's
TSC is the host's plus an offset, taken from `sync` as bench/display.py
does) to the host's rdtsc when update i was first shown at the bench point
(the square's centre, or the screen's):
  frame clock    (ours only) the widget's GdkFrameClock "after-paint" of the
                 first frame whose snapshot drew bench_color (i) there;
  X server       (both) a watcher process (console-bench --watch) with
                 XDamage on the root window reads that pixel with
                 XGetImage after every damage.
Updates never shown (overtaken by a later one) count in fps, not in the
latencies. fps: updates shown over the time they were offered in (or until
the last was shown, if later). CPU: utime + stime of the client's process,
all its threads (llvmpipe's included).

Each round runs every client once, the order reversed every other round;
the table gives each one's median over the rounds and the ratio of the
medians, oriented so that >= 1.00 means we are ahead.
"""
import argparse
import os
import statistics
import subprocess
import sys

METRICS = [  # key, label, unit, lower is better
    ("small-median-ms", "64x64 update latency, median", "ms", True),
    ("small-p99-ms", "64x64 update latency, p99", "ms", True),
    ("full10-median-ms", "1920x1080 full frame latency at 10 Hz, median", "ms", True),
    ("full10-p99-ms", "1920x1080 full frame latency at 10 Hz, p99", "ms", True),
    ("full60-fps", "1920x1080 full frames offered at 60 Hz", "fps", False),
]


def run_client(args, name, client, size, renderer):
    env = dict(os.environ, VIVARIUM_VMM=args.vmm, VIVARIUM_PROBE_ELF=args.probe)
    env.pop("GSK_RENDERER", None)
    # no accessibility bus (GTK 4's and GTK 3's), started for nobody
    env.update(GTK_A11Y="none", NO_AT_BRIDGE="1")
    if renderer:
        env["GSK_RENDERER"] = renderer
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 2560x1600x24", args.client, "--client", client,
           "--size", size]
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=900)
    err = p.stderr.decode(errors="replace")
    sys.stderr.write("".join("  %s: %s\n" % (name, l) for l in err.splitlines()
                             if l[:3] in ("fc ", "x w", "x s", "x f", "no ", "the", "con")))
    if p.returncode != 0:
        sys.exit("%s exited %d:\n%s" % (" ".join(cmd), p.returncode, err[-3000:]))
    res, info = {}, []
    for line in p.stdout.decode(errors="replace").splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "result":
            res[f[1]] = float(f[2])
        elif f and f[0] == "info":
            info.append(" ".join(f[1:]))
    sys.stderr.write("  %s: %s\n" % (name, ", ".join(info)))
    return res


def med(results, key):
    got = [r[key] for r in results if key in r]
    return statistics.median(got) if got else float("nan")


def ratio(ours, theirs, lower):
    if lower:
        return theirs / ours if ours > 0 else float("nan")
    return ours / theirs if theirs > 0 else float("nan")


def table(results, suffix, title):
    rv = results["rv" + suffix]
    print(title)
    print()
    print("| row | ours | remote-viewer (X server) | ratio (>= 1.00: we are ahead) |")
    print("|---|---:|---:|---:|")
    variants = [("gl", "GTK's default renderer (GL on llvmpipe)"),
                ("cairo", "GSK_RENDERER=cairo")]
    for key, label, unit, lower in METRICS:
        b = med(rv, "x-" + key)
        for v, vlabel in variants:
            ours = results["ours-%s%s" % (v, suffix)]
            for where, wlabel in (("fc", "frame clock"), ("x", "X server")):
                a = med(ours, "%s-%s" % (where, key))
                print("| %s (%s), ours: %s, %s | %.3f | %.3f | %.2f |"
                      % (label, unit, vlabel, wlabel, a, b, ratio(a, b, lower)))
    b = med(rv, "idle-cpu-pct")
    for v, vlabel in variants:
        a = med(results["ours-%s%s" % (v, suffix)], "idle-cpu-pct")
        print("| idle CPU of the client, still screen (%% of a core), ours: %s | %.3f | %.3f "
              "| %.2f |" % (vlabel, a, b, ratio(a, b, True)))
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", default="1280x720", help="the scaled window (guest: 1920x1080)")
    ap.add_argument("--one-to-one", action="store_true",
                    help="also every client at 1920x1080, one guest pixel per pixel")
    args = ap.parse_args()
    configs = [("ours-gl", "ours", args.size, None),
               ("ours-cairo", "ours", args.size, "cairo"),
               ("rv", "remote-viewer", args.size, None)]
    if args.one_to_one:
        configs += [(n + "-1to1", c, "1920x1080", r) for n, c, _, r in configs]
    results = {c[0]: [] for c in configs}
    for r in range(args.rounds):
        order = configs if r % 2 == 0 else configs[::-1]
        for name, client, size, renderer in order:
            print("round %d: %s" % (r + 1, name), file=sys.stderr, flush=True)
            results[name].append(run_client(args, name, client, size, renderer))
    version = subprocess.run(["remote-viewer", "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True).stdout.strip().split()[-1]
    table(results, "", "VivDisplay vs remote-viewer %s: probe guest (1 vCPU, mode=display, "
          "1920x1080) under vivarium-vmm, shown at %s under Xvfb, median of %d rounds"
          % (version, args.size, args.rounds))
    if args.one_to_one:
        table(results, "-1to1", "The same at 1920x1080, one guest pixel per pixel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
