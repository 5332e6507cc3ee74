#!/bin/sh
# vivarium-vmm's command line: --version, --help, and the KVM check, with its
# errors for a missing device and for something that is not KVM. TAP output.
set -u
VMM=${1:?usage: test-vmm-cli.sh PATH-TO-vivarium-vmm}
n=0
failed=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; sed 's/^/# /' "$out/err" "$out/out" 2>/dev/null; }
skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

run () { "$@" >"$out/out" 2>"$out/err"; echo $?; }

# --version prints the project's version and exits 0
rc=$(run "$VMM" --version)
if [ "$rc" = 0 ] && grep -Eq '^vivarium-vmm [0-9]+\.[0-9]+\.[0-9]+$' "$out/out"; then
  ok "--version prints the version"
else
  not_ok "--version prints the version (rc=$rc)"
fi

# --help documents the options and the exit statuses
rc=$(run "$VMM" --help)
if [ "$rc" = 0 ] && grep -q -- '--check-kvm' "$out/out" && grep -q 'Exit status' "$out/out"; then
  ok "--help lists the options and exit statuses"
else
  not_ok "--help lists the options and exit statuses (rc=$rc)"
fi

# --help documents the display option and what it takes
rc=$(run "$VMM" --help)
if [ "$rc" = 0 ] && grep -q -- '--display=spice\[,socket=PATH\]|none' "$out/out"; then
  ok "--help documents --display"
else
  not_ok "--help documents --display (rc=$rc)"
fi

# an unknown option is a usage error, not a crash
rc=$(run "$VMM" --no-such-option)
if [ "$rc" = 1 ] && grep -q -- '--help' "$out/err"; then
  ok "an unknown option is refused with a hint"
else
  not_ok "an unknown option is refused with a hint (rc=$rc)"
fi

# a KVM device that does not exist: exit 2, and the message says what to do
rc=$(run "$VMM" --kvm-device /nonexistent/kvm --check-kvm)
if [ "$rc" = 2 ] && grep -q 'does not exist' "$out/err" && grep -q 'VT-x' "$out/err"; then
  ok "a missing KVM device gives exit 2 and a clear error"
else
  not_ok "a missing KVM device gives exit 2 and a clear error (rc=$rc)"
fi

# something that is not KVM: exit 2
rc=$(run "$VMM" --kvm-device /dev/null --check-kvm)
if [ "$rc" = 2 ] && grep -q 'not a KVM device' "$out/err"; then
  ok "a device that is not KVM gives exit 2 and a clear error"
else
  not_ok "a device that is not KVM gives exit 2 and a clear error (rc=$rc)"
fi

# a KVM device we may not open: exit 2 (only testable as a non-root user)
if [ "$(id -u)" != 0 ] && [ -e /dev/kvm ] && [ ! -r /dev/kvm ]; then
  rc=$(run "$VMM" --check-kvm)
  if [ "$rc" = 2 ] && grep -q 'permission denied' "$out/err"; then
    ok "an unreadable /dev/kvm gives exit 2 and a clear error"
  else
    not_ok "an unreadable /dev/kvm gives exit 2 and a clear error (rc=$rc)"
  fi
else
  skip "an unreadable /dev/kvm gives exit 2" "runs only as a user without access to /dev/kvm"
fi

# the real KVM: every required capability present
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  rc=$(run "$VMM" --check-kvm)
  if [ "$rc" = 0 ] && grep -q '^API version: 12$' "$out/out" && \
     ! grep -q 'no  *required' "$out/out" && grep -q 'KVM_CAP_IRQFD *yes' "$out/out"; then
    ok "/dev/kvm is usable and has every required capability"
  else
    not_ok "/dev/kvm is usable and has every required capability (rc=$rc)"
  fi
else
  echo "# SKIP REASON: /dev/kvm is absent or not accessible on this machine;" \
       "the KVM check against real KVM was not run" >&2
  skip "/dev/kvm is usable" "/dev/kvm is absent or not accessible on this machine"
fi

# firmware files that are not there: a clear error naming them, exit 1
rc=$(run "$VMM" --firmware bios,file=/nonexistent/bios.bin --serial none)
if [ "$rc" = 1 ] && grep -q 'Cannot read the firmware' "$out/err" && \
   grep -q '/nonexistent/bios.bin' "$out/err"; then
  ok "--firmware with a missing BIOS file says which"
else
  not_ok "--firmware with a missing BIOS file says which (rc=$rc)"
fi
rc=$(run "$VMM" --firmware uefi,file=/nonexistent/code.fd --serial none)
if [ "$rc" = 1 ] && grep -q 'UEFI firmware' "$out/err" && grep -q '/nonexistent/code.fd' "$out/err"; then
  ok "--firmware uefi with a missing code file says which"
else
  not_ok "--firmware uefi with a missing code file says which (rc=$rc)"
fi
dd if=/dev/zero of="$out/odd.bin" bs=1000 count=7 2>/dev/null
rc=$(run "$VMM" --firmware bios,file="$out/odd.bin" --serial none)
if [ "$rc" = 1 ] && grep -q 'is not a BIOS image' "$out/err"; then
  ok "--firmware refuses a file that is not a BIOS image"
else
  not_ok "--firmware refuses a file that is not a BIOS image (rc=$rc)"
fi

# A kernel for the firmware to boot must be a bzImage; an unreadable
# initrd is named (fwkernel.sh boots one that is right)
if [ -c /dev/kvm ] && [ -e /usr/share/seabios/bios-256k.bin ]; then
  rc=$(run "$VMM" --firmware bios --memory 64M --serial none --kernel "$VMM")
  if [ "$rc" = 1 ] && grep -q 'ELF kernel' "$out/err" && grep -q 'bzImage' "$out/err"; then
    ok "--firmware with an ELF kernel says only a bzImage boots that way"
  else
    not_ok "--firmware with an ELF kernel says only a bzImage boots that way (rc=$rc)"
  fi
  rc=$(run "$VMM" --firmware bios --memory 64M --serial none --kernel "$VMM" \
         --initrd /nonexistent/initrd.img)
  if [ "$rc" = 1 ] && grep -q 'Cannot read the initrd' "$out/err" && \
     grep -q '/nonexistent/initrd.img' "$out/err"; then
    ok "--firmware with a missing initrd names it"
  else
    not_ok "--firmware with a missing initrd names it (rc=$rc)"
  fi
else
  skip "--firmware with an ELF kernel says only a bzImage boots that way" "no /dev/kvm or seabios"
  skip "--firmware with a missing initrd names it" "no /dev/kvm or seabios"
fi

# A forwarded host port another program holds: refused at start, naming it
if [ -c /dev/kvm ] && command -v /usr/bin/python3 >/dev/null; then
  /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(30)' >"$out/port" &
  holder=$!
  i=0
  while [ ! -s "$out/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  port=$(cat "$out/port")
  rc=$(run "$VMM" --memory 64M --serial none --kernel "$VMM" \
         --net "user,hostfwd=tcp:127.0.0.1:$port-:22")
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
  if [ "$rc" = 1 ] && grep -q "TCP port 127.0.0.1:$port" "$out/err" && \
     grep -q 'another program uses it' "$out/err"; then
    ok "--net with a forwarded port in use says which and why"
  else
    not_ok "--net with a forwarded port in use says which and why (rc=$rc)"
    sed 's/^/# /' "$out/err"
  fi
else
  skip "--net with a forwarded port in use says which and why" "no /dev/kvm"
fi

# UEFI: the machine's variable store is made from Debian's template, and
# a second helper cannot use the same one (OVMF itself only runs where the
# host's KVM can: here the guest may stop at once, which is fine)
if [ -c /dev/kvm ] && [ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] && [ -e /usr/share/OVMF/OVMF_VARS_4M.fd ]; then
  "$VMM" --firmware uefi,vars="$out/vars.fd" --memory 128M --serial none \
    >"$out/out" 2>"$out/err" &
  pid=$!
  i=0
  while [ ! -e "$out/vars.fd" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if cmp -s "$out/vars.fd" /usr/share/OVMF/OVMF_VARS_4M.fd; then
    ok "--firmware uefi creates the variable store from Debian's template"
  else
    not_ok "--firmware uefi creates the variable store from Debian's template"
  fi
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  # Another holder of the file's lock (a POSIX lock conflicts with ours, an
  # OFD lock) stands for a second helper
  /usr/bin/python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+b"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[2], "w").close()
time.sleep(30)' "$out/vars.fd" "$out/locked" &
  holder=$!
  i=0
  while [ ! -e "$out/locked" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  rc=$(run "$VMM" --firmware uefi,vars="$out/vars.fd" --memory 128M --serial none)
  if [ "$rc" = 1 ] && grep -q 'in use by another virtual machine' "$out/err"; then
    ok "a variable store in use is refused"
  else
    not_ok "a variable store in use is refused (rc=$rc)"
  fi
  kill $holder 2>/dev/null
  wait $holder 2>/dev/null
else
  skip "--firmware uefi creates the variable store" "no /dev/kvm or Debian's ovmf is not installed"
  skip "a variable store in use is refused" "no /dev/kvm or Debian's ovmf is not installed"
fi

# SIGTERM stops the VM cleanly even with device threads started before the
# run (the SATA controller's, the display server's): none of them may take
# the signal and die of it, losing what the disks had not written
if [ -c /dev/kvm ] && [ -e /usr/share/seabios/bios-256k.bin ]; then
  "$VMM" --firmware bios --memory 64M --serial none --cdrom empty --display spice \
    >"$out/out" 2>"$out/err" &
  pid=$!
  sleep 1
  kill -TERM $pid
  wait $pid
  rc=$?
  if [ "$rc" = 0 ] && grep -q 'stopped by SIGTERM' "$out/err"; then
    ok "SIGTERM stops a VM with SATA and display threads cleanly"
  else
    not_ok "SIGTERM stops a VM with SATA and display threads cleanly (rc=$rc)"
  fi
else
  skip "SIGTERM stops a VM with SATA and display threads cleanly" "no /dev/kvm or no SeaBIOS"
fi

echo "1..$n"
exit $failed
