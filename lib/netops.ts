// The host changes themselves, done as root under the registry lock. Root's
// apply stage calls these directly; a normal user's requests reach them through
// the privileged net-helper. Only interfaces recorded here are ever removed.
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { rootCommands } from './commands.ts';
import { HostError } from './errors.ts';
import { currentNetns } from './proc.ts';
import { dropInterface, existingNetns, findInterface, liveUsers, updateRegistry, type InterfaceUser, type Registry } from './registry.ts';
import { run } from './runner.ts';

export interface NetopsContext {
  registryDir: string;
  verbose?: boolean;
  /** /sys of the namespace the commands act on. */
  sys?: string;
}

const linkDir = (context: NetopsContext, name: string) => `${context.sys ?? '/sys'}/class/net/${name}`;
const exists = (context: NetopsContext, name: string) => existsSync(linkDir(context, name));

async function runAll(argvs: string[][], context: NetopsContext): Promise<void> {
  for (const argv of argvs) await run(argv, { verbose: context.verbose });
}

/** Bridge ports still attached (TAPs of running guests): a bridge with any is in use. */
function bridgePorts(context: NetopsContext, name: string): string[] {
  try {
    return readdirSync(`${linkDir(context, name)}/brif`);
  } catch {
    return [];
  }
}

/** Creates the bridge if missing, and records `user` on it when the tool owns it. */
export async function bridgeAdd(request: { name: string; hostIp?: string; user: InterfaceUser }, context: NetopsContext): Promise<'created' | 'joined' | 'foreign'> {
  const netns = currentNetns();
  return updateRegistry(context.registryDir, async (registry) => {
    let record = findInterface(registry, request.name, netns);
    const present = exists(context, request.name);
    if (record && !present) {
      dropInterface(registry, record);
      record = undefined;
    }
    if (present && !record) {
      if (!existsSync(`${linkDir(context, request.name)}/bridge`)) throw new HostError(`${request.name} exists and is not a bridge`);
      return 'foreign';
    }
    let outcome: 'created' | 'joined' = 'joined';
    if (!record) {
      const commands = rootCommands({ op: 'bridge-add', name: request.name, guest: request.user.guest, hostIp: request.hostIp, create: true });
      record = { name: request.name, kind: 'bridge', netns, users: [] };
      try {
        await runAll(commands.map((command) => command.argv), context);
      } catch (error) {
        if (exists(context, request.name)) await run(['ip', 'link', 'del', request.name]).catch(() => undefined);
        throw error;
      }
      registry.interfaces.push(record);
      outcome = 'created';
    }
    record.users.push(request.user);
    return outcome;
  });
}

function deleteIfUnused(registry: Registry, name: string, context: NetopsContext, netns: string): Promise<boolean> | boolean {
  const record = findInterface(registry, name, netns);
  if (!record) return false;
  record.users = liveUsers(record);
  if (!exists(context, name)) {
    dropInterface(registry, record);
    if (record.node) rmSync(record.node, { force: true });
    return false;
  }
  if (record.users.length > 0 || (record.kind === 'bridge' && bridgePorts(context, name).length > 0)) return false;
  return (async () => {
    await run(['ip', 'link', 'del', name], { verbose: context.verbose });
    if (record.node) rmSync(record.node, { force: true });
    dropInterface(registry, record);
    return true;
  })();
}

/** A guest leaves a bridge; the bridge goes when no guest of the tool is left on it. */
export async function bridgeRelease(request: { name: string; uid: number; guest: string }, context: NetopsContext): Promise<boolean> {
  const netns = currentNetns();
  return updateRegistry(context.registryDir, (registry) => {
    const record = findInterface(registry, request.name, netns);
    if (!record) return false; // not the tool's: never removed
    record.users = record.users.filter((user) => !(user.uid === request.uid && user.guest === request.guest));
    return deleteIfUnused(registry, request.name, context, netns);
  });
}

function tapDeviceNumbers(context: NetopsContext, name: string): [string, string] {
  const dir = `${linkDir(context, name)}/macvtap`;
  const tap = readdirSync(dir).find((entry) => entry.startsWith('tap'));
  if (!tap) throw new HostError(`${name}: no character device under ${dir}`);
  const [major, minor] = readFileSync(`${dir}/${tap}/dev`, 'utf8').trim().split(':');
  return [major, minor];
}

/**
 * Creates a macvtap and a private device node for it: /dev/tapN is numbered by
 * an interface index that another namespace can share, so /dev is not trusted.
 */
export async function macvtapAdd(
  request: { name: string; parent: string; mac: string; node: string; owner: number; user: InterfaceUser },
  context: NetopsContext,
): Promise<void> {
  const netns = currentNetns();
  await updateRegistry(context.registryDir, async (registry) => {
    if (exists(context, request.name)) throw new HostError(`${request.name} already exists; run qemu-script gc, or choose the name freely by retrying`);
    const [add, up, mknod] = rootCommands({ op: 'macvtap-add', name: request.name, parent: request.parent, mac: request.mac, guest: request.user.guest, node: request.node });
    await run(add.argv, { verbose: context.verbose, hint: `is ${request.parent} an Ethernet interface?` });
    try {
      await run(up.argv, { verbose: context.verbose });
      const [major, minor] = tapDeviceNumbers(context, request.name);
      mkdirSync(dirname(request.node), { recursive: true, mode: 0o755 });
      rmSync(request.node, { force: true });
      await run(mknod.argv.map((word) => (word === 'MAJOR' ? major : word === 'MINOR' ? minor : word)), { verbose: context.verbose });
      if (request.owner !== 0) chownSync(request.node, request.owner, -1);
    } catch (error) {
      // This step failed half-way: undo it here, the caller undoes the steps before.
      await run(['ip', 'link', 'del', request.name]).catch(() => undefined);
      rmSync(request.node, { force: true });
      throw error;
    }
    registry.interfaces.push({ name: request.name, kind: 'macvtap', netns, users: [request.user], node: request.node });
  });
}

export async function macvtapDel(request: { name: string; uid: number; guest: string }, context: NetopsContext): Promise<void> {
  const netns = currentNetns();
  await updateRegistry(context.registryDir, async (registry) => {
    const record = findInterface(registry, request.name, netns);
    if (!record) return;
    record.users = record.users.filter((user) => !(user.uid === request.uid && user.guest === request.guest));
    await deleteIfUnused(registry, request.name, context, netns);
  });
}

/** Removes what guests that are gone left behind, in this namespace; forgets namespaces that are gone. */
export async function gcInterfaces(context: NetopsContext): Promise<string[]> {
  const netns = currentNetns();
  const alive = existingNetns();
  return updateRegistry(context.registryDir, async (registry) => {
    registry.interfaces = registry.interfaces.filter((record) => {
      if (alive.has(record.netns)) return true;
      if (record.node) rmSync(record.node, { force: true });
      return false;
    });
    const removed: string[] = [];
    for (const record of registry.interfaces.filter((r) => r.netns === netns)) {
      if (await deleteIfUnused(registry, record.name, context, netns)) removed.push(record.name);
    }
    return removed;
  });
}
