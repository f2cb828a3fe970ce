// An instance of the real cloud image (make cloud-image): what it adds to the disk over its image after its
// first boot, and `start NAME --wait` (its second boot, to ready: SSH answers and cloud-init says done)
// against the same QEMU line and seed started by hand, with the same wait done by hand (ssh polled until
// `cloud-init status` says done), one after the other on this machine.
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from '../test/helpers.ts';
import { Netns } from '../test/netns.ts';
import { SEA, logs, met, now, table } from './common.ts';

const IMAGE = `${ROOT}/.cache/cloud-image`;

/** Allocated bytes of a file (what it takes on the disk), in MiB. */
const allocatedMiB = (path: string) => (statSync(path).blocks * 512) / 1048576;

interface Record {
  plan: {
    runDir: string;
    qemu: { argv: string[] };
    cloudInit: { identity: string; knownHosts: string; instanceId: string; login: string };
    resources: { forwards: Array<{ port: number; guest_port: number }> };
  };
}

/** By hand: QEMU from the record's line (its seed copied back), then ssh polled until cloud-init is done. */
async function byHand(ns: Netns, record: Record, seed: string): Promise<number> {
  const { runDir, qemu, cloudInit, resources } = record.plan;
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  cpSync(seed, `${runDir}/cidata.iso`);
  const port = resources.forwards.find((forward) => forward.guest_port === 22)!.port;
  const ssh = [
    ...['ssh', '-i', cloudInit.identity, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes'],
    ...['-o', `UserKnownHostsFile=${cloudInit.knownHosts}`, '-o', `HostKeyAlias=${cloudInit.instanceId}`],
    ...['-o', 'ConnectTimeout=5', '-p', String(port), `${cloudInit.login}@127.0.0.1`, 'cloud-init', 'status'],
  ];
  const began = now();
  const child = spawn('ip', ['netns', 'exec', ns.name, ...qemu.argv], { stdio: 'ignore' });
  try {
    for (;;) {
      const status = await execa('ip', ['netns', 'exec', ns.name, ...ssh], { reject: false });
      if (/^status: done$/m.test(status.stdout)) return (now() - began) / 1000;
      await sleep(1000);
    }
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(runDir, { recursive: true, force: true });
  }
}

export async function instanceTable(): Promise<string[]> {
  const heading = '### An instance of a cloud image: its disk, and `start --wait` against the same line by hand';
  if (!existsSync(`${IMAGE}/disk.qcow2`)) return [heading, '', 'Not measured: no cloud image (make cloud-image).'];
  const ns = await Netns.create();
  const home = `${logs}/instance-home`;
  mkdirSync(home, { mode: 0o700 });
  const env = {
    HOME: home,
    QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir,
    QEMU_SCRIPT_IMAGES_DIR: `${logs}/images`,
    QEMU_SCRIPT_INSTANCES_DIR: `${logs}/instances`,
  };
  const tool = (args: string[]) => execa('ip', ['netns', 'exec', ns.name, SEA, ...args], { env });
  try {
    await tool(['image', 'add', `${IMAGE}/disk.qcow2`, '--name', 'deb12']);
    await tool([
      ...['create', 'bench', '--image', 'deb12', '--cloud-init', '--net', 'user', '--display', 'none'],
      ...['--accel', 'tcg', '-m', '1024', '-smp', '2', '-kernel', `${IMAGE}/vmlinuz`, '-initrd', `${IMAGE}/initrd.img`],
      ...['-append', 'root=LABEL=cloudroot rw console=ttyS0 cryptomgr.notests'],
    ]);
    const overlay = `${logs}/instances/bench/disk.qcow2`;
    await tool(['start', 'bench', '--wait=900']);
    const firstBoot = allocatedMiB(overlay);
    await tool(['stop', '--timeout', '180', 'bench']);
    const began = now();
    await tool(['start', 'bench', '--wait=900']);
    const started = (now() - began) / 1000;
    const record = JSON.parse(readFileSync(`${ns.runtimeDir}/bench/guest.json`, 'utf8')) as Record;
    cpSync(`${ns.runtimeDir}/bench/cidata.iso`, `${logs}/cidata.iso`);
    await tool(['stop', '--timeout', '180', 'bench']);
    const hand = await byHand(ns, record, `${logs}/cidata.iso`);
    return [
      heading,
      '',
      ...table(
        ['measure', 'value', 'target', 'met'],
        [
          [
            'disk the instance adds over its image after its first boot',
            `${firstBoot.toFixed(1)} MiB`,
            '≤ 100 MiB',
            met(firstBoot <= 100),
          ],
          ['`start NAME --wait` → ready (second boot)', `${started.toFixed(1)} s`, '', ''],
          ['the same QEMU line and seed by hand → ready', `${hand.toFixed(1)} s`, '', ''],
          ['start against by hand', `${(started - hand).toFixed(1)} s`, '≤ +1 s', met(started - hand <= 1)],
        ],
      ),
    ];
  } finally {
    await tool(['rm', '--force', 'bench']).catch(() => undefined);
    await ns.destroy();
    rmSync(home, { recursive: true, force: true });
    rmSync(`${logs}/images`, { recursive: true, force: true });
  }
}
