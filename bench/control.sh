#!/bin/sh
# Control benchmark: spawn to "running", and PowerButton to exit, for
# vivarium-vmm --machine with the probe guest in idle mode.
#   bench/control.sh [BUILD-DIR] [RUNS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
runs=${2:-10}
vmm=$build/src/vmm/vivarium-vmm
probe=$build/tests/guest/vivarium-probe.elf
[ -x "$vmm" ] || { echo "control.sh: build first: $vmm is missing" >&2; exit 1; }
[ -f "$probe" ] || { echo "control.sh: build first: $probe is missing" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "control.sh: /dev/kvm is missing" >&2; exit 1; }
exec /usr/bin/python3 "$here/control.py" --vmm "$vmm" --probe "$probe" --runs "$runs"
