// How a normal user's host actions reach root: one narrow sudo entry point.
import { kindOf } from './index.ts';
import type { HostAction } from '../base/types.ts';

const HELPER_COMMAND = 'net-helper';

export const SUDO_HINT =
  'the privileged helper must be reachable without a password: run sudo qemu-script setup --user $USER (or add ' +
    'the sudoers line from the README), or run as root';

/** The one argv that runs the privileged entry point. */
export function helperArgv(selfCommand: string[], words: string[]): string[] {
  return ['sudo', '-n', ...selfCommand, HELPER_COMMAND, ...words];
}

/** `KIND-add WORDS...`: makes or joins the action's thing for the caller's guest. */
export const addRequest = (action: HostAction) => [`${action.kind}-add`, ...kindOf(action).request(action)];

/** `KIND-del KEY GUEST`: the caller's guest lets go of it. */
export const releaseRequest = (action: HostAction) => [`${action.kind}-del`, kindOf(action).key(action), action.guest];
