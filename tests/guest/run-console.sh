#!/bin/bash
# The console tests: boots the probe guest under vivarium-vmm or QEMU with a
# virtio-console (port 0 on a socket) and two named ports (one on a socket,
# one with nothing behind it), and plays the host side through the sockets
# (console-harness.py). The probe's TAP stream (its COM1) is the test's
# output; the host's checks reach it as input on the ports, so there is one
# plan. Where the VMM, Python or a usable /dev/kvm is missing it prints a
# "1..0 # SKIP" plan and exits $PROBE_SKIP_STATUS (default 0).
#
# With --backends first, it checks vivarium-vmm's backends (stdio, file,
# sockets in the way, bad names) from the outside instead.
#
#   run-console.sh qemu vivarium-probe.elf
#   run-console.sh PATH-TO-vivarium-vmm vivarium-probe.elf
#   run-console.sh --backends PATH-TO-vivarium-vmm vivarium-probe.elf
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

usage="usage: run-console.sh [--backends] qemu|VIVARIUM-VMM vivarium-probe.elf"
mode=()
if [ "${1:-}" = --backends ]; then
  mode=(--backends)
  shift
fi
vmm=${1:?$usage}
elf=${2:?$usage}

skip () {
  echo "SKIP: $*" >&2
  echo "1..0 # SKIP $*"
  exit "${PROBE_SKIP_STATUS:-0}"
}

# Debian's interpreter, not whatever python3 is first on PATH
python=${PYTHON:-/usr/bin/python3}
[ -x "$python" ] || skip "$python is not installed"
if [ "$vmm" = qemu ]; then
  qemu=${QEMU:-qemu-system-x86_64}
  command -v "$qemu" >/dev/null 2>&1 || skip "$qemu is not installed"
fi
[ -c /dev/kvm ] || skip "/dev/kvm is missing"
{ exec 3<>/dev/kvm; } 2>/dev/null || skip "/dev/kvm cannot be opened (not in the kvm group?)"
exec 3>&-

exec "$python" "$(dirname "$0")/console-harness.py" "${mode[@]}" "$vmm" "$elf"
