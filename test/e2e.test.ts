// End to end: the real dist/qemu-script boots the tiny test guest (test/guest,
// built by `make guest`) in namespaces the tests make, and real traffic passes
// in every network mode. Guests report on their serial console ("E2E: ...").
import { execa } from 'execa';
import { closeSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INITRD, KERNEL, boot, console_, nicMacs, readBanner, stop, waitConsole } from './guest-helpers.ts';
import { GUEST, Netns, allowBridges, assertClean, inNetns, waitFor } from './netns.ts';

allowBridges();

test('user network: banner through the SSH forward and an extra --fwd', () =>
  inNetns(async (ns) => {
    const guest = await boot(ns, 'nat', ['--net', 'user', '--fwd', '18080-8080'], { if0: 'dhcp', banner: '22,8080' });
    const ssh = Number(/SSH on localhost:(\d+)/.exec(guest.stdout)![1]);
    assert.match(await readBanner(ns, '127.0.0.1', ssh), /E2E-BANNER name=nat/);
    assert.match(await readBanner(ns, '127.0.0.1', 18080), /E2E-BANNER name=nat/);
    assert.match(console_(guest), /E2E: NIC eth0 mac=\S+ ip=10\.0\.2\.15\/24/);
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

test('bridged adapter, default route on a bridge: TAP on it through the helper', () =>
  inNetns(async (ns) => {
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await ns.ip('addr', 'add', '192.168.40.1/24', 'dev', 'br0');
    await ns.ip('link', 'set', 'br0', 'up');
    await ns.ip('route', 'add', 'default', 'via', '192.168.40.254', 'dev', 'br0', 'metric', '100');
    const guest = await boot(ns, 'onlan', ['--net', 'p'], {
      if0: '192.168.40.11/24',
      banner: '7000',
      ping: '192.168.40.1',
    });
    assert.match(await readBanner(ns, '192.168.40.11', 7000), /name=onlan/);
    await waitConsole(guest, /E2E: PING-OK 192\.168\.40\.1/);
    await stop(ns, guest);
    await assertClean(ns, ['lo', 'br0'], [guest.pid]);
  }));

test('bridged adapter, default route on a veth (a NIC): macvtap with fd passing reaches the LAN', () =>
  inNetns(async (ns) => {
    const lan = await Netns.create();
    try {
      await ns.ip('link', 'add', 'vparent', 'type', 'veth', 'peer', 'name', 'vpeer', 'netns', lan.name);
      await ns.ip('addr', 'add', '192.168.254.2/24', 'dev', 'vparent');
      await ns.ip('link', 'set', 'vparent', 'up');
      await ns.ip('route', 'add', 'default', 'via', '192.168.254.1', 'dev', 'vparent');
      await lan.ip('addr', 'add', '192.168.254.1/24', 'dev', 'vpeer');
      await lan.ip('link', 'set', 'vpeer', 'up');
      const guest = await boot(ns, 'mvlan', ['--net', 'p'], {
        if0: '192.168.254.11/24',
        banner: '7000',
        ping: '192.168.254.1',
      });
      assert.match(guest.stderr, /reaches the LAN but not this host/);
      const fd3 = readlinkSync(`/proc/${guest.pid}/fd/3`);
      assert.is(fd3, ns.record('mvlan').plan.qemu.fds[0].path);
      await waitConsole(guest, /E2E: PING-OK 192\.168\.254\.1/);
      assert.match(await readBanner(lan, '192.168.254.11', 7000), /name=mvlan/);
      assert.equal(
        nicMacs(guest).map(([, mac]) => mac),
        ns.record('mvlan').plan.resources.macs,
      );
      await stop(ns, guest);
      await assertClean(ns, ['lo', 'vparent'], [guest.pid]);
    } finally {
      await lan.destroy();
    }
  }));

test("display stdio: foreground, the guest's console on the tool's stdout, clean after poweroff", () =>
  inNetns(async (ns) => {
    const append = 'console=ttyS0 panic=-1 quiet e2e_name=tty e2e_off=1';
    const result = await ns.tool([
      ...GUEST,
      '-m',
      '160',
      '--name',
      'tty',
      '--display',
      'stdio',
      '--net',
      'none',
      '-kernel',
      KERNEL,
      '-initrd',
      INITRD,
      '-append',
      append,
      '-no-reboot',
    ]);
    assert.is(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /Serial console and monitor on this terminal/);
    assert.match(result.stdout, /E2E: READY/);
    await assertClean(ns);
  }));

test('disks: a bare-word qcow2 on virtio-scsi and virtio-blk, an ISO as an optical drive', () =>
  inNetns(async (ns) => {
    const dir = mkdtempSync(`${tmpdir()}/qs-e2e-disk-`);
    try {
      await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${dir}/data.qcow2`, '32M']);
      writeFileSync(`${dir}/readme.txt`, 'hello\n');
      await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-o', `${dir}/media.iso`, `${dir}/readme.txt`]);
      const scsi = await boot(ns, 'scsi', [`${dir}/data.qcow2`, `${dir}/media.iso`, '--net', 'none'], { off: '1' });
      await waitConsole(scsi, /E2E: READY/);
      assert.match(console_(scsi), /E2E: BLOCK sda disk/);
      assert.match(console_(scsi), /E2E: BLOCK sr0 cdrom/);
      const blk = await boot(
        ns,
        'blk',
        [`${dir}/data.qcow2`, `${dir}/media.iso`, '--net', 'none'],
        { off: '1' },
        { VM_HDDRIVER: 'virtio-blk' },
      );
      await waitConsole(blk, /E2E: READY/);
      assert.match(console_(blk), /E2E: BLOCK vda disk/);
      assert.match(console_(blk), /E2E: BLOCK sr0 cdrom/);
      await waitFor(() => ns.guests().length === 0, 30000, 'the guests to power off');
      await assertClean(ns, ['lo'], [scsi.pid, blk.pid]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));

test('vhost-net: used when /dev/vhost-net opens, else a warning and QEMU still starts', () =>
  inNetns(async (ns) => {
    let usable = false;
    try {
      closeSync(openSync('/dev/vhost-net', 'r+'));
      usable = true;
    } catch {
      usable = false;
    }
    const guest = await boot(ns, 'vhost', ['--net', 'vmnet0', '--host-ip', '192.168.30.1/24'], {
      if0: '192.168.30.11/24',
      banner: '7000',
    });
    const fds = readdirSync(`/proc/${guest.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${guest.pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    if (usable) {
      console.log('  vhost-net branch: /dev/vhost-net opens, the NIC uses it');
      assert.ok(fds.includes('/dev/vhost-net'), 'QEMU holds /dev/vhost-net');
      assert.not.match(guest.stderr, /vhost-net is not available/);
    } else {
      console.log('  vhost-net branch: /dev/vhost-net does not open here; warned, QEMU runs without it');
      assert.match(guest.stderr, /warning: vhost-net is not available/);
      assert.not.ok(fds.includes('/dev/vhost-net'));
    }
    assert.match(await readBanner(ns, '192.168.30.11', 7000), /name=vhost/);
    await stop(ns, guest);
    await assertClean(ns, ['lo'], [guest.pid]);
  }));

test.run();
