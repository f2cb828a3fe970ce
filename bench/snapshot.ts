// Snapshots and clones of an instance of the real cloud image (make cloud-image, -m 1024): a live snapshot with
// its memory (its time, and how long the guest was stopped), a restore until SSH answers again, and the disk a
// clone adds over the image after its first boot.
import { execa } from 'execa';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { ROOT } from '../test/helpers.ts';
import { Netns } from '../test/netns.ts';
import { SEA, logs, now, table } from './common.ts';

const IMAGE = `${ROOT}/.cache/cloud-image`;
const allocatedMiB = (path: string) => (statSync(path).blocks * 512) / 1048576;

export async function snapshotTable(): Promise<string[]> {
  const heading = '### Snapshots and clones of a cloud instance (1 GiB of memory)';
  if (!existsSync(`${IMAGE}/disk.qcow2`))
    return [heading, '', 'Not measured: no cloud image (make cloud-image).'];
  const ns = await Netns.create();
  const dir = `${logs}/snapshot`;
  const home = `${dir}/home`;
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = {
    HOME: home,
    QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir,
    QEMU_SCRIPT_IMAGES_DIR: `${dir}/images`,
    QEMU_SCRIPT_INSTANCES_DIR: `${dir}/instances`,
  };
  const tool = (args: string[]) => execa('ip', ['netns', 'exec', ns.name, SEA, ...args], { env });
  try {
    await tool(['image', 'add', `${IMAGE}/disk.qcow2`, '--name', 'deb12']);
    await tool([
      ...['create', 'snap', '--image', 'deb12', '--cloud-init', '--net', 'user', '--display', 'none'],
      ...['--accel', 'tcg', '-m', '1024', '-smp', '2'],
      ...['-kernel', `${IMAGE}/vmlinuz`, '-initrd', `${IMAGE}/initrd.img`],
      ...['-append', 'root=LABEL=cloudroot rw console=ttyS0 cryptomgr.notests'],
    ]);
    await tool(['start', 'snap', '--wait=900']);
    let began = now();
    const taken = await tool(['snapshot', 'snap', 's1']);
    const snapshot = (now() - began) / 1000;
    const paused = Number(/stopped ([\d.]+) s/.exec(taken.stdout)?.[1] ?? NaN);
    began = now();
    await tool(['restore', 'snap', 's1']);
    await tool(['ssh', '--wait=300', 'snap', '--', 'true']);
    const restored = (now() - began) / 1000;
    await tool(['clone', 'snap', 'snap2', '--from', 's1']);
    await tool(['stop', '--force', 'snap']);
    await tool(['start', 'snap2', '--wait=900']);
    const clone = allocatedMiB(`${dir}/instances/snap2/disk.qcow2`);
    return [
      heading,
      '',
      ...table(
        ['measure', 'value', 'target', 'met'],
        [
          ['`snapshot` of the running instance, with its memory', `${snapshot.toFixed(1)} s`, '', ''],
          ['the guest stopped while it was written', `${paused.toFixed(1)} s`, '', ''],
          ['`restore` → SSH answers again', `${restored.toFixed(1)} s`, '', ''],
          ['disk a clone adds over the image after its first boot', `${clone.toFixed(1)} MiB`, '', ''],
        ],
      ),
    ];
  } finally {
    for (const name of ['snap', 'snap2']) await tool(['rm', '--force', name]).catch(() => undefined);
    await ns.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
