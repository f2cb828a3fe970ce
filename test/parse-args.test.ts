import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../lib/base/errors.ts';
import { parseArgs } from '../lib/cli/parse-args.ts';
import { hostFacts, launchOptions, plan, qcow2, valuesOf } from './helpers.ts';

const disk = (path: string) => ({ disks: { [path]: qcow2(`/vm/${path}`) } });

// SPEC §1: which words the tool owns, which go to QEMU, in which order.
const SPLITS: Array<{ name: string; argv: string[]; before: string[]; after?: string[]; disks?: string[] }> = [
  {
    name: '-snapshot does not eat the next word',
    argv: ['-snapshot', 'a.qcow2'],
    before: ['-snapshot'],
    disks: ['a.qcow2'],
  },
  {
    name: 'a valued option keeps its value, never a disk',
    argv: ['-m', '2G', '-smp', '2', 'a.qcow2'],
    before: ['-m', '2G', '-smp', '2'],
    disks: ['a.qcow2'],
  },
  { name: "-cdrom value is QEMU's, not a disk", argv: ['-cdrom', 'x.iso'], before: ['-cdrom', 'x.iso'], disks: [] },
  {
    name: 'flags between disks',
    argv: ['a.qcow2', '-nographic', 'b.iso', '-no-reboot'],
    before: ['-nographic', '-no-reboot'],
    disks: ['a.qcow2', 'b.iso'],
  },
  {
    name: "after -- everything is QEMU's, even own spellings",
    argv: ['--', '-s', '-net', 'nic', '-usb'],
    before: [],
    after: ['-s', '-net', 'nic', '-usb'],
  },
  {
    name: '--disk and bare words keep written order',
    argv: ['b.qcow2', '--disk', 'a.iso', '-disk', 'c.qcow2', 'd.qcow2'],
    before: [],
    disks: ['b.qcow2', 'a.iso', 'c.qcow2', 'd.qcow2'],
  },
  { name: '--opt=value form', argv: ['--disk=x.qcow2', '--net=vmnet0'], before: [], disks: ['x.qcow2'] },
  {
    name: 'a value starting with a dash stays a value',
    argv: ['--disk', '-odd.qcow2'],
    before: [],
    disks: ['-odd.qcow2'],
  },
  { name: 'double-dash QEMU spelling', argv: ['--m', '1G', '--snapshot'], before: ['--m', '1G', '--snapshot'] },
  {
    name: '-device with commas passes verbatim',
    argv: ['-device', 'e1000,netdev=x', '-netdev', 'user,id=x'],
    before: ['-device', 'e1000,netdev=x', '-netdev', 'user,id=x'],
  },
];

for (const row of SPLITS) {
  test(`args: ${row.name}`, () => {
    const options = launchOptions(row.argv);
    assert.equal(options.qemuBefore, row.before);
    assert.equal(options.qemuAfter, row.after ?? []);
    assert.equal(
      options.disks.map((d) => d.path),
      row.disks ?? [],
    );
  });
}

test('args: both spellings of every own option', () => {
  const long = launchOptions([
    '--net',
    'u',
    '--display',
    'none',
    '--foreground',
    '--dry-run',
    '--verbose',
    '--uefi',
    '--usb',
    '1d6b:0002',
  ]);
  const short = launchOptions(['-net', 'u', '-display', 'none', '-f', '-s', '-v', '-U', '-usb', '1d6b:0002']);
  assert.equal(short, long);
  assert.ok(long.foreground && long.dryRun && long.verbose && long.uefi);
  assert.equal(long.usb, ['1d6b:0002']);
  for (const help of ['--help', '-h']) assert.equal(parseArgs([help], {}).command, 'help');
  assert.equal(parseArgs(['--version'], {}).command, 'version');
  assert.equal(parseArgs(['-q'], {}), parseArgs(['--quiet'], {}));
});

test('args: --wait asks a background launch to return once the guest is ready; absent, nothing waits', () => {
  assert.is(launchOptions(['--wait', '--display', 'none']).wait, true);
  assert.is(launchOptions(['--display', 'none']).wait, undefined);
});

test('args: display stdio is always foreground', () => {
  assert.ok(launchOptions(['--display', 'stdio']).foreground);
  assert.not.ok(launchOptions(['--display', 'none']).foreground);
});

test('precedence: defaults < VM_* < own options < after -- < before --', () => {
  const result = plan(['a.qcow2', '-m', '2G', '--', '-m', '1G'], disk('a.qcow2'), { VM_RAM: '768' });
  assert.equal(valuesOf(result.qemu.argv, '-m'), ['768', '1G', '2G']);
  const argv = result.qemu.argv;
  assert.ok(argv.indexOf('-name') < argv.lastIndexOf('1G'), 'own options come before QEMU options after --');
  assert.equal(argv.slice(-2), ['-m', '2G'], 'QEMU options before -- come last');
});

test('defaults: -nodefaults, -machine accel=kvm, -m 512, virtio-scsi, vga', () => {
  const result = plan(['a.qcow2'], disk('a.qcow2'), { DISPLAY: ':0' });
  assert.equal(result.qemu.argv.slice(0, 6), [
    'qemu-system-x86_64',
    '-nodefaults',
    '-machine',
    'accel=kvm',
    '-m',
    '512',
  ]);
  assert.ok(valuesOf(result.qemu.argv, '-device').includes('virtio-scsi,id=scsi0,num_queues=4,iothread=iothread0'));
  assert.equal(valuesOf(result.qemu.argv, '-display'), ['gtk,window-close=off']);
  assert.not.ok(result.foreground);
});

const ACCELS: Array<{
  name: string;
  argv: string[];
  env?: Record<string, string>;
  kvm: boolean;
  machine: string[];
  warning?: RegExp;
}> = [
  { name: 'kvm when usable', argv: [], kvm: true, machine: ['accel=kvm'] },
  {
    name: 'tcg with a warning when /dev/kvm is not usable',
    argv: [],
    kvm: false,
    machine: ['accel=tcg'],
    warning: /^\/dev\/kvm is not usable: guests run under TCG \(software emulation, many times slower\)$/,
  },
  { name: '--accel tcg', argv: ['--accel', 'tcg'], kvm: true, machine: ['accel=tcg'] },
  { name: 'VM_ACCEL', argv: [], env: { VM_ACCEL: 'tcg' }, kvm: true, machine: ['accel=tcg'] },
  {
    name: '--accel beats VM_ACCEL',
    argv: ['--accel', 'kvm:tcg'],
    env: { VM_ACCEL: 'tcg' },
    kvm: true,
    machine: ['accel=kvm:tcg'],
  },
  {
    name: "the user's -machine accel= wins (no own accel)",
    argv: ['-machine', 'q35,accel=tcg'],
    kvm: false,
    machine: ['q35,accel=tcg'],
  },
  { name: "the user's -enable-kvm wins", argv: ['-enable-kvm'], kvm: false, machine: [] },
];

for (const row of ACCELS) {
  test(`accel: ${row.name}`, () => {
    const result = plan(['--display', 'none', ...row.argv], { kvmUsable: row.kvm }, row.env);
    assert.equal(valuesOf(result.qemu.argv, '-machine'), row.machine);
    const said = [...result.warnings, ...result.notices];
    if (row.warning) assert.ok(said.some((w) => row.warning!.test(w)));
    else assert.not.ok(said.some((w) => /TCG/.test(w)));
  });
}

test('env: VM_VHOSNET (old misspelling) is read, VM_VHOSTNET wins', () => {
  assert.is(launchOptions([], { VM_VHOSNET: '/dev/old' }).settings.vhostNetDevice, '/dev/old');
  assert.is(launchOptions([], { VM_VHOSNET: '/dev/old', VM_VHOSTNET: '/dev/new' }).settings.vhostNetDevice, '/dev/new');
  assert.is(launchOptions([]).settings.vhostNetDevice, '/dev/vhost-net');
});

test('env: VM_NET, VM_VIDEO, VM_HDDRIVER, VM_HELPER and VM_QEMU are defaults', () => {
  const lan = { interfaces: { br0: { kind: 'bridge' as const } }, bridgeAcl: ['allow br0'] };
  const result = plan(
    ['a.qcow2'],
    { ...disk('a.qcow2'), ...lan, vhostNetUsable: false },
    { VM_NET: 'tap:1,br0', VM_VIDEO: 'none', VM_HDDRIVER: 'virtio-blk', VM_HELPER: '/bin/true', VM_QEMU: '/bin/sh' },
  );
  assert.is(result.qemu.argv[0], '/bin/sh');
  assert.equal(valuesOf(result.qemu.argv, '-netdev'), [
    'tap,id=nic0,ifname=qtap0,script=no,downscript=no',
    'bridge,id=nic1,br=br0,helper=/bin/true',
  ]);
  assert.equal(valuesOf(result.qemu.argv, '-display'), ['none']);
  assert.ok(valuesOf(result.qemu.argv, '-device').includes('virtio-blk,drive=disk0,iothread=iothread0,bootindex=0'));
  const overridden = plan(['a.qcow2', '--net', 'u', '--display', 'vnc'], disk('a.qcow2'), {
    VM_NET: 'tap:1',
    VM_VIDEO: 'none',
  });
  assert.equal(valuesOf(overridden.qemu.argv, '-vnc'), ['unix:/run/qemu-script/a/vnc.sock']);
});

// Every bad input: one line naming the value and what is accepted; UsageError (exit 2).
const BAD: Array<{ name: string; argv: string[]; env?: Record<string, string>; message: RegExp }> = [
  {
    name: 'unknown net letter',
    argv: ['--net', 'uz'],
    message: /^--net uz: "z" is no network letter \(u, p, 0-f\); a bridge of that name is br:uz$/,
  },
  { name: 'unknown single letter', argv: ['--net', 'x'], message: /^--net x: "x" is no network letter/ },
  {
    name: 'user and passt together',
    argv: ['--net', 'user,passt'],
    message: /^--net user,passt: one user-mode network per guest: user or passt, once$/,
  },
  { name: 'passt twice', argv: ['--net', 'passt', '--net', 'passt'], message: /one user-mode network per guest/ },
  {
    name: 'unknown net item',
    argv: ['--net', 'wifi:x'],
    message: /^--net wifi:x: "wifi:" is no network prefix \(br:, macvtap:, mcast:, tap:\)$/,
  },
  {
    name: 'tap: with a letter that is none',
    argv: ['--net', 'tap:z'],
    message: /^--net tap:z: tap: takes the compact letters u, p and 0-f, not "z"$/,
  },
  {
    name: 'a bad VM_NET named as such',
    argv: [],
    env: { VM_NET: 'zz' },
    message: /^VM_NET zz: "z" is no network letter/,
  },
  {
    name: 'a bad VM_VIDEO named as such',
    argv: [],
    env: { VM_VIDEO: 'sdl', DISPLAY: ':0' },
    message: /^VM_VIDEO: "sdl" is not a display \(accepted: none, stdio, vga, vnc, spice\)$/,
  },
  {
    name: 'a VM_QEMU that is not there',
    argv: [],
    env: { VM_QEMU: '/nonexistent/qemu' },
    message: /^VM_QEMU: \/nonexistent\/qemu does not exist$/,
  },
  { name: 'none mixed with a NIC', argv: ['--net', 'none,u'], message: /"none" cannot be combined/ },
  { name: 'mcast number out of range', argv: ['--net', 'mcast:300'], message: /0-254/ },
  {
    name: 'a QEMU option without its value at the ' + 'end',
    argv: ['-m'],
    message: /^-m needs a value \(it is one of QEMU's options\)$/,
  },
  {
    name: 'interface name too long',
    argv: ['--net', 'averyveryverylongname'],
    message: /^--net averyveryverylongname: no such network/,
  },
  {
    name: 'shell metacharacters in a bridge name',
    argv: ['--net', 'br:$(reboot)'],
    message: /"\$\(reboot\)" is not an interface name/,
  },
  {
    name: 'malformed MAC prefix',
    argv: [],
    env: { VM_PREMAC: 'zz:11' },
    message: /VM_PREMAC: "zz:11" is not a usable MAC prefix/,
  },
  {
    name: 'multicast MAC prefix',
    argv: [],
    env: { VM_PREMAC: '01:00:5e' },
    message: /^VM_PREMAC: "01:00:5e" is not a usable MAC prefix .*unicast/,
  },
  {
    name: 'unknown display',
    argv: ['--display', 'sdl'],
    message: /--display: "sdl" is not a display \(accepted: none, stdio, vga, vnc, spice/,
  },
  { name: 'malformed USB id', argv: ['--usb', '12345'], message: /--usb: "12345" is not a USB id/ },
  { name: 'own option missing its value', argv: ['a.qcow2', '--net'], message: /--net needs a value/ },
  { name: 'own flag given a value', argv: ['--uefi=yes'], message: /--uefi takes no value/ },
  {
    name: 'bad accelerator',
    argv: ['--accel', 'hvf'],
    message: /"hvf" is not an accelerator \(accepted: kvm, tcg, kvm:tcg\)/,
  },
  { name: 'bad VM_ACCEL', argv: [], env: { VM_ACCEL: 'xen' }, message: /VM_ACCEL: "xen"/ },
  { name: 'bad --fwd', argv: ['--fwd', '80'], message: /--fwd: "80" is not a forward/ },
  { name: 'bad --fwd port', argv: ['--fwd', '99999-22'], message: /not a port/ },
  { name: 'bad --host-ip', argv: ['--host-ip', '10.0.0.1'], message: /--host-ip: "10.0.0.1"/ },
  { name: 'bad --mac', argv: ['--mac', 'nope'], message: /--mac: "nope" is not a unicast MAC/ },
  {
    name: 'bad VM_RAM',
    argv: [],
    env: { VM_RAM: '2X' },
    message: /^VM_RAM: "2X" is not a memory size \(MiB, or with a suffix: 2G, 1536M\)$/,
  },
  { name: 'VM_RAM of a fraction of a MiB', argv: [], env: { VM_RAM: '1000K' }, message: /^VM_RAM: "1000K"/ },
  {
    name: 'VM_HELPER that does not exist',
    argv: [],
    env: { VM_HELPER: '/nonexistent/helper' },
    message: /^VM_HELPER: \/nonexistent\/helper does not exist \(default: \/usr\/lib\/qemu\/qemu-bridge-helper\)$/,
  },
  {
    name: 'VM_EFIFIRM that does not exist',
    argv: [],
    env: { VM_EFIFIRM: '/nonexistent/OVMF.fd' },
    message: /^VM_EFIFIRM: \/nonexistent\/OVMF.fd does not exist/,
  },
  {
    name: 'bad --fwd protocol',
    argv: ['--fwd', 'sctp:80-80'],
    message: /^--fwd: "sctp" in "sctp:80-80" is not a protocol \(accepted: tcp, udp\)$/,
  },
  {
    name: 'bad --fwd protocol, Docker spelling',
    argv: ['--fwd', '8080:80/icmp'],
    message: /"icmp" in "8080:80\/icmp" is not a protocol/,
  },
  { name: 'bad --ssh-port', argv: ['--ssh-port', 'ssh'], message: /^--ssh-port: "ssh" is not a port \(1-65535\)$/ },
  { name: 'bad VM_HDDRIVER', argv: [], env: { VM_HDDRIVER: 'ide' }, message: /VM_HDDRIVER: "ide"/ },
  { name: 'bad --name', argv: ['--name', '../x'], message: /--name: "..\/x"/ },
  {
    name: 'a fixed address on br:NAME',
    argv: ['--net', 'br:x=10.0.0.5'],
    message: /^--net br:x=10\.0\.0\.5: a fixed address goes with the name of a defined network: NAME=ADDRESS /,
  },
  {
    name: 'a fixed address on the user network',
    argv: ['--net', 'user=10.0.2.15'],
    message: /^--net user=10\.0\.2\.15: a fixed address goes with the name of a defined network/,
  },
  { name: 'two fixed addresses', argv: ['--net', 'lab=1.2.3.4=5'], message: /^--net lab=1\.2\.3\.4=5: a fixed / },
  { name: 'a fixed address that is none', argv: ['--net', 'lab=web'], message: /^--net lab=web: "web" is not an IPv4/ },
  {
    name: '--wait with --foreground',
    argv: ['--wait', '-f', '--display', 'none'],
    message: /^--wait: --foreground keeps the guest on this terminal until it exits; --wait is for a guest in the /,
  },
  {
    name: '--wait with --display stdio',
    argv: ['--display', 'stdio', '--wait'],
    message: /^--wait: --display stdio keeps the guest on this terminal until it exits; /,
  },
  { name: '--wait with a value', argv: ['--wait=30'], message: /^--wait takes no value \(got "--wait=30"\)$/ },
];

for (const row of BAD) {
  test(`bad input: ${row.name}`, () => {
    assert.throws(
      () => launchOptions(row.argv, row.env),
      (error: Error) => {
        assert.instance(error, UsageError);
        assert.not.match(error.message, /\n/);
        assert.match(error.message, row.message);
        return true;
      },
    );
  });
}

test(
  "env: VM_RAM takes QEMU's size suffixes; VM_HDDRIVER takes vm's short names; a vendor's VM_PREMAC is a " + 'warning',
  () => {
    for (const [text, mib] of [
      ['768', 768],
      ['2G', 2048],
      ['1536M', 1536],
      ['1g', 1024],
      ['2GiB', 2048],
      ['1048576K', 1024],
    ] as const) {
      assert.is(launchOptions([], { VM_RAM: text }).settings.ramMiB, mib, text);
    }
    assert.is(launchOptions([], { VM_HDDRIVER: 'scsi' }).settings.diskController, 'virtio-scsi');
    assert.is(launchOptions([], { VM_HDDRIVER: 'blk' }).settings.diskController, 'virtio-blk');
    const vendor = launchOptions([], { VM_PREMAC: '52:54:00' });
    assert.equal(vendor.settings.macPrefix, [0x52, 0x54, 0x00]);
    assert.equal(
      launchOptions([], { VM_PREMAC: '00:16:3e' }).notes.filter((note) => note.startsWith('VM_PREMAC')).length,
      1,
    );
    assert.equal(
      vendor.notes.filter((note) => note.startsWith('VM_PREMAC')),
      [],
      '52 is locally administered',
    );
  },
);

test(
  'forwards: HOST:GUEST and /udp spellings; --ssh-port moves or drops the SSH forward; a --fwd on 10022 moves SSH ' +
    'on',
  () => {
    const forwards = (argv: string[], facts = {}) =>
      plan(['--net', 'u', '--display', 'none', ...argv], facts).resources.forwards.map(
        (f) => `${f.proto}:${f.port}-${f.guest_port}`,
      );
    assert.equal(forwards(['--fwd', '8080:80', '--fwd', '5353:53/udp', '--fwd', 'udp:6000-60']), [
      'tcp:10022-22',
      'tcp:8080-80',
      'udp:5353-53',
      'udp:6000-60',
    ]);
    assert.equal(forwards(['--ssh-port', '2222']), ['tcp:2222-22']);
    assert.equal(forwards(['--ssh-port', 'none', '--fwd', '8080-80']), ['tcp:8080-80']);
    assert.equal(forwards(['--fwd', '10022-80']), ['tcp:10023-22', 'tcp:10022-80']);
    assert.throws(
      () => plan(['--fwd', '80-80', '--display', 'none'], { isRoot: false, uid: 1000 }),
      /^--fwd: host port 80 is privileged \(below 1024\) and only root may listen on it; choose one from 1024 up$/,
    );
    assert.throws(
      () => plan(['--ssh-port', '22', '--display', 'none'], { isRoot: false, uid: 1000 }),
      /^--ssh-port: host port 22 is privileged/,
    );
    assert.equal(forwards(['--fwd', '80-80']), ['tcp:10022-22', 'tcp:80-80'], 'root may');
    assert.throws(
      () => plan(['--ssh-port', '8080', '--fwd', '8080-80', '--display', 'none']),
      (error: Error) => error.message === '--ssh-port 8080: this line gives host port 8080 twice (--fwd too)',
    );
    assert.throws(
      () => plan(['--fwd', '8080-80', '--fwd', 'udp:8080-53', '--display', 'none']),
      (error: Error) => error.message === '--fwd 8080: this line gives host port 8080 twice (--fwd too)',
    );
  },
);

test('display: a headless first run gets VNC (and says how to reach it), a graphical one the window', () => {
  const headless = launchOptions([]);
  assert.equal(headless.display, { kind: 'vnc' });
  assert.equal(headless.notes, ['no graphical session: the screen is on VNC instead of a window (--display chooses)']);
  assert.equal(launchOptions([], { WAYLAND_DISPLAY: 'wayland-0' }).display, { kind: 'vga' });
  assert.equal(launchOptions(['--display', 'vga'], { DISPLAY: ':0' }).display, { kind: 'vga' }, 'as asked');
  assert.equal(launchOptions([], { VM_VIDEO: 'none' }).display, { kind: 'none' });
});

test('bad input at plan time: missing or used disk, firmware, USB device, same MAC twice, PCI slots', () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['missing.qcow2'], {}, /^disk "missing.qcow2" does not exist: give a disk image, an ISO or a block device$/],
    [['--uefi'], {}, /--uefi: firmware \/usr\/share\/ovmf\/OVMF.fd is not readable/],
    [['--usb', '046d:c52b'], {}, /--usb: no USB device 046d:c52b on this host/],
    [
      ['--net', 'u0', '--mac', 'de:ad:be:ef:00:01,de:ad:be:ef:00:01'],
      {},
      /two NICs forced onto the same MAC de:ad:be:ef:00:01/,
    ],
    [['--net', 'u0'], { VM_PREMAC: 'de:ad:be:ef:00:01' }, /forces every NIC onto the same MAC/],
    [['a.qcow2'], {}, /^disk "a.qcow2" is in use by guest web; stop it first \(qemu-script down\)$/],
    [['a.qcow2', '-snapshot'], {}, /^disk "a.qcow2" is in use by guest web/],
    [['b.qcow2'], {}, /^disk "b.qcow2" is in use by guest reader/],
    [['/vm'], {}, /^disk "\/vm" is a directory: give a disk image, an ISO or a block device$/],
    [
      ['--net', Array(30).fill('0').join(','), '--display', 'vnc'],
      {},
      /^--net: 30 NICs and 2 other devices need 32 PCI slots; the machine has 30$/,
    ],
  ];
  for (const [argv, env, message] of cases) {
    const facts = hostFacts({
      firmwareReadable: false,
      disks: {
        'missing.qcow2': { exists: false, readable: false, absolutePath: '/x', blockDevice: false, format: 'unknown' },
        'a.qcow2': { ...qcow2('/vm/a.qcow2'), usedBy: { guest: 'web', writes: true } },
        'b.qcow2': { ...qcow2('/vm/b.qcow2'), usedBy: { guest: 'reader', writes: false } },
        '/vm': {
          exists: false,
          readable: false,
          absolutePath: '/vm',
          blockDevice: false,
          format: 'unknown',
          detail: 'a directory',
        },
      },
    });
    assert.throws(
      () => plan(argv, facts, env),
      (error: Error) => error instanceof UsageError && message.test(error.message),
    );
  }
});

test('disks: guests that only read one disk (-snapshot) share it', () => {
  const reader = { ...qcow2('/vm/b.qcow2'), usedBy: { guest: 'reader', writes: false } };
  const facts = hostFacts({ disks: { 'b.qcow2': reader } });
  const shared = plan(['b.qcow2', '-snapshot', '--display', 'none'], facts);
  assert.equal([shared.resources.disks, shared.resources.writesDisks], [['/vm/b.qcow2'], false]);
});

test.run();
