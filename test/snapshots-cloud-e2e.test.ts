// Snapshots and clones with the real cloud image (make cloud-image): a file written in the guest, a live
// snapshot with its memory, the file changed, restore: the first content is back and the guest runs on; a
// disk-only snapshot frozen through the guest agent; snapshot ls; a clone from the live snapshot boots with its own
// hostname, machine ID, MAC and pinned host key while the source is unchanged; rm leaves nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { ROOT, testWhere } from './helpers.ts';
import { assertClean, inNetns, type Netns } from './netns.ts';

const IMAGE = `${ROOT}/.cache/cloud-image`;
const missing = existsSync(`${IMAGE}/disk.qcow2`)
  ? undefined
  : 'the cloud image is not built (make test builds it: make cloud-image, about a minute)';

testWhere(test, missing, 'snapshots live and on disk, restore, and a clone with an identity of its own', () =>
  inNetns(async (ns: Netns) => {
    const dir = mkdtempSync(`${ROOT}/.cache/cloud-snapshots-`);
    const home = `${dir}/home`;
    const stores = { QEMU_SCRIPT_IMAGES_DIR: `${dir}/images`, QEMU_SCRIPT_INSTANCES_DIR: `${dir}/instances` };
    const env = { HOME: home, ...stores };
    const tool = (words: string[]) => ns.tool(words, env);
    const ssh = async (name: string, command: string) => {
      const result = await tool(['ssh', name, '--', command]);
      assert.is(result.exitCode, 0, `${name}: ${command}: ${result.stderr}`);
      assert.not.match(result.stderr, /WARNING|Permanently added/);
      return result.stdout;
    };
    try {
      await execa('mkdir', ['-m', '700', home]);
      assert.is((await tool(['image', 'add', `${IMAGE}/disk.qcow2`, '--name', 'deb12'])).exitCode, 0);
      const created = await tool([
        ...['create', 'src', '--image', 'deb12', '--cloud-init', '--net', 'user', '--display', 'none'],
        ...['--accel', 'tcg', '-m', '1024', '-smp', '2'],
        ...['-kernel', `${IMAGE}/vmlinuz`, '-initrd', `${IMAGE}/initrd.img`],
        ...['-append', 'root=LABEL=cloudroot rw console=ttyS0 cryptomgr.notests'],
      ]);
      assert.is(created.exitCode, 0, created.stderr);
      const up = await tool(['start', 'src', '--wait=900']);
      assert.is(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
      await ssh('src', 'echo one | sudo tee /var/tmp/qs-file >/dev/null; sync');

      const live = await tool(['snapshot', 'src', 's1']);
      assert.is(live.exitCode, 0, live.stderr);
      const written = /^Snapshot s1 of src: with its memory; the guest was stopped [\d.]+ s while it was written$/;
      assert.match(live.stdout, written);
      await ssh('src', 'echo two | sudo tee /var/tmp/qs-file >/dev/null; sync');
      const back = await tool(['restore', 'src', 's1']);
      assert.equal([back.exitCode, back.stdout], [0, 'src: running again where it was then']);
      assert.is(await ssh('src', 'cat /var/tmp/qs-file'), 'one');

      const diskOnly = await tool(['snapshot', 'src', 's2', '--disk-only']);
      assert.is(diskOnly.exitCode, 0, diskOnly.stderr);
      assert.match(diskOnly.stdout, 'of its disk alone, its file systems frozen through its agent meanwhile');
      const listed = JSON.parse((await tool(['snapshot', 'ls', 'src', '--json'])).stdout);
      assert.equal(
        listed.snapshots.map((taken: { tag: string; with_memory: boolean }) => [taken.tag, taken.with_memory]),
        [
          ['s1', true],
          ['s2', false],
        ],
      );
      const refused = await tool(['restore', 'src', 's2']);
      assert.equal(
        [refused.exitCode, refused.stderr],
        [2, 'qemu-script: restore: s2 holds the disk alone: stop the instance first, then restore it'],
      );

      // A clone of the running source as its live snapshot holds it: its own name, machine ID, MAC, host key.
      const cloned = await tool(['clone', 'src', 'copy', '--from', 's1']);
      assert.equal([cloned.exitCode, cloned.stdout], [0, 'Cloned src as of s1 into copy: qemu-script start copy']);
      const copyUp = await tool(['start', 'copy', '--wait=900']);
      assert.is(copyUp.exitCode, 0, `${copyUp.stdout}\n${copyUp.stderr}`);
      const [srcSeen, copySeen] = [
        await ssh('src', 'hostname; cat /etc/machine-id /var/tmp/qs-file'),
        await ssh('copy', 'hostname; cat /etc/machine-id /var/tmp/qs-file'),
      ].map((text) => text.split('\n'));
      assert.equal([srcSeen[0], copySeen[0]], ['src', 'copy']);
      assert.is.not(copySeen[1], srcSeen[1], 'a machine ID of its own');
      assert.equal([srcSeen[2], copySeen[2]], ['one', 'one'], "the clone has the snapshot's file; the source kept it");
      const ps = JSON.parse((await tool(['ps', '--json'])).stdout).guests as Array<{ nics: Array<{ mac: string }> }>;
      assert.is(new Set(ps.map((guest) => guest.nics[0].mac)).size, 2, 'a MAC of its own');
      assert.equal(
        JSON.parse((await tool(['snapshot', 'ls', 'copy', '--json'])).stdout).snapshots,
        [],
        'the clone carries no snapshot of its source',
      );

      // Stopped: the disk restored by qemu-img; then both removed, and nothing of them left.
      assert.is((await tool(['stop', '--force', 'src'])).exitCode, 0);
      const disk = await tool(['restore', 'src', 's2']);
      assert.equal([disk.exitCode, disk.stdout], [0, 'src: its disk is as it was then']);
      const removed = await tool(['snapshot', 'rm', 'src', 's1']);
      assert.equal([removed.exitCode, removed.stdout], [0, 'Removed snapshot s1 of src']);
      for (const name of ['src', 'copy']) assert.is((await tool(['rm', '--force', name])).exitCode, 0);
      assert.equal(readdirSync(`${dir}/instances`), []);
      await assertClean(ns, ['lo']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }),
);

test.run();
