// make dist/qemu-script: the bundle as one executable through @yao-pkg/pkg's simple SEA mode, with V8's code
// cache for it baked in (Node's SEA `useCodeCache`): the bundle is not compiled again at every start-up.
// pkg's command line does not pass a sea-config in simple mode, so its SEA builder is called here with one;
// the Node.js it bakes into is the npm package's (offline, no download). Runs on that Node.js (22: its SEA
// reader must match the blob's writer), which strips the types itself.
// Usage: node scripts/build-sea.ts BUNDLE NODE OUTPUT
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

const [bundle, node, output] = process.argv.slice(2).map((path) => resolve(path));
await sea(bundle, {
  targets: [{ nodeRange: `node${process.versions.node}`, platform: 'linux', arch: 'x64', output }],
  nodePath: node,
  seaConfig: { disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: true },
});
