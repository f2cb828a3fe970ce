#!/bin/bash
# Builds the tiny test guest offline from Debian packages: the kernel behind
# linux-image-cloud-amd64 (looked up, the version moves), its virtio/SCSI/ATA
# modules, busybox-static and our /init. Output: OUT/vmlinuz, OUT/initrd.gz.
# Cached: a second run with the same kernel package and sources does nothing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$HERE/../../.cache/guest}")
MODULES="virtio_pci virtio_net virtio_blk virtio_scsi sd_mod sr_mod ata_piix button evdev"

kernel_package() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'
}
PKG=$(kernel_package)
if [ -z "$PKG" ]; then apt-get update -qq; PKG=$(kernel_package); fi
[ -n "$PKG" ] || { echo "build.sh: cannot find the package behind linux-image-cloud-amd64" >&2; exit 1; }
case "$(ldd /bin/busybox 2>&1 || true)" in
  *"not a dynamic"*) ;;
  *) echo "build.sh: /bin/busybox must be busybox-static (apt-get install busybox-static)" >&2; exit 1 ;;
esac

SOURCES=("$HERE/build.sh" "$HERE/init" "$HERE/udhcpc.script" "$HERE/udp-echo.c" /bin/busybox)
STAMP="$PKG $(cat "${SOURCES[@]}" | sha256sum | cut -c1-16)"
if [ -s "$OUT/initrd.gz" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "guest is up to date in $OUT ($PKG)"
  exit 0
fi

WORK=$(mktemp -d /tmp/qs-guest.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"   # apt's _apt user downloads into it
( cd "$WORK" && apt-get download "$PKG" >/dev/null 2>&1 ) \
  || ( cd "$WORK" && apt-get update -qq && apt-get download "$PKG" >/dev/null )
dpkg-deb -x "$WORK"/"$PKG"_*.deb "$WORK/k"
KV=$(ls "$WORK/k/lib/modules")
MD="$WORK/k/lib/modules/$KV"
# The package leaves modules.dep to depmod at install time.
depmod -b "$WORK/k" "$KV"

R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,www,usr/bin,usr/sbin} "$R/lib/modules/$KV"
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
# The wanted modules and everything they depend on, at their usual paths, with
# a modules.dep of just those, so busybox modprobe loads them in order.
declare -A seen=()
queue=()
for m in $MODULES; do
  line=$(grep -E "/$m\.ko(\.[a-z]+)?:" "$MD/modules.dep") || { echo "build.sh: module $m not in $KV" >&2; exit 1; }
  queue+=("${line%%:*}")
done
while [ ${#queue[@]} -gt 0 ]; do
  mod=${queue[0]}; queue=("${queue[@]:1}")
  [ -n "${seen[$mod]:-}" ] && continue
  seen[$mod]=1
  deps=$(grep -E "^$mod:" "$MD/modules.dep" | cut -d: -f2)
  for d in $deps; do queue+=("$d"); done
done
for mod in "${!seen[@]}"; do
  mkdir -p "$R/lib/modules/$KV/$(dirname "$mod")"
  cp "$MD/$mod" "$R/lib/modules/$KV/$mod"
  grep -E "^$mod:" "$MD/modules.dep" >> "$R/lib/modules/$KV/modules.dep"
done
echo "$MODULES" > "$R/etc/modules"
install -m 0755 "$HERE/init" "$R/init"
install -m 0755 "$HERE/udhcpc.script" "$R/etc/udhcpc.script"
# A UDP service for the forward tests: static, so the initrd needs no libc.
gcc -static -Os -o "$R/bin/udp-echo" "$HERE/udp-echo.c"
mkdir -p "$OUT"
( cd "$R" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9 > "$OUT/initrd.gz.tmp" )
cp "$WORK/k/boot/vmlinuz-$KV" "$OUT/vmlinuz"
mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
echo "$STAMP" > "$OUT/stamp"
echo "built guest in $OUT: kernel $KV, $(du -sh "$OUT" | cut -f1), modules: ${#seen[@]}"
