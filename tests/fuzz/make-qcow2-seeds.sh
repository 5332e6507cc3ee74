#!/bin/sh
# Makes the seed images of the qcow2 fuzz target (corpus/qcow2) with
# qemu-img and qemu-io: small (512-byte clusters, 1 MiB disks) so that
# mutations reach every table. The committed files are what the tests use;
# this is how they were made (snapshots carry their date, so a new run
# differs in those bytes).
#
#   tests/fuzz/make-qcow2-seeds.sh [DIR]     (default tests/fuzz/corpus/qcow2)
set -eu
out=${1:-$(dirname "$0")/corpus/qcow2}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

new () { qemu-img create -q -f qcow2 -o cluster_size=512 "$@"; }
io () { f=$1; shift; for c in "$@"; do qemu-io -f qcow2 -c "$c" "$f" >/dev/null; done; }
# putn FILE OFFSET BYTES VALUE: VALUE as a big-endian number of BYTES bytes
putn () {
  v=$4 bytes=""
  n=0
  while [ $n -lt "$3" ]; do
    bytes="$(printf '\\%03o' $((v & 255)))$bytes"
    v=$((v >> 8))
    n=$((n + 1))
  done
  printf "$bytes" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
put64 () { putn "$1" "$2" 8 "$3"; }
put32 () { putn "$1" "$2" 4 "$3"; }
get64 () { od -An -tx1 -j "$2" -N 8 "$1" | tr -d ' \n' | sed 's/^/0x/'; }
get32 () { od -An -tx1 -j "$2" -N 4 "$1" | tr -d ' \n' | sed 's/^/0x/'; }

new "$tmp/plain.qcow2" 1M
io "$tmp/plain.qcow2" 'write -P 0x11 0 4k' 'write -P 0x22 300k 1k' 'write -z 600k 2k'
cp "$tmp/plain.qcow2" "$out/plain.qcow2"

cp "$tmp/plain.qcow2" "$tmp/snap.qcow2"
qemu-img snapshot -c first "$tmp/snap.qcow2"
io "$tmp/snap.qcow2" 'write -P 0x33 0 2k'
qemu-img snapshot -c second "$tmp/snap.qcow2"
cp "$tmp/snap.qcow2" "$out/snapshots.qcow2"

qemu-img convert -c -O qcow2 -o cluster_size=512 "$tmp/plain.qcow2" "$out/compressed-zlib.qcow2"
qemu-img convert -c -O qcow2 -o cluster_size=512,compression_type=zstd "$tmp/plain.qcow2" \
  "$out/compressed-zstd.qcow2"
qemu-img convert -O qcow2 -o cluster_size=512,compat=0.10 "$tmp/plain.qcow2" "$out/v2.qcow2"
qemu-img convert -O qcow2 -o cluster_size=512,refcount_bits=1 "$tmp/plain.qcow2" \
  "$out/refcount-bits-1.qcow2"
qemu-img convert -O qcow2 -o cluster_size=512,refcount_bits=64 "$tmp/plain.qcow2" \
  "$out/refcount-bits-64.qcow2"

# dirty: lazy refcounts and the dirty bit set
new -o lazy_refcounts=on "$tmp/dirty.qcow2" 1M
io "$tmp/dirty.qcow2" 'write -P 0x44 0 8k'
put64 "$tmp/dirty.qcow2" 72 1
cp "$tmp/dirty.qcow2" "$out/dirty.qcow2"

# bitmaps: one that tracks writes, with data, and a disabled one
new "$tmp/bitmaps.qcow2" 1M
qemu-img bitmap --add "$tmp/bitmaps.qcow2" tracking
qemu-img bitmap --add --disable "$tmp/bitmaps.qcow2" frozen
io "$tmp/bitmaps.qcow2" 'write -P 0x55 0 4k'
cp "$tmp/bitmaps.qcow2" "$out/bitmaps.qcow2"

# Issue 16, bug 4: a dirty image whose 300 snapshots share one L1 table of
# 2048 entries that all point to one L2 table: the refcount repair walked
# that L2 table 600 000 times.
f=$tmp/dirty-snapshots.qcow2
new "$f" 64M
io "$f" 'write -P 0x66 0 512'
l1=$(($(get64 "$f" 40)))
l1_size=$(($(get32 "$f" 36)))
l2=$(($(get64 "$f" "$l1") & 0x00fffffffffffe00))
i=0
while [ $i -lt "$l1_size" ]; do
  put64 "$f" $((l1 + 8 * i)) "$l2"
  i=$((i + 1))
done
size=$(stat -c %s "$f")
table=$(( (size + 511) / 512 * 512 ))
# one entry, 64 bytes: L1 offset and size, id and name of one byte each,
# 16 bytes of extra data, id "1" and name "s"
entry=$tmp/entry
: >"$entry"
put64 "$entry" 0 "$l1"
put32 "$entry" 8 "$l1_size"
printf '\000\001\000\001' | dd of="$entry" bs=1 seek=12 conv=notrunc 2>/dev/null
put32 "$entry" 36 16
printf '1s' | dd of="$entry" bs=1 seek=56 conv=notrunc 2>/dev/null
truncate -s 64 "$entry"
i=0
while [ $i -lt 300 ]; do cat "$entry"; i=$((i + 1)); done |
  dd of="$f" bs=512 seek=$((table / 512)) conv=notrunc 2>/dev/null
put32 "$f" 60 300
put64 "$f" 64 "$table"
put64 "$f" 72 1
put64 "$f" 80 1
cp "$f" "$out/issue16-dirty-snapshots.qcow2"

ls -l "$out"
