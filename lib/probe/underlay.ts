// A tunnel's underlay as the host has it now: root's side reads it when the tunnel is made.
import { readText } from './host-access.ts';
import { probePrefixes } from './probe.ts';
import { underlayOf, type Underlay } from '../net/tunnel.ts';
import type { VxlanDef } from '../base/types.ts';
import { sysNet } from '../base/paths.ts';

/** underlayOf over the routes, addresses and MTUs the host has now. */
export function liveUnderlay(vxlan: VxlanDef): Underlay | undefined {
  const prefixes = probePrefixes();
  const devs = new Set(prefixes.map((prefix) => prefix.dev));
  const mtus = Object.fromEntries(
    [...devs, ...(vxlan.dev ? [vxlan.dev] : [])].map((dev) => [
      dev,
      Number(readText(sysNet(dev, 'mtu'))) || undefined,
    ]),
  );
  return underlayOf(vxlan, prefixes, mtus);
}

