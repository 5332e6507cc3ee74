#!/bin/sh
# Boots a stock Debian kernel (linux-image-cloud-amd64) with a busybox
# initramfs built on the fly, under vivarium-vmm, and prints the time from
# starting the engine to the first line /init prints. TAP output.
#
# LINUX_BOOT_FORCE=1 tries anyway; LINUX_BOOT_TIMEOUT sets the limit (s).
#
# Needs real hardware virtualization (Intel VT-x or AMD-V). Where KVM is
# missing, or is the software-assisted nested KVM of some build machines
# (kvm_pvm, on which a stock kernel does not boot), it skips and says why.
#
#   tests/vmm/linux-boot.sh PATH-TO-vivarium-vmm [KERNEL]
set -u
VMM=${1:?usage: linux-boot.sh PATH-TO-vivarium-vmm [KERNEL]}
KERNEL=${2:-}
TIMEOUT=${LINUX_BOOT_TIMEOUT:-120}

# meson's TAP parser takes a "1..0 # SKIP" plan with status 0 as a skip.
skip () {
  echo "SKIP: $1" >&2
  echo "1..0 # SKIP $1"
  exit 0
}

[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is absent or not accessible"
if [ -d /sys/module/kvm_pvm ] && [ -z "${LINUX_BOOT_FORCE:-}" ]; then
  skip "this machine's KVM is kvm_pvm (software-assisted nested KVM); a stock kernel does not boot on it"
fi
[ -n "${LINUX_BOOT_FORCE:-}" ] || grep -Eqw "vmx|svm" /proc/cpuinfo || skip "the CPU shows neither vmx nor svm"

if [ -z "$KERNEL" ]; then
  KERNEL=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$KERNEL" ] && [ -r "$KERNEL" ] || skip "no Debian kernel in /boot (apt-get install linux-image-cloud-amd64)"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || skip "busybox is not installed (apt-get install busybox-static)"
if ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  [ -x /bin/busybox ] && BUSYBOX=/bin/busybox
fi
command -v cpio >/dev/null || skip "cpio is not installed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/sys" "$work/root/dev"
cp "$BUSYBOX" "$work/root/bin/busybox"
cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
read up idle < /proc/uptime
echo "VIVARIUM-INIT uptime=$up"
echo "VIVARIUM-CPUS $(/bin/busybox grep -c ^processor /proc/cpuinfo)"
/bin/busybox poweroff -f
INIT
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"

start=$(date +%s%N)
timeout "$TIMEOUT" "$VMM" --kernel "$KERNEL" --initrd "$work/initrd.gz" --memory 512M --cpus 2 \
  --cmdline "console=ttyS0 panic=-1 quiet" --serial stdio > "$work/serial.log" 2> "$work/vmm.log" &
pid=$!
# The time to init is when /init's first line appears.
init_ms=""
while kill -0 $pid 2>/dev/null; do
  if [ -z "$init_ms" ] && grep -q 'VIVARIUM-INIT' "$work/serial.log" 2>/dev/null; then
    init_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  fi
  sleep 0.01
done
wait $pid
rc=$?
[ -n "$init_ms" ] || { grep -q 'VIVARIUM-INIT' "$work/serial.log" && init_ms=$(( ($(date +%s%N) - start) / 1000000 )); }

n=0; failed=0
check () { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }

grep -q 'VIVARIUM-INIT' "$work/serial.log"; check $? "the kernel booted and ran /init"
grep -q 'VIVARIUM-CPUS 2' "$work/serial.log"; check $? "the kernel brought up both CPUs"
[ "$rc" = 0 ]; check $? "vivarium-vmm exited 0 after the guest powered off (status $rc)"
if [ -n "$init_ms" ]; then
  echo "# time from starting vivarium-vmm to /init: ${init_ms} ms"
  echo "# guest uptime at /init: $(grep -o 'uptime=[0-9.]*' "$work/serial.log")"
fi
if [ $failed != 0 ]; then
  echo "# serial output:"; sed 's/^/#   /' "$work/serial.log" | tail -n 40
  echo "# engine log:"; sed 's/^/#   /' "$work/vmm.log" | tail -n 20
fi
echo "1..$n"
exit $failed
