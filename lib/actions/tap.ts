// A TAP on one of the tool's bridges, made by root and owned by the guest's
// user, which QEMU opens by name (no script, no capability-carrying helper).
// One NIC's alone; it goes with the guest on every exit path.
import { HostError } from '../base/errors.ts';
import { GUEST_NAME, INTERFACE_NAME, TAP_NAME } from '../base/names.ts';
import { findResource, recordIntent } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import type { HostAction } from '../base/types.ts';
import {
  arity,
  checked,
  deleteHalfMadeLink,
  deleteLinkArgv,
  destroyLink,
  linkExists,
  makeRecorded,
  refuse,
  type ActionKind,
} from './kind.ts';

type TapAction = Extract<HostAction, { kind: 'tap' }>;

const addArgv = (name: string, uid: number | string) => [
  'ip',
  'tuntap',
  'add',
  'dev',
  name,
  'mode',
  'tap',
  'vnet_hdr',
  'user',
  String(uid),
];
const attachArgv = (action: TapAction) => [
  'ip',
  'link',
  'set',
  'dev',
  action.name,
  'master',
  action.bridge,
  ...(action.mtu ? ['mtu', String(action.mtu)] : []),
  'up',
];

export const tap: ActionKind<TapAction> = {
  makesInterface: true,

  key: (action) => action.name,

  show: (action) => ({
    apply: [{ argv: addArgv(action.name, action.owner) }, { argv: attachArgv(action) }],
    undo: [{ argv: deleteLinkArgv(action.name) }],
  }),

  request: (action) => [action.name, action.bridge, action.guest, ...(action.mtu ? [String(action.mtu)] : [])],

  fromRequest(words, caller) {
    arity(words, 3, 4, 'tap-add takes qtapN BRIDGE GUEST [MTU]');
    const name = checked(words[0], TAP_NAME, 'TAP name (qtapN)');
    const bridge = checked(words[1], INTERFACE_NAME, 'bridge name');
    const guest = checked(words[2], GUEST_NAME, 'guest name');
    const mtu = words[3] === undefined ? undefined : Number(checked(words[3], /^\d{3,4}$/, 'MTU'));
    if (mtu !== undefined && (mtu < 576 || mtu > 9000)) throw refuse(`MTU ${mtu} is outside 576-9000`);
    return { kind: 'tap', name, bridge, guest, mtu, owner: caller.uid };
  },

  async acquire(action, user, context) {
    // Owned by the caller whatever the request said; only onto a bridge of the tool this very guest holds.
    const bridge = findResource(context.tx.registry, 'bridge', action.bridge, context.netns);
    if (user.uid !== 0 && !bridge?.users.some((holder) => holder.uid === user.uid && holder.guest === action.guest)) {
      throw refuse(`${action.bridge} is not a bridge of qemu-script that your guest ${action.guest} is on`);
    }
    if (linkExists(action.name))
      throw new HostError(`${action.name} already exists; run qemu-script gc, or retry (the name is chosen afresh)`);
    const record = recordIntent(context.tx, {
      kind: 'tap',
      name: action.name,
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: { bridge: action.bridge },
    });
    await makeRecorded(
      context,
      record,
      async () => {
        await run(addArgv(action.name, user.uid), { verbose: context.verbose });
        await run(attachArgv(action), { verbose: context.verbose, hint: `is ${action.bridge} up?` });
      },
      () => deleteHalfMadeLink(action.name),
    );
    return 'created';
  },

  destroy: destroyLink,
};
