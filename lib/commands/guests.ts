// The commands on a user's running guests: ps, info, down, gc, ssh, console.
import type { ToolContext } from '../base/context.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { printOut } from '../base/output.ts';
import { isGone, listRecords } from '../state/guests.ts';
import { ensureOwnDir } from '../base/lock.ts';
import type { Subcommand } from '../cli/command.ts';
import { attachConsole } from '../guest/console.ts';
import { down, gc, ps } from '../guest/guest-commands.ts';
import { info } from '../guest/info.ts';
import { copy, parseWait, ssh } from '../guest/ssh.ts';
import { JSON_FLAG, print, STOP_FLAGS, stopOptions } from './words.ts';

/**
 * ssh's words: [USER@]NAME (with --wait[=S] just before or after it), then a command to run, or `--` and ssh's
 * own options and command as before.
 */
function sshWords(words: string[], flag: string | boolean | undefined) {
  let wait = flag;
  const rest = [...words];
  if (rest[0]?.startsWith('-') && rest[0] !== '--' && !/^--wait(=|$)/.test(rest[0]))
    throw new UsageError(`ssh: ${rest[0]} goes after the name and --: qemu-script ssh NAME -- ${rest[0]} ...`);
  const target = rest[0] === undefined || rest[0].startsWith('-') ? undefined : rest.shift();
  if (rest[0] !== undefined && /^--wait(=|$)/.test(rest[0])) {
    const word = rest.shift()!;
    wait = word === '--wait' ? true : word.slice('--wait='.length);
  }
  if (rest[0] === '--') rest.shift();
  return { target, wait, extra: rest };
}

/**
 * down of several guests from this one process, in parallel: each guest's power-off and cleanup run side by side
 * (32 busy guests would otherwise be 32 starts of the tool). One that fails does not stop the others.
 */
async function downMany(context: ToolContext, names: string[], options: { force: boolean; timeoutSeconds: number }) {
  if (names.length === 0) return 'no guests\n';
  if (names.length === 1) return down(context, names[0], options);
  const results = await Promise.allSettled(names.map((name) => down(context, name, { ...options, quiet: true })));
  const failed = results.flatMap((result, i) =>
    result.status === 'rejected' ? [`${names[i]}: ${(result.reason as Error).message}`] : [],
  );
  const said = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  if (failed.length > 0) {
    printOut(said.join(''));
    throw new HostError(`down: ${failed.join('; ')}`);
  }
  return said.join('');
}

/** `ssh` with no name: the user's only running guest, or a refusal that lists them. */
function onlyGuest(context: ToolContext): string {
  const running = listRecords(context.runtimeDir).filter((record) => !isGone(record)).map((record) => record.name);
  if (running.length === 1) return running[0];
  if (running.length === 0) throw new UsageError('ssh: no guest is running (qemu-script ps)');
  throw new UsageError(`ssh: ${running.length} guests run (${running.join(', ')}); name one: qemu-script ssh NAME`);
}

export const GUEST_COMMANDS: readonly Subcommand[] = [
  {
    name: 'ps',
    args: '',
    summary: "guests of this tool: name, pid, state, uptime, each NIC's network and address, ports",
    flags: [JSON_FLAG],
    positionals: [0, 0],
    run: async ({ flags }, context) => print(await ps(context, Boolean(flags.json))),
  },
  {
    name: 'ls',
    args: '',
    summary: 'what ps shows: guests, and instances that are stopped',
    flags: [JSON_FLAG],
    positionals: [0, 0],
    run: async ({ flags }, context) => print(await ps(context, Boolean(flags.json))),
  },
  {
    name: 'down',
    guestArgument: true,
    args: 'NAME... | --all',
    summary: 'power guests off (ACPI, then quit after the timeout), many at once in parallel',
    flags: [...STOP_FLAGS, { name: 'all', help: 'every guest of yours that runs' }],
    positionals: [0, 1024],
    run: async ({ flags, args }, context) => {
      const options = stopOptions(flags, 'down');
      if (flags.all && args.length > 0) throw new UsageError('down: names or --all, not both');
      const names = flags.all ? listRecords(context.runtimeDir).map((record) => record.name) : args;
      if (names.length === 0 && !flags.all) throw new UsageError('down needs a guest name (see qemu-script ps)');
      ensureOwnDir(context.runtimeDir);
      return print(await downMany(context, names, options));
    },
  },
  {
    name: 'gc',
    args: '',
    summary: 'remove what guests that are gone left behind',
    flags: [{ name: 'verbose', short: 'v', help: 'also say what it looked at' }],
    positionals: [0, 0],
    run: async ({ flags }, context) => {
      ensureOwnDir(context.runtimeDir);
      return print(await gc(context, Boolean(flags.verbose)));
    },
  },
  {
    name: 'ssh',
    guestArgument: true,
    args: '[[USER@]NAME] [COMMAND... | -- SSH OPTIONS AND COMMAND]',
    summary:
      'ssh to a guest (its SSH forward, else its address on a defined network), or run COMMAND there; a ' +
      '--cloud-init guest as its user, with its key; no NAME: the only running guest',
    flags: [
      {
        name: 'wait',
        value: 'S',
        optionalValue: true,
        help: 'wait until SSH answers and cloud-init has finished (default 300 s)',
      },
    ],
    positionals: [0, 0],
    launchLine: true,
    run: ({ rest, flags }, context) => {
      const { target, wait, extra } = sshWords(rest, flags.wait as string | boolean | undefined);
      return ssh(context, target ?? onlyGuest(context), extra, parseWait(wait));
    },
  },
  {
    name: 'cp',
    guestArgument: true,
    args: 'SRC... DEST',
    summary:
      "copy files to or from a running guest ([USER@]NAME:PATH on one side) with scp, as qemu-script ssh logs in",
    flags: [{ name: 'recursive', short: 'r', help: 'directories and what is in them' }],
    positionals: [2, 1024],
    run: ({ flags, args }, context) => copy(context, args, Boolean(flags.recursive)),
  },
  {
    name: 'info',
    guestArgument: true,
    args: 'NAME',
    summary: 'how to reach a guest: state, memory, disks, addresses, forwards, console, screen, login, log',
    flags: [JSON_FLAG],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => print(await info(context, args[0], Boolean(flags.json))),
  },
  {
    name: 'console',
    guestArgument: true,
    args: 'NAME',
    summary: "attach to a guest's serial console (Ctrl-] detaches; Ctrl-A c: the monitor)",
    flags: [],
    positionals: [1, 1],
    run: ({ args }, context) => attachConsole(context, args[0]),
  },
];
