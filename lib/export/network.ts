// A defined network as a libvirt network: its bridge, both families' addresses, the DHCP range, each
// registered guest's address and name, NAT, its DNS domain. What libvirt cannot say is listed.
import { el, renderXml, textEl, type Element } from './xml.ts';
import { dhcpConfigOf, domainOf, hostIp6Of } from '../net/networks.ts';
import type { NetworkDef } from '../base/types.ts';
import type { Exported } from './domain.ts';

/** A guest's NIC registered with the network's server: what `<host>` entries are made of. */
export interface Registered {
  mac: string;
  ip: string;
  ip6?: string;
  guest: string;
}

export function libvirtNetwork(network: NetworkDef, registered: Registered[]): Exported {
  const unexported: string[] = [];
  const dhcp = dhcpConfigOf(network);
  const ip6 = hostIp6Of(network);
  if (network.vxlan) {
    unexported.push(
      `VXLAN ${network.vxlan.vni} to ${network.vxlan.remotes.join(', ')}: libvirt has no VXLAN network; this is ` +
        `this host's side alone`,
    );
  }
  if (network.dhcp && !network.nat) {
    unexported.push(
      `${network.name} answers its own names only; libvirt's server forwards other names to the host's resolvers`,
    );
  }
  const hosts = registered.map((entry) => el('host', { mac: entry.mac, name: entry.guest, ip: entry.ip }));
  // IPv6 the tool's way: router advertisements (SLAAC), each guest at the EUI-64 address it was registered with.
  const names6 = registered.flatMap((entry) =>
    entry.ip6 ? [el('host', { ip: entry.ip6 }, textEl('hostname', entry.guest))] : [],
  );
  const xml: Element = el(
    'network',
    {},
    textEl('name', network.name),
    network.nat && el('forward', { mode: 'nat' }, ip6 ? el('nat', { ipv6: 'yes' }) : undefined),
    el('bridge', { name: network.name, stp: 'off', delay: 0 }),
    el('domain', { name: domainOf(network), localOnly: 'yes' }),
    // Without DHCP the tool runs no server on the network: neither does libvirt then.
    network.dhcp ? names6.length > 0 && el('dns', {}, ...names6) : el('dns', { enable: 'no' }),
    el(
      'ip',
      { address: network.hostIp, prefix: dhcp.prefix },
      network.dhcp && el('dhcp', {}, el('range', { start: dhcp.rangeStart, end: dhcp.rangeEnd }), ...hosts),
    ),
    ip6 !== undefined && el('ip', { family: 'ipv6', address: ip6, prefix: 64 }),
  );
  return { xml: renderXml(xml), unexported };
}
