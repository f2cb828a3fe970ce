// What a launch tells the user once QEMU answers: its messages, the guest's addresses and the way in (text),
// the guest as `ps --json` shows it (one JSON object), or nothing (--quiet); with --wait, once it is ready.
import { dirname } from 'node:path';
import { jsonOutput } from '../base/json.ts';
import { printOut } from '../base/output.ts';
import { processId } from '../base/proc.ts';
import type { ToolContext } from '../base/context.ts';
import type { LaunchOptions } from '../base/types.ts';
import { launchGuest, type Announce } from '../launch/launch.ts';
import type { GuestRecord } from '../state/guests.ts';
import { guestView } from './guest-commands.ts';
import { guestInfo } from './info.ts';
import { waitReady } from './ssh.ts';

type Output = 'text' | 'json' | 'quiet';

function announceText(record: GuestRecord, pid: number, background: boolean): void {
  const { plan } = record;
  for (const message of plan.messages) printOut(`${message}\n`);
  // Addresses known now (a defined network's is reserved before QEMU starts) and the way in.
  const reach = guestInfo({ ...record, qemu: record.qemu ?? processId(pid) }, dirname(plan.runDir));
  for (const nic of reach.nics) {
    if (nic.ip && nic.net !== 'user')
      printOut(`Address on ${nic.net}: ${[nic.ip, ...(nic.ip6 ? [nic.ip6] : [])].join(' ')}\n`);
  }
  if (reach.ssh) printOut(`Log in: ${reach.ssh}\n`);
  const how = background ? `; stop it with: qemu-script down ${plan.name}` : '';
  printOut(`Guest ${plan.name} is running (QEMU pid ${pid})${how}\n`);
}

function announcer(output: Output): Announce {
  if (output === 'quiet') return () => undefined;
  if (output === 'text') return announceText;
  return (record, pid) => {
    const view = guestView({ ...record, qemu: record.qemu ?? processId(pid) });
    printOut(jsonOutput({ version: 1, ...view }));
  };
}

/**
 * A launch (a line, or an instance's start), told as `options` asks; given `wait` seconds, it returns only once
 * the guest is ready. `what` is what the user typed for it (--wait, start --wait), for the messages.
 */
export async function launchAndWait(
  options: LaunchOptions,
  context: ToolContext,
  wait?: { seconds: number; what: string },
): Promise<number> {
  const output: Output = options.json ? 'json' : options.quiet ? 'quiet' : 'text';
  const announce = announcer(output);
  let name: string | undefined;
  const code = await launchGuest(options, context, (record, pid, background) => {
    name = record.name;
    announce(record, pid, background);
  });
  if (code !== 0 || !wait || options.dryRun || name === undefined) return code;
  await waitReady(context, name, wait.seconds, wait.what);
  if (output === 'text') printOut(`${name} is ready${options.cloudInit ? ' (cloud-init has finished)' : ''}\n`);
  return 0;
}
