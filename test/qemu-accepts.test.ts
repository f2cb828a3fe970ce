// As libvirt checks its generated lines against QEMU's schema: every planned
// line that needs no host change is given to the real QEMU, paused (-S), which
// must accept it and answer on its QMP socket.
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QmpClient } from '../lib/base/qmp.ts';
import { ROOT, noLoopDevice, runBinary, testWhere } from './helpers.ts';

const dir = mkdtempSync(`${tmpdir()}/qs-qemu-`);
const run = `${dir}/run`;
const weird = `${dir}/odd name, with 'quotes' $(x).qcow2`;
await (async () => {
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${dir}/disk.qcow2`, '64M']);
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', weird, '16M']);
  writeFileSync(`${dir}/hello.txt`, 'hello\n');
  await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-o', `${dir}/cd.iso`, `${dir}/hello.txt`]);
  await execa('truncate', ['-s', '8M', `${dir}/mbr.img`]);
  await execa('sfdisk', ['-q', `${dir}/mbr.img`], { input: 'label: dos\n,,L\n' });
})();
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function planned(argv: string[], env: Record<string, string> = {}): Promise<string[]> {
  const result = await runBinary(['--dry-run', '--json', '--accel', 'tcg', ...argv], {
    env: { QEMU_SCRIPT_RUNTIME_DIR: run, ...env },
    cwd: dir,
  });
  assert.is(result.exitCode, 0, result.stderr);
  const plan = JSON.parse(result.stdout) as { name: string; qemu: { argv: string[]; fds: unknown[] }; host: unknown[] };
  assert.equal(plan.host, [], 'this line needs no host change');
  assert.equal(plan.qemu.fds, []);
  mkdirSync(`${run}/${plan.name}`, { recursive: true });
  return plan.qemu.argv;
}

async function qemuAccepts(argv: string[]): Promise<void> {
  const qmpPath = /unix:(.*)\/qmp\.sock/.exec(argv[argv.indexOf('-qmp') + 1])![1].replace(/,,/g, ',') + '/qmp.sock';
  const qemu = execa(argv[0], [...argv.slice(1), '-S'], { reject: false, stdin: 'pipe' });
  let client: QmpClient | undefined;
  try {
    for (let i = 0; i < 100 && !client; i++) {
      if (qemu.exitCode !== null && qemu.exitCode !== undefined) break;
      if (existsSync(qmpPath)) client = await QmpClient.connect(qmpPath).catch(() => undefined);
      if (!client) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!client) {
      const result = await qemu;
      assert.unreachable(`QEMU refused the planned line: ${result.stderr}\n${argv.join(' ')}`);
      return;
    }
    const status = (await client.execute('query-status')) as { status: string };
    assert.is(status.status, 'prelaunch');
    await client.execute('quit');
  } finally {
    client?.close();
    if (qemu.pid) qemu.kill('SIGKILL');
  }
  const result = await qemu;
  assert.not.match(result.stderr ?? '', /error|invalid/i, result.stderr);
}

const ROWS: Array<{ name: string; argv: string[]; env?: Record<string, string> }> = [
  {
    name: 'user network with SSH and extra forwards',
    argv: ['--net', 'user', '--fwd', '18080-80', '--fwd', 'udp:15353-53', '--display', 'none'],
  },
  { name: 'multicast internal networks (compact and named)', argv: ['--net', '0,mcast:5,u', '--display', 'none'] },
  { name: 'no NIC', argv: ['--net', 'none', '--display', 'none'] },
  { name: 'virtio-scsi: qcow2, ISO, raw MBR disk', argv: ['disk.qcow2', 'cd.iso', 'mbr.img', '--display', 'none'] },
  {
    name: 'virtio-blk: qcow2 and ISO on ide-cd',
    argv: ['disk.qcow2', 'cd.iso'],
    env: { VM_HDDRIVER: 'virtio-blk', VM_VIDEO: 'none' },
  },
  {
    name: 'prefixes: blk:, scsi:, cdrom:, usb:',
    argv: ['--disk', 'blk:disk.qcow2', '--disk', 'scsi:mbr.img', '--disk', 'usb:cdrom:cd.iso', '--display', 'none'],
  },
  { name: 'a path with spaces, quotes, commas and $(...)', argv: [weird, '--display', 'none'] },
  { name: 'display none: the console and monitor on a private socket', argv: ['--display', 'none', '--net', 'none'] },
  { name: 'display vnc', argv: ['--display', 'vnc', '--net', 'none'] },
  { name: 'display stdio', argv: ['--display', 'stdio', '--net', 'none'] },
  { name: 'UEFI', argv: ['disk.qcow2', '--uefi', '--display', 'none'] },
  {
    name: 'disks boot after a -kernel',
    argv: ['disk.qcow2', 'cd.iso', '--display', 'none', '-kernel', `${ROOT}/.cache/guest/vmlinuz`],
  },
  {
    name: 'own and passthrough options together',
    argv: ['disk.qcow2', '-m', '256', '-smp', '2', '-snapshot', '--display', 'none', '--', '-no-reboot'],
  },
];

for (const row of ROWS) {
  test(`QEMU accepts: ${row.name}`, async () => {
    await qemuAccepts(await planned(row.argv, row.env));
  });
}

testWhere(test, await noLoopDevice(), 'QEMU accepts: a block device through driver=host_device', async () => {
  const loop = await execa('losetup', ['--find', '--show', `${dir}/mbr.img`]);
  try {
    const argv = await planned([loop.stdout.trim(), '--display', 'none']);
    assert.ok(argv.some((word) => word.startsWith(`driver=host_device,filename=${loop.stdout.trim()},`)));
    await qemuAccepts(argv);
  } finally {
    await execa('losetup', ['-d', loop.stdout.trim()]);
  }
});

test.run();
