// qemu-script image pull, add, ls and rm: the cache of verified images that guests run over.
import { jsonOutput } from '../base/json.ts';
import { renderTable } from '../base/table.ts';
import type { ToolContext } from '../base/context.ts';
import type { Subcommand } from '../cli/command.ts';
import { listRecords } from '../state/guests.ts';
import { IMAGE_ALIASES } from '../store/aliases.ts';
import { addImage, listImages, pullImage, removeImage } from '../store/images.ts';
import { listInstances, readInstance } from '../store/instances.ts';
import { imageFile } from '../base/paths.ts';
import { JSON_FLAG, print, text } from './words.ts';

const MiB = 1024 * 1024;

/** Who is over an image now: instances (running or not) and running guests launched with --image. */
async function usersOf(context: ToolContext, path: string): Promise<string[]> {
  const instances = await Promise.all(
    listInstances(context.instancesDir).map((name) => readInstance(context.instancesDir, name, 'image')),
  );
  const guests = listRecords(context.runtimeDir).filter((record) => record.plan.resources.images?.includes(path));
  const isInstance = (name: string) => instances.some((instance) => instance.name === name);
  return [
    ...instances.filter((instance) => instance.image_path === path).map((instance) => `instance ${instance.name}`),
    ...guests.filter((record) => !isInstance(record.name)).map((record) => `guest ${record.name}`),
  ];
}

async function imageLs(context: ToolContext, json: boolean): Promise<string> {
  const images = await Promise.all(
    listImages(context.imagesDir).map(async (image) => ({
      ...image,
      used_by: await usersOf(context, imageFile(context.imagesDir, image.name)),
    })),
  );
  if (json) return jsonOutput({ version: 1, images });
  if (images.length === 0) return `no images (qemu-script image pull ${Object.keys(IMAGE_ALIASES)[0]})\n`;
  return renderTable(
    ['NAME', 'FORMAT', 'SIZE', 'SHA256', 'ADDED', 'USED BY', 'SOURCE'],
    images.map((image) => [
      image.name,
      image.format,
      `${(image.size / MiB).toFixed(0)} MiB`,
      image.sha256.slice(0, 12),
      image.added.slice(0, 10),
      image.used_by.join(' ') || '-',
      image.source,
    ]),
  );
}

export const IMAGE_COMMANDS: readonly Subcommand[] = [
  {
    name: 'image pull',
    args: 'ALIAS|URL',
    summary:
      `download an image into the cache, checked against its checksum before it is kept; aliases: ` +
      Object.keys(IMAGE_ALIASES).join(', '),
    flags: [
      { name: 'sha256', value: 'HEX', help: 'the SHA-256 the file must have' },
      { name: 'sums', value: 'URL', help: 'a SHA256SUMS or SHA512SUMS file listing it (an alias has its own)' },
      { name: 'name', value: 'NAME', help: "the image's name in the cache (default: the alias, or the file's)" },
      { name: 'insecure', help: 'keep it with no checksum to check (said, and recorded)' },
    ],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => {
      const { meta, said } = await pullImage(context.imagesDir, {
        source: args[0],
        sha256: text(flags.sha256),
        sums: text(flags.sums),
        name: text(flags.name),
        insecure: Boolean(flags.insecure),
      });
      return print(`Image ${meta.name}: ${meta.format}, ${(meta.size / MiB).toFixed(1)} MiB, ${said}\n`);
    },
  },
  {
    name: 'image add',
    args: 'FILE',
    summary: 'copy a local qcow2 or raw disk image into the cache (read-only there)',
    flags: [{ name: 'name', value: 'NAME', help: "the image's name (default: the file's, without its extension)" }],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => {
      const meta = await addImage(context.imagesDir, args[0], text(flags.name));
      return print(`Image ${meta.name}: ${meta.format}, ${(meta.size / MiB).toFixed(1)} MiB, sha256 ${meta.sha256}\n`);
    },
  },
  {
    name: 'image ls',
    args: '',
    summary: 'the cached images: name, format, size, checksum, date, what uses them, source',
    flags: [JSON_FLAG],
    positionals: [0, 0],
    run: async ({ flags }, context) => print(await imageLs(context, Boolean(flags.json))),
  },
  {
    name: 'image rm',
    args: 'NAME',
    summary: 'remove an image from the cache; refused while an instance or a guest is over it',
    flags: [],
    positionals: [1, 1],
    run: async ({ args }, context) => {
      removeImage(context.imagesDir, args[0], await usersOf(context, imageFile(context.imagesDir, args[0])));
      return print(`Removed image ${args[0]}\n`);
    },
  },
];
