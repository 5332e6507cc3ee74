#!/bin/sh
# Sets up this Debian 12 machine (packages), builds Vivarium in ./build and
# launches the app from there. Arguments are passed to the app.
set -eu
cd "$(dirname "$0")/.."

./build-aux/setup.sh
if [ ! -f build/build.ninja ]; then
  meson setup build
fi
meson compile -C build

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run.sh: no display (neither DISPLAY nor WAYLAND_DISPLAY is set)." >&2
  echo "run.sh: run this from a desktop session, or try: xvfb-run $0" >&2
fi
# meson devenv sets GSETTINGS_SCHEMA_DIR and the translation folder, so the
# app runs from the build folder without being installed.
exec meson devenv -C build ./src/app/vivarium "$@"
