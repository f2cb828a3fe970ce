// What a defined network needs from the host's firewall, and what decides it:
// the iptables FORWARD policy (Docker sets DROP; with br_netfilter it drops
// bridged traffic too), Docker's DOCKER-USER chain, firewalld, ufw. The rules
// are a pure function of those facts; probing them is the only part that runs
// anything, read-only.
import { probeSync } from './runner.ts';
import { findSystemTool } from './system-tools.ts';
import type { FirewallFacts, FirewallRules, RuleCommand } from './types.ts';

export const NO_FIREWALL: FirewallFacts = { dockerUser: false, firewalld: false, ufw: false };

/** Reads the host's firewall situation (read-only; as root, else what can be seen). */
export function probeFirewall(): FirewallFacts {
  const facts: FirewallFacts = { ...NO_FIREWALL };
  const iptables = findSystemTool('iptables');
  if (iptables) {
    const forward = probeSync([iptables, '-S', 'FORWARD']);
    facts.forwardPolicy = /^-P FORWARD (\S+)$/m.exec(forward.stdout)?.[1];
    facts.inputPolicy = /^-P INPUT (\S+)$/m.exec(probeSync([iptables, '-S', 'INPUT']).stdout)?.[1];
    facts.dockerUser = forward.ok && probeSync([iptables, '-S', 'DOCKER-USER']).ok;
  }
  const firewallCmd = findSystemTool('firewall-cmd');
  if (firewallCmd) facts.firewalld = probeSync([firewallCmd, '--state']).stdout.trim() === 'running';
  const ufw = findSystemTool('ufw');
  if (ufw) facts.ufw = /^Status: active/m.test(probeSync([ufw, 'status']).stdout);
  return facts;
}

/** nft table names take no '-': network names have no '_', so the mapping is one to one. */
export const nftTable = (network: string) => `qemu_script_${network.replace(/-/g, '_')}`;
export const ruleComment = (network: string) => `qemu-script ${network}`;

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

/** What the firewall kind says it will do on this host, for doctor and the dry run. */
export function firewallSummary(facts: FirewallFacts): string[] {
  return [
    facts.forwardPolicy === 'DROP'
      ? `FORWARD policy DROP: each defined network's bridge is accepted in ${facts.dockerUser ? 'DOCKER-USER' : 'FORWARD'}`
      : `FORWARD policy ${facts.forwardPolicy ?? 'unknown (iptables missing or unreadable)'}: no forwarding rule needed`,
    ...(facts.firewalld ? ["firewalld runs: each network's bridge goes into the trusted zone (runtime only)"] : []),
    ...(facts.ufw ? ['ufw is active: each network gets an allow-in and (NAT) a route rule, deleted with it'] : []),
  ];
}
