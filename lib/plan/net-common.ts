// What every NIC's planner shares: the state of one guest's NICs while they are planned, the plan of a NIC,
// and the pieces several modes use (vhost-net, exact ports, loopback forwards, a TAP on a bridge).
import { UsageError } from '../base/errors.ts';
import { tapName } from '../base/names.ts';
import { aclAllows } from '../probe/host-access.ts';
import { BRIDGE_CONF } from '../base/paths.ts';
import type { PortPicker } from './ports.ts';
import { qemuProps } from './qemu-syntax.ts';
import type {
  AddressSource, Companion, FdSpec, Forward, ForwardInfo, HostAction, HostFacts, NetItem, Settings,
} from '../base/types.ts';

const SSH_BASE_PORT = 10022;
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

export interface Nic {
  id: string;
  mac: string;
  position: number;
}

export type ModePlanner<K extends NetItem['kind']> = (
  item: Extract<NetItem, { kind: K }>,
  nic: Nic,
  context: NetContext,
) => NicPlan;

export const hostless = (netdev: string, label: string, address: AddressSource, messages: string[]): NicPlan => ({
  netdev,
  label,
  actions: [],
  fds: [],
  messages,
  address,
});

/** Opens /dev/vhost-net for a TAP or macvtap NIC when it really opens; QEMU 7.2 aborts on vhost=on otherwise. */
export function vhostFor(context: NetContext): { props: Record<string, string | number>; fds: FdSpec[] } {
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
export function exactPort(port: number, what: string, context: NetContext): number {
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

/** The SSH forward and --fwd of a user-mode NIC (user, passt): host ports on loopback, recorded for ps. */
export function loopbackForwards(context: NetContext): { all: Forward[]; messages: string[] } {
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

export type BridgeUse = 'create' | 'shared' | 'foreign';

/** How this guest uses bridge NAME, decided on its first NIC there. */
export function bridgeUse(name: string, context: NetContext): BridgeUse {
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
export function freeName(context: NetContext, make: (k: number) => string): string {
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
export function tapOnBridge(
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
