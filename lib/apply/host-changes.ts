// Root's side of every host change, over the table of kinds and under the
// registry lock: make or join, leave, and collect what dead guests left. Root's
// apply stage calls these directly; a normal user's requests reach them through
// the privileged helper.
import { kindOf, ACTION_KINDS } from '../actions/index.ts';
import type { RootContext } from '../actions/kind.ts';
import { currentNetns, type ProcessId } from '../base/proc.ts';
import { existingNetns } from '../probe/namespaces.ts';
import {
  dropResource,
  findResource,
  liveUsers,
  readRegistry,
  updateRegistry,
  type Registry,
  type ResourceRecord,
  type ResourceUser,
  type Transaction,
} from '../state/registry.ts';
import type { ActionKindName, HostAction } from '../base/types.ts';
import { exitCodeOf, HostError, messageOf, UsageError } from '../base/errors.ts';

export interface ChangeOptions {
  registryDir: string;
  verbose?: boolean;
}

function rootContext(options: ChangeOptions, tx: Transaction): RootContext {
  return { registryDir: options.registryDir, netns: currentNetns(), verbose: options.verbose ?? false, tx };
}

/** Drops users whose guest is gone; tells the kind when any left. */
async function pruneUsers(
  record: ResourceRecord,
  context: RootContext,
  keep: (user: ResourceUser) => boolean = () => true,
): Promise<void> {
  const before = record.users.length;
  record.users = liveUsers(record).filter(keep);
  if (record.users.length !== before) await ACTION_KINDS[record.kind].left?.(record, context);
}

/** Removes the record's thing when nobody uses it any more; says whether it went. */
async function settle(
  record: ResourceRecord,
  context: RootContext,
  keep?: (user: ResourceUser) => boolean,
): Promise<boolean> {
  await pruneUsers(record, context, keep);
  const kind = ACTION_KINDS[record.kind];
  if (record.users.length > 0 || kind.busy?.(record, context)) return false;
  await kind.destroy(record, { ...context, here: true });
  dropResource(context.tx.registry, record);
  return true;
}

/**
 * Makes the action's thing, or joins it; `user` holds it until released or dead.
 * `admit` sees the registry under the lock first (what exists, who holds what) and may refuse.
 */
export async function acquire(
  action: HostAction,
  user: ResourceUser,
  options: ChangeOptions,
  admit: (registry: Registry, existing: ResourceRecord | undefined) => void = () => undefined,
): Promise<string> {
  const kind = kindOf(action);
  return updateRegistry(options.registryDir, async (tx) => {
    const context = rootContext(options, tx);
    // Dead guests first: they neither hold names nor count against anyone's limits.
    for (const record of tx.registry.resources) await pruneUsers(record, context);
    const existing = findResource(tx.registry, action.kind, kind.key(action), context.netns);
    admit(tx.registry, existing);
    return kind.acquire(action, user, context);
  });
}

/**
 * Several things made or joined in order under one lock (a member's launch is one request): a failure undoes
 * those already done, in reverse, and throws saying which one failed. `admit` sees each first.
 */
export async function acquireAll(
  actions: HostAction[],
  user: Omit<ResourceUser, 'guest'>,
  options: ChangeOptions,
  admit: (registry: Registry, existing: ResourceRecord | undefined, action: HostAction) => void = () => undefined,
): Promise<string[]> {
  return updateRegistry(options.registryDir, async (tx) => {
    const context = rootContext(options, tx);
    for (const record of tx.registry.resources) await pruneUsers(record, context);
    const done: HostAction[] = [];
    const outcomes: string[] = [];
    for (const action of actions) {
      const kind = kindOf(action);
      try {
        const existing = findResource(tx.registry, action.kind, kind.key(action), context.netns);
        admit(tx.registry, existing, action);
        outcomes.push(await kind.acquire(action, { ...user, guest: action.guest }, context));
        done.push(action);
      } catch (error) {
        for (const made of done.reverse()) {
          await releaseIn(context, made.kind, kindOf(made).key(made), { uid: user.uid, guest: made.guest }).catch(
            () => undefined,
          );
          tx.commit();
        }
        const undone = done.length > 0 ? `; the ${done.length} made before it undone` : '';
        const Failure = exitCodeOf(error) === 2 ? UsageError : HostError;
        throw new Failure(`${action.kind} ${kind.key(action)}: ${messageOf(error)}${undone}`, { cause: error });
      }
    }
    return outcomes;
  });
}

/** Within a held registry lock: the guest lets go of the thing KEY of KIND, which goes with its last user. */
async function releaseIn(
  context: RootContext,
  kind: ActionKindName,
  key: string,
  who: { uid: number; guest: string },
): Promise<'removed' | 'kept' | 'unknown'> {
  const record = findResource(context.tx.registry, kind, key, context.netns);
  if (!record) return 'unknown';
  const removed = await settle(record, context, (user) => !(user.uid === who.uid && user.guest === who.guest));
  return removed ? 'removed' : 'kept';
}

/**
 * Several releases in the order given (a member's cleanup is one request), each checked first by `check`: every
 * one is tried even after one fails; the failures are returned.
 */
export async function releaseAll(
  releases: Array<{ kind: ActionKindName; key: string; guest: string }>,
  uid: number,
  options: ChangeOptions,
  check: (record: ResourceRecord | undefined, kind: ActionKindName, key: string, guest: string) => void,
): Promise<string[]> {
  return updateRegistry(options.registryDir, async (tx) => {
    const context = rootContext(options, tx);
    const failures: string[] = [];
    for (const { kind, key, guest } of releases) {
      try {
        check(findResource(tx.registry, kind, key, context.netns), kind, key, guest);
        await releaseIn(context, kind, key, { uid, guest });
      } catch (error) {
        failures.push(`${kind} ${key}: ${messageOf(error)}`);
      }
      tx.commit();
    }
    return failures;
  });
}

/**
 * A guest lets go of a thing; it goes when no guest of the tool is left on it.
 * `check` sees the record (or its absence) under the lock first, and may refuse.
 */
export async function release(
  kind: ActionKindName,
  key: string,
  who: { uid: number; guest: string },
  options: ChangeOptions,
  check: (record: ResourceRecord | undefined) => void = () => undefined,
): Promise<'removed' | 'kept' | 'unknown'> {
  return updateRegistry(options.registryDir, async (tx) => {
    const context = rootContext(options, tx);
    check(findResource(tx.registry, kind, key, context.netns));
    return releaseIn(context, kind, key, who);
  });
}

/**
 * A guest's holds pass to another process (its waiter): everything this uid's guest holds here.
 * `admit` sees the registry under the lock first, and may refuse.
 */
export async function rehold(
  who: { uid: number; guest: string },
  holder: ProcessId,
  options: ChangeOptions,
  admit: (registry: Registry) => void = () => undefined,
): Promise<number> {
  return updateRegistry(options.registryDir, (tx) => {
    admit(tx.registry);
    const netns = currentNetns();
    let moved = 0;
    for (const record of tx.registry.resources.filter((entry) => entry.netns === netns)) {
      for (const user of record.users.filter((entry) => entry.uid === who.uid && entry.guest === who.guest)) {
        user.holder = holder;
        moved++;
      }
    }
    return moved;
  });
}

/**
 * Whether collectResources would find anything to do: a record with a user that is gone, or with none. Read
 * without the lock (the registry is replaced whole): a launch then neither waits for the lock nor runs
 * the helper through sudo only to find every record in use.
 */
export function anythingToCollect(registryDir: string): boolean {
  return readRegistry(registryDir).resources.some(
    (record) => record.users.length === 0 || liveUsers(record).length < record.users.length,
  );
}

/**
 * Undoes every recorded change no live guest holds, finished or not, in this
 * namespace; forgets namespaces that are gone (their interfaces went with
 * them, their files and processes are removed). Safe to repeat after a crash.
 */
export async function collectResources(options: ChangeOptions): Promise<{ removed: string[]; failures: string[] }> {
  const alive = existingNetns();
  return updateRegistry(options.registryDir, async (tx) => {
    const context = rootContext(options, tx);
    const removed: string[] = [];
    const failures: string[] = [];
    // Newest first: a TAP goes before the bridge it is a port of.
    for (const record of [...tx.registry.resources].reverse()) {
      try {
        if (!alive.has(record.netns)) {
          await ACTION_KINDS[record.kind].destroy(record, { ...context, here: false });
          dropResource(tx.registry, record);
        } else if (record.netns === context.netns && (await settle(record, context))) {
          removed.push(`${record.kind} ${record.name}`);
        }
      } catch (error) {
        // One record that cannot be collected is reported, and never stops the others.
        failures.push(`${record.kind} ${record.name}: ${messageOf(error)}`);
      }
      // Each undo is written before the next: a crash of gc itself leaves only what is still to do.
      tx.commit();
    }
    return { removed, failures };
  });
}
