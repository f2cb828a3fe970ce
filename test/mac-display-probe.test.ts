import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planMacs } from '../lib/net/mac.ts';
import { classifyInterface, defaultRouteFrom, portsFrom, probeHost, unusedUid } from '../lib/probe/probe.ts';
import { readSettings } from '../lib/cli/settings.ts';
import { guestName } from '../lib/plan/plan.ts';
import { UsageError } from '../lib/base/errors.ts';
import { plan, qcow2, valuesOf } from './helpers.ts';

const PREFIX = [0xde, 0xad, 0xbe, 0xef];

test('mac: stable across runs, distinct per NIC, locally administered unicast', () => {
  const first = planMacs(4, { kind: 'stable' }, PREFIX, '/vm/a.qcow2', []);
  assert.equal(planMacs(4, { kind: 'stable' }, PREFIX, '/vm/a.qcow2', []), first);
  assert.is(new Set(first).size, 4);
  assert.ok(first.every((mac) => mac.startsWith('de:ad:be:ef:')));
  assert.not.equal(planMacs(1, { kind: 'stable' }, PREFIX, '/vm/b.qcow2', []), first.slice(0, 1));
});

test("mac: the stable seed is the first disk's absolute path, else the guest name", () => {
  const a = plan(['a.qcow2', '--display', 'none'], { disks: { 'a.qcow2': qcow2('/vm/a.qcow2') } });
  const b = plan(['b.qcow2', '--display', 'none'], { disks: { 'b.qcow2': qcow2('/vm/a.qcow2') } });
  assert.equal(a.resources.macs, b.resources.macs);
  assert.equal(a.resources.macs, planMacs(1, { kind: 'stable' }, PREFIX, '/vm/a.qcow2', []));
  assert.equal(plan(['--name', 'web'], {}).resources.macs, planMacs(1, { kind: 'stable' }, PREFIX, 'web', []));
});

test('mac: a MAC a running guest holds is skipped, never reused', () => {
  const [taken] = planMacs(1, { kind: 'stable' }, PREFIX, 'x', []);
  const [next] = planMacs(1, { kind: 'stable' }, PREFIX, 'x', [taken]);
  assert.not.equal(next, taken);
  assert.ok(next.startsWith('de:ad:be:ef:'));
});

test('mac: random differs between runs; VM_PREMAC is honoured', () => {
  const a = planMacs(2, { kind: 'random' }, PREFIX, 'x', []);
  const b = planMacs(2, { kind: 'random' }, PREFIX, 'x', []);
  assert.not.equal(a, b);
  const custom = plan(['--net', 'u0', '--display', 'none'], {}, { VM_PREMAC: '52:54:00' });
  assert.ok(custom.resources.macs.every((mac) => /^52:54:00(:[0-9a-f]{2}){3}$/.test(mac)));
  assert.is(readSettings({ VM_PREMAC: '2:ab' }).macPrefix.length, 2);
});

test('name: from the first disk made unique (and said), an explicit name taken refused', () => {
  assert.equal(guestName(undefined, '/vm/Debian 12.qcow2', []), { name: 'Debian-12' });
  assert.equal(guestName(undefined, '/vm/my_disk.v2.qcow2', []), { name: 'my-disk-v2' }, 'a DNS label');
  assert.equal(guestName(undefined, '/vm/a.qcow2', ['a', 'a-2']), {
    name: 'a-3',
    renamed: 'Named a-3: a guest named a is running (--name chooses)',
  });
  assert.equal(guestName('web', undefined, []), { name: 'web' });
  assert.equal(guestName(undefined, undefined, ['guest']), {
    name: 'guest-2',
    renamed: 'Named guest-2: a guest named guest is running (--name chooses)',
  });
  assert.throws(
    () => guestName('web', '/vm/a.qcow2', ['web']),
    (error: Error) =>
      error instanceof UsageError &&
      error.message === '--name web: a guest of that name is running (qemu-script ps); choose another',
  );
});

/** Every option a display may add: each row states them all (absent: none). */
const DISPLAY_OPTIONS = ['-display', '-serial', '-monitor', '-vnc', '-chardev', '-mon'];
const RUN = '/run/qemu-script/guest';
/** Every guest's agent channel, whatever the display. */
const AGENT_CHARDEV = `socket,id=qga0,path=${RUN}/qga.sock,server=on,wait=off`;
const CONSOLE_OPTIONS = {
  '-chardev': [
    AGENT_CHARDEV,
    `socket,id=console,path=${RUN}/console.sock,server=on,wait=off,mux=on,logfile=${RUN}/console.log,logappend=on`,
  ],
  '-serial': ['chardev:console'],
  '-mon': ['chardev=console,mode=readline'],
};
const CONSOLE = 'Console: qemu-script console guest (Ctrl-] detaches, Ctrl-A c: the monitor)';
/** A graphical session, which vga and spice need. */
const DESKTOP = { DISPLAY: ':0' };

const DISPLAYS: Array<[string, Record<string, string[]>, string[]]> = [
  ['none', { '-display': ['none'], ...CONSOLE_OPTIONS }, [CONSOLE]],
  [
    'stdio',
    { '-display': ['none'], '-serial': ['mon:stdio'], '-chardev': [AGENT_CHARDEV] },
    ['Serial console and monitor on this terminal (Ctrl-A X quits)'],
  ],
  ['vga', { '-display': ['gtk,window-close=off'], '-monitor': ['vc'], ...CONSOLE_OPTIONS }, [CONSOLE]],
  [
    'vnc',
    { '-vnc': [`unix:${RUN}/vnc.sock`], ...CONSOLE_OPTIONS },
    [
      `Screen: VNC on ${RUN}/vnc.sock (vncviewer ${RUN}/vnc.sock, or remote-viewer vnc+unix://${RUN}/vnc.sock)`,
      CONSOLE,
    ],
  ],
  [
    'spice',
    {
      '-display': ['spice-app'],
      '-monitor': [`unix:${RUN}/monitor.sock,server=on,wait=off`],
      ...CONSOLE_OPTIONS,
      '-chardev': [AGENT_CHARDEV, 'spicevmc,id=vdagent,name=vdagent', ...CONSOLE_OPTIONS['-chardev'].slice(1)],
    },
    ['SPICE viewer opens on a private unix socket (copy and paste through the vdagent)', CONSOLE],
  ],
];

for (const [display, expected, messages] of DISPLAYS) {
  test(`display: ${display}`, () => {
    const result = plan(['--display', display, '--net', 'none'], { usedTcpPorts: [5900] }, DESKTOP);
    for (const option of DISPLAY_OPTIONS)
      assert.equal(valuesOf(result.qemu.argv, option), expected[option] ?? [], `${display} ${option}`);
    assert.equal(result.messages, messages);
    assert.equal(result.resources.ports, [], 'no TCP port');
  });
}

test('display: nothing of a guest on TCP: no tcp:, telnet: or host:port VNC in any option of any display', () => {
  for (const [display] of DISPLAYS) {
    const argv = plan(['--display', display, '--net', 'none'], {}, DESKTOP).qemu.argv;
    const values = argv.filter((_, i) => i > 0 && argv[i - 1].startsWith('-'));
    assert.not.ok(
      values.some((value) => /tcp:|telnet:|^\d+\.\d+\.\d+\.\d+:\d+$|websocket/.test(value)),
      display,
    );
  }
});

test('display: a window (vga, spice) without a graphical session is refused before anything starts', () => {
  for (const [argv, env, said] of [
    [['--display', 'vga'], {}, '--display vga'],
    [['--display', 'spice'], {}, '--display spice'],
    [[], { VM_VIDEO: 'vga' }, 'VM_VIDEO vga'],
  ] as const) {
    assert.throws(
      () => plan([...argv], {}, { ...env }),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === `${said}: no graphical session here; use --display vnc or none`,
    );
  }
  assert.is(plan(['--display', 'vga'], {}, { WAYLAND_DISPLAY: 'wayland-0' }).display, 'vga');
});

test('display: telnet is refused, naming the option or the variable and the console command', () => {
  for (const [argv, env, what] of [
    [['--display', 'telnet'], {}, '--display telnet'],
    [['--display', 'telnet:4444'], {}, '--display telnet:4444'],
    [[], { VM_VIDEO: 'telnet', DISPLAY: ':0' }, 'VM_VIDEO telnet'],
  ] as const) {
    assert.throws(
      () => plan([...argv], {}, { ...env }),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === `${what}: open to every local user; use qemu-script console NAME`,
      what,
    );
  }
});

test('display: spice has the vdagent channel; vga and vnc use virtio-vga', () => {
  assert.ok(
    valuesOf(plan(['--display', 'spice'], {}, DESKTOP).qemu.argv, '-device').includes(
      'virtserialport,chardev=vdagent,name=com.redhat.spice.0',
    ),
  );
  assert.ok(valuesOf(plan(['--display', 'vnc']).qemu.argv, '-device').includes('virtio-vga'));
});

test('ports: a guest holds only the ports of its forwards', () => {
  const result = plan(['--display', 'vnc', '--net', 'u', '--fwd', '8080-80'], { usedTcpPorts: [10022] });
  assert.equal(result.resources.ports.sort(), [10023, 8080].sort());
});

test('probe: default route is the dev field, lowest metric, never "100"', () => {
  const route = [
    'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT',
    'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
    'eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
  ].join('\n');
  assert.is(defaultRouteFrom(route), 'eth0');
  const v6 =
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 ' +
    '00000400 00000001 00000000 00000003     br0';
  assert.is(defaultRouteFrom('Iface\n', v6), 'br0');
  assert.is(defaultRouteFrom('Iface\n', ''), undefined);
});

test('probe: ports in use from /proc/net tables (net create checks UDP ports this way), any state', () => {
  const tcp =
    '  sl  local_address rem_address   st\n   0: 0100007F:2726 00000000:0000 0A\n   1: 0100007F:D431 0100007F:2726 01';
  const tcp6 =
    '  sl  local_address\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A';
  assert.equal(portsFrom([tcp, tcp6]), [8080, 10022, 54321]);
});

// A fake /sys tree: the probe's narrow interface, pointed at a directory the test owns.
const fake = mkdtempSync(`${tmpdir()}/qs-sys-`);
function iface(name: string, files: Record<string, string>, dirs: string[] = []) {
  const dir = `${fake}/sys/class/net/${name}`;
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries({
    type: '1',
    ifindex: '5',
    iflink: '5',
    uevent: `INTERFACE=${name}`,
    ...files,
  }))
    writeFileSync(`${dir}/${file}`, `${content}\n`);
  for (const sub of dirs) mkdirSync(`${dir}/${sub}`, { recursive: true });
}

// Top-level setup: uvu ignores a failing before hook and reports success.
(() => {
  iface('eth0', { address: 'aa:bb:cc:00:00:01' }, ['device']);
  iface('wlan0', { uevent: 'DEVTYPE=wlan' }, ['device', 'wireless']);
  iface('br0', { uevent: 'DEVTYPE=bridge' }, ['bridge']);
  iface('veth0', { iflink: '9' });
  iface('mv0', { iflink: '2' }, ['lower_eth0']);
  iface('macvtap3', { iflink: '2', address: 'de:ad:be:ef:00:03' }, ['lower_eth0', 'macvtap']);
  iface('tap0', {}, ['tun_flags']);
  iface('lo', { type: '772' });
  iface('vlan7', { uevent: 'DEVTYPE=vlan', iflink: '2' }, ['lower_eth0']);
  mkdirSync(`${fake}/proc/net`, { recursive: true });
  writeFileSync(
    `${fake}/proc/net/route`,
    'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n ' +
      'br0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n',
  );
  mkdirSync(`${fake}/sys/bus/usb/devices/1-1`, { recursive: true });
  writeFileSync(`${fake}/sys/bus/usb/devices/1-1/idVendor`, '046D\n');
  writeFileSync(`${fake}/sys/bus/usb/devices/1-1/idProduct`, 'c52b\n');
  symlinkSync('/nonexistent', `${fake}/sys/bus/usb/devices/usb1`);
})();
test.after(() => rmSync(fake, { recursive: true, force: true }));

test('probe: interface kinds from a fake /sys tree', () => {
  const kinds = Object.fromEntries(
    ['eth0', 'wlan0', 'br0', 'veth0', 'mv0', 'macvtap3', 'tap0', 'lo', 'vlan7'].map((name) => [
      name,
      classifyInterface(`${fake}/sys/class/net/${name}`),
    ]),
  );
  assert.equal(Object.fromEntries(Object.entries(kinds).map(([name, facts]) => [name, facts.kind])), {
    eth0: 'physical',
    wlan0: 'wireless',
    br0: 'bridge',
    veth0: 'veth',
    mv0: 'macvlan',
    macvtap3: 'macvtap',
    tap0: 'other',
    lo: 'other',
    vlan7: 'other',
  });
  assert.is(kinds.mv0.parent, 'eth0');
  assert.is(kinds.macvtap3.parent, 'eth0');
});

test('probe: probeHost reads routes, MACs and USB ids from the given roots; ports are left to the port check', () => {
  const facts = probeHost({
    disks: [],
    bridges: true,
    settings: readSettings({}),
    cwd: '/',
    env: {},
    selfCommand: ['qemu-script'],
    roots: { sys: `${fake}/sys`, proc: `${fake}/proc` },
  });
  assert.is(facts.defaultRouteInterface, 'br0');
  assert.equal(facts.usedTcpPorts, []);
  assert.ok(facts.usedMacs.includes('de:ad:be:ef:00:03'));
  assert.equal(facts.usbDevices, ['046d:c52b']);
  assert.is(facts.interfaces.br0.kind, 'bridge');
});

test('probe: addresses and routes only for --host-ip or a defined network, dnsmasq only for a defined network', () => {
  const base = {
    disks: [],
    bridges: true,
    settings: readSettings({}),
    cwd: '/',
    selfCommand: ['qemu-script'],
    roots: {
      sys: `${fake}/sys`,
      proc: `${fake}/proc`,
      // netlink's answers for the fake host: its routes (of every table) and no policy rule.
      ipJson: (args: string[]) =>
        args.join(' ') === '-4 route show table all'
          ? '[{"dst":"default","gateway":"192.168.1.1","dev":"br0"},{"dst":"10.9.0.0/16","dev":"br0","table":"100"}]'
          : '[]',
    },
  };
  const config = mkdtempSync(`${tmpdir()}/qs-probe-config-`);
  try {
    const env = { QEMU_SCRIPT_CONFIG_DIR: config, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
    const plain = probeHost({ ...base, env, netNames: ['vmnet0'] });
    assert.equal([plain.prefixes, plain.dnsmasq], [[], undefined]);
    const route = [
      { cidr: '0.0.0.0/0', dev: 'br0', what: 'route' },
      { cidr: '192.168.1.1/32', dev: 'br0', what: 'gateway' },
      { cidr: '10.9.0.0/16', dev: 'br0 (table 100)', what: 'route' },
    ];
    const withHostIp = probeHost({ ...base, env, netNames: ['vmnet0'], hostIp: true });
    assert.equal([withHostIp.prefixes, withHostIp.dnsmasq], [route, undefined]);
    const defined = probeHost({ ...base, env, netNames: ['hostonly'] });
    assert.equal([defined.prefixes, defined.dnsmasq], [route, '/usr/sbin/dnsmasq']);
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
});

test('probe: the real host (read-only) gives a consistent picture', () => {
  const facts = probeHost({
    disks: [],
    bridges: true,
    settings: readSettings({}),
    cwd: '/',
    env: {},
    selfCommand: ['qemu-script'],
  });
  assert.ok('lo' in facts.interfaces);
  if (facts.defaultRouteInterface) assert.ok(facts.defaultRouteInterface in facts.interfaces);
});

test("probe: root's companions get a user id no account has, from 65533 down", () => {
  const rows: Array<[string, number]> = [
    ['root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n', 65533],
    ['a:x:65533:1::/:/bin/sh\nb:x:65532:1::/:/bin/sh\n', 65531],
    ['', 65533],
  ];
  for (const [passwd, uid] of rows) assert.is(unusedUid(passwd), uid);
});

test.run();
