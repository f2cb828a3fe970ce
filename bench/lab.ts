// A lab of tiny guests on a defined network: `lab up` of 4 until every guest has resolved every other by name,
// against a lab of one guest until it resolves itself; `lab up` with nothing to do; `lab down --force` of the 4.
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { INITRD, KERNEL } from '../test/guest-helpers.ts';
import { BOOT_APPEND, Netns } from '../test/netns.ts';
import { SEA, logs, met, now, table } from './common.ts';

const labFile = (names: string[]) =>
  [
    `name: bench${names.length}`,
    'networks:',
    '  benchnet: {subnet: 10.85.0.0/24, ipv6: false}',
    'defaults:',
    '  image: tiny',
    '  nets: [benchnet]',
    '  accel: tcg',
    '  display: none',
    '  memory: 160',
    `  qemu: ${JSON.stringify([
      ...['-kernel', KERNEL, '-initrd', INITRD, '-no-reboot', '-global', 'virtio-net-pci.romfile='],
      ...['-append', `${BOOT_APPEND} e2e_if0=dhcp e2e_lookup=${names.map((name) => `${name}.benchnet`).join(',')}`],
    ])}`,
    'guests:',
    ...names.map((name) => `  ${name}:`),
  ].join('\n');

/** Seconds from `lab up` until every guest's console says it resolved every name. */
async function upUntilResolved(tool: (words: string[]) => Promise<unknown>, dir: string, names: string[]) {
  writeFileSync(`${dir}/lab.yaml`, labFile(names));
  const began = now();
  await tool(['lab', 'up', `${dir}/lab.yaml`]);
  const resolved = (name: string) => {
    const log = `${dir}/instances/${name}/console.log`;
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    return names.every((other) => text.includes(`E2E: LOOKUP-OK ${other}.benchnet`));
  };
  while (!names.every(resolved)) {
    if (now() - began > 300000) throw new Error('bench: the lab did not resolve its names in 5 minutes');
    await sleep(100);
  }
  return (now() - began) / 1000;
}

export async function labTable(): Promise<string[]> {
  const ns = await Netns.create();
  const dir = `${logs}/lab`;
  mkdirSync(dir, { recursive: true });
  const env = {
    QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir,
    QEMU_SCRIPT_CONFIG_DIR: ns.configDir,
    QEMU_SCRIPT_IMAGES_DIR: `${dir}/images`,
    QEMU_SCRIPT_INSTANCES_DIR: `${dir}/instances`,
  };
  const tool = (words: string[]) => execa('ip', ['netns', 'exec', ns.name, SEA, ...words], { env });
  try {
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${dir}/tiny.qcow2`, '64M']);
    await tool(['image', 'add', `${dir}/tiny.qcow2`]);
    const one = await upUntilResolved(tool, dir, ['solo']);
    await tool(['lab', 'destroy', `${dir}/lab.yaml`]);
    const names = ['g1', 'g2', 'g3', 'g4'];
    const four = await upUntilResolved(tool, dir, names);
    let began = now();
    await tool(['lab', 'up', `${dir}/lab.yaml`]);
    const idle = (now() - began) / 1000;
    began = now();
    await tool(['lab', 'down', '--force', `${dir}/lab.yaml`]);
    const down = (now() - began) / 1000;
    await tool(['lab', 'destroy', `${dir}/lab.yaml`]);
    return [
      '### A lab of tiny guests: `lab up` until every guest resolves every other by name',
      '',
      ...table(
        ['measure', 'value', 'target', 'met'],
        [
          ['`lab up` of 1 guest → it resolves its own name', `${one.toFixed(1)} s`, '', ''],
          ['`lab up` of 4 guests → each resolves all 4', `${four.toFixed(1)} s`, '≤ 2 × one', met(four <= 2 * one)],
          ['`lab up` again, nothing to do', `${idle.toFixed(2)} s`, '≤ 1 s', met(idle <= 1)],
          ['`lab down --force` of the 4', `${down.toFixed(2)} s`, '≤ 5 s', met(down <= 5)],
        ],
      ),
    ];
  } finally {
    await ns.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
