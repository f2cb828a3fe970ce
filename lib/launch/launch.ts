// The launch stage: the reservation, host changes, QEMU, and what the user is
// told. In the background the launcher itself makes the host changes, starts
// QEMU under a small waiter (waiter.ts) and leaves once QEMU answers; in
// the foreground it supervises the guest to the end (supervise.ts).
import { applyActions, applyContextOf, type ApplyContext } from '../apply/apply.ts';
import { HostError, messageOf } from '../base/errors.ts';
import { writeRecord, type GuestRecord } from '../state/guests.ts';
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
import { startCompanions } from './companions.ts';
import { teardown } from './cleanup.ts';
import { collectGarbage } from './gc.ts';
import type { ToolContext } from '../base/context.ts';
import type { LaunchOptions } from '../base/types.ts';
import { renderDryRun, renderDryRunJson } from '../plan/render.ts';
import { ensureOwnDir, withLock } from '../base/lock.ts';
import { currentNetns } from '../base/proc.ts';
import { unsaidThisBoot } from '../state/notices.ts';
import { prepareGuest } from './prepare.ts';
import { planLine, probeCloud } from './plan-line.ts';

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
function reserveGuest(
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

/** Told once QEMU answers: the launch's messages and the way in, one JSON object, or nothing (guest/announce.ts). */
export type Announce = (record: GuestRecord, pid: number, background: boolean) => void;

/** --foreground (and display stdio): this process supervises the guest. */
async function runInForeground(runtimeDir: string, record: GuestRecord, announce: Announce): Promise<number> {
  let failure: string | undefined;
  const code = await superviseGuest(record, {
    runtimeDir,
    onStatus: (status) => {
      if (status.up) announce(record, status.pid, false);
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
async function runInBackground(
  runtimeDir: string,
  record: GuestRecord,
  selfCommand: string[],
  announce: Announce,
): Promise<number> {
  const context = applyContextOf(record);
  const signals = watchSignals();
  let waiter: Waiter | undefined;
  let applied = false;
  let pid: number;
  try {
    // On a failure applyActions undoes what it made itself.
    await applyActions(record.plan.actions, context);
    applied = true;
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
      const failures = await teardown(runtimeDir, record, applied ? record.plan.actions : []);
      if (failures.length > 0)
        throw new HostError(`${messageOf(error)}; undoing also failed: ${failures.join('; ')}`, { cause: error });
    }
    throw error;
  } finally {
    signals.release();
  }
  announce(record, pid, true);
  return 0;
}

function warn(warnings: string[], options: LaunchOptions): void {
  if (options.quiet) return;
  for (const warning of warnings) printErr(`qemu-script: warning: ${warning}\n`);
}

/**
 * A launch line, from its plan to a running guest: the caller's files checked, the plan made and reserved under
 * the runtime directory's lock (concurrent launches never pick the same port, MAC or name), the user's side
 * prepared (the seed, companions), then the guest in the background or the foreground. A dry run prints the
 * plan and changes nothing.
 */
export async function launchGuest(options: LaunchOptions, context: ToolContext, announce: Announce): Promise<number> {
  // The caller's files (--ssh-key, --user-data) are checked before anything is made.
  const cloudInit = await probeCloud(options);
  if (options.dryRun) {
    // Reads only: no lock, no directory, no sudo.
    const { facts, plan } = await planLine(options, context, cloudInit, { makeKeys: false, askKvm: false });
    // No answer of this boot yet (a launch asks QEMU, once per boot): said, not guessed.
    const unasked = facts.kvmUnknown && plan.qemu.argv.includes('accel=kvm')
      ? ['--dry-run did not ask whether KVM runs guests here (/dev/kvm opens; a launch asks, once per boot): ' +
          'the launch may use TCG instead']
      : [];
    warn([...plan.notices, ...unasked, ...plan.warnings], options);
    printOut(options.json ? renderDryRunJson(plan) : renderDryRun(plan));
    return 0;
  }
  ensureOwnDir(context.runtimeDir);
  await collectGarbage(context.runtimeDir, context).catch(() => undefined);
  const record = await withLock(context.runtimeDir, async () => {
    const { facts, plan } = await planLine(options, context, cloudInit, { makeKeys: true, askKvm: true });
    // What is about the host is said once per boot; what is about this line, every time.
    warn([...(options.quiet ? [] : unsaidThisBoot(context.runtimeDir, plan.notices)), ...plan.warnings], options);
    return reserveGuest(context.runtimeDir, plan, facts, {
      netns: currentNetns(),
      registryDir: context.registryDir,
      verbose: options.verbose,
    });
  });
  try {
    await prepareGuest(record);
    await startCompanions(context.runtimeDir, record);
  } catch (error) {
    // No host change is made yet.
    await teardown(context.runtimeDir, record, []);
    throw error;
  }
  return options.foreground
    ? runInForeground(context.runtimeDir, record, announce)
    : runInBackground(context.runtimeDir, record, context.selfCommand, announce);
}
