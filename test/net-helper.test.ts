// The privileged entry point, called as sudo would call it (SUDO_UID set), in a
// namespace of the test's own: every hostile request is refused and changes nothing.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BINARY, freshSystemRunDir } from './helpers.ts';
import { Netns } from './netns.ts';

function helper(ns: Netns, uid: number, args: string[]) {
  return execa('ip', ['netns', 'exec', ns.name, BINARY, 'net-helper', ...args], {
    reject: false,
    env: { SUDO_UID: String(uid) },
  });
}

/** A namespace of the test's own and an empty registry of the helper's. */
async function withNetns(body: (ns: Netns) => Promise<void>) {
  const release = await freshSystemRunDir();
  const ns = await Netns.create();
  try {
    await body(ns);
  } finally {
    await ns.destroy();
    await release();
  }
}

function withHostileSetup(body: (ns: Netns) => Promise<void>) {
  return withNetns(async (ns) => {
    await ns.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await ns.ip('link', 'add', 'link', 'eth0', 'name', 'macvtap0', 'type', 'macvtap');
    await body(ns);
  });
}

const REFUSED: Array<[string, string[], RegExp]> = [
  ['removing a foreign interface (eth0)', ['bridge-del', 'eth0', 'g'], /eth0 was not created by qemu-script/],
  ['removing a bridge it did not create', ['bridge-del', 'br0', 'g'], /br0 was not created by qemu-script/],
  ['removing a macvtap it did not create', ['macvtap-del', 'macvtap0', 'g'], /macvtap0 was not created by qemu-script/],
  ['turning eth0 into a bridge', ['bridge-add', 'eth0', 'g'], /eth0 exists and is not a bridge/],
  ['shell metacharacters in a name', ['bridge-add', 'x;reboot', 'g'], /"x;reboot" is not a valid bridge name/],
  ['a path in a name', ['bridge-add', '../../etc', 'g'], /is not a valid bridge name/],
  ['a name over 15 bytes', ['bridge-add', 'averyveryverylong', 'g'], /is not a valid bridge name/],
  [
    'a macvtap not named macvtapN',
    ['macvtap-add', 'eth1', 'eth0', 'de:ad:be:ef:00:01', 'g'],
    /"eth1" is not a valid macvtap name/,
  ],
  ['a macvtap over loopback', ['macvtap-add', 'macvtap9', 'lo', 'de:ad:be:ef:00:01', 'g'], /lo cannot carry a macvtap/],
  ['a multicast MAC', ['macvtap-add', 'macvtap9', 'eth0', '01:00:5e:00:00:01', 'g'], /not a unicast MAC/],
  ['a guest name with $(...)', ['bridge-add', 'vmnet9', '$(id)'], /"\$\(id\)" is not a valid guest name/],
  [
    'an address for a defined network (it comes from the definition)',
    ['bridge-add', 'hostonly', 'g', '10.0.0.1/8'],
    /hostonly is a defined network: its address comes from its definition/,
  ],
  [
    'a DHCP server for a network that is not defined',
    ['dhcp-add', 'nosuchnet', 'de:ad:be:ef:00:01', 'g'],
    /no network nosuchnet is defined/,
  ],
  [
    'a DHCP server with a path for a network name',
    ['dhcp-add', '../etc', 'de:ad:be:ef:00:01', 'g'],
    /"..\/etc" is not a valid network name/,
  ],
  ['a DHCP registration of a multicast MAC', ['dhcp-add', 'hostonly', 'ff:ff:ff:ff:ff:ff', 'g'], /not a unicast MAC/],
  ['a request with a kind it does not know', ['route-add', 'x', 'g'], /unknown request "route-add"/],
  ['an unknown request', ['rename', 'eth0', 'wan0'], /unknown request "rename"/],
  ['extra words', ['gc', 'now'], /gc takes no arguments/],
];

for (const [name, args, message] of REFUSED) {
  test(`net-helper refuses ${name}`, () =>
    withHostileSetup(async (ns) => {
      const before = await ns.links();
      const result = await helper(ns, 1000, args);
      assert.is(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, /^qemu-script: net-helper: refused: /);
      assert.match(result.stderr, message);
      assert.equal(await ns.links(), before, 'nothing changed');
    }));
}

test("net-helper: one user cannot remove another user's guest's bridge; the owner can", () =>
  withHostileSetup(async (ns) => {
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
    const registry = JSON.parse(readFileSync('/run/qemu-script/registry.json', 'utf8')) as {
      resources: Array<{ name: string }>;
    };
    assert.not.ok(registry.resources.some((entry) => entry.name === 'vmnet5'));
  }));

/**
 * A namespace like a member's host: its default route is 198.51.100.1 on eth0, a private LAN on lan0 (IPv4 and IPv6).
 */
function withLan(body: (ns: Netns) => Promise<void>) {
  return withNetns(async (ns) => {
    for (const [name, peer] of [
      ['eth0', 'eth1'],
      ['lan0', 'lan1'],
    ]) {
      await ns.ip('link', 'add', name, 'type', 'veth', 'peer', 'name', peer);
      await ns.exec(['sysctl', '-q', '-w', `net.ipv6.conf.${name}.accept_dad=0`]);
      await ns.ip('link', 'set', name, 'up');
      await ns.ip('link', 'set', peer, 'up');
    }
    await ns.ip('addr', 'add', '198.51.100.7/24', 'dev', 'eth0');
    await ns.ip('route', 'add', 'default', 'via', '198.51.100.1', 'dev', 'eth0');
    await ns.ip('addr', 'add', '192.168.1.5/24', 'dev', 'lan0');
    await ns.ip('-6', 'addr', 'add', 'fd12:3456::5/64', 'dev', 'lan0', 'nodad');
    await ns.ip('-6', 'route', 'add', 'default', 'via', 'fd12:3456::1', 'dev', 'lan0');
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await body(ns);
  });
}

// A member's hostile requests, each refused with exit 2 and no change: grows with every kind of host action.
const HOSTILE: Array<[string, string[], RegExp]> = [
  [
    "the gateway's own address",
    ['bridge-add', 'vmnet9', 'g', '198.51.100.1/32'],
    /198\.51\.100\.1\/32 is not a private address/,
  ],
  ['half of IPv4', ['bridge-add', 'vmnet8', 'g', '0.0.0.0/1'], /0\.0\.0\.0\/1 is not a private address/],
  ['a public subnet', ['bridge-add', 'vmnet8', 'g', '203.0.113.1/24'], /is not a private address/],
  [
    'the LAN gateway (private)',
    ['bridge-add', 'vmnet8', 'g', '192.168.1.1/24'],
    /192\.168\.1\.1\/24 overlaps address 192\.168\.1\.5\/24 on lan0/,
  ],
  [
    'an address the LAN already has',
    ['bridge-add', 'vmnet8', 'g', '192.168.1.5/30'],
    /overlaps address 192\.168\.1\.5\/24 on lan0/,
  ],
  [
    'a prefix covering the LAN',
    ['bridge-add', 'vmnet8', 'g', '192.168.0.1/16'],
    /192\.168\.0\.1\/16 overlaps address 192\.168\.1\.5\/24 on lan0/,
  ],
  ['a whole private range', ['bridge-add', 'vmnet8', 'g', '10.0.0.1/8'], /the prefix must be from \/16 to \/30/],
  ['a single address', ['bridge-add', 'vmnet8', 'g', '10.9.9.9/32'], /the prefix must be from \/16 to \/30/],
  [
    'not an address at all',
    ['bridge-add', 'vmnet8', 'g', 'a.b.c.d/24'],
    /"a\.b\.c\.d\/24" is not an address with a prefix length/,
  ],
  [
    'IPv6: a global address',
    ['bridge-add', 'vmnet8', 'g', '2001:db8::1/64'],
    /2001:db8::1\/64 is not a private address/,
  ],
  [
    "IPv6: the LAN's ULA prefix",
    ['bridge-add', 'vmnet8', 'g', 'fd12:3456::9/64'],
    /fd12:3456::9\/64 overlaps address fd12:3456::5\/64 on lan0/,
  ],
  ['IPv6: the LAN gateway', ['bridge-add', 'vmnet8', 'g', 'fd12:3456::1/126'], /overlaps/],
  [
    'IPv6: a prefix too large',
    ['bridge-add', 'vmnet8', 'g', 'fd12::1/32'],
    /the prefix must be from \/16 to \/30 \(IPv6: \/48 to \/126\)/,
  ],
  ['IPv6: a single address', ['bridge-add', 'vmnet8', 'g', 'fd99::1/128'], /the prefix must be/],
  [
    'a TAP on a bridge the caller does not hold',
    ['tap-add', 'qtap7', 'br0', 'g'],
    /br0 is not a bridge of qemu-script that your guest g is on/,
  ],
  ['a TAP not named qtapN', ['tap-add', 'eth5', 'br0', 'g'], /"eth5" is not a valid TAP name/],
  ['a TAP with an absurd MTU', ['tap-add', 'qtap7', 'br0', 'g', '9999'], /MTU 9999 is outside 576-9000/],
  ['forwarding for a network without NAT', ['forward-add', 'hostonly', 'g'], /hostonly is not a NAT network/],
  ['forwarding for a network that is not defined', ['forward-add', 'nosuch', 'g'], /nosuch is not a NAT network/],
  ['firewall rules for a network that is not defined', ['firewall-add', 'nosuch', 'g'], /no network nosuch is defined/],
  [
    "firewall rules named like a table of someone else's",
    ['firewall-add', 'filter;x', 'g'],
    /"filter;x" is not a valid network name/,
  ],
  [
    'a tunnel for a network without one',
    ['vxlan-add', 'hostonly', 'g'],
    /network hostonly is not defined with a VXLAN tunnel/,
  ],
  [
    "a tunnel with a VNI of the member's choosing",
    ['vxlan-add', 'hostonly', 'g', '42'],
    /vxlan-add takes NETWORK GUEST/,
  ],
];

for (const [name, request, message] of HOSTILE) {
  test(`net-helper refuses a member's ${name}`, () =>
    withLan(async (ns) => {
      const before = await ns.state();
      const result = await helper(ns, 1000, request);
      assert.is(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(await ns.state(), before, 'nothing changed');
    }));
}

test("net-helper: a member's ninth bridge is refused with the count; releases bring it down", () =>
  withLan(async (ns) => {
    for (let n = 1; n <= 8; n++) {
      const add = await helper(ns, 1000, ['bridge-add', `vmnet${n}`, 'q', `10.${60 + n}.0.1/24`]);
      assert.is(add.exitCode, 0, add.stderr);
    }
    const before = await ns.state();
    const ninth = await helper(ns, 1000, ['bridge-add', 'vmnet9', 'q']);
    assert.is(ninth.exitCode, 2);
    assert.match(
      ninth.stderr,
      /you hold 8 bridges already, the most a user may \(set in \/etc\/qemu-script\/limits.json\)/,
    );
    assert.equal(await ns.state(), before);
    const joined = await helper(ns, 1000, ['bridge-add', 'vmnet1', 'q2']);
    assert.is(joined.exitCode, 0, 'joining a bridge one already made is no new bridge');
    const other = await helper(ns, 1001, ['bridge-add', 'vmnet9', 'p']);
    assert.is(other.exitCode, 0, 'the limit is per user');
    const stolen = await helper(ns, 1001, ['bridge-add', 'vmnet10', 'q']);
    assert.is(stolen.exitCode, 2);
    assert.match(stolen.stderr, /the guest name q is in use by another user/);
    for (const [uid, bridge, guest] of [
      [1000, 'vmnet1', 'q2'],
      [1001, 'vmnet9', 'p'],
    ] as const)
      await helper(ns, uid, ['bridge-del', bridge, guest]);
    await helper(ns, 1000, ['bridge-del', 'vmnet8', 'q']);
    const again = await helper(ns, 1000, ['bridge-add', 'vmnet9', 'q']);
    assert.is(again.exitCode, 0, 'a release brings the count down');
    for (let n = 1; n <= 9; n++) await helper(ns, 1000, ['bridge-del', `vmnet${n}`, 'q']);
    assert.equal(
      (await ns.links()).filter((link) => link.startsWith('vmnet')),
      [],
    );
  }));

test("net-helper: a member's TAP goes only on a bridge their guest holds, owned by them", () =>
  withLan(async (ns) => {
    assert.is((await helper(ns, 1000, ['bridge-add', 'vmnet3', 'web'])).exitCode, 0);
    const foreign = await helper(ns, 1000, ['tap-add', 'qtap3', 'vmnet3', 'db']);
    assert.is(foreign.exitCode, 2, 'another guest of the same user does not hold vmnet3');
    const tap = await helper(ns, 1000, ['tap-add', 'qtap3', 'vmnet3', 'web']);
    assert.is(tap.exitCode, 0, tap.stderr);
    assert.is((await ns.exec(['cat', '/sys/class/net/qtap3/owner'])).stdout, '1000');
    assert.match((await ns.ip('-o', 'link', 'show', 'master', 'vmnet3')).stdout, /qtap3/);
    assert.is((await helper(ns, 1001, ['tap-del', 'qtap3', 'web'])).exitCode, 2, 'nor can another user remove it');
    assert.is((await helper(ns, 1000, ['tap-del', 'qtap3', 'web'])).exitCode, 0);
    assert.is((await helper(ns, 1000, ['bridge-del', 'vmnet3', 'web'])).exitCode, 0);
    assert.equal(
      (await ns.links()).filter((link) => /^(vmnet|qtap)/.test(link)),
      [],
    );
  }));

test('net-helper: releasing a server, a rule set or a setting the tool never made does nothing', () =>
  withHostileSetup(async (ns) => {
    const before = await ns.links();
    for (const kind of ['dhcp', 'firewall', 'forward']) {
      const result = await helper(ns, 1000, [`${kind}-del`, kind === 'forward' ? 'ipv4' : 'hostonly', 'g']);
      assert.is(result.exitCode, 0, result.stderr);
      assert.is(result.stdout, 'unknown');
    }
    assert.equal(await ns.links(), before);
  }));

test('net-helper refuses to run without root', async () => {
  const result = await execa(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', BINARY, 'net-helper', 'gc'],
    { reject: false },
  );
  assert.is(result.exitCode, 2);
  assert.match(result.stderr, /net-helper must run as root/);
});

test.run();
