// The tool's own identity: how it starts itself again, and the privileged helper, which is
// the same program under another name (a hard link beside it). sudoers names the helper's path
// alone; the program, not sudo's pattern, makes that path do nothing but helper requests,
// whatever its arguments.
import { accessSync, constants, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';

/** The helper's file name; `.cjs` added beside the Node.js artifact. */
export const HELPER_NAME = 'qemu-script-helper';

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface Sea {
  isSea(): boolean;
  getRawAsset(key: string): ArrayBuffer;
}

/** node:sea where this is the single executable (a Node.js single executable application). */
function singleExecutable(): Sea | undefined {
  try {
    const sea = process.getBuiltinModule?.('node:sea') as Sea | undefined;
    return sea?.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

const isSingleExecutable = () => singleExecutable() !== undefined;

/** The background guest's waiter (lib/launch/waiter.c), a program of its own. */
export const WAITER_NAME = 'qemu-script-waiter';

/** Where the waiter comes from: the file beside this program, the copy the single executable carries, or none. */
export function waiterSource(): { beside: string } | { carried: Sea } | undefined {
  const beside = `${dirname(programFile())}/${WAITER_NAME}`;
  if (isExecutableFile(beside)) return { beside };
  const sea = singleExecutable();
  return sea ? { carried: sea } : undefined;
}

/**
 * The waiter program as a file that can run: the one installed or built beside this program; else the single
 * executable's own copy (an asset), written into DIR (the caller's runtime directory) when not there already.
 * Undefined when there is neither (the .cjs script without its build); a DIR mounted noexec shows when it runs.
 */
export function waiterProgram(dir: string): string | undefined {
  const source = waiterSource();
  if (!source || 'beside' in source) return source?.beside;
  let carried: Buffer;
  try {
    carried = Buffer.from(source.carried.getRawAsset(WAITER_NAME));
  } catch {
    return undefined;
  }
  const path = `${dir}/${WAITER_NAME}`;
  let present: Buffer | undefined;
  try {
    present = readFileSync(path);
  } catch {
    present = undefined;
  }
  if (!present?.equals(carried)) {
    // Whole or not at all: a launch beside this one may be running the file that is there.
    writeFileSync(`${path}.${process.pid}`, carried, { mode: 0o755 });
    renameSync(`${path}.${process.pid}`, path);
  }
  return path;
}

/** The file this process runs: the single executable itself, or the script node was given. */
function programFile(): string {
  return isSingleExecutable() ? process.execPath : (process.argv[1] ?? process.execPath);
}

/** Whether this process was started as the helper (its program file is named HELPER_NAME). */
export function isHelperProgram(): boolean {
  return basename(programFile()).replace(/\.cjs$/, '') === HELPER_NAME;
}

/**
 * The argv that starts this tool again (the waiter's cleanup): the single executable itself; the
 * Node.js artifact (dist/qemu-script.cjs) by its own path; or node with its loader and the
 * script when run from a checkout.
 */
export function selfCommand(): string[] {
  const script = process.argv[1];
  if (isSingleExecutable() || !script) return [process.execPath];
  if (process.execArgv.length === 0 && isExecutableFile(script)) return [script];
  return [process.execPath, ...process.execArgv, script];
}

/**
 * The helper beside the program SELF runs: what `sudo -n` is given, and what sudoers names. It is always the
 * single executable under the helper's name, for the .cjs script too: a script's `#!/usr/bin/env node` would
 * have sudo run the first node of the caller's PATH as root.
 */
export function helperPath(self: string[]): string {
  return `${dirname(self.at(-1)!)}/${HELPER_NAME}`;
}
