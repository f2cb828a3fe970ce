// Instances and --image with the tiny test guest, through the real executable in a namespace: create keeps the
// options and an identity in instance.yaml and makes nothing else run; start boots it with them (the same MAC
// every boot), ps and info show it stopped and running, log shows its console, rm takes everything; two
// transient guests from one image run at once and leave the image as it was; bad input is refused with one line
// and nothing made.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { ROOT } from './helpers.ts';
import { INITRD, KERNEL } from './guest-helpers.ts';
import { BOOT_APPEND, GUEST, assertClean, inNetns, waitFor, type Netns } from './netns.ts';

/** The tiny guest's line, as a user would give it to create. */
const LINE = [...GUEST, '-m', '160', '-kernel', KERNEL, '-initrd', INITRD, '-append', `${BOOT_APPEND} e2e_name=web`];

interface Dirs {
  env: Record<string, string>;
  images: string;
  instances: string;
  sha: () => string;
}

/** An image cache with the image `tiny` and an instances directory, the test's own. */
async function withStore(body: (dirs: Dirs) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(`${ROOT}/.cache/instances-test-`);
  const images = `${dir}/images`;
  const instances = `${dir}/instances`;
  const env = { QEMU_SCRIPT_IMAGES_DIR: images, QEMU_SCRIPT_INSTANCES_DIR: instances };
  try {
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${dir}/tiny.qcow2`, '64M']);
    await execa(`${ROOT}/dist/qemu-script`, ['image', 'add', `${dir}/tiny.qcow2`], { env });
    const sha = () => createHash('sha256').update(readFileSync(`${images}/tiny.img`)).digest('hex');
    await body({ env, images, instances, sha });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface PsGuest {
  name: string;
  pid: number | null;
  state: string;
  nics: Array<{ mac: string }>;
}
const ps = async (ns: Netns, env: Record<string, string>) =>
  (JSON.parse((await ns.tool(['ps', '--json'], env)).stdout) as { guests: PsGuest[] }).guests;

test('an instance: create, start with its options and MAC, stopped and running in ps and info, log, rm', () =>
  inNetns((ns) =>
    withStore(async ({ env, instances, sha }) => {
      const before = sha();
      const created = await ns.tool(['create', 'web', '--image', 'tiny', '--net', 'user', ...LINE], env);
      assert.is(created.exitCode, 0, created.stderr);
      assert.is(created.stdout, 'Created instance web over tiny: qemu-script start web');
      assert.equal(readdirSync(`${instances}/web`).sort(), ['disk.qcow2', 'instance.yaml']);
      const file = readFileSync(`${instances}/web/instance.yaml`, 'utf8');
      assert.match(file, /^# A qemu-script instance: /);
      const { parse } = await import('yaml');
      const saved = parse(file);
      assert.equal(saved.options, ['--net', 'user', ...LINE], 'the options as given, nothing planned');
      assert.equal(
        Object.keys(saved).sort(),
        ['created', 'identity', 'image', 'image_format', 'image_path', 'name', 'options'].sort(),
      );
      assert.equal([saved.name, saved.image, saved.image_format], ['web', 'tiny', 'qcow2']);
      assert.match(saved.image_path, /\/images\/tiny\.img$/);
      assert.is(saved.identity.macs.length, 1);
      assert.match(saved.identity.instance_id, /^qs-[0-9a-f]{16}$/);
      assert.equal(await ns.processes(), [], 'create runs nothing');
      assert.equal(await ps(ns, env), [
        {
          name: 'web',
          pid: null,
          state: 'stopped',
          uptime_s: 0,
          nics: [{ index: 0, net: '-', mac: saved.identity.macs[0], ip: null, ip6: null }],
          forwards: [],
          ssh: null,
          login_user: null,
        },
      ] as never);
      const stoppedInfo = await ns.tool(['info', 'web'], env);
      assert.match(stoppedInfo.stdout, /^state +stopped \(qemu-script start web\)$/m);
      const logLine = new RegExp(`^log +${instances}/web/console\\.log \\(qemu-script log web\\)$`, 'm');
      assert.match(stoppedInfo.stdout, logLine);

      for (const boot of [1, 2]) {
        const started = await ns.tool(['start', 'web'], env);
        assert.is(started.exitCode, 0, started.stderr);
        assert.match(started.stdout, /Guest web is running \(QEMU pid \d+\)/);
        const [guest] = await ps(ns, env);
        const seen = [guest.name, guest.state, guest.nics.map((nic) => nic.mac)];
        assert.equal(seen, ['web', 'running', saved.identity.macs]);
        // Its console, logged in its directory across boots.
        await waitFor(
          async () => ((await ns.tool(['log', 'web'], env)).stdout.match(/E2E: READY/g) ?? []).length === boot,
          60000,
          `boot ${boot} in the log`,
        );
        if (boot === 1) {
          const again = await ns.tool(['start', 'web'], env);
          assert.is(again.exitCode, 2);
          assert.is(again.stderr, 'qemu-script: start: web is running already (qemu-script ssh web)');
          const rm = await ns.tool(['rm', 'web'], env);
          assert.is(rm.exitCode, 2);
          assert.is(rm.stderr, 'qemu-script: rm: web is running; stop it first (qemu-script stop web), or rm --force');
          const imageRm = await ns.tool(['image', 'rm', 'tiny'], env);
          assert.is(imageRm.exitCode, 2);
          const using = 'tiny is in use by instance web; stop or remove those first';
          assert.is(imageRm.stderr, `qemu-script: image rm: ${using}`);
          const named = await ns.tool([...LINE, '--image', 'tiny', '--name', 'web'], env);
          assert.is(named.exitCode, 2);
          const instead = 'start it with: qemu-script start web';
          assert.is(named.stderr, `qemu-script: --name web: an instance has that name; ${instead}`);
        }
        const stopped = await ns.tool(['stop', '--force', 'web'], env);
        assert.is(stopped.exitCode, 0, stopped.stderr);
        assert.equal((await ps(ns, env)).map((entry) => entry.state), ['stopped']);
      }
      assert.is(sha(), before, 'the image is as it was');
      const removed = await ns.tool(['rm', 'web'], env);
      assert.is(removed.exitCode, 0, removed.stderr);
      assert.equal(readdirSync(instances), []);
      assert.is((await ns.tool(['ps'], env)).stdout, 'no guests');
      await assertClean(ns);
    }),
  ));

test('two guests from one image at once, each on an overlay of its own; down leaves the image and nothing else', () =>
  inNetns((ns) =>
    withStore(async ({ env, sha }) => {
      const before = sha();
      const none = await ns.tool(['ssh'], env);
      assert.equal([none.exitCode, none.stderr], [2, 'qemu-script: ssh: no guest is running (qemu-script ps)']);
      for (const expected of ['tiny', 'tiny-2']) {
        const launched = await ns.tool([...LINE, '--image', 'tiny', '--net', 'none'], env);
        assert.is(launched.exitCode, 0, launched.stderr);
        assert.match(launched.stdout, `Guest ${expected} is running`);
      }
      for (const name of ['tiny', 'tiny-2']) {
        assert.ok(existsSync(`${ns.runtimeDir}/${name}/disk.qcow2`), name);
        const info = JSON.parse((await ns.tool(['info', '--json', name], env)).stdout);
        assert.equal(info.disks, [`${ns.runtimeDir}/${name}/disk.qcow2`]);
      }
      const which = await ns.tool(['ssh'], env);
      assert.equal(
        [which.exitCode, which.stderr],
        [2, 'qemu-script: ssh: 2 guests run (tiny, tiny-2); name one: qemu-script ssh NAME'],
      );
      const backing = await execa('qemu-img', ['info', '-U', '--output=json', `${ns.runtimeDir}/tiny-2/disk.qcow2`]);
      assert.match(JSON.parse(backing.stdout)['backing-filename'], /\/images\/tiny\.img$/);
      // Both from one process, in parallel.
      const both = await ns.tool(['down', '--force', 'tiny', 'tiny-2'], env);
      assert.equal(
        [both.exitCode, both.stdout],
        [0, ['tiny', 'tiny-2'].map((name) => `Guest ${name} stopped; what was built for it is removed`).join('\n')],
      );
      assert.not.ok(existsSync(`${ns.runtimeDir}/tiny`), "the overlay went with the guest's directory");
      assert.is(sha(), before);
      await assertClean(ns);
    }),
  ));

test('snapshots of an instance stopped and running, restore, and a clone with an identity of its own', () =>
  inNetns((ns) =>
    withStore(async ({ env, instances }) => {
      const tool = (words: string[]) => ns.tool(words, env);
      assert.is((await tool(['create', 'web', '--image', 'tiny', '--net', 'user', ...LINE])).exitCode, 0);
      const stopped = await tool(['snapshot', 'web', 'first']);
      assert.equal([stopped.exitCode, stopped.stdout], [0, 'Snapshot first of web (stopped: its disk)']);
      const taken = await tool(['snapshot', 'web', 'first']);
      assert.equal(
        [taken.exitCode, taken.stderr],
        [2, 'qemu-script: snapshot: web has a snapshot first already (snapshot rm web first)'],
      );
      assert.is((await tool(['start', 'web'])).exitCode, 0);
      const live = await tool(['snapshot', 'web', 'live']);
      assert.is(live.exitCode, 0, live.stderr);
      assert.match(live.stdout, /^Snapshot live of web: with its memory; the guest was stopped [\d.]+ s while it was/);
      const listed = await tool(['snapshot', 'ls', 'web']);
      assert.match(listed.stdout, /^TAG +DATE +MEMORY$/m);
      assert.match(listed.stdout, /^first +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +- \(disk alone\)$/m);
      assert.match(listed.stdout, /^live +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +[\d.]+ MiB$/m);
      const back = await tool(['restore', 'web', 'live']);
      assert.equal([back.exitCode, back.stdout], [0, 'web: running again where it was then']);
      assert.equal((await ps(ns, env)).map((guest) => guest.state), ['running'], 'it runs on');
      // A clone of the running instance (a disk-only snapshot taken for it, and removed after).
      const cloned = await tool(['clone', 'web', 'web-copy']);
      assert.equal([cloned.exitCode, cloned.stdout], [0, 'Cloned web into web-copy: qemu-script start web-copy']);
      const kept = JSON.parse((await tool(['snapshot', 'ls', 'web', '--json'])).stdout).snapshots as Array<{
        tag: string;
      }>;
      assert.equal(
        kept.map((snapshot) => snapshot.tag),
        ['first', 'live'],
        'the snapshot taken for the clone is gone',
      );
      const { parse } = await import('yaml');
      const [source, copy] = ['web', 'web-copy'].map((name) =>
        parse(readFileSync(`${instances}/${name}/instance.yaml`, 'utf8')),
      );
      assert.equal(copy.options, source.options);
      assert.is(copy.cloned_from, 'web');
      assert.is.not(copy.identity.macs[0], source.identity.macs[0]);
      assert.is.not(copy.identity.instance_id, source.identity.instance_id);
      const backing = await execa('qemu-img', ['info', '-U', '--output=json', `${instances}/web-copy/disk.qcow2`]);
      assert.match(JSON.parse(backing.stdout)['backing-filename'], /\/images\/tiny\.img$/, 'over the same image');
      const refusals: Array<[string[], string]> = [
        [['clone', 'web', 'web-copy'], 'clone: the name web-copy is taken (qemu-script ls)'],
        [['clone', 'web', 'other', '--from', 'nosuch'], 'clone --from: web has no snapshot nosuch'],
        [['clone', 'nosuch', 'other'], 'clone: no instance named "nosuch" (qemu-script ls)'],
        [['restore', 'web', 'nosuch'], 'restore: no snapshot nosuch (qemu-script snapshot ls)'],
        [['snapshot', 'web', 'a b'], 'snapshot: "a b" is not a tag'],
      ];
      for (const [words, message] of refusals) {
        const refused = await tool(words);
        assert.is(refused.exitCode, 2, words.join(' '));
        assert.ok(refused.stderr.startsWith(`qemu-script: ${message}`), refused.stderr);
      }
      assert.is((await tool(['stop', '--force', 'web'])).exitCode, 0);
      const disk = await tool(['restore', 'web', 'first']);
      assert.equal([disk.exitCode, disk.stdout], [0, 'web: its disk is as it was then']);
      assert.equal([(await tool(['snapshot', 'rm', 'web', 'live'])).stdout], ['Removed snapshot live of web']);
      for (const name of ['web', 'web-copy']) assert.is((await tool(['rm', name])).exitCode, 0);
      assert.equal(readdirSync(instances), []);
      await assertClean(ns);
    }),
  ));

const REFUSED: Array<[string[], string]> = [
  [
    ['create', 'web', '--net', 'user'],
    'create: give the image it is over: --image IMAGE (or --disk FILE to adopt a disk)',
  ],
  [['create', '--image', 'tiny'], 'create needs an instance name first'],
  [['create', 'a_b', '--image', 'tiny'], 'create: "a_b" is not a name (letters, digits and inner hyphens, at most 63)'],
  [['create', 'web', '--image', 'nosuch'], 'create --image: no image nosuch in the cache (cached: tiny; aliases: '],
  [
    ['create', 'web', '--image', 'debian-12'],
    'create --image: no image debian-12 in the cache; fetch it with: qemu-script image pull debian-12',
  ],
  [['create', 'web', '--image', 'tiny', '--disk-size', '2X'], 'create --disk-size: "2X" is not a size'],
  [['create', 'web', '--image', 'tiny', '--name', 'x'], "create: the instance's name is web; no --name"],
  [
    ['create', 'web', '--image', 'tiny', '--net', 'usr'],
    '--net usr: no defined network, bridge or vmnetN is called usr',
  ],
  [['start', 'nosuch'], 'start: no instance named "nosuch" (qemu-script ls)'],
  [['start', 'web', '--wait=soon'], 'ssh --wait=soon: give whole seconds'],
  [['rm', 'nosuch'], 'rm: no instance named "nosuch" (qemu-script ls)'],
  [['log', 'nosuch'], 'log: no guest or instance named "nosuch" (qemu-script ps)'],
  [['info', '../x'], '"../x" is not a guest name'],
  [['cp', '/etc/hostname', 'web:/tmp/'], 'cp: no running guest named "web" (qemu-script ps)'],
  [['cp', '/etc/hostname', '/tmp/x'], "cp: one side is one guest's ([USER@]NAME:PATH), the other this host's"],
  [['cp', 'a:/x', 'b:/y'], "cp: one side is one guest's"],
];

test('bad input to create, start, rm and log: exit 2, one line, nothing made', () =>
  inNetns((ns) =>
    withStore(async ({ env, instances }) => {
      for (const [words, message] of REFUSED) {
        const result = await ns.tool(words, env);
        assert.is(result.exitCode, 2, `${words.join(' ')}: ${result.stderr}`);
        assert.ok(result.stderr.startsWith(`qemu-script: ${message}`), `${words.join(' ')}: ${result.stderr}`);
        assert.not.ok(result.stderr.includes('\n'), 'one line');
        assert.not.ok(existsSync(instances) && readdirSync(instances).length > 0, 'no instance made');
      }
      await assertClean(ns);
    }),
  ));

test.run();
