import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectDiskFormat } from '../lib/probe/disk-format.ts';
import { UsageError } from '../lib/base/errors.ts';
import { probeDisk } from '../lib/probe/probe.ts';
import type { DiskFacts } from '../lib/base/types.ts';
import { plan, testWhere, valuesOf } from './helpers.ts';

const dir = mkdtempSync(`${tmpdir()}/qs-disks-`);
const file = (name: string) => `${dir}/${name}`;

// Top-level setup: uvu ignores a failing before hook and reports success.
await (async () => {
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', file('disk.qcow2'), '64M']);
  writeFileSync(file('hello.txt'), 'hello\n');
  await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-o', file('cd.iso'), dir + '/hello.txt']);
  await execa('truncate', ['-s', '8M', file('mbr.img')]);
  await execa('sfdisk', ['-q', file('mbr.img')], { input: 'label: dos\n,,L\n' });
  await execa('truncate', ['-s', '8M', file('gpt.img')]);
  await execa('sfdisk', ['-q', file('gpt.img')], { input: 'label: gpt\n,,L\n' });
  await execa('truncate', ['-s', '8M', file('blank.img')]);
  await execa('qemu-img', ['create', '-q', '-f', 'vmdk', file('disk.vmdk'), '8M']);
  writeFileSync(file('notes.bin'), 'just some text, not a disk\n'.repeat(200));
})();

test.after(() => rmSync(dir, { recursive: true, force: true }));

// Format detection on real files made by the real tools: by content, not by name.
const FORMATS: Array<[string, DiskFacts['format'], string?]> = [
  ['disk.qcow2', 'qcow2'],
  ['cd.iso', 'iso'],
  ['mbr.img', 'raw'],
  ['gpt.img', 'raw'],
  ['blank.img', 'raw', 'empty'],
  ['disk.vmdk', 'unknown', 'VMDK'],
  ['notes.bin', 'unknown'],
];

for (const [name, format, detail] of FORMATS) {
  test(`format: ${name} is ${format}`, () => {
    const facts = probeDisk(name, dir);
    assert.equal(
      { exists: facts.exists, format: facts.format, detail: facts.detail, path: facts.absolutePath },
      { exists: true, format, detail, path: file(name) },
    );
  });
}

test('format: a misleading name does not matter', async () => {
  await execa('cp', [file('cd.iso'), file('really-a-cd.qcow2')]);
  assert.is(probeDisk('really-a-cd.qcow2', dir).format, 'iso');
});

test('format: a directory or a missing path is not a disk', () => {
  assert.not.ok(probeDisk(dir, '/').exists);
  assert.not.ok(probeDisk('nope.qcow2', dir).exists);
});

const block = readdirSync('/sys/class/block')
  .map((name) => `/dev/${name}`)
  .find((path) => existsSync(path) && !path.includes('loop'));
testWhere(
  test,
  block ? undefined : 'no block device visible on this machine',
  'format: a block device is raw, through host_device',
  () => {
    if (!block) throw new Error('unreachable: skipped');
    const facts = probeDisk(block, '/');
    assert.ok(facts.exists && facts.blockDevice);
    assert.ok(facts.format === 'raw' || facts.format === 'iso');
  },
);

test('format: detectDiskFormat on short and empty input', () => {
  assert.is(detectDiskFormat(new Uint8Array(0)).format, 'unknown');
  assert.is(detectDiskFormat(new Uint8Array(512)).format, 'raw');
});

const facts = (entries: Record<string, Partial<DiskFacts>>) => ({
  disks: Object.fromEntries(
    Object.entries(entries).map(([path, f]) => [
      path,
      {
        exists: true,
        readable: true,
        blockDevice: false,
        absolutePath: `/vm/${path}`,
        format: 'qcow2',
        ...f,
      } as DiskFacts,
    ]),
  ),
});
const hd = { 'a.qcow2': {}, 'b.img': { format: 'raw' as const }, 'c.iso': { format: 'iso' as const } };

// Disk layouts: words + formats → -drive and -device lines.
const LAYOUTS: Array<{
  name: string;
  argv: string[];
  env?: Record<string, string>;
  drives: string[];
  devices: string[];
}> = [
  {
    name: 'virtio-scsi (default): one controller, increasing LUN, bootindex in written order',
    argv: ['c.iso', 'a.qcow2', 'b.img'],
    drives: [
      'file=/vm/c.iso,if=none,id=disk0,format=raw,media=cdrom,readonly=on',
      'file=/vm/a.qcow2,if=none,id=disk1,format=qcow2,cache-size=16777216',
      'file=/vm/b.img,if=none,id=disk2,format=raw',
    ],
    devices: [
      'virtio-scsi,id=scsi0,num_queues=4,iothread=iothread0',
      'scsi-cd,bus=scsi0.0,lun=0,drive=disk0,bootindex=0',
      'scsi-hd,bus=scsi0.0,lun=1,drive=disk1,bootindex=1',
      'scsi-hd,bus=scsi0.0,lun=2,drive=disk2,bootindex=2',
    ],
  },
  {
    name: 'virtio-blk: ide-cd for optical',
    argv: ['a.qcow2', 'c.iso'],
    env: { VM_HDDRIVER: 'virtio-blk' },
    drives: [
      'file=/vm/a.qcow2,if=none,id=disk0,format=qcow2,cache-size=16777216',
      'file=/vm/c.iso,if=none,id=disk1,format=raw,media=cdrom,readonly=on',
    ],
    devices: ['virtio-blk,drive=disk0,iothread=iothread0,bootindex=0', 'ide-cd,drive=disk1,bootindex=1'],
  },
  {
    name: 'blk: and scsi: prefixes mix controllers',
    argv: ['--disk', 'blk:a.qcow2', '--disk', 'scsi:b.img'],
    env: { VM_HDDRIVER: 'virtio-blk' },
    drives: [
      'file=/vm/a.qcow2,if=none,id=disk0,format=qcow2,cache-size=16777216',
      'file=/vm/b.img,if=none,id=disk1,format=raw',
    ],
    devices: [
      'virtio-blk,drive=disk0,iothread=iothread0,bootindex=0',
      'virtio-scsi,id=scsi0,num_queues=4,iothread=iothread0',
      'scsi-hd,bus=scsi0.0,lun=0,drive=disk1,bootindex=1',
    ],
  },
  {
    name: 'cdrom: forces optical, usb: is usb-storage on qemu-xhci',
    argv: ['--disk', 'cdrom:b.img', '--disk', 'usb:a.qcow2'],
    drives: [
      'file=/vm/b.img,if=none,id=disk0,format=raw,media=cdrom,readonly=on',
      'file=/vm/a.qcow2,if=none,id=disk1,format=qcow2,cache-size=16777216',
    ],
    devices: [
      'virtio-scsi,id=scsi0,num_queues=4,iothread=iothread0',
      'scsi-cd,bus=scsi0.0,lun=0,drive=disk0,bootindex=0',
      'usb-storage,bus=xhci.0,drive=disk1,bootindex=1',
      'qemu-xhci,id=xhci',
    ],
  },
  {
    name: 'UEFI: no bootindex',
    argv: ['a.qcow2', '--uefi'],
    drives: ['file=/vm/a.qcow2,if=none,id=disk0,format=qcow2,cache-size=16777216'],
    devices: ['virtio-scsi,id=scsi0,num_queues=4,iothread=iothread0', 'scsi-hd,bus=scsi0.0,lun=0,drive=disk0'],
  },
];

for (const row of LAYOUTS) {
  test(`layout: ${row.name}`, () => {
    const result = plan([...row.argv, '--display', 'none', '--net', 'none'], facts(hd), row.env);
    assert.equal(valuesOf(result.qemu.argv, '-drive'), row.drives);
    // Every guest also has its agent's channel.
    const agent = ['virtio-serial,id=agent', 'virtserialport,bus=agent.0,chardev=qga0,name=org.qemu.guest_agent.0'];
    assert.equal(valuesOf(result.qemu.argv, '-device').sort(), [...row.devices, ...agent].sort());
    assert.equal(valuesOf(result.qemu.argv, '-object'), ['iothread,id=iothread0']);
  });
}

test('layout: with -kernel, disks boot after it (QEMU gives the kernel bootindex 0)', () => {
  const result = plan(['a.qcow2', 'c.iso', '--display', 'none', '-kernel', '/boot/vmlinuz'], facts(hd));
  assert.equal(
    valuesOf(result.qemu.argv, '-device')
      .filter((d) => d.includes('bootindex'))
      .map((d) => /bootindex=(\d+)/.exec(d)![1]),
    ['1', '2'],
  );
});

test('layout: qemu-xhci comes before the devices on it, once', () => {
  const result = plan(['--disk', 'usb:a.qcow2', '--usb', '1d6b:0002', '--display', 'none'], {
    ...facts(hd),
    usbDevices: ['1d6b:0002'],
  });
  const devices = valuesOf(result.qemu.argv, '-device');
  assert.equal(devices.filter((d) => d.startsWith('qemu-xhci')).length, 1);
  assert.ok(devices.indexOf('qemu-xhci,id=xhci') < devices.findIndex((d) => d.startsWith('usb-storage')));
  assert.ok(devices.includes('usb-host,bus=xhci.0,vendorid=0x1d6b,productid=0x0002'));
});

test('layout: --disk usb:VID:PID is passthrough, not a disk', () => {
  const result = plan(['--disk', 'usb:1d6b:0003', '--display', 'none'], { usbDevices: ['1d6b:0003'] });
  assert.equal(valuesOf(result.qemu.argv, '-drive'), []);
  assert.ok(valuesOf(result.qemu.argv, '-device').includes('usb-host,bus=xhci.0,vendorid=0x1d6b,productid=0x0003'));
});

test('layout: block devices use driver=host_device', () => {
  const result = plan(
    ['/dev/sdb', '/dev/sr0', '--display', 'none'],
    facts({
      '/dev/sdb': { blockDevice: true, format: 'raw', absolutePath: '/dev/sdb' },
      '/dev/sr0': { blockDevice: true, format: 'iso', absolutePath: '/dev/sr0' },
    }),
  );
  assert.equal(valuesOf(result.qemu.argv, '-drive'), [
    'driver=host_device,filename=/dev/sdb,if=none,id=disk0',
    'driver=host_device,filename=/dev/sr0,if=none,id=disk1,media=cdrom,readonly=on',
  ]);
});

test('layout: a path with spaces, quotes, commas and $(...) is one argv element, commas doubled', () => {
  const path = `/vm/my disk's "x",y $(touch /tmp/pwned).qcow2`;
  const result = plan([path, '--display', 'none'], facts({ [path]: { absolutePath: path } }));
  assert.equal(valuesOf(result.qemu.argv, '-drive'), [
    `file=/vm/my disk's "x",,y $(touch /tmp/pwned).qcow2,if=none,id=disk0,format=qcow2,cache-size=16777216`,
  ]);
});

test('refused: unknown format names what it saw and what is accepted', () => {
  assert.throws(
    () => plan(['x.vmdk'], facts({ 'x.vmdk': { format: 'unknown', detail: 'VMDK' } })),
    (error: Error) =>
      error instanceof UsageError &&
      /disk "x.vmdk": unknown disk format \(looks like VMDK; convert it with: qemu-img convert/.test(error.message) &&
      /accepted: QCOW2, ISO 9660/.test(error.message),
  );
  assert.throws(() => plan(['x.img'], facts({ 'x.img': { readable: false } })), /cannot be read by you/);
});

test.run();
