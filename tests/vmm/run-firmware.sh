#!/bin/sh
# SeaBIOS (and GRUB from Debian's rescue CD) under vivarium-vmm, through a
# headless SPICE client: firmware-boot.py. Skips when SeaBIOS is missing.
# run-firmware.sh VMM seabios|grub
set -eu
here=$(dirname "$0")
if [ ! -e /usr/share/seabios/bios-256k.bin ]; then
  echo "1..0 # SKIP Debian's seabios is not installed"
  exit 0
fi
if [ ! -e /dev/kvm ]; then
  echo "1..0 # SKIP no /dev/kvm"
  exit 0
fi
# Debian's interpreter, not whatever python3 is first on PATH
exec "${PYTHON:-/usr/bin/python3}" "$here/firmware-boot.py" "$@"
