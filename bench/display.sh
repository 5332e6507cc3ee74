#!/bin/sh
# Display benchmark: the probe guest's screen through a headless SPICE
# client (tests/vmm/test-display --bench), under vivarium-vmm and under QEMU.
#   bench/display.sh [BUILD-DIR] [display.py options: --rounds N]
# Prints the latency from the guest's RESOURCE_FLUSH to the client's
# invalidate (median, p99) for 64x64 updates and full-HD full frames offered
# at 60 Hz, the frames per second the client saw for full-HD full frames
# offered at 60 and 120 Hz, and the helper's CPU use over 10 s with a still
# screen (without its vCPU threads, and in all): the median of the rounds
# for both VMMs and the ratio, >= 1.00 when we are ahead. See bench/display.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
build=$(cd "$build" && pwd)
vmm=$build/src/vmm/vivarium-vmm
probe=$build/tests/guest/vivarium-probe.elf
client=$build/tests/vmm/test-display
for f in "$vmm" "$probe" "$client"; do
  [ -f "$f" ] || { echo "display.sh: build first: $f is missing" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "display.sh: qemu-system-x86_64 is not installed" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "display.sh: /dev/kvm is missing" >&2; exit 1; }
exec /usr/bin/python3 "$here/display.py" --vmm "$vmm" --probe "$probe" --client "$client" "$@"
