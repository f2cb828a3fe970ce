// Every subcommand, one entry each: its words, flags, usage and what it runs.
// Parsing, --help, the refusal of unknown flags (command.ts) and the help text all read this table.
import { toolContext } from '../base/context.ts';
import { renderDoctor, runDoctor } from '../admin/doctor.ts';
import { UsageError } from '../base/errors.ts';
import { probeFirewall } from '../probe/firewall.ts';
import { down, gc, ps } from '../guest/guest-commands.ts';
import { currentUser } from '../probe/host-access.ts';
import { ensureOwnDir } from '../base/lock.ts';
import { netCreate, netLs, netRm } from '../admin/net-commands.ts';
import { cleanupMain } from '../guest/launch.ts';
import { readSettings } from './settings.ts';
import { setup, undoSetup } from '../admin/setup.ts';
import { parseWait, ssh } from '../guest/ssh.ts';
import { completionScript } from './completion.ts';
import { listRecords } from '../state/guests.ts';
import { readNetworks } from '../net/networks.ts';
import { printOut } from '../base/output.ts';
import {
  findCommand,
  parseSubcommand,
  subcommandHelp,
  typoOfCommand,
  type Flag,
  type FlagValue,
  type Subcommand,
} from './command.ts';
import { DEFAULT_GROUP } from '../base/names.ts';
import { attachConsole } from '../guest/console.ts';
import { info } from '../guest/info.ts';
import { fwdAdd, fwdLs, fwdRm } from '../guest/forwards.ts';
import { emit, exportDomain, exportNetwork, planToExport } from '../export/commands.ts';
import { parseArgs } from './parse-args.ts';
import { jsonOutput } from '../base/json.ts';

const JSON_FLAG: Flag = { name: 'json', help: 'print one JSON object (version 1)' };
const APPLY_FLAG = (what: string, how: string): Flag => ({
  name: 'apply',
  help: `define the ${what} in libvirt (${how}; root or group libvirt) instead of printing it`,
});
/** A launch line as `export libvirt` reads it: parsed as a launch would be, never run. */
function launchOptionsOf(words: string[]) {
  const parsed = parseArgs(words, process.env);
  if (parsed.command !== 'launch') throw new UsageError('export libvirt: needs a launch line, not --help or --version');
  return parsed.options;
}
const print = (text: string) => {
  printOut(text);
  return 0;
};
const text = (value: FlagValue) => (typeof value === 'string' ? value : undefined);
const texts = (value: FlagValue) => (Array.isArray(value) ? value : []);
const rootDir = (value: FlagValue, what: string) => {
  const dir = text(value);
  if (dir === undefined) return '';
  if (!dir.startsWith('/')) throw new UsageError(`${what} --root needs an absolute directory`);
  return dir.replace(/\/+$/, '');
};

export const SUBCOMMANDS: readonly Subcommand[] = [
  {
    name: 'ps',
    args: '',
    summary: "guests of this tool: name, pid, state, uptime, each NIC's network and address, ports",
    flags: [JSON_FLAG],
    positionals: [0, 0],
    run: async ({ flags }, context) => print(await ps(context, Boolean(flags.json))),
  },
  {
    name: 'down',
    guestArgument: true,
    args: 'NAME',
    summary: 'power a guest off (ACPI, then quit after the timeout)',
    flags: [
      { name: 'force', help: 'quit at once' },
      { name: 'timeout', value: 'S', help: 'seconds to wait for the guest (default 60)' },
    ],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => {
      const timeoutSeconds = Number(text(flags.timeout) ?? 60);
      if (!(timeoutSeconds >= 0))
        throw new UsageError(`down --timeout: "${text(flags.timeout)}" is not a number of seconds`);
      ensureOwnDir(context.runtimeDir);
      return print(await down(context, args[0], { force: Boolean(flags.force), timeoutSeconds }));
    },
  },
  {
    name: 'gc',
    args: '',
    summary: 'remove what guests that are gone left behind',
    flags: [],
    positionals: [0, 0],
    run: async (_parsed, context) => {
      ensureOwnDir(context.runtimeDir);
      return print(await gc(context));
    },
  },
  {
    name: 'ssh',
    guestArgument: true,
    args: '[USER@]NAME [-- SSH OPTIONS]',
    summary:
      'ssh to a guest (its SSH forward, else its address on a defined network); a --cloud-init guest as ' +
      'its user, with its key',
    flags: [{ name: 'wait', value: 'S', optionalValue: true, help: 'wait until SSH answers (default 300 s)' }],
    positionals: [1, 1],
    passthrough: true,
    run: ({ args, rest, flags }, context) => ssh(context, args[0], rest, parseWait(flags.wait as string | boolean)),
  },
  {
    name: 'info',
    guestArgument: true,
    args: 'NAME',
    summary: 'how to reach a guest: state, memory, disks, addresses, forwards, console, screen, login, log',
    flags: [JSON_FLAG],
    positionals: [1, 1],
    run: async ({ flags, args }, context) => print(await info(context, args[0], Boolean(flags.json))),
  },
  {
    name: 'console',
    guestArgument: true,
    args: 'NAME',
    summary: "attach to a guest's serial console (Ctrl-] detaches; Ctrl-A c: the monitor)",
    flags: [],
    positionals: [1, 1],
    run: ({ args }, context) => attachConsole(context, args[0]),
  },
  {
    name: 'fwd add',
    guestArgument: true,
    args: 'NAME [tcp:|udp:]HOSTPORT-GUESTPORT',
    summary:
      "forward a host port to a running guest: on 127.0.0.1 to its user network, else from the host's addresses " +
      'to its address on a defined network with DHCP',
    flags: [
      {
        name: 'listen',
        value: 'ADDR',
        help: "into a defined network: one IPv4 address of this host to listen on (default: all but loopback's)",
      },
    ],
    positionals: [2, 2],
    run: async ({ flags, args }, context) => print(await fwdAdd(context, args[0], args[1], text(flags.listen))),
  },
  {
    name: 'fwd rm',
    guestArgument: true,
    args: 'NAME [tcp:|udp:]HOSTPORT',
    summary: "remove a running guest's forward of a host port (TCP unless udp: is written)",
    flags: [],
    positionals: [2, 2],
    run: async ({ args }, context) => print(await fwdRm(context, args[0], args[1])),
  },
  {
    name: 'fwd ls',
    guestArgument: true,
    args: '[NAME]',
    summary: 'the forwards of your guests (or of one): protocol, host address and port, guest port',
    flags: [JSON_FLAG],
    positionals: [0, 1],
    run: async ({ flags, args }, context) => print(fwdLs(context, args[0], Boolean(flags.json))),
  },
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
  {
    name: 'export libvirt',
    guestArgument: true,
    args: 'NAME | LAUNCH LINE...',
    summary:
      'a libvirt domain XML equivalent to a running guest or to a launch line (what libvirt cannot say goes ' +
      'to stderr)',
    flags: [APPLY_FLAG('domain', 'virsh define')],
    positionals: [0, 0],
    launchLine: true,
    run: async ({ flags, rest }, context) => {
      const plan = await planToExport(rest, context, () => launchOptionsOf(rest));
      return emit('domain', plan.name, exportDomain(plan), Boolean(flags.apply));
    },
  },
  {
    name: 'export libvirt-net',
    args: 'NETWORK',
    summary: 'a libvirt network XML for a defined network, with the addresses and names of its registered guests',
    flags: [APPLY_FLAG('network', 'virsh net-define and net-start')],
    positionals: [1, 1],
    run: async ({ flags, args }, context) =>
      emit('network', args[0], exportNetwork(args[0], context), Boolean(flags.apply)),
  },
  {
    name: 'doctor',
    args: '',
    summary: 'check the host preparation; prints the command that fixes each problem',
    flags: [
      JSON_FLAG,
      { name: 'group', value: 'G', help: `the group members are in (default ${DEFAULT_GROUP})` },
      { name: 'root', value: 'DIR', help: 'read /etc under DIR' },
    ],
    positionals: [0, 0],
    run: async ({ flags }, context) => {
      const root = rootDir(flags.root, 'doctor');
      const group = text(flags.group) ?? DEFAULT_GROUP;
      const host = { root, procSys: '/proc/sys', sys: '/sys', ...currentUser() };
      const firewall = probeFirewall();
      const results = await runDoctor({
        host,
        settings: readSettings(process.env),
        group,
        selfCommand: context.selfCommand,
        config: context.config,
        firewall,
        runtimeDir: context.runtimeDir,
      });
      printOut(flags.json ? jsonOutput({ version: 1, checks: results }) : renderDoctor(results));
      return results.some((result) => result.status === 'fail') ? 1 : 0;
    },
  },
  {
    name: 'setup',
    args: '',
    summary: 'prepare the host as root (group, bridge helper, udev, sysctl, sudoers)',
    flags: [
      { name: 'user', value: 'NAME', help: 'add this user to the group' },
      {
        name: 'allow-bridge',
        value: 'BRIDGE',
        repeatable: true,
        help: 'let members attach guests to this existing bridge (repeatable)',
      },
      {
        name: 'allow-macvtap',
        value: 'IF',
        repeatable: true,
        help: 'let members put macvtaps on this link (physical NICs need not be named)',
      },
      { name: 'group', value: 'G', help: `the group (default ${DEFAULT_GROUP})` },
      { name: 'dry-run', help: 'show what would change' },
      { name: 'undo', help: 'remove what setup wrote and put back what it changed' },
      { name: 'root', value: 'DIR', help: 'write under DIR instead of /' },
      { name: 'binary', value: 'PATH', help: 'the installed executable sudoers names (default: this one)' },
    ],
    positionals: [0, 0],
    run: async ({ flags }, context) => {
      const options = {
        root: rootDir(flags.root, 'setup'),
        group: text(flags.group) ?? DEFAULT_GROUP,
        user: text(flags.user),
        dryRun: Boolean(flags['dry-run']),
        allowBridges: texts(flags['allow-bridge']),
        allowMacvtaps: texts(flags['allow-macvtap']),
        binary: text(flags.binary) ?? context.selfCommand.at(-1)!,
        settings: readSettings(process.env),
      };
      return print(flags.undo ? await undoSetup(options) : await setup(options));
    },
  },
  {
    name: 'completion',
    args: 'bash|zsh|fish',
    summary: 'print a shell completion script (e.g. source <(qemu-script completion bash))',
    flags: [],
    positionals: [1, 1],
    run: async ({ args }) => print(completionScript(args[0], SUBCOMMANDS)),
  },
  {
    name: '__complete',
    args: 'guests|networks',
    summary: 'names for the completion scripts',
    flags: [],
    positionals: [1, 1],
    hidden: true,
    run: async (_parsed, context, argv) => {
      const lists: Record<string, () => string[]> = {
        guests: () => listRecords(context.runtimeDir).map((record) => record.name),
        networks: () => Object.keys(readNetworks(context.config)),
      };
      return print((lists[argv[0]]?.() ?? []).map((name) => `${name}\n`).join(''));
    },
  },
  {
    name: '__cleanup',
    args: 'RUNTIME NAME',
    summary: "a background guest's cleanup, once QEMU has exited",
    flags: [],
    positionals: [2, 2],
    hidden: true,
    run: (_parsed, _context, argv) => cleanupMain(argv[0], argv[1]),
  },
];

/** Runs a subcommand; internal entry points get their words untouched. */
export async function runSubcommand(command: Subcommand, words: string[]): Promise<number> {
  if (command.hidden) return command.run({ flags: {}, args: [], rest: [] }, toolContext(), words);
  const parsed = parseSubcommand(command, words);
  if (parsed === 'help') return print(subcommandHelp(command));
  return command.run(parsed, toolContext(), words);
}

/** The subcommand the words start with, and the words after its name. */
export const findSubcommand = (argv: string[]) => findCommand(SUBCOMMANDS, argv);

/** Words users bring from other tools (virsh, multipass, limactl, docker) and what they are here. */
const OTHER_TOOLS: Readonly<Record<string, string>> = {
  help: '--help',
  version: '--version',
  list: 'ps',
  ls: 'ps',
  status: 'info NAME',
  show: 'info NAME',
  stop: 'down NAME',
  shutdown: 'down NAME',
  poweroff: 'down NAME',
  kill: 'down --force NAME',
  destroy: 'down --force NAME',
  rm: 'down NAME',
  delete: 'down NAME',
  start: 'DISK (a guest starts from its disk)',
  run: 'DISK (a guest starts from its disk)',
  launch: 'DISK (a guest starts from its disk)',
  shell: 'ssh NAME',
  exec: 'ssh NAME -- COMMAND',
  login: 'ssh NAME',
  attach: 'console NAME',
  networks: 'net ls',
};

/** A first word close to a subcommand's, or another tool's word, that is no file: refused with the suggestion. */
export const firstWordTypo = (argv: string[], exists: (path: string) => boolean) =>
  typoOfCommand(SUBCOMMANDS, argv, exists, OTHER_TOOLS);
