// What a defined network needs from the host's firewall: NAT out of the default
// route, and forwarding past a DROP policy (Docker's) in the chain that really
// decides. Decided under the lock from the host as it is then; every command
// is recorded before it runs and taken back with the network's last guest.
import { HostError } from '../base/errors.ts';
import { firewallRules } from '../net/firewall.ts';
import { probeFirewall } from '../probe/firewall.ts';
import { defaultRoute6From, defaultRouteFrom, ipv6On } from '../probe/probe.ts';
import { realisedHere } from '../net/networks.ts';
import { recordIntent, type ResourceRecord } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import { readText } from '../probe/host-access.ts';
import { findSystemTool, INSTALL_HINT } from '../base/system-tools.ts';
import type { FirewallRules, HostAction } from '../base/types.ts';
import { joinedNetworkResource, makeRecorded, networkRequest, refuse, type ActionKind } from './kind.ts';
import { procNet } from '../base/paths.ts';

type FirewallAction = Extract<HostAction, { kind: 'firewall' }>;

/** The command with its program found in the system's directories. */
function resolved(argv: string[]): string[] {
  const program = findSystemTool(argv[0]);
  if (!program)
    throw new HostError(
      `the firewall rules need ${argv[0]}, which is not ` +
        `installed${INSTALL_HINT[argv[0]] ? `: ${INSTALL_HINT[argv[0]]}` : ''}`,
    );
  return [program, ...argv.slice(1)];
}

/** Adds the rules in order, each program found in the system's directories first (a missing one: said which). */
export async function runRules(rules: FirewallRules, verbose: boolean): Promise<void> {
  const commands = rules.commands.map((command) => resolved(command.add));
  for (const command of commands) await run(command, { verbose });
}

/** Takes back what the rules added, newest first; a rule already gone is fine. */
export async function removeRules(rules: FirewallRules, verbose: boolean): Promise<void> {
  for (const command of [...rules.commands].reverse()) {
    if (command.remove.length === 0) continue;
    try {
      await run(resolved(command.remove), { verbose });
    } catch {
      // Gone already, or its program is.
    }
  }
}

export const firewall: ActionKind<FirewallAction> = {
  makesInterface: false,

  key: (action) => action.network,

  show: (action) => ({
    apply:
      action.rules.commands.length > 0
        ? action.rules.commands.map((command) => ({ argv: command.add }))
        : [
            {
              argv: [],
              note: `the host's firewall needs nothing for ${action.network} (decided again when it is realised)`,
            },
          ],
    undo: [...action.rules.commands]
      .reverse()
      .filter((command) => command.remove.length > 0)
      .map((command) => ({ argv: command.remove, note: "with the network's last guest" })),
  }),

  request: (action) => [action.network, action.guest],

  fromRequest(words, caller) {
    // NAT and the subnet come from root's definition alone.
    const { name, guest, network } = networkRequest(words, caller, 'firewall');
    if (!network) throw refuse(`no network ${name} is defined (see qemu-script net ls)`);
    const here = realisedHere(network, ipv6On());
    return {
      kind: 'firewall',
      network: name,
      guest,
      subnet: network.subnet,
      ...(here.subnet6 ? { subnet6: here.subnet6 } : {}),
      nat: network.nat,
      rules: { commands: [] },
    };
  },

  async acquire(action, user, context) {
    if (joinedNetworkResource(context, user, 'firewall', action)) return 'joined';
    const routes6 = readText(procNet('ipv6_route')) ?? '';
    const uplink = defaultRouteFrom(readText(procNet('route')) ?? '', routes6);
    if (action.nat && !uplink)
      throw new HostError(`network ${action.network} does NAT out of the default route, and this host has none`);
    const rules = firewallRules(
      {
        name: action.network,
        subnet: action.subnet,
        nat: action.nat,
        ...(action.subnet6 ? { subnet6: action.subnet6 } : {}),
      },
      { 4: uplink, 6: action.subnet6 ? defaultRoute6From(routes6) : undefined },
      probeFirewall(),
    );
    if (rules.commands.length === 0) return 'nothing needed';
    const record: ResourceRecord = recordIntent(context.tx, {
      kind: 'firewall',
      name: action.network,
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: { rules },
    });
    await makeRecorded(
      context,
      record,
      () => runRules(rules, context.verbose),
      () => removeRules(rules, context.verbose),
    );
    return 'rules added';
  },

  async destroy(record, context) {
    if (context.here) await removeRules(record.data.rules as FirewallRules, context.verbose);
  },
};
