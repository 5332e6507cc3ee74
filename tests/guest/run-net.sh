#!/bin/bash
# The virtio-net tests: the probe in mode=net under QEMU or vivarium-vmm
# with a user-mode (slirp) network, a host TCP server for the probe's
# client and a forward to the probe's server; net-harness.py plays the
# host side of both exchanges and passes the probe's TAP through with its
# own checks after it, under one plan. Without Python, a usable /dev/kvm
# or (for qemu) QEMU it prints a "1..0 # SKIP" plan and exits 0.
#
#   run-net.sh qemu|PATH-TO-vivarium-vmm vivarium-probe.elf [--bench tx|rx|ping] [--bytes N]
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
exec "$python" "$(dirname "$0")/net-harness.py" "$@"
