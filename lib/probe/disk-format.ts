// A disk image's format from its first bytes, never from its name: qcow2, ISO 9660, raw, or a foreign one named.
import type { DiskFormat } from '../base/types.ts';

/** How many leading bytes detectDiskFormat needs (ISO 9660's descriptor is at 32 KiB). */
export const FORMAT_PROBE_BYTES = 0x8006;

// Formats QEMU could read but the tool does not plan for: refused with a hint.
const FOREIGN_MAGICS: ReadonlyArray<{ offset: number; magic: string; name: string }> = [
  { offset: 0, magic: 'KDMV', name: 'VMDK' },
  { offset: 0, magic: '# Disk DescriptorFile', name: 'VMDK descriptor' },
  { offset: 0x40, magic: '\x7f\x10\xda\xbe', name: 'VDI' },
  { offset: 0, magic: 'vhdxfile', name: 'VHDX' },
  { offset: 0, magic: 'conectix', name: 'VHD' },
  { offset: 0, magic: 'QED\0', name: 'QED' },
];

// Raw images: a partition table, a bare filesystem, swap, or still empty.
const RAW_MAGICS: ReadonlyArray<{ offset: number; magic: string }> = [
  { offset: 512, magic: 'EFI PART' },
  { offset: 0x438, magic: '\x53\xef' }, // ext2/3/4
  { offset: 0, magic: 'XFSB' },
  { offset: 0xff6, magic: 'SWAPSPACE2' },
];

function at(bytes: Uint8Array, offset: number, magic: string): boolean {
  if (offset + magic.length > bytes.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[offset + i] !== magic.charCodeAt(i)) return false;
  return true;
}

/** Detects a disk image's format from its first bytes: by content, never by name. */
export function detectDiskFormat(bytes: Uint8Array): { format: DiskFormat; detail?: string } {
  if (at(bytes, 0, 'QFI\xfb')) return { format: 'qcow2' };
  if (at(bytes, 0x8001, 'CD001')) return { format: 'iso' };
  const foreign = FOREIGN_MAGICS.find(({ offset, magic }) => at(bytes, offset, magic));
  if (foreign) return { format: 'unknown', detail: foreign.name };
  if (bytes[510] === 0x55 && bytes[511] === 0xaa) return { format: 'raw' };
  if (RAW_MAGICS.some(({ offset, magic }) => at(bytes, offset, magic))) return { format: 'raw' };
  const head = bytes.subarray(0, 4096);
  if (head.length > 0 && head.every((byte) => byte === 0)) return { format: 'raw', detail: 'empty' };
  return { format: 'unknown' };
}
