#!/bin/bash
# Boots the probe guest under vivarium-vmm and passes its TAP stream (its
# COM1) to meson on stdout; the engine's log stays on stderr. Where a usable
# /dev/kvm is missing it prints a "1..0 # SKIP" plan and exits 0, which
# meson counts as a skip.
#
#   run-vmm.sh vivarium-vmm vivarium-probe.elf CPUS [extra probe options]
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

vmm=${1:?usage: run-vmm.sh vivarium-vmm vivarium-probe.elf CPUS [probe options]}
elf=${2:?usage: run-vmm.sh vivarium-vmm vivarium-probe.elf CPUS [probe options]}
cpus=${3:?usage: run-vmm.sh vivarium-vmm vivarium-probe.elf CPUS [probe options]}
shift 3

skip () {
  echo "SKIP: $*" >&2
  echo "1..0 # SKIP $*"
  exit 0
}

[ -c /dev/kvm ] || skip "/dev/kvm is missing"
{ exec 3<>/dev/kvm; } 2>/dev/null || skip "/dev/kvm cannot be opened (not in the kvm group?)"
exec 3>&-

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/serial" || exit 1

"$vmm" --kernel "$elf" --memory 64M --cpus "$cpus" --rng --serial stdio \
  --cmdline "cpus=$cpus${*:+ $*}" </dev/null >"$tmp/serial" &
vmm_pid=$!

# After a bail-out the probe halts: stop the engine rather than waiting for
# meson's timeout.
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
  echo "probe bailed out (vivarium-vmm status $rc)" >&2
  exit 1
fi
# 0 is a guest power-off; 3 a reset or triple fault, anything else an error.
if [ "$rc" != 0 ]; then
  echo "vivarium-vmm exited with status $rc (0 means the guest powered off)" >&2
fi
exit "$rc"
