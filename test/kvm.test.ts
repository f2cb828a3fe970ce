// Whether KVM runs guests: the probe's firmware really runs (checked under TCG, which any host has),
// a QEMU that hangs or fails under KVM means "no" with the reason, and the answer is kept per boot.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachedProbe, runProbe } from '../lib/probe/kvm.ts';
import { planAccel } from '../lib/plan/accel.ts';
import { canOpenReadWrite } from '../lib/probe/host-access.ts';
import { runBinary, testWhere } from './helpers.ts';

const dir = mkdtempSync(`${tmpdir()}/qs-kvm-`);
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for QEMU: a shell script that does what the row says. */
function fakeQemu(name: string, body: string): string {
  const path = `${dir}/${name}`;
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('kvm probe: its firmware loops and leaves through isa-debug-exit (run under TCG)', () => {
  assert.equal(runProbe('qemu-system-x86_64', 'tcg'), { usable: true });
});

test('kvm probe: a QEMU that does not finish within 2 s means KVM runs guests far too slowly', () => {
  const started = Date.now();
  assert.equal(runProbe(fakeQemu('slow', 'exec sleep 30')), {
    usable: false,
    why: 'KVM opens but runs guests far too slowly here (no VMX/SVM: a nested VM?)',
  });
  assert.ok(Date.now() - started < 10000, 'bounded in time');
});

test('kvm probe: a QEMU that fails says why', () => {
  assert.equal(runProbe(fakeQemu('fails', 'echo "qemu: failed to initialize kvm: No such device" >&2; exit 1')), {
    usable: false,
    why: 'QEMU could not run a guest under KVM: qemu: failed to initialize kvm: No such device',
  });
});

test('kvm probe: the answer is kept per boot and QEMU, written only when asked (a dry run writes nothing)', () => {
  const cacheDir = mkdtempSync(`${dir}/cache-`);
  let runs = 0;
  const probe = () => {
    runs++;
    return { usable: false, why: 'slow' };
  };
  assert.equal(cachedProbe('/usr/bin/qemu-a', cacheDir, false, probe), { usable: false, why: 'slow' });
  assert.equal(cachedProbe('/usr/bin/qemu-a', cacheDir, true, probe), { usable: false, why: 'slow' });
  assert.is(runs, 2, 'the dry run kept nothing');
  assert.equal(cachedProbe('/usr/bin/qemu-a', cacheDir, true, probe), { usable: false, why: 'slow' });
  assert.is(runs, 2, 'kept for this boot');
  cachedProbe('/usr/bin/qemu-b', cacheDir, true, probe);
  assert.is(runs, 3, 'another QEMU is asked again');
  const kept = JSON.parse(readFileSync(`${cacheDir}/kvm.json`, 'utf8')) as { boot: string };
  writeFileSync(`${cacheDir}/kvm.json`, JSON.stringify({ ...kept, boot: 'another boot' }));
  cachedProbe('/usr/bin/qemu-b', cacheDir, true, probe);
  assert.is(runs, 4, 'another boot is asked again');
});

testWhere(
  test,
  canOpenReadWrite('/dev/kvm') ? undefined : '/dev/kvm does not open here: the dry run has nothing to leave unasked',
  "the dry run plans with the launch's verdict on KVM (this boot's answer), or says it did not ask",
  async () => {
    const run = mkdtempSync(`${dir}/run-`);
    const line = ['--dry-run', '--display', 'none', '--net', 'none'];
    const unasked = await runBinary(line, { env: { QEMU_SCRIPT_RUNTIME_DIR: run } });
    assert.match(unasked.stdout, / -machine accel=kvm /);
    assert.match(
      unasked.stderr,
      'qemu-script: warning: --dry-run did not ask whether KVM runs guests here (/dev/kvm opens; a launch asks, ' +
        'once per boot): the launch may use TCG instead',
    );
    assert.not.ok(existsSync(`${run}/kvm.json`), 'the dry run asked nothing and kept nothing');
    // This boot's answer, as a launch keeps it: the dry run plans what the launch will run.
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const why = 'KVM opens but runs guests far too slowly here';
    writeFileSync(`${run}/kvm.json`, JSON.stringify({ boot, qemu: 'qemu-system-x86_64', usable: false, why }));
    const answered = await runBinary(line, { env: { QEMU_SCRIPT_RUNTIME_DIR: run } });
    assert.match(answered.stdout, / -machine accel=tcg /);
    assert.not.match(answered.stderr, /did not ask/);
  },
);

test('accel: KVM that does not run guests falls back to TCG, saying why; asked for explicitly, it warns', () => {
  const why = 'KVM opens but runs guests far too slowly here (no VMX/SVM: a nested VM?)';
  assert.equal(planAccel(undefined, false, why), {
    accel: 'tcg',
    warning: `${why}: guests run under TCG (software emulation, many times slower)`,
  });
  assert.equal(planAccel('kvm', false, why), {
    accel: 'kvm',
    warning: `--accel kvm: ${why}; the guest will fail or crawl (--accel tcg avoids it)`,
  });
  assert.equal(planAccel(undefined, true), { accel: 'kvm' });
  assert.equal(planAccel('tcg', false, why), { accel: 'tcg' });
});

test.run();
