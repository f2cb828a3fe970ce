// Addresses with a prefix length, IPv4 and IPv6 alike, for the checks a host
// address must pass before a bridge gets it: private space, a sane size, and
// no overlap with anything the host already has.

export interface Prefix {
  family: 4 | 6;
  /** The address as written. */
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
  if ((halves.length === 2 ? missing < 1 : missing !== 0) || ![...left, ...right].every((group) => GROUP.test(group)))
    return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right];
}

/**
 * 4 or 6 when `text` is an address of that family, else 0 (node:net's isIP
 * costs milliseconds at start-up for its IPv6 pattern; this does not).
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (V4.test(text)) return 4;
  return text.includes(':') && v6Groups(text) ? 6 : 0;
}

function parseV6(text: string): bigint | undefined {
  const groups = v6Groups(text);
  return groups?.reduce((value, group) => (value << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function parseV4(text: string): bigint | undefined {
  if (!V4.test(text)) return undefined;
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** "ADDRESS/BITS" in either family; undefined when it is not one. */
export function parsePrefix(text: string): Prefix | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!match) return undefined;
  const family = ipFamily(match[1]);
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

const PRIVATE_SPACE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'];

/** RFC 1918 or unique local (RFC 4193). */
export const isPrivateSpace = (prefix: Prefix) =>
  PRIVATE_SPACE.map((text) => parsePrefix(text)!).some(
    (space) => space.family === prefix.family && space.bits <= prefix.bits && prefixesOverlap(space, prefix),
  );

/** The sizes a bridge's host address may have: room for guests, never a whole private range. */
export const HOST_PREFIX_BITS = { 4: [16, 30], 6: [48, 126] } as const;

export const hostBitsOk = (prefix: Prefix) =>
  prefix.bits >= HOST_PREFIX_BITS[prefix.family][0] && prefix.bits <= HOST_PREFIX_BITS[prefix.family][1];
