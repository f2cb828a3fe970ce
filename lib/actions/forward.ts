// Forwarding, on while any NAT network is up: net.ipv4.ip_forward, and net.ipv6.conf.all.forwarding for
// networks with IPv6. Turned on only if it was off, and put back with the last NAT network only if the
// tool turned it on. IPv6 forwarding makes the kernel ignore router advertisements on interfaces with
// accept_ra 1: the uplink that learnt its default route from them is set to 2 (accept them anyway) while
// forwarding is on, then put back. A port forwarded into a network without NAT needs IPv4 forwarding too, but
// only for its own flows: while no NAT network holds it, a guard of the tool's (net/firewall.ts) drops every
// other routed packet, so a host-only network keeps no way out and the host routes nothing else.
import { readFileSync } from 'node:fs';
import { HostError } from '../base/errors.ts';
import { procNet } from '../base/paths.ts';
import { readText } from '../probe/host-access.ts';
import { defaultRoute6From, ipv6On } from '../probe/probe.ts';
import { findResource, recordIntent } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import type { Command, HostAction } from '../base/types.ts';
import { forwardGuard } from '../net/firewall.ts';
import type { ResourceRecord, ResourceUser } from '../state/registry.ts';
import { arity, heldBridge, makeRecorded, networkRequest, refuse, type ActionKind } from './kind.ts';

type ForwardAction = Extract<HostAction, { kind: 'forward' }>;

const SETTING = { 4: 'net.ipv4.ip_forward', 6: 'net.ipv6.conf.all.forwarding' } as const;
const procSys = (setting: string) => `/proc/sys/${setting.replace(/\./g, '/')}`;
const setArgv = (setting: string, value: string) => ['sysctl', '-q', '-w', `${setting}=${value}`];
const current = (setting: string) => readFileSync(procSys(setting), 'utf8').trim();
const acceptRa = (dev: string) => `net.ipv6.conf.${dev}.accept_ra`;
const keyOf = (family: 4 | 6) => (family === 6 ? 'ipv6' : 'ipv4');

/** The holders that are NAT networks (the others forward ports): while one is, the host routes for it. */
const holderId = (user: { uid: number; guest: string }) => `${user.uid}/${user.guest}`;
const natHolders = (record: ResourceRecord): string[] =>
  Array.isArray(record.data.nat) ? record.data.nat.filter((id): id is string => typeof id === 'string') : [];

async function addGuard(record: ResourceRecord, verbose: boolean): Promise<void> {
  if (record.data.guard === true) return;
  for (const command of forwardGuard()) await run(command.add, { verbose });
  record.data.guard = true;
}

/** Whether or not the record says so (a root that died between the two left no flag): absent is fine. */
async function removeGuard(verbose: boolean): Promise<void> {
  for (const command of forwardGuard().filter((entry) => entry.remove.length > 0))
    await run(command.remove, { verbose }).catch(() => undefined);
}

/** A NAT network joins forwarding that only forwarded ports held: the host routes for it from now on. */
async function joinForwarding(record: ResourceRecord, user: ResourceUser, action: ForwardAction, verbose: boolean) {
  record.users.push(user);
  if (action.publish) return;
  record.data.nat = [...natHolders(record), holderId(user)];
  if (record.name === 'ipv4' && record.data.previous === '0') await removeGuard(verbose);
  record.data.guard = false;
}

function guardShown(): { apply: Command[]; undo: Command[] } {
  const note = 'only while forwarded ports alone need forwarding: it routes nothing else';
  return {
    apply: forwardGuard().map((command) => ({ argv: command.add, note })),
    undo: forwardGuard()
      .filter((command) => command.remove.length > 0)
      .map((command) => ({ argv: command.remove, note: 'if it was added' })),
  };
}

export const forward: ActionKind<ForwardAction> = {
  makesInterface: false,

  key: (action) => keyOf(action.family),

  show: (action) => ({
    apply: [
      ...(action.publish ? guardShown().apply : []),
      { argv: setArgv(SETTING[action.family], '1'), note: 'only if it is 0' },
      ...(action.family === 6
        ? [{ argv: setArgv(acceptRa(action.uplink ?? 'UPLINK'), '2'), note: 'only if it is 1' }]
        : []),
    ],
    undo: [
      {
        argv: setArgv(SETTING[action.family], '0'),
        note: `with the last ${action.publish ? 'forwarded port' : 'NAT network'}, only if the tool turned it on`,
      },
      ...(action.publish ? guardShown().undo : []),
    ],
  }),

  request: (action) => [
    action.network,
    action.guest,
    ...(action.family === 6 ? ['ipv6'] : []),
    ...(action.publish ? ['publish'] : []),
  ],

  fromRequest(words, caller) {
    arity(words, 2, 3, 'forward-add takes NETWORK GUEST [ipv6|publish]');
    if (words[2] !== undefined && words[2] !== 'ipv6' && words[2] !== 'publish')
      throw refuse(`"${words[2]}" is not ipv6 or publish`);
    // Forwarding is for NAT networks root defined, and for ports forwarded into a network (checked when made).
    const { name, guest, network } = networkRequest(words.slice(0, 2), caller, 'forward');
    const publish = words[2] === 'publish';
    if (!network || (!network.nat && !publish)) throw refuse(`${name} is not a NAT network`);
    if (words[2] === 'ipv6' && !network.subnet6) throw refuse(`${name} has no IPv6 subnet`);
    return {
      kind: 'forward',
      network: name,
      guest,
      family: words[2] === 'ipv6' ? 6 : 4,
      ...(publish ? { publish } : {}),
    };
  },

  async acquire(action, user, context) {
    heldBridge(context, user, action.network, action.guest);
    // A member's forwarding for a forwarded port: only while their guest forwards one into that network.
    const publishes = () =>
      context.tx.registry.resources.some(
        (entry) =>
          entry.kind === 'publish' &&
          entry.netns === context.netns &&
          entry.data.network === action.network &&
          entry.users.some((holder) => holder.uid === user.uid && holder.guest === action.guest),
      );
    if (action.publish && user.uid !== 0 && !publishes())
      throw refuse(`your guest ${action.guest} forwards no host port into ${action.network}`);
    const key = keyOf(action.family);
    const record = findResource(context.tx.registry, 'forward', key, context.netns);
    if (record) {
      await joinForwarding(record, user, action, context.verbose);
      return 'joined';
    }
    const setting = SETTING[action.family];
    if (action.family === 6 && !ipv6On()) throw new HostError(`network ${action.network}: IPv6 is off on this host`);
    // Only the uplink's acceptance of router advertisements matters: the way out stays.
    const uplink = action.family === 6 ? defaultRoute6From(readText(procNet('ipv6_route')) ?? '') : undefined;
    const ra = uplink && current(acceptRa(uplink)) === '1' ? uplink : undefined;
    if (current(setting) === '1' && !ra) return 'on already';
    const guard = Boolean(action.publish);
    const made = recordIntent(context.tx, {
      kind: 'forward',
      name: key,
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: { previous: current(setting), ...(ra ? { acceptRa: ra } : {}), nat: guard ? [] : [holderId(user)] },
    });
    const verbose = context.verbose;
    await makeRecorded(
      context,
      made,
      async () => {
        if (ra) await run(setArgv(acceptRa(ra), '2'), { verbose });
        // The guard first: forwarding is never on without it for a forwarded port alone.
        if (guard) await addGuard(made, verbose);
        if (current(setting) !== '1') await run(setArgv(setting, '1'), { verbose });
      },
      async () => {
        if (ra) await run(setArgv(acceptRa(ra), '1'), { verbose }).catch(() => undefined);
        if (guard) await removeGuard(verbose);
      },
    );
    return guard ? 'turned on for forwarded ports alone' : 'turned on';
  },

  async left(record, context) {
    // A record from before the guard knew no holders: its forwarding stays as it was.
    if (!Array.isArray(record.data.nat)) return;
    // The last NAT network gone while forwarded ports still hold forwarding: the host routes for them alone.
    const nat = natHolders(record).filter((id) => record.users.some((user) => holderId(user) === id));
    record.data.nat = nat;
    if (record.name === 'ipv4' && record.data.previous === '0' && nat.length === 0 && record.users.length > 0)
      await addGuard(record, context.verbose);
  },

  async destroy(record, context) {
    if (!context.here) return;
    const setting = SETTING[record.name === 'ipv6' ? 6 : 4];
    if (record.data.previous === '0' && current(setting) === '1')
      await run(setArgv(setting, '0'), { verbose: context.verbose });
    // After forwarding is off: never on without it.
    if (record.name === 'ipv4') await removeGuard(context.verbose);
    const ra = record.data.acceptRa;
    // An interface gone meanwhile has nothing to put back.
    if (typeof ra === 'string' && readText(procSys(acceptRa(ra)))?.trim() === '2')
      await run(setArgv(acceptRa(ra), '1'), { verbose: context.verbose });
  },
};
