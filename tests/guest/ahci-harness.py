"""The AHCI tests' host side (run-ahci.sh): a raw SATA disk of zeroes and a
CD-ROM image whose 2 KiB sectors hold ahci.c's pattern, the probe in
mode=ahci under vivarium-vmm or QEMU (the controller built into q35, with
ide-hd and ide-cd), its TAP passed through without its plan; then the
host's checks of the disk image and one plan.

  ahci-harness.py qemu|PATH-TO-vivarium-vmm vivarium-probe.elf

SPDX-License-Identifier: GPL-3.0-or-later
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blkhost  # noqa: E402

DISK_MIB = 16
CD_SECTORS = 1500          # about 3 MiB, an odd number of sectors


def cd_byte(sector, i):
    """ahci.c's ahci_cd_byte()."""
    return ((sector * 131 + i * 7) ^ (sector >> 8) ^ (i >> 8)) & 0xff


def disk_byte(seed, off):
    """ahci.c's ahci_disk_byte()."""
    s = off >> 9
    return (s * 29 + (off & 511) * 13 + seed * 101 + (s >> 8)) & 0xff


def make_cd(path):
    with open(path, "wb") as f:
        for s in range(CD_SECTORS):
            f.write(bytes(cd_byte(s, i) for i in range(2048)))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ahci-harness.py qemu|VIVARIUM-VMM vivarium-probe.elf")
    vmm, elf = sys.argv[1], sys.argv[2]
    if not os.path.exists("/dev/kvm"):
        blkhost.skip_all("/dev/kvm is missing")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        blkhost.skip_all("/dev/kvm cannot be opened (%s)" % e.strerror)
    qemu = os.environ.get("QEMU", "qemu-system-x86_64")
    if vmm == "qemu" and shutil.which(qemu) is None:
        blkhost.skip_all("%s is not installed" % qemu)

    tmp = tempfile.mkdtemp(prefix="viv-ahci-")
    try:
        disk = os.path.join(tmp, "disk.raw")
        cd = os.path.join(tmp, "cd.iso")
        with open(disk, "wb") as f:
            f.truncate(DISK_MIB << 20)
        make_cd(cd)
        cmdline = "cpus=1 mode=ahci ahci_disk_mib=%d ahci_cd_sectors=%d" % (DISK_MIB, CD_SECTORS)
        if vmm == "qemu":
            argv = [qemu] + blkhost.QEMU_BASE + [
                "-m", "64M", "-smp", "1", "-kernel", elf, "-append", cmdline,
                "-drive", "file=%s,if=none,id=d0,format=raw" % disk,
                "-device", "ide-hd,drive=d0,bus=ide.0,serial=sata0,bootindex=1",
                "-drive", "file=%s,if=none,id=c0,format=raw,media=cdrom,readonly=on" % cd,
                "-device", "ide-cd,drive=c0,bus=ide.1,bootindex=2"]
        else:
            argv = [vmm, "--kernel", elf, "--memory", "64M", "--cpus", "1", "--serial", "stdio",
                    "--cmdline", cmdline, "--disk", disk + ",format=raw,bus=sata,serial=sata0",
                    "--cdrom", cd]
        blkhost.log(" ".join(argv))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        count = 0
        writes = []
        bailed = False
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if re.match(r"^1\.\.\d+$", line):
                continue
            print(line, flush=True)
            m = re.match(r"^(ok|not ok) (\d+)", line)
            if m:
                count = int(m.group(2))
            m = re.match(r"^# ahci-write (\d+) (\d+) (\d+)$", line)
            if m:
                writes.append(tuple(int(x) for x in m.groups()))
            if line.startswith("Bail out!"):
                bailed = True
                break
        try:
            status = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()

        def tap(ok, text):
            nonlocal count
            count += 1
            print("%s %d - %s" % ("ok" if ok else "not ok", count, text), flush=True)

        tap(not bailed and status == 0, "host: the VM powered off (status %d)" % status)
        with open(disk, "rb") as f:
            image = f.read()
        bad = []
        covered = bytearray(len(image) >> 9)
        for lba, n, seed in writes:
            want = bytes(disk_byte(seed, lba * 512 + i) for i in range(n * 512))
            if image[lba * 512:(lba + n) * 512] != want:
                bad.append("%d+%d" % (lba, n))
            for s in range(lba, min(lba + n, len(covered))):
                covered[s] = 1
        tap(len(writes) >= 3 and not bad,
            "host: the disk holds the %d writes the guest reported%s"
            % (len(writes), " (wrong: %s)" % ", ".join(bad) if bad else ""))
        stray = [s for s in range(len(covered))
                 if not covered[s] and any(image[s * 512:(s + 1) * 512])]
        tap(not stray, "host: nothing else on the disk was written%s"
            % (" (sectors %s...)" % stray[:8] if stray else ""))
        print("1..%d" % count, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
