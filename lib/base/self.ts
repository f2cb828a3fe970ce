import { accessSync, constants } from 'node:fs';
import { basename } from 'node:path';

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The argv that starts this tool again (the waiter's cleanup, `sudo -n … net-helper`): the single
 * executable itself; the Node.js artifact (dist/qemu-script.cjs) by its own path, so that sudoers
 * can name it; or node with its loader and the script when run from a checkout.
 */
export function selfCommand(): string[] {
  const script = process.argv[1];
  const isExecutable = !script || script === process.execPath || basename(process.execPath) === 'qemu-script';
  if (isExecutable) return [process.execPath];
  if (process.execArgv.length === 0 && isExecutableFile(script)) return [script];
  return [process.execPath, ...process.execArgv, script];
}
