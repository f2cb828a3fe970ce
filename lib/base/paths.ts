// Every path the tool uses, in one place.
import { existsSync } from 'node:fs';
import { UsageError } from './errors.ts';
import { GUEST_NAME, GUEST_NAME_RULE } from './names.ts';

/** Root-owned directory of the privileged helper: registry, lock, device nodes and network servers for users. */
export const SYSTEM_RUN_DIR = '/run/qemu-script';

/** Root-owned network definitions; QEMU_SCRIPT_CONFIG_DIR moves it for root only (tests). */
export const SYSTEM_CONFIG_DIR = '/etc/qemu-script';

/** Where this user's guests keep their state: records, QMP sockets, logs. */
export function runtimeDirFor(uid: number, env: Record<string, string | undefined>): string {
  if (env.QEMU_SCRIPT_RUNTIME_DIR) return env.QEMU_SCRIPT_RUNTIME_DIR;
  if (uid === 0) return SYSTEM_RUN_DIR;
  // One user, one directory: the login's /run/user/UID whether XDG_RUNTIME_DIR is set or not (su, cron, ssh
  // without a session); /tmp only where there is none, made there safely (lock.ts).
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && existsSync(xdg)) return `${xdg}/qemu-script`;
  return existsSync(`/run/user/${uid}`) ? `/run/user/${uid}/qemu-script` : `/tmp/qemu-script-${uid}`;
}

type Env = Record<string, string | undefined>;
const home = (env: Env) => env.HOME || '/nonexistent';

/**
 * The verified images guests run over (image pull, image add): a user's cache, or root's under /var/cache.
 * QEMU_SCRIPT_IMAGES_DIR moves it (tests: never the real caches).
 */
export function imagesDirFor(uid: number, env: Env): string {
  if (env.QEMU_SCRIPT_IMAGES_DIR) return env.QEMU_SCRIPT_IMAGES_DIR;
  if (uid === 0) return '/var/cache/qemu-script/images';
  return `${env.XDG_CACHE_HOME || `${home(env)}/.cache`}/qemu-script/images`;
}

/** Instances, one directory each (overlay, instance.yaml, log): a user's data, or root's under /var/lib. */
export function instancesDirFor(uid: number, env: Env): string {
  if (env.QEMU_SCRIPT_INSTANCES_DIR) return env.QEMU_SCRIPT_INSTANCES_DIR;
  if (uid === 0) return '/var/lib/qemu-script/instances';
  return `${env.XDG_DATA_HOME || `${home(env)}/.local/share`}/qemu-script/instances`;
}

/** An image in the cache: its file (read-only, never written by a guest) and what is known of it. */
export const imageFile = (dir: string, name: string) => `${dir}/${name}.img`;
export const imageMeta = (dir: string, name: string) => `${dir}/${name}.json`;
/** A download not finished yet: kept, so that the same pull resumes it. */
export const imagePartial = (dir: string, name: string) => `${dir}/.${name}.part`;

/** One instance's directory and what is in it. */
export const instanceDir = (dir: string, name: string) => `${dir}/${name}`;
export const INSTANCE_FILES = {
  /** What the user gave `create`, and the identity fixed there: the file `start` reads. */
  options: 'instance.yaml',
  /** The qcow2 overlay over the image: the instance's own writes. */
  disk: 'disk.qcow2',
  /** The serial console of every boot, appended (rotated at a start when over 1 MiB). */
  log: 'console.log',
} as const;
export const instanceFile = (dir: string, name: string, file: keyof typeof INSTANCE_FILES) =>
  `${instanceDir(dir, name)}/${INSTANCE_FILES[file]}`;

/** A guest's serial console log: a transient guest's in its runtime directory (removed with it). */
export const consoleLogPath = (runDir: string) => `${runDir}/console.log`;

/** Where root records the host changes: root's own runtime directory, or the helper's for everyone else. */
export const registryDirFor = (uid: number, runtimeDir: string) => (uid === 0 ? runtimeDir : SYSTEM_RUN_DIR);

/** A guest's directory; a name that is not a guest name (a path, `..`) is refused wherever it is read. */
export function guestRunDir(runtimeDir: string, guest: string): string {
  if (!GUEST_NAME.test(guest)) throw new UsageError(`"${guest}" is not a guest name (${GUEST_NAME_RULE})`);
  return `${runtimeDir}/${guest}`;
}

export const guestRecordPath = (runtimeDir: string, guest: string) => `${guestRunDir(runtimeDir, guest)}/guest.json`;
export const qmpSocketPath = (runDir: string) => `${runDir}/qmp.sock`;
export const agentSocketPath = (runDir: string) => `${runDir}/qga.sock`;
export const qemuPidfilePath = (runDir: string) => `${runDir}/qemu.pid`;
export const monitorSocketPath = (runDir: string) => `${runDir}/monitor.sock`;
export const consoleSocketPath = (runDir: string) => `${runDir}/console.sock`;
export const vncSocketPath = (runDir: string) => `${runDir}/vnc.sock`;

/** --cloud-init's NoCloud seed: its files, and the ISO (volume cidata) made of them. */
export const seedDir = (runDir: string) => `${runDir}/cidata`;
export const seedPath = (runDir: string) => `${runDir}/cidata.iso`;

/**
 * What the tool keeps for a user across guests: its own SSH key pair, and per cloud-init instance the
 * host key it gives the guest and the known_hosts line `qemu-script ssh` checks it against.
 */
const userDataDir = (home: string) => `${home}/.local/share/qemu-script`;
export const ownKeyPath = (home: string) => `${userDataDir(home)}/id_ed25519`;
const hostKeyDir = (home: string, instanceId: string) => `${userDataDir(home)}/hosts/${instanceId}`;
export const hostKeyPath = (home: string, instanceId: string) =>
  `${hostKeyDir(home, instanceId)}/ssh_host_ed25519_key`;
export const knownHostsPath = (home: string, instanceId: string) => `${hostKeyDir(home, instanceId)}/known_hosts`;
export const logDir = (runtimeDir: string) => `${runtimeDir}/logs`;
export const logPath = (runtimeDir: string, guest: string) => `${logDir(runtimeDir)}/${guest}.log`;
export const registryPath = (registryDir: string) => `${registryDir}/registry.json`;

/**
 * Where a macvtap's private character device node lives. Root keeps it with the
 * guest; for a normal user the helper makes it in its own root-owned directory
 * (never in a directory the user controls) and hands it to the user.
 */
export function macvtapNodePath(isRoot: boolean, runtimeDir: string, guest: string, ifname: string): string {
  return isRoot ? `${guestRunDir(runtimeDir, guest)}/${ifname}.tap` : `${SYSTEM_RUN_DIR}/nodes/${guest}.${ifname}`;
}

/** A defined network's server files (pid, leases, hosts, names), beside the registry that records them. */
export function networkRunDir(registryDir: string, netns: string, network: string): string {
  // Keyed like the bridge it serves: a network of the same name in another namespace is another server.
  const key = /\[(\d+)\]/.exec(netns)?.[1] ?? 'unknown';
  return `${registryDir}/net/${key}/${network}`;
}

export const NETWORK_FILES = {
  pid: 'dnsmasq.pid',
  leases: 'leases',
  /** dhcp-hostsfile: MAC,IP per registered NIC (re-read on SIGHUP). */
  hosts: 'hosts',
  /** addn-hosts: IP NAME per registered NIC, so names resolve whatever the guest's DHCP client sends. */
  names: 'names',
} as const;

export function networkFile(dir: string, file: keyof typeof NETWORK_FILES): string {
  return `${dir}/${NETWORK_FILES[file]}`;
}

/** qemu-bridge-helper's ACL; setup adds an include of its own file to it. */
export const BRIDGE_CONF = '/etc/qemu/bridge.conf';
export const SETUP_BRIDGE_ACL = '/etc/qemu/qemu-script-bridge.conf';

/** The kernel's view of a link: SYS_NET/NAME/FILE. */
export const SYS_NET = '/sys/class/net';
export const sysNet = (link: string, ...rest: string[]) => [SYS_NET, link, ...rest].join('/');

/** /proc/net/NAME of this network namespace. */
export const procNet = (name: string) => `/proc/net/${name}`;

/** systemd-resolved's varlink socket: there and answering while it runs. */
export const RESOLVED_SOCKET = '/run/systemd/resolve/io.systemd.Resolve';

export const KVM_DEVICE = '/dev/kvm';

/** Debian's list of public DNS suffixes (package publicsuffix): a network's domain is never one. */
export const PUBLIC_SUFFIX_LIST = '/usr/share/publicsuffix/public_suffix_list.dat';

/** The groups whose members may send ICMP echo from unprivileged sockets (ping on user networks). */
export const PING_GROUP_RANGE = '/proc/sys/net/ipv4/ping_group_range';

export function configDir(uid: number, env: Record<string, string | undefined>): string {
  return uid === 0 && env.QEMU_SCRIPT_CONFIG_DIR ? env.QEMU_SCRIPT_CONFIG_DIR : SYSTEM_CONFIG_DIR;
}

export const networksDir = (config: string) => `${config}/networks`;

/** The links a member may put a macvtap on besides physical NICs: `allow IF` lines (setup --allow-macvtap). */
export const macvtapAclPath = (config: string) => `${config}/macvtap.conf`;
export const networkDefinitionPath = (config: string, name: string) => `${networksDir(config)}/${name}.json`;
