// The VM_* environment variables, read into settings with their defaults (one table, shown by --help).
import { existsSync } from 'node:fs';
import { UsageError } from '../base/errors.ts';
import { parseMacPrefix } from '../net/mac.ts';
import type { DiskController, Settings } from '../base/types.ts';

export type Env = Record<string, string | undefined>;

/** Environment variables the tool reads, with their defaults (shown by --help). */
export const ENV_VARIABLES: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'VM_RAM', default: '512', meaning: 'guest memory: MiB, or 2G, 1536M' },
  { name: 'VM_NET', default: 'u', meaning: 'network spec used when no --net is given' },
  { name: 'VM_VIDEO', default: 'vga', meaning: 'display used when no --display is given' },
  { name: 'VM_HDDRIVER', default: 'virtio-scsi', meaning: 'disk controller: virtio-scsi (scsi) or virtio-blk (blk)' },
  { name: 'VM_PREMAC', default: 'de:ad:be:ef', meaning: 'MAC prefix of the guest NICs' },
  {
    name: 'VM_ACCEL',
    default: 'auto: kvm when /dev/kvm is usable, else tcg',
    meaning: 'accelerator: kvm, tcg or kvm:tcg',
  },
  { name: 'VM_EFIFIRM', default: '/usr/share/ovmf/OVMF.fd', meaning: 'UEFI firmware for --uefi' },
  { name: 'VM_HELPER', default: '/usr/lib/qemu/qemu-bridge-helper', meaning: 'QEMU bridge helper' },
  { name: 'VM_VHOSTNET', default: '/dev/vhost-net', meaning: 'vhost-net device (VM_VHOSNET is read too)' },
  { name: 'VM_QEMU', default: 'qemu-system-x86_64', meaning: 'QEMU binary' },
  {
    name: 'QEMU_SCRIPT_CONFIG_DIR',
    default: '/etc/qemu-script',
    meaning: 'network definitions and limits (root only)',
  },
  {
    name: 'QEMU_SCRIPT_RUNTIME_DIR',
    default: '/run/qemu-script (root), $XDG_RUNTIME_DIR/qemu-script',
    meaning: 'where guests keep their QMP socket, pidfile and state',
  },
];

const DISK_CONTROLLERS: readonly DiskController[] = ['virtio-scsi', 'virtio-blk'];

export function envDefault(env: Env, name: string): string {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  return ENV_VARIABLES.find((variable) => variable.name === name)!.default;
}

/** MiB for each of QEMU's size suffixes (a bare number is MiB, as QEMU's -m reads it). */
const SIZE_SUFFIX_MIB: Readonly<Record<string, number>> = { '': 1, k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };

/** VM_RAM: MiB, or a size with QEMU's suffixes (2G, 1536M, 1048576K). */
function parseRam(text: string): number {
  const match = /^([1-9]\d*)([kmgt]?)i?b?$/i.exec(text);
  const mib = match ? Number(match[1]) * SIZE_SUFFIX_MIB[match[2].toLowerCase()] : NaN;
  if (!Number.isInteger(mib) || mib < 1)
    throw new UsageError(`VM_RAM: "${text}" is not a memory size (MiB, or with a suffix: 2G, 1536M)`);
  return mib;
}

/** `vm`'s short names for the controllers. */
const CONTROLLER_ALIASES: Readonly<Record<string, DiskController>> = {
  scsi: 'virtio-scsi',
  blk: 'virtio-blk',
  'virtio-scsi': 'virtio-scsi',
  'virtio-blk': 'virtio-blk',
};

/** A path a variable names must exist when the user set it: a typo there never acts later. */
function existingPath(env: Env, name: string, exists: (path: string) => boolean): string {
  const value = envDefault(env, name);
  if (env[name] && !exists(value))
    throw new UsageError(
      `${name}: ${value} does not exist (default: ` +
        `${ENV_VARIABLES.find((variable) => variable.name === name)!.default})`,
    );
  return value;
}

/** VM_QEMU: a path that exists, or a program on PATH; a typo is refused before anything starts. */
function qemuBinary(env: Env, exists: (path: string) => boolean): string {
  const value = envDefault(env, 'VM_QEMU');
  if (!env.VM_QEMU) return value;
  const found = value.includes('/')
    ? exists(value)
    : (env.PATH ?? '').split(':').some((dir) => dir !== '' && exists(`${dir}/${value}`));
  if (!found) throw new UsageError(`VM_QEMU: ${value} ${value.includes('/') ? 'does not exist' : 'is not on PATH'}`);
  return value;
}

export function readSettings(env: Env, exists: (path: string) => boolean = existsSync): Settings {
  const controllerText = envDefault(env, 'VM_HDDRIVER');
  const diskController = CONTROLLER_ALIASES[controllerText];
  if (!diskController)
    throw new UsageError(
      `VM_HDDRIVER: "${controllerText}" is not a disk controller (accepted: ${DISK_CONTROLLERS.join(', ')}, scsi, blk)`,
    );
  // `vm` read the misspelt VM_VHOSNET; old setups still export it.
  const vhost = env.VM_VHOSTNET || env.VM_VHOSNET || envDefault(env, 'VM_VHOSTNET');
  const prefix = parseMacPrefix(envDefault(env, 'VM_PREMAC'));
  return {
    qemuBinary: qemuBinary(env, exists),
    ramMiB: parseRam(envDefault(env, 'VM_RAM')),
    macPrefix: prefix.octets,
    efiFirmware: existingPath(env, 'VM_EFIFIRM', exists),
    bridgeHelper: existingPath(env, 'VM_HELPER', exists),
    vhostNetDevice: vhost,
    diskController,
    notes: prefix.warning ? [prefix.warning] : [],
  };
}
