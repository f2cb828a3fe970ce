// --cloud-init, pure and read-only parts: the seed's files and the login as planned, what the probe accepts
// (keys, user-data), the ssh command a guest gets, and a dry run that makes nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { UsageError } from '../lib/base/errors.ts';
import type { CloudInitFacts, CloudInitPlan, CloudInitRequest } from '../lib/base/types.ts';
import { instanceIdOf, planCloudInit } from '../lib/plan/cloud-init.ts';
import { probeCloudInit, readHostKey } from '../lib/probe/cloud-init.ts';
import { parseWait, sshArgv } from '../lib/guest/ssh.ts';
import { sshEndpoint } from '../lib/guest/guest-commands.ts';
import { renderDryRun, renderDryRunJson } from '../lib/plan/render.ts';
import { launchOptions, plan, qcow2, runBinary } from './helpers.ts';

const HOME = '/home/ana';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyOfAna ana@laptop';
const HOST_PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfDeb1';
const HOST_PRIVATE =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
const DEB1 = 'qs-bf58b3b2c6d950f6';
const DATA = `${HOME}/.local/share/qemu-script`;
const GUEST = { name: 'deb1', runDir: '/run/user/1000/qemu-script/deb1', disk: '/img/deb1.qcow2', isRoot: false };
const MACS = ['de:ad:be:ef:00:01', 'de:ad:be:ef:00:02'];
const SEED = `${GUEST.runDir}/cidata.iso`;
const MKISOFS = [
  ...['xorriso', '-as', 'mkisofs', '-quiet', '-volid', 'cidata', '-joliet', '-rock', '-output', SEED],
  ...['meta-data', 'user-data', 'network-config'].map((file) => `${GUEST.runDir}/cidata/${file}`),
];
const ownKeygen = {
  argv: ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'qemu-script ana', '-f', `${DATA}/id_ed25519`],
  note: 'your SSH key for guests',
};
const hostKeygen = (name: string, id: string) => ({
  argv: [
    'ssh-keygen',
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    `${name} ${id}`,
    '-f',
    `${DATA}/hosts/${id}/ssh_host_ed25519_key`,
  ],
  note: `the SSH host key of ${name} (its logins expect it)`,
});
const user = (login: string, key: string) => ({
  name: login,
  sudo: 'ALL=(ALL) NOPASSWD:ALL',
  shell: '/bin/bash',
  lock_passwd: true,
  ssh_authorized_keys: [key],
});
const hostKeys = (made?: string) =>
  made
    ? { ssh_deletekeys: true, ssh_keys: { ed25519_private: made, ed25519_public: `${made}.pub` } }
    : { ssh_deletekeys: true, ssh_keys: { ed25519_private: HOST_PRIVATE, ed25519_public: HOST_PUB } };
const networkConfig = (macs: string[]) => ({
  version: 2,
  ethernets: Object.fromEntries(macs.map((mac, i) => [`nic${i}`, { match: { macaddress: mac }, dhcp4: true }])),
});
const facts = (extra: Partial<CloudInitFacts> = {}): CloudInitFacts => ({
  user: 'ana',
  home: HOME,
  key: { publicPath: `${HOME}/.ssh/id_ed25519.pub`, text: KEY, privatePath: `${HOME}/.ssh/id_ed25519` },
  hostKey: { instanceId: DEB1, publicText: HOST_PUB, privateText: HOST_PRIVATE },
  ...extra,
});

/** The user-data as cloud-init reads it: our cloud-config, and the caller's part when there is one. */
function readUserData(text: string): { config: unknown; theirs?: { type: string; merge?: string; text: string } } {
  if (text.startsWith('#cloud-config\n')) return { config: JSON.parse(text.slice('#cloud-config\n'.length)) };
  const boundary = /^Content-Type: multipart\/mixed; boundary="([^"]+)"\nMIME-Version: 1.0\n\n/.exec(text)?.[1];
  assert.ok(boundary, `not a multipart user-data:\n${text}`);
  assert.ok(text.endsWith(`--${boundary}--\n`), 'the multipart ends with its closing boundary');
  const parts = text.slice(0, -`--${boundary}--\n`.length).split(`--${boundary}\n`).slice(1);
  assert.is(parts.length, 2, 'two parts: ours, then theirs');
  const split = (part: string) => {
    const [head, ...body] = part.split('\n\n');
    // The line break before a boundary belongs to the boundary (RFC 2046).
    return { head: head.split('\n'), body: body.join('\n\n').replace(/\n$/, '') };
  };
  const ours = split(parts[0]);
  assert.equal(ours.head, ['Content-Type: text/cloud-config; charset="utf-8"']);
  assert.ok(ours.body.startsWith('#cloud-config\n'));
  const theirs = split(parts[1]);
  const type = /^Content-Type: (\S+); charset="utf-8"$/.exec(theirs.head[0])?.[1] ?? theirs.head[0];
  const merge = theirs.head[1]?.replace(/^Merge-Type: /, '');
  assert.is(theirs.head.length, merge ? 2 : 1);
  return {
    config: JSON.parse(ours.body.slice('#cloud-config\n'.length)),
    theirs: { type, ...(merge ? { merge } : {}), text: theirs.body },
  };
}

interface Row {
  name: string;
  request: CloudInitRequest;
  facts: CloudInitFacts;
  guest?: Partial<typeof GUEST>;
  macs?: string[];
  /** Every field is checked. */
  expect: {
    instanceId: string;
    login: string;
    identity?: string;
    knownHostsLine?: string;
    config: unknown;
    theirs?: { type: string; merge?: string; text: string };
    keygen: Array<{ argv: string[]; note: string }>;
    summary: string;
  };
}

const ROWS: Row[] = [
  {
    name: 'the caller, their usual key, the host key made earlier',
    request: {},
    facts: facts(),
    expect: {
      instanceId: DEB1,
      login: 'ana',
      identity: `${HOME}/.ssh/id_ed25519`,
      knownHostsLine: `${DEB1} ${HOST_PUB}`,
      config: {
        hostname: 'deb1',
        preserve_hostname: false,
        users: [user('ana', KEY)],
        ssh_pwauth: false,
        ...hostKeys(),
      },
      keygen: [],
      summary:
        `cloud-init seed ${SEED} (volume cidata, instance ${DEB1}): hostname deb1, user ana with sudo and the key ` +
        `${HOME}/.ssh/id_ed25519.pub, DHCP on 2 NICs`,
    },
  },
  {
    name: 'no key anywhere, no host key yet: both made at launch, placeholders in a dry run',
    request: {},
    facts: facts({ key: undefined, hostKey: undefined }),
    expect: {
      instanceId: DEB1,
      login: 'ana',
      identity: `${DATA}/id_ed25519`,
      config: {
        hostname: 'deb1',
        preserve_hostname: false,
        users: [user('ana', `(the key in ${DATA}/id_ed25519.pub, made at launch)`)],
        ssh_pwauth: false,
        ...hostKeys(`(made at launch: ${DATA}/hosts/${DEB1}/ssh_host_ed25519_key)`),
      },
      keygen: [ownKeygen, hostKeygen('deb1', DEB1)],
      summary:
        `cloud-init seed ${SEED} (volume cidata, instance ${DEB1}): hostname deb1, user ana with sudo and the key ` +
        `${DATA}/id_ed25519.pub (made at launch), DHCP on 2 NICs`,
    },
  },
  {
    name: "--login, --ssh-key without its private half, another instance's host key",
    request: { login: 'ops', sshKey: 'k.pub' },
    facts: facts({
      key: { publicPath: '/keys/k.pub', text: KEY },
      hostKey: { instanceId: 'qs-0000000000000000', publicText: HOST_PUB, privateText: HOST_PRIVATE },
    }),
    guest: { name: 'web' },
    macs: [MACS[0]],
    expect: {
      instanceId: 'qs-b859bd15dc4e1eeb',
      login: 'ops',
      config: {
        hostname: 'web',
        preserve_hostname: false,
        users: [user('ops', KEY)],
        ssh_pwauth: false,
        ...hostKeys(`(made at launch: ${DATA}/hosts/qs-b859bd15dc4e1eeb/ssh_host_ed25519_key)`),
      },
      keygen: [hostKeygen('web', 'qs-b859bd15dc4e1eeb')],
      summary:
        `cloud-init seed ${SEED} (volume cidata, instance qs-b859bd15dc4e1eeb): hostname web, user ops with sudo ` +
        'and the key /keys/k.pub, DHCP on 1 NIC',
    },
  },
  {
    name: "root's guest: the distribution's user",
    request: {},
    facts: facts({ user: 'root', home: HOME }),
    guest: { isRoot: true },
    expect: {
      instanceId: DEB1,
      login: 'debian',
      identity: `${HOME}/.ssh/id_ed25519`,
      knownHostsLine: `${DEB1} ${HOST_PUB}`,
      config: {
        hostname: 'deb1',
        preserve_hostname: false,
        users: [user('debian', KEY)],
        ssh_pwauth: false,
        ...hostKeys(),
      },
      keygen: [],
      summary:
        `cloud-init seed ${SEED} (volume cidata, instance ${DEB1}): hostname deb1, user debian with sudo and the ` +
        `key ${HOME}/.ssh/id_ed25519.pub, DHCP on 2 NICs`,
    },
  },
  {
    name: 'their cloud-config: a second part merged into ours',
    request: { userData: 'mine.yaml' },
    facts: facts({
      userData: { path: '/w/mine.yaml', text: '#cloud-config\nruncmd: [touch /x]', kind: 'cloud-config' },
    }),
    expect: {
      instanceId: DEB1,
      login: 'ana',
      identity: `${HOME}/.ssh/id_ed25519`,
      knownHostsLine: `${DEB1} ${HOST_PUB}`,
      config: {
        hostname: 'deb1',
        preserve_hostname: false,
        users: [user('ana', KEY)],
        ssh_pwauth: false,
        ...hostKeys(),
      },
      theirs: {
        type: 'text/cloud-config',
        merge: 'list(append)+dict(no_replace,recurse_list)+str()',
        text: '#cloud-config\nruncmd: [touch /x]\n',
      },
      keygen: [],
      summary:
        `cloud-init seed ${SEED} (volume cidata, instance ${DEB1}): hostname deb1, user ana with sudo and the key ` +
        `${HOME}/.ssh/id_ed25519.pub, DHCP on 2 NICs, your cloud-config /w/mine.yaml`,
    },
  },
  {
    name: 'their script: passed through as a script part',
    request: { userData: 'go.sh' },
    facts: facts({ userData: { path: '/w/go.sh', text: '#!/bin/sh\necho hi\n', kind: 'script' } }),
    expect: {
      instanceId: DEB1,
      login: 'ana',
      identity: `${HOME}/.ssh/id_ed25519`,
      knownHostsLine: `${DEB1} ${HOST_PUB}`,
      config: {
        hostname: 'deb1',
        preserve_hostname: false,
        users: [user('ana', KEY)],
        ssh_pwauth: false,
        ...hostKeys(),
      },
      theirs: { type: 'text/x-shellscript', text: '#!/bin/sh\necho hi\n' },
      keygen: [],
      summary:
        `cloud-init seed ${SEED} (volume cidata, instance ${DEB1}): hostname deb1, user ana with sudo and the key ` +
        `${HOME}/.ssh/id_ed25519.pub, DHCP on 2 NICs, your script /w/go.sh`,
    },
  },
];

for (const row of ROWS) {
  test(`planCloudInit: ${row.name}`, () => {
    const guest = { ...GUEST, ...row.guest, macs: row.macs ?? MACS };
    const planned: CloudInitPlan = planCloudInit(row.request, row.facts, guest);
    const { expect } = row;
    assert.equal(
      Object.keys(planned).sort(),
      [
        'files',
        'identity',
        'instanceId',
        'keygen',
        'knownHosts',
        'login',
        'prepare',
        'seed',
        'summary',
        ...(expect.knownHostsLine ? ['knownHostsLine'] : []),
      ].sort(),
    );
    assert.is(planned.seed, SEED);
    assert.is(planned.instanceId, expect.instanceId);
    assert.is(planned.login, expect.login);
    assert.is(planned.identity, expect.identity);
    assert.is(planned.knownHosts, `${DATA}/hosts/${expect.instanceId}/known_hosts`);
    assert.is(planned.knownHostsLine, expect.knownHostsLine);
    assert.equal(Object.keys(planned.files), ['meta-data', 'user-data', 'network-config']);
    assert.equal(JSON.parse(planned.files['meta-data']), {
      'instance-id': expect.instanceId,
      'local-hostname': guest.name,
    });
    assert.equal(JSON.parse(planned.files['network-config']), networkConfig(guest.macs));
    const userData = readUserData(planned.files['user-data']);
    assert.equal(userData.config, expect.config);
    assert.equal(userData.theirs, expect.theirs);
    assert.equal(planned.prepare, [{ argv: MKISOFS, note: 'the NoCloud seed, from the files above' }]);
    assert.equal(planned.keygen, expect.keygen);
    assert.equal(planned.summary, [expect.summary]);
  });
}

test('instance-id: the same name and disk keep it; another name or a copy of the disk gets a new one', () => {
  assert.is(instanceIdOf('deb1', '/img/deb1.qcow2'), DEB1);
  assert.is(instanceIdOf('deb1', '/img/deb1.qcow2'), instanceIdOf('deb1', '/img/deb1.qcow2'));
  assert.is(instanceIdOf('web', '/img/deb1.qcow2'), 'qs-b859bd15dc4e1eeb');
  assert.is(instanceIdOf('deb1', '/img/copy.qcow2'), 'qs-7bf914ac6660b7d2');
  assert.is(instanceIdOf('deb1', undefined), 'qs-fb4fd4e241bfa0df');
});

test('the launch plan: the seed as its own read-only CD, the summary said, the line refused unprobed', () => {
  const disks = { 'deb1.qcow2': qcow2('/img/deb1.qcow2') };
  const planned = plan(['--cloud-init', '--net', 'user', 'deb1.qcow2'], {
    isRoot: false,
    uid: 1000,
    disks,
    runtimeDir: '/run/user/1000/qemu-script',
    cloudInit: facts(),
  });
  const argv = planned.qemu.argv;
  const drive = argv.indexOf(
    `file=/run/user/1000/qemu-script/deb1/cidata.iso,if=none,id=cidata,format=raw,` + 'media=cdrom,readonly=on',
  );
  assert.ok(drive > 0, argv.join(' '));
  assert.equal(argv.slice(drive - 1, drive + 3), ['-drive', argv[drive], '-device', 'ide-cd,drive=cidata']);
  assert.is(planned.cloudInit?.instanceId, DEB1);
  assert.equal(
    planned.cloudInit?.files['network-config'] &&
      Object.keys(JSON.parse(planned.cloudInit.files['network-config']).ethernets),
    ['nic0'],
  );
  assert.ok(planned.messages.includes(planned.cloudInit!.summary[0]));
  assert.throws(() => plan(['--cloud-init', 'deb1.qcow2'], { disks }), /not probed/);
  assert.is(plan(['deb1.qcow2'], { disks, cloudInit: facts() }).cloudInit, undefined);
});

test('the dry run shows what is made, and never the seed itself (it holds a private host key)', () => {
  const disks = { 'deb1.qcow2': qcow2('/img/deb1.qcow2') };
  const planned = plan(['--cloud-init', 'deb1.qcow2'], { disks, cloudInit: facts({ key: undefined }) });
  const text = renderDryRun(planned);
  assert.match(text, `ssh-keygen -q -t ed25519 -N '' -C 'qemu-script ana' -f ${DATA}/id_ed25519`);
  assert.match(text, '# write /run/qemu-script/deb1/cidata/user-data');
  assert.match(text, 'xorriso -as mkisofs');
  assert.not.match(text, 'PRIVATE KEY');
  const json = JSON.parse(renderDryRunJson(planned));
  assert.equal(json.cloud_init, {
    seed: '/run/qemu-script/deb1/cidata.iso',
    instance_id: DEB1,
    login: 'debian',
    identity: `${DATA}/id_ed25519`,
    known_hosts: `${DATA}/hosts/${DEB1}/known_hosts`,
    files: ['meta-data', 'user-data', 'network-config'],
    keygen: [ownKeygen],
    prepare: [
      {
        argv: MKISOFS.map((word) => word.replace(GUEST.runDir, '/run/qemu-script/deb1')),
        note: 'the NoCloud seed, from the files above',
      },
    ],
  });
  assert.not.match(JSON.stringify(json), 'PRIVATE KEY');
});

test('options: what goes with --cloud-init is refused alone, --login must be a user name', () => {
  assert.equal(launchOptions(['--cloud-init', 'd.qcow2']).cloudInit, {
    login: undefined,
    sshKey: undefined,
    userData: undefined,
  });
  assert.equal(
    launchOptions(['--cloud-init', '--login', 'ops', '--ssh-key', 'k.pub', '--user-data', 'u', 'd']).cloudInit,
    { login: 'ops', sshKey: 'k.pub', userData: 'u' },
  );
  assert.is(launchOptions(['d.qcow2']).cloudInit, undefined);
  for (const [argv, message] of [
    [['--login', 'ops', 'd'], '--login goes with --cloud-init (it provisions the guest)'],
    [['--ssh-key', 'k.pub', 'd'], '--ssh-key goes with --cloud-init (it provisions the guest)'],
    [['--user-data', 'u', 'd'], '--user-data goes with --cloud-init (it provisions the guest)'],
    [
      ['--cloud-init', '--login', 'Root!', 'd'],
      '--login: "Root!" is not a user name (lower-case letters, digits, _ and -, at most 32)',
    ],
  ] as const) {
    try {
      launchOptions([...argv]);
      assert.unreachable(argv.join(' '));
    } catch (error) {
      assert.instance(error, UsageError);
      assert.is((error as Error).message, message);
    }
  }
});

/** A home of its own per test, for the probe. */
function home(): { dir: string; done: () => void } {
  const dir = mkdtempSync(`${tmpdir()}/qs-cloud-home-`);
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function refused(promise: Promise<unknown>, message: string): Promise<void> {
  try {
    await promise;
    assert.unreachable(message);
  } catch (error) {
    assert.instance(error, UsageError, String(error));
    assert.is((error as Error).message, message);
  }
}

test('probe: the key is --ssh-key, else ~/.ssh/id_ed25519.pub, id_rsa.pub, else the tool’s own', async () => {
  const { dir, done } = home();
  try {
    const env = { HOME: dir };
    const probe = (request: CloudInitRequest = {}) => probeCloudInit(request, env, dir);
    assert.is((await probe()).key, undefined);
    mkdirSync(`${dir}/.local/share/qemu-script`, { recursive: true });
    writeFileSync(`${dir}/.local/share/qemu-script/id_ed25519.pub`, `${KEY}\n`);
    writeFileSync(`${dir}/.local/share/qemu-script/id_ed25519`, 'private');
    assert.equal((await probe()).key, {
      publicPath: `${dir}/.local/share/qemu-script/id_ed25519.pub`,
      text: KEY,
      privatePath: `${dir}/.local/share/qemu-script/id_ed25519`,
    });
    mkdirSync(`${dir}/.ssh`);
    writeFileSync(`${dir}/.ssh/id_rsa.pub`, 'ssh-rsa AAAAB3NzaC1yc2E rsa@x\n');
    assert.equal((await probe()).key, {
      publicPath: `${dir}/.ssh/id_rsa.pub`,
      text: 'ssh-rsa AAAAB3NzaC1yc2E rsa@x',
      privatePath: undefined,
    });
    writeFileSync(`${dir}/.ssh/id_ed25519.pub`, `${KEY}\n`);
    assert.is((await probe()).key?.publicPath, `${dir}/.ssh/id_ed25519.pub`);
    writeFileSync(`${dir}/mine.pub`, `${KEY}\n`);
    const asked = await probe({ sshKey: 'mine.pub' });
    assert.equal(asked, {
      user: (await execa('id', ['-un'])).stdout,
      home: dir,
      key: { publicPath: `${dir}/mine.pub`, text: KEY, privatePath: undefined },
    });
    await refused(probe({ sshKey: 'none.pub' }), `--ssh-key: ${dir}/none.pub cannot be read (ENOENT)`);
    await refused(probe({ sshKey: '/dev/zero' }), '--ssh-key: /dev/zero is not a regular file');
    await execa('mkfifo', [`${dir}/fifo.pub`]);
    // A FIFO with no writer: refused at once, not waited on.
    await refused(probe({ sshKey: 'fifo.pub' }), `--ssh-key: ${dir}/fifo.pub is not a regular file`);
    writeFileSync(`${dir}/big.pub`, `${KEY} ${'x'.repeat(16 * 1024)}\n`);
    await refused(
      probe({ sshKey: 'big.pub' }),
      `--ssh-key: ${dir}/big.pub is ${KEY.length + 16 * 1024 + 2} bytes; at most 16384 are accepted`,
    );
    writeFileSync(`${dir}/priv`, '-----BEGIN OPENSSH PRIVATE KEY-----\n');
    await refused(
      probe({ sshKey: 'priv' }),
      `--ssh-key: ${dir}/priv is not an SSH public key (one line, ssh-ed25519 ...)`,
    );
  } finally {
    done();
  }
});

test('probe: user-data is a #cloud-config mapping or a #! script; anything else is refused', async () => {
  const { dir, done } = home();
  try {
    const probe = (file: string, text?: string) => {
      if (text !== undefined) writeFileSync(`${dir}/${file}`, text);
      return probeCloudInit({ userData: file }, { HOME: dir }, dir);
    };
    const good = '#cloud-config\npackages: [htop]\nruncmd:\n  - [touch, /tmp/x]\n';
    assert.equal((await probe('good.yaml', good)).userData, {
      path: `${dir}/good.yaml`,
      text: good,
      kind: 'cloud-config',
    });
    assert.equal((await probe('empty.yaml', '#cloud-config\n')).userData?.kind, 'cloud-config');
    assert.equal((await probe('go.sh', '#!/bin/sh\necho hi\n')).userData, {
      path: `${dir}/go.sh`,
      text: '#!/bin/sh\necho hi\n',
      kind: 'script',
    });
    await refused(probe('none.yaml'), `--user-data: ${dir}/none.yaml cannot be read (ENOENT)`);
    await refused(probe('/dev/zero'), '--user-data: /dev/zero is not a regular file');
    await refused(
      probe('huge.yaml', `#cloud-config\n#${'x'.repeat(1024 * 1024)}\n`),
      `--user-data: ${dir}/huge.yaml is ${1024 * 1024 + 16} bytes; at most 1048576 are accepted`,
    );
    await refused(
      probe('plain.yaml', 'packages: [htop]\n'),
      `--user-data: ${dir}/plain.yaml starts with neither #cloud-config nor #! (a script)`,
    );
    const bad = await probe('bad.yaml', '#cloud-config\nruncmd: [unclosed\n').then(
      () => 'accepted',
      (error: Error) => error,
    );
    assert.instance(bad, UsageError);
    assert.is(
      (bad as Error).message,
      `--user-data: ${dir}/bad.yaml is not valid YAML (line 3): Flow sequence in ` +
        'block collection must be sufficiently indented and end with a ]',
    );
    await refused(
      probe('list.yaml', '#cloud-config\n- a\n- b\n'),
      `--user-data: ${dir}/list.yaml is not a cloud-config mapping (keys like packages:, runcmd:)`,
    );
  } finally {
    done();
  }
});

test('probe: a host key is read whole, or not at all', () => {
  const { dir, done } = home();
  try {
    const keyDir = `${dir}/.local/share/qemu-script/hosts/${DEB1}`;
    assert.is(readHostKey(dir, DEB1), undefined);
    mkdirSync(keyDir, { recursive: true });
    writeFileSync(`${keyDir}/ssh_host_ed25519_key`, HOST_PRIVATE);
    assert.is(readHostKey(dir, DEB1), undefined, 'half a pair');
    writeFileSync(`${keyDir}/ssh_host_ed25519_key.pub`, `${HOST_PUB} deb1 ${DEB1}\n`);
    assert.equal(readHostKey(dir, DEB1), { instanceId: DEB1, publicText: HOST_PUB, privateText: HOST_PRIVATE });
    writeFileSync(`${keyDir}/ssh_host_ed25519_key.pub`, 'garbage\n');
    assert.is(readHostKey(dir, DEB1), undefined, 'not a key');
  } finally {
    done();
  }
});

const CLOUD: CloudInitPlan = planCloudInit({}, facts(), { ...GUEST, macs: MACS });

const SSH_ROWS: Array<{
  name: string;
  endpoint: { host: string; port: number };
  cloud?: CloudInitPlan;
  login?: string;
  extra?: string[];
  known?: boolean;
  argv: string[];
}> = [
  {
    name: 'a plain guest through its forward',
    endpoint: { host: '127.0.0.1', port: 10022 },
    argv: ['ssh', '-p', '10022', '127.0.0.1'],
  },
  {
    name: 'a plain guest at its address, as a user, with a command',
    endpoint: { host: '10.0.2.20', port: 22 },
    login: 'root',
    extra: ['--', 'uname'],
    argv: ['ssh', 'root@10.0.2.20', '--', 'uname'],
  },
  {
    name: 'a cloud guest: its user, key and host key',
    endpoint: { host: '127.0.0.1', port: 10022 },
    cloud: CLOUD,
    known: true,
    extra: ['hostname'],
    argv: [
      'ssh',
      '-i',
      `${HOME}/.ssh/id_ed25519`,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      `UserKnownHostsFile=${DATA}/hosts/${DEB1}/known_hosts`,
      '-o',
      `HostKeyAlias=${DEB1}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-p',
      '10022',
      'ana@127.0.0.1',
      'hostname',
    ],
  },
  {
    name: 'a cloud guest as another user, its known_hosts removed: learnt again',
    endpoint: { host: '192.168.56.20', port: 22 },
    cloud: { ...CLOUD, identity: undefined },
    login: 'root',
    known: false,
    argv: [
      'ssh',
      '-o',
      `UserKnownHostsFile=${DATA}/hosts/${DEB1}/known_hosts`,
      '-o',
      `HostKeyAlias=${DEB1}`,
      '-o',
      'StrictHostKeyChecking=accept-new',
      'root@192.168.56.20',
    ],
  },
];

for (const row of SSH_ROWS) {
  test(`sshArgv: ${row.name}`, () => {
    assert.equal(sshArgv(row.endpoint, row.cloud, row.login, row.extra ?? [], row.known ?? false), row.argv);
  });
}

test('sshEndpoint: the SSH forward first, else an address on a network the host is on', () => {
  const view = (
    forwards: Array<{ proto: string; host: string; port: number; guest_port: number }>,
    nics: Array<{ net: string; ip: string | null }>,
  ) => ({
    name: 'g',
    pid: 1,
    state: 'running',
    uptime_s: 0,
    nics: nics.map((nic, index) => ({ index, mac: 'de:ad:be:ef:00:00', ip6: null, ...nic })),
    forwards: forwards as never,
  });
  const nics = [
    { net: 'user', ip: '10.0.2.15' },
    { net: 'hostonly', ip: '192.168.56.20' },
  ];
  assert.equal(
    sshEndpoint(
      view(
        [
          { proto: 'udp', host: '127.0.0.1', port: 5000, guest_port: 22 },
          { proto: 'tcp', host: '127.0.0.1', port: 10023, guest_port: 22 },
        ],
        nics,
      ),
    ),
    { host: '127.0.0.1', port: 10023 },
  );
  assert.equal(sshEndpoint(view([{ proto: 'tcp', host: '127.0.0.1', port: 8080, guest_port: 80 }], nics)), {
    host: '192.168.56.20',
    port: 22,
  });
  assert.is(
    sshEndpoint(
      view(
        [],
        [
          { net: 'user', ip: '10.0.2.15' },
          { net: 'hostonly', ip: null },
        ],
      ),
    ),
    undefined,
  );
});

test('ssh --wait: alone 300 s, =S whole seconds, anything else refused', () => {
  assert.is(parseWait(undefined), undefined);
  assert.is(parseWait(true), 300);
  assert.is(parseWait('0'), 0);
  assert.is(parseWait('45'), 45);
  for (const value of ['', '1.5', '-3', '2m']) {
    assert.throws(
      () => parseWait(value),
      (error: Error) =>
        error instanceof UsageError && error.message === `ssh --wait=${value}: give whole seconds, as in --wait=120`,
    );
  }
});

test('the binary: a dry run makes no key, seed or directory; a bad --user-data is refused with exit 2', async () => {
  const { dir, done } = home();
  try {
    const disk = `${dir}/deb1.qcow2`;
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
    const env = { HOME: dir, QEMU_SCRIPT_RUNTIME_DIR: `${dir}/run` };
    const dry = await runBinary(['--dry-run', '--cloud-init', '--accel', 'tcg', disk], { env, cwd: dir });
    assert.is(dry.exitCode, 0, dry.stderr);
    assert.match(dry.stdout, `-f ${dir}/.local/share/qemu-script/id_ed25519`);
    assert.match(dry.stdout, 'xorriso -as mkisofs');
    assert.equal(readdirSync(dir), ['deb1.qcow2']);
    writeFileSync(`${dir}/bad.yaml`, '#cloud-config\nruncmd: [unclosed\n');
    const bad = await runBinary(['--cloud-init', '--user-data', 'bad.yaml', '--accel', 'tcg', disk], { env, cwd: dir });
    assert.is(bad.exitCode, 2, bad.stderr);
    assert.is(
      bad.stderr,
      `qemu-script: --user-data: ${dir}/bad.yaml is not valid YAML (line 3): Flow sequence in ` +
        'block collection must be sufficiently indented and end with a ]',
    );
    assert.equal(readdirSync(dir).sort(), ['bad.yaml', 'deb1.qcow2']);
    chmodSync(dir, 0o700);
    assert.not.ok(existsSync(`${dir}/run`));
  } finally {
    done();
  }
});

test.run();
