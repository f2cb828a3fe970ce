// What the tool knows of each of a user's guests: one record per guest directory under the runtime directory.
import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { guestRecordPath, guestRunDir } from '../base/paths.ts';
import { GUEST_NAME } from '../base/names.ts';
import { isAlive, type ProcessId } from '../base/proc.ts';
import type { Plan } from '../base/types.ts';

/** What the tool knows of one guest, in RUNTIME/NAME/guest.json. */
export interface GuestRecord {
  name: string;
  uid: number;
  netns: string;
  state: 'starting' | 'running' | 'stopping';
  /** The process that planned the guest: its reservation counts until a supervisor takes over. */
  launcher: ProcessId;
  supervisor?: ProcessId;
  qemu?: ProcessId;
  /** Processes of the caller's the NICs need (passt), ended with the guest. */
  companions?: ProcessId[];
  startedAt: number;
  plan: Plan;
  isRoot: boolean;
  selfCommand: string[];
  registryDir: string;
  verbose: boolean;
}

export function writeRecord(runtimeDir: string, record: GuestRecord): void {
  const dir = guestRunDir(runtimeDir, record.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The guest's sockets (console, monitor, screen, QMP) go here: its owner's alone.
  chmodSync(dir, 0o700);
  const temporary = `${dir}/guest.json.${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 1)}\n`, { mode: 0o600 });
  renameSync(temporary, guestRecordPath(runtimeDir, record.name));
}

export function readRecord(runtimeDir: string, name: string): GuestRecord | undefined {
  // Outside the try: a name that is not a guest name is refused, not "no such guest".
  const path = guestRecordPath(runtimeDir, name);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as GuestRecord;
  } catch {
    return undefined;
  }
}

export function listRecords(runtimeDir: string): GuestRecord[] {
  let names: string[] = [];
  try {
    names = readdirSync(runtimeDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && GUEST_NAME.test(entry.name))
      .map((entry) => entry.name);
  } catch {
    return [];
  }
  return names.flatMap((name) => readRecord(runtimeDir, name) ?? []);
}

export function removeRecord(runtimeDir: string, name: string): void {
  rmSync(guestRunDir(runtimeDir, name), { recursive: true, force: true });
}

/** A guest is gone when none of its processes runs: then its leftovers are garbage. */
export function isGone(record: GuestRecord): boolean {
  return !isAlive(record.launcher) && !isAlive(record.supervisor) && !isAlive(record.qemu);
}

/** What running and starting guests hold, so a new plan avoids it. */
export function reservations(records: GuestRecord[]) {
  const live = records.filter((record) => !isGone(record));
  return {
    guestNames: records.map((record) => record.name),
    ports: live.flatMap((record) => record.plan.resources.ports),
    macs: live.flatMap((record) => record.plan.resources.macs),
    interfaces: live.flatMap((record) => record.plan.resources.interfaces),
    /** Absolute path → the guest running from it. */
    disks: new Map(
      live.flatMap((record) =>
        (record.plan.resources.disks ?? []).map((disk) => [
          disk,
          { guest: record.name, writes: record.plan.resources.writesDisks !== false },
        ]),
      ),
    ),
  };
}
