// A real cloud image (make cloud-image) from the launch to a login: `--cloud-init`, then
// `qemu-script ssh --wait NAME -- true` until it succeeds. First boot (cloud-init provisions), then the same
// disk again (the same instance: nothing provisioned).
import { execa } from 'execa';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { ROOT } from '../test/helpers.ts';
import { Netns } from '../test/netns.ts';
import { SEA, logs, now, table } from './common.ts';

const IMAGE = `${ROOT}/.cache/cloud-image`;

async function oneLogin(ns: Netns, env: Record<string, string>, disk: string): Promise<number> {
  const tool = (args: string[]) =>
    execa('ip', ['netns', 'exec', ns.name, SEA, ...args], {
      env: { QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir, ...env },
    });
  const began = now();
  await tool([
    ...['--cloud-init', '--net', 'user', '--display', 'none', '--accel', 'tcg', '-m', '1024', '--name', 'bench'],
    ...[disk, '-kernel', `${IMAGE}/vmlinuz`, '-initrd', `${IMAGE}/initrd.img`],
    ...['-append', 'root=LABEL=cloudroot rw console=ttyS0', '-serial', `file:${logs}/cloud.log`],
  ]);
  await tool(['ssh', '--wait=900', 'bench', '--', 'true']);
  const seconds = (now() - began) / 1000;
  await tool(['down', '--timeout', '180', 'bench']);
  return seconds;
}

export async function cloudTable(): Promise<string[]> {
  const heading = '### A cloud image: launch → `qemu-script ssh NAME -- true` succeeds';
  if (!existsSync(`${IMAGE}/disk.qcow2`)) return [heading, '', 'Not measured: no cloud image (make cloud-image).'];
  const ns = await Netns.create();
  const home = `${logs}/cloud-home`;
  mkdirSync(home, { mode: 0o700 });
  const disk = `${logs}/bench.qcow2`;
  try {
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', `${IMAGE}/disk.qcow2`, '-F', 'qcow2', disk]);
    const first = await oneLogin(ns, { HOME: home }, disk);
    const second = await oneLogin(ns, { HOME: home }, disk);
    return [
      heading,
      '',
      ...table(
        ['boot', 'launch → logged in'],
        [
          ['first (cloud-init provisions: user, key, host key, network)', `${first.toFixed(1)} s`],
          ['second, the same disk (the same instance)', `${second.toFixed(1)} s`],
        ],
      ),
    ];
  } finally {
    await ns.destroy();
    rmSync(home, { recursive: true, force: true });
    rmSync(disk, { force: true });
  }
}
