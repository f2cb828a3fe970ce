// test/run.sh, the README's test command, on test files of this test's own: a file whose only test is skipped is
// a skip (with its reason) and the run passes; a failing file fails the run; a file that dies before uvu's summary
// counts one failure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { ROOT } from './helpers.ts';

const FILES: Record<string, string> = {
  skipped:
    "import { test } from 'uvu';\nconsole.log('skipped: only test: not here');\n" +
    "test.skip('only test', () => {});\ntest.run();\n",
  passes: "import { test } from 'uvu';\ntest('one', () => {});\ntest('two', () => {});\ntest.run();\n",
  fails:
    "import { test } from 'uvu';\nimport * as assert from 'uvu/assert';\n" +
    "test('good', () => {});\ntest('bad', () => assert.is(1, 2));\ntest.run();\n",
  dies: "process.exit(3);\n",
};

/** test/run.sh on the named files alone, in a directory of their own. */
async function runOn(names: string[]) {
  // In the checkout, where their imports resolve (each file gets an empty /tmp of its own).
  mkdirSync(`${ROOT}/.cache`, { recursive: true });
  const dir = mkdtempSync(`${ROOT}/.cache/runner-`);
  try {
    for (const name of names) writeFileSync(`${dir}/${name}.test.ts`, FILES[name]);
    // The runner makes a private mount namespace per file itself (test/isolate.sh); it must not take this one's.
    const env = { QEMU_SCRIPT_TEST_DIR: dir, QEMU_SCRIPT_TEST_ISOLATED: '' };
    // Its own PID and network namespaces: the host state it compares before and after (processes, links, the
    // firewall) is not changed by the test files running beside this one.
    const argv = ['--pid', '--fork', '--mount-proc', '--net', `${ROOT}/test/run.sh`, '\\.test\\.ts$'];
    const result = await execa('unshare', argv, { env, reject: false, all: true });
    return { exitCode: result.exitCode, last: result.all.trim().split('\n').at(-1)!, all: result.all };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a file whose only test is skipped is reported skipped, and the run passes', async () => {
  const result = await runOn(['skipped', 'passes']);
  assert.is(result.exitCode, 0, result.all);
  assert.match(result.last, /^2 passed, 0 failed, 1 skipped \(\d+ s, 3 at a time\)$/);
  assert.match(result.all, '== skipped.test.ts (');
  assert.match(result.all, '\nskipped: only test: not here\n');
  assert.not.match(result.all, 'failed:');
});

test('a failing test fails the run and names its file', async () => {
  const result = await runOn(['fails', 'skipped']);
  assert.is(result.exitCode, 1, result.all);
  assert.match(result.all, '\nfailed: fails.test.ts\n');
  assert.match(result.last, /^1 passed, 1 failed, 1 skipped /);
});

test('a file that dies before its summary counts one failure', async () => {
  const result = await runOn(['dies', 'passes']);
  assert.is(result.exitCode, 1, result.all);
  assert.match(result.all, '\nfailed: dies.test.ts\n');
  assert.match(result.last, /^2 passed, 1 failed, 0 skipped /);
});

test.run();
