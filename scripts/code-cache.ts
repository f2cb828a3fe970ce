// make dist/qemu-script, first step: the bundle as the body scripts/sea-main.cjs runs, and V8's code cache for
// it taken after the commands a start-up is measured by ran in this process (read-only ones: --version,
// --help, dry runs, ps), so the cache holds the functions they call, not the top level alone. Their
// registry and configuration are empty directories of this run's; what they print goes where this
// process's descriptors 1 and 2 go. A command that fails still compiles what it ran.
// Usage: node scripts/code-cache.ts BUNDLE BODY CACHE   (run by the Node.js the executable is made of)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { Script } from 'node:vm';

const SIXTEEN_NICS = ['user', ...Array.from({ length: 15 }, (_, i) => `vmnet${i}`)].join(',');
const GUEST = ['--display', 'none', '--accel', 'tcg', '-m', '64'];
const COMMANDS = [
  ['--version'],
  ['--help'],
  ['--dry-run', '--json', ...GUEST, '--net', SIXTEEN_NICS],
  ['--dry-run', ...GUEST, '--net', 'user,vmnet0,0', '--fwd', '8080-80'],
  ['ps'],
];
const PATIENCE_MS = 10_000;

const [bundle, bodyPath, cachePath] = process.argv.slice(2);
// A CommonJS module body, as Node wraps one; the bundle's shebang is no JavaScript.
const body =
  '(function (exports, require, module, __filename, __dirname) {' +
  readFileSync(bundle, 'utf8').replace(/^#!.*/, '') +
  '\n})';
// scripts/sea-main.cjs reads it as latin1.
if (/[^\x00-\x7f]/.test(body)) throw new Error(`${bundle} is not ASCII: esbuild's --charset must stay ascii`);
const script = new Script(body, { filename: 'qemu-script.js' });
const run = script.runInThisContext() as (...args: unknown[]) => void;

const scratch = mkdtempSync(`${tmpdir()}/qemu-script-cache-`);
process.env.QEMU_SCRIPT_RUNTIME_DIR = `${scratch}/run`;
process.env.QEMU_SCRIPT_CONFIG_DIR = `${scratch}/config`;
try {
  for (const words of COMMANDS) {
    // The bundle's entry sets process.exitCode when its command is over.
    process.exitCode = undefined;
    process.argv = [process.execPath, '/usr/local/bin/qemu-script', ...words];
    const module = { exports: {} };
    run(module.exports, createRequire(import.meta.url), module, '/usr/local/bin/qemu-script', '/usr/local/bin');
    const deadline = Date.now() + PATIENCE_MS;
    while (process.exitCode === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
writeFileSync(bodyPath, body);
writeFileSync(cachePath, script.createCachedData());
process.exit(0);
