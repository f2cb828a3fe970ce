// The launch line read into options: the tool's own options (minimist, from own-options.ts), QEMU's words kept
// in order, disks, networks and the environment's defaults.
import minimist from 'minimist';
import { UsageError } from '../base/errors.ts';
import { parseMacMode } from '../net/mac.ts';
import { parseForward, parseNetSpecs, parsePort } from '../plan/net-spec.ts';
import { ipFamily } from '../net/ip.ts';
import { OWN_OPTIONS, OWN_SPELLINGS, lookupOwnOption } from './own-options.ts';
import { isInformational, qemuOption, qemuOptionName, QEMU_OPTION_SPELLINGS } from '../plan/qemu-options.ts';
import { didYouMean } from '../base/suggest.ts';
import { envDefault, readSettings, type Env } from './settings.ts';
import type { Accel, DiskRequest, DisplayRequest, LaunchOptions } from '../base/types.ts';
import { ACCELS, type CloudInitRequest, DISPLAY_KINDS } from '../base/types.ts';
import { guestNameProblem } from '../base/names.ts';
import { hostname } from 'node:os';

export type ParsedArgs =
  | { command: 'help' }
  | { command: 'version'; json: boolean }
  /** QEMU asked for information (-version, -device help ...): run it as written, start nothing. */
  | { command: 'qemu-info'; argv: string[] }
  | { command: 'launch'; options: LaunchOptions };

const USB_ID = /^[0-9a-f]{4}:[0-9a-f]{4}$/i;

/**
 * Splits the command line into own options (rewritten to their long form, with
 * bare words turned into --disk so disks keep their written order) and QEMU's
 * words, which keep their order and their values.
 */
function splitWords(argv: string[]): { own: string[]; qemuBefore: string[]; qemuAfter: string[] } {
  const own: string[] = [];
  const qemuBefore: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') return { own, qemuBefore, qemuAfter: argv.slice(i + 1) };
    const found = lookupOwnOption(word);
    if (found) {
      const { option } = found;
      if (!option.value) {
        if (found.inline !== undefined) throw new UsageError(`--${option.name} takes no value (got "${word}")`);
        own.push(`--${option.name}`);
        continue;
      }
      const value = found.inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`${word} needs a value: ${word} ${option.value}`);
      // `--name=value`: minimist would read a value starting with '-' as an option.
      own.push(`--${option.name}=${value}`);
      continue;
    }
    const qemuName = qemuOptionName(word);
    if (qemuName !== undefined) {
      const known = qemuOption(qemuName);
      if (!known) {
        const suggestion = didYouMean(word, [...OWN_SPELLINGS, ...QEMU_OPTION_SPELLINGS]);
        throw new UsageError(
          suggestion ? `unknown option ${word}${suggestion}` : `unknown option ${word}: not qemu-script's nor QEMU's`,
        );
      }
      qemuBefore.push(word);
      if (known.takesValue) {
        // QEMU would stop at it: a valued option at the very end is refused before anything happens.
        if (i + 1 >= argv.length) throw new UsageError(`${word} needs a value (it is one of QEMU's options)`);
        qemuBefore.push(argv[++i]);
      }
      continue;
    }
    own.push(`--disk=${word}`);
  }
  return { own, qemuBefore, qemuAfter: [] };
}

function list(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function last(value: unknown): string | undefined {
  const values = list(value);
  return values[values.length - 1];
}

/** WHAT is the option or variable the text came from, as the user wrote it. */
function parseDisplay(text: string, what: string): DisplayRequest {
  if (/^telnet(:|$)/.test(text)) {
    // A telnet console (and QEMU's monitor on it) is open to every local user of the host.
    throw new UsageError(`${what} ${text}: open to every local user; use qemu-script console NAME`);
  }
  const kind = DISPLAY_KINDS.find((display) => display === text);
  if (!kind) throw new UsageError(`${what}: "${text}" is not a display (accepted: ${DISPLAY_KINDS.join(', ')})`);
  return { kind };
}

function parseSshPort(text: string): number | 'none' {
  return text === 'none' ? 'none' : parsePort(text, '--ssh-port');
}

function parseAccel(text: string, what: string): Accel {
  const accel = ACCELS.find((known) => known === text);
  if (!accel) throw new UsageError(`${what}: "${text}" is not an accelerator (accepted: ${ACCELS.join(', ')})`);
  return accel;
}

function parseHostIp(text: string): string {
  const [address, bits, extra] = text.split('/');
  const family = ipFamily(address ?? '');
  const max = family === 6 ? 128 : 32;
  if (!family || extra !== undefined || !/^\d{1,3}$/.test(bits ?? '') || Number(bits) > max) {
    throw new UsageError(`--host-ip: "${text}" is not an address with prefix length (e.g. 192.168.255.5/24)`);
  }
  return text;
}

/** --cloud-init and the options that go with it; those alone are refused (they would do nothing). */
function parseCloudInit(args: Record<string, unknown>): CloudInitRequest | undefined {
  const [login, sshKey, userData] = [last(args.login), last(args['ssh-key']), last(args['user-data'])];
  if (!args['cloud-init']) {
    const given: Array<[string, string | undefined]> = [
      ['--login', login],
      ['--ssh-key', sshKey],
      ['--user-data', userData],
    ];
    const alone = given.find(([, value]) => value !== undefined)?.[0];
    if (alone) throw new UsageError(`${alone} goes with --cloud-init (it provisions the guest)`);
    return undefined;
  }
  if (login !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(login)) {
    throw new UsageError(`--login: "${login}" is not a user name (lower-case letters, digits, _ and -, at most 32)`);
  }
  return { login, sshKey, userData };
}

function parseDisk(text: string): DiskRequest | { usbId: string } {
  const disk: DiskRequest = { path: text, usb: false, cdrom: false };
  for (;;) {
    const match = /^(usb|cdrom|blk|scsi):(.*)$/.exec(disk.path);
    if (!match) break;
    const [, prefix, rest] = match;
    if (prefix === 'usb' && USB_ID.test(rest) && !disk.cdrom && !disk.controller) return { usbId: rest.toLowerCase() };
    if (prefix === 'usb') disk.usb = true;
    if (prefix === 'cdrom') disk.cdrom = true;
    if (prefix === 'blk') disk.controller = 'virtio-blk';
    if (prefix === 'scsi') disk.controller = 'virtio-scsi';
    disk.path = rest;
  }
  if (disk.path === '') throw new UsageError(`--disk: "${text}" has no path`);
  return disk;
}

/** --image IMAGE [--disk-size SIZE]: what the overlay goes over, resolved against the cache at launch. */
function parseImage(ref: string | undefined, size: string | undefined): { image?: { ref: string; size?: string } } {
  if (ref === undefined) {
    if (size !== undefined) throw new UsageError('--disk-size goes with --image (it sizes the overlay)');
    return {};
  }
  if (ref === '') throw new UsageError('--image: give an image (qemu-script image ls) or a file');
  if (size !== undefined && !/^[1-9]\d{0,6}[KMGT]$/.test(size))
    throw new UsageError(`--disk-size: "${size}" is not a size (a number and K, M, G or T: 20G, 512M)`);
  return { image: { ref, ...(size ? { size } : {}) } };
}

function parseUsbId(text: string): string {
  if (!USB_ID.test(text))
    throw new UsageError(`--usb: "${text}" is not a USB id (accepted: VID:PID in hex, e.g. 046d:c52b; see lsusb)`);
  return text.toLowerCase();
}

export function parseArgs(argv: string[], env: Env): ParsedArgs {
  const { own, qemuBefore, qemuAfter } = splitWords(argv);
  const args = minimist(own, {
    string: OWN_OPTIONS.filter((option) => option.value).map((option) => option.name),
    boolean: OWN_OPTIONS.filter((option) => !option.value).map((option) => option.name),
  });
  if (args.help) return { command: 'help' };
  if (args.version) return { command: 'version', json: Boolean(args.json) };
  if (isInformational([...qemuBefore, ...qemuAfter]))
    return { command: 'qemu-info', argv: [...qemuBefore, ...qemuAfter] };

  const settings = readSettings(env);
  const disks: DiskRequest[] = [];
  const usb: string[] = [];
  for (const text of list(args.disk)) {
    const disk = parseDisk(text);
    if ('usbId' in disk) usb.push(disk.usbId);
    else disks.push(disk);
  }
  usb.push(...list(args.usb).map(parseUsbId));
  const netSpecs = list(args.net);
  const netFrom = env.VM_NET ? 'VM_NET' : '--net';
  const net = netSpecs.length > 0 ? parseNetSpecs(netSpecs) : parseNetSpecs([envDefault(env, 'VM_NET')], netFrom);
  const accelText = last(args.accel) ?? env.VM_ACCEL;
  const macText = last(args.mac);
  const hostIp = last(args['host-ip']);
  const name = last(args.name);
  const nameProblem = name === undefined ? undefined : guestNameProblem(name, hostname());
  if (nameProblem) throw new UsageError(`--name: "${name}" ${nameProblem}`);
  const headless = last(args.display) === undefined && !env.VM_VIDEO && !env.DISPLAY && !env.WAYLAND_DISPLAY;
  // No graphical session: a window could not open; VNC works anywhere.
  const displayText = last(args.display);
  const displayFrom = displayText !== undefined ? '--display' : env.VM_VIDEO ? 'VM_VIDEO' : '--display';
  const display = headless
    ? { kind: 'vnc' as const }
    : parseDisplay(displayText ?? envDefault(env, 'VM_VIDEO'), displayFrom);
  // A window needs a graphical session; QEMU would fail only after the host changes were made.
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY && (display.kind === 'vga' || display.kind === 'spice')) {
    throw new UsageError(`${displayFrom} ${display.kind}: no graphical session here; use --display vnc or none`);
  }
  if (args.wait && (args.foreground || display.kind === 'stdio'))
    throw new UsageError(
      `--wait: ${args.foreground ? '--foreground' : '--display stdio'} keeps the guest on this terminal until it ` +
        'exits; --wait is for a guest in the background (qemu-script ssh --wait NAME waits from another terminal)',
    );
  const headlessNote = 'no graphical session: the screen is on VNC instead of a window (--display chooses)';
  return {
    command: 'launch',
    options: {
      disks,
      net: net.items,
      display,
      usb,
      uefi: Boolean(args.uefi),
      accel: accelText ? parseAccel(accelText, args.accel ? '--accel' : 'VM_ACCEL') : undefined,
      mac: macText ? parseMacMode(macText) : { kind: 'stable' },
      name,
      hostIp: hostIp === undefined ? undefined : parseHostIp(hostIp),
      fwd: list(args.fwd).map((text) => parseForward(text)),
      sshPort: last(args['ssh-port']) === undefined ? undefined : parseSshPort(last(args['ssh-port'])!),
      cloudInit: parseCloudInit(args),
      ...parseImage(last(args.image), last(args['disk-size'])),
      quiet: Boolean(args.quiet),
      foreground: Boolean(args.foreground) || display.kind === 'stdio',
      ...(args.wait ? { wait: true } : {}),
      dryRun: Boolean(args['dry-run']),
      json: Boolean(args.json),
      verbose: Boolean(args.verbose),
      qemuBefore,
      qemuAfter,
      settings,
      notes: [...settings.notes, ...net.notes, ...(headless ? [headlessNote] : [])],
    },
  };
}
