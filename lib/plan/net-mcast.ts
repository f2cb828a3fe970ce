// --net mcast:N (0-f): a socket multicast segment between guests, on loopback unless LAN-wide.
import { qemuProps } from './qemu-syntax.ts';
import { NicPlan, Nic, hostless } from './net-common.ts';

const MCAST_PORT = 12345;

export function planMcast(item: { group: number; lan: boolean }, nic: Nic): NicPlan {
  // Bound to loopback: otherwise QEMU joins the group on a LAN NIC (other hosts
  // using the group join the "internal" network) or fails with "No such device".
  const netdev = qemuProps(`socket,id=${nic.id}`, {
    mcast: `230.0.0.${item.group + 1}:${MCAST_PORT}`,
    localaddr: item.lan ? undefined : '127.0.0.1',
  });
  const where = item.lan ? ', LAN-wide' : ', this host only';
  return hostless(netdev, `mcast:${item.group}`, { from: 'none' }, [
    `NIC ${nic.position} on internal network ${item.group} (multicast${where})`,
  ]);
}
