// Defined networks end to end: the real executable, real dnsmasq and the test
// guest in namespaces the tests make. Guests get leases, find each other by
// name, keep their address across boots; nothing of a network outlives its
// last guest, and its server answers on its own bridge only.
import { execa } from 'execa';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { boot, console_, readBanner, slaacOf, stop, waitConsole, type Booted } from './guest-helpers.ts';
import { Netns, assertClean, inNetns, pidAlive, waitFor } from './netns.ts';

const disks = mkdtempSync(`${tmpdir()}/qs-netdisks-`);
test.after(() => rmSync(disks, { recursive: true, force: true }));

async function disk(name: string): Promise<string> {
  const path = `${disks}/${name}.qcow2`;
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', path, '16M']);
  return path;
}

interface PsNic {
  index: number;
  net: string;
  mac: string;
  ip: string | null;
  ip6: string | null;
}
async function psNics(ns: Netns, name: string): Promise<PsNic[]> {
  const result = await ns.tool(['ps', '--json']);
  assert.is(result.exitCode, 0, result.stderr);
  const listing = JSON.parse(result.stdout) as { version: number; guests: Array<{ name: string; nics: PsNic[] }> };
  assert.is(listing.version, 1);
  return listing.guests.find((guest) => guest.name === name)!.nics;
}

/** The lease the guest reports: its address, and the DNS server and router it was given. */
async function lease(guest: Booted): Promise<{ ip: string; dns: string; router: string }> {
  const [, ip, dns, router] = await waitConsole(guest, /E2E: DHCP eth0 ip=(\S+) dns=(\S*) router=(\S*)/);
  return { ip, dns, router };
}

test("hostonly: leases, names, the host reaches guests at ps's address, same disk same address, nothing left", () =>
  inNetns(async (ns) => {
    const diskA = await disk('a');
    const a = await boot(ns, 'a', [diskA, '-snapshot', '--net', 'hostonly'], {
      if0: 'dhcp',
      v6: '1',
      banner: '22,7000',
    });
    const b = await boot(ns, 'b', [await disk('b'), '-snapshot', '--net', 'hostonly'], {
      if0: 'dhcp',
      lookup: 'a',
      get: 'a:7000',
      lookup6: 'a',
      get6: 'a:7000',
    });
    const leaseA = await lease(a);
    const leaseB = await lease(b);
    // The launch said the address before the guest asked for it (reserved when it was registered).
    const macA = ns.record('a').plan.resources.macs[0];
    const ip6A = slaacOf('hostonly', macA);
    assert.match(a.stdout, new RegExp(`^Address on hostonly: ${leaseA.ip.replace(/\./g, '\\.')} ${ip6A}$`, 'm'));
    assert.match(a.stdout, /^Log in: qemu-script ssh a$/m);
    const info = JSON.parse((await ns.tool(['info', 'a', '--json'])).stdout) as { nics: PsNic[]; ssh: string };
    assert.equal([info.nics[0].ip, info.ssh], [leaseA.ip, 'qemu-script ssh a']);
    for (const given of [leaseA, leaseB]) {
      assert.match(given.ip, /^192\.168\.56\.\d+$/);
      assert.is(given.dns, '192.168.56.1', "the network's DNS is the host");
      assert.is(given.router, '', 'a host-only network gives no way out');
    }
    assert.is.not(leaseA.ip, leaseB.ip);
    await waitConsole(b, /E2E: READY/);
    assert.match(console_(b), new RegExp(`E2E: LOOKUP-OK a ${leaseA.ip.replace(/\./g, '\\.')}\\b`));
    assert.match(console_(b), /E2E: GET-OK a:7000 E2E-BANNER name=a/);
    // IPv6: a autoconfigured the address it was registered with; b finds it by name (AAAA) and talks to it.
    assert.match(console_(a), new RegExp(`E2E: NIC6 eth0 ip6=${ip6A}/64 route=\\s`), 'SLAAC, and no IPv6 way out');
    assert.match(console_(b), new RegExp(`E2E: LOOKUP6-OK a ${ip6A}\\b`));
    assert.match(console_(b), /E2E: GET6-OK a:7000 E2E-BANNER name=a/);
    assert.match(await readBanner(ns, ip6A, 7000), /name=a/, 'the host reaches a over IPv6');

    assert.equal(await psNics(ns, 'a'), [{ index: 0, net: 'hostonly', mac: macA, ip: leaseA.ip, ip6: ip6A }]);
    assert.match(await readBanner(ns, leaseA.ip, 7000), /name=a/);
    assert.is((await ns.exec(['busybox', 'ping', '-c1', '-W2', leaseB.ip])).exitCode, 0, 'the host reaches b');
    const ssh = await ns.tool([
      'ssh',
      'a',
      '--',
      '-v',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'StrictHostKeyChecking=no',
    ]);
    assert.match(ssh.stderr, new RegExp(`Connecting to ${leaseA.ip.replace(/\./g, '\\.')} .*port 22`), ssh.stderr);
    assert.match(ssh.stderr, /E2E-BANNER name=a/, "ssh reached a's port 22");

    await stop(ns, a);
    const ls = JSON.parse((await ns.tool(['net', 'ls', '--json'])).stdout) as {
      version: number;
      networks: Array<{ name: string; up: boolean; guests: string[] }>;
    };
    assert.equal(
      ls.networks.find((network) => network.name === 'hostonly'),
      { ...ls.networks.find((network) => network.name === 'hostonly')!, up: true, guests: ['b'] },
    );
    const again = await boot(ns, 'a', [diskA, '-snapshot', '--net', 'hostonly'], { if0: 'dhcp' });
    assert.is((await lease(again)).ip, leaseA.ip, 'the same disk gets the same address');
    await stop(ns, again, b);
    await assertClean(ns, ['lo'], [a.pid, b.pid, again.pid]);
  }));

test("the network's server answers on its bridge only: not on the LAN, not on loopback", () =>
  inNetns(async (ns) => {
    const lan = await Netns.create();
    try {
      await ns.ip('link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1', 'netns', lan.name);
      await ns.ip('addr', 'add', '10.99.0.1/24', 'dev', 'lan0');
      await ns.ip('link', 'set', 'lan0', 'up');
      await lan.ip('link', 'set', 'lan1', 'up');
      const guest = await boot(ns, 'solo', ['--net', 'hostonly'], { if0: 'dhcp' });
      await lease(guest);
      const sockets = (await ns.exec(['ss', '-H', '-lnu'])).stdout;
      assert.match(sockets, /192\.168\.56\.1:53\b/);
      assert.not.match(sockets, /(0\.0\.0\.0|10\.99\.0\.1|127\.0\.0\.1|\*):53\b/, sockets);
      assert.match(sockets, /0\.0\.0\.0%hostonly:67\b/, 'DHCP bound to the bridge alone');
      assert.is(
        (await ns.exec(['busybox', 'nslookup', 'solo', '192.168.56.1'])).exitCode,
        0,
        'the bridge address answers',
      );
      assert.is.not((await ns.exec(['busybox', 'nslookup', 'solo', '127.0.0.1'])).exitCode, 0, 'loopback does not');
      const dhcp = await lan.exec([
        'busybox',
        'udhcpc',
        '-i',
        'lan1',
        '-n',
        '-q',
        '-t',
        '3',
        '-T',
        '1',
        '-s',
        '/bin/true',
      ]);
      assert.is.not(dhcp.exitCode, 0, 'no lease on the LAN');
      assert.is.not((await lan.exec(['busybox', 'nslookup', 'solo', '10.99.0.1'])).exitCode, 0, 'no DNS on the LAN');
      await stop(ns, guest);
      await assertClean(ns, ['lo', 'lan0'], [guest.pid]);
    } finally {
      await lan.destroy();
    }
  }));

test(
  'kill -9 of the guests and their supervisors, then gc: no server, no bridge, no files; a second gc does nothing',
  () =>
  inNetns(async (ns) => {
    const a = await boot(ns, 'ka', ['--net', 'hostonly'], { if0: 'dhcp' });
    const b = await boot(ns, 'kb', ['--net', 'user,hostonly'], { if1: 'dhcp' });
    await lease(a);
    const servers = ns.servers();
    assert.is(servers.length, 1, 'one server for the network');
    for (const name of ['ka', 'kb']) {
      const record = ns.record(name);
      for (const pid of [record.supervisor?.pid, record.qemu?.pid]) if (pid) process.kill(pid, 'SIGKILL');
    }
    await waitFor(() => !pidAlive(a.pid) && !pidAlive(b.pid), 10000, 'the guests to die');
    assert.ok(pidAlive(servers[0]), 'the server outlives its guests until gc');
    const gc = await ns.tool(['gc']);
    assert.is(gc.exitCode, 0, gc.stderr);
    assert.match(gc.stdout, /removed leftovers of guest ka/);
    await assertClean(ns, ['lo'], [a.pid, b.pid]);
    assert.not.ok(pidAlive(servers[0]));
    const second = await ns.tool(['gc']);
    assert.is(second.stdout, 'nothing to collect');
  }));

test('two namespaces sharing one runtime directory: each its own hostonly server, one ending leaves the other', () =>
  inNetns(async (ns) => {
    const other = await Netns.create();
    try {
      // The second namespace's tool uses the first one's runtime directory.
      const shared = { QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir };
      const a = await boot(ns, 'sa', ['--net', 'hostonly'], { if0: 'dhcp' });
      const b = await boot(other, 'sb', ['--net', 'hostonly'], { if0: 'dhcp' }, shared);
      const leaseB = await lease(b);
      await lease(a);
      assert.is(ns.servers().length, 2, 'one server per namespace');
      await stop(ns, a);
      const ps = JSON.parse((await other.tool(['ps', '--json'], shared)).stdout) as {
        guests: Array<{ name: string; nics: PsNic[] }>;
      };
      assert.is(ps.guests.find((guest) => guest.name === 'sb')!.nics[0].ip, leaseB.ip, "b's lease is still known");
      assert.is(ns.servers().length, 1, "b's server still runs");
      const down = await other.tool(['down', '--timeout', '30', 'sb'], shared);
      assert.is(down.exitCode, 0, down.stderr);
      await assertClean(ns, ['lo'], [a.pid, b.pid]);
    } finally {
      await other.destroy();
    }
  }));

test('a runtime directory inside a private one: a DHCP network is refused before anything is made', () =>
  inNetns(async (ns) => {
    const parent = mkdtempSync(`${tmpdir()}/qs-private-`);
    try {
      chmodSync(parent, 0o700);
      const before = await ns.state();
      const run = `${parent}/run`;
      const result = await ns.tool(['--net', 'hostonly', '--display', 'none', '--accel', 'tcg'], {
        QEMU_SCRIPT_RUNTIME_DIR: run,
      });
      assert.is(result.exitCode, 2, result.stderr);
      assert.is(
        result.stderr.trim(),
        `qemu-script: --net hostonly: its DHCP server runs as its own user and cannot reach ${run} (${parent} is ` +
          'private); set QEMU_SCRIPT_RUNTIME_DIR elsewhere',
      );
      assert.equal(await ns.state(), before);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  }));

test('a user-defined network: net create, a guest on it, net rm refused while in use, then removed', () =>
  inNetns(async (ns) => {
    const create = await ns.tool(['net', 'create', 'lab', '--subnet', '10.77.0.0/24', '--dhcp']);
    assert.is(create.exitCode, 0, create.stderr);
    assert.match(
      create.stdout,
      /^defined network lab: 10\.77\.0\.0\/24, host 10\.77\.0\.1, fdef:b7b6:faa9::\/64, host fdef:b7b6:faa9::1, DHCP/,
    );
    assert.not.match(create.stdout, /warning/);
    // The public suffix list as installed (or the fallback without it): .dev is the internet's.
    const dev = await ns.tool(['net', 'create', 'dev', '--dhcp']);
    assert.is(dev.exitCode, 2);
    assert.match(dev.stderr, /^qemu-script: net create: its default DNS domain, dev, is a public DNS suffix /);
    const clash = await ns.tool(['net', 'create', 'lab2', '--subnet', '10.77.0.128/25']);
    assert.is(clash.exitCode, 2);
    assert.match(clash.stderr, /overlaps network lab \(10\.77\.0\.0\/24\)/);
    // NAT on a host with no default route (this namespace has none): defined, with a warning naming what is missing.
    const nat = await ns.tool(['net', 'create', 'out', '--subnet', '10.78.0.0/24', '--dhcp', '--nat']);
    assert.is(nat.exitCode, 0, nat.stderr);
    assert.match(
      nat.stdout,
      new RegExp(
        '^warning: this host has no default route now: --nat needs one, and a launch on out is refused until ' +
          'there is one$',
        'm',
      ),
    );
    assert.is((await ns.tool(['net', 'rm', 'out'])).exitCode, 0);
    const guest = await boot(ns, 'onlab', ['--net', 'lab'], { if0: 'dhcp', banner: '7000' });
    const given = await lease(guest);
    assert.match(given.ip, /^10\.77\.0\.\d+$/);
    assert.is(given.dns, '10.77.0.1');
    assert.match(await readBanner(ns, given.ip, 7000), /name=onlab/);
    const busy = await ns.tool(['net', 'rm', 'lab']);
    assert.is(busy.exitCode, 1);
    assert.match(busy.stderr, /network lab is in use by onlab/);
    const ls = JSON.parse((await ns.tool(['net', 'ls', '--json'])).stdout) as { version: number; networks: unknown[] };
    assert.equal(ls, {
      version: 1,
      networks: [
        {
          name: 'hostonly',
          subnet: '192.168.56.0/24',
          host_ip: '192.168.56.1',
          subnet6: 'fdf2:c08f:a5a0::/64',
          host_ip6: 'fdf2:c08f:a5a0::1',
          dhcp: true,
          domain: 'hostonly',
          nat: false,
          builtin: true,
          vxlan: null,
          up: false,
          guests: [],
        },
        {
          name: 'lab',
          subnet: '10.77.0.0/24',
          host_ip: '10.77.0.1',
          subnet6: 'fdef:b7b6:faa9::/64',
          host_ip6: 'fdef:b7b6:faa9::1',
          dhcp: true,
          domain: 'lab',
          nat: false,
          builtin: false,
          vxlan: null,
          up: true,
          guests: ['onlab'],
        },
        {
          name: 'natnet',
          subnet: '192.168.57.0/24',
          host_ip: '192.168.57.1',
          subnet6: 'fdc5:5f52:88f5::/64',
          host_ip6: 'fdc5:5f52:88f5::1',
          dhcp: true,
          domain: 'natnet',
          nat: true,
          builtin: true,
          vxlan: null,
          up: false,
          guests: [],
        },
      ],
    });
    const table = (await ns.tool(['net', 'ls'])).stdout;
    assert.match(table, /^NAME +SUBNET +HOST +SUBNET6 +DHCP +DOMAIN +NAT +UP +GUESTS$/m);
    assert.match(table, /^lab +10\.77\.0\.0\/24 +10\.77\.0\.1 +\S+ +yes +lab +no +yes +onlab$/m);
    await stop(ns, guest);
    const rm = await ns.tool(['net', 'rm', 'lab']);
    assert.is(rm.exitCode, 0, rm.stderr);
    assert.is(rm.stdout, 'removed network lab');
    const builtin = await ns.tool(['net', 'rm', 'hostonly']);
    assert.is(builtin.exitCode, 2);
    assert.match(builtin.stderr, /hostonly is a built-in network and cannot be removed/);
    await assertClean(ns, ['lo'], [guest.pid]);
  }));

test.run();
