import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { HostError } from './errors.ts';
import { isAlive, processId, type ProcessId } from './proc.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function lockAgeMs(lock: string): number {
  try {
    return Date.now() - statSync(lock).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Runs `fn` holding a lock: a directory, created atomically, naming its holder.
 * A lock whose holder died (kill -9) is taken over.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T> | T, timeoutMs = 30000): Promise<T> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
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
      if (Date.now() > deadline) throw new HostError(`lock ${lock} is held by pid ${holder?.pid ?? '?'}; if no qemu-script runs, remove it`);
      await sleep(10 + Math.random() * 20);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
