import { applyContextOf, undoActions } from './apply.ts';
import { isGone, listRecords, removeRecord, type GuestRecord } from './guests.ts';
import { collectResources } from './host-changes.ts';
import { helperArgv } from './privilege.ts';
import { isAlive } from './proc.ts';
import { probe } from './runner.ts';

/** Undoes what one gone guest left: its share of every host change, its record. */
export async function collectGuest(runtimeDir: string, record: GuestRecord): Promise<string[]> {
  const failures = await undoActions(record.plan.actions, applyContextOf(record));
  removeRecord(runtimeDir, record.name);
  return failures;
}

export interface GcReport {
  guests: string[];
  resources: string[];
  failures: string[];
  orphans: string[];
}

/**
 * Finds guests that are gone (supervisor and QEMU dead: kill -9, a crash, a
 * reboot of the tool) and removes what they left; then host changes of the tool
 * that no live guest holds.
 */
export async function collectGarbage(runtimeDir: string, context: { isRoot: boolean; selfCommand: string[]; registryDir: string }): Promise<GcReport> {
  const report: GcReport = { guests: [], resources: [], failures: [], orphans: [] };
  for (const record of listRecords(runtimeDir)) {
    if (isGone(record)) {
      report.failures.push(...await collectGuest(runtimeDir, record));
      report.guests.push(record.name);
    } else if (!isAlive(record.supervisor) && !isAlive(record.launcher) && isAlive(record.qemu)) {
      report.orphans.push(record.name);
    }
  }
  if (context.isRoot) {
    report.resources = await collectResources({ registryDir: context.registryDir }).catch((error: Error) => {
      report.failures.push(error.message);
      return [];
    });
  } else {
    // The helper removes only what it created and no live guest holds; without sudo, skip quietly.
    const helper = await probe(helperArgv(context.selfCommand, ['gc']));
    report.resources = helper.ok ? helper.stdout.split('\n').filter(Boolean) : [];
  }
  return report;
}
