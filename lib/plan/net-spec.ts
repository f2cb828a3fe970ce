// --net's words (the compact letters and the named forms) read into NIC requests, and --fwd's forwards.
import { UsageError } from '../base/errors.ts';
import { INTERFACE_NAME, vmnetName } from '../base/names.ts';
import type { Forward, NetItem } from '../base/types.ts';

const COMPACT = /^(tap:)?([up0-9a-f]+)$/i;

/** What each --net item means: --help, the man page and the completions are made from this. */
export const NET_ITEM_HELP: ReadonlyArray<[item: string, meaning: string]> = [
  ['user, nat', 'user network (NAT 10.0.2.0/24), SSH forward on localhost:10022 or the next free port'],
  [
    'passt',
    "user networking by passt (a process of yours per guest): the host's addresses (IPv6 by DHCPv6 only), " +
      'SSH and --fwd (TCP and UDP) on 127.0.0.1',
  ],
  ['bridge, bridged', "bridged adapter: the guest joins the LAN of the host's default route"],
  [
    'hostonly, natnet',
    "defined networks (see net ls): a bridge with the host's address, DHCP and guest names; natnet also leads " +
      "out through NAT",
  ],
  ['NAME=ADDRESS', "a defined network's NIC with a fixed address from its DHCP server (hostonly=192.168.56.10)"],
  ['vmnetN', 'internal bridge vmnetN (N from 0): made if missing, removed with its last guest'],
  [
    'br:NAME',
    'a bridge of any name, made if missing; an existing bridge (e.g. br0) is used by its bare name too, and ' +
      'never removed',
  ],
  ['macvtap:IF', "a macvtap over interface IF: the guest on IF's LAN"],
  ['mcast:N', 'internal network N (0-254) over multicast on loopback, no host change; mcast:N:lan spans the LAN'],
  ['none', 'no NIC at all'],
  [
    'u p 0-f',
    'compact form, a letter per NIC: u user, p bridged adapter, 0-f internal network N (multicast); with tap: ' +
      '(tap:u0a) internal networks are bridges vmnetN',
  ],
];

/** The words --net takes as they are, for completion. */
export const NET_WORDS: readonly string[] = [
  'user',
  'passt',
  'nat',
  'bridge',
  'bridged',
  'host-only',
  'none',
  'vmnet0',
  'br:',
  'macvtap:',
  'mcast:0',
  'tap:',
];

/** WHAT is where the spec came from, as the user wrote it: --net, or VM_NET. */
function bad(what: string, item: string, why: string): UsageError {
  return new UsageError(`${what} ${item}: ${why}`);
}

function parseCompact(letters: string, tap: boolean): NetItem[] {
  return [...letters.toLowerCase()].map((letter): NetItem => {
    if (letter === 'u') return { kind: 'user' };
    if (letter === 'p') return { kind: 'bridged' };
    const n = parseInt(letter, 16);
    return tap ? { kind: 'bridge', name: vmnetName(n), explicit: true } : { kind: 'mcast', group: n, lan: false };
  });
}

/** The words users bring from VirtualBox, and what they mean here. */
const ALIASES: Readonly<Record<string, NetItem>> = {
  nat: { kind: 'user' },
  bridged: { kind: 'bridged' },
  'host-only': { kind: 'bridge', name: 'hostonly', explicit: false },
  natnetwork: { kind: 'bridge', name: 'natnet', explicit: false },
  'nat-network': { kind: 'bridge', name: 'natnet', explicit: false },
};

/** NAME=ADDRESS: a defined network's NIC with a fixed address (checked against the network when planned). */
function withAddress(item: string, what: string): NetItem {
  const [name, address] = item.split('=', 2);
  const [named] = parseItem(name, what);
  const usage = 'a fixed address goes with the name of a defined network: NAME=ADDRESS (hostonly=192.168.56.10)';
  if (named?.kind !== 'bridge' || named.explicit || item.indexOf('=') !== item.lastIndexOf('='))
    throw bad(what, item, usage);
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) throw bad(what, item, `"${address}" is not an IPv4 address`);
  return { ...named, address };
}

function parseItem(item: string, what: string): NetItem[] {
  if (item.includes('=')) return [withAddress(item, what)];
  const compact = COMPACT.exec(item);
  if (compact) return parseCompact(compact[2], Boolean(compact[1]));
  if (item === 'user') return [{ kind: 'user' }];
  if (item === 'passt') return [{ kind: 'passt' }];
  if (item === 'bridge') return [{ kind: 'bridged' }];
  if (item in ALIASES) return [ALIASES[item]];
  if (item === 'internal') {
    throw bad(what, item, 'an internal network needs a number: vmnetN (a bridge) or 0-f, mcast:N (multicast)');
  }
  const [prefix, rest, extra] = item.split(':');
  if (rest !== undefined) {
    if (prefix === 'mcast') {
      const group = /^\d{1,3}$/.test(rest) ? Number(rest) : NaN;
      if (!(group >= 0 && group <= 254)) throw bad(what, item, 'the multicast network number must be 0-254');
      if (extra !== undefined && extra !== 'lan') throw bad(what, item, `"${extra}" is no multicast option (lan is)`);
      return [{ kind: 'mcast', group, lan: extra === 'lan' }];
    }
    if (extra === undefined && (prefix === 'macvtap' || prefix === 'br')) {
      if (!INTERFACE_NAME.test(rest))
        throw bad(what, item, `"${rest}" is not an interface name (letters, digits, _ . -, at most 15)`);
      return [prefix === 'br' ? { kind: 'bridge', name: rest, explicit: true } : { kind: 'macvtap', parent: rest }];
    }
    if (prefix === 'tap') throw bad(what, item, `tap: takes the compact letters u, p and 0-f, not "${rest}"`);
    throw bad(what, item, `"${prefix}:" is no network prefix (br:, macvtap:, mcast:, tap:)`);
  }
  // One or two characters are a mistyped compact spec far more often than a
  // bridge name: refuse them (br:NAME still reaches such a bridge).
  if (item.length <= 2) {
    const letter = [...item].find((char) => !/[up0-9a-f]/i.test(char));
    throw bad(what, item, `"${letter}" is no network letter (u, p, 0-f); a bridge of that name is br:${item}`);
  }
  if (INTERFACE_NAME.test(item)) return [{ kind: 'bridge', name: item, explicit: false }];
  throw bad(what, item, 'no such network (see qemu-script --help, or qemu-script net ls)');
}

/** Parses one or more --net values into NICs in written order; [] means `none`. */
export function parseNetSpecs(specs: string[], what = '--net'): { items: NetItem[]; notes: string[] } {
  const words = specs.flatMap((spec) => spec.split(',')).map((word) => word.trim());
  if (words.includes('none')) {
    if (words.length > 1)
      throw new UsageError(`${what} ${specs.join(',')}: "none" cannot be combined with other networks`);
    return { items: [], notes: [] };
  }
  const parsed = words.flatMap((word) => {
    if (word === '') throw bad(what, specs.join(','), 'an empty item between commas');
    return parseItem(word, what);
  });
  // `vm` announced it dropped a second user network but kept it; one user NIC
  // already has NAT and every forward, so a second one is really dropped here.
  const items: NetItem[] = [];
  const notes: string[] = [];
  for (const item of parsed) {
    if (item.kind === 'user' && items.some((kept) => kept.kind === 'user')) {
      if (notes.length === 0) notes.push('duplicate user network removed: one user network is enough');
      continue;
    }
    items.push(item);
  }
  // Each would take the SSH forward and every --fwd: one way in through the host's loopback.
  const userModes = items.filter((item) => item.kind === 'user' || item.kind === 'passt');
  if (userModes.length > 1) {
    throw bad(what, specs.join(','), 'one user-mode network per guest: user or passt, once');
  }
  return { items, notes };
}

export function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`${what}: "${text}" is not a port (1-65535)`);
  return port;
}

const PROTOCOLS: readonly Forward['protocol'][] = ['tcp', 'udp'];

/** --fwd [tcp:|udp:]HOST-GUEST, or Docker's and quickemu's HOST:GUEST[/udp]; WHAT names the option. */
export function parseForward(text: string, what = '--fwd'): Forward {
  const match = /^(?:([a-z]+):)?(\d+)[-:](\d+)(?:\/([a-z]+))?$/i.exec(text);
  if (!match)
    throw new UsageError(
      `${what}: "${text}" is not a forward (accepted: [tcp:|udp:]HOSTPORT-GUESTPORT or HOSTPORT:GUESTPORT[/udp], ` +
        `e.g. 8080-80)`,
    );
  const named = match[1] ?? match[4] ?? 'tcp';
  const protocol = PROTOCOLS.find((known) => known === named.toLowerCase());
  if (!protocol || (match[1] && match[4]))
    throw new UsageError(`${what}: "${named}" in "${text}" is not a protocol (accepted: tcp, udp)`);
  return { protocol, hostPort: parsePort(match[2], what), guestPort: parsePort(match[3], what) };
}
