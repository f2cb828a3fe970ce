// qemu-script ssh NAME [-- ssh args]: ssh to a guest through its SSH forward,
// else to its address on a defined network (or any network the host sees it on).
import type { ToolContext } from '../base/context.ts';
import { HostError, UsageError } from '../base/errors.ts';
import { guestView, type GuestView } from './guest-commands.ts';
import { readRecord } from '../state/guests.ts';
import { start } from '../base/runner.ts';

/** The ssh argv for a guest, from what `ps` knows of it. */
function sshArgv(view: GuestView, login: string | undefined, extra: string[]): string[] | undefined {
  const at = (host: string) => (login ? `${login}@${host}` : host);
  const forward = view.forwards.find((entry) => entry.proto === 'tcp' && entry.guest_port === 22);
  if (forward) return ['ssh', '-p', String(forward.port), at(forward.host), ...extra];
  const nic = view.nics.find((entry) => entry.net !== 'user' && entry.ip);
  return nic ? ['ssh', at(nic.ip!), ...extra] : undefined;
}

export async function ssh(context: ToolContext, target: string | undefined, extra: string[]): Promise<number> {
  if (!target) throw new UsageError('ssh needs a guest name: qemu-script ssh [USER@]NAME [-- ssh options]');
  const [login, name] = target.includes('@')
    ? [target.slice(0, target.lastIndexOf('@')), target.slice(target.lastIndexOf('@') + 1)]
    : [undefined, target];
  const record = readRecord(context.runtimeDir, name);
  if (!record) throw new UsageError(`ssh: no guest named "${name}" (see qemu-script ps)`);
  const argv = sshArgv(guestView(record), login, extra);
  if (!argv)
    throw new HostError(
      `ssh: no address of ${name} is known yet (no SSH forward, no DHCP lease, not seen by the host); see ` +
        `qemu-script ps`,
    );
  const result = await (await start(argv, { stdio: 'inherit', reject: false })).child;
  if (result.exitCode === undefined && result.failed) throw new HostError(`ssh: ${result.shortMessage}`);
  return result.exitCode ?? 1;
}
