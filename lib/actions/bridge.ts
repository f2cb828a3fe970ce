// A Linux bridge the tool makes (vmnetN, br:NAME, a defined network's bridge),
// shared by its guests and removed with the last. A bridge it did not make is
// never an action: guests only use it.
import { readdirSync } from 'node:fs';
import { HostError, UsageError } from '../base/errors.ts';
import { hostAddressProblem } from '../net/host-address.ts';
import { INTERFACE_NAME, VMNET_NAME } from '../base/names.ts';
import { hostCidr6Of, hostCidrOf, readNetworks } from '../net/networks.ts';
import { ipv6On, probePrefixes } from '../probe/probe.ts';
import { dropResource, findResource, recordIntent, type ResourceRecord } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import { liveUnderlay } from '../probe/underlay.ts';
import type { HostAction } from '../base/types.ts';
import {
  arity,
  checked,
  addMarkedLink,
  deleteHalfMadeLink,
  deleteLinkArgv,
  destroyLink,
  GUEST_NAME,
  isBridge,
  isRecordsLink,
  linkExists,
  makeRecorded,
  markArgv,
  refuse,
  type ActionKind,
  type RootContext,
} from './kind.ts';
import { sysNet } from '../base/paths.ts';

type BridgeAction = Extract<HostAction, { kind: 'bridge' }>;

const addArgv = (action: Pick<BridgeAction, 'name' | 'mtu'>) => [
  'ip',
  'link',
  'add',
  'name',
  action.name,
  ...(action.mtu ? ['mtu', String(action.mtu)] : []),
  'type',
  'bridge',
];

/** After the bridge is made, and marked as its record's and up in one `ip` run. */
const addressArgvs = (action: Pick<BridgeAction, 'name' | 'hostIp' | 'hostIp6'>): string[][] => [
  ...(action.hostIp ? [['ip', 'addr', 'add', action.hostIp, 'dev', action.name]] : []),
  // No duplicate address detection: the address is the network's own, and dnsmasq binds it at once.
  ...(action.hostIp6 ? [['ip', '-6', 'addr', 'add', action.hostIp6, 'dev', action.name, 'nodad']] : []),
];

/** Ports still attached (TAPs of running guests): a bridge with any is in use. */
function ports(name: string): string[] {
  try {
    return readdirSync(sysNet(name, 'brif'));
  } catch {
    return [];
  }
}

async function create(action: BridgeAction, record: ResourceRecord, context: RootContext): Promise<void> {
  await addMarkedLink(addArgv(action), action.name, record, { verbose: context.verbose, also: ['up'] });
  for (const argv of addressArgvs(action)) await run(argv, { verbose: context.verbose });
}

export const bridge: ActionKind<BridgeAction> = {
  makesInterface: true,

  key: (action) => action.name,

  show: (action) => ({
    apply: action.shared
      ? [{ argv: [], note: `${action.name} exists (another guest's): joined` }]
      : [addArgv(action), markArgv(action.name, undefined, ['up']), ...addressArgvs(action)].map((argv) => ({ argv })),
    undo: [{ argv: deleteLinkArgv(action.name), note: 'only when no other guest uses it' }],
  }),

  request: (action) => [action.name, action.guest, ...(action.hostIp && !action.network ? [action.hostIp] : [])],

  fromRequest(words, caller) {
    arity(words, 2, 3, 'bridge-add takes BRIDGE GUEST [CIDR]');
    const name = checked(words[0], INTERFACE_NAME, 'bridge name');
    const guest = checked(words[1], GUEST_NAME, 'guest name');
    const network = readNetworks(caller.config)[name];
    if (caller.uid !== 0 && !network && !VMNET_NAME.test(name)) {
      throw refuse(`${name}: members make only vmnetN bridges and defined networks (qemu-script net ls)`);
    }
    if (network && words[2] !== undefined)
      throw refuse(`${name} is a defined network: its address comes from its definition`);
    const hostIp = network ? hostCidrOf(network) : words[2];
    const hostIp6 = network && ipv6On() ? hostCidr6Of(network) : undefined;
    // Private, of a sane size; the overlap with what the host has is checked under the lock.
    const problem = hostIp === undefined ? undefined : hostAddressProblem(hostIp, []);
    if (problem) throw refuse(problem);
    if (linkExists(name) && !isBridge(name)) throw refuse(`${name} exists and is not a bridge`);
    // A tunnelled network's bridge takes the tunnel's MTU, read from the host now.
    const mtu = network?.vxlan ? liveUnderlay(network.vxlan)?.mtu : undefined;
    return {
      kind: 'bridge',
      name,
      guest,
      hostIp,
      ...(hostIp6 ? { hostIp6 } : {}),
      shared: false,
      network: network?.name,
      ...(mtu ? { mtu } : {}),
    };
  },

  async acquire(action, user, context) {
    const { tx, netns } = context;
    let record = findResource(tx.registry, 'bridge', action.name, netns);
    const present = linkExists(action.name);
    if (record && !isRecordsLink(action.name, record)) {
      // Removed behind the tool's back (and maybe made again by someone else): forget it.
      dropResource(tx.registry, record);
      record = undefined;
    }
    if (!record) {
      if (present) {
        if (!isBridge(action.name)) throw new HostError(`${action.name} exists and is not a bridge`);
        if (action.network)
          throw new HostError(
            `network ${action.network}: an interface named ${action.name} exists and was not made by ` +
              `qemu-script; remove it or rename the network`,
          );
        return 'foreign';
      }
      // Under the lock, against the host as it is now: two requests cannot race into one subnet.
      const addresses = [action.hostIp, action.hostIp6].filter((cidr) => cidr !== undefined);
      // Routes and rules are read (four `ip` runs) only when the bridge gets an address of the host's.
      const prefixes = addresses.length > 0 ? probePrefixes() : [];
      const problem = addresses.map((cidr) => hostAddressProblem(cidr, prefixes)).find(Boolean);
      if (problem) throw new UsageError(`bridge ${action.name}: ${problem}`);
      record = recordIntent(tx, {
        kind: 'bridge',
        name: action.name,
        netns,
        creator: user.uid,
        users: [user],
        data: { hostIp: action.hostIp, hostIp6: action.hostIp6, network: action.network, mtu: action.mtu },
      });
      const made = record;
      await makeRecorded(
        context,
        made,
        () => create(action, made, context),
        () => deleteHalfMadeLink(action.name, made),
      );
      return 'created';
    }
    record.users.push(user);
    return 'joined';
  },

  busy: (record) => ports(record.name).length > 0,

  destroy: destroyLink,
};
