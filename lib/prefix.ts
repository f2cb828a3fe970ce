// Addresses with a prefix length, IPv4 and IPv6 alike, for the checks a host
// address must pass before a bridge gets it: private space, a sane size, and
// no overlap with anything the host already has.
import { isIP } from 'node:net';

export interface Prefix {
  family: 4 | 6;
  /** The address as written. */
  address: bigint;
  bits: number;
}

const WIDTH = { 4: 32, 6: 128 } as const;

function parseV6(text: string): bigint | undefined {
  if (isIP(text) !== 6 || text.includes('.') || text.includes('%')) return undefined;
  const [head, tail] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const missing = 8 - left.length - right.length;
  const all = tail === undefined ? left : [...left, ...Array<string>(missing).fill('0'), ...right];
  return all.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function parseV4(text: string): bigint | undefined {
  if (isIP(text) !== 4) return undefined;
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** "ADDRESS/BITS" in either family; undefined when it is not one. */
export function parsePrefix(text: string): Prefix | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!match) return undefined;
  const family = isIP(match[1]);
  const bits = Number(match[2]);
  if (family === 4) {
    const address = parseV4(match[1]);
    return address === undefined || bits > 32 ? undefined : { family: 4, address, bits };
  }
  if (family === 6) {
    const address = parseV6(match[1]);
    return address === undefined || bits > 128 ? undefined : { family: 6, address, bits };
  }
  return undefined;
}

function mask(prefix: Pick<Prefix, 'family'>, bits: number): bigint {
  const width = BigInt(WIDTH[prefix.family]);
  return bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << (width - BigInt(bits));
}

export const networkOf = (prefix: Prefix) => prefix.address & mask(prefix, prefix.bits);

/** Two prefixes overlap when the shorter one holds the other's network. */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.bits, b.bits);
  return (a.address & mask(a, bits)) === (b.address & mask(b, bits));
}

/** The same address, whatever the prefixes. */
export const sameAddress = (a: Prefix, b: Prefix) => a.family === b.family && a.address === b.address;

const PRIVATE_SPACE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'].map((text) => parsePrefix(text)!);

/** RFC 1918 or unique local (RFC 4193). */
export const isPrivateSpace = (prefix: Prefix) => PRIVATE_SPACE.some((space) => space.family === prefix.family && space.bits <= prefix.bits && prefixesOverlap(space, prefix));

/** The sizes a bridge's host address may have: room for guests, never a whole private range. */
export const HOST_PREFIX_BITS = { 4: [16, 30], 6: [48, 126] } as const;

export const hostBitsOk = (prefix: Prefix) => prefix.bits >= HOST_PREFIX_BITS[prefix.family][0] && prefix.bits <= HOST_PREFIX_BITS[prefix.family][1];
