// End to end: the real dist/qemu-script boots the tiny test guest (test/guest,
// built by `make guest`) in namespaces the tests make, and real traffic passes
// in every network mode (the host side's modes: e2e-host.test.ts). Guests report on their serial console ("E2E: ...").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { askUdp, boot, console_, nicMacs, readBanner, stop, waitConsole } from './guest-helpers.ts';
import { allowBridges, assertClean, inNetns, waitFor } from './netns.ts';
import { BINARY } from './helpers.ts';
import { execa } from 'execa';

allowBridges();

test('user network: banner through the SSH forward, an extra --fwd, and a UDP one', () =>
  inNetns(async (ns) => {
    const guest = await boot(ns, 'nat', ['--net', 'user', '--fwd', '18080-8080', '--fwd', 'udp:15353-5353'], {
      if0: 'dhcp',
      banner: '22,8080',
      udp: '5353',
    });
    const ssh = Number(/SSH on localhost:(\d+)/.exec(guest.stdout)![1]);
    assert.match(await readBanner(ns, '127.0.0.1', ssh), /E2E-BANNER name=nat/);
    assert.match(await readBanner(ns, '127.0.0.1', 18080), /E2E-BANNER name=nat/);
    await waitFor(async () => /^E2E-UDP name=nat got=ping$/m.test(await askUdp(ns, '127.0.0.1', 15353)), 10000, 'UDP');
    assert.match(console_(guest), /E2E: NIC eth0 mac=\S+ ip=10\.0\.2\.15\/24/);

    // Forwards changed while it runs: added (TCP and UDP) and answering at once, listed, refused when the port
    // is taken (by a guest's forward, by another program) or the words are wrong, removed and gone.
    const fwd = (...words: string[]) => ns.tool(['fwd', ...words]);
    const tcp = await fwd('add', 'nat', 'tcp:18081-8080');
    assert.equal(
      [tcp.exitCode, tcp.stdout, tcp.stderr],
      [0, 'Forward tcp 127.0.0.1:18081 -> guest port 8080 added to nat', ''],
    );
    assert.match(await readBanner(ns, '127.0.0.1', 18081, 10000), /E2E-BANNER name=nat/);
    assert.is((await fwd('add', 'nat', 'udp:15354-5353')).exitCode, 0);
    await waitFor(async () => /^E2E-UDP name=nat got=ping$/m.test(await askUdp(ns, '127.0.0.1', 15354)), 10000, 'UDP');
    const forward = (proto: string, port: number, guestPort: number) => ({
      guest: 'nat',
      proto,
      host: '127.0.0.1',
      port,
      guest_port: guestPort,
    });
    const listed = JSON.parse((await fwd('ls', 'nat', '--json')).stdout);
    assert.equal(listed, {
      version: 1,
      forwards: [
        forward('tcp', ssh, 22),
        forward('tcp', 18080, 8080),
        forward('udp', 15353, 5353),
        forward('tcp', 18081, 8080),
        forward('udp', 15354, 5353),
      ],
    });
    const other = execa('ip', ['netns', 'exec', ns.name, 'python3', '-m', 'http.server', '18095', '--bind', '::'], {
      reject: false,
    });
    try {
      await waitFor(
        async () => (await execa('ip', ['netns', 'exec', ns.name, 'ss', '-Htln', 'sport = :18095'])).stdout !== '',
        10000,
        'listener',
      );
      const refusals: Array<[string[], string]> = [
        [['add', 'nat', '18081-22'], "fwd add: host port 18081 is nat's already (qemu-script fwd ls)"],
        [['add', 'nat', '18095-22'], 'fwd add: host port 18095 (tcp) is in use on this host; choose another'],
        [
          ['add', 'nat', '80/22'],
          'fwd add: "80/22" is not a forward (accepted: [tcp:|udp:]HOSTPORT-GUESTPORT or HOSTPORT:GUESTPORT[/udp], ' +
            'e.g. 8080-80)',
        ],
        [['add', 'nosuch', '18096-22'], 'fwd add: no running guest named "nosuch" (qemu-script ps)'],
        [
          ['add', 'nat', '18097-22', '--listen', '10.0.0.1'],
          "fwd add --listen: nat's forwards go to its user network, which listens on 127.0.0.1 alone",
        ],
        [
          ['rm', 'nat', 'udp:18081'],
          'fwd rm: nat has no udp forward on host port 18081 (it has: tcp:' +
            ssh +
            ', tcp:18080, udp:15353, tcp:18081, udp:15354)',
        ],
      ];
      for (const [words, message] of refusals) {
        const refused = await fwd(...words);
        assert.equal([refused.exitCode, refused.stderr], [2, `qemu-script: ${message}`], words.join(' '));
      }
    } finally {
      other.kill();
      await other;
    }
    const removed = await fwd('rm', 'nat', '18081');
    assert.equal(
      [removed.exitCode, removed.stdout],
      [0, 'Forward tcp 127.0.0.1:18081 -> guest port 8080 removed from nat'],
    );
    const gone = await execa('ip', ['netns', 'exec', ns.name, 'busybox', 'nc', '-w', '2', '127.0.0.1', '18081'], {
      reject: false,
      input: '',
    });
    assert.not.match(gone.stdout, 'E2E-BANNER');
    const ps = JSON.parse((await ns.tool(['ps', '--json'])).stdout);
    assert.equal(
      ps.guests[0].forwards.map((entry: { port: number }) => entry.port),
      [ssh, 18080, 15353, 15354],
    );
    // ssh --wait on a terminal: progress while nothing speaks SSH there (the banner is not an SSH server),
    // then the timeout names where it waited and how to look; the exit code says it failed.
    const onTerminal = await ns.exec([
      'env',
      `QEMU_SCRIPT_RUNTIME_DIR=${ns.runtimeDir}`,
      'python3',
      '-c',
      'import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))',
      BINARY,
      'ssh',
      '--wait=2',
      'nat',
    ]);
    assert.match(onTerminal.stdout, /\rWaiting for SSH on nat\.\.\. \d+ s/);
    assert.match(
      onTerminal.stdout,
      new RegExp(
        `no SSH server answered at 127\\.0\\.0\\.1:${ssh} in 2 s; the guest's console says why: ` +
          'qemu-script log nat',
      ),
    );
    assert.is(onTerminal.exitCode, 1);
    await stop(ns, guest);
    await assertClean(ns, ['lo'], [guest.pid]);
  }));

test('multicast internal network: two guests talk, nothing leaves on other interfaces', () =>
  inNetns(async (ns) => {
    await ns.ip('link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1');
    for (const link of ['lan0', 'lan1']) {
      await ns.exec(['sysctl', '-q', '-w', `net.ipv6.conf.${link}.disable_ipv6=1`]);
      await ns.ip('link', 'set', link, 'up');
    }
    await ns.ip('addr', 'add', '10.99.0.1/24', 'dev', 'lan0');
    const txBefore = (await ns.exec(['cat', '/sys/class/net/lan0/statistics/tx_packets'])).stdout;
    const a = await boot(ns, 'mcA', ['--net', '0'], { if0: '192.168.77.11/24', banner: '7000' });
    // No user network nor one with DHCP: no address to forward to, and nothing is asked of QEMU or root.
    const noUser = await ns.tool(['fwd', 'add', 'mcA', '18082-7000']);
    assert.equal(
      [noUser.exitCode, noUser.stderr],
      [
        2,
        'qemu-script: fwd add: mcA has no user network (--net user) nor a defined network with DHCP (hostonly, ' +
          'natnet): its addresses are not known to the host',
      ],
    );
    const b = await boot(ns, 'mcB', ['--net', '0'], {
      if0: '192.168.77.12/24',
      ping: '192.168.77.11',
      get: '192.168.77.11:7000',
      off: '1',
    });
    await waitConsole(b, /E2E: READY/);
    assert.match(console_(b), /E2E: PING-OK 192\.168\.77\.11/);
    assert.match(console_(b), /E2E: GET-OK 192\.168\.77\.11:7000 E2E-BANNER name=mcA/);
    await waitFor(() => !ns.guests().includes('mcB'), 30000, 'mcB to power off and be cleaned up');
    await stop(ns, a);
    const txAfter = (await ns.exec(['cat', '/sys/class/net/lan0/statistics/tx_packets'])).stdout;
    assert.is(txAfter, txBefore, 'the internal network stayed on loopback');
    await assertClean(ns, ['lo', 'lan0', 'lan1'], [a.pid, b.pid]);
  }));

test('internal bridge vmnet0: created, guest to guest, reachable with --host-ip, gone after the last guest', () =>
  inNetns(async (ns) => {
    const a = await boot(ns, 'brA', ['--net', 'vmnet0', '--host-ip', '192.168.255.5/24'], {
      if0: '192.168.255.11/24',
      banner: '7000',
    });
    const b = await boot(ns, 'brB', ['--net', 'vmnet0'], {
      if0: '192.168.255.12/24',
      ping: '192.168.255.11',
      get: '192.168.255.11:7000',
      off: '1',
    });
    await waitConsole(b, /E2E: READY/);
    assert.match(console_(b), /E2E: PING-OK 192\.168\.255\.11/);
    assert.match(console_(b), /E2E: GET-OK 192\.168\.255\.11:7000/);
    assert.match(await readBanner(ns, '192.168.255.11', 7000), /name=brA/);
    assert.is((await ns.exec(['busybox', 'ping', '-c1', '-W2', '192.168.255.11'])).exitCode, 0);
    await waitFor(() => !ns.guests().includes('brB'), 30000, 'brB to power off');
    assert.ok((await ns.links()).includes('vmnet0'), 'vmnet0 stays while brA runs');
    await stop(ns, a);
    await assertClean(ns, ['lo'], [a.pid, b.pid]);
  }));

test('compact --net tap:u0: NICs in written order, each one works', () =>
  inNetns(async (ns) => {
    const guest = await boot(ns, 'compact', ['--net', 'tap:u0', '--host-ip', '192.168.50.1/24'], {
      if0: 'dhcp',
      if1: '192.168.50.11/24',
      banner: '22',
    });
    const plan = ns.record('compact').plan;
    await waitConsole(guest, /E2E: READY/);
    assert.equal(nicMacs(guest), [
      ['eth0', plan.resources.macs[0]],
      ['eth1', plan.resources.macs[1]],
    ]);
    const ssh = Number(/SSH on localhost:(\d+)/.exec(guest.stdout)![1]);
    assert.match(await readBanner(ns, '127.0.0.1', ssh), /name=compact/);
    assert.match(await readBanner(ns, '192.168.50.11', 22), /name=compact/);
    await stop(ns, guest);
    await assertClean(ns, ['lo'], [guest.pid]);
  }));

test('mixed --net user,vmnet3,mcast:2 in one guest: every NIC works, in order', () =>
  inNetns(async (ns) => {
    const guest = await boot(ns, 'mixed', ['--net', 'user,vmnet3,mcast:2', '--host-ip', '192.168.60.1/24'], {
      if0: 'dhcp',
      if1: '192.168.60.11/24',
      if2: '192.168.70.11/24',
      banner: '22',
    });
    const peer = await boot(ns, 'peer', ['--net', 'mcast:2'], {
      if0: '192.168.70.12/24',
      ping: '192.168.70.11',
      get: '192.168.70.11:22',
      off: '1',
    });
    await waitConsole(guest, /E2E: READY/);
    const macs = ns.record('mixed').plan.resources.macs;
    assert.equal(nicMacs(guest), [
      ['eth0', macs[0]],
      ['eth1', macs[1]],
      ['eth2', macs[2]],
    ]);
    const ssh = Number(/SSH on localhost:(\d+)/.exec(guest.stdout)![1]);
    assert.match(await readBanner(ns, '127.0.0.1', ssh), /name=mixed/);
    assert.match(await readBanner(ns, '192.168.60.11', 22), /name=mixed/);
    await waitConsole(peer, /E2E: READY/);
    assert.match(console_(peer), /E2E: GET-OK 192\.168\.70\.11:22 E2E-BANNER name=mixed/);
    await waitFor(() => !ns.guests().includes('peer'), 30000, 'peer to power off');
    await stop(ns, guest);
    await assertClean(ns, ['lo'], [guest.pid, peer.pid]);
  }));

test.run();
