// export libvirt end to end with Debian's libvirt: the test guest runs on hostonly through the tool, its domain
// and its network are exported (the network with the guest's registered address), the guest goes down; then a
// libvirtd of the test's own (in the test's network namespace, its state on private mounts, the host's
// networks untouched and no `default` network) gets the network and, through `export libvirt --apply`, the
// same launch line; `virsh start` boots it under TCG and the guest takes its lease from libvirt's dnsmasq with
// the same MAC and the same address. Refusals: virsh missing, libvirt unreachable, a network libvirt lacks, a
// name libvirt has. The network defined and started by `export libvirt-net --apply`. A lab of two stopped
// instances applied in one command (its network started, both domains defined), then all or none.
import { execa, type ResultPromise } from 'execa';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INITRD, KERNEL, boot, waitConsole } from './guest-helpers.ts';
import { testWhere } from './helpers.ts';
import { BOOT_APPEND, GUEST, assertClean, inNetns, waitFor, type Netns } from './netns.ts';

const missing = existsSync('/usr/sbin/libvirtd')
  ? undefined
  : 'libvirt is not installed (make host-deps installs libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients)';

const dir = mkdtempSync(`${tmpdir()}/qs-libvirt-`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const VALUES = { if0: 'dhcp' };
const APPEND = `${BOOT_APPEND} e2e_name=lv1 e2e_if0=dhcp`;

/** The launch line of the guest (as boot() writes it), with its console in LOG. */
const line = (log: string) => [
  ...GUEST,
  ...['-m', '160', '--name', 'lv1', '--net', 'hostonly'],
  ...['-kernel', KERNEL, '-initrd', INITRD, '-append', APPEND, '-serial', `file:${log}`, '-no-reboot'],
];

// libvirtd as root in the test's namespace: no authentication on its socket (the test's private /run), QEMU as
// root without cgroups, namespaces or a security driver (none of which this container has).
const LIBVIRTD_CONF = 'auth_unix_ro = "none"\nauth_unix_rw = "none"\nlog_outputs = "3:stderr"\n';
const QEMU_CONF = [
  'user = "root"',
  'group = "root"',
  'dynamic_ownership = 0',
  'remember_owner = 0',
  'security_driver = "none"',
  'cgroup_controllers = [ ]',
  'namespaces = [ ]',
  'stdio_handler = "file"',
].join('\n');

/** libvirtd in the namespace, its state (/var/lib, /var/cache, /var/log) on mounts of its own. */
async function startLibvirtd(ns: Netns): Promise<{ daemon: ResultPromise }> {
  // /etc is the test file's own copy (test/isolate.sh): the users libvirt-daemon-system would make (the
  // daemon looks its default QEMU user up before it reads qemu.conf), and the daemon's configuration in an
  // empty /etc/libvirt, so that none of the host's (libvirt-daemon-system's default network) is read.
  if (!/^libvirt-qemu:/m.test(readFileSync('/etc/passwd', 'utf8'))) {
    appendFileSync('/etc/passwd', 'libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin\n');
    appendFileSync('/etc/group', 'libvirt-qemu:x:64055:\n');
  }
  await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'qs-libvirt-etc', '/etc/libvirt']);
  writeFileSync('/etc/libvirt/libvirtd.conf', LIBVIRTD_CONF);
  writeFileSync('/etc/libvirt/qemu.conf', `${QEMU_CONF}\n`);
  const script =
    'for d in /var/lib /var/cache /var/log; do mount -t tmpfs qs-libvirt "$d"; done; ' +
    'mkdir -p /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; exec libvirtd';
  const daemon = execa(
    'ip',
    ['netns', 'exec', ns.name, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script],
    { reject: false, all: true },
  );
  await waitFor(() => existsSync('/run/libvirt/libvirt-sock'), 30000, 'libvirtd socket').catch(async () => {
    daemon.kill();
    throw new Error(`libvirtd did not start: ${(await daemon).all}`);
  });
  // In an object: a promise returned from an async function would be awaited.
  return { daemon };
}

const virsh = (...words: string[]) => execa('virsh', ['--quiet', '--connect', 'qemu:///system', ...words]);

testWhere(test, missing, 'a guest and its network handed to libvirt: same MAC, lease from libvirt, same address', () =>
  inNetns(async (ns) => {
    // virsh missing: refused before anything, with the package to install.
    await execa('mount', ['--bind', '/dev/null', '/usr/bin/virsh']);
    try {
      const noVirsh = await ns.tool(['export', 'libvirt-net', '--apply', 'hostonly']);
      assert.is(noVirsh.exitCode, 2, noVirsh.stderr);
      assert.is(
        noVirsh.stderr,
        "qemu-script: export --apply: libvirt's virsh is not installed; sudo apt-get install libvirt-clients " +
          'libvirt-daemon-system',
      );
    } finally {
      await execa('umount', ['/usr/bin/virsh']);
    }

    const guest = await boot(ns, 'lv1', ['--net', 'hostonly'], VALUES);
    const [, mac, ip] = await waitConsole(guest, /E2E: NIC eth0 mac=(\S+) ip=(\S+)\/24/);
    const domain = await ns.tool(['export', 'libvirt', 'lv1']);
    assert.is(domain.exitCode, 0, domain.stderr);
    assert.is(domain.stderr, '', 'nothing of this line lacks a libvirt equivalent');
    assert.match(
      domain.stdout,
      `<interface type='network'>\n      <source network='hostonly'/>\n      <mac address='${mac}'/>`,
    );
    const network = await ns.tool(['export', 'libvirt-net', 'hostonly']);
    assert.is(network.exitCode, 0, network.stderr);
    assert.match(network.stdout, `<host mac='${mac}' name='lv1' ip='${ip}'/>`);
    for (const [kind, xml] of [
      ['domain', domain.stdout],
      ['network', network.stdout],
    ]) {
      writeFileSync(`${dir}/${kind}.xml`, xml);
      const valid = await execa('virt-xml-validate', [`${dir}/${kind}.xml`, kind], { reject: false });
      assert.is(valid.exitCode, 0, `${kind}: ${valid.stdout}${valid.stderr}`);
    }
    assert.is((await ns.tool(['down', '--force', 'lv1'])).exitCode, 0);
    await assertClean(ns, ['lo']);

    const unreachable = await ns.tool(['export', 'libvirt-net', '--apply', 'hostonly']);
    assert.is(unreachable.exitCode, 1, unreachable.stderr);
    assert.match(unreachable.stderr, /^qemu-script: export --apply: cannot reach libvirt at qemu:\/\/\/system \(/);

    const { daemon } = await startLibvirtd(ns);
    try {
      assert.is((await virsh('net-list', '--all', '--name')).stdout, '', 'this libvirt has no network, no default');
      const log = `${dir}/libvirt-console.log`;
      writeFileSync(log, '');
      const noNetwork = await ns.tool(['export', 'libvirt', '--apply', ...line(log)]);
      assert.is(noNetwork.exitCode, 2, noNetwork.stderr);
      assert.is(
        noNetwork.stderr,
        'qemu-script: export --apply: lv1 has a NIC on network hostonly, which libvirt does not have; define it ' +
          'first: qemu-script export libvirt-net --apply hostonly',
      );
      assert.is((await virsh('list', '--all', '--name')).stdout, '', 'nothing defined');

      // The network as exported while the guest ran, with its address for the guest's MAC; defined, not yet
      // started: its bridge would stand in the way of planning the line (as it would of launching it).
      await virsh('net-define', `${dir}/network.xml`);
      const applied = await ns.tool(['export', 'libvirt', '--apply', ...line(log)]);
      assert.is(applied.exitCode, 0, applied.stderr);
      assert.is(applied.stdout, 'Defined domain lv1 in libvirt (qemu:///system): virsh start lv1');
      const interfaces = (await virsh('domiflist', 'lv1')).stdout.trim().split(/\s+/);
      assert.equal(interfaces.slice(-4), ['network', 'hostonly', 'virtio', mac]);
      const again = await ns.tool(['export', 'libvirt', '--apply', ...line(log)]);
      assert.is(again.exitCode, 2, again.stderr);
      assert.is(
        again.stderr,
        'qemu-script: export --apply: libvirt already has a domain named lv1 (virsh undefine lv1 removes it)',
      );

      await virsh('net-start', 'hostonly');
      const taken = await ns.tool(['export', 'libvirt-net', '--apply', 'hostonly']);
      assert.is(taken.exitCode, 2, taken.stderr);
      assert.is(
        taken.stderr,
        'qemu-script: export --apply: libvirt already has a network named hostonly (virsh net-destroy hostonly; ' +
          'virsh net-undefine hostonly removes it)',
      );

      await virsh('start', 'lv1');
      const underLibvirt = { ...guest, log };
      await waitConsole(underLibvirt, new RegExp(`E2E: NIC eth0 mac=${mac} ip=${ip.replace(/\./g, '\\.')}/24`));
      // libvirt records the lease through dnsmasq's script, a moment after the guest has it.
      const leased = new RegExp(`${mac}\\s+ipv4\\s+${ip.replace(/\./g, '\\.')}/24\\s`);
      let leases = '';
      await waitFor(
        async () => leased.test((leases = (await virsh('net-dhcp-leases', 'hostonly')).stdout)),
        20000,
        'lease',
      ).catch(() => assert.unreachable(`libvirt lists no lease of ${mac} for ${ip}:\n${leases}`));

      // The network through --apply itself: gone from libvirt, then defined and started by the tool.
      await virsh('destroy', 'lv1');
      await virsh('undefine', 'lv1');
      await virsh('net-destroy', 'hostonly');
      await virsh('net-undefine', 'hostonly');
      const network = await ns.tool(['export', 'libvirt-net', '--apply', 'hostonly']);
      assert.equal(
        [network.exitCode, network.stdout],
        [0, 'Defined and started network hostonly in libvirt (qemu:///system)'],
        network.stderr,
      );
      assert.match((await virsh('net-info', 'hostonly')).stdout, /^Active:\s+yes$/m);
      assert.match((await virsh('net-dumpxml', 'hostonly')).stdout, "<domain name='hostonly' localOnly='yes'/>");
    } finally {
      // Whatever the test got to, libvirt's guest and network go (its dnsmasq is a daemon of its own).
      const undo = [
        ['destroy', 'lv1'],
        ['undefine', 'lv1'],
        ['net-destroy', 'hostonly'],
        ['net-undefine', 'hostonly'],
      ];
      for (const words of undo) {
        await virsh(...words).catch(() => undefined);
      }
      daemon.kill();
      await daemon;
    }
    await assertClean(ns, ['lo']);
  }),
);

const LAB = [
    'name: duo',
    'networks:',
    '  lvnet: {subnet: 10.84.0.0/24, ipv6: false}',
    'defaults:',
    '  image: tiny',
    '  nets: [lvnet]',
    '  accel: tcg',
    '  display: none',
    '  memory: 160',
    `  qemu: ${JSON.stringify(['-kernel', KERNEL, '-initrd', INITRD, '-append', `${BOOT_APPEND} e2e_if0=dhcp`])}`,
    'guests:',
  '  lv: {count: 2}',
].join('\n');

testWhere(test, missing, 'a lab handed to libvirt with --apply: its network and both domains, all or none', () =>
  inNetns(async (ns) => {
    const labDir = mkdtempSync(`${tmpdir()}/qs-libvirt-lab-`);
    const env = { QEMU_SCRIPT_IMAGES_DIR: `${labDir}/images`, QEMU_SCRIPT_INSTANCES_DIR: `${labDir}/instances` };
    const file = `${labDir}/lab.yaml`;
    const { daemon } = await startLibvirtd(ns);
    const listed = async () => [
      (await virsh('list', '--all', '--name')).stdout.trim(),
      (await virsh('net-list', '--all', '--name')).stdout.trim(),
    ];
    try {
      await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${labDir}/tiny.qcow2`, '64M']);
      assert.is((await ns.tool(['image', 'add', `${labDir}/tiny.qcow2`], env)).exitCode, 0);
      writeFileSync(file, LAB);
      const up = await ns.tool(['lab', 'up', file], env);
      assert.is(up.exitCode, 0, up.stderr);
      assert.is((await ns.tool(['lab', 'down', '--force', file], env)).exitCode, 0);

      const applied = await ns.tool(['export', 'libvirt', file, '--apply'], env);
      assert.is(applied.exitCode, 0, applied.stderr);
      assert.is(
        applied.stdout,
        [
          'Defined and started network lvnet in libvirt (qemu:///system)',
          'Defined domain lv1 in libvirt (qemu:///system): virsh start lv1',
          'Defined domain lv2 in libvirt (qemu:///system): virsh start lv2',
        ].join('\n'),
      );
      assert.equal(await listed(), ['lv1\nlv2', 'lvnet']);
      assert.match((await virsh('net-info', 'lvnet')).stdout, /^Active:\s+yes$/m);

      // All or none: one name libvirt has already, and nothing else of the lab is defined.
      await virsh('undefine', 'lv2');
      await virsh('net-destroy', 'lvnet');
      await virsh('net-undefine', 'lvnet');
      const again = await ns.tool(['export', 'libvirt', '--apply', file], env);
      assert.equal(
        [again.exitCode, again.stderr],
        [2, 'qemu-script: export --apply: libvirt already has a domain named lv1 (virsh undefine lv1 removes it)'],
      );
      assert.equal(await listed(), ['lv1', ''], 'nothing more defined');
    } finally {
      const undo = [['undefine', 'lv1'], ['undefine', 'lv2'], ['net-destroy', 'lvnet'], ['net-undefine', 'lvnet']];
      for (const words of undo) await virsh(...words).catch(() => undefined);
      daemon.kill();
      await daemon;
      await ns.tool(['lab', 'destroy', file], env);
      rmSync(labDir, { recursive: true, force: true });
    }
    await assertClean(ns, ['lo']);
  }),
);

test.run();
