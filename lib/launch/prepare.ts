// What a guest needs from the user's side before QEMU starts, made as the user in the guest's own
// directory (removed with it): an overlay over its image, --cloud-init's seed (its files written and the ISO
// made of them), and its console log kept to size.
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { seedDir } from '../base/paths.ts';
import { run } from '../base/runner.ts';
import type { GuestRecord } from '../state/guests.ts';
import type { Command } from '../base/types.ts';
import { printOut } from '../base/output.ts';

/** --cloud-init's key pairs (the caller's, the guest's host key), made once in directories only the user reads. */
export async function makeKeyPairs(commands: Command[], options: { verbose: boolean; quiet: boolean }) {
  for (const command of commands) {
    const path = command.argv.at(-1)!;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Half a pair is of no use, and ssh-keygen would stop to ask before writing over it. A new host key
    // also makes the instance's known_hosts (beside it) stale.
    for (const stale of [path, `${path}.pub`, `${dirname(path)}/known_hosts`]) rmSync(stale, { force: true });
    await run(command.argv, {
      verbose: options.verbose,
      hint: 'ssh-keygen makes keys: sudo apt-get install openssh-client',
    });
    if (!options.quiet && command.note) printOut(`Made ${command.note}: ${path}\n`);
  }
}

/** One mebibyte: a console log over it is rotated (to .1) when the guest starts again. */
const LOG_ROTATE_BYTES = 1024 * 1024;

/** The console log kept to about a mebibyte: rotated at a start, the previous boots' in LOG.1. */
function rotateLog(log: string): void {
  try {
    if (statSync(log).size > LOG_ROTATE_BYTES) renameSync(log, `${log}.1`);
  } catch {
    // none yet
  }
}

export async function prepareGuest(record: GuestRecord): Promise<void> {
  for (const command of record.plan.prepare ?? []) {
    const hint = 'qemu-img makes overlays: sudo apt-get install qemu-utils';
    await run(command.argv, { verbose: record.verbose, hint });
  }
  if (record.plan.consoleLog) rotateLog(record.plan.consoleLog);
  const cloud = record.plan.cloudInit;
  if (!cloud) return;
  const dir = seedDir(record.plan.runDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, text] of Object.entries(cloud.files)) writeFileSync(`${dir}/${name}`, text, { mode: 0o600 });
  // Written once: after the user removed it to accept a key the guest made itself, it is ssh's to fill.
  if (cloud.knownHostsLine && !existsSync(cloud.knownHosts)) {
    writeFileSync(cloud.knownHosts, `${cloud.knownHostsLine}\n`, { mode: 0o600 });
  }
  for (const command of cloud.prepare) {
    await run(command.argv, { verbose: record.verbose, hint: 'xorriso makes the seed: sudo apt-get install xorriso' });
  }
}
