import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostError, UsageError } from '../lib/base/errors.ts';
import { hostCommands } from '../lib/plan/render.ts';
import type { Command, Companion, FirewallFacts, HostFacts } from '../lib/base/types.ts';
import { publicationRules } from '../lib/net/firewall.ts';
import { builtinNetworks } from '../lib/net/networks.ts';
import { plan, valuesOf } from './helpers.ts';

const HELPER = '/usr/lib/qemu/qemu-bridge-helper';
const bridgeHost: Partial<HostFacts> = {
  defaultRouteInterface: 'br0',
  interfaces: { eth0: { kind: 'physical' }, br0: { kind: 'bridge' } },
  bridgeAcl: ['allow br0'],
};

interface Row {
  name: string;
  argv: string[];
  facts?: Partial<HostFacts>;
  netdevs: string[];
  /** Every field below is checked: absent means "expect none". */
  host?: string[];
  cleanup?: string[];
  fds?: Array<{ fd: number; path: string }>;
  /** One pattern per message, in order. */
  messages?: RegExp[];
  warnings?: RegExp[];
  /** Processes started beside QEMU (passt): kind, argv, directory, socket, log, and the user they run as. */
  companions?: Companion[];
}

const SSH = /^SSH on localhost:10022$/;
const CONSOLE = 'Console: qemu-script console guest (Ctrl-] detaches, Ctrl-A c: the monitor)';
const NO_VHOST = /vhost-net is not available/;
const NOT_THIS_HOST = /not this host/;
const [MAC0, MAC1] = ['de:ad:be:ef:b0:72', 'de:ad:be:ef:db:a2'];
const NODE = (name: string) => `/run/qemu-script/guest/${name}.tap`;
/** The link's mark, and what is set with it. */
const MARK = (name: string, also: string) => `ip link set dev ${name} alias qemu-script:RECORD-ID${also && ` ${also}`}`;
const macvtapHost = (parent: string, name: string, mac: string) => [
  `ip link add link ${parent} name ${name} address ${mac} type macvtap mode bridge`,
  MARK(name, 'allmulticast on up'),
  `mknod -m 0600 ${NODE(name)} c MAJOR MINOR`,
];
const TAPDEV = (index: number, tap: string) => `tap,id=nic${index},ifname=${tap},script=no,downscript=no`;
const tapHost = (tap: string, bridge: string) => [
  `ip tuntap add dev ${tap} mode tap vnet_hdr user 0`,
  MARK(tap, `master ${bridge} up`),
];
const macvtapCleanup = (name: string) => [`ip link del dev ${name}`, `rm -f ${NODE(name)}`];
const bridgeHostCommands = (name: string, cidr?: string, cidr6?: string) => [
  `ip link add name ${name} type bridge`,
  MARK(name, 'up'),
  ...(cidr ? [`ip addr add ${cidr} dev ${name}`] : []),
  ...(cidr6 ? [`ip -6 addr add ${cidr6} dev ${name} nodad`] : []),
];
const HOSTONLY6 = 'fdf2:c08f:a5a0:';
const NATNET6 = 'fdc5:5f52:88f5:';
/** dnsmasq's IPv6 side: RA (a default router or not), SLAAC and DHCPv6 from ::1000. */
const V6 = (prefix: string, bridge: string, router: boolean) => [
  '--enable-ra',
  `--dhcp-range=${prefix}:1000,${prefix}:1fff,slaac,64,12h`,
  `--ra-param=${bridge},30${router ? '' : ',0'}`,
];
const DNSMASQ = (
  network: string,
  bridge: string,
  range: string,
  router = '--dhcp-option=option:router',
  resolv = ['--no-resolv', '--local=/#/'],
  v6: string[] = [],
) =>
  [
    'dnsmasq',
    '--conf-file=/dev/null',
    `--pid-file=/run/qemu-script/net/4026531840/${network}/dnsmasq.pid`,
    `--interface=${bridge}`,
    '--except-interface=lo',
    '--bind-interfaces',
    `--dhcp-range=${range},12h`,
    ...v6,
    `--dhcp-leasefile=/run/qemu-script/net/4026531840/${network}/leases`,
    `--dhcp-hostsfile=/run/qemu-script/net/4026531840/${network}/hosts`,
    `--addn-hosts=/run/qemu-script/net/4026531840/${network}/names`,
    '--no-hosts',
    '--dhcp-ignore-names',
    '--dhcp-authoritative',
    router,
    `--domain=${network}`,
    '--expand-hosts',
    ...resolv,
  ].join(' ');
const NATNET_DNSMASQ = DNSMASQ(
  'natnet',
  'natnet',
  '192.168.57.2,192.168.57.254,255.255.255.0',
  '--dhcp-option=option:router,192.168.57.1',
  ['--local=/natnet/'],
  V6(NATNET6, 'natnet', true),
);
const HOSTONLY_DNSMASQ = DNSMASQ(
  'hostonly',
  'hostonly',
  '192.168.56.2,192.168.56.254,255.255.255.0',
  undefined,
  undefined,
  V6(HOSTONLY6, 'hostonly', false),
);
const dhcpNote = (mac: string, range: string, network: string, prefix6?: string) =>
  `# ${mac} → a stable address in ${range}${prefix6 ? ` and its SLAAC address in ${prefix6}:/64` : ''}, named ` +
  `guest, in /run/qemu-script/net/4026531840/${network}/hosts and /run/qemu-script/net/4026531840/${network}/names`;
const dhcpCleanup = (network: string) => [
  `pkill -F /run/qemu-script/net/4026531840/${network}/dnsmasq.pid`,
  `rm -rf /run/qemu-script/net/4026531840/${network}`,
];
/** systemd-resolved asks the network's server for its domain (only where it runs). */
const NAMES = (network: string) => {
  const host = network === 'natnet' ? '192.168.57.1' : network === 'hostonly' ? '192.168.56.1' : '10.77.0.1';
  return [`resolvectl dns ${network} ${host}`, `resolvectl domain ${network} ~${network}`];
};
const NAMES_REVERT = (network: string) => `resolvectl revert ${network}`;
const FIREWALL_NOTHING = (network: string) =>
  `# the host's firewall needs nothing for ${network} (decided again when it is realised)`;
/** The first guest on hostonly as root: the bridge, the guest's TAP, the server and its registration, the names. */
const HOSTONLY_FIRST_GUEST = [
  ...bridgeHostCommands('hostonly', '192.168.56.1/24', `${HOSTONLY6}:1/64`),
  ...tapHost('qtap0', 'hostonly'),
  HOSTONLY_DNSMASQ,
  dhcpNote(MAC0, '192.168.56.2-192.168.56.254', 'hostonly', HOSTONLY6),
  ...NAMES('hostonly'),
];
/** The same undone, newest first. */
const HOSTONLY_UNDONE = [
  NAMES_REVERT('hostonly'),
  ...dhcpCleanup('hostonly'),
  'ip link del dev qtap0',
  'ip link del dev hostonly',
];
const FORWARD_ON = 'sysctl -q -w net.ipv4.ip_forward=1';
const FORWARD_OFF = 'sysctl -q -w net.ipv4.ip_forward=0';
/** Forwarding for forwarded ports alone: the guard that routes nothing else, made first and removed last. */
const GUARD = [
  'nft add table bridge qemu_script__forward',
  'nft add chain bridge qemu_script__forward forward { type filter hook forward priority -300; }',
  'nft add rule bridge qemu_script__forward forward ether type ip meta mark set meta mark or 0x00400000',
  'nft add chain bridge qemu_script__forward postrouting { type filter hook postrouting priority 300; }',
  'nft add rule bridge qemu_script__forward postrouting meta mark and 0x00400000 != 0 ' +
    'meta mark set meta mark and 0xffbfffff',
  'nft add table ip qemu_script__forward',
  'nft add chain ip qemu_script__forward forward { type filter hook forward priority -300; }',
  'nft add rule ip qemu_script__forward forward meta mark and 0x00400000 != 0 ' +
    'meta mark set meta mark and 0xffbfffff accept',
  'nft add rule ip qemu_script__forward forward ct status dnat accept',
  'nft add rule ip qemu_script__forward forward drop',
];
const GUARD_UNDO = ['nft delete table bridge qemu_script__forward', 'nft delete table ip qemu_script__forward'];
const NAT_NFT = [
  'nft add table ip qemu_script_natnet',
  'nft add chain ip qemu_script_natnet postrouting { type nat hook postrouting priority srcnat; policy accept; }',
  'nft add rule ip qemu_script_natnet postrouting ip saddr 192.168.57.0/24 oifname eth0 masquerade comment ' +
    '"qemu-script natnet"',
];
const iptablesRule = (verb: '-I' | '-D', chain: string, spec: string, network: string, program = 'iptables') =>
  `${program} ${verb} ${chain} ${spec} -m comment --comment qemu-script ${network} -j ACCEPT`;
const FORWARD6_ON = 'sysctl -q -w net.ipv6.conf.all.forwarding=1';
const FORWARD6_OFF = 'sysctl -q -w net.ipv6.conf.all.forwarding=0';
const ACCEPT_RA = 'sysctl -q -w net.ipv6.conf.eth1.accept_ra=2';
const tun = {
  name: 'tun',
  subnet: '10.79.0.0/24',
  hostIp: '10.79.0.1',
  dhcp: false,
  nat: false,
  builtin: false,
  vxlan: { vni: 42, remotes: ['10.1.0.7', '10.1.0.8'], port: 4789 },
};
const lab = { name: 'lab', subnet: '10.77.0.0/24', hostIp: '10.77.0.1', dhcp: true, nat: false, builtin: false };
const labStatic = {
  name: 'lab2',
  subnet: '10.78.0.0/16',
  hostIp: '10.78.255.254',
  dhcp: false,
  nat: false,
  builtin: false,
};

// One row per network case of SPEC §2.1, §4 and §7: words + host → netdevs, host commands, cleanup, fds, messages,
// warnings.
const ROWS: Row[] = [
  {
    name: 'default is one user NIC with SSH forward',
    argv: [],
    netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22'],
    messages: [SSH],
  },
  {
    name: 'u skips a used port',
    argv: ['--net', 'u'],
    facts: { usedTcpPorts: [10022, 10023] },
    netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10024-:22'],
    messages: [/^SSH on localhost:10024$/],
  },
  {
    name: 'user with --fwd',
    argv: ['--net', 'user', '--fwd', '8080-80', '--fwd', 'udp:5353-53'],
    netdevs: [
      'user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:5353-:53',
    ],
    messages: [SSH, /^Forward tcp localhost:8080 -> guest port 80$/, /^Forward udp localhost:5353 -> guest port 53$/],
  },
  {
    name: 'p on a host bridge uses it through the helper',
    argv: ['--net', 'p'],
    facts: bridgeHost,
    netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`],
    messages: [/^NIC 1 on bridge br0 \(existing, left alone\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'bridge (named) equals p',
    argv: ['--net', 'bridge'],
    facts: bridgeHost,
    netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`],
    messages: [/^NIC 1 on bridge br0 \(existing, left alone\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'p on a physical NIC is a macvtap passed as fd 3',
    argv: ['--net', 'p', '--mac', 'de:ad:be:ef:00:01'],
    netdevs: ['tap,id=nic0,fd=3'],
    host: macvtapHost('eth0', 'macvtap0', 'de:ad:be:ef:00:01'),
    cleanup: macvtapCleanup('macvtap0'),
    fds: [{ fd: 3, path: NODE('macvtap0') }],
    messages: [/^NIC 1 on eth0's LAN through macvtap0$/],
    warnings: [NOT_THIS_HOST, NO_VHOST],
  },
  {
    name: 'p on a macvlan goes over its parent (no warning: the host has its own macvlan)',
    argv: ['--net', 'p'],
    facts: {
      defaultRouteInterface: 'ethost',
      interfaces: { eth0: { kind: 'physical' }, ethost: { kind: 'macvlan', parent: 'eth0' } },
    },
    netdevs: ['tap,id=nic0,fd=3'],
    host: macvtapHost('eth0', 'macvtap0', MAC0),
    cleanup: macvtapCleanup('macvtap0'),
    fds: [{ fd: 3, path: NODE('macvtap0') }],
    messages: [/^NIC 1 on eth0's LAN through macvtap0$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'p on a veth (a cable to another namespace) is a macvtap over it',
    argv: ['--net', 'p'],
    facts: { defaultRouteInterface: 'vparent', interfaces: { vparent: { kind: 'veth' } } },
    netdevs: ['tap,id=nic0,fd=3'],
    host: macvtapHost('vparent', 'macvtap0', MAC0),
    cleanup: macvtapCleanup('macvtap0'),
    fds: [{ fd: 3, path: NODE('macvtap0') }],
    messages: [/^NIC 1 on vparent's LAN through macvtap0$/],
    warnings: [NOT_THIS_HOST, NO_VHOST],
  },
  {
    name: 'a taken macvtap name moves to the next',
    argv: ['--net', 'p,p'],
    facts: {
      interfaces: { eth0: { kind: 'physical' }, macvtap0: { kind: 'macvtap', parent: 'eth0' } },
      reservedInterfaces: ['macvtap1'],
    },
    netdevs: ['tap,id=nic0,fd=3', 'tap,id=nic1,fd=4'],
    host: [...macvtapHost('eth0', 'macvtap2', MAC0), ...macvtapHost('eth0', 'macvtap3', MAC1)],
    cleanup: [...macvtapCleanup('macvtap3'), ...macvtapCleanup('macvtap2')],
    fds: [
      { fd: 3, path: NODE('macvtap2') },
      { fd: 4, path: NODE('macvtap3') },
    ],
    messages: [/through macvtap2$/, /through macvtap3$/],
    warnings: [NOT_THIS_HOST, NOT_THIS_HOST, NO_VHOST],
  },
  {
    name: '0 is multicast group 230.0.0.1 on loopback',
    argv: ['--net', '0'],
    netdevs: ['socket,id=nic0,mcast=230.0.0.1:12345,localaddr=127.0.0.1'],
    messages: [/^NIC 1 on internal network 0 \(multicast, this host only\)$/],
  },
  {
    name: 'f is group 230.0.0.16',
    argv: ['--net', 'f'],
    netdevs: ['socket,id=nic0,mcast=230.0.0.16:12345,localaddr=127.0.0.1'],
    messages: [/internal network 15 /],
  },
  {
    name: 'mcast:7 named',
    argv: ['--net', 'mcast:7'],
    netdevs: ['socket,id=nic0,mcast=230.0.0.8:12345,localaddr=127.0.0.1'],
    messages: [/internal network 7 \(multicast, this host only\)/],
  },
  {
    name: 'mcast:7:lan spans the LAN',
    argv: ['--net', 'mcast:7:lan'],
    netdevs: ['socket,id=nic0,mcast=230.0.0.8:12345'],
    messages: [/internal network 7 \(multicast, LAN-wide\)/],
  },
  {
    name: "tap:0 creates bridge vmnet0 and a TAP of root's own on it",
    argv: ['--net', 'tap:0'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [...bridgeHostCommands('vmnet0'), ...tapHost('qtap0', 'vmnet0')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev vmnet0'],
    messages: [/^NIC 1 on bridge vmnet0 \(created\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'tap:a is bridge vmnet10 (decimal)',
    argv: ['--net', 'tap:a'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [...bridgeHostCommands('vmnet10'), ...tapHost('qtap0', 'vmnet10')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev vmnet10'],
    messages: [/bridge vmnet10 \(created\)/],
    warnings: [NO_VHOST],
  },
  {
    name: "tap:p0a keeps written order: the LAN bridge through the helper, the tool's through its own TAPs",
    argv: ['--net', 'tap:p0a', '--mac', 'de:ad:be:ef:00:01'],
    facts: bridgeHost,
    netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`, TAPDEV(1, 'qtap0'), TAPDEV(2, 'qtap1')],
    host: [
      ...bridgeHostCommands('vmnet0'),
      ...tapHost('qtap0', 'vmnet0'),
      ...bridgeHostCommands('vmnet10'),
      ...tapHost('qtap1', 'vmnet10'),
    ],
    cleanup: ['ip link del dev qtap1', 'ip link del dev vmnet10', 'ip link del dev qtap0', 'ip link del dev vmnet0'],
    messages: [
      /bridge br0 \(existing, left alone\)/,
      /^NIC 2 on bridge vmnet0 \(created\)$/,
      /^NIC 3 on bridge vmnet10 \(created\)$/,
    ],
    warnings: [NO_VHOST],
  },
  { name: 'none has no NIC', argv: ['--net', 'none'], netdevs: [] },
  {
    name: 'vmnet0 created by another guest of the tool is shared',
    argv: ['--net', 'vmnet0'],
    facts: { interfaces: { eth0: { kind: 'physical' }, vmnet0: { kind: 'bridge' } }, toolBridges: ['vmnet0'] },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: ["# vmnet0 exists (another guest's): joined", ...tapHost('qtap0', 'vmnet0')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev vmnet0'],
    messages: [/^NIC 1 on bridge vmnet0 \(shared\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'an existing bridge the tool did not create is used, never removed',
    argv: ['--net', 'br0'],
    facts: bridgeHost,
    netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`],
    messages: [/left alone/],
    warnings: [NO_VHOST],
  },
  {
    name: 'br:NAME creates a bridge of any name',
    argv: ['--net', 'br:lab'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [...bridgeHostCommands('lab'), ...tapHost('qtap0', 'lab')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev lab'],
    messages: [/bridge lab \(created\)/],
    warnings: [NO_VHOST],
  },
  {
    name: 'br:cafe forces a hex-looking bridge name',
    argv: ['--net', 'br:cafe'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [...bridgeHostCommands('cafe'), ...tapHost('qtap0', 'cafe')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev cafe'],
    messages: [/bridge cafe \(created\)/],
    warnings: [NO_VHOST],
  },
  {
    name: 'two NICs on one new bridge create it once',
    argv: ['--net', 'vmnet0,vmnet0'],
    netdevs: [TAPDEV(0, 'qtap0'), TAPDEV(1, 'qtap1')],
    host: [...bridgeHostCommands('vmnet0'), ...tapHost('qtap0', 'vmnet0'), ...tapHost('qtap1', 'vmnet0')],
    cleanup: ['ip link del dev qtap1', 'ip link del dev qtap0', 'ip link del dev vmnet0'],
    messages: [/^NIC 1 on bridge vmnet0 \(created\)$/, /^NIC 2 on bridge vmnet0 \(created\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: '--host-ip addresses the created bridge',
    argv: ['--net', 'vmnet0', '--host-ip', '192.168.255.5/24'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [...bridgeHostCommands('vmnet0', '192.168.255.5/24'), ...tapHost('qtap0', 'vmnet0')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev vmnet0'],
    messages: [/^NIC 1 on bridge vmnet0 \(created\), host at 192\.168\.255\.5\/24$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'macvtap:eth0 explicit (no warning: the user chose it)',
    argv: ['--net', 'macvtap:eth0'],
    netdevs: ['tap,id=nic0,fd=3'],
    host: macvtapHost('eth0', 'macvtap0', MAC0),
    cleanup: macvtapCleanup('macvtap0'),
    fds: [{ fd: 3, path: NODE('macvtap0') }],
    messages: [/through macvtap0/],
    warnings: [NO_VHOST],
  },
  {
    name: 'vhost-net when usable: the TAP by name with vhost',
    argv: ['--net', 'vmnet0'],
    facts: { vhostNetUsable: true },
    netdevs: [`${TAPDEV(0, 'qtap0')},vhost=on,vhostfd=3`],
    host: [...bridgeHostCommands('vmnet0'), ...tapHost('qtap0', 'vmnet0')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev vmnet0'],
    fds: [{ fd: 3, path: '/dev/vhost-net' }],
    messages: [/vmnet0 \(created\)/],
  },
  {
    name: 'vhost-net on a macvtap takes the next fd',
    argv: ['--net', 'macvtap:eth0'],
    facts: { vhostNetUsable: true },
    netdevs: ['tap,id=nic0,fd=3,vhost=on,vhostfd=4'],
    host: macvtapHost('eth0', 'macvtap0', MAC0),
    cleanup: macvtapCleanup('macvtap0'),
    fds: [
      { fd: 3, path: NODE('macvtap0') },
      { fd: 4, path: '/dev/vhost-net' },
    ],
    messages: [/through macvtap0/],
  },
  {
    name: 'mixed compact and named forms keep written order',
    argv: ['--net', 'user,vmnet3', '--net', 'mcast:2', '--net', 'u0'],
    netdevs: [
      'user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22',
      TAPDEV(1, 'qtap0'),
      'socket,id=nic2,mcast=230.0.0.3:12345,localaddr=127.0.0.1',
      'socket,id=nic3,mcast=230.0.0.1:12345,localaddr=127.0.0.1',
    ],
    host: [...bridgeHostCommands('vmnet3'), ...tapHost('qtap0', 'vmnet3')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev vmnet3'],
    messages: [
      SSH,
      /^NIC 2 on bridge vmnet3 \(created\)$/,
      /^NIC 3 on internal network 2 /,
      /^NIC 4 on internal network 0 /,
    ],
    warnings: [/duplicate user network removed/, NO_VHOST],
  },
  {
    name: 'a duplicated u is really removed',
    argv: ['--net', 'uu'],
    netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22'],
    messages: [SSH],
    warnings: [/duplicate user network removed/],
  },
  {
    name: 'a normal user goes through the privileged helper',
    argv: ['--net', 'vmnet0,p', '--mac', 'de:ad:be:ef:00:01,de:ad:be:ef:00:02'],
    facts: { isRoot: false, uid: 1000, runtimeDir: '/run/user/1000/qemu-script' },
    netdevs: [TAPDEV(0, 'qtap0'), 'tap,id=nic1,fd=3'],
    host: [
      'sudo -n /usr/local/bin/qemu-script-helper bridge-add vmnet0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-add qtap0 vmnet0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper macvtap-add macvtap0 eth0 de:ad:be:ef:00:02 guest',
    ],
    cleanup: [
      'sudo -n /usr/local/bin/qemu-script-helper macvtap-del macvtap0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-del qtap0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper bridge-del vmnet0 guest',
    ],
    fds: [{ fd: 3, path: '/run/qemu-script/nodes/guest.macvtap0' }],
    messages: [/vmnet0 \(created\)/, /through macvtap0/],
    warnings: [NOT_THIS_HOST, NO_VHOST],
  },
  {
    name: "passt: its stream socket, root's passt as a user id of its own, forwards on 127.0.0.1 (TCP and UDP)",
    argv: ['--net', 'passt', '--fwd', '8080-80', '--fwd', 'udp:5353-53'],
    facts: { passt: '/usr/bin/passt', companionUid: 65532 },
    netdevs: ['stream,id=nic0,server=off,addr.type=unix,addr.path=/run/qemu-script/passt/guest-nic0/passt.sock'],
    messages: [
      /^NIC 1 on passt \(the host's addresses\)$/,
      SSH,
      /^Forward tcp localhost:8080 -> guest port 80$/,
      /^Forward udp localhost:5353 -> guest port 53$/,
    ],
    companions: [
      {
        kind: 'passt',
        dir: '/run/qemu-script/passt/guest-nic0',
        socket: '/run/qemu-script/passt/guest-nic0/passt.sock',
        log: '/run/qemu-script/passt/guest-nic0/passt.log',
        runAs: 65532,
        argv: [
          '/usr/bin/passt',
          '--foreground',
          '--quiet',
          '--socket',
          '/run/qemu-script/passt/guest-nic0/passt.sock',
          '--log-file',
          '/run/qemu-script/passt/guest-nic0/passt.log',
          '-t',
          '127.0.0.1/10022:22',
          '-t',
          '127.0.0.1/8080:80',
          '-u',
          '127.0.0.1/5353:53',
        ],
      },
    ],
  },
  {
    name: "passt for a member: its own directory in the guest's, as the user; no UDP forward is -u none",
    argv: ['--net', 'passt', '--ssh-port', '2222'],
    facts: {
      passt: '/usr/bin/passt',
      isRoot: false,
      uid: 1000,
      runtimeDir: '/run/user/1000/qemu-script',
      registryDir: '/run/qemu-script',
    },
    netdevs: [
      'stream,id=nic0,server=off,addr.type=unix,addr.path=/run/user/1000/qemu-script/guest/passt-nic0/passt.sock',
    ],
    messages: [/^NIC 1 on passt \(the host's addresses\)$/, /^SSH on localhost:2222$/],
    companions: [
      {
        kind: 'passt',
        dir: '/run/user/1000/qemu-script/guest/passt-nic0',
        socket: '/run/user/1000/qemu-script/guest/passt-nic0/passt.sock',
        log: '/run/user/1000/qemu-script/guest/passt-nic0/passt.log',
        argv: [
          '/usr/bin/passt',
          '--foreground',
          '--quiet',
          '--socket',
          '/run/user/1000/qemu-script/guest/passt-nic0/passt.sock',
          '--log-file',
          '/run/user/1000/qemu-script/guest/passt-nic0/passt.log',
          '-t',
          '127.0.0.1/2222:22',
          '-u',
          'none',
        ],
      },
    ],
  },
  {
    name: 'hostonly: its bridge with the host address, and a DHCP registration',
    argv: ['--net', 'hostonly'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...HOSTONLY_FIRST_GUEST,
      FIREWALL_NOTHING('hostonly'),
    ],
    cleanup: HOSTONLY_UNDONE,
    messages: [/^NIC 1 on network hostonly \(192\.168\.56\.0\/24, host 192\.168\.56\.1, fdf2:c08f:a5a0::\/64, DHCP\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'hostonly where IPv6 is off (ipv6.disable=1, or disable_ipv6): its IPv4 side alone',
    argv: ['--net', 'hostonly'],
    facts: { ipv6: false },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...bridgeHostCommands('hostonly', '192.168.56.1/24'),
      ...tapHost('qtap0', 'hostonly'),
      DNSMASQ('hostonly', 'hostonly', '192.168.56.2,192.168.56.254,255.255.255.0'),
      dhcpNote(MAC0, '192.168.56.2-192.168.56.254', 'hostonly'),
      ...NAMES('hostonly'),
      FIREWALL_NOTHING('hostonly'),
    ],
    cleanup: HOSTONLY_UNDONE,
    messages: [/^NIC 1 on network hostonly \(192\.168\.56\.0\/24, host 192\.168\.56\.1, DHCP\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'natnet: the host is the router and forwards DNS',
    argv: ['--net', 'natnet'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...bridgeHostCommands('natnet', '192.168.57.1/24', `${NATNET6}:1/64`),
      ...tapHost('qtap0', 'natnet'),
      NATNET_DNSMASQ,
      dhcpNote(MAC0, '192.168.57.2-192.168.57.254', 'natnet', NATNET6),
      ...NAMES('natnet'),
      FORWARD_ON,
      ...NAT_NFT,
    ],
    cleanup: [
      'nft delete table ip qemu_script_natnet',
      FORWARD_OFF,
      NAMES_REVERT('natnet'),
      ...dhcpCleanup('natnet'),
      'ip link del dev qtap0',
      'ip link del dev natnet',
    ],
    messages: [
      new RegExp(
        '^NIC 1 on network natnet \\(192\\.168\\.57\\.0/24, host 192\\.168\\.57\\.1, fdc5:5f52:88f5::/64, DHCP, ' +
          'NAT \\(IPv4 only: no IPv6 default route\\)\\)$',
      ),
    ],
    warnings: [NO_VHOST],
  },
  {
    name: 'a defined network already up is joined, and two NICs register twice with one bridge',
    argv: ['--net', 'lab,lab'],
    facts: {
      networks: { lab },
      interfaces: { eth0: { kind: 'physical' }, lab: { kind: 'bridge' } },
      toolBridges: ['lab'],
    },
    netdevs: [TAPDEV(0, 'qtap0'), TAPDEV(1, 'qtap1')],
    host: [
      "# lab exists (another guest's): joined",
      ...tapHost('qtap0', 'lab'),
      DNSMASQ('lab', 'lab', '10.77.0.2,10.77.0.254,255.255.255.0'),
      dhcpNote(MAC0, '10.77.0.2-10.77.0.254', 'lab'),
      ...NAMES('lab'),
      FIREWALL_NOTHING('lab'),
      ...tapHost('qtap1', 'lab'),
      DNSMASQ('lab', 'lab', '10.77.0.2,10.77.0.254,255.255.255.0'),
      dhcpNote(MAC1, '10.77.0.2-10.77.0.254', 'lab'),
    ],
    cleanup: [
      ...dhcpCleanup('lab'),
      'ip link del dev qtap1',
      NAMES_REVERT('lab'),
      ...dhcpCleanup('lab'),
      'ip link del dev qtap0',
      'ip link del dev lab',
    ],
    messages: [
      /^NIC 1 on network lab \(10\.77\.0\.0\/24, host 10\.77\.0\.1, DHCP\), already up$/,
      /^NIC 2 on network lab .*already up$/,
    ],
    warnings: [NO_VHOST],
  },
  {
    name: 'a defined network without DHCP is a bridge with the host address only; --host-ip does not apply',
    argv: ['--net', 'lab2', '--host-ip', '192.168.9.1/24'],
    facts: { networks: { lab2: labStatic } },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [...bridgeHostCommands('lab2', '10.78.255.254/16'), ...tapHost('qtap0', 'lab2'), FIREWALL_NOTHING('lab2')],
    cleanup: ['ip link del dev qtap0', 'ip link del dev lab2'],
    messages: [/^NIC 1 on network lab2 \(10\.78\.0\.0\/16, host 10\.78\.255\.254\)$/],
    warnings: [/--host-ip 192\.168\.9\.1\/24 ignored/, NO_VHOST],
  },
  {
    name: '--fwd on hostonly (no user-mode NIC): a DNAT per port to the registered address, forwarding for them alone',
    argv: ['--net', 'hostonly', '--fwd', '8080-80', '--fwd', 'udp:5353-53'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...HOSTONLY_FIRST_GUEST,
      'nft add table ip qemu_script_fwd_tcp_8080',
      ...GUARD,
      FORWARD_ON,
      'nft add table ip qemu_script_fwd_udp_5353',
      FIREWALL_NOTHING('hostonly'),
    ],
    cleanup: [
      'nft delete table ip qemu_script_fwd_udp_5353',
      FORWARD_OFF,
      ...GUARD_UNDO,
      'nft delete table ip qemu_script_fwd_tcp_8080',
      ...HOSTONLY_UNDONE,
    ],
    messages: [
      /^NIC 1 on network hostonly /,
      /^Forward tcp port 8080 of this host's addresses \(not loopback\) -> guest port 80 on hostonly$/,
      /^Forward udp port 5353 of this host's addresses \(not loopback\) -> guest port 53 on hostonly$/,
    ],
    warnings: [NO_VHOST],
  },
  {
    name: '--fwd on natnet: the DNAT alone (NAT turns forwarding on anyway)',
    argv: ['--net', 'natnet', '--fwd', '8080-80'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...bridgeHostCommands('natnet', '192.168.57.1/24', `${NATNET6}:1/64`),
      ...tapHost('qtap0', 'natnet'),
      NATNET_DNSMASQ,
      dhcpNote(MAC0, '192.168.57.2-192.168.57.254', 'natnet', NATNET6),
      ...NAMES('natnet'),
      'nft add table ip qemu_script_fwd_tcp_8080',
      FORWARD_ON,
      ...NAT_NFT,
    ],
    cleanup: [
      'nft delete table ip qemu_script_natnet',
      FORWARD_OFF,
      'nft delete table ip qemu_script_fwd_tcp_8080',
      NAMES_REVERT('natnet'),
      ...dhcpCleanup('natnet'),
      'ip link del dev qtap0',
      'ip link del dev natnet',
    ],
    messages: [/^NIC 1 on network natnet /, /^Forward tcp port 8080 .* -> guest port 80 on natnet$/],
    warnings: [NO_VHOST],
  },
  {
    name: '--fwd with a user NIC and hostonly: the user NIC takes it, on loopback',
    argv: ['--net', 'hostonly,user', '--fwd', '8080-80'],
    netdevs: [TAPDEV(0, 'qtap0'), 'user,id=nic1,hostfwd=tcp:127.0.0.1:10022-:22,hostfwd=tcp:127.0.0.1:8080-:80'],
    host: [
      ...HOSTONLY_FIRST_GUEST,
      FIREWALL_NOTHING('hostonly'),
    ],
    cleanup: HOSTONLY_UNDONE,
    messages: [/^NIC 1 on network hostonly /, SSH, /^Forward tcp localhost:8080 -> guest port 80$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'a fixed address on hostonly: the registration asks for it',
    argv: ['--net', 'hostonly=192.168.56.10'],
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...bridgeHostCommands('hostonly', '192.168.56.1/24', `${HOSTONLY6}:1/64`),
      ...tapHost('qtap0', 'hostonly'),
      HOSTONLY_DNSMASQ,
      `# ${MAC0} → 192.168.56.10 and its SLAAC address in ${HOSTONLY6}:/64, named guest, in ` +
        '/run/qemu-script/net/4026531840/hostonly/hosts and /run/qemu-script/net/4026531840/hostonly/names',
      ...NAMES('hostonly'),
      FIREWALL_NOTHING('hostonly'),
    ],
    cleanup: HOSTONLY_UNDONE,
    messages: [/^NIC 1 on network hostonly /],
    warnings: [NO_VHOST],
  },
  {
    name: "a normal user's fixed address: one more word of the helper's request",
    argv: ['--net', 'hostonly=192.168.56.10'],
    facts: { isRoot: false, uid: 1000, runtimeDir: '/run/user/1000/qemu-script' },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      'sudo -n /usr/local/bin/qemu-script-helper bridge-add hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-add qtap0 hostonly guest',
      `sudo -n /usr/local/bin/qemu-script-helper dhcp-add hostonly ${MAC0} guest 192.168.56.10`,
      'sudo -n /usr/local/bin/qemu-script-helper names-add hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper firewall-add hostonly guest',
    ],
    cleanup: [
      'sudo -n /usr/local/bin/qemu-script-helper firewall-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper names-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper dhcp-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-del qtap0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper bridge-del hostonly guest',
    ],
    messages: [/^NIC 1 on network hostonly /],
    warnings: [NO_VHOST],
  },
  {
    name: "a normal user's --fwd on hostonly: NIC and ports to the helper, never the guest's address; on the bridge's",
    argv: ['--net', 'hostonly', '--fwd', '8080-80'],
    facts: { isRoot: false, uid: 1000, runtimeDir: '/run/user/1000/qemu-script' },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      'sudo -n /usr/local/bin/qemu-script-helper bridge-add hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-add qtap0 hostonly guest',
      `sudo -n /usr/local/bin/qemu-script-helper dhcp-add hostonly ${MAC0} guest`,
      'sudo -n /usr/local/bin/qemu-script-helper names-add hostonly guest',
      `sudo -n /usr/local/bin/qemu-script-helper publish-add hostonly guest ${MAC0} tcp 8080 80 192.168.56.1`,
      'sudo -n /usr/local/bin/qemu-script-helper forward-add hostonly guest publish',
      'sudo -n /usr/local/bin/qemu-script-helper firewall-add hostonly guest',
    ],
    cleanup: [
      'sudo -n /usr/local/bin/qemu-script-helper firewall-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper forward-del ipv4 guest',
      'sudo -n /usr/local/bin/qemu-script-helper publish-del tcp-8080 guest',
      'sudo -n /usr/local/bin/qemu-script-helper names-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper dhcp-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-del qtap0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper bridge-del hostonly guest',
    ],
    messages: [/network hostonly/, /^Forward tcp port 8080 of 192\.168\.56\.1 -> guest port 80 on hostonly$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'natnet on a Docker host: masquerade, and the bridge accepted in DOCKER-USER (guests, out, and back)',
    argv: ['--net', 'natnet'],
    facts: {
      firewall: {
        forwardPolicy: 'DROP',
        dockerUser: true,
        forwardPolicy6: 'DROP',
        dockerUser6: true,
        firewalld: false,
        ufw: false,
      },
      defaultRoute6Interface: 'eth1',
    },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...bridgeHostCommands('natnet', '192.168.57.1/24', `${NATNET6}:1/64`),
      ...tapHost('qtap0', 'natnet'),
      NATNET_DNSMASQ,
      dhcpNote(MAC0, '192.168.57.2-192.168.57.254', 'natnet', NATNET6),
      ...NAMES('natnet'),
      FORWARD_ON,
      FORWARD6_ON,
      ACCEPT_RA,
      ...NAT_NFT,
      iptablesRule('-I', 'DOCKER-USER', '-i natnet -o natnet', 'natnet'),
      iptablesRule('-I', 'DOCKER-USER', '-i natnet -o eth0 -s 192.168.57.0/24', 'natnet'),
      iptablesRule(
        '-I',
        'DOCKER-USER',
        '-i eth0 -o natnet -d 192.168.57.0/24 -m conntrack --ctstate RELATED,ESTABLISHED',
        'natnet',
      ),
      'nft add table ip6 qemu_script_natnet',
      'nft add chain ip6 qemu_script_natnet postrouting { type nat hook postrouting priority srcnat; policy accept; }',
      `nft add rule ip6 qemu_script_natnet postrouting ip6 saddr ${NATNET6}:/64 oifname eth1 masquerade comment ` +
        '"qemu-script natnet"',
      iptablesRule('-I', 'DOCKER-USER', '-i natnet -o natnet', 'natnet', 'ip6tables'),
      iptablesRule('-I', 'DOCKER-USER', `-i natnet -o eth1 -s ${NATNET6}:/64`, 'natnet', 'ip6tables'),
      iptablesRule(
        '-I',
        'DOCKER-USER',
        `-i eth1 -o natnet -d ${NATNET6}:/64 -m conntrack --ctstate RELATED,ESTABLISHED`,
        'natnet',
        'ip6tables',
      ),
    ],
    cleanup: [
      iptablesRule(
        '-D',
        'DOCKER-USER',
        `-i eth1 -o natnet -d ${NATNET6}:/64 -m conntrack --ctstate RELATED,ESTABLISHED`,
        'natnet',
        'ip6tables',
      ),
      iptablesRule('-D', 'DOCKER-USER', `-i natnet -o eth1 -s ${NATNET6}:/64`, 'natnet', 'ip6tables'),
      iptablesRule('-D', 'DOCKER-USER', '-i natnet -o natnet', 'natnet', 'ip6tables'),
      'nft delete table ip6 qemu_script_natnet',
      iptablesRule(
        '-D',
        'DOCKER-USER',
        '-i eth0 -o natnet -d 192.168.57.0/24 -m conntrack --ctstate RELATED,ESTABLISHED',
        'natnet',
      ),
      iptablesRule('-D', 'DOCKER-USER', '-i natnet -o eth0 -s 192.168.57.0/24', 'natnet'),
      iptablesRule('-D', 'DOCKER-USER', '-i natnet -o natnet', 'natnet'),
      'nft delete table ip qemu_script_natnet',
      FORWARD6_OFF,
      FORWARD_OFF,
      NAMES_REVERT('natnet'),
      ...dhcpCleanup('natnet'),
      'ip link del dev qtap0',
      'ip link del dev natnet',
    ],
    messages: [/network natnet/],
    warnings: [NO_VHOST],
  },
  {
    name:
      'hostonly behind a FORWARD DROP without Docker, with firewalld and ufw: guests accepted in FORWARD, ' +
      'the bridge trusted, DHCP/DNS allowed in',
    argv: ['--net', 'hostonly'],
    facts: { firewall: { forwardPolicy: 'DROP', dockerUser: false, firewalld: true, ufw: true } },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      ...HOSTONLY_FIRST_GUEST,
      iptablesRule('-I', 'FORWARD', '-i hostonly -o hostonly', 'hostonly'),
      'firewall-cmd --zone=trusted --add-interface=hostonly',
      'ufw allow in on hostonly',
    ],
    cleanup: [
      'ufw delete allow in on hostonly',
      'firewall-cmd --zone=trusted --remove-interface=hostonly',
      iptablesRule('-D', 'FORWARD', '-i hostonly -o hostonly', 'hostonly'),
      ...HOSTONLY_UNDONE,
    ],
    messages: [/network hostonly/],
    warnings: [NO_VHOST],
  },
  {
    name: "a tunnelled network: bridge, VXLAN device with a flood entry per remote, TAP and guest at the tunnel's MTU",
    argv: ['--net', 'tun'],
    facts: { networks: { tun }, interfaces: { eth0: { kind: 'physical', mtu: 9000 } } },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      'ip link add name tun mtu 8950 type bridge',
      MARK('tun', 'up'),
      'ip addr add 10.79.0.1/24 dev tun',
      'ip link add name vxlan42 type vxlan id 42 dstport 4789 local 10.1.0.2 dev eth0 learning',
      MARK('vxlan42', ''),
      'bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 10.1.0.7',
      'bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 10.1.0.8',
      'ip link set dev vxlan42 master tun mtu 8950 up',
      'ip tuntap add dev qtap0 mode tap vnet_hdr user 0',
      MARK('qtap0', 'master tun mtu 8950 up'),
      FIREWALL_NOTHING('tun'),
    ],
    cleanup: ['ip link del dev qtap0', 'ip link del dev vxlan42', 'ip link del dev tun'],
    messages: [/^NIC 1 on network tun \(10\.79\.0\.0\/24, host 10\.79\.0\.1, VXLAN 42 over eth0, MTU 8950\)$/],
    warnings: [NO_VHOST],
  },
  {
    name: 'a normal user on a tunnelled network: names only; root takes the tunnel from the definition',
    argv: ['--net', 'tun'],
    facts: { isRoot: false, uid: 1000, runtimeDir: '/run/user/1000/qemu-script', networks: { tun } },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      'sudo -n /usr/local/bin/qemu-script-helper bridge-add tun guest',
      'sudo -n /usr/local/bin/qemu-script-helper vxlan-add tun guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-add qtap0 tun guest',
      'sudo -n /usr/local/bin/qemu-script-helper firewall-add tun guest',
    ],
    cleanup: [
      'sudo -n /usr/local/bin/qemu-script-helper firewall-del tun guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-del qtap0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper vxlan-del vxlan42 guest',
      'sudo -n /usr/local/bin/qemu-script-helper bridge-del tun guest',
    ],
    messages: [/VXLAN 42 over eth0, MTU 1450/],
    warnings: [NO_VHOST],
  },
  {
    name: "a normal user on hostonly: the helper gets the network's name and the NIC, never addresses",
    argv: ['--net', 'hostonly'],
    facts: { isRoot: false, uid: 1000, runtimeDir: '/run/user/1000/qemu-script' },
    netdevs: [TAPDEV(0, 'qtap0')],
    host: [
      'sudo -n /usr/local/bin/qemu-script-helper bridge-add hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-add qtap0 hostonly guest',
      `sudo -n /usr/local/bin/qemu-script-helper dhcp-add hostonly ${MAC0} guest`,
      'sudo -n /usr/local/bin/qemu-script-helper names-add hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper firewall-add hostonly guest',
    ],
    cleanup: [
      'sudo -n /usr/local/bin/qemu-script-helper firewall-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper names-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper dhcp-del hostonly guest',
      'sudo -n /usr/local/bin/qemu-script-helper tap-del qtap0 guest',
      'sudo -n /usr/local/bin/qemu-script-helper bridge-del hostonly guest',
    ],
    messages: [/network hostonly/],
    warnings: [NO_VHOST],
  },
];

const lines = (commands: Command[]) => commands.map((command) => command.argv.join(' ') || `# ${command.note}`);

function matchAll(actual: string[], patterns: RegExp[], what: string): void {
  assert.is(actual.length, patterns.length, `${what}: ${actual.join(' | ')}`);
  patterns.forEach((pattern, i) => assert.match(actual[i], pattern, what));
}

for (const row of ROWS) {
  test(`net: ${row.name}`, () => {
    const result = plan([...row.argv, '--display', 'none'], row.facts);
    assert.equal(valuesOf(result.qemu.argv, '-netdev'), row.netdevs);
    const devices = valuesOf(result.qemu.argv, '-device').filter((device) => device.startsWith('virtio-net'));
    assert.equal(
      devices.map((device) => /netdev=(\w+)/.exec(device)?.[1]),
      row.netdevs.map((_, i) => `nic${i}`),
    );
    const tunnelled = /VXLAN \d+ over \S+, MTU (\d+)/.exec(result.messages.join(' '))?.[1];
    assert.equal(
      devices.map((device) => /host_mtu=(\d+)/.exec(device)?.[1]),
      devices.map(() => tunnelled),
      'host_mtu on tunnelled networks only',
    );
    const { host, cleanup } = hostCommands(result);
    assert.equal(lines(host), row.host ?? []);
    assert.equal(lines(cleanup), row.cleanup ?? []);
    assert.equal(
      result.qemu.fds.map(({ fd, path }) => ({ fd, path })),
      row.fds ?? [],
    );
    // The console is the display's (--display none): last, after the networks' messages.
    assert.is(result.messages.at(-1), CONSOLE);
    matchAll(result.messages.slice(0, -1), row.messages ?? [], 'messages');
    // About this line first, then about the host (said once per boot): both checked.
    matchAll([...result.warnings, ...result.notices], row.warnings ?? [], 'warnings');
    assert.equal(result.companions, row.companions ?? []);
  });
}

test('net: macvtap NIC MAC equals the macvtap address', () => {
  const result = plan(['--net', 'p', '--display', 'none']);
  const device = valuesOf(result.qemu.argv, '-device').find((d) => d.startsWith('virtio-net'))!;
  const action = result.actions[0];
  assert.is(action.kind, 'macvtap');
  assert.ok(action.kind === 'macvtap' && device.endsWith(`mac=${action.mac}`));
});

const REFUSALS: Array<{
  name: string;
  argv: string[];
  facts?: Partial<HostFacts>;
  error: typeof UsageError | typeof HostError;
  message: RegExp;
}> = [
  {
    name: 'p with a tun default route',
    argv: ['--net', 'p'],
    facts: { defaultRouteInterface: 'tun0', interfaces: { tun0: { kind: 'other', linkKind: 'tun/tap' } } },
    error: HostError,
    message: /tun0 \(tun\/tap\), a virtual interface/,
  },
  {
    name: 'p over Wi-Fi',
    argv: ['--net', 'p'],
    facts: { defaultRouteInterface: 'wlan0', interfaces: { wlan0: { kind: 'wireless' } } },
    error: HostError,
    message: /Wi-Fi/,
  },
  {
    name: 'p without a default route',
    argv: ['--net', 'p'],
    facts: { defaultRouteInterface: undefined },
    error: HostError,
    message: /no default route/,
  },
  {
    name: 'a bridge name that is another interface',
    argv: ['--net', 'eth0'],
    error: UsageError,
    message: /eth0 exists and is not a bridge/,
  },
  {
    name: 'macvtap over a missing interface',
    argv: ['--net', 'macvtap:eth9'],
    error: UsageError,
    message: /no interface eth9/,
  },
  {
    name: '--net passt where passt is not installed: the package to install',
    argv: ['--net', 'passt'],
    error: UsageError,
    message: /^--net passt: passt is not installed; sudo apt-get install passt$/,
  },
  {
    name: '--fwd without a user network',
    argv: ['--net', '0', '--fwd', '8080-80'],
    error: UsageError,
    message: new RegExp(
      '^--fwd needs a user-mode network \\(user or u, passt\\) or a defined network with DHCP \\(hostonly, ' +
        'natnet, or one of qemu-script net ls\\): add one to --net$',
    ),
  },
  {
    name: '--fwd on a defined network without DHCP: nothing knows the address to forward to',
    argv: ['--net', 'lab2', '--fwd', '8080-80'],
    facts: { networks: { lab2: labStatic } },
    error: UsageError,
    message: /^--fwd needs a user-mode network/,
  },
  {
    name: "a normal user's --fwd of a privileged port into hostonly",
    argv: ['--net', 'hostonly', '--fwd', '80-80'],
    facts: { isRoot: false, uid: 1000, runtimeDir: '/run/user/1000/qemu-script' },
    error: UsageError,
    message:
      /^--fwd: host port 80 is privileged \(below 1024\) and only root may listen on it; choose one from 1024 up$/,
  },
  {
    name: 'a DHCP network whose server could not reach the runtime directory',
    argv: ['--net', 'hostonly'],
    facts: { registryPrivateParent: '/root' },
    error: UsageError,
    message: new RegExp(
      '^--net hostonly: its DHCP server runs as its own user and cannot reach /run/qemu-script \\(/root is ' +
        'private\\); set QEMU_SCRIPT_RUNTIME_DIR elsewhere$',
    ),
  },
  {
    name: '--fwd onto a used port',
    argv: ['--fwd', '8080-80'],
    facts: { usedTcpPorts: [8080] },
    error: UsageError,
    message: /^--fwd 8080: host port 8080 is in use on this host$/,
  },
  {
    name: 'an existing bridge bridge.conf does not list',
    argv: ['--net', 'br0'],
    facts: { ...bridgeHost, bridgeAcl: ['allow vmnet0'] },
    error: UsageError,
    message:
      /--net br0: br0 is not a bridge of qemu-script and \/etc\/qemu\/bridge.conf does not allow it.*bridge br0$/,
  },
  {
    name: 'an existing bridge bridge.conf denies',
    argv: ['--net', 'p'],
    facts: { ...bridgeHost, bridgeAcl: ['allow all', 'deny br0'] },
    error: UsageError,
    message: /does not allow it/,
  },
  {
    name: 'the bridged adapter without any bridge.conf',
    argv: ['--net', 'bridge'],
    facts: { ...bridgeHost, bridgeAcl: undefined },
    error: UsageError,
    message: /--net br0: br0 is not a bridge of qemu-script/,
  },
  {
    name: "--host-ip on the LAN's subnet",
    argv: ['--net', 'vmnet0', '--host-ip', '10.1.0.9/24'],
    error: UsageError,
    message: /^--host-ip: 10\.1\.0\.9\/24 overlaps address 10\.1\.0\.2\/24 on eth0$/,
  },
  {
    name: '--host-ip covering the LAN',
    argv: ['--net', 'vmnet0', '--host-ip', '10.1.0.0/16'],
    error: UsageError,
    message: /overlaps address 10\.1\.0\.2\/24 on eth0/,
  },
  {
    name: '--host-ip on the gateway',
    argv: ['--net', 'vmnet0', '--host-ip', '192.168.9.1/24'],
    facts: { prefixes: [{ cidr: '192.168.9.1/32', dev: 'eth0', what: 'gateway' }] },
    error: UsageError,
    message: /overlaps the gateway 192\.168\.9\.1 on eth0/,
  },
  {
    name: 'a public --host-ip',
    argv: ['--net', 'vmnet0', '--host-ip', '198.51.100.7/24'],
    error: UsageError,
    message: /^--host-ip: 198\.51\.100\.7\/24 is not a private address/,
  },
  {
    name: 'a --host-ip over half of IPv4',
    argv: ['--net', 'vmnet0', '--host-ip', '10.0.0.1/1'],
    error: UsageError,
    message: /is not a private address|prefix must be/,
  },
  {
    name: 'a --host-ip of a whole private range',
    argv: ['--net', 'vmnet0', '--host-ip', '10.0.0.1/8'],
    error: UsageError,
    message: /the prefix must be from \/16 to \/30/,
  },
  {
    name: 'a --host-ip of a single address',
    argv: ['--net', 'vmnet0', '--host-ip', '192.168.200.1/32'],
    error: UsageError,
    message: /the prefix must be from \/16 to \/30/,
  },
  {
    name: 'a DHCP network without dnsmasq, before any host change',
    argv: ['--net', 'hostonly'],
    facts: { dnsmasq: undefined },
    error: HostError,
    message: /--net hostonly: the network's DHCP server needs dnsmasq, which is not installed: .*install dnsmasq-base/,
  },
  {
    name: "a network whose subnet the host already has (VirtualBox's vboxnet0)",
    argv: ['--net', 'hostonly'],
    facts: { prefixes: [{ cidr: '192.168.56.1/24', dev: 'vboxnet0', what: 'address' }] },
    error: UsageError,
    message:
      /--net hostonly: its subnet 192\.168\.56\.0\/24 overlaps address 192\.168\.56\.1\/24 on vboxnet0 on this host/,
  },
  {
    name: 'a NAT network on a host with no default route',
    argv: ['--net', 'natnet'],
    facts: { defaultRouteInterface: undefined },
    error: HostError,
    message: /--net natnet: the network does NAT out of the default route, and this host has none/,
  },
  ...(
    [
      ['outside the subnet', 'hostonly=192.168.57.10', "192.168.57.10 is not in hostonly's subnet 192.168.56.0/24"],
      ["the host's own", 'hostonly=192.168.56.1', "192.168.56.1 is the host's address on hostonly"],
      ['the broadcast address', 'hostonly=192.168.56.255', "192.168.56.255 is 192.168.56.0/24's broadcast address"],
      ['the network address', 'hostonly=192.168.56.0', "192.168.56.0 is 192.168.56.0/24's network address"],
      ['an address that is none', 'hostonly=192.168.56.300', '"192.168.56.300" is not an IPv4 address'],
      ['a network without DHCP', 'lab2=10.78.0.5', 'network lab2 has no DHCP server to give it'],
      ['a bridge that is no defined network', 'vmnet0=10.0.5.5', 'a fixed address is for a defined network with DHCP'],
    ] as const
  ).map(([what, spec, why]) => ({
    name: `a fixed address: ${what}`,
    argv: ['--net', spec],
    facts: { networks: { ...builtinNetworks(), lab2: labStatic } },
    error: UsageError,
    message: new RegExp(`^--net ${spec.replace(/\./g, '\\.')}: ${why.replace(/[.()]/g, (c) => `\\${c}`)}`),
  })),
  {
    name: 'a network whose bridge name another interface holds',
    argv: ['--net', 'natnet'],
    facts: { interfaces: { eth0: { kind: 'physical' }, natnet: { kind: 'bridge' } } },
    error: UsageError,
    message: /--net natnet: an interface named natnet exists and was not made by qemu-script/,
  },
];

for (const row of REFUSALS) {
  test(`net refused: ${row.name}`, () => {
    assert.throws(
      () => plan([...row.argv, '--display', 'none'], row.facts),
      (error: Error) => error instanceof row.error && row.message.test(error.message),
    );
  });
}

// A host port forwarded into a defined network: the rules root adds once it knows the guest's address.
const PUBLISH_TABLE = 'qemu_script_fwd_tcp_8080';
const DNAT = (chain: string) =>
  `nft add rule ip ${PUBLISH_TABLE} ${chain} fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat to ` +
  '192.168.56.9:80 comment "qemu-script hostonly"';
const CHAIN = (chain: string, priority: string) =>
  `nft add chain ip ${PUBLISH_TABLE} ${chain} { type nat hook ${chain} priority ${priority}; policy accept; }`;
const DNAT_ADD = [
  `nft add table ip ${PUBLISH_TABLE}`,
  CHAIN('prerouting', 'dstnat'),
  DNAT('prerouting'),
  CHAIN('output', '-100'),
  DNAT('output'),
];
const MASQUERADE = [
  CHAIN('postrouting', 'srcnat'),
  `nft add rule ip ${PUBLISH_TABLE} postrouting oifname hostonly ip daddr 192.168.56.9 tcp dport 80 ct status dnat ` +
    'masquerade comment "qemu-script hostonly"',
];
const ACCEPTS = (verb: '-I' | '-D', chain: string) => [
  `iptables ${verb} ${chain} -o hostonly -d 192.168.56.9 -p tcp --dport 80 -m conntrack --ctstate DNAT -m comment ` +
    '--comment qemu-script hostonly -j ACCEPT',
  `iptables ${verb} ${chain} -i hostonly -s 192.168.56.9 -p tcp --sport 80 -m conntrack --ctstate ` +
    'RELATED,ESTABLISHED -m comment --comment qemu-script hostonly -j ACCEPT',
];
const PUBLICATIONS: Array<{
  name: string;
  nat: boolean;
  /** fwd add --listen; absent: every address but loopback's. */
  listen?: string;
  facts: FirewallFacts;
  add: string[];
  remove: string[];
}> = [
  {
    name: 'a NAT network, FORWARD ACCEPT: the DNAT alone (the guest answers through the host, its router)',
    nat: true,
    facts: { forwardPolicy: 'ACCEPT', dockerUser: false, firewalld: false, ufw: false },
    add: DNAT_ADD,
    remove: [`nft delete table ip ${PUBLISH_TABLE}`],
  },
  {
    name: "no NAT, Docker's FORWARD DROP: masqueraded to the bridge, that connection accepted in DOCKER-USER",
    nat: false,
    facts: { forwardPolicy: 'DROP', dockerUser: true, firewalld: false, ufw: false },
    add: [...DNAT_ADD, ...MASQUERADE, ...ACCEPTS('-I', 'DOCKER-USER')],
    remove: [...ACCEPTS('-D', 'DOCKER-USER').reverse(), `nft delete table ip ${PUBLISH_TABLE}`],
  },
  {
    name: 'no NAT, FORWARD DROP without Docker, ufw: accepted in FORWARD, and ufw routes it',
    nat: false,
    facts: { forwardPolicy: 'DROP', dockerUser: false, firewalld: true, ufw: true },
    add: [...DNAT_ADD, ...MASQUERADE, ...ACCEPTS('-I', 'FORWARD'), 'ufw route allow proto tcp to 192.168.56.9 port 80'],
    remove: [
      'ufw route delete allow proto tcp to 192.168.56.9 port 80',
      ...ACCEPTS('-D', 'FORWARD').reverse(),
      `nft delete table ip ${PUBLISH_TABLE}`,
    ],
  },
];

PUBLICATIONS.push({
  name: 'one address of the host (fwd add --listen): the DNAT from it alone',
  nat: true,
  listen: '198.51.100.7',
  facts: { forwardPolicy: 'ACCEPT', dockerUser: false, firewalld: false, ufw: false },
  add: DNAT_ADD.map((command) =>
    command.replace('fib daddr type local ip daddr != 127.0.0.0/8 ', 'ip daddr 198.51.100.7 '),
  ),
  remove: [`nft delete table ip ${PUBLISH_TABLE}`],
});

for (const row of PUBLICATIONS) {
  test(`publish: ${row.name}`, () => {
    const { commands } = publicationRules(
      {
        network: 'hostonly',
        protocol: 'tcp',
        hostPort: 8080,
        guestIp: '192.168.56.9',
        guestPort: 80,
        nat: row.nat,
        ...(row.listen ? { listen: row.listen } : {}),
      },
      row.facts,
    );
    assert.equal(
      commands.map((command) => command.add.join(' ')),
      row.add,
    );
    assert.equal(
      commands
        .filter((command) => command.remove.length > 0)
        .reverse()
        .map((command) => command.remove.join(' ')),
      row.remove,
    );
  });
}

test.run();
