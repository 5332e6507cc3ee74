#!/bin/sh
# Runs one fuzz target under libFuzzer for a while:
#
#   tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#
# Builds build-fuzz/ (clang, -Dfuzzing=true, AddressSanitizer and
# UndefinedBehaviorSanitizer) the first time, then fuzzes TARGET starting
# from its seed corpus (tests/fuzz/corpus/TARGET), keeping what it finds new
# in build-fuzz/corpus/TARGET. An input that runs longer than 10 s is a
# finding (-timeout), as is a crash or a sanitizer report: libFuzzer writes
# it to build-fuzz/findings/TARGET/. Put a finding, once fixed, in the seed
# corpus, named for the bug, with its regression test.
set -eu
cd "$(dirname "$0")/../.."

if [ $# -lt 2 ]; then
  echo "usage: $0 TARGET SECONDS [libFuzzer options...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2

VIVARIUM_EXTRA_PACKAGES="clang libclang-rt-14-dev" ./build-aux/setup.sh >/dev/null
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized
else
  ninja -C build-fuzz build.ninja >/dev/null   # targets added since it was set up
fi
meson compile -C build-fuzz "tests/fuzz/fuzz-$target"

mkdir -p "build-fuzz/corpus/$target" "build-fuzz/findings/$target"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec "build-fuzz/tests/fuzz/fuzz-$target" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
  -artifact_prefix="build-fuzz/findings/$target/" \
  "$@" "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target"
