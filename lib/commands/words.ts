// What the subcommand modules share: the --json flag, how a handler prints, and a flag's value as a string.
import { UsageError } from '../base/errors.ts';
import { printOut } from '../base/output.ts';
import type { Flag, FlagValue } from '../cli/command.ts';

export const JSON_FLAG: Flag = { name: 'json', help: 'print one JSON object (version 1)' };

/** Prints a handler's text; exit code 0. */
export const print = (text: string) => {
  printOut(text);
  return 0;
};

export const text = (value: FlagValue) => (typeof value === 'string' ? value : undefined);

/** How down, stop and lab down stop a guest: --force, --timeout S. */
export const STOP_FLAGS: Flag[] = [
  { name: 'force', help: 'quit at once' },
  { name: 'timeout', value: 'S', help: 'seconds to wait for the guest (default 60)' },
];

export function stopOptions(flags: Record<string, FlagValue>, said: string) {
  const timeoutSeconds = Number(text(flags.timeout) ?? 60);
  if (!(timeoutSeconds >= 0))
    throw new UsageError(`${said} --timeout: "${text(flags.timeout)}" is not a number of seconds`);
  return { force: Boolean(flags.force), timeoutSeconds };
}
export const texts = (value: FlagValue) => (Array.isArray(value) ? value : []);
