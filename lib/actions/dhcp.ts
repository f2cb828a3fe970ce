// The DHCP/DNS server of a defined network: one dnsmasq bound to the network's
// bridge alone, started with the network's first NIC and stopped with its last.
// Every NIC of the tool's guests is registered with it (MAC → stable address,
// address → guest name) before QEMU starts, so names resolve whatever the
// guest's DHCP client sends.
import { chmodSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { HostError } from '../base/errors.ts';
import { hostStep } from '../base/fault.ts';
import {
  eui64Address,
  formatAddress,
  netmask,
  networkOf,
  parseAddress,
  parsePrefix,
  stableAddress,
} from '../net/ip.ts';
import { ipv6On } from '../probe/probe.ts';
import { guestNameProblem, NETWORK_NAME } from '../base/names.ts';
import { dhcpConfigOf, fixedAddressProblem, readNetworks, realisedHere } from '../net/networks.ts';
import { NETWORK_FILES, networkRunDir } from '../base/paths.ts';
import { currentNetns, isAlive, processId, type ProcessId } from '../base/proc.ts';
import { dropResource, findResource, recordIntent, type ResourceRecord, type ResourceUser } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import { findSystemTool, INSTALL_HINT } from '../base/system-tools.ts';
import type { DhcpConfig, HostAction } from '../base/types.ts';
import {
  arity,
  checked,
  checkedMac,
  GUEST_NAME,
  heldBridge,
  makeRecorded,
  refuse,
  type ActionKind,
  type RootContext,
} from './kind.ts';
import { builtin } from '../base/builtin.ts';
import { publish } from './publish.ts';
import { dnsAnswers, dnsQuery } from '../net/dns.ts';

type DhcpAction = Extract<HostAction, { kind: 'dhcp' }>;

const LEASE_TIME = '12h';
/** DHCPv6's dynamic addresses, as offsets in the /64: clear of the host's ::1 and of SLAAC's EUI-64 ones. */
const DHCP6_RANGE = { start: 0x1000n, end: 0x1fffn };
const RA_INTERVAL = 30;
const STOP_WAIT_MS = 3000;
/** How long a registration may take to be answered (dnsmasq re-reads its files on SIGHUP). */
const ANSWER_WAIT_MS = 5000;

const file = (dir: string, name: keyof typeof NETWORK_FILES) => `${dir}/${NETWORK_FILES[name]}`;

/** The server's command line: everything from the network's definition, nothing from the host's dnsmasq.conf. */
function serverArgv(binary: string, action: Pick<DhcpAction, 'config' | 'dir'>): string[] {
  const { config, dir } = action;
  return [
    binary,
    '--conf-file=/dev/null',
    `--pid-file=${file(dir, 'pid')}`,
    // This bridge alone: no DHCP or DNS answered on any other interface.
    `--interface=${config.bridge}`,
    '--except-interface=lo',
    '--bind-interfaces',
    `--dhcp-range=${config.rangeStart},${config.rangeEnd},${netmask(config.prefix)},${LEASE_TIME}`,
    ...(config.ipv6 ? ipv6Argv(config.bridge, config.ipv6) : []),
    `--dhcp-leasefile=${file(dir, 'leases')}`,
    `--dhcp-hostsfile=${file(dir, 'hosts')}`,
    `--addn-hosts=${file(dir, 'names')}`,
    // Names come from the tool's registrations only: not the host's /etc/hosts, not what clients claim.
    '--no-hosts',
    '--dhcp-ignore-names',
    '--dhcp-authoritative',
    // An empty router option sends none: a host-only network is no way out.
    config.router ? `--dhcp-option=option:router,${config.router}` : '--dhcp-option=option:router',
    // NAME and NAME.DOMAIN answer; DOMAIN is the guests' search domain and never asked of the host's resolvers.
    `--domain=${config.domain}`,
    '--expand-hosts',
    // A host-only network answers its own names only: unknown ones are NXDOMAIN, not forwarded.
    ...(config.upstreamDns ? [`--local=/${config.domain}/`] : ['--no-resolv', '--local=/#/']),
  ];
}

/**
 * IPv6: router advertisements with the prefix for SLAAC (a default router only where the network leads out)
 * and stateful DHCPv6 from a range, for clients that ask; a registered NIC is given its SLAAC address there too.
 */
function ipv6Argv(bridge: string, ipv6: NonNullable<DhcpConfig['ipv6']>): string[] {
  const network = parsePrefix(ipv6.prefix)!;
  const start = formatAddress(6, networkOf(network) + DHCP6_RANGE.start);
  const end = formatAddress(6, networkOf(network) + DHCP6_RANGE.end);
  return [
    '--enable-ra',
    `--dhcp-range=${start},${end},slaac,64,${LEASE_TIME}`,
    // Interval, then the router lifetime: 0 tells guests the host is no way out.
    `--ra-param=${bridge},${RA_INTERVAL}${ipv6.router ? '' : ',0'}`,
  ];
}

/** What the server reads on start and on SIGHUP: MAC → addresses, addresses → name. */
function writeRegistrations(dir: string, users: ResourceUser[]): void {
  const registered = users.filter((user) => user.mac && user.ip);
  const hosts = registered.map((user) => `${[user.mac, user.ip, ...(user.ip6 ? [`[${user.ip6}]`] : [])].join(',')}\n`);
  const names = registered.flatMap((user) =>
    [user.ip, ...(user.ip6 ? [user.ip6] : [])].map((ip) => `${ip} ${user.guest}\n`),
  );
  writeFileSync(file(dir, 'hosts'), hosts.join(''), { mode: 0o644 });
  writeFileSync(file(dir, 'names'), names.join(''), { mode: 0o644 });
}

/**
 * dnsmasq drops to an unprivileged user and re-reads its files as that user:
 * every directory on the way must let others through (the registry's own may
 * have been made private).
 */
function makeServerDir(registryDir: string, dir: string): void {
  const mode = statSync(registryDir).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) chmodSync(registryDir, mode | 0o011);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(`${registryDir}/net`, 0o755);
}

/** The server's process, when it runs: as recorded, else from its pidfile if that names our dnsmasq. */
function serverProcess(record: ResourceRecord): ProcessId | undefined {
  const recorded = record.data.server as ProcessId | undefined;
  if (recorded) return isAlive(recorded) ? recorded : undefined;
  const pidfile = file(String(record.data.dir), 'pid');
  try {
    const pid = Number(readFileSync(pidfile, 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(`--pid-file=${pidfile}`) ? processId(pid) : undefined;
  } catch {
    return undefined;
  }
}

async function stopServer(server: ProcessId): Promise<void> {
  process.kill(server.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_WAIT_MS;
  while (isAlive(server) && Date.now() < deadline) await sleep(20);
  if (isAlive(server)) process.kill(server.pid, 'SIGKILL');
}

async function startServer(action: DhcpAction, record: ResourceRecord, context: RootContext): Promise<void> {
  const binary = findSystemTool('dnsmasq');
  if (!binary)
    throw new HostError(
      `network ${action.network} needs dnsmasq for DHCP, and it is not installed: ${INSTALL_HINT.dnsmasq}`,
    );
  // dnsmasq returns once it serves (or has failed): its own daemon pipe.
  await run(serverArgv(binary, action), {
    verbose: context.verbose,
    hint: `the DHCP/DNS server of network ${action.network} would not start`,
  });
  const server = serverProcess(record);
  if (!server)
    throw new HostError(`network ${action.network}: dnsmasq started but left no usable ${file(action.dir, 'pid')}`);
  record.data.server = server;
}

/** One question to the server at HOST: the addresses it answers for NAME within WAIT_MS, or []. */
async function askServer(host: string, name: string, waitMs: number): Promise<string[]> {
  const dgram = await builtin<typeof import('node:dgram')>('node:dgram');
  const id = Math.floor(Math.random() * 0xffff);
  const socket = dgram.createSocket('udp4');
  try {
    return await new Promise<string[]>((resolve) => {
      const timer = setTimeout(() => resolve([]), waitMs);
      socket.on('message', (packet: Buffer) => {
        const found = dnsAnswers(packet, id);
        if (found.length === 0) return;
        clearTimeout(timer);
        resolve(found);
      });
      socket.on('error', () => resolve([]));
      socket.send(dnsQuery(id, name), 53, host);
    });
  } finally {
    socket.close();
  }
}

/**
 * The server answers the guest's name with its address before QEMU starts: one that cannot read its
 * files (a runtime directory inside a private one: dnsmasq re-reads them as its own user) is caught here,
 * not when the guest finds no lease.
 */
async function checkAnswers(action: DhcpAction, ip: string): Promise<void> {
  const deadline = Date.now() + ANSWER_WAIT_MS;
  while (Date.now() < deadline) {
    if ((await askServer(action.config.hostIp, action.guest, 300)).includes(ip)) return;
    await sleep(100);
  }
  throw new HostError(
    `network ${action.network}: its DHCP/DNS server does not answer for ${action.guest} (${ip}) once registered; ` +
      `can its user read ${action.dir}?`,
  );
}

/** The NIC's address: the fixed one asked for, or stable for its MAC; never one another NIC or the host holds. */
function addressFor(action: DhcpAction, others: ResourceUser[]): string {
  if (action.ip !== undefined) {
    const holder = others.find((other) => other.ip === action.ip);
    if (holder)
      throw refuse(`${action.ip} on ${action.network} is taken by ${holder.guest}; give ${action.guest} another`);
    return action.ip;
  }
  const value = (text: string | undefined) => parseAddress(text ?? '')?.value ?? -1n;
  const taken = new Set([value(action.config.hostIp), ...others.map((user) => value(user.ip))]);
  const range = { start: value(action.config.rangeStart), end: value(action.config.rangeEnd) };
  const address = stableAddress(range, action.mac, taken);
  if (address === undefined)
    throw new HostError(
      `network ${action.network} has no free address left in ${action.config.rangeStart}-${action.config.rangeEnd}`,
    );
  return formatAddress(4, address);
}

/**
 * A host port forwarded into the network belongs to its guest's registration: once that guest has none left
 * (dhcp-del, gc, the guest's end), the forward goes too, and never reaches the next guest given that address.
 */
async function dropUnregisteredForwards(record: ResourceRecord, context: RootContext): Promise<void> {
  const registered = (user: ResourceUser) =>
    record.users.some((entry) => entry.uid === user.uid && entry.guest === user.guest);
  const forwards = context.tx.registry.resources.filter(
    (entry) => entry.kind === 'publish' && entry.netns === record.netns && entry.data.network === record.name,
  );
  for (const entry of forwards.filter((each) => !each.users.some(registered))) {
    await publish.destroy(entry, { ...context, here: entry.netns === context.netns });
    dropResource(context.tx.registry, entry);
  }
}

export const dhcp: ActionKind<DhcpAction> = {
  makesInterface: false,

  key: (action) => action.network,

  show: (action) => ({
    apply: [
      { argv: serverArgv('dnsmasq', action), note: "with the network's first guest" },
      {
        argv: [],
        note:
          `${action.mac} → ${
            action.ip ?? `a stable address in ${action.config.rangeStart}-${action.config.rangeEnd}`
          }` +
          `${action.config.ipv6 ? ' and its SLAAC address in ' + action.config.ipv6.prefix : ''}, ` +
          `named ${action.guest}, in ${file(action.dir, 'hosts')} and ${file(action.dir, 'names')}`,
      },
    ],
    undo: [
      { argv: ['pkill', '-F', file(action.dir, 'pid')], note: "with the network's last guest" },
      { argv: ['rm', '-rf', action.dir] },
    ],
  }),

  request: (action) => [action.network, action.mac, action.guest, ...(action.ip ? [action.ip] : [])],

  fromRequest(words, caller) {
    arity(words, 3, 4, 'dhcp-add takes NETWORK MAC GUEST [ADDRESS]');
    const name = checked(words[0], NETWORK_NAME, 'network name');
    const network = readNetworks(caller.config)[name];
    if (!network) throw refuse(`no network ${name} is defined (see qemu-script net ls)`);
    if (!network.dhcp) throw refuse(`network ${name} is defined without DHCP`);
    const mac = checkedMac(words[1]);
    const guest = checked(words[2], GUEST_NAME, 'guest name');
    // The name is served on the network's DNS: never one that would answer for something else.
    const problem = guestNameProblem(guest, hostname());
    if (problem) throw refuse(`the guest name ${guest} ${problem}`);
    // A fixed address: one of the network's own, as root defined it.
    const ip = words[3];
    const fixed = ip === undefined ? undefined : fixedAddressProblem(network, ip);
    if (fixed) throw refuse(fixed);
    return {
      kind: 'dhcp',
      network: name,
      mac,
      guest,
      config: dhcpConfigOf(realisedHere(network, ipv6On())),
      dir: networkRunDir(caller.registryDir, currentNetns(), name),
      ...(ip === undefined ? {} : { ip }),
    };
  },

  async acquire(action, user, context) {
    const { tx, netns } = context;
    heldBridge(context, user, action.network, action.guest);
    const existing = findResource(tx.registry, 'dhcp', action.network, netns);
    const server = existing && serverProcess(existing);
    // A MAC is one user's: another's registration is never taken over (their name and address).
    const holder = existing?.users.find((other) => other.mac === action.mac && other.uid !== user.uid);
    if (holder) throw refuse(`${action.mac} is registered on ${action.network} by another user's guest`);
    // A name is one guest's on a network's DNS; other networks, and other users' guests elsewhere, do not matter.
    const named = existing?.users.find((other) => other.guest === action.guest && other.uid !== user.uid);
    if (named) throw refuse(`the name ${action.guest} is taken on ${action.network} by another user's guest`);
    const others = (existing?.users ?? []).filter((other) => other.mac !== action.mac);
    const ipv6 = action.config.ipv6;
    const mine: ResourceUser = {
      ...user,
      mac: action.mac,
      ip: addressFor(action, others),
      ...(ipv6 ? { ip6: formatAddress(6, eui64Address(parsePrefix(ipv6.prefix)!, action.mac)) } : {}),
    };
    if (existing && server) {
      existing.users = [...others, mine];
      writeRegistrations(action.dir, existing.users);
      process.kill(server.pid, 'SIGHUP');
      await checkAnswers(action, mine.ip!);
      return `joined ${mine.ip}`;
    }
    if (existing) {
      // The server died or never came up: start afresh, keeping the registrations.
      await dhcp.destroy(existing, { ...context, here: true });
      dropResource(tx.registry, existing);
    }
    const record = recordIntent(tx, {
      kind: 'dhcp',
      name: action.network,
      netns,
      creator: user.uid,
      users: [...others, mine],
      data: { dir: action.dir },
    });
    await makeRecorded(
      context,
      record,
      async () => {
        makeServerDir(context.registryDir, action.dir);
        writeRegistrations(action.dir, record.users);
        await startServer(action, record, context);
        await checkAnswers(action, mine.ip!);
      },
      () => dhcp.destroy(record, { ...context, here: true }),
    );
    return `started ${mine.ip}`;
  },

  async left(record, context) {
    await dropUnregisteredForwards(record, context);
    // Only a running server has registrations to forget; a dead one is restarted or removed.
    const server = serverProcess(record);
    if (!server) return;
    writeRegistrations(String(record.data.dir), record.users);
    process.kill(server.pid, 'SIGHUP');
  },

  async destroy(record) {
    const server = serverProcess(record);
    if (server) {
      await stopServer(server);
      hostStep();
    }
    if (typeof record.data.dir === 'string') {
      rmSync(record.data.dir, { recursive: true, force: true });
      // The namespace's directory of servers goes with its last one.
      try {
        rmdirSync(dirname(record.data.dir));
      } catch {
        // another network of the namespace is up, or it is gone already
      }
    }
  },
};
