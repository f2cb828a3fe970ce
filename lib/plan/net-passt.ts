// --net passt: user networking by passt, a process beside QEMU (the caller's; root's as a user id of its own).
import { UsageError } from '../base/errors.ts';
import { qemuProps } from './qemu-syntax.ts';
import { INSTALL_HINT } from '../base/system-tools.ts';
import type { Forward } from '../base/types.ts';
import { NetContext, NicPlan, Nic, hostless, LOOPBACK, loopbackForwards } from './net-common.ts';

/** Where root's companions' user id is looked for, downwards: the top of the 16-bit range, below nobody's. */
const COMPANION_UID = 65533;

/**
 * passt: a process of the caller's per guest, which QEMU reaches over a unix socket. It gives the guest
 * the host's IPv4 address by DHCP and forwards ports bound to 127.0.0.1 alone, nothing from the LAN:
 * Debian 12's passt takes one address per port, and its IPv6 sockets are IPv6-only.
 */
export function planPasst(_item: { kind: 'passt' }, nic: Nic, context: NetContext): NicPlan {
  const binary = context.facts.passt;
  if (!binary) throw new UsageError(`--net passt: passt is not installed; ${INSTALL_HINT.passt}`);
  const { all, messages } = loopbackForwards(context);
  const spec = (protocol: Forward['protocol']) =>
    all
      .filter((forward) => forward.protocol === protocol)
      .flatMap((forward) => [protocol === 'tcp' ? '-t' : '-u', `${LOOPBACK}/${forward.hostPort}:${forward.guestPort}`]);
  // Root's passt runs as a user of its own, who cannot enter the guest's private directory: its own directory
  // is elsewhere, that user's alone.
  const dir = context.facts.isRoot
    ? `${context.facts.runtimeDir}/passt/${context.guest}-${nic.id}`
    : `${context.runDir}/passt-${nic.id}`;
  const socket = `${dir}/passt.sock`;
  const log = `${dir}/passt.log`;
  const udp = spec('udp');
  context.companions.push({
    kind: 'passt',
    dir,
    socket,
    log,
    // Never as root (passt's own switch to nobody leaves its socket unreachable), nor as nobody, whom the DHCP
    // servers run as: as a user id of its own (no account has it), so a compromised server can neither signal
    // it nor write where it keeps its socket.
    ...(context.facts.isRoot ? { runAs: context.facts.companionUid ?? COMPANION_UID } : {}),
    // --foreground: the tool starts it detached and knows its PID. -u none: otherwise passt forwards the
    // TCP ports' numbers for UDP too.
    argv: [
      binary,
      '--foreground',
      '--quiet',
      '--socket',
      socket,
      '--log-file',
      log,
      ...spec('tcp'),
      ...(udp.length > 0 ? udp : ['-u', 'none']),
    ],
  });
  const netdev = qemuProps(`stream,id=${nic.id}`, { server: 'off', 'addr.type': 'unix', 'addr.path': socket });
  return hostless(netdev, 'passt', { from: 'none' }, [
    `NIC ${nic.position} on passt (the host's addresses)`,
    ...messages,
  ]);
}
