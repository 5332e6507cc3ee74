#!/bin/sh
# check-leftover-helpers.sh: the suite's last test. Fails if a test program
# of this build left helpers running: the test harness (viv-test-util.c)
# ends those when the program ends, and notes them in
# $VIVARIUM_TEST_LEFTOVERS; a vivarium-vmm started by this build's tests and
# still alive (its environment names $VIVARIUM_TEST_LEFTOVERS) counts too,
# and is ended here. The notes are reported once, then removed.
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

dir=${VIVARIUM_TEST_LEFTOVERS:?VIVARIUM_TEST_LEFTOVERS is not set}
status=0

echo "1..1"

for note in "$dir"/*; do
  [ -f "$note" ] || continue
  echo "# $(basename "$note") left helpers running:"
  sed 's/^/#   /' "$note"
  rm -f "$note"
  status=1
done

for environ in /proc/[0-9]*/environ; do
  pid=${environ#/proc/}
  pid=${pid%/environ}
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
  exe=${exe% (deleted)}
  [ "$(basename "$exe")" = vivarium-vmm ] || continue
  if tr '\0' '\n' < "$environ" 2>/dev/null | grep -qxF "VIVARIUM_TEST_LEFTOVERS=$dir"; then
    echo "# vivarium-vmm process $pid, started by a test, is still running: $(tr '\0' ' ' < "/proc/$pid/cmdline")"
    kill -KILL "$pid" 2>/dev/null
    status=1
  fi
done

if [ $status -eq 0 ]; then
  echo "ok 1 no test left a helper running"
else
  echo "not ok 1 tests left helpers running (see above)"
fi
exit $status
