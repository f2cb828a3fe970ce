// Where a bridge's host address may go: never onto anything the host already
// has. Used by the planner (early, clear errors) and, under the registry lock,
// by root's side of every bridge with an address (the last word on races).
import { hostBitsOk, isPrivateSpace, parsePrefix, prefixesOverlap } from './ip.ts';
import type { HostPrefix } from '../base/types.ts';

export function describePrefix(prefix: HostPrefix): string {
  if (prefix.what === 'gateway') return `the gateway ${prefix.cidr.replace(/\/\d+$/, '')} on ${prefix.dev}`;
  if (prefix.what === 'rule') return `the policy rule for ${prefix.cidr} (${prefix.dev})`;
  return `${prefix.what} ${prefix.cidr} on ${prefix.dev}`;
}

/** The first address, gateway or route of the host (the default route aside) that `cidr` overlaps. */
export function prefixClash(cidr: string, prefixes: HostPrefix[]): HostPrefix | undefined {
  const wanted = parsePrefix(cidr);
  if (!wanted) return undefined;
  return prefixes.find((prefix) => {
    const other = parsePrefix(prefix.cidr);
    return other !== undefined && other.bits > 0 && prefixesOverlap(wanted, other);
  });
}

/** Why `cidr` may not be a bridge's host address here, or undefined when it may. */
export function hostAddressProblem(cidr: string, prefixes: HostPrefix[]): string | undefined {
  const wanted = parsePrefix(cidr);
  if (!wanted) return `"${cidr}" is not an address with a prefix length (e.g. 192.168.255.5/24)`;
  if (!isPrivateSpace(wanted))
    return `${cidr} is not a private address (RFC 1918: 10/8, 172.16/12, 192.168/16; IPv6: fc00::/7)`;
  if (!hostBitsOk(wanted)) return `${cidr}: the prefix must be from /16 to /30 (IPv6: /48 to /126)`;
  const clash = prefixClash(cidr, prefixes);
  return clash ? `${cidr} overlaps ${describePrefix(clash)}` : undefined;
}
