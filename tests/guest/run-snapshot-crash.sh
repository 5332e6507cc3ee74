#!/bin/bash
# The snapshot crash test: vivarium-vmm killed at each step of taking and
# deleting a snapshot (VIVARIUM_SNAPSHOT_CRASH_AT) and at qcow2 metadata
# writes inside a take (VIVARIUM_BLOCK_CRASH_AFTER); after each kill every
# snapshot listed must still revert and the next take must clean up
# (snapshot-crash.py beside this script says what it checks). TAP output.
# Without Python, a usable /dev/kvm or qemu-img it prints a "1..0 # SKIP"
# plan and exits 0.
#
#   run-snapshot-crash.sh PATH-TO-vivarium-vmm vivarium-probe.elf
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
exec "$python" "$(dirname "$0")/snapshot-crash.py" "$@"
