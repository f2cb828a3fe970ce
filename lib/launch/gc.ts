// gc: what guests that are gone (kill -9, a crash, a reboot of the tool) left behind, torn down (cleanup.ts),
// then the host changes of the tool that no live guest holds, here and in other network namespaces.
import { isGone, listRecords } from '../state/guests.ts';
import { anythingToCollect, collectResources } from '../apply/host-changes.ts';
import { helperArgv } from '../actions/privilege.ts';
import { namedNetns, processIn } from '../probe/namespaces.ts';
import { currentNetns, isAlive } from '../base/proc.ts';
import { liveUsers, readRegistry } from '../state/registry.ts';
import { probe } from '../base/runner.ts';
import { teardown } from './cleanup.ts';

export interface GcReport {
  guests: string[];
  resources: string[];
  failures: string[];
  orphans: string[];
  /** What is left in namespaces this run could not enter, and how to clean it. */
  remaining: string[];
  /** What it looked at (gc --verbose): each guest record and how it stood, and the registry's records. */
  seen: string[];
}

/** Set in a gc that another gc started inside a namespace: it does not go on to others. */
const NESTED = 'QEMU_SCRIPT_GC_NESTED';

/**
 * Host changes whose guests are all gone, in other namespaces that still exist:
 * a named one (/run/netns) is entered and cleaned there; of any other, the
 * report says exactly what remains and how to enter it.
 */
async function collectElsewhere(
  context: { selfCommand: string[]; registryDir: string },
  report: GcReport,
): Promise<void> {
  if (process.env[NESTED]) return;
  const here = currentNetns();
  const stale = readRegistry(context.registryDir).resources.filter(
    (record) => record.netns !== here && liveUsers(record).length === 0,
  );
  const names = namedNetns();
  for (const netns of new Set(stale.map((record) => record.netns))) {
    const name = names.get(netns);
    if (name) {
      const inner = await probe(['ip', 'netns', 'exec', name, ...context.selfCommand, 'gc'], { [NESTED]: '1' });
      if (inner.ok)
        report.resources.push(
          ...inner.stdout
            .split('\n')
            .filter((line) => line.startsWith('removed '))
            .map((line) => `${line.slice('removed '.length)} (in network namespace ${name})`),
        );
      else report.failures.push(`in network namespace ${name}: ${inner.output.trim()}`);
      continue;
    }
    const things = stale
      .filter((record) => record.netns === netns)
      .map((record) => `${record.kind} ${record.name}`)
      .join(', ');
    const pid = processIn(netns);
    report.remaining.push(
      `${things} in network namespace ${netns}${pid ? `; clean it with: nsenter -t ${pid} -n qemu-script gc` : ''}`,
    );
  }
}

/**
 * Finds guests that are gone (supervisor and QEMU dead: kill -9, a crash, a
 * reboot of the tool) and removes what they left; then host changes of the tool
 * that no live guest holds.
 */
export async function collectGarbage(
  runtimeDir: string,
  context: { isRoot: boolean; selfCommand: string[]; registryDir: string },
): Promise<GcReport> {
  const report: GcReport = { guests: [], resources: [], failures: [], orphans: [], remaining: [], seen: [] };
  for (const record of listRecords(runtimeDir)) {
    report.seen.push(`guest ${record.name}: ${isGone(record) ? 'gone' : record.state}`);
    if (isGone(record)) {
      report.failures.push(...(await teardown(runtimeDir, record)));
      report.guests.push(record.name);
    } else if (!isAlive(record.supervisor) && !isAlive(record.launcher) && isAlive(record.qemu)) {
      report.orphans.push(record.name);
    }
  }
  const registry = readRegistry(context.registryDir).resources;
  const here = currentNetns();
  report.seen.push(
    `${context.registryDir}/registry.json: ${registry.length} record(s) of host changes, ` +
      `${registry.filter((record) => record.netns === here).length} in this network namespace`,
  );
  if (!anythingToCollect(context.registryDir)) return report;
  if (context.isRoot) {
    const collected = await collectResources({ registryDir: context.registryDir }).catch((error: Error) => ({
      removed: [],
      failures: [error.message],
    }));
    report.resources = collected.removed;
    report.failures.push(...collected.failures);
    await collectElsewhere(context, report);
  } else {
    // The helper removes only what it created and no live guest holds; without sudo, skip quietly.
    const helper = await probe(helperArgv(context.selfCommand, ['gc']));
    const lines = helper.ok ? helper.stdout.split('\n').filter(Boolean) : [];
    report.resources = lines.filter((line) => !line.startsWith('failed: '));
    report.failures.push(...lines.filter((line) => line.startsWith('failed: ')).map((line) => line.slice(8)));
  }
  return report;
}
