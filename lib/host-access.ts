// Read-only views of the host for doctor and setup, rooted so tests can point
// them at a directory of their own.
import { probe } from './runner.ts';
import { accessSync, closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';

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

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
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

export async function currentUser(): Promise<{ uid: number; user: string; gids: number[] }> {
  const uid = process.getuid?.() ?? 0;
  const name = (await probe(['id', '-un'])).stdout.trim() || String(uid);
  const gids = (await probe(['id', '-G'])).stdout.trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid, user: name, gids };
}

/** The bridge.conf lines qemu-bridge-helper reads, following `include`. */
export function bridgeAcl(root: string, path = `${root}/etc/qemu/bridge.conf`, depth = 0): string[] | undefined {
  const text = readText(path);
  if (text === undefined || depth > 5) return undefined;
  return text.split('\n').map((line) => line.replace(/#.*/, '').trim()).filter(Boolean).flatMap((line) => {
    const include = /^include\s+(\S+)$/.exec(line);
    return include ? bridgeAcl(root, `${root}${include[1]}`, depth + 1) ?? [] : [line];
  });
}
