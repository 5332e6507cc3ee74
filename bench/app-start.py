#!/usr/bin/python3
"""App start benchmark: from exec of `vivarium` to its first frame with tiles.

Makes a library of N machines in a private XDG_DATA_HOME, starts one Xvfb,
then runs the app RUNS times with VIVARIUM_TIMING=quit: the app prints the
CLOCK_MONOTONIC time of the first frame that shows the collection's tiles,
and quits. The time counted is from just before the process is spawned to
that frame.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

MIB = 1 << 20
OSES = ["http://debian.org/debian/11", "http://fedoraproject.org/fedora/37", None]


def make_library(data_home, n):
    machines = os.path.join(data_home, "vivarium", "machines")
    for i in range(n):
        ident = str(uuid.uuid4())
        folder = os.path.join(machines, ident)
        os.makedirs(folder)
        config = {"version": 1, "uuid": ident, "name": f"Machine {i:03d}",
                  "memory": 256 * MIB, "cpus": 1}
        if OSES[i % len(OSES)]:
            config["osinfo"] = OSES[i % len(OSES)]
        with open(os.path.join(folder, "machine.json"), "w") as f:
            json.dump(config, f, indent=2)


def start_xvfb():
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                             "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=[write_fd], stderr=subprocess.DEVNULL)
    os.close(write_fd)
    display = b""
    while not display.endswith(b"\n"):
        chunk = os.read(read_fd, 64)
        if not chunk:
            sys.exit("Xvfb did not start")
        display += chunk
    os.close(read_fd)
    return xvfb, ":" + display.decode().strip()


def run_once(app, env):
    start = time.monotonic()
    p = subprocess.run([app], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    out = p.stdout.decode(errors="replace")
    m = re.search(r"first-collection-frame (\d+) us, (\d+) machines", out)
    if p.returncode != 0 or m is None:
        sys.exit(f"vivarium exited {p.returncode} without a timing line:\n{out}\n"
                 f"{p.stderr.decode(errors='replace')[-2000:]}")
    return int(m.group(1)) / 1e6 - start, int(m.group(2))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--machines", type=int, default=500)
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="vivarium-app-start-")
    xvfb = None
    try:
        data_home = os.path.join(root, "data")
        runtime_dir = os.path.join(root, "run")
        os.makedirs(runtime_dir, mode=0o700)
        make_library(data_home, args.machines)
        xvfb, display = start_xvfb()

        env = dict(os.environ)
        env.pop("WAYLAND_DISPLAY", None)
        env.update({
            "DISPLAY": display,
            "GDK_BACKEND": "x11",
            "XDG_DATA_HOME": data_home,
            "XDG_RUNTIME_DIR": runtime_dir,
            "GSETTINGS_BACKEND": "memory",
            "GSETTINGS_SCHEMA_DIR": os.path.join(args.build, "data"),
            "VIVARIUM_LOCALEDIR": os.path.join(args.build, "po"),
            "NO_AT_BRIDGE": "1",
            "VIVARIUM_TIMING": "quit",
        })

        times = []
        for i in range(args.runs):
            elapsed, shown = run_once(args.app, env)
            if shown != args.machines:
                sys.exit(f"the app showed {shown} machines, not {args.machines}")
            times.append(elapsed)
            print(f"run {i + 1}: {elapsed * 1000:.0f} ms")
        print(f"app start to the first frame with {args.machines} machines: "
              f"median {statistics.median(times) * 1000:.0f} ms, "
              f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
              f"({args.runs} runs)")
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
