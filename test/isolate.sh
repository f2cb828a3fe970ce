#!/bin/bash
# Runs a command in a private mount namespace where /run, /tmp, /etc and the device nodes setup
# changes are the test's own.
# /run is a fresh tmpfs with the host's entries bound back but for /run/qemu-script (the privileged
# helper's registry), /run/libvirt and /run/user, which start empty and no other test and nothing on the host can
# see (test/helpers.ts gives each test a fresh registry); sudo's timestamps stay inside too.
# /run/netns is the test's own:
# the names of the network namespaces it makes are mounts that would not propagate to the host's,
# which would then list empty files there ("Peer netns reference is invalid"); a namespace nothing
# runs in goes with this mount namespace. /tmp is an empty tmpfs; /etc is a copy (bridge.conf,
# sudoers, test users). Whatever the command leaves in them goes with the namespace.
set -euo pipefail
if [ "${QEMU_SCRIPT_TEST_ISOLATED:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "test/isolate.sh: the tests need root (namespaces, mounts)" >&2; exit 1; }
  exec env QEMU_SCRIPT_TEST_ISOLATED=1 unshare --mount --propagation slave "$0" "$@"
fi
shopt -s dotglob nullglob
# The host's /run, kept reachable while a tmpfs covers it.
saved=$(mktemp -d /tmp/qs-isolate-XXXXXX)
mount --rbind /run "$saved"
mount -t tmpfs -o mode=0755 qs-run /run
for entry in "$saved"/*; do
  name=/run/${entry##*/}
  # /run/mount is libmount's own, made by the mounts above. The tool's registry, libvirt's sockets and the
  # users' runtime directories start empty: a test's helper, libvirtd or user must never write the host's.
  # qs-*: an enclosing isolation's own.
  case $name in
  /run/sudo | /run/netns | /run/qemu-script | /run/libvirt | /run/user | /run/qs-*) continue ;;
  esac
  [ -e "$name" ] && continue
  if [ -L "$entry" ]; then cp -P "$entry" "$name"
  elif [ -d "$entry" ]; then mkdir "$name" && mount --rbind "$entry" "$name"
  else touch "$name" && mount --bind "$entry" "$name"; fi
done
umount -l "$saved"
rmdir "$saved"
mkdir -m 0755 /run/qs-etc
cp -a /etc/. /run/qs-etc/
mount --bind /run/qs-etc /etc
# /dev/net/tun and /dev/vhost-net: private copies (setup gives them to its group; the copy's mode is
# what this namespace sees).
mkdir /run/qs-dev
for node in /dev/net/tun /dev/vhost-net; do
  [ -c "$node" ] || continue
  copy=/run/qs-dev/${node##*/}
  mknod -m "$(stat -c %a "$node")" "$copy" c "$((0x$(stat -c %t "$node")))" "$((0x$(stat -c %T "$node")))"
  chown "$(stat -c %u:%g "$node")" "$copy"
  mount --bind "$copy" "$node"
done
# A checkout under /tmp (CI may clone there) stays reachable through the new /tmp.
repo=$(cd "$(dirname "$0")/.." && pwd -P)
mkdir /run/qs-host-tmp
# Recursive: inside an isolation already (test/runner.test.ts), the checkout is a mount of its own under /tmp.
mount --rbind /tmp /run/qs-host-tmp
mount -t tmpfs -o mode=1777 qs-tmp /tmp
case $repo in
/tmp/*)
  mkdir -p "$repo"
  mount --rbind "/run/qs-host-tmp/${repo#/tmp/}" "$repo"
  ;;
esac
umount -l /run/qs-host-tmp
exec "$@"
