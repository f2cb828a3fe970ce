// The table of host-action kinds: a new kind is one module and one entry here.
import type { ActionKindName, HostAction } from '../base/types.ts';
import { bridge } from './bridge.ts';
import { dhcp } from './dhcp.ts';
import { firewall } from './firewall.ts';
import { forward } from './forward.ts';
import type { ActionKind } from './kind.ts';
import { macvtap } from './macvtap.ts';
import { names } from './names.ts';
import { publish } from './publish.ts';
import { tap } from './tap.ts';
import { vxlan } from './vxlan.ts';

export const ACTION_KINDS: { [K in ActionKindName]: ActionKind<Extract<HostAction, { kind: K }>> } = {
  bridge,
  vxlan,
  tap,
  macvtap,
  dhcp,
  names,
  forward,
  firewall,
  publish,
};

export const KIND_NAMES = Object.keys(ACTION_KINDS) as ActionKindName[];

export function kindOf<A extends HostAction>(action: A): ActionKind<A> {
  return ACTION_KINDS[action.kind] as unknown as ActionKind<A>;
}

export const isKindName = (word: string): word is ActionKindName => Object.hasOwn(ACTION_KINDS, word);
