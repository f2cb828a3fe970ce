// The caller's own state directory, made safely, and the lock that serialises launches in it.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { HostError } from './errors.ts';
import { isAlive, processId, type ProcessId } from './proc.ts';
import { setTimeout as sleep } from 'node:timers/promises';

function lockAgeMs(lock: string): number {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return 0;
  }
}

/** mkdir -p of the parents, one level at a time: Node's recursive mkdir loops forever under /proc. */
function makeDirs(dir: string): void {
  if (existsSync(dir)) return;
  makeDirs(dirname(dir));
  mkdirSync(dir, { mode: 0o755 });
}

/**
 * The tool's state directory must be the caller's alone: a directory (or a symlink) another user made in /tmp
 * beforehand could feed it records and sockets, or take the guests' files. Its last component is made 0700 and
 * never followed: lstat sees a symlink as one, and anything but the caller's own directory is refused.
 */
export function ensureOwnDir(dir: string): void {
  try {
    makeDirs(dirname(dir));
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      throw new HostError(
        `cannot create the runtime directory ${dir} (${code === 'EACCES' ? 'permission denied' : code}); ` +
          'set QEMU_SCRIPT_RUNTIME_DIR to a directory of yours',
        { cause: error },
      );
    }
  }
  const stats = lstatSync(dir);
  const problem = stats.isSymbolicLink()
    ? 'is a symbolic link'
    : !stats.isDirectory()
      ? 'is not a directory'
      : stats.uid !== (process.getuid?.() ?? 0) || (stats.mode & 0o022) !== 0
        ? `is not yours alone (owner uid ${stats.uid}, mode ${(stats.mode & 0o777).toString(8)})`
        : undefined;
  if (problem) throw new HostError(`${dir} ${problem}; remove it, or set QEMU_SCRIPT_RUNTIME_DIR`);
}

/**
 * Runs `fn` holding a lock: a directory, created atomically, naming its holder.
 * A lock whose holder died (kill -9) is taken over.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T> | T, timeoutMs = 30000): Promise<T> {
  ensureOwnDir(dir);
  const lock = `${dir}/lock`;
  const me = processId(process.pid)!;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(`${lock}/holder`, JSON.stringify(me));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder: ProcessId | undefined;
      try {
        holder = JSON.parse(readFileSync(`${lock}/holder`, 'utf8')) as ProcessId;
      } catch {
        holder = undefined; // being written right now, or its writer died before writing
      }
      if (holder ? !isAlive(holder) : lockAgeMs(lock) > 2000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline)
        throw new HostError(`lock ${lock} is held by pid ${holder?.pid ?? '?'}; if no qemu-script runs, remove it`);
      await sleep(10 + Math.random() * 20);
    }
  }
  try {
    return await fn();
  } finally {
    // Our own lock holds its holder file alone: two unlinks, where a recursive rm is ~1 ms of Node's JS.
    try {
      unlinkSync(`${lock}/holder`);
      rmdirSync(lock);
    } catch {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
