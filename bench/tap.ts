// Invocation → the guest's TAP on bridge vmnet0 with carrier (QEMU has opened it): the tool, the same
// host commands and QEMU line by hand, and the original script when VM_ORIGINAL names it.
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { BINARY } from '../test/helpers.ts';
import { Netns } from '../test/netns.ts';
import { IDLE_GUEST, isQemu, median, met, ms, now, processesIn, table } from './common.ts';

const RUNS = Number(process.env.BENCH_TAP_RUNS ?? 7);
/** The original script, or a stand-in doing what it does for this line (a shell, `ip`, the bridge helper). */
const ORIGINAL = process.env.VM_ORIGINAL || new URL('./vm-standin.sh', import.meta.url).pathname;
const ORIGINAL_LABEL = process.env.VM_ORIGINAL
  ? 'original script (`VM_ORIGINAL`)'
  : 'stand-in for it (`bench/vm-standin.sh`)';

/** Resolves with the time a TAP enslaved to vmnet0 reports LOWER_UP, counted from `start`. */
export async function tapUpAfter(ns: Netns, start: () => Promise<unknown>): Promise<number> {
  const monitor = execa('ip', ['-n', ns.name, '-o', 'monitor', 'link'], { reject: false, buffer: false });
  let onLine: (line: string) => void = () => undefined;
  let pending = '';
  monitor.stdout!.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  try {
    // An event we cause ourselves proves the monitor listens before the clock starts; the monitor
    // subscribes a moment after it starts, so the change is repeated until one is seen.
    let heard = false;
    onLine = (line) => {
      if (/: lo: /.test(line)) heard = true;
    };
    for (let mtu = 65535; !heard; mtu--) {
      if (mtu < 65000) throw new Error('ip monitor reports no link event');
      await ns.ip('link', 'set', 'lo', 'mtu', String(mtu));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    let t0 = 0;
    const up = new Promise<number>((resolve) => {
      onLine = (line) => {
        if (/master vmnet0/.test(line) && /[<,]LOWER_UP[,>]/.test(line)) resolve(now() - t0);
      };
    });
    t0 = now();
    const started = start();
    const elapsed = await Promise.race([
      up,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no TAP came up on vmnet0 in 30 s')), 30000)),
    ]);
    await started;
    return elapsed;
  } finally {
    monitor.kill();
    await monitor;
  }
}

async function withNamespace<T>(body: (ns: Netns) => Promise<T>): Promise<T> {
  const ns = await Netns.create();
  try {
    return await body(ns);
  } finally {
    // Only the QEMUs this run started (the namespace is ours alone), by PID.
    for (const p of processesIn(ns).filter(isQemu)) process.kill(p.pid, 'SIGKILL');
    await ns.destroy();
  }
}

const viaTool = (binary: string) => () =>
  withNamespace(async (ns) => {
    const elapsed = await tapUpAfter(ns, async () => {
      const result = await execa(
        'ip',
        ['netns', 'exec', ns.name, binary, ...IDLE_GUEST, '--name', 'tapbench', '--net', 'vmnet0'],
        {
          reject: false,
          env: { QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir, QEMU_SCRIPT_CONFIG_DIR: ns.configDir },
        },
      );
      if (result.exitCode !== 0) throw new Error(`qemu-script: ${result.stderr}`);
    });
    await ns.tool(['down', '--force', 'tapbench']);
    return elapsed;
  });

/**
 * What the user would type: the plan's host commands in the namespace, then QEMU in it. With the host commands
 * run before the clock starts, QEMU alone: what any launcher pays after its own work is done.
 */
const byHand = (clocked: 'commands' | 'qemu') => () =>
  withNamespace(async (ns) => {
    const args = [...IDLE_GUEST, '--name', 'tapbench', '--net', 'vmnet0'];
    const plan = JSON.parse((await ns.tool(['--dry-run', '--json', ...args])).stdout) as {
      host: Array<{ argv: string[] }>;
      qemu: { argv: string[] };
    };
    const runDir = /unix:(.*)\/qmp\.sock/.exec(plan.qemu.argv.join(' '))![1];
    mkdirSync(runDir, { recursive: true });
    const hostCommands = async () => {
      for (const { argv } of plan.host) await execa('ip', ['-n', ns.name, ...argv.slice(1)]);
    };
    try {
      if (clocked === 'qemu') await hostCommands();
      return await tapUpAfter(ns, async () => {
        if (clocked === 'commands') await hostCommands();
        execa('ip', ['netns', 'exec', ns.name, ...plan.qemu.argv], { stdio: 'ignore', reject: false });
      });
    } finally {
      for (const p of processesIn(ns).filter(isQemu)) process.kill(p.pid, 'SIGKILL');
      rmSync(runDir, { recursive: true, force: true });
    }
  });

/** The original script lets qemu-bridge-helper attach the TAP: it needs `allow vmnet0` for the run. */
function allowVmnet0(): () => void {
  const path = '/etc/qemu/bridge.conf';
  let before: string | undefined;
  try {
    before = readFileSync(path, 'utf8');
  } catch {
    before = undefined;
  }
  const madeDir = !existsSync('/etc/qemu');
  mkdirSync('/etc/qemu', { recursive: true });
  writeFileSync(path, `${before ?? ''}allow vmnet0\n`);
  return () => {
    if (before !== undefined) writeFileSync(path, before);
    else rmSync(madeDir ? '/etc/qemu' : path, { recursive: true, force: true });
  };
}

const viaOriginal = (script: string) => () =>
  withNamespace((ns) =>
    tapUpAfter(ns, async () => {
      const result = await execa(
        'ip',
        ['netns', 'exec', ns.name, script, '-net', 'tap:0', '-display', 'none', '-m', '64', '-machine', 'accel=tcg'],
        { reject: false },
      );
      if (result.exitCode !== 0) throw new Error(`${script}: ${result.stderr}`);
    }),
  );

export interface TapTimes {
  hand: number;
  qemu: number;
  sea: number;
  cjs: number;
  original?: number;
}

export async function measureTap(cjs: string): Promise<TapTimes> {
  const ways: Record<string, () => Promise<number>> = {
    hand: byHand('commands'),
    qemu: byHand('qemu'),
    sea: viaTool(BINARY),
    cjs: viaTool(cjs),
  };
  ways.original = viaOriginal(ORIGINAL);
  const restore = allowVmnet0();
  try {
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((way) => [way, []]));
    for (let run = 0; run < RUNS; run++)
      for (const [way, measure] of Object.entries(ways)) samples[way].push(await measure());
    return Object.fromEntries(
      Object.entries(samples).map(([way, values]) => [way, median(values)]),
    ) as unknown as TapTimes;
  } finally {
    restore();
  }
}

export function tapTable(times: TapTimes, versions: { sea: number; cjs: number; node: number }): string[] {
  // The executable's targets: by hand + 15 ms, and no slower than the original script in the same run. The
  // script artifact starts the host's Node.js, whose own start-up is reported beside it.
  const byHand = times.hand + 15;
  const original = times.original;
  const seaMet = times.sea <= byHand && (original === undefined || times.sea <= original);
  // Any program on Node.js pays its runtime's start-up before its first instruction, and QEMU's after its last.
  const floor = versions.node + times.qemu;
  const rows = [
    ['by hand (same `ip` commands, then QEMU)', ms(times.hand), '', ''],
    ['QEMU alone (its TAP made before the clock starts)', ms(times.qemu), '', ''],
    ...(original === undefined ? [] : [[ORIGINAL_LABEL, ms(original), '', '']]),
    [
      'qemu-script (single executable)',
      ms(times.sea),
      `${ms(times.hand)} + 15 ms = ${ms(byHand)}${original === undefined ? '' : `, ≤ ${ms(original)}`}`,
      met(seaMet),
    ],
    [
      "floor for a Node.js program: its Node.js's `-e 0` + QEMU alone",
      ms(floor),
      `${ms(versions.node)} + ${ms(times.qemu)}; the executable ${ms(times.sea - floor)} above it`,
      '',
    ],
    [
      'qemu-script.cjs (reported)',
      ms(times.cjs),
      `its \`--version\` ${ms(versions.cjs)} over the executable's ${ms(versions.sea)}`,
      '',
    ],
  ];
  return [
    `Invocation → the guest's TAP on \`vmnet0\` with carrier (QEMU holds it), median of ${RUNS}, ` +
      'a fresh namespace each run (`VM_ORIGINAL=/path/to/vm` measures the original script instead of its stand-in):',
    '',
    ...table(['how', 'measured', 'limit', 'met'], rows),
  ];
}
