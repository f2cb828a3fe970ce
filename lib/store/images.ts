// The image cache: verified files that guests only ever read. Each is NAME.img (mode 0444; QEMU opens it only
// as the backing file of an overlay) with NAME.json beside it (format, size, checksum, source, date). A file
// enters the cache whole and checked, by one rename, or not at all.
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, resolve } from 'node:path';
import { HostError, UsageError } from '../base/errors.ts';
import { IMAGE_NAME, IMAGE_NAME_RULE } from '../base/names.ts';
import { imageFile, imageMeta, imagePartial } from '../base/paths.ts';
import { isAlive, processId } from '../base/proc.ts';
import { detectDiskFormat, FORMAT_PROBE_BYTES } from '../probe/disk-format.ts';
import { IMAGE_ALIASES } from './aliases.ts';
import { digestOf, parseSha256, sumFor, type Expected } from './checksums.ts';
import { download, fetchText } from './download.ts';

export interface ImageMeta {
  name: string;
  format: 'qcow2' | 'raw';
  /** Bytes. */
  size: number;
  sha256: string;
  /** The address it was pulled from, or the file it was added from. */
  source: string;
  /** What it was checked against: "--sha256", a sums file's address, "added" (a local file), or "not verified". */
  verified: string;
  /** ISO 8601. */
  added: string;
}

/** An image as a launch uses it: the file an overlay goes over, and its format. */
export interface ImageRef {
  name: string;
  path: string;
  format: 'qcow2' | 'raw';
}

const aliasList = () => Object.keys(IMAGE_ALIASES).join(', ');

function readImage(dir: string, name: string): ImageMeta | undefined {
  try {
    return JSON.parse(readFileSync(imageMeta(dir, name), 'utf8')) as ImageMeta;
  } catch {
    return undefined;
  }
}

export function listImages(dir: string): ImageMeta[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((file) => file.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((file) => readImage(dir, file.slice(0, -'.json'.length)) ?? []);
}

/** What a file holds, by content: qcow2 (without a backing file of its own) or raw; anything else is refused. */
function imageFormat(path: string, said: string): 'qcow2' | 'raw' {
  const head = Buffer.alloc(FORMAT_PROBE_BYTES);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let length: number;
  try {
    if (!statSync(path).isFile()) throw new UsageError(`${said}: ${path} is not a regular file`);
    length = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const { format, detail } = detectDiskFormat(head.subarray(0, length));
  // An image that names a backing file would have QEMU open that file (any path) beside it.
  if (format === 'qcow2' && head.readBigUInt64BE(8) !== 0n)
    throw new UsageError(`${said}: ${path} is a qcow2 overlay with a backing file of its own; give a whole image`);
  if (format === 'qcow2' || (format === 'raw' && detail !== 'empty')) return format;
  const what =
    format === 'iso' ? 'an ISO' : detail === 'empty' ? 'empty' : detail ? `a ${detail} image` : 'no disk image';
  throw new UsageError(`${said}: ${path} is ${what}; give a qcow2 or raw disk image`);
}

/**
 * IMAGE as a launch or `create` names it: an image of the cache, else a file (a path with a /), which the overlay
 * goes over read-only as it is.
 */
export function resolveImage(dir: string, ref: string, said = '--image'): ImageRef {
  const meta = IMAGE_NAME.test(ref) ? readImage(dir, ref) : undefined;
  if (meta) return { name: meta.name, path: imageFile(dir, meta.name), format: meta.format };
  if (ref.includes('/')) {
    const path = resolve(ref);
    try {
      statSync(path);
    } catch {
      throw new UsageError(`${said}: ${ref} does not exist`);
    }
    const name = basename(path).replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-') || 'image';
    return { name, path, format: imageFormat(path, said) };
  }
  const cached = listImages(dir).map((image) => image.name);
  const pull = ref in IMAGE_ALIASES ? `; fetch it with: qemu-script image pull ${ref}` : '';
  throw new UsageError(
    `${said}: no image ${ref} in the cache${pull} (cached: ${cached.join(', ') || 'none'}; aliases: ${aliasList()})`,
  );
}

function checkedName(name: string, said: string): string {
  if (!IMAGE_NAME.test(name)) throw new UsageError(`${said}: "${name}" is not an image name (${IMAGE_NAME_RULE})`);
  return name;
}

/** The file's record written whole, then the file made read-only and moved into place: both, or neither. */
async function keep(
  dir: string,
  partial: string,
  meta: Omit<ImageMeta, 'format' | 'size' | 'sha256'>,
  sha256?: string,
) {
  const format = imageFormat(partial, 'image');
  const full: ImageMeta = {
    ...meta,
    format,
    size: statSync(partial).size,
    sha256: sha256 ?? (await digestOf(partial, 'sha256')),
  };
  chmodSync(partial, 0o444);
  const temporary = `${imageMeta(dir, meta.name)}.${process.pid}`;
  writeFileSync(temporary, `${JSON.stringify(full, null, 1)}\n`, { mode: 0o644 });
  renameSync(partial, imageFile(dir, meta.name));
  renameSync(temporary, imageMeta(dir, meta.name));
  return full;
}

/** One pull or add of a name at a time: a directory naming its holder, taken over when that one is gone. */
function claim(dir: string, name: string): () => void {
  const lock = `${dir}/.${name}.lock`;
  const me = processId(process.pid)!;
  try {
    mkdirSync(lock);
  } catch {
    let holder;
    try {
      holder = JSON.parse(readFileSync(`${lock}/holder`, 'utf8'));
    } catch {
      holder = undefined;
    }
    if (holder && isAlive(holder))
      throw new UsageError(`image ${name}: another qemu-script (pid ${holder.pid}) is fetching it now`);
  }
  writeFileSync(`${lock}/holder`, JSON.stringify(me));
  return () => rmSync(lock, { recursive: true, force: true });
}

export interface PullRequest {
  /** An alias (debian-12) or an http(s) address. */
  source: string;
  sha256?: string;
  sums?: string;
  name?: string;
  insecure: boolean;
}

/** What a pull will fetch and check against, every word checked before anything is fetched. */
function pullPlan(dir: string, request: PullRequest) {
  const alias = IMAGE_ALIASES[request.source];
  if (!alias && !/^https?:\/\/[^\s/]+\/\S+$/.test(request.source)) {
    throw new UsageError(
      `image pull: "${request.source}" is neither an alias (${aliasList()}) nor an http(s) address of an image`,
    );
  }
  const url = alias?.url ?? request.source;
  const file = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  const name = checkedName(
    request.name ?? (alias ? request.source : file.replace(/\.(qcow2|img|raw)$/, '').toLowerCase()),
    'image pull --name',
  );
  if (request.sha256 !== undefined && parseSha256(request.sha256) === undefined)
    throw new UsageError(`image pull --sha256: "${request.sha256}" is not 64 hexadecimal digits`);
  if (request.sha256 !== undefined && request.sums !== undefined)
    throw new UsageError('image pull: --sha256 and --sums exclude each other');
  if (request.sums !== undefined && !/^https?:\/\/\S+$/.test(request.sums))
    throw new UsageError(`image pull --sums: "${request.sums}" is not an http(s) address`);
  const sums = request.sums ?? (request.sha256 === undefined ? alias?.sums : undefined);
  if (request.sha256 === undefined && sums === undefined && !request.insecure) {
    throw new UsageError(
      `image pull: nothing to check ${file} against: give --sha256 HEX or --sums URL (--insecure keeps it unchecked)`,
    );
  }
  if (readImage(dir, name)) throw new UsageError(`image pull: an image ${name} is cached already (image rm ${name})`);
  return { url, file, name, sums };
}

/**
 * image pull: the file fetched into the cache's partial (resumed when one is there), its checksum compared with
 * the one given or the distribution's, and only then kept. A mismatch removes the partial: it is exit 2.
 */
export async function pullImage(dir: string, request: PullRequest): Promise<{ meta: ImageMeta; said: string }> {
  const { url, file, name, sums } = pullPlan(dir, request);
  let expected: Expected | undefined;
  if (request.sha256 !== undefined) {
    expected = { algorithm: 'sha256', hex: parseSha256(request.sha256)!, from: '--sha256' };
  } else if (sums !== undefined) {
    const entry = sumFor(await fetchText(sums, 'image pull --sums'), file);
    if (!entry) throw new UsageError(`image pull: ${sums} lists no checksum for ${file}`);
    expected = { ...entry, from: sums };
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const release = claim(dir, name);
  try {
    const partial = imagePartial(dir, name);
    await download(url, partial, `image ${name}`);
    const actual = expected && (await digestOf(partial, expected.algorithm));
    if (expected && actual !== expected.hex) {
      rmSync(partial, { force: true });
      throw new UsageError(
        `image pull: ${file} does not match its ${expected.algorithm} from ${expected.from} (got ${actual}); ` +
          'the download was removed',
      );
    }
    const meta = await keep(
      dir,
      partial,
      {
        name,
        source: url,
        verified: expected ? `${expected.algorithm} from ${expected.from}` : 'not verified (--insecure)',
        added: new Date().toISOString(),
      },
      expected?.algorithm === 'sha256' ? actual : undefined,
    );
    return { meta, said: expected ? `${expected.algorithm} checked against ${expected.from}` : 'NOT verified' };
  } catch (error) {
    // A partial that fails as an image (no qcow2 nor raw) is of no use to a resume either.
    if (error instanceof UsageError) rmSync(imagePartial(dir, name), { force: true });
    throw error;
  } finally {
    release();
  }
}

/** image add FILE: a local file copied into the cache (a reflink where the file system has them), checksummed. */
export async function addImage(dir: string, path: string, name?: string): Promise<ImageMeta> {
  const source = resolve(path);
  try {
    statSync(source);
  } catch {
    throw new UsageError(`image add: ${path} does not exist`);
  }
  imageFormat(source, 'image add');
  const chosen = checkedName(
    name ?? basename(source).replace(/\.(qcow2|img|raw)$/, '').toLowerCase(),
    'image add --name',
  );
  if (readImage(dir, chosen))
    throw new UsageError(`image add: an image ${chosen} is cached already (image rm ${chosen})`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const release = claim(dir, chosen);
  const partial = imagePartial(dir, chosen);
  try {
    copyFileSync(source, partial, constants.COPYFILE_FICLONE);
    return await keep(dir, partial, { name: chosen, source, verified: 'added', added: new Date().toISOString() });
  } catch (error) {
    rmSync(partial, { force: true });
    if (error instanceof UsageError) throw error;
    throw new HostError(`image add: cannot copy ${path} into ${dir}: ${(error as Error).message}`, { cause: error });
  } finally {
    release();
  }
}

/** image rm NAME: refused while an instance or a running guest is over it (USERS names them). */
export function removeImage(dir: string, name: string, users: string[]): void {
  checkedName(name, 'image rm');
  if (!readImage(dir, name)) throw new UsageError(`image rm: no image ${name} in the cache (qemu-script image ls)`);
  if (users.length > 0)
    throw new UsageError(`image rm: ${name} is in use by ${users.join(', ')}; stop or remove those first`);
  rmSync(imageMeta(dir, name), { force: true });
  rmSync(imageFile(dir, name), { force: true });
}
