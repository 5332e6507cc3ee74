#!/bin/sh
# Runs a GUI test under its own Xvfb server. Exits 77 (skip), saying why,
# when no X server can be started here.
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "SKIP: xvfb-run is not installed (apt-get install xvfb xauth); GUI test not run" >&2
  exit 77
fi
if ! command -v xauth >/dev/null 2>&1; then
  echo "SKIP: xauth is not installed (apt-get install xauth); GUI test not run" >&2
  exit 77
fi
unset WAYLAND_DISPLAY
export GDK_BACKEND=x11
# A private session bus too, so the test neither sees nor disturbs the user's.
session=""
if command -v dbus-run-session >/dev/null 2>&1; then
  session="dbus-run-session --"
fi
exec xvfb-run --auto-servernum --server-args="-screen 0 1280x800x24 -nolisten tcp" $session "$@"
