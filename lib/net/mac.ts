// MAC addresses: VM_PREMAC and --mac read, and one MAC per NIC planned (stable from the disk, random, or given).
import { UsageError } from '../base/errors.ts';
import { sha256 } from '../base/sha256.ts';
import type { MacMode } from '../base/types.ts';

const OCTET = /^[0-9a-f]{1,2}$/i;

function parseOctets(text: string): number[] | undefined {
  const parts = text.split(':');
  if (!parts.every((part) => OCTET.test(part))) return undefined;
  return parts.map((part) => parseInt(part, 16));
}

function formatMac(octets: ArrayLike<number>): string {
  let text = '';
  for (let i = 0; i < octets.length; i++)
    text += `${i > 0 ? ':' : ''}${octets[i] < 16 ? '0' : ''}${octets[i].toString(16)}`;
  return text;
}

function isLocalUnicast(firstOctet: number): boolean {
  return (firstOctet & 0x01) === 0 && (firstOctet & 0x02) === 2;
}

/**
 * VM_PREMAC: 1 to 6 octets of a unicast MAC. A vendor's (globally
 * administered) prefix is accepted, as `vm` did, with a warning.
 */
export function parseMacPrefix(text: string): { octets: number[]; warning?: string } {
  const octets = parseOctets(text);
  if (!octets || octets.length > 6 || (octets[0] & 1) === 1) {
    throw new UsageError(
      `VM_PREMAC: "${text}" is not a usable MAC prefix (1-6 hex octets like de:ad:be:ef, unicast: the first ` +
        `octet's second hex digit even)`,
    );
  }
  if (isLocalUnicast(octets[0])) return { octets };
  return {
    octets,
    warning:
      `VM_PREMAC ${text} is a vendor's prefix: guests may clash with real hardware on the LAN;\n` +
      '  a locally administered one cannot (second hex digit 2, 6, a or e, like de:ad:be:ef)',
  };
}

export function parseMac(text: string, what: string): string {
  const octets = parseOctets(text);
  if (!octets || octets.length !== 6 || (octets[0] & 1) === 1) {
    throw new UsageError(`${what}: "${text}" is not a unicast MAC address (six hex octets like de:ad:be:ef:00:01)`);
  }
  return formatMac(octets);
}

/** --mac stable | random | MAC[,MAC...] (explicit MACs for the first NICs). */
export function parseMacMode(text: string): MacMode {
  if (text === 'stable' || text === 'random') return { kind: text };
  return { kind: 'fixed', macs: text.split(',').map((mac) => parseMac(mac, '--mac')) };
}

function fill(prefix: number[], source: Uint8Array): number[] {
  const octets = prefix.slice();
  for (let i = 0; octets.length < 6; i++) octets.push(source[i]);
  return octets;
}

/**
 * One MAC per NIC. Stable MACs come from a hash of `seed` (the first disk's
 * absolute path or the guest name) and the NIC index, so a guest keeps its NIC
 * identity and DHCP lease across boots; a collision with another NIC or a
 * running guest moves to the next hash, never to an equal MAC.
 */
export function planMacs(count: number, mode: MacMode, prefix: number[], seed: string, usedMacs: string[]): string[] {
  const taken = new Set(usedMacs.map((mac) => mac.toLowerCase()));
  const macs: string[] = [];
  for (let index = 0; index < count; index++) {
    const fixed = mode.kind === 'fixed' ? mode.macs[index] : undefined;
    if (fixed !== undefined) {
      if (macs.includes(fixed))
        throw new UsageError(`--mac: two NICs forced onto the same MAC ${fixed}; give each NIC its own`);
      if (taken.has(fixed)) throw new UsageError(`--mac: ${fixed} is already used by a running guest; choose another`);
      macs.push(fixed);
      continue;
    }
    if (prefix.length === 6 && count > 1) {
      throw new UsageError(
        `VM_PREMAC: a full MAC (${formatMac(prefix)}) forces every NIC onto the same MAC; give at most 5 octets`,
      );
    }
    let mac = '';
    for (let attempt = 0; attempt < 4096; attempt++) {
      const source =
        mode.kind === 'random'
          ? globalThis.crypto.getRandomValues(new Uint8Array(6))
          : sha256(`${seed}\0${index}\0${attempt}`);
      mac = formatMac(fill(prefix, source));
      if (!taken.has(mac) && !macs.includes(mac)) break;
      mac = '';
    }
    if (!mac)
      throw new UsageError(`VM_PREMAC: no free MAC left under prefix ${formatMac(prefix)}; use a shorter prefix`);
    macs.push(mac);
  }
  if (mode.kind === 'fixed' && mode.macs.length > count) {
    throw new UsageError(`--mac: ${mode.macs.length} MACs given for ${count} NIC(s)`);
  }
  return macs;
}
