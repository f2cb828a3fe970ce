// The apply stage: a guest's host actions in order, each made by root directly
// or through the privileged helper, undone in reverse on failure and on cleanup.
import { CommandError, HostError, UsageError, messageOf } from '../base/errors.ts';
import { userInfo } from 'node:os';
import { acquire, release } from './host-changes.ts';
import { kindOf } from '../actions/index.ts';
import { addRequest, helperArgv, releaseRequest, SUDO_HINT } from '../actions/privilege.ts';
import type { ProcessId } from '../base/proc.ts';
import { run } from '../base/runner.ts';
import type { GuestRecord } from '../state/guests.ts';
import type { HostAction } from '../base/types.ts';

export interface ApplyContext {
  isRoot: boolean;
  uid: number;
  selfCommand: string[];
  registryDir: string;
  /** The process whose life keeps this guest's host changes in use (the supervisor). */
  holder: ProcessId;
  verbose: boolean;
}

/** How a guest's host actions run: as recorded when it was planned. */
export function applyContextOf(record: GuestRecord): ApplyContext {
  return {
    isRoot: record.isRoot,
    uid: record.uid,
    selfCommand: record.selfCommand,
    registryDir: record.registryDir,
    holder: record.supervisor ?? record.launcher,
    verbose: record.verbose,
  };
}

async function make(action: HostAction, context: ApplyContext): Promise<void> {
  if (!context.isRoot) {
    await run(helperArgv(context.selfCommand, addRequest(action)), { verbose: context.verbose, hint: SUDO_HINT });
    return;
  }
  await acquire(action, { uid: context.uid, guest: action.guest, holder: context.holder }, context);
}

async function undo(action: HostAction, context: ApplyContext): Promise<void> {
  if (!context.isRoot) {
    await run(helperArgv(context.selfCommand, releaseRequest(action)), { verbose: context.verbose, hint: SUDO_HINT });
    return;
  }
  await release(action.kind, kindOf(action).key(action), { uid: context.uid, guest: action.guest }, context);
}

/** A member's requests as one: `batch REQUEST + REQUEST ...`, one sudo and one start of the helper. */
const batchRequest = (requests: string[][]) => [
  'batch',
  ...requests.flatMap((words, i) => (i > 0 ? ['+', ...words] : words)),
];

/** Undoes actions in reverse order, every one even after one fails; returns what failed. */
export async function undoActions(actions: HostAction[], context: ApplyContext): Promise<string[]> {
  if (!context.isRoot && actions.length > 1) {
    const releases = [...actions].reverse().map(releaseRequest);
    try {
      const argv = helperArgv(context.selfCommand, batchRequest(releases));
      await run(argv, { verbose: context.verbose, hint: SUDO_HINT });
      return [];
    } catch (error) {
      return [messageOf(error)];
    }
  }
  const failures: string[] = [];
  for (const action of [...actions].reverse()) {
    try {
      await undo(action, context);
    } catch (error) {
      failures.push(messageOf(error));
    }
  }
  return failures;
}

/**
 * sudo refusing the helper itself (no sudoers rule: the user is not set up) rather than the helper refusing a
 * request: said as one line with the command that sets the user up, exit 2; nothing was made.
 */
function notSetUp(error: unknown, actions: HostAction[], context: ApplyContext): UsageError | undefined {
  if (context.isRoot || !(error instanceof CommandError) || !/^sudo: /.test(error.output)) return undefined;
  const why = error.output.split('\n')[0].replace(/^sudo: /, '');
  const [first] = actions;
  const more = actions.length > 1 ? ` and ${actions.length - 1} more host change(s)` : '';
  return new UsageError(
    `this guest needs root for ${first.kind} ${kindOf(first).key(first)}${more}, and sudo refused the helper ` +
      `(${why}): set yourself up once with sudo qemu-script setup --user ${userName(context.uid)}`,
    { cause: error },
  );
}

const userName = (uid: number) => {
  try {
    return userInfo().username;
  } catch {
    return String(uid);
  }
};

/** Applies the host actions in order; if one fails, undoes those already done and throws. */
export async function applyActions(actions: HostAction[], context: ApplyContext): Promise<void> {
  if (!context.isRoot && actions.length > 1) {
    // The helper makes them in order and undoes its own on a refusal: nothing is left to undo here.
    try {
      await run(helperArgv(context.selfCommand, batchRequest(actions.map(addRequest))), {
        verbose: context.verbose,
        hint: SUDO_HINT,
      });
      return;
    } catch (error) {
      throw notSetUp(error, actions, context) ?? error;
    }
  }
  const done: HostAction[] = [];
  for (const action of actions) {
    try {
      await make(action, context);
      done.push(action);
    } catch (error) {
      const setUp = done.length === 0 ? notSetUp(error, actions, context) : undefined;
      if (setUp) throw setUp;
      const failures = await undoActions(done, context);
      const undone = failures.length === 0 ? 'nothing was left behind' : `undoing also failed: ${failures.join('; ')}`;
      throw new HostError(`${messageOf(error)}; ${undone}`, { cause: error });
    }
  }
}
