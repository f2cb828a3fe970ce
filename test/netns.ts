// Private network namespaces for tests that create bridges, TAPs and macvtaps.
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as assert from 'uvu/assert';
import { BINARY } from './helpers.ts';
import { setTimeout as sleep } from 'node:timers/promises';

let counter = 0;

export class Netns {
  readonly name = `qs-t${process.pid}-${counter++}`;
  /** The tool's runtime directory for this test: records, registry, logs, network servers' files. */
  readonly runtimeDir = mkdtempSync(`${tmpdir()}/qs-run-`);
  /** Root's configuration directory for this test (network definitions): never /etc. */
  readonly configDir = mkdtempSync(`${tmpdir()}/qs-config-`);

  static async create(): Promise<Netns> {
    const ns = new Netns();
    await execa('ip', ['netns', 'add', ns.name]);
    await ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  ip(...args: string[]) {
    return execa('ip', ['-n', this.name, ...args]);
  }

  async links(): Promise<string[]> {
    const { stdout } = await this.ip('-o', 'link', 'show');
    return stdout.split('\n').filter(Boolean).map((line) => line.split(': ')[1].split('@')[0]).sort();
  }

  /** Runs the real executable inside the namespace. */
  tool(args: string[], env: Record<string, string> = {}) {
    return execa('ip', ['netns', 'exec', this.name, BINARY, ...args], {
      reject: false,
      env: { QEMU_SCRIPT_RUNTIME_DIR: this.runtimeDir, QEMU_SCRIPT_CONFIG_DIR: this.configDir, ...env },
    });
  }

  exec(argv: string[]) {
    return execa('ip', ['netns', 'exec', this.name, ...argv], { reject: false });
  }

  /** Guests the tool still records. */
  guests(): string[] {
    return readdirSync(this.runtimeDir).filter((name) => existsSync(`${this.runtimeDir}/${name}/guest.json`));
  }

  /** What the tool's registry still lists (interface or network names). */
  registryEntries(): string[] {
    try {
      return JSON.parse(readFileSync(`${this.runtimeDir}/registry.json`, 'utf8')).resources.map((r: { name: string }) => r.name);
    } catch {
      return [];
    }
  }

  record(name: string): { supervisor?: { pid: number }; qemu?: { pid: number }; plan: { resources: { macs: string[]; ports: number[] }; qemu: { fds: Array<{ fd: number; path: string }> } } } {
    return JSON.parse(readFileSync(`${this.runtimeDir}/${name}/guest.json`, 'utf8'));
  }

  /** Network servers (dnsmasq) whose files are in this test's runtime directory. */
  servers(): number[] {
    return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmdline.includes(`--pid-file=${this.runtimeDir}/`) && pidAlive(Number(pid)) ? [Number(pid)] : [];
      } catch {
        return [];
      }
    });
  }

  /** Files left under the network servers' directory. */
  networkFiles(): string[] {
    try {
      return readdirSync(`${this.runtimeDir}/net`, { recursive: true }).map(String);
    } catch {
      return [];
    }
  }

  async destroy(): Promise<void> {
    // Only servers of this test, by PID, if a failed assertion left any.
    for (const pid of this.servers()) process.kill(pid, 'SIGKILL');
    await execa('ip', ['netns', 'del', this.name], { reject: false });
    // A supervisor still cleaning up may write in it a moment longer.
    rmSync(this.runtimeDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    rmSync(this.configDir, { recursive: true, force: true });
  }
}

let bridgeConfUsers = 0;
let restoreBridgeConf: () => void = () => undefined;

/**
 * qemu-bridge-helper reads /etc/qemu/bridge.conf: allow br0, the tests' stand-in
 * for an existing LAN bridge (the tool's own bridges need no entry), and restore
 * the file when the last suite that asked is done (uvu loads every suite before
 * running any, so each one counts).
 */
export function allowBridges(): () => void {
  if (bridgeConfUsers++ === 0) {
    const path = '/etc/qemu/bridge.conf';
    const before = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    const madeDir = !existsSync('/etc/qemu');
    if (before === undefined || !/^allow br0$/m.test(before)) {
      mkdirSync('/etc/qemu', { recursive: true });
      writeFileSync(path, `${before ?? ''}allow br0\n`, { mode: 0o644 });
      restoreBridgeConf = () => {
        if (before === undefined) rmSync(path, { force: true });
        else writeFileSync(path, before);
        if (madeDir) rmSync('/etc/qemu', { recursive: true, force: true });
      };
    }
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--bridgeConfUsers === 0) {
      restoreBridgeConf();
      restoreBridgeConf = () => undefined;
    }
  };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 20000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A guest with no disk idles in the firmware: enough for host-side tests. */
export const GUEST = ['--display', 'none', '--accel', 'tcg', '-m', '64'];

/** Every test ends here: nothing of the tool left in the namespace. */
export async function assertClean(ns: Netns, keep: string[] = ['lo'], qemuPids: number[] = []): Promise<void> {
  await waitFor(async () => (await ns.links()).join() === [...keep].sort().join(), 10000, `links to be ${keep}`).catch(() => undefined);
  assert.equal(await ns.links(), [...keep].sort(), 'interfaces left');
  assert.equal(ns.registryEntries(), [], 'registry entries left');
  assert.equal(ns.guests(), [], 'guest records left');
  assert.equal(ns.servers(), [], 'network servers left running');
  assert.equal(ns.networkFiles(), [], 'network server files left');
  for (const pid of qemuPids) assert.not.ok(pidAlive(pid), `QEMU ${pid} still runs`);
}

export async function start(ns: Netns, name: string, args: string[]) {
  const result = await ns.tool([...GUEST, '--name', name, ...args]);
  assert.is(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, new RegExp(`Guest ${name} is running \\(QEMU pid (\\d+)\\)`));
  return Number(/QEMU pid (\d+)/.exec(result.stdout)![1]);
}

export async function inNetns(body: (ns: Netns) => Promise<void>): Promise<void> {
  const ns = await Netns.create();
  let failure: unknown;
  try {
    await body(ns);
  } catch (error) {
    failure = error;
  }
  try {
    // Only our own guests and their supervisors, by PID, if a failed assertion left any.
    for (const guest of ns.guests()) {
      const record = ns.record(guest);
      for (const pid of [record.qemu?.pid, record.supervisor?.pid]) if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    await ns.destroy();
  } catch (error) {
    failure ??= error;
  }
  // The test's own failure first: a cleanup error after it is a consequence.
  if (failure) throw failure;
}

