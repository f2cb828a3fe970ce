// Where a running guest's NICs can be reached: read from the host, never asked of the guest.
import { readText } from './host-access.ts';
import { networkFile, procNet } from '../base/paths.ts';
import type { NicInfo } from '../base/types.ts';
import { ipFamily } from '../net/ip.ts';

/** QEMU's user network gives its first (and here only) DHCP client this address. */
const USER_NET_GUEST_IP = '10.0.2.15';

/** dnsmasq's lease file: "EXPIRY MAC IP NAME CLIENT-ID" per line. */
export function leaseFor(leases: string, mac: string): string | undefined {
  const wanted = mac.toLowerCase();
  const ip = leases
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[1]?.toLowerCase() === wanted)?.[2];
  return ip !== undefined && ipFamily(ip) !== 0 ? ip : undefined;
}

/** The network server's reservations (dhcp-hostsfile): "MAC,IP[,[IPv6]]" per registered NIC. */
export function reservationFor(hosts: string, mac: string, family: 4 | 6 = 4): string | undefined {
  const wanted = mac.toLowerCase();
  const fields = hosts
    .split('\n')
    .map((line) => line.trim().split(','))
    .find((entry) => entry[0]?.toLowerCase() === wanted);
  if (family === 4) return fields?.[1];
  return fields
    ?.slice(2)
    .find((field) => field.startsWith('['))
    ?.slice(1, -1);
}

/** /proc/net/arp: "IP HW-TYPE FLAGS MAC MASK DEVICE"; flag 0x2 marks a complete entry. */
export function neighbourFor(arp: string, mac: string): string | undefined {
  const wanted = mac.toLowerCase();
  return arp
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[3]?.toLowerCase() === wanted && (parseInt(fields[2] ?? '0', 16) & 2) === 2)?.[0];
}

/**
 * A NIC's addresses as far as this host knows them, or null. On a defined network: its lease, else (before
 * the guest asks) the address reserved when it was registered, else what the host saw of a guest that set
 * its address by hand; and, with IPv6, the IPv6 address registered for it (its SLAAC address, which DHCPv6
 * gives it too).
 */
export function nicAddresses(nic: NicInfo): { ip: string | null; ip6: string | null } {
  const neighbour = () => neighbourFor(readText(procNet('arp')) ?? '', nic.mac) ?? null;
  switch (nic.address.from) {
    case 'user':
      return { ip: USER_NET_GUEST_IP, ip6: null };
    case 'lease': {
      const hosts = readText(networkFile(nic.address.dir, 'hosts')) ?? '';
      const lease = leaseFor(readText(networkFile(nic.address.dir, 'leases')) ?? '', nic.mac);
      return {
        ip: lease ?? reservationFor(hosts, nic.mac) ?? neighbour(),
        ip6: reservationFor(hosts, nic.mac, 6) ?? null,
      };
    }
    case 'neighbour':
      return { ip: neighbour(), ip6: null };
    case 'none':
      return { ip: null, ip6: null };
  }
}
