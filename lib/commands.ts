import type { CleanupAction, Command, HostAction, HostFacts } from './types.ts';

// How each host action is carried out as root: the apply stage runs these, and
// so does the privileged net-helper on behalf of a normal user.
export function rootCommands(action: HostAction | CleanupAction): Command[] {
  switch (action.op) {
    case 'bridge-add':
      if (!action.create) return [];
      return [
        { argv: ['ip', 'link', 'add', 'name', action.name, 'type', 'bridge'] },
        ...(action.hostIp ? [{ argv: ['ip', 'addr', 'add', action.hostIp, 'dev', action.name] }] : []),
        { argv: ['ip', 'link', 'set', action.name, 'up'] },
      ];
    case 'macvtap-add':
      return [
        { argv: ['ip', 'link', 'add', 'link', action.parent, 'name', action.name, 'address', action.mac, 'type', 'macvtap', 'mode', 'bridge'] },
        // allmulticast: without it IPv6 neighbour discovery and multicast fail in the guest.
        { argv: ['ip', 'link', 'set', action.name, 'allmulticast', 'on', 'up'] },
        {
          argv: ['mknod', '-m', '0600', action.node, 'c', 'MAJOR', 'MINOR'],
          note: `MAJOR:MINOR read from /sys/class/net/${action.name}/macvtap/tap*/dev`,
        },
      ];
    case 'bridge-del':
      return [{ argv: ['ip', 'link', 'del', action.name], note: 'only when no other guest uses it' }];
    case 'macvtap-del':
      return [{ argv: ['ip', 'link', 'del', action.name] }, { argv: ['rm', '-f', action.node] }];
  }
}

/** The one request a normal user sends through `sudo -n qemu-script net-helper`. */
export function helperRequest(action: HostAction | CleanupAction): string[] {
  switch (action.op) {
    case 'bridge-add':
      return ['bridge-add', action.name, action.guest, ...(action.hostIp ? [action.hostIp] : [])];
    case 'macvtap-add':
      return ['macvtap-add', action.name, action.parent, action.mac, action.guest];
    case 'bridge-del':
    case 'macvtap-del':
      return [action.op, action.name, action.guest];
  }
}

/** The commands this host really runs for an action: directly as root, else through sudo. */
export function commandsFor(action: HostAction | CleanupAction, facts: Pick<HostFacts, 'isRoot' | 'selfCommand'>): Command[] {
  if (facts.isRoot) return rootCommands(action);
  return [{ argv: ['sudo', '-n', ...facts.selfCommand, 'net-helper', ...helperRequest(action)] }];
}
