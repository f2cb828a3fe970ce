// qemu-script setup: prepares a host as the seed does by hand (group, ICMP for
// user networks, bridge helper capability and ACL, udev rules, vhost_net,
// sudoers for the privileged helper). Idempotent; every file it writes carries
// a marker; --undo puts back what it changed. --root DIR redirects every path.
import { chmodSync, chownSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { HostError, UsageError, messageOf } from '../base/errors.ts';
import { printOut } from '../base/output.ts';
import { readText } from '../probe/host-access.ts';
import { INTERFACE_NAME } from '../base/names.ts';
import { probe, run } from '../base/runner.ts';
import {
  MARKER,
  STATE,
  at,
  checkBinary,
  groupChanges,
  hostChanges,
  makeDirs,
  prefix,
  type Change,
  type SetupOptions,
  type SetupState,
} from './setup-changes.ts';
import { BRIDGE_CONF, PING_GROUP_RANGE, SETUP_BRIDGE_ACL } from '../base/paths.ts';
import { findSystemTool } from '../base/system-tools.ts';

export { MARKER, type SetupOptions } from './setup-changes.ts';

function readState(options: SetupOptions): SetupState {
  try {
    return JSON.parse(readFileSync(at(options, STATE), 'utf8')) as SetupState;
  } catch {
    return { usersAdded: [], files: [] };
  }
}

/** Root's alone (0600): what setup changed is nobody else's business. */
function writeState(options: SetupOptions, state: SetupState): void {
  makeDirs(options, state, dirname(STATE));
  writeFileSync(at(options, STATE), `${JSON.stringify(state, null, 1)}\n`, { mode: 0o600 });
  chmodSync(at(options, STATE), 0o600);
}

/** Makes the changes live on a real host (not under --root). */
async function activate(options: SetupOptions): Promise<string[]> {
  if (options.root) return [];
  const notes: string[] = [];
  const udevadm = findSystemTool('udevadm');
  if (udevadm) {
    await run([udevadm, 'control', '--reload']).catch(() => undefined);
    await run([udevadm, 'trigger', '--subsystem-match=misc', '--subsystem-match=net']).catch(() => undefined);
  }
  if (!(await probe(['modprobe', 'vhost_net'])).ok)
    notes.push('vhost_net could not be loaded now (no such module in this kernel?): NICs will run without vhost-net');
  await run(['sysctl', '-q', '-p', '/etc/sysctl.d/60-qemu-script.conf']).catch((error: Error) =>
    notes.push(error.message),
  );
  return notes;
}

/** Everything setup could refuse, checked before its first change: a refused setup changes nothing. */
function validate(options: SetupOptions): void {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(options.group))
    throw new UsageError(`setup --group: "${options.group}" is not a group name`);
  for (const bridge of options.allowBridges) {
    if (!INTERFACE_NAME.test(bridge)) throw new UsageError(`setup --allow-bridge: "${bridge}" is not a bridge name`);
  }
  for (const link of options.allowMacvtaps) {
    if (!INTERFACE_NAME.test(link)) throw new UsageError(`setup --allow-macvtap: "${link}" is not an interface name`);
  }
  checkBinary(options.binary);
}

export async function setup(options: SetupOptions): Promise<string> {
  if (process.getuid?.() !== 0 && !options.dryRun)
    throw new UsageError('setup must run as root: sudo qemu-script setup');
  validate(options);
  const groups = groupChanges(options);
  if (options.dryRun) {
    const all = [...groups, ...(await hostChanges(options))];
    return all.length === 0
      ? 'nothing to change: this host is already set up\n'
      : all.map((change) => `would ${change.describe}\n`).join('');
  }
  const state = readState(options);
  const done: string[] = [];
  const apply = async (changes: Change[]) => {
    for (const change of changes) {
      await change.apply(state);
      writeState(options, state);
      done.push(change.describe);
    }
  };
  await apply(groups);
  await apply(await hostChanges(options));
  if (done.length === 0) return 'nothing to change: this host is already set up\n';
  // What the sysctl drop-in is about to change, so that --undo puts it back.
  if (!options.root && state.pingGroupRange === undefined) {
    state.pingGroupRange = readText(PING_GROUP_RANGE)?.trim().replace(/\s+/g, ' ');
    writeState(options, state);
  }
  const notes = await activate(options);
  return [...done, ...notes.map((note) => `note: ${note}`)].map((line) => `${line}\n`).join('');
}

export async function undoSetup(options: SetupOptions): Promise<string> {
  if (process.getuid?.() !== 0 && !options.dryRun) throw new UsageError('setup --undo must run as root');
  const state = readState(options);
  const lines: string[] = [];
  const failed: string[] = [];
  // Every step it can: one that fails is reported, and the others still run.
  const act = async (describe: string, action: () => Promise<unknown> | unknown) => {
    lines.push(options.dryRun ? `would ${describe}` : describe);
    if (options.dryRun) return;
    try {
      await action();
    } catch (error) {
      failed.push(`${describe}: ${messageOf(error)}`);
      lines.pop();
    }
  };
  for (const path of state.files) {
    if (readText(at(options, path))?.startsWith(MARKER)) await act(`remove ${path}`, () => rmSync(at(options, path)));
  }
  if (state.bridgeConfAppended) {
    const conf = at(options, BRIDGE_CONF);
    const kept = (readText(conf) ?? '')
      .split('\n')
      .filter((line) => line !== MARKER && line !== `include ${SETUP_BRIDGE_ACL}`)
      .join('\n');
    await act(`remove the include line from ${BRIDGE_CONF}`, () => writeFileSync(conf, kept));
  }
  if (state.capability) {
    const { path, previous } = state.capability;
    await act(previous ? `restore ${previous} on ${path}` : `remove the capability from ${path}`, () =>
      run(previous ? ['setcap', previous, at(options, path)] : ['setcap', '-r', at(options, path)]),
    );
  }
  const passwd = readText(at(options, '/etc/passwd')) ?? '';
  for (const user of state.usersAdded) {
    // A user deleted since has left the group with their account: nothing to undo.
    if (!passwd.split('\n').some((line) => line.split(':')[0] === user)) continue;
    await act(`remove ${user} from group ${options.group}`, () =>
      run(['usermod', '-r', '-G', options.group, ...prefix(options), user]),
    );
  }
  for (const device of state.devices ?? []) {
    await act(`restore owner and mode of ${device.path}`, () => {
      chownSync(device.path, statSync(device.path).uid, device.gid);
      chmodSync(device.path, device.mode);
    });
  }
  if (state.groupCreated)
    await act(`delete group ${state.groupCreated}`, () => run(['groupdel', ...prefix(options), state.groupCreated!]));
  if (state.helperLinked) await act(`remove ${state.helperLinked}`, () => rmSync(state.helperLinked!, { force: true }));
  if (state.pingGroupRange) {
    const previous = state.pingGroupRange;
    await act(`set net.ipv4.ping_group_range back to ${previous}`, () =>
      run(['sysctl', '-q', '-w', `net.ipv4.ping_group_range=${previous}`]),
    );
  }
  if (!options.dryRun && failed.length === 0) {
    rmSync(at(options, STATE), { force: true });
    // Deepest first; a directory that holds someone else's files stays.
    for (const path of [...(state.created ?? [])].sort((a, b) => b.length - a.length)) {
      try {
        rmdirSync(at(options, path));
      } catch {
        // not empty, or already gone
      }
    }
  }
  if (failed.length > 0) {
    // The state stays, so that another --undo tries what failed again (what was undone is checked first).
    if (lines.length > 0) printOut(`${lines.join('\n')}\n`);
    throw new HostError(`setup --undo could not ${failed.join('; ')}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : 'nothing to undo\n';
}
