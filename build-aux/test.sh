#!/bin/sh
# Sets up this Debian 12 machine (packages), builds Vivarium and runs the
# whole test suite: once in ./build, and once more in ./build-sanitize under
# AddressSanitizer and UndefinedBehaviorSanitizer. With CI=true, warnings are
# errors.
set -eu
cd "$(dirname "$0")/.."

./build-aux/setup.sh

werror=false
if [ "${CI:-}" = true ]; then
  werror=true
fi

configure () {
  dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" -Dwerror=$werror "$@"
  else
    meson setup "$dir" -Dwerror=$werror "$@"
  fi
}

configure build
meson compile -C build
meson test -C build --print-errorlogs --num-processes 2

configure build-sanitize -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-sanitize
meson test -C build-sanitize --print-errorlogs --num-processes 2
