// A normal user, end to end: a test user in the group, `setup`, then as that
// user a guest on vmnet0 whose bridge comes from the privileged helper, QEMU
// running as the user, and hostile requests refused. test/isolate.sh runs this
// file over a copy of /etc and a private /run, so the machine's own are never modified.
import { execa } from 'execa';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { helperPath } from '../lib/base/self.ts';
import { BINARY, ROOT, SINGLE_EXECUTABLE, USER_ENV, freshSystemRunDir } from './helpers.ts';
import { BOOT_APPEND, Netns, pidAlive, waitFor } from './netns.ts';

const USER = 'qsalice';
const safe = mkdtempSync('/run/qs-nonroot-');
chmodSync(safe, 0o755);
/** The single executable: setup's --binary and the privileged helper's program. */
const binary = `${safe}/qemu-script`;
/** setup links it beside the executable, and sudoers names it alone. */
const helper = helperPath([binary]);
copyFileSync(SINGLE_EXECUTABLE, binary);
chmodSync(binary, 0o755);
/** The artifact under test as the member runs it: the executable, or the .cjs script beside it (same helper). */
const tool = BINARY.endsWith('.cjs') ? `${safe}/qemu-script.cjs` : binary;
if (tool !== binary) {
  copyFileSync(BINARY, tool);
  chmodSync(tool, 0o755);
}
const pristine = mkdtempSync(`${safe}/pristine-`);
let ns: Netns | undefined;
const capsBefore = (await execa('getcap', ['/usr/lib/qemu/qemu-bridge-helper'])).stdout;
let pingRangeBefore = '';

/** Processes running as uid, by PID. */
function processesOf(uid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        return new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(readFileSync(`/proc/${pid}/status`, 'utf8'))
          ? [Number(pid)]
          : [];
      } catch {
        return [];
      }
    });
}

function inside(argv: string[]) {
  return execa(argv[0], argv.slice(1), { reject: false });
}
/** As the user, with a normal user's environment (Debian's default PATH, no /usr/sbin), not root's. */
const asUser = (argv: string[]) =>
  inside([
    'ip',
    'netns',
    'exec',
    ns!.name,
    'runuser',
    '-u',
    USER,
    '--',
    'env',
    '-i',
    ...Object.entries(USER_ENV(USER, '/nonexistent')).map(([key, value]) => `${key}=${value}`),
    ...argv,
  ]);
const asRoot = (argv: string[]) => inside(['ip', 'netns', 'exec', ns!.name, ...argv]);

// Top-level setup: uvu ignores a failing before hook and reports success.
await (async () => {
  if (process.env.QEMU_SCRIPT_TEST_ISOLATED !== '1')
    throw new Error('this file changes /etc: run it through test/run.sh');
  // A bridge.conf the test host may lack: setup must provide the helper's ACL itself.
  rmSync('/etc/qemu', { recursive: true, force: true });
  ns = await Netns.create();
  pingRangeBefore = (await asRoot(['cat', '/proc/sys/net/ipv4/ping_group_range'])).stdout;
  // A uid of this run's own: another run of this file (the .cjs one) may be running beside it, and the
  // cleanup ends every process of the test user's.
  const uid = String(20000 + (process.pid % 20000));
  assert.is((await inside(['useradd', '-M', '-u', uid, '-s', '/bin/sh', USER])).exitCode, 0);
  await execa('cp', ['-a', '/etc/.', `${pristine}/`]);
})();

let releaseRunDir: () => Promise<void> = async () => undefined;
test.before.each(async () => {
  releaseRunDir = await freshSystemRunDir();
});
test.after.each(async () => {
  // If a failed assertion left a guest of the test user's running: its processes, by PID (the user exists
  // only here), then what root made for it (a network's DHCP server above all) goes with its holder.
  const uid = (await inside(['id', '-u', USER])).stdout.trim();
  if (/^\d+$/.test(uid)) {
    for (const pid of processesOf(Number(uid))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone between the listing and the kill
      }
    }
    rmSync(`/tmp/qemu-script-${uid}`, { recursive: true, force: true });
  }
  await asRoot([helper, 'gc']);
  await releaseRunDir();
});

test.after(async () => {
  try {
    // Whatever failed above: undo setup (a no-op when done), drop the user and the namespace.
    await asRoot([binary, 'setup', '--undo', '--binary', binary]);
    await inside(['userdel', USER]);
    await ns?.destroy();
  } finally {
    rmSync(safe, { recursive: true, force: true });
  }
});

test('setup --user, then the user launches a guest on vmnet0: no password, capability or ACL entry', async () => {
  const setup = await asRoot([binary, 'setup', '--user', USER, '--binary', binary]);
  assert.is(setup.exitCode, 0, setup.stderr);
  assert.match(setup.stdout, /^write \/etc\/sudoers.d\/qemu-script$/m);
  assert.match(setup.stdout, new RegExp(`^link ${helper} to ${binary}$`, 'm'));
  assert.is(statSync(helper).ino, statSync(binary).ino, 'the helper is the executable under its own name');
  assert.not.match(setup.stdout, /setcap/, "no capability-carrying helper for the tool's own bridges");
  assert.is((await execa('getcap', ['/usr/lib/qemu/qemu-bridge-helper'])).stdout, capsBefore);
  assert.not.match(
    readFileSync('/etc/qemu/qemu-script-bridge.conf', 'utf8'),
    /allow/,
    'setup grants no bridge, let alone all',
  );
  const doctor = await asUser([tool, 'doctor']);
  for (const id of ['bridge-helper', 'bridge-conf', 'group', 'sudo', 'ping', 'dnsmasq'])
    assert.match(doctor.stdout, new RegExp(`^ok +${id} `, 'm'), doctor.stdout);
  assert.is(doctor.exitCode, 0, doctor.stdout);

  const disk = `${safe}/disk.qcow2`;
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
  chmodSync(disk, 0o644);
  const started = await asUser([
    tool,
    disk,
    '-snapshot',
    '--net',
    'vmnet0',
    '--display',
    'none',
    '--accel',
    'tcg',
    '-m',
    '64',
    ...['-global', 'virtio-net-pci.romfile='],
    '--name',
    'alice1',
  ]);
  assert.is(started.exitCode, 0, `${started.stdout}\n${started.stderr}`);
  const pid = Number(/QEMU pid (\d+)/.exec(started.stdout)![1]);
  const uid = (await inside(['id', '-u', USER])).stdout.trim();
  assert.match(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
    new RegExp(`^Uid:\\s+${uid}\\s`, 'm'),
    'QEMU runs as the user, never as root',
  );
  assert.ok((await ns!.links()).includes('vmnet0'));
  const registry = JSON.parse(readFileSync('/run/qemu-script/registry.json', 'utf8')) as {
    resources: Array<{ name: string; kind: string; users: Array<{ uid: number }> }>;
  };
  assert.ok(
    registry.resources.some((entry) => entry.name === 'vmnet0' && entry.users.some((user) => String(user.uid) === uid)),
  );
  const tap = registry.resources.find(
    (entry) => entry.kind === 'tap' && entry.users.some((user) => String(user.uid) === uid),
  )!;
  assert.is(
    (await asRoot(['cat', `/sys/class/net/${tap.name}/owner`])).stdout,
    uid,
    'the TAP root made belongs to the user',
  );
  assert.match((await asRoot(['ip', '-o', 'link', 'show', 'master', 'vmnet0'])).stdout, new RegExp(tap.name));

  await asRoot(['ip', 'link', 'add', 'br7', 'type', 'bridge']);
  const unlisted = await asUser([
    tool,
    '--net',
    'br7',
    '--display',
    'none',
    '--accel',
    'tcg',
    '-m',
    '64',
    '--name',
    'alice3',
  ]);
  assert.is(unlisted.exitCode, 2, 'an existing bridge bridge.conf does not list is refused before anything happens');
  assert.match(
    unlisted.stderr,
    /br7 is not a bridge of qemu-script and \/etc\/qemu\/bridge.conf does not allow it.*setup --allow-bridge br7/,
  );
  await asRoot(['ip', 'link', 'del', 'br7']);

  const down = await asUser([tool, 'down', '--force', 'alice1']);
  assert.is(down.exitCode, 0, down.stderr);
  await waitFor(async () => !(await ns!.links()).includes('vmnet0'), 10000, 'vmnet0 to go');
  assert.not.ok((await ns!.links()).includes(tap.name), 'the TAP went with the guest');
  assert.not.ok(pidAlive(pid));
});

test("the user's guest on hostonly: a lease from the network's server, ps shows it, the host reaches it", async () => {
  const kernel = `${safe}/vmlinuz`;
  const initrd = `${safe}/initrd.gz`;
  copyFileSync(`${ROOT}/.cache/guest/vmlinuz`, kernel);
  copyFileSync(`${ROOT}/.cache/guest/initrd.gz`, initrd);
  chmodSync(kernel, 0o644);
  chmodSync(initrd, 0o644);
  const serial = mkdtempSync('/tmp/qs-nonroot-serial-');
  const uid = Number((await inside(['id', '-u', USER])).stdout.trim());
  chownSync(serial, uid, -1);
  const append = `${BOOT_APPEND} e2e_name=alice2 e2e_if0=dhcp e2e_banner=7000`;
  try {
    const started = await asUser([
      tool,
      '--net',
      'hostonly',
      '--display',
      'none',
      '--accel',
      'tcg',
      '-m',
      '160',
      '--name',
      'alice2',
      '-kernel',
      kernel,
      '-initrd',
      initrd,
      '-append',
      append,
      '-serial',
      `file:${serial}/console`,
      '-no-reboot',
    ]);
    assert.is(started.exitCode, 0, `${started.stdout}\n${started.stderr}`);
    const pid = Number(/QEMU pid (\d+)/.exec(started.stdout)![1]);
    let ip = '';
    await waitFor(
      () => {
        ip = /E2E: DHCP eth0 ip=(\S+)/.exec(readFileSync(`${serial}/console`, 'utf8'))?.[1] ?? '';
        return ip !== '';
      },
      90000,
      "the guest's lease",
    );
    assert.match(ip, /^192\.168\.56\.\d+$/);
    const ps = JSON.parse((await asUser([tool, 'ps', '--json'])).stdout) as {
      guests: Array<{ name: string; nics: Array<{ net: string; ip: string }> }>;
    };
    assert.equal(
      ps.guests.find((guest) => guest.name === 'alice2')!.nics.map((nic) => [nic.net, nic.ip]),
      [['hostonly', ip]],
    );
    // The guest prints its lease a moment before its banner server listens.
    let banner = '';
    await waitFor(
      async () => {
        banner = (await asRoot(['busybox', 'nc', '-w', '2', ip, '7000'])).stdout;
        return banner !== '';
      },
      30000,
      "the guest's banner",
    );
    assert.match(banner, /E2E-BANNER name=alice2/);

    // A forward added while it runs: made by root through the helper, held by the guest's waiter (a gc of the
    // user's, once the fwd process has gone, leaves it), taken back by fwd rm.
    const added = await asUser([tool, 'fwd', 'add', 'alice2', '18080-7000']);
    assert.is(added.exitCode, 0, added.stderr);
    assert.is(added.stdout, 'Forward tcp 192.168.56.1:18080 -> guest port 7000 added to alice2');
    assert.is((await asUser([tool, 'gc'])).exitCode, 0);
    const forwarded = await asRoot(['busybox', 'nc', '-w', '2', '192.168.56.1', '18080']);
    assert.match(forwarded.stdout, /E2E-BANNER name=alice2/, "the host's address, port 18080: the guest's banner");
    const privileged = await asUser([tool, 'fwd', 'add', 'alice2', '80-7000']);
    assert.is(privileged.exitCode, 2);
    assert.match(privileged.stderr, /host port 80 is privileged \(below 1024\) and only root may listen on it/);
    const removed = await asUser([tool, 'fwd', 'rm', 'alice2', '18080']);
    assert.is(removed.exitCode, 0, removed.stderr);
    assert.not.match((await asRoot(['nft', 'list', 'tables'])).stdout, 'qemu_script_fwd');

    const down = await asUser([tool, 'down', '--force', 'alice2']);
    assert.is(down.exitCode, 0, down.stderr);
    await waitFor(async () => !(await ns!.links()).includes('hostonly'), 10000, "the network's bridge to go");
    assert.not.ok(pidAlive(pid));
    const serverDirs = existsSync('/run/qemu-script/net') ? readdirSync('/run/qemu-script/net') : [];
    assert.equal(serverDirs, [], "the network's server files are gone");
    // Only this namespace's: other tests run their own servers meanwhile.
    assert.not.ok((await ns!.processes()).includes('dnsmasq'), "the network's server is gone");
  } finally {
    rmSync(serial, { recursive: true, force: true });
  }
});

const HOSTILE: Array<[string, string[], RegExp]> = [
  ['delete eth0', ['bridge-del', 'eth0', 'x'], /eth0 was not created by qemu-script/],
  ['turn eth0 into a bridge', ['bridge-add', 'eth0', 'x'], /eth0: members make only vmnetN bridges/],
  ['a macvtap named like eth0', ['macvtap-add', 'eth1', 'eth0', 'de:ad:be:ef:00:09', 'x'], /not a valid macvtap name/],
  ['shell metacharacters', ['bridge-add', 'a;reboot', 'x'], /not a valid bridge name/],
  ['a path', ['bridge-add', '../x', 'x'], /not a valid bridge name/],
  ['over 15 bytes', ['bridge-add', 'abcdefghijklmnop', 'x'], /not a valid bridge name/],
  ['a bridge the tool did not create', ['bridge-del', 'br0', 'x'], /br0 was not created by qemu-script/],
  ["another user's guest", ['bridge-del', 'vmnet9', 'bobs'], /vmnet9 is not held by your guest bobs/],
];

test('as the user, hostile requests to the helper are refused and change nothing', async () => {
  await ns!.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
  await ns!.ip('link', 'add', 'br0', 'type', 'bridge');
  // Root's guest holds vmnet9 (root calls the helper directly).
  const other = await asRoot([helper, 'bridge-add', 'vmnet9', 'bobs']);
  assert.is(other.exitCode, 0, other.stderr);
  const before = await ns!.links();
  for (const [what, request, message] of HOSTILE) {
    // From a process of the user's, as the tool asks: it is the request's holder.
    const result = await asUser(['sh', '-c', 'sudo -n "$@"; exit $?', 'sh', helper, ...request]);
    assert.is(result.exitCode, 2, `${what}: ${result.stderr}`);
    assert.match(result.stderr, message, what);
  }
  const shell = await asUser(['sudo', '-n', '/bin/sh', '-c', 'id']);
  assert.is.not(shell.exitCode, 0, 'sudo allows the helper only');
  assert.equal(await ns!.links(), before, 'nothing changed');
  await asRoot([helper, 'bridge-del', 'vmnet9', 'bobs']);
});

test('from an interactive terminal (sudo use_pty) the user launches a guest on vmnet0', async () => {
  const out = `/tmp/qs-pty-${process.pid}`;
  // script(1) gives the launch a terminal, so sudo runs each helper request under a monitor of its own.
  const line = `${tool} --net vmnet0 --display none --accel tcg -m 64 --name alice4 > ${out} 2>&1`;
  const launch = await asUser(['script', '-qec', line, '/dev/null']);
  const text = readFileSync(out, 'utf8');
  assert.is(launch.exitCode, 0, text);
  const pid = Number(/Guest alice4 is running \(QEMU pid (\d+)\)/.exec(text)?.[1]);
  assert.ok(pidAlive(pid), text);
  assert.ok((await ns!.links()).includes('vmnet0'));
  const down = await asUser([tool, 'down', '--force', 'alice4']);
  assert.is(down.exitCode, 0, down.stderr);
  await waitFor(async () => !(await ns!.links()).includes('vmnet0'), 10000, 'vmnet0 to go');
  rmSync(out, { force: true });
});

/** Whether a process of USER (uid) can connect to the unix socket PATH: 'ok' or the error code. */
async function connectAs(uid: number, path: string): Promise<string> {
  const code = `require('net').connect(${JSON.stringify(path)})
    .on('connect', () => { console.log('ok'); process.exit(0) })
    .on('error', (e) => { console.log(e.code); process.exit(0) })`;
  const result = await execa('setpriv', [
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    process.execPath,
    '-e',
    code,
  ]);
  return result.stdout.trim();
}

test("a guest's console, screen and QMP are its owner's alone; nothing of it listens on TCP", async () => {
  const kernel = `${safe}/vmlinuz`;
  const initrd = `${safe}/initrd.gz`;
  copyFileSync(`${ROOT}/.cache/guest/vmlinuz`, kernel);
  copyFileSync(`${ROOT}/.cache/guest/initrd.gz`, initrd);
  chmodSync(kernel, 0o644);
  chmodSync(initrd, 0o644);
  const uid = Number((await inside(['id', '-u', USER])).stdout.trim());
  const started = await asUser([
    tool,
    '--net',
    'none',
    '--display',
    'vnc',
    '--accel',
    'tcg',
    '-m',
    '160',
    '--name',
    'alice5',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    `${BOOT_APPEND} e2e_name=alice5`,
  ]);
  assert.is(started.exitCode, 0, `${started.stdout}\n${started.stderr}`);
  assert.match(started.stdout, /^Console: qemu-script console alice5 \(Ctrl-\] detaches/m);
  const run = `/tmp/qemu-script-${uid}/alice5`;
  // The owner reads the serial console through qemu-script console (piped: no terminal).
  const console = asUser([tool, 'console', 'alice5']);
  let seen = '';
  console.stdout!.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  await waitFor(() => /E2E: /.test(seen), 90000, "the guest's console");
  console.kill('SIGTERM');
  await console;
  // Another local user reaches none of its sockets; root's own guest likewise.
  for (const socket of ['console.sock', 'vnc.sock', 'qmp.sock', 'qga.sock']) {
    assert.is(await connectAs(65534, `${run}/${socket}`), 'EACCES', socket);
  }
  const rootGuest = await asRoot([
    binary,
    '--net',
    'none',
    '--display',
    'vnc',
    '--accel',
    'tcg',
    '-m',
    '64',
    '--name',
    'rootvm',
  ]);
  assert.is(rootGuest.exitCode, 0, rootGuest.stderr);
  for (const socket of ['console.sock', 'vnc.sock', 'qmp.sock', 'qga.sock']) {
    assert.is(await connectAs(uid, `/run/qemu-script/rootvm/${socket}`), 'EACCES', `root's ${socket}`);
  }
  const listening = (await asRoot(['ss', '-Hltnp'])).stdout;
  assert.not.match(listening, /qemu-system/, 'no QEMU port on TCP');
  assert.is((await asUser([tool, 'down', '--force', 'alice5'])).exitCode, 0);
  assert.is((await asRoot([binary, 'down', '--force', 'rootvm'])).exitCode, 0);
});

test("a planted runtime directory is refused; the login's /run/user/UID is used without XDG_RUNTIME_DIR", async () => {
  const uid = Number((await inside(['id', '-u', USER])).stdout.trim());
  // Another user's directory, and a symlink to it where the user's runtime directory would go.
  const planted = mkdtempSync('/tmp/qs-planted-');
  chownSync(planted, 65534, 65534);
  chmodSync(planted, 0o777);
  symlinkSync(planted, `/tmp/qemu-script-${uid}`);
  try {
    const refused = await asUser([tool, 'gc']);
    assert.is(refused.exitCode, 1, refused.stdout);
    assert.is(
      refused.stderr,
      `qemu-script: /tmp/qemu-script-${uid} is a symbolic link; remove it, or set QEMU_SCRIPT_RUNTIME_DIR`,
    );
    assert.equal(readdirSync(planted), [], 'nothing was written through the link');
  } finally {
    rmSync(`/tmp/qemu-script-${uid}`, { force: true });
    rmSync(planted, { recursive: true, force: true });
  }
  // With a login's /run/user/UID, the user has one directory whether XDG_RUNTIME_DIR is set or not.
  mkdirSync('/run/user', { recursive: true });
  mkdirSync(`/run/user/${uid}`, { mode: 0o700 });
  chownSync(`/run/user/${uid}`, uid, uid);
  try {
    assert.is((await asUser([tool, 'gc'])).exitCode, 0);
    assert.ok(existsSync(`/run/user/${uid}/qemu-script`));
    assert.is(statSync(`/run/user/${uid}/qemu-script`).mode & 0o777, 0o700);
    assert.not.ok(existsSync(`/tmp/qemu-script-${uid}`));
  } finally {
    rmSync(`/run/user/${uid}`, { recursive: true, force: true });
  }
});

test('setup twice changes nothing; setup --undo leaves /etc as it was', async () => {
  const again = await asRoot([binary, 'setup', '--user', USER, '--binary', binary]);
  assert.is(again.stdout, 'nothing to change: this host is already set up');
  const undo = await asRoot([binary, 'setup', '--undo', '--binary', binary]);
  assert.is(undo.exitCode, 0, undo.stderr);
  // shadow-utils' own backups (group-, gshadow-, ...) are rewritten by every group change; setup copies none.
  const backups = ['group-', 'gshadow-', 'passwd-', 'shadow-', 'subuid-', 'subgid-'].flatMap((name) => ['-x', name]);
  const diff = await execa('diff', ['-r', '--no-dereference', ...backups, pristine, '/etc'], { reject: false });
  assert.is(diff.stdout, '', 'the /etc copy equals its state before setup');
  assert.not.ok(existsSync(helper), 'the helper link setup made is gone');
  assert.is((await asRoot(['cat', '/proc/sys/net/ipv4/ping_group_range'])).stdout, pingRangeBefore, 'ICMP as before');
  assert.is(
    (await execa('getcap', ['/usr/lib/qemu/qemu-bridge-helper'])).stdout,
    capsBefore,
    "the helper's capability is restored",
  );
});

test.run();
