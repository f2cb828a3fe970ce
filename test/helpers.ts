import { execa } from 'execa';
import type { Test } from 'uvu';
import { mkdirSync } from 'node:fs';
import { builtinNetworks } from '../lib/net/networks.ts';
import { parseArgs } from '../lib/cli/parse-args.ts';
import { SYSTEM_RUN_DIR } from '../lib/base/paths.ts';
import { planLaunch } from '../lib/plan/plan.ts';
import type { DiskFacts, HostFacts, LaunchOptions, Plan } from '../lib/base/types.ts';

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
/** The single executable, whichever artifact the other tests target. */
export const SINGLE_EXECUTABLE = `${ROOT}/dist/qemu-script`;
/** The artifact under test: the single executable, or QEMU_SCRIPT_TEST_BINARY (e.g. dist/qemu-script.cjs). */
export const BINARY = process.env.QEMU_SCRIPT_TEST_BINARY
  ? new URL(process.env.QEMU_SCRIPT_TEST_BINARY, `file://${ROOT}/`).pathname
  : SINGLE_EXECUTABLE;

/** A host with eth0 (10.1.0.2/24) as the default route, KVM, no vhost-net, nothing in use, the built-in networks. */
export function hostFacts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    isRoot: true,
    uid: 0,
    selfCommand: ['/usr/local/bin/qemu-script'],
    runtimeDir: '/run/qemu-script',
    registryDir: '/run/qemu-script',
    netns: 'net:[4026531840]',
    kvmUsable: true,
    vhostNetUsable: false,
    ipv6: true,
    defaultRouteInterface: 'eth0',
    interfaces: { lo: { kind: 'other', linkKind: 'loopback' }, eth0: { kind: 'physical', linkKind: 'ether' } },
    reservedInterfaces: [],
    toolBridges: [],
    usedTcpPorts: [],
    unprivilegedPortStart: 1024,
    usedMacs: [],
    guestNames: [],
    disks: {},
    usbDevices: [],
    firmwareReadable: true,
    networks: { ...builtinNetworks() },
    networksUp: [],
    dnsmasq: '/usr/sbin/dnsmasq',
    prefixes: [
      { cidr: '10.1.0.2/24', dev: 'eth0', what: 'address' },
      { cidr: '0.0.0.0/0', dev: 'eth0', what: 'route' },
      { cidr: '10.1.0.0/24', dev: 'eth0', what: 'route' },
    ],
    ...overrides,
  };
}

export function qcow2(path: string): DiskFacts {
  return { exists: true, readable: true, absolutePath: path, blockDevice: false, format: 'qcow2' };
}

export function launchOptions(argv: string[], env: Record<string, string> = {}): LaunchOptions {
  const parsed = parseArgs(argv, env);
  if (parsed.command !== 'launch') throw new Error(`expected a launch, got ${parsed.command}`);
  return parsed.options;
}

export function plan(argv: string[], facts: Partial<HostFacts> = {}, env: Record<string, string> = {}): Plan {
  return planLaunch(launchOptions(argv, env), hostFacts(facts));
}

/** The values that follow each occurrence of a QEMU option. */
export function valuesOf(argv: string[], option: string): string[] {
  return argv.flatMap((word, i) => (word === option ? [argv[i + 1]] : []));
}

export async function runBinary(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  return execa(BINARY, args, { reject: false, env: options.env, cwd: options.cwd, extendEnv: true });
}

/** A normal Debian user's login environment (no /usr/sbin on PATH), for running the tool as that user. */
export const USER_ENV = (user: string, home: string): Record<string, string> => ({
  PATH: '/usr/local/bin:/usr/bin:/bin:/usr/games',
  HOME: home,
  USER: user,
  LOGNAME: user,
  LANG: 'C.UTF-8',
});

/**
 * The privileged helper keeps its registry in /run/qemu-script whatever the environment says (a member
 * must not choose where root writes). test/isolate.sh gives every test file a private /run; this gives
 * one test a fresh, empty /run/qemu-script on top, so that no test sees another's records. Call the
 * returned function when the test is done.
 */
export async function freshSystemRunDir(): Promise<() => Promise<void>> {
  if (process.env.QEMU_SCRIPT_TEST_ISOLATED !== '1') {
    throw new Error('this test changes /run/qemu-script: run it through test/run.sh (test/isolate.sh)');
  }
  mkdirSync(SYSTEM_RUN_DIR, { recursive: true, mode: 0o755 });
  await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'qs-test-registry', SYSTEM_RUN_DIR]);
  return async () => {
    await execa('umount', ['-l', SYSTEM_RUN_DIR]);
  };
}

/**
 * Defines a test that runs only where `reason` is undefined. Elsewhere uvu counts it as skipped (never
 * passed) and test/run.sh lists the reason. Decide the reason before defining: a test that returns
 * early counts as passed.
 */
export function testWhere(suite: Test, reason: string | undefined, title: string, body: () => unknown): void {
  if (reason === undefined) {
    suite(title, body as () => void);
    return;
  }
  console.log(`skipped: ${title}: ${reason}`);
  suite.skip(title, body as () => void);
}

/** Whether this machine can give the tests a loop device: undefined when it can, else why not. */
export async function noLoopDevice(): Promise<string | undefined> {
  const probe = await execa('losetup', ['--find'], { reject: false });
  return probe.exitCode === 0 && probe.stdout.trim() !== ''
    ? undefined
    : `no loop device here (${probe.stderr || 'none free'})`;
}

/**
 * doctor's text with its wrapped lines joined again (it wraps at 80 columns): one line per check, then
 * its fix, or and note lines.
 */
export function unwrapDoctor(text: string): string {
  return text.replace(/\n {21}(?!(fix|or|note): )/g, ' ').replace(/\n {27}/g, ' ');
}
