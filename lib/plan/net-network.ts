// --net NAME of a defined network: its bridge, DHCP/DNS registration, names, NAT and firewall, tunnel, and
// the host ports forwarded into it (--fwd, fwd add).
import { HostError, UsageError } from '../base/errors.ts';
import { firewallRules, NO_FIREWALL } from '../net/firewall.ts';
import { describePrefix, prefixClash } from '../net/host-address.ts';
import { dhcpConfigOf, domainOf, fixedAddressProblem, hostCidr6Of, hostCidrOf, realisedHere } from '../net/networks.ts';
import { networkRunDir } from '../base/paths.ts';
import { INSTALL_HINT } from '../base/system-tools.ts';
import { underlayOf, vxlanDevice, type Underlay } from '../net/tunnel.ts';
import type { Forward, HostAction, NetworkDef } from '../base/types.ts';
import { NetContext, NicPlan, Nic, exactPort, bridgeUse, tapOnBridge } from './net-common.ts';

/** A network about to be realised must not take addresses or routes the host already has. */
function checkRealisable(network: NetworkDef, context: NetContext): void {
  for (const subnet of [network.subnet, network.subnet6]) {
    const clash = subnet && prefixClash(subnet, context.facts.prefixes);
    if (clash) {
      throw new UsageError(
        `--net ${network.name}: its subnet ${subnet} overlaps ${describePrefix(clash)} on this host; ` +
          `redefine the network (qemu-script net rm/create) or remove the clash`,
      );
    }
  }
  if (network.nat && !context.facts.defaultRouteInterface) {
    throw new HostError(`--net ${network.name}: the network does NAT out of the default route, and this host has none`);
  }
  if (network.dhcp && !context.facts.dnsmasq) {
    throw new HostError(
      `--net ${network.name}: the network's DHCP server needs dnsmasq, which is not installed: ${INSTALL_HINT.dnsmasq}`,
    );
  }
}

/** Where the network's tunnel runs here; a tunnel without a way to its peers is refused before any change. */
function tunnelOf(network: NetworkDef, context: NetContext): Underlay {
  const mtus = Object.fromEntries(Object.entries(context.facts.interfaces).map(([name, facts]) => [name, facts.mtu]));
  const underlay = underlayOf(network.vxlan!, context.facts.prefixes, mtus);
  const peer = network.vxlan!.remotes[0] ?? network.vxlan!.group;
  if (!underlay || !(underlay.dev in context.facts.interfaces)) {
    throw new UsageError(
      `--net ${network.name}: its tunnel has no way to ${peer} on this host ` +
        `(${underlay ? `no interface ${underlay.dev}` : 'no route'}); check the underlay, or redefine the network`,
    );
  }
  return underlay;
}

/** Where root's --fwd listens on a defined network: every address of the host but loopback (ps shows 0.0.0.0). */
export const EVERY_ADDRESS = '0.0.0.0';

/**
 * Where a member's forward listens unless they name an address root granted (limits.json's forward_address):
 * the network's own address on its bridge, never every address of the host (it would take connections meant
 * for the host's own services).
 */
export const memberListen = (hostIp: string) => hostIp.replace(/\/\d+$/, '');

/**
 * A host port forwarded into a defined network (--fwd there, fwd add): its DNAT to the address the network's
 * server registers for MAC, and forwarding on while it is there, unless the network's NAT or an earlier
 * forward of the guest's (`forwarding`) has it on already.
 */
export function publicationActions(
  into: { network: string; guest: string; mac: string; nat: boolean },
  forward: Forward & { listen?: string },
  forwarding: boolean,
): HostAction[] {
  const { network, guest, mac, nat } = into;
  const { protocol, hostPort, guestPort, listen } = forward;
  const publish: HostAction = {
    kind: 'publish',
    network,
    guest,
    mac,
    protocol,
    hostPort,
    guestPort,
    nat,
    ...(listen ? { listen } : {}),
  };
  return nat || forwarding ? [publish] : [publish, { kind: 'forward', network, guest, family: 4, publish: true }];
}

/** --fwd into a defined network with DHCP: each forward's actions, and what the launch says of it. */
function publications(network: NetworkDef, nic: Nic, context: NetContext) {
  const into = { network: network.name, guest: context.guest, mac: nic.mac, nat: network.nat };
  // A member's forward never takes a port of the host's own addresses: it listens on the bridge's.
  const listen = context.facts.isRoot ? undefined : memberListen(network.hostIp);
  return context.fwd.map((forward, index) => {
    const hostPort = exactPort(forward.hostPort, '--fwd', context);
    context.forwards.push({
      proto: forward.protocol,
      host: listen ?? EVERY_ADDRESS,
      port: hostPort,
      guest_port: forward.guestPort,
    });
    return {
      actions: publicationActions(into, { ...forward, hostPort, ...(listen ? { listen } : {}) }, index > 0),
      message:
        `Forward ${forward.protocol} port ${hostPort} of ${listen ?? "this host's addresses (not loopback)"} -> ` +
        `guest port ${forward.guestPort} on ${network.name}`,
    };
  });
}

/**
 * A NIC on a defined network: its bridge (made with the first guest) and, with DHCP, a registration with its server.
 */
export function planNetwork(definition: NetworkDef, nic: Nic, context: NetContext, address?: string): NicPlan {
  const network = realisedHere(definition, context.facts.ipv6);
  const fixed = address === undefined ? undefined : fixedAddressProblem(network, address);
  if (fixed) throw new UsageError(`--net ${network.name}=${address}: ${fixed}`);
  const first = !context.bridgesPlanned.has(network.name);
  const use = bridgeUse(network.name, context);
  if (use === 'foreign') {
    throw new UsageError(
      `--net ${network.name}: an interface named ${network.name} exists and was not made by qemu-script; remove ` +
        `it, or redefine the network under another name`,
    );
  }
  if (use === 'create') checkRealisable(network, context);
  const blocked = context.facts.registryPrivateParent;
  if (network.dhcp && blocked) {
    throw new UsageError(
      `--net ${network.name}: its DHCP server runs as its own user and cannot reach ${context.facts.registryDir} ` +
        `(${blocked} is private); set QEMU_SCRIPT_RUNTIME_DIR elsewhere`,
    );
  }
  // The network's server files: beside the registry, per namespace (like the bridge they serve).
  const serverDir = networkRunDir(context.facts.registryDir, context.facts.netns, network.name);
  const tunnel = network.vxlan ? tunnelOf(network, context) : undefined;
  const tap = tapOnBridge(network.name, use, nic, context, tunnel?.mtu);
  const mtu = tunnel ? { mtu: tunnel.mtu } : {};
  const actions: HostAction[] = first
    ? [
        {
          kind: 'bridge',
          name: network.name,
          guest: context.guest,
          hostIp: hostCidrOf(network),
          ...(network.subnet6 ? { hostIp6: hostCidr6Of(network) } : {}),
          shared: use === 'shared',
          network: network.name,
          ...mtu,
        },
      ]
    : [];
  if (first && tunnel) {
    const device = vxlanDevice(network.vxlan!.vni);
    actions.push({
      kind: 'vxlan',
      network: network.name,
      guest: context.guest,
      device,
      vxlan: network.vxlan!,
      underlay: tunnel.dev,
      local: tunnel.local,
      mtu: tunnel.mtu,
    });
  }
  actions.push(...tap.actions);
  const uplink6 = network.subnet6 ? context.facts.defaultRoute6Interface : undefined;
  if (network.dhcp) {
    actions.push({
      kind: 'dhcp',
      network: network.name,
      mac: nic.mac,
      guest: context.guest,
      config: dhcpConfigOf(network),
      dir: serverDir,
      ...(address === undefined ? {} : { ip: address }),
    });
  }
  if (network.dhcp && first) {
    actions.push({
      kind: 'names',
      network: network.name,
      guest: context.guest,
      server: network.hostIp,
      domain: domainOf(network),
    });
  }
  const published = context.publishOn === nic.position ? publications(network, nic, context) : [];
  actions.push(...published.flatMap((entry) => entry.actions));
  if (first) {
    if (network.nat) {
      actions.push({ kind: 'forward', network: network.name, guest: context.guest, family: 4 });
      if (uplink6)
        actions.push({ kind: 'forward', network: network.name, guest: context.guest, family: 6, uplink: uplink6 });
    }
    // As this host's firewall looks now; decided again, under the lock, when the network is realised.
    const uplinks = { 4: context.facts.defaultRouteInterface, 6: uplink6 };
    const rules = firewallRules(network, uplinks, context.facts.firewall ?? NO_FIREWALL);
    actions.push({
      kind: 'firewall',
      network: network.name,
      guest: context.guest,
      subnet: network.subnet,
      ...(network.subnet6 ? { subnet6: network.subnet6 } : {}),
      nat: network.nat,
      rules,
    });
  }
  const traits = [
    network.subnet,
    `host ${network.hostIp}`,
    ...(network.subnet6 ? [network.subnet6] : []),
    ...(network.dhcp ? ['DHCP'] : []),
    ...(network.nat ? [network.subnet6 && !uplink6 ? 'NAT (IPv4 only: no IPv6 default route)' : 'NAT'] : []),
    ...(tunnel ? [`VXLAN ${network.vxlan!.vni} over ${tunnel.dev}, MTU ${tunnel.mtu}`] : []),
  ];
  return {
    ...tap,
    ...mtu,
    label: network.name,
    actions,
    messages: [
      `NIC ${nic.position} on network ${network.name} (${traits.join(', ')})${use === 'create' ? '' : ', already up'}`,
      ...published.map((entry) => entry.message),
    ],
    address: network.dhcp ? { from: 'lease', network: network.name, dir: serverDir } : { from: 'neighbour' },
  };
}
