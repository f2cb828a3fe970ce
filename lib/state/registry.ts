// What root changed on the host for the tool's guests, in RUNDIR/registry.json.
// Write-ahead: a change is recorded (state "intent") and written before it is
// made, and marked "done" after; cleanup and gc undo every record whose users
// are gone, whether or not it completed. Anything never recorded is never touched.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostStep } from '../base/fault.ts';
import { withLock } from '../base/lock.ts';
import { registryPath } from '../base/paths.ts';
import { isAlive, type ProcessId } from '../base/proc.ts';
import type { ActionKindName } from '../base/types.ts';

/** A guest holding a resource: released on cleanup, or found dead by gc. */
export interface ResourceUser {
  uid: number;
  guest: string;
  holder: ProcessId;
  /** dhcp: the NIC registered with the network's server, and the address it was given. */
  mac?: string;
  ip?: string;
  /** Its IPv6 address on a network with IPv6: its SLAAC address, also what DHCPv6 gives it. */
  ip6?: string;
}

/** One thing the tool made: only these are ever removed. */
export interface ResourceRecord {
  /**
   * Unique to this record, and written on the link it makes (its alias): a link of the same name in
   * the same namespace that does not carry it is someone else's (the kernel reuses namespace ids,
   * and an administrator may make a bridge of the same name), and is never removed.
   */
  id?: string;
  kind: ActionKindName;
  /** The interface, or the network a server or rule set belongs to. */
  name: string;
  netns: string;
  state: 'intent' | 'done';
  /** The user whose request made it (quotas count these). */
  creator: number;
  users: ResourceUser[];
  /** Kind-specific facts needed to undo it (device node, server pid, files). */
  data: Record<string, unknown>;
}

export interface Registry {
  resources: ResourceRecord[];
}

export function readRegistry(dir: string): Registry {
  try {
    const parsed = JSON.parse(readFileSync(registryPath(dir), 'utf8')) as Partial<Registry>;
    return { resources: Array.isArray(parsed.resources) ? parsed.resources : [] };
  } catch {
    return { resources: [] };
  }
}

/**
 * Atomic: a reader, or a process that dies half-way, finds the old file or the new one, whole. Not flushed
 * to disk (~1 ms a write where /run is no tmpfs, four writes a host action): what it records (links,
 * rules, processes) does not outlive the machine either, so only a crash of the process is guarded against.
 */
function writeRegistry(dir: string, registry: Registry): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = registryPath(dir);
  const temporary = `${path}.${process.pid}`;
  // World-readable: normal users plan against the bridges and networks the tool made.
  writeFileSync(temporary, `${JSON.stringify(registry, null, 1)}\n`, { mode: 0o644 });
  renameSync(temporary, path);
}

/** The registry inside one locked read-modify-write. */
export interface Transaction {
  registry: Registry;
  /** Writes the registry now: called after recording an intent, before the change. */
  commit(): void;
}

/** Changes the registry under its lock; every read-modify-write goes through here. */
export async function updateRegistry<T>(dir: string, change: (tx: Transaction) => Promise<T> | T): Promise<T> {
  return withLock(dir, async () => {
    const tx: Transaction = { registry: readRegistry(dir), commit: () => writeRegistry(dir, tx.registry) };
    try {
      return await change(tx);
    } finally {
      tx.commit();
    }
  });
}

export function findResource(
  registry: Registry,
  kind: ActionKindName,
  name: string,
  netns: string,
): ResourceRecord | undefined {
  return registry.resources.find((record) => record.kind === kind && record.name === name && record.netns === netns);
}

/** Records an intent and writes it before the caller changes anything. */
let made = 0;

export function recordIntent(tx: Transaction, record: Omit<ResourceRecord, 'state' | 'id'>): ResourceRecord {
  const id = `${process.pid.toString(36)}.${process.hrtime.bigint().toString(36)}.${made++}`;
  const added: ResourceRecord = { id, ...record, state: 'intent' };
  tx.registry.resources.push(added);
  tx.commit();
  hostStep();
  return added;
}

export function dropResource(registry: Registry, record: ResourceRecord): void {
  registry.resources = registry.resources.filter((other) => other !== record);
}

export function liveUsers(record: ResourceRecord): ResourceUser[] {
  return record.users.filter((user) => isAlive(user.holder));
}
