#!/bin/sh
# Runs a GUI test (a GTest program in --tap mode) under its own Xvfb
# server. Where no X server can be started it skips, saying why: a
# "1..0 # SKIP" plan, which meson's TAP parser counts as a skip.
skip () {
  echo "SKIP: $1; GUI test not run" >&2
  echo "1..0 # SKIP $1"
  exit 0
}
command -v xvfb-run >/dev/null 2>&1 || skip "xvfb-run is not installed (apt-get install xvfb)"
command -v xauth >/dev/null 2>&1 || skip "xauth is not installed (apt-get install xauth)"
unset WAYLAND_DISPLAY
export GDK_BACKEND=x11
# A private session bus too, so the test neither sees nor disturbs the user's.
session=""
if command -v dbus-run-session >/dev/null 2>&1; then
  session="dbus-run-session --"
fi
exec xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24 -nolisten tcp" $session "$@"
