#!/bin/sh
# make bench's stand-in for the original `vm` script when VM_ORIGINAL does not name it: what that script
# does for `vm -net tap:0 QEMU-OPTIONS...`: bridge vmnet0 made when missing, then QEMU in the background with
# its TAP made and attached by qemu-bridge-helper; the other words go to QEMU as they are.
set -e
[ "$1" = -net ] && [ "$2" = tap:0 ] && shift 2
ip link show vmnet0 >/dev/null 2>&1 || { ip link add vmnet0 type bridge && ip link set vmnet0 up; }
exec qemu-system-x86_64 -nodefaults -daemonize \
  -netdev bridge,id=n0,br=vmnet0,helper=/usr/lib/qemu/qemu-bridge-helper -device virtio-net,netdev=n0 "$@"
