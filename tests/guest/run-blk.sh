#!/bin/bash
# The virtio-blk tests: builds disk images (qemu-img, qemu-io, vivarium-vmm
# img) in a temporary folder, boots the probe guest under vivarium-vmm or
# QEMU with all of them attached, and checks the images on the host
# afterwards (blk-harness.py). One TAP stream, the probe's lines and then
# the host's, with one plan. Without Python, a usable /dev/kvm, qemu-img or
# (with --qemu) QEMU it prints a "1..0 # SKIP" plan and exits 0.
#
#   run-blk.sh [--aio io_uring|threads] PATH-TO-vivarium-vmm vivarium-probe.elf
#   run-blk.sh --qemu PATH-TO-vivarium-vmm vivarium-probe.elf
#
# (vivarium-vmm is needed under QEMU too: its img command builds the images.)
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

# Debian's interpreter, not whatever python3 is first on PATH
python=${PYTHON:-/usr/bin/python3}
if [ ! -x "$python" ]; then
  echo "SKIP: $python is not installed" >&2
  echo "1..0 # SKIP $python is not installed"
  exit 0
fi
exec "$python" "$(dirname "$0")/blk-harness.py" "$@"
