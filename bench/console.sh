#!/bin/sh
# Console benchmark: the probe guest's screen in the app's widget (VivDisplay,
# bench/console-bench.c) against GNOME Boxes' route, Debian's remote-viewer
# (GTK 3, spice-gtk) on the helper's ListenDisplay socket, each under its
# own Xvfb.
#   bench/console.sh [BUILD-DIR] [console.py options: --rounds N, --one-to-one]
# Prints the latency from the guest's RESOURCE_FLUSH to the frame that shows
# it (median, p99) for 64x64 updates and full-HD full frames at 10 Hz, the
# frames per second shown of full-HD frames offered at 60 Hz, and the
# client's CPU use over 10 s with a still screen: ours at the widget's frame
# clock and at the X server, with GTK's default renderer and with cairo;
# remote-viewer at the X server. Medians of the rounds, and the ratio,
# >= 1.00 when we are ahead. See bench/console.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
build=$(cd "$build" && pwd)
vmm=$build/src/vmm/vivarium-vmm
probe=$build/tests/guest/vivarium-probe.elf
client=$build/tests/app/console-bench
for f in "$vmm" "$probe" "$client"; do
  [ -f "$f" ] || { echo "console.sh: build first: $f is missing (ninja -C $build ${f#$build/})" >&2; exit 1; }
done
command -v xvfb-run >/dev/null || { echo "console.sh: xvfb-run is not installed (apt-get install xvfb)" >&2; exit 1; }
command -v remote-viewer >/dev/null || { echo "console.sh: remote-viewer is not installed (apt-get install virt-viewer)" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "console.sh: /dev/kvm is missing" >&2; exit 1; }
exec /usr/bin/python3 "$here/console.py" --vmm "$vmm" --probe "$probe" --client "$client" "$@"
