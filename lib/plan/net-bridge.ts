// --net vmnetN, br:NAME, an existing bridge: a TAP on a Linux bridge, the bridge made when it is missing.
import { UsageError } from '../base/errors.ts';
import { VMNET_NAME } from '../base/names.ts';
import { hostAddressProblem } from '../net/host-address.ts';
import { NET_WORDS } from './net-spec.ts';
import { didYouMean } from '../base/suggest.ts';
import { NetContext, NicPlan, Nic, bridgeUse, tapOnBridge } from './net-common.ts';
import { planNetwork } from './net-network.ts';

/**
 * A bare name acts only when it is unambiguous: a defined network, an existing
 * interface, or a vmnetN. Anything else is a typo until written br:NAME.
 */
function checkBareName(name: string, context: NetContext): void {
  const { facts } = context;
  if (name in facts.interfaces || VMNET_NAME.test(name)) return;
  const bridges = Object.entries(facts.interfaces)
    .filter(([, facts_]) => facts_.kind === 'bridge')
    .map(([bridge]) => bridge);
  const words = NET_WORDS.filter((word) => !word.endsWith(':'));
  const suggestion = didYouMean(name, [...words, ...Object.keys(facts.networks), ...bridges]);
  throw new UsageError(
    `--net ${name}: no defined network, bridge or vmnetN is called ${name}${suggestion}; to make a bridge of ` +
      `that name write br:${name}`,
  );
}

export function planBridge(
  item: { name: string; explicit: boolean; address?: string },
  nic: Nic,
  context: NetContext,
): NicPlan {
  const network = context.facts.networks[item.name];
  if (network) {
    if (item.explicit)
      throw new UsageError(`--net br:${item.name}: ${item.name} is a defined network; write --net ${item.name}`);
    return planNetwork(network, nic, context, item.address);
  }
  if (item.address !== undefined)
    throw new UsageError(
      `--net ${item.name}=${item.address}: a fixed address is for a defined network with DHCP, and ${item.name} ` +
        'is none (qemu-script net ls)',
    );
  if (!item.explicit) checkBareName(item.name, context);
  const first = !context.bridgesPlanned.has(item.name);
  const use = bridgeUse(item.name, context);
  // The guest joins a bridge of the tool once (creating it if needed) and leaves it once.
  const joins = use !== 'foreign' && first;
  const hostIp = use === 'create' && first && !context.hostIpAssigned ? context.hostIp : undefined;
  if (hostIp) {
    context.hostIpAssigned = true;
    const problem = hostAddressProblem(hostIp, context.facts.prefixes);
    if (problem) throw new UsageError(`--host-ip: ${problem}`);
  }
  const how = { create: 'created', shared: 'shared', foreign: 'existing, left alone' }[use];
  const tap = tapOnBridge(item.name, use, nic, context);
  return {
    ...tap,
    label: item.name,
    actions: [
      ...(joins
        ? [{ kind: 'bridge' as const, name: item.name, guest: context.guest, hostIp, shared: use === 'shared' }]
        : []),
      ...tap.actions,
    ],
    messages: [`NIC ${nic.position} on bridge ${item.name} (${how})${hostIp ? `, host at ${hostIp}` : ''}`],
    address: { from: 'neighbour' },
  };
}
