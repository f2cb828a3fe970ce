// qemu-script fwd add, rm and ls: a running guest's forwards changed while it runs. On the user network QEMU
// adds and removes them itself (its monitor's hostfwd_add and hostfwd_remove, through QMP); on a defined
// network root adds a DNAT to the guest's address (a host action, like the launch's, undone with the guest).
// The guest's record is updated under the runtime lock, so ps, info, down and other launches see it at once.
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
import { LOOPBACK } from '../plan/net-common.ts';
import { EVERY_ADDRESS, memberListen, publicationActions } from '../plan/net-network.ts';
import { parseForward, parsePort } from '../plan/net-spec.ts';
import { formatAddress, parseAddress } from '../net/ip.ts';
import { QmpClient } from '../base/qmp.ts';
import { applyActions, applyContextOf, undoActions } from '../apply/apply.ts';
import { helperArgv, SUDO_HINT } from '../actions/privilege.ts';
import { run } from '../base/runner.ts';
import type { Forward, ForwardInfo, HostAction } from '../base/types.ts';

/**
 * Where a running guest's forwards change: its user-network NIC (QEMU's netdev), else its first NIC on a
 * defined network with DHCP (a DNAT to the address the network's server gave it, made by root).
 */
type Target =
  | { record: GuestRecord; netdev: string }
  | { record: GuestRecord; network: string; mac: string; nat: boolean; hostIp?: string };

function targetOf(context: ToolContext, name: string, what: string): Target {
  const record = readRecord(context.runtimeDir, name);
  if (!record || !isAlive(record.qemu))
    throw new UsageError(`${what}: no running guest named "${name}" (qemu-script ps)`);
  const nics = record.plan.resources.nics;
  const user = nics.find((nic) => nic.net === 'user');
  if (user) return { record, netdev: `nic${user.index}` };
  if (nics.some((nic) => nic.net === 'passt')) {
    throw new UsageError(
      `${what}: ${name}'s forwards cannot change while it runs: its passt (Debian 12's) takes forwards when it ` +
        'starts only: give them with --fwd at launch',
    );
  }
  const served = nics.find((nic) => nic.address.from === 'lease');
  if (!served || served.address.from !== 'lease') {
    throw new UsageError(
      `${what}: ${name} has no user network (--net user) nor a defined network with DHCP (hostonly, natnet): ` +
        'its addresses are not known to the host',
    );
  }
  const network = served.address.network;
  const nat = record.plan.actions.some(
    (action) => action.kind === 'firewall' && action.network === network && action.nat,
  );
  const server = record.plan.actions.find((action) => action.kind === 'dhcp' && action.network === network);
  const hostIp = server?.kind === 'dhcp' ? server.config.hostIp : undefined;
  return { record, network, mac: served.mac, nat, hostIp };
}

/** A change made for a running guest: held, like the launch's, by what holds the guest (its waiter). */
async function applyForGuest(record: GuestRecord, actions: HostAction[]): Promise<void> {
  const context = applyContextOf(record);
  await applyActions(actions, context);
  if (context.isRoot) return;
  await run(helperArgv(context.selfCommand, ['hold', record.name, String(context.holder.pid)]), {
    verbose: context.verbose,
    hint: SUDO_HINT,
  }).catch(async (error: unknown) => {
    await undoActions(actions, context);
    throw error;
  });
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

/** --listen ADDR: one IPv4 address (the host's own is checked by root), never loopback's. */
function parseListen(text: string): string {
  const address = parseAddress(text);
  if (address?.family !== 4 || text.startsWith('127.'))
    throw new UsageError(`fwd add --listen: "${text}" is not an IPv4 address of this host other than loopback's`);
  return formatAddress(4, address.value);
}

export async function fwdAdd(context: ToolContext, name: string, spec: string, listenText?: string) {
  const forward: Forward = parseForward(spec, 'fwd add');
  const listenAsked = listenText === undefined ? undefined : parseListen(listenText);
  const port = forward.hostPort;
  const reserved = await withLock(context.runtimeDir, async () => {
    const target = targetOf(context, name, 'fwd add');
    const { record } = target;
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
    if ('netdev' in target) {
      if (listenAsked) {
        throw new UsageError(
          `fwd add --listen: ${name}'s forwards go to its user network, which listens on ${LOOPBACK} alone`,
        );
      }
      const rule = `${forward.protocol}:${LOOPBACK}:${port}-:${forward.guestPort}`;
      // Silent when it is added.
      await monitor(record, `hostfwd_add ${target.netdev} ${rule}`, (answer) => answer === '');
      return recorded(target, [], LOOPBACK);
    }
    // Root's changes take the registry's lock (root's is this one): the port is held meanwhile.
    record.plan.resources.ports.push(port);
    writeRecord(context.runtimeDir, record);
    return target;
  });
  if (typeof reserved === 'string') return reserved;
  const { record, network, mac, nat, hostIp } = reserved;
  // A member's forward listens on the network's own address unless they named one root granted.
  const listen = listenAsked ?? (context.isRoot || !hostIp ? undefined : memberListen(hostIp));
  const forwarding = record.plan.actions.some((action) => action.kind === 'forward' && action.network === network);
  const actions = publicationActions({ network, guest: record.name, mac, nat }, { ...forward, listen }, forwarding);
  try {
    await applyForGuest(record, actions);
  } catch (error) {
    await withLock(context.runtimeDir, () => update(context, name, (latest) => drop(latest, port)));
    throw error;
  }
  return withLock(context.runtimeDir, () => recorded(reserved, actions, listen ?? EVERY_ADDRESS));

  /** The guest's record with the forward added, as the record on disk is now. */
  function recorded(target: Target, made: HostAction[], host: string): string {
    const added: ForwardInfo = { proto: forward.protocol, host, port, guest_port: forward.guestPort };
    update(
      context,
      name,
      (latest) => {
        latest.plan.actions.push(...made);
        latest.plan.resources.forwards.push(added);
        if (!latest.plan.resources.ports.includes(port)) latest.plan.resources.ports.push(port);
      },
      target.record,
    );
    return `Forward ${described(added)} added to ${name}\n`;
  }
}

/** Changes the guest's record as it is on disk now (or FALLBACK, read under this lock already). */
function update(context: ToolContext, name: string, change: (record: GuestRecord) => void, fallback?: GuestRecord) {
  const latest = readRecord(context.runtimeDir, name) ?? fallback;
  if (!latest) return;
  change(latest);
  writeRecord(context.runtimeDir, latest);
}

/** The host port off the record's ports, unless another of its forwards uses it. */
function drop(record: GuestRecord, port: number) {
  const { resources } = record.plan;
  if (!resources.forwards.some((entry) => entry.port === port))
    resources.ports = resources.ports.filter((held) => held !== port);
}

/** `[tcp:|udp:]HOSTPORT`: the forward of that host port (TCP unless said). */
function parseHostPort(spec: string): { protocol: 'tcp' | 'udp'; port: number } {
  const match = /^(?:(tcp|udp):)?([^:]*)$/i.exec(spec);
  if (!match) throw new UsageError(`fwd rm: "${spec}" is not a host port (accepted: [tcp:|udp:]HOSTPORT, e.g. 8080)`);
  return { protocol: (match[1]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp', port: parsePort(match[2], 'fwd rm') };
}

export async function fwdRm(context: ToolContext, name: string, spec: string) {
  const { protocol, port } = parseHostPort(spec);
  const found = await withLock(context.runtimeDir, async () => {
    const target = targetOf(context, name, 'fwd rm');
    const { record } = target;
    const { forwards } = record.plan.resources;
    const forward = forwards.find((entry) => entry.proto === protocol && entry.port === port);
    if (!forward) {
      const listed = forwards.map((entry) => `${entry.proto}:${entry.port}`).join(', ') || 'none';
      throw new UsageError(`fwd rm: ${name} has no ${protocol} forward on host port ${port} (it has: ${listed})`);
    }
    if ('netdev' in target) {
      // "host forwarding rule for tcp:127.0.0.1:8080 removed" when it is.
      await monitor(record, `hostfwd_remove ${target.netdev} ${protocol}:${forward.host}:${port}`, (answer) =>
        answer.endsWith(' removed'),
      );
      return forget(forward);
    }
    return { record, forward };
  });
  if (typeof found === 'string') return found;
  // Root's changes take the registry's lock (root's is this one). Forwarding stays on until the guest is
  // gone: another forward of its may need it.
  const failures = await undoActions(found.record.plan.actions.filter(made), applyContextOf(found.record));
  if (failures.length > 0) throw new HostError(`fwd rm: ${failures.join('; ')}`);
  return withLock(context.runtimeDir, () => forget(found.forward));

  /** The host action that made this forward (a forward into a network; none on the user network). */
  function made(action: HostAction): boolean {
    return action.kind === 'publish' && action.protocol === protocol && action.hostPort === port;
  }

  /** The record without the forward and the host action that made it, as it is on disk now. */
  function forget(forward: ForwardInfo): string {
    update(context, name, (latest) => {
      latest.plan.actions = latest.plan.actions.filter((action) => !made(action));
      latest.plan.resources.forwards = latest.plan.resources.forwards.filter(
        (entry) => !(entry.proto === forward.proto && entry.port === forward.port),
      );
      drop(latest, port);
    });
    return `Forward ${described(forward)} removed from ${name}\n`;
  }
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
