// qemu-script net create | ls | rm: defined networks (README: "Defined networks").
import { readdirSync } from 'node:fs';
import type { ToolContext } from '../base/context.ts';
import { renderTable } from '../base/table.ts';
import { HostError, UsageError } from '../base/errors.ts';
import {
  definitionExists,
  hostIp6Of,
  readNetworks,
  removeNetwork,
  validateNetwork,
  writeNetwork,
  type NetworkRequest,
  domainOf,
} from '../net/networks.ts';
import { currentNetns } from '../base/proc.ts';
import { defaultRouteFrom, portsFrom, probePrefixes } from '../probe/probe.ts';
import { readText } from '../probe/host-access.ts';
import { liveUsers, readRegistry, type ResourceRecord } from '../state/registry.ts';
import type { NetworkDef } from '../base/types.ts';
import { PUBLIC_SUFFIX_LIST, SYS_NET, procNet } from '../base/paths.ts';
import { jsonOutput } from '../base/json.ts';

function requireRoot(context: ToolContext, what: string): void {
  if (!context.isRoot)
    throw new UsageError(`net ${what}: defining networks is root's: sudo qemu-script net ${what} ...`);
}

/** This namespace's records of the network's bridge and servers. */
function realised(context: ToolContext, name: string): ResourceRecord[] {
  const netns = currentNetns();
  return readRegistry(context.registryDir).resources.filter(
    (record) => record.name === name && record.netns === netns && record.kind !== 'macvtap',
  );
}

/** The guests using a network now, by name. */
function guestsOn(context: ToolContext, name: string): string[] {
  return [...new Set(realised(context, name).flatMap((record) => liveUsers(record).map((user) => user.guest)))].sort();
}

function listInterfaces(): string[] {
  try {
    return readdirSync(SYS_NET);
  } catch {
    return [];
  }
}

/** Debian's public suffix list (package publicsuffix), its rules as names; undefined where it is not installed. */
function publicSuffixes(): ReadonlySet<string> | undefined {
  const text = readText(PUBLIC_SUFFIX_LIST);
  if (text === undefined) return undefined;
  return new Set(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('//') && !line.startsWith('!'))
      .map((line) => line.replace(/^\*\./, '')),
  );
}

export function netCreate(context: ToolContext, request: NetworkRequest): string {
  requireRoot(context, 'create');
  const netns = currentNetns();
  const definition = validateNetwork(request, {
    networks: readNetworks(context.config),
    interfaces: listInterfaces(),
    toolInterfaces: readRegistry(context.registryDir)
      .resources.filter((record) => record.netns === netns)
      .map((record) => record.name),
    prefixes: probePrefixes(),
    usedUdpPorts: portsFrom([readText(procNet('udp')) ?? '', readText(procNet('udp6')) ?? '']),
    publicSuffixes: publicSuffixes(),
  });
  const path = writeNetwork(context.config, definition);
  // Defined all the same (a laptop offline now is online later); a launch refuses it while there is no way out.
  const noRoute = definition.nat && !defaultRouteFrom(readText(procNet('route')) ?? '');
  return (
    `defined network ${definition.name}: ${describe(definition)} (${path})\n` +
    (noRoute
      ? `warning: this host has no default route now: --nat needs one, and a launch on ${definition.name} is ` +
        'refused until there is one\n'
      : '') +
    `use it with: qemu-script DISK --net ${definition.name}\n`
  );
}

function describe(network: NetworkDef): string {
  const tunnel = network.vxlan
    ? [
        `VXLAN ${network.vxlan.vni} to ${network.vxlan.remotes.join(' ') || `group ${network.vxlan.group}`} (UDP ` +
          `${network.vxlan.port}${network.vxlan.dev ? `, over ${network.vxlan.dev}` : ''})`,
      ]
    : [];
  return [
    network.subnet,
    `host ${network.hostIp}`,
    ...(network.subnet6 ? [network.subnet6, `host ${hostIp6Of(network)}`] : ['no IPv6']),
    network.dhcp ? `DHCP, names NAME.${domainOf(network)}` : 'no DHCP',
    ...(network.nat ? ['NAT'] : []),
    ...tunnel,
  ].join(', ');
}

export function netRm(context: ToolContext, name: string): string {
  requireRoot(context, 'rm');
  const network = readNetworks(context.config)[name];
  if (network?.builtin) throw new UsageError(`net rm: ${name} is a built-in network and cannot be removed`);
  if (!network || !definitionExists(context.config, name))
    throw new UsageError(`net rm: no network ${name} is defined (see qemu-script net ls)`);
  const guests = guestsOn(context, name);
  if (guests.length > 0)
    throw new HostError(
      `net rm: network ${name} is in use by ${guests.join(', ')}; stop them first (qemu-script down NAME)`,
    );
  removeNetwork(context.config, name);
  return `removed network ${name}\n`;
}

export function netLs(context: ToolContext, json: boolean): string {
  const rows = Object.values(readNetworks(context.config))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((network) => ({
      name: network.name,
      subnet: network.subnet,
      host_ip: network.hostIp,
      subnet6: network.subnet6 ?? null,
      host_ip6: hostIp6Of(network) ?? null,
      dhcp: network.dhcp,
      /** Its guests' DNS domain (NAME.DOMAIN), when its server answers names. */
      domain: network.dhcp ? domainOf(network) : null,
      nat: network.nat,
      builtin: network.builtin,
      vxlan: network.vxlan ?? null,
      up: realised(context, network.name).some((record) => record.kind === 'bridge'),
      guests: guestsOn(context, network.name),
    }));
  if (json) return jsonOutput({ version: 1, networks: rows });
  const header = ['NAME', 'SUBNET', 'HOST', 'SUBNET6', 'DHCP', 'DOMAIN', 'NAT', 'UP', 'GUESTS'];
  const yes = (flag: boolean) => (flag ? 'yes' : 'no');
  const lines = rows.map((row) => [
    row.name,
    row.subnet,
    row.host_ip,
    row.subnet6 ?? '-',
    yes(row.dhcp),
    row.domain ?? '-',
    yes(row.nat),
    yes(row.up),
    row.guests.join(',') || '-',
  ]);
  return renderTable(header, lines);
}
