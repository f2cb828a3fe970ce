// The host's firewall situation, read-only: what decides a defined network's rules (net/firewall.ts).
import { probeSync } from '../base/runner.ts';
import { findSystemTool } from '../base/system-tools.ts';
import type { FirewallFacts } from '../base/types.ts';
import { NO_FIREWALL } from '../net/firewall.ts';

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
  const ip6tables = findSystemTool('ip6tables');
  if (ip6tables) {
    const forward = probeSync([ip6tables, '-S', 'FORWARD']);
    facts.forwardPolicy6 = /^-P FORWARD (\S+)$/m.exec(forward.stdout)?.[1];
    facts.dockerUser6 = forward.ok && probeSync([ip6tables, '-S', 'DOCKER-USER']).ok;
  }
  const firewallCmd = findSystemTool('firewall-cmd');
  if (firewallCmd) facts.firewalld = probeSync([firewallCmd, '--state']).stdout.trim() === 'running';
  const ufw = findSystemTool('ufw');
  if (ufw) facts.ufw = /^Status: active/m.test(probeSync([ufw, 'status']).stdout);
  return facts;
}
