// The tool's own options: one entry each. The splitter, minimist's types and
// --help are all generated from this table.
export interface OwnOption {
  name: string;
  /** Single-dash spellings kept from `vm`. */
  aliases: string[];
  /** Set when the option takes a value: its placeholder in --help. */
  value?: string;
  repeatable?: boolean;
  help: string;
}

export const OWN_OPTIONS: readonly OwnOption[] = [
  {
    name: 'disk',
    aliases: ['-disk'],
    value: '[usb:|cdrom:][blk:|scsi:]PATH',
    repeatable: true,
    help: 'a disk or ISO (files and block devices as bare words are disks too); usb:VID:PID passes a USB device',
  },
  {
    name: 'net',
    aliases: ['-net'],
    value: 'NET',
    repeatable: true,
    help: 'networks, see NET below (default: VM_NET or u)',
  },
  {
    name: 'display',
    aliases: ['-display'],
    value: 'D',
    help: 'none | stdio | vga | vnc | spice (default: VM_VIDEO or vga); console: qemu-script console',
  },
  {
    name: 'image',
    aliases: [],
    value: 'IMAGE',
    help: 'run on an overlay of its own over an image (qemu-script image ls; or a file): the image is never written',
  },
  {
    name: 'disk-size',
    aliases: [],
    value: 'SIZE',
    help: "with --image: grow the guest's overlay to SIZE (20G, 512M); cloud images grow their file system to it",
  },
  { name: 'usb', aliases: ['-usb'], value: 'VID:PID', repeatable: true, help: 'pass a host USB device to the guest' },
  { name: 'uefi', aliases: ['-U'], help: 'boot with UEFI firmware (VM_EFIFIRM)' },
  {
    name: 'accel',
    aliases: [],
    value: 'kvm|tcg|kvm:tcg',
    help: 'accelerator (default: VM_ACCEL, or kvm when /dev/kvm is usable, else tcg)',
  },
  {
    name: 'mac',
    aliases: [],
    value: 'stable|random|MAC,...',
    help: 'NIC MACs: stable from the disk or name (default), random, or explicit',
  },
  { name: 'name', aliases: [], value: 'NAME', help: 'guest name (default: first disk file name, made unique)' },
  {
    name: 'host-ip',
    aliases: [],
    value: 'CIDR',
    help: 'address for the bridges the tool creates, so the host reaches its guests',
  },
  {
    name: 'fwd',
    aliases: [],
    value: '[tcp:|udp:]HOST-GUEST',
    repeatable: true,
    help: 'extra port forward: on 127.0.0.1 to the user network, else from the host\'s addresses into a DHCP network',
  },
  {
    name: 'ssh-port',
    aliases: [],
    value: 'PORT|none',
    help: "the user network's SSH forward: this port, or none (default: first free from 10022)",
  },
  {
    name: 'cloud-init',
    aliases: [],
    help: 'provision a cloud image: its name as hostname, a login user with your SSH key, DHCP on every NIC',
  },
  {
    name: 'login',
    aliases: [],
    value: 'USER',
    help: 'the user --cloud-init makes (default: yours; as root: debian)',
  },
  {
    name: 'ssh-key',
    aliases: [],
    value: 'FILE',
    help: 'the public key --cloud-init installs (default: ~/.ssh/id_ed25519.pub, id_rsa.pub, else one made)',
  },
  {
    name: 'user-data',
    aliases: [],
    value: 'FILE',
    help: "your own #cloud-config (merged) or #! script for --cloud-init",
  },
  { name: 'foreground', aliases: ['-f'], help: 'stay in the foreground until the guest exits' },
  {
    name: 'wait',
    aliases: [],
    help: 'return once the guest is ready: its SSH server answers and, with --cloud-init, cloud-init has finished',
  },
  { name: 'dry-run', aliases: ['-s'], help: 'print the host commands, the QEMU command and the cleanup; run nothing' },
  { name: 'json', aliases: [], help: 'print one JSON object: the plan (--dry-run), or the started guest' },
  { name: 'verbose', aliases: ['-v'], help: 'print every command as it runs' },
  { name: 'quiet', aliases: ['-q'], help: 'print nothing but errors (and --json)' },
  { name: 'help', aliases: ['-h'], help: "show this help (-help is QEMU's)" },
  { name: 'version', aliases: [], help: 'show the version' },
];

const BY_SPELLING = new Map<string, OwnOption>(
  OWN_OPTIONS.flatMap((option) => [
    [`--${option.name}`, option] as const,
    ...option.aliases.map((alias) => [alias, option] as const),
  ]),
);

/** Every spelling of every own option, for suggestions. */
export const OWN_SPELLINGS: readonly string[] = [...BY_SPELLING.keys()];

/** Finds the own option a word spells, with an inline `--name=value` split off. */
export function lookupOwnOption(word: string): { option: OwnOption; inline?: string } | undefined {
  const eq = word.startsWith('--') ? word.indexOf('=') : -1;
  const spelling = eq > 0 ? word.slice(0, eq) : word;
  const option = BY_SPELLING.get(spelling);
  if (!option) return undefined;
  return eq > 0 ? { option, inline: word.slice(eq + 1) } : { option };
}
