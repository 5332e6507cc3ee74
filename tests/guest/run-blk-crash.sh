#!/bin/bash
# The crash test: vivarium-vmm is killed with SIGKILL again and again while
# the probe guest writes and flushes records on one qcow2 image; after each
# kill the image must pass qemu-img check (leaks allowed, and reported) and
# vivarium-vmm img check, and everything the guest saw flushed must be
# there (blk-crash.py beside this script says how). TAP output. Without Python, a
# usable /dev/kvm or qemu-img it prints a "1..0 # SKIP" plan and exits 0.
#
#   run-blk-crash.sh PATH-TO-vivarium-vmm vivarium-probe.elf [--aio io_uring|threads]
#                [--kills N] [--seed S]
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

python=${PYTHON:-/usr/bin/python3}
if [ ! -x "$python" ]; then
  echo "SKIP: $python is not installed" >&2
  echo "1..0 # SKIP $python is not installed"
  exit 0
fi
exec "$python" "$(dirname "$0")/blk-crash.py" "$@"
