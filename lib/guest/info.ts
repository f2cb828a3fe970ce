// qemu-script info NAME [--json]: everything needed to reach one guest, from its record and the host:
// state, memory, disks, every NIC with its addresses, forwards, console, screen and monitor
// endpoints, the command that logs in, and its log file.
import type { ToolContext } from '../base/context.ts';
import { UsageError } from '../base/errors.ts';
import {
  consoleSocketPath,
  instanceFile,
  logPath,
  monitorSocketPath,
  qmpSocketPath,
  vncSocketPath,
} from '../base/paths.ts';
import { isAlive } from '../base/proc.ts';
import { readText } from '../probe/host-access.ts';
import { readRecord, type GuestRecord } from '../state/guests.ts';
import { guestView, guestViewNow, type GuestView } from './guest-commands.ts';
import { jsonOutput } from '../base/json.ts';
import { printable } from '../base/table.ts';
import { instanceExists, readInstance } from '../store/instances.ts';

export interface GuestInfo extends GuestView {
  /** -m as QEMU was given it (MiB, or with QEMU's suffix). */
  memory: string;
  /** What QEMU holds in memory now, MiB. */
  rss_mib: number | null;
  disks: string[];
  /** `qemu-script console NAME` reaches this socket; null when the serial port is elsewhere. */
  console: string | null;
  /** Where the screen is: a VNC socket, a window, a SPICE viewer, the terminal, or nothing. */
  screen: string;
  monitor: string | null;
  qmp: string;
  log: string;
  /** Its serial console, logged (qemu-script log NAME); null when the console is elsewhere (stdio, -serial). */
  console_log: string | null;
  /** Its names on defined networks with DHCP, and the server that answers them (the host asks it through resolved). */
  dns: Array<{ network: string; name: string; server: string }>;
}

function screenOf(record: GuestRecord): string {
  const runDir = record.plan.runDir;
  switch (record.plan.display) {
    case 'vnc':
      return `vnc ${vncSocketPath(runDir)}`;
    case 'vga':
      return 'a window on the desktop that started it';
    case 'spice':
      return 'a SPICE viewer on a private socket';
    case 'stdio':
      return 'the terminal that started it';
    case 'none':
      return 'none';
  }
}

/** `view`: the guest as ps sees it (at launch, before any agent runs: what the host knows). */
export function guestInfo(record: GuestRecord, runtimeDir: string, view = guestView(record)): GuestInfo {
  const argv = record.plan.qemu.argv;
  const memory = argv.filter((_, i) => argv[i - 1] === '-m').at(-1) ?? '';
  const rss = isAlive(record.qemu)
    ? /^VmRSS:\s+(\d+) kB/m.exec(readText(`/proc/${record.qemu!.pid}/status`) ?? '')
    : null;
  const hasConsole = argv.some((word) => word.startsWith('socket,id=console,'));
  return {
    ...view,
    memory,
    rss_mib: rss ? Math.round(Number(rss[1]) / 1024) : null,
    disks: record.plan.resources.disks ?? [],
    console: hasConsole ? consoleSocketPath(record.plan.runDir) : null,
    screen: screenOf(record),
    monitor: hasConsole
      ? `on the console (Ctrl-A c)`
      : record.plan.display === 'spice'
        ? monitorSocketPath(record.plan.runDir)
        : null,
    qmp: qmpSocketPath(record.plan.runDir),
    log: logPath(runtimeDir, record.name),
    console_log: record.plan.consoleLog ?? null,
    dns: record.plan.actions.flatMap((action) =>
      action.kind === 'names'
        ? [{ network: action.network, name: `${record.name}.${action.domain}`, server: action.server }]
        : [],
    ),
  };
}

function renderInfo(info: GuestInfo): string {
  const forwards = info.forwards.map(
    (forward) => `${forward.proto} ${forward.host}:${forward.port} -> ${forward.guest_port}`,
  );
  const resident = info.rss_mib === null ? '' : ` (${info.rss_mib} MiB resident)`;
  const rows: Array<[string, string]> = [
    ['name', info.name],
    ['state', `${info.state}${info.pid ? ` (QEMU pid ${info.pid}, up ${info.uptime_s} s)` : ''}`],
    ['memory', `${info.memory}${/\d$/.test(info.memory) ? ' MiB' : ''}${resident}`],
    ...info.disks.map((disk, i): [string, string] => [i === 0 ? 'disks' : '', disk]),
    ...info.nics.map((nic): [string, string] => [
      `nic ${nic.index}`,
      `${nic.net} ${nic.mac} ${nic.ip ?? '(address not known yet)'}${nic.ip6 ? ` ${nic.ip6}` : ''}` +
        (nic.address_from === 'agent' ? ' (from the guest agent)' : ''),
    ]),
    ...info.dns.map((entry): [string, string] => [
      'dns',
      `${entry.name}, answered by ${entry.server} (${entry.network}'s server)`,
    ]),
    ...forwards.map((forward, i): [string, string] => [i === 0 ? 'forwards' : '', forward]),
    ['console', info.console ? `qemu-script console ${info.name} (${info.console})` : 'none'],
    ['screen', info.screen],
    ['monitor', info.monitor ?? 'none'],
    [
      'login',
      info.ssh
        ? `${info.ssh}${info.login_user ? ` (as ${info.login_user}, with its key)` : ''}`
        : 'no SSH forward or address known',
    ],
    ['log', info.log],
    ...(info.console_log ? [['serial', `${info.console_log} (qemu-script log ${info.name})`] as [string, string]] : []),
  ];
  return rows.map(([key, value]) => `${key.padEnd(10)}${printable(value)}\n`).join('');
}

/** A stopped instance: what it is over, what it starts with, where it logs, how to start it. */
async function stoppedInfo(context: ToolContext, name: string, json: boolean): Promise<string> {
  const instance = await readInstance(context.instancesDir, name, 'info');
  const details = {
    name,
    state: 'stopped',
    image: instance.image,
    image_path: instance.image_path,
    disk: instanceFile(context.instancesDir, name, 'disk'),
    disk_size: instance.disk_size ?? null,
    options: instance.options,
    macs: instance.identity.macs,
    instance_id: instance.identity.instance_id,
    log: instanceFile(context.instancesDir, name, 'log'),
    created: instance.created,
  };
  if (json) return jsonOutput({ version: 1, ...details });
  const rows: Array<[string, string]> = [
    ['name', name],
    ['state', `stopped (qemu-script start ${name})`],
    ['image', `${instance.image} (${instance.image_path})`],
    ['disks', details.disk],
    ['options', instance.options.join(' ') || '(none)'],
    ['macs', instance.identity.macs.join(' ') || '(no NIC)'],
    ['log', `${details.log} (qemu-script log ${name})`],
    ['created', instance.created],
  ];
  return rows.map(([key, value]) => `${key.padEnd(10)}${printable(value)}\n`).join('');
}

export async function info(context: ToolContext, name: string, json: boolean): Promise<string> {
  const record = readRecord(context.runtimeDir, name);
  if (!record && instanceExists(context.instancesDir, name)) return stoppedInfo(context, name, json);
  if (!record) throw new UsageError(`info: no guest named "${name}" (see qemu-script ps)`);
  const details = guestInfo(record, context.runtimeDir, await guestViewNow(record));
  return json ? jsonOutput({ version: 1, ...details }) : renderInfo(details);
}
