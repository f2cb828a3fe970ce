import { execa, execaSync } from 'execa';
import { HostError } from './errors.ts';
import { hostStep } from './fault.ts';
import { shellLine } from './shell-quote.ts';

export interface RunOptions {
  verbose?: boolean;
  /** What to tell the user when the command fails. */
  hint?: string;
}

/** The one place that runs commands to completion: argv arrays through execa, never a shell. Checked: throws a HostError. */
export async function run(argv: string[], options: RunOptions = {}): Promise<string> {
  if (options.verbose) process.stderr.write(`+ ${shellLine(argv)}\n`);
  const result = await execa(argv[0], argv.slice(1), { reject: false, stdin: 'ignore', all: true });
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
  const result = await execa(argv[0], argv.slice(1), { reject: false, stdin: 'ignore', timeout: 60000, all: true, env });
  return { ok: result.exitCode === 0, stdout: String(result.stdout ?? ''), output: String(result.all ?? '') };
}

export function probeSync(argv: string[]): ProbeResult {
  const result = execaSync(argv[0], argv.slice(1), { reject: false, stdin: 'ignore', timeout: 15000, all: true });
  return { ok: result.exitCode === 0, stdout: String(result.stdout ?? ''), output: String(result.all ?? '') };
}
