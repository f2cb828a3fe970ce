#!/bin/bash
# The demo: boots the tiny test guest with qemu-script on user networking plus
# an internal bridge vmnet0 the host reaches, shows what came up, reads the
# guest's banner through the forwarded SSH port and over the bridge, and shuts
# everything down. It runs inside a private network namespace, so the host's
# own network is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=$PWD/dist/qemu-script
KERNEL=$PWD/.cache/guest/vmlinuz
INITRD=$PWD/.cache/guest/initrd.gz
NS=qemu-script-demo-$$
RUN=$(mktemp -d /tmp/qemu-script-demo.XXXXXX)
export QEMU_SCRIPT_RUNTIME_DIR=$RUN
in_ns() { ip netns exec "$NS" "$@"; }
finish() {
  in_ns "$TOOL" down --force demo >/dev/null 2>&1 || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$RUN"
}
trap finish EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
# vmnet0 is the tool's own bridge: it makes the TAP itself, so /etc/qemu is never touched.

echo "\$ qemu-script --net user,vmnet0 --host-ip 192.168.255.5/24 --display none -kernel ... -initrd ..."
# TCG: the tiny guest boots in ~2 s; on nested hosts /dev/kvm can be far slower.
in_ns "$TOOL" --net user,vmnet0 --host-ip 192.168.255.5/24 --display none --name demo -m 160 --accel tcg \
  -kernel "$KERNEL" -initrd "$INITRD" -no-reboot \
  -append "console=ttyS0 quiet panic=-1 e2e_name=demo e2e_if0=dhcp e2e_if1=192.168.255.11/24 e2e_banner=22" \
  | tee "$RUN/started"
PORT=$(sed -n 's/^SSH on localhost:\([0-9]*\)$/\1/p' "$RUN/started")
echo; echo "\$ qemu-script ps"; in_ns "$TOOL" ps
banner() {  # banner HOST PORT: the guest answers once it has booted (a few seconds under TCG)
  for _ in $(seq 1 120); do
    r=$(in_ns busybox nc -w 2 "$1" "$2" </dev/null 2>/dev/null || true)
    case "$r" in *E2E-BANNER*) echo "$r"; return 0 ;; esac
    sleep 0.5
  done
  echo "no answer from $1:$2" >&2; return 1
}
echo; echo "\$ nc localhost $PORT        # the user network's SSH forward"
banner 127.0.0.1 "$PORT"
echo "\$ nc 192.168.255.11 22    # over bridge vmnet0, from the host at 192.168.255.5"
banner 192.168.255.11 22
echo; echo "\$ qemu-script down demo"; in_ns "$TOOL" down --timeout 30 demo
echo; echo "after the guest: $(ip -n "$NS" -br link | awk '{print $1}' | tr '\n' ' ')(vmnet0 and the TAPs are gone)"
