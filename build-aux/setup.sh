#!/bin/sh
# Installs every Debian 12 package Vivarium needs to build, run and test.
# Idempotent: packages already installed are left alone, and the script
# prints what it is about to install. Run as root (or through sudo).
set -eu

PACKAGES="
  build-essential pkg-config meson ninja-build gettext git
  libglib2.0-dev libglib2.0-dev-bin
  libgtk-4-dev libadwaita-1-dev libjson-glib-dev
  libspice-client-glib-2.0-dev libgvnc-1.0-dev libspice-server-dev
  libosinfo-1.0-dev osinfo-db libvirt-dev
  libslirp-dev liburing-dev libarchive-dev zlib1g-dev libzstd-dev
  appstream desktop-file-utils
  xvfb xauth xdotool dbus dbus-x11 adwaita-icon-theme librsvg2-common fonts-cantarell
  qemu-system-x86 qemu-utils seabios ovmf grub-rescue-pc passt iproute2
  linux-image-cloud-amd64 busybox-static cpio
  xorriso debian-installer-12-netboot-amd64
  acpica-tools time
  python3 python3-gi gir1.2-glib-2.0
"
# What one tool needs on top (tests/fuzz/run.sh: clang and libFuzzer)
PACKAGES="$PACKAGES ${VIVARIUM_EXTRA_PACKAGES:-}"

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo VIVARIUM_EXTRA_PACKAGES="${VIVARIUM_EXTRA_PACKAGES:-}" "$0" "$@"
  fi
  echo "setup.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    "install ok installed") ;;
    *) missing="$missing $p" ;;
  esac
done

if [ -z "$missing" ]; then
  echo "setup.sh: all $(echo $PACKAGES | wc -w) packages are already installed"
  exit 0
fi

echo "setup.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
echo "setup.sh: done"
