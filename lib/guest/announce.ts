// What a launch tells the user once QEMU answers: its messages, the guest's addresses and the way in (text),
// the guest as `ps --json` shows it (one JSON object), or nothing (--quiet).
import { dirname } from 'node:path';
import { jsonOutput } from '../base/json.ts';
import { printOut } from '../base/output.ts';
import { processId } from '../base/proc.ts';
import type { Announce } from '../launch/launch.ts';
import type { GuestRecord } from '../state/guests.ts';
import { guestView } from './guest-commands.ts';
import { guestInfo } from './info.ts';

export type Output = 'text' | 'json' | 'quiet';

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

export function announcer(output: Output): Announce {
  if (output === 'quiet') return () => undefined;
  if (output === 'text') return announceText;
  return (record, pid) => {
    const view = guestView({ ...record, qemu: record.qemu ?? processId(pid) });
    printOut(jsonOutput({ version: 1, ...view }));
  };
}
