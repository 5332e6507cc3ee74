#!/bin/sh
# vivarium-vmm's command line: --version, --help, and the KVM check, with its
# errors for a missing device and for something that is not KVM. TAP output.
set -u
VMM=${1:?usage: test-vmm-cli.sh PATH-TO-vivarium-vmm}
n=0
failed=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); failed=1; echo "not ok $n - $1"; sed 's/^/# /' "$out/err" "$out/out" 2>/dev/null; }
skip () { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

run () { "$@" >"$out/out" 2>"$out/err"; echo $?; }

# --version prints the project's version and exits 0
rc=$(run "$VMM" --version)
if [ "$rc" = 0 ] && grep -Eq '^vivarium-vmm [0-9]+\.[0-9]+\.[0-9]+$' "$out/out"; then
  ok "--version prints the version"
else
  not_ok "--version prints the version (rc=$rc)"
fi

# --help documents the options and the exit statuses
rc=$(run "$VMM" --help)
if [ "$rc" = 0 ] && grep -q -- '--check-kvm' "$out/out" && grep -q 'Exit status' "$out/out"; then
  ok "--help lists the options and exit statuses"
else
  not_ok "--help lists the options and exit statuses (rc=$rc)"
fi

# --help documents the display option and what it takes
rc=$(run "$VMM" --help)
if [ "$rc" = 0 ] && grep -q -- '--display=spice\[,socket=PATH\]|none' "$out/out"; then
  ok "--help documents --display"
else
  not_ok "--help documents --display (rc=$rc)"
fi

# an unknown option is a usage error, not a crash
rc=$(run "$VMM" --no-such-option)
if [ "$rc" = 1 ] && grep -q -- '--help' "$out/err"; then
  ok "an unknown option is refused with a hint"
else
  not_ok "an unknown option is refused with a hint (rc=$rc)"
fi

# a KVM device that does not exist: exit 2, and the message says what to do
rc=$(run "$VMM" --kvm-device /nonexistent/kvm --check-kvm)
if [ "$rc" = 2 ] && grep -q 'does not exist' "$out/err" && grep -q 'VT-x' "$out/err"; then
  ok "a missing KVM device gives exit 2 and a clear error"
else
  not_ok "a missing KVM device gives exit 2 and a clear error (rc=$rc)"
fi

# something that is not KVM: exit 2
rc=$(run "$VMM" --kvm-device /dev/null --check-kvm)
if [ "$rc" = 2 ] && grep -q 'not a KVM device' "$out/err"; then
  ok "a device that is not KVM gives exit 2 and a clear error"
else
  not_ok "a device that is not KVM gives exit 2 and a clear error (rc=$rc)"
fi

# a KVM device we may not open: exit 2 (only testable as a non-root user)
if [ "$(id -u)" != 0 ] && [ -e /dev/kvm ] && [ ! -r /dev/kvm ]; then
  rc=$(run "$VMM" --check-kvm)
  if [ "$rc" = 2 ] && grep -q 'permission denied' "$out/err"; then
    ok "an unreadable /dev/kvm gives exit 2 and a clear error"
  else
    not_ok "an unreadable /dev/kvm gives exit 2 and a clear error (rc=$rc)"
  fi
else
  skip "an unreadable /dev/kvm gives exit 2" "runs only as a user without access to /dev/kvm"
fi

# the real KVM: every required capability present
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  rc=$(run "$VMM" --check-kvm)
  if [ "$rc" = 0 ] && grep -q '^API version: 12$' "$out/out" && \
     ! grep -q 'no  *required' "$out/out" && grep -q 'KVM_CAP_IRQFD *yes' "$out/out"; then
    ok "/dev/kvm is usable and has every required capability"
  else
    not_ok "/dev/kvm is usable and has every required capability (rc=$rc)"
  fi
else
  echo "# SKIP REASON: /dev/kvm is absent or not accessible on this machine;" \
       "the KVM check against real KVM was not run" >&2
  skip "/dev/kvm is usable" "/dev/kvm is absent or not accessible on this machine"
fi

echo "1..$n"
exit $failed
