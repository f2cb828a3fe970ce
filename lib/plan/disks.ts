// Disks planned as QEMU drives and devices: controller by layout (virtio-scsi, virtio-blk, USB), format by
// content, boot order as written.
import { UsageError } from '../base/errors.ts';
import { qemuProps, qemuValue } from './qemu-syntax.ts';
import type { DiskController, DiskFacts, DiskRequest } from '../base/types.ts';

export const XHCI_CONTROLLER = ['-device', 'qemu-xhci,id=xhci'];
const IOTHREAD = ['-object', 'iothread,id=iothread0'];
const SCSI_CONTROLLER = ['-device', 'virtio-scsi,id=scsi0,num_queues=4,iothread=iothread0'];
const QCOW2_CACHE_BYTES = 16 * 1024 * 1024;

type Layout = 'virtio-scsi' | 'virtio-blk' | 'usb';

interface DiskSlot {
  id: string;
  optical: boolean;
  bootindex?: number;
  lun: number;
}

// One entry per layout: the controller it needs once, and the device of each disk.
const LAYOUTS: Record<Layout, { controller: string[]; device: (slot: DiskSlot) => string }> = {
  'virtio-scsi': {
    controller: SCSI_CONTROLLER,
    device: (slot) =>
      qemuProps(slot.optical ? 'scsi-cd' : 'scsi-hd', {
        bus: 'scsi0.0',
        lun: slot.lun,
        drive: slot.id,
        bootindex: slot.bootindex,
      }),
  },
  'virtio-blk': {
    controller: [],
    device: (slot) =>
      slot.optical
        ? qemuProps('ide-cd', { drive: slot.id, bootindex: slot.bootindex })
        : qemuProps('virtio-blk', { drive: slot.id, iothread: 'iothread0', bootindex: slot.bootindex }),
  },
  usb: {
    controller: [], // qemu-xhci is shared with USB passthrough: the planner adds it once
    device: (slot) => qemuProps('usb-storage', { bus: 'xhci.0', drive: slot.id, bootindex: slot.bootindex }),
  },
};

function checkDisk(request: DiskRequest, facts: DiskFacts | undefined, snapshot: boolean): DiskFacts {
  if (!facts?.exists) {
    const what = facts?.detail ? `is ${facts.detail}` : 'does not exist';
    throw new UsageError(`disk "${request.path}" ${what}: give a disk image, an ISO or a block device`);
  }
  // Guests that only read a disk (-snapshot) may share it; a writer shares it with no one.
  if (facts.usedBy && (facts.usedBy.writes || !snapshot)) {
    throw new UsageError(
      `disk "${request.path}" is in use by guest ${facts.usedBy.guest}; stop it first (qemu-script down)`,
    );
  }
  if (!facts.readable) {
    throw new UsageError(
      `disk "${request.path}": cannot be read by you (check its permissions, e.g. ls -l "${request.path}")`,
    );
  }
  if (facts.format === 'unknown') {
    const seen = facts.detail
      ? ` (looks like ${facts.detail}; convert it with: qemu-img convert -O qcow2 IN OUT.qcow2)`
      : '';
    throw new UsageError(
      `disk "${request.path}": unknown disk format${seen}; accepted: QCOW2, ISO 9660, raw disks (MBR/GPT, a ` +
        `filesystem, or empty)`,
    );
  }
  return facts;
}

function driveOption(id: string, facts: DiskFacts, optical: boolean): string {
  const media = optical ? { media: 'cdrom', readonly: 'on' } : {};
  if (facts.blockDevice) {
    return qemuProps(`driver=host_device,filename=${qemuValue(facts.absolutePath)}`, { if: 'none', id, ...media });
  }
  const format = facts.format === 'qcow2' ? { format: 'qcow2', 'cache-size': QCOW2_CACHE_BYTES } : { format: 'raw' };
  return qemuProps(`file=${qemuValue(facts.absolutePath)}`, { if: 'none', id, ...format, ...media });
}

export function needsXhciForDisks(disks: DiskRequest[]): boolean {
  return disks.some((disk) => disk.usb);
}

/**
 * What QEMU writing to these disks would break: one file given twice (two
 * writers, one image), a block device the host has mounted or holds. With
 * -snapshot QEMU writes to a temporary overlay, so a busy device may be read.
 */
function checkWriters(checked: Array<{ request: DiskRequest; facts: DiskFacts }>, snapshot: boolean): void {
  const seen = new Map<string, string>();
  for (const { request, facts } of checked) {
    const first = facts.identity ? seen.get(facts.identity) : undefined;
    if (first !== undefined)
      throw new UsageError(
        `disk "${request.path}" is the same ${facts.blockDevice ? 'device' : 'file'} as "${first}"; giving QEMU ` +
          `one disk twice corrupts it`,
      );
    if (facts.identity) seen.set(facts.identity, request.path);
    if (facts.inUse && !snapshot) {
      throw new UsageError(
        `disk "${request.path}" is ${facts.inUse}: a guest writing to it would corrupt it; unmount or release it ` +
          `first, or add -snapshot to keep the guest's writes in a temporary overlay`,
      );
    }
  }
}

/**
 * QEMU arguments for the disks, in written order (BIOS boot order follows it).
 * `firstBootIndex` is 1 when the user boots a -kernel: QEMU gives bootindex 0 to it.
 */
export function planDisks(
  requests: DiskRequest[],
  facts: Record<string, DiskFacts>,
  controller: DiskController,
  uefi: boolean,
  firstBootIndex = 0,
  snapshot = false,
): string[] {
  const checked = requests.map((request) => ({ request, facts: checkDisk(request, facts[request.path], snapshot) }));
  checkWriters(checked, snapshot);
  const argv = [...IOTHREAD];
  const controllersAdded = new Set<Layout>();
  const luns: Record<Layout, number> = { 'virtio-scsi': 0, 'virtio-blk': 0, usb: 0 };
  checked.forEach(({ request, facts: disk }, index) => {
    const layout: Layout = request.usb ? 'usb' : (request.controller ?? controller);
    const optical = request.cdrom || disk.format === 'iso';
    const id = `disk${index}`;
    if (!controllersAdded.has(layout)) {
      controllersAdded.add(layout);
      argv.push(...LAYOUTS[layout].controller);
    }
    const slot: DiskSlot = { id, optical, lun: luns[layout]++, bootindex: uefi ? undefined : firstBootIndex + index };
    argv.push('-drive', driveOption(id, disk, optical), '-device', LAYOUTS[layout].device(slot));
  });
  return argv;
}
