// ps, down and gc: the commands that look after guests already started.
import { HostError, UsageError } from '../base/errors.ts';
import { collectGarbage } from '../launch/gc.ts';
import { teardown } from '../launch/cleanup.ts';
import { nicAddresses } from '../probe/addresses.ts';
import { isGone, listRecords, readRecord, type GuestRecord } from '../state/guests.ts';
import { qmpSocketPath } from '../base/paths.ts';
import { isAlive } from '../base/proc.ts';
import { QmpClient } from '../base/qmp.ts';
import { agentAddresses, agentPowerOff, agentPresent, askAgent } from './agent.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ToolContext } from '../base/context.ts';
import { renderTable } from '../base/table.ts';
import type { ForwardInfo } from '../base/types.ts';
import { printOut } from '../base/output.ts';
import { jsonOutput } from '../base/json.ts';
import { listInstances, readInstance } from '../store/instances.ts';

const REPEAT_POWER_OFF_MS = 2000;
/** How often down looks whether the guest, then its cleanup, has finished: a stat each, cheap; the wait is not. */
const POLL_MS = 20;

function uptime(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(seconds % 60).padStart(2, '0')}s`
      : `${seconds}s`;
}

/** One guest as `ps --json` shows it (README: "JSON for scripts"). */
export interface GuestView {
  name: string;
  pid: number | null;
  state: string;
  uptime_s: number;
  nics: Array<{
    index: number;
    net: string;
    mac: string;
    ip: string | null;
    ip6: string | null;
    /** Present when the guest agent said the addresses (a NIC whose DHCP the tool does not serve). */
    address_from?: 'agent';
  }>;
  forwards: ForwardInfo[];
  /** The command that logs in, when the guest has a way in (an SSH forward or an address). */
  ssh: string | null;
  /** The user that command logs in as: --cloud-init's (null: ssh's own choice). */
  login_user: string | null;
}

/** Where a guest's SSH server is: its forward on the host, else its address on a network the host is on. */
export function sshEndpoint(view: Pick<GuestView, 'forwards' | 'nics'>): { host: string; port: number } | undefined {
  const forward = view.forwards.find((entry) => entry.proto === 'tcp' && entry.guest_port === 22);
  if (forward) return { host: forward.host, port: forward.port };
  const nic = view.nics.find((entry) => entry.net !== 'user' && entry.ip);
  return nic ? { host: nic.ip!, port: 22 } : undefined;
}

export function guestView(record: GuestRecord): GuestView {
  const view: GuestView = {
    name: record.name,
    pid: record.qemu?.pid ?? null,
    state: isGone(record) ? 'gone' : record.state,
    uptime_s: Math.floor((Date.now() - record.startedAt) / 1000),
    nics: record.plan.resources.nics.map((nic) => ({
      index: nic.index,
      net: nic.net,
      mac: nic.mac,
      ...nicAddresses(nic),
    })),
    forwards: record.plan.resources.forwards,
    ssh: null,
    login_user: record.plan.cloudInit?.login ?? null,
  };
  return withSsh(view);
}

/** The view with its login command, when its forwards or addresses give a way in. */
const withSsh = (view: GuestView): GuestView => ({
  ...view,
  ssh: sshEndpoint(view) ? `qemu-script ssh ${view.name}` : null,
});

function forwardText(forward: ForwardInfo): string {
  return forward.guest_port === 22 && forward.proto === 'tcp'
    ? `ssh:${forward.port}`
    : `${forward.proto}:${forward.port}->${forward.guest_port}`;
}

/**
 * The view, with the addresses of NICs the host cannot see (bridged, macvtap) asked of the guest agent when
 * the guest runs one (QEMU says whether it does: nothing waits on a guest without it).
 */
export async function guestViewNow(record: GuestRecord): Promise<GuestView> {
  const view = guestView(record);
  const unknown = (index: number) =>
    record.plan.resources.nics[index]?.address.from === 'neighbour' && view.nics[index].ip === null;
  if (!view.nics.some((_, index) => unknown(index)) || !isAlive(record.qemu)) return view;
  const client = await QmpClient.connect(qmpSocketPath(record.plan.runDir), 1000).catch(() => undefined);
  if (!client) return view;
  const present = await agentPresent(client).finally(() => client.close());
  if (!present) return view;
  const answer = await askAgent(record.plan.runDir, 'guest-network-get-interfaces', 3000);
  const nics = view.nics.map((nic, index) => {
    const found = unknown(index) ? agentAddresses(answer, nic.mac) : undefined;
    return found && (found.ip || found.ip6) ? { ...nic, ...found, address_from: 'agent' as const } : nic;
  });
  return withSsh({ ...view, nics });
}

/** An instance that does not run: listed by ps as stopped, with the MACs it keeps. */
const stoppedView = (name: string, macs: string[]): GuestView => ({
  name,
  pid: null,
  state: 'stopped',
  uptime_s: 0,
  nics: macs.map((mac, index) => ({ index, net: '-', mac, ip: null, ip6: null })),
  forwards: [],
  ssh: null,
  login_user: null,
});

export async function ps(context: ToolContext, json: boolean): Promise<string> {
  const records = listRecords(context.runtimeDir);
  const stopped = await Promise.all(
    listInstances(context.instancesDir)
      .filter((name) => !records.some((record) => record.name === name))
      .map(async (name) => {
        const instance = await readInstance(context.instancesDir, name, 'ps').catch(() => undefined);
        return stoppedView(name, instance?.identity.macs ?? []);
      }),
  );
  const views = [...(await Promise.all(records.map((record) => guestViewNow(record)))), ...stopped].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
  if (json) return jsonOutput({ version: 1, guests: views });
  if (views.length === 0) return 'no guests\n';
  const header = ['NAME', 'PID', 'STATE', 'UPTIME', 'NICS', 'PORTS'];
  const lines = views.map((view) => [
    view.name,
    String(view.pid ?? '-'),
    view.state,
    view.state === 'stopped' ? '-' : uptime(view.uptime_s * 1000),
    view.state === 'stopped'
      ? '-'
      : view.nics.map((nic) => `${nic.net}=${[nic.ip ?? '?', ...(nic.ip6 ? [nic.ip6] : [])].join(',')}`).join(' ') ||
        '-',
    view.forwards.map(forwardText).join(' ') || '-',
  ]);
  const hint = views.some((view) => view.ssh)
    ? 'Log in: qemu-script ssh NAME; all of one guest: qemu-script info NAME\n'
    : '';
  return renderTable(header, lines) + hint;
}

/**
 * Powers a guest off through QMP (ACPI, then quit after the timeout); cleanup follows. Says what it
 * asked and waits for, and how the guest went: powered off, or stopped.
 */
export async function down(
  context: ToolContext,
  name: string | undefined,
  options: { force: boolean; timeoutSeconds: number; quiet?: boolean },
): Promise<string> {
  if (!name) throw new UsageError('down needs a guest name (see qemu-script ps)');
  const record = readRecord(context.runtimeDir, name);
  if (!record) throw new UsageError(`down: no guest named "${name}" (see qemu-script ps)`);
  let how = 'was not running';
  if (isAlive(record.qemu)) {
    const client = await QmpClient.connect(qmpSocketPath(record.plan.runDir)).catch(() => undefined);
    if (client) {
      try {
        if (!options.force) {
          // The guest agent shuts the guest down from inside; without it (or if it does not take the
          // command), the ACPI power button.
          const byAgent = (await agentPresent(client)) && (await agentPowerOff(record.plan.runDir));
          if (!byAgent) await client.execute('system_powerdown');
          if (!options.quiet) {
            printOut(
              `Asked ${name} to power off (${byAgent ? 'guest agent' : 'ACPI'}); waiting up to ` +
                `${options.timeoutSeconds} s (--timeout S; --force stops it at once)\n`,
            );
          }
          const deadline = Date.now() + options.timeoutSeconds * 1000;
          // A guest still booting misses the first request (its ACPI handler or agent is not up yet): asked
          // again every two seconds, by the agent once it answers, until it goes or the time is up.
          let asked = Date.now();
          while (isAlive(record.qemu) && Date.now() < deadline) {
            await sleep(POLL_MS);
            if (Date.now() - asked < REPEAT_POWER_OFF_MS) continue;
            asked = Date.now();
            const again = (await agentPresent(client).catch(() => false)) && (await agentPowerOff(record.plan.runDir));
            if (!again) await client.execute('system_powerdown').catch(() => undefined);
          }
          how = isAlive(record.qemu) ? `did not power off within ${options.timeoutSeconds} s: stopped` : 'powered off';
        } else {
          how = 'stopped';
        }
        if (isAlive(record.qemu)) await client.execute('quit').catch(() => undefined);
      } finally {
        client.close();
      }
    } else if (record.qemu) {
      process.kill(record.qemu.pid, 'SIGTERM');
      how = 'stopped (SIGTERM: its QMP socket did not answer)';
    }
  }
  // The supervisor cleans up when QEMU exits; if it is gone too, do it here.
  const deadline = Date.now() + 30000;
  while (readRecord(context.runtimeDir, name) && isAlive(record.supervisor) && Date.now() < deadline)
    await sleep(POLL_MS);
  const left = readRecord(context.runtimeDir, name);
  if (left && isGone(left)) {
    const failures = await teardown(context.runtimeDir, left);
    if (failures.length > 0) throw new HostError(`down ${name}: cleanup failed: ${failures.join('; ')}`);
  } else if (left) {
    throw new HostError(`down ${name}: the guest is still running; try qemu-script down --force ${name}`);
  }
  return `Guest ${name} ${how}; what was built for it is removed\n`;
}

export async function gc(context: ToolContext, verbose = false): Promise<string> {
  const report = await collectGarbage(context.runtimeDir, context);
  const lines = [
    ...(verbose ? report.seen.map((what) => `looked at ${what}`) : []),
    ...report.guests.map((name) => `removed leftovers of guest ${name}`),
    ...report.resources.map((name) => `removed ${name}`),
    ...report.orphans.map((name) => `guest ${name} runs without its supervisor; stop it with qemu-script down ${name}`),
    ...report.remaining.map((what) => `left: ${what}`),
  ];
  if (report.failures.length > 0) {
    // What was removed is said as well: one record that could not be is no reason to hide the others.
    if (lines.length > 0) printOut(`${lines.join('\n')}\n`);
    throw new HostError(`gc: ${report.failures.join('; ')}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'nothing to collect\n';
}
