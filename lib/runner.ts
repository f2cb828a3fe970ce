// The one place that runs other programs: argv arrays, never a shell. execa is
// loaded on first use, so a command that runs nothing (a dry run, --help) does
// not pay for it at start-up.
import { spawnSync } from 'node:child_process';
import type { Options, ResultPromise } from 'execa';
import { HostError } from './errors.ts';
import { hostStep } from './fault.ts';
import { shellLine } from './shell-quote.ts';

export interface RunOptions {
  verbose?: boolean;
  /** What to tell the user when the command fails. */
  hint?: string;
}

const execa = async () => (await import('execa')).execa;

/** Runs a command to completion. Checked: a failure is a HostError carrying the command, its output and a hint. */
export async function run(argv: string[], options: RunOptions = {}): Promise<string> {
  if (options.verbose) process.stderr.write(`+ ${shellLine(argv)}\n`);
  const result = await (await execa())(argv[0], argv.slice(1), { reject: false, stdin: 'ignore', all: true });
  if (result.failed) {
    const output = (result.all ?? '').trim() || result.shortMessage;
    throw new HostError(`${shellLine(argv)} failed: ${output}${options.hint ? ` (${options.hint})` : ''}`, { command: argv, output, hint: options.hint });
  }
  hostStep();
  return result.stdout ?? '';
}

export interface ProbeResult {
  ok: boolean;
  stdout: string;
  output: string;
}

/** A command whose failure is an answer, not an error (getcap, visudo -c, sudo -n ...). */
export async function probe(argv: string[], env?: Record<string, string>): Promise<ProbeResult> {
  const result = await (await execa())(argv[0], argv.slice(1), { reject: false, stdin: 'ignore', timeout: 60000, all: true, env });
  return { ok: result.exitCode === 0, stdout: String(result.stdout ?? ''), output: String(result.all ?? '') };
}

/** The same, synchronously, for the probe stage (ip, iptables -S). */
export function probeSync(argv: string[]): ProbeResult {
  const result = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15000, encoding: 'utf8' });
  return { ok: result.status === 0, stdout: result.stdout ?? '', output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/**
 * A program the caller watches and talks to (QEMU, the waiter, ssh): started,
 * not awaited. Wrapped: a subprocess is a thenable, which an async function
 * would otherwise wait for.
 */
export async function start(argv: string[], options: Options): Promise<{ child: ResultPromise }> {
  return { child: (await execa())(argv[0], argv.slice(1), options) as unknown as ResultPromise };
}
