// qemu-script lab up, down, destroy, ls and schema: a lab file's networks and instances, made where missing and
// started in parallel; up again with nothing changed starts nothing. What a lab made (its networks, its
// guests' inline user-data) is recorded beside the instances, so destroy removes exactly that.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ToolContext } from '../base/context.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { jsonOutput } from '../base/json.ts';
import { printOut } from '../base/output.ts';
import { renderTable } from '../base/table.ts';
import type { Subcommand } from '../cli/command.ts';
import { labSchema, readLab, type Lab, type LabGuest } from '../cli/lab-file.ts';
import { netCreate, netRm } from '../admin/net-commands.ts';
import { down, guestViewNow } from '../guest/guest-commands.ts';
import { waitReady, parseWait } from '../guest/ssh.ts';
import { readNetworks, type NetworkRequest } from '../net/networks.ts';
import { readRecord } from '../state/guests.ts';
import { instanceExists, readInstance, type Instance } from '../store/instances.ts';
import { create, remove, running, start } from './instances.ts';
import { JSON_FLAG, print, STOP_FLAGS, stopOptions } from './words.ts';
import type { NetworkDef } from '../base/types.ts';

/** What a lab made, kept so that destroy removes exactly that. */
interface LabRecord {
  name: string;
  file: string;
  guests: string[];
  /** Networks `lab up` defined (not ones that were there). */
  networks: string[];
}

const labsDir = (context: ToolContext) => `${context.instancesDir}/.labs`;
const recordPath = (context: ToolContext, name: string) => `${labsDir(context)}/${name}.json`;

function readLabRecord(context: ToolContext, name: string): LabRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(context, name), 'utf8')) as LabRecord;
  } catch {
    return undefined;
  }
}

function writeLabRecord(context: ToolContext, record: LabRecord): void {
  mkdirSync(labsDir(context), { recursive: true, mode: 0o700 });
  writeFileSync(recordPath(context, record.name), `${JSON.stringify(record, null, 1)}\n`, { mode: 0o600 });
}

async function loadLab(file: string | undefined): Promise<Lab> {
  const path = resolve(file ?? 'lab.yaml');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`lab: ${path} cannot be read${file ? '' : ' (give the lab file: lab up FILE)'}`);
  }
  return readLab(path, text);
}

/** A defined network against the lab's: the differences, by key. */
function networkDifferences(defined: NetworkDef, wanted: NetworkRequest): string[] {
  const differs: Array<[string, boolean]> = [
    ['subnet', wanted.subnet !== undefined && wanted.subnet !== defined.subnet],
    ['host_ip', wanted.hostIp !== undefined && wanted.hostIp !== defined.hostIp],
    ['dhcp', wanted.dhcp !== defined.dhcp],
    ['nat', wanted.nat !== defined.nat],
    ['ipv6', wanted.ipv6 !== (defined.subnet6 !== undefined)],
    ['domain', wanted.domain !== undefined && wanted.domain !== (defined.domain ?? defined.name)],
    ['vxlan', (wanted.vxlan === undefined) !== (defined.vxlan === undefined)],
  ];
  return differs.filter(([, differ]) => differ).map(([key]) => key);
}

/** The `net create` line that defines a lab's network as the file says it. */
function netCreateWords(request: NetworkRequest): string[] {
  const { vxlan } = request;
  return [
    ...['net', 'create', request.name],
    ...(request.subnet ? ['--subnet', request.subnet] : []),
    ...(request.hostIp ? ['--host-ip', request.hostIp] : []),
    ...(request.subnet6 ? ['--subnet6', request.subnet6] : []),
    ...(request.ipv6 ? [] : ['--no-ipv6']),
    ...(request.dhcp ? ['--dhcp'] : []),
    ...(request.nat ? ['--nat'] : []),
    ...(request.domain ? ['--domain', request.domain] : []),
    ...(vxlan ? ['--vxlan', vxlan.vni] : []),
    ...(vxlan?.remotes ? ['--remote', vxlan.remotes] : []),
    ...(vxlan?.dev ? ['--dev', vxlan.dev] : []),
    ...(vxlan?.port ? ['--port', vxlan.port] : []),
    ...(vxlan?.group ? ['--group', vxlan.group] : []),
  ];
}

/** The lab's networks: there already as the file says them, or defined now (root's: a member is told to ask). */
function ensureNetworks(context: ToolContext, lab: Lab, made: string[]): string[] {
  const said: string[] = [];
  for (const request of lab.networks) {
    const defined = readNetworks(context.config)[request.name];
    if (defined) {
      const differs = networkDifferences(defined, request);
      if (differs.length > 0) {
        throw new UsageError(
          `lab up: network ${request.name} is defined with another ${differs.join(', ')} than ${lab.file} says ` +
            `(qemu-script net ls; net rm ${request.name} to have the lab define it)`,
        );
      }
      continue;
    }
    if (!context.isRoot) {
      throw new UsageError(
        `lab up: network ${request.name} is not defined, and defining networks is root's: ` +
          `sudo qemu-script ${netCreateWords(request).join(' ')}`,
      );
    }
    netCreate(context, request);
    made.push(request.name);
    said.push(`defined network ${request.name}`);
  }
  return said;
}

/** A guest's words for `create`: its base first, the user-data the lab writes for it (inline) after. */
function createWords(context: ToolContext, lab: Lab, guest: LabGuest): string[] {
  const userData = guest.userData === undefined ? [] : ['--user-data', userDataPath(context, lab, guest)];
  return [guest.name, '--image', guest.base, ...guest.words, ...userData];
}

const userDataPath = (context: ToolContext, lab: Lab, guest: LabGuest) =>
  `${labsDir(context)}/${lab.name}/${guest.name}.user-data`;

/** Whether one of the guest's NICs asks for a fixed address (nets: [NAME=ADDRESS]). */
const hasFixedAddress = (guest: LabGuest) =>
  guest.words.some((word, i) => guest.words[i - 1] === '--net' && word.includes('='));

/** What differs between an instance and the lab's guest of that name (empty: nothing). */
function guestDifferences(instance: Instance, wanted: string[]): string[] {
  const [, , base, ...rest] = wanted;
  const size = rest.indexOf('--disk-size');
  const options = size >= 0 ? [...rest.slice(0, size), ...rest.slice(size + 2)] : rest;
  return [
    ...(instance.image !== base ? ['image'] : []),
    ...((size >= 0 ? rest[size + 1] : undefined) !== instance.disk_size ? ['disk_size'] : []),
    ...(JSON.stringify(instance.options) !== JSON.stringify(options) ? ['options'] : []),
  ];
}

async function labUp(context: ToolContext, file: string | undefined, wait: number | undefined, recreate: boolean) {
  const lab = await loadLab(file);
  const record = readLabRecord(context, lab.name);
  // Names first, before anything is made: a guest of the lab may not take a name something else has.
  const instances = new Map<string, Instance>();
  for (const guest of lab.guests) {
    if (instanceExists(context.instancesDir, guest.name)) {
      const instance = await readInstance(context.instancesDir, guest.name, 'lab up');
      if (instance.lab !== lab.name) {
        throw new UsageError(`lab up: ${guest.name} is an instance outside lab ${lab.name}; rename the lab's guest`);
      }
      instances.set(guest.name, instance);
    } else if (readRecord(context.runtimeDir, guest.name)) {
      throw new UsageError(`lab up: a guest named ${guest.name} runs outside lab ${lab.name} (qemu-script ps)`);
    }
  }
  const made = [...(record?.networks ?? [])];
  const madeNow: string[] = [];
  const said = ensureNetworks(context, lab, madeNow);
  made.push(...madeNow);
  const guests = lab.guests.map((guest) => guest.name);
  writeLabRecord(context, { name: lab.name, file: lab.file, guests, networks: made });
  for (const guest of lab.guests) {
    if (guest.userData === undefined) continue;
    mkdirSync(`${labsDir(context)}/${lab.name}`, { recursive: true, mode: 0o700 });
    writeFileSync(userDataPath(context, lab, guest), guest.userData, { mode: 0o600 });
  }
  const createdNow: string[] = [];
  try {
    for (const guest of lab.guests) {
      const words = createWords(context, lab, guest);
      const instance = instances.get(guest.name);
      const differs = instance ? guestDifferences(instance, words) : [];
      if (instance && differs.length > 0 && !recreate) {
        said.push(`${guest.name}: its ${differs.join(', ')} changed in ${lab.file}; lab up --recreate makes it anew`);
        continue;
      }
      if (instance && differs.length > 0) {
        await remove(context, guest.name, true);
        said.push(`${guest.name}: made anew (${differs.join(', ')} changed)`);
      }
      if (!instance || differs.length > 0) {
        await create(context, words, lab.name);
        createdNow.push(guest.name);
      }
    }
  } catch (error) {
    // A guest the lab cannot make (its line refused): what this run made goes again, and the error is the guest's.
    for (const name of createdNow) await remove(context, name, true).catch(() => undefined);
    for (const network of madeNow) netRm(context, network);
    if (record) writeLabRecord(context, record);
    else {
      rmSync(recordPath(context, lab.name), { force: true });
      rmSync(`${labsDir(context)}/${lab.name}`, { recursive: true, force: true });
    }
    throw error;
  }
  const stopped = lab.guests.filter((guest) => !running(context, guest.name));
  // Guests with a fixed address register first: another's stable address is never chosen on top of one.
  const fixed = stopped.filter(hasFixedAddress);
  const others = stopped.filter((guest) => !hasFixedAddress(guest));
  const starting = async (guests: LabGuest[]) =>
    Promise.allSettled(guests.map((guest) => start(context, [guest.name, '--quiet'])));
  const results = [...(await starting(fixed)), ...(await starting(others))];
  const failed = results.flatMap((result, i) =>
    result.status === 'rejected' ? [`${[...fixed, ...others][i].name}: ${(result.reason as Error).message}`] : [],
  );
  if (failed.length > 0) throw new HostError(`lab up: ${failed.join('; ')}`);
  said.push(
    stopped.length > 0
      ? `started ${stopped.map((guest) => guest.name).join(', ')}`
      : `lab ${lab.name}: every guest runs already; nothing to start`,
  );
  if (wait !== undefined)
    await Promise.all(lab.guests.map((guest) => waitReady(context, guest.name, wait, 'lab up --wait')));
  return `${said.join('\n')}\n${await labTable(context, lab.guests.map((guest) => guest.name))}`;
}

/** One line per guest: its state, addresses, and how to log in. */
async function labTable(context: ToolContext, names: string[]): Promise<string> {
  const rows = await Promise.all(
    names.map(async (name) => {
      const record = readRecord(context.runtimeDir, name);
      if (!record) return [name, 'stopped', '-', `qemu-script start ${name}`];
      const view = await guestViewNow(record);
      const addresses = view.nics.map((nic) => `${nic.net}=${nic.ip ?? '?'}`).join(' ') || '-';
      return [name, view.state, addresses, view.ssh ?? '-'];
    }),
  );
  return renderTable(['GUEST', 'STATE', 'ADDRESSES', 'LOG IN'], rows);
}

async function labDown(
  context: ToolContext,
  file: string | undefined,
  options: { force: boolean; timeoutSeconds: number },
) {
  const lab = await loadLab(file);
  const up = lab.guests.filter((guest) => running(context, guest.name));
  const results = await Promise.allSettled(
    up.map((guest) => down(context, guest.name, { ...options, quiet: true })),
  );
  const failed = results.flatMap((result, i) =>
    result.status === 'rejected' ? [`${up[i].name}: ${(result.reason as Error).message}`] : [],
  );
  if (failed.length > 0) throw new HostError(`lab down: ${failed.join('; ')}`);
  return up.length > 0 ? `stopped ${up.map((guest) => guest.name).join(', ')}\n` : `lab ${lab.name}: nothing runs\n`;
}

async function labDestroy(context: ToolContext, file: string | undefined) {
  const lab = await loadLab(file);
  const record = readLabRecord(context, lab.name);
  const said: string[] = [];
  for (const guest of lab.guests) {
    if (!instanceExists(context.instancesDir, guest.name)) continue;
    if ((await readInstance(context.instancesDir, guest.name, 'lab destroy')).lab !== lab.name) continue;
    await remove(context, guest.name, true);
    said.push(`removed ${guest.name}`);
  }
  for (const network of record?.networks ?? []) {
    if (!readNetworks(context.config)[network]) continue;
    netRm(context, network);
    said.push(`removed network ${network}`);
  }
  rmSync(`${labsDir(context)}/${lab.name}`, { recursive: true, force: true });
  rmSync(recordPath(context, lab.name), { force: true });
  return `${said.join('\n') || `lab ${lab.name}: nothing to remove`}\n`;
}

async function labLs(context: ToolContext, json: boolean) {
  let names: string[] = [];
  try {
    names = readdirSync(labsDir(context))
      .filter((file) => file.endsWith('.json'))
      .map((file) => file.slice(0, -'.json'.length));
  } catch {
    names = [];
  }
  const labs = names.flatMap((name) => readLabRecord(context, name) ?? []);
  const views = labs.map((lab) => ({
    name: lab.name,
    file: lab.file,
    networks: lab.networks,
    guests: lab.guests.map((guest) => ({ name: guest, state: running(context, guest) ? 'running' : 'stopped' })),
  }));
  if (json) return jsonOutput({ version: 1, labs: views });
  if (views.length === 0) return 'no labs (qemu-script lab up FILE)\n';
  return renderTable(
    ['LAB', 'GUESTS', 'FILE'],
    views.map((lab) => [lab.name, lab.guests.map((guest) => `${guest.name}=${guest.state}`).join(' '), lab.file]),
  );
}

const fileArg = (args: string[]) => args[0];

export const LAB_COMMANDS: readonly Subcommand[] = [
  {
    name: 'lab up',
    args: '[FILE]',
    summary: "a lab file's networks and guests made where missing and started in parallel (default ./lab.yaml)",
    flags: [
      { name: 'wait', value: 'S', optionalValue: true, help: 'until every guest is provisioned (default 300 s)' },
      { name: 'recreate', help: 'make a guest whose definition changed anew' },
    ],
    positionals: [0, 1],
    run: async ({ flags, args }, context) =>
      print(await labUp(context, fileArg(args), parseWait(flags.wait as string | boolean), Boolean(flags.recreate))),
  },
  {
    name: 'lab down',
    args: '[FILE]',
    summary: 'stop every guest of a lab, in parallel (its networks go with their last guest)',
    flags: STOP_FLAGS,
    positionals: [0, 1],
    run: async ({ flags, args }, context) => {
      return print(await labDown(context, fileArg(args), stopOptions(flags, 'lab down')));
    },
  },
  {
    name: 'lab destroy',
    args: '[FILE]',
    summary: "remove a lab's instances and the networks it defined (stopping what runs)",
    flags: [],
    positionals: [0, 1],
    run: async ({ args }, context) => print(await labDestroy(context, fileArg(args))),
  },
  {
    name: 'lab ls',
    args: '',
    summary: 'the labs up has made: their guests and whether they run',
    flags: [JSON_FLAG],
    positionals: [0, 0],
    run: async ({ flags }, context) => print(await labLs(context, Boolean(flags.json))),
  },
  {
    name: 'lab schema',
    args: '',
    summary: "the lab file's JSON Schema, for editors (yaml-language-server)",
    flags: [],
    positionals: [0, 0],
    run: async () => {
      printOut(`${JSON.stringify(labSchema(), null, 2)}\n`);
      return 0;
    },
  },
];
