// Whether a path lies on a noexec mount, from /proc/self/mountinfo: doctor's waiter check asks it of the
// runtime directory (where the executable writes the waiter it carries). Every row is checked whole.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { onNoexecMount } from '../lib/probe/host-access.ts';

const line = (id: number, point: string, options: string) =>
  `${id} 1 0:${id} / ${point} ${options} shared:${id} - tmpfs tmpfs rw`;
const MOUNTINFO = [
  line(21, '/', 'rw,relatime'),
  line(22, '/run', 'rw,nosuid,nodev,noexec,relatime'),
  line(23, '/run/user/1000', 'rw,nosuid,nodev,relatime'),
  line(24, '/tmp', 'rw,nosuid,nodev'),
  line(25, '/tmp', 'rw,nosuid,nodev,noexec'),
  line(26, '/srv/my\\040vms', 'rw,noexec'),
  line(27, '/runner', 'rw'),
].join('\n');

const ROWS: Array<{ path: string; expected: boolean; why: string }> = [
  { path: '/run/qemu-script', expected: true, why: "root's runtime directory under a noexec /run" },
  { path: '/run', expected: true, why: 'the mount point itself' },
  { path: '/run/user/1000/qemu-script', expected: false, why: 'an inner mount that allows programs' },
  { path: '/tmp/qs', expected: true, why: 'the last of two mounts on one point wins' },
  { path: '/srv/my vms/run', expected: true, why: 'a mount point with an escaped space' },
  { path: '/runner/x', expected: false, why: '/run is no prefix of /runner' },
  { path: '/home/me/.run', expected: false, why: 'only / holds it' },
];

for (const row of ROWS) {
  test(`onNoexecMount: ${row.path} (${row.why})`, () => {
    assert.is(onNoexecMount(MOUNTINFO, row.path), row.expected);
  });
}

test('onNoexecMount: no mountinfo at all says no', () => {
  assert.is(onNoexecMount('', '/run/qemu-script'), false);
});

test.run();
