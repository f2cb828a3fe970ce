// export libvirt and export libvirt-net, pure: a planned line (input) → the domain XML, what is said on stderr,
// the networks it needs; a defined network with its registrations → the network XML. Every XML validates
// against libvirt's own schemas (virt-xml-validate, libvirt-clients).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { libvirtDomain } from '../lib/export/domain.ts';
import { memoryMiB } from '../lib/plan/qemu-syntax.ts';
import { libvirtNetwork, type Registered } from '../lib/export/network.ts';
import { builtinNetworks } from '../lib/net/networks.ts';
import type { DiskFacts, HostFacts, NetworkDef } from '../lib/base/types.ts';
import { UsageError } from '../lib/base/errors.ts';
import { plan, qcow2 } from './helpers.ts';

const dir = mkdtempSync(`${tmpdir()}/qs-export-`);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** libvirt's schema says yes: the tool is there (make host-deps installs it), a missing one fails the test. */
async function assertValid(xml: string, kind: 'domain' | 'network', what: string) {
  const file = `${dir}/${kind}.xml`;
  writeFileSync(file, xml);
  const result = await execa('virt-xml-validate', [file, kind], { reject: false });
  assert.is(result.exitCode, 0, `${what}: ${result.stdout}\n${result.stderr}`);
}

test('memory sizes as QEMU writes them, in MiB', () => {
  const rows: Array<[string, number | undefined]> = [
    ['512', 512],
    ['1G', 1024],
    ['1.5G', 1536],
    ['2048M', 2048],
    ['524288K', 512],
    ['1T', 1048576],
    ['size=4G', 4096],
    ['4GB', 4096],
    ['lots', undefined],
  ];
  for (const [value, mib] of rows) assert.is(memoryMiB(value), mib, value);
});

const DISKS = {
  '/img/a.qcow2': qcow2('/img/a.qcow2'),
  '/img/b.iso': { ...qcow2('/img/b.iso'), format: 'iso' as const },
};

interface DomainRow {
  name: string;
  argv: string[];
  facts: Partial<HostFacts>;
  /** All of it, as libvirt gets it. */
  xml: string;
  unexported: string[];
  networks: string[];
}

const DOMAINS: DomainRow[] = [
  {
    name: 'user networking under TCG: memory, CPUs, the SSH forward said to need passt',
    argv: ['--net', 'user', '--accel', 'tcg', '-m', '1G', '-smp', '2', '--display', 'none', '/img/a.qcow2'],
    facts: {},
    xml: `<domain type='qemu'>
  <name>a</name>
  <memory unit='MiB'>1024</memory>
  <vcpu>2</vcpu>
  <iothreads>1</iothreads>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <controller type='scsi' index='0' model='virtio-scsi'>
      <driver queues='4' iothread='1'/>
    </controller>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/a.qcow2'/>
      <target dev='sda' bus='scsi'/>
      <boot order='1'/>
    </disk>
    <interface type='user'>
      <mac address='de:ad:be:ef:c0:10'/>
      <model type='virtio'/>
    </interface>
    <controller type='usb' model='none'/>
    <serial type='pty'/>
    <console type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
`,
    unexported: [
      'NIC 1 (user): libvirt forwards ports to a user-mode NIC only with its passt backend: ' +
        'tcp 127.0.0.1:10022->22 not exported (--net passt exports them)',
    ],
    networks: [],
  },
  {
    name: 'a defined network, a bridge, multicast (its local address said), macvtap; VNC on a socket; KVM',
    argv: ['--net', 'hostonly,vmnet0,mcast:3,macvtap:eth0', '--display', 'vnc', '/img/a.qcow2'],
    facts: {},
    xml: `<domain type='kvm'>
  <name>a</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <iothreads>1</iothreads>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <video>
      <model type='virtio'/>
    </video>
    <controller type='scsi' index='0' model='virtio-scsi'>
      <driver queues='4' iothread='1'/>
    </controller>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/a.qcow2'/>
      <target dev='sda' bus='scsi'/>
      <boot order='1'/>
    </disk>
    <interface type='network'>
      <source network='hostonly'/>
      <mac address='de:ad:be:ef:c0:10'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <source bridge='vmnet0'/>
      <mac address='de:ad:be:ef:f7:5a'/>
      <model type='virtio'/>
    </interface>
    <interface type='mcast'>
      <source address='230.0.0.4' port='12345'/>
      <mac address='de:ad:be:ef:e6:22'/>
      <model type='virtio'/>
    </interface>
    <interface type='direct'>
      <source dev='eth0' mode='bridge'/>
      <mac address='de:ad:be:ef:1b:4c'/>
      <model type='virtio'/>
    </interface>
    <controller type='usb' model='none'/>
    <serial type='pty'/>
    <console type='pty'/>
    <graphics type='vnc'>
      <listen type='socket'/>
    </graphics>
    <memballoon model='none'/>
  </devices>
</domain>
`,
    unexported: [
      "NIC 3 (mcast:3): libvirt's multicast NIC has no local address: it sends by the host's multicast route, " +
        'not only on 127.0.0.1',
    ],
    networks: ['hostonly'],
  },
  {
    name: 'passt with its forwards, UEFI, a USB disk, an ISO, -snapshot, a USB host device',
    argv: [
      '--net',
      'passt',
      '--fwd',
      'udp:5353-53',
      '--uefi',
      '--disk',
      'usb:/img/a.qcow2',
      '/img/b.iso',
      '-snapshot',
      '--usb',
      '1d6b:0002',
    ],
    facts: { passt: '/usr/bin/passt', usbDevices: ['1d6b:0002'] },
    xml: `<domain type='kvm'>
  <name>a</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <iothreads>1</iothreads>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader readonly='yes' type='rom'>/usr/share/ovmf/OVMF.fd</loader>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <video>
      <model type='virtio'/>
    </video>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/a.qcow2'/>
      <target dev='sda' bus='usb'/>
      <transient/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'>
      <driver queues='4' iothread='1'/>
    </controller>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/img/b.iso'/>
      <target dev='sdb' bus='scsi'/>
      <readonly/>
    </disk>
    <hostdev mode='subsystem' type='usb'>
      <source>
        <vendor id='0x1d6b'/>
        <product id='0x0002'/>
      </source>
    </hostdev>
    <interface type='user'>
      <backend type='passt'/>
      <mac address='de:ad:be:ef:c0:10'/>
      <model type='virtio'/>
      <portForward proto='tcp' address='127.0.0.1'>
        <range start='10022' to='22'/>
      </portForward>
      <portForward proto='udp' address='127.0.0.1'>
        <range start='5353' to='53'/>
      </portForward>
    </interface>
    <serial type='pty'/>
    <console type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
`,
    unexported: [
      '-display gtk,window-close=off: libvirt has no window of its own: virt-viewer or virt-manager shows the screen',
    ],
    networks: [],
  },
  {
    name: 'SPICE, QEMU options of the user: CPU, topology, machine, kernel, serial file, -no-reboot; the rest said',
    argv: [
      '--display',
      'spice',
      '--net',
      'none',
      '-cpu',
      'host',
      '-smp',
      '4,sockets=2,cores=2',
      '-machine',
      'q35',
      '--disk',
      'blk:/img/a.qcow2',
      '-device',
      'virtio-rng-pci',
      '-kernel',
      '/k',
      '-initrd',
      '/i',
      '-append',
      'console=ttyS0 x',
      '-serial',
      'file:/tmp/s.log',
      '-no-reboot',
      '-global',
      'kvm-pit.lost_tick_policy=delay',
    ],
    facts: {},
    xml: `<domain type='kvm'>
  <name>a</name>
  <memory unit='MiB'>512</memory>
  <vcpu>4</vcpu>
  <iothreads>1</iothreads>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>/k</kernel>
    <initrd>/i</initrd>
    <cmdline>console=ttyS0 x</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <cpu mode='host-passthrough'>
    <topology sockets='2' cores='2' threads='1'/>
  </cpu>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <video>
      <model type='qxl'/>
    </video>
    <channel type='spicevmc'>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/a.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <boot order='2'/>
    </disk>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='/tmp/s.log'/>
    </serial>
    <graphics type='spice'>
      <listen type='socket'/>
    </graphics>
    <memballoon model='none'/>
  </devices>
</domain>
`,
    unexported: ['-global kvm-pit.lost_tick_policy=delay: not exported', '-device virtio-rng-pci: not exported'],
    networks: [],
  },
  {
    name: 'a NIC without its boot ROM (-global), a bridge joined through the helper',
    argv: ['--net', 'br0', '--display', 'none', '-global', 'virtio-net-pci.romfile=', '/img/a.qcow2'],
    facts: { interfaces: { eth0: { kind: 'physical' }, br0: { kind: 'bridge' } }, bridgeAcl: ['allow br0'] },
    xml: `<domain type='kvm'>
  <name>a</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <iothreads>1</iothreads>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <controller type='scsi' index='0' model='virtio-scsi'>
      <driver queues='4' iothread='1'/>
    </controller>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/img/a.qcow2'/>
      <target dev='sda' bus='scsi'/>
      <boot order='1'/>
    </disk>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='de:ad:be:ef:c0:10'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <controller type='usb' model='none'/>
    <serial type='pty'/>
    <console type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
`,
    unexported: [],
    networks: [],
  },
];

for (const row of DOMAINS) {
  test(`domain: ${row.name}`, async () => {
    const planned = plan(row.argv, { disks: DISKS, ...row.facts }, { DISPLAY: ':0' });
    const exported = libvirtDomain(planned, '/usr/bin/qemu-system-x86_64');
    assert.fixture(exported.xml, row.xml);
    assert.equal(exported.unexported, row.unexported);
    assert.equal(exported.networks, row.networks);
    await assertValid(exported.xml, 'domain', row.name);
  });
}

const UNCARRIED: Array<[string, string[], Record<string, DiskFacts>, RegExp]> = [
  ['a tab in a disk path', ['/img/a\tb.qcow2'], { '/img/a\tb.qcow2': qcow2('/img/a\tb.qcow2') }, /holds a tab or line/],
  ['a line break in a disk path', ['/img/a\nb.qcow2'], { '/img/a\nb.qcow2': qcow2('/img/a\nb.qcow2') }, /line break/],
  ['a control character', ['/img/a\u0001.qcow2'], { '/img/a\u0001.qcow2': qcow2('/img/a\u0001.qcow2') }, /a control/],
  ['a -cpu that is no model', ['/img/a.qcow2', '-cpu', "Haswell'/><x a='1"], DISKS, /names no CPU model libvirt/],
];

for (const [name, argv, disks, message] of UNCARRIED) {
  test(`domain: what libvirt's XML cannot carry is refused, never written changed: ${name}`, () => {
    const planned = plan(['--net', 'none', '--display', 'none', ...argv], { disks });
    assert.throws(
      () => libvirtDomain(planned, '/usr/bin/qemu-system-x86_64'),
      (error: Error) => error instanceof UsageError && message.test(error.message),
    );
  });
}

test('domain: without an emulator path libvirt picks its own', () => {
  const exported = libvirtDomain(plan(['--net', 'none', '/img/a.qcow2'], { disks: DISKS }), undefined);
  assert.not.match(exported.xml, '<emulator>');
});

const WEB: Registered = {
  mac: 'de:ad:be:ef:00:01',
  ip: '192.168.56.7',
  ip6: 'fdf2:c08f:a5a0:0:dcad:beff:feef:1',
  guest: 'web',
};
const DB: Registered = { mac: 'de:ad:be:ef:00:02', ip: '192.168.56.9', guest: 'db' };
const LAB: NetworkDef = {
  name: 'lab',
  subnet: '10.42.0.0/24',
  hostIp: '10.42.0.1',
  dhcp: false,
  nat: false,
  builtin: false,
  vxlan: { vni: 42, remotes: ['10.1.0.7', '10.1.0.8'], port: 4789 },
};

interface NetworkRow {
  name: string;
  network: NetworkDef;
  registered: Registered[];
  xml: string;
  unexported: string[];
}

const NETWORKS: NetworkRow[] = [
  {
    name: 'hostonly with two guests registered (one with IPv6): static hosts, AAAA names, no way out',
    network: builtinNetworks().hostonly,
    registered: [WEB, DB],
    xml: `<network>
  <name>hostonly</name>
  <bridge name='hostonly' stp='off' delay='0'/>
  <domain name='hostonly' localOnly='yes'/>
  <dns>
    <host ip='fdf2:c08f:a5a0:0:dcad:beff:feef:1'>
      <hostname>web</hostname>
    </host>
  </dns>
  <ip address='192.168.56.1' prefix='24'>
    <dhcp>
      <range start='192.168.56.2' end='192.168.56.254'/>
      <host mac='de:ad:be:ef:00:01' name='web' ip='192.168.56.7'/>
      <host mac='de:ad:be:ef:00:02' name='db' ip='192.168.56.9'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fdf2:c08f:a5a0::1' prefix='64'/>
</network>
`,
    unexported: ["hostonly answers its own names only; libvirt's server forwards other names to the host's resolvers"],
  },
  {
    name: 'natnet with nobody registered: NAT for both families',
    network: builtinNetworks().natnet,
    registered: [],
    xml: `<network>
  <name>natnet</name>
  <forward mode='nat'>
    <nat ipv6='yes'/>
  </forward>
  <bridge name='natnet' stp='off' delay='0'/>
  <domain name='natnet' localOnly='yes'/>
  <ip address='192.168.57.1' prefix='24'>
    <dhcp>
      <range start='192.168.57.2' end='192.168.57.254'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fdc5:5f52:88f5::1' prefix='64'/>
</network>
`,
    unexported: [],
  },
  {
    name: 'a VXLAN network, IPv4 only, no DHCP: this side alone, the tunnel said',
    network: LAB,
    registered: [],
    xml: `<network>
  <name>lab</name>
  <bridge name='lab' stp='off' delay='0'/>
  <domain name='lab' localOnly='yes'/>
  <dns enable='no'/>
  <ip address='10.42.0.1' prefix='24'/>
</network>
`,
    unexported: ["VXLAN 42 to 10.1.0.7, 10.1.0.8: libvirt has no VXLAN network; this is this host's side alone"],
  },
  {
    name: 'a network with a domain of its own (net create --domain): the domain, not the name',
    network: { ...LAB, dhcp: true, vxlan: undefined, domain: 'lab.internal' },
    registered: [{ mac: 'de:ad:be:ef:00:02', ip: '10.42.0.9', guest: 'db' }],
    xml: `<network>
  <name>lab</name>
  <bridge name='lab' stp='off' delay='0'/>
  <domain name='lab.internal' localOnly='yes'/>
  <ip address='10.42.0.1' prefix='24'>
    <dhcp>
      <range start='10.42.0.2' end='10.42.0.254'/>
      <host mac='de:ad:be:ef:00:02' name='db' ip='10.42.0.9'/>
    </dhcp>
  </ip>
</network>
`,
    unexported: ["lab answers its own names only; libvirt's server forwards other names to the host's resolvers"],
  },
];

for (const row of NETWORKS) {
  test(`network: ${row.name}`, async () => {
    const exported = libvirtNetwork(row.network, row.registered);
    assert.fixture(exported.xml, row.xml);
    assert.equal(exported.unexported, row.unexported);
    assert.is(exported.networks, undefined);
    await assertValid(exported.xml, 'network', row.name);
  });
}

test.run();
