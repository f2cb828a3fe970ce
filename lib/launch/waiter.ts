// What stays behind while a background guest runs: a small program that holds
// the guest's descriptors, forwards the signals it gets to QEMU, waits for QEMU,
// and then becomes the tool's cleanup. It is the tool's own waiter (waiter.c:
// ~40 KiB resident, against ~50 MiB for a Node process), or where that cannot
// run (none beside the .cjs script, a runtime directory mounted noexec) a POSIX
// shell doing the same (~1.7 MiB). The shell's script is constant: QEMU's argv
// arrives as positional parameters and the cleanup's argv in one variable split
// on a control character with globbing off, so no data is ever parsed as shell.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { HostError } from '../base/errors.ts';
import type { GuestRecord } from '../state/guests.ts';
import { logDir, logPath } from '../base/paths.ts';
import { isAlive, processId, type ProcessId } from '../base/proc.ts';
import { openFds, PDEATHSIG, qemuCommand } from './qemu-start.ts';
import { startDetached, type Detached } from '../base/runner.ts';
import { findSystemTool } from '../base/system-tools.ts';
import { waiterProgram } from '../base/self.ts';

const SEPARATOR = '\x1f';
const CLEANUP_VARIABLE = 'QEMU_SCRIPT_CLEANUP';

const SCRIPT = [
  'trap \'kill -TERM "$qemu" 2>/dev/null\' TERM INT HUP',
  '"$@" &',
  'qemu=$!',
  // A trapped signal ends `wait` early: wait again until QEMU is really gone.
  'while :; do wait "$qemu"; kill -0 "$qemu" 2>/dev/null || break; done',
  'set -f',
  `IFS=$(printf '\\037')`,
  `exec $${CLEANUP_VARIABLE}`,
].join('\n');

export interface Waiter {
  id: ProcessId;
  /** Set once the waiter (QEMU, then the cleanup) has exited. */
  exited: () => boolean;
  /** QEMU is up: the waiter goes on alone. */
  detach: () => void;
  /** Stops QEMU; the waiter's cleanup then undoes the host changes and removes the record. */
  stop: () => Promise<void>;
}

interface WaiterCommand {
  argv: string[];
  env: Record<string, string>;
}

/** The ways to start the waiter, best first: the tool's own waiter when there is one, then the shell. */
function waiterCommands(runtimeDir: string, qemu: string[], cleanup: string[]): WaiterCommand[] {
  let program: string | undefined;
  try {
    program = waiterProgram(runtimeDir);
  } catch {
    program = undefined;
  }
  const shell = findSystemTool('sh');
  return [
    ...(program ? [{ argv: [program, String(cleanup.length), ...cleanup, ...qemu], env: {} }] : []),
    ...(shell
      ? [
          {
            argv: [shell, '-c', SCRIPT, 'qemu-script-waiter', ...PDEATHSIG, ...qemu],
            env: { [CLEANUP_VARIABLE]: cleanup.join(SEPARATOR) },
          },
        ]
      : []),
  ];
}

/** The first of COMMANDS (at least one) that starts: the tool's waiter on a noexec mount does not, the shell then. */
function startFirst(commands: WaiterCommand[], stdio: Array<number | 'ignore'>): Detached {
  const [{ argv, env }, ...rest] = commands;
  try {
    return startDetached(argv, { env, stdio });
  } catch (error) {
    if (rest.length === 0) throw error;
    return startFirst(rest, stdio);
  }
}

/** Starts QEMU under a waiter whose last act is `SELF __cleanup RUNTIME NAME`. */
export function startWaiter(runtimeDir: string, record: GuestRecord, selfCommand: string[]): Waiter {
  mkdirSync(logDir(runtimeDir), { recursive: true, mode: 0o700 });
  const cleanup = [...selfCommand, '__cleanup', runtimeDir, record.name];
  const commands = waiterCommands(runtimeDir, qemuCommand(record, false), cleanup);
  if (commands.length === 0) throw new HostError('no /bin/sh to wait for the guest with');
  const logFd = openSync(logPath(runtimeDir, record.name), 'w', 0o600);
  const { stdio, opened } = openFds(record);
  let child: Detached;
  try {
    child = startFirst(commands, ['ignore', logFd, logFd, ...stdio]);
  } finally {
    for (const fd of [...opened, logFd]) closeSync(fd);
  }
  let done = false;
  void child.exited.then(() => {
    done = true;
  });
  const id = processId(child.pid);
  if (!id) throw new HostError("the guest's waiter did not start");
  return {
    id,
    exited: () => done,
    detach: () => child.unref(),
    stop: async () => {
      if (!done && isAlive(id)) process.kill(id.pid, 'SIGTERM');
      await child.exited;
    },
  };
}
