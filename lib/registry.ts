import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { withLock } from './lock.ts';
import { isAlive, type ProcessId } from './proc.ts';

/** A guest holding an interface: released on cleanup, or found dead by gc. */
export interface InterfaceUser {
  uid: number;
  guest: string;
  holder: ProcessId;
}

/** An interface this tool created: only these are ever removed. */
export interface InterfaceRecord {
  name: string;
  kind: 'bridge' | 'macvtap';
  netns: string;
  users: InterfaceUser[];
  /** macvtap: its private character device node. */
  node?: string;
}

export interface Registry {
  interfaces: InterfaceRecord[];
}

const FILE = 'registry.json';

export function readRegistry(dir: string): Registry {
  try {
    return JSON.parse(readFileSync(`${dir}/${FILE}`, 'utf8')) as Registry;
  } catch {
    return { interfaces: [] };
  }
}

function writeRegistry(dir: string, registry: Registry): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const temporary = `${dir}/${FILE}.${process.pid}`;
  // World-readable: normal users plan against the bridges the tool created.
  writeFileSync(temporary, `${JSON.stringify(registry, null, 1)}\n`, { mode: 0o644 });
  renameSync(temporary, `${dir}/${FILE}`);
}

/** Changes the registry under its lock; every read-modify-write goes through here. */
export async function updateRegistry<T>(dir: string, change: (registry: Registry) => Promise<T> | T): Promise<T> {
  return withLock(dir, async () => {
    const registry = readRegistry(dir);
    try {
      return await change(registry);
    } finally {
      writeRegistry(dir, registry);
    }
  });
}

export function findInterface(registry: Registry, name: string, netns: string): InterfaceRecord | undefined {
  return registry.interfaces.find((record) => record.name === name && record.netns === netns);
}

export function dropInterface(registry: Registry, record: InterfaceRecord): void {
  registry.interfaces = registry.interfaces.filter((other) => other !== record);
}

export function liveUsers(record: InterfaceRecord): InterfaceUser[] {
  return record.users.filter((user) => isAlive(user.holder));
}

function inode(netns: string): string | undefined {
  return /\[(\d+)\]/.exec(netns)?.[1];
}

/**
 * The network namespaces that still exist: those of running processes and the
 * named ones under /run/netns. Records of any other namespace are stale: its
 * interfaces went with it.
 */
export function existingNetns(): Set<string> {
  const found = new Set<string>();
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      found.add(inode(readlinkSync(`/proc/${pid}/ns/net`)) ?? '');
    } catch {
      // gone, or not ours to read
    }
  }
  if (existsSync('/run/netns')) {
    for (const name of readdirSync('/run/netns')) {
      try {
        found.add(String(statSync(`/run/netns/${name}`).ino));
      } catch {
        // raced with ip netns del
      }
    }
  }
  return new Set([...found].filter(Boolean).map((ino) => `net:[${ino}]`));
}
