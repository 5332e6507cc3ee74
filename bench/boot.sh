#!/bin/sh
# Boot benchmark: the probe guest under vivarium-vmm and under QEMU.
#   bench/boot.sh [BUILD-DIR] [RUNS]
# Prints the median time from process start to the guest's power-off, and
# the peak RSS minus the guest RAM touched, for both, with their ratios.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
runs=${2:-10}
vmm=$build/src/vmm/vivarium-vmm
probe=$build/tests/guest/vivarium-probe.elf
[ -x "$vmm" ] || { echo "boot.sh: build first: $vmm is missing" >&2; exit 1; }
[ -f "$probe" ] || { echo "boot.sh: build first: $probe is missing" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "boot.sh: qemu-system-x86_64 is not installed" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "boot.sh: /dev/kvm is missing" >&2; exit 1; }
exec /usr/bin/python3 "$here/boot.py" --vmm "$vmm" --probe "$probe" --runs "$runs"
