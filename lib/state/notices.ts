// Remarks about the host rather than about a command line (no vhost-net, KVM that does not run guests):
// said once per boot, not at every launch. Which ones were said is kept in the user's runtime directory.
import { readFileSync, writeFileSync } from 'node:fs';
import { readBootId } from '../base/proc.ts';

interface Said {
  boot: string;
  notices: string[];
}

/** The notices not said yet this boot; they count as said from now on. */
export function unsaidThisBoot(runtimeDir: string, notices: string[]): string[] {
  if (notices.length === 0) return [];
  const path = `${runtimeDir}/notices.json`;
  const boot = readBootId();
  let said: Said = { boot, notices: [] };
  try {
    const kept = JSON.parse(readFileSync(path, 'utf8')) as Said;
    if (kept.boot === boot && Array.isArray(kept.notices)) said = kept;
  } catch {
    // none said yet
  }
  const fresh = notices.filter((notice) => !said.notices.includes(notice));
  if (fresh.length > 0) {
    try {
      writeFileSync(path, `${JSON.stringify({ boot, notices: [...said.notices, ...fresh] })}\n`, { mode: 0o600 });
    } catch {
      // said again next time
    }
  }
  return fresh;
}
