#!/bin/bash
# Boots the probe guest under QEMU and passes its TAP stream (its COM1) to
# meson on stdout; QEMU's own messages stay on stderr.  Where QEMU or a
# usable /dev/kvm is missing it prints a "1..0 # SKIP" plan and exits 77,
# or $PROBE_SKIP_STATUS: meson 1.0 counts a TAP test's 77 as an error, so
# the meson test sets that to 0 and the plan alone says "skipped".
#
#   run-qemu.sh vivarium-probe.elf [extra probe command-line options]
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

elf=${1:?usage: run-qemu.sh vivarium-probe.elf [probe options]}
shift
qemu=${QEMU:-qemu-system-x86_64}

skip () {
  echo "SKIP: $*" >&2
  echo "1..0 # SKIP $*"
  exit "${PROBE_SKIP_STATUS:-77}"
}

command -v "$qemu" >/dev/null 2>&1 || skip "$qemu is not installed"
[ -c /dev/kvm ] || skip "/dev/kvm is missing"
{ exec 3<>/dev/kvm; } 2>/dev/null || skip "/dev/kvm cannot be opened (not in the kvm group?)"
exec 3>&-

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/serial" || exit 1

# -cpu host,-arch-capabilities: plain host or max fail on this machine's
# nested KVM (MSR 0x10a).  QEMU exits 0 after an ACPI power-off with
# -no-reboot (and, alas, after a triple fault too: the TAP plan tells those
# apart, since the probe prints it only right before powering off).
"$qemu" -accel kvm -M q35 -cpu host,-arch-capabilities -m 64M -smp 2 \
  -nodefaults -display none -no-reboot -serial stdio \
  -kernel "$elf" -append "cpus=2${*:+ $*}" \
  -device virtio-rng-pci,disable-legacy=on \
  </dev/null >"$tmp/serial" &
qemu_pid=$!

# Copy the TAP stream through; after a bail-out the probe halts, so stop
# QEMU then rather than waiting for meson's timeout.
bailed=0
while IFS= read -r line; do
  printf '%s\n' "$line"
  case $line in
    'Bail out!'*)
      bailed=1
      ( sleep 5; kill "$qemu_pid" 2>/dev/null ) >/dev/null 2>&1 &
      ;;
  esac
done <"$tmp/serial"

wait "$qemu_pid"
rc=$?
if [ "$bailed" = 1 ]; then
  echo "probe bailed out (QEMU status $rc)" >&2
  exit 1
fi
if [ "$rc" != 0 ]; then
  echo "QEMU exited with status $rc" >&2
fi
exit "$rc"
