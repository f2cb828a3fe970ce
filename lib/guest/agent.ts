// The QEMU guest agent (qemu-ga in the guest), reached on the guest's private agent socket. Whether the guest
// runs one is QEMU's to say (QMP query-chardev: the guest has opened the port), so nothing waits on a guest
// without it. Used to power a guest off cleanly and to learn the addresses of NICs whose DHCP the tool does
// not serve (bridged, macvtap).
import { connectUnix } from '../base/builtin.ts';
import { GUEST_AGENT_CHARDEV } from '../base/names.ts';
import { agentSocketPath } from '../base/paths.ts';
import { ipFamily } from '../net/ip.ts';
import type { QmpClient } from '../base/qmp.ts';

/** Whether the guest has its agent's port open: QEMU says so (`frontend-open`) without asking the guest. */
export async function agentPresent(qmp: QmpClient): Promise<boolean> {
  const chardevs = (await qmp.execute('query-chardev').catch(() => [])) as Array<{
    label: string;
    'frontend-open'?: boolean;
  }>;
  return chardevs.some((chardev) => chardev.label === GUEST_AGENT_CHARDEV && chardev['frontend-open'] === true);
}

const openAgent = (runDir: string, timeoutMs: number) =>
  connectUnix(agentSocketPath(runDir), timeoutMs, 'the guest agent');

/**
 * One command and its answer. guest-sync first, with a fresh id: the agent may still hold the answer to an
 * earlier client that went away, and only what follows our id's echo is ours. Undefined when it does not
 * answer in time.
 */
export async function askAgent(runDir: string, command: string, timeoutMs = 5000): Promise<unknown> {
  const socket = await openAgent(runDir, timeoutMs).catch(() => undefined);
  if (!socket) return undefined;
  const id = Math.floor(Math.random() * 2 ** 31);
  return new Promise((resolve) => {
    let buffer = '';
    let synced = false;
    const done = (value: unknown) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        let message: { return?: unknown; error?: unknown };
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (!synced) {
          if (message.return !== id) continue;
          synced = true;
          socket.write(`${JSON.stringify({ execute: command })}\n`);
        } else done('error' in message ? undefined : message.return);
      }
    });
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
    socket.write(`${JSON.stringify({ execute: 'guest-sync', arguments: { id } })}\n`);
  });
}

/** guest-shutdown: the agent powers the guest off and answers nothing; true once it has the command. */
export async function agentPowerOff(runDir: string, timeoutMs = 5000): Promise<boolean> {
  const socket = await openAgent(runDir, timeoutMs).catch(() => undefined);
  if (!socket) return false;
  return new Promise((resolve) => {
    socket.write(`${JSON.stringify({ execute: 'guest-shutdown', arguments: { mode: 'powerdown' } })}\n`, (error) => {
      socket.end();
      resolve(!error);
    });
  });
}

interface AgentInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: Array<{ 'ip-address-type': 'ipv4' | 'ipv6'; 'ip-address': string }>;
}

const linkLocal = (address: string) => /^fe80:/i.test(address);

/** The NIC's addresses in guest-network-get-interfaces' answer, by MAC: its first IPv4 and global IPv6. */
export function agentAddresses(answer: unknown, mac: string): { ip: string | null; ip6: string | null } | undefined {
  if (!Array.isArray(answer)) return undefined;
  const nic = (answer as AgentInterface[]).find(
    (entry) => entry['hardware-address']?.toLowerCase() === mac.toLowerCase(),
  );
  if (!nic) return undefined;
  const addresses = Array.isArray(nic['ip-addresses']) ? nic['ip-addresses'] : [];
  // The guest says what it likes: only what reads as an address of the asked family is taken.
  const first = (type: 'ipv4' | 'ipv6') =>
    addresses.find(
      (entry) =>
        entry?.['ip-address-type'] === type &&
        typeof entry['ip-address'] === 'string' &&
        ipFamily(entry['ip-address']) === (type === 'ipv4' ? 4 : 6) &&
        !linkLocal(entry['ip-address']),
    )?.['ip-address'] ?? null;
  return { ip: first('ipv4'), ip6: first('ipv6') };
}
