#!/bin/sh
# Runs a GUI test (a GTest program in --tap mode) under its own Xvfb
# server. Where no X server can be started it skips, saying why: a
# "1..0 # SKIP" plan, which meson's TAP parser counts as a skip.
#
# Xvfb picks a free display number itself (-displayfd) and says it once it
# takes connections, so GUI tests running side by side never race for one
# (xvfb-run's --auto-servernum can: two servers try the same number).
skip () {
  echo "SKIP: $1; GUI test not run" >&2
  echo "1..0 # SKIP $1"
  exit 0
}
command -v Xvfb >/dev/null 2>&1 || skip "Xvfb is not installed (apt-get install xvfb)"
unset WAYLAND_DISPLAY
export GDK_BACKEND=x11
session=""
if command -v dbus-run-session >/dev/null 2>&1; then
  session="dbus-run-session --"
fi

tmp=$(mktemp -d) || exit 1
xvfb=
cleanup () {
  if [ -n "$xvfb" ]; then
    kill "$xvfb" 2>/dev/null
    wait "$xvfb" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Local clients only (no TCP); a unix socket needs no cookie
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" 2>"$tmp/xvfb.log" &
xvfb=$!
i=0
while [ ! -s "$tmp/display" ] && [ $i -lt 600 ] && kill -0 "$xvfb" 2>/dev/null; do
  sleep 0.1
  i=$((i + 1))
done
if [ ! -s "$tmp/display" ]; then
  echo "Xvfb did not start:" >&2
  cat "$tmp/xvfb.log" >&2
  exit 1
fi
DISPLAY=:$(head -n 1 "$tmp/display")
export DISPLAY

$session "$@"
status=$?
exit $status
