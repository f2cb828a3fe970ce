// IPv4 arithmetic for defined networks: subnets, overlaps, DHCP ranges, stable addresses.
import { sha256 } from './sha256.ts';

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIp(text: string): number | undefined {
  const match = QUAD.exec(text);
  if (!match) return undefined;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet, i) => octet > 255 || (match[i + 1].length > 1 && match[i + 1].startsWith('0'))))
    return undefined;
  return ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
}

export function formatIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "A.B.C.D/N" with A.B.C.D anywhere inside; `base` is the network address. */
export function parseCidr(text: string): (Cidr & { address: number }) | undefined {
  const [ip, bits, extra] = text.split('/');
  const address = parseIp(ip ?? '');
  if (address === undefined || extra !== undefined || !/^\d{1,2}$/.test(bits ?? '') || Number(bits) > 32)
    return undefined;
  const prefix = Number(bits);
  return { base: (address & maskOf(prefix)) >>> 0, prefix, address };
}

export const formatCidr = (cidr: Cidr) => `${formatIp(cidr.base)}/${cidr.prefix}`;
export const lastAddress = (cidr: Cidr) => (cidr.base | ~maskOf(cidr.prefix)) >>> 0;
export const contains = (cidr: Cidr, ip: number) => (ip & maskOf(cidr.prefix)) >>> 0 === cidr.base;
export const overlaps = (a: Cidr, b: Cidr) => contains(a, b.base) || contains(b, a.base);

/** RFC 1918: the only IPv4 space a host-only or NAT network may take. */
export const PRIVATE_RANGES: readonly Cidr[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((text) =>
  parseCidr(text)!,
);
export const isPrivate = (cidr: Cidr) =>
  PRIVATE_RANGES.some((range) => range.prefix <= cidr.prefix && contains(range, cidr.base));

/**
 * The dynamic DHCP range: the larger run of addresses on either side of the
 * host's, between the network and broadcast addresses.
 */
export function dhcpRange(subnet: Cidr, hostIp: number): { start: number; end: number } {
  const first = subnet.base + 1;
  const last = lastAddress(subnet) - 1;
  const below = { start: first, end: hostIp - 1 };
  const above = { start: hostIp + 1, end: last };
  return above.end - above.start >= below.end - below.start ? above : below;
}

/**
 * The address a NIC gets on a defined network: a slot derived from its MAC (so
 * the same disk gets the same address on every boot), the next free one when
 * that slot is taken.
 */
export function stableAddress(
  range: { start: number; end: number },
  mac: string,
  taken: ReadonlySet<number>,
): number | undefined {
  const size = range.end - range.start + 1;
  const slot = sha256(mac.toLowerCase()).readUInt32BE(0) % size;
  for (let i = 0; i < size; i++) {
    const candidate = range.start + ((slot + i) % size);
    if (!taken.has(candidate)) return candidate;
  }
  return undefined;
}
