#!/usr/bin/python3
"""Firmware benchmark: vivarium-vmm against QEMU q35, booting Debian's GRUB
rescue CD through Debian's SeaBIOS (run by bench/firmware.sh).

Both get 256 MiB, the disc on a SATA CD-ROM (ours: --cdrom on AHCI; QEMU:
-cdrom on q35's built-in AHCI), their VGA and a SPICE unix socket, and the
same boot menu prompt (ours: "Press ESC" for 2.5 s; QEMU: -boot
menu=on,splash-time=2500). A headless spice-client-glib client
(tests/vmm/spice_screen.py) connects as soon as the socket appears and
watches the screen:

  first-output  process start to the first screen update with anything
                lit on it (SeaBIOS's, or its VGA BIOS's, first text)
  grub-menu     process start to GRUB's menu with its first entry
                highlighted (spice_screen.grub_bar_row)

Each round runs ours and QEMU back to back, which goes first alternating;
the table gives each one's median over the rounds and the ratio of the
medians, oriented so that >= 1.00 means vivarium-vmm is ahead.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vmm"))
import spice_screen  # noqa: E402

ISO = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso"
ROWS = [("first-output", "SeaBIOS's first screen output", "s"),
        ("grub-menu", "GRUB's menu on screen", "s")]


def command(which, vmm, sock):
    if which == "vivarium":
        return [vmm, "--firmware", "bios", "--memory", "256M", "--serial", "none",
                "--cdrom", ISO, "--display", "spice,socket=" + sock]
    return ["qemu-system-x86_64", "-M", "q35", "-accel", "kvm", "-m", "256M", "-cdrom", ISO,
            "-vga", "std", "-display", "none", "-boot", "menu=on,splash-time=2500",
            "-spice", "unix=on,addr=%s,disable-ticketing=on" % sock]


def run(which, vmm, timeout):
    with tempfile.TemporaryDirectory(prefix="vivarium-fwbench-") as tmp:
        sock = os.path.join(tmp, "spice.sock")
        t0 = time.monotonic()
        proc = subprocess.Popen(command(which, vmm, sock), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            screen = spice_screen.Screen(sock)
            lit = screen.wait(lambda: screen.lit_fraction(0, 48) > 0.002, timeout, step=0.01)
            first = time.monotonic() - t0 if lit else float("nan")
            menu = screen.wait(lambda: spice_screen.grub_bar_row(screen) == 4, timeout, step=0.1)
            grub = time.monotonic() - t0 if menu else float("nan")
            screen.close()
        finally:
            proc.kill()
            proc.wait()
        return {"first-output": first, "grub-menu": grub}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    results = {"vivarium": [], "qemu": []}
    for r in range(args.rounds):
        order = ["vivarium", "qemu"] if r % 2 == 0 else ["qemu", "vivarium"]
        for which in order:
            res = run(which, args.vmm, args.timeout)
            results[which].append(res)
            print("round %d %-8s " % (r + 1, which) +
                  " ".join("%s %.2f" % (k, v) for k, v in res.items()), flush=True)
    print()
    print("| %-32s | vivarium-vmm | QEMU | ratio |" % "")
    print("|%s|--------------|------|-------|" % ("-" * 34))
    for key, label, unit in ROWS:
        ours = statistics.median(x[key] for x in results["vivarium"])
        theirs = statistics.median(x[key] for x in results["qemu"])
        print("| %-32s | %9.2f %s | %6.2f %s | %5.2f |" % (label, ours, unit, theirs, unit,
                                                          theirs / ours))
        print("result %s-vivarium %.3f" % (key, ours))
        print("result %s-qemu %.3f" % (key, theirs))


main()
