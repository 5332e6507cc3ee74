#!/bin/sh
# Wizard benchmark: the time from choosing a Debian installer disc image in
# the New Machine wizard to the review step drawn, all filled in (libosinfo
# detection in a worker thread, resources proposed, name made), in the real
# app under its own Xvfb.
#   bench/wizard.sh [BUILD-DIR] [RUNS]
# Each run is the app-wizard test's /wizard/iso case (tests/app/test-wizard.c),
# which times it from the wizard.choose-iso action to the first frame of the
# review page, with the OS list already loaded (as when a person has taken
# a second to pick the file). Prints each run and the median.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
runs=${2:-10}
test=$build/tests/app/test-wizard
[ -x "$test" ] || { echo "wizard.sh: build first: $test is missing" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "wizard.sh: xvfb-run is not installed (apt-get install xvfb)" >&2; exit 1; }

export GSETTINGS_BACKEND=memory GSETTINGS_SCHEMA_DIR="$build/data" \
  VIVARIUM_LOCALEDIR="$build/po" LC_ALL=C.UTF-8 NO_AT_BRIDGE=1 GTK_A11Y=none
shots=$(mktemp -d)
trap 'rm -rf "$shots"' EXIT
export VIVARIUM_SCREENSHOT_DIR="$shots"
results=""
i=0
while [ "$i" -lt "$runs" ]; do
  i=$((i + 1))
  out=$("$here/../tests/app/xvfb-wrapper.sh" "$test" --tap -p /wizard/iso 2>&1) || {
    echo "$out" >&2; echo "wizard.sh: run $i failed" >&2; exit 1; }
  ms=$(echo "$out" | sed -n 's/.*iso-to-review: \([0-9.]*\) ms.*/\1/p')
  case $out in *"/wizard/iso # SKIP"*) echo "wizard.sh: skipped: $out" >&2; exit 1 ;; esac
  [ -n "$ms" ] || { echo "$out" >&2; echo "wizard.sh: no timing in run $i" >&2; exit 1; }
  echo "run $i: $ms ms"
  results="$results $ms"
done
echo "$results" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '
  { v[NR] = $1 }
  END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "ISO chosen -> review drawn: median %.1f ms, min %.1f ms, max %.1f ms (%d runs)\n", m, v[1], v[NR], NR }'
