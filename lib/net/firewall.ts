// What a defined network needs from the host's firewall, and what decides it:
// the iptables FORWARD policy (Docker sets DROP; with br_netfilter it drops
// bridged traffic too), Docker's DOCKER-USER chain, firewalld, ufw. The rules
// are a pure function of those facts (probe/firewall.ts reads them).
import type { FirewallFacts, FirewallRules, RuleCommand } from '../base/types.ts';

export const NO_FIREWALL: FirewallFacts = { dockerUser: false, firewalld: false, ufw: false };

/** nft table names take no '-': network names have no '_', so the mapping is one to one. */
const nftTable = (network: string) => `qemu_script_${network.replace(/-/g, '_')}`;
const ruleComment = (network: string) => `qemu-script ${network}`;

export interface NetworkTraffic {
  name: string;
  subnet: string;
  nat: boolean;
}

/**
 * Pure: the commands that let this network's traffic through, touching no
 * other interface's. NAT: masquerade the subnet out of the uplink, in a table
 * of the tool's own. A FORWARD policy of DROP: accept the bridge's traffic in
 * DOCKER-USER (Docker's place for it) or FORWARD, since an accept in another
 * base chain would not override that drop. firewalld: the bridge in the trusted
 * zone, runtime only. ufw: the equivalent route rule, and DHCP/DNS to the host.
 */
export function firewallRules(
  network: NetworkTraffic,
  uplink: string | undefined,
  facts: FirewallFacts,
): FirewallRules {
  const bridge = network.name;
  const commands: RuleCommand[] = [];
  if (network.nat && uplink) {
    const table = nftTable(network.name);
    commands.push(
      { add: ['nft', 'add', 'table', 'ip', table], remove: ['nft', 'delete', 'table', 'ip', table] },
      {
        add: [
          'nft',
          'add',
          'chain',
          'ip',
          table,
          'postrouting',
          '{ type nat hook postrouting priority srcnat; policy accept; }',
        ],
        remove: [],
      },
      {
        add: [
          'nft',
          'add',
          'rule',
          'ip',
          table,
          'postrouting',
          'ip',
          'saddr',
          network.subnet,
          'oifname',
          uplink,
          'masquerade',
          'comment',
          `"${ruleComment(network.name)}"`,
        ],
        remove: [],
      },
    );
  }
  if (facts.forwardPolicy === 'DROP') {
    const chain = facts.dockerUser ? 'DOCKER-USER' : 'FORWARD';
    const accept = (spec: string[]) => {
      const rule = [...spec, '-m', 'comment', '--comment', ruleComment(network.name), '-j', 'ACCEPT'];
      commands.push({ add: ['iptables', '-I', chain, ...rule], remove: ['iptables', '-D', chain, ...rule] });
    };
    // Guests to each other: bridged frames pass FORWARD too when br_netfilter is on.
    accept(['-i', bridge, '-o', bridge]);
    if (network.nat && uplink) {
      accept(['-i', bridge, '-o', uplink, '-s', network.subnet]);
      accept(['-i', uplink, '-o', bridge, '-d', network.subnet, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED']);
    }
  }
  if (facts.firewalld) {
    commands.push({
      add: ['firewall-cmd', '--zone=trusted', `--add-interface=${bridge}`],
      remove: ['firewall-cmd', '--zone=trusted', `--remove-interface=${bridge}`],
    });
  }
  if (facts.ufw) {
    commands.push({
      add: ['ufw', 'allow', 'in', 'on', bridge],
      remove: ['ufw', 'delete', 'allow', 'in', 'on', bridge],
    });
    if (network.nat && uplink) {
      const route = ['allow', 'in', 'on', bridge, 'out', 'on', uplink];
      commands.push({ add: ['ufw', 'route', ...route], remove: ['ufw', 'route', 'delete', ...route] });
    }
  }
  return { commands };
}
