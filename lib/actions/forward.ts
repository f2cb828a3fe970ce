// net.ipv4.ip_forward, on while any NAT network is up. Turned on only if it
// was off, and put back with the last NAT network only if the tool turned it on.
import { readFileSync } from 'node:fs';
import { findResource, recordIntent } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import type { HostAction } from '../base/types.ts';
import { heldBridge, makeRecorded, networkRequest, refuse, type ActionKind } from './kind.ts';

type ForwardAction = Extract<HostAction, { kind: 'forward' }>;

const KEY = 'ipv4';
const SETTING = 'net.ipv4.ip_forward';
const setArgv = (value: '0' | '1') => ['sysctl', '-q', '-w', `${SETTING}=${value}`];
const current = () => readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();

export const forward: ActionKind<ForwardAction> = {
  makesInterface: false,

  key: () => KEY,

  show: () => ({
    apply: [{ argv: setArgv('1'), note: 'only if it is 0' }],
    undo: [{ argv: setArgv('0'), note: 'with the last NAT network, only if the tool turned it on' }],
  }),

  request: (action) => [action.network, action.guest],

  fromRequest(words, caller) {
    // Forwarding is for NAT networks root defined, nothing else.
    const { name, guest, network } = networkRequest(words, caller, 'forward');
    if (!network?.nat) throw refuse(`${name} is not a NAT network`);
    return { kind: 'forward', network: name, guest };
  },

  async acquire(action, user, context) {
    heldBridge(context, user, action.network, action.guest);
    const record = findResource(context.tx.registry, 'forward', KEY, context.netns);
    if (record) {
      record.users.push(user);
      return 'joined';
    }
    if (current() === '1') return 'on already';
    const made = recordIntent(context.tx, {
      kind: 'forward',
      name: KEY,
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: { previous: '0' },
    });
    // sysctl changes it or nothing: no half-made state to undo.
    await makeRecorded(context, made, () => run(setArgv('1'), { verbose: context.verbose }).then(() => undefined),
      async () => undefined);
    return 'turned on';
  },

  async destroy(record, context) {
    if (context.here && record.data.previous === '0' && current() === '1')
      await run(setArgv('0'), { verbose: context.verbose });
  },
};
