// A guest's plan as a libvirt domain: read back from the planned QEMU line (what would run), with the
// plan's host actions saying which bridge, network or LAN device each NIC is on. Every word of the line
// is either turned into XML, known to be the tool's own plumbing (libvirt has its own monitor, pidfile
// and console), or said to have no libvirt equivalent: nothing is dropped silently.
import { el, renderXml, textEl, type Element } from './xml.ts';
import { UsageError } from '../base/errors.ts';
import { qemuWords } from './qemu-line.ts';
import { memoryMiB, readProps, type QemuProps } from '../plan/qemu-syntax.ts';
import type { HostAction, Plan } from '../base/types.ts';
import { GUEST_AGENT_CHARDEV, GUEST_AGENT_PORT } from '../base/names.ts';

export interface Exported {
  xml: string;
  /** What the line has that libvirt cannot say, one line each, for stderr. */
  unexported: string[];
  /** The libvirt networks the domain's NICs are on: they must exist there before it starts. */
  networks?: string[];
}

/** What the line says, gathered before the XML is made (devices refer to drives and netdevs by id). */
interface Domain {
  name: string;
  kvm: boolean;
  machine?: string;
  memoryMiB: number;
  vcpus: number;
  topology?: Record<string, string>;
  cpu?: Element;
  os: Element[];
  onReboot?: string;
  transient: boolean;
  iothreads: number;
  drives: Map<string, QemuProps['props']>;
  netdevs: Map<string, QemuProps>;
  /** Devices in line order, made into elements once every drive and netdev is known. */
  devices: QemuProps[];
  serials: Element[];
  graphics: Element[];
  noNicRom: boolean;
  /** The defined networks the NICs are on. */
  networks: string[];
  unexported: string[];
}

const unsaid = (domain: Domain, word: string, why: string) => domain.unexported.push(`${word}: ${why}`);

/** The tool's own plumbing: libvirt runs its own monitor and keeps its own pidfile. */
const PLUMBING = new Set(['qmp', 'pidfile', 'name', 'nodefaults', 'mon', 'monitor']);

type OptionReader = (domain: Domain, value: string) => void;

// One entry per QEMU option the tool writes (and a few users add): what it becomes in the domain.
const OPTIONS: Record<string, OptionReader> = {
  machine: (domain, value) => {
    const { head, props } = readProps(value);
    const { accel, type, ...rest } = props;
    if (accel) domain.kvm = accel.split(':')[0] === 'kvm';
    if (head || type) domain.machine = head || type;
    for (const [key, prop] of Object.entries(rest)) unsaid(domain, `-machine ${key}=${prop}`, 'not exported');
  },
  accel: (domain, value) => {
    domain.kvm = readProps(value).head === 'kvm';
  },
  'enable-kvm': (domain) => {
    domain.kvm = true;
  },
  m: (domain, value) => {
    const mib = memoryMiB(value);
    if (mib === undefined) unsaid(domain, `-m ${value}`, 'not a size libvirt takes');
    else domain.memoryMiB = mib;
  },
  smp: (domain, value) => {
    const { head, props } = readProps(value);
    const { cpus, sockets, cores, threads, ...rest } = props;
    domain.vcpus = Number(head || cpus || domain.vcpus);
    if (sockets || cores || threads)
      domain.topology = { sockets: sockets ?? '1', cores: cores ?? '1', threads: threads ?? '1' };
    for (const [key, prop] of Object.entries(rest)) unsaid(domain, `-smp ${key}=${prop}`, 'not exported');
  },
  cpu: (domain, value) => {
    const { head, props } = readProps(value);
    // A model is a word (Haswell, EPYC-v2): anything else would be an empty or made-up <model>.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(head))
      throw new UsageError(`export libvirt: -cpu ${JSON.stringify(value)} names no CPU model libvirt can take`);
    domain.cpu =
      head === 'host'
        ? el('cpu', { mode: 'host-passthrough' })
        : head === 'max'
          ? el('cpu', { mode: 'maximum' })
          : el('cpu', { mode: 'custom', match: 'exact' }, textEl('model', head));
    for (const key of Object.keys(props)) unsaid(domain, `-cpu ${head},${key}`, 'CPU features are not exported');
  },
  kernel: (domain, value) => void domain.os.push(textEl('kernel', value)),
  initrd: (domain, value) => void domain.os.push(textEl('initrd', value)),
  append: (domain, value) => void domain.os.push(textEl('cmdline', value)),
  bios: (domain, value) => void domain.os.push(textEl('loader', value, { readonly: 'yes', type: 'rom' })),
  'no-reboot': (domain) => {
    domain.onReboot = 'destroy';
  },
  snapshot: (domain) => {
    domain.transient = true;
  },
  object: (domain, value) => {
    const { head } = readProps(value);
    if (head === 'iothread') domain.iothreads++;
    else unsaid(domain, `-object ${value}`, 'not exported');
  },
  drive: (domain, value) => {
    const { props } = readProps(value);
    if (props.if === 'none' && props.id) domain.drives.set(props.id, props);
    else unsaid(domain, `-drive ${value}`, 'a drive without a device of its own is not exported (use -device)');
  },
  netdev: (domain, value) => {
    const parsed = readProps(value);
    domain.netdevs.set(parsed.props.id, parsed);
  },
  device: (domain, value) => void domain.devices.push(readProps(value)),
  chardev: (domain, value) => {
    const { head, props } = readProps(value);
    // The private console, the guest agent's and SPICE's channels are made again below from their devices.
    if (props.id === 'console' || props.id === GUEST_AGENT_CHARDEV || head === 'spicevmc') return;
    unsaid(domain, `-chardev ${value}`, 'not exported');
  },
  serial: (domain, value) => {
    if (value === 'chardev:console' || value === 'mon:stdio') {
      domain.serials.push(el('serial', { type: 'pty' }), el('console', { type: 'pty' }));
    } else if (value.startsWith('file:')) {
      domain.serials.push(el('serial', { type: 'file' }, el('source', { path: value.slice('file:'.length) })));
    } else unsaid(domain, `-serial ${value}`, 'not exported');
  },
  display: (domain, value) => {
    const { head } = readProps(value);
    if (head === 'none') return;
    if (head === 'spice-app') domain.graphics.push(el('graphics', { type: 'spice' }, el('listen', { type: 'socket' })));
    else
      unsaid(
        domain,
        `-display ${value}`,
        'libvirt has no window of its own: virt-viewer or virt-manager shows the screen',
      );
  },
  vnc: (domain, value) => {
    if (!value.startsWith('unix:')) unsaid(domain, `-vnc ${value}`, 'exported as VNC on a unix socket');
    domain.graphics.push(el('graphics', { type: 'vnc' }, el('listen', { type: 'socket' })));
  },
  global: (domain, value) => {
    if (/^virtio-net(-pci)?\.romfile=$/.test(value)) domain.noNicRom = true;
    else unsaid(domain, `-global ${value}`, 'not exported');
  },
};

/** Disk targets: sda, sdb … per bus prefix. */
function targetName(prefix: string, index: number): string {
  let name = '';
  for (let n = index; n >= 0; n = Math.floor(n / 26) - 1) name = String.fromCharCode(97 + (n % 26)) + name;
  return prefix + name;
}

const DISK_BUSES: Record<string, { bus: string; prefix: string; cdrom: boolean }> = {
  'scsi-hd': { bus: 'scsi', prefix: 'sd', cdrom: false },
  'scsi-cd': { bus: 'scsi', prefix: 'sd', cdrom: true },
  'virtio-blk': { bus: 'virtio', prefix: 'vd', cdrom: false },
  'virtio-blk-pci': { bus: 'virtio', prefix: 'vd', cdrom: false },
  'ide-hd': { bus: 'ide', prefix: 'hd', cdrom: false },
  'ide-cd': { bus: 'ide', prefix: 'hd', cdrom: true },
  'usb-storage': { bus: 'usb', prefix: 'sd', cdrom: false },
};

function diskElement(domain: Domain, device: QemuProps, targets: Map<string, number>): Element | undefined {
  const kind = DISK_BUSES[device.head];
  const props = domain.drives.get(device.props.drive);
  if (!props) return undefined;
  domain.drives.delete(device.props.drive);
  if (props.id === 'cidata') {
    unsaid(
      domain,
      '--cloud-init',
      'its seed is made by each launch: give the libvirt guest a NoCloud seed ISO of its own',
    );
    return undefined;
  }
  const cdrom = kind.cdrom || props.media === 'cdrom';
  // SCSI and USB disks share the sdX names, as libvirt counts them.
  const counter = kind.prefix;
  const index = targets.get(counter) ?? 0;
  targets.set(counter, index + 1);
  const block = props.driver === 'host_device';
  const path = block ? props.filename : props.file;
  const bootindex = device.props.bootindex;
  return el(
    'disk',
    { type: block ? 'block' : 'file', device: cdrom ? 'cdrom' : 'disk' },
    el('driver', { name: 'qemu', type: props.format ?? 'raw' }),
    el('source', block ? { dev: path } : { file: path }),
    el('target', { dev: targetName(kind.prefix, index), bus: kind.bus }),
    (cdrom || props.readonly === 'on') && el('readonly'),
    domain.transient && !cdrom && el('transient'),
    bootindex !== undefined && el('boot', { order: Number(bootindex) + 1 }),
  );
}

/** The NIC's source: the bridge, defined network or LAN device its netdev is on. */
function nicSource(
  netdev: QemuProps,
  plan: Plan,
  forwards: Element[],
  unexported: (why: string) => void,
): { type: string; children: Element[]; network?: string } | undefined {
  const { head, props } = netdev;
  const actions = plan.actions;
  if (head === 'user') {
    if (forwards.length > 0) {
      const listed = plan.resources.forwards.map((f) => `${f.proto} ${f.host}:${f.port}->${f.guest_port}`);
      unexported(
        `libvirt forwards ports to a user-mode NIC only with its passt backend: ${listed.join(', ')} not ` +
          `exported (--net passt exports them)`,
      );
    }
    return { type: 'user', children: [] };
  }
  if (head === 'stream') return { type: 'user', children: [el('backend', { type: 'passt' }), ...forwards] };
  if (head === 'bridge' || (head === 'tap' && props.br))
    return { type: 'bridge', children: [el('source', { bridge: props.br })] };
  if (head === 'tap' && props.ifname) {
    const tap = actions.find(
      (action): action is Extract<HostAction, { kind: 'tap' }> => action.kind === 'tap' && action.name === props.ifname,
    );
    if (!tap) return undefined;
    const bridge = actions.find((action) => action.kind === 'bridge' && action.name === tap.bridge);
    const network = bridge?.kind === 'bridge' ? bridge.network : undefined;
    return network
      ? { type: 'network', children: [el('source', { network })], network }
      : { type: 'bridge', children: [el('source', { bridge: tap.bridge })] };
  }
  if (head === 'tap' && props.fd) {
    const node = plan.qemu.fds.find((fd) => String(fd.fd) === props.fd)?.macvtap;
    const macvtap = actions.find((action) => action.kind === 'macvtap' && action.name === node);
    if (macvtap?.kind !== 'macvtap') return undefined;
    return { type: 'direct', children: [el('source', { dev: macvtap.parent, mode: 'bridge' })] };
  }
  if (head === 'socket' && props.mcast) {
    const [address, port] = props.mcast.split(':');
    if (props.localaddr)
      unexported(
        `libvirt's multicast NIC has no local address: it sends by the host's multicast route, not only on ` +
          props.localaddr,
      );
    return { type: 'mcast', children: [el('source', { address, port })] };
  }
  return undefined;
}

function forwardElements(plan: Plan): Element[] {
  return plan.resources.forwards.map((forward) =>
    el(
      'portForward',
      { proto: forward.proto, address: forward.host },
      el('range', { start: forward.port, to: forward.guest_port }),
    ),
  );
}

const NIC_MODELS: Record<string, string> = {
  'virtio-net': 'virtio',
  'virtio-net-pci': 'virtio',
  e1000: 'e1000',
  e1000e: 'e1000e',
  rtl8139: 'rtl8139',
};

function nicElement(
  domain: Domain,
  device: QemuProps,
  plan: Plan,
  userNicSeen: { done: boolean },
): Element | undefined {
  const netdev = domain.netdevs.get(device.props.netdev);
  if (!netdev) return undefined;
  domain.netdevs.delete(device.props.netdev);
  const { netdev: _netdev, mac, host_mtu: mtu, ...rest } = device.props;
  const nic = plan.resources.nics.find((entry) => entry.mac === mac);
  const label = `NIC ${nic ? nic.index + 1 : '?'} (${nic?.net ?? netdev.head})`;
  // The tool gives its forwards to the first user-mode NIC.
  const userMode = netdev.head === 'user' || netdev.head === 'stream';
  const forwards = userMode && !userNicSeen.done ? forwardElements(plan) : [];
  if (userMode) userNicSeen.done = true;
  const source = nicSource(netdev, plan, forwards, (why) => unsaid(domain, label, why));
  if (!source) {
    unsaid(domain, `${label}: -netdev ${netdev.head}`, 'no libvirt interface of this kind');
    return undefined;
  }
  for (const key of Object.keys(rest)) unsaid(domain, `${label}: ${key}=${rest[key]}`, 'not exported');
  if (source.network) domain.networks.push(source.network);
  const [sourceChild, ...more] = source.children;
  return el(
    'interface',
    { type: source.type },
    sourceChild,
    el('mac', { address: mac }),
    el('model', { type: NIC_MODELS[device.head] ?? device.head }),
    mtu !== undefined && el('mtu', { size: mtu }),
    domain.noNicRom && el('rom', { enabled: 'no' }),
    ...more,
  );
}

function otherDevice(domain: Domain, device: QemuProps): Element | undefined {
  const { head, props } = device;
  if (head === 'virtio-vga' || head === 'qxl-vga') {
    return el('video', {}, el('model', { type: head === 'virtio-vga' ? 'virtio' : 'qxl' }));
  }
  if (head === 'virtio-scsi' || head === 'virtio-scsi-pci') {
    return el(
      'controller',
      { type: 'scsi', index: 0, model: 'virtio-scsi' },
      el('driver', { queues: props.num_queues, iothread: props.iothread ? 1 : undefined }),
    );
  }
  if (head === 'qemu-xhci') return el('controller', { type: 'usb', index: 0, model: 'qemu-xhci' });
  // libvirt adds the virtio-serial controller of its channels itself.
  if (head === 'virtio-serial') return undefined;
  // libvirt makes the agent's socket itself (virsh qemu-agent-command reaches it).
  if (head === 'virtserialport' && props.name === GUEST_AGENT_PORT) {
    return el('channel', { type: 'unix' }, el('target', { type: 'virtio', name: GUEST_AGENT_PORT }));
  }
  if (head === 'virtserialport' && props.name === 'com.redhat.spice.0') {
    return el('channel', { type: 'spicevmc' }, el('target', { type: 'virtio', name: props.name }));
  }
  if (head === 'usb-host' && props.vendorid && props.productid) {
    return el(
      'hostdev',
      { mode: 'subsystem', type: 'usb' },
      el('source', {}, el('vendor', { id: props.vendorid }), el('product', { id: props.productid })),
    );
  }
  unsaid(domain, `-device ${head}`, 'not exported');
  return undefined;
}

/** -cpu's model and -smp's topology, in one element. */
function cpuElement(domain: Domain): Element | undefined {
  const topology = domain.topology && el('topology', domain.topology);
  if (!domain.cpu) return topology && el('cpu', {}, topology);
  return { ...domain.cpu, children: [...(domain.cpu.children ?? []), topology] };
}

/** The libvirt domain of a planned guest. `qemuBinary`: the emulator libvirt is to run (an absolute path). */
export function libvirtDomain(plan: Plan, qemuBinary: string | undefined): Exported {
  const domain: Domain = {
    name: plan.name,
    kvm: false,
    memoryMiB: 128,
    vcpus: 1,
    os: [],
    transient: false,
    iothreads: 0,
    drives: new Map(),
    netdevs: new Map(),
    devices: [],
    serials: [],
    graphics: [],
    noNicRom: false,
    networks: [],
    unexported: [],
  };
  for (const word of qemuWords(plan.qemu.argv.slice(1))) {
    if (PLUMBING.has(word.option)) continue;
    const reader = OPTIONS[word.option];
    if (reader) reader(domain, word.value ?? '');
    else
      unsaid(
        domain,
        word.option ? `-${word.option}${word.value === undefined ? '' : ` ${word.value}`}` : word.value!,
        'not exported',
      );
  }
  const targets = new Map<string, number>();
  const userNicSeen = { done: false };
  const devices = domain.devices.map((device) =>
    device.head in DISK_BUSES
      ? diskElement(domain, device, targets)
      : device.props.netdev !== undefined
        ? nicElement(domain, device, plan, userNicSeen)
        : otherDevice(domain, device),
  );
  for (const id of [...domain.drives.keys(), ...domain.netdevs.keys()])
    unsaid(domain, id, 'has no device: not exported');
  const xml = el(
    'domain',
    { type: domain.kvm ? 'kvm' : 'qemu' },
    textEl('name', domain.name),
    textEl('memory', domain.memoryMiB, { unit: 'MiB' }),
    textEl('vcpu', domain.vcpus),
    domain.iothreads > 0 && textEl('iothreads', domain.iothreads),
    el('os', {}, textEl('type', 'hvm', { arch: 'x86_64', machine: domain.machine ?? 'pc' }), ...domain.os),
    el('features', {}, el('acpi'), el('apic')),
    cpuElement(domain),
    domain.onReboot !== undefined && textEl('on_reboot', domain.onReboot),
    el(
      'devices',
      {},
      qemuBinary !== undefined && textEl('emulator', qemuBinary),
      ...devices,
      // The tool's QEMU line starts from -nodefaults: no USB controller or balloon unless it asks for them.
      !domain.devices.some((device) => device.head === 'qemu-xhci') && el('controller', { type: 'usb', model: 'none' }),
      ...domain.serials,
      ...domain.graphics,
      el('memballoon', { model: 'none' }),
    ),
  );
  return { xml: renderXml(xml), unexported: domain.unexported, networks: domain.networks };
}
