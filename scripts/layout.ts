// The tree's own description: each lib/ folder's README.md says what lives there, what it may
// import and lists its files. The README's map is generated from them (make map), and
// test/layout.test.ts holds the code to them.
import { readdirSync, readFileSync } from 'node:fs';

export interface Folder {
  name: string;
  title: string;
  paragraph: string;
  mayImport: string[];
  files: Array<{ file: string; what: string }>;
}

const ROOT = new URL('..', import.meta.url).pathname;

export function readFolders(root = ROOT): Folder[] {
  const folders = readdirSync(`${root}/lib`, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry): Folder => {
      const text = readFileSync(`${root}/lib/${entry.name}/README.md`, 'utf8');
      const [heading, , paragraph] = text.split('\n');
      const imports = /^May import: (.*)$/m.exec(text)?.[1] ?? '';
      return {
        name: entry.name,
        title: heading.replace(/^# lib\/[a-z]+: /, ''),
        paragraph,
        mayImport: imports.startsWith('nothing') ? [] : imports.split(', '),
        files: [...text.matchAll(/^- `([^`]+)`: (.*)$/gm)].map((match) => ({ file: match[1], what: match[2] })),
      };
    });
  // Bottom first: a folder comes after every folder it may import.
  return folders.sort((a, b) => a.mayImport.length - b.mayImport.length);
}

export const MAP_START = '<!-- map: generated from lib/*/README.md by `make map` -->';
export const MAP_END = '<!-- map end -->';

/** The README's map of lib/: one section per folder, bottom first. */
export function renderMap(folders: Folder[]): string {
  const sections = folders.map((folder) => {
    const imports = folder.mayImport.length > 0 ? folder.mayImport.join(', ') : 'nothing of lib/';
    const files = folder.files.map(({ file, what }) => `\`${file}\` (${what})`).join('; ');
    return `- **\`lib/${folder.name}/\`: ${folder.title}.** ${folder.paragraph} May import: ${imports}. ${files}.`;
  });
  return [MAP_START, ...sections, MAP_END].join('\n');
}

/** README with its map section replaced by `map`. */
export function withMap(readme: string, map: string): string {
  const start = readme.indexOf(MAP_START);
  const end = readme.indexOf(MAP_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${MAP_START} ... ${MAP_END} section`);
  return readme.slice(0, start) + map + readme.slice(end + MAP_END.length);
}
