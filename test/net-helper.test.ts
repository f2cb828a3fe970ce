// The privileged entry point, called as sudo would call it (SUDO_UID set), in a
// namespace of the test's own: every hostile request is refused and changes nothing.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BINARY } from './helpers.ts';
import { Netns } from './netns.ts';

function helper(ns: Netns, uid: number, args: string[]) {
  return execa('ip', ['netns', 'exec', ns.name, BINARY, 'net-helper', ...args], { reject: false, env: { SUDO_UID: String(uid) } });
}

async function withHostileSetup(body: (ns: Netns) => Promise<void>) {
  const ns = await Netns.create();
  try {
    await ns.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await ns.ip('link', 'add', 'link', 'eth0', 'name', 'macvtap0', 'type', 'macvtap');
    await body(ns);
  } finally {
    await ns.destroy();
  }
}

const REFUSED: Array<[string, string[], RegExp]> = [
  ['removing a foreign interface (eth0)', ['bridge-del', 'eth0', 'g'], /eth0 was not created by qemu-script/],
  ['removing a bridge it did not create', ['bridge-del', 'br0', 'g'], /br0 was not created by qemu-script/],
  ['removing a macvtap it did not create', ['macvtap-del', 'macvtap0', 'g'], /macvtap0 was not created by qemu-script/],
  ['turning eth0 into a bridge', ['bridge-add', 'eth0', 'g'], /eth0 exists and is not a bridge/],
  ['shell metacharacters in a name', ['bridge-add', 'x;reboot', 'g'], /"x;reboot" is not a valid bridge name/],
  ['a path in a name', ['bridge-add', '../../etc', 'g'], /is not a valid bridge name/],
  ['a name over 15 bytes', ['bridge-add', 'averyveryverylong', 'g'], /is not a valid bridge name/],
  ['a macvtap not named macvtapN', ['macvtap-add', 'eth1', 'eth0', 'de:ad:be:ef:00:01', 'g'], /"eth1" is not a valid macvtap name/],
  ['a macvtap over loopback', ['macvtap-add', 'macvtap9', 'lo', 'de:ad:be:ef:00:01', 'g'], /lo cannot carry a macvtap/],
  ['a multicast MAC', ['macvtap-add', 'macvtap9', 'eth0', '01:00:5e:00:00:01', 'g'], /not a unicast MAC/],
  ['a guest name with $(...)', ['bridge-add', 'vmnet9', '$(id)'], /"\$\(id\)" is not a valid guest name/],
  ['an address for a defined network (it comes from the definition)', ['bridge-add', 'hostonly', 'g', '10.0.0.1/8'], /hostonly is a defined network: its address comes from its definition/],
  ['a DHCP server for a network that is not defined', ['dhcp-add', 'nosuchnet', 'de:ad:be:ef:00:01', 'g'], /no network nosuchnet is defined/],
  ['a DHCP server with a path for a network name', ['dhcp-add', '../etc', 'de:ad:be:ef:00:01', 'g'], /"..\/etc" is not a valid network name/],
  ['a DHCP registration of a multicast MAC', ['dhcp-add', 'hostonly', 'ff:ff:ff:ff:ff:ff', 'g'], /not a unicast MAC/],
  ['releasing a network server it did not start', ['dhcp-del', 'hostonly', 'g'], /hostonly was not created by qemu-script/],
  ['a request with a kind it does not know', ['route-add', 'x', 'g'], /unknown request "route-add"/],
  ['an unknown request', ['rename', 'eth0', 'wan0'], /unknown request "rename"/],
  ['extra words', ['gc', 'now'], /gc takes no arguments/],
];

for (const [name, args, message] of REFUSED) {
  test(`net-helper refuses ${name}`, () => withHostileSetup(async (ns) => {
    const before = await ns.links();
    const result = await helper(ns, 1000, args);
    assert.is(result.exitCode, 2, result.stderr);
    assert.match(result.stderr, /^qemu-script: net-helper: refused: /);
    assert.match(result.stderr, message);
    assert.equal(await ns.links(), before, 'nothing changed');
  }));
}

test('net-helper: one user cannot remove another user\'s guest\'s bridge; the owner can', () => withHostileSetup(async (ns) => {
  const add = await helper(ns, 1000, ['bridge-add', 'vmnet5', 'web']);
  assert.is(add.exitCode, 0, add.stderr);
  assert.is(add.stdout, 'created');
  const other = await helper(ns, 1001, ['bridge-del', 'vmnet5', 'web']);
  assert.is(other.exitCode, 2);
  assert.match(other.stderr, /vmnet5 is not held by your guest web/);
  assert.ok((await ns.links()).includes('vmnet5'));
  const owner = await helper(ns, 1000, ['bridge-del', 'vmnet5', 'web']);
  assert.is(owner.exitCode, 0, owner.stderr);
  assert.not.ok((await ns.links()).includes('vmnet5'));
  const registry = JSON.parse(readFileSync('/run/qemu-script/registry.json', 'utf8')) as { resources: Array<{ name: string }> };
  assert.not.ok(registry.resources.some((entry) => entry.name === 'vmnet5'));
}));

test('net-helper refuses to run without root', async () => {
  const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', BINARY, 'net-helper', 'gc'], { reject: false });
  assert.is(result.exitCode, 2);
  assert.match(result.stderr, /net-helper must run as root/);
});

test.run();
