// Snapshots of an instance, kept inside its qcow2 overlay (so they go with it): a running instance's through its
// QEMU (with its memory: HMP savevm, the guest stopped while it is written; disk only: an internal snapshot of the
// disk, the guest's file systems frozen through its agent meanwhile), a stopped one's with qemu-img. Restored
// likewise: running, back where it was (loadvm); stopped, its disk.
import { HostError, UsageError } from '../base/errors.ts';
import { qmpSocketPath } from '../base/paths.ts';
import { QmpClient } from '../base/qmp.ts';
import { probe, run } from '../base/runner.ts';
import type { GuestRecord } from '../state/guests.ts';
import { agentPresent, askAgent } from './agent.ts';

/** A tag: what `snapshot` names it, or the date and time. */
export const SNAPSHOT_TAG = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export interface SnapshotInfo {
  tag: string;
  /** ISO 8601, when it was taken. */
  date: string;
  /** The guest's memory saved with it (bytes; 0: a disk-only snapshot). */
  vm_state_size: number;
  with_memory: boolean;
}

interface QemuImgSnapshot {
  name: string;
  'date-sec': number;
  'vm-state-size': number;
}

/** The overlay's snapshots (read while QEMU runs too: -U shares it). */
export async function listSnapshots(disk: string): Promise<SnapshotInfo[]> {
  const info = await probe(['qemu-img', 'info', '-U', '--output=json', disk]);
  if (!info.ok) throw new HostError(`cannot read ${disk}: ${info.output.trim()}`);
  const snapshots = ((JSON.parse(info.stdout) as { snapshots?: QemuImgSnapshot[] }).snapshots ?? []).map(
    (snapshot) => ({
      tag: snapshot.name,
      date: new Date(snapshot['date-sec'] * 1000).toISOString(),
      vm_state_size: snapshot['vm-state-size'],
      with_memory: snapshot['vm-state-size'] > 0,
    }),
  );
  return snapshots;
}

/** HMP through QMP: it answers with text, empty when all went well. */
async function monitor(record: GuestRecord, command: string): Promise<void> {
  const client = await QmpClient.connect(qmpSocketPath(record.plan.runDir));
  try {
    const answer = String((await client.execute('human-monitor-command', { 'command-line': command })) ?? '').trim();
    if (answer) throw new HostError(`QEMU: ${command}: ${answer}`);
  } finally {
    client.close();
  }
}

/** The guest's file systems frozen (its agent, when it runs one) for as long as BODY takes; thawed whatever. */
async function frozen<T>(record: GuestRecord, body: () => Promise<T>): Promise<{ value: T; frozen: boolean }> {
  const client = await QmpClient.connect(qmpSocketPath(record.plan.runDir));
  const present = await agentPresent(client).finally(() => client.close());
  const froze = present && typeof (await askAgent(record.plan.runDir, 'guest-fsfreeze-freeze', 30000)) === 'number';
  try {
    return { value: await body(), frozen: froze };
  } finally {
    if (froze) await askAgent(record.plan.runDir, 'guest-fsfreeze-thaw', 30000);
  }
}

/** A running instance's snapshot: with its memory (savevm), or of its disk alone, frozen meanwhile. */
export async function snapshotRunning(record: GuestRecord, tag: string, diskOnly: boolean): Promise<string> {
  const began = Date.now();
  if (!diskOnly) {
    await monitor(record, `savevm ${tag}`);
    return `with its memory; the guest was stopped ${((Date.now() - began) / 1000).toFixed(1)} s while it was written`;
  }
  const { frozen: froze } = await frozen(record, async () => {
    const client = await QmpClient.connect(qmpSocketPath(record.plan.runDir));
    try {
      await client.execute('blockdev-snapshot-internal-sync', { device: 'disk0', name: tag });
    } finally {
      client.close();
    }
  });
  const how = froze ? ', its file systems frozen through its agent meanwhile' : ' (no guest agent: not frozen)';
  return `of its disk alone${how}`;
}

export async function snapshotStopped(disk: string, tag: string, verbose: boolean): Promise<void> {
  await run(['qemu-img', 'snapshot', '-c', tag, disk], { verbose });
}

/** Back to TAG: a running instance where it was (its memory), a stopped one's disk. */
export async function restore(disk: string, tag: string, record: GuestRecord | undefined, verbose: boolean) {
  const found = (await listSnapshots(disk)).find((snapshot) => snapshot.tag === tag);
  if (!found) throw new UsageError(`restore: no snapshot ${tag} (qemu-script snapshot ls)`);
  if (!record) {
    await run(['qemu-img', 'snapshot', '-a', tag, disk], { verbose });
    return 'its disk is as it was then';
  }
  if (!found.with_memory) {
    throw new UsageError(`restore: ${tag} holds the disk alone: stop the instance first, then restore it`);
  }
  await monitor(record, `loadvm ${tag}`);
  return 'running again where it was then';
}

export async function deleteSnapshot(disk: string, tag: string, record: GuestRecord | undefined, verbose: boolean) {
  if (!(await listSnapshots(disk)).some((snapshot) => snapshot.tag === tag))
    throw new UsageError(`snapshot rm: no snapshot ${tag} (qemu-script snapshot ls)`);
  if (record) await monitor(record, `delvm ${tag}`);
  else await run(['qemu-img', 'snapshot', '-d', tag, disk], { verbose });
}
