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
  /** Its IPv6 subnet, when the network has one here. */
  subnet6?: string;
  nat: boolean;
}

/** The uplinks NAT leaves by: the default route's interface of each family (undefined: none). */
export interface Uplinks {
  4?: string;
  6?: string;
}

type Family = 4 | 6;
const NFT_FAMILY = { 4: 'ip', 6: 'ip6' } as const;
const IPTABLES = { 4: 'iptables', 6: 'ip6tables' } as const;

/** NAT out of the uplink, in a table of the tool's own: masquerade the subnet's traffic there. */
function masquerade(network: NetworkTraffic, family: Family, subnet: string, uplink: string): RuleCommand[] {
  const table = nftTable(network.name);
  const nft = NFT_FAMILY[family];
  return [
    { add: ['nft', 'add', 'table', nft, table], remove: ['nft', 'delete', 'table', nft, table] },
    {
      add: [
        'nft',
        'add',
        'chain',
        nft,
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
        nft,
        table,
        'postrouting',
        nft,
        'saddr',
        subnet,
        'oifname',
        uplink,
        'masquerade',
        'comment',
        `"${ruleComment(network.name)}"`,
      ],
      remove: [],
    },
  ];
}

/** Accepts past a FORWARD policy of DROP, in DOCKER-USER (Docker's place for it) or FORWARD. */
function accepts(network: NetworkTraffic, family: Family, subnet: string, uplink: string | undefined, chain: string) {
  const bridge = network.name;
  const program = IPTABLES[family];
  const accept = (spec: string[]): RuleCommand => {
    const rule = [...spec, '-m', 'comment', '--comment', ruleComment(network.name), '-j', 'ACCEPT'];
    return { add: [program, '-I', chain, ...rule], remove: [program, '-D', chain, ...rule] };
  };
  return [
    // Guests to each other: bridged frames pass FORWARD too when br_netfilter is on.
    accept(['-i', bridge, '-o', bridge]),
    ...(network.nat && uplink
      ? [
          accept(['-i', bridge, '-o', uplink, '-s', subnet]),
          accept(['-i', uplink, '-o', bridge, '-d', subnet, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED']),
        ]
      : []),
  ];
}

/**
 * Pure: the commands that let this network's traffic through, touching no
 * other interface's, for each family the network has. NAT: masquerade the subnet
 * out of that family's uplink, in a table of the tool's own. A FORWARD policy of
 * DROP: accept the bridge's traffic in DOCKER-USER (Docker's place for it) or
 * FORWARD, since an accept in another base chain would not override that drop.
 * firewalld: the bridge in the trusted zone, runtime only. ufw: the equivalent
 * route rule, and DHCP/DNS to the host (both cover both families).
 */
export function firewallRules(network: NetworkTraffic, uplinks: Uplinks, facts: FirewallFacts): FirewallRules {
  const bridge = network.name;
  const commands: RuleCommand[] = [];
  const families: Array<[Family, string]> = [[4, network.subnet]];
  if (network.subnet6) families.push([6, network.subnet6]);
  for (const [family, subnet] of families) {
    const uplink = uplinks[family];
    if (network.nat && uplink) commands.push(...masquerade(network, family, subnet, uplink));
    const policy = family === 4 ? facts.forwardPolicy : facts.forwardPolicy6;
    const docker = family === 4 ? facts.dockerUser : facts.dockerUser6;
    if (policy === 'DROP')
      commands.push(...accepts(network, family, subnet, uplink, docker ? 'DOCKER-USER' : 'FORWARD'));
  }
  const uplink = uplinks[4];
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

/** A host port forwarded to a guest's address on a defined network (`fwd add`, `--fwd` on such a network). */
export interface Publication {
  network: string;
  protocol: 'tcp' | 'udp';
  hostPort: number;
  /** The guest's registered IPv4 address on the network. */
  guestIp: string;
  guestPort: number;
  /** NAT networks route the guests' answers back through the host; others do not, so the host stands in. */
  nat: boolean;
  /** The one host address it listens on; absent: every address of the host but loopback. */
  listen?: string;
}

/** One nft table per forwarded port and protocol: deleting it takes every rule of that forward at once. */
export const publicationTable = (protocol: 'tcp' | 'udp', port: number) => `qemu_script_fwd_${protocol}_${port}`;

/**
 * Pure: the commands that forward a host port to a guest. DNAT in prerouting (from other hosts) and output
 * (from this host) for the one address asked for, else every address of the host but loopback (a DNAT of
 * 127.0.0.1 would need route_localnet; from the host itself the guest's own address is nearer anyway). A
 * network without NAT gives its guests no way back to the caller: the forwarded connection is masqueraded to
 * the host's address on the bridge. A FORWARD policy of DROP: that one connection accepted in DOCKER-USER or
 * FORWARD. ufw: its route rule.
 */
export function publicationRules(publication: Publication, facts: FirewallFacts): FirewallRules {
  const { network, protocol, hostPort, guestIp, guestPort } = publication;
  const table = publicationTable(protocol, hostPort);
  const comment = ['comment', `"${ruleComment(network)}"`];
  const to = `${guestIp}:${guestPort}`;
  const chain = (name: string, hook: string, priority: string): RuleCommand => ({
    add: ['nft', 'add', 'chain', 'ip', table, name, `{ type nat hook ${hook} priority ${priority}; policy accept; }`],
    remove: [],
  });
  const rule = (name: string, ...words: string[]): RuleCommand => ({
    add: ['nft', 'add', 'rule', 'ip', table, name, ...words, ...comment],
    remove: [],
  });
  const destination = publication.listen
    ? ['ip', 'daddr', publication.listen]
    : ['fib', 'daddr', 'type', 'local', 'ip', 'daddr', '!=', '127.0.0.0/8'];
  const local = [...destination, protocol, 'dport', String(hostPort)];
  const commands: RuleCommand[] = [
    { add: ['nft', 'add', 'table', 'ip', table], remove: ['nft', 'delete', 'table', 'ip', table] },
    chain('prerouting', 'prerouting', 'dstnat'),
    rule('prerouting', ...local, 'dnat', 'to', to),
    chain('output', 'output', '-100'),
    rule('output', ...local, 'dnat', 'to', to),
  ];
  if (!publication.nat) {
    commands.push(
      chain('postrouting', 'postrouting', 'srcnat'),
      rule(
        'postrouting',
        'oifname',
        network,
        'ip',
        'daddr',
        guestIp,
        protocol,
        'dport',
        String(guestPort),
        'ct',
        'status',
        'dnat',
        'masquerade',
      ),
    );
  }
  if (facts.forwardPolicy === 'DROP') {
    const into = ['-o', network, '-d', guestIp, '-p', protocol, '--dport', String(guestPort)];
    const back = ['-i', network, '-s', guestIp, '-p', protocol, '--sport', String(guestPort)];
    const userChain = facts.dockerUser ? 'DOCKER-USER' : 'FORWARD';
    for (const spec of [
      [...into, '-m', 'conntrack', '--ctstate', 'DNAT'],
      [...back, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED'],
    ]) {
      const accept = [...spec, '-m', 'comment', '--comment', ruleComment(network), '-j', 'ACCEPT'];
      commands.push({
        add: ['iptables', '-I', userChain, ...accept],
        remove: ['iptables', '-D', userChain, ...accept],
      });
    }
  }
  if (facts.ufw) {
    const route = ['allow', 'proto', protocol, 'to', guestIp, 'port', String(guestPort)];
    commands.push({ add: ['ufw', 'route', ...route], remove: ['ufw', 'route', 'delete', ...route] });
  }
  return { commands };
}

/**
 * The mark bit that tells the guard a frame was bridged, not routed: br_netfilter passes frames bridged between
 * ports through the IPv4 forward hook too (with the bridge as both interfaces), and nothing else in that hook
 * tells the two apart. Set in the bridge's own forward hook and cleared before any other rule sees it.
 */
const BRIDGED = '0x00400000';
const NOT_BRIDGED = '0xffbfffff';

/** The guard's tables: a network's would be qemu_script_NAME, and no network's name starts with '_'. */
const GUARD_TABLE = 'qemu_script__forward';

/**
 * Pure: the rules that keep a host that did not forward from forwarding anything but ports the tool forwards into
 * a network without NAT (and their answers), while IPv4 forwarding is on for them alone. Frames bridged between a
 * bridge's ports pass, as they did before. Added before forwarding goes on, removed after it goes off, or as soon
 * as a NAT network needs the host to route.
 */
export function forwardGuard(): RuleCommand[] {
  const chain = (family: string, name: string, hook: string, priority: string): RuleCommand => ({
    add: ['nft', 'add', 'chain', family, GUARD_TABLE, name, `{ type filter hook ${hook} priority ${priority}; }`],
    remove: [],
  });
  const rule = (family: string, name: string, ...words: string[]): RuleCommand => ({
    add: ['nft', 'add', 'rule', family, GUARD_TABLE, name, ...words],
    remove: [],
  });
  const clear = ['meta', 'mark', 'set', 'meta', 'mark', 'and', NOT_BRIDGED];
  return [
    { add: ['nft', 'add', 'table', 'bridge', GUARD_TABLE], remove: ['nft', 'delete', 'table', 'bridge', GUARD_TABLE] },
    chain('bridge', 'forward', 'forward', '-300'),
    rule('bridge', 'forward', 'ether', 'type', 'ip', 'meta', 'mark', 'set', 'meta', 'mark', 'or', BRIDGED),
    chain('bridge', 'postrouting', 'postrouting', '300'),
    rule('bridge', 'postrouting', 'meta', 'mark', 'and', BRIDGED, '!=', '0', ...clear),
    { add: ['nft', 'add', 'table', 'ip', GUARD_TABLE], remove: ['nft', 'delete', 'table', 'ip', GUARD_TABLE] },
    chain('ip', 'forward', 'forward', '-300'),
    rule('ip', 'forward', 'meta', 'mark', 'and', BRIDGED, '!=', '0', ...clear, 'accept'),
    rule('ip', 'forward', 'ct', 'status', 'dnat', 'accept'),
    rule('ip', 'forward', 'drop'),
  ];
}
