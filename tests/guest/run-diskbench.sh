#!/bin/bash
# The guest side of bench/disk.sh, briefly: the probe in mode=diskbench
# runs its four workloads (4 KiB random reads and writes, 128 KiB
# sequential reads and writes, 32 requests in flight) for a second each on
# a small raw image, under our engine or QEMU. Each workload's "ok" says
# its requests all came back answered, with their own tags and an OK
# status; the figures it prints are not checked (bench/disk.sh measures).
#
#   run-diskbench.sh qemu|VIVARIUM-VMM vivarium-probe.elf
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -u

usage="usage: run-diskbench.sh qemu|VIVARIUM-VMM vivarium-probe.elf"
vmm=${1:?$usage}
elf=${2:?$usage}

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
truncate -s 64M "$tmp/bench.raw" || exit 1
PROBE_DISK=$tmp/bench.raw "$(dirname "$0")/run-probe.sh" "$vmm" "$elf" 1 \
  mode=diskbench bench_secs=1 bench_qd=32 bench_seq_kib=128
