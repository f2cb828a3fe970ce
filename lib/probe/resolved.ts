// Whether systemd-resolved runs here: its varlink socket answers. Where it does, a defined network's domain is
// handed to it (actions/names.ts), so the host resolves its guests' names.
import { connectUnix } from '../base/builtin.ts';
import { RESOLVED_SOCKET } from '../base/paths.ts';

export async function resolvedRuns(socket = RESOLVED_SOCKET): Promise<boolean> {
  try {
    (await connectUnix(socket, 1000, 'systemd-resolved')).destroy();
    return true;
  } catch {
    return false;
  }
}
