// qemu-script fwd add, rm and ls: a running guest's forwards changed while it runs. On the user network QEMU
// adds and removes them itself (its monitor's hostfwd_add and hostfwd_remove, through QMP); the guest's record
// is updated under the runtime lock, so ps, info and other launches see the ports at once.
import type { ToolContext } from '../base/context.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { jsonOutput } from '../base/json.ts';
import { withLock } from '../base/lock.ts';
import { qmpSocketPath } from '../base/paths.ts';
import { isAlive } from '../base/proc.ts';
import { renderTable } from '../base/table.ts';
import { listRecords, readRecord, writeRecord, type GuestRecord } from '../state/guests.ts';
import { isFree } from '../probe/port-check.ts';
import { unprivilegedPortStart } from '../probe/probe.ts';
import { LOOPBACK } from '../plan/net-modes.ts';
import { parseForward, parsePort } from '../plan/net-spec.ts';
import { QmpClient } from './qmp.ts';
import type { Forward, ForwardInfo } from '../base/types.ts';

/** The running guest and its user-network NIC's netdev: the only NIC whose forwards QEMU changes at run time. */
function userNetdev(context: ToolContext, name: string, what: string): { record: GuestRecord; netdev: string } {
  const record = readRecord(context.runtimeDir, name);
  if (!record || !isAlive(record.qemu))
    throw new UsageError(`${what}: no running guest named "${name}" (qemu-script ps)`);
  const nics = record.plan.resources.nics;
  const user = nics.find((nic) => nic.net === 'user');
  if (user) return { record, netdev: `nic${user.index}` };
  const why = nics.some((nic) => nic.net === 'passt')
    ? "its passt (Debian 12's) takes forwards when it starts only: give them with --fwd at launch"
    : 'it has no user network (--net user): forwards into bridged and defined networks are not done yet';
  throw new UsageError(`${what}: ${name}'s forwards cannot change while it runs: ${why}`);
}

/** A command of QEMU's monitor: it answers with text, which `ok` tells from a refusal. */
async function monitor(record: GuestRecord, command: string, ok: (answer: string) => boolean): Promise<void> {
  const client = await QmpClient.connect(qmpSocketPath(record.plan.runDir)).catch((error: unknown) => {
    throw new HostError(`cannot reach ${record.name}'s QEMU (its QMP socket): ${(error as Error).message}`, {
      cause: error,
    });
  });
  try {
    const answer = String((await client.execute('human-monitor-command', { 'command-line': command })) ?? '');
    if (!ok(answer.trim())) throw new HostError(`QEMU refused "${command}": ${answer.trim()}`);
  } finally {
    client.close();
  }
}

const described = (forward: ForwardInfo) =>
  `${forward.proto} ${forward.host}:${forward.port} -> guest port ${forward.guest_port}`;

export async function fwdAdd(context: ToolContext, name: string, spec: string) {
  const forward: Forward = parseForward(spec, 'fwd add');
  return withLock(context.runtimeDir, async () => {
    const { record, netdev } = userNetdev(context, name, 'fwd add');
    const port = forward.hostPort;
    const start = unprivilegedPortStart();
    if (port < start && !context.isRoot) {
      throw new UsageError(`fwd add: host port ${port} is privileged (below ${start}) and only root may listen on it`);
    }
    // Another guest of yours may hold the port without listening yet (a launch being made).
    const holder = listRecords(context.runtimeDir).find((other) => other.plan.resources.ports.includes(port));
    if (holder) throw new UsageError(`fwd add: host port ${port} is ${holder.name}'s already (qemu-script fwd ls)`);
    if (!(await isFree(port, forward.protocol))) {
      throw new UsageError(`fwd add: host port ${port} (${forward.protocol}) is in use on this host; choose another`);
    }
    const rule = `${forward.protocol}:${LOOPBACK}:${port}-:${forward.guestPort}`;
    // Silent when it is added.
    await monitor(record, `hostfwd_add ${netdev} ${rule}`, (answer) => answer === '');
    const added: ForwardInfo = { proto: forward.protocol, host: LOOPBACK, port, guest_port: forward.guestPort };
    record.plan.resources.forwards.push(added);
    record.plan.resources.ports.push(port);
    writeRecord(context.runtimeDir, record);
    return `Forward ${described(added)} added to ${name}\n`;
  });
}

/** `[tcp:|udp:]HOSTPORT`: the forward of that host port (TCP unless said). */
function parseHostPort(spec: string): { protocol: 'tcp' | 'udp'; port: number } {
  const match = /^(?:(tcp|udp):)?([^:]*)$/i.exec(spec);
  if (!match) throw new UsageError(`fwd rm: "${spec}" is not a host port (accepted: [tcp:|udp:]HOSTPORT, e.g. 8080)`);
  return { protocol: (match[1]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp', port: parsePort(match[2], 'fwd rm') };
}

export async function fwdRm(context: ToolContext, name: string, spec: string) {
  const { protocol, port } = parseHostPort(spec);
  return withLock(context.runtimeDir, async () => {
    const { record, netdev } = userNetdev(context, name, 'fwd rm');
    const { forwards } = record.plan.resources;
    const forward = forwards.find((entry) => entry.proto === protocol && entry.port === port);
    if (!forward) {
      const listed = forwards.map((entry) => `${entry.proto}:${entry.port}`).join(', ') || 'none';
      throw new UsageError(`fwd rm: ${name} has no ${protocol} forward on host port ${port} (it has: ${listed})`);
    }
    // "host forwarding rule for tcp:127.0.0.1:8080 removed" when it is.
    await monitor(record, `hostfwd_remove ${netdev} ${protocol}:${forward.host}:${port}`, (answer) =>
      answer.endsWith(' removed'),
    );
    record.plan.resources.forwards = forwards.filter((entry) => entry !== forward);
    const others = record.plan.resources.forwards.some((entry) => entry.port === port);
    if (!others) record.plan.resources.ports = record.plan.resources.ports.filter((held) => held !== port);
    writeRecord(context.runtimeDir, record);
    return `Forward ${described(forward)} removed from ${name}\n`;
  });
}

export function fwdLs(context: ToolContext, name: string | undefined, json: boolean): string {
  const records = listRecords(context.runtimeDir).filter((record) => name === undefined || record.name === name);
  if (name !== undefined && records.length === 0)
    throw new UsageError(`fwd ls: no guest named "${name}" (qemu-script ps)`);
  const rows = records.flatMap((record) =>
    record.plan.resources.forwards.map((forward) => ({ guest: record.name, ...forward })),
  );
  if (json) return jsonOutput({ version: 1, forwards: rows });
  if (rows.length === 0) return 'no forwards\n';
  const table = rows.map((row) => [row.guest, row.proto, `${row.host}:${row.port}`, String(row.guest_port)]);
  return renderTable(['GUEST', 'PROTO', 'HOST', 'GUEST PORT'], table);
}
