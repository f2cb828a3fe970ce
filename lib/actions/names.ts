// The host resolves a defined network's guest names (web.hostonly) while the network is up: where
// systemd-resolved runs, its bridge gets the network's DNS server for the network's domain alone (`~DOMAIN`,
// a routing domain: no other name is asked of it), the way libvirt ≥ 10.1 does. /etc/resolv.conf is never
// touched; the setting goes with the bridge, and is reverted with the network's last guest. Without resolved,
// nothing is done and `doctor` says how to ask the server.
import { readNetworks, domainOf } from '../net/networks.ts';
import { resolvedRuns } from '../probe/resolved.ts';
import { recordIntent } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import { findSystemTool } from '../base/system-tools.ts';
import type { HostAction } from '../base/types.ts';
import { joinedNetworkResource, linkExists, makeRecorded, networkRequest, refuse, type ActionKind } from './kind.ts';

type NamesAction = Extract<HostAction, { kind: 'names' }>;

const setArgv = (action: NamesAction) => [
  ['resolvectl', 'dns', action.network, action.server],
  ['resolvectl', 'domain', action.network, `~${action.domain}`],
];
const revertArgv = (network: string) => ['resolvectl', 'revert', network];

export const names: ActionKind<NamesAction> = {
  makesInterface: false,

  key: (action) => action.network,

  show: (action) => ({
    apply: setArgv(action).map((argv) => ({ argv, note: 'only where systemd-resolved runs' })),
    undo: [{ argv: revertArgv(action.network), note: "with the network's last guest" }],
  }),

  request: (action) => [action.network, action.guest],

  fromRequest(words, caller) {
    const { name, guest } = networkRequest(words, caller, 'names');
    // The server and the domain are root's definition's, never the request's.
    const network = readNetworks(caller.config)[name];
    if (!network) throw refuse(`no network ${name} is defined (see qemu-script net ls)`);
    if (!network.dhcp) throw refuse(`network ${name} is defined without DHCP: no server answers its names`);
    return { kind: 'names', network: name, guest, server: network.hostIp, domain: domainOf(network) };
  },

  async acquire(action, user, context) {
    if (joinedNetworkResource(context, user, 'names', action)) return 'joined';
    const resolvectl = findSystemTool('resolvectl');
    if (!resolvectl || !(await resolvedRuns())) return 'nothing needed (systemd-resolved does not run)';
    const record = recordIntent(context.tx, {
      kind: 'names',
      name: action.network,
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: {},
    });
    await makeRecorded(
      context,
      record,
      async () => {
        for (const argv of setArgv(action)) await run([resolvectl, ...argv.slice(1)], { verbose: context.verbose });
      },
      () => names.destroy(record, { ...context, here: true }),
    );
    return `${action.domain} asked of ${action.server}`;
  },

  async destroy(record, context) {
    // A bridge that is gone took its DNS settings with it.
    const resolvectl = findSystemTool('resolvectl');
    if (!context.here || !resolvectl || !linkExists(record.name)) return;
    await run([resolvectl, ...revertArgv(record.name).slice(1)], { verbose: context.verbose }).catch(() => undefined);
  },
};
