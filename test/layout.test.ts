// The tree shows the pipeline: every file of lib/ is in its folder's list, imports only from its own
// folder or one its folder's README allows (so arrows go downward), no import cycle, and README.md's
// map is the one the folders' headers generate.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFolders, renderMap, withMap } from '../scripts/layout.ts';
import { ROOT } from './helpers.ts';

const folders = readFolders();
const sources = readdirSync(`${ROOT}/lib`, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
  .map((entry) => relative(`${ROOT}/lib`, join(entry.parentPath, entry.name)));

/** lib-relative path → the lib-relative paths it imports. */
const imports = new Map(
  sources.map((source) => {
    const text = readFileSync(`${ROOT}/lib/${source}`, 'utf8');
    const targets = [...text.matchAll(/from '(\.\.?\/[^']+)'|import\('(\.\.?\/[^']+)'\)/g)].map((match) =>
      normalize(join(dirname(source), match[1] ?? match[2])),
    );
    return [source, targets];
  }),
);

test('layout: every file of lib/ is in a folder, listed in its README, and every listed file exists', () => {
  assert.equal(
    sources.filter((source) => !source.includes('/')),
    [],
    'no file directly in lib/',
  );
  for (const folder of folders) {
    const actual = sources.filter((source) => dirname(source) === folder.name).map((source) => source.split('/')[1]);
    assert.equal(folder.files.map(({ file }) => file).sort(), actual.sort(), `lib/${folder.name}/README.md`);
    assert.ok(folder.paragraph.length > 40, `lib/${folder.name}/README.md says what lives there`);
  }
});

test('layout: imports stay in the folder or go to a folder it may import; those lie below it', () => {
  const names = folders.map((folder) => folder.name);
  for (const folder of folders) {
    for (const allowed of folder.mayImport) {
      assert.ok(names.indexOf(allowed) < names.indexOf(folder.name), `${folder.name} may import ${allowed}: below`);
    }
  }
  for (const [source, targets] of imports) {
    const folder = folders.find((candidate) => candidate.name === dirname(source))!;
    for (const target of targets) {
      const to = target.split('/')[0];
      assert.ok(to === folder.name || folder.mayImport.includes(to), `lib/${source} imports lib/${target}`);
    }
  }
});

test('layout: no import cycle in lib/', () => {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (source: string, path: string[]) => {
    if (state.get(source) === 'done') return;
    assert.not.ok(state.get(source) === 'open', `cycle: ${[...path, source].join(' → ')}`);
    state.set(source, 'open');
    for (const target of imports.get(source) ?? []) visit(target, [...path, source]);
    state.set(source, 'done');
  };
  for (const source of sources) visit(source, []);
});

test('layout: README.md\'s map of lib/ is the one the folders\' headers generate (make map)', () => {
  const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
  assert.fixture(withMap(readme, renderMap(folders)), readme);
});

test.run();
