#!/bin/sh
# Build the guest image: guest/out/vmlinuz and guest/out/initramfs.gz.
#
# The kernel comes from Debian's newest linux-image-6.1.0-NN-amd64 package,
# downloaded (not installed) and cached under $BUILD/guest-cache; busybox is
# the host's busybox-static; the agent and workloads are static binaries from
# $BUILD/guest. Usage: build-guest.sh [BUILD_DIR [BINARY...]]
# (default build; binaries default to the agent and both workloads)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
cache="$build/guest-cache"
out="$top/guest/out"
root="$build/guest-root"
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
virtio_balloon virtio_console failover net_failover virtio_net virtio_blk"
shift $(($# > 0 ? 1 : 0))
bins=${*:-kvmpilot-agent memory_hog cpuburst}

die() {
	echo "build-guest: $*" >&2
	exit 1
}

for b in $bins; do
	[ -x "$build/guest/$b" ] || die "missing '$build/guest/$b' (run 'make guest')"
done
busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox-static is not installed (run 'make deps')"
mkdir -p "$cache" "$out"

# The newest kernel package the archive offers; fall back to a cached one.
newest_kernel_pkg() {
	apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
		grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n 1 || true
}
pkg=$(newest_kernel_pkg)
# A machine whose package lists were never fetched knows no kernel package:
# fetch them once (as root) unless a cached package will do.
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ] &&
	! ls "$cache"/linux-image-6.1.0-*-amd64_*.deb >/dev/null 2>&1; then
	echo "build-guest: no package lists, running apt-get update"
	apt-get update -qq >/dev/null 2>&1 || echo "build-guest: apt-get update failed" >&2
	pkg=$(newest_kernel_pkg)
fi
deb=""
if [ -n "$pkg" ]; then
	deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -z "$deb" ]; then
		echo "build-guest: downloading $pkg"
		(cd "$cache" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
			echo "build-guest: download of '$pkg' failed" >&2
		deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)
	fi
fi
if [ -z "$deb" ]; then
	deb=$(ls "$cache"/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$deb" ] || die "no linux-image-6.1.0-NN-amd64 package available (apt-get update?)"

kdir="$cache/$(basename "$deb" .deb)"
if [ ! -f "$kdir/.done" ]; then
	rm -rf "$kdir"
	dpkg -x "$deb" "$kdir"
	touch "$kdir/.done"
fi
kver=$(ls "$kdir/lib/modules" | head -n 1)
[ -n "$kver" ] && [ -f "$kdir/boot/vmlinuz-$kver" ] || die "'$deb' holds no kernel"

rm -rf "$root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/dev" "$root/proc" "$root/sys" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
for b in $bins; do
	cp "$build/guest/$b" "$root/bin/$b"
	strip "$root/bin/$b" 2>/dev/null || true
done
cp "$top/guest/init" "$root/init"
chmod 755 "$root/init"
for m in $mods; do
	f=$(find "$kdir/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" |
		head -n 1)
	[ -n "$f" ] || die "module '$m' not found in $kver"
	case "$f" in
	*.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
	*.zst) zstd -qdc "$f" >"$root/lib/modules/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/$m.ko" ;;
	esac
done
echo "$kver" >"$root/kernel-version"

(cd "$root" && find . | sort | "$busybox" cpio -o -H newc 2>/dev/null) | gzip -9 >"$out/initramfs.gz.tmp"
mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
cp "$kdir/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$kver" >"$out/kernel-version"
echo "build-guest: guest/out/vmlinuz ($kver, $(du -k "$out/vmlinuz" | cut -f1) KiB)," \
	"guest/out/initramfs.gz ($(du -k "$out/initramfs.gz" | cut -f1) KiB)"
