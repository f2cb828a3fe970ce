import { execa } from 'execa';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { writeRecord, readRecord, type GuestRecord } from './guests.ts';
import { HostError } from './errors.ts';
import { guestView } from './guest-commands.ts';
import { processId } from './proc.ts';
import { logPath, superviseGuest, type Status } from './supervise.ts';
import type { Plan } from './types.ts';

const SUPERVISOR_STATUS_TIMEOUT_MS = 120000;

/** QEMU asked for information only (-version, -device help ...): its output and exit code, no guest, lock or runtime directory. */
export async function runQemuInformational(binary: string, argv: string[]): Promise<number> {
  const result = await execa(binary, argv, { stdio: 'inherit', reject: false });
  if (result.exitCode === undefined) throw new HostError(`${binary} could not run: ${result.shortMessage} (set VM_QEMU, or install qemu-system-x86)`);
  return result.exitCode;
}

/** The reservation: written under the lock together with the plan, so concurrent launches see it. */
export function reserveGuest(runtimeDir: string, plan: Plan, facts: { uid: number; isRoot: boolean; selfCommand: string[] }, extra: { netns: string; registryDir: string; verbose: boolean }): GuestRecord {
  const record: GuestRecord = {
    name: plan.name, uid: facts.uid, netns: extra.netns, state: 'starting', launcher: processId(process.pid)!,
    startedAt: Date.now(), plan, isRoot: facts.isRoot, selfCommand: facts.selfCommand, registryDir: extra.registryDir, verbose: extra.verbose,
  };
  writeRecord(runtimeDir, record);
  return record;
}

/** What the user is told once the guest is up: the messages, one JSON object (SPEC §8), or nothing. */
export type Output = 'text' | 'json' | 'quiet';

function announce(record: GuestRecord, pid: number, background: boolean, output: Output): void {
  if (output === 'quiet') return;
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify({ version: 1, ...guestView({ ...record, qemu: record.qemu ?? processId(pid) }, record.registryDir) }, null, 2)}\n`);
    return;
  }
  const { plan } = record;
  for (const message of plan.messages) process.stdout.write(`${message}\n`);
  const how = background ? `; stop it with: qemu-script down ${plan.name}` : '';
  process.stdout.write(`Guest ${plan.name} is running (QEMU pid ${pid})${how}\n`);
}

/** --foreground (and display stdio): this process supervises the guest. */
export async function runInForeground(runtimeDir: string, record: GuestRecord, output: Output): Promise<number> {
  let failure: string | undefined;
  const code = await superviseGuest(record, {
    runtimeDir, foreground: true,
    onStatus: (status) => {
      if (status.up) announce(record, status.pid, false, output);
      else failure = status.error;
    },
  });
  if (failure) throw new HostError(failure);
  return code;
}

/** The default: a detached supervisor runs the guest; the terminal is back once QEMU is up. */
export async function runInBackground(runtimeDir: string, record: GuestRecord, selfCommand: string[], output: Output): Promise<number> {
  mkdirSync(`${runtimeDir}/logs`, { recursive: true, mode: 0o700 });
  const logFd = openSync(`${logPath(runtimeDir, record.name)}.supervisor`, 'w', 0o600);
  const child = execa(selfCommand[0], [...selfCommand.slice(1), '__supervise', runtimeDir, record.name], {
    detached: true, cleanup: false, reject: false, stdin: 'ignore', stdout: 'pipe', stderr: logFd as never, buffer: false,
  });
  closeSync(logFd);
  const status = await new Promise<Status>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve({ up: false, error: 'the supervisor did not report within 120 s' }), SUPERVISOR_STATUS_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(text.slice(0, text.indexOf('\n'))) as Status);
      }
    });
    void child.then((result) => {
      clearTimeout(timer);
      resolve({ up: false, error: `the supervisor exited (${result.exitCode ?? result.signal}) before QEMU was up` });
    });
  });
  child.stdout!.destroy();
  child.unref();
  if (!status.up) throw new HostError(status.error);
  // The supervisor has written QEMU's identity into the record since.
  announce(readRecord(runtimeDir, record.name) ?? record, status.pid, true, output);
  return 0;
}

/** `__supervise RUNTIME NAME`: the detached supervisor's entry. */
export async function supervisorMain(runtimeDir: string, name: string): Promise<number> {
  const record = readRecord(runtimeDir, name);
  if (!record) return 1;
  process.stdout.on('error', () => undefined);
  return superviseGuest(record, {
    runtimeDir, foreground: false,
    onStatus: (status) => {
      process.stdout.write(`${JSON.stringify(status)}\n`);
    },
  });
}
