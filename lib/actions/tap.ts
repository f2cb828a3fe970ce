// A TAP on one of the tool's bridges, made by root and owned by the guest's
// user, which QEMU opens by name (no script, no capability-carrying helper).
// One NIC's alone; it goes with the guest on every exit path.
import { HostError } from '../base/errors.ts';
import { GUEST_NAME, INTERFACE_NAME, TAP_NAME } from '../base/names.ts';
import { recordIntent } from '../state/registry.ts';
import type { HostAction } from '../base/types.ts';
import {
  arity,
  checked,
  addMarkedLink,
  deleteHalfMadeLink,
  heldBridge,
  markArgv,
  deleteLinkArgv,
  destroyLink,
  linkExists,
  makeRecorded,
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
/** Set with the mark: onto the bridge, up. */
const attachWords = (action: Pick<TapAction, 'bridge' | 'mtu'>) => [
  'master',
  action.bridge,
  ...(action.mtu ? ['mtu', String(action.mtu)] : []),
  'up',
];

export const tap: ActionKind<TapAction> = {
  makesInterface: true,

  key: (action) => action.name,

  show: (action) => ({
    apply: [addArgv(action.name, action.owner), markArgv(action.name, undefined, attachWords(action))].map((argv) => ({
      argv,
    })),
    undo: [{ argv: deleteLinkArgv(action.name) }],
  }),

  // No MTU in the request: a TAP takes its bridge's, which root set (a tunnel's), so no member lowers
  // a shared bridge's MTU for everyone.
  request: (action) => [action.name, action.bridge, action.guest],

  fromRequest(words, caller) {
    arity(words, 3, 3, 'tap-add takes qtapN BRIDGE GUEST');
    const name = checked(words[0], TAP_NAME, 'TAP name (qtapN)');
    const bridge = checked(words[1], INTERFACE_NAME, 'bridge name');
    const guest = checked(words[2], GUEST_NAME, 'guest name');
    return { kind: 'tap', name, bridge, guest, owner: caller.uid };
  },

  async acquire(action, user, context) {
    // Owned by the caller whatever the request said; only onto a bridge of the tool this very guest holds.
    const bridge = heldBridge(context, user, action.bridge, action.guest);
    const mtu = action.mtu ?? (typeof bridge?.data.mtu === 'number' ? bridge.data.mtu : undefined);
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
        await addMarkedLink(addArgv(action.name, user.uid), action.name, record, {
          verbose: context.verbose,
          also: attachWords({ bridge: action.bridge, mtu }),
          alsoHint: `is ${action.bridge} up?`,
        });
      },
      () => deleteHalfMadeLink(action.name, record),
    );
    return 'created';
  },

  destroy: destroyLink,
};
