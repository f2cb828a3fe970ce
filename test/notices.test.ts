// Remarks about the host are said once per boot, not at every launch; what is about a command line
// is said every time (plan.warnings, checked in the planner's tables).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unsaidThisBoot } from '../lib/state/notices.ts';

const dir = mkdtempSync(`${tmpdir()}/qs-notices-`);
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('notices: each said once per boot, a new one still said, all again after a reboot', () => {
  const vhost = 'vhost-net is not available';
  const kvm = 'KVM opens but runs guests far too slowly here';
  assert.equal(unsaidThisBoot(dir, [vhost]), [vhost]);
  assert.equal(unsaidThisBoot(dir, [vhost]), [], 'the second launch says nothing');
  assert.equal(unsaidThisBoot(dir, [vhost, kvm]), [kvm], 'a new remark is said');
  assert.equal(unsaidThisBoot(dir, []), []);
  const kept = JSON.parse(readFileSync(`${dir}/notices.json`, 'utf8')) as { boot: string };
  writeFileSync(`${dir}/notices.json`, JSON.stringify({ ...kept, boot: 'an earlier boot' }));
  assert.equal(unsaidThisBoot(dir, [vhost, kvm]), [vhost, kvm], 'after a reboot, said again');
});

test('notices: with no runtime directory to keep them in, they are said (every time)', () => {
  assert.equal(unsaidThisBoot(`${dir}/missing`, ['x']), ['x']);
  assert.equal(unsaidThisBoot(`${dir}/missing`, ['x']), ['x']);
});

test.run();
