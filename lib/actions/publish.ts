// A host port forwarded to a guest on a defined network (`--fwd` there, `fwd add`): DNAT to the address the
// network's DHCP server registered for the guest's NIC, in an nft table of its own, past the host's firewall
// as the network's own rules get past it. Root decides the address from its registry (never the request),
// refuses a port that is taken, privileged for a member, or forwarded already, and removes the table with
// the guest, by `fwd rm` and by gc.
import { HostError } from '../base/errors.ts';
import { GUEST_NAME, NETWORK_NAME } from '../base/names.ts';
import { readNetworks } from '../net/networks.ts';
import { publicationRules, publicationTable } from '../net/firewall.ts';
import { probeFirewall } from '../probe/firewall.ts';
import { isFree } from '../probe/port-check.ts';
import { localAddressesFrom, unprivilegedPortStart } from '../probe/probe.ts';
import { readText } from '../probe/host-access.ts';
import { procNet } from '../base/paths.ts';
import { findResource, recordIntent } from '../state/registry.ts';
import type { FirewallRules, HostAction } from '../base/types.ts';
import { removeRules, runRules } from './firewall.ts';
import { arity, checked, checkedMac, heldBridge, makeRecorded, refuse, type ActionKind } from './kind.ts';

type PublishAction = Extract<HostAction, { kind: 'publish' }>;

const PORT = /^[1-9]\d{0,4}$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function checkedPort(word: string | undefined, what: string): number {
  const port = Number(checked(word, PORT, what));
  if (port > 65535) throw refuse(`${port} is not a valid ${what}`);
  return port;
}

export const publish: ActionKind<PublishAction> = {
  makesInterface: false,

  key: (action) => `${action.protocol}-${action.hostPort}`,

  show: (action) => {
    const table = publicationTable(action.protocol, action.hostPort);
    return {
      apply: [
        {
          argv: ['nft', 'add', 'table', 'ip', table],
          note:
            `${action.protocol} port ${action.hostPort} of ${action.listen ?? "this host's addresses"} -> ` +
            `${action.guest}'s address on ` +
            `${action.network}, port ${action.guestPort} (DNAT; that address and the firewall's rules are decided ` +
            'when it is made)',
        },
      ],
      undo: [{ argv: ['nft', 'delete', 'table', 'ip', table], note: 'with the guest, or by fwd rm' }],
    };
  },

  request: (action) => [
    action.network,
    action.guest,
    action.mac,
    action.protocol,
    String(action.hostPort),
    String(action.guestPort),
    ...(action.listen ? [action.listen] : []),
  ],

  fromRequest(words, caller) {
    arity(words, 6, 7, 'publish-add takes NETWORK GUEST MAC tcp|udp HOSTPORT GUESTPORT [ADDRESS]');
    const network = checked(words[0], NETWORK_NAME, 'network name');
    const definition = readNetworks(caller.config)[network];
    if (!definition) throw refuse(`no network ${network} is defined (see qemu-script net ls)`);
    if (!definition.dhcp) throw refuse(`network ${network} is defined without DHCP: its guests have no known address`);
    const protocol = checked(words[3], /^(tcp|udp)$/, 'protocol') as 'tcp' | 'udp';
    return {
      kind: 'publish',
      network,
      guest: checked(words[1], GUEST_NAME, 'guest name'),
      mac: checkedMac(words[2]),
      protocol,
      hostPort: checkedPort(words[4], 'host port'),
      guestPort: checkedPort(words[5], 'guest port'),
      nat: definition.nat,
      // A member who names no address gets the network's own: never every address of the host.
      ...(words[6] !== undefined
        ? { listen: checked(words[6], IPV4, 'IPv4 address') }
        : caller.uid !== 0
          ? { listen: definition.hostIp }
          : {}),
    };
  },

  async acquire(action, user, context) {
    heldBridge(context, user, action.network, action.guest);
    const { registry } = context.tx;
    const taken = findResource(registry, 'publish', publish.key(action), context.netns);
    if (taken) {
      const holder = taken.users[0]?.guest ?? 'a guest';
      throw refuse(`host port ${action.hostPort} (${action.protocol}) is forwarded to ${holder} already`);
    }
    const start = unprivilegedPortStart();
    if (user.uid !== 0 && action.hostPort < start) {
      throw refuse(`host port ${action.hostPort} is privileged (below ${start}): only root may forward it`);
    }
    // The address is the one the network's server gave this user's NIC: never one the request names.
    const server = findResource(registry, 'dhcp', action.network, context.netns);
    const nic = server?.users.find((entry) => entry.mac === action.mac && entry.uid === user.uid);
    if (!nic?.ip) throw refuse(`${action.mac} of ${action.guest} is not registered on ${action.network}`);
    if (action.listen) {
      // Only an address this host has, and not loopback's (a DNAT from 127.0.0.1 would need route_localnet).
      const local = localAddressesFrom(readText(procNet('fib_trie')) ?? '').filter((ip) => !ip.startsWith('127.'));
      if (!local.includes(action.listen))
        throw refuse(`${action.listen} is not an address of this host (it has: ${local.join(', ') || 'none'})`);
    }
    if (!(await isFree(action.hostPort, action.protocol))) {
      throw new HostError(`host port ${action.hostPort} (${action.protocol}) is in use on this host; choose another`);
    }
    const rules: FirewallRules = publicationRules({ ...action, guestIp: nic.ip }, probeFirewall());
    const record = recordIntent(context.tx, {
      kind: 'publish',
      name: publish.key(action),
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: { rules, network: action.network, ip: nic.ip },
    });
    await makeRecorded(
      context,
      record,
      () => runRules(rules, context.verbose),
      () => removeRules(rules, context.verbose),
    );
    return `forwarded to ${nic.ip}:${action.guestPort}`;
  },

  async destroy(record, context) {
    if (context.here) await removeRules(record.data.rules as FirewallRules, context.verbose);
  },
};
