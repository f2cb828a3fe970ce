// The launch stage: the reservation, host changes, QEMU, and what the user is
// told. In the background the launcher itself makes the host changes, starts
// QEMU under a small waiter (waiter.ts) and leaves once QEMU answers; in
// the foreground it supervises the guest to the end (supervise.ts).
import { applyActions, applyContextOf, undoActions, type ApplyContext } from '../apply/apply.ts';
import { HostError, messageOf } from '../base/errors.ts';
import { enterCleanupPhase } from '../base/fault.ts';
import { collectGuest } from './gc.ts';
import { guestView } from './guest-commands.ts';
import { readRecord, removeRecord, writeRecord, type GuestRecord } from '../state/guests.ts';
import { rehold } from '../apply/host-changes.ts';
import { logPath } from '../base/paths.ts';
import { helperArgv, SUDO_HINT } from '../actions/privilege.ts';
import { processId, type ProcessId } from '../base/proc.ts';
import { tail, waitUntilUp } from './qemu-start.ts';
import { run, start } from '../base/runner.ts';
import { superviseGuest } from './supervise.ts';
import type { Plan } from '../base/types.ts';
import { startWaiter, type Waiter } from './waiter.ts';
import { printErr, printOut } from '../base/output.ts';
import { guestInfo } from './info.ts';
import { dirname } from 'node:path';
import { jsonOutput } from '../base/json.ts';
import { stopCompanions } from './companions.ts';

/**
 * QEMU asked for information only (-version, -device help ...): its output and exit code, no guest, lock or runtime
 * directory.
 */
export async function runQemuInformational(binary: string, argv: string[]): Promise<number> {
  const result = await (await start([binary, ...argv], { stdio: 'inherit', reject: false })).child;
  if (result.exitCode === undefined)
    throw new HostError(`${binary} could not run: ${result.shortMessage} (set VM_QEMU, or install qemu-system-x86)`);
  return result.exitCode;
}

/** The reservation: written under the lock together with the plan, so concurrent launches see it. */
export function reserveGuest(
  runtimeDir: string,
  plan: Plan,
  facts: { uid: number; isRoot: boolean; selfCommand: string[] },
  extra: { netns: string; registryDir: string; verbose: boolean },
): GuestRecord {
  const record: GuestRecord = {
    name: plan.name,
    uid: facts.uid,
    netns: extra.netns,
    state: 'starting',
    launcher: processId(process.pid)!,
    startedAt: Date.now(),
    plan,
    isRoot: facts.isRoot,
    selfCommand: facts.selfCommand,
    registryDir: extra.registryDir,
    verbose: extra.verbose,
  };
  writeRecord(runtimeDir, record);
  return record;
}

/** What the user is told once the guest is up: the messages, one JSON object (SPEC §8), or nothing. */
export type Output = 'text' | 'json' | 'quiet';

function announce(record: GuestRecord, pid: number, background: boolean, output: Output): void {
  if (output === 'quiet') return;
  if (output === 'json') {
    const view = guestView({ ...record, qemu: record.qemu ?? processId(pid) });
    printOut(jsonOutput({ version: 1, ...view }));
    return;
  }
  const { plan } = record;
  for (const message of plan.messages) printOut(`${message}\n`);
  // Addresses known now (a defined network's is reserved before QEMU starts) and the way in.
  const reach = guestInfo({ ...record, qemu: record.qemu ?? processId(pid) }, dirname(plan.runDir));
  for (const nic of reach.nics) {
    if (nic.ip && nic.net !== 'user')
      printOut(`Address on ${nic.net}: ${[nic.ip, ...(nic.ip6 ? [nic.ip6] : [])].join(' ')}\n`);
  }
  if (reach.ssh) printOut(`Log in: ${reach.ssh}\n`);
  const how = background ? `; stop it with: qemu-script down ${plan.name}` : '';
  printOut(`Guest ${plan.name} is running (QEMU pid ${pid})${how}\n`);
}

/** --foreground (and display stdio): this process supervises the guest. */
export async function runInForeground(runtimeDir: string, record: GuestRecord, output: Output): Promise<number> {
  let failure: string | undefined;
  const code = await superviseGuest(record, {
    runtimeDir,
    onStatus: (status) => {
      if (status.up) announce(record, status.pid, false, output);
      else failure = status.error;
    },
  });
  if (failure) throw new HostError(failure);
  return code;
}

/** A signal while the guest is being set up: remembered, and the setup is abandoned at the next step. */
function watchSignals(): { received: () => NodeJS.Signals | undefined; release: () => void } {
  let received: NodeJS.Signals | undefined;
  const note = (signal: NodeJS.Signals) => {
    received ??= signal;
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, note);
  return {
    received: () => received,
    release: () => {
      for (const signal of signals) process.off(signal, note);
    },
  };
}

/** The guest's holds on its host changes pass from this launcher to the waiter that stays. */
async function handOver(record: GuestRecord, waiter: ProcessId, context: ApplyContext): Promise<void> {
  // A guest that changed nothing on the host (user networking, passt, multicast) holds nothing: a user
  // without the privileged helper runs it all the same.
  if (record.plan.actions.length === 0) return;
  if (context.isRoot) {
    await rehold({ uid: record.uid, guest: record.name }, waiter, context);
    return;
  }
  await run(helperArgv(context.selfCommand, ['hold', record.name, String(waiter.pid)]), {
    verbose: context.verbose,
    hint: SUDO_HINT,
  });
}

/** The default: host changes, then QEMU under a waiter; the terminal is back once QEMU answers. */
export async function runInBackground(
  runtimeDir: string,
  record: GuestRecord,
  selfCommand: string[],
  output: Output,
): Promise<number> {
  const context = applyContextOf(record);
  const signals = watchSignals();
  let waiter: Waiter | undefined;
  let pid: number;
  try {
    await applyActions(record.plan.actions, context);
    const stopped = () => signals.received() && `stopped by ${signals.received()} before the guest was up`;
    if (stopped()) throw new HostError(stopped() as string);
    waiter = startWaiter(runtimeDir, record, selfCommand);
    record.supervisor = waiter.id;
    writeRecord(runtimeDir, record);
    await handOver(record, waiter.id, context);
    const started = waiter;
    pid = await waitUntilUp(record, async () => {
      if (started.exited()) return `QEMU exited at once: ${tail(logPath(runtimeDir, record.name)) || 'no message'}`;
      return stopped() || undefined;
    });
    record.qemu = processId(pid);
    record.state = 'running';
    writeRecord(runtimeDir, record);
    waiter.detach();
  } catch (error) {
    if (waiter) {
      // QEMU stops; the waiter's cleanup undoes the host changes and removes the record.
      await waiter.stop();
    } else {
      await stopCompanions(record);
      const failures = await undoActions(record.plan.actions, context);
      removeRecord(runtimeDir, record.name);
      if (failures.length > 0)
        throw new HostError(`${messageOf(error)}; undoing also failed: ${failures.join('; ')}`, { cause: error });
    }
    throw error;
  } finally {
    signals.release();
  }
  announce(record, pid, true, output);
  return 0;
}

/** `__cleanup RUNTIME NAME`: the waiter's last act once QEMU has exited. */
export async function cleanupMain(runtimeDir: string, name: string): Promise<number> {
  enterCleanupPhase();
  const record = readRecord(runtimeDir, name);
  if (!record) return 0;
  record.state = 'stopping';
  writeRecord(runtimeDir, record);
  const failures = await collectGuest(runtimeDir, record);
  for (const message of failures) printErr(`qemu-script: cleanup: ${message}\n`);
  return failures.length > 0 ? 1 : 0;
}
