#!/bin/sh
# Network benchmark: the probe guest's TCP throughput through user-mode
# networking, guest to host and host to guest, and its ICMP round trip to
# the gateway, under vivarium-vmm (virtio-net, libslirp) and QEMU
# (virtio-net-pci, -netdev user), in one run (tests/guest/run-net.sh
# --bench does each measurement).
#   bench/net.sh [BUILD-DIR] [net.py options: --rounds N --bytes N]
# Prints the median of the rounds for both VMMs and the ratio, >= 1.00
# when we are ahead. See bench/net.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
build=$(cd "$build" && pwd)
vmm=$build/src/vmm/vivarium-vmm
probe=$build/tests/guest/vivarium-probe.elf
[ -f "$vmm" ] && [ -f "$probe" ] || { echo "net.sh: build first: $vmm or $probe is missing" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "net.sh: qemu-system-x86_64 is not installed" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "net.sh: /dev/kvm is missing" >&2; exit 1; }
exec /usr/bin/python3 "$here/net.py" --vmm "$vmm" --probe "$probe" \
  --run-net "$here/../tests/guest/run-net.sh" "$@"
