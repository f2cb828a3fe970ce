// An instance of the real cloud image (test/cloud-image, built by make test): the image added to a cache of the
// test's own; `create` keeps the launch options; `start --wait` returns only once cloud-init has finished (its
// runcmd sleeps after sshd is up, so the wait cannot end at the first SSH answer); a file written in the guest
// is there after stop and start, cloud-init does not provision it again and its host key is the one pinned;
// `stop` a second after a start powers the guest off (the request is repeated while it boots); `rm` leaves
// nothing, and the image's checksum is what it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, testWhere } from './helpers.ts';
import { assertClean, inNetns, type Netns } from './netns.ts';

const IMAGE = `${ROOT}/.cache/cloud-image`;
const missing = existsSync(`${IMAGE}/disk.qcow2`)
  ? undefined
  : 'the cloud image is not built (make test builds it: make cloud-image, about a minute)';

// runcmd runs in cloud-init's last stage, after sshd: the sleep makes a wait that stopped at SSH fail.
const USER_DATA = `#cloud-config
runcmd:
  - [sh, -c, 'sleep 8; echo provisioned >> /var/tmp/qs-runs']
`;

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

testWhere(
  test,
  missing,
  'a cloud instance: provisioned before start --wait returns, kept across stop and start, stopped while booting',
  () =>
    inNetns(async (ns: Netns) => {
      const dir = mkdtempSync(`${ROOT}/.cache/cloud-instance-`);
      const home = `${dir}/home`;
      const stores = { QEMU_SCRIPT_IMAGES_DIR: `${dir}/images`, QEMU_SCRIPT_INSTANCES_DIR: `${dir}/instances` };
      const env = { HOME: home, ...stores };
      const tool = (words: string[]) => ns.tool(words, env);
      const ssh = (command: string) => tool(['ssh', 'deb', '--', command]);
      try {
        await execa('mkdir', ['-m', '700', home]);
        const added = await tool(['image', 'add', `${IMAGE}/disk.qcow2`, '--name', 'deb12']);
        assert.is(added.exitCode, 0, added.stderr);
        const image = `${dir}/images/deb12.img`;
        const before = await sha256(image);
        writeFileSync(`${dir}/user-data.yaml`, USER_DATA);
        const created = await tool([
          ...['create', 'deb', '--image', 'deb12', '--cloud-init', '--user-data', `${dir}/user-data.yaml`],
          ...['--net', 'user', '--display', 'none', '--accel', 'tcg', '-m', '1024', '-smp', '2'],
          ...['-kernel', `${IMAGE}/vmlinuz`, '-initrd', `${IMAGE}/initrd.img`],
          ...['-append', 'root=LABEL=cloudroot rw console=ttyS0 cryptomgr.notests'],
        ]);
        assert.is(created.exitCode, 0, created.stderr);

        const first = await tool(['start', 'deb', '--wait=900']);
        assert.is(first.exitCode, 0, `${first.stdout}\n${first.stderr}`);
        assert.match(first.stdout, 'deb is ready (cloud-init has finished)');
        // Right after the wait: runcmd has run (its sleep and all).
        const runs = await ssh('cat /var/tmp/qs-runs; echo kept | sudo tee /var/tmp/qs-kept >/dev/null; sync');
        assert.is(runs.exitCode, 0, runs.stderr);
        assert.is(runs.stdout, 'provisioned');
        assert.match((await tool(['log', 'deb'])).stdout, /Linux version \d/);
        // cp both ways, a file and a directory, as qemu-script ssh logs in (no question, no warning).
        mkdirSync(`${dir}/tree/sub`, { recursive: true });
        writeFileSync(`${dir}/tree/sub/a.txt`, 'alpha\n');
        writeFileSync(`${dir}/one.txt`, 'one\n');
        for (const words of [[`${dir}/one.txt`, 'deb:/tmp/'], ['-r', `${dir}/tree`, 'deb:/tmp/']]) {
          const sent = await tool(['cp', ...words]);
          assert.is(sent.exitCode, 0, sent.stderr);
          assert.not.match(sent.stderr, /WARNING|Permanently added/);
        }
        assert.is((await ssh('cat /tmp/one.txt /tmp/tree/sub/a.txt')).stdout, 'one\nalpha');
        const back = await tool(['cp', '-r', 'deb:/tmp/tree', `${dir}/back`]);
        assert.is(back.exitCode, 0, back.stderr);
        assert.is(readFileSync(`${dir}/back/sub/a.txt`, 'utf8'), 'alpha\n');
        const stopped = await tool(['stop', '--timeout', '180', 'deb']);
        assert.is(stopped.exitCode, 0, stopped.stderr);
        assert.match(stopped.stdout, 'Guest deb powered off');

        // A stop one second after a start: the guest misses the first request while it boots; it is asked again.
        const booting = await tool(['start', 'deb']);
        assert.is(booting.exitCode, 0, booting.stderr);
        await sleep(1000);
        const early = await tool(['stop', '--timeout', '240', 'deb']);
        assert.is(early.exitCode, 0, early.stderr);
        assert.match(early.stdout, 'Guest deb powered off');

        // Started again: its file is there, cloud-init did not provision it again, its host key is the pinned one
        // (StrictHostKeyChecking=yes: ssh would refuse another).
        const again = await tool(['start', 'deb', '--wait=900']);
        assert.is(again.exitCode, 0, `${again.stdout}\n${again.stderr}`);
        // A command without `--`, and the only running guest without a name.
        const kept = await tool(['ssh', 'deb', 'cat', '/var/tmp/qs-kept', '/var/tmp/qs-runs']);
        assert.is(kept.exitCode, 0, kept.stderr);
        assert.is(kept.stdout, 'kept\nprovisioned');
        assert.not.match(kept.stderr, /WARNING|Permanently added/);
        const only = await tool(['ssh', '--', 'hostname']);
        assert.equal([only.exitCode, only.stdout], [0, 'deb']);

        const removed = await tool(['rm', '--force', 'deb']);
        assert.is(removed.exitCode, 0, removed.stderr);
        assert.equal(readdirSync(`${dir}/instances`), []);
        assert.is(await sha256(image), before, 'the image is as it was');
        const hosts = `${home}/.local/share/qemu-script/hosts`;
        assert.not.ok(existsSync(hosts) && readdirSync(hosts).length > 0, "the instance's host key went with it");
        await assertClean(ns, ['lo']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
);

test.run();
