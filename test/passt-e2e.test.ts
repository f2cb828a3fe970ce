// --net passt end to end: the real executable starts passt (Debian's) for the test guest in a namespace
// whose default route leads to a "wan" namespace. The guest gets the host's address and reaches the wan
// as the host; its SSH, TCP and UDP forwards answer on 127.0.0.1 and not on the LAN address; passt ends
// with the guest, by down and by kill -9 + gc.
import { execa } from 'execa';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  INITRD,
  KERNEL,
  UPLINK,
  WAN,
  askUdp,
  boot,
  console_,
  readBanner,
  stop,
  waitConsole,
  withWan,
} from './guest-helpers.ts';
import { BINARY } from './helpers.ts';
import { BOOT_APPEND, GUEST, assertClean, inNetns, pidAlive, waitFor } from './netns.ts';

// Beyond the gateway: passt takes the gateway's own address to mean the host.
const SERVICE = '198.51.100.1';
const WAN_OPTIONS = { ipv6: false, extra: [`${SERVICE}/32`], serve: [SERVICE] };

const FORWARDS = ['--fwd', 'tcp:8080-7000', '--fwd', 'udp:5353-5353'];

test("passt: the host's address, out to the wan, TCP/UDP/SSH forwards on loopback only", () =>
  withWan(WAN_OPTIONS, async (ns, wan) => {
    const guest = await boot(ns, 'ps1', ['--net', 'passt', ...FORWARDS], {
      if0: 'dhcp',
      banner: '22,7000',
      udp: '5353',
      get: `${SERVICE}:8080`,
    });
    assert.match(guest.stdout, /^NIC 1 on passt \(the host's addresses\)$/m);
    assert.match(guest.stdout, /^SSH on localhost:10022$/m);
    const [, ip, router] = await waitConsole(guest, /E2E: DHCP eth0 ip=(\S+) dns=\S* router=(\S*)/);
    assert.equal([ip, router], [UPLINK, WAN], "passt's DHCP hands out the host's address and gateway");
    await waitConsole(guest, /E2E: READY/);
    // passt speaks for the guest with the host's own addresses: no NAT rule, no forwarding.
    assert.match(console_(guest), new RegExp(`E2E: GET-OK ${SERVICE}:8080 E2E-BANNER from=${UPLINK}\\b`));

    assert.match(await readBanner(ns, '127.0.0.1', 8080), /name=ps1/, 'the TCP forward');
    assert.match(await readBanner(ns, '127.0.0.1', 10022), /name=ps1/, 'the SSH forward');
    await waitFor(async () => /^E2E-UDP name=ps1 got=ping$/m.test(await askUdp(ns, '127.0.0.1', 5353)), 10000, 'UDP');
    // Loopback only: the LAN (here the wan) finds nothing on the host's address.
    assert.is((await wan.exec(['busybox', 'nc', '-w', '2', UPLINK, '8080'])).stdout, '');
    assert.is(await askUdp(wan, UPLINK, 5353), '');

    const ps = JSON.parse((await ns.tool(['ps', '--json'])).stdout) as {
      guests: Array<{ name: string; nics: Array<{ net: string; ip: string | null }>; forwards: unknown[] }>;
    };
    const listed = ps.guests.find((entry) => entry.name === 'ps1')!;
    assert.equal(
      listed.nics.map((nic) => [nic.net, nic.ip]),
      [['passt', null]],
    );
    assert.equal(listed.forwards, [
      { proto: 'tcp', host: '127.0.0.1', port: 10022, guest_port: 22 },
      { proto: 'tcp', host: '127.0.0.1', port: 8080, guest_port: 7000 },
      { proto: 'udp', host: '127.0.0.1', port: 5353, guest_port: 5353 },
    ]);
    const passt = ns.record('ps1').companions!;
    assert.is(passt.length, 1);
    // Root's passt: a user id of its own, not nobody's (the DHCP servers'), and no account's.
    const uid = readFileSync(`/proc/${passt[0].pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
    assert.is.not(uid, '65534');
    assert.not.ok(readFileSync('/etc/passwd', 'utf8').split('\n').some((line) => line.split(':')[2] === uid), uid);
    assert.ok(pidAlive(passt[0].pid), 'passt runs while the guest does');
    await stop(ns, guest);
    assert.not.ok(pidAlive(passt[0].pid), 'passt ended with the guest');
    await assertClean(ns, ['lo', 'uplink0'], [guest.pid]);
  }));

test('passt after kill -9 of QEMU and its waiter: gc ends passt', () =>
  withWan(WAN_OPTIONS, async (ns) => {
    const guest = await boot(ns, 'ps2', ['--net', 'passt'], { if0: 'dhcp', banner: '22' });
    await readBanner(ns, '127.0.0.1', 10022);
    const record = ns.record('ps2');
    const passt = record.companions![0].pid;
    for (const pid of [record.supervisor?.pid, record.qemu?.pid]) if (pid) process.kill(pid, 'SIGKILL');
    await waitFor(() => !pidAlive(guest.pid), 10000, 'QEMU to die');
    assert.ok(pidAlive(passt), 'passt outlives a kill -9 of the guest');
    const gc = await ns.tool(['gc']);
    assert.is(gc.exitCode, 0, gc.stderr);
    assert.not.ok(pidAlive(passt), 'gc ended it');
    await assertClean(ns, ['lo', 'uplink0'], [guest.pid]);
  }));

test('a user without the privileged helper (nobody): passt and user-net guests run, and go with down', () =>
  withWan(WAN_OPTIONS, async (ns) => {
    // Nothing of these guests needs root: no sudo rule, no group, no registry of root's.
    const home = mkdtempSync(`${tmpdir()}/qs-nobody-`);
    const asNobody = (args: string[]) =>
      ns.exec([
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        'env',
        `HOME=${home}`,
        `QEMU_SCRIPT_RUNTIME_DIR=${home}/run`,
        BINARY,
        ...args,
      ]);
    try {
      for (const file of [KERNEL, INITRD]) copyFileSync(file, `${home}/${basename(file)}`);
      await execa('chown', ['-R', '65534:65534', home]);
      const guest = (name: string, net: string) => [
        ...GUEST,
        '-m',
        '160',
        '--name',
        name,
        '--net',
        net,
        '-kernel',
        `${home}/vmlinuz`,
        '-initrd',
        `${home}/initrd.gz`,
        '-append',
        `${BOOT_APPEND} e2e_name=${name} e2e_if0=dhcp e2e_banner=22`,
      ];
      const passt = await asNobody([...guest('np', 'passt'), '--ssh-port', '10122']);
      assert.is(passt.exitCode, 0, passt.stderr);
      const user = await asNobody([...guest('nu', 'user'), '--ssh-port', '10123']);
      assert.is(user.exitCode, 0, user.stderr);
      assert.match(await readBanner(ns, '127.0.0.1', 10122), /name=np/);
      assert.match(await readBanner(ns, '127.0.0.1', 10123), /name=nu/);
      const record = JSON.parse(readFileSync(`${home}/run/np/guest.json`, 'utf8')) as {
        companions: Array<{ pid: number }>;
      };
      const passtPid = record.companions[0].pid;
      assert.is(
        readFileSync(`/proc/${passtPid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1],
        '65534',
        "passt is the user's",
      );
      for (const name of ['np', 'nu']) {
        const down = await asNobody(['down', '--force', name]);
        assert.is(down.exitCode, 0, down.stderr);
      }
      await waitFor(() => !pidAlive(passtPid), 5000, 'passt to end with its guest');
      assert.equal(
        readdirSync(`${home}/run`).filter((entry) => entry === 'np' || entry === 'nu'),
        [],
      );
    } finally {
      // Not in the test's runtime directory: a failed assertion's guests are stopped here, as their user.
      for (const name of ['np', 'nu']) if (existsSync(`${home}/run/${name}`)) await asNobody(['down', '--force', name]);
      rmSync(home, { recursive: true, force: true });
    }
    await assertClean(ns, ['lo', 'uplink0']);
  }));

test('passt missing: exit 2 naming the package, nothing started', () =>
  inNetns(async (ns) => {
    // This test file's mount namespace is its own (test/isolate.sh): the host keeps its passt.
    await execa('mount', ['--bind', '/dev/null', '/usr/bin/passt']);
    try {
      const result = await ns.tool(['--net', 'passt', '--display', 'none', '--accel', 'tcg']);
      assert.is(result.exitCode, 2, result.stderr);
      assert.is(result.stderr, 'qemu-script: --net passt: passt is not installed; sudo apt-get install passt');
      assert.equal(ns.guests(), []);
    } finally {
      await execa('umount', ['/usr/bin/passt']);
    }
    await assertClean(ns);
  }));

test.run();
