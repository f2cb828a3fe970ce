// Read-only views of the host for doctor and setup, rooted so tests can point
// them at a directory of their own.
import { accessSync, closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { probe } from '../base/runner.ts';
import { findSystemTool } from '../base/system-tools.ts';
import { BRIDGE_CONF } from '../base/paths.ts';
import { UsageError } from '../base/errors.ts';

export interface HostView {
  /** Prefix for /etc, /usr (setup --root, tests); '' is the real host. */
  root: string;
  procSys: string;
  sys: string;
  uid: number;
  user: string;
  /** The user's group ids (primary and supplementary). */
  gids: number[];
}

const CHUNK = 1 << 16;

/**
 * A file's text, or undefined. Read in as few read(2) calls as possible: a short
 * read is the end, and each read of a /proc table makes the kernel generate it anew.
 */
let scratch: Buffer | undefined;

export function readText(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    // One buffer for every small file: a probe reads dozens, and a fresh 64 KiB each is garbage.
    scratch ??= Buffer.allocUnsafe(CHUNK);
    const first = readSync(fd, scratch, 0, CHUNK, null);
    if (first < CHUNK) return scratch.toString('utf8', 0, first);
    const chunks: Buffer[] = [Buffer.from(scratch)];
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const length = readSync(fd, chunk, 0, CHUNK, null);
      chunks.push(chunk.subarray(0, length));
      if (length < CHUNK) break;
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * A file the user names (--user-data, --ssh-key): a regular file of at most LIMIT bytes, read whole. Opened with
 * O_NONBLOCK so that a FIFO cannot hang the tool before fstat says what it is; `said` is the option the user typed.
 */
export function readUserFile(path: string, said: string, limit: number): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new UsageError(`${said}: ${path} cannot be read (${(error as NodeJS.ErrnoException).code})`, {
      cause: error,
    });
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new UsageError(`${said}: ${path} is not a regular file`);
    if (stats.size > limit)
      throw new UsageError(`${said}: ${path} is ${stats.size} bytes; at most ${limit} are accepted`);
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length <= limit; length += read) {
      read = readSync(fd, buffer, length, limit + 1 - length, null);
    }
    if (length > limit) throw new UsageError(`${said}: ${path} grew past ${limit} bytes while read`);
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

export function canOpenReadWrite(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

export function canRead(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A group from ROOT/etc/group: its gid and members. */
export function findGroup(root: string, name: string): { gid: number; members: string[] } | undefined {
  const line = (readText(`${root}/etc/group`) ?? '').split('\n').find((entry) => entry.split(':')[0] === name);
  if (!line) return undefined;
  const [, , gid, members] = line.split(':');
  return { gid: Number(gid), members: (members ?? '').split(',').filter(Boolean) };
}

/** Who runs the tool, from the process itself: no `id`, whatever the caller's PATH. */
export function currentUser(): { uid: number; user: string; gids: number[] } {
  const uid = process.getuid?.() ?? 0;
  let user = String(uid);
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: the uid is all there is
  }
  const gids = [...new Set([process.getgid?.() ?? 0, ...(process.getgroups?.() ?? [])])];
  return { uid, user, gids };
}

/**
 * A file's capabilities as getcap prints them ("" when none), from getcap found
 * in the system's directories: a normal user's PATH lacks /usr/sbin, and a
 * missing getcap must not read as "no capability".
 */
export async function fileCapabilities(path: string): Promise<string | undefined> {
  const getcap = findSystemTool('getcap');
  if (!getcap) return undefined;
  const result = await probe([getcap, path]);
  return result.ok ? result.stdout.replace(/^\S+\s*/, '').trim() : undefined;
}

/** The bridge.conf lines qemu-bridge-helper reads, following `include`. */
export function bridgeAcl(root: string, path = `${root}${BRIDGE_CONF}`, depth = 0): string[] | undefined {
  const text = readText(path);
  if (text === undefined || depth > 5) return undefined;
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean)
    .flatMap((line) => {
      const include = /^include\s+(\S+)$/.exec(line);
      return include ? (bridgeAcl(root, `${root}${include[1]}`, depth + 1) ?? []) : [line];
    });
}

/** Whether qemu-bridge-helper would let a guest join BRIDGE: a deny wins, then an allow, else no. */
export function aclAllows(acl: string[] | undefined, bridge: string): boolean {
  const rules = (acl ?? []).map((line) => line.split(/\s+/));
  if (rules.some(([verb, name]) => verb === 'deny' && (name === bridge || name === 'all'))) return false;
  return rules.some(([verb, name]) => verb === 'allow' && (name === bridge || name === 'all'));
}

/**
 * Whether PATH (which need not exist yet) lies on a mount where nothing may run (noexec), from the text of
 * /proc/self/mountinfo: the innermost mount that holds it, and the last one mounted there.
 */
export function onNoexecMount(mountinfo: string, path: string): boolean {
  let found: { point: string; options: string[] } | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 6) continue;
    // The kernel writes a space, tab, newline or backslash in a mount point as \ and three octal digits.
    const point = fields[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const holds = path === point || path.startsWith(point === '/' ? '/' : `${point}/`);
    if (holds && (!found || point.length >= found.point.length)) found = { point, options: fields[5].split(',') };
  }
  return found?.options.includes('noexec') ?? false;
}
