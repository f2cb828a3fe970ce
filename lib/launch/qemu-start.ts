// Starting QEMU, shared by the foreground supervisor and the background waiter:
// its descriptors at their planned numbers, its command line, waiting for QMP.
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { HostError } from '../base/errors.ts';
import type { GuestRecord } from '../state/guests.ts';
import { qemuPidfilePath, qmpSocketPath } from '../base/paths.ts';
import { QmpClient } from '../base/qmp.ts';
import { shellLine } from '../base/shell-quote.ts';
import { printErr } from '../base/output.ts';

const UP_TIMEOUT_MS = 30000;

/** Opens the planned descriptors and lays them at their planned numbers (from 3) of a child's stdio. */
export function openFds(record: GuestRecord): { stdio: Array<number | 'ignore'>; opened: number[] } {
  const opened: number[] = [];
  const stdio: Array<number | 'ignore'> = [];
  try {
    for (const spec of record.plan.qemu.fds) {
      const fd = openSync(spec.path, 'r+');
      opened.push(fd);
      while (stdio.length < spec.fd - 3) stdio.push('ignore');
      stdio[spec.fd - 3] = fd;
    }
  } catch (error) {
    for (const fd of opened) closeSync(fd);
    throw new HostError(
      `cannot open ${(error as NodeJS.ErrnoException).path ?? 'a device'} for QEMU: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { stdio, opened };
}

/**
 * What QEMU runs under where its parent does not signal it itself (the tool's waiter does): if whatever
 * waits for it is killed outright, QEMU gets SIGTERM too, and the next gc finds a guest wholly gone.
 */
export const PDEATHSIG = ['setpriv', '--pdeathsig', 'SIGTERM', '--'];

/** QEMU's argv; with PDEATHSIG, so that QEMU goes when the process starting it dies. */
export function qemuCommand(record: GuestRecord, pdeathsig = true): string[] {
  // --verbose: QEMU's line as the host commands before it were shown, as it starts.
  if (record.verbose) {
    const fds = record.plan.qemu.fds.map((fd) => `${fd.fd}<>${shellLine([fd.path])}`);
    printErr(`+ ${[shellLine(record.plan.qemu.argv), ...fds].join(' ')}\n`);
  }
  return [...(pdeathsig ? PDEATHSIG : []), ...record.plan.qemu.argv];
}

export function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '';
  }
}

/**
 * Waits until QEMU answers on QMP; returns its pid (from its pidfile).
 * `gone` says why the guest can no longer come up (QEMU or its waiter exited, a signal).
 */
export async function waitUntilUp(record: GuestRecord, gone: () => Promise<string | undefined>): Promise<number> {
  const socket = qmpSocketPath(record.plan.runDir);
  const deadline = Date.now() + UP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const reason = await gone();
    if (reason !== undefined) throw new HostError(reason);
    if (existsSync(socket)) {
      const client = await QmpClient.connect(socket, 1000).catch(() => undefined);
      if (client) {
        client.close();
        return Number(readFileSync(qemuPidfilePath(record.plan.runDir), 'utf8').trim());
      }
    }
    await sleep(20);
  }
  throw new HostError(`QEMU did not answer on ${socket} within ${UP_TIMEOUT_MS / 1000} s`);
}
