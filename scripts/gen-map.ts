// make map: rewrites README.md's map of lib/ from the folders' README.md files.
import { readFileSync, writeFileSync } from 'node:fs';
import { readFolders, renderMap, withMap } from './layout.ts';

const path = new URL('../README.md', import.meta.url).pathname;
writeFileSync(path, withMap(readFileSync(path, 'utf8'), renderMap(readFolders())));
