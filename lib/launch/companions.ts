// The processes of the caller's that a guest's NICs need beside QEMU (passt): started before QEMU, each
// recorded in the guest's record the moment it runs, and ended with the guest by whichever way it goes
// (its waiter's cleanup, the foreground supervisor, gc after a kill -9).
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostError } from '../base/errors.ts';
import { isAlive, processId } from '../base/proc.ts';
import { startDetached } from '../base/runner.ts';
import { writeRecord, type GuestRecord } from '../state/guests.ts';

/** How long a companion may take to bind its socket. */
const READY_WAIT_MS = 5000;
const STOP_WAIT_MS = 2000;

const lastLines = (path: string) => {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-3).join('; ');
  } catch {
    return '';
  }
};

/** Starts the plan's companions; each is in the record before the next starts. */
export async function startCompanions(runtimeDir: string, record: GuestRecord): Promise<void> {
  for (const companion of record.plan.companions) {
    if (companion.runAs !== undefined) {
      // Its user passes through the runtime directory and the companions' one to its own, and no further.
      const parent = dirname(companion.dir);
      const runtime = dirname(parent);
      chmodSync(runtime, (statSync(runtime).mode & 0o7777) | 0o001);
      mkdirSync(parent, { recursive: true, mode: 0o711 });
      rmSync(companion.dir, { recursive: true, force: true });
      mkdirSync(companion.dir, { mode: 0o700 });
      chownSync(companion.dir, companion.runAs, companion.runAs);
    } else {
      mkdirSync(companion.dir, { recursive: true, mode: 0o700 });
    }
    const devNull = openSync('/dev/null', 'r+');
    let started;
    try {
      started = startDetached(companion.argv, { stdio: [devNull, devNull, devNull], env: {}, uid: companion.runAs });
    } finally {
      closeSync(devNull);
    }
    started.unref();
    const id = processId(started.pid);
    if (id) {
      record.companions = [...(record.companions ?? []), id];
      writeRecord(runtimeDir, record);
    }
    let exited = false;
    void started.exited.then(() => {
      exited = true;
    });
    const deadline = Date.now() + READY_WAIT_MS;
    while (!existsSync(companion.socket)) {
      if (exited || Date.now() > deadline) {
        throw new HostError(
          `${companion.kind} ${exited ? 'exited at once' : 'did not open its socket'}: ` +
            `${lastLines(companion.log) || 'no message'} (${companion.log})`,
        );
      }
      await sleep(20);
    }
  }
}

/** Ends the guest's companions that still run (and only those: a PID is checked with its start time). */
export async function stopCompanions(record: GuestRecord): Promise<void> {
  const running = (record.companions ?? []).filter((id) => isAlive(id));
  for (const id of running) process.kill(id.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_WAIT_MS;
  while (running.some((id) => isAlive(id)) && Date.now() < deadline) await sleep(20);
  for (const id of running.filter((each) => isAlive(each))) process.kill(id.pid, 'SIGKILL');
  for (const companion of record.plan.companions ?? []) rmSync(companion.dir, { recursive: true, force: true });
}
