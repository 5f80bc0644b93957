#!/bin/sh
# Install every Debian package that building, testing and the demo need.
# Idempotent and non-interactive: does nothing when all are present.
set -eu

pkgs="make gcc clang libclang-rt-dev llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
libvirt-dev libxml2-dev libmicrohttpd-dev libcmocka-dev libinih-dev libjson-c-dev
libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
busybox-static bpftrace iproute2 kmod prometheus chromium python3 jq cpio
liburing-dev e2fsprogs procps util-linux psmisc
dpkg-dev debhelper lintian man-db groff-base systemd bash-completion"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
# Node.js may come from another packaging (with npm bundled): ask for the
# commands, and take Debian's packages only when they are absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run 'make deps' as root)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
