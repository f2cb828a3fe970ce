// qemu-script export libvirt and export libvirt-net: the XML on stdout and what libvirt cannot say on
// stderr; with --apply, defined (and a network started) through virsh, refused when libvirt is missing or
// already has an object of that name.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { ToolContext } from '../base/context.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { printErr, printOut } from '../base/output.ts';
import { currentNetns } from '../base/proc.ts';
import { probe } from '../base/runner.ts';
import { shellLine } from '../base/shell-quote.ts';
import { findSystemTool, INSTALL_HINT } from '../base/system-tools.ts';
import { readNetworks } from '../net/networks.ts';
import { GUEST_NAME } from '../base/names.ts';
import { readRecord } from '../state/guests.ts';
import { findResource, readRegistry } from '../state/registry.ts';
import { planLine, probeCloud } from '../launch/plan-line.ts';
import { libvirtDomain, type Exported } from './domain.ts';
import { libvirtNetwork } from './network.ts';
import type { LaunchOptions, Plan } from '../base/types.ts';

/**
 * The running guest of that name, when the words are one name; else a stopped instance of that name (`stopped`
 * gives its launch, as start would boot it); else the line planned as a launch would be.
 */
export async function planToExport(
  words: string[],
  context: ToolContext,
  parse: () => LaunchOptions,
  stopped: (name: string) => Promise<LaunchOptions | undefined>,
): Promise<Plan> {
  const [only] = words;
  const named = words.length === 1 && GUEST_NAME.test(only);
  const running = named ? readRecord(context.runtimeDir, only) : undefined;
  if (running) return running.plan;
  if (words.length === 0) throw new UsageError('export libvirt: needs a launch line or the name of a running guest');
  const instance = named && !existsSync(only) ? await stopped(only) : undefined;
  // One word that names no file: a guest's name, not a disk.
  if (named && !existsSync(only) && !instance)
    throw new UsageError(`export libvirt: no guest named ${only} (qemu-script ps); or give a launch line`);
  const options = instance ?? parse();
  const { plan } = await planLine(options, context, await probeCloud(options), { makeKeys: false, askKvm: true });
  return plan;
}

/** QEMU's program as libvirt wants it, an absolute path: as the launch would find it, else libvirt's default. */
function emulatorOf(binary: string): string | undefined {
  if (binary.startsWith('/')) return binary;
  const dirs = (process.env.PATH ?? '').split(':').filter((dir) => dir.startsWith('/'));
  return findSystemTool(binary, dirs) ?? findSystemTool(binary);
}

export const exportDomain = (plan: Plan): Exported => libvirtDomain(plan, emulatorOf(plan.qemu.argv[0]));

export function exportNetwork(name: string, context: ToolContext): Exported {
  const networks = readNetworks(context.config);
  const network = networks[name];
  if (!network) {
    const known = Object.keys(networks).join(', ');
    throw new UsageError(`export libvirt-net: no defined network ${name} (defined: ${known}; qemu-script net ls)`);
  }
  const dhcp = findResource(readRegistry(context.registryDir), 'dhcp', name, currentNetns());
  const registered = (dhcp?.users ?? []).flatMap((user) =>
    user.mac && user.ip ? [{ mac: user.mac, ip: user.ip, ip6: user.ip6, guest: user.guest }] : [],
  );
  return libvirtNetwork(network, registered);
}

function tell(exported: Exported, of?: string): void {
  for (const line of exported.unexported) printErr(`qemu-script: not exported${of ? ` (${of})` : ''}: ${line}\n`);
}

/** A domain or a network, exported. */
export interface ExportItem {
  kind: 'domain' | 'network';
  name: string;
  exported: Exported;
}

const INFO = { domain: 'dominfo', network: 'net-info' } as const;
const REMOVE = {
  domain: (name: string) => `virsh undefine ${name}`,
  network: (name: string) => `virsh net-destroy ${name}; virsh net-undefine ${name}`,
} as const;

/** virsh at LIBVIRT_DEFAULT_URI (qemu:///system), reached once before anything is asked of it. */
async function libvirtClient() {
  const virsh = findSystemTool('virsh');
  if (!virsh) throw new UsageError(`export --apply: libvirt's virsh is not installed; ${INSTALL_HINT.libvirt}`);
  const uri = process.env.LIBVIRT_DEFAULT_URI || 'qemu:///system';
  const ask = (...words: string[]) => probe([virsh, '--quiet', '--connect', uri, ...words]);
  const reached = await ask('uri');
  if (!reached.ok) {
    throw new HostError(
      `export --apply: cannot reach libvirt at ${uri} (${reached.output.trim()}); is libvirtd running, and are ` +
        `you root or in group libvirt?`,
    );
  }
  const step = async (words: string[]) => {
    const result = await ask(...words);
    if (!result.ok) throw new HostError(`${shellLine(['virsh', ...words])} failed: ${result.output.trim()}`);
  };
  return { uri, ask, step };
}

/**
 * Everything checked before libvirt is changed: no object of the same name there, and every network a domain's
 * NICs are on either there already or among those defined with it.
 */
async function checkApply(items: ExportItem[], ask: (...words: string[]) => ReturnType<typeof probe>) {
  for (const { kind, name } of items) {
    if ((await ask(INFO[kind], name)).ok)
      throw new UsageError(
        `export --apply: libvirt already has a ${kind} named ${name} (${REMOVE[kind](name)} removes it)`,
      );
  }
  const coming = new Set(items.filter((item) => item.kind === 'network').map((item) => item.name));
  for (const { name, exported } of items) {
    for (const network of exported.networks ?? []) {
      if (coming.has(network) || (await ask('net-info', network)).ok) continue;
      throw new UsageError(
        `export --apply: ${name} has a NIC on network ${network}, which libvirt does not have; define it first: ` +
          `qemu-script export libvirt-net --apply ${network}`,
      );
    }
  }
}

/**
 * Defines the objects in libvirt, networks first (each started), all or none: a step that fails undoes what
 * this run defined, in reverse.
 */
async function applyAll(items: ExportItem[]): Promise<string[]> {
  const { uri, ask, step } = await libvirtClient();
  await checkApply(items, ask);
  for (const item of items) tell(item.exported, items.length > 1 ? item.name : undefined);
  const dir = mkdtempSync(`${tmpdir()}/qemu-script-export-`);
  const undo: string[][] = [];
  const said: string[] = [];
  try {
    const ordered = [...items.filter((item) => item.kind === 'network'), ...items.filter((i) => i.kind === 'domain')];
    for (const { kind, name, exported } of ordered) {
      const file = `${dir}/${kind}-${name}.xml`;
      writeFileSync(file, exported.xml, { mode: 0o600 });
      if (kind === 'domain') {
        await step(['define', file]);
        undo.push(['undefine', name]);
        said.push(`Defined domain ${name} in libvirt (${uri}): virsh start ${name}`);
        continue;
      }
      await step(['net-define', file]);
      undo.push(['net-undefine', name]);
      await step(['net-start', name]);
      undo.push(['net-destroy', name]);
      said.push(`Defined and started network ${name} in libvirt (${uri})`);
    }
    return said;
  } catch (error) {
    // Nothing half-made is left in libvirt.
    for (const words of undo.reverse()) await ask(...words);
    throw error;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Prints the XML, or with --apply defines it (and starts a network) in libvirt. */
export async function emit(kind: 'domain' | 'network', name: string, exported: Exported, apply: boolean) {
  if (!apply) {
    tell(exported);
    printOut(exported.xml);
    return 0;
  }
  for (const line of await applyAll([{ kind, name, exported }])) printOut(`${line}\n`);
  return 0;
}

/** Several objects (a lab's): one file each in `dir` (DIR/domain-NAME.xml, DIR/network-NAME.xml), and/or applied. */
export async function emitAll(items: ExportItem[], options: { dir?: string; apply: boolean }): Promise<number> {
  if (options.dir) {
    mkdirSync(options.dir, { recursive: true });
    for (const { kind, name, exported } of items) {
      const file = `${options.dir}/${kind}-${name}.xml`;
      writeFileSync(file, exported.xml);
      if (!options.apply) tell(exported, name);
      printOut(`Wrote ${file}\n`);
    }
  }
  if (options.apply) for (const line of await applyAll(items)) printOut(`${line}\n`);
  return 0;
}
