// How a normal user's host actions reach root: `sudo -n qemu-script-helper REQUEST`, one request
// per change. The helper is the tool under its own name (base/self.ts), so sudoers names it alone.
import { helperPath } from '../base/self.ts';
import { kindOf } from './index.ts';
import type { HostAction } from '../base/types.ts';

export const SUDO_HINT =
  'the privileged helper must be reachable without a password: run sudo qemu-script setup --user $USER ' +
  '(or add the sudoers line from the README), or run as root';

/** The one argv that runs the privileged entry point. */
export function helperArgv(selfCommand: string[], words: string[]): string[] {
  return ['sudo', '-n', helperPath(selfCommand), ...words];
}

/** `KIND-add WORDS...`: makes or joins the action's thing for the caller's guest. */
export const addRequest = (action: HostAction) => [`${action.kind}-add`, ...kindOf(action).request(action)];

/** `KIND-del KEY GUEST`: the caller's guest lets go of it. */
export const releaseRequest = (action: HostAction) => [`${action.kind}-del`, kindOf(action).key(action), action.guest];
