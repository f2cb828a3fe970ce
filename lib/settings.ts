import { UsageError } from './errors.ts';
import { parseMacPrefix } from './mac.ts';
import type { DiskController, Settings } from './types.ts';

export type Env = Record<string, string | undefined>;

/** Environment variables the tool reads, with their defaults (shown by --help). */
export const ENV_VARIABLES: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'VM_RAM', default: '512', meaning: 'guest memory in MiB' },
  { name: 'VM_NET', default: 'u', meaning: 'network spec used when no --net is given' },
  { name: 'VM_VIDEO', default: 'vga', meaning: 'display used when no --display is given' },
  { name: 'VM_HDDRIVER', default: 'virtio-scsi', meaning: 'disk controller: virtio-scsi or virtio-blk' },
  { name: 'VM_PREMAC', default: 'de:ad:be:ef', meaning: 'MAC prefix of the guest NICs' },
  { name: 'VM_ACCEL', default: 'auto: kvm when /dev/kvm is usable, else tcg', meaning: 'accelerator: kvm, tcg or kvm:tcg' },
  { name: 'VM_EFIFIRM', default: '/usr/share/ovmf/OVMF.fd', meaning: 'UEFI firmware for --uefi' },
  { name: 'VM_HELPER', default: '/usr/lib/qemu/qemu-bridge-helper', meaning: 'QEMU bridge helper' },
  { name: 'VM_VHOSTNET', default: '/dev/vhost-net', meaning: 'vhost-net device (VM_VHOSNET is read too)' },
  { name: 'VM_QEMU', default: 'qemu-system-x86_64', meaning: 'QEMU binary' },
  { name: 'QEMU_SCRIPT_RUNTIME_DIR', default: '/run/qemu-script (root), $XDG_RUNTIME_DIR/qemu-script', meaning: 'where guests keep their QMP socket, pidfile and state' },
];

const DISK_CONTROLLERS: readonly DiskController[] = ['virtio-scsi', 'virtio-blk'];

export function envDefault(env: Env, name: string): string {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  return ENV_VARIABLES.find((variable) => variable.name === name)!.default;
}

export function readSettings(env: Env): Settings {
  const ram = envDefault(env, 'VM_RAM');
  if (!/^[1-9]\d*$/.test(ram)) throw new UsageError(`VM_RAM: "${ram}" is not a number of MiB (e.g. VM_RAM=2048)`);
  const controller = envDefault(env, 'VM_HDDRIVER');
  if (!DISK_CONTROLLERS.includes(controller as DiskController)) {
    throw new UsageError(`VM_HDDRIVER: "${controller}" is not a disk controller (accepted: ${DISK_CONTROLLERS.join(', ')})`);
  }
  // `vm` read the misspelt VM_VHOSNET; old setups still export it.
  const vhost = env.VM_VHOSTNET || env.VM_VHOSNET || envDefault(env, 'VM_VHOSTNET');
  return {
    qemuBinary: envDefault(env, 'VM_QEMU'),
    ramMiB: Number(ram),
    macPrefix: parseMacPrefix(envDefault(env, 'VM_PREMAC')),
    efiFirmware: envDefault(env, 'VM_EFIFIRM'),
    bridgeHelper: envDefault(env, 'VM_HELPER'),
    vhostNetDevice: vhost,
    diskController: controller as DiskController,
  };
}
