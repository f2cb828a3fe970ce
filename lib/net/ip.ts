// Addresses and prefixes of both families, as bigints: parsing and printing, overlaps, the
// checks a host address must pass (private space, a sane size), DHCP ranges and the stable
// address a MAC gets on a defined network.
import { sha256 } from '../base/sha256.ts';

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** The address as written (not necessarily the network's). */
  address: bigint;
  bits: number;
}

const WIDTH = { 4: 32, 6: 128 } as const;

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const GROUP = /^[0-9a-f]{1,4}$/i;

/** The eight 16-bit groups of an IPv6 address (no zone, no embedded IPv4), or undefined. */
function v6Groups(text: string): string[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const split = (part: string) => (part === '' ? [] : part.split(':'));
  const left = split(halves[0]);
  const right = halves.length === 2 ? split(halves[1]) : [];
  const missing = 8 - left.length - right.length;
  const sized = halves.length === 2 ? missing >= 1 : missing === 0;
  if (!sized || ![...left, ...right].every((group) => GROUP.test(group))) return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right];
}

/**
 * 4 or 6 when `text` is an address of that family, else 0 (node:net's isIP
 * costs milliseconds at start-up for its IPv6 pattern; this does not).
 */
export function ipFamily(text: string): 0 | Family {
  if (V4.test(text)) return 4;
  return text.includes(':') && v6Groups(text) ? 6 : 0;
}

/** An address of either family as a number; undefined when `text` is none. */
export function parseAddress(text: string): { family: Family; value: bigint } | undefined {
  if (V4.test(text)) {
    return { family: 4, value: text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n) };
  }
  const groups = text.includes(':') ? v6Groups(text) : undefined;
  if (!groups) return undefined;
  return { family: 6, value: groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n) };
}

/** Dotted quad, or RFC 5952's IPv6 text: lower case, the longest run of two or more zero groups as `::`. */
export function formatAddress(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 255n).join('.');
  const groups = [...Array(8).keys()].map((i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > best.length) best = { start, length };
  }
  const hex = (part: number[]) => part.map((group) => group.toString(16)).join(':');
  if (best.start < 0) return hex(groups);
  return `${hex(groups.slice(0, best.start))}::${hex(groups.slice(best.start + best.length))}`;
}

/** "ADDRESS/BITS" in either family; undefined when it is not one. */
export function parsePrefix(text: string): Prefix | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const address = match ? parseAddress(match[1]) : undefined;
  if (!match || !address || Number(match[2]) > WIDTH[address.family]) return undefined;
  return { family: address.family, address: address.value, bits: Number(match[2]) };
}

function mask(family: Family, bits: number): bigint {
  const width = BigInt(WIDTH[family]);
  return bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << (width - BigInt(bits));
}

/** The prefix's network address and its last address (IPv4's broadcast). */
export const networkOf = (prefix: Prefix) => prefix.address & mask(prefix.family, prefix.bits);
export const lastOf = (prefix: Prefix) =>
  networkOf(prefix) | (mask(prefix.family, WIDTH[prefix.family]) ^ mask(prefix.family, prefix.bits));

/** "NETWORK/BITS": the prefix written from its network address. */
export const formatPrefix = (prefix: Prefix) => `${formatAddress(prefix.family, networkOf(prefix))}/${prefix.bits}`;

/** IPv4's dotted netmask of a prefix length (dnsmasq's --dhcp-range wants one). */
export const netmask = (bits: number) => formatAddress(4, mask(4, bits));

export const contains = (prefix: Prefix, address: bigint) =>
  (address & mask(prefix.family, prefix.bits)) === networkOf(prefix);

/** Two prefixes overlap when the shorter one holds the other's network. */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.bits, b.bits);
  return (a.address & mask(a.family, bits)) === (b.address & mask(b.family, bits));
}

const PRIVATE_SPACE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'];
// Parsed on first use: every start-up would pay for it.
let privateSpace: Prefix[] | undefined;

/** RFC 1918 or unique local (RFC 4193), the prefix whole. */
export const isPrivateSpace = (prefix: Prefix) =>
  (privateSpace ??= PRIVATE_SPACE.map((text) => parsePrefix(text)!)).some(
    (space) => space.family === prefix.family && space.bits <= prefix.bits && prefixesOverlap(space, prefix),
  );

/** The sizes a bridge's host address may have: room for guests, never a whole private range. */
const HOST_PREFIX_BITS = { 4: [16, 30], 6: [48, 126] } as const;

export const hostBitsOk = (prefix: Prefix) =>
  prefix.bits >= HOST_PREFIX_BITS[prefix.family][0] && prefix.bits <= HOST_PREFIX_BITS[prefix.family][1];

export interface Range {
  start: bigint;
  end: bigint;
}

/**
 * The dynamic DHCP range: the larger run of addresses on either side of the
 * host's, between the network and the last address (both excluded).
 */
export function dhcpRange(subnet: Prefix, host: bigint): Range {
  const below = { start: networkOf(subnet) + 1n, end: host - 1n };
  const above = { start: host + 1n, end: lastOf(subnet) - 1n };
  return above.end - above.start >= below.end - below.start ? above : below;
}

/**
 * The address a NIC gets on a defined network: a slot derived from its MAC (so
 * the same disk gets the same address on every boot), the next free one when
 * that slot is taken. The slot's formula never changes: guests keep their addresses.
 */
export function stableAddress(range: Range, mac: string, taken: ReadonlySet<bigint>): bigint | undefined {
  const size = range.end - range.start + 1n;
  const slot = BigInt(sha256(mac.toLowerCase()).readUInt32BE(0)) % size;
  for (let i = 0n; i < size; i++) {
    const candidate = range.start + ((slot + i) % size);
    if (!taken.has(candidate)) return candidate;
  }
  return undefined;
}

/**
 * A unique local /64 (RFC 4193) of its own for each network name: fd, then 40 bits of the name's hash as the
 * global ID, subnet 0. Stable: the same name gets the same prefix on every host and every version.
 */
export function ulaPrefixOf(name: string): string {
  const id = sha256(`qemu-script network ${name}`);
  const value = (0xfdn << 120n) | (BigInt(`0x${id.subarray(0, 5).toString('hex')}`) << 80n);
  return `${formatAddress(6, value)}/64`;
}

/**
 * The address SLAAC gives the NIC with MAC in PREFIX (a /64): the modified EUI-64 interface ID (RFC 4291
 * App. A). The registered IPv6 address of a NIC is this one, so that a guest that only autoconfigures and
 * one that asks DHCPv6 end up with the same address.
 */
export function eui64Address(prefix: Prefix, mac: string): bigint {
  const bytes = mac.split(':').map((byte) => parseInt(byte, 16));
  const id = [bytes[0] ^ 0x02, bytes[1], bytes[2], 0xff, 0xfe, bytes[3], bytes[4], bytes[5]];
  return networkOf(prefix) | id.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
}
