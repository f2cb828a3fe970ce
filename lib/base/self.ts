// The tool's own identity: how it starts itself again, and the privileged helper, which is
// the same program under another name (a hard link beside it). sudoers names the helper's path
// alone; the program, not sudo's pattern, makes that path do nothing but helper requests,
// whatever its arguments.
import { accessSync, constants } from 'node:fs';
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

/** Whether this is the single executable (a Node.js single executable application). */
function isSingleExecutable(): boolean {
  try {
    const sea = process.getBuiltinModule?.('node:sea') as { isSea(): boolean } | undefined;
    return sea?.isSea() ?? false;
  } catch {
    return false;
  }
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

/** The helper beside the program SELF runs: what `sudo -n` is given, and what sudoers names. */
export function helperPath(self: string[]): string {
  const program = self.at(-1)!;
  return `${dirname(program)}/${HELPER_NAME}${program.endsWith('.cjs') ? '.cjs' : ''}`;
}
