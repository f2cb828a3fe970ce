// --net macvtap:IF and the bridged adapter (p): a macvtap over a LAN link, or the host's LAN bridge.
import { HostError, UsageError } from '../base/errors.ts';
import { macvtapName } from '../base/names.ts';
import { macvtapNodePath } from '../base/paths.ts';
import { qemuProps } from './qemu-syntax.ts';
import { NetContext, NicPlan, Nic, vhostFor, freeName } from './net-common.ts';
import { planBridge } from './net-bridge.ts';

export function planMacvtap(item: { parent: string }, nic: Nic, context: NetContext): NicPlan {
  const parent = context.facts.interfaces[item.parent];
  if (!parent)
    throw new UsageError(`--net macvtap:${item.parent}: no interface ${item.parent} on this host (see ip link)`);
  if (parent.kind === 'wireless') {
    throw new HostError(
      `macvtap over ${item.parent}: a Wi-Fi NIC cannot carry macvtap (the access point drops foreign MACs); use ` +
        `a user network or a bridge with a wired NIC`,
    );
  }
  const name = freeName(context, macvtapName);
  const node = macvtapNodePath(context.facts.isRoot, context.facts.runtimeDir, context.guest, name);
  const tapFd = context.nextFd();
  const vhost = vhostFor(context);
  return {
    netdev: qemuProps(`tap,id=${nic.id}`, { fd: tapFd, ...vhost.props }),
    label: `${name}@${item.parent}`,
    actions: [{ kind: 'macvtap', name, parent: item.parent, mac: nic.mac, guest: context.guest, node }],
    fds: [{ fd: tapFd, path: node, macvtap: name }, ...vhost.fds],
    messages: [`NIC ${nic.position} on ${item.parent}'s LAN through ${name}`],
    address: { from: 'neighbour' },
  };
}

export function planBridged(_item: { kind: 'bridged' }, nic: Nic, context: NetContext): NicPlan {
  const route = context.facts.defaultRouteInterface;
  if (!route)
    throw new HostError(
      'bridged adapter: this host has no default route, so there is no LAN to join; use --net macvtap:IF or a ' +
        'bridge name',
    );
  const facts = context.facts.interfaces[route];
  switch (facts?.kind) {
    case 'bridge':
      return planBridge({ name: route, explicit: true }, nic, context);
    case 'physical':
    case 'veth':
      // A macvtap never talks to its own parent: the usual fix is a macvlan of the host on the same NIC.
      context.warnings.push(
        `bridged adapter over ${route} (macvtap): the guest reaches the LAN but not this host; to reach it, give ` +
          `the host its own macvtap/macvlan over ${route} or use a bridge`,
      );
      return planMacvtap({ parent: route }, nic, context);
    case 'macvlan':
    case 'macvtap':
      if (!facts.parent) throw new HostError(`bridged adapter: cannot find the lower device of ${route}`);
      return planMacvtap({ parent: facts.parent }, nic, context);
    case 'wireless':
      return planMacvtap({ parent: route }, nic, context);
    default:
      throw new HostError(
        `bridged adapter: the default route is on ${route} (${facts?.linkKind ?? 'unknown kind'}), a virtual ` +
          `interface a guest cannot join; put the LAN NIC in a bridge (e.g. br0) or use --net macvtap:IF`,
      );
  }
}
