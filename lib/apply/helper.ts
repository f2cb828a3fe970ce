// The one privileged entry point for normal users: `sudo -n qemu-script-helper REQUEST`, the
// tool under its helper name, which runs nothing but this whatever its arguments (qemu-script.ts).
// Requests are `KIND-add WORDS...`, `KIND-del NAME GUEST`, `hold GUEST PID` and `gc`, for the kinds
// of the action table. Each kind validates its own words and takes anything
// trusted (addresses, device paths, a network's settings) from root's own files;
// only what the tool recorded is ever removed, and never a shell.
import { realpathSync } from 'node:fs';
import { ACTION_KINDS, isKindName, KIND_NAMES } from '../actions/index.ts';
import { arity, checked, GUEST_NAME, refuse, type Caller } from '../actions/kind.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { acquire, acquireAll, collectResources, rehold, release, releaseAll } from './host-changes.ts';
import { limitsPath, limitWord, memberForwardProblem, readLimits } from './limits.ts';
import { INTERFACE_NAME } from '../base/names.ts';
import { configDir, SYSTEM_CONFIG_DIR, SYSTEM_RUN_DIR } from '../base/paths.ts';
import { currentNetns, parentPid, processExe, processId, processUid, type ProcessId } from '../base/proc.ts';
import { HELPER_NAME } from '../base/self.ts';
import { findSystemTool } from '../base/system-tools.ts';
import type { Registry, ResourceRecord } from '../state/registry.ts';
import type { ActionKindName, HostAction } from '../base/types.ts';

const HELPER_USAGE =
  'KIND-add WORDS | KIND-del NAME GUEST | batch REQUEST + REQUEST ... | hold GUEST PID | gc ' +
  `(KIND: ${KIND_NAMES.join(', ')})`;

/**
 * The process a request is for (it holds what the request makes): the first ancestor that is not
 * sudo (which, with `Defaults use_pty`, is two processes). It must be the caller's own and not
 * init: a request from a process that is gone would hold its changes for ever.
 */
function requester(uid: number, viaSudo: boolean): ProcessId {
  const found = viaSudo ? findSystemTool('sudo') : undefined;
  const sudo = found && realpathSync(found);
  let pid = process.ppid;
  for (let depth = 0; sudo && depth < 4 && pid > 1 && processExe(pid) === sudo; depth++) pid = parentPid(pid) ?? 0;
  const holder = pid > 1 && (!viaSudo || processUid(pid) === uid) ? processId(pid) : undefined;
  if (!holder) throw refuse('cannot identify the requesting process (it must be yours, and still running)');
  return holder;
}

export async function helperMain(args: string[], env: Record<string, string | undefined>): Promise<string> {
  if (process.getuid?.() !== 0) throw new UsageError(`must run as root: sudo -n ${HELPER_NAME} ...`);
  const viaSudo = env.SUDO_UID !== undefined;
  if (viaSudo && !/^\d{1,10}$/.test(env.SUDO_UID!)) throw refuse('SUDO_UID is not a user id');
  const uid = viaSudo ? Number(env.SUDO_UID) : 0;
  const holder = requester(uid, viaSudo);
  // A member's environment never chooses root's configuration.
  const caller: Caller = { uid, config: viaSudo ? SYSTEM_CONFIG_DIR : configDir(0, env), registryDir: SYSTEM_RUN_DIR };
  const options = { registryDir: caller.registryDir };
  const [op = '', ...words] = args;
  if (op === 'gc') {
    arity(words, 0, 0, 'gc takes no arguments');
    // One line each: what was removed, and (after `failed: `) what could not be.
    const { removed, failures } = await collectResources(options);
    return [...removed, ...failures.map((failure) => `failed: ${failure}`)].map((line) => `${line}\n`).join('');
  }
  if (op === 'hold') {
    // The launcher hands its guest's holds to the waiter it started: only to a child of its own, of the same
    // user. A later change to a running guest (fwd add) hands its hold to what holds the guest's others already.
    arity(words, 2, 2, 'hold takes GUEST PID');
    const guest = checked(words[0], GUEST_NAME, 'guest name');
    const pid = Number(checked(words[1], /^\d{1,10}$/, 'process id'));
    const waiter = processId(pid);
    if (!waiter || processUid(pid) !== uid) throw refuse(`process ${pid} is not yours`);
    const child = parentPid(pid) === holder.pid;
    const netns = currentNetns();
    const admit = (registry: Registry) => {
      const holds = registry.resources.some(
        (record) =>
          record.netns === netns &&
          record.users.some(
            (user) =>
              user.uid === uid && user.guest === guest && user.holder.pid === pid && user.holder.start === waiter.start,
          ),
      );
      if (!child && !holds) throw refuse(`process ${pid} is not a child of yours, nor what holds your guest ${guest}`);
    };
    return `${await rehold({ uid, guest }, waiter, options, admit)}\n`;
  }
  if (op === 'batch') return batch(words, caller, holder);
  const request = parseRequest([op, ...words], caller);
  if (request.verb === 'add') {
    const admit = admitter(caller);
    const user = { uid, guest: request.action.guest, holder };
    const made = await acquire(request.action, user, options, (registry, existing) =>
      admit(registry, existing, request.action),
    );
    return `${made}\n`;
  }
  const { kind, key, guest } = request;
  const outcome = await release(kind, key, { uid, guest }, options, (record) =>
    checkRelease(record, kind, key, guest, uid),
  );
  return `${outcome}\n`;
}

type Request =
  | { verb: 'add'; action: HostAction }
  | { verb: 'del'; kind: ActionKindName; key: string; guest: string };

/** `KIND-add WORDS...` as the kind reads it, or `KIND-del NAME GUEST`; anything else is refused. */
function parseRequest([op = '', ...words]: string[], caller: Caller): Request {
  const [kindName, verb] = op.split('-');
  if (!isKindName(kindName) || (verb !== 'add' && verb !== 'del') || op.split('-').length !== 2) {
    throw refuse(`unknown request ${JSON.stringify(op)}; accepted: ${HELPER_USAGE}`);
  }
  if (verb === 'add') return { verb, action: ACTION_KINDS[kindName].fromRequest(words, caller) };
  arity(words, 2, 2, `${op} takes NAME GUEST`);
  return {
    verb,
    kind: kindName,
    key: checked(words[0], INTERFACE_NAME, 'name'),
    guest: checked(words[1], GUEST_NAME, 'guest name'),
  };
}

/** What a member may make: their forwards' grant, and their limits (counted as the registry stands under the lock). */
function admitter(caller: Caller) {
  const { uid } = caller;
  const limits = readLimits(caller.config);
  return (registry: Registry, existing: ResourceRecord | undefined, action: HostAction) => {
    if (uid === 0) return;
    const forward = action.kind === 'publish' ? memberForwardProblem(action, caller.config) : undefined;
    if (forward) throw refuse(forward);
    const limit = limits[action.kind];
    if (limit === undefined) return;
    // DHCP counts each registration (a MAC on a network's server), the others each thing made.
    const mac = action.kind === 'dhcp' ? action.mac : undefined;
    const again = (record: ResourceRecord, registered?: string) => record === existing && registered === mac;
    const registrations = registry.resources
      .filter((record) => record.kind === 'dhcp')
      .flatMap((record) => record.users.filter((user) => user.uid === uid && !again(record, user.mac)));
    const made = registry.resources.filter((record) => record.kind === action.kind && record.creator === uid);
    const held = action.kind === 'dhcp' ? registrations.length : existing ? 0 : made.length;
    if (held >= limit) {
      throw refuse(
        `you hold ${held} ${limitWord(action.kind)} already, the most a user may (set in ` +
          `${limitsPath(caller.config)}); stop a guest or run qemu-script gc`,
      );
    }
  };
}

/**
 * Releasing: an interface the tool did not record is refused by name; a rule set or setting it never needed is
 * nothing to undo; a member releases only their own guest's share.
 */
function checkRelease(
  record: ResourceRecord | undefined,
  kind: ActionKindName,
  key: string,
  guest: string,
  uid: number,
) {
  if (!record && ACTION_KINDS[kind].makesInterface)
    throw refuse(`${key} was not created by qemu-script; it is left alone`);
  if (!record) return;
  if (uid !== 0 && !record.users.some((user) => user.uid === uid && user.guest === guest)) {
    throw refuse(`${key} is not held by your guest ${guest}`);
  }
}

/**
 * `batch REQUEST + REQUEST + ...`: a launch's host changes (all KIND-add) or a cleanup's (all KIND-del) in one
 * request, so one sudo and one start of the helper. Every request is read and checked before the first is made;
 * adds are made in order under one lock and a refusal undoes those before it; dels are all tried.
 */
async function batch(words: string[], caller: Caller, holder: ProcessId): Promise<string> {
  const groups: string[][] = [[]];
  for (const word of words) {
    if (word === '+') groups.push([]);
    else groups.at(-1)!.push(word);
  }
  if (groups.some((group) => group.length === 0)) throw refuse('batch takes REQUEST + REQUEST + ...');
  const requests = groups.map((group) => parseRequest(group, caller));
  const options = { registryDir: caller.registryDir };
  const adds = requests.flatMap((request) => (request.verb === 'add' ? [request.action] : []));
  if (adds.length === requests.length) {
    const admit = admitter(caller);
    return (await acquireAll(adds, { uid: caller.uid, holder }, options, admit)).map((line) => `${line}\n`).join('');
  }
  if (adds.length > 0) throw refuse('a batch is all KIND-add or all KIND-del');
  const releases = requests.flatMap((request) => (request.verb === 'del' ? [request] : []));
  const failures = await releaseAll(releases, caller.uid, options, (record, kind, key, guest) =>
    checkRelease(record, kind, key, guest, caller.uid),
  );
  if (failures.length > 0) throw new HostError(failures.join('; '));
  return releases.map(() => 'released\n').join('');
}
