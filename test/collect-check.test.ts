// The check every launch makes before its gc: anything to collect in the registry? Read without the lock,
// it must say yes whenever collectResources would change something, or a launch would leave a dead guest's
// bridge, rule or server behind.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { anythingToCollect } from '../lib/apply/host-changes.ts';
import { processId } from '../lib/base/proc.ts';
import type { ResourceUser } from '../lib/state/registry.ts';

const alive = (guest: string): ResourceUser => ({ uid: 0, guest, holder: processId(process.pid)! });
// This process's pid with another start time: a process that is gone (its pid maybe reused).
const gone = (guest: string): ResourceUser => ({ uid: 1000, guest, holder: { pid: process.pid, start: '1' } });

const record = (name: string, users: ResourceUser[]) => ({
  id: `id-${name}`,
  kind: 'bridge',
  name,
  netns: 'net:[1]',
  state: 'done',
  creator: 0,
  users,
  data: {},
});

const ROWS: Array<{ name: string; registry: string | undefined; expected: boolean }> = [
  { name: 'no registry file', registry: undefined, expected: false },
  { name: 'an unreadable registry (taken as empty)', registry: '{"resour', expected: false },
  { name: 'no records', registry: JSON.stringify({ resources: [] }), expected: false },
  {
    name: 'every record held by live guests only',
    registry: JSON.stringify({
      resources: [record('vmnet0', [alive('a'), alive('b')]), record('vmnet1', [alive('c')])],
    }),
    expected: false,
  },
  {
    name: 'a record one of whose guests is gone (its share is to be released)',
    registry: JSON.stringify({ resources: [record('vmnet0', [alive('a'), gone('b')])] }),
    expected: true,
  },
  {
    name: 'a record whose only guest is gone',
    registry: JSON.stringify({ resources: [record('vmnet0', [alive('a')]), record('vmnet1', [gone('c')])] }),
    expected: true,
  },
  {
    name: 'a record nobody holds',
    registry: JSON.stringify({ resources: [record('vmnet0', [])] }),
    expected: true,
  },
];

for (const row of ROWS) {
  test(`anythingToCollect: ${row.name}`, () => {
    const dir = mkdtempSync(`${tmpdir()}/qs-collect-`);
    try {
      if (row.registry !== undefined) writeFileSync(`${dir}/registry.json`, row.registry);
      assert.is(anythingToCollect(dir), row.expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
