"""Host-side helpers for the probe's disk tests: blk-harness.py (the
virtio-blk tests under vivarium-vmm and QEMU) and blk-crash.py (the crash
test). Run with Debian's /usr/bin/python3.

SPDX-License-Identifier: GPL-3.0-or-later
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

QEMU_BASE = ["-accel", "kvm", "-M", "q35", "-cpu", "host,-arch-capabilities",
             "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio"]


def log(message):
    print("harness: " + message, file=sys.stderr, flush=True)


def skip_all(reason):
    """A TAP stream that says the whole test was skipped."""
    log("SKIP: " + reason)
    print("1..0 # SKIP " + reason, flush=True)
    sys.exit(0)


def check_environment(need_qemu_system=False):
    """Skips (exit 0) without a usable /dev/kvm or without qemu-img."""
    if not os.path.exists("/dev/kvm"):
        skip_all("/dev/kvm is missing")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        skip_all("/dev/kvm cannot be opened (%s)" % e.strerror)
    if shutil.which("qemu-img") is None:
        skip_all("qemu-img is not installed")
    if need_qemu_system and shutil.which(os.environ.get("QEMU", "qemu-system-x86_64")) is None:
        skip_all("qemu-system-x86_64 is not installed")


def run(argv, check=True, **kw):
    """Runs a command; returns (status, stdout + stderr)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError("%s: status %d\n%s" % (" ".join(argv), p.returncode, out))
    return p.returncode, out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def virtual_size(path):
    _, out = run(["qemu-img", "info", "--output=json", "-U", path])
    return json.loads(out)["virtual-size"]


def wait_unlocked(path, timeout=10.0):
    """Waits until nobody holds a lock on PATH; returns the seconds waited.
    A killed VMM's io_uring requests still in flight keep its open file,
    and so its OFD lock, alive for a moment after the process is gone."""
    start = time.monotonic()
    while True:
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(fd, fcntl.LOCK_UN)
            return time.monotonic() - start
        except OSError:
            if time.monotonic() - start > timeout:
                raise RuntimeError("%s is still locked after %.0f s" % (path, timeout))
            time.sleep(0.01)
        finally:
            os.close(fd)


def direct_io_works(folder):
    """Whether files in FOLDER can be opened with O_DIRECT (tmpfs: no)."""
    path = os.path.join(folder, ".direct-probe")
    try:
        with open(path, "wb") as f:
            f.write(b"\0" * 4096)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        os.close(fd)
        return True
    except OSError:
        return False
    finally:
        if os.path.exists(path):
            os.unlink(path)


class Tap:
    """TAP lines numbered after the probe's, and the one plan at the end."""

    def __init__(self, first=0):
        self.n = first
        self.failed = 0

    def ok(self, good, what, detail=""):
        self.n += 1
        if not good:
            self.failed += 1
        print("%s %d - %s" % ("ok" if good else "not ok", self.n, what), flush=True)
        if detail and not good:
            for line in detail.splitlines()[-20:]:
                print("# " + line, flush=True)
        return good

    def skip(self, what, reason):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, what, reason), flush=True)

    def diag(self, text):
        for line in text.splitlines():
            print("# " + line, flush=True)

    def plan(self):
        print("1..%d" % self.n, flush=True)


class Guest:
    """A VMM running the probe: its COM1 (stdout) passed through as TAP,
    except the probe's plan line, which is held back so that host checks
    can follow (Tap(first=guest.tests)). Lines are also kept, and a callback
    sees each as it comes."""

    def __init__(self, argv, on_line=None, echo=True):
        self.argv = argv
        self.lines = []
        self.tests = 0           # the probe's plan: how many TAP lines it printed
        self.bailed = False
        self.on_line = on_line
        self.echo = echo
        log(" ".join(argv))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if not raw.endswith(b"\n"):
                # cut short by a kill: "wl flushed 1 78" may have been 7845
                log("an unfinished last line: %r" % line)
                continue
            self.lines.append(line)
            if line.startswith("1..") and line[3:].isdigit():
                self.tests = int(line[3:])
            elif self.echo:
                print(line, flush=True)
            if line.startswith("Bail out!") and not self.bailed:
                self.bailed = True
                threading.Timer(5, self.kill).start()
            if self.on_line is not None:
                self.on_line(line)

    def kill(self):
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log("the VMM did not exit within %d s; killing it" % timeout)
            self.kill()
            rc = self.proc.wait()
        self.reader.join(timeout=5)
        return rc

    def diag_lines(self, prefix):
        """The words of every "# PREFIX ..." line."""
        want = "# " + prefix + " "
        return [line[len(want):].split() for line in self.lines if line.startswith(want)]


def vmm_argv(vmm, elf, cmdline, disks, cpus=2, aio=None, memory="64M"):
    """vivarium-vmm with DISKS: (path, options dict) pairs (format, readonly,
    cache, serial)."""
    argv = [vmm, "--kernel", elf, "--memory", memory, "--cpus", str(cpus), "--rng",
            "--serial", "stdio", "--cmdline", cmdline]
    for path, opts in disks:
        spec = path
        for key in ("format", "readonly", "cache", "serial"):
            if opts.get(key):
                spec += ",%s=%s" % (key, opts[key])
        argv += ["--disk", spec]
    if aio:
        argv += ["--aio", aio]
    return argv


def qemu_argv(elf, cmdline, disks, cpus=2, memory="64M"):
    """QEMU with the same disks through virtio-blk-pci (aio=io_uring,
    discard=unmap: with its default discard=ignore a discard is completed
    with OK and dropped, even on a read-only disk)."""
    qemu = os.environ.get("QEMU", "qemu-system-x86_64")
    argv = [qemu] + QEMU_BASE + ["-m", memory, "-smp", str(cpus), "-kernel", elf,
                                 "-append", cmdline,
                                 "-device", "virtio-rng-pci,disable-legacy=on"]
    for i, (path, opts) in enumerate(disks):
        drive = "file=%s,if=none,id=d%d,format=%s,aio=io_uring,discard=unmap" % (
            path, i, opts["format"])
        if opts.get("readonly") == "on":
            drive += ",readonly=on"
        if opts.get("cache") == "none":
            drive += ",cache=none"
        serial = opts.get("serial") or os.path.basename(path)
        argv += ["-drive", drive,
                 "-device", "virtio-blk-pci,drive=d%d,disable-legacy=on,serial=%s" % (i, serial)]
    return argv


# ---- the pattern and images -----------------------------------------------------

class Img:
    """vivarium-vmm img, for building images and references."""

    def __init__(self, vmm):
        self.vmm = vmm

    def __call__(self, *args, check=True):
        return run([self.vmm, "img"] + [str(a) for a in args], check=check)

    def raw(self, path, size):
        self("create", "-f", "raw", path, size)

    def pattern(self, path, offset, length, seed, fmt="raw"):
        self("write-pattern", "-f", fmt, path, offset, length, seed)

    def zeroes(self, path, offset, length, fmt="raw"):
        self("write-zeroes", "-f", fmt, path, offset, length)


def fill(path, offset, length, byte):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes([byte]) * length)


def qemu_check(path):
    """qemu-img check's status and output (0 clean, 2 corrupt, 3 leaks)."""
    return run(["qemu-img", "check", path], check=False)


def leaked_clusters(output):
    for line in output.splitlines():
        words = line.split()
        if len(words) > 2 and words[1] in ("leaked", "leaked-clusters"):
            try:
                return int(words[0])
            except ValueError:
                pass
    return 0


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now (the kernel's
    pick; someone may take it before the caller does, but rarely)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qcow2_check_verdict(status, out, cluster_size):
    """qemu-img check's STATUS and OUT after a crash in a qcow2 snapshot
    operation: (ok, benign). Clean (0) and leaks only (3) are ok; errors
    (2) are ok only when each is the harmless COPIED window that
    src/vmm/block/qcow2-snapshot.c describes (COPIED set on a cluster whose
    refcount is one too high, that check also lists as leaked), and then
    BENIGN is True."""
    if status in (0, 3):
        return True, False
    if status != 2:
        return False, False
    leaked = {}
    for m in re.finditer(r"Leaked cluster (\d+) refcount=(\d+) reference=(\d+)", out):
        leaked[int(m.group(1))] = (int(m.group(2)), int(m.group(3)))
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    for line in errors:
        m = re.match(r"ERROR OFLAG_COPIED (?:data|L2) cluster: .*_entry=([0-9a-f]+) "
                     r"refcount=(\d+)$", line)
        if m is None:
            return False, False
        entry, rc = int(m.group(1), 16), int(m.group(2))
        cluster = (entry & 0x00fffffffffffe00) // cluster_size
        if not entry >> 63 or leaked.get(cluster) != (rc, 1):
            return False, False
    return bool(errors), bool(errors)
