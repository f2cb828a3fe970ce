// setup and doctor against a root directory of the test's own (--root):
// the machine's own /etc is never touched.
import { execa } from 'execa';
import { dirname } from 'node:path';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  appendFileSync,
  existsSync,
} from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MARKER } from '../lib/admin/setup.ts';
import { BINARY, ROOT, USER_ENV, unwrapDoctor } from './helpers.ts';
import { inNetns } from './netns.ts';

// A root-owned directory no one else can write: the only kind of place sudoers may name a binary in.
const safe = mkdtempSync('/run/qs-setup-');
chmodSync(safe, 0o755);
const binary = `${safe}/qemu-script`;
copyFileSync(BINARY, binary);
chmodSync(binary, 0o755);
test.after(() => rmSync(safe, { recursive: true, force: true }));

function makeRoot(): string {
  const root = mkdtempSync(`${safe}/root-`);
  mkdirSync(`${root}/etc`);
  for (const file of ['passwd', 'group', 'shadow', 'gshadow', 'login.defs']) {
    if (existsSync(`/etc/${file}`)) copyFileSync(`/etc/${file}`, `${root}/etc/${file}`);
  }
  appendFileSync(`${root}/etc/passwd`, 'alice:x:4242:4242:Alice:/home/alice:/bin/sh\n');
  appendFileSync(`${root}/etc/group`, 'alice:x:4242:\n');
  appendFileSync(`${root}/etc/shadow`, 'alice:!:19000:0:99999:7:::\n');
  appendFileSync(`${root}/etc/gshadow`, 'alice:!::\n');
  mkdirSync(`${root}/usr/lib/qemu`, { recursive: true });
  copyFileSync('/usr/lib/qemu/qemu-bridge-helper', `${root}/usr/lib/qemu/qemu-bridge-helper`);
  return root;
}

/** Every file under root with its content, mode and capabilities: "as it was" means equal snapshots. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      // shadow-utils' own backups (group-, gshadow-): rewritten by every change of a group, and setup
      // copies none of them (they hold password hashes).
      if (/^(group|gshadow|passwd|shadow|subuid|subgid)-$/.test(entry.name)) continue;
      if (entry.isDirectory()) {
        out[path] = 'dir';
        walk(path);
      } else {
        out[path] = `${statSync(path).mode.toString(8)} ${readFileSync(path).toString('base64').slice(0, 4000)}`;
      }
    }
  };
  walk(root);
  out.caps = (await execa('getcap', [`${root}/usr/lib/qemu/qemu-bridge-helper`])).stdout;
  return out;
}

const tool = (args: string[]) => execa(binary, args, { reject: false });

test('setup --dry-run lists every change and makes none', async () => {
  const root = makeRoot();
  const before = await snapshot(root);
  const result = await tool([
    'setup',
    '--dry-run',
    '--root',
    root,
    '--user',
    'alice',
    '--allow-bridge',
    'br0',
    '--binary',
    binary,
  ]);
  assert.is(result.exitCode, 0, result.stderr);
  for (const line of [
    'would create group qemusers',
    'would add alice to group qemusers',
    'would setcap cap_net_admin+ep /usr/lib/qemu/qemu-bridge-helper',
    'would write /etc/qemu/qemu-script-bridge.conf',
    'would write /etc/qemu/bridge.conf',
    'would write /etc/udev/rules.d/70-qemu-script.rules',
    'would write /etc/modules-load.d/qemu-script.conf',
    'would write /etc/sysctl.d/60-qemu-script.conf',
    'would write /etc/sudoers.d/qemu-script',
  ]) {
    assert.ok(result.stdout.split('\n').includes(line), `missing: ${line}\n${result.stdout}`);
  }
  assert.equal(await snapshot(root), before);
  const plain = await tool(['setup', '--dry-run', '--root', root, '--user', 'alice', '--binary', binary]);
  assert.not.match(plain.stdout, /setcap/, 'without bridges to allow, the helper needs no capability');
});

test('setup prepares the host; a second run changes nothing; --undo puts everything back', async () => {
  const root = makeRoot();
  const before = await snapshot(root);
  const first = await tool(['setup', '--root', root, '--user', 'alice', '--allow-bridge', 'br0', '--binary', binary]);
  assert.is(first.exitCode, 0, first.stderr);
  assert.match(first.stdout, /^create group qemusers$/m);
  const group = readFileSync(`${root}/etc/group`, 'utf8')
    .split('\n')
    .find((line) => line.startsWith('qemusers:'))!;
  assert.match(group, /^qemusers:x:\d+:alice$/);
  const gid = group.split(':')[2];
  assert.match((await execa('getcap', [`${root}/usr/lib/qemu/qemu-bridge-helper`])).stdout, /cap_net_admin[=+]ep/);
  const sudoers = `${root}/etc/sudoers.d/qemu-script`;
  assert.is(
    readFileSync(sudoers, 'utf8'),
    `${MARKER}\n%qemusers ALL=(root) NOPASSWD: ${dirname(binary)}/qemu-script-helper\n`,
  );
  assert.is(statSync(sudoers).mode & 0o777, 0o440);
  assert.is((await execa('visudo', ['-c', '-q', '-f', sudoers], { reject: false })).exitCode, 0);
  assert.is(
    readFileSync(`${root}/etc/sysctl.d/60-qemu-script.conf`, 'utf8'),
    `${MARKER}\nnet.ipv4.ping_group_range = ${gid} ${gid}\n`,
  );
  assert.match(
    readFileSync(`${root}/etc/udev/rules.d/70-qemu-script.rules`, 'utf8'),
    /KERNEL=="tap\*", GROUP="qemusers", MODE="0660"\nKERNEL=="vhost-net", GROUP="qemusers", MODE="0660"/,
  );
  assert.match(readFileSync(`${root}/etc/modules-load.d/qemu-script.conf`, 'utf8'), /^vhost_net$/m);
  assert.match(readFileSync(`${root}/etc/qemu/bridge.conf`, 'utf8'), /^include \/etc\/qemu\/qemu-script-bridge.conf$/m);
  assert.is(
    readFileSync(`${root}/etc/qemu/qemu-script-bridge.conf`, 'utf8'),
    `${MARKER}\nallow br0\n`,
    'only the bridge named, never allow all',
  );

  const state = `${root}/etc/qemu-script/setup.json`;
  assert.is(statSync(state).mode & 0o777, 0o600, "setup's record is root's alone");
  assert.equal(
    Object.keys(JSON.parse(readFileSync(state, 'utf8'))).sort(),
    ['capability', 'created', 'files', 'groupCreated', 'usersAdded'],
    'no copy of a file it does not change (shadow backups)',
  );
  const second = await tool(['setup', '--root', root, '--user', 'alice', '--binary', binary]);
  assert.is(second.stdout, 'nothing to change: this host is already set up');

  const doctor = await tool(['doctor', '--root', root, '--json']);
  const bridgeConf = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string }> }).checks.find(
    (check) => check.id === 'bridge-conf',
  )!;
  assert.is(bridgeConf.status, 'ok', 'doctor follows the include setup wrote');
  assert.match(
    (bridgeConf as unknown as { message: string }).message,
    /allows br0; the tool's own bridges need no entry/,
  );

  const undo = await tool(['setup', '--undo', '--root', root, '--user', 'alice', '--binary', binary]);
  assert.is(undo.exitCode, 0, undo.stderr);
  assert.match(undo.stdout, /delete group qemusers/);
  assert.equal(await snapshot(root), before, '/etc is as it was');
});

test("setup takes every --user; --undo does every step it can; a user deleted since is nothing to undo", async () => {
  const root = makeRoot();
  appendFileSync(`${root}/etc/passwd`, 'bob:x:4243:4243:Bob:/home/bob:/bin/sh\n');
  appendFileSync(`${root}/etc/group`, 'bob:x:4243:\n');
  appendFileSync(`${root}/etc/shadow`, 'bob:!:19000:0:99999:7:::\n');
  appendFileSync(`${root}/etc/gshadow`, 'bob:!::\n');
  const typo = await tool(['setup', '--root', root, '--user', 'alice', '--user', 'bbo', '--binary', binary]);
  assert.equal([typo.exitCode, typo.stderr], [2, 'qemu-script: setup --user: no user "bbo" on this host']);
  const setup = await tool(['setup', '--root', root, '--user', 'alice', '--user', 'bob', '--binary', binary]);
  assert.is(setup.exitCode, 0, setup.stderr);
  assert.match(setup.stdout, /^add alice to group qemusers\nadd bob to group qemusers$/m);
  assert.match(readFileSync(`${root}/etc/group`, 'utf8'), /^qemusers:x:\d+:alice,bob$/m);
  // bob's account is deleted meanwhile (and with it his place in the group).
  await execa('userdel', ['--root', root, 'bob']);
  const undo = await tool(['setup', '--undo', '--root', root, '--binary', binary]);
  assert.is(undo.exitCode, 0, undo.stderr);
  assert.match(undo.stdout, /^remove alice from group qemusers$/m);
  assert.not.match(undo.stdout, /bob/);
  assert.match(undo.stdout, /^delete group qemusers$/m);
  assert.not.ok(existsSync(`${root}/etc/qemu-script/setup.json`), "setup's record goes once all is undone");
  assert.not.match(readFileSync(`${root}/etc/group`, 'utf8'), /^qemusers:/m);
});

test('setup keeps an existing bridge.conf and restores it exactly on --undo', async () => {
  const root = makeRoot();
  mkdirSync(`${root}/etc/qemu`);
  writeFileSync(`${root}/etc/qemu/bridge.conf`, 'allow br0\n');
  const before = await snapshot(root);
  assert.is((await tool(['setup', '--root', root, '--binary', binary])).exitCode, 0);
  assert.match(
    readFileSync(`${root}/etc/qemu/bridge.conf`, 'utf8'),
    /^allow br0\n.*\ninclude \/etc\/qemu\/qemu-script-bridge.conf\n$/s,
  );
  assert.is((await tool(['setup', '--undo', '--root', root, '--binary', binary])).exitCode, 0);
  assert.equal(await snapshot(root), before);
});

test('setup refuses to overwrite a file it did not write', async () => {
  const root = makeRoot();
  mkdirSync(`${root}/etc/sudoers.d`, { recursive: true });
  writeFileSync(`${root}/etc/sudoers.d/qemu-script`, 'admin stuff\n');
  const result = await tool(['setup', '--root', root, '--binary', binary]);
  assert.is(result.exitCode, 1);
  assert.match(result.stderr, /\/etc\/sudoers.d\/qemu-script exists and was not written by qemu-script/);
  assert.is(readFileSync(`${root}/etc/sudoers.d/qemu-script`, 'utf8'), 'admin stuff\n');
});

test('setup refuses a binary others can replace (it would be root for them)', async () => {
  const root = makeRoot();
  const missing = await tool(['setup', '--root', root, '--binary', `${safe}/no-such-binary`]);
  assert.is(missing.exitCode, 2);
  assert.match(missing.stderr, /does not exist; give the installed executable with --binary/);
  const unsafe = mkdtempSync('/tmp/qs-unsafe-');
  copyFileSync(BINARY, `${unsafe}/qemu-script`);
  const before = await snapshot(root);
  const refused = await tool(['setup', '--root', root, '--user', 'alice', '--binary', `${unsafe}/qemu-script`]);
  assert.is(refused.exitCode, 2);
  assert.match(refused.stderr, /\/tmp is writable by others than root/);
  assert.equal(await snapshot(root), before, 'a refused setup changes nothing, not even the group');
  const badBridge = await tool(['setup', '--root', root, '--allow-bridge', 'a;b', '--binary', binary]);
  assert.is(badBridge.exitCode, 2);
  assert.match(badBridge.stderr, /setup --allow-bridge: "a;b" is not a bridge name/);
  assert.equal(await snapshot(root), before);
  rmSync(unsafe, { recursive: true, force: true });
});

test('setup refuses a script as the helper: sudo would run the node of the caller\'s PATH as root', async () => {
  const root = makeRoot();
  const script = `${safe}/qemu-script.cjs`;
  copyFileSync(`${ROOT}/dist/qemu-script.cjs`, script);
  chmodSync(script, 0o755);
  const before = await snapshot(root);
  const refused = await tool(['setup', '--root', root, '--user', 'alice', '--binary', script]);
  assert.is(refused.exitCode, 2);
  assert.is(
    refused.stderr,
    `qemu-script: setup --binary: ${script} is a script (sudo would run its #! interpreter from the caller's ` +
      'PATH); give the single executable, dist/qemu-script',
  );
  assert.equal(await snapshot(root), before, 'nothing written, not even the group');
  // The script asks for the single executable's helper beside it, never a script of its own.
  const dry = await execa(script, ['--dry-run', '--net', 'vmnet0', '--display', 'none', '-m', '64'], {
    reject: false,
    extendEnv: false,
    env: USER_ENV('nobody', '/nonexistent'),
    uid: 65534,
    gid: 65534,
  });
  assert.match(dry.stdout, new RegExp(`^sudo -n ${safe}/qemu-script-helper bridge-add vmnet0 `, 'm'));
  rmSync(script);
});

test('doctor says whether sudoers sets secure_path, and says when it cannot read sudoers', async () => {
  const root = makeRoot();
  const line = async () =>
    unwrapDoctor((await tool(['doctor', '--root', root])).stdout)
      .split('\n')
      .find((each) => / secure-path /.test(each));
  writeFileSync(`${root}/etc/sudoers`, 'root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n', { mode: 0o440 });
  assert.match(
    (await line())!,
    /^warn secure-path +sudoers sets no secure_path: programs run through sudo are found on the caller's PATH/,
  );
  mkdirSync(`${root}/etc/sudoers.d`);
  writeFileSync(`${root}/etc/sudoers.d/paths`, 'Defaults  secure_path="/usr/sbin:/usr/bin:/sbin:/bin"\n');
  assert.is(await line(), "ok   secure-path     sudoers sets secure_path: sudo runs nothing from a caller's PATH");
  chmodSync(root, 0o755);
  const asNobody = await execa(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', binary, 'doctor', '--root', root],
    { reject: false, extendEnv: false, env: USER_ENV('nobody', '/nonexistent') },
  );
  assert.match(
    unwrapDoctor(asNobody.stdout),
    /^ok +secure-path +sudoers is root's to read: sudo qemu-script doctor checks its secure_path$/m,
  );
});

test('a normal user not set up: a launch that needs root is one line, exit 2, nothing tried or made', () =>
  inNetns(async (ns) => {
    const run = mkdtempSync('/tmp/qs-nobody-');
    chownSync(run, 65534, 65534);
    const before = await ns.state();
    const result = await execa(
      'ip',
      [
        ...['netns', 'exec', ns.name, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', binary],
        ...['--net', 'vmnet0', '--display', 'none', '--accel', 'tcg', '-m', '64'],
      ],
      { reject: false, extendEnv: false, env: { ...USER_ENV('nobody', '/nonexistent'), QEMU_SCRIPT_RUNTIME_DIR: run } },
    );
    assert.is(result.exitCode, 2, result.stderr);
    const lines = result.stderr.split('\n').filter((line) => !line.startsWith('qemu-script: warning: '));
    assert.equal(lines, [
      'qemu-script: this guest needs root for bridge vmnet0 and 1 more host change(s), and sudo refused the helper ' +
        '(a password is required): set yourself up once with sudo qemu-script setup --user nobody',
    ]);
    assert.equal(await ns.state(), before, 'nothing made');
    rmSync(run, { recursive: true, force: true });
  }));

test('setup needs root', async () => {
  const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', binary, 'setup'], {
    reject: false,
  });
  assert.is(result.exitCode, 2);
  assert.match(result.stderr, /setup must run as root/);
});

test('doctor as root here: one line per check, a fix for each problem, exit 0 without failures', async () => {
  const result = await tool(['doctor']);
  const lines = unwrapDoctor(result.stdout).trim().split('\n');
  const checks = lines.filter((line) => /^(ok|warn|fail) /.test(line));
  assert.is(checks.length, 24, result.stdout);
  assert.match(result.stdout, /^ok +passt +\/usr\/bin\/passt gives --net passt its user networking$/m);
  // The program runs from a directory of its own, without the waiter built beside it.
  assert.match(
    unwrapDoctor(result.stdout),
    BINARY.endsWith('.cjs')
      ? /^warn waiter +no qemu-script-waiter beside this script: a shell \(~1\.7 MiB\) waits /m
      : /^ok +waiter +the qemu-script-waiter this executable carries, written into \/run\/qemu-script, waits/m,
  );
  assert.ok(
    lines.every((line) => /^(ok|warn|fail) |^ +(fix|or|note): /.test(line)),
    result.stdout,
  );
  // Within 80 columns, but for a fix: a command stays whole, to be pasted.
  const wide = result.stdout.split('\n').filter((line) => line.length > 80 && !/^ +(fix|or): /.test(line));
  assert.equal(wide, []);
  const report = JSON.parse((await tool(['doctor', '--json'])).stdout) as {
    version: number;
    checks: Array<{ id: string; status: string; fix?: string[] }>;
  };
  assert.is(report.version, 1);
  const json = report.checks;
  for (const check of json.filter((c) => c.status !== 'ok'))
    assert.ok((check.fix && check.fix.length > 0) || (check as { hint?: string }).hint, `${check.id} has no fix`);
  // Scripts may run a fix as it stands: plain commands, no prose, no comments, no "or:".
  for (const fix of json.flatMap((c) => c.fix ?? [])) assert.match(fix, /^(sudo|newgrp|qemu-script) [^#]*$/, fix);
  assert.is(result.exitCode, json.some((c) => c.status === 'fail') ? 1 : 0);
});

test('doctor: no bridge.conf is fine (the tool makes its TAPs); "allow all" is a warning with its fix', async () => {
  const root = makeRoot();
  const missing = await tool(['doctor', '--root', root]);
  missing.stdout = unwrapDoctor(missing.stdout);
  assert.match(
    missing.stdout,
    /^ok +bridge-conf +\/etc\/qemu\/bridge.conf allows no existing bridge; the tool's own bridges need no entry$/m,
  );
  mkdirSync(`${root}/etc/qemu`);
  writeFileSync(`${root}/etc/qemu/bridge.conf`, 'allow all\n');
  const all = await tool(['doctor', '--root', root]);
  all.stdout = unwrapDoctor(all.stdout);
  assert.match(
    all.stdout,
    /^warn bridge-conf +\/etc\/qemu\/bridge.conf allows all bridges: every member may attach a guest to any bridge/m,
  );
  assert.match(all.stdout, /note: remove "allow all" from \/etc\/qemu\/bridge.conf/);
});

test("doctor outside the group: group and sudo fail with fixes; capability matters for allowed bridges", async () => {
  const root = makeRoot();
  chmodSync(root, 0o755);
  // A normal user's environment: Debian's default PATH (no /usr/sbin), not root's.
  const asNobody = async () => {
    const result = await execa(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', binary, 'doctor', '--root', root],
      { reject: false, extendEnv: false, env: USER_ENV('nobody', '/nonexistent') },
    );
    return { exitCode: result.exitCode, stdout: unwrapDoctor(result.stdout) };
  };
  const plain = await asNobody();
  assert.is(plain.exitCode, 1);
  // The same facts for everyone, or a plain "root's to read": an ok line never carries a fix, and the KVM verdict
  // that everyone can read (the CPU's flags) is the same for the member and for root.
  type Checks = Array<{ id: string; status: string; message: string; fix?: string[] }>;
  const json = async (argv: string[], env?: Record<string, string>) => {
    const result = await execa(argv[0], argv.slice(1), { reject: false, ...(env ? { env, extendEnv: false } : {}) });
    return (JSON.parse(result.stdout) as { checks: Checks }).checks;
  };
  const nobodyChecks = await json(
    ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', binary, 'doctor', '--root', root, '--json'],
    USER_ENV('nobody', '/nonexistent'),
  );
  assert.equal(nobodyChecks.filter((check) => check.status === 'ok' && check.fix), [], 'no ok line with a fix');
  const rootChecks = await json([binary, 'doctor', '--root', root, '--json']);
  const kvm = (checks: typeof rootChecks) => checks.find((check) => check.id === 'kvm')!;
  if (!/\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))) {
    const said = (check: Checks[number]) => [check.status, check.message];
    assert.equal(said(kvm(nobodyChecks)), said(kvm(rootChecks)));
    assert.is(kvm(nobodyChecks).fix, undefined, 'no adduser kvm where KVM runs no guest');
  }
  const netfilter = nobodyChecks.find((check) => check.id === 'br-netfilter')!;
  assert.is.not(netfilter.status, 'warn', "a member is told what is root's to read, not warned of it");
  assert.match(plain.stdout, /^fail group +not a member of qemusers\n +fix: sudo qemu-script setup --user nobody$/m);
  assert.match(plain.stdout, /^fail sudo +sudo -n qemu-script-helper is not allowed/m);
  assert.match(
    plain.stdout,
    /^ok +bridge-helper +\/usr\/lib\/qemu\/qemu-bridge-helper not needed: no existing bridge is allowed to members/m,
  );
  mkdirSync(`${root}/etc/qemu`);
  writeFileSync(`${root}/etc/qemu/bridge.conf`, 'allow br0\n');
  const allowed = await asNobody();
  assert.match(
    allowed.stdout,
    new RegExp(
      '^fail bridge-helper +/usr/lib/qemu/qemu-bridge-helper lacks cap_net_admin: guests cannot join br0\\n' +
        ' +fix: sudo setcap cap_net_admin\\+ep /usr/lib/qemu/qemu-bridge-helper$',
      'm',
    ),
  );
});

test.run();
