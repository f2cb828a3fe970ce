// qemu-script ssh [USER@]NAME [-- ssh args]: ssh to a guest through its SSH forward, else to its address on
// a defined network. A --cloud-init guest is logged into as the user, with the key and the host key its seed
// gave it; --wait waits for its SSH server first.
import { existsSync } from 'node:fs';
import type * as Net from 'node:net';
import { builtin } from '../base/builtin.ts';
import type { ToolContext } from '../base/context.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { printErr } from '../base/output.ts';
import { probe, start } from '../base/runner.ts';
import { printable } from '../base/table.ts';
import type { CloudInitPlan } from '../base/types.ts';
import { readRecord } from '../state/guests.ts';
import { guestView, sshEndpoint } from './guest-commands.ts';

/**
 * The ssh argv. A --cloud-init guest: its login user and key (only that key: an agent full of keys would
 * run into the server's attempt limit), and the host key it was given, expected under the instance's name
 * whatever the address; once that known_hosts file is gone, the key it shows is learnt at the next login.
 */
export function sshArgv(
  endpoint: { host: string; port: number },
  cloud: CloudInitPlan | undefined,
  login: string | undefined,
  extra: string[],
  knownHostsExists: boolean,
): string[] {
  const user = login ?? cloud?.login;
  const port = endpoint.port === 22 ? [] : ['-p', String(endpoint.port)];
  const options = loginOptions(cloud, knownHostsExists);
  return ['ssh', ...options, ...port, user ? `${user}@${endpoint.host}` : endpoint.host, ...extra];
}

/** What ssh and scp are both given: the guest's user key alone, and its pinned host key under its instance ID. */
function loginOptions(cloud: CloudInitPlan | undefined, knownHostsExists: boolean): string[] {
  const identity = cloud?.identity ? ['-i', cloud.identity, '-o', 'IdentitiesOnly=yes'] : [];
  const known = cloud
    ? [
        ...['-o', `UserKnownHostsFile=${cloud.knownHosts}`, '-o', `HostKeyAlias=${cloud.instanceId}`],
        ...['-o', `StrictHostKeyChecking=${knownHostsExists ? 'yes' : 'accept-new'}`],
      ]
    : [];
  return [...identity, ...known];
}

/** A side of `cp`: [USER@]NAME:PATH (a guest's), or a path here. */
const REMOTE = /^(?:([a-z_][a-z0-9_-]{0,31})@)?([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?):(.*)$/;

/**
 * qemu-script cp [-r] SRC... DEST: scp with the same user, key and pinned host key as `qemu-script ssh`, one side
 * a guest's ([USER@]NAME:PATH), the other this host's; progress on a terminal is scp's. The exit code is scp's.
 */
export async function copy(context: ToolContext, words: string[], recursive: boolean): Promise<number> {
  if (words.length < 2) throw new UsageError('cp needs SRC... DEST, one side [USER@]NAME:PATH');
  // A path here that holds a colon is written ./like:this (or absolute), as with scp.
  const local = (word: string) => word.startsWith('/') || word.startsWith('.');
  const sides = words.map((word) => ({ word, remote: local(word) ? null : REMOTE.exec(word) }));
  const dest = sides.at(-1)!;
  const sources = sides.slice(0, -1);
  const guests = new Set(sides.flatMap((side) => (side.remote ? [side.remote[2]] : [])));
  const mixed = dest.remote ? sources.some((side) => side.remote) : !sources.every((side) => side.remote);
  if (guests.size !== 1 || mixed)
    throw new UsageError("cp: one side is one guest's ([USER@]NAME:PATH), the other this host's: to or from one guest");
  const [name] = guests;
  const record = readRecord(context.runtimeDir, name);
  if (!record || guestView(record).state !== 'running')
    throw new UsageError(`cp: no running guest named "${name}" (qemu-script ps)`);
  const endpoint = sshEndpoint(guestView(record));
  if (!endpoint) throw new HostError(`cp: no address of ${name} is known yet; qemu-script ssh --wait ${name} waits`);
  const cloud = record.plan.cloudInit;
  const target = (side: (typeof sides)[number]) => {
    if (!side.remote) return side.word;
    const user = side.remote[1] ?? cloud?.login;
    const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
    return `${user ? `${user}@` : ''}${host}:${side.remote[3]}`;
  };
  const argv = [
    'scp',
    ...loginOptions(cloud, Boolean(cloud && existsSync(cloud.knownHosts))),
    ...(endpoint.port === 22 ? [] : ['-P', String(endpoint.port)]),
    ...(recursive ? ['-r'] : []),
    ...sides.map(target),
  ];
  const result = await (await start(argv, { stdio: 'inherit', reject: false })).child;
  if (result.exitCode === undefined && result.failed) throw new HostError(`cp: ${result.shortMessage}`);
  return result.exitCode ?? 1;
}

/** Whether an SSH server answers there: its banner, not just a connection (QEMU's forward accepts any). */
async function answers(endpoint: { host: string; port: number }, timeoutMs = 3000): Promise<boolean> {
  const { connect } = await builtin<typeof Net>('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('data', (data) => done(data.toString('latin1').startsWith('SSH-')));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** --wait: until the guest's SSH server answers; its address is looked up again each time (a lease comes late). */
async function waitForSsh(context: ToolContext, name: string, seconds: number, what: string) {
  const deadline = Date.now() + seconds * 1000;
  const tty = process.stderr.isTTY;
  const began = Date.now();
  for (;;) {
    const record = readRecord(context.runtimeDir, name);
    const view = record && guestView(record);
    if (!view || view.state === 'gone') throw new HostError(`${what}: guest ${name} is not running any more`);
    const endpoint = sshEndpoint(view);
    if (endpoint && (await answers(endpoint))) {
      if (tty) printErr('\r\x1b[K');
      return;
    }
    if (Date.now() >= deadline) {
      if (tty) printErr('\n');
      const where = endpoint ? `at ${endpoint.host}:${endpoint.port}` : '(no address known yet)';
      throw new HostError(
        `${what}: no SSH server answered ${where} in ${seconds} s; the guest's console says why: ` +
          `qemu-script log ${name}`,
      );
    }
    if (tty) printErr(`\rWaiting for SSH on ${name}... ${Math.round((Date.now() - began) / 1000)} s`);
    await sleep(500);
  }
}

/** `cloud-init status` as the guest says it: "status: running", "status: done", "status: error" ... */
const statusOf = (output: string) => /^status: (.+)$/m.exec(output)?.[1].trim();

/**
 * Ready means provisioned: for a --cloud-init guest, after its SSH server answers, until cloud-init says it has
 * finished (asked through the same ssh, as its user with its key; the key is there only once cloud-init put it
 * there, so refusals are waited through). A provisioning that failed is exit 1 with its status and the last
 * lines of its log.
 */
async function waitForProvisioning(context: ToolContext, name: string, deadline: number, began: number, what: string) {
  const tty = process.stderr.isTTY;
  const seconds = () => Math.round((Date.now() - began) / 1000);
  let status: string | undefined;
  for (;;) {
    const record = readRecord(context.runtimeDir, name);
    const endpoint = record && sshEndpoint(guestView(record));
    const cloud = record?.plan.cloudInit;
    if (!record || !endpoint || !cloud) throw new HostError(`${what}: guest ${name} is not running any more`);
    const batch = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'];
    const ask = (command: string[]) =>
      probe(sshArgv(endpoint, cloud, undefined, [...batch, ...command], existsSync(cloud.knownHosts)));
    // --wait: the guest's cloud-init answers the moment it has finished (within the probe's minute; asked again
    // after that, and while the login is refused because cloud-init has not put the key there yet).
    if (tty) printErr(`\rWaiting for cloud-init on ${name} (${printable(status ?? 'starting')})... ${seconds()} s`);
    status = statusOf((await ask(['cloud-init', 'status', '--wait'])).stdout) ?? status;
    if (status === 'done' || status === 'disabled') {
      if (tty) printErr('\r\x1b[K');
      return;
    }
    if (status !== undefined && /^(error|degraded)/.test(status)) {
      if (tty) printErr('\n');
      const log = (await ask(['tail', '-n', '15', '/var/log/cloud-init-output.log'])).stdout.trimEnd();
      throw new HostError(
        `cloud-init on ${name} finished with status "${printable(status)}"; the end of its ` +
          `/var/log/cloud-init-output.log:\n${log.split('\n').map(printable).join('\n')}`,
      );
    }
    if (Date.now() >= deadline) {
      if (tty) printErr('\n');
      throw new HostError(
        `${what}: ${name}'s cloud-init has not finished (${printable(status ?? 'not reached yet')}) in ` +
          `${Math.round((deadline - began) / 1000)} s; its console: qemu-script log ${name}`,
      );
    }
    await sleep(1000);
  }
}

/**
 * --wait: the SSH server answers, and a --cloud-init guest has finished provisioning (waitForProvisioning).
 * `what` is what the user typed (ssh --wait, start --wait, a launch's --wait), for the messages.
 */
export async function waitReady(context: ToolContext, name: string, seconds: number, what: string): Promise<void> {
  const began = Date.now();
  await waitForSsh(context, name, seconds, what);
  if (readRecord(context.runtimeDir, name)?.plan.cloudInit)
    await waitForProvisioning(context, name, began + seconds * 1000, began, what);
}

/** How long --wait waits unless told (=S): a cloud image's first boot under TCG takes about a minute. */
export const WAIT_SECONDS = 300;

export function parseWait(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return WAIT_SECONDS;
  if (!/^\d+$/.test(value)) throw new UsageError(`ssh --wait=${value}: give whole seconds, as in --wait=120`);
  return Number(value);
}

export async function ssh(
  context: ToolContext,
  target: string | undefined,
  extra: string[],
  waitSeconds?: number,
): Promise<number> {
  if (!target) throw new UsageError('ssh needs a guest name: qemu-script ssh [USER@]NAME [-- ssh options]');
  const at = target.lastIndexOf('@');
  const [login, name] = at >= 0 ? [target.slice(0, at), target.slice(at + 1)] : [undefined, target];
  if (!readRecord(context.runtimeDir, name)) throw new UsageError(`ssh: no guest named "${name}" (see qemu-script ps)`);
  if (waitSeconds !== undefined) await waitReady(context, name, waitSeconds, 'ssh --wait');
  const record = readRecord(context.runtimeDir, name);
  const endpoint = record && sshEndpoint(guestView(record));
  if (!record || !endpoint) {
    throw new HostError(
      `ssh: no address of ${name} is known yet (no SSH forward, no DHCP lease, not seen by the host); ` +
        `qemu-script ssh --wait ${name} waits for one`,
    );
  }
  const cloud = record.plan.cloudInit;
  const argv = sshArgv(endpoint, cloud, login, extra, Boolean(cloud && existsSync(cloud.knownHosts)));
  // ssh's messages pass through as they come; they are kept to tell a changed host key from other failures.
  const child = (
    await start(argv, {
      stdin: 'inherit',
      stdout: 'inherit',
      stderr: 'pipe',
      buffer: false,
      reject: false,
    })
  ).child;
  let said = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    said = (said + chunk.toString()).slice(-8192);
  });
  const result = await child;
  if (result.exitCode === undefined && result.failed) throw new HostError(`ssh: ${result.shortMessage}`);
  if (cloud && result.exitCode === 255 && said.includes('Host key verification failed')) {
    printErr(
      `qemu-script: ${name} showed an SSH host key other than the one its seed gave it (${cloud.knownHosts}): ` +
        `its keys were made again inside it, or its disk was provisioned without --cloud-init. If you trust ` +
        `it, remove that file: the next qemu-script ssh ${name} learns the key it has now.\n`,
    );
  }
  return result.exitCode ?? 1;
}
