// Instances: named guests that outlive their QEMU process. Each is a directory of its own holding its qcow2
// overlay over an image, its console log, and instance.yaml: the launch options the user gave `create` (not
// the planned QEMU line) and the identity fixed there (MACs, cloud-init instance ID), which `start` reads.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { UsageError } from '../base/errors.ts';
import { GUEST_NAME } from '../base/names.ts';
import { instanceDir, instanceFile } from '../base/paths.ts';
import { run } from '../base/runner.ts';
import type { ImageRef } from './images.ts';

export interface Instance {
  name: string;
  /** The image as `create` named it (a cached image's name, or a file), and the file the overlay is over. */
  image: string;
  image_path: string;
  image_format: 'qcow2' | 'raw';
  /** --disk-size, when given. */
  disk_size?: string;
  /** The launch options as given, one word each: what `start` launches with (its own words added for one boot). */
  options: string[];
  identity: {
    /** One per NIC, in order. */
    macs: string[];
    /** cloud-init's instance-id: the same one at every start, so it provisions the guest once. */
    instance_id: string;
  };
  /** ISO 8601. */
  created: string;
  /** The lab it belongs to (lab up made it), when it does. */
  lab?: string;
  /** The instance it was cloned from: its first boot gives it a machine ID of its own. */
  cloned_from?: string;
}

const HEADER = `# A qemu-script instance: what \`qemu-script create\` was given, read by \`qemu-script start\`.
# options: the launch options, one word each (start's own words apply to that boot only).
# identity: fixed at create, so the guest keeps its NICs, DHCP addresses and cloud-init instance:
#   change a MAC here and the guest sees a new NIC. image_path: the read-only file the overlay
#   (disk.qcow2 beside this file) is over; qemu-script image rm refuses it while this instance exists.
`;

export const instanceExists = (dir: string, name: string) =>
  GUEST_NAME.test(name) && existsSync(instanceFile(dir, name, 'options'));

export function listInstances(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => instanceExists(dir, name))
      .sort();
  } catch {
    return [];
  }
}

/** The instance's file, checked field by field: an edit that breaks it is said, with the file. */
export async function readInstance(dir: string, name: string, said: string): Promise<Instance> {
  if (!GUEST_NAME.test(name) || !instanceExists(dir, name))
    throw new UsageError(`${said}: no instance named "${name}" (qemu-script ls)`);
  const path = instanceFile(dir, name, 'options');
  const { parse } = await import('yaml');
  let raw: Partial<Instance>;
  try {
    raw = parse(readFileSync(path, 'utf8')) as Partial<Instance>;
  } catch (error) {
    throw new UsageError(`${said}: ${path} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const words = (value: unknown) => Array.isArray(value) && value.every((word) => typeof word === 'string');
  const problems = [
    typeof raw?.image_path !== 'string' && 'image_path',
    raw?.image_format !== 'qcow2' && raw?.image_format !== 'raw' && 'image_format',
    !words(raw?.options) && 'options (a list of words)',
    !words(raw?.identity?.macs) && 'identity.macs',
    typeof raw?.identity?.instance_id !== 'string' && 'identity.instance_id',
  ].filter(Boolean);
  if (problems.length > 0) throw new UsageError(`${said}: ${path} lacks or mistypes ${problems.join(', ')}`);
  return { ...(raw as Instance), name };
}

async function writeInstance(dir: string, instance: Instance): Promise<void> {
  const { stringify } = await import('yaml');
  const path = instanceFile(dir, instance.name, 'options');
  writeFileSync(`${path}.new`, HEADER + stringify(instance, { lineWidth: 0 }), { mode: 0o600 });
  renameSync(`${path}.new`, path);
}

export interface NewInstance {
  name: string;
  image: ImageRef & { ref: string };
  size?: string;
  options: string[];
  identity: Instance['identity'];
  lab?: string;
}

/**
 * The instance's directory (the caller's alone), its overlay over the image, and its file, in that order; a
 * failure removes the directory again.
 */
export async function createInstance(dir: string, spec: NewInstance, verbose: boolean): Promise<Instance> {
  if (instanceExists(dir, spec.name)) throw new UsageError(`create: an instance named ${spec.name} exists`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const home = instanceDir(dir, spec.name);
  try {
    mkdirSync(home, { mode: 0o700 });
  } catch {
    throw new UsageError(`create: ${home} exists; remove it, or choose another name`);
  }
  const instance: Instance = {
    name: spec.name,
    image: spec.image.ref,
    image_path: spec.image.path,
    image_format: spec.image.format,
    ...(spec.size ? { disk_size: spec.size } : {}),
    options: spec.options,
    identity: spec.identity,
    created: new Date().toISOString(),
    ...(spec.lab ? { lab: spec.lab } : {}),
  };
  try {
    const disk = instanceFile(dir, spec.name, 'disk');
    const argv = ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', spec.image.format, '-b', spec.image.path, disk];
    await run([...argv, ...(spec.size ? [spec.size] : [])], {
      verbose,
      hint: 'qemu-img makes overlays: sudo apt-get install qemu-utils',
    });
    await writeInstance(dir, instance);
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  return instance;
}

/** The instance's file, changed by CHANGE and written whole. */
export async function updateInstance(dir: string, name: string, change: (instance: Instance) => Instance) {
  await writeInstance(dir, change(await readInstance(dir, name, 'update')));
}

export function removeInstance(dir: string, name: string): void {
  rmSync(instanceDir(dir, name), { recursive: true, force: true });
}
