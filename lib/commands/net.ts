// qemu-script net create, ls and rm: defined networks (root defines them; every member uses them).
import { UsageError } from '../base/errors.ts';
import { netCreate, netLs, netRm } from '../admin/net-commands.ts';
import type { Subcommand } from '../cli/command.ts';
import { JSON_FLAG, print, text } from './words.ts';

export const NET_COMMANDS: readonly Subcommand[] = [
  {
    name: 'net create',
    args: 'NAME',
    summary: 'define a network (root): host-only by default',
    flags: [
      {
        name: 'subnet',
        value: 'CIDR',
        help: 'private IPv4 subnet, /16 to /30 (default: the first free 192.168.X.0/24 from 58)',
      },
      { name: 'host-ip', value: 'IP', help: "the host's address on it (default: the subnet's first)" },
      {
        name: 'subnet6',
        value: 'PREFIX',
        help: 'its IPv6 /64, unique local (default: one derived from the name under fd00::/8)',
      },
      { name: 'no-ipv6', help: 'IPv4 only: no IPv6 subnet, router advertisements or DHCPv6' },
      { name: 'dhcp', help: 'run a DHCP and DNS server for it (dnsmasq): guests get stable addresses and names' },
      { name: 'nat', help: "let its guests out through the host's default route" },
      { name: 'domain', value: 'DOMAIN', help: "its guests' DNS domain, NAME.DOMAIN (with --dhcp; default: its name)" },
      {
        name: 'vxlan',
        value: 'VNI',
        help: 'carry it to other hosts in a VXLAN tunnel (1-16777215); define it on each host',
      },
      { name: 'remote', value: 'IP[,IP...]', help: "the other hosts' underlay addresses (with --vxlan)" },
      { name: 'dev', value: 'IF', help: 'the underlay interface (default: the route to the first remote)' },
      { name: 'port', value: 'N', help: "the tunnel's UDP port (default 4789)" },
      { name: 'group', value: 'ADDR', help: 'a multicast group instead of --remote, for large sites' },
    ],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => {
      const tunnelFlags = ['remote', 'dev', 'port', 'group'].filter((flag) => flags[flag] !== undefined);
      if (flags.vxlan === undefined && tunnelFlags.length > 0)
        throw new UsageError(`net create: --${tunnelFlags[0]} goes with --vxlan VNI`);
      const vxlan =
        flags.vxlan === undefined
          ? undefined
          : {
              vni: text(flags.vxlan)!,
              remotes: text(flags.remote),
              dev: text(flags.dev),
              port: text(flags.port),
              group: text(flags.group),
            };
      if (flags['no-ipv6'] && flags.subnet6 !== undefined)
        throw new UsageError('net create: --subnet6 and --no-ipv6 exclude each other');
      return print(
        netCreate(context, {
          name: args[0],
          subnet: text(flags.subnet),
          hostIp: text(flags['host-ip']),
          subnet6: text(flags.subnet6),
          ipv6: !flags['no-ipv6'],
          dhcp: Boolean(flags.dhcp),
          nat: Boolean(flags.nat),
          vxlan,
          domain: text(flags.domain),
        }),
      );
    },
  },
  {
    name: 'net ls',
    args: '',
    summary: 'defined networks, built-ins included, whether they are up and who uses them',
    flags: [JSON_FLAG],
    positionals: [0, 0],
    run: async ({ flags }, context) => print(netLs(context, Boolean(flags.json))),
  },
  {
    name: 'net rm',
    args: 'NAME',
    summary: 'remove a network definition (root); refused while a guest uses it',
    flags: [],
    positionals: [1, 1],
    run: async ({ args }, context) => print(netRm(context, args[0])),
  },
];
