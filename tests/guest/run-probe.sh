#!/bin/bash
# Boots the probe guest under QEMU or vivarium-vmm and passes its TAP stream
# (its COM1) to meson on stdout; the VMM's own messages stay on stderr.
# The VMM must exit with $PROBE_EXPECT_STATUS (default 0, a power-off).
# Where the VMM or a usable /dev/kvm is missing it prints a "1..0 # SKIP"
# plan and exits $PROBE_SKIP_STATUS (default 0: meson 1.0 counts a TAP
# test's 77 as an error, and the plan alone says "skipped").
# $PROBE_MEM is the RAM in MiB (64), also passed to the probe as mem=.
# $PROBE_DISK, if set, is a raw image given to the guest as a virtio-blk
# disk with the serial "bench" (io_uring, cache=writeback on both VMMs).
#
#   run-probe.sh qemu vivarium-probe.elf CPUS [probe options]
#   run-probe.sh PATH-TO-vivarium-vmm vivarium-probe.elf CPUS [probe options]
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

usage="usage: run-probe.sh qemu|VIVARIUM-VMM vivarium-probe.elf CPUS [probe options]"
vmm=${1:?$usage}
elf=${2:?$usage}
cpus=${3:?$usage}
shift 3
mem=${PROBE_MEM:-64}
cmdline="cpus=$cpus mem=$mem${*:+ $*}"

skip () {
  echo "SKIP: $*" >&2
  echo "1..0 # SKIP $*"
  exit "${PROBE_SKIP_STATUS:-0}"
}

if [ "$vmm" = qemu ]; then
  qemu=${QEMU:-qemu-system-x86_64}
  command -v "$qemu" >/dev/null 2>&1 || skip "$qemu is not installed"
  # -cpu host,-arch-capabilities: plain host or max fail on this machine's
  # nested KVM (MSR 0x10a). QEMU exits 0 after an ACPI power-off with
  # -no-reboot (and, alas, after a triple fault too: the TAP plan tells
  # those apart, since the probe prints it only right before powering off).
  set -- "$qemu" -accel kvm -M q35 -cpu host,-arch-capabilities -m "${mem}M" -smp "$cpus" \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel "$elf" -append "$cmdline" \
    -device virtio-rng-pci,disable-legacy=on
  if [ -n "${PROBE_DISK:-}" ]; then
    set -- "$@" -drive "file=$PROBE_DISK,if=none,id=d0,format=raw,aio=io_uring,cache=writeback" \
      -device virtio-blk-pci,drive=d0,disable-legacy=on,serial=bench
  fi
else
  # 0 is a guest power-off; 3 a reset or triple fault; anything else an error.
  set -- "$vmm" --kernel "$elf" --memory "${mem}M" --cpus "$cpus" --rng --serial stdio \
    --cmdline "$cmdline"
  if [ -n "${PROBE_DISK:-}" ]; then
    set -- "$@" --aio io_uring --disk "$PROBE_DISK,format=raw,cache=writeback,serial=bench"
  fi
fi

[ -c /dev/kvm ] || skip "/dev/kvm is missing"
{ exec 3<>/dev/kvm; } 2>/dev/null || skip "/dev/kvm cannot be opened (not in the kvm group?)"
exec 3>&-

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/serial" || exit 1

"$@" </dev/null >"$tmp/serial" &
vmm_pid=$!

# Copy the TAP stream through; after a bail-out the probe halts, so stop
# the VMM then rather than waiting for meson's timeout.
bailed=0
while IFS= read -r line; do
  printf '%s\n' "$line"
  case $line in
    'Bail out!'*)
      bailed=1
      ( sleep 5; kill "$vmm_pid" 2>/dev/null ) >/dev/null 2>&1 &
      ;;
  esac
done <"$tmp/serial"

wait "$vmm_pid"
rc=$?
if [ "$bailed" = 1 ]; then
  echo "probe bailed out ($1 status $rc)" >&2
  exit 1
fi
expect=${PROBE_EXPECT_STATUS:-0}
if [ "$rc" != "$expect" ]; then
  echo "$1 exited with status $rc, not $expect" >&2
  exit 1
fi
exit 0
