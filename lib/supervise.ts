// The launch and cleanup stages: apply the host actions, start QEMU with its
// extra descriptors, wait for it, and undo everything on every way out.
import { execa, type ResultPromise } from 'execa';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { applyActions, applyContextOf, undoActions } from './apply.ts';
import { HostError } from './errors.ts';
import { removeRecord, writeRecord, type GuestRecord } from './guests.ts';
import { processId } from './proc.ts';
import { QmpClient } from './qmp.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const UP_TIMEOUT_MS = 30000;
const STOP_GRACE_MS = 10000;

export type Status = { up: true; pid: number } | { up: false; error: string };

export interface SuperviseOptions {
  runtimeDir: string;
  foreground: boolean;
  /** Told once: QEMU answers on QMP, or the guest could not start. */
  onStatus: (status: Status) => void;
}

export function logPath(runtimeDir: string, name: string): string {
  return `${runtimeDir}/logs/${name}.log`;
}

/** Opens the planned descriptors and lays them at their planned numbers in QEMU's stdio. */
function openFds(record: GuestRecord): { stdio: Array<number | 'ignore'>; opened: number[] } {
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
    throw new HostError(`cannot open ${(error as NodeJS.ErrnoException).path ?? 'a device'} for QEMU: ${(error as Error).message}`);
  }
  return { stdio, opened };
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '';
  }
}

async function waitUntilUp(qemu: ResultPromise, qmpSocket: string, log: string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + UP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited()) {
      const result = await qemu;
      const output = String(result.stderr ?? '').trim() || tail(log);
      throw new HostError(`QEMU exited at once (code ${result.exitCode ?? result.signal}): ${output || 'no message'}`);
    }
    if (existsSync(qmpSocket)) {
      const client = await QmpClient.connect(qmpSocket, 1000).catch(() => undefined);
      if (client) {
        client.close();
        return;
      }
    }
    await sleep(50);
  }
  throw new HostError(`QEMU did not answer on ${qmpSocket} within ${UP_TIMEOUT_MS / 1000} s`);
}

/**
 * Runs one guest from host setup to cleanup. Returns the exit code for the
 * foreground; a background supervisor's exit code is not seen by anyone.
 */
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
      setTimeout(() => { if (!exited) qemu?.kill('SIGKILL'); }, STOP_GRACE_MS).unref();
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const name of signals) process.on(name, stop);
  let code = 0;
  try {
    await applyActions(record.plan.actions, context);
    if (signal) throw new HostError(`stopped by ${signal} before QEMU started`);
    const log = logPath(options.runtimeDir, record.name);
    mkdirSync(`${options.runtimeDir}/logs`, { recursive: true, mode: 0o700 });
    const { stdio, opened } = openFds(record);
    const logFd = options.foreground ? undefined : openSync(log, 'w', 0o600);
    const [binary, ...args] = record.plan.qemu.argv;
    // setpriv --pdeathsig: if the supervisor is killed outright, QEMU gets SIGTERM
    // too, and the next gc finds a guest that is wholly gone.
    qemu = execa('setpriv', ['--pdeathsig', 'SIGTERM', '--', binary, ...args], {
      // execa's types list only fds 3-9; at run time any open descriptor is passed natively.
      stdio: (options.foreground ? ['inherit', 'inherit', 'inherit', ...stdio] : ['ignore', logFd!, logFd!, ...stdio]) as never,
      reject: false,
      cleanup: false,
    });
    for (const fd of opened) closeSync(fd);
    if (logFd !== undefined) closeSync(logFd);
    void qemu.finally(() => { exited = true; });
    await waitUntilUp(qemu, `${record.plan.runDir}/qmp.sock`, log, () => exited);
    record.qemu = processId(qemu.pid!);
    record.state = 'running';
    writeRecord(options.runtimeDir, record);
    tell({ up: true, pid: qemu.pid! });
    if (signal) stop(signal);
    const result = await qemu;
    code = signal ? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15) : result.exitCode ?? 1;
  } catch (error) {
    if (qemu?.pid && !exited) qemu.kill('SIGKILL');
    await qemu;
    failure = error instanceof Error ? error.message : String(error);
    code = 1;
  } finally {
    record.state = 'stopping';
    writeRecord(options.runtimeDir, record);
    const failures = await undoActions(record.plan.actions, context);
    for (const message of failures) process.stderr.write(`qemu-script: cleanup: ${message}\n`);
    removeRecord(options.runtimeDir, record.name);
    for (const name of signals) process.off(name, stop);
    // Told only now: when the launcher reports a failure, the host is already clean.
    if (failure !== undefined) tell({ up: false, error: failure });
  }
  return code;
}
