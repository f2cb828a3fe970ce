// End to end, the host side: the bridged adapter (over a bridge, over a NIC with macvtap),
// the console on stdio, disks and vhost-net, with the real dist/qemu-script booting the
// tiny test guest (test/guest) in namespaces the tests make. Guests report on their serial
// console ("E2E: ...").
import { execa } from 'execa';
import { closeSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INITRD, KERNEL, boot, console_, nicMacs, readBanner, stop, waitConsole } from './guest-helpers.ts';
import { BOOT_APPEND, GUEST, Netns, allowBridges, assertClean, inNetns, waitFor } from './netns.ts';

allowBridges();

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
    const append = `${BOOT_APPEND} e2e_name=tty e2e_off=1`;
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
      // The same disk again, once the first guest has powered off (a disk is written by one guest at a time).
      await waitFor(() => !ns.guests().includes('scsi'), 30000, 'the first guest to power off');
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
