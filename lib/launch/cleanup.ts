// The one teardown of a guest, whichever way it ends: its companions stopped, its host changes undone in
// reverse, its record removed. Every exit path calls it: the background waiter's last act (waiter.c, or its
// shell, execs `SELF __cleanup RUNTIME NAME`: cleanupMain below), the foreground supervisor, a launch that
// failed before QEMU ran, `down` and `gc`.
import { applyContextOf, undoActions } from '../apply/apply.ts';
import { enterCleanupPhase } from '../base/fault.ts';
import { printErr } from '../base/output.ts';
import { readRecord, removeRecord, writeRecord, type GuestRecord } from '../state/guests.ts';
import type { HostAction } from '../base/types.ts';
import { stopCompanions } from './companions.ts';

/**
 * Tears a guest down; returns what could not be undone. `applied`: the host actions that were made (all of the
 * plan's once QEMU ran; none when a launch failed before its first): nothing else is undone.
 */
export async function teardown(
  runtimeDir: string,
  record: GuestRecord,
  applied: HostAction[] = record.plan.actions,
): Promise<string[]> {
  await stopCompanions(record);
  const failures = await undoActions(applied, applyContextOf(record));
  removeRecord(runtimeDir, record.name);
  return failures;
}

/** `__cleanup RUNTIME NAME`: the waiter's last act once QEMU has exited. */
export async function cleanupMain(runtimeDir: string, name: string): Promise<number> {
  enterCleanupPhase();
  const record = readRecord(runtimeDir, name);
  if (!record) return 0;
  record.state = 'stopping';
  writeRecord(runtimeDir, record);
  const failures = await teardown(runtimeDir, record);
  for (const message of failures) printErr(`qemu-script: cleanup: ${message}\n`);
  return failures.length > 0 ? 1 : 0;
}
