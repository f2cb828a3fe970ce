// make bench: prints Markdown tables of measured numbers beside their targets (never a pass/fail test)
// and keeps them in .cache/bench.md. BENCH=startup,tap,member,memory,scale,boot,throughput,cloud,instance,
// snapshot,lab picks sections.
import { rmSync, writeFileSync } from 'node:fs';
import { ROOT } from '../test/helpers.ts';
import { allowBridges } from '../test/netns.ts';
import { bootTable, throughputTable } from './boot.ts';
import { cloudTable } from './cloud.ts';
import { instanceTable } from './instance.ts';
import { labTable } from './lab.ts';
import { memberTable } from './member.ts';
import { snapshotTable } from './snapshot.ts';
import { CJS, logs, machine } from './common.ts';
import { measureResident, measureScale, residentTable, scaleTable } from './scale.ts';
import { measureStartup, startupTable, type Startup } from './startup.ts';
import { measureTap, tapTable } from './tap.ts';

const ALL = [
  ...['startup', 'tap', 'member', 'memory', 'scale', 'boot', 'throughput'],
  ...['cloud', 'instance', 'snapshot', 'lab'],
];
const chosen = (process.env.BENCH ?? ALL.join(',')).split(',').filter(Boolean);
const unknown = chosen.filter((name) => !ALL.includes(name));
if (unknown.length > 0) {
  console.error(`bench: unknown section ${unknown.join(', ')} in BENCH (accepted: ${ALL.join(', ')})`);
  process.exit(2);
}

const rows: string[] = [];
const out = (lines: string[]) => {
  for (const line of [...lines, '']) {
    rows.push(line);
    console.log(line);
  }
};

let startup: Startup[] | undefined;
const versions = async () => {
  startup ??= await measureStartup();
  return { sea: startup[0].version, cjs: startup[1].version, node: startup[0].bareNode! };
};

const SECTIONS: Record<string, () => Promise<string[]>> = {
  startup: async () => {
    await versions();
    return startupTable(startup!);
  },
  tap: async () => tapTable(await measureTap(CJS), await versions()),
  member: memberTable,
  memory: async () => residentTable([await measureResident(1), await measureResident(8)]),
  scale: async () => scaleTable(await measureScale(32)),
  boot: bootTable,
  throughput: throughputTable,
  cloud: cloudTable,
  instance: instanceTable,
  snapshot: snapshotTable,
  lab: labTable,
};

// make bench runs this through test/isolate.sh: the bridge.conf it writes is in a private copy of /etc.
allowBridges();
// Interrupted, the bench still removes its logs.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    rmSync(logs, { recursive: true, force: true });
    process.exit(130);
  });
}
try {
  out([`Measured ${await machine()}.`]);
  for (const name of ALL.filter((section) => chosen.includes(section))) out(await SECTIONS[name]());
  writeFileSync(`${ROOT}/.cache/bench.md`, `${rows.join('\n')}\n`);
} finally {
  rmSync(logs, { recursive: true, force: true });
}
