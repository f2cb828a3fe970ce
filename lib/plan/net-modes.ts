// Each NIC of a --net spec planned: its QEMU netdev, the host actions it needs, its companions and messages,
// one planner per kind of network (user, passt, bridged, mcast, bridge and defined networks, macvtap).
import { HostError, UsageError } from '../base/errors.ts';
import { macvtapName, tapName, VMNET_NAME } from '../base/names.ts';
import { firewallRules, NO_FIREWALL } from '../net/firewall.ts';
import { aclAllows } from '../probe/host-access.ts';
import { describePrefix, hostAddressProblem, prefixClash } from '../net/host-address.ts';
import { dhcpConfigOf, domainOf, hostCidr6Of, hostCidrOf, realisedHere } from '../net/networks.ts';
import { BRIDGE_CONF, macvtapNodePath, networkRunDir } from '../base/paths.ts';
import type { PortPicker } from './ports.ts';
import { qemuProps } from './qemu-syntax.ts';
import { NET_WORDS } from './net-spec.ts';
import { didYouMean } from '../base/suggest.ts';
import { INSTALL_HINT } from '../base/system-tools.ts';
import { underlayOf, vxlanDevice, type Underlay } from '../net/tunnel.ts';
import type {
  AddressSource,
  Companion,
  FdSpec,
  Forward,
  ForwardInfo,
  HostAction,
  HostFacts,
  NetItem,
  NetworkDef,
  Settings,
} from '../base/types.ts';

const SSH_BASE_PORT = 10022;
const MCAST_PORT = 12345;

/** State shared by the NICs of one guest while they are planned, in order. */
export interface NetContext {
  facts: HostFacts;
  /** The guest's private directory: passt's socket goes there. */
  runDir: string;
  companions: Companion[];
  settings: Settings;
  guest: string;
  hostIp?: string;
  /** --host-ip goes to the first bridge this guest creates, once. */
  hostIpAssigned: boolean;
  fwd: Forward[];
  /** The position of the NIC that takes --fwd when no NIC is user-mode: one on a defined network with DHCP. */
  publishOn?: number;
  /** --ssh-port: a port, none, or (undefined) the first free from 10022. */
  sshPort?: number | 'none';
  /** The user network's forwards, as `ps --json` shows them. */
  forwards: ForwardInfo[];
  ports: PortPicker;
  nextFd: () => number;
  /** Interfaces this guest will get (macvtapN, qtapN): names no other NIC may pick. */
  interfaceNames: Set<string>;
  bridgesPlanned: Map<string, BridgeUse>;
  warnings: string[];
  /** About the host rather than this line (vhost-net): said once per boot. */
  notices: string[];
}

export interface NicPlan {
  netdev: string;
  label: string;
  /** The MTU the guest is told (virtio-net host_mtu): a tunnel's. */
  mtu?: number;
  actions: HostAction[];
  fds: FdSpec[];
  messages: string[];
  address: AddressSource;
}

interface Nic {
  id: string;
  mac: string;
  position: number;
}

type ModePlanner<K extends NetItem['kind']> = (
  item: Extract<NetItem, { kind: K }>,
  nic: Nic,
  context: NetContext,
) => NicPlan;

const hostless = (netdev: string, label: string, address: AddressSource, messages: string[]): NicPlan => ({
  netdev,
  label,
  actions: [],
  fds: [],
  messages,
  address,
});

/** Opens /dev/vhost-net for a TAP or macvtap NIC when it really opens; QEMU 7.2 aborts on vhost=on otherwise. */
function vhostFor(context: NetContext): { props: Record<string, string | number>; fds: FdSpec[] } {
  if (!context.facts.vhostNetUsable) {
    const warning =
      `vhost-net is not available (${context.settings.vhostNetDevice} does not open): ` +
      'TAP NICs run without it; qemu-script doctor says why';
    if (!context.notices.includes(warning)) context.notices.push(warning);
    return { props: {}, fds: [] };
  }
  const fd = context.nextFd();
  return { props: { vhost: 'on', vhostfd: fd }, fds: [{ fd, path: context.settings.vhostNetDevice }] };
}

/** A host port the user asked for: exactly that one, and one this user may bind. */
function exactPort(port: number, what: string, context: NetContext): number {
  const start = context.facts.unprivilegedPortStart;
  if (port < start && !context.facts.isRoot) {
    throw new UsageError(
      `${what}: host port ${port} is privileged (below ${start}) and only root may listen on it; choose one from ` +
        `${start} up`,
    );
  }
  return context.ports.exactly(port, what);
}

/** Where the user-mode NICs' forwards listen: the host's loopback alone, nothing from the LAN. */
export const LOOPBACK = '127.0.0.1';

/** Where root's companions' user id is looked for, downwards: the top of the 16-bit range, below nobody's. */
const COMPANION_UID = 65533;

/** The SSH forward and --fwd of a user-mode NIC (user, passt): host ports on loopback, recorded for ps. */
function loopbackForwards(context: NetContext): { all: Forward[]; messages: string[] } {
  // Explicit forwards first: the SSH forward moves out of their way, not the other way round.
  const explicit = context.fwd.map((forward) => ({
    ...forward,
    hostPort: exactPort(forward.hostPort, '--fwd', context),
  }));
  const { sshPort } = context;
  const ssh =
    sshPort === 'none'
      ? undefined
      : sshPort === undefined
        ? context.ports.firstFree(SSH_BASE_PORT)
        : exactPort(sshPort, '--ssh-port', context);
  const all = [...(ssh === undefined ? [] : [{ protocol: 'tcp' as const, hostPort: ssh, guestPort: 22 }]), ...explicit];
  for (const forward of all)
    context.forwards.push({
      proto: forward.protocol,
      host: LOOPBACK,
      port: forward.hostPort,
      guest_port: forward.guestPort,
    });
  const messages = [
    ...(ssh === undefined ? [] : [`SSH on localhost:${ssh}`]),
    ...explicit.map(
      (forward) => `Forward ${forward.protocol} localhost:${forward.hostPort} -> guest port ${forward.guestPort}`,
    ),
  ];
  return { all, messages };
}

function planUser(_item: { kind: 'user' }, nic: Nic, context: NetContext): NicPlan {
  const { all, messages } = loopbackForwards(context);
  const netdev = [
    `user,id=${nic.id}`,
    ...all.map((forward) => `hostfwd=${forward.protocol}:${LOOPBACK}:${forward.hostPort}-:${forward.guestPort}`),
  ].join(',');
  return hostless(netdev, 'user', { from: 'user' }, messages);
}

/**
 * passt: a process of the caller's per guest, which QEMU reaches over a unix socket. It gives the guest
 * the host's IPv4 address by DHCP and forwards ports bound to 127.0.0.1 alone, nothing from the LAN:
 * Debian 12's passt takes one address per port, and its IPv6 sockets are IPv6-only.
 */
function planPasst(_item: { kind: 'passt' }, nic: Nic, context: NetContext): NicPlan {
  const binary = context.facts.passt;
  if (!binary) throw new UsageError(`--net passt: passt is not installed; ${INSTALL_HINT.passt}`);
  const { all, messages } = loopbackForwards(context);
  const spec = (protocol: Forward['protocol']) =>
    all
      .filter((forward) => forward.protocol === protocol)
      .flatMap((forward) => [protocol === 'tcp' ? '-t' : '-u', `${LOOPBACK}/${forward.hostPort}:${forward.guestPort}`]);
  // Root's passt runs as a user of its own, who cannot enter the guest's private directory: its own directory
  // is elsewhere, that user's alone.
  const dir = context.facts.isRoot
    ? `${context.facts.runtimeDir}/passt/${context.guest}-${nic.id}`
    : `${context.runDir}/passt-${nic.id}`;
  const socket = `${dir}/passt.sock`;
  const log = `${dir}/passt.log`;
  const udp = spec('udp');
  context.companions.push({
    kind: 'passt',
    dir,
    socket,
    log,
    // Never as root (passt's own switch to nobody leaves its socket unreachable), nor as nobody, whom the DHCP
    // servers run as: as a user id of its own (no account has it), so a compromised server can neither signal
    // it nor write where it keeps its socket.
    ...(context.facts.isRoot ? { runAs: context.facts.companionUid ?? COMPANION_UID } : {}),
    // --foreground: the tool starts it detached and knows its PID. -u none: otherwise passt forwards the
    // TCP ports' numbers for UDP too.
    argv: [
      binary,
      '--foreground',
      '--quiet',
      '--socket',
      socket,
      '--log-file',
      log,
      ...spec('tcp'),
      ...(udp.length > 0 ? udp : ['-u', 'none']),
    ],
  });
  const netdev = qemuProps(`stream,id=${nic.id}`, { server: 'off', 'addr.type': 'unix', 'addr.path': socket });
  return hostless(netdev, 'passt', { from: 'none' }, [
    `NIC ${nic.position} on passt (the host's addresses)`,
    ...messages,
  ]);
}

function planMcast(item: { group: number; lan: boolean }, nic: Nic): NicPlan {
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

type BridgeUse = 'create' | 'shared' | 'foreign';

/** How this guest uses bridge NAME, decided on its first NIC there. */
function bridgeUse(name: string, context: NetContext): BridgeUse {
  const planned = context.bridgesPlanned.get(name);
  if (planned) return planned;
  const existing = context.facts.interfaces[name];
  if (existing && existing.kind !== 'bridge') {
    throw new UsageError(
      `--net ${name}: interface ${name} exists and is not a bridge (it is ` +
        `${existing.linkKind ?? existing.kind}); choose another bridge name`,
    );
  }
  const use = !existing ? 'create' : context.facts.toolBridges.includes(name) ? 'shared' : 'foreign';
  context.bridgesPlanned.set(name, use);
  return use;
}

/** The first name of the pattern that no interface, reservation or other NIC of this guest has. */
function freeName(context: NetContext, make: (k: number) => string): string {
  const taken = (name: string) =>
    name in context.facts.interfaces ||
    context.facts.reservedInterfaces.includes(name) ||
    context.interfaceNames.has(name);
  for (let k = 0; ; k++) {
    const name = make(k);
    if (!taken(name)) {
      context.interfaceNames.add(name);
      return name;
    }
  }
}

/**
 * A NIC on a bridge. On the tool's own bridges root makes the TAP, owned by
 * the guest's user, and QEMU opens it by name: no capability-carrying helper
 * and no ACL. On any other bridge (br0, a LAN bridge) qemu-bridge-helper makes
 * it, as the administrator's bridge.conf allows.
 */
function tapOnBridge(
  bridge: string,
  use: BridgeUse,
  nic: Nic,
  context: NetContext,
  mtu?: number,
): Pick<NicPlan, 'netdev' | 'fds' | 'actions'> {
  const vhost = vhostFor(context);
  if (use === 'foreign') {
    if (!aclAllows(context.facts.bridgeAcl, bridge)) {
      throw new UsageError(
        `--net ${bridge}: ${bridge} is not a bridge of qemu-script and ${BRIDGE_CONF} does not allow it, ` +
          `so QEMU's bridge helper would refuse it; an administrator allows it with: sudo qemu-script setup ` +
          `--allow-bridge ${bridge}`,
      );
    }
    const helper = context.settings.bridgeHelper;
    const netdev =
      vhost.fds.length > 0
        ? qemuProps(`tap,id=${nic.id}`, { br: bridge, helper, ...vhost.props })
        : qemuProps(`bridge,id=${nic.id}`, { br: bridge, helper });
    return { netdev, fds: vhost.fds, actions: [] };
  }
  const name = freeName(context, tapName);
  return {
    netdev: qemuProps(`tap,id=${nic.id}`, { ifname: name, script: 'no', downscript: 'no', ...vhost.props }),
    fds: vhost.fds,
    actions: [{ kind: 'tap', name, bridge, guest: context.guest, owner: context.facts.uid, ...(mtu ? { mtu } : {}) }],
  };
}

/**
 * A bare name acts only when it is unambiguous: a defined network, an existing
 * interface, or a vmnetN. Anything else is a typo until written br:NAME.
 */
function checkBareName(name: string, context: NetContext): void {
  const { facts } = context;
  if (name in facts.interfaces || VMNET_NAME.test(name)) return;
  const bridges = Object.entries(facts.interfaces)
    .filter(([, facts_]) => facts_.kind === 'bridge')
    .map(([bridge]) => bridge);
  const words = NET_WORDS.filter((word) => !word.endsWith(':'));
  const suggestion = didYouMean(name, [...words, ...Object.keys(facts.networks), ...bridges]);
  throw new UsageError(
    `--net ${name}: no defined network, bridge or vmnetN is called ${name}${suggestion}; to make a bridge of ` +
      `that name write br:${name}`,
  );
}

function planBridge(item: { name: string; explicit: boolean }, nic: Nic, context: NetContext): NicPlan {
  const network = context.facts.networks[item.name];
  if (network) {
    if (item.explicit)
      throw new UsageError(`--net br:${item.name}: ${item.name} is a defined network; write --net ${item.name}`);
    return planNetwork(network, nic, context);
  }
  if (!item.explicit) checkBareName(item.name, context);
  const first = !context.bridgesPlanned.has(item.name);
  const use = bridgeUse(item.name, context);
  // The guest joins a bridge of the tool once (creating it if needed) and leaves it once.
  const joins = use !== 'foreign' && first;
  const hostIp = use === 'create' && first && !context.hostIpAssigned ? context.hostIp : undefined;
  if (hostIp) {
    context.hostIpAssigned = true;
    const problem = hostAddressProblem(hostIp, context.facts.prefixes);
    if (problem) throw new UsageError(`--host-ip: ${problem}`);
  }
  const how = { create: 'created', shared: 'shared', foreign: 'existing, left alone' }[use];
  const tap = tapOnBridge(item.name, use, nic, context);
  return {
    ...tap,
    label: item.name,
    actions: [
      ...(joins
        ? [{ kind: 'bridge' as const, name: item.name, guest: context.guest, hostIp, shared: use === 'shared' }]
        : []),
      ...tap.actions,
    ],
    messages: [`NIC ${nic.position} on bridge ${item.name} (${how})${hostIp ? `, host at ${hostIp}` : ''}`],
    address: { from: 'neighbour' },
  };
}

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
function planNetwork(definition: NetworkDef, nic: Nic, context: NetContext): NicPlan {
  const network = realisedHere(definition, context.facts.ipv6);
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

function planMacvtap(item: { parent: string }, nic: Nic, context: NetContext): NicPlan {
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

function planBridged(_item: { kind: 'bridged' }, nic: Nic, context: NetContext): NicPlan {
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

// One entry per network kind: a new mode is one entry and one small function.
const NET_MODES: { [K in NetItem['kind']]: ModePlanner<K> } = {
  user: planUser,
  passt: planPasst,
  mcast: planMcast,
  bridge: planBridge,
  macvtap: planMacvtap,
  bridged: planBridged,
};

export function planNic(item: NetItem, nic: Nic, context: NetContext): NicPlan {
  return (NET_MODES[item.kind] as ModePlanner<typeof item.kind>)(item as never, nic, context);
}
