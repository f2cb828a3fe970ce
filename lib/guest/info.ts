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
import { memoryMiB } from '../plan/qemu-syntax.ts';
import { instanceExists, readInstance } from '../store/instances.ts';

/** Where a screen or monitor is: its kind, and the socket that reaches it (null: none to connect to). */
interface Endpoint {
  kind: string;
  socket: string | null;
}

export interface GuestInfo extends GuestView {
  /** -m in MiB (null: a -m the tool cannot read). */
  memory: number | null;
  /** What QEMU holds in memory now, MiB. */
  rss_mib: number | null;
  disks: string[];
  /** `qemu-script console NAME` reaches this socket; null when the serial port is elsewhere. */
  console: string | null;
  /** Where the screen is: vnc (its socket), window, spice, terminal, or none. */
  screen: Endpoint;
  /** The human monitor: on the console (Ctrl-A c), on a socket of its own (spice), the terminal, or null. */
  monitor: Endpoint | null;
  qmp: string;
  log: string;
  /** Its serial console, logged (qemu-script log NAME); null when the console is elsewhere (stdio, -serial). */
  console_log: string | null;
  /** Its names on defined networks with DHCP, and the server that answers them (the host asks it through resolved). */
  dns: Array<{ network: string; name: string; server: string }>;
}

function screenOf(record: GuestRecord): Endpoint {
  const runDir = record.plan.runDir;
  switch (record.plan.display) {
    case 'vnc':
      return { kind: 'vnc', socket: vncSocketPath(runDir) };
    case 'vga':
      return { kind: 'window', socket: null };
    case 'spice':
      return { kind: 'spice', socket: null };
    case 'stdio':
      return { kind: 'terminal', socket: null };
    case 'none':
      return { kind: 'none', socket: null };
  }
}

/** What the text of `info` says of a screen or monitor. */
const SAID: Record<string, (socket: string | null) => string> = {
  vnc: (socket) => `vnc ${socket}`,
  window: () => 'a window on the desktop that started it',
  spice: (socket) => (socket ? `the monitor on ${socket}` : 'a SPICE viewer on a private socket'),
  terminal: () => 'the terminal that started it',
  none: () => 'none',
  console: () => 'on the console (Ctrl-A c)',
};
const said = (endpoint: Endpoint | null) => (endpoint ? SAID[endpoint.kind](endpoint.socket) : 'none');

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
    memory: memoryMiB(memory) ?? null,
    rss_mib: rss ? Math.round(Number(rss[1]) / 1024) : null,
    disks: record.plan.resources.disks ?? [],
    console: hasConsole ? consoleSocketPath(record.plan.runDir) : null,
    screen: screenOf(record),
    monitor: hasConsole
      ? { kind: 'console', socket: consoleSocketPath(record.plan.runDir) }
      : record.plan.display === 'spice'
        ? { kind: 'spice', socket: monitorSocketPath(record.plan.runDir) }
        : record.plan.display === 'stdio'
          ? { kind: 'terminal', socket: null }
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
    ['memory', `${info.memory === null ? '(as QEMU was given it)' : `${info.memory} MiB`}${resident}`],
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
    ['screen', said(info.screen)],
    ['monitor', said(info.monitor)],
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
