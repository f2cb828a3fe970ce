// Host lifecycle with real ip, real QEMU and real qemu-bridge-helper, each test
// in a network namespace it creates and removes. Guests have no disk: they idle
// in the firmware, which is all these tests need.
import { execa } from 'execa';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BINARY, testWhere } from './helpers.ts';
import { GUEST, Netns, allowBridges, assertClean, inNetns, pidAlive, start, waitFor } from './netns.ts';

allowBridges();

test('two guests of the same disk never share a MAC', () =>
  inNetns(async (ns) => {
    const disk = `${ns.runtimeDir}/same.qcow2`;
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const a = await start(ns, 'same1', [disk, '-snapshot', '--net', 'u0']);
    const b = await start(ns, 'same2', [disk, '-snapshot', '--net', 'u0']);
    const macs = [...ns.record('same1').plan.resources.macs, ...ns.record('same2').plan.resources.macs];
    assert.is(new Set(macs).size, 4, macs.join());
    for (const name of ['same1', 'same2']) await ns.tool(['down', '--force', name]);
    await assertClean(ns, ['lo'], [a, b]);
  }));

test('bridge created for a guest and removed with it', () =>
  inNetns(async (ns) => {
    const pid = await start(ns, 'solo', ['--net', 'user,vmnet0', '--host-ip', '192.168.255.5/24']);
    assert.equal(await ns.links(), ['lo', 'qtap0', 'vmnet0']);
    const { stdout } = await ns.ip('-o', '-4', 'addr', 'show', 'dev', 'vmnet0');
    assert.match(stdout, /192\.168\.255\.5\/24/);
    assert.match(
      (await ns.ip('-o', 'link', 'show', 'master', 'vmnet0')).stdout,
      /qtap0/,
      'the TAP is a port of the bridge',
    );
    assert.is((await ns.exec(['cat', '/sys/class/net/qtap0/owner'])).stdout, '0', "root's TAP for root's QEMU");
    assert.equal(ns.registryEntries(), ['vmnet0', 'qtap0']);
    const down = await ns.tool(['down', '--force', 'solo']);
    assert.is(down.exitCode, 0, down.stderr);
    await assertClean(ns, ['lo'], [pid]);
  }));

test('two guests share vmnet0: it stays after the first, goes with the last', () =>
  inNetns(async (ns) => {
    const a = await start(ns, 'first', ['--net', 'user,vmnet0']);
    const b = await start(ns, 'second', ['--net', 'vmnet0']);
    const ps = await ns.tool(['ps', '--json']);
    const listing = JSON.parse(ps.stdout) as {
      version: number;
      guests: Array<{
        name: string;
        pid: number;
        state: string;
        nics: Array<{ index: number; net: string; mac: string; ip: string | null }>;
        forwards: Array<{ proto: string; host: string; port: number; guest_port: number }>;
      }>;
    };
    assert.is(listing.version, 1);
    const rows = listing.guests;
    assert.equal(rows.map((row) => [row.name, row.pid, row.state, row.nics.map((nic) => nic.net).join()]).sort(), [
      ['first', a, 'running', 'user,vmnet0'],
      ['second', b, 'running', 'vmnet0'],
    ]);
    const first = rows.find((row) => row.name === 'first')!;
    assert.equal(
      first.nics.map((nic) => [nic.index, nic.mac, nic.ip]),
      [
        [0, ns.record('first').plan.resources.macs[0], '10.0.2.15'],
        [1, ns.record('first').plan.resources.macs[1], null],
      ],
    );
    assert.equal(
      first.forwards.map((forward) => [forward.proto, forward.host, forward.guest_port]),
      [['tcp', '127.0.0.1', 22]],
    );
    assert.ok(first.forwards[0].port >= 10022);
    const table = await ns.tool(['ps']);
    assert.match(table.stdout, /^NAME\s+PID\s+STATE\s+UPTIME\s+NICS\s+PORTS$/m);
    assert.match(
      table.stdout,
      new RegExp(
        `^first\\s+${a}\\s+running\\s+\\S+\\s+user=10\\.0\\.2\\.15 vmnet0=\\?\\s+ssh:${first.forwards[0].port}$`,
        'm',
      ),
    );
    assert.is((await ns.tool(['down', '--timeout', '1', 'first'])).exitCode, 0);
    assert.not.ok(pidAlive(a));
    assert.ok((await ns.links()).includes('vmnet0'), 'vmnet0 must stay while "second" uses it');
    assert.is((await ns.tool(['down', '--force', 'second'])).exitCode, 0);
    await assertClean(ns, ['lo'], [a, b]);
  }));

test('an existing bridge is used and never removed', () =>
  inNetns(async (ns) => {
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await ns.ip('link', 'set', 'br0', 'up');
    const pid = await start(ns, 'onbr0', ['--net', 'br0']);
    assert.equal(ns.registryEntries(), []);
    assert.is((await ns.tool(['down', '--force', 'onbr0'])).exitCode, 0);
    await assertClean(ns, ['lo', 'br0'], [pid]);
  }));

test('bridged adapter on a bridge default route: TAP through the helper', () =>
  inNetns(async (ns) => {
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await ns.ip('addr', 'add', '10.77.0.1/24', 'dev', 'br0');
    await ns.ip('link', 'set', 'br0', 'up');
    await ns.ip('route', 'add', 'default', 'via', '10.77.0.254', 'dev', 'br0', 'metric', '100');
    const pid = await start(ns, 'bridged', ['--net', 'p']);
    const { stdout } = await ns.ip('-o', 'link', 'show', 'master', 'br0');
    assert.match(stdout, /tap\d+/);
    assert.is((await ns.tool(['down', '--force', 'bridged'])).exitCode, 0);
    await assertClean(ns, ['lo', 'br0'], [pid]);
  }));

test('macvtap over a veth parent: its device reaches QEMU as an fd', () =>
  inNetns(async (ns) => {
    await ns.ip('link', 'add', 'vparent', 'type', 'veth', 'peer', 'name', 'vpeer');
    await ns.ip('link', 'set', 'vparent', 'up');
    await ns.ip('addr', 'add', '10.78.0.1/24', 'dev', 'vparent');
    await ns.ip('route', 'add', 'default', 'via', '10.78.0.254', 'dev', 'vparent');
    const pid = await start(ns, 'mv', ['--net', 'p,macvtap:vparent']);
    const record = ns.record('mv');
    const links = await ns.links();
    assert.ok(links.includes('macvtap0') && links.includes('macvtap1'), links.join());
    const { stdout } = await ns.ip('-o', 'link', 'show', 'macvtap0');
    assert.ok(stdout.includes(record.plan.resources.macs[0]), "the macvtap carries the NIC's MAC");
    assert.match(stdout, /ALLMULTI/);
    const fds = Object.fromEntries(
      readdirSync(`/proc/${pid}/fd`).map((fd) => [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)]),
    );
    for (const spec of record.plan.qemu.fds) assert.is(fds[String(spec.fd)], spec.path, `fd ${spec.fd} of QEMU`);
    assert.equal(
      record.plan.qemu.fds.map((spec) => spec.fd),
      [3, 4],
    );
    assert.is((await ns.tool(['down', '--force', 'mv'])).exitCode, 0);
    for (const spec of record.plan.qemu.fds) assert.not.ok(existsSync(spec.path), `${spec.path} removed`);
    await assertClean(ns, ['lo', 'vparent', 'vpeer'], [pid]);
  }));

test('rollback: the second host step fails, the first is undone, exit 1', () =>
  inNetns(async (ns) => {
    // A macvtap cannot sit on loopback: `ip link add` fails after vmnet0 was made.
    const result = await ns.tool([...GUEST, '--net', 'vmnet0,macvtap:lo']);
    assert.is(result.exitCode, 1, result.stderr);
    assert.match(result.stderr, /ip link add link lo name macvtap0 .* failed: .*nothing was left behind/);
    assert.is(
      result.stderr
        .trim()
        .split('\n')
        .filter((line) => !/warning/.test(line)).length,
      1,
      result.stderr,
    );
    await assertClean(ns);
  }));

test('QEMU refusing to start: its error is shown, exit 1, host clean', () =>
  inNetns(async (ns) => {
    const result = await ns.tool([...GUEST, '--net', 'vmnet0', '-device', 'no-such-device']);
    assert.is(result.exitCode, 1);
    assert.match(result.stderr, /QEMU exited at once: .*no-such-device/);
    await assertClean(ns);
  }));

test('16 concurrent launches: distinct ports and MACs, working forwards, clean host after', () =>
  inNetns(async (ns) => {
    const names = Array.from({ length: 16 }, (_, i) => `c${i}`);
    const results = await Promise.all(
      names.map((name) => ns.tool([...GUEST, '--name', name, '--net', 'user,vmnet0', '-m', '32'])),
    );
    for (const result of results) assert.is(result.exitCode, 0, result.stderr);
    const ports = results.map((result) => Number(/SSH on localhost:(\d+)/.exec(result.stdout)![1]));
    assert.is(new Set(ports).size, 16, `ports ${ports}`);
    const macs = names.flatMap((name) => ns.record(name).plan.resources.macs);
    assert.is(new Set(macs).size, 32, 'MACs');
    const pids = names.map((name) => ns.record(name).qemu!.pid);
    for (const port of ports) {
      const probe = await ns.exec(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
      assert.is(probe.exitCode, 0, `forward on ${port}: ${probe.stderr}`);
    }
    const downs = await Promise.all(names.map((name) => ns.tool(['down', '--force', name])));
    for (const down of downs) assert.is(down.exitCode, 0, down.stderr);
    await assertClean(ns, ['lo'], pids);
  }));

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  test(`foreground: ${signal} to the tool stops QEMU and cleans up`, () =>
    inNetns(async (ns) => {
      const tool = execa(
        'ip',
        ['netns', 'exec', ns.name, BINARY, ...GUEST, '--foreground', '--name', 'fg', '--net', 'user,vmnet0'],
        {
          reject: false,
          env: { QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir },
          stdin: 'ignore',
        },
      );
      let out = '';
      tool.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
      });
      await waitFor(() => /is running/.test(out), 20000, 'the guest');
      const qemu = ns.record('fg').qemu!.pid;
      tool.kill(signal);
      const result = await tool;
      assert.is(result.exitCode, 128 + { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal], result.stderr);
      await assertClean(ns, ['lo'], [qemu]);
    }));
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`background: ${signal} to the guest's waiter stops QEMU and cleans up`, () =>
    inNetns(async (ns) => {
      const pid = await start(ns, 'bg', ['--net', 'vmnet0']);
      const waiter = ns.record('bg').supervisor!.pid;
      assert.is(
        readFileSync(`/proc/${waiter}/cmdline`, 'utf8').split('\0')[0],
        `${dirname(BINARY)}/qemu-script-waiter`,
        'the waiter built beside the program waits, not a Node process',
      );
      process.kill(waiter, signal);
      await waitFor(() => ns.guests().length === 0, 20000, 'cleanup');
      await assertClean(ns, ['lo'], [pid]);
    }));
}

/** The waiter's program and its resident memory (smaps_rollup), of the guest NAME. */
function waiterOf(ns: Netns, name: string): { pid: number; program: string; rssKib: number } {
  const pid = ns.record(name).supervisor!.pid;
  const rss = /^Rss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1];
  return { pid, program: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], rssKib: Number(rss) };
}

testWhere(
  test,
  BINARY.endsWith('.cjs') ? 'the .cjs script carries no waiter: it uses the one beside it' : undefined,
  'the executable alone writes the waiter it carries into the runtime directory; on a noexec one a shell waits',
  () =>
    inNetns(async (ns) => {
      // The executable without the waiter built beside it, as when copied somewhere alone.
      const alone = `${mkdtempSync(`${ns.configDir}/alone-`)}/qemu-script`;
      copyFileSync(BINARY, alone);
      chmodSync(alone, 0o755);
      const run = (args: string[], runtimeDir: string) =>
        execa('ip', ['netns', 'exec', ns.name, alone, ...GUEST, ...args], {
          reject: false,
          env: { QEMU_SCRIPT_RUNTIME_DIR: runtimeDir, QEMU_SCRIPT_CONFIG_DIR: ns.configDir },
        });
      const doctorSays = async (runtimeDir: string) => {
        const doctor = await execa(alone, ['doctor', '--json'], {
          reject: false,
          env: { QEMU_SCRIPT_RUNTIME_DIR: runtimeDir, QEMU_SCRIPT_CONFIG_DIR: ns.configDir },
        });
        const checks = JSON.parse(doctor.stdout).checks as Array<{ id: string; status: string; message: string }>;
        const { status, message } = checks.find((check) => check.id === 'waiter')!;
        return `${status}: ${message}`;
      };
      assert.is(
        await doctorSays(ns.runtimeDir),
        `ok: the qemu-script-waiter this executable carries, written into ${ns.runtimeDir}, waits beside each guest`,
      );
      const launched = await run(['--name', 'own', '--net', 'vmnet0'], ns.runtimeDir);
      assert.is(launched.exitCode, 0, launched.stderr);
      const own = waiterOf(ns, 'own');
      assert.is(own.program, `${ns.runtimeDir}/qemu-script-waiter`);
      assert.equal(readFileSync(own.program), readFileSync(`${dirname(BINARY)}/qemu-script-waiter`));
      assert.ok(own.rssKib < 256, `the waiter is ${own.rssKib} KiB resident`);
      process.kill(own.pid, 'SIGTERM');
      await waitFor(() => ns.guests().length === 0, 20000, 'cleanup');

      // A runtime directory where nothing may run (as /run is on many hosts): the shell waits instead.
      const noexec = `${ns.configDir}/noexec-run`;
      mkdirSync(noexec);
      await execa('mount', ['-t', 'tmpfs', '-o', 'noexec,mode=0755', 'qs-test-noexec', noexec]);
      try {
        assert.is(
          await doctorSays(noexec),
          `warn: ${noexec} is mounted noexec: a shell (~1.7 MiB) waits beside each background guest instead of ` +
            'the qemu-script-waiter this executable carries',
        );
        const fallback = await run(['--name', 'shelled', '--net', 'vmnet0'], noexec);
        assert.is(fallback.exitCode, 0, fallback.stderr);
        const record = JSON.parse(readFileSync(`${noexec}/shelled/guest.json`, 'utf8'));
        const pid = record.supervisor.pid as number;
        assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], /(^|\/)sh$/);
        process.kill(pid, 'SIGTERM');
        await waitFor(() => !existsSync(`${noexec}/shelled/guest.json`), 20000, 'cleanup under the shell');
        assert.equal(JSON.parse(readFileSync(`${noexec}/registry.json`, 'utf8')).resources, [], 'its registry empty');
      } finally {
        await execa('umount', [noexec]);
      }
      await assertClean(ns, ['lo']);
    }),
);

test('QEMU killed: the waiter cleans up', () =>
  inNetns(async (ns) => {
    const pid = await start(ns, 'crash', ['--net', 'vmnet0']);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => ns.guests().length === 0, 20000, 'cleanup');
    await assertClean(ns, ['lo'], [pid]);
  }));

test('kill -9 of the waiter: QEMU follows, gc removes the leftovers', () =>
  inNetns(async (ns) => {
    const pid = await start(ns, 'orphan', ['--net', 'vmnet0']);
    process.kill(ns.record('orphan').supervisor!.pid, 'SIGKILL');
    await waitFor(() => !pidAlive(pid), 20000, 'QEMU to exit');
    assert.ok((await ns.links()).includes('vmnet0'), 'the leftover is there before gc');
    assert.equal(ns.guests(), ['orphan']);
    const gc = await ns.tool(['gc']);
    assert.is(gc.exitCode, 0, gc.stderr);
    assert.match(gc.stdout, /removed leftovers of guest orphan/);
    await assertClean(ns, ['lo'], [pid]);
  }));

test('the next launch collects leftovers of dead guests too', () =>
  inNetns(async (ns) => {
    const pid = await start(ns, 'old', ['--net', 'vmnet7']);
    process.kill(ns.record('old').supervisor!.pid, 'SIGKILL');
    await waitFor(() => !pidAlive(pid), 20000, 'QEMU to exit');
    const next = await start(ns, 'new', ['--net', 'user']);
    assert.not.ok((await ns.links()).includes('vmnet7'));
    assert.equal(ns.guests(), ['new']);
    await ns.tool(['down', '--force', 'new']);
    await assertClean(ns, ['lo'], [pid, next]);
  }));

test('a runtime directory someone else can write is refused before anything is built', () =>
  inNetns(async (ns) => {
    chmodSync(ns.runtimeDir, 0o777);
    const result = await ns.tool([...GUEST, '--net', 'vmnet0']);
    assert.is(result.exitCode, 1);
    assert.match(result.stderr, /is not yours alone/);
    chmodSync(ns.runtimeDir, 0o700);
    await assertClean(ns);
  }));

test("names: a taken --name is refused, a default one gets a suffix and says so; a written disk is one guest's", () =>
  inNetns(async (ns) => {
    const first = await start(ns, 'u1', ['--net', 'none']);
    const before = await ns.state();
    const taken = await ns.tool([...GUEST, '--name', 'u1', '--net', 'none']);
    assert.is(taken.exitCode, 2);
    assert.is(
      taken.stderr.trim(),
      'qemu-script: --name u1: a guest of that name is running (qemu-script ps); choose another',
    );
    const disk = `${ns.runtimeDir}/web.qcow2`;
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const web = await ns.tool([...GUEST, disk, '--net', 'none']);
    assert.is(web.exitCode, 0, web.stderr);
    assert.match(web.stdout, /^Guest web is running/m);
    const again = await ns.tool([...GUEST, disk, '--net', 'none']);
    assert.is(again.exitCode, 2);
    assert.is(
      again.stderr.trim(),
      `qemu-script: disk "${disk}" is in use by guest web; stop it first (qemu-script down)`,
    );
    assert.equal(await ns.state(), before, 'nothing made for the refused launches');
    const second = await ns.tool([...GUEST, '--net', 'none']);
    const third = await ns.tool([...GUEST, '--net', 'none']);
    assert.match(second.stdout, /^Guest guest is running/m);
    assert.match(third.stdout, /^Named guest-2: a guest named guest is running \(--name chooses\)$/m);
    assert.match(third.stdout, /^Guest guest-2 is running/m);
    for (const name of ['u1', 'web', 'guest', 'guest-2'])
      assert.is((await ns.tool(['down', '--force', name])).exitCode, 0);
    await assertClean(ns, ['lo'], [first]);
  }));

test('down says what it asked and how the guest went; info shows how to reach it; -v shows each command once', () =>
  inNetns(async (ns) => {
    // A guest with no disk idles in the firmware, which does not answer ACPI: down has to stop it.
    const verbose = await ns.tool([...GUEST, '--name', 'idle', '--net', 'user,vmnet4', '-v']);
    assert.is(verbose.exitCode, 0, verbose.stderr);
    const traced = verbose.stderr.split('\n').filter((line) => line.startsWith('+ '));
    assert.equal(traced.slice(0, 2), [
      '+ ip link add name vmnet4 type bridge',
      '+ ip link set dev vmnet4 alias ' +
        `qemu-script:${JSON.parse(readFileSync(`${ns.runtimeDir}/registry.json`, 'utf8')).resources[0].id} up`,
    ]);
    assert.is(traced.filter((line) => /^\+ qemu-system-x86_64 /.test(line)).length, 1, "QEMU's line once");
    assert.not.match(verbose.stderr, /^# guest idle: host commands/m, 'no plan printed before the commands');
    const info = await ns.tool(['info', 'idle']);
    assert.is(info.exitCode, 0, info.stderr);
    for (const line of [
      /^name +idle$/m,
      /^state +running \(QEMU pid \d+, up \d+ s\)$/m,
      /^memory +64 MiB/m,
      /^nic 0 +user \S+ 10\.0\.2\.15$/m,
      /^nic 1 +vmnet4 \S+ \(address not known yet\)$/m,
      /^forwards +tcp 127\.0\.0\.1:\d+ -> 22$/m,
      /^console +qemu-script console idle \(\S+\/idle\/console\.sock\)$/m,
      /^screen +none$/m,
      /^login +qemu-script ssh idle$/m,
      /^log +\S+\/logs\/idle\.log$/m,
    ]) {
      assert.match(info.stdout, line);
    }
    // For scripts: memory a number of MiB, the screen and the monitor what they are and where.
    const json = JSON.parse((await ns.tool(['info', '--json', 'idle'])).stdout);
    assert.is(json.memory, 64);
    assert.equal(json.screen, { kind: 'none', socket: null });
    assert.equal(json.monitor, { kind: 'console', socket: `${ns.runtimeDir}/idle/console.sock` });
    assert.is(json.console_log, `${ns.runtimeDir}/idle/console.log`);
    const down = await ns.tool(['down', '--timeout', '2', 'idle']);
    assert.is(down.exitCode, 0, down.stderr);
    assert.is(
      down.stdout,
      'Asked idle to power off (ACPI); waiting up to 2 s (--timeout S; --force stops it at once)\n' +
        'Guest idle did not power off within 2 s: stopped; what was built for it is removed',
    );
    await start(ns, 'quick', ['--net', 'none']);
    const forced = await ns.tool(['down', '--force', 'quick']);
    assert.is(forced.stdout, 'Guest quick stopped; what was built for it is removed');
    await assertClean(ns);
  }));

testWhere(
  test,
  existsSync('/dev/vhost-net') ? 'vhost-net works here: the host gives nothing to remark on' : undefined,
  'a remark about the host (no vhost-net) is said once per boot, a remark about the line every time',
  () =>
    inNetns(async (ns) => {
      const vhost = /warning: vhost-net is not available/;
      const first = await ns.tool([...GUEST, '--name', 'v1', '--net', 'vmnet6', '--host-ip', '10.66.0.1/24']);
      assert.match(first.stderr, vhost);
      const second = await ns.tool([...GUEST, '--name', 'v2', '--net', 'vmnet6', '--host-ip', '10.66.0.1/24']);
      assert.not.match(second.stderr, vhost, 'said already this boot');
      assert.match(second.stderr, /--host-ip 10\.66\.0\.1\/24 ignored/, 'about this line: said again');
      for (const name of ['v1', 'v2']) assert.is((await ns.tool(['down', '--force', name])).exitCode, 0);
      await assertClean(ns);
    }),
);

test('down of an unknown guest: exit 2', () =>
  inNetns(async (ns) => {
    const result = await ns.tool(['down', 'nobody']);
    assert.is(result.exitCode, 2);
    assert.match(result.stderr, /no guest named "nobody"/);
    const none = await ns.tool(['down']);
    assert.equal([none.exitCode, none.stderr], [2, 'qemu-script: down needs a guest name (see qemu-script ps)']);
    const both = await ns.tool(['down', '--all', 'web']);
    assert.equal([both.exitCode, both.stderr], [2, 'qemu-script: down: names or --all, not both']);
    const all = await ns.tool(['down', '--all']);
    assert.equal([all.exitCode, all.stdout], [0, 'no guests']);
  }));

test('a guest name is checked wherever it is read: a path never reaches a record', () =>
  inNetns(async (ns) => {
    // A record another user could plant, under a name that walks out of the runtime directory.
    const planted = mkdtempSync(`${tmpdir()}/qs-planted-`);
    mkdirSync(`${planted}/victim`);
    writeFileSync(`${planted}/victim/guest.json`, '{}');
    try {
      const path = `../../../../..${planted}/victim`;
      for (const words of [['info', path], ['down', path], ['console', path]]) {
        const result = await ns.tool(words);
        assert.is(result.exitCode, 2, words.join(' '));
        assert.is(
          result.stderr,
          `qemu-script: "${path}" is not a guest name (letters, digits and inner hyphens, at most 63)`,
        );
      }
      // export takes a path for a launch line's disk, never for a guest's record.
      const exported = await ns.tool(['export', 'libvirt', path]);
      assert.is(exported.exitCode, 2);
      assert.match(exported.stderr, /^qemu-script: disk "[^"]+victim" is a directory: give a disk image/);
      const unknown = await ns.tool(['export', 'libvirt', 'g1']);
      assert.equal(
        [unknown.exitCode, unknown.stderr],
        [2, 'qemu-script: export libvirt: no guest named g1 (qemu-script ps); or give a launch line'],
      );
      assert.ok(existsSync(`${planted}/victim/guest.json`), 'nothing was removed');
    } finally {
      rmSync(planted, { recursive: true, force: true });
    }
  }));

test('a launch with --json prints the started guest as ps --json does; --quiet prints nothing', () =>
  inNetns(async (ns) => {
    const json = await ns.tool([...GUEST, '--name', 'js', '--net', 'user,vmnet2', '--json']);
    assert.is(json.exitCode, 0, json.stderr);
    const guest = JSON.parse(json.stdout) as {
      version: number;
      name: string;
      pid: number;
      state: string;
      uptime_s: number;
      nics: unknown[];
      forwards: unknown[];
      ssh: string | null;
      login_user: string | null;
    };
    const macs = ns.record('js').plan.resources.macs;
    assert.equal(
      { ...guest, uptime_s: 0 },
      {
        version: 1,
        name: 'js',
        pid: ns.record('js').qemu!.pid,
        state: 'running',
        uptime_s: 0,
        nics: [
          { index: 0, net: 'user', mac: macs[0], ip: '10.0.2.15', ip6: null },
          { index: 1, net: 'vmnet2', mac: macs[1], ip: null, ip6: null },
        ],
        forwards: [{ proto: 'tcp', host: '127.0.0.1', port: ns.record('js').plan.resources.ports[0], guest_port: 22 }],
        ssh: 'qemu-script ssh js',
        login_user: null,
      },
    );
    const quiet = await ns.tool([...GUEST, '--name', 'hush', '--net', 'user', '--quiet']);
    assert.is(quiet.exitCode, 0, quiet.stderr);
    assert.is(quiet.stdout, '');
    assert.is(quiet.stderr, '', 'not even warnings');
    for (const name of ['js', 'hush']) assert.is((await ns.tool(['down', '--force', name])).exitCode, 0);
    await assertClean(ns);
  }));

test('a runtime directory that cannot be made is said to be so, with what to do', () =>
  inNetns(async (ns) => {
    const result = await ns.tool([...GUEST, '--net', 'none'], { QEMU_SCRIPT_RUNTIME_DIR: '/proc/qemu-script-nowhere' });
    assert.is(result.exitCode, 1);
    assert.match(
      result.stderr,
      new RegExp(
        '^qemu-script: cannot create the runtime directory /proc/qemu-script-nowhere \\(\\w+\\); ' +
          'set QEMU_SCRIPT_RUNTIME_DIR to a directory of yours$',
      ),
    );
  }));

test("gc outside a dead guest's namespace: a named one is entered and cleaned, another named with how to enter", () =>
  inNetns(async (ns) => {
    const elsewhere = await Netns.create();
    const anonymous = execa('unshare', ['--net', 'sleep', 'infinity'], { reject: false });
    try {
      // A guest in the named namespace, one in a namespace that only a process holds, both killed outright.
      const pid = await start(ns, 'far', ['--net', 'vmnet4']);
      await waitFor(
        () => readlinkSync(`/proc/${anonymous.pid}/ns/net`) !== readlinkSync('/proc/self/ns/net'),
        5000,
        'the unnamed namespace',
      );
      const inAnonymous = (args: string[]) =>
        execa('nsenter', ['-t', String(anonymous.pid), '-n', '--', BINARY, ...args], {
          reject: false,
          env: { QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir },
        });
      const hidden = await inAnonymous([...GUEST, '--name', 'hidden', '--net', 'vmnet5']);
      assert.is(hidden.exitCode, 0, hidden.stderr);
      for (const name of ['far', 'hidden']) {
        const record = ns.record(name);
        for (const victim of [record.supervisor?.pid, record.qemu?.pid]) if (victim) process.kill(victim, 'SIGKILL');
      }
      await waitFor(() => !pidAlive(pid), 10000, 'QEMU to die');
      const gc = await elsewhere.tool(['gc'], { QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir });
      assert.is(gc.exitCode, 0, gc.stderr);
      assert.match(gc.stdout, new RegExp(`^removed tap qtap0 \\(in network namespace ${ns.name}\\)$`, 'm'));
      assert.match(gc.stdout, new RegExp(`^removed bridge vmnet4 \\(in network namespace ${ns.name}\\)$`, 'm'));
      assert.match(
        gc.stdout,
        new RegExp(
          `^left: bridge vmnet5, tap qtap\\d+ in network namespace net:\\[\\d+\\]; clean it with: nsenter -t ` +
            `${anonymous.pid} -n qemu-script gc$`,
          'm',
        ),
      );
      assert.equal(await ns.links(), ['lo']);
      const inside = await inAnonymous(['gc']);
      assert.is(inside.exitCode, 0, inside.stderr);
      assert.match(inside.stdout, /removed bridge vmnet5/);
      await assertClean(ns);
    } finally {
      if (anonymous.pid) process.kill(anonymous.pid, 'SIGKILL');
      await anonymous;
      await elsewhere.destroy();
    }
  }));

test.run();
