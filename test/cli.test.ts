// The real executable, as a user runs it: dry runs, exit codes, nothing done to the host.
import { execa } from 'execa';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VERSION } from '../lib/base/version.ts';
import { BINARY, ROOT, SINGLE_EXECUTABLE, noLoopDevice, runBinary, testWhere } from './helpers.ts';

const dir = mkdtempSync(`${tmpdir()}/qs-cli-`);
chmodSync(dir, 0o755);
const marker = `${dir}/EXECUTED`;
// Were the name ever run by a shell in `dir`, it would create the marker.
const weird = `${dir}/my disk's "x",y $(touch EXECUTED).qcow2`;
// Commands that must never run during a dry run: each leaves a trace if it does.
const trap = `${dir}/trap`;

// Top-level setup: uvu ignores a failing before hook and reports success.
await (async () => {
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', weird, '16M']);
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${dir}/disk.qcow2`, '16M']);
  chmodSync(`${dir}/disk.qcow2`, 0o644);
  mkdirSync(trap);
  for (const name of ['ip', 'sudo', 'mknod', 'qemu-system-x86_64', 'qemu-bridge-helper']) {
    // The probe may read link kinds (`ip -j -d link show`); anything else leaves a trace.
    const readOnly = name === 'ip' ? 'case "$*" in "-j -d link show") exec /usr/sbin/ip "$@" ;; esac\n' : '';
    writeFileSync(`${trap}/${name}`, `#!/bin/sh\n${readOnly}echo "${name} $*" >> ${marker}\n`);
    chmodSync(`${trap}/${name}`, 0o755);
  }
})();
test.after(() => rmSync(dir, { recursive: true, force: true }));

const trapEnv = () => ({ PATH: `${trap}:/usr/sbin:/usr/bin:/sbin:/bin`, QEMU_SCRIPT_RUNTIME_DIR: `${dir}/run` });

test('--version and --help', async () => {
  const version = await runBinary(['--version']);
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };
  assert.is(version.stdout, `qemu-script ${pkg.version}`);
  const help = await runBinary(['--help']);
  assert.is(help.exitCode, 0);
  for (const needle of [
    '--disk, -disk',
    '--dry-run, -s',
    '--host-ip CIDR',
    '--fwd',
    '--accel',
    'macvtap:IF',
    'VM_PREMAC',
    'VM_VHOSTNET',
    'Examples:',
    'Exit codes',
  ]) {
    assert.ok(help.stdout.includes(needle), `help lacks ${needle}`);
  }
});

test('help and help COMMAND print what --help prints; an unknown one is refused', async () => {
  const same: Array<[string[], string[]]> = [
    [['help'], ['--help']],
    [['help', 'ssh'], ['ssh', '--help']],
    [['help', 'image', 'pull'], ['image', 'pull', '--help']],
    [['help', 'image'], ['image', 'help']],
  ];
  for (const [asked, meant] of same) {
    const [a, b] = [await runBinary(asked), await runBinary(meant)];
    assert.equal([a.exitCode, a.stdout, a.stderr], [0, b.stdout, ''], asked.join(' '));
    assert.ok(a.stdout.length > 100, asked.join(' '));
  }
  for (const words of [['nosuch'], ['__cleanup'], ['ssh', 'extra']]) {
    const refused = await runBinary(['help', ...words]);
    assert.equal(
      [refused.exitCode, refused.stderr],
      [2, `qemu-script: help: no command ${words.join(' ')} (qemu-script help lists them)`],
    );
  }
});

test('the single executable runs with no Node.js on PATH', async () => {
  const result = await execa(SINGLE_EXECUTABLE, ['--dry-run', '--net', 'u', '--display', 'none'], {
    reject: false,
    extendEnv: false,
    env: { PATH: '/nonexistent' },
  });
  assert.is(result.exitCode, 0, result.stderr);
  assert.match(result.stdout, /^qemu-system-x86_64 -nodefaults /m);
});

test(
  "dist/qemu-script.cjs: one script under 1 MiB for the host's node, same output as the single executable",
  async () => {
  const script = `${ROOT}/dist/qemu-script.cjs`;
  const text = readFileSync(script, 'utf8');
  assert.is(text.split('\n')[0], '#!/usr/bin/env node');
  assert.ok(statSync(script).size < 2 ** 20, `${statSync(script).size} bytes`);
  assert.ok((statSync(script).mode & 0o111) === 0o111, 'not executable');
  const line = [
    '--dry-run',
    '--json',
    '--net',
    'user,vmnet3,2',
    '--display',
    'none',
    '--accel',
    'tcg',
    '--name',
    'same',
  ];
  for (const args of [['--version'], line]) {
    const [fromScript, fromExecutable] = await Promise.all([execa(script, args), execa(SINGLE_EXECUTABLE, args)]);
    assert.is(fromScript.stdout, fromExecutable.stdout, args.join(' '));
    assert.ok(fromScript.stdout.length > 0);
  }
});

test('dist/qemu-script.cjs on a Node.js older than 20: one line saying so, exit 1', async () => {
  const dir = mkdtempSync(`${tmpdir()}/qs-oldnode-`);
  try {
    writeFileSync(`${dir}/node18.cjs`, "Object.defineProperty(process.versions, 'node', { value: '18.19.0' });\n");
    const result = await execa(
      'node',
      ['--require', `${dir}/node18.cjs`, `${ROOT}/dist/qemu-script.cjs`, '--version'],
      { reject: false },
    );
    assert.is(result.exitCode, 1);
    assert.is(result.stdout, '');
    assert.is(
      result.stderr,
      'qemu-script: this script needs Node.js 20 or newer, found 18.19.0: upgrade Node.js or use the single ' +
        'executable (dist/qemu-script, which carries its own)',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A caller may hand over a non-blocking pipe (its own end, shared): 150 KB of dry run must still arrive
// whole after the reader waits, and a reader that stops early (`| head`) ends the tool quietly.
const NONBLOCKING_READER = `use Fcntl; pipe(my $r, my $w) or die;
fcntl($w, F_SETFL, fcntl($w, F_GETFL, 0) | O_NONBLOCK) or die;
my $pid = fork(); if ($pid == 0) { close $r; open(STDOUT, '>&', $w) or die; exec @ARGV; die "exec: $!" }
close $w; sleep 1; local $/; my $data = <$r>; waitpid($pid, 0); print $data; print STDERR "exit ", $? >> 8, "\n";`;

test('output: a full non-blocking pipe gets everything; a reader that goes away ends the tool quietly', async () => {
  const nets = ['user', ...Array.from({ length: 100 }, (_, i) => `vmnet${i}`)].join(',');
  // -M q35: a machine of the user's own, whose PCI layout is QEMU's business (the tool counts i440FX's only).
  const dryRun = ['--dry-run', '--json', '--quiet', '--net', nets, '--display', 'none', '-M', 'q35'];
  const slow = await execa('perl', ['-e', NONBLOCKING_READER, BINARY, ...dryRun], { reject: false });
  assert.is(slow.stderr, 'exit 0');
  assert.ok(slow.stdout.length > 2 * 65536, `${slow.stdout.length} bytes: more than a pipe holds`);
  assert.is((JSON.parse(slow.stdout) as { resources: { nics: unknown[] } }).resources.nics.length, 101);
  const head = await execa('sh', ['-c', '"$@" | head -c 10', 'sh', BINARY, ...dryRun], { reject: false });
  assert.is(head.stdout, '{\n  "versi');
  assert.is(head.stderr, '', 'no EPIPE error');
});

test('qemu-script.ts runs straight from the checkout (shebang), from any directory', async () => {
  for (const cwd of [ROOT, '/']) {
    const result = await execa(`${ROOT}/qemu-script.ts`, ['--version'], { cwd, reject: false });
    assert.is(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^qemu-script \d+\.\d+\.\d+$/);
  }
  const words = await execa(`${ROOT}/qemu-script.ts`, ['-s', '--net', 'none', '--display', 'none', 'two words.img'], {
    cwd: '/',
    reject: false,
  });
  assert.match(words.stderr, /disk "two words.img" does not exist/, 'arguments reach the script intact');
});

test('dry run: prints host commands, QEMU line and cleanup; runs nothing', async () => {
  const result = await runBinary(
    [
      '--dry-run',
      `${dir}/disk.qcow2`,
      '--net',
      'user,vmnet0',
      '--host-ip',
      '192.168.255.5/24',
      '--display',
      'none',
      '--accel',
      'tcg',
    ],
    { env: trapEnv() },
  );
  assert.is(result.exitCode, 0, result.stderr);
  const lines = result.stdout.split('\n');
  const qemuAt = lines.indexOf('# QEMU');
  assert.equal(lines.slice(1, qemuAt), [
    'ip link add name vmnet0 type bridge',
    'ip link set dev vmnet0 alias qemu-script:RECORD-ID up',
    'ip addr add 192.168.255.5/24 dev vmnet0',
    'ip tuntap add dev qtap0 mode tap vnet_hdr user 0',
    'ip link set dev qtap0 alias qemu-script:RECORD-ID master vmnet0 up',
  ]);
  assert.match(lines[qemuAt + 1], /^qemu-system-x86_64 -nodefaults -machine accel=tcg -m 512 -name disk /);
  assert.ok(lines.includes('ip link del dev vmnet0  # only when no other guest uses it'));
  assert.ok(lines.some((line) => /^# SSH on localhost:\d+$/.test(line)));
  assert.not.ok(existsSync(marker), existsSync(marker) ? readFileSync(marker, 'utf8') : '');
  assert.not.ok(existsSync(`${dir}/run`), 'a dry run creates no runtime directory');
});

test('dry run as a normal user never calls sudo', async () => {
  const result = await execa(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      BINARY,
      '-s',
      `${dir}/disk.qcow2`,
      '--net',
      'vmnet0,p',
      '--display',
      'none',
    ],
    { reject: false, env: trapEnv() },
  );
  assert.is(result.exitCode, 0, result.stderr);
  assert.match(result.stdout, /^sudo -n \S+\/qemu-script-helper bridge-add vmnet0 disk$/m);
  assert.not.ok(existsSync(marker), existsSync(marker) ? readFileSync(marker, 'utf8') : '');
});

test('dry run --json: the whole plan as one object', async () => {
  const result = await runBinary(
    ['--dry-run', '--json', `${dir}/disk.qcow2`, '--net', 'u,vmnet5', '--display', 'none'],
    { env: trapEnv() },
  );
  assert.is(result.exitCode, 0, result.stderr);
  const plan = JSON.parse(result.stdout);
  assert.is(plan.qemu.argv[0], 'qemu-system-x86_64');
  assert.ok(Array.isArray(plan.qemu.fds));
  assert.equal(
    plan.host.map((c: { argv: string[] }) => c.argv.join(' ')),
    [
      'ip link add name vmnet5 type bridge',
      'ip link set dev vmnet5 alias qemu-script:RECORD-ID up',
      'ip tuntap add dev qtap0 mode tap vnet_hdr user 0',
      'ip link set dev qtap0 alias qemu-script:RECORD-ID master vmnet5 up',
    ],
  );
  assert.equal(
    plan.cleanup.map((c: { argv: string[] }) => c.argv.join(' ')),
    ['ip link del dev qtap0', 'ip link del dev vmnet5'],
  );
  assert.ok(plan.messages.some((m: string) => /^SSH on localhost:\d+$/.test(m)));
  assert.ok(Array.isArray(plan.warnings));
  assert.not.ok(existsSync(marker));
});

/** Every key of a JSON value, however deep. */
const keysOf = (value: unknown): string[] =>
  Array.isArray(value)
    ? value.flatMap(keysOf)
    : value && typeof value === 'object'
      ? Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)])
      : [];

test('JSON outputs: one spelling, snake_case, in the dry run (version 2), --version and doctor', async () => {
  const dry = await runBinary(['--dry-run', '--json', '--net', 'hostonly,user', '--display', 'none'], {
    env: trapEnv(),
  });
  assert.is(dry.exitCode, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout);
  assert.is(plan.version, 2);
  assert.ok(keysOf(plan).includes('range_start'), 'the network server\'s settings are in it');
  assert.equal(keysOf(plan).filter((key) => !/^[a-z0-9_]+$/.test(key)), []);
  const version = await runBinary(['--version', '--json']);
  assert.equal(JSON.parse(version.stdout), { version: 1, name: 'qemu-script', tool_version: VERSION });
  const doctor = await runBinary(['doctor', '--json']);
  assert.equal(keysOf(JSON.parse(doctor.stdout)).filter((key) => !/^[a-z0-9_]+$/.test(key)), []);
});

test('a disk path with spaces, quotes, commas and $(...) reaches QEMU as one element, never executed', async () => {
  const result = await runBinary(['-s', '--json', weird, '--display', 'none'], { env: trapEnv(), cwd: dir });
  assert.is(result.exitCode, 0, result.stderr);
  const argv: string[] = JSON.parse(result.stdout).qemu.argv;
  assert.ok(argv.includes(`file=${weird.replace(/,/g, ',,')},if=none,id=disk0,format=qcow2,cache-size=16777216`));
  const text = await runBinary(['-s', weird, '--display', 'none'], { env: trapEnv(), cwd: dir });
  // The printed line is shell-quoted: pasting it would not run the $(...).
  assert.ok(text.stdout.includes(`'file=${weird.replace(/,/g, ',,').replace(/'/g, `'\\''`)},if=none`));
  assert.not.ok(existsSync(marker));
});

// Bad input through the real binary: one line on stderr, exit 2, nothing run.
const BAD: Array<[string[], RegExp]> = [
  [['--net', 'q'], /^qemu-script: --net q: "q" is no network letter/],
  [['--display', 'sdl'], /^qemu-script: --display: "sdl" is not a display/],
  [['--usb', 'xyz'], /^qemu-script: --usb: "xyz" is not a USB id/],
  [['nonexistent.qcow2'], /^qemu-script: disk "nonexistent.qcow2" does not exist: give a disk image/],
  [['--net'], /^qemu-script: --net needs a value/],
  [['--mac', 'de:ad:be:ef:00:01,de:ad:be:ef:00:01', '--net', '00'], /two NICs forced onto the same MAC/],
  // A typo never acts: the trap's qemu-system-x86_64 would leave a trace if it ran.
  [['--dryrun', 'disk.qcow2'], /^qemu-script: unknown option --dryrun \(did you mean `--dry-run`\?\)/],
  [['--disks', 'disk.qcow2'], /^qemu-script: unknown option --disks \(did you mean `--disk`\?\)/],
  [['-dsik', 'disk.qcow2'], /^qemu-script: unknown option -dsik \(did you mean `-disk`\?\)/],
  [
    ['disk.qcow2', '--net', 'usr'],
    /^qemu-script: --net usr: no defined network, bridge or vmnetN is called usr \(did you mean `user`\?\)/,
  ],
  [
    ['disk.qcow2', 'disk.qcow2'],
    /^qemu-script: disk "disk.qcow2" is the same file as "disk.qcow2"; giving QEMU one disk twice corrupts it$/,
  ],
  [['disk.qcow2', '-disk', `./disk.qcow2`], /is the same file as "disk.qcow2"/],
];

for (const [argv, message] of BAD) {
  test(`bad input exits 2: ${argv.join(' ')}`, async () => {
    const result = await runBinary(['--display', 'none', ...argv], { env: trapEnv(), cwd: dir });
    assert.is(result.exitCode, 2);
    assert.is(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, message);
    assert.not.ok(existsSync(marker));
  });
}

test('a first word that is no subcommand and no file: the subcommand it resembles, nothing run', async () => {
  const result = await runBinary(['sp'], { env: trapEnv(), cwd: dir });
  assert.is(result.exitCode, 2);
  assert.is(result.stderr, 'qemu-script: "sp" is neither a subcommand nor a file (did you mean `qemu-script ps`?)');
  assert.not.ok(existsSync(marker));
});

test("QEMU's informational invocations run QEMU itself: its output, its exit code, no runtime directory", async () => {
  const run = `${dir}/never-made`;
  const version = await runBinary(['-version'], { env: { QEMU_SCRIPT_RUNTIME_DIR: run } });
  assert.is(version.exitCode, 0, version.stderr);
  assert.match(version.stdout, /^QEMU emulator version \d/);
  const devices = await runBinary(['-device', 'help'], { env: { QEMU_SCRIPT_RUNTIME_DIR: run } });
  assert.is(devices.exitCode, 0);
  assert.match(devices.stdout, /name "virtio-net-pci"/);
  const failing = await runBinary(['-device', 'help', '--', '-nosuchoption'], {
    env: { QEMU_SCRIPT_RUNTIME_DIR: run },
  });
  assert.is(failing.exitCode, 1, "QEMU's own exit code");
  assert.match(failing.stderr, /invalid option/);
  assert.not.ok(existsSync(run), 'no runtime directory, no lock, no guest');
});

testWhere(
  test,
  await noLoopDevice(),
  'a mounted block device is refused unless -snapshot; unmounted, it is accepted',
  async () => {
    const image = `${dir}/fs.img`;
    await execa('truncate', ['-s', '16M', image]);
    await execa('mkfs.ext4', ['-q', image]);
    const loop = await execa('losetup', ['--find', '--show', image]);
    const device = loop.stdout.trim();
    // The mount lives in a private mount namespace of the test's own; the tool runs inside it.
    const holder = execa('unshare', ['--mount', '--propagation', 'private', 'sleep', 'infinity'], { reject: false });
    const inside = (argv: string[]) =>
      execa('nsenter', ['-t', String(holder.pid), '-m', '--', ...argv], { reject: false, env: trapEnv() });
    try {
      await waitForNamespace(holder.pid!);
      mkdirSync(`${dir}/mnt`, { recursive: true });
      assert.is((await inside(['mount', device, `${dir}/mnt`])).exitCode, 0);
      const mounted = await inside([BINARY, '-s', device, '--display', 'none', '--net', 'none']);
      assert.is(mounted.exitCode, 2);
      assert.match(
        mounted.stderr,
        new RegExp(
          `^qemu-script: disk "${device}" is mounted on ${dir}/mnt: a guest writing to it would corrupt it; ` +
            `.*add -snapshot`,
        ),
      );
      const snapshot = await inside([BINARY, '-s', device, '-snapshot', '--display', 'none', '--net', 'none']);
      assert.is(snapshot.exitCode, 0, snapshot.stderr);
      assert.is((await inside(['umount', `${dir}/mnt`])).exitCode, 0);
      const free = await inside([BINARY, '-s', device, '--display', 'none', '--net', 'none']);
      assert.is(free.exitCode, 0, free.stderr);
      assert.match(free.stdout, new RegExp(`driver=host_device,filename=${device},`));
    } finally {
      if (holder.pid) process.kill(holder.pid, 'SIGKILL');
      await holder;
      await execa('losetup', ['-d', device]);
    }
    assert.not.ok(existsSync(marker));
  },
);

async function waitForNamespace(pid: number): Promise<void> {
  const own = readlinkSync('/proc/self/ns/mnt');
  for (let i = 0; i < 100; i++) {
    try {
      if (readlinkSync(`/proc/${pid}/ns/mnt`) !== own) return;
    } catch {
      // not started yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the private mount namespace did not come up');
}

test('bad input: unknown disk format and unreadable firmware exit 2', async () => {
  writeFileSync(`${dir}/notes.txt`, 'not a disk\n'.repeat(100));
  const disk = await runBinary([`${dir}/notes.txt`], { env: trapEnv() });
  assert.is(disk.exitCode, 2);
  assert.match(disk.stderr, /unknown disk format/);
  const uefi = await runBinary(['--uefi', '--display', 'none'], { env: { ...trapEnv(), VM_EFIFIRM: dir } });
  assert.is(uefi.exitCode, 2);
  assert.match(uefi.stderr, /--uefi: firmware .* is not readable/);
  const missing = await runBinary(['--display', 'none'], { env: { ...trapEnv(), VM_EFIFIRM: `${dir}/none.fd` } });
  assert.is(missing.exitCode, 2);
  assert.match(
    missing.stderr,
    /^qemu-script: VM_EFIFIRM: .*none\.fd does not exist/,
    'an error about a variable names the variable',
  );
  assert.not.ok(existsSync(marker));
});

test.run();
