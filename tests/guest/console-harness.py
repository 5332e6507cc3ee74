"""The host side of the probe's console tests (run by run-console.sh).

Starts vivarium-vmm (or QEMU) with the probe guest, a virtio-console whose
port 0 is a listening unix socket, a named port on another socket and a
named port with nothing behind it; passes the probe's TAP (COM1, the VMM's
stdout) through to stdout; and talks to the guest through the sockets in
the order tests/guest/console.c describes. What the host saw goes back to
the guest as "verdict ..." lines, which the probe turns into TAP results.
Diagnostics go to stderr. Every wait is bounded.

  console-harness.py qemu|PATH-TO-vivarium-vmm vivarium-probe.elf
  console-harness.py --backends PATH-TO-vivarium-vmm vivarium-probe.elf

Exits with 0 when the VMM powered off (status 0) and the probe did not bail
out; meson judges the TAP stream.

With --backends it checks vivarium-vmm's character backends from the
outside instead, with TAP of its own: the stdio and file backends carry
the probe's hello line, a stale socket is replaced and removed at exit,
and a live socket, a file in the way, a path that cannot be bound and bad
port names are refused with exit status 1.

SPDX-License-Identifier: GPL-3.0-or-later
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

PORTS = ["com.redhat.spice.0", "org.vivarium.test"]   # the first has a socket
HELLO = "vivarium-probe: hello from port 0"
BULK_OUT = 256 * 1024
BULK_IN = 64 * 1024
TOTAL_S = 100        # the whole exchange; meson's timeout is above it
EXIT_S = 30          # for the VMM to power off after the exchange


def log(message):
    print("harness: " + message, file=sys.stderr, flush=True)


class Peer:
    """A client of one of the VMM's sockets, read line by line."""

    def __init__(self, path, deadline, proc):
        self.path = path
        self.buf = b""
        self.sock = None
        while self.sock is None:
            if proc.poll() is not None:
                raise RuntimeError("the VMM exited before %s appeared" % path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                self.sock = s
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise RuntimeError("cannot connect to %s" % path)
                time.sleep(0.02)
        log("connected to %s" % os.path.basename(path))

    def send_line(self, line):
        log("%s <- %r" % (os.path.basename(self.path), line))
        self.sock.sendall(line.encode() + b"\n")

    def read_until(self, want, deadline):
        """Lines until one equals WANT: returns them, or None at the
        deadline or end of stream (with what came)."""
        lines = []
        while True:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                line = raw.decode(errors="replace")
                log("%s -> %r" % (os.path.basename(self.path), line))
                lines.append(line)
                if line == want:
                    return lines
            left = deadline - time.monotonic()
            if left <= 0:
                log("timed out waiting for %r on %s" % (want, os.path.basename(self.path)))
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError as e:
                log("%s: %s" % (self.path, e))
                return None
            if not data:
                log("%s closed while waiting for %r" % (os.path.basename(self.path), want))
                return None
            self.buf += data

    def read_bytes(self, n, deadline):
        """N raw bytes, or fewer at the deadline or end of stream."""
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, OSError):
                break
            if not data:
                break
            self.buf += data
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def close(self):
        self.sock.close()


def pattern(n):
    """The bulk data both sides know: byte k is (k ^ k >> 8) & 0xff."""
    return bytes((k ^ k >> 8) & 0xff for k in range(n))


def ok(flag):
    return "ok" if flag else "missing"


def exchange(proc, console_path, port_path, deadline):
    name = PORTS[0]
    console = Peer(console_path, deadline, proc)
    console.send_line("ping console")
    lines = console.read_until(HELLO, deadline) or []
    console.send_line("verdict echo=%s emerg=%s line=%s" % (
        ok("PING CONSOLE" in lines), ok("emerg" in lines), ok(HELLO in lines)))

    # Only now, so the guest sees PORT_OPEN (1) arrive
    port = Peer(port_path, deadline, proc)
    port.send_line("ping " + name)
    lines = port.read_until("PING " + name.upper(), deadline)
    port.send_line("verdict echo=%s" % ok(lines is not None))

    # Guest to host: read only after a pause, so the socket fills and the
    # VMM has to hold the guest's buffers
    lines = port.read_until("bulk out %d" % BULK_OUT, deadline)
    time.sleep(0.5)
    data = port.read_bytes(BULK_OUT, deadline) if lines else b""
    good = data == pattern(BULK_OUT)
    if lines and not good:
        log("bulk out: %d bytes, %s" % (len(data), "intact" if good else "WRONG"))
    port.send_line("verdict bulk=%s" % ok(good))

    # Host to guest: more than the VMM holds for a port at once
    if port.read_until("bulk in %d" % BULK_IN, deadline):
        log("port.sock <- %d bytes" % BULK_IN)
        port.sock.settimeout(max(deadline - time.monotonic(), 0.1))
        port.sock.sendall(pattern(BULK_IN))
    port.read_until("bye", deadline)
    port.close()          # the guest waits for PORT_OPEN (0)

    lines = console.read_until("single port hello", deadline)
    console.send_line("verdict single=%s" % ok(lines is not None))
    console.close()


def command(vmm, elf, tmp):
    console_path = os.path.join(tmp, "console.sock")
    port_path = os.path.join(tmp, "port.sock")
    cmdline = "cpus=1 ports=" + ",".join(PORTS)
    if vmm == "qemu":
        qemu = os.environ.get("QEMU", "qemu-system-x86_64")
        argv = [qemu, "-accel", "kvm", "-M", "q35", "-cpu", "host,-arch-capabilities",
                "-m", "64M", "-smp", "1", "-nodefaults", "-display", "none", "-no-reboot",
                "-serial", "stdio", "-kernel", elf, "-append", cmdline,
                "-device", "virtio-rng-pci,disable-legacy=on",
                "-device", "virtio-serial-pci,disable-legacy=on",
                "-chardev", "socket,id=c0,path=%s,server=on,wait=off" % console_path,
                "-device", "virtconsole,chardev=c0",
                "-chardev", "socket,id=c1,path=%s,server=on,wait=off" % port_path,
                "-device", "virtserialport,chardev=c1,name=" + PORTS[0]]
        for p in PORTS[1:]:
            argv += ["-device", "virtserialport,name=" + p]
    else:
        argv = [vmm, "--kernel", elf, "--memory", "64M", "--cpus", "1", "--rng",
                "--serial", "stdio", "--console", "socket:" + console_path,
                "--port", "%s,socket=%s" % (PORTS[0], port_path), "--cmdline", cmdline]
        argv += ["--port=" + p for p in PORTS[1:]]
    return argv, console_path, port_path


class Tap:
    def __init__(self):
        self.n = 0

    def ok(self, good, what, detail=""):
        self.n += 1
        print("%s %d - %s" % ("ok" if good else "not ok", self.n, what), flush=True)
        if not good and detail:
            for line in detail.splitlines()[-20:]:
                print("# " + line, flush=True)
        return good

    def plan(self):
        print("1..%d" % self.n, flush=True)


def run_vmm(vmm, elf, args, stdin=None, options="", timeout=60):
    """Runs the probe (no ports=: handshake and the hello line) with ARGS;
    returns (status, stdout, stderr)."""
    argv = [vmm, "--kernel", elf, "--memory", "64M", "--cpus", "1", "--rng",
            "--cmdline", "cpus=1 malformed=0" + options] + args
    try:
        p = subprocess.run(argv, input=stdin or b"", capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return -1, (e.stdout or b"").decode(errors="replace"), "timed out"
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def probe_passed(tap):
    return "\n1.." in tap and "not ok" not in tap and "Bail out!" not in tap


def backends(vmm, elf, tmp):
    tap = Tap()
    hello = HELLO + "\n"

    # stdio: port 0 on stdout and stdin, the probe's TAP in a file
    serial = os.path.join(tmp, "serial.log")
    rc, out, err = run_vmm(vmm, elf, ["--serial", "file:" + serial, "--console", "stdio"],
                           stdin=b"from stdin\n", options=" echo=1")
    with open(serial, errors="replace") as f:
        log_text = f.read()
    tap.ok(rc == 0 and out == hello + "FROM STDIN\n" and probe_passed(log_text),
           "--console stdio: the guest's line on stdout, and a line on stdin echoed back "
           "(status %d)" % rc, "stdout: %r\n%s\n%s" % (out, err, log_text))

    # with the serial port on stdio too, stdin stays the serial port's
    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--console", "stdio"],
                           stdin=b"for the serial port\n")
    tap.ok(rc == 0 and hello in out and probe_passed(out) and "takes no input" in err,
           "--console stdio with --serial stdio: output on stdout, stdin left to the serial "
           "port (status %d)" % rc, err + out)

    # file: port 0 into a file, created and truncated
    path = os.path.join(tmp, "console.log")
    with open(path, "w") as f:
        f.write("old contents\n")
    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--console", "file:" + path])
    with open(path, errors="replace") as f:
        text = f.read()
    tap.ok(rc == 0 and text == hello and probe_passed(out),
           "--console file:PATH: the file holds the guest's line (status %d)" % rc,
           "file: %r\n%s\n%s" % (text, err, out))

    # a stale socket (nobody listening) is replaced, and removed at exit
    path = os.path.join(tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--console", "socket:" + path,
                                      "--port", "org.vivarium.stale,socket=" + path + "2"])
    tap.ok(rc == 0 and probe_passed(out) and not os.path.exists(path)
           and not os.path.exists(path + "2"),
           "--console socket:PATH over a stale socket: replaced, and removed at exit "
           "(status %d)" % rc, err + out)

    # a live socket is not taken over
    path = os.path.join(tmp, "live.sock")
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(path)
    live.listen(1)
    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--console", "socket:" + path])
    tap.ok(rc == 1 and "another process listens" in err and os.path.exists(path),
           "--console socket:PATH where another process listens: refused (status %d)" % rc, err)
    live.close()

    # anything else at the path is left alone
    path = os.path.join(tmp, "precious.txt")
    with open(path, "w") as f:
        f.write("keep me\n")
    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--port", "a,socket=" + path])
    with open(path) as f:
        kept = f.read() == "keep me\n"
    tap.ok(rc == 1 and "is not a socket" in err and kept,
           "--port NAME,socket=PATH over a regular file: refused, file intact (status %d)" % rc,
           err)

    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--console",
                                      "socket:" + os.path.join(tmp, "no", "such", "dir.sock")])
    tap.ok(rc == 1 and "cannot bind" in err,
           "--console socket:PATH in a missing directory: refused (status %d)" % rc, err)

    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--port", "a/b"])
    tap.ok(rc == 1 and "invalid port name" in err,
           "--port with a '/' in the name: refused (status %d)" % rc, err)

    rc, out, err = run_vmm(vmm, elf, ["--serial", "stdio", "--port", "twin", "--port", "twin"])
    tap.ok(rc == 1 and "two ports are named" in err,
           "--port NAME twice: refused (status %d)" % rc, err)

    tap.plan()
    return 0


def main():
    args = sys.argv[1:]
    mode = "exchange"
    if args and args[0] == "--backends":
        mode = "backends"
        args = args[1:]
    if len(args) != 2:
        print("usage: console-harness.py [--backends] qemu|VIVARIUM-VMM vivarium-probe.elf",
              file=sys.stderr)
        return 2
    vmm, elf = args
    tmp = tempfile.mkdtemp(prefix="vivarium-console-")
    try:
        if mode == "backends":
            return backends(vmm, elf, tmp)
        return run(vmm, elf, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(vmm, elf, tmp):
    argv, console_path, port_path = command(vmm, elf, tmp)
    log(" ".join(argv))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    bailed = threading.Event()

    def pass_tap():
        # The TAP stream through, line by line; a bail-out halts the probe,
        # so the VMM is stopped then rather than at meson's timeout
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            print(line, flush=True)
            if line.startswith("Bail out!") and not bailed.is_set():
                bailed.set()
                threading.Timer(5, proc.kill).start()

    reader = threading.Thread(target=pass_tap, daemon=True)
    reader.start()
    try:
        exchange(proc, console_path, port_path, time.monotonic() + TOTAL_S)
    except (OSError, RuntimeError) as e:
        log("exchange stopped: %s" % e)

    try:
        rc = proc.wait(timeout=5 if bailed.is_set() else EXIT_S)
    except subprocess.TimeoutExpired:
        log("the VMM did not exit; killing it")
        proc.kill()
        rc = proc.wait()
    reader.join(timeout=5)
    if bailed.is_set():
        log("the probe bailed out (status %d)" % rc)
        return 1
    if rc != 0:
        log("%s exited with status %d, not 0" % (os.path.basename(argv[0]), rc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
