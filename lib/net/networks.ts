// Defined networks (README: "Defined networks"): built-ins, the root-owned definition files, and
// the checks a new definition must pass. Everything but the file I/O is pure.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { UsageError } from '../base/errors.ts';
import { describePrefix, prefixClash } from './host-address.ts';
import { DNS_DOMAIN, INTERFACE_NAME, NETWORK_NAME } from '../base/names.ts';
import {
  contains,
  dhcpRange,
  formatAddress,
  formatPrefix,
  ipFamily,
  isPrivateSpace,
  lastOf,
  networkOf,
  parseAddress,
  ulaPrefixOf,
  parsePrefix,
  prefixesOverlap,
  type Prefix,
} from './ip.ts';
import { networkDefinitionPath, networksDir } from '../base/paths.ts';
import type { DhcpConfig, HostPrefix, NetworkDef, VxlanDef } from '../base/types.ts';

/** An IPv4 subnet or address as written, or undefined (defined networks' IPv4 side). */
const subnet4 = (text: string) => (parsePrefix(text)?.family === 4 ? parsePrefix(text) : undefined);
const address4 = (text: string) => (parseAddress(text)?.family === 4 ? parseAddress(text)!.value : undefined);
const overlapping = (a: string, b: Prefix) => prefixesOverlap(parsePrefix(a)!, b);

// VirtualBox's first host-only network, and its NAT network's neighbour. Their IPv6 subnets are
// ulaPrefixOf(name) written out, so that no launch hashes them (test/networks.test.ts checks each).
const BUILTINS: Readonly<Record<string, NetworkDef>> = {
  hostonly: {
    name: 'hostonly',
    subnet: '192.168.56.0/24',
    hostIp: '192.168.56.1',
    subnet6: 'fdf2:c08f:a5a0::/64',
    dhcp: true,
    nat: false,
    builtin: true,
  },
  natnet: {
    name: 'natnet',
    subnet: '192.168.57.0/24',
    hostIp: '192.168.57.1',
    subnet6: 'fdc5:5f52:88f5::/64',
    dhcp: true,
    nat: true,
    builtin: true,
  },
};

/** The networks every host has. */
export const builtinNetworks = (): Readonly<Record<string, NetworkDef>> => BUILTINS;

/** An IPv6 subnet a network may have: a /64 (SLAAC's size) of unique local space. */
const subnet6Of = (text: string) => {
  const prefix = parsePrefix(text);
  return prefix?.family === 6 && prefix.bits === 64 && isPrivateSpace(prefix) ? prefix : undefined;
};

/** Words --net already gives a meaning, and the tool's own interface patterns: never network names. */
const RESERVED = /^(user|bridge|none|nat|bridged|internal|host-only|u|p|vmnet\d+|macvtap\d+|tap\d+|mcast|br|lo)$/;

/** Prefix lengths a defined network may have: room for guests, no swallowing of whole private ranges. */
const MIN_PREFIX = 16;
const MAX_PREFIX = 30;

/** A definition file's tunnel, if it has a valid one; a file with an invalid one defines nothing. */
function vxlanFromFile(raw: unknown): VxlanDef | undefined | false {
  if (raw === undefined) return undefined;
  const value = raw as Partial<Record<keyof VxlanDef, unknown>>;
  const vni = Number(value.vni);
  const port = Number(value.port ?? VXLAN_PORT);
  const remotes = Array.isArray(value.remotes) ? value.remotes.map(String) : [];
  const ok =
    Number.isInteger(vni) &&
    vni >= 1 &&
    vni <= MAX_VNI &&
    Number.isInteger(port) &&
    port >= 1 &&
    port <= 65535 &&
    remotes.every((remote) => ipFamily(remote) !== 0) &&
    (remotes.length > 0 || typeof value.group === 'string');
  if (!ok) return false;
  return {
    vni,
    remotes,
    port,
    ...(typeof value.dev === 'string' && INTERFACE_NAME.test(value.dev) ? { dev: value.dev } : {}),
    ...(typeof value.group === 'string' && ipFamily(value.group) ? { group: value.group } : {}),
  };
}

function fromFile(name: string, text: string): NetworkDef | undefined {
  try {
    const raw = JSON.parse(text) as Partial<Record<keyof NetworkDef, unknown>>;
    const subnet = typeof raw.subnet === 'string' ? subnet4(raw.subnet) : undefined;
    const host = typeof raw.hostIp === 'string' ? address4(raw.hostIp) : undefined;
    const vxlan = vxlanFromFile(raw.vxlan);
    // Files written before IPv6 have no subnet6: they get the default one; null is --no-ipv6.
    const subnet6 =
      raw.subnet6 === null
        ? null
        : typeof raw.subnet6 === 'string'
          ? subnet6Of(raw.subnet6)
          : parsePrefix(ulaPrefixOf(name));
    if (!NETWORK_NAME.test(name) || !subnet || host === undefined || !contains(subnet, host) || vxlan === false)
      return undefined;
    if (subnet6 === undefined) return undefined;
    const domain = typeof raw.domain === 'string' && DNS_DOMAIN.test(raw.domain) ? raw.domain : undefined;
    if (raw.domain !== undefined && domain === undefined) return undefined;
    return {
      name,
      subnet: formatPrefix(subnet),
      hostIp: formatAddress(4, host),
      ...(subnet6 ? { subnet6: formatPrefix(subnet6) } : {}),
      dhcp: raw.dhcp === true,
      nat: raw.nat === true,
      builtin: false,
      ...(vxlan ? { vxlan } : {}),
      ...(domain && domain !== name ? { domain } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Every defined network: the built-ins and the valid files of CONFIG/networks (an invalid file defines nothing). */
export function readNetworks(config: string): Record<string, NetworkDef> {
  const found: Record<string, NetworkDef> = { ...builtinNetworks() };
  let files: string[] = [];
  try {
    files = readdirSync(networksDir(config)).filter((file) => file.endsWith('.json'));
  } catch {
    return found;
  }
  for (const file of files) {
    const name = file.slice(0, -'.json'.length);
    if (name in builtinNetworks()) continue;
    let text: string;
    try {
      text = readFileSync(`${networksDir(config)}/${file}`, 'utf8');
    } catch {
      continue;
    }
    const definition = fromFile(name, text);
    if (definition) found[name] = definition;
  }
  return found;
}

export function writeNetwork(config: string, definition: NetworkDef): string {
  const path = networkDefinitionPath(config, definition.name);
  mkdirSync(networksDir(config), { recursive: true, mode: 0o755 });
  const { subnet, hostIp, dhcp, nat, vxlan, domain } = definition;
  const temporary = `${path}.new`;
  const fields = {
    subnet,
    hostIp,
    subnet6: definition.subnet6 ?? null,
    dhcp,
    nat,
    ...(vxlan ? { vxlan } : {}),
    ...(domain ? { domain } : {}),
  };
  writeFileSync(temporary, `${JSON.stringify(fields, null, 1)}\n`, { mode: 0o644 });
  renameSync(temporary, path);
  return path;
}

export function removeNetwork(config: string, name: string): void {
  rmSync(networkDefinitionPath(config, name), { force: true });
}

export const definitionExists = (config: string, name: string) => existsSync(networkDefinitionPath(config, name));

export interface NetworkRequest {
  name: string;
  subnet?: string;
  hostIp?: string;
  /** --subnet6 as written; undefined: the name's own ULA. */
  subnet6?: string;
  /** false: --no-ipv6. */
  ipv6: boolean;
  dhcp: boolean;
  nat: boolean;
  /** --vxlan VNI and its companions, as written. */
  vxlan?: { vni: string; remotes?: string; dev?: string; port?: string; group?: string };
  /** --domain as written; undefined: the network's name. */
  domain?: string;
}

/** What a new definition must not collide with. */
export interface NetworkSurroundings {
  networks: Record<string, NetworkDef>;
  /** Interface names present now, and which of them the tool made. */
  interfaces: string[];
  toolInterfaces: string[];
  prefixes: HostPrefix[];
  /** Local UDP ports some socket holds now (a VXLAN port must be free, or the tool's own tunnels'). */
  usedUdpPorts: number[];
  /** The public suffixes (Debian's publicsuffix list: com, dev, co.uk ...); undefined: none read (FALLBACK). */
  publicSuffixes?: ReadonlySet<string>;
}

/** Names with a meaning of their own in DNS (RFC 6761, 6762, 7686, 8375): never a network's whole domain. */
const SPECIAL_DOMAINS = ['local', 'localhost', 'invalid', 'onion', 'arpa', 'home.arpa', 'example'];
/** Without the public suffix list: the most used generic TLDs, and every two letters (a country's). */
const FALLBACK_PUBLIC = ['com', 'net', 'org', 'info', 'biz', 'dev', 'app', 'io', 'ai', 'xyz', 'online', 'site', 'shop'];

/**
 * Why DOMAIN may not be a network's (undefined: it may): it would be a public suffix or a special-use name, so the
 * host would send a whole public zone (all of .dev) to the network's DNS server, which answers guests' names there.
 */
function publicDomainProblem(domain: string, suffixes: ReadonlySet<string> | undefined): string | undefined {
  if (SPECIAL_DOMAINS.includes(domain)) return 'a special-use DNS name';
  const isPublic = suffixes ? suffixes.has(domain) : FALLBACK_PUBLIC.includes(domain) || /^[a-z]{2}$/.test(domain);
  return isPublic ? 'a public DNS suffix (its names are the internet\'s)' : undefined;
}

const VXLAN_PORT = 4789;
const MAX_VNI = 16777215;

/** A unicast address a tunnel may be sent to: not unspecified, loopback, multicast or broadcast. */
function unicastRemote(text: string): boolean {
  const family = ipFamily(text);
  if (family === 4) {
    const ip = address4(text)!;
    const first = ip >> 24n;
    return ip !== 0n && ip !== 0xffffffffn && first !== 127n && (first < 224n || first > 239n);
  }
  return family === 6 && !/^(::1?|ff[0-9a-f]{2}:.*)$/i.test(text);
}

/** Pure: the tunnel a `net create --vxlan` asks for, checked. */
function validateVxlan(request: NonNullable<NetworkRequest['vxlan']>, around: NetworkSurroundings): VxlanDef {
  const vni = /^\d{1,8}$/.test(request.vni) ? Number(request.vni) : NaN;
  if (!(vni >= 1 && vni <= MAX_VNI))
    throw new UsageError(`net create --vxlan: "${request.vni}" is not a VNI (1-${MAX_VNI})`);
  const port = request.port === undefined ? VXLAN_PORT : /^\d{1,5}$/.test(request.port) ? Number(request.port) : NaN;
  if (!(port >= 1 && port <= 65535))
    throw new UsageError(`net create --port: "${request.port}" is not a UDP port (1-65535)`);
  // Below 1024 are the host's own services (DNS on 53, ...): a tunnel there would take their packets.
  if (port < 1024)
    throw new UsageError(`net create --port: ${port} is a port of the host's own services; a tunnel takes 1024-65535`);
  const remotes = (request.remotes ?? '')
    .split(',')
    .map((remote) => remote.trim())
    .filter(Boolean);
  const own = around.prefixes.filter((prefix) => prefix.what === 'address').map((prefix) => prefix.cidr.split('/')[0]);
  const bad = remotes.find((remote) => !unicastRemote(remote) || own.includes(remote));
  if (bad) throw new UsageError(`net create --remote: "${bad}" is not a unicast address of another host`);
  const twice = remotes.find((remote, i) => remotes.indexOf(remote) !== i);
  if (twice) throw new UsageError(`net create --remote: ${twice} is given twice`);
  // 224.0.0.0/24 is the local network's control block (routers, all hosts): never a tunnel's group.
  if (
    request.group !== undefined &&
    (ipFamily(request.group) !== 4 || !/^(22[4-9]|23\d)\./.test(request.group) || /^224\.0\.0\./.test(request.group))
  ) {
    throw new UsageError(
      `net create --group: "${request.group}" is not an IPv4 multicast group a tunnel may use ` +
        '(224.0.1.0-239.255.255.255)',
    );
  }
  if (remotes.length === 0 && request.group === undefined)
    throw new UsageError('net create --vxlan needs the other hosts: --remote IP[,IP...] (or a multicast --group)');
  if (remotes.length > 0 && request.group !== undefined)
    throw new UsageError('net create: --remote and --group exclude each other: unicast peers or one multicast group');
  if (request.dev !== undefined && !around.interfaces.includes(request.dev))
    throw new UsageError(`net create --dev: no interface ${request.dev} on this host (see ip link)`);
  const ours = Object.values(around.networks).filter((network) => network.vxlan);
  const sameVni = ours.find((network) => network.vxlan!.vni === vni && network.vxlan!.port === port);
  if (sameVni)
    throw new UsageError(`net create --vxlan: VNI ${vni} on port ${port} is network ${sameVni.name}'s already`);
  if (around.usedUdpPorts.includes(port) && !ours.some((network) => network.vxlan!.port === port)) {
    throw new UsageError(
      `net create --port: UDP port ${port} is in use by another program on this host; choose another --port`,
    );
  }
  return {
    vni,
    remotes,
    port,
    ...(request.dev ? { dev: request.dev } : {}),
    ...(request.group ? { group: request.group } : {}),
  };
}

/** QEMU's user network (--net user), as every guest on it sees it. */
export const USER_NET_SUBNET = '10.0.2.0/24';

function firstFreeSubnet(around: NetworkSurroundings): string {
  for (let third = 58; third < 256; third++) {
    const subnet = `192.168.${third}.0/24`;
    const taken = Object.values(around.networks).some((network) => overlapping(network.subnet, parsePrefix(subnet)!));
    if (!taken && !prefixClash(subnet, around.prefixes)) return subnet;
  }
  throw new UsageError('net create: no free 192.168.X.0/24 left for a default subnet; give one with --subnet CIDR');
}

function validateSubnet6(request: NetworkRequest, around: NetworkSurroundings): string {
  const text = request.subnet6 ?? ulaPrefixOf(request.name);
  const prefix = subnet6Of(text);
  if (!prefix)
    throw new UsageError(`net create --subnet6: "${text}" is not a unique local IPv6 /64 (e.g. fd12:3456:789a:1::/64)`);
  const subnet6 = formatPrefix(prefix);
  const clash = prefixClash(subnet6, around.prefixes);
  if (clash)
    throw new UsageError(`net create --subnet6: ${subnet6} overlaps ${describePrefix(clash)}; choose another subnet`);
  const other = Object.values(around.networks).find((network) => network.subnet6 === subnet6);
  if (other) throw new UsageError(`net create --subnet6: ${subnet6} is network ${other.name}'s already`);
  return subnet6;
}

/** Pure: checks a `net create` request against the host and the other definitions; returns the definition. */
export function validateNetwork(request: NetworkRequest, around: NetworkSurroundings): NetworkDef {
  const { name } = request;
  if (!NETWORK_NAME.test(name)) {
    throw new UsageError(
      `net create: "${name}" is not a network name (a lower-case letter, then letters, digits or -, at most 15)`,
    );
  }
  if (RESERVED.test(name))
    throw new UsageError(`net create: "${name}" already means something to --net; choose another name`);
  // Letters of --net's compact form alone (u, p, 0-f): --net ab means two multicast NICs, never this network.
  if (/^[0-9a-fup]+$/.test(name))
    throw new UsageError(
      `net create: "${name}" would read as --net's compact letters (u, p, 0-f); choose another name`,
    );
  if (around.networks[name]?.builtin)
    throw new UsageError(`net create: ${name} is a built-in network; it is always defined`);
  if (around.networks[name])
    throw new UsageError(`net create: network ${name} is already defined (qemu-script net rm ${name} first)`);
  if (around.toolInterfaces.includes(name)) {
    throw new UsageError(
      `net create: ${name} is up as a plain bridge of qemu-script's guests; define the network once they have stopped`,
    );
  }
  if (around.interfaces.includes(name)) {
    throw new UsageError(
      `net create: an interface named ${name} already exists on this host; the network's bridge would take its name`,
    );
  }
  const subnetText = request.subnet ?? firstFreeSubnet(around);
  const cidr = subnet4(subnetText);
  if (!cidr) throw new UsageError(`net create --subnet: "${subnetText}" is not an IPv4 subnet (e.g. 10.77.0.0/24)`);
  if (cidr.bits < MIN_PREFIX || cidr.bits > MAX_PREFIX || !isPrivateSpace(cidr)) {
    throw new UsageError(
      `net create --subnet: ${subnetText} must be a private (RFC 1918) subnet from /${MIN_PREFIX} to /${MAX_PREFIX}`,
    );
  }
  const subnet = formatPrefix(cidr);
  // QEMU's user network hands its guests 10.0.2.0/24: a guest on both would have two routes to one subnet.
  if (overlapping(USER_NET_SUBNET, cidr))
    throw new UsageError(
      `net create --subnet: ${subnet} overlaps the user network's ${USER_NET_SUBNET} (guests have both); ` +
        'choose another',
    );
  const clash = prefixClash(subnet, around.prefixes);
  if (clash)
    throw new UsageError(`net create --subnet: ${subnet} overlaps ${describePrefix(clash)}; choose another subnet`);
  const other = Object.values(around.networks).find((network) => overlapping(network.subnet, cidr));
  if (other)
    throw new UsageError(
      `net create --subnet: ${subnet} overlaps network ${other.name} (${other.subnet}); choose another subnet`,
    );
  const hostText = request.hostIp ?? formatAddress(4, networkOf(cidr) + 1n);
  const host = address4(hostText);
  if (host === undefined)
    throw new UsageError(`net create --host-ip: "${hostText}" is not an IPv4 address (e.g. 10.77.0.1)`);
  if (!contains(cidr, host) || host === networkOf(cidr) || host === lastOf(cidr)) {
    throw new UsageError(`net create --host-ip: ${hostText} is not a host address inside ${subnet}`);
  }
  const vxlan = request.vxlan ? validateVxlan(request.vxlan, around) : undefined;
  const subnet6 = request.ipv6 ? validateSubnet6(request, around) : undefined;
  const { domain } = request;
  const problem = request.dhcp ? publicDomainProblem(domain ?? name, around.publicSuffixes) : undefined;
  if (problem) {
    const said = domain === undefined ? `its default DNS domain, ${name},` : `--domain ${domain}`;
    throw new UsageError(
      `net create: ${said} is ${problem}; give --domain ${domain ?? name}.internal (or one under .test or .home.arpa)`,
    );
  }
  if (domain !== undefined) {
    if (!request.dhcp) throw new UsageError('net create: --domain goes with --dhcp (its server answers the names)');
    if (!DNS_DOMAIN.test(domain)) {
      throw new UsageError(
        `net create --domain: "${domain}" is not a DNS domain (lower-case labels of letters, digits and inner ` +
          'hyphens, joined by dots; e.g. lab.internal)',
      );
    }
  }
  return {
    name,
    subnet,
    hostIp: formatAddress(4, host),
    ...(subnet6 ? { subnet6 } : {}),
    dhcp: request.dhcp,
    nat: request.nat,
    builtin: false,
    ...(vxlan ? { vxlan } : {}),
    ...(domain && domain !== name ? { domain } : {}),
  };
}

/** Why ADDRESS cannot be a guest's fixed address on the network (undefined: it can). */
export function fixedAddressProblem(network: NetworkDef, address: string): string | undefined {
  if (!network.dhcp) return `network ${network.name} has no DHCP server to give it`;
  const parsed = parseAddress(address);
  if (parsed?.family !== 4) return `"${address}" is not an IPv4 address`;
  const subnet = parsePrefix(network.subnet)!;
  if (!contains(subnet, parsed.value)) return `${address} is not in ${network.name}'s subnet ${network.subnet}`;
  if (parsed.value === networkOf(subnet) || parsed.value === lastOf(subnet))
    return `${address} is ${network.subnet}'s ${parsed.value === networkOf(subnet) ? 'network' : 'broadcast'} address`;
  if (address === network.hostIp) return `${address} is the host's address on ${network.name}`;
  return undefined;
}

/** The DNS domain of a network's guests: its own, else its name (web.hostonly). */
export const domainOf = (network: Pick<NetworkDef, 'name' | 'domain'>) => network.domain ?? network.name;

/** The DHCP/DNS server's settings, all from the definition. */
export function dhcpConfigOf(network: NetworkDef): DhcpConfig {
  const cidr = parsePrefix(network.subnet)!;
  const range = dhcpRange(cidr, parseAddress(network.hostIp)!.value);
  return {
    bridge: network.name,
    hostIp: network.hostIp,
    prefix: cidr.bits,
    rangeStart: formatAddress(4, range.start),
    rangeEnd: formatAddress(4, range.end),
    router: network.nat ? network.hostIp : undefined,
    upstreamDns: network.nat,
    domain: domainOf(network),
    ...(network.subnet6 ? { ipv6: { prefix: network.subnet6, hostIp: hostIp6Of(network)!, router: network.nat } } : {}),
  };
}

/** The network as this host realises it: without its IPv6 side where IPv6 is off. */
export function realisedHere(network: NetworkDef, ipv6: boolean): NetworkDef {
  if (ipv6 || !network.subnet6) return network;
  const { subnet6: _off, ...rest } = network;
  return rest;
}

/**
 * The host's IPv6 address on the network's bridge: the subnet's ::1; on a network that spans hosts (VXLAN),
 * where every host has its own IPv4 address on it, that address in the low 32 bits, so the hosts' IPv6
 * ones differ too.
 */
export function hostIp6Of(network: Pick<NetworkDef, 'subnet6' | 'hostIp' | 'vxlan'>): string | undefined {
  if (!network.subnet6) return undefined;
  const low = network.vxlan ? parseAddress(network.hostIp)!.value : 1n;
  return formatAddress(6, networkOf(parsePrefix(network.subnet6)!) + low);
}

/** The host's address on the network's bridge, with its prefix: what `ip addr add` takes. */
export const hostCidrOf = (network: NetworkDef) => `${network.hostIp}/${parsePrefix(network.subnet)!.bits}`;
export const hostCidr6Of = (network: NetworkDef) => (network.subnet6 ? `${hostIp6Of(network)}/64` : undefined);
