import { basename } from 'node:path';

/**
 * The argv that starts this tool again (the supervisor, `sudo -n … net-helper`):
 * the single executable itself, or node with the script when run from a checkout.
 */
export function selfCommand(): string[] {
  const script = process.argv[1];
  const isExecutable = !script || script === process.execPath || basename(process.execPath) === 'qemu-script';
  return isExecutable ? [process.execPath] : [process.execPath, ...process.execArgv, script];
}
