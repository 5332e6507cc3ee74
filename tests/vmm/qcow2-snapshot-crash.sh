#!/bin/sh
# qcow2 snapshot operations killed at every metadata write; the image left
# must pass qemu-img check (leaks allowed) and show the old state or the new
# one (qcow2-snapshot-crash.py beside this script says how). TAP output.
# Without Python or qemu-img it prints a "1..0 # SKIP" plan and exits 0.
#
#   qcow2-snapshot-crash.sh PATH-TO-vivarium-vmm
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
python=${PYTHON:-/usr/bin/python3}
if [ ! -x "$python" ]; then
  echo "1..0 # SKIP $python is not installed"
  exit 0
fi
exec "$python" "$(dirname "$0")/qcow2-snapshot-crash.py" "$@"
