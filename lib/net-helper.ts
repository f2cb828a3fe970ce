// The one privileged entry point for normal users: `sudo -n qemu-script net-helper REQUEST`.
// It accepts only well-formed requests, creates only interfaces named by the
// tool's patterns, removes only what it created, and never runs a shell.
import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from './errors.ts';
import { parseMac } from './mac.ts';
import { INTERFACE_NAME } from './net-spec.ts';
import { bridgeAdd, bridgeRelease, gcInterfaces, macvtapAdd, macvtapDel } from './netops.ts';
import { macvtapNodePath, SYSTEM_RUN_DIR } from './paths.ts';
import { currentNetns, parentPid, processId } from './proc.ts';
import { findInterface, readRegistry } from './registry.ts';

const MACVTAP_NAME = /^macvtap\d{1,5}$/;
const GUEST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/;

export const HELPER_USAGE = 'net-helper bridge-add BRIDGE GUEST [CIDR] | bridge-del BRIDGE GUEST | macvtap-add macvtapN PARENT MAC GUEST | macvtap-del macvtapN GUEST | gc';

function refuse(why: string): UsageError {
  return new UsageError(`net-helper: refused: ${why}`);
}

function checked(value: string | undefined, pattern: RegExp, what: string): string {
  if (value === undefined || !pattern.test(value)) throw refuse(`${JSON.stringify(value ?? '')} is not a valid ${what}`);
  return value;
}

function ownedRecord(name: string, kind: 'bridge' | 'macvtap', uid: number, guest: string) {
  const record = findInterface(readRegistry(SYSTEM_RUN_DIR), name, currentNetns());
  if (!record || record.kind !== kind) throw refuse(`${name} was not created by qemu-script; it is left alone`);
  if (uid !== 0 && !record.users.some((user) => user.uid === uid && user.guest === guest)) {
    throw refuse(`${name} is not held by your guest ${guest}`);
  }
  return record;
}

function ethernetParent(name: string): string {
  const dir = `/sys/class/net/${name}`;
  if (!existsSync(dir)) throw refuse(`no interface ${name}`);
  const ether = readFileSync(`${dir}/type`, 'utf8').trim() === '1';
  if (!ether || existsSync(`${dir}/macvtap`) || existsSync(`${dir}/wireless`)) throw refuse(`${name} cannot carry a macvtap`);
  return name;
}

export async function netHelperMain(args: string[], env: Record<string, string | undefined>): Promise<string> {
  if (process.getuid?.() !== 0) throw new UsageError('net-helper must run as root: sudo -n qemu-script net-helper ...');
  const uid = env.SUDO_UID && /^\d+$/.test(env.SUDO_UID) ? Number(env.SUDO_UID) : 0;
  // The guest's supervisor: sudo's parent (or our parent when root calls directly).
  const holderPid = env.SUDO_UID ? parentPid(process.ppid) : process.ppid;
  const holder = holderPid ? processId(holderPid) : undefined;
  if (!holder) throw refuse('cannot identify the requesting process');
  const context = { registryDir: SYSTEM_RUN_DIR };
  const [op, ...rest] = args;
  switch (op) {
    case 'bridge-add': {
      if (rest.length < 2 || rest.length > 3) throw refuse(`bridge-add takes BRIDGE GUEST [CIDR]`);
      const name = checked(rest[0], INTERFACE_NAME, 'bridge name');
      const guest = checked(rest[1], GUEST_NAME, 'guest name');
      const hostIp = rest[2] === undefined ? undefined : checked(rest[2], CIDR, 'address/prefix');
      if (existsSync(`/sys/class/net/${name}`) && !existsSync(`/sys/class/net/${name}/bridge`)) throw refuse(`${name} exists and is not a bridge`);
      return `${await bridgeAdd({ name, hostIp, user: { uid, guest, holder } }, context)}\n`;
    }
    case 'bridge-del': {
      if (rest.length !== 2) throw refuse('bridge-del takes BRIDGE GUEST');
      const name = checked(rest[0], INTERFACE_NAME, 'bridge name');
      const guest = checked(rest[1], GUEST_NAME, 'guest name');
      ownedRecord(name, 'bridge', uid, guest);
      return (await bridgeRelease({ name, uid, guest }, context)) ? 'removed\n' : 'kept\n';
    }
    case 'macvtap-add': {
      if (rest.length !== 4) throw refuse('macvtap-add takes macvtapN PARENT MAC GUEST');
      const name = checked(rest[0], MACVTAP_NAME, 'macvtap name (macvtapN)');
      const parent = ethernetParent(checked(rest[1], INTERFACE_NAME, 'parent interface'));
      let mac: string;
      try {
        mac = parseMac(rest[2], 'MAC');
      } catch (error) {
        throw refuse((error as Error).message);
      }
      const guest = checked(rest[3], GUEST_NAME, 'guest name');
      const node = macvtapNodePath(false, '', guest, name);
      await macvtapAdd({ name, parent, mac, node, owner: uid, user: { uid, guest, holder } }, context);
      return `${node}\n`;
    }
    case 'macvtap-del': {
      if (rest.length !== 2) throw refuse('macvtap-del takes macvtapN GUEST');
      const name = checked(rest[0], MACVTAP_NAME, 'macvtap name (macvtapN)');
      const guest = checked(rest[1], GUEST_NAME, 'guest name');
      ownedRecord(name, 'macvtap', uid, guest);
      await macvtapDel({ name, uid, guest }, context);
      return '';
    }
    case 'gc':
      if (rest.length !== 0) throw refuse('gc takes no arguments');
      return (await gcInterfaces(context)).map((name) => `${name}\n`).join('');
    default:
      throw refuse(`unknown request ${JSON.stringify(op ?? '')}; accepted: ${HELPER_USAGE}`);
  }
}
