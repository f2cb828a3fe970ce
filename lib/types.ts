// The plain objects that flow between the pipeline's stages:
// parse args → Options; probe → HostFacts; plan(Options, HostFacts) → Plan.

export type NetItem =
  | { kind: 'user' }
  /** VirtualBox's "bridged adapter": decided from the host's default route. */
  | { kind: 'bridged' }
  /** QEMU socket multicast segment 230.0.0.(group+1):12345, bound to loopback unless lan. */
  | { kind: 'mcast'; group: number; lan: boolean }
  /** A TAP on a Linux bridge, created when missing. */
  | { kind: 'bridge'; name: string }
  | { kind: 'macvtap'; parent: string };

export type Accel = 'kvm' | 'tcg' | 'kvm:tcg';
export type DiskController = 'virtio-scsi' | 'virtio-blk';

export interface DiskRequest {
  path: string;
  usb: boolean;
  cdrom: boolean;
  controller?: DiskController;
}

export interface DisplayRequest {
  kind: 'none' | 'stdio' | 'telnet' | 'vga' | 'vnc' | 'spice';
  port?: number;
}

export type MacMode = { kind: 'stable' } | { kind: 'random' } | { kind: 'fixed'; macs: string[] };

export interface Forward {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  guestPort: number;
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
  foreground: boolean;
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

export type InterfaceKind = 'bridge' | 'physical' | 'wireless' | 'macvlan' | 'macvtap' | 'veth' | 'other';

export interface InterfaceFacts {
  kind: InterfaceKind;
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
}

export interface HostFacts {
  isRoot: boolean;
  uid: number;
  /** argv that runs this tool again (for `sudo -n … net-helper`). */
  selfCommand: string[];
  runtimeDir: string;
  kvmUsable: boolean;
  vhostNetUsable: boolean;
  defaultRouteInterface?: string;
  interfaces: Record<string, InterfaceFacts>;
  /** Names reserved by guests of this tool that are still starting (not yet visible as links). */
  reservedInterfaces: string[];
  /** Bridges this tool created that still exist: shared with their other guests, removed with the last. */
  toolBridges: string[];
  usedTcpPorts: number[];
  usedMacs: string[];
  guestNames: string[];
  disks: Record<string, DiskFacts>;
  usbDevices: string[];
  firmwareReadable: boolean;
}

// ---- the plan ----

export type HostAction =
  /** `create` false: the bridge exists already (another guest of the tool made it); only join it. */
  | { op: 'bridge-add'; name: string; guest: string; hostIp?: string; create: boolean }
  | { op: 'macvtap-add'; name: string; parent: string; mac: string; guest: string; node: string };

export type CleanupAction =
  /** Runs only when no other guest of the tool still uses the bridge. */
  | { op: 'bridge-del'; name: string; guest: string }
  | { op: 'macvtap-del'; name: string; guest: string; node: string };

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

export interface Plan {
  name: string;
  runDir: string;
  qemu: { argv: string[]; fds: FdSpec[] };
  actions: HostAction[];
  cleanupActions: CleanupAction[];
  host: Command[];
  cleanup: Command[];
  messages: string[];
  warnings: string[];
  foreground: boolean;
  /** What this guest holds, recorded so concurrent launches and `gc` can see it. */
  resources: {
    /** One short label per NIC, in order (user, vmnet0, macvtap0@eth0, mcast:3). */
    networks: string[];
    ports: number[];
    macs: string[];
    bridgesCreated: string[];
    bridgesUsed: string[];
    macvtaps: string[];
  };
}
