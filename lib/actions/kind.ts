// The contract every kind of host action keeps: one module per kind says how it
// is printed, applied, joined, undone and carried through the privileged entry
// point. apply, render, gc and the helper only dispatch over the table of kinds.
import { existsSync } from 'node:fs';
import { readText } from '../probe/host-access.ts';
import { UsageError } from '../base/errors.ts';
import { parseMac } from '../net/mac.ts';
import { GUEST_NAME, NETWORK_NAME } from '../base/names.ts';
import { readNetworks } from '../net/networks.ts';
import {
  dropResource,
  findResource,
  type ResourceRecord,
  type ResourceUser,
  type Transaction,
} from '../state/registry.ts';
import { run } from '../base/runner.ts';
import type { Command, HostAction, NetworkDef } from '../base/types.ts';
import { sysNet } from '../base/paths.ts';

/** Where root makes a change: the registry that records it and the namespace it lives in. */
export interface RootContext {
  registryDir: string;
  netns: string;
  verbose: boolean;
  tx: Transaction;
}

/** For undoing: `here` is false when the record's namespace is gone (its interfaces went with it). */
export type UndoContext = RootContext & { here: boolean };

/** Who asks through `sudo -n qemu-script-helper`, and what root trusts instead of the request. */
export interface Caller {
  uid: number;
  /** Root's configuration directory (network definitions): never taken from the caller's environment. */
  config: string;
  registryDir: string;
}

export interface ActionKind<A extends HostAction> {
  /** Whether the key names a network interface (so no other guest may plan that name). */
  makesInterface: boolean;
  /** The registry key: the interface or network the action makes or joins. */
  key(action: A): string;
  /** What root runs, as --dry-run and --verbose print it. */
  show(action: A): { apply: Command[]; undo: Command[] };
  /** The words after `KIND-add` that carry the action through sudo. */
  request(action: A): string[];
  /** The helper: request words → the action; anything trusted comes from root's own files, refusals throw. */
  fromRequest(words: string[], caller: Caller): A;
  /** Root, under the lock: make it (intent recorded durably first) or join it; says which. */
  acquire(action: A, user: ResourceUser, context: RootContext): Promise<string>;
  /** Root, under the lock: some users left (already taken off the record). */
  left?(record: ResourceRecord, context: RootContext): Promise<void>;
  /** Still in use by something the registry does not show (ports on a bridge). */
  busy?(record: ResourceRecord, context: RootContext): boolean;
  /** Root, under the lock: undo what the record says was made; absent is fine, and it is safe to repeat. */
  destroy(record: ResourceRecord, context: UndoContext): Promise<void>;
}

export function refuse(why: string, cause?: unknown): UsageError {
  return new UsageError(`refused: ${why}`, { cause });
}

/** Request word → value, refusing anything that does not match. */
export function checked(value: string | undefined, pattern: RegExp, what: string): string {
  if (value === undefined || !pattern.test(value))
    throw refuse(`${JSON.stringify(value ?? '')} is not a valid ${what}`);
  return value;
}

export function arity(words: string[], min: number, max: number, usage: string): void {
  if (words.length < min || words.length > max) throw refuse(usage);
}

export { GUEST_NAME };

/**
 * The request `KIND-add NETWORK GUEST` of the kinds that serve a defined network: the words checked,
 * and the network's definition from root's own configuration (undefined when it is not defined).
 */
export function networkRequest(
  words: string[],
  caller: Caller,
  kind: string,
): { name: string; guest: string; network?: NetworkDef } {
  arity(words, 2, 2, `${kind}-add takes NETWORK GUEST`);
  const name = checked(words[0], NETWORK_NAME, 'network name');
  const guest = checked(words[1], GUEST_NAME, 'guest name');
  return { name, guest, network: readNetworks(caller.config)[name] };
}

/**
 * The record of the tool's bridge NAME, which a member's guest must hold before anything is put on
 * or done for it (a TAP, a server, rules, forwarding); root's own requests need not.
 */
export function heldBridge(context: RootContext, user: ResourceUser, name: string, guest: string) {
  const record = context.tx.registry.resources.find(
    (entry) => entry.kind === 'bridge' && entry.name === name && entry.netns === context.netns,
  );
  if (user.uid !== 0 && !record?.users.some((holder) => holder.uid === user.uid && holder.guest === guest)) {
    throw refuse(`${name} is not a bridge of qemu-script that your guest ${guest} is on`);
  }
  return record;
}

/**
 * The start of acquiring a network's one shared thing (its rules, its names): the caller's guest must be on
 * the network's bridge; when the thing exists already, the guest joins it (true) and nothing is made.
 */
export function joinedNetworkResource(
  context: RootContext,
  user: ResourceUser,
  kind: 'firewall' | 'names',
  action: { network: string; guest: string },
): boolean {
  heldBridge(context, user, action.network, action.guest);
  const existing = findResource(context.tx.registry, kind, action.network, context.netns);
  existing?.users.push(user);
  return existing !== undefined;
}

/** A request's MAC word: a unicast MAC, or refused. */
export function checkedMac(word: string | undefined): string {
  try {
    return parseMac(word ?? '', 'MAC');
  } catch (error) {
    throw refuse((error as Error).message, error);
  }
}

export const linkExists = (name: string) => existsSync(sysNet(name));
export const deleteLinkArgv = (name: string) => ['ip', 'link', 'del', 'dev', name];

/** The alias a link the tool made carries: its record's id. */
const markOf = (id: string) => `qemu-script:${id}`;
/** The `ip link set` that marks a link; ALSO sets more of it in the same run (master, up: one `ip` fewer). */
export const markArgv = (name: string, id = 'RECORD-ID', also: string[] = []) => [
  'ip',
  'link',
  'set',
  'dev',
  name,
  'alias',
  markOf(id),
  ...also,
];

/**
 * Whether the link NAME is the one RECORD made: it carries the record's mark. The kernel sets an alias
 * only on a link that exists, so a link made by a step that died before marking it has none: while its
 * record is still an intent, an unmarked link of its name is taken as that half-made one. A record
 * older than marks is taken at its word.
 */
export function isRecordsLink(name: string, record: ResourceRecord): boolean {
  if (!linkExists(name)) return false;
  if (record.id === undefined) return true;
  const alias = readText(sysNet(name, 'ifalias'))?.trim() ?? '';
  return alias === markOf(record.id) || (record.state === 'intent' && alias === '');
}

/**
 * Makes a link with ADD and marks it as RECORD's at once (setting ALSO with the mark); a link ADD could not
 * make (it exists: someone else's) is left alone, and one it made but could not mark is removed.
 */
export async function addMarkedLink(
  add: string[],
  name: string,
  record: ResourceRecord,
  options: { verbose: boolean; hint?: string; also?: string[]; alsoHint?: string },
): Promise<void> {
  await run(add, { verbose: options.verbose, hint: options.hint });
  try {
    await run(markArgv(name, record.id, options.also), { verbose: options.verbose, hint: options.alsoHint });
  } catch (error) {
    await run(deleteLinkArgv(name)).catch(() => undefined);
    throw error;
  }
}

/** Undoes a link of RECORD's a later step left half-made (gone already is fine); that step's error is what counts. */
export async function deleteHalfMadeLink(name: string, record: ResourceRecord): Promise<void> {
  if (isRecordsLink(name, record)) await run(deleteLinkArgv(name)).catch(() => undefined);
}

/** The undo of every kind that is one link: remove it if it is still there and still the record's. */
export async function destroyLink(record: ResourceRecord, context: UndoContext): Promise<void> {
  if (context.here && isRecordsLink(record.name, record))
    await run(deleteLinkArgv(record.name), { verbose: context.verbose });
}

/**
 * Makes what RECORD announced (its intent is written already). A step that fails half-way is undone
 * here by UNDO_HALF (the caller undoes the steps before it), the record is dropped and the error goes on.
 */
export async function makeRecorded(
  context: RootContext,
  record: ResourceRecord,
  make: () => Promise<void>,
  undoHalf: () => Promise<void>,
): Promise<void> {
  try {
    await make();
  } catch (error) {
    await undoHalf();
    dropResource(context.tx.registry, record);
    throw error;
  }
  record.state = 'done';
}
export const isBridge = (name: string) => existsSync(sysNet(name, 'bridge'));
