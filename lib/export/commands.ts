// qemu-script export libvirt and export libvirt-net: the XML on stdout and what libvirt cannot say on
// stderr; with --apply, defined (and a network started) through virsh, refused when libvirt is missing or
// already has an object of that name.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** The running guest of that name, when the words are one name; else the line planned as a launch would be. */
export async function planToExport(words: string[], context: ToolContext, parse: () => LaunchOptions): Promise<Plan> {
  const [only] = words;
  const named = words.length === 1 && GUEST_NAME.test(only);
  const running = named ? readRecord(context.runtimeDir, only) : undefined;
  if (running) return running.plan;
  if (words.length === 0) throw new UsageError('export libvirt: needs a launch line or the name of a running guest');
  // One word that names no file: a guest's name, not a disk.
  if (named && !existsSync(only))
    throw new UsageError(`export libvirt: no guest named ${only} (qemu-script ps); or give a launch line`);
  const options = parse();
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

function tell(exported: Exported): void {
  for (const line of exported.unexported) printErr(`qemu-script: not exported: ${line}\n`);
}

/** Prints the XML, or with --apply defines it (and starts a network) in libvirt. */
export async function emit(kind: 'domain' | 'network', name: string, exported: Exported, apply: boolean) {
  if (!apply) {
    tell(exported);
    printOut(exported.xml);
    return 0;
  }
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
  const info = kind === 'network' ? 'net-info' : 'dominfo';
  if ((await ask(info, name)).ok) {
    const remove =
      kind === 'network' ? `virsh net-destroy ${name}; virsh net-undefine ${name}` : `virsh undefine ${name}`;
    throw new UsageError(`export --apply: libvirt already has a ${kind} named ${name} (${remove} removes it)`);
  }
  for (const network of exported.networks ?? []) {
    if (!(await ask('net-info', network)).ok) {
      throw new UsageError(
        `export --apply: ${name} has a NIC on network ${network}, which libvirt does not have; define it first: ` +
          `qemu-script export libvirt-net --apply ${network}`,
      );
    }
  }
  // Checked: now what libvirt gets without is said, and it is defined.
  tell(exported);
  const dir = mkdtempSync(`${tmpdir()}/qemu-script-export-`);
  try {
    const file = `${dir}/${name}.xml`;
    writeFileSync(file, exported.xml, { mode: 0o600 });
    const step = async (words: string[]) => {
      const result = await ask(...words);
      if (!result.ok) throw new HostError(`${shellLine(['virsh', ...words])} failed: ${result.output.trim()}`);
    };
    if (kind === 'domain') {
      await step(['define', file]);
      printOut(`Defined domain ${name} in libvirt (${uri}): virsh start ${name}\n`);
      return 0;
    }
    await step(['net-define', file]);
    try {
      await step(['net-start', name]);
    } catch (error) {
      // Nothing half-made is left in libvirt.
      await ask('net-undefine', name);
      throw error;
    }
    printOut(`Defined and started network ${name} in libvirt (${uri})\n`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
