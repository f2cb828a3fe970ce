// QEMU options that take no value, from `qemu-system-x86_64 -help` of QEMU 7.2
// and 8.x (plus a few older spellings still seen in scripts). Every other QEMU
// option consumes the next word, so that word is never taken for a disk.
export const QEMU_FLAGS_WITHOUT_VALUE: ReadonlySet<string> = new Set([
  'S', 's', 'snapshot', 'nographic', 'no-reboot', 'no-shutdown', 'nodefaults',
  'no-user-config', 'daemonize', 'enable-kvm', 'full-screen', 'usb',
  'mem-prealloc', 'only-migratable', 'portrait', 'win2k-hack', 'no-fd-bootchk',
  'no-acpi', 'no-hpet', 'singlestep', 'preconfig', 'xen-attach',
  'xen-domid-restrict', 'enable-sync-profile', 'version', 'h', 'help',
  'audio-help', 'async-teardown', 'no-quit', 'alt-grab', 'ctrl-grab',
  'no-frame', 'sdl', 'curses', 'nodefconfig', 'no-kvm', 'no-kvm-irqchip',
  'no-kvm-pit', 'enable-fips', 'no-graphic',
]);

/** `-m`, `--m` → `m`; anything not an option → undefined. */
export function qemuOptionName(word: string): string | undefined {
  const match = /^--?([A-Za-z0-9][A-Za-z0-9_-]*)$/.exec(word);
  return match?.[1];
}

export function qemuOptionTakesValue(name: string): boolean {
  return !QEMU_FLAGS_WITHOUT_VALUE.has(name);
}
