#!/usr/bin/python3
"""Control benchmark: vivarium-vmm --machine, driven over org.vivarium.Vmm1.

For each run: the time from spawning the helper to State "running", and
from calling PowerButton to the helper's exit (the probe guest in idle mode
sees the ACPI power button and powers off). Prints the medians.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

IFACE = "org.vivarium.Vmm1"
PATH = "/org/vivarium/Vmm1"


def get_state(conn):
    v = conn.call_sync(None, PATH, "org.freedesktop.DBus.Properties", "Get",
                       GLib.Variant("(ss)", (IFACE, "State")), GLib.VariantType("(v)"),
                       Gio.DBusCallFlags.NONE, 5000, None)
    return v.unpack()[0]


def one_run(vmm, probe, tmp):
    u = str(uuid.uuid4())
    mdir = os.path.join(tmp, u)
    os.makedirs(mdir)
    with open(os.path.join(mdir, "machine.json"), "w") as f:
        f.write('{"version": 1, "uuid": "%s", "name": "bench", "memory": 67108864, "cpus": 1,'
                ' "boot": {"kind": "kernel", "kernel": "%s", "cmdline": "mode=idle"},'
                ' "devices": {"rng": false}}' % (u, probe))
    run = os.path.join(tmp, "run")
    sock = os.path.join(run, "vivarium", u + ".sock")
    env = dict(os.environ, XDG_RUNTIME_DIR=run)

    t0 = time.perf_counter()
    p = subprocess.Popen([vmm, "--machine", mdir], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while not os.path.exists(sock):
        if p.poll() is not None:
            sys.exit("helper exited: " + p.stderr.read().decode(errors="replace"))
        time.sleep(0.0005)
    conn = None
    while conn is None:
        try:
            conn = Gio.DBusConnection.new_for_address_sync(
                "unix:path=" + sock, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)
        except GLib.Error:
            time.sleep(0.0005)
    while get_state(conn) != "running":
        time.sleep(0.0005)
    t_running = time.perf_counter() - t0

    # let the guest reach its idle loop, where it watches the power button
    time.sleep(0.2)
    t1 = time.perf_counter()
    conn.call_sync(None, PATH, IFACE, "PowerButton", None, None, Gio.DBusCallFlags.NONE, 5000, None)
    rc = p.wait(timeout=60)
    t_exit = time.perf_counter() - t1
    if rc != 0:
        sys.exit("helper exited %d: %s" % (rc, p.stderr.read().decode(errors="replace")))
    shutil.rmtree(mdir)
    return t_running, t_exit


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="vivarium-bench-")
    os.makedirs(os.path.join(tmp, "run"), mode=0o700)
    try:
        one_run(args.vmm, args.probe, tmp)  # warm the page cache
        results = [one_run(args.vmm, args.probe, tmp) for _ in range(args.runs)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    starts = [r[0] for r in results]
    stops = [r[1] for r in results]
    print(f"runs: {args.runs}")
    print(f"spawn to State running:     median {statistics.median(starts)*1000:7.1f} ms"
          f"  (min {min(starts)*1000:.1f}, max {max(starts)*1000:.1f})")
    print(f"PowerButton to process exit: median {statistics.median(stops)*1000:7.1f} ms"
          f"  (min {min(stops)*1000:.1f}, max {max(stops)*1000:.1f})")


if __name__ == "__main__":
    main()
