#!/bin/bash
# The snapshot test: the probe in mode=snapshot under vivarium-vmm
# --machine with a qcow2 disk, its snapshots taken, reverted to, branched,
# deleted and renamed over org.vivarium.Vmm1 by snapshot-harness.py, which
# says what it checks. Without Python, a usable /dev/kvm or qemu-img it
# prints a "1..0 # SKIP" plan and exits 0.
#
#   run-snapshot.sh PATH-TO-vivarium-vmm vivarium-probe.elf
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
exec "$python" "$(dirname "$0")/snapshot-harness.py" "$@"
