// What the subcommand modules share: the --json flag, how a handler prints, and a flag's value as a string.
import { printOut } from '../base/output.ts';
import type { Flag, FlagValue } from '../cli/command.ts';

export const JSON_FLAG: Flag = { name: 'json', help: 'print one JSON object (version 1)' };

/** Prints a handler's text; exit code 0. */
export const print = (text: string) => {
  printOut(text);
  return 0;
};

export const text = (value: FlagValue) => (typeof value === 'string' ? value : undefined);
export const texts = (value: FlagValue) => (Array.isArray(value) ? value : []);
