// make dist/qemu-script: the bundle as one executable through @yao-pkg/pkg's simple SEA mode. Its main
// script is scripts/sea-main.cjs, which runs the bundle (an asset) with the V8 code cache
// scripts/code-cache.ts took after running it; the build fails if this Node.js rejects that cache.
// pkg's command line passes no sea-config (assets) in simple mode, so its SEA builder is called here with
// one; the Node.js it bakes into is the npm package's (offline, no download). Runs on that Node.js (22:
// its SEA reader must match the blob's writer), which strips the types itself.
// The waiter program (lib/launch/waiter.c) goes in as an asset too.
// Usage: node scripts/build-sea.ts BUNDLE WAITER NODE OUTPUT
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

interface SeaTarget {
  nodeRange: string;
  platform: string;
  arch: string;
  output: string;
}
type Sea = (entry: string, options: { targets: SeaTarget[]; nodePath: string; seaConfig: object }) => Promise<void>;

const require = createRequire(import.meta.url);
const sea = (require('@yao-pkg/pkg/lib-es5/sea.js') as { default: Sea }).default;
// pkg's builder reads its options (hooks) from here; there are none.
(require('@yao-pkg/pkg/lib-es5/options.js') as { default: { set(options: object): void } }).default.set({});

const [bundle, waiter, node, output] = process.argv.slice(2).map((path) => resolve(path));
const dir = resolve('.cache/sea');
mkdirSync(dir, { recursive: true });
const body = `${dir}/bundle.js`;
const cache = `${dir}/bundle.cache`;
// The commands it runs print: to the build's log.
execFileSync(process.execPath, [new URL('code-cache.ts', import.meta.url).pathname, bundle, body, cache], {
  stdio: ['ignore', 2, 2],
});
const rejected = execFileSync(node, [
  '-p',
  'const { readFileSync: r } = require("node:fs"); new (require("node:vm").Script)(r(process.argv[1], "utf8"), ' +
    '{ filename: "qemu-script.js", cachedData: r(process.argv[2]) }).cachedDataRejected',
  body,
  cache,
]).toString();
if (rejected.trim() !== 'false') throw new Error(`${node} rejects the code cache made for it (${rejected.trim()})`);

await sea(new URL('sea-main.cjs', import.meta.url).pathname, {
  targets: [{ nodeRange: `node${process.versions.node}`, platform: 'linux', arch: 'x64', output }],
  nodePath: node,
  seaConfig: {
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    assets: { 'bundle.js': body, 'bundle.cache': cache, 'qemu-script-waiter': waiter },
  },
});
