// Every qemu-script command in README.md's shell blocks is one the tool takes as written: a subcommand with
// flags it knows and the number of arguments it wants, or a launch line its parser accepts. A changed command
// cannot leave the README behind. (What each does is the other suites' business; here, that it still parses.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parseSubcommand } from '../lib/cli/command.ts';
import { parseArgs } from '../lib/cli/parse-args.ts';
import { findSubcommand } from '../lib/commands/table.ts';
import { ROOT } from './helpers.ts';

/** The words of a command as a shell would split them (quotes, no expansion), up to a comment. */
function words(line: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      current = (current ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '#' && current === undefined) break;
    else if (c === ' ') {
      if (current !== undefined) out.push(current);
      current = undefined;
    } else current = (current ?? '') + c;
  }
  if (current !== undefined) out.push(current);
  return out;
}

/** The qemu-script commands of README.md's ```sh blocks: one per `&&`, redirections and sudo left out. */
function commands(): string[][] {
  const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
  return blocks.flatMap((block) =>
    block.split('\n').flatMap((line) =>
      words(line)
        .join(' ')
        .split(' && ')
        .map((part) => words(part))
        .map((part) => (part[0] === 'sudo' ? part.slice(1) : part))
        .filter((part) => /(^|\/)qemu-script$/.test(part[0] ?? ''))
        .map((part) => {
          const redirect = part.indexOf('>');
          return (redirect < 0 ? part : part.slice(0, redirect)).slice(1);
        }),
    ),
  );
}

test('README.md: it has commands to check (the blocks were found)', () => {
  assert.ok(commands().length >= 30, String(commands().length));
});

for (const argv of commands()) {
  test(`README.md: qemu-script ${argv.join(' ')}`, () => {
    const found = findSubcommand(argv);
    if (found) {
      assert.not.equal(parseSubcommand(found.command, found.rest), undefined);
      return;
    }
    const parsed = parseArgs(argv, { DISPLAY: ':0' });
    assert.is(parsed.command, 'launch');
  });
}

test.run();
