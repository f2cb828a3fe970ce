// --net user (u): QEMU's user network, NAT on the host's loopback, the SSH forward and --fwd.
import { NetContext, NicPlan, Nic, hostless, LOOPBACK, loopbackForwards } from './net-common.ts';

export function planUser(_item: { kind: 'user' }, nic: Nic, context: NetContext): NicPlan {
  const { all, messages } = loopbackForwards(context);
  const netdev = [
    `user,id=${nic.id}`,
    ...all.map((forward) => `hostfwd=${forward.protocol}:${LOOPBACK}:${forward.hostPort}-:${forward.guestPort}`),
  ].join(',');
  return hostless(netdev, 'user', { from: 'user' }, messages);
}
