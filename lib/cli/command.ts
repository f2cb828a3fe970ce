// What a subcommand is, and the strict parser every one of them goes through: --help, the
// refusal of unknown flags, values and the number of arguments. The table is lib/commands/table.ts.
import type { ToolContext } from '../base/context.ts';
import { UsageError } from '../base/errors.ts';
import { printErr, printOut } from '../base/output.ts';
import { closest, didYouMean } from '../base/suggest.ts';

export interface Flag {
  name: string;
  /** Placeholder of the value; absent for a boolean flag. */
  value?: string;
  /** May be given more than once: its values are kept in order. */
  repeatable?: boolean;
  /** The value is optional and only given as --flag=VALUE (alone, the flag is true). */
  optionalValue?: boolean;
  /** A one-letter spelling besides the long one (-f for --follow, as tail has it). */
  short?: string;
  help: string;
}

export type FlagValue = string | boolean | string[] | undefined;

export interface Parsed {
  flags: Record<string, FlagValue>;
  args: string[];
  /** Words after `--`, for commands that pass them on. */
  rest: string[];
}

export interface Subcommand {
  /** The words that select it: "ps", "net create". */
  name: string;
  /** Positional part of the usage line. */
  args: string;
  summary: string;
  flags: Flag[];
  positionals: [min: number, max: number];
  /** Its argument names a guest of the user's: completions offer their names. */
  guestArgument?: boolean;
  /** Words after `--` are allowed and passed on. */
  passthrough?: boolean;
  /** After its own flags, the words are a launch line (or one guest's name): all of them go to `rest`. */
  launchLine?: boolean;
  /** Internal entry points: not in --help, their words are their own. */
  hidden?: boolean;
  run(parsed: Parsed, context: ToolContext, argv: string[]): Promise<number>;
}

const texts = (value: FlagValue) => (Array.isArray(value) ? value : []);

const flagSpelling = (flag: Flag) => {
  const value = !flag.value ? '' : flag.optionalValue ? `[=${flag.value}]` : ` ${flag.value}`;
  return `${flag.short ? `-${flag.short}, ` : ''}--${flag.name}${value}`;
};

function usageLine(command: Subcommand): string {
  const flags = command.flags.map((flag) => `[${flagSpelling(flag)}]`);
  // A launch line is the rest of the words: the command's own flags come before it.
  const words = command.launchLine ? [...flags, command.args] : [command.args, ...flags];
  return ['qemu-script', command.name, ...words].filter(Boolean).join(' ');
}

export function subcommandHelp(command: Subcommand): string {
  const flagLines = command.flags.map((flag) => `  ${flagSpelling(flag)}`.padEnd(24) + flag.help);
  return (
    [
      `Usage: ${usageLine(command)}`,
      '',
      command.summary,
      ...(flagLines.length > 0 ? ['', 'Options:', ...flagLines] : []),
    ].join('\n') + '\n'
  );
}

/** The command of the table the words start with, and the words after its name. */
export function findCommand(
  table: readonly Subcommand[],
  argv: string[],
): { command: Subcommand; rest: string[] } | undefined {
  const command = table.find((candidate) => candidate.name.split(' ').every((word, i) => argv[i] === word));
  if (command) return { command, rest: argv.slice(command.name.split(' ').length) };
  // The first word of a group (net) without a known second word.
  const group = table.filter((candidate) => candidate.name.includes(' ') && candidate.name.split(' ')[0] === argv[0]);
  if (group.length > 0) {
    const choices = group.map((candidate) => candidate.name.split(' ')[1]);
    // `net`, `net help`, `net --help`: the group's usage (asked for: exit 0; bare: exit 2).
    if (argv[1] === undefined || ['help', '--help', '-h', '-help'].includes(argv[1])) {
      return { command: groupUsage(argv[0], group, argv[1] === undefined ? 2 : 0), rest: [] };
    }
    const typo = didYouMean(argv[1], choices);
    throw new UsageError(`${argv[0]} ${argv[1]}: no such command${typo || `; accepted: ${choices.join(', ')}`}`);
  }
  return undefined;
}

/** A pseudo-command printing a group's commands (net create, net ls, ...), exiting with CODE. */
function groupUsage(word: string, group: Subcommand[], code: number): Subcommand {
  const text = [
    ...group.map((command, i) => {
      const options = command.flags.length > 0 ? '[options]' : '';
      const line = [
        'qemu-script',
        command.name,
        ...(command.launchLine ? [options, command.args] : [command.args, options]),
      ]
        .filter(Boolean)
        .join(' ');
      return `${i === 0 ? 'Usage:' : '      '} ${line}`;
    }),
    '',
    ...group.map(
      (command) => `  ${command.name.padEnd(Math.max(...group.map((one) => one.name.length)) + 2)}${command.summary}`,
    ),
    `(qemu-script ${word} COMMAND --help shows its options)`,
    '',
  ].join('\n');
  return {
    name: word,
    args: '',
    summary: '',
    flags: [],
    positionals: [0, 0],
    hidden: true,
    run: async () => {
      (code === 0 ? printOut : printErr)(text);
      return code;
    },
  };
}

/**
 * A first word that is no option, no subcommand and no file, but close to a
 * subcommand, is that subcommand mistyped; anything else is left to the launch
 * parser (which says a missing disk is missing).
 */
export function typoOfCommand(
  table: readonly Subcommand[],
  argv: string[],
  exists: (path: string) => boolean,
  otherTools: Readonly<Record<string, string>> = {},
): void {
  const [word, second] = argv;
  if (word === undefined || word.startsWith('-') || exists(word)) return;
  // A word other tools use for this (list, stop, shell): what it is called here.
  if (Object.hasOwn(otherTools, word)) {
    // With the guest's name when one was given: `stop web` → `down web`.
    const named = second && !second.startsWith('-') ? otherTools[word].replace('NAME', second) : otherTools[word];
    const meant = `qemu-script ${named}`;
    throw new UsageError(`"${word}" is neither a subcommand nor a file (did you mean \`${meant}\`?)`);
  }
  const names = table.filter((command) => !command.hidden).map((command) => command.name);
  const groups = [...new Set(names.filter((name) => name.includes(' ')).map((name) => name.split(' ')[0]))];
  const [match] = closest(word, [...names.filter((name) => !name.includes(' ')), ...groups]);
  if (!match) return;
  const full =
    groups.includes(match) && second !== undefined && names.includes(`${match} ${second}`)
      ? `${match} ${second}`
      : match;
  throw new UsageError(`"${word}" is neither a subcommand nor a file (did you mean \`qemu-script ${full}\`?)`);
}

/** Strict: an unknown flag, a missing value or a wrong number of arguments is refused before anything runs. */
export function parseSubcommand(command: Subcommand, words: string[]): Parsed | 'help' {
  const parsed: Parsed = { flags: {}, args: [], rest: [] };
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === '--' && command.launchLine) {
      // The rest is the command's own to read, `--` included.
      parsed.rest = words.slice(i);
      break;
    }
    if (word === '--') {
      if (!command.passthrough) throw new UsageError(`${command.name}: takes nothing after --`);
      parsed.rest = words.slice(i + 1);
      break;
    }
    if (word === '--help' || word === '-h' || word === '-help') return 'help';
    const [spelled, inline] = word.replace(/^--?/, '').split(/=(.*)/s, 2);
    const named = (candidate: Flag) =>
      candidate.name === spelled || (candidate.short !== undefined && word === `-${candidate.short}`);
    const own = word.startsWith('-') && command.flags.some(named);
    if (command.launchLine && !own) {
      parsed.rest = words.slice(i);
      break;
    }
    if (word.startsWith('-') && word !== '-') {
      const flag = command.flags.find(named);
      if (!flag) {
        const spellings = command.flags.map((candidate) => `--${candidate.name}`);
        const typo = didYouMean(`--${spelled}`, spellings);
        throw new UsageError(
          `${command.name}: unknown option ${word}${typo || ` (accepted: ${spellings.join(', ') || 'none'}, --help)`}`,
        );
      }
      if (!flag.value || (flag.optionalValue && inline === undefined)) {
        if (inline !== undefined) throw new UsageError(`${command.name}: --${flag.name} takes no value`);
        parsed.flags[flag.name] = true;
        continue;
      }
      const value = inline ?? words[++i];
      if (value === undefined)
        throw new UsageError(`${command.name}: --${flag.name} needs a value: --${flag.name} ${flag.value}`);
      parsed.flags[flag.name] = flag.repeatable ? [...texts(parsed.flags[flag.name]), value] : value;
      continue;
    }
    parsed.args.push(word);
  }
  const [min, max] = command.positionals;
  if (parsed.args.length < min || parsed.args.length > max) {
    const what =
      parsed.args.length < min
        ? `needs ${command.args}`
        : `takes ${command.args || 'no arguments'} (got ${parsed.args.slice(max).join(' ')})`;
    throw new UsageError(`${command.name}: ${what}; see qemu-script ${command.name} --help`);
  }
  return parsed;
}
