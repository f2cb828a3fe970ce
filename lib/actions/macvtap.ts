// A macvtap over a LAN NIC and a private character device node for it, passed
// to QEMU as an open descriptor; one guest's alone, removed with it.
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { HostError } from '../base/errors.ts';
import { INTERFACE_NAME, MACVTAP_NAME } from '../base/names.ts';
import { macvtapAclPath, macvtapNodePath, sysNet } from '../base/paths.ts';
import { recordIntent } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import type { HostAction } from '../base/types.ts';
import {
  arity,
  checked,
  checkedMac,
  deleteHalfMadeLink,
  addMarkedLink,
  deleteLinkArgv,
  destroyLink,
  GUEST_NAME,
  linkExists,
  makeRecorded,
  markArgv,
  refuse,
  type ActionKind,
  type Caller,
} from './kind.ts';
import { readText } from '../probe/host-access.ts';

type MacvtapAction = Extract<HostAction, { kind: 'macvtap' }>;

const addArgv = (action: MacvtapAction) => [
  'ip',
  'link',
  'add',
  'link',
  action.parent,
  'name',
  action.name,
  'address',
  action.mac,
  'type',
  'macvtap',
  'mode',
  'bridge',
];
// allmulticast: without it IPv6 neighbour discovery and multicast fail in the guest.
/** Set with the mark. */
const UP = ['allmulticast', 'on', 'up'];
const mknodArgv = (node: string, major: string, minor: string) => ['mknod', '-m', '0600', node, 'c', major, minor];

/** The macvtap's character device numbers, as the kernel publishes them. */
function deviceNumbers(name: string): [string, string] {
  const dir = sysNet(name, 'macvtap');
  const tap = readdirSync(dir).find((entry) => entry.startsWith('tap'));
  if (!tap) throw new HostError(`${name}: no character device under ${dir}`);
  const [major, minor] = readFileSync(`${dir}/${tap}/dev`, 'utf8').trim().split(':');
  return [major, minor];
}

/** The links root allowed members to put macvtaps on (besides physical NICs). */
function allowedParents(config: string): string[] {
  const lines = (readText(macvtapAclPath(config)) ?? '').split('\n');
  return lines.flatMap((line) => /^allow (\S+)$/.exec(line.trim())?.[1] ?? []);
}

/**
 * A parent a macvtap may go on: an Ethernet interface that is not itself a macvtap or Wi-Fi; for a
 * member, also a physical NIC or one root allowed (a bridge or a container's veth would let the
 * member talk on networks that are not theirs).
 */
function ethernetParent(name: string, caller: Caller): string {
  const dir = sysNet(name);
  if (!existsSync(dir)) throw refuse(`no interface ${name}`);
  const ether = readFileSync(`${dir}/type`, 'utf8').trim() === '1';
  if (!ether || existsSync(`${dir}/macvtap`) || existsSync(`${dir}/wireless`))
    throw refuse(`${name} cannot carry a macvtap`);
  const physical = existsSync(`${dir}/device`) && !existsSync(`${dir}/bridge`);
  if (caller.uid !== 0 && !physical && !allowedParents(caller.config).includes(name)) {
    throw refuse(`${name} is no physical NIC and root did not allow it for macvtaps (setup --allow-macvtap ${name})`);
  }
  return name;
}

export const macvtap: ActionKind<MacvtapAction> = {
  makesInterface: true,

  key: (action) => action.name,

  show: (action) => ({
    apply: [
      { argv: addArgv(action) },
      { argv: markArgv(action.name, undefined, UP) },
      {
        argv: mknodArgv(action.node, 'MAJOR', 'MINOR'),
        note: `MAJOR:MINOR read from ${sysNet(action.name, 'macvtap', 'tap*', 'dev')}`,
      },
    ],
    undo: [{ argv: deleteLinkArgv(action.name) }, { argv: ['rm', '-f', action.node] }],
  }),

  request: (action) => [action.name, action.parent, action.mac, action.guest],

  fromRequest(words, caller) {
    arity(words, 4, 4, 'macvtap-add takes macvtapN PARENT MAC GUEST');
    // The words first, then what the host has.
    const name = checked(words[0], MACVTAP_NAME, 'macvtap name (macvtapN)');
    const mac = checkedMac(words[2]);
    const guest = checked(words[3], GUEST_NAME, 'guest name');
    const parent = ethernetParent(checked(words[1], INTERFACE_NAME, 'parent interface'), caller);
    // The node lives in root's directory, never in one the caller controls.
    return { kind: 'macvtap', name, parent, mac, guest, node: macvtapNodePath(false, '', guest, name) };
  },

  async acquire(action, user, context) {
    if (linkExists(action.name))
      throw new HostError(`${action.name} already exists; run qemu-script gc, or retry (the name is chosen afresh)`);
    const record = recordIntent(context.tx, {
      kind: 'macvtap',
      name: action.name,
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: { node: action.node },
    });
    await makeRecorded(
      context,
      record,
      async () => {
        const hint = `is ${action.parent} an Ethernet interface?`;
        await addMarkedLink(addArgv(action), action.name, record, { verbose: context.verbose, hint, also: UP });
        const [major, minor] = deviceNumbers(action.name);
        mkdirSync(dirname(action.node), { recursive: true, mode: 0o755 });
        rmSync(action.node, { force: true });
        await run(mknodArgv(action.node, major, minor), { verbose: context.verbose });
        if (user.uid !== 0) chownSync(action.node, user.uid, -1);
      },
      async () => {
        await deleteHalfMadeLink(action.name, record);
        rmSync(action.node, { force: true });
      },
    );
    return action.node;
  },

  async destroy(record, context) {
    await destroyLink(record, context);
    if (typeof record.data.node === 'string') rmSync(record.data.node, { force: true });
  },
};
