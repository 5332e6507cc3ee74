#!/bin/sh
# Firmware benchmark: SeaBIOS from Debian's package booting Debian's GRUB
# rescue CD, under vivarium-vmm (--firmware bios --cdrom) and under QEMU q35
# (the same SeaBIOS, disc and memory; its std VGA), seen through a headless
# SPICE client (tests/vmm/spice_screen.py).
#   bench/firmware.sh [BUILD-DIR] [firmware.py options: --rounds N]
# Prints the time from process start to SeaBIOS's first screen output and
# to GRUB's menu on screen: the median of the rounds for both VMMs and the
# ratio, >= 1.00 when we are ahead. See bench/firmware.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
build=$(cd "$build" && pwd)
vmm=$build/src/vmm/vivarium-vmm
[ -f "$vmm" ] || { echo "firmware.sh: build first: $vmm is missing" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "firmware.sh: qemu-system-x86_64 is not installed" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "firmware.sh: /dev/kvm is missing" >&2; exit 1; }
[ -f /usr/lib/grub-rescue/grub-rescue-cdrom.iso ] || { echo "firmware.sh: install grub-rescue-pc" >&2; exit 1; }
exec /usr/bin/python3 "$here/firmware.py" --vmm "$vmm" "$@"
