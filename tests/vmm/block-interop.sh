#!/bin/sh
# The block layer against QEMU's own tool: images vivarium-vmm writes pass
# qemu-img check and read back identically in qemu-img; images qemu-img
# writes (backing files, compression, snapshots, version 2, other refcount
# widths) read identically in vivarium-vmm. TAP output.
#
# Usage: block-interop.sh PATH-TO-vivarium-vmm
# Skips (1..0) when qemu-img is not installed.
set -u
VMM=${1:?usage: block-interop.sh PATH-TO-vivarium-vmm}
case $VMM in /*) ;; *) VMM=$(pwd)/$VMM ;; esac

if ! command -v qemu-img >/dev/null 2>&1; then
  echo "1..0 # SKIP qemu-img is not installed"
  exit 0
fi

n=0
failed=0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1

ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () {
  n=$((n + 1)); failed=1; echo "not ok $n - $1"
  sed 's/^/# /' "$dir/log" 2>/dev/null
}
skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# t DESCRIPTION COMMAND...: one test, its output kept for the report
t () {
  desc=$1; shift
  if "$@" >"$dir/log" 2>&1; then ok "$desc"; else not_ok "$desc"; fi
}

img () { "$VMM" img "$@"; }
# qemu-img check's exit status
qcheck () { qemu-img check "$@" >/dev/null 2>&1; echo $?; }
# our check's exit status
vcheck () { img check "$1" >/dev/null 2>&1; echo $?; }
# the value of a top-level number or string in qemu-img info --output=json
qinfo () {
  qemu-img info --output=json "$1" |
    sed -n "s/^    \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" | head -n 1
}
# the guest's view of an image, as qemu-img and as we see it
same_as_qemu () {
  rm -f "$dir/q.raw" "$dir/v.raw"
  qemu-img convert -O raw "$1" "$dir/q.raw" && img dump "$1" "$dir/v.raw" &&
    cmp "$dir/q.raw" "$dir/v.raw"
}

# ---- images we create --------------------------------------------------------

for cs in 512 4096 65536 2097152; do
  f=c$cs.qcow2
  t "create qcow2 with $cs-byte clusters" img create -f qcow2 -o cluster_size=$cs "$f" 64M
  t "qemu-img check passes ($cs)" test "$(qcheck "$f")" = 0
  t "qemu-img info agrees ($cs)" \
    test "$(qinfo "$f" format)/$(qinfo "$f" virtual-size)/$(qinfo "$f" cluster-size)" \
         = "qcow2/67108864/$cs"
done

t "create raw" img create -f raw r.raw 10M
t "qemu-img info agrees (raw)" \
  test "$(qinfo r.raw format)/$(qinfo r.raw virtual-size)" = "raw/10485760"

t "create a base" img create -f qcow2 base.qcow2 64M
t "create an overlay" img create -f qcow2 -b base.qcow2 -F qcow2 over.qcow2
t "qemu-img check passes (overlay)" test "$(qcheck over.qcow2)" = 0
t "qemu-img info agrees (overlay)" \
  test "$(qinfo over.qcow2 backing-filename)/$(qinfo over.qcow2 backing-filename-format)/$(
          qinfo over.qcow2 virtual-size)" = "base.qcow2/qcow2/67108864"
t "create a 2 MiB-cluster overlay of a raw image" \
  img create -b r.raw -F raw -o cluster_size=2M over-raw.qcow2
t "qemu-img info agrees (overlay of raw)" \
  test "$(qinfo over-raw.qcow2 backing-filename-format)/$(qinfo over-raw.qcow2 virtual-size)" \
       = "raw/10485760"

# ---- data we write --------------------------------------------------------------

# write OFFSET LEN SEED into our qcow2 IMAGE and into the raw reference REF
wr () { img write-pattern "$1" "$3" "$4" "$5" && img write-pattern -f raw "$2" "$3" "$4" "$5"; }

# the same operations on our image F and on the raw reference R
our_writes () {
  wr "$1" "$2" 0 4096 1 && wr "$1" "$2" 1000000 3000000 2 && wr "$1" "$2" 67107840 1024 3 &&
    wr "$1" "$2" 2000000 100 4 &&
    img discard "$1" 1048576 1048576 && img write-zeroes -f raw "$2" 1048576 1048576 &&
    img write-zeroes "$1" 3000000 70000 && img write-zeroes -f raw "$2" 3000000 70000
}

for cs in 512 4096 65536 2097152; do
  f=c$cs.qcow2
  img create -f raw ref$cs.raw 64M >/dev/null
  t "our writes ($cs)" our_writes "$f" ref$cs.raw
  t "qemu-img check passes after our writes ($cs)" test "$(qcheck "$f")" = 0
  t "qemu-img compare: the same data ($cs)" qemu-img compare -f qcow2 -F raw "$f" ref$cs.raw
done

qemu-img convert -O raw base.qcow2 base-ref.raw
t "write into the base" wr base.qcow2 base-ref.raw 0 8000000 10
cp base-ref.raw over-ref.raw
t "write into the overlay" wr over.qcow2 over-ref.raw 65000 300000 11
discard_both () { img discard "$1" "$3" "$4" && img write-zeroes -f raw "$2" "$3" "$4"; }
t "discard in the overlay" discard_both over.qcow2 over-ref.raw 4194304 131072
t "qemu-img check passes (written overlay)" test "$(qcheck over.qcow2)" = 0
t "qemu-img compare (overlay)" qemu-img compare over.qcow2 over-ref.raw
t "qemu-img compare (base untouched)" qemu-img compare base.qcow2 base-ref.raw
t "our check agrees on a clean image" test "$(vcheck over.qcow2)" = 0

# ---- images qemu-img makes ----------------------------------------------------------

# a source with incompressible, compressible and empty parts
img create -f raw src.raw 16M >/dev/null
img write-pattern -f raw src.raw 0 2000000 20 >/dev/null
img write-pattern -f raw src.raw 9000000 1000000 21 >/dev/null
yes "Vivarium compresses well. " | head -c 3000000 |
  dd of=src.raw bs=64k seek=48 conv=notrunc 2>/dev/null

make_qover () {
  qemu-img create -f qcow2 qbase.qcow2 16M &&
    qemu-img convert -O qcow2 -B qbase.qcow2 -F qcow2 src.raw qover.qcow2
}
t "qemu-img: qcow2 with a backing file" make_qover
t "we read it like qemu-img (backing file)" same_as_qemu qover.qcow2
t "qemu-img: compressed (zlib)" qemu-img convert -c -O qcow2 src.raw zlib.qcow2
t "we read it like qemu-img (zlib)" same_as_qemu zlib.qcow2
if qemu-img convert -c -O qcow2 -o compression_type=zstd src.raw zstd.qcow2 >/dev/null 2>&1; then
  ok "qemu-img: compressed (zstd)"
  t "we read it like qemu-img (zstd)" same_as_qemu zstd.qcow2
  t "we write into a zstd image" img write-pattern zstd.qcow2 3000000 200000 22
  t "qemu-img check passes (zstd, written)" test "$(qcheck zstd.qcow2)" = 0
  t "we read it like qemu-img (zstd, written)" same_as_qemu zstd.qcow2
else
  skip "qemu-img: compressed (zstd)" "this qemu-img has no zstd"
fi
t "we write into compressed clusters" img write-pattern zlib.qcow2 3100000 5000 23
t "qemu-img check passes (zlib, written)" test "$(qcheck zlib.qcow2)" = 0
t "we read it like qemu-img (zlib, written)" same_as_qemu zlib.qcow2

t "qemu-img: version 2 (compat=0.10)" qemu-img convert -O qcow2 -o compat=0.10 src.raw v2.qcow2
t "we read it like qemu-img (v2)" same_as_qemu v2.qcow2
write_v2 () {
  img write-pattern v2.qcow2 5000000 100000 24 && img discard v2.qcow2 0 1048576 &&
    img write-zeroes v2.qcow2 9437184 65536
}
t "we write into a v2 image" write_v2
t "qemu-img check passes (v2, written)" test "$(qcheck v2.qcow2)" = 0
t "we read it like qemu-img (v2, written)" same_as_qemu v2.qcow2

write_rc () { img write-pattern "$1" 12000000 3000000 25 && img discard "$1" 0 65536; }
for bits in 1 8 64; do
  t "qemu-img: refcount_bits=$bits" \
    qemu-img convert -O qcow2 -o refcount_bits=$bits src.raw rc$bits.qcow2
  t "we write into it (refcount_bits=$bits)" write_rc rc$bits.qcow2
  t "qemu-img check passes (refcount_bits=$bits)" test "$(qcheck rc$bits.qcow2)" = 0
  t "we read it like qemu-img (refcount_bits=$bits)" same_as_qemu rc$bits.qcow2
done

# internal snapshots: listed, and never written over
make_snap () {
  qemu-img convert -O qcow2 src.raw snap.qcow2 && qemu-img snapshot -c first snap.qcow2 &&
    qemu-img convert -O raw snap.qcow2 snap-before.raw
}
t "qemu-img: an internal snapshot" make_snap
lists_snapshot () { img info "$@" snap.qcow2 | grep -q '"name": "first"\|first'; }
t "img info lists the snapshot" lists_snapshot
t "img info --output=json lists the snapshot" lists_snapshot --output=json
write_snap () {
  img write-pattern snap.qcow2 0 4000000 26 && img discard snap.qcow2 9000000 500000
}
t "we write over data a snapshot shares" write_snap
t "qemu-img check passes (snapshot, written)" test "$(qcheck snap.qcow2)" = 0
t "we read it like qemu-img (snapshot, written)" same_as_qemu snap.qcow2
revert_snap () {
  qemu-img snapshot -a first snap.qcow2 && qemu-img convert -O raw snap.qcow2 snap-after.raw &&
    cmp snap-before.raw snap-after.raw
}
t "the snapshot still holds the old data" revert_snap
t "our check agrees on the snapshot image" test "$(vcheck snap.qcow2)" = "$(qcheck snap.qcow2)"

# persistent dirty bitmaps (incremental backups): kept, counted, and the
# one that tracks writes marked in use once we have written
make_bitmaps () {
  qemu-img create -f qcow2 bm.qcow2 64M >/dev/null &&
    qemu-img bitmap --add bm.qcow2 tracking &&
    qemu-img bitmap --add --disable bm.qcow2 frozen || return 1
  # bitmap data clusters too, where qemu-io can write through a bitmap
  if command -v qemu-io >/dev/null 2>&1; then
    qemu-io -f qcow2 -c 'write 0 1M' bm.qcow2 >/dev/null || return 1
  fi
  qemu-img convert -O raw bm.qcow2 bm-ref.raw
}
t "qemu-img: an image with bitmaps" make_bitmaps
t "our check: no leaks in an untouched image with bitmaps" test "$(vcheck bm.qcow2)" = 0
lists_bitmaps () {
  img info bm.qcow2 | grep -q 'tracking: granularity 65536, auto' &&
    img info --output=json bm.qcow2 | grep -q '"name": "frozen"'
}
t "img info lists the bitmaps" lists_bitmaps
t "we write into it" wr bm.qcow2 bm-ref.raw 2000000 100000 40
t "qemu-img check passes (bitmaps, written)" test "$(qcheck bm.qcow2)" = 0
t "our check agrees (bitmaps, written)" test "$(vcheck bm.qcow2)" = 0
# qemu-img info --output=json: the bitmap's flags, and that it is still there
bitmap_flags () {
  qemu-img info --output=json bm.qcow2 | tr -d ' \n' |
    sed -n "s/.*\"flags\":\[\([^]]*\)\],\"name\":\"$1\".*/\1/p"
}
t "qemu-img sees the tracking bitmap in use" test "$(bitmap_flags tracking)" = '"in-use","auto"'
t "qemu-img sees the disabled bitmap as it was" test "$(bitmap_flags frozen)" = ""
t "qemu-img still lists both" test "$(qemu-img info bm.qcow2 | grep -c 'name: ')" = 2
t "we read it like qemu-img (bitmaps, written)" qemu-img compare bm.qcow2 bm-ref.raw

# ---- internal snapshots: ours read by qemu-img, qemu-img's worked on by us ----------

# snapshot NAME of IMAGE, as qemu-img reads it, against RAW
snap_is () {
  rm -f "$dir/x.raw"
  qemu-img convert -l "snapshot.name=$2" -O raw "$1" "$dir/x.raw" && cmp "$dir/x.raw" "$3"
}
lists () { qemu-img snapshot -l "$1" | grep -q "^$2 *$3 "; }

img create -f qcow2 sn.qcow2 8M >/dev/null
img write-pattern sn.qcow2 0 3000000 51 >/dev/null
t "we take a snapshot" img snapshot -c first sn.qcow2
qemu-img convert -O raw sn.qcow2 sn-first.raw
img write-pattern sn.qcow2 1000000 2000000 52 >/dev/null
t "we take another" img snapshot -c second sn.qcow2
qemu-img convert -O raw sn.qcow2 sn-second.raw
img write-pattern sn.qcow2 0 500000 53 >/dev/null
t "qemu-img check passes (our snapshots)" test "$(qcheck sn.qcow2)" = 0
t "qemu-img snapshot -l lists our first" lists sn.qcow2 1 first
t "qemu-img snapshot -l lists our second" lists sn.qcow2 2 second
t "qemu-img reads our first snapshot" snap_is sn.qcow2 first sn-first.raw
t "qemu-img reads our second snapshot" snap_is sn.qcow2 second sn-second.raw
cp sn.qcow2 sn-copy.qcow2
t "qemu-img reverts a copy to our snapshot" qemu-img snapshot -a first sn-copy.qcow2
t "and it reads what we wrote then" qemu-img compare sn-copy.qcow2 sn-first.raw
t "we revert to our first snapshot" img snapshot -a first sn.qcow2
t "qemu-img check passes (reverted)" test "$(qcheck sn.qcow2)" = 0
t "qemu-img reads the reverted disk" qemu-img compare sn.qcow2 sn-first.raw
t "we delete our first snapshot" img snapshot -d first sn.qcow2
t "qemu-img check passes (deleted)" test "$(qcheck sn.qcow2)" = 0
t "qemu-img still reads the second" snap_is sn.qcow2 second sn-second.raw
t "we rename the second" img snapshot --rename second renamed sn.qcow2
t "qemu-img lists it renamed" lists sn.qcow2 2 renamed
t "qemu-img check passes (renamed)" test "$(qcheck sn.qcow2)" = 0

qemu-img create -f qcow2 qs.qcow2 8M >/dev/null
img write-pattern qs.qcow2 0 2000000 61 >/dev/null
qemu-img snapshot -c qa qs.qcow2
qemu-img convert -O raw qs.qcow2 qs-a.raw
img write-pattern qs.qcow2 500000 2000000 62 >/dev/null
qemu-img snapshot -c qb qs.qcow2
qemu-img convert -O raw qs.qcow2 qs-b.raw
img write-pattern qs.qcow2 0 1000000 63 >/dev/null
t "we list qemu-img's snapshots" sh -c "'$VMM' img snapshot -l qs.qcow2 | grep -q '^2 *qb '"
t "we revert to qemu-img's first snapshot" img snapshot -a qa qs.qcow2
t "we read it as qemu-img wrote it" same_as_qemu qs.qcow2
t "it is the data of then" qemu-img compare qs.qcow2 qs-a.raw
t "qemu-img check passes (we reverted)" test "$(qcheck qs.qcow2)" = 0
t "we delete qemu-img's first snapshot" img snapshot -d qa qs.qcow2
t "qemu-img check passes (we deleted)" test "$(qcheck qs.qcow2)" = 0
t "qemu-img still reads its second" snap_is qs.qcow2 qb qs-b.raw
t "we take one beside qemu-img's" img snapshot -c ours qs.qcow2
t "qemu-img gives it the next id" lists qs.qcow2 3 ours
t "qemu-img check passes (mixed)" test "$(qcheck qs.qcow2)" = 0
t "our check agrees (mixed)" test "$(vcheck qs.qcow2)" = 0

# ---- broken on purpose ----------------------------------------------------------------

# Our fresh 64 KiB-cluster image: header, refcount table, refcount block at
# 128 KiB (16-bit entries), L1 table.
img create -f qcow2 leak.qcow2 64M >/dev/null
img write-pattern leak.qcow2 0 200000 30 >/dev/null
clusters=$(( $(stat -c %s leak.qcow2) / 65536 ))
truncate -s $(( (clusters + 1) * 65536 )) leak.qcow2
printf '\000\001' | dd of=leak.qcow2 bs=1 seek=$(( 131072 + 2 * clusters )) conv=notrunc 2>/dev/null
t "a leak: qemu-img check says 3" test "$(qcheck leak.qcow2)" = 3
t "a leak: our check says 3 too" test "$(vcheck leak.qcow2)" = 3

cp leak.qcow2 corrupt.qcow2
printf '\000\000' | dd of=corrupt.qcow2 bs=1 seek=131072 conv=notrunc 2>/dev/null
t "a corruption: qemu-img check says 2" test "$(qcheck corrupt.qcow2)" = 2
t "a corruption: our check says 2 too" test "$(vcheck corrupt.qcow2)" = 2

echo "1..$n"
exit $failed
