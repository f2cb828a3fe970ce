// Booting the tiny test guest (test/guest, built by `make guest`) through the
// real executable, and reading what it reports on its serial console ("E2E: ...").
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers.ts';
import { eui64Address, formatAddress, parsePrefix } from '../lib/net/ip.ts';
import { builtinNetworks } from '../lib/net/networks.ts';
import { BOOT_APPEND, GUEST, Netns, inNetns, waitFor } from './netns.ts';

export const KERNEL = `${ROOT}/.cache/guest/vmlinuz`;
export const INITRD = `${ROOT}/.cache/guest/initrd.gz`;
if (!existsSync(INITRD)) throw new Error('the test guest is missing: run make guest');
const logs = mkdtempSync(`${tmpdir()}/qs-e2e-`);
process.on('exit', () => rmSync(logs, { recursive: true, force: true }));

export interface Booted {
  name: string;
  pid: number;
  stdout: string;
  stderr: string;
  log: string;
}

/** Boots the test guest through the tool; `values` become e2e_* kernel arguments. */
export async function boot(
  ns: Netns,
  name: string,
  args: string[],
  values: Record<string, string>,
  env: Record<string, string> = {},
): Promise<Booted> {
  const log = `${logs}/${ns.name}-${name}.log`;
  writeFileSync(log, '');
  const append = [
    BOOT_APPEND,
    `e2e_name=${name}`,
    ...Object.entries(values).map(([key, value]) => `e2e_${key}=${value}`),
  ].join(' ');
  const result = await ns.tool(
    [
      ...GUEST,
      '-m',
      '160',
      '--name',
      name,
      ...args,
      '-kernel',
      KERNEL,
      '-initrd',
      INITRD,
      '-append',
      append,
      '-serial',
      `file:${log}`,
      '-no-reboot',
    ],
    env,
  );
  assert.is(result.exitCode, 0, `${name}: ${result.stdout}\n${result.stderr}`);
  return {
    name,
    pid: Number(/QEMU pid (\d+)/.exec(result.stdout)![1]),
    stdout: result.stdout,
    stderr: result.stderr,
    log,
  };
}

/** The IPv6 address a NIC is registered with on a built-in network: its SLAAC one. */
export const slaacOf = (network: string, mac: string) =>
  formatAddress(6, eui64Address(parsePrefix(builtinNetworks()[network].subnet6!)!, mac));

export const console_ = (guest: Booted) => readFileSync(guest.log, 'utf8');

export async function waitConsole(guest: Booted, pattern: RegExp, timeoutMs = 90000): Promise<RegExpExecArray> {
  await waitFor(() => pattern.test(console_(guest)), timeoutMs, `${guest.name}: ${pattern}`).catch(() => {
    throw new Error(`${guest.name} never printed ${pattern}; console:\n${console_(guest)}`);
  });
  return pattern.exec(console_(guest))!;
}

/** One UDP question to HOST:PORT from inside the namespace: the answer, or '' after a second. */
export async function askUdp(ns: Netns, host: string, port: number): Promise<string> {
  const script =
    "const s = require('dgram').createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');" +
    "s.on('message', (m) => { process.stdout.write(m); process.exit(0); });" +
    "setTimeout(() => process.exit(1), 1000); s.send('ping', Number(process.argv[2]), process.argv[1]);";
  return (await ns.exec([process.execPath, '-e', script, host, String(port)])).stdout;
}

/** Reads a guest's banner over TCP from inside a namespace, retrying while the guest boots. */
export async function readBanner(ns: Netns | string, host: string, port: number, timeoutMs = 60000): Promise<string> {
  const name = typeof ns === 'string' ? ns : ns.name;
  let text = '';
  await waitFor(
    async () => {
      const result = await execa('ip', ['netns', 'exec', name, 'busybox', 'nc', '-w', '2', host, String(port)], {
        reject: false,
        input: '',
      });
      text = result.stdout;
      return text.includes('E2E-BANNER');
    },
    timeoutMs,
    `banner on ${host}:${port}`,
  );
  return text.trim();
}

/** `down` through ACPI: the guest's power button handler powers it off cleanly. */
export async function stop(ns: Netns, ...guests: Booted[]) {
  for (const guest of guests) {
    if (ns.guests().includes(guest.name)) {
      const down = await ns.tool(['down', '--timeout', '30', guest.name]);
      assert.is(down.exitCode, 0, down.stderr);
      assert.match(console_(guest), /reboot: Power down/, 'the guest powered off through ACPI');
    }
  }
}

export const nicMacs = (guest: Booted) =>
  [...console_(guest).matchAll(/E2E: NIC (eth\d+) mac=(\S+)/g)].map((match) => [match[1], match[2]]);

/** The test's "wan": a namespace behind the host's default routes, on a veth cable (uplink0 ↔ wan0). */
export const WAN = '203.0.113.1';
export const UPLINK = '203.0.113.2';
export const WAN6 = '2001:db8:1::1';
export const UPLINK6 = '2001:db8:1::2';

export interface WanOptions {
  /** IPv6 on the cable and a default route of that family too. */
  ipv6: boolean;
  /** More addresses of the wan's (ADDRESS/BITS), beyond its gateway address. */
  extra: string[];
  /** Where the wan's banner server listens (port 8080): it tells each caller the address it came from. */
  serve: string[];
  /** The host's firewall as the test wants it, before the body runs. */
  prepare?: (ns: Netns) => Promise<void>;
}

/** Runs BODY with a host namespace whose default routes lead to a wan namespace serving a banner. */
export async function withWan(options: WanOptions, body: (ns: Netns, wan: Netns) => Promise<void>): Promise<void> {
  const server =
    `for (const a of ${JSON.stringify(options.serve)}) require('net').createServer((s) => ` +
    "s.end('E2E-BANNER from=' + s.remoteAddress + '\\n')).listen(8080, a)";
  await inNetns(async (ns) => {
    const wan = await Netns.create();
    let running: ResultPromise | undefined;
    try {
      await ns.ip('link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', wan.name);
      await ns.ip('addr', 'add', `${UPLINK}/24`, 'dev', 'uplink0');
      await ns.ip('link', 'set', 'uplink0', 'up');
      await ns.ip('route', 'add', 'default', 'via', WAN);
      await wan.ip('addr', 'add', `${WAN}/24`, 'dev', 'wan0');
      for (const address of options.extra) await wan.ip('addr', 'add', address, 'dev', 'wan0');
      if (options.ipv6) {
        await ns.ip('-6', 'addr', 'add', `${UPLINK6}/64`, 'dev', 'uplink0', 'nodad');
        await ns.ip('-6', 'route', 'add', 'default', 'via', WAN6);
        await wan.ip('-6', 'addr', 'add', `${WAN6}/64`, 'dev', 'wan0', 'nodad');
      }
      await wan.ip('link', 'set', 'wan0', 'up');
      await options.prepare?.(ns);
      running = execa('ip', ['netns', 'exec', wan.name, process.execPath, '-e', server], { reject: false });
      await readBanner(wan.name, options.serve[0], 8080, 10000);
      await body(ns, wan);
    } finally {
      if (running?.pid) process.kill(running.pid, 'SIGKILL');
      await running;
      await wan.destroy();
    }
  });
}
