#!/bin/sh
# Disk benchmark: the probe guest's disk workloads under vivarium-vmm and
# under QEMU, on the same image files.
#   bench/disk.sh [BUILD-DIR] [disk.py options: --secs S --rounds N
#                 --cache none|writeback|both --format raw|qcow2|both
#                 --workload randread|randwrite|seqread|seqwrite|all
#                 --peer qemu|OTHER-VIVARIUM-VMM --dir DIR --size 1G]
# Prints, for raw and qcow2 images (1 GiB, fully written before anything is
# measured), 4 KiB random read and write IOPS and sequential read and write
# MiB/s (128 KiB requests), 32 requests in flight, for both VMMs, and the
# ratio ours / QEMU: the median of the rounds' ratios, each between two runs
# back to back, with their range. See bench/disk.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
build=$(cd "$build" && pwd)
vmm=$build/src/vmm/vivarium-vmm
probe=$build/tests/guest/vivarium-probe.elf
[ -x "$vmm" ] || { echo "disk.sh: build first: $vmm is missing" >&2; exit 1; }
[ -f "$probe" ] || { echo "disk.sh: build first: $probe is missing" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "disk.sh: qemu-system-x86_64 is not installed" >&2; exit 1; }
command -v qemu-img >/dev/null || { echo "disk.sh: qemu-img is not installed" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "disk.sh: /dev/kvm is missing" >&2; exit 1; }
exec /usr/bin/python3 "$here/disk.py" --vmm "$vmm" --probe "$probe" "$@"
