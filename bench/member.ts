// A normal user's launch against root's, side by side: invocation → the guest's TAP on vmnet0 with carrier, and
// `down` of that guest. The member is a user of the bench's own, set up by `setup --user` in the bench's private
// copy of /etc (make bench runs in test/isolate.sh), with the executable in a root-owned directory as sudoers
// wants it; every one of a member's host changes goes through sudo and the privileged helper.
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { SINGLE_EXECUTABLE, USER_ENV } from '../test/helpers.ts';
import { Netns } from '../test/netns.ts';
import { IDLE_GUEST, isQemu, median, met, ms, now, processesIn, table } from './common.ts';
import { tapUpAfter } from './tap.ts';

const RUNS = Number(process.env.BENCH_TAP_RUNS ?? 7);
const USER = 'qsbench';

interface Sample {
  tap: number;
  down: number;
}

/** One launch of the idle guest on vmnet0 and its down, as root or as the member, in a namespace of its own. */
async function once(binary: string, member: boolean): Promise<Sample> {
  const ns = await Netns.create();
  const run = mkdtempSync('/tmp/qs-bench-member-');
  chmodSync(run, 0o755);
  const env = { QEMU_SCRIPT_RUNTIME_DIR: `${run}/rt` };
  // The member: a login's environment of its own (no root's PATH), the runtime directory said in it.
  const userEnv = Object.entries({ ...USER_ENV(USER, '/nonexistent'), ...env }).map(([key, val]) => `${key}=${val}`);
  const as = (words: string[]) => (member ? ['runuser', '-u', USER, '--', 'env', '-i', ...userEnv, ...words] : words);
  try {
    if (member) await execa('chown', [USER, run]);
    const tap = await tapUpAfter(ns, async () => {
      const argv = as([binary, ...IDLE_GUEST, '--name', 'bench', '--net', 'vmnet0']);
      const result = await execa('ip', ['netns', 'exec', ns.name, ...argv], { reject: false, env });
      if (result.exitCode !== 0) throw new Error(`qemu-script: ${result.stderr}`);
    });
    const began = now();
    const down = await execa('ip', ['netns', 'exec', ns.name, ...as([binary, 'down', '--force', 'bench'])], {
      reject: false,
      env,
    });
    if (down.exitCode !== 0) throw new Error(`qemu-script down: ${down.stderr}`);
    return { tap, down: now() - began };
  } finally {
    for (const p of processesIn(ns).filter(isQemu)) process.kill(p.pid, 'SIGKILL');
    await ns.destroy();
    rmSync(run, { recursive: true, force: true });
  }
}

export async function memberTable(): Promise<string[]> {
  const safe = mkdtempSync('/run/qs-bench-bin-');
  chmodSync(safe, 0o755);
  const binary = `${safe}/qemu-script`;
  copyFileSync(SINGLE_EXECUTABLE, binary);
  chmodSync(binary, 0o755);
  await execa('useradd', ['-M', '-s', '/bin/sh', USER]);
  try {
    await execa(binary, ['setup', '--user', USER, '--binary', binary]);
    const root: Sample[] = [];
    const member: Sample[] = [];
    // Interleaved: the machine's state drifts; both see the same drift.
    for (let i = 0; i < RUNS; i++) {
      root.push(await once(binary, false));
      member.push(await once(binary, true));
    }
    const tap = { root: median(root.map((s) => s.tap)), member: median(member.map((s) => s.tap)) };
    const down = { root: median(root.map((s) => s.down)), member: median(member.map((s) => s.down)) };
    return [
      `### A member's launch and down against root's (median of ${RUNS}, interleaved; vmnet0, an idle guest)`,
      '',
      ...table(
        ['measure', 'root', 'member', 'member − root', 'target', 'met'],
        [
          [
            'invocation → TAP on vmnet0 with carrier',
            ...[ms(tap.root), ms(tap.member), ms(tap.member - tap.root)],
            ...['≤ +60 ms', met(tap.member - tap.root <= 60)],
          ],
          [
            '`down --force`',
            ...[ms(down.root), ms(down.member), ms(down.member - down.root)],
            ...['≤ +60 ms', met(down.member - down.root <= 60)],
          ],
        ],
      ),
    ];
  } finally {
    await execa(binary, ['setup', '--undo', '--binary', binary], { reject: false });
    await execa('userdel', [USER], { reject: false });
    rmSync(safe, { recursive: true, force: true });
  }
}
