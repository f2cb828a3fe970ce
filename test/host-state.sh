#!/bin/bash
# What the tests must leave exactly as they found it on the host (outside their own namespaces):
# links, namespaces, the tool's directories and files, temporary directories of the tests, QEMU and
# dnsmasq processes, the firewall and IPv4 forwarding. test/run.sh compares it before and after.
ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link " $2 }'
ip netns list | awk '{ print "netns " $1 }'
for path in /run/qemu-script /run/libvirt /run/user/* /etc/qemu /etc/qemu-script /etc/sudoers.d/qemu-script \
  /etc/udev/rules.d/70-qemu-script.rules /tmp/qemu-script-* /tmp/qs-* /run/qs-*; do
  [ -e "$path" ] && echo "path $path"
done
# The kernel keeps 15 characters of a process name.
for name in qemu-system-x86 dnsmasq; do echo "processes $name $(pgrep -cx "$name")"; done
echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
if command -v nft >/dev/null; then echo "nft $(nft list ruleset 2>&1 | sha256sum | cut -c1-16)"; fi
if command -v iptables-save >/dev/null; then
  echo "iptables $(iptables-save 2>&1 | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' | sha256sum | cut -c1-16)"
fi
