// Every name pattern the tool accepts or makes, in one place.

/**
 * Linux interface names are at most 15 bytes; the tool also keeps them free of
 * anything a shell, a path or `ip` could read as syntax.
 */
export const INTERFACE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

/**
 * Guest names: directory names under the runtime directory, QEMU's -name, and names on defined
 * networks' DNS, so one DNS label (a dot would let a guest take over a name of another domain).
 */
export const GUEST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
export const GUEST_NAME_MAX = 63;
export const GUEST_NAME_RULE = 'letters, digits and inner hyphens, at most 63';

/**
 * Names a guest may not take on a network's DNS, where they would answer for something else: the loopback
 * name, the proxy and tunnel discovery names clients look up by themselves (WPAD, ISATAP).
 */
const RESERVED_GUEST_NAMES = ['localhost', 'localhost4', 'localhost6', 'wpad', 'isatap', 'ip6-localhost'];

/** Why NAME cannot name a guest (undefined: it can); HOST is this host's own name, which guests may not take. */
export function guestNameProblem(name: string, host: string): string | undefined {
  if (!GUEST_NAME.test(name)) return `is not a guest name (${GUEST_NAME_RULE})`;
  const lower = name.toLowerCase();
  if (RESERVED_GUEST_NAMES.includes(lower)) return 'is reserved: on a network it would answer for another service';
  if (lower === host.split('.')[0].toLowerCase()) return "is this host's own name";
  return undefined;
}

/** An image in the cache (debian-12, ubuntu-24.04): a file name, lower case. */
export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const IMAGE_NAME_RULE = 'lower-case letters, digits, dots, hyphens and underscores, at most 64';

/** The group whose members may use the privileged helper, unless setup/doctor --group says otherwise. */
export const DEFAULT_GROUP = 'qemusers';

/** A defined network, and so its bridge: lower case, nothing a shell or path reads. */
export const NETWORK_NAME = /^[a-z][a-z0-9-]{0,14}$/;

/**
 * A defined network's DNS domain (its guests are NAME.DOMAIN): lower-case labels joined by dots, each at most
 * 63, the whole at most 253.
 */
export const DNS_DOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** The internal-network bridges the compact form makes (tap:0 → vmnet0). */
export const VMNET_NAME = /^vmnet\d{1,5}$/;

export const MACVTAP_NAME = /^macvtap\d{1,5}$/;
export const macvtapName = (k: number) => `macvtap${k}`;

/** TAPs the tool makes on its own bridges (QEMU's own are tapN). */
export const TAP_NAME = /^qtap\d{1,5}$/;
export const tapName = (k: number) => `qtap${k}`;
export const vmnetName = (n: number) => `vmnet${n}`;

/** The QEMU guest agent's virtio-serial port (qemu-ga looks for this name), and the chardev behind it. */
export const GUEST_AGENT_PORT = 'org.qemu.guest_agent.0';
export const GUEST_AGENT_CHARDEV = 'qga0';
