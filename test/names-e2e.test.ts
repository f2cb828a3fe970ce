// The host resolves its guests' names: a real systemd-resolved (Debian's, unpacked by `make resolved`, never
// installed) on a private system bus, in the test's own mount and network namespaces. While a defined network
// is up, resolved asks the network's dnsmasq for the network's domain on its bridge, and for nothing else;
// once its last guest is gone, nothing of it is left. Guests are started paused (-S): their names are the
// tool's registrations, which need no boot.
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KERNEL } from './guest-helpers.ts';
import { ROOT, testWhere, unwrapDoctor } from './helpers.ts';
import { GUEST, type Netns, assertClean, inNetns, waitFor } from './netns.ts';

const RESOLVED = `${ROOT}/.cache/resolved/root`;
const missing = existsSync(`${RESOLVED}/lib/systemd/systemd-resolved`)
  ? undefined
  : 'systemd-resolved is not unpacked (make resolved does it; make test and CI do)';

/**
 * A system bus and systemd-resolved of the test's own. This file runs in a private mount namespace
 * (test/isolate.sh) with its own /etc: the bus's and resolved's directories are covered by empty ones, and
 * resolvectl joins /usr/bin through an overlay, so nothing of the host's changes.
 */
async function withResolved(ns: Netns, body: () => Promise<void>): Promise<void> {
  const extra = '/run/qs-resolved-bin';
  mkdirSync(extra, { recursive: true });
  copyFileSync(`${RESOLVED}/usr/bin/resolvectl`, `${extra}/resolvectl`);
  await execa('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${extra}:/usr/bin`, '/usr/bin']);
  for (const dir of ['/run/dbus', '/run/systemd']) {
    mkdirSync(dir, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', 'qs-test', dir]);
  }
  mkdirSync('/etc/dbus-1/system.d', { recursive: true });
  copyFileSync(
    `${RESOLVED}/usr/share/dbus-1/system.d/org.freedesktop.resolve1.conf`,
    '/etc/dbus-1/system.d/org.freedesktop.resolve1.conf',
  );
  await execa('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'systemd-resolve']);
  const bus = execa('dbus-daemon', ['--system', '--nofork', '--nopidfile'], { reject: false });
  let resolved: ResultPromise | undefined;
  try {
    await waitFor(() => existsSync('/run/dbus/system_bus_socket'), 10000, 'the system bus');
    resolved = execa('ip', ['netns', 'exec', ns.name, `${RESOLVED}/lib/systemd/systemd-resolved`], { reject: false });
    await waitFor(() => existsSync('/run/systemd/resolve/io.systemd.Resolve'), 10000, 'systemd-resolved');
    await body();
  } finally {
    for (const process_ of [resolved, bus]) {
      if (process_?.pid) process.kill(process_.pid, 'SIGTERM');
      await process_;
    }
  }
}

const resolvectl = (ns: Netns, ...words: string[]) => ns.exec(['resolvectl', ...words]);

/** A guest that never runs a thing: QEMU paused at its first instruction. */
const launch = (ns: Netns, name: string, net: string) =>
  ns.tool([...GUEST, '-m', '64', '--name', name, '--net', net, '-kernel', KERNEL, '-S']);

testWhere(test, missing, 'systemd-resolved runs: a network up has its domain asked of its server, and then not', () =>
  inNetns((ns) =>
    withResolved(ns, async () => {
      const doctor = unwrapDoctor((await ns.tool(['doctor'])).stdout);
      assert.match(
        doctor,
        new RegExp(
          '^ok +names +systemd-resolved runs: the host resolves NAME\\.DOMAIN of each network while it is up: ' +
            'hostonly \\(192\\.168\\.56\\.1\\), natnet \\(192\\.168\\.57\\.1\\)$',
          'm',
        ),
      );
      const created = await ns.tool([
        ...['net', 'create', 'lab', '--dhcp', '--subnet', '10.77.0.0/24', '--domain', 'lab.internal'],
      ]);
      assert.is(created.exitCode, 0, created.stderr);
      assert.match(created.stdout, 'DHCP, names NAME.lab.internal');

      const web = await launch(ns, 'web', 'hostonly');
      assert.is(web.exitCode, 0, web.stderr);
      const db = await launch(ns, 'db', 'lab');
      assert.is(db.exitCode, 0, db.stderr);
      const status = await resolvectl(ns, 'status', 'hostonly');
      assert.match(status.stdout, /DNS Servers: 192\.168\.56\.1$/m);
      assert.match(status.stdout, /DNS Domain: ~hostonly$/m, 'asked for its domain alone');
      assert.match((await resolvectl(ns, 'status', 'lab')).stdout, /DNS Domain: ~lab\.internal$/m);

      // The address the host resolves is the one the tool registered: ps's.
      const ps = JSON.parse((await ns.tool(['ps', '--json'])).stdout) as {
        guests: Array<{ name: string; nics: Array<{ ip: string }> }>;
      };
      const ipOf = (name: string) => ps.guests.find((guest) => guest.name === name)!.nics[0].ip;
      for (const [name, address] of [
        ['web.hostonly', ipOf('web')],
        ['db.lab.internal', ipOf('db')],
      ]) {
        // resolved takes a link's settings on its own time: the answer comes within seconds.
        let answer = '';
        await waitFor(
          async () => {
            const query = await resolvectl(ns, 'query', '-4', name);
            answer = query.stdout + query.stderr;
            return query.exitCode === 0;
          },
          15000,
          `${name} through resolved`,
        ).catch(() => assert.unreachable(answer));
        assert.match(answer, `${name}: ${address}`);
      }
      const info = JSON.parse((await ns.tool(['info', 'web', '--json'])).stdout);
      assert.equal(info.dns, [{ network: 'hostonly', name: 'web.hostonly', server: '192.168.56.1' }]);
      const unknown = await resolvectl(ns, 'query', '-4', 'nosuch.hostonly');
      assert.is.not(unknown.exitCode, 0, 'a name no guest has is not invented');

      for (const name of ['web', 'db']) assert.is((await ns.tool(['down', '--force', name])).exitCode, 0);
      await waitFor(() => ns.guests().length === 0, 10000, 'the guests to be cleaned up');
      const left = (await resolvectl(ns, 'status')).stdout;
      assert.not.match(left, /hostonly|lab/, 'the bridges and their settings are gone');
      const after = await resolvectl(ns, 'query', '-4', 'web.hostonly');
      assert.is.not(after.exitCode, 0, 'no server is asked for the domain any more');
      assert.is((await ns.tool(['net', 'rm', 'lab'])).exitCode, 0);
      await assertClean(ns, ['lo']);
    }),
  ),
);

test('systemd-resolved does not run: doctor says which server answers which domain, and how to ask it', () =>
  inNetns(async (ns) => {
    const doctor = unwrapDoctor((await ns.tool(['doctor'])).stdout);
    assert.match(
      doctor,
      new RegExp(
        "^ok +names +systemd-resolved does not run: the host does not resolve guest names itself; each network's " +
          'server does: hostonly \\(192\\.168\\.56\\.1\\), natnet \\(192\\.168\\.57\\.1\\)$',
        'm',
      ),
    );
    assert.match(
      doctor,
      new RegExp(
        "note: ask it \\(dig @192\\.168\\.56\\.1 NAME\\.hostonly\\), or have the\\s+host's resolver send the " +
          'domain there \\(dnsmasq:\\s+server=/hostonly/192\\.168\\.56\\.1\\); never through\\s+/etc/resolv\\.conf',
      ),
    );
  }));

test.run();
