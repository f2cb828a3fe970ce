// What one normal user may hold at once through the privileged helper, and where their forwards may listen;
// root sets it in CONFIG/limits.json, e.g. {"bridges": 4, "macvtaps": 2, "taps": 16, "registrations": 8,
// "forwards": 8, "forward_ports": "20000-29999", "forward_address": "192.0.2.10"}.
import { readFileSync } from 'node:fs';
import { readNetworks } from '../net/networks.ts';
import type { ActionKindName, HostAction } from '../base/types.ts';

const DEFAULT_LIMITS: Readonly<Partial<Record<ActionKindName, number>>> = {
  bridge: 8,
  macvtap: 8,
  tap: 32,
  dhcp: 16,
  publish: 16,
};

const FILE_KEYS: Readonly<Partial<Record<ActionKindName, string>>> = {
  bridge: 'bridges',
  macvtap: 'macvtaps',
  tap: 'taps',
  dhcp: 'registrations',
  publish: 'forwards',
};

/** A member's host ports: below the kernel's ephemeral range, where outgoing connections take theirs. */
const DEFAULT_FORWARD_PORTS: [number, number] = [1024, 32767];

export const limitsPath = (config: string) => `${config}/limits.json`;

function readFile(config: string): Record<string, unknown> {
  try {
    const raw = JSON.parse(readFileSync(limitsPath(config), 'utf8')) as unknown;
    return raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The limits, the file's valid entries over the defaults. */
export function readLimits(config: string): Partial<Record<ActionKindName, number>> {
  const raw = readFile(config);
  const limits = { ...DEFAULT_LIMITS };
  for (const [kind, key] of Object.entries(FILE_KEYS) as Array<[ActionKindName, string]>) {
    const value = raw[key];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) limits[kind] = value;
  }
  return limits;
}

export const limitWord = (kind: ActionKindName) => FILE_KEYS[kind] ?? kind;

/** What root grants members' forwards: a range of host ports, and an address besides their network's own. */
function forwardGrant(config: string): { ports: [number, number]; address?: string } {
  const raw = readFile(config);
  const range = typeof raw.forward_ports === 'string' ? /^(\d{1,5})-(\d{1,5})$/.exec(raw.forward_ports) : null;
  const ports: [number, number] =
    range && Number(range[1]) <= Number(range[2]) && Number(range[2]) <= 65535
      ? [Number(range[1]), Number(range[2])]
      : DEFAULT_FORWARD_PORTS;
  const address = typeof raw.forward_address === 'string' ? raw.forward_address : undefined;
  return { ports, ...(address ? { address } : {}) };
}

/**
 * Why a member's forward is refused (undefined: it is not): a host port outside the range root grants, or an
 * address other than the network's own on its bridge and the one root chose for members' forwards.
 */
export function memberForwardProblem(action: Extract<HostAction, { kind: 'publish' }>, config: string) {
  const grant = forwardGrant(config);
  const [low, high] = grant.ports;
  if (action.hostPort < low || action.hostPort > high) {
    const where = limitsPath(config);
    return `host port ${action.hostPort} is outside the ports members may forward (${low}-${high}, ${where})`;
  }
  const own = readNetworks(config)[action.network]?.hostIp;
  const allowed = [own, grant.address].filter((address): address is string => address !== undefined);
  if (action.listen === undefined || !allowed.includes(action.listen))
    return (
      `a member's forward listens on ${allowed.join(' or ')} only, not on ` +
      `${action.listen ?? "every address of the host"} (root's forward_address in ${limitsPath(config)})`
    );
  return undefined;
}
