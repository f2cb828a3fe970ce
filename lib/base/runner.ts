// The one place that runs other programs: argv arrays, never a shell.
// Commands that run to completion (host actions, probes) and the background waiter go through
// node:child_process directly: execa's first call costs ~20 ms of module initialisation, more than
// everything else a launch does. execa runs the programs a user watches or talks to (QEMU in the
// foreground, ssh), loaded on first use so that other commands never pay for it.
import type { StdioOptions } from 'node:child_process';
import { childProcess } from './builtin.ts';
import type { Options, ResultPromise } from 'execa';
import { CommandError, HostError } from './errors.ts';
import { hostStep } from './fault.ts';
import { shellLine } from './shell-quote.ts';
import { printErr } from './output.ts';

export interface RunOptions {
  verbose?: boolean;
  /** What to tell the user when the command fails. */
  hint?: string;
}

interface Completed {
  /** The exit code; undefined when the program could not start or was killed. */
  exitCode: number | undefined;
  stdout: string;
  /** stdout and stderr interleaved as they came. */
  all: string;
  /** Why it did not start or did not finish (ENOENT, a signal, the timeout). */
  problem?: string;
}

/** Why a program did not start (ENOENT: not installed) or did not finish (a signal). */
function problemOf(argv: string[], error: NodeJS.ErrnoException | undefined, signal: string | null) {
  if (error) return error.code === 'ENOENT' ? `${argv[0]}: command not found` : error.message;
  return signal ? `killed by ${signal}` : undefined;
}

function complete(
  argv: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Completed> {
  return new Promise((done) => {
    const stdout: Buffer[] = [];
    const all: Buffer[] = [];
    let failed: NodeJS.ErrnoException | undefined;
    const child = childProcess().spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ? { ...process.env, ...options.env } : undefined,
      timeout: options.timeoutMs,
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      all.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => all.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      failed = error;
    });
    child.on('close', (code, signal) => {
      done({
        exitCode: code ?? undefined,
        stdout: Buffer.concat(stdout).toString('utf8'),
        all: Buffer.concat(all).toString('utf8'),
        problem: problemOf(argv, failed, signal),
      });
    });
  });
}

/**
 * The same, synchronously: a host action's `ip` or `nft` is over in milliseconds, and Node's first
 * asynchronous child (its pipes are streams) costs ~8 ms here against ~3 ms for spawnSync. Its output
 * comes whole, stdout then stderr.
 */
function completeNow(argv: string[]): Completed {
  const result = childProcess().spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const stdout = result.stdout?.toString('utf8') ?? '';
  return {
    exitCode: result.status ?? undefined,
    stdout,
    all: stdout + (result.stderr?.toString('utf8') ?? ''),
    problem: problemOf(argv, result.error, result.signal),
  };
}

/** Runs a command to completion. Checked: a failure is a CommandError carrying the command and its output. */
export async function run(argv: string[], options: RunOptions = {}): Promise<string> {
  if (options.verbose) printErr(`+ ${shellLine(argv)}\n`);
  const result = completeNow(argv);
  if (result.exitCode !== 0) {
    const output = result.all.trim() || result.problem || `exit code ${result.exitCode}`;
    const hint = options.hint ? ` (${options.hint})` : '';
    throw new CommandError(`${shellLine(argv)} failed: ${output}${hint}`, argv, output);
  }
  hostStep();
  return result.stdout;
}

export interface ProbeResult {
  ok: boolean;
  stdout: string;
  output: string;
}

/** A command whose failure is an answer, not an error (getcap, visudo -c, sudo -n ...). */
export async function probe(argv: string[], env?: Record<string, string>): Promise<ProbeResult> {
  const result = await complete(argv, { env, timeoutMs: 60000 });
  return { ok: result.exitCode === 0, stdout: result.stdout, output: result.all || (result.problem ?? '') };
}

/** The same, synchronously, for the probe stage (ip, iptables -S). */
export function probeSync(argv: string[]): ProbeResult {
  const result = childProcess().spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15000,
    encoding: 'utf8',
  });
  return {
    ok: result.status === 0,
    stdout: result.stdout ?? '',
    output: `${result.stdout ?? ''}${result.stderr ?? ''}`,
  };
}

export interface Detached {
  pid: number;
  /** Settles when the program ends, with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Lets this process end without waiting for it. */
  unref: () => void;
}

/** A program that outlives this process (the guest's waiter): its own session, the given descriptors. */
export function startDetached(
  argv: string[],
  options: { stdio: StdioOptions; env: Record<string, string>; uid?: number },
): Detached {
  const child = childProcess().spawn(argv[0], argv.slice(1), {
    detached: true,
    stdio: options.stdio,
    env: { ...process.env, ...options.env },
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  const exited = new Promise<number | null>((done) => {
    child.on('error', () => done(null));
    child.on('exit', (code) => done(code));
  });
  if (child.pid === undefined) throw new HostError(`${argv[0]} could not start`);
  return { pid: child.pid, exited, unref: () => child.unref() };
}

const execa = async () => (await import('execa')).execa;

/**
 * A program the caller watches and talks to (QEMU in the foreground, ssh): started,
 * not awaited. Wrapped: a subprocess is a thenable, which an async function
 * would otherwise wait for.
 */
export async function start(argv: string[], options: Options): Promise<{ child: ResultPromise }> {
  return { child: (await execa())(argv[0], argv.slice(1), options) as unknown as ResultPromise };
}
