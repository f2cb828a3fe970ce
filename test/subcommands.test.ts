// The subcommand table: words → the command, its flags and arguments, or a refusal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../lib/base/errors.ts';
import { parseSubcommand, subcommandHelp } from '../lib/cli/command.ts';
import { findSubcommand, SUBCOMMANDS } from '../lib/cli/subcommands.ts';

const PARSED: Array<[string[], string, Record<string, string | boolean>, string[], string[]]> = [
  [['ps'], 'ps', {}, [], []],
  [['ps', '--json'], 'ps', { json: true }, [], []],
  [['down', 'web', '--timeout', '5'], 'down', { timeout: '5' }, ['web'], []],
  [['down', '--force', 'web'], 'down', { force: true }, ['web'], []],
  [['down', 'web', '--timeout=5'], 'down', { timeout: '5' }, ['web'], []],
  [['ssh', 'root@web', '--', '-v', 'uptime'], 'ssh', {}, ['root@web'], ['-v', 'uptime']],
  [
    ['net', 'create', 'lab', '--subnet', '10.77.0.0/24', '--dhcp'],
    'net create',
    { subnet: '10.77.0.0/24', dhcp: true },
    ['lab'],
    [],
  ],
  [['net', 'ls', '--json'], 'net ls', { json: true }, [], []],
  [['net', 'rm', 'lab'], 'net rm', {}, ['lab'], []],
  [['setup', '--user', 'alice', '--dry-run'], 'setup', { user: 'alice', 'dry-run': true }, [], []],
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
  [['ps', '--jsn'], /^ps: unknown option --jsn \(accepted: --json, --help\)$/],
  [['gc', '--force'], /^gc: unknown option --force \(accepted: none, --help\)$/],
  [['gc', 'now'], /^gc: takes no arguments \(got now\)/],
  [['down'], /^down: needs NAME/],
  [['down', 'a', 'b'], /^down: takes NAME \(got b\)/],
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

test('subcommand: a group word without its command is refused, naming the choices', () => {
  assert.throws(
    () => findSubcommand(['net']),
    (error: Error) => error instanceof UsageError && /^net needs one of: create, ls, rm;/.test(error.message),
  );
  assert.throws(() => findSubcommand(['net', 'list']), /\(got "list"\)/);
  assert.is(findSubcommand(['disk.qcow2']), undefined);
});

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
