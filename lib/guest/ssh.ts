// qemu-script ssh [USER@]NAME [-- ssh args]: ssh to a guest through its SSH forward, else to its address on
// a defined network. A --cloud-init guest is logged into as the user, with the key and the host key its seed
// gave it; --wait waits for its SSH server first.
import { existsSync } from 'node:fs';
import type * as Net from 'node:net';
import { builtin } from '../base/builtin.ts';
import type { ToolContext } from '../base/context.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { printErr } from '../base/output.ts';
import { start } from '../base/runner.ts';
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
  const identity = cloud?.identity ? ['-i', cloud.identity, '-o', 'IdentitiesOnly=yes'] : [];
  const known = cloud
    ? [
        ...['-o', `UserKnownHostsFile=${cloud.knownHosts}`, '-o', `HostKeyAlias=${cloud.instanceId}`],
        ...['-o', `StrictHostKeyChecking=${knownHostsExists ? 'yes' : 'accept-new'}`],
      ]
    : [];
  return ['ssh', ...identity, ...known, ...port, user ? `${user}@${endpoint.host}` : endpoint.host, ...extra];
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
async function waitForSsh(context: ToolContext, name: string, seconds: number) {
  const deadline = Date.now() + seconds * 1000;
  const tty = process.stderr.isTTY;
  const began = Date.now();
  for (;;) {
    const record = readRecord(context.runtimeDir, name);
    const view = record && guestView(record);
    if (!view || view.state === 'gone') throw new HostError(`ssh --wait: guest ${name} is not running any more`);
    const endpoint = sshEndpoint(view);
    if (endpoint && (await answers(endpoint))) {
      if (tty) printErr('\r\x1b[K');
      return;
    }
    if (Date.now() >= deadline) {
      if (tty) printErr('\n');
      const where = endpoint ? `at ${endpoint.host}:${endpoint.port}` : '(no address known yet)';
      throw new HostError(
        `ssh --wait: no SSH server answered ${where} in ${seconds} s; the guest's console says why: ` +
          `qemu-script console ${name}`,
      );
    }
    if (tty) printErr(`\rWaiting for SSH on ${name}... ${Math.round((Date.now() - began) / 1000)} s`);
    await sleep(1000);
  }
}

export function parseWait(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 300;
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
  if (waitSeconds !== undefined) await waitForSsh(context, name, waitSeconds);
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
