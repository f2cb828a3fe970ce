// What stays resident per guest besides QEMU (1 and 8 guests), and 32 guests launched at once on one bridge.
import { setTimeout as sleep } from 'node:timers/promises';
import { Netns, waitFor } from '../test/netns.ts';
import { IDLE_GUEST, isQemu, met, mib, now, processesIn, sum, table, type ProcessUse } from './common.ts';

interface Resident {
  guests: number;
  toolKiB: number;
  toolPssKiB: number;
  qemuKiB: number;
  left: string;
}

function resident(guests: number, processes: ProcessUse[]): Resident {
  const tool = processes.filter((p) => !isQemu(p));
  const counts = new Map<string, number>();
  for (const p of tool) counts.set(p.comm, (counts.get(p.comm) ?? 0) + 1);
  return {
    guests,
    toolKiB: sum(tool.map((p) => p.rssKiB)) / guests,
    toolPssKiB: sum(tool.map((p) => p.pssKiB)) / guests,
    qemuKiB: sum(processes.filter(isQemu).map((p) => p.rssKiB)) / guests,
    left: [...counts].map(([comm, n]) => `${+(n / guests).toFixed(2)} × ${comm}`).join(', ') || 'nothing',
  };
}

async function launchAll(ns: Netns, names: string[], net: string): Promise<number> {
  const t0 = now();
  const results = await Promise.all(names.map((name) => ns.tool([...IDLE_GUEST, '--name', name, '--net', net])));
  const wall = now() - t0;
  const failed = results.find((r) => r.exitCode !== 0);
  if (failed) throw new Error(`a launch failed: ${failed.stderr}`);
  return wall;
}

/** `down --force --all`: every guest from one process, in parallel. */
async function downAll(ns: Netns, names: string[]): Promise<number> {
  const t0 = now();
  const down = await ns.tool(['down', '--force', '--all']);
  if (down.exitCode !== 0 || down.stdout.split('\n').length !== names.length) throw new Error(`down: ${down.stderr}`);
  await waitFor(() => processesIn(ns).length === 0 && ns.guests().length === 0, 60000, 'every guest and waiter gone');
  return now() - t0;
}

async function inNamespace<T>(body: (ns: Netns) => Promise<T>): Promise<T> {
  const ns = await Netns.create();
  try {
    return await body(ns);
  } finally {
    // Whatever a failed run left, in this namespace only, by PID.
    for (const p of processesIn(ns)) process.kill(p.pid, 'SIGKILL');
    await ns.destroy();
  }
}

export function measureResident(count: number): Promise<Resident> {
  return inNamespace(async (ns) => {
    const names = Array.from({ length: count }, (_, i) => `mem${i}`);
    await launchAll(ns, names, 'vmnet0');
    await sleep(1000);
    const result = resident(count, processesIn(ns));
    await downAll(ns, names);
    return result;
  });
}

export interface Scale {
  wall: number;
  running: number;
  macs: number;
  ports: number;
  listening: number;
  bridges: string[];
  onBridge: number;
  resident: Resident;
  down: number;
  clean: boolean;
}

export function measureScale(count = 32): Promise<Scale> {
  return inNamespace(async (ns) => {
    const names = Array.from({ length: count }, (_, i) => `g${i}`);
    const wall = await launchAll(ns, names, 'user,vmnet0');
    const ps = JSON.parse((await ns.tool(['ps', '--json'])).stdout) as {
      guests: Array<{ state: string; nics: Array<{ mac: string }>; forwards: Array<{ port: number }> }>;
    };
    const running = ps.guests.filter((g) => g.state === 'running').length;
    const macs = new Set(ps.guests.flatMap((g) => g.nics.map((n) => n.mac))).size;
    const forwardPorts = ps.guests.flatMap((g) => g.forwards.map((f) => f.port));
    const listeningOut = (await ns.exec(['ss', '-Hltn'])).stdout;
    const listening = forwardPorts.filter((port) => listeningOut.includes(`127.0.0.1:${port} `)).length;
    const bridges = (await ns.ip('-o', 'link', 'show', 'type', 'bridge')).stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(': ')[1]);
    const onBridge = (await ns.ip('-o', 'link', 'show', 'master', 'vmnet0')).stdout.split('\n').filter(Boolean).length;
    const result = resident(count, processesIn(ns));
    const down = await downAll(ns, names);
    const clean =
      (await ns.links()).join() === 'lo' && ns.registryEntries().length === 0 && processesIn(ns).length === 0;
    return {
      wall,
      running,
      macs,
      ports: new Set(forwardPorts).size,
      listening,
      bridges,
      onBridge,
      resident: result,
      down,
      clean,
    };
  });
}

/** #25: no more than the original script leaves per guest, its waiting shell (~0.9 MiB resident). */
const LEFT_LIMIT_KIB = 0.9 * 1024;

export function residentTable(results: Resident[]): string[] {
  const rows = results.map((r) => [
    `${r.guests} on \`vmnet0\``,
    r.left,
    mib(r.toolKiB),
    mib(r.toolPssKiB),
    `${mib(LEFT_LIMIT_KIB)} (the original's shell)`,
    met(r.toolKiB <= LEFT_LIMIT_KIB && r.toolPssKiB <= LEFT_LIMIT_KIB),
    mib(r.qemuKiB),
  ]);
  return [
    "Resident memory the tool leaves per running guest (every process in the guest's namespace except QEMU, " +
      'summed, ÷ guests):',
    '',
    ...table(
      ['guests', 'left per guest', 'RSS per guest', 'PSS per guest', 'limit (RSS)', 'met', 'QEMU RSS per guest'],
      rows,
    ),
  ];
}

export function scaleTable(s: Scale, count = 32): string[] {
  const all = (value: number, of: number) => `${value}/${of}`;
  return [
    `${count} guests launched at once on one bridge (\`--net user,vmnet0\`, each \`-m 64\`, no disk):`,
    '',
    ...table(
      ['check', 'measured', 'expected', 'met'],
      [
        ['wall time, all launches returned', `${(s.wall / 1000).toFixed(2)} s`, '', ''],
        ['guests running (`ps --json`)', all(s.running, count), `${count}/${count}`, met(s.running === count)],
        ['distinct MACs (two NICs each)', String(s.macs), String(2 * count), met(s.macs === 2 * count)],
        [
          'distinct SSH forward ports, listening',
          `${s.ports}, ${s.listening}`,
          `${count}, ${count}`,
          met(s.ports === count && s.listening === count),
        ],
        [
          'bridges / TAPs on `vmnet0`',
          `${s.bridges.join(' ')} / ${s.onBridge}`,
          `vmnet0 / ${count}`,
          met(s.bridges.join() === 'vmnet0' && s.onBridge === count),
        ],
        [
          'left per guest besides QEMU (RSS)',
          mib(s.resident.toolKiB),
          `≤ ${mib(LEFT_LIMIT_KIB)}`,
          met(s.resident.toolKiB <= LEFT_LIMIT_KIB),
        ],
        ['QEMU RSS per guest', mib(s.resident.qemuKiB), '', ''],
        [
          '`down --force --all` of the 32 (one process) → nothing left',
          `${(s.down / 1000).toFixed(2)} s`,
          '≤ 5.00 s',
          met(s.down <= 5000),
        ],
        ['host as found (links, registry, processes)', s.clean ? 'yes' : 'no', 'yes', met(s.clean)],
      ],
    ),
  ];
}
