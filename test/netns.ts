// Private network namespaces for tests that create bridges, TAPs and macvtaps.
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as assert from 'uvu/assert';
import { BINARY } from './helpers.ts';
import { setTimeout as sleep } from 'node:timers/promises';

let counter = 0;

/** One object of `ip -j`'s output. */
type IpJson = Record<string, unknown>;

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
    return stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(': ')[1].split('@')[0])
      .sort();
  }

  /** Runs the real executable inside the namespace. */
  tool(args: string[], env: Record<string, string> = {}) {
    return execa('ip', ['netns', 'exec', this.name, BINARY, ...args], {
      reject: false,
      env: { QEMU_SCRIPT_RUNTIME_DIR: this.runtimeDir, QEMU_SCRIPT_CONFIG_DIR: this.configDir, ...env },
    });
  }

  /** The names (comm) of the processes that run in this namespace: another test's are never counted. */
  async processes(): Promise<string[]> {
    const { stdout } = await execa('ip', ['netns', 'pids', this.name]);
    return stdout
      .split('\n')
      .filter(Boolean)
      .flatMap((pid) => {
        try {
          return [readFileSync(`/proc/${pid}/comm`, 'utf8').trim()];
        } catch {
          return [];
        }
      })
      .sort();
  }

  exec(argv: string[]) {
    return execa('ip', ['netns', 'exec', this.name, ...argv], { reject: false });
  }

  /** Runs argv in the namespace and returns its output; a missing tool fails with the package to install. */
  async output(argv: string[]): Promise<string> {
    const result = await this.exec(argv);
    if (result.exitCode !== 0) {
      const missing = (result.stderr ?? '').includes('No such file') ? ' (missing: make host-deps installs it)' : '';
      throw new Error(`${argv.join(' ')} failed${missing}: ${result.stderr}`);
    }
    return result.stdout;
  }

  /**
   * What a request may change, without what the kernel changes by itself (carrier and DAD flags,
   * link-local addresses, the routes it derives from addresses): links, addresses, routes of every
   * table and rules of both families, nft, iptables and ip6tables rulesets, forwarding sysctls.
   */
  async state(): Promise<Record<string, unknown>> {
    const json = async (...args: string[]) =>
      JSON.parse((await this.output(['ip', '-j', ...args])) || '[]') as IpJson[];
    const links = (await json('-d', 'link', 'show')).map((link) => ({
      name: link.ifname,
      kind: (link.linkinfo as IpJson | undefined)?.info_kind,
      master: link.master,
      mtu: link.mtu,
      mac: link.address,
      up: (link.flags as string[]).includes('UP'),
      alias: link.ifalias,
    }));
    const addresses = (await json('addr', 'show')).flatMap((link) =>
      (link.addr_info as IpJson[])
        .filter((addr) => addr.scope !== 'link')
        .map((addr) => `${link.ifname} ${addr.local}/${addr.prefixlen}`),
    );
    const routes = async (family: string) =>
      (await json(family, 'route', 'show', 'table', 'all'))
        .filter((route) => route.protocol !== 'kernel' && route.table !== 'local')
        .map((route) =>
          [route.table ?? 'main', route.dst, route.gateway, route.dev, route.protocol, route.metric].join(' '),
        );
    const rules = async (family: string) => (await json(family, 'rule', 'show')).map((rule) => JSON.stringify(rule));
    const noCounters = (text: string) =>
      text
        .split('\n')
        .filter((line) => !line.startsWith('#'))
        .map((line) => line.replace(/\[\d+:\d+\]/, ''))
        .join('\n');
    return {
      links,
      addresses,
      routes: [...(await routes('-4')), ...(await routes('-6'))],
      rules: [...(await rules('-4')), ...(await rules('-6'))],
      nft: (await this.output(['nft', 'list', 'ruleset'])).replace(/counter packets \d+ bytes \d+/g, 'counter'),
      iptables: noCounters(await this.output(['iptables-save'])),
      ip6tables: noCounters(await this.output(['ip6tables-save'])),
      sysctl: await this.output(['sysctl', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']),
    };
  }

  /** Guests the tool still records. */
  guests(): string[] {
    return readdirSync(this.runtimeDir).filter((name) => existsSync(`${this.runtimeDir}/${name}/guest.json`));
  }

  /** What the tool's registry still lists (interface or network names); none when there is no registry yet. */
  registryEntries(): string[] {
    const path = `${this.runtimeDir}/registry.json`;
    // A registry that cannot be read or parsed is a failure, not an empty one.
    if (!existsSync(path)) return [];
    return JSON.parse(readFileSync(path, 'utf8')).resources.map((r: { name: string }) => r.name);
  }

  record(name: string): {
    supervisor?: { pid: number };
    qemu?: { pid: number };
    companions?: Array<{ pid: number }>;
    plan: { resources: { macs: string[]; ports: number[] }; qemu: { fds: Array<{ fd: number; path: string }> } };
  } {
    return JSON.parse(readFileSync(`${this.runtimeDir}/${name}/guest.json`, 'utf8'));
  }

  /** Network servers (dnsmasq) whose files are in this test's runtime directory. */
  servers(): number[] {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .flatMap((pid) => {
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

/**
 * qemu-bridge-helper reads /etc/qemu/bridge.conf: allow br0, the tests' stand-in for an existing
 * LAN bridge (the tool's own bridges need no entry), in the file's private copy of /etc.
 */
export function allowBridges(): void {
  if (process.env.QEMU_SCRIPT_TEST_ISOLATED !== '1')
    throw new Error('this file changes /etc: run it through test/run.sh');
  const path = '/etc/qemu/bridge.conf';
  const before = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (/^allow br0$/m.test(before)) return;
  mkdirSync('/etc/qemu', { recursive: true });
  writeFileSync(path, `${before}allow br0\n`, { mode: 0o644 });
}

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20000,
  what = 'condition',
): Promise<void> {
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

/**
 * A guest with no disk idles in the firmware: enough for host-side tests. Without its NICs' boot ROM: iPXE
 * polls them under TCG and keeps a third of a core busy per guest.
 */
export const GUEST = ['--display', 'none', '--accel', 'tcg', '-m', '64', '-global', 'virtio-net-pci.romfile='];

/**
 * The test guest's kernel arguments before its e2e_* values: no crypto self-tests at boot (a tenth of a
 * boot's time under TCG).
 */
export const BOOT_APPEND = 'console=ttyS0 panic=-1 quiet cryptomgr.notests';

/** Every test ends here: nothing of the tool left in the namespace. */
export async function assertClean(ns: Netns, keep: string[] = ['lo'], qemuPids: number[] = []): Promise<void> {
  // The last guest's cleanup may still be deleting links when `down` returns on a loaded machine.
  await waitFor(async () => (await ns.links()).join() === [...keep].sort().join(), 30000, `links to be ${keep}`).catch(
    () => undefined,
  );
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
    // Only our own guests, their supervisors and companions (passt), by PID, if a failed assertion left any.
    for (const guest of ns.guests()) {
      const record = ns.record(guest);
      for (const pid of [record.qemu?.pid, record.supervisor?.pid, ...(record.companions ?? []).map((c) => c.pid)])
        if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    await ns.destroy();
  } catch (error) {
    failure ??= error;
  }
  // The test's own failure first: a cleanup error after it is a consequence.
  if (failure) throw failure;
}
