// Shell integration through the real executable and the Makefile: completion
// scripts each shell accepts and that complete, the man page, make install and
// make uninstall of exactly those files, and a --help that fits 80 columns.
import { execa } from 'execa';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BINARY, ROOT, runBinary } from './helpers.ts';

const dir = mkdtempSync(`${tmpdir()}/qs-shell-`);
test.after(() => rmSync(dir, { recursive: true, force: true }));

for (const [shell, check] of [
  ['bash', ['bash', '-n']],
  ['zsh', ['zsh', '-n']],
  ['fish', ['fish', '--no-execute']],
] as const) {
  test(`completion ${shell}: the shell accepts it`, async () => {
    const script = await runBinary(['completion', shell]);
    assert.is(script.exitCode, 0, script.stderr);
    const file = `${dir}/completion.${shell}`;
    writeFileSync(file, script.stdout);
    const parsed = await execa(check[0], [...check.slice(1), file], { reject: false });
    assert.is(parsed.exitCode, 0, `${shell}: ${parsed.stderr}`);
  });
}

/** What bash completes for the words typed so far (the last one being completed). */
async function bashCompletes(words: string[], env: Record<string, string> = {}): Promise<string[]> {
  const script = `${dir}/completion.bash`;
  writeFileSync(script, (await runBinary(['completion', 'bash'])).stdout);
  // The test drives bash's own completion machinery: COMP_WORDS/COMP_CWORD as bash sets them.
  const driver =
    'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _qemu_script; ' +
    `printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = await execa('bash', ['-c', driver, 'driver', script, 'qemu-script', ...words], {
    reject: false,
    env: { PATH: `${ROOT}/dist:/usr/bin:/bin`, ...env },
  });
  assert.is(result.exitCode, 0, result.stderr);
  return result.stdout.split('\n').filter(Boolean).sort();
}

test('bash completes own options, subcommands, display values and defined networks', async () => {
  assert.equal(await bashCompletes(['--ne']), ['--net']);
  assert.equal(await bashCompletes(['--display', 'v']), ['vga', 'vnc']);
  assert.equal(await bashCompletes(['net', '']), ['create', 'ls', 'rm']);
  assert.equal(await bashCompletes(['completion', 'z']), ['zsh']);
  const config = mkdtempSync(`${dir}/config-`);
  await execa(BINARY, ['net', 'create', 'lab', '--subnet', '10.77.0.0/24'], {
    env: { QEMU_SCRIPT_CONFIG_DIR: config },
  });
  assert.equal(await bashCompletes(['--net', 'la'], { QEMU_SCRIPT_CONFIG_DIR: config }), ['lab']);
  assert.equal(await bashCompletes(['--net', 'host'], { QEMU_SCRIPT_CONFIG_DIR: config }), ['host-only', 'hostonly']);
});

test('completion refuses a shell it does not know', async () => {
  const result = await runBinary(['completion', 'tcsh']);
  assert.is(result.exitCode, 2);
  assert.is(result.stderr, 'qemu-script: completion: "tcsh" is not a shell (accepted: bash, zsh, fish)');
});

test(
  'make install puts the executable, its waiter, man page, completions under PREFIX; man renders; uninstall empties it',
  async () => {
  const prefix = mkdtempSync(`${dir}/prefix-`);
  const install = await execa('make', ['--no-print-directory', 'install', `PREFIX=${prefix}`], {
    cwd: ROOT,
    reject: false,
  });
  assert.is(install.exitCode, 0, install.stderr);
  const files = (await execa('find', [prefix, '-type', 'f'])).stdout
    .split('\n')
    .map((path) => path.slice(prefix.length))
    .sort();
  assert.equal(files, [
    '/bin/qemu-script',
    '/bin/qemu-script-helper',
    '/bin/qemu-script-waiter',
    '/share/bash-completion/completions/qemu-script',
    '/share/fish/vendor_completions.d/qemu-script.fish',
    '/share/man/man1/qemu-script.1',
    '/share/qemu-script/installed',
    '/share/zsh/site-functions/_qemu-script',
  ]);
  const man = await execa('man', ['-l', `${prefix}/share/man/man1/qemu-script.1`], {
    reject: false,
    env: { MANPAGER: 'cat', MANWIDTH: '80' },
  });
  assert.is(man.exitCode, 0, man.stderr);
  for (const heading of ['NAME', 'SYNOPSIS', 'OPTIONS', 'NETWORKS', 'COMMANDS', 'ENVIRONMENT', 'EXIT STATUS'])
    assert.match(man.stdout, new RegExp(`^${heading}$`, 'm'));
  assert.match(man.stdout, /--net, -net NET/);
  const version = await execa(`${prefix}/bin/qemu-script`, ['--version']);
  assert.match(version.stdout, /^qemu-script \d/);
  const uninstall = await execa('make', ['--no-print-directory', 'uninstall', `PREFIX=${prefix}`], {
    cwd: ROOT,
    reject: false,
  });
  assert.is(uninstall.exitCode, 0, uninstall.stderr);
  assert.equal(readdirSync(prefix), [], 'nothing left, not even the directories install made');
});

test('--help fits 80 columns and names nothing a user of the executable lacks', async () => {
  const help = await runBinary(['--help']);
  assert.is(help.exitCode, 0);
  for (const line of help.stdout.split('\n')) assert.ok(line.length <= 80, `${line.length}: ${line}`);
  assert.not.match(help.stdout, /BENCHMARKS|README|\bmake\b|\bnpm\b|\.ts\b/);
  for (const needle of [
    'qemu-script net create NAME',
    'qemu-script completion bash|zsh|fish',
    '--ssh-port PORT|none',
    'hostonly, natnet',
  ]) {
    assert.ok(help.stdout.includes(needle), `help lacks ${needle}`);
  }
});

test.run();
