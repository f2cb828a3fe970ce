// QEMU's own options, as `qemu-system-x86_64 -help` lists them from 7.2 to 9.x
// (and a few older spellings scripts still carry). The tool passes them through
// verbatim; it must know which take a value, so the word after a flag is not
// eaten and the word after a valued option is never taken for a disk, and it
// must know them all, so that a typo is refused instead of handed to QEMU.

/** Options that take no value. */
const FLAGS = [
  'S',
  's',
  'snapshot',
  'nographic',
  'no-reboot',
  'no-shutdown',
  'nodefaults',
  'no-user-config',
  'daemonize',
  'enable-kvm',
  'full-screen',
  'usb',
  'mem-prealloc',
  'only-migratable',
  'portrait',
  'win2k-hack',
  'no-fd-bootchk',
  'no-acpi',
  'no-hpet',
  'singlestep',
  'one-insn-per-tb',
  'preconfig',
  'xen-attach',
  'xen-domid-restrict',
  'enable-sync-profile',
  'version',
  'h',
  'help',
  'audio-help',
  'async-teardown',
  'semihosting',
  // removed or renamed since, still seen in scripts
  'no-quit',
  'alt-grab',
  'ctrl-grab',
  'no-frame',
  'sdl',
  'curses',
  'nodefconfig',
  'no-kvm',
  'no-kvm-irqchip',
  'no-kvm-pit',
  'enable-fips',
  'no-graphic',
];

/** Options that take the next word as their value. */
const VALUED = [
  'machine',
  'M',
  'cpu',
  'accel',
  'smp',
  'numa',
  'add-fd',
  'set',
  'global',
  'boot',
  'm',
  'mem-path',
  'k',
  'audio',
  'audiodev',
  'device',
  'name',
  'uuid',
  'fda',
  'fdb',
  'hda',
  'hdb',
  'hdc',
  'hdd',
  'cdrom',
  'blockdev',
  'drive',
  'mtdblock',
  'sd',
  'pflash',
  'fsdev',
  'virtfs',
  'iscsi',
  'usbdevice',
  'display',
  'vga',
  'vnc',
  'spice',
  'rotate',
  'g',
  'acpitable',
  'smbios',
  'nic',
  'netdev',
  'net',
  'chardev',
  'tpmdev',
  'bios',
  'kernel',
  'append',
  'initrd',
  'dtb',
  'fw_cfg',
  'serial',
  'parallel',
  'monitor',
  'qmp',
  'qmp-pretty',
  'mon',
  'debugcon',
  'pidfile',
  'gdb',
  'd',
  'D',
  'dfilter',
  'seed',
  'L',
  'option-rom',
  'rtc',
  'icount',
  'echr',
  'incoming',
  'loadvm',
  'readconfig',
  'action',
  'chroot',
  'runas',
  'run-with',
  'sandbox',
  'msg',
  'dump-vmstate',
  'object',
  'plugin',
  'trace',
  'compat',
  'overcommit',
  'watchdog-action',
  'xen-domid',
  'semihosting-config',
  'prom-env',
  'qtest',
  'qtest-log',
  // removed or renamed since, still seen in scripts
  'soundhw',
  'balloon',
  'watchdog',
  'realtime',
  'writeconfig',
  'tb-size',
  'mem-merge',
  'show-cursor',
];

const TAKES_VALUE = new Map<string, boolean>([
  ...FLAGS.map((name) => [name, false] as const),
  ...VALUED.map((name) => [name, true] as const),
]);

/** Every QEMU option as a user writes it, for suggestions. */
export const QEMU_OPTION_SPELLINGS: readonly string[] = [...TAKES_VALUE.keys()].map((name) => `-${name}`);

/** `-m`, `--m` → `m`; a word that is not an option → undefined. */
export function qemuOptionName(word: string): string | undefined {
  return /^--?([A-Za-z0-9][A-Za-z0-9_-]*)$/.exec(word)?.[1];
}

/** Whether QEMU knows the option, and whether it takes a value. */
export function qemuOption(name: string): { takesValue: boolean } | undefined {
  const takesValue = TAKES_VALUE.get(name);
  return takesValue === undefined ? undefined : { takesValue };
}

/** Values that make QEMU print a list and exit: `-device help`, `-cpu ?`, `-device virtio-net,help`. */
const LISTS = new Set([
  'machine',
  'M',
  'cpu',
  'device',
  'accel',
  'audiodev',
  'display',
  'netdev',
  'chardev',
  'object',
  'soundhw',
  'vga',
  'nic',
  'net',
]);

/** Whether QEMU's words ask it for information only (-version, -help, -device help ...): no guest is started. */
export function isInformational(words: string[]): boolean {
  return words.some((word, i) => {
    const name = qemuOptionName(word);
    if (name === 'version' || name === 'help' || name === 'audio-help') return true;
    const value = words[i + 1];
    return (
      name !== undefined &&
      LISTS.has(name) &&
      value !== undefined &&
      (value === 'help' || value === '?' || /,(help|\?)$/.test(value))
    );
  });
}
