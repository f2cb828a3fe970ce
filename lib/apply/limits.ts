// What one normal user may hold at once through the privileged helper; root
// sets it in CONFIG/limits.json, e.g. {"bridges": 4, "macvtaps": 2, "taps": 16, "registrations": 8}.
import { readFileSync } from 'node:fs';
import type { ActionKindName } from '../base/types.ts';

const DEFAULT_LIMITS: Readonly<Partial<Record<ActionKindName, number>>> = { bridge: 8, macvtap: 8, tap: 32, dhcp: 16 };

const FILE_KEYS: Readonly<Partial<Record<ActionKindName, string>>> = {
  bridge: 'bridges',
  macvtap: 'macvtaps',
  tap: 'taps',
  dhcp: 'registrations',
};

export const limitsPath = (config: string) => `${config}/limits.json`;

/** The limits, the file's valid entries over the defaults. */
export function readLimits(config: string): Partial<Record<ActionKindName, number>> {
  let raw: Record<string, unknown> = {};
  try {
    raw = JSON.parse(readFileSync(limitsPath(config), 'utf8')) as Record<string, unknown>;
  } catch {
    return { ...DEFAULT_LIMITS };
  }
  const limits = { ...DEFAULT_LIMITS };
  for (const [kind, key] of Object.entries(FILE_KEYS) as Array<[ActionKindName, string]>) {
    const value = raw[key];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) limits[kind] = value;
  }
  return limits;
}

export const limitWord = (kind: ActionKindName) => FILE_KEYS[kind] ?? kind;
