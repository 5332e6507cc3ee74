#!/bin/sh
# Snapshot benchmark: save and restore-to-running of the probe guest with
# half its memory touched, under vivarium-vmm (TakeSnapshot and
# RevertSnapshot over D-Bus) and QEMU (savevm, loadvm + cont over QMP),
# 256 MiB, 1 GiB and 4 GiB, in one run. See bench/snapshot.py.
#   bench/snapshot.sh [BUILD-DIR] [snapshot.py options: --rounds N --sizes 256,1024]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
build=$(cd "$build" && pwd)
vmm=$build/src/vmm/vivarium-vmm
probe=$build/tests/guest/vivarium-probe.elf
[ -f "$vmm" ] && [ -f "$probe" ] || { echo "snapshot.sh: build first" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "snapshot.sh: qemu-system-x86_64 is not installed" >&2; exit 1; }
exec /usr/bin/python3 "$here/snapshot.py" --vmm "$vmm" --probe "$probe" --dir "$build" "$@"
