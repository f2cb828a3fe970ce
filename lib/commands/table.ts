// Every subcommand, assembled from one module per group (guests, fwd, net, export, admin) plus the shell's
// completions and the internal entry points. Parsing, --help, the refusal of unknown flags (cli/command.ts) and
// the help text all read this table: a new subcommand is an entry in its group's module.
import { toolContext } from '../base/context.ts';
import { completionScript } from '../cli/completion.ts';
import { findCommand, parseSubcommand, subcommandHelp, typoOfCommand, type Subcommand } from '../cli/command.ts';
import { cleanupMain } from '../launch/cleanup.ts';
import { readNetworks } from '../net/networks.ts';
import { listRecords } from '../state/guests.ts';
import { ADMIN_COMMANDS } from './admin.ts';
import { EXPORT_COMMANDS } from './export.ts';
import { FWD_COMMANDS } from './fwd.ts';
import { GUEST_COMMANDS } from './guests.ts';
import { IMAGE_COMMANDS } from './images.ts';
import { INSTANCE_COMMANDS } from './instances.ts';
import { LAB_COMMANDS } from './lab.ts';
import { NET_COMMANDS } from './net.ts';
import { UsageError } from '../base/errors.ts';
import { print } from './words.ts';

/** The shell's: completion scripts, and the names they offer. The waiter's: a background guest's cleanup. */
const INTERNAL_COMMANDS: readonly Subcommand[] = [
  {
    name: 'completion',
    args: 'bash|zsh|fish',
    summary: 'print a shell completion script (e.g. source <(qemu-script completion bash))',
    flags: [],
    positionals: [1, 1],
    run: async ({ args }) => print(completionScript(args[0], SUBCOMMANDS)),
  },
  {
    name: '__complete',
    args: 'guests|networks',
    summary: 'names for the completion scripts',
    flags: [],
    positionals: [1, 1],
    hidden: true,
    run: async (_parsed, context, argv) => {
      const lists: Record<string, () => string[]> = {
        guests: () => listRecords(context.runtimeDir).map((record) => record.name),
        networks: () => Object.keys(readNetworks(context.config)),
      };
      return print((lists[argv[0]]?.() ?? []).map((name) => `${name}\n`).join(''));
    },
  },
  {
    name: '__cleanup',
    args: 'RUNTIME NAME',
    summary: "a background guest's cleanup, once QEMU has exited",
    flags: [],
    positionals: [2, 2],
    hidden: true,
    run: (_parsed, _context, argv) => cleanupMain(argv[0], argv[1]),
  },
];

export const SUBCOMMANDS: readonly Subcommand[] = [
  ...GUEST_COMMANDS,
  ...INSTANCE_COMMANDS,
  ...IMAGE_COMMANDS,
  ...LAB_COMMANDS,
  ...FWD_COMMANDS,
  ...NET_COMMANDS,
  ...EXPORT_COMMANDS,
  ...ADMIN_COMMANDS,
  ...INTERNAL_COMMANDS,
];

/** `help` alone is --help; `help WORDS...` is `WORDS... --help`: a command's usage, or a group's. */
export async function helpWith(words: string[], full: () => string): Promise<number> {
  if (words.length === 0) return print(full());
  const found = findSubcommand(words);
  const unknown = () => new UsageError(`help: no command ${words.join(' ')} (qemu-script help lists them)`);
  if (!found || found.rest.length > 0) throw unknown();
  if (SUBCOMMANDS.includes(found.command)) {
    if (found.command.hidden) throw unknown();
    return runSubcommand(found.command, ['--help']);
  }
  // A group's first word (image, net): its usage, as `image help` prints it.
  return runSubcommand(findSubcommand([words[0], 'help'])!.command, []);
}

/** Runs a subcommand; internal entry points get their words untouched. */
export async function runSubcommand(command: Subcommand, words: string[]): Promise<number> {
  if (command.hidden) return command.run({ flags: {}, args: [], rest: [] }, toolContext(), words);
  const parsed = parseSubcommand(command, words);
  if (parsed === 'help') return print(subcommandHelp(command));
  return command.run(parsed, toolContext(), words);
}

/** The subcommand the words start with, and the words after its name. */
export const findSubcommand = (argv: string[]) => findCommand(SUBCOMMANDS, argv);

/** Words users bring from other tools (virsh, multipass, limactl, docker) and what they are here. */
const OTHER_TOOLS: Readonly<Record<string, string>> = {
  version: '--version',
  list: 'ps',
  status: 'info NAME',
  show: 'info NAME',
  shutdown: 'stop NAME',
  poweroff: 'stop NAME',
  kill: 'stop --force NAME',
  destroy: 'rm --force NAME',
  delete: 'rm NAME',
  run: 'create NAME --image IMAGE, then start NAME (or a launch line: qemu-script DISK)',
  launch: 'create NAME --image IMAGE, then start NAME (or a launch line: qemu-script DISK)',
  images: 'image ls',
  pull: 'image pull ALIAS|URL',
  logs: 'log NAME',
  shell: 'ssh NAME',
  exec: 'ssh NAME -- COMMAND',
  login: 'ssh NAME',
  attach: 'console NAME',
  networks: 'net ls',
};

/** A first word close to a subcommand's, or another tool's word, that is no file: refused with the suggestion. */
export const firstWordTypo = (argv: string[], exists: (path: string) => boolean) =>
  typoOfCommand(SUBCOMMANDS, argv, exists, OTHER_TOOLS);
