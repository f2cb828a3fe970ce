// The plain objects that flow between the pipeline's stages:
// parse args → Options; probe → HostFacts; plan(Options, HostFacts) → Plan.

export type NetItem =
  | { kind: 'user' }
  /** User networking by passt, a process of the caller's per guest: both families, TCP and UDP forwards. */
  | { kind: 'passt' }
  /** VirtualBox's "bridged adapter": decided from the host's default route. */
  | { kind: 'bridged' }
  /** QEMU socket multicast segment 230.0.0.(group+1):12345, bound to loopback unless lan. */
  | { kind: 'mcast'; group: number; lan: boolean }
  /**
   * A TAP on a Linux bridge or defined network. `explicit`: written br:NAME or
   * tap:N, so a missing bridge of that name is made; a bare name must be a
   * vmnetN, a defined network or an existing bridge.
   */
  | { kind: 'bridge'; name: string; explicit: boolean; address?: string }
  | { kind: 'macvtap'; parent: string };

// The vocabularies: parsing, --help and the completions all read these.
export const ACCELS = ['kvm', 'tcg', 'kvm:tcg'] as const;
export type Accel = (typeof ACCELS)[number];
export const DISPLAY_KINDS = ['none', 'stdio', 'vga', 'vnc', 'spice'] as const;
export const MAC_MODES = ['stable', 'random'] as const;
export type DiskController = 'virtio-scsi' | 'virtio-blk';

export interface DiskRequest {
  path: string;
  usb: boolean;
  cdrom: boolean;
  controller?: DiskController;
  /** A qcow2 overlay made at launch over an image (--image): the guest writes it, never the image. */
  overlay?: Overlay;
}

/** An overlay to make over a read-only image: its backing file, that file's format, the size it grows to. */
export interface Overlay {
  backing: string;
  format: 'qcow2' | 'raw';
  size?: string;
}

export interface DisplayRequest {
  kind: (typeof DISPLAY_KINDS)[number];
}

export type MacMode = { kind: 'stable' } | { kind: 'random' } | { kind: 'fixed'; macs: string[] };

export interface Forward {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  guestPort: number;
}

export interface CloudInitRequest {
  login?: string;
  sshKey?: string;
  userData?: string;
  /** An instance's cloud-init identity, fixed when it was created (default: from the guest's name and disk). */
  instanceId?: string;
  /** A clone's first boot: the machine ID its disk came with is made anew (once per instance). */
  newMachineId?: boolean;
}

/** What the host has for --cloud-init: read by the probe, never changed by it. */
export interface CloudInitFacts {
  /** The caller's login name and home. */
  user: string;
  home: string;
  /** The public key to install, and its private half when there is one beside it. */
  key?: { publicPath: string; text: string; privatePath?: string };
  /** The user's own user-data, as read and checked. */
  userData?: { path: string; text: string; kind: 'cloud-config' | 'script' };
  /** The SSH host key the tool gives one instance (made once, kept: the guest is known from its first login). */
  hostKey?: { instanceId: string; publicText: string; privateText: string };
}

/** --cloud-init's part of a plan (plan/cloud-init.ts). */
export interface CloudInitPlan {
  /** The ISO QEMU reads, and the files it is made of. */
  seed: string;
  files: Record<'meta-data' | 'user-data' | 'network-config', string>;
  instanceId: string;
  login: string;
  /** The private key `qemu-script ssh` logs in with (undefined: ssh's own choice, ~/.ssh/...). */
  identity?: string;
  /** The guest's host key as a known_hosts line (under the alias instanceId), and the file it goes in. */
  knownHosts: string;
  knownHostsLine?: string;
  /** Run by the user at launch before QEMU, once the files are written: the ISO. */
  prepare: Command[];
  /** Key pairs made first, then planned again with (a dry run only shows them): the caller's, the guest's. */
  keygen: Command[];
  summary: string[];
}

/** Settings that come from the environment (VM_*) or their built-in defaults. */
export interface Settings {
  qemuBinary: string;
  ramMiB: number;
  macPrefix: number[];
  efiFirmware: string;
  bridgeHelper: string;
  vhostNetDevice: string;
  diskController: DiskController;
  /** Warnings about the environment (a vendor's MAC prefix). */
  notes: string[];
}

export interface LaunchOptions {
  disks: DiskRequest[];
  /** Empty means no NIC at all (`none`). */
  net: NetItem[];
  display: DisplayRequest;
  usb: string[];
  uefi: boolean;
  accel?: Accel;
  mac: MacMode;
  name?: string;
  hostIp?: string;
  fwd: Forward[];
  /** --ssh-port: the user network's SSH forward at this port, or none. */
  sshPort?: number | 'none';
  /** --cloud-init, with its --login, --ssh-key and --user-data. */
  cloudInit?: CloudInitRequest;
  /** --image IMAGE (a cached image or a file) and --disk-size: the guest runs on an overlay of its own over it. */
  image?: { ref: string; size?: string };
  /** Where the serial console is logged (an instance's directory); default: the guest's runtime directory. */
  consoleLog?: string;
  /** Started as this instance (`start NAME`): the name is its own, not one a launch line may take. */
  instance?: string;
  foreground: boolean;
  /** --wait: a background launch returns once the guest is ready (SSH answers, cloud-init has finished). */
  wait?: boolean;
  /** --quiet: no messages, only errors (and --json output). */
  quiet: boolean;
  dryRun: boolean;
  json: boolean;
  verbose: boolean;
  /** QEMU options written before `--`, in order. */
  qemuBefore: string[];
  /** QEMU options written after `--`, in order. */
  qemuAfter: string[];
  settings: Settings;
  /** Non-fatal remarks found while parsing (e.g. a duplicated user network). */
  notes: string[];
}

type InterfaceKind = 'bridge' | 'physical' | 'wireless' | 'macvlan' | 'macvtap' | 'veth' | 'other';

export interface InterfaceFacts {
  kind: InterfaceKind;
  mtu?: number;
  /** For macvlan/macvtap: the lower device. */
  parent?: string;
  /** The kernel's link kind (`ip -d link`), for messages. */
  linkKind?: string;
}

export type DiskFormat = 'qcow2' | 'iso' | 'raw' | 'unknown';

export interface DiskFacts {
  exists: boolean;
  readable: boolean;
  absolutePath: string;
  blockDevice: boolean;
  format: DiskFormat;
  /** What the content looked like when it is not usable (e.g. "VMDK"). */
  detail?: string;
  /** The file behind the path (device and inode): the same disk given twice has one. */
  identity?: string;
  /** A block device the host uses now: "mounted on /mnt", "held by dm-0". */
  inUse?: string;
  /** A running guest of this tool's that has it (QEMU's image lock would refuse it only after setup). */
  usedBy?: { guest: string; writes: boolean };
}

/** The host's firewall situation, as far as a defined network is concerned. */
export interface FirewallFacts {
  /** iptables' FORWARD policy, when iptables is installed and readable (root). */
  forwardPolicy?: string;
  /** iptables' INPUT policy: a DROP there may block a tunnel's UDP port. */
  inputPolicy?: string;
  /** Docker's chain for the administrator's own rules, jumped to first from FORWARD. */
  dockerUser: boolean;
  /** ip6tables' FORWARD policy, and whether Docker made its DOCKER-USER there too (ip6tables: true). */
  forwardPolicy6?: string;
  dockerUser6?: boolean;
  firewalld: boolean;
  ufw: boolean;
}

/** One command that adds a rule and the one that takes it back. */
export interface RuleCommand {
  add: string[];
  remove: string[];
}

/** Every command that lets one network through the host, in the order they are added. */
export interface FirewallRules {
  commands: RuleCommand[];
}

/** A defined network: a bridge with a host address, optionally DHCP/DNS and NAT, realised on demand. */
/** A defined network's VXLAN tunnel: the same VNI on several hosts makes one L2 segment. */
export interface VxlanDef {
  vni: number;
  /** Unicast peers (a flood entry each); empty with a multicast group. */
  remotes: string[];
  /** The underlay interface; default: the route to the first remote (or the group's). */
  dev?: string;
  /** UDP port (4789, IANA's). */
  port: number;
  /** Multicast group instead of unicast remotes (large sites). */
  group?: string;
}

export interface NetworkDef {
  name: string;
  /** Network address and prefix, e.g. 192.168.56.0/24. */
  subnet: string;
  /** The host's address on the network's bridge, e.g. 192.168.56.1. */
  hostIp: string;
  /** Its IPv6 /64 (a ULA derived from the name unless given); absent: IPv4 only (net create --no-ipv6). */
  subnet6?: string;
  dhcp: boolean;
  nat: boolean;
  /** hostonly and natnet: always defined, never removed. */
  builtin: boolean;
  vxlan?: VxlanDef;
  /** Its guests' DNS domain (web.DOMAIN) when it has DHCP; absent: the network's name (domainOf). */
  domain?: string;
}

/** An address, gateway or route already on the host (IPv4 or IPv6), for overlap checks. */
export interface HostPrefix {
  cidr: string;
  dev: string;
  what: 'address' | 'route' | 'gateway' | 'rule';
}

export interface HostFacts {
  isRoot: boolean;
  uid: number;
  /** argv that runs this tool again (the helper is beside it). */
  selfCommand: string[];
  runtimeDir: string;
  /** Where root records host changes (and keeps network servers' files). */
  registryDir: string;
  /**
   * A directory above the registry that other users may not search: a network's DHCP server, which
   * runs as its own user, could not read its files there (probed when a DHCP network is realised).
   */
  registryPrivateParent?: string;
  /** --cloud-init's facts: the caller, the key to install, their own user-data. */
  cloudInit?: CloudInitFacts;
  /** The network namespace this runs in ("net:[4026531840]"): per-namespace state is keyed by it. */
  netns: string;
  /** KVM runs guests here (a real run of QEMU under KVM says so, probe/kvm.ts). */
  kvmUsable: boolean;
  /** Why not, when it does not. */
  kvmWhy?: string;
  /** No answer of this boot yet: /dev/kvm opens, whether it runs guests is asked at launch. */
  kvmUnknown?: boolean;
  vhostNetUsable: boolean;
  /** IPv6 is on in this namespace (not disabled at boot or by sysctl): defined networks get their IPv6 side. */
  ipv6: boolean;
  /** The interface of IPv6's default route: NAT66 leaves by it; without one a network's IPv6 stays inside. */
  defaultRoute6Interface?: string;
  defaultRouteInterface?: string;
  interfaces: Record<string, InterfaceFacts>;
  /** Names reserved by guests of this tool that are still starting (not yet visible as links). */
  reservedInterfaces: string[];
  /** Bridges this tool created that still exist: shared with their other guests, removed with the last. */
  toolBridges: string[];
  usedTcpPorts: number[];
  /** net.ipv4.ip_unprivileged_port_start: below it only root may listen. */
  unprivilegedPortStart: number;
  usedMacs: string[];
  guestNames: string[];
  disks: Record<string, DiskFacts>;
  usbDevices: string[];
  firmwareReadable: boolean;
  /** Defined networks (built-ins included), from the root-owned configuration directory. */
  networks: Record<string, NetworkDef>;
  /** Defined networks whose bridge the tool made and still has, with their guests. */
  networksUp: string[];
  /** The DHCP/DNS server's absolute path, when installed. */
  dnsmasq?: string;
  /** passt's absolute path, when installed and a NIC asks for it. */
  passt?: string;
  /** A user id no account has, for root's companions (passt) to run as; read with passt. */
  companionUid?: number;
  /** Addresses, gateways and routes of this host; read only when a plan joins or makes a bridge. */
  prefixes: HostPrefix[];
  /** qemu-bridge-helper's ACL (bridge.conf with its includes); undefined when missing or not read. */
  bridgeAcl?: string[];
  /** The host's firewall situation, read (as root) when a defined network may be realised. */
  firewall?: FirewallFacts;
}

// ---- the plan ----

/**
 * One change to the host, as plain data. Each kind has one module under
 * lib/actions/ that prints, applies, undoes and validates it; the plan keeps
 * one list of these and everything else (dry run, cleanup, sudo requests) is
 * derived from it.
 */
export type HostAction =
  /** `shared`: planned as joining a bridge another guest of the tool made (only for the dry run's text). */
  | {
      kind: 'bridge';
      name: string;
      guest: string;
      hostIp?: string;
      /** A defined network's IPv6 address for the host (ADDRESS/64). */
      hostIp6?: string;
      shared: boolean;
      network?: string;
      mtu?: number;
    }
  /**
   * A defined network's VXLAN device on its bridge, with a flood entry per remote.
   * `underlay`, `local` and `mtu` as planned; the underlay is looked up again when it is made.
   */
  | {
      kind: 'vxlan';
      network: string;
      guest: string;
      device: string;
      vxlan: VxlanDef;
      underlay: string;
      local?: string;
      mtu: number;
    }
  | { kind: 'macvtap'; name: string; parent: string; mac: string; guest: string; node: string }
  /** A TAP on a bridge of the tool, owned by uid `owner` (the guest's user), opened by QEMU by name. */
  | { kind: 'tap'; name: string; bridge: string; guest: string; owner: number; mtu?: number }
  /** net.ipv4.ip_forward on while a NAT network is up, put back afterwards if the tool turned it on. */
  /** `uplink`: IPv6's default route interface as planned, for the dry run (root reads its own). */
  /** `publish`: on for a host port forwarded into `network` (which need not do NAT), not for its NAT. */
  | { kind: 'forward'; network: string; guest: string; family: 4 | 6; uplink?: string; publish?: boolean }
  /** What a defined network needs from the host's firewall (NAT, forwarding past a DROP policy); `rules` as planned. */
  | {
      kind: 'firewall';
      network: string;
      guest: string;
      subnet: string;
      subnet6?: string;
      nat: boolean;
      rules: FirewallRules;
    }
  /**
   * A host port forwarded to the address NIC `mac` was registered with on defined network `network` (which
   * has DHCP); `nat`: the network's, from its definition.
   */
  | {
      kind: 'publish';
      network: string;
      guest: string;
      mac: string;
      protocol: 'tcp' | 'udp';
      hostPort: number;
      guestPort: number;
      nat: boolean;
      /** One IPv4 address of the host it listens on (fwd add --listen); absent: all but loopback. */
      listen?: string;
    }
  /** systemd-resolved asks the network's server for its domain on its bridge (where resolved runs). */
  | { kind: 'names'; network: string; guest: string; server: string; domain: string }
  /** A NIC registered with the DHCP/DNS server of defined network `network` (started with its first NIC). */
  /** `dir`: the server's pidfile, leases and registrations, beside the registry. */
  | {
      kind: 'dhcp';
      network: string;
      mac: string;
      guest: string;
      config: DhcpConfig;
      dir: string;
      /** A fixed address (--net NAME=ADDRESS); else one stable for the MAC. */
      ip?: string;
    };

export type ActionKindName = HostAction['kind'];

/** What the DHCP/DNS server of a defined network serves: all derived from the root-owned definition. */
export interface DhcpConfig {
  bridge: string;
  hostIp: string;
  prefix: number;
  rangeStart: string;
  rangeEnd: string;
  /** The default gateway handed to guests (NAT networks): the host. */
  router?: string;
  /** Forward other names to the host's resolvers (NAT networks); a host-only network answers its own names only. */
  upstreamDns: boolean;
  /** The network's IPv6 side: router advertisements (a default router only with NAT) and DHCPv6. */
  ipv6?: { prefix: string; hostIp: string; router: boolean };
  /** Its guests' DNS domain: NAME.DOMAIN answers, handed to guests as their search domain. */
  domain: string;
}

/** A command as a dry run prints it; an empty argv is a note alone. */
export interface Command {
  argv: string[];
  note?: string;
}

export interface FdSpec {
  fd: number;
  path: string;
  /** Set when the path is the device node of a macvtap the host stage creates. */
  macvtap?: string;
}

/** How `ps` learns a NIC's address once the guest runs. */
export type AddressSource =
  | { from: 'user' }
  /** The DHCP lease of the defined network's server. */
  | { from: 'lease'; network: string; /** The network's server files in the guest's namespace. */ dir: string }
  /** The host's neighbour table, once the guest has spoken (bridges, macvtap). */
  | { from: 'neighbour' }
  /** Multicast networks: the host sees nothing of them. */
  | { from: 'none' };

export interface NicInfo {
  index: number;
  /** The network as the user wrote it: user, vmnet0, hostonly, macvtap0@eth0, mcast:3. */
  net: string;
  mac: string;
  address: AddressSource;
}

export interface ForwardInfo {
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
  guest_port: number;
}

/** A process of the caller's that a NIC needs beside QEMU (passt): started before it, ended with the guest. */
export interface Companion {
  kind: 'passt';
  argv: string[];
  /** Its own directory (socket, log), inside the guest's. */
  dir: string;
  /** For a root guest: the unprivileged user it runs as, who owns its directory. */
  runAs?: number;
  /** The unix socket QEMU connects to: the companion is ready once it exists. */
  socket: string;
  log: string;
}

export interface Plan {
  name: string;
  runDir: string;
  qemu: { argv: string[]; fds: FdSpec[] };
  /** Host changes in the order they are made; cleanup undoes them in reverse. */
  actions: HostAction[];
  /** How the actions reach root: directly, or through `sudo -n qemu-script-helper`. */
  privilege: { isRoot: boolean; selfCommand: string[] };
  messages: string[];
  /** About this line: said every time. */
  warnings: string[];
  /** About the host (no vhost-net, KVM that does not run guests): said once per boot. */
  notices: string[];
  foreground: boolean;
  /** Where its screen and console are: every display but stdio has the private console socket. */
  display: DisplayRequest['kind'];
  /** Processes of the caller's the NICs need (passt), started before QEMU. */
  companions: Companion[];
  /** --cloud-init: the seed to make before QEMU starts, and how `qemu-script ssh` logs in. */
  cloudInit?: CloudInitPlan;
  /** Made by the user before QEMU starts (an overlay over an image, in the guest's directory); absent: none. */
  prepare?: Command[];
  /** Where its serial console is logged, appended across boots. */
  consoleLog?: string;
  /** What this guest holds, recorded so concurrent launches, `ps` and `gc` can see it. */
  resources: {
    nics: NicInfo[];
    forwards: ForwardInfo[];
    ports: number[];
    macs: string[];
    /** Interfaces made for this guest alone (macvtapN, qtapN). */
    interfaces: string[];
    /** The disks it runs from, as absolute paths (a disk a running guest uses is refused to another). */
    disks: string[];
    /** Whether it writes them (not with -snapshot): guests that only read one disk may share it. */
    writesDisks: boolean;
    /** The images its overlays are over (absent: none): `image rm` is refused while it runs. */
    images?: string[];
  };
}
