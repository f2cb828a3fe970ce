// ps, down and gc: the commands that look after guests already started.
import { HostError, UsageError } from './errors.ts';
import { collectGarbage, collectGuest } from './gc.ts';
import { isGone, listRecords, readRecord } from './guests.ts';
import { isAlive } from './proc.ts';
import { QmpClient } from './qmp.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface GuestContext {
  runtimeDir: string;
  isRoot: boolean;
  selfCommand: string[];
  registryDir: string;
}

function uptime(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`;
}

export function psRows(runtimeDir: string) {
  return listRecords(runtimeDir).map((record) => ({
    name: record.name,
    pid: record.qemu?.pid ?? null,
    state: isGone(record) ? 'gone' : record.state,
    networks: record.plan.resources.networks,
    ports: record.plan.messages.filter((message) => /localhost/.test(message)),
    uptimeSeconds: Math.floor((Date.now() - record.startedAt) / 1000),
    uptime: uptime(Date.now() - record.startedAt),
  }));
}

export function ps(context: GuestContext, json: boolean): string {
  const rows = psRows(context.runtimeDir);
  if (json) return `${JSON.stringify(rows, null, 2)}\n`;
  if (rows.length === 0) return 'no guests\n';
  const header = ['NAME', 'PID', 'STATE', 'UPTIME', 'NETWORKS', 'PORTS'];
  const lines = rows.map((row) => [row.name, String(row.pid ?? '-'), row.state, row.uptime, row.networks.join(',') || '-', row.ports.join('; ') || '-']);
  const widths = header.map((_, i) => Math.max(header[i].length, ...lines.map((line) => line[i].length)));
  return [header, ...lines].map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

/** Powers a guest off through QMP (ACPI, then quit after the timeout); cleanup follows. */
export async function down(context: GuestContext, name: string | undefined, options: { force: boolean; timeoutSeconds: number }): Promise<string> {
  if (!name) throw new UsageError('down needs a guest name (see qemu-script ps)');
  const record = readRecord(context.runtimeDir, name);
  if (!record) throw new UsageError(`down: no guest named "${name}" (see qemu-script ps)`);
  if (isAlive(record.qemu)) {
    const client = await QmpClient.connect(`${record.plan.runDir}/qmp.sock`).catch(() => undefined);
    if (client) {
      try {
        if (!options.force) {
          await client.execute('system_powerdown');
          const deadline = Date.now() + options.timeoutSeconds * 1000;
          while (isAlive(record.qemu) && Date.now() < deadline) await sleep(100);
        }
        if (isAlive(record.qemu)) await client.execute('quit').catch(() => undefined);
      } finally {
        client.close();
      }
    } else if (record.qemu) {
      process.kill(record.qemu.pid, 'SIGTERM');
    }
  }
  // The supervisor cleans up when QEMU exits; if it is gone too, do it here.
  const deadline = Date.now() + 30000;
  while (readRecord(context.runtimeDir, name) && isAlive(record.supervisor) && Date.now() < deadline) await sleep(100);
  const left = readRecord(context.runtimeDir, name);
  if (left && isGone(left)) {
    const failures = await collectGuest(context.runtimeDir, left);
    if (failures.length > 0) throw new HostError(`down ${name}: cleanup failed: ${failures.join('; ')}`);
  } else if (left) {
    throw new HostError(`down ${name}: the guest is still running; try qemu-script down --force ${name}`);
  }
  return `Guest ${name} is down\n`;
}

export async function gc(context: GuestContext): Promise<string> {
  const report = await collectGarbage(context.runtimeDir, context);
  const lines = [
    ...report.guests.map((name) => `removed leftovers of guest ${name}`),
    ...report.interfaces.map((name) => `removed interface ${name}`),
    ...report.orphans.map((name) => `guest ${name} runs without its supervisor; stop it with qemu-script down ${name}`),
  ];
  if (report.failures.length > 0) throw new HostError(`gc: ${report.failures.join('; ')}`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'nothing to collect\n';
}
