#!/bin/bash
# A kernel booted through the firmware (--firmware bios --kernel, as QEMU's
# -kernel with SeaBIOS): fwkernel.S, a bzImage that only the boot
# protocol's real-mode path starts, prints on COM1 what its loader told it
# and what it finds in memory; this checks that against the files it was
# given. Under vivarium-vmm, then under QEMU q35 as the cross-check. TAP.
#
#   run-fwkernel.sh VIVARIUM-VMM fwkernel.bin
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

usage="usage: run-fwkernel.sh VIVARIUM-VMM fwkernel.bin"
vmm=${1:?$usage}
kernel=${2:?$usage}
qemu=${QEMU:-qemu-system-x86_64}

skip () {
  echo "1..0 # SKIP $*"
  exit 0
}
[ -e /usr/share/seabios/bios-256k.bin ] || skip "Debian's seabios is not installed"
[ -e /usr/share/qemu/linuxboot_dma.bin ] || skip "Debian's qemu-system-data is not installed"
[ -c /dev/kvm ] || skip "/dev/kvm is missing"
{ exec 3<>/dev/kvm; } 2>/dev/null || skip "/dev/kvm cannot be opened"
exec 3>&-

tmp=$(mktemp -d) || exit 1
pid=
cleanup () {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# An initrd of 40961 bytes (not a page multiple) that is not all one byte
head -c 40961 /dev/urandom >"$tmp/initrd"
sum=$(od -An -v -tu1 "$tmp/initrd" | tr -s ' ' '\n' | awk '{ s += $1 } END { printf "%08x", s % 4294967296 }')
size=$(printf '%08x' 40961)
cmdline="console=ttyS0 vivarium.test=fwkernel with spaces"

n=0
ok () { n=$((n + 1)); echo "ok $n - $*"; }
not_ok () { n=$((n + 1)); echo "not ok $n - $*"; }
check () { # check DESCRIPTION CONDITION...
  desc=$1; shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# run NAME COMMAND...: COM1 into $tmp/NAME.log until "fwkernel: done"
run () {
  name=$1; shift
  log=$tmp/$name.log
  : >"$log"
  "$@" >"$log" 2>"$tmp/$name.err" </dev/null &
  pid=$!
  # SeaBIOS's real-mode code is emulated here (a few seconds); a loaded
  # machine takes longer, so the wait is long and ends at the line
  for _ in $(seq 1200); do
    grep -q '^fwkernel: done' "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=
  if ! grep -q '^fwkernel: done' "$log"; then
    not_ok "$name: the kernel ran to its end"
    sed 's/^/# /' "$log" "$tmp/$name.err" | tail -20
    return
  fi
  ok "$name: the kernel ran to its end"
  line1=$(grep '^fwkernel: loader=' "$log")
  line2=$(grep '^fwkernel: initrd-sum=' "$log")
  check "$name: the loader says it is QEMU's (0xb0)" \
    grep -q '^fwkernel: loader=b0 ' <<<"$line1"
  check "$name: the command line arrived whole" \
    grep -qF " cmdline=$cmdline initrd=" <<<"$line1"
  addr=${line1##* initrd=}; addr=${addr%%,*}
  check "$name: the initrd's size is in the header" grep -q ",$size\$" <<<"$line1"
  # page-aligned, above the kernel, below the 128 MiB the machine has
  check "$name: the initrd is page-aligned in RAM (at 0x$addr)" \
    test $((16#$addr % 4096)) -eq 0 -a $((16#$addr)) -ge $((0x100000)) \
    -a $((16#$addr + 40961)) -le $((128 << 20))
  check "$name: the initrd's bytes are where the header says" \
    grep -q "initrd-sum=$sum " <<<"$line2"
  check "$name: the whole protected-mode kernel is at 1 MiB" \
    grep -q ' tail=7a11ed0c$' <<<"$line2"
}

run vivarium-vmm "$vmm" --firmware bios --memory 128M --serial stdio \
  --kernel "$kernel" --initrd "$tmp/initrd" --cmdline "$cmdline"
if command -v "$qemu" >/dev/null 2>&1; then
  run qemu "$qemu" -accel kvm -M q35 -m 128M -nodefaults -display none -serial stdio \
    -kernel "$kernel" -initrd "$tmp/initrd" -append "$cmdline"
else
  echo "# $qemu is not installed: no cross-check"
fi
echo "1..$n"
