// Network namespaces: which exist, their names under /run/netns, a process in each.
import { existsSync, readdirSync, readlinkSync, statSync } from 'node:fs';

const NETNS_DIR = '/run/netns';

const idOf = (inode: number | string) => `net:[${inode}]`;

/** Each process's network namespace, by pid. */
function processNamespaces(): Map<number, string> {
  const found = new Map<number, string>();
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      found.set(Number(pid), readlinkSync(`/proc/${pid}/ns/net`));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** The namespaces named under /run/netns (`ip netns add`), by their identity. */
export function namedNetns(): Map<string, string> {
  const names = new Map<string, string>();
  if (!existsSync(NETNS_DIR)) return names;
  for (const name of readdirSync(NETNS_DIR)) {
    try {
      names.set(idOf(statSync(`${NETNS_DIR}/${name}`).ino), name);
    } catch {
      // raced with ip netns del
    }
  }
  return names;
}

/**
 * The network namespaces that still exist: those of running processes and the
 * named ones under /run/netns. Records of any other namespace are stale: its
 * interfaces went with it.
 */
export function existingNetns(): Set<string> {
  return new Set([...processNamespaces().values(), ...namedNetns().keys()]);
}

/** A process living in the namespace, to enter it by (nsenter -t PID -n). */
export function processIn(netns: string): number | undefined {
  for (const [pid, id] of processNamespaces()) if (id === netns) return pid;
  return undefined;
}
