import { execa } from 'execa';
import { HostError } from './errors.ts';
import { shellLine } from './shell-quote.ts';

export interface RunOptions {
  verbose?: boolean;
  /** What to tell the user when the command fails. */
  hint?: string;
}

/** The one place that runs host commands: argv arrays through execa, never a shell. */
export async function run(argv: string[], options: RunOptions = {}): Promise<string> {
  if (options.verbose) process.stderr.write(`+ ${shellLine(argv)}\n`);
  const result = await execa(argv[0], argv.slice(1), { reject: false, stdin: 'ignore', all: true });
  if (result.failed) {
    const output = (result.all ?? '').trim() || result.shortMessage;
    throw new HostError(`${shellLine(argv)} failed: ${output}${options.hint ? ` (${options.hint})` : ''}`, { command: argv, output, hint: options.hint });
  }
  return result.stdout ?? '';
}
