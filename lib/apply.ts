import { helperRequest } from './commands.ts';
import { HostError } from './errors.ts';
import { bridgeAdd, bridgeRelease, macvtapAdd, macvtapDel } from './netops.ts';
import type { ProcessId } from './proc.ts';
import { run } from './runner.ts';
import type { GuestRecord } from './guests.ts';
import type { CleanupAction, HostAction } from './types.ts';

export interface ApplyContext {
  isRoot: boolean;
  uid: number;
  selfCommand: string[];
  registryDir: string;
  /** The process whose life keeps this guest's interfaces in use (the supervisor). */
  holder: ProcessId;
  verbose: boolean;
}

/** How a guest's host actions run: as recorded when it was planned. */
export function applyContextOf(record: GuestRecord): ApplyContext {
  return {
    isRoot: record.isRoot, uid: record.uid, selfCommand: record.selfCommand, registryDir: record.registryDir,
    holder: record.supervisor ?? record.launcher, verbose: record.verbose,
  };
}

const SUDO_HINT = 'the privileged helper must be reachable without a password: add the sudoers line from the README (or run qemu-script setup), or run as root';

async function perform(action: HostAction | CleanupAction, context: ApplyContext): Promise<void> {
  if (!context.isRoot) {
    await run(['sudo', '-n', ...context.selfCommand, 'net-helper', ...helperRequest(action)], { verbose: context.verbose, hint: SUDO_HINT });
    return;
  }
  const netops = { registryDir: context.registryDir, verbose: context.verbose };
  const user = { uid: context.uid, guest: action.guest, holder: context.holder };
  switch (action.op) {
    case 'bridge-add':
      await bridgeAdd({ name: action.name, hostIp: action.hostIp, user }, netops);
      return;
    case 'macvtap-add':
      await macvtapAdd({ name: action.name, parent: action.parent, mac: action.mac, node: action.node, owner: context.uid, user }, netops);
      return;
    case 'bridge-del':
      await bridgeRelease({ name: action.name, uid: context.uid, guest: action.guest }, netops);
      return;
    case 'macvtap-del':
      await macvtapDel({ name: action.name, uid: context.uid, guest: action.guest }, netops);
  }
}

export function undoing(action: HostAction): CleanupAction {
  return action.op === 'bridge-add'
    ? { op: 'bridge-del', name: action.name, guest: action.guest }
    : { op: 'macvtap-del', name: action.name, guest: action.guest, node: action.node };
}

/** Runs every cleanup action, even after one fails; returns what failed. */
export async function cleanupActions(actions: CleanupAction[], context: ApplyContext): Promise<string[]> {
  const failures: string[] = [];
  for (const action of actions) {
    try {
      await perform(action, context);
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error));
    }
  }
  return failures;
}

/** Applies the host actions in order; if one fails, undoes those already done and throws. */
export async function applyActions(actions: HostAction[], context: ApplyContext): Promise<void> {
  const done: HostAction[] = [];
  for (const action of actions) {
    try {
      await perform(action, context);
      done.push(action);
    } catch (error) {
      const failures = await cleanupActions(done.reverse().map(undoing), context);
      const undone = failures.length === 0 ? 'nothing was left behind' : `undoing also failed: ${failures.join('; ')}`;
      throw new HostError(`${error instanceof Error ? error.message : String(error)}; ${undone}`);
    }
  }
}
