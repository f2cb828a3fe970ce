// qemu-script create, start, stop, rm and log: instances, named guests kept across boots (store/instances.ts).
import type { ToolContext } from '../base/context.ts';
import { UsageError } from '../base/errors.ts';
import { GUEST_NAME, GUEST_NAME_RULE } from '../base/names.ts';
import { consoleLogPath, guestRunDir, hostKeyPath, instanceFile } from '../base/paths.ts';
import { printOut } from '../base/output.ts';
import type { Subcommand } from '../cli/command.ts';
import { parseArgs } from '../cli/parse-args.ts';
import { parseMacMode } from '../net/mac.ts';
import { instanceIdOf } from '../plan/cloud-init.ts';
import { announcer } from '../guest/announce.ts';
import { down } from '../guest/guest-commands.ts';
import { parseWait, waitReady } from '../guest/ssh.ts';
import { launchGuest } from '../launch/launch.ts';
import { planLine, probeCloud } from '../launch/plan-line.ts';
import { isGone, readRecord } from '../state/guests.ts';
import { resolveImage } from '../store/images.ts';
import { createInstance, instanceExists, readInstance, removeInstance } from '../store/instances.ts';
import type { LaunchOptions } from '../base/types.ts';
import { rmSync, existsSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { print, text } from './words.ts';

/** The launch line's words, parsed as a launch would parse them: refused as a launch would refuse them. */
function launchOptions(words: string[], said: string): LaunchOptions {
  const parsed = parseArgs(words, process.env);
  if (parsed.command !== 'launch') throw new UsageError(`${said}: takes launch options, not --help or --version`);
  return parsed.options;
}

function checkedName(name: string | undefined, said: string): string {
  if (!name || name.startsWith('-')) throw new UsageError(`${said} needs an instance name first`);
  if (!GUEST_NAME.test(name)) throw new UsageError(`${said}: "${name}" is not a name (${GUEST_NAME_RULE})`);
  return name;
}

/** Whether the instance runs now: a record of its name whose processes live. */
export const running = (context: ToolContext, name: string) => {
  const record = readRecord(context.runtimeDir, name);
  return record !== undefined && !isGone(record);
};

/** The words a launch line gave for the base image: --image (or, without it, the first --disk), taken out. */
function takeBase(words: string[]): { base?: string; size?: string; rest: string[] } {
  const rest: string[] = [];
  let base: string | undefined;
  let size: string | undefined;
  let disk: string | undefined;
  const end = words.indexOf('--');
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const [flag, inline] = word.startsWith('--') ? word.split(/=(.*)/s, 2) : [word, undefined];
    const value = () => inline ?? words[++i];
    if (end >= 0 && i >= end) rest.push(word);
    else if (flag === '--image') base = value();
    else if (flag === '--disk-size') size = value();
    else if ((flag === '--disk' || flag === '-disk') && disk === undefined && base === undefined) disk = value();
    else rest.push(word);
  }
  return { base: base ?? disk, size, rest };
}

export async function create(context: ToolContext, words: string[], lab?: string): Promise<string> {
  const name = checkedName(words[0], 'create');
  const { base, size, rest } = takeBase(words.slice(1));
  if (!base) throw new UsageError('create: give the image it is over: --image IMAGE (or --disk FILE to adopt a disk)');
  if (rest.some((word) => word === '--name' || word.startsWith('--name=')))
    throw new UsageError(`create: the instance's name is ${name}; no --name`);
  if (instanceExists(context.instancesDir, name)) throw new UsageError(`create: an instance named ${name} exists`);
  if (running(context, name)) throw new UsageError(`create: a guest named ${name} is running (qemu-script ps)`);
  const image = resolveImage(context.imagesDir, base, 'create --image');
  // The whole line planned as its first start would be (nothing made): bad input is refused here, and the
  // identity fixed from it.
  if (size !== undefined && !/^[1-9]\d{0,6}[KMGT]$/.test(size))
    throw new UsageError(`create --disk-size: "${size}" is not a size (a number and K, M, G or T: 20G, 512M)`);
  const options = launchOptions([...rest, '--name', name], 'create');
  const disk = instanceFile(context.instancesDir, name, 'disk');
  const planned = await planLine(
    {
      ...options,
      instance: name,
      disks: [
        { path: disk, usb: false, cdrom: false, overlay: { backing: image.path, format: image.format } },
        ...options.disks,
      ],
    },
    context,
    await probeCloud(options),
    { makeKeys: false, askKvm: false },
  );
  const identity = {
    macs: planned.plan.resources.macs,
    instance_id: planned.plan.cloudInit?.instanceId ?? instanceIdOf(name, disk),
  };
  const spec = { name, image: { ...image, ref: base }, size, options: rest, identity, ...(lab ? { lab } : {}) };
  await createInstance(context.instancesDir, spec, options.verbose);
  return `Created instance ${name} over ${base}: qemu-script start ${name}\n`;
}

/** start's own word: --wait[=S], anywhere before `--`. */
function takeWait(words: string[]): { wait?: number; rest: string[] } {
  const end = words.indexOf('--');
  let wait: number | undefined;
  const rest = words.filter((word, i) => {
    if ((end >= 0 && i >= end) || !/^--wait(=|$)/.test(word)) return true;
    wait = parseWait(word === '--wait' ? true : word.slice('--wait='.length));
    return false;
  });
  return { wait, rest };
}

export async function start(context: ToolContext, words: string[]): Promise<number> {
  const name = checkedName(words[0], 'start');
  const { wait, rest: extra } = takeWait(words.slice(1));
  const instance = await readInstance(context.instancesDir, name, 'start');
  if (running(context, name)) throw new UsageError(`start: ${name} is running already (qemu-script ssh ${name})`);
  if (!existsSync(instance.image_path))
    throw new UsageError(`start: ${name}'s image ${instance.image_path} is gone; its overlay cannot run without it`);
  const given = launchOptions(withBootWords(instance.options, extra), 'start');
  const fixedMacs = extra.some((word) => word === '--mac' || word.startsWith('--mac='))
    ? given.mac
    : parseMacMode(instance.identity.macs.join(','));
  const options: LaunchOptions = {
    ...given,
    name,
    instance: name,
    disks: [{ path: instanceFile(context.instancesDir, name, 'disk'), usb: false, cdrom: false }, ...given.disks],
    mac: instance.identity.macs.length > 0 ? fixedMacs : given.mac,
    consoleLog: instanceFile(context.instancesDir, name, 'log'),
    ...(given.cloudInit ? { cloudInit: { ...given.cloudInit, instanceId: instance.identity.instance_id } } : {}),
  };
  const output = options.json ? 'json' : options.quiet ? 'quiet' : 'text';
  const code = await launchGuest(options, context, announcer(output));
  if (code !== 0 || wait === undefined || options.dryRun) return code;
  await waitReady(context, name, wait);
  if (output === 'text') printOut(`${name} is ready${given.cloudInit ? ' (cloud-init has finished)' : ''}\n`);
  return 0;
}

/** The instance's words with a boot's own: each side's own options before `--`, QEMU's after it. */
function withBootWords(options: string[], extra: string[]): string[] {
  const split = (words: string[]) => {
    const end = words.indexOf('--');
    return end < 0 ? [words, []] : [words.slice(0, end), words.slice(end + 1)];
  };
  const [own, qemu] = split(options);
  const [bootOwn, bootQemu] = split(extra);
  const after = [...qemu, ...bootQemu];
  return [...own, ...bootOwn, ...(after.length > 0 ? ['--', ...after] : [])];
}

export async function remove(context: ToolContext, name: string, force: boolean): Promise<string> {
  const instance = await readInstance(context.instancesDir, name, 'rm');
  if (running(context, name)) {
    if (!force) throw new UsageError(`rm: ${name} is running; stop it first (qemu-script stop ${name}), or rm --force`);
    await down(context, name, { force: true, timeoutSeconds: 0, quiet: true });
  }
  removeInstance(context.instancesDir, name);
  // The host key its seed gave it, and the known_hosts line ssh checked it with.
  const home = process.env.HOME;
  if (home) rmSync(dirname(hostKeyPath(home, instance.identity.instance_id)), { recursive: true, force: true });
  return `Removed instance ${name}\n`;
}

/** Where NAME's console is logged: its record's (running), else an instance's file. */
function logOf(context: ToolContext, name: string): string {
  const record = readRecord(context.runtimeDir, name);
  if (record) return record.plan.consoleLog ?? consoleLogPath(guestRunDir(context.runtimeDir, name));
  if (instanceExists(context.instancesDir, name)) return instanceFile(context.instancesDir, name, 'log');
  throw new UsageError(`log: no guest or instance named "${name}" (qemu-script ps)`);
}

async function log(context: ToolContext, name: string, follow: boolean): Promise<number> {
  const path = logOf(context, name);
  if (!existsSync(path)) {
    if (!follow) return print(`${name} has logged nothing yet (${path})\n`);
  } else process.stdout.write(readFileSync(path));
  if (!follow) return 0;
  let offset = existsSync(path) ? statSync(path).size : 0;
  const chunk = Buffer.alloc(65536);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const size = existsSync(path) ? statSync(path).size : 0;
    if (size < offset) offset = 0;
    while (size > offset) {
      const fd = openSync(path, 'r');
      const length = readSync(fd, chunk, 0, chunk.length, offset);
      closeSync(fd);
      if (length <= 0) break;
      process.stdout.write(chunk.subarray(0, length));
      offset += length;
    }
    const record = readRecord(context.runtimeDir, name);
    if (!record || isGone(record)) return 0;
  }
}

export const INSTANCE_COMMANDS: readonly Subcommand[] = [
  {
    name: 'create',
    args: 'NAME --image IMAGE [LAUNCH OPTIONS...]',
    summary:
      'an instance: a guest kept across boots, on an overlay of its own over IMAGE (or --disk FILE), its ' +
      'options in instance.yaml',
    flags: [],
    positionals: [0, 0],
    launchLine: true,
    run: async ({ rest }, context) => print(await create(context, rest)),
  },
  {
    name: 'start',
    guestArgument: true,
    args: 'NAME [--wait[=S]] [LAUNCH OPTIONS FOR THIS BOOT...]',
    summary: 'boot an instance with its options; --wait returns once it is provisioned (cloud-init finished)',
    flags: [],
    positionals: [0, 0],
    launchLine: true,
    run: ({ rest }, context) => start(context, rest),
  },
  {
    name: 'stop',
    guestArgument: true,
    args: 'NAME',
    summary: 'power an instance (or any guest) off: what down does; the instance stays',
    flags: [
      { name: 'force', help: 'quit at once' },
      { name: 'timeout', value: 'S', help: 'seconds to wait for the guest (default 60)' },
    ],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => {
      const timeoutSeconds = Number(text(flags.timeout) ?? 60);
      if (!(timeoutSeconds >= 0))
        throw new UsageError(`stop --timeout: "${text(flags.timeout)}" is not a number of seconds`);
      if (!readRecord(context.runtimeDir, args[0]) && instanceExists(context.instancesDir, args[0]))
        return print(`${args[0]} is not running\n`);
      return print(await down(context, args[0], { force: Boolean(flags.force), timeoutSeconds }));
    },
  },
  {
    name: 'rm',
    guestArgument: true,
    args: 'NAME',
    summary: 'remove an instance: its overlay, log, seed and keys; refused while it runs unless --force',
    flags: [{ name: 'force', help: 'stop it first if it runs' }],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => print(await remove(context, args[0], Boolean(flags.force))),
  },
  {
    name: 'log',
    guestArgument: true,
    args: 'NAME',
    summary: "a guest's or an instance's serial console log (every boot's, 1 MiB kept)",
    flags: [{ name: 'follow', short: 'f', help: 'go on printing what comes until the guest stops' }],
    positionals: [1, 1],
    run: ({ flags, args }, context) => {
      if (!GUEST_NAME.test(args[0]))
        throw new UsageError(`log: "${args[0]}" is not a guest name (${GUEST_NAME_RULE})`);
      return log(context, args[0], Boolean(flags.follow));
    },
  },
];
