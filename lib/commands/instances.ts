// qemu-script create, start, stop, rm and log: instances, named guests kept across boots (store/instances.ts).
import type { ToolContext } from '../base/context.ts';
import { UsageError } from '../base/errors.ts';
import { GUEST_NAME, GUEST_NAME_RULE } from '../base/names.ts';
import { consoleLogPath, guestRunDir, hostKeyPath, instanceFile } from '../base/paths.ts';
import type { Subcommand } from '../cli/command.ts';
import { parseArgs } from '../cli/parse-args.ts';
import { parseMacMode } from '../net/mac.ts';
import { instanceIdOf } from '../plan/cloud-init.ts';
import { launchAndWait } from '../guest/announce.ts';
import { down } from '../guest/guest-commands.ts';
import { parseWait } from '../guest/ssh.ts';
import { planLine, probeCloud } from '../launch/plan-line.ts';
import { isGone, readRecord } from '../state/guests.ts';
import { resolveImage } from '../store/images.ts';
import { createInstance, instanceExists, readInstance, removeInstance, updateInstance } from '../store/instances.ts';
import type { LaunchOptions } from '../base/types.ts';
import { rmSync, existsSync, readFileSync, renameSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { JSON_FLAG, print, STOP_FLAGS, stopOptions, text } from './words.ts';
import { jsonOutput } from '../base/json.ts';
import { renderTable } from '../base/table.ts';
import { run } from '../base/runner.ts';
import {
  deleteSnapshot,
  listSnapshots,
  restore,
  SNAPSHOT_TAG,
  snapshotRunning,
  snapshotStopped,
} from '../guest/snapshots.ts';

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
  // Kept options are the machine's; waiting is one start's.
  if (options.wait) throw new UsageError(`create: --wait is start's: qemu-script start ${name} --wait`);
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

/**
 * An instance's launch, as `start` boots it (and `export libvirt` plans it): its options, with `extra` for this
 * boot only, over its overlay, with the identity fixed at create (MACs, cloud-init instance ID).
 */
export async function instanceLaunchOptions(
  context: ToolContext,
  name: string,
  extra: string[],
  what: string,
): Promise<LaunchOptions> {
  const instance = await readInstance(context.instancesDir, name, what);
  if (!existsSync(instance.image_path))
    throw new UsageError(`${what}: ${name}'s image ${instance.image_path} is gone; its overlay cannot run without it`);
  const given = launchOptions(withBootWords(instance.options, extra), what);
  const fixedMacs = extra.some((word) => word === '--mac' || word.startsWith('--mac='))
    ? given.mac
    : parseMacMode(instance.identity.macs.join(','));
  return {
    ...given,
    name,
    instance: name,
    disks: [{ path: instanceFile(context.instancesDir, name, 'disk'), usb: false, cdrom: false }, ...given.disks],
    mac: instance.identity.macs.length > 0 ? fixedMacs : given.mac,
    consoleLog: instanceFile(context.instancesDir, name, 'log'),
    ...(given.cloudInit
      ? {
          cloudInit: {
            ...given.cloudInit,
            instanceId: instance.identity.instance_id,
            ...(instance.cloned_from ? { newMachineId: true } : {}),
          },
        }
      : {}),
  };
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
  if (running(context, name)) {
    await readInstance(context.instancesDir, name, 'start');
    throw new UsageError(`start: ${name} is running already (qemu-script ssh ${name})`);
  }
  const options = await instanceLaunchOptions(context, name, extra, 'start');
  return launchAndWait(options, context, wait === undefined ? undefined : { seconds: wait, what: 'start --wait' });
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

/** The instance's running record, when it runs. */
const runningRecord = (context: ToolContext, name: string) =>
  running(context, name) ? readRecord(context.runtimeDir, name) : undefined;

function checkedTag(tag: string, said: string): string {
  if (!SNAPSHOT_TAG.test(tag))
    throw new UsageError(`${said}: "${tag}" is not a tag (letters, digits, . _ : -, at most 64)`);
  return tag;
}

async function snapshot(context: ToolContext, name: string, tag: string | undefined, diskOnly: boolean) {
  await readInstance(context.instancesDir, name, 'snapshot');
  const disk = instanceFile(context.instancesDir, name, 'disk');
  const chosen = checkedTag(tag ?? new Date().toISOString().replace(/\.\d+Z$/, '').replace(/:/g, '-'), 'snapshot');
  if ((await listSnapshots(disk)).some((taken) => taken.tag === chosen))
    throw new UsageError(`snapshot: ${name} has a snapshot ${chosen} already (snapshot rm ${name} ${chosen})`);
  const record = runningRecord(context, name);
  if (!record) {
    await snapshotStopped(disk, chosen, false);
    return `Snapshot ${chosen} of ${name} (stopped: its disk)\n`;
  }
  return `Snapshot ${chosen} of ${name}: ${await snapshotRunning(record, chosen, diskOnly)}\n`;
}

async function snapshotLs(context: ToolContext, name: string, json: boolean) {
  await readInstance(context.instancesDir, name, 'snapshot ls');
  const snapshots = await listSnapshots(instanceFile(context.instancesDir, name, 'disk'));
  if (json) return jsonOutput({ version: 1, name, snapshots });
  if (snapshots.length === 0) return `${name} has no snapshots (qemu-script snapshot ${name})\n`;
  return renderTable(
    ['TAG', 'DATE', 'MEMORY'],
    snapshots.map((taken) => [
      taken.tag,
      taken.date.replace('T', ' ').replace(/\.\d+Z$/, ''),
      taken.with_memory ? `${(taken.vm_state_size / 1048576).toFixed(1)} MiB` : '- (disk alone)',
    ]),
  );
}

async function restoreInstance(context: ToolContext, name: string, tag: string) {
  const instance = await readInstance(context.instancesDir, name, 'restore');
  if (!existsSync(instance.image_path))
    throw new UsageError(`restore: ${name}'s image ${instance.image_path} is gone; its snapshots cannot be read`);
  const disk = instanceFile(context.instancesDir, name, 'disk');
  return `${name}: ${await restore(disk, checkedTag(tag, 'restore'), runningRecord(context, name), false)}\n`;
}

/**
 * clone NAME NEW [--from TAG]: a new instance from NAME's disk as it is (stopped), as a snapshot holds it, or
 * (running, no TAG) as a disk-only snapshot taken for it and removed after. Its overlay holds what differs from
 * the image alone (backed by the same image); its identity is its own: MACs, instance ID, host key, machine ID.
 */
async function clone(context: ToolContext, name: string, copy: string, from: string | undefined) {
  const source = await readInstance(context.instancesDir, name, 'clone');
  const target = checkedName(copy, 'clone');
  if (instanceExists(context.instancesDir, target) || running(context, target))
    throw new UsageError(`clone: the name ${target} is taken (qemu-script ls)`);
  if (!existsSync(source.image_path))
    throw new UsageError(`clone: ${name}'s image ${source.image_path} is gone; its disk cannot be read`);
  const disk = instanceFile(context.instancesDir, name, 'disk');
  const has = async (tag: string) => (await listSnapshots(disk)).some((taken) => taken.tag === tag);
  if (from !== undefined && !(await has(checkedTag(from, 'clone --from'))))
    throw new UsageError(`clone --from: ${name} has no snapshot ${from} (qemu-script snapshot ls ${name})`);
  const record = runningRecord(context, name);
  const temporary = from === undefined && record ? `clone-${target}-${Date.now()}` : undefined;
  if (temporary) await snapshotRunning(record!, temporary, true);
  const tag = from ?? temporary;
  try {
    // Made as a new instance over the same image, then its empty overlay replaced by the source's differences.
    const image = source.image.includes('/') ? source.image_path : source.image;
    await create(context, [target, '--image', image, ...source.options]);
    const overlay = instanceFile(context.instancesDir, target, 'disk');
    await run([
      ...['qemu-img', 'convert', '-q', '-U', '-O', 'qcow2'],
      ...(tag ? ['-l', `snapshot.name=${tag}`] : []),
      ...['-B', source.image_path, '-F', source.image_format, disk, `${overlay}.new`],
    ]);
    renameSync(`${overlay}.new`, overlay);
    await updateInstance(context.instancesDir, target, (instance) => ({ ...instance, cloned_from: name }));
  } catch (error) {
    removeInstance(context.instancesDir, target);
    throw error;
  } finally {
    if (temporary) await deleteSnapshot(disk, temporary, runningRecord(context, name), false).catch(() => undefined);
  }
  return `Cloned ${name}${tag && !temporary ? ` as of ${tag}` : ''} into ${target}: qemu-script start ${target}\n`;
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
    flags: STOP_FLAGS,
    positionals: [1, 1],
    run: async ({ flags, args }, context) => {
      const options = stopOptions(flags, 'stop');
      if (!readRecord(context.runtimeDir, args[0]) && instanceExists(context.instancesDir, args[0]))
        return print(`${args[0]} is not running\n`);
      return print(await down(context, args[0], options));
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
    name: 'snapshot ls',
    guestArgument: true,
    args: 'NAME',
    summary: "an instance's snapshots: tag, date, and the memory saved with it",
    flags: [JSON_FLAG],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => print(await snapshotLs(context, args[0], Boolean(flags.json))),
  },
  {
    name: 'snapshot rm',
    guestArgument: true,
    args: 'NAME TAG',
    summary: "remove one of an instance's snapshots",
    flags: [],
    positionals: [2, 2],
    run: async ({ args }, context) => {
      await readInstance(context.instancesDir, args[0], 'snapshot rm');
      const disk = instanceFile(context.instancesDir, args[0], 'disk');
      await deleteSnapshot(disk, checkedTag(args[1], 'snapshot rm'), runningRecord(context, args[0]), false);
      return print(`Removed snapshot ${args[1]} of ${args[0]}\n`);
    },
  },
  {
    name: 'snapshot',
    guestArgument: true,
    args: 'NAME [TAG]',
    summary:
      'snapshot an instance inside its overlay (TAG: the date and time); running, with its memory unless ' +
      '--disk-only',
    flags: [{ name: 'disk-only', help: 'running: its disk alone (file systems frozen through its agent)' }],
    positionals: [1, 2],
    run: async ({ flags, args }, context) =>
      print(await snapshot(context, args[0], args[1], Boolean(flags['disk-only']))),
  },
  {
    name: 'restore',
    guestArgument: true,
    args: 'NAME TAG',
    summary: 'back to a snapshot: a running instance where it was then, a stopped one its disk',
    flags: [],
    positionals: [2, 2],
    run: async ({ args }, context) => print(await restoreInstance(context, args[0], args[1])),
  },
  {
    name: 'clone',
    guestArgument: true,
    args: 'NAME NEW',
    summary:
      'a new instance from NAME\'s disk (now, or --from a snapshot) over the same image, with its own MACs, ' +
      'instance ID, host key and machine ID',
    flags: [{ name: 'from', value: 'TAG', help: 'as the snapshot TAG holds it' }],
    positionals: [2, 2],
    run: async ({ flags, args }, context) => print(await clone(context, args[0], args[1], text(flags.from))),
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
