#!/bin/sh
# App start benchmark: the time from starting `vivarium` to the first frame
# that shows the collection, with a library of MACHINES machines (default
# 500) in a private XDG_DATA_HOME, under its own Xvfb.
#   bench/app-start.sh [BUILD-DIR] [RUNS] [MACHINES]
# Prints each run and the median. The app reports the frame itself when
# VIVARIUM_TIMING is set (see viv-window.c).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
runs=${2:-10}
machines=${3:-500}
app=$build/src/app/vivarium
[ -x "$app" ] || { echo "app-start.sh: build first: $app is missing" >&2; exit 1; }
command -v Xvfb >/dev/null || { echo "app-start.sh: Xvfb is not installed (apt-get install xvfb)" >&2; exit 1; }
command -v dbus-run-session >/dev/null || { echo "app-start.sh: dbus-run-session is missing (apt-get install dbus)" >&2; exit 1; }
exec dbus-run-session -- /usr/bin/python3 "$here/app-start.py" --app "$app" --build "$build" \
  --runs "$runs" --machines "$machines"
