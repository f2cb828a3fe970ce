// One planner per kind of network, in one table: a NIC of a --net spec planned by its kind's module.
import type { NetItem } from '../base/types.ts';
import { NetContext, NicPlan, Nic, ModePlanner } from './net-common.ts';
import { planUser } from './net-user.ts';
import { planPasst } from './net-passt.ts';
import { planMcast } from './net-mcast.ts';
import { planBridge } from './net-bridge.ts';
import { planMacvtap, planBridged } from './net-macvtap.ts';

// One entry per network kind: a new mode is one entry and one small function.
const NET_MODES: { [K in NetItem['kind']]: ModePlanner<K> } = {
  user: planUser,
  passt: planPasst,
  mcast: planMcast,
  bridge: planBridge,
  macvtap: planMacvtap,
  bridged: planBridged,
};

export function planNic(item: NetItem, nic: Nic, context: NetContext): NicPlan {
  return (NET_MODES[item.kind] as ModePlanner<typeof item.kind>)(item as never, nic, context);
}
