#!/bin/bash
# The AHCI tests: the probe in mode=ahci with a raw SATA disk and a CD-ROM
# under vivarium-vmm or QEMU, and the host's check of the disk image
# afterwards (ahci-harness.py). One TAP stream, one plan. Without Python,
# a usable /dev/kvm or (for qemu) QEMU it prints a "1..0 # SKIP" plan.
#
#   run-ahci.sh qemu|PATH-TO-vivarium-vmm vivarium-probe.elf
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

python=${PYTHON:-/usr/bin/python3}
if [ ! -x "$python" ]; then
  echo "SKIP: $python is not installed" >&2
  echo "1..0 # SKIP $python is not installed"
  exit 0
fi
exec "$python" "$(dirname "$0")/ahci-harness.py" "$@"
