// Where a defined network's VXLAN tunnel runs: its underlay interface, the
// local address it is sent from, and the MTU that fits inside it. Pure, from
// the host's routes and addresses (probe/underlay.ts reads them first).
import { ipFamily, parsePrefix, prefixesOverlap } from './ip.ts';
import type { HostPrefix, VxlanDef } from '../base/types.ts';

/** VXLAN's own header, UDP and the outer IP and Ethernet headers. */
const OVERHEAD = { 4: 50, 6: 70 } as const;
const DEFAULT_MTU = 1500;

export interface Underlay {
  dev: string;
  /** The address the tunnel is sent from, when the underlay has one. */
  local?: string;
  /** The MTU inside the tunnel: the guests', the TAPs' and the bridge's. */
  mtu: number;
}

/** The interface of the most specific route to `address` (the default route included). */
function routeDev(address: string, prefixes: HostPrefix[]): string | undefined {
  const target = parsePrefix(`${address}/${ipFamily(address) === 6 ? 128 : 32}`);
  if (!target) return undefined;
  return prefixes
    .filter((prefix) => prefix.what === 'route')
    .map((prefix) => ({ prefix, parsed: parsePrefix(prefix.cidr)! }))
    .filter(({ parsed }) => parsed && parsed.bits <= target.bits && prefixesOverlap(parsed, target))
    .sort((a, b) => b.parsed.bits - a.parsed.bits)[0]?.prefix.dev;
}

/** Pure: the underlay of a tunnel on a host with these routes, addresses and MTUs. */
export function underlayOf(
  vxlan: VxlanDef,
  prefixes: HostPrefix[],
  mtus: Record<string, number | undefined>,
): Underlay | undefined {
  const peer = vxlan.remotes[0] ?? vxlan.group!;
  const family = ipFamily(peer) === 6 ? 6 : 4;
  const dev = vxlan.dev ?? routeDev(peer, prefixes);
  if (!dev) return undefined;
  const local = prefixes
    .find(
      (prefix) =>
        prefix.what === 'address' &&
        prefix.dev === dev &&
        ipFamily(prefix.cidr.split('/')[0]) === family &&
        !prefix.cidr.startsWith('fe80'),
    )
    ?.cidr.split('/')[0];
  return { dev, local, mtu: (mtus[dev] ?? DEFAULT_MTU) - OVERHEAD[family] };
}

/** The tunnel device's name: one per VNI on a host. */
export const vxlanDevice = (vni: number) => `vxlan${vni}`;
