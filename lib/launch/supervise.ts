// The foreground supervisor (--foreground, display stdio): apply the host
// actions, run QEMU on this terminal, and undo everything on every way out.
import type { ResultPromise } from 'execa';
import { closeSync } from 'node:fs';
import { applyActions, applyContextOf } from '../apply/apply.ts';
import { HostError, messageOf } from '../base/errors.ts';
import { readRecord, writeRecord, type GuestRecord } from '../state/guests.ts';
import { processId } from '../base/proc.ts';
import { openFds, qemuCommand, waitUntilUp } from './qemu-start.ts';
import { start } from '../base/runner.ts';
import { printErr } from '../base/output.ts';
import { teardown } from './cleanup.ts';

const STOP_GRACE_MS = 10000;

type Status = { up: true; pid: number } | { up: false; error: string };

export interface SuperviseOptions {
  runtimeDir: string;
  /** Told once: QEMU answers on QMP, or the guest could not start. */
  onStatus: (status: Status) => void;
}

/** Runs one guest from host setup to cleanup on this terminal; returns QEMU's exit code (128+N for a signal). */
export async function superviseGuest(record: GuestRecord, options: SuperviseOptions): Promise<number> {
  record.supervisor = processId(process.pid);
  writeRecord(options.runtimeDir, record);
  const context = applyContextOf(record);
  let qemu: ResultPromise | undefined;
  let exited = false;
  let signal: NodeJS.Signals | undefined;
  let told = false;
  let failure: string | undefined;
  const tell = (status: Status) => {
    if (!told) options.onStatus(status);
    told = true;
  };
  const stop = (received: NodeJS.Signals) => {
    signal ??= received;
    if (qemu?.pid && !exited) {
      qemu.kill('SIGTERM');
      setTimeout(() => {
        if (!exited) qemu?.kill('SIGKILL');
      }, STOP_GRACE_MS).unref();
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const name of signals) process.on(name, stop);
  let code = 0;
  let applied = false;
  try {
    // On a failure applyActions undoes what it made itself.
    await applyActions(record.plan.actions, context);
    applied = true;
    if (signal) throw new HostError(`stopped by ${signal} before QEMU started`);
    const { stdio, opened } = openFds(record);
    ({ child: qemu } = await start(qemuCommand(record), {
      // execa's types list only fds 3-9; at run time any open descriptor is passed natively.
      stdio: ['inherit', 'inherit', 'inherit', ...stdio] as never,
      reject: false,
      cleanup: false,
    }));
    for (const fd of opened) closeSync(fd);
    void qemu.finally(() => {
      exited = true;
    });
    const running = qemu;
    await waitUntilUp(record, async () => {
      if (!exited) return undefined;
      const result = await running;
      return `QEMU exited at once (code ${result.exitCode ?? result.signal})`;
    });
    record.qemu = processId(qemu.pid!);
    record.state = 'running';
    writeRecord(options.runtimeDir, record);
    tell({ up: true, pid: qemu.pid! });
    if (signal) stop(signal);
    const result = await qemu;
    code = signal ? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15) : (result.exitCode ?? 1);
  } catch (error) {
    if (qemu?.pid && !exited) qemu.kill('SIGKILL');
    await qemu;
    failure = messageOf(error);
    code = 1;
  } finally {
    // As recorded now: `fwd add` may have changed its forwards and host actions while the guest ran.
    const latest = readRecord(options.runtimeDir, record.name);
    if (latest) record.plan = latest.plan;
    record.state = 'stopping';
    writeRecord(options.runtimeDir, record);
    const failures = await teardown(options.runtimeDir, record, applied ? record.plan.actions : []);
    for (const message of failures) printErr(`qemu-script: cleanup: ${message}\n`);
    for (const name of signals) process.off(name, stop);
    // Told only now: when the launcher reports a failure, the host is already clean.
    if (failure !== undefined) tell({ up: false, error: failure });
  }
  return code;
}
