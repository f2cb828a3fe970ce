// What running and starting guests hold (ports, MACs, interfaces, disks, names), folded into the host facts so a
// new plan avoids it.
import { ACTION_KINDS } from '../actions/index.ts';
import { reservations, type GuestRecord } from '../state/guests.ts';
import type { Registry } from '../state/registry.ts';
import type { HostFacts } from '../base/types.ts';

/**
 * Adds what the tool itself holds to the probed facts: names, ports, MACs and
 * interfaces of guests still starting or running, and the bridges it created in
 * this namespace (shared by its guests, removed with the last one).
 */
export function withReservations(
  facts: HostFacts,
  records: GuestRecord[],
  registry: Registry,
  netns: string,
): HostFacts {
  const held = reservations(records);
  const ours = registry.resources.filter((record) => record.netns === netns);
  const interfaces = ours.filter((record) => ACTION_KINDS[record.kind].makesInterface);
  const toolBridges = interfaces
    .filter((record) => record.kind === 'bridge' && facts.interfaces[record.name]?.kind === 'bridge')
    .map((record) => record.name);
  const disks = Object.fromEntries(
    Object.entries(facts.disks).map(([path, disk]) => {
      const usedBy = held.disks.get(disk.absolutePath);
      return [path, usedBy ? { ...disk, usedBy } : disk];
    }),
  );
  return {
    ...facts,
    disks,
    guestNames: [...facts.guestNames, ...held.guestNames],
    usedTcpPorts: [...facts.usedTcpPorts, ...held.ports],
    usedMacs: [...facts.usedMacs, ...held.macs],
    reservedInterfaces: [...facts.reservedInterfaces, ...held.interfaces, ...interfaces.map((record) => record.name)],
    toolBridges,
    networksUp: toolBridges.filter((name) => name in facts.networks),
  };
}
