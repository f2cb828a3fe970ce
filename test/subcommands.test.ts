// The subcommand table: words → the command, its flags and arguments, or a refusal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../lib/base/errors.ts';
import { parseSubcommand, subcommandHelp } from '../lib/cli/command.ts';
import { findSubcommand, firstWordTypo, SUBCOMMANDS } from '../lib/commands/table.ts';

const PARSED: Array<[string[], string, Record<string, string | boolean | string[]>, string[], string[]]> = [
  [['ps'], 'ps', {}, [], []],
  [['ps', '--json'], 'ps', { json: true }, [], []],
  [['down', 'web', '--timeout', '5'], 'down', { timeout: '5' }, ['web'], []],
  [['down', '--force', 'web'], 'down', { force: true }, ['web'], []],
  [['down', 'web', '--timeout=5'], 'down', { timeout: '5' }, ['web'], []],
  [['ssh', 'root@web', '--', '-v', 'uptime'], 'ssh', {}, [], ['root@web', '--', '-v', 'uptime']],
  [['ssh', '--wait=60', 'web', 'hostname'], 'ssh', { wait: '60' }, [], ['web', 'hostname']],
  [['ssh'], 'ssh', {}, [], []],
  [['ssh', '--', 'uptime'], 'ssh', {}, [], ['--', 'uptime']],
  [['start', 'web', '--wait', '-m', '2G'], 'start', {}, [], ['web', '--wait', '-m', '2G']],
  [['image', 'pull', 'debian-12', '--sha256', 'ab'], 'image pull', { sha256: 'ab' }, ['debian-12'], []],
  [['log', '-f', 'web'], 'log', { follow: true }, ['web'], []],
  [
    ['net', 'create', 'lab', '--subnet', '10.77.0.0/24', '--dhcp'],
    'net create',
    { subnet: '10.77.0.0/24', dhcp: true },
    ['lab'],
    [],
  ],
  [['net', 'ls', '--json'], 'net ls', { json: true }, [], []],
  [['net', 'rm', 'lab'], 'net rm', {}, ['lab'], []],
  [['setup', '--user', 'alice', '--dry-run'], 'setup', { user: ['alice'], 'dry-run': true }, [], []],
  [['doctor', '--json'], 'doctor', { json: true }, [], []],
];

for (const [words, name, flags, args, rest] of PARSED) {
  test(`subcommand: ${words.join(' ')}`, () => {
    const found = findSubcommand(words)!;
    assert.is(found.command.name, name);
    assert.equal(parseSubcommand(found.command, found.rest), { flags, args, rest });
  });
}

const REFUSED: Array<[string[], RegExp]> = [
  [['ps', '--jsn'], /^ps: unknown option --jsn \(did you mean `--json`\?\)$/],
  [['ps', '--frobnicate'], /^ps: unknown option --frobnicate \(accepted: --json, --help\)$/],
  [
    ['net', 'create', 'lab', '--sbnet', '10.7.0.0/24'],
    /^net create: unknown option --sbnet \(did you mean `--subnet`\?\)$/,
  ],
  [['gc', '--force'], /^gc: unknown option --force \(accepted: --verbose, --help\)$/],
  [['gc', 'now'], /^gc: takes no arguments \(got now\)/],
  [['down', 'web', '--timeout'], /^down: --timeout needs a value/],
  [['ps', '--json=yes'], /^ps: --json takes no value/],
  [['ps', '--', 'x'], /^ps: takes nothing after --/],
  [['net', 'create'], /^net create: needs NAME/],
  [['setup', '--usr', 'alice'], /^setup: unknown option --usr/],
];

for (const [words, message] of REFUSED) {
  test(`subcommand refused: ${words.join(' ')}`, () => {
    const found = findSubcommand(words)!;
    assert.throws(
      () => parseSubcommand(found.command, found.rest),
      (error: Error) => error instanceof UsageError && message.test(error.message),
    );
  });
}

test('subcommand: a group word alone, or with help, is its usage; a wrong second word is refused', async () => {
  const ROWS = [
    [['net'], 2],
    [['net', 'help'], 0],
    [['net', '--help'], 0],
    [['net', '-h'], 0],
  ] as const;
  for (const [words, code] of ROWS) {
    const found = findSubcommand([...words])!;
    assert.equal([found.command.name, found.rest], ['net', []], words.join(' '));
    assert.is(await found.command.run({ flags: {}, args: [], rest: [] }, {} as never, []), code, words.join(' '));
  }
  assert.throws(
    () => findSubcommand(['net', 'lst']),
    (error: Error) => error instanceof UsageError && error.message === 'net lst: no such command (did you mean `ls`?)',
  );
  assert.throws(
    () => findSubcommand(['net', 'frob']),
    (error: Error) => error instanceof UsageError && error.message === 'net frob: no such command; accepted: create, ' +
      'ls, rm',
  );
  assert.is(findSubcommand(['disk.qcow2']), undefined);
});

// Words other tools use, each refused (no file of that name here) with what it is called here.
const OTHER_WORDS: Array<[string[], string]> = [
  [['version'], 'qemu-script --version'],
  [['list'], 'qemu-script ps'],
  [['status', 'web'], 'qemu-script info web'],
  [['shutdown', 'web'], 'qemu-script stop web'],
  [['poweroff'], 'qemu-script stop NAME'],
  [['kill', 'web'], 'qemu-script stop --force web'],
  [['delete', 'web'], 'qemu-script rm web'],
  [['destroy', 'web'], 'qemu-script rm --force web'],
  [['run'], 'qemu-script create NAME --image IMAGE, then start NAME (or a launch line: qemu-script DISK)'],
  [['images'], 'qemu-script image ls'],
  [['logs', 'web'], 'qemu-script log web'],
  [['shell', 'web'], 'qemu-script ssh web'],
  [['attach', 'web'], 'qemu-script console web'],
];

for (const [words, meant] of OTHER_WORDS) {
  test(`subcommand: another tool's word "${words.join(' ')}" suggests ${meant}`, () => {
    assert.throws(
      () => firstWordTypo(words, () => false),
      (error: Error) =>
        error instanceof UsageError &&
        error.message === `"${words[0]}" is neither a subcommand nor a file (did you mean \`${meant}\`?)`,
    );
    assert.not.throws(() => firstWordTypo(words, () => true), 'a file of that name is a disk');
  });
}

test('subcommand: --help anywhere is help only, for every command', () => {
  for (const command of SUBCOMMANDS.filter((entry) => !entry.hidden)) {
    assert.is(parseSubcommand(command, ['--help']), 'help', command.name);
    assert.is(parseSubcommand(command, ['-h']), 'help', command.name);
    const help = subcommandHelp(command);
    assert.ok(help.startsWith(`Usage: qemu-script ${command.name}`), help);
    for (const flag of command.flags)
      assert.ok(help.includes(`--${flag.name}`), `${command.name} --help lacks --${flag.name}`);
  }
});

test.run();
