// The probe stage: everything a plan needs to know about this host, read (never changed) from /sys, /proc and
// the tool's files: interfaces and routes, disks, USB devices, KVM, networks and what runs on them.
import { closeSync, existsSync, openSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { FORMAT_PROBE_BYTES, detectDiskFormat } from './disk-format.ts';
import { bridgeAcl, canOpenReadWrite, canRead, readText } from './host-access.ts';
import { contains, formatAddress, parseAddress, parsePrefix } from '../net/ip.ts';
import { probeFirewall } from './firewall.ts';
import { readNetworks } from '../net/networks.ts';
import { configDir, registryDirFor, runtimeDirFor } from '../base/paths.ts';
import { probeSync } from '../base/runner.ts';
import { findSystemTool } from '../base/system-tools.ts';
import type { DiskFacts, DiskRequest, HostFacts, HostPrefix, InterfaceFacts, Settings } from '../base/types.ts';
import { knownKvm } from './kvm.ts';
import { currentNetns } from '../base/proc.ts';

/** Where the probe reads the host: tests point these at a fake tree. */
export interface HostRoots {
  sys: string;
  proc: string;
  /** `ip -j ARGS` (routes of every table, rules): what netlink says, for what /proc does not show. */
  ipJson?: (args: string[]) => string;
}

const REAL_ROOTS: HostRoots = { sys: '/sys', proc: '/proc' };

const realIpJson = (args: string[]) => probeSync([findSystemTool('ip') ?? 'ip', '-j', ...args]).stdout;

const read = (path: string): string | undefined => readText(path)?.trim();

/** net.ipv4.ip_unprivileged_port_start: below it only root may listen. */
export const unprivilegedPortStart = (proc = '/proc') =>
  Number(read(`${proc}/sys/net/ipv4/ip_unprivileged_port_start`) ?? 1024);

function list(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/**
 * The kernel's own link kinds (`ip -j -d link`: veth, bridge, macvlan, ...).
 * Sysfs cannot tell a veth whose peer sits in another namespace from other
 * virtual links; netlink can. Empty when `ip` is not there.
 */
function kernelLinkKinds(): Record<string, string> {
  try {
    const { stdout } = probeSync(['ip', '-j', '-d', 'link', 'show']);
    const links = JSON.parse(stdout) as Array<{ ifname: string; linkinfo?: { info_kind?: string } }>;
    return Object.fromEntries(
      links.flatMap((link) => (link.linkinfo?.info_kind ? [[link.ifname, link.linkinfo.info_kind]] : [])),
    );
  } catch {
    return {};
  }
}

/** Classifies a network interface from its sysfs directory (and its netlink kind when known). */
export function classifyInterface(dir: string, linkKind?: string): InterfaceFacts {
  const entries = new Set(list(dir));
  const lower = [...entries].find((entry) => entry.startsWith('lower_'))?.slice('lower_'.length);
  const devtype = /DEVTYPE=(\S+)/.exec(read(`${dir}/uevent`) ?? '')?.[1];
  const ether = read(`${dir}/type`) === '1';
  if (entries.has('bridge')) return { kind: 'bridge', linkKind: 'bridge' };
  if (entries.has('macvtap')) return { kind: 'macvtap', parent: lower, linkKind: 'macvtap' };
  if (entries.has('wireless') || entries.has('phy80211') || devtype === 'wlan')
    return { kind: 'wireless', linkKind: 'wlan' };
  if (entries.has('tun_flags')) return { kind: 'other', linkKind: 'tun/tap' };
  if (linkKind === 'veth' && ether) return { kind: 'veth', linkKind };
  if (lower && !devtype && ether) return { kind: 'macvlan', parent: lower, linkKind: 'macvlan' };
  if (devtype) return { kind: 'other', linkKind: devtype };
  let target = '';
  try {
    target = readlinkSync(dir);
  } catch {
    // a fake tree may hold plain directories
  }
  const virtual = target.includes('/virtual/') || !entries.has('device');
  if (!virtual && ether) return { kind: 'physical', linkKind: 'ether' };
  // A veth's iflink names its peer; ours stand in for a LAN cable to another namespace.
  if (virtual && ether && read(`${dir}/iflink`) !== read(`${dir}/ifindex`)) return { kind: 'veth', linkKind: 'veth' };
  return { kind: 'other', linkKind: ether ? 'virtual' : read(`${dir}/type`) === '772' ? 'loopback' : 'non-Ethernet' };
}

function probeInterfaces(
  roots: HostRoots,
  netlink: boolean,
): { interfaces: Record<string, InterfaceFacts>; macs: string[] } {
  const interfaces: Record<string, InterfaceFacts> = {};
  const macs: string[] = [];
  const kinds = netlink && roots === REAL_ROOTS ? kernelLinkKinds() : {};
  for (const name of list(`${roots.sys}/class/net`)) {
    const dir = `${roots.sys}/class/net/${name}`;
    const mtu = Number(read(`${dir}/mtu`));
    interfaces[name] = { ...classifyInterface(dir, kinds[name]), ...(mtu > 0 ? { mtu } : {}) };
    const mac = read(`${dir}/address`);
    if (mac && mac !== '00:00:00:00:00:00') macs.push(mac);
  }
  return { interfaces, macs };
}

/** The interface of the default route: the `dev` of the lowest-metric default, never a metric. */
export function defaultRouteFrom(procNetRoute: string, procIpv6Route = ''): string | undefined {
  const defaults = procNetRoute
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8 && fields[1] === '00000000' && fields[7] === '00000000')
    .sort((a, b) => Number(a[6]) - Number(b[6]));
  if (defaults.length > 0) return defaults[0][0];
  const v6 = procIpv6Route
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields.length >= 10 && /^0{32}$/.test(fields[0]) && fields[1] === '00' && fields[9] !== 'lo');
  return v6?.[9];
}

/** The interface of IPv6's default route (NAT66 leaves by it), from /proc/net/ipv6_route. */
export const defaultRoute6From = (procIpv6Route: string) => defaultRouteFrom('', procIpv6Route);

/** IPv6 is on for new interfaces here: not disabled at boot (no /proc/sys/net/ipv6) nor by sysctl. */
export const ipv6On = (roots: HostRoots = REAL_ROOTS) =>
  read(`${roots.proc}/sys/net/ipv6/conf/default/disable_ipv6`) === '0';

/** /proc/net/route writes addresses as little-endian hex. */
const routeWord = (hex: string) => Buffer.from(hex.padStart(8, '0'), 'hex').readUInt32LE(0);
const bitCount = (value: number) => value.toString(2).replace(/0/g, '').length;

/** IPv4 routes of the main table, from /proc/net/route (the default route included, as /0), and their gateways. */
export function routesFrom(procNetRoute: string): HostPrefix[] {
  return procNetRoute
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8)
    .flatMap((fields) => {
      const route: HostPrefix = {
        cidr: `${formatAddress(4, BigInt(routeWord(fields[1])))}/${bitCount(routeWord(fields[7]))}`,
        dev: fields[0],
        what: 'route',
      };
      const gateway = routeWord(fields[2]);
      return gateway === 0
        ? [route]
        : [route, { cidr: `${formatAddress(4, BigInt(gateway))}/32`, dev: fields[0], what: 'gateway' as const }];
    });
}

/** /proc's 32-hex-digit IPv6 address → its usual compressed form. */
const ipv6Hex = (hex: string) => formatAddress(6, BigInt(`0x${hex}`));

/** IPv6 addresses (/proc/net/if_inet6), routes and gateways (/proc/net/ipv6_route), loopback and multicast aside. */
export function ipv6PrefixesFrom(ifInet6: string, ipv6Route: string): HostPrefix[] {
  const lines = (text: string) => text.split('\n').map((line) => line.trim().split(/\s+/));
  const addresses = lines(ifInet6)
    .filter((fields) => fields.length >= 6 && fields[5] !== 'lo')
    .map((fields): HostPrefix => ({
      cidr: `${ipv6Hex(fields[0])}/${parseInt(fields[2], 16)}`,
      dev: fields[5],
      what: 'address',
    }));
  const routes = lines(ipv6Route)
    .filter((fields) => fields.length >= 10 && fields[9] !== 'lo' && !fields[0].startsWith('ff'))
    .flatMap((fields) => {
      const route: HostPrefix = {
        cidr: `${ipv6Hex(fields[0])}/${parseInt(fields[1], 16)}`,
        dev: fields[9],
        what: 'route',
      };
      return /^0+$/.test(fields[4])
        ? [route]
        : [route, { cidr: `${ipv6Hex(fields[4])}/128`, dev: fields[9], what: 'gateway' as const }];
    });
  return [...addresses, ...routes];
}

/** The host's own IPv4 addresses: the "/32 host LOCAL" leaves of /proc/net/fib_trie. */
export function localAddressesFrom(fibTrie: string): string[] {
  const found = new Set<string>();
  let leaf: string | undefined;
  for (const line of fibTrie.split('\n')) {
    const address = /\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line);
    if (address) leaf = address[1];
    else if (leaf && /^\s+\/32 host LOCAL/.test(line)) found.add(leaf);
  }
  return [...found];
}

/**
 * Every IPv4 address, route and gateway of this namespace but loopback's, read
 * from /proc (no `ip` forked): an address takes its prefix and interface from
 * the most specific route that holds it.
 */
export function prefixesFrom(procNetRoute: string, fibTrie: string): HostPrefix[] {
  const routes = routesFrom(procNetRoute).filter((route) => route.dev !== 'lo');
  const addresses = localAddressesFrom(fibTrie)
    .filter((address) => !address.startsWith('127.'))
    .map((address): HostPrefix => {
      const ip = parseAddress(address)!.value;
      const holder = routes
        .filter((route) => route.what === 'route')
        .map((route) => ({ route, prefix: parsePrefix(route.cidr)! }))
        .filter(({ prefix }) => prefix.bits > 0 && contains(prefix, ip))
        .sort((a, b) => b.prefix.bits - a.prefix.bits)[0];
      return {
        cidr: `${address}/${holder?.prefix.bits ?? 32}`,
        dev: holder?.route.dev ?? 'this host',
        what: 'address',
      };
    });
  return [...addresses, ...routes];
}

interface IpRoute {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  table?: string;
}

interface IpRule {
  priority?: number;
  src?: string;
  srclen?: number;
  dst?: string;
  dstlen?: number;
  table?: string;
}

const parsedJson = <T>(text: string): T[] => {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
};

/**
 * Routes of every table but `local` (the host's own addresses, read apart) and their gateways, from
 * `ip -j route show table all` of one family: a route in another table, with the rules that use it
 * (wg-quick, VPNs), takes its traffic as surely as one in main.
 */
export function tableRoutesFrom(json: string, family: 4 | 6): HostPrefix[] {
  const hostBits = family === 4 ? 32 : 128;
  return parsedJson<IpRoute>(json)
    .filter((route) => route.table !== 'local' && route.dst && route.dev !== 'lo')
    .flatMap((route) => {
      const table = route.table && route.table !== 'main' ? ` (table ${route.table})` : '';
      const dst = route.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : route.dst!;
      const cidr = dst.includes('/') ? dst : `${dst}/${hostBits}`;
      const dev = `${route.dev ?? route.type ?? 'nowhere'}${table}`;
      const gateway = route.gateway ? [{ cidr: `${route.gateway}/${hostBits}`, dev, what: 'gateway' as const }] : [];
      return [{ cidr, dev, what: 'route' as const }, ...gateway];
    });
}

/** The prefixes policy rules select traffic by (`ip -j rule show` of one family). */
export function rulePrefixesFrom(json: string): HostPrefix[] {
  return parsedJson<IpRule>(json).flatMap((rule) => {
    const where = `priority ${rule.priority ?? '?'}, table ${rule.table ?? '?'}`;
    return [
      [rule.src, rule.srclen],
      [rule.dst, rule.dstlen],
    ].flatMap(([address, bits]) =>
      typeof address === 'string' && address !== 'all' && typeof bits === 'number'
        ? [{ cidr: `${address}/${bits}`, dev: where, what: 'rule' as const }]
        : [],
    );
  });
}

/**
 * Every address of this namespace (from /proc, loopback's aside), every route of every table and
 * every policy rule's prefixes of both families (from `ip -j`, four reads).
 */
/** The first directory above DIR that others may not search, or undefined. */
function privateParent(dir: string): string | undefined {
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    try {
      if ((statSync(parent).mode & 0o001) === 0) return parent;
    } catch {
      // not made yet: the tool makes it searchable
    }
    if (parent === '/' || parent === '.') return undefined;
  }
}

export function probePrefixes(roots: HostRoots = REAL_ROOTS): HostPrefix[] {
  const proc = (name: string) => read(`${roots.proc}/net/${name}`) ?? '';
  const json = (...args: string[]) => (roots.ipJson ?? realIpJson)(args);
  const addresses = [
    ...prefixesFrom(proc('route'), proc('fib_trie')),
    ...ipv6PrefixesFrom(proc('if_inet6'), ''),
  ].filter((prefix) => prefix.what === 'address');
  return [
    ...addresses,
    ...tableRoutesFrom(json('-4', 'route', 'show', 'table', 'all'), 4),
    ...tableRoutesFrom(json('-6', 'route', 'show', 'table', 'all'), 6),
    ...rulePrefixesFrom(json('-4', 'rule', 'show')),
    ...rulePrefixesFrom(json('-6', 'rule', 'show')),
  ];
}

/** Every local port of /proc/net/{tcp,udp}[6] tables (any state). */
export function portsFrom(tables: string[]): number[] {
  const ports = new Set<number>();
  for (const table of tables) {
    for (const line of table.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const hex = local?.split(':')[1];
      if (hex) ports.add(parseInt(hex, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}

function readHead(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(FORMAT_PROBE_BYTES);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function isOpticalBlockDevice(roots: HostRoots, rdev: number): boolean {
  return read(`${roots.sys}/dev/block/${majorMinor(rdev)}/device/type`) === '5';
}

const majorMinor = (rdev: number) => `${Math.floor(rdev / 256) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;

/** What of the host uses a block device now: a mount of it or of a partition, or a holder (LVM, dm-crypt, md). */
function blockDeviceUse(roots: HostRoots, rdev: number, mountinfo: string): string | undefined {
  const dir = `${roots.sys}/dev/block/${majorMinor(rdev)}`;
  const holders = list(`${dir}/holders`);
  if (holders.length > 0) return `held by ${holders.join(', ')}`;
  const numbers = new Set([
    majorMinor(rdev),
    ...list(dir).flatMap((entry) =>
      existsSync(`${dir}/${entry}/partition`) ? [read(`${dir}/${entry}/dev`) ?? ''] : [],
    ),
  ]);
  const mount = mountinfo
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => numbers.has(fields[2]));
  return mount ? `mounted on ${mount[4]}` : undefined;
}

/** The first user id from 65533 down that no account of PASSWD has (root's companions run as it). */
export function unusedUid(passwd: string): number {
  const taken = new Set(passwd.split('\n').map((line) => Number(line.split(':')[2])));
  let uid = 65533;
  while (taken.has(uid) && uid > 60000) uid--;
  return uid;
}

export function probeDisk(path: string, cwd: string, roots: HostRoots = REAL_ROOTS): DiskFacts {
  const absolutePath = resolve(cwd, path);
  let stats;
  try {
    stats = statSync(absolutePath);
  } catch {
    return { exists: false, readable: false, absolutePath, blockDevice: false, format: 'unknown' };
  }
  const blockDevice = stats.isBlockDevice();
  if (!blockDevice && !stats.isFile()) {
    const what = stats.isDirectory() ? 'a directory' : 'neither a file nor a block device';
    return { exists: false, readable: false, absolutePath, blockDevice, format: 'unknown', detail: what };
  }
  const identity = blockDevice ? `block ${majorMinor(stats.rdev)}` : `${stats.dev}:${stats.ino}`;
  let head: Uint8Array | undefined;
  try {
    head = readHead(absolutePath);
  } catch {
    head = undefined;
  }
  if (blockDevice) {
    // Any block device is a raw disk to QEMU; optical when the drive is a ROM or holds ISO 9660.
    const optical =
      isOpticalBlockDevice(roots, stats.rdev) || (head !== undefined && detectDiskFormat(head).format === 'iso');
    const inUse = blockDeviceUse(roots, stats.rdev, read(`${roots.proc}/self/mountinfo`) ?? '');
    return {
      exists: true,
      readable: true,
      absolutePath,
      blockDevice,
      format: optical ? 'iso' : 'raw',
      identity,
      ...(inUse ? { inUse } : {}),
    };
  }
  if (!head) return { exists: true, readable: false, absolutePath, blockDevice, format: 'unknown', identity };
  return { exists: true, readable: true, absolutePath, blockDevice, ...detectDiskFormat(head), identity };
}

function probeUsb(roots: HostRoots): string[] {
  const base = `${roots.sys}/bus/usb/devices`;
  return list(base).flatMap((device) => {
    const vendor = read(`${base}/${device}/idVendor`);
    const product = read(`${base}/${device}/idProduct`);
    return vendor && product ? [`${vendor}:${product}`.toLowerCase()] : [];
  });
}

export interface ProbeInput {
  disks: DiskRequest[];
  /** A bridge may be joined or made: read the bridge helper's ACL. */
  bridges: boolean;
  /** --host-ip was given: the host's addresses and routes are read to check it (a defined network reads them too). */
  hostIp?: boolean;
  /** Names written with --net: when one is a defined network, root reads the host's firewall too. */
  netNames?: string[];
  /** A NIC depends on what kind of link a LAN interface is (bridged adapter, macvtap): ask netlink (forks `ip`). */
  linkKinds?: boolean;
  /** Facts the plan needs, read only then (unset: all). */
  wants?: { usb?: boolean; firmware?: boolean; kvm?: boolean; passt?: boolean };
  settings: Settings;
  cwd: string;
  env: Record<string, string | undefined>;
  selfCommand: string[];
  roots?: HostRoots;
}

/** Reads (never changes) everything the planner needs to know about this host. */
export function probeHost(input: ProbeInput): HostFacts {
  const roots = input.roots ?? REAL_ROOTS;
  const uid = process.getuid?.() ?? 0;
  const runtimeDir = runtimeDirFor(uid, input.env);
  const networks = readNetworks(configDir(uid, input.env));
  const realises = (input.netNames ?? []).some((name) => name in networks);
  const wants = input.wants ?? {};
  const { interfaces, macs } = probeInterfaces(roots, input.linkKinds ?? true);
  // --accel tcg asks nothing of KVM; otherwise whether it really runs guests (cached per boot).
  const kvm = wants.kvm === false ? { usable: false } : knownKvm(input.settings.qemuBinary, runtimeDir);
  const disks: Record<string, DiskFacts> = {};
  // An overlay is made at launch (its image was read when it was resolved): what it will be is known.
  for (const disk of input.disks) {
    const absolutePath = resolve(input.cwd, disk.path);
    disks[disk.path] = disk.overlay
      ? { exists: true, readable: true, absolutePath, blockDevice: false, format: 'qcow2' }
      : probeDisk(disk.path, input.cwd, roots);
  }
  const ipv6Routes = read(`${roots.proc}/net/ipv6_route`) ?? '';
  return {
    isRoot: uid === 0,
    uid,
    selfCommand: input.selfCommand,
    runtimeDir,
    registryDir: registryDirFor(uid, runtimeDir),
    netns: currentNetns(),
    registryPrivateParent: realises ? privateParent(registryDirFor(uid, runtimeDir)) : undefined,
    kvmUsable: kvm.usable,
    kvmWhy: kvm.why,
    kvmUnknown: 'unknown' in kvm ? kvm.unknown : undefined,
    vhostNetUsable: canOpenReadWrite(input.settings.vhostNetDevice),
    ipv6: ipv6On(roots),
    defaultRoute6Interface: defaultRoute6From(ipv6Routes),
    defaultRouteInterface: defaultRouteFrom(read(`${roots.proc}/net/route`) ?? '', ipv6Routes),
    interfaces,
    reservedInterfaces: [],
    toolBridges: [],
    // Ports are checked once a plan has picked them (port-check.ts).
    usedTcpPorts: [],
    unprivilegedPortStart: unprivilegedPortStart(roots.proc),
    usedMacs: macs,
    guestNames: [],
    disks,
    usbDevices: wants.usb === false ? [] : probeUsb(roots),
    firmwareReadable: wants.firmware !== false && canRead(input.settings.efiFirmware),
    networks,
    networksUp: [],
    // Only defined networks serve DHCP; only they and --host-ip put addresses on the host.
    dnsmasq: realises ? findSystemTool('dnsmasq') : undefined,
    passt: wants.passt ? findSystemTool('passt') : undefined,
    ...(wants.passt && uid === 0 ? { companionUid: unusedUid(read('/etc/passwd') ?? '') } : {}),
    prefixes: realises || input.hostIp ? probePrefixes(roots) : [],
    bridgeAcl: input.bridges ? bridgeAcl('') : undefined,
    firewall: realises && uid === 0 ? probeFirewall() : undefined,
  };
}
