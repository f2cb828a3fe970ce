// The plan stage: a launch's options and the host's facts turned into everything that will run (QEMU's line,
// host actions, companions, messages), pure.
import { planAccel, userChoosesAccel } from './accel.ts';
import { XHCI_CONTROLLER, needsXhciForDisks, planDisks } from './disks.ts';
import { DISPLAYS } from './displays.ts';
import { UsageError } from '../base/errors.ts';
import { planMacs } from '../net/mac.ts';
import type { NetContext } from './net-common.ts';
import { planNic } from './net-modes.ts';
import { parsePrefix, prefixesOverlap } from '../net/ip.ts';
import { USER_NET_SUBNET } from '../net/networks.ts';
import { agentSocketPath, consoleLogPath, guestRunDir, qemuPidfilePath, qmpSocketPath } from '../base/paths.ts';
import { PortPicker } from './ports.ts';
import { qemuProps, qemuValue } from './qemu-syntax.ts';
import { planUsbPassthrough } from './usb.ts';
import type { Command, HostFacts, LaunchOptions, Overlay, Plan } from '../base/types.ts';
import { GUEST_AGENT_CHARDEV, GUEST_AGENT_PORT, GUEST_NAME_MAX } from '../base/names.ts';
import { planCloudInit } from './cloud-init.ts';

/**
 * The guest's name: --name, else the first disk's file name, else "guest"; never one a running guest
 * has. A name the user chose is refused when taken (a script's `down NAME` must not stop another
 * guest); only a default one gets a suffix, and `renamed` says so.
 */
export function guestName(
  requested: string | undefined,
  firstDiskPath: string | undefined,
  taken: string[],
): { name: string; renamed?: string } {
  // A disk's file name made a DNS label: room kept for a "-N" suffix.
  const fromDisk = firstDiskPath
    ?.split('/')
    .pop()
    ?.replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .slice(0, GUEST_NAME_MAX - 4)
    .replace(/^-+|-+$/g, '');
  if (requested !== undefined && taken.includes(requested)) {
    throw new UsageError(`--name ${requested}: a guest of that name is running (qemu-script ps); choose another`);
  }
  const base = requested ?? (fromDisk || 'guest');
  if (!taken.includes(base)) return { name: base };
  for (let n = 2; ; n++) {
    if (!taken.includes(`${base}-${n}`)) {
      return { name: `${base}-${n}`, renamed: `Named ${base}-${n}: a guest named ${base} is running (--name chooses)` };
    }
  }
}

/** QEMU's user network is 10.0.2.0/24 inside the guest: no other network of the same guest may be there. */
function checkUserNetOverlap(options: LaunchOptions, context: NetContext): void {
  if (!options.net.some((item) => item.kind === 'user')) return;
  const userNet = parsePrefix(USER_NET_SUBNET)!;
  const others = [
    ...(context.hostIpAssigned && options.hostIp
      ? [{ what: `--host-ip ${options.hostIp}`, cidr: options.hostIp }]
      : []),
    ...[...context.bridgesPlanned.keys()].flatMap((name) => {
      const network = context.facts.networks[name];
      return network ? [{ what: `network ${name} (${network.subnet})`, cidr: network.subnet }] : [];
    }),
  ];
  const clash = others.find((other) => prefixesOverlap(userNet, parsePrefix(other.cidr)!));
  if (clash)
    throw new UsageError(
      `${clash.what} overlaps the user network's ${USER_NET_SUBNET} on this guest; the guest could not tell them ` +
        `apart: choose another subnet`,
    );
}

/** Devices this plan puts on the PCI bus (the user's own -device words are theirs to count). */
const PCI_DEVICE = /^(virtio-net|virtio-vga|qxl-vga|virtio-scsi|virtio-blk|qemu-xhci|virtio-serial)\b/;

/**
 * QEMU's default machine (i440FX) has 32 PCI slots, the first two its own: a line that needs more
 * would start the host changes and then have QEMU fail with "PCI: no slot". Another machine (-machine,
 * -M) has its own layout, and QEMU's word then.
 */
function checkPciSlots(argv: string[], nics: number): void {
  if (argv.some((word) => ['-machine', '--machine', '-M'].includes(word))) return;
  const devices = argv.filter((word, i) => argv[i - 1] === '-device' && PCI_DEVICE.test(word)).length;
  const free = 30;
  if (devices > free) {
    throw new UsageError(
      `--net: ${nics} NICs and ${devices - nics} other devices need ${devices} PCI slots; the machine has ${free}`,
    );
  }
}

/** Pure: turns the request and the host's description into everything that will run. */
export function planLaunch(options: LaunchOptions, facts: HostFacts): Plan {
  const { settings } = options;
  const firstDisk = options.disks[0] ? facts.disks[options.disks[0].path] : undefined;
  const { name, renamed } = guestName(options.name, firstDisk?.absolutePath, facts.guestNames);
  const runDir = guestRunDir(facts.runtimeDir, name);
  const warnings = [...options.notes];
  const notices: string[] = [];
  const ports = new PortPicker(facts.usedTcpPorts);

  const qemuWords = [...options.qemuBefore, ...options.qemuAfter];
  const kernelBoot = qemuWords.some((word) => word === '-kernel' || word === '--kernel');
  const snapshot = qemuWords.some((word) => word === '-snapshot' || word === '--snapshot');
  const diskArgv = planDisks(
    options.disks,
    facts.disks,
    settings.diskController,
    options.uefi,
    kernelBoot ? 1 : 0,
    snapshot,
  );
  if (options.uefi && !facts.firmwareReadable) {
    throw new UsageError(
      `--uefi: firmware ${settings.efiFirmware} is not readable (install the ovmf package or set VM_EFIFIRM to ` +
        `an OVMF.fd)`,
    );
  }
  const usbArgv = planUsbPassthrough(options.usb, facts.usbDevices);
  const xhci = needsXhciForDisks(options.disks) || options.usb.length > 0 ? XHCI_CONTROLLER : [];
  // --fwd goes to the user-mode NIC; without one, to the first NIC on a defined network with DHCP.
  const userMode = options.net.some((item) => item.kind === 'user' || item.kind === 'passt');
  const publishOn = userMode
    ? -1
    : options.net.findIndex((item) => item.kind === 'bridge' && facts.networks[item.name]?.dhcp);
  if (options.fwd.length > 0 && !userMode && publishOn < 0) {
    throw new UsageError(
      '--fwd needs a user-mode network (user or u, passt) or a defined network with DHCP (hostonly, natnet, ' +
        'or one of qemu-script net ls): add one to --net',
    );
  }

  const macs = planMacs(
    options.net.length,
    options.mac,
    settings.macPrefix,
    firstDisk?.absolutePath ?? name,
    facts.usedMacs,
  );
  let nextFd = 3;
  const context: NetContext = {
    facts,
    runDir,
    companions: [],
    settings,
    guest: name,
    hostIp: options.hostIp,
    hostIpAssigned: false,
    fwd: options.fwd,
    ...(options.fwd.length > 0 && publishOn >= 0 ? { publishOn: publishOn + 1 } : {}),
    sshPort: options.sshPort,
    forwards: [],
    ports,
    nextFd: () => nextFd++,
    interfaceNames: new Set(),
    bridgesPlanned: new Map(),
    warnings,
    notices,
  };
  const nics = options.net.map((item, index) => {
    const nic = { id: `nic${index}`, mac: macs[index], position: index + 1 };
    return { ...nic, ...planNic(item, nic, context) };
  });
  checkUserNetOverlap(options, context);
  if (options.hostIp && !context.hostIpAssigned) {
    warnings.push(
      `--host-ip ${options.hostIp} ignored: it applies to a bridge this guest creates, and none is created`,
    );
  }

  const ownSerial = qemuWords.some((word) => ['-serial', '--serial', '-nographic', '--nographic'].includes(word));
  const consoleLog = options.consoleLog ?? consoleLogPath(runDir);
  const display = DISPLAYS[options.display.kind]({ runDir, log: consoleLog, name, ownSerial });
  const accel = userChoosesAccel(qemuWords) ? undefined : planAccel(options.accel, facts.kvmUsable, facts.kvmWhy);
  // KVM that does not run guests is the host's state; --accel kvm asked for anyway is this line's.
  if (accel?.warning) (options.accel ? warnings : notices).push(accel.warning);

  // Precedence: defaults, own options, QEMU options after --, QEMU options before --.
  // QEMU takes the last of a repeated option, so this order is the precedence.
  const defaults = [
    '-nodefaults',
    ...(accel ? ['-machine', `accel=${accel.accel}`] : []),
    '-m',
    String(settings.ramMiB),
  ];
  const own = [
    '-name',
    name,
    '-qmp',
    `unix:${qemuValue(qmpSocketPath(runDir))},server=on,wait=off`,
    '-pidfile',
    qemuPidfilePath(runDir),
    // The guest agent's channel, on a socket of the guest's private directory: `down` and `ps` use the agent
    // when the guest runs one.
    '-chardev',
    `socket,id=${GUEST_AGENT_CHARDEV},path=${qemuValue(agentSocketPath(runDir))},server=on,wait=off`,
    '-device',
    'virtio-serial,id=agent',
    '-device',
    `virtserialport,bus=agent.0,chardev=${GUEST_AGENT_CHARDEV},name=${GUEST_AGENT_PORT}`,
    ...display.argv,
    ...(options.uefi ? ['-bios', settings.efiFirmware] : []),
    ...xhci,
    ...diskArgv,
    ...usbArgv,
    ...nics.flatMap((nic) => [
      '-netdev',
      nic.netdev,
      '-device',
      qemuProps('virtio-net', { netdev: nic.id, mac: nic.mac, host_mtu: nic.mtu }),
    ]),
  ];
  checkPciSlots([...own, ...qemuWords], options.net.length);
  if (options.cloudInit && !facts.cloudInit) throw new Error('--cloud-init: the host was not probed for it');
  const cloudInit =
    options.cloudInit && facts.cloudInit
      ? planCloudInit(options.cloudInit, facts.cloudInit, {
          name,
          runDir,
          disk: firstDisk?.absolutePath,
          macs,
          isRoot: facts.isRoot,
        })
      : undefined;
  // The seed is an optical drive of its own, never booted from (the disks carry the boot order).
  const seedDrive = (seed: string) =>
    qemuProps(`file=${qemuValue(seed)}`, { if: 'none', id: 'cidata', format: 'raw', media: 'cdrom', readonly: 'on' });
  const seedArgv = cloudInit ? ['-drive', seedDrive(cloudInit.seed), '-device', 'ide-cd,drive=cidata'] : [];
  const overlays = options.disks.flatMap((disk) =>
    disk.overlay ? [{ ...disk.overlay, path: facts.disks[disk.path].absolutePath }] : [],
  );
  return {
    name,
    runDir,
    qemu: {
      argv: [settings.qemuBinary, ...defaults, ...own, ...seedArgv, ...options.qemuAfter, ...options.qemuBefore],
      fds: nics.flatMap((nic) => nic.fds),
    },
    actions: nics.flatMap((nic) => nic.actions),
    companions: context.companions,
    privilege: { isRoot: facts.isRoot, selfCommand: facts.selfCommand },
    messages: [
      ...(renamed ? [renamed] : []),
      ...nics.flatMap((nic) => nic.messages),
      ...display.messages,
      ...(cloudInit?.summary ?? []),
    ],
    warnings,
    notices,
    foreground: options.foreground,
    display: options.display.kind,
    ...(cloudInit ? { cloudInit } : {}),
    ...(overlays.length > 0 ? { prepare: overlays.map(overlayCommand) } : {}),
    ...(ownSerial || options.display.kind === 'stdio' ? {} : { consoleLog }),
    resources: {
      nics: nics.map((nic, index) => ({ index, net: nic.label, mac: nic.mac, address: nic.address })),
      forwards: context.forwards,
      ports: ports.picked,
      macs,
      interfaces: [...context.interfaceNames],
      disks: options.disks.flatMap((disk) => (facts.disks[disk.path] ? [facts.disks[disk.path].absolutePath] : [])),
      writesDisks: !snapshot,
      ...(overlays.length > 0 ? { images: overlays.map((overlay) => overlay.backing) } : {}),
    },
  };
}

/** The overlay a guest runs on over an image: the image only ever read, named with its format (never probed). */
function overlayCommand(overlay: Overlay & { path: string }): Command {
  return {
    argv: [
      'qemu-img',
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      overlay.format,
      '-b',
      overlay.backing,
      overlay.path,
      ...(overlay.size ? [overlay.size] : []),
    ],
    note: 'the guest writes this overlay, never the image; removed with the guest',
  };
}
