#!/bin/bash
# Builds a real cloud image offline from Debian packages, for the --cloud-init end-to-end test: Debian 12
# with systemd, cloud-init, openssh-server, sudo and the cloud kernel, on one ext4 filesystem labelled
# cloudroot (no partition table, no bootloader: QEMU boots it with -kernel/-initrd). Like a stock cloud
# image it has no password and no key (only a NoCloud seed lets anyone in), and it is set to en_US.UTF-8, the
# locale cloud-init sets (otherwise it makes it at first boot: 20 s under TCG). No e2scrub at boot.
# Output: OUT/disk.qcow2, OUT/vmlinuz, OUT/initrd.img. Cached: a second run with the same script does
# nothing. Needs root (mmdebstrap's root mode) and about 5 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$HERE/../../.cache/cloud-image}")
PACKAGES=linux-image-cloud-amd64,systemd-sysv,udev,dbus,cloud-init,openssh-server,sudo,netbase,ifupdown
PACKAGES=$PACKAGES,isc-dhcp-client,qemu-guest-agent,iproute2,e2fsprogs,locales

# What a boot under TCG need not pay for, none of it about provisioning: units that mount or load what the
# test never uses, timers, the cloud-init modules that do nothing here (grub-dpkg, apt, keys-to-console: 4 s
# of a first boot); the initramfs with the root disk's modules alone (a third of its size).
MASKED="e2scrub_reap.service e2scrub_all.timer modprobe@.service systemd-binfmt.service kmod-static-nodes.service"
MASKED="$MASKED sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount dev-mqueue.mount"
MASKED="$MASKED apt-daily.timer apt-daily-upgrade.timer fstrim.timer systemd-pstore.service getty@tty1.service"
MODULES_CFG='cloud_config_modules: [locale, set-passwords, ntp, timezone, runcmd]
cloud_final_modules: [write-files-deferred, scripts-vendor, scripts-per-once, scripts-per-boot,
  scripts-per-instance, scripts-user, ssh-authkey-fingerprints, final-message, power-state-change]'
INITRD_MODULES="virtio_pci virtio_scsi virtio_blk sd_mod"

STAMP="$(sha256sum "$HERE/build.sh" | cut -c1-16)"
if [ -s "$OUT/disk.qcow2" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "cloud image is up to date in $OUT"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build.sh: the cloud image is built as root (mmdebstrap's root mode)" >&2; exit 1; }
for tool in mmdebstrap mkfs.ext4 qemu-img; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (make host-deps installs it)" >&2; exit 1; }
done

WORK=$(mktemp -d /var/tmp/qs-cloud.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"
echo "$MODULES_CFG" > "$WORK/modules.cfg"
# The host's own apt sources: whatever mirror or snapshot this machine uses, the image uses too.
SOURCES=()
for file in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
  [ -s "$file" ] && { SOURCES=("$file"); break; }
done
mmdebstrap --quiet --variant=apt --include="$PACKAGES" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --customize-hook='echo "LABEL=cloudroot / ext4 defaults 0 1" > "$1/etc/fstab"' \
  --customize-hook='echo "datasource_list: [NoCloud, None]" > "$1/etc/cloud/cloud.cfg.d/90-qemu-script.cfg"' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_* "$1/etc/machine-id"; touch "$1/etc/machine-id"' \
  --customize-hook='echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen"; chroot "$1" locale-gen >/dev/null' \
  --customize-hook='echo LANG=en_US.UTF-8 > "$1/etc/default/locale"' \
  --customize-hook="chroot \"\$1\" systemctl mask $MASKED >/dev/null 2>&1" \
  --customize-hook="cp $WORK/modules.cfg \"\$1/etc/cloud/cloud.cfg.d/95-qemu-script-test.cfg\"" \
  --customize-hook='echo MODULES=list > "$1/etc/initramfs-tools/conf.d/qemu-script-test"' \
  --customize-hook="printf '%s\\n' $INITRD_MODULES >> \"\$1/etc/initramfs-tools/modules\"" \
  --customize-hook='chroot "$1" update-initramfs -u >/dev/null 2>&1' \
  bookworm "$ROOT" "${SOURCES[@]}" 2>"$WORK/mmdebstrap.log" \
  || { cat "$WORK/mmdebstrap.log" >&2; exit 1; }
mkdir -p "$OUT"
cp -L "$ROOT/vmlinuz" "$WORK/vmlinuz"
cp -L "$ROOT/initrd.img" "$WORK/initrd.img"
# 3 GiB, mostly free: room for what the test's user-data installs or writes.
mkfs.ext4 -q -L cloudroot -d "$ROOT" "$WORK/disk.raw" 3G
qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"
mv -f "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/disk.qcow2" "$OUT/"
echo "$STAMP" > "$OUT/stamp"
echo "cloud image built in $OUT: $(du -sh "$OUT/disk.qcow2" | cut -f1) disk"
