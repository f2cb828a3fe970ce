// The privileged entry point as members reach it: real sudo (Debian's defaults, use_pty among them)
// with the rule setup writes, in this file's private /etc, from namespaces of the test's own. Every
// hostile request is refused with exit 2 and changes nothing: links, addresses, routes of every table
// and rules, the firewall of both families, sysctls, the registry.
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { helperPath } from '../lib/base/self.ts';
import { BINARY, freshSystemRunDir } from './helpers.ts';
import { Netns, waitFor } from './netns.ts';

const HELPER = helperPath([BINARY]);
/** Two members of the group, and a local user who is not one. */
const ALICE = 40000 + (process.pid % 10000) * 3;
const BOB = ALICE + 1;
const EVE = ALICE + 2;
const USERS: Record<number, string> = { [ALICE]: 'qsalice', [BOB]: 'qsbob', [EVE]: 'qseve' };

await (async () => {
  if (process.env.QEMU_SCRIPT_TEST_ISOLATED !== '1')
    throw new Error('this file changes /etc: run it through test/run.sh');
  await execa('groupadd', ['-g', '4200', 'qemusers']);
  await execa('mkdir', ['-p', '/etc/qemu-script']);
  for (const [uid, name] of Object.entries(USERS)) {
    const groups = Number(uid) === EVE ? [] : ['-G', 'qemusers'];
    await execa('useradd', ['-M', '-u', uid, ...groups, '-s', '/bin/sh', name]);
  }
  // What setup writes: the helper's path alone, whatever its arguments.
  writeFileSync('/etc/sudoers.d/qemu-script', `%qemusers ALL=(root) NOPASSWD: ${HELPER}\n`, { mode: 0o440 });
})();

/** ARGV as USER (a normal user's environment), in the namespace. */
function asUser(ns: Netns, uid: number, argv: string[], options: { input?: string } = {}) {
  const env = ['PATH=/usr/local/bin:/usr/bin:/bin', `HOME=/nonexistent`, `USER=${USERS[uid]}`, 'LANG=C.UTF-8'];
  return execa('ip', ['netns', 'exec', ns.name, 'runuser', '-u', USERS[uid], '--', 'env', '-i', ...env, ...argv], {
    reject: false,
    input: options.input,
  });
}

/**
 * A member's shell in the namespace that stays for the whole test, as a guest's launcher or waiter does:
 * the holder of what its requests make (a request's holder that is gone has its changes collected).
 */
class MemberShell {
  private output = '';
  private calls = 0;
  private readonly shell;

  constructor(
    ns: Netns,
    private readonly uid: number,
  ) {
    this.shell = execa(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'runuser',
        '-u',
        USERS[this.uid],
        '--',
        'env',
        '-i',
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'sh',
      ],
      { reject: false, stdin: 'pipe' },
    );
    this.shell.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /** `sudo -n HELPER ARGS` from this shell: exit code, stdout and stderr. */
  async request(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const call = `/tmp/qs-member-${this.uid}-${this.calls++}`;
    const quoted = [HELPER, ...args].map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(' ');
    this.shell.stdin!.write(`sudo -n ${quoted} >${call}.out 2>${call}.err; echo "<<$?>>"\n`);
    await waitFor(() => /<<\d+>>\n/.test(this.output), 30000, 'the request');
    const [done, rest] = this.output.split(/(?<=<<\d+>>\n)/);
    this.output = rest ?? '';
    const read = (file: string) => readFileSync(file, 'utf8').replace(/\n$/, '');
    return { exitCode: Number(/<<(\d+)>>/.exec(done)![1]), stdout: read(`${call}.out`), stderr: read(`${call}.err`) };
  }

  async exit(): Promise<void> {
    this.shell.stdin!.end('exit 0\n');
    await this.shell;
  }
}

let shells: Record<number, MemberShell> = {};

/** A request through sudo as the tool makes it, from the member's shell of this test. */
function helper(ns: Netns, uid: number, args: string[]) {
  shells[uid] ??= new MemberShell(ns, uid);
  return shells[uid].request(args);
}

const registry = () =>
  existsSync('/run/qemu-script/registry.json')
    ? (
        JSON.parse(readFileSync('/run/qemu-script/registry.json', 'utf8')) as {
          resources: Array<{
            kind: string;
            name: string;
            users: Array<{ uid: number; guest: string; ip?: string; holder: { pid: number } }>;
          }>;
        }
      ).resources
    : [];

/** A namespace of the test's own and an empty registry of the helper's. */
async function withNetns(body: (ns: Netns) => Promise<void>) {
  const release = await freshSystemRunDir();
  const ns = await Netns.create();
  try {
    await body(ns);
  } finally {
    for (const shell of Object.values(shells)) await shell.exit();
    shells = {};
    await ns.destroy();
    await release();
  }
}

function withHostileSetup(body: (ns: Netns) => Promise<void>) {
  return withNetns(async (ns) => {
    await ns.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await ns.ip('link', 'add', 'link', 'eth0', 'name', 'macvtap0', 'type', 'macvtap');
    await ns.ip('link', 'add', 'vmnet4', 'type', 'veth', 'peer', 'name', 'vmnet4p');
    await body(ns);
  });
}

const REFUSED: Array<[string, string[], RegExp]> = [
  ['removing a foreign interface (eth0)', ['bridge-del', 'eth0', 'g'], /eth0 was not created by qemu-script/],
  ['removing a bridge it did not create', ['bridge-del', 'br0', 'g'], /br0 was not created by qemu-script/],
  ['removing a macvtap it did not create', ['macvtap-del', 'macvtap0', 'g'], /macvtap0 was not created by qemu-script/],
  ['turning a veth named vmnet4 into a bridge', ['bridge-add', 'vmnet4', 'g'], /vmnet4 exists and is not a bridge/],
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
  test(`helper refuses ${name}`, () =>
    withHostileSetup(async (ns) => {
      const before = await ns.links();
      const result = await helper(ns, ALICE, args);
      assert.is(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, /^qemu-script-helper: refused: /);
      assert.match(result.stderr, message);
      assert.equal(await ns.links(), before, 'nothing changed');
    }));
}

test("helper: one user cannot remove another user's guest's bridge; the owner can", () =>
  withHostileSetup(async (ns) => {
    const add = await helper(ns, ALICE, ['bridge-add', 'vmnet5', 'web']);
    assert.is(add.exitCode, 0, add.stderr);
    assert.is(add.stdout, 'created');
    const other = await helper(ns, BOB, ['bridge-del', 'vmnet5', 'web']);
    assert.is(other.exitCode, 2);
    assert.match(other.stderr, /vmnet5 is not held by your guest web/);
    assert.ok((await ns.links()).includes('vmnet5'));
    const owner = await helper(ns, ALICE, ['bridge-del', 'vmnet5', 'web']);
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
    // A VPN's way (wg-quick): a route in its own table, and the rules that send traffic there.
    await ns.ip('route', 'add', '10.200.0.0/16', 'dev', 'lan0', 'table', '100');
    await ns.ip('rule', 'add', 'to', '10.201.0.0/16', 'lookup', '100');
    await ns.ip('-6', 'route', 'add', 'fd77::/48', 'dev', 'lan0', 'table', '100');
    await ns.ip('link', 'add', 'br0', 'type', 'bridge');
    await body(ns);
  });
}

// A member's hostile requests, each refused with exit 2 and no change: grows with every kind of host action.
const HOSTILE: Array<[string, string[], RegExp]> = [
  [
    'a route of another table',
    ['bridge-add', 'vmnet8', 'g', '10.200.5.1/24'],
    /overlaps route 10\.200\.0\.0\/16 on lan0 \(table 100\)/,
  ],
  [
    'the prefix of a policy rule',
    ['bridge-add', 'vmnet8', 'g', '10.201.9.1/24'],
    /overlaps the policy rule for 10\.201\.0\.0\/16/,
  ],
  [
    'IPv6: a route of another table',
    ['bridge-add', 'vmnet8', 'g', 'fd77::1/64'],
    /overlaps route fd77::\/48 on lan0 \(table 100\)/,
  ],
  [
    "a bridge named like Docker's",
    ['bridge-add', 'docker0', 'g'],
    /docker0: members make only vmnetN bridges and defined networks/,
  ],
  [
    "a bridge named like the LAN's",
    ['bridge-add', 'br1', 'g'],
    /br1: members make only vmnetN bridges and defined networks/,
  ],
  [
    'forwarding with no guest on the network',
    ['forward-add', 'natnet', 'g'],
    /natnet is not a bridge of qemu-script that your guest g is on/,
  ],
  [
    'NAT rules with no guest on the network',
    ['firewall-add', 'natnet', 'g'],
    /natnet is not a bridge of qemu-script that your guest g is on/,
  ],
  [
    'a DHCP registration with no guest on the network',
    ['dhcp-add', 'hostonly', 'de:ad:be:ef:00:05', 'g'],
    /hostonly is not a bridge of qemu-script that your guest g is on/,
  ],
  [
    'a macvtap on a veth root did not allow',
    ['macvtap-add', 'macvtap5', 'eth0', 'de:ad:be:ef:00:05', 'g'],
    /eth0 is no physical NIC and root did not allow it for macvtaps \(setup --allow-macvtap eth0\)/,
  ],
  ['a macvtap on a bridge', ['macvtap-add', 'macvtap5', 'br0', 'de:ad:be:ef:00:05', 'g'], /br0 is no physical NIC/],
  [
    'a guest name that is a domain',
    ['bridge-add', 'vmnet8', 'www.example.com'],
    /"www\.example\.com" is not a valid guest name/,
  ],
  ['an inherited property of the kind table', ['__proto__-add', 'x', 'g'], /unknown request "__proto__-add"/],
  ['a constructor for a kind', ['constructor-add', 'x', 'g'], /unknown request "constructor-add"/],
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
  [
    "a TAP with an MTU (it is the bridge's, set by root)",
    ['tap-add', 'qtap7', 'br0', 'g', '1280'],
    /tap-add takes qtapN BRIDGE GUEST$/,
  ],
  ['forwarding for a network without NAT', ['forward-add', 'hostonly', 'g'], /hostonly is not a NAT network/],
  ['forwarding for a network that is not defined', ['forward-add', 'nosuch', 'g'], /nosuch is not a NAT network/],
  ['firewall rules for a network that is not defined', ['firewall-add', 'nosuch', 'g'], /no network nosuch is defined/],
  ['names for a network that is not defined', ['names-add', 'nosuch', 'g'], /no network nosuch is defined/],
  [
    'names for a network with no guest of the caller on it',
    ['names-add', 'hostonly', 'g'],
    /hostonly is not a bridge of qemu-script that your guest g is on/,
  ],
  ['names with a server of its choosing', ['names-add', 'hostonly', 'g', '10.0.0.1'], /names-add takes NETWORK GUEST/],
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
  test(`helper refuses a member's ${name}`, () =>
    withLan(async (ns) => {
      const before = await ns.state();
      const result = await helper(ns, ALICE, request);
      assert.is(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(await ns.state(), before, 'nothing changed');
    }));
}

test("helper: a member's ninth bridge is refused with the count; releases bring it down", () =>
  withLan(async (ns) => {
    for (let n = 1; n <= 8; n++) {
      const add = await helper(ns, ALICE, ['bridge-add', `vmnet${n}`, 'q', `10.${60 + n}.0.1/24`]);
      assert.is(add.exitCode, 0, add.stderr);
    }
    const before = await ns.state();
    const ninth = await helper(ns, ALICE, ['bridge-add', 'vmnet9', 'q']);
    assert.is(ninth.exitCode, 2);
    assert.match(
      ninth.stderr,
      /you hold 8 bridges already, the most a user may \(set in \/etc\/qemu-script\/limits.json\)/,
    );
    assert.equal(await ns.state(), before);
    const joined = await helper(ns, ALICE, ['bridge-add', 'vmnet1', 'q2']);
    assert.is(joined.exitCode, 0, 'joining a bridge one already made is no new bridge');
    const other = await helper(ns, BOB, ['bridge-add', 'vmnet9', 'p']);
    assert.is(other.exitCode, 0, 'the limit is per user');
    // Off a network's DNS a name is its user's own: another user's guest may bear it too.
    const same = await helper(ns, BOB, ['bridge-add', 'vmnet10', 'q']);
    assert.is(same.exitCode, 0, same.stderr);
    for (const [uid, bridge, guest] of [
      [ALICE, 'vmnet1', 'q2'],
      [BOB, 'vmnet9', 'p'],
      [BOB, 'vmnet10', 'q'],
    ] as const)
      await helper(ns, uid, ['bridge-del', bridge, guest]);
    await helper(ns, ALICE, ['bridge-del', 'vmnet8', 'q']);
    const again = await helper(ns, ALICE, ['bridge-add', 'vmnet9', 'q']);
    assert.is(again.exitCode, 0, 'a release brings the count down');
    for (let n = 1; n <= 9; n++) await helper(ns, ALICE, ['bridge-del', `vmnet${n}`, 'q']);
    assert.equal(
      (await ns.links()).filter((link) => link.startsWith('vmnet')),
      [],
    );
  }));

test('helper: a network named like an ip keyword (dev) is made and collected with the rest by gc', () =>
  withNetns(async (ns) => {
    assert.is((await execa(BINARY, ['net', 'create', 'dev'], { reject: false })).exitCode, 0);
    try {
      for (const bridge of ['dev', 'vmnet1']) {
        const made = await helper(ns, ALICE, ['bridge-add', bridge, 'a1']);
        assert.is(made.exitCode, 0, made.stderr);
      }
      // The guest is gone (its holder, the member's shell, exits): gc removes both.
      await shells[ALICE].exit();
      delete shells[ALICE];
      const gc = await helper(ns, BOB, ['gc']);
      assert.is(gc.exitCode, 0, gc.stderr);
      assert.equal(gc.stdout.split('\n').filter(Boolean).sort(), ['bridge dev', 'bridge vmnet1']);
      assert.equal(
        (await ns.links()).filter((link) => link === 'dev' || link === 'vmnet1'),
        [],
      );
      assert.equal(registry(), []);
    } finally {
      await execa(BINARY, ['net', 'rm', 'dev'], { reject: false });
    }
  }));

test("helper: a member's batch makes its changes in order; a refusal undoes those before it and says which", () =>
  withNetns(async (ns) => {
    const before = await ns.state();
    // The third is refused (a TAP on a bridge the guest does not hold): the first two are undone.
    const refused = await helper(ns, ALICE, [
      ...['batch', 'bridge-add', 'vmnet3', 'web', '+', 'tap-add', 'qtap3', 'vmnet3', 'web'],
      ...['+', 'tap-add', 'qtap4', 'vmnet5', 'web'],
    ]);
    assert.is(refused.exitCode, 2, refused.stderr);
    assert.is(
      refused.stderr,
      'qemu-script-helper: tap qtap4: refused: vmnet5 is not a bridge of qemu-script that your guest web is on; ' +
        'the 2 made before it undone',
    );
    assert.equal(await ns.state(), before, 'nothing left of the first two');
    assert.equal(registry(), []);
    // A request that is not well formed refuses the whole batch before anything is made.
    const bridge = ['bridge-add', 'vmnet3', 'web'];
    const malformed = await helper(ns, ALICE, ['batch', ...bridge, '+', 'tap-add', 'eth0', 'x', 'y']);
    assert.is(malformed.exitCode, 2);
    assert.match(malformed.stderr, /"eth0" is not a valid TAP name/);
    assert.equal(await ns.state(), before);
    const mixed = await helper(ns, ALICE, ['batch', ...bridge, '+', 'bridge-del', 'vmnet3', 'web']);
    const all = 'qemu-script-helper: refused: a batch is all KIND-add or all KIND-del';
    assert.equal([mixed.exitCode, mixed.stderr], [2, all]);
    const empty = await helper(ns, ALICE, ['batch', ...bridge, '+']);
    const usage = 'qemu-script-helper: refused: batch takes REQUEST + REQUEST + ...';
    assert.equal([empty.exitCode, empty.stderr], [2, usage]);

    const made = await helper(ns, ALICE, ['batch', ...bridge, '+', 'tap-add', 'qtap3', 'vmnet3', 'web']);
    assert.is(made.exitCode, 0, made.stderr);
    assert.ok((await ns.links()).includes('qtap3'));
    const released = await helper(ns, ALICE, ['batch', 'tap-del', 'qtap3', 'web', '+', 'bridge-del', 'vmnet3', 'web']);
    assert.is(released.exitCode, 0, released.stderr);
    assert.equal(await ns.state(), before, 'one request made both, one took both');
  }));

test('helper: a SIGTERM in the middle of a request (after each of its host steps) waits until it is made whole', () =>
  withNetns(async (ns) => {
    // Root's own helper run (no sudo: the fault hook reaches it), the request made of a bridge and a TAP.
    const request = ['batch', 'bridge-add', 'vmnet7', 'k', '+', 'tap-add', 'qtap7', 'vmnet7', 'k'];
    for (let step = 1; step <= 4; step++) {
      const env = { QEMU_SCRIPT_FAULT_AFTER: String(step), QEMU_SCRIPT_FAULT_SIGNAL: 'SIGTERM' };
      const result = await execa('ip', ['netns', 'exec', ns.name, HELPER, ...request], { env, reject: false });
      assert.is(result.exitCode, 0, `step ${step}: ${result.stderr}`);
      const records = registry();
      assert.equal(
        records.map((record) => [record.kind, record.name, (record as { state?: string }).state]),
        [
          ['bridge', 'vmnet7', 'done'],
          ['tap', 'qtap7', 'done'],
        ],
        `step ${step}`,
      );
      assert.not.ok(existsSync('/run/qemu-script/lock'), `the lock is free (step ${step})`);
      assert.ok((await ns.links()).includes('qtap7'), `step ${step}`);
      const release = ['batch', 'tap-del', 'qtap7', 'k', '+', 'bridge-del', 'vmnet7', 'k'];
      const released = await execa('ip', ['netns', 'exec', ns.name, HELPER, ...release], { reject: false });
      assert.is(released.exitCode, 0, released.stderr);
    }
  }));

test("helper: a member's TAP goes only on a bridge their guest holds, owned by them", () =>
  withLan(async (ns) => {
    assert.is((await helper(ns, ALICE, ['bridge-add', 'vmnet3', 'web'])).exitCode, 0);
    const foreign = await helper(ns, ALICE, ['tap-add', 'qtap3', 'vmnet3', 'db']);
    assert.is(foreign.exitCode, 2, 'another guest of the same user does not hold vmnet3');
    const tap = await helper(ns, ALICE, ['tap-add', 'qtap3', 'vmnet3', 'web']);
    assert.is(tap.exitCode, 0, tap.stderr);
    assert.is((await ns.exec(['cat', '/sys/class/net/qtap3/owner'])).stdout, String(ALICE));
    assert.match((await ns.ip('-o', 'link', 'show', 'master', 'vmnet3')).stdout, /qtap3/);
    assert.is((await helper(ns, BOB, ['tap-del', 'qtap3', 'web'])).exitCode, 2, 'nor can another user remove it');
    assert.is((await helper(ns, ALICE, ['tap-del', 'qtap3', 'web'])).exitCode, 0);
    assert.is((await helper(ns, ALICE, ['bridge-del', 'vmnet3', 'web'])).exitCode, 0);
    assert.equal(
      (await ns.links()).filter((link) => /^(vmnet|qtap)/.test(link)),
      [],
    );
  }));

test('helper: releasing a server, a rule set or a setting the tool never made does nothing', () =>
  withHostileSetup(async (ns) => {
    const before = await ns.links();
    for (const kind of ['dhcp', 'firewall', 'forward']) {
      const result = await helper(ns, ALICE, [`${kind}-del`, kind === 'forward' ? 'ipv4' : 'hostonly', 'g']);
      assert.is(result.exitCode, 0, result.stderr);
      assert.is(result.stdout, 'unknown');
    }
    assert.equal(await ns.links(), before);
  }));

// The sudo entry point is the helper alone, whatever the argument vector: sudo matches arguments as
// one joined string, so none of these may make root do anything but one helper request (issue 18.1).
const CRAFTED: Array<{ name: string; argv: (marker: string) => string[]; refusedBy: 'sudo' | 'helper' }> = [
  {
    name: 'the tool with a disk named like the old entry, and a QEMU script= that runs anything',
    argv: (marker) => [
      'sudo',
      '-n',
      BINARY,
      'net-helper x',
      '--display',
      'none',
      '--net',
      'none',
      '--',
      '-netdev',
      `tap,id=p,ifname=t0,script=/bin/touch ${marker}`,
    ],
    refusedBy: 'sudo',
  },
  {
    name: 'the tool asked for its version',
    argv: () => ['sudo', '-n', BINARY, 'net-helper foo', '--version'],
    refusedBy: 'sudo',
  },
  { name: "the tool's setup", argv: () => ['sudo', '-n', BINARY, 'setup', '--user', 'qseve'], refusedBy: 'sudo' },
  { name: 'a shell', argv: (marker) => ['sudo', '-n', '/bin/sh', '-c', `touch ${marker}`], refusedBy: 'sudo' },
  {
    name: 'the helper with joined words',
    argv: () => ['sudo', '-n', HELPER, 'net-helper foo', '--version'],
    refusedBy: 'helper',
  },
  {
    name: 'the helper with a request in one word',
    argv: () => ['sudo', '-n', HELPER, 'bridge-add vmnet1 g'],
    refusedBy: 'helper',
  },
  {
    name: 'the helper with a leading space',
    argv: () => ['sudo', '-n', HELPER, ' bridge-add', 'vmnet1', 'g'],
    refusedBy: 'helper',
  },
  {
    name: 'the helper after --',
    argv: () => ['sudo', '-n', HELPER, '--', 'bridge-add', 'vmnet1', 'g'],
    refusedBy: 'helper',
  },
  {
    name: 'the helper with options first',
    argv: () => ['sudo', '-n', HELPER, '--display', 'none', 'bridge-add', 'vmnet1', 'g'],
    refusedBy: 'helper',
  },
  { name: 'the helper asked for its version', argv: () => ['sudo', '-n', HELPER, '--version'], refusedBy: 'helper' },
  { name: 'the helper asked for help', argv: () => ['sudo', '-n', HELPER, '--help'], refusedBy: 'helper' },
  {
    name: 'the helper as a launch',
    argv: () => ['sudo', '-n', HELPER, '--net', 'vmnet1', '--display', 'none'],
    refusedBy: 'helper',
  },
  { name: 'the helper as setup', argv: () => ['sudo', '-n', HELPER, 'setup', '--user', 'qseve'], refusedBy: 'helper' },
  {
    name: 'the helper as a cleanup',
    argv: () => ['sudo', '-n', HELPER, '__cleanup', '/etc', 'passwd'],
    refusedBy: 'helper',
  },
  {
    name: 'the helper with a very long word',
    argv: () => ['sudo', '-n', HELPER, 'bridge-add', 'v'.repeat(100000), 'g'],
    refusedBy: 'helper',
  },
  {
    name: 'the helper with many words',
    argv: () => ['sudo', '-n', HELPER, 'bridge-add', 'vmnet1', 'g', ...Array(2000).fill('x')],
    refusedBy: 'helper',
  },
  {
    name: 'the helper with unicode',
    argv: () => ['sudo', '-n', HELPER, 'bridge-add', 'vmnét1', 'ǵuest'],
    refusedBy: 'helper',
  },
  {
    name: 'the helper with a look-alike request',
    argv: () => ['sudo', '-n', HELPER, 'bridge‐add', 'vmnet1', 'g'],
    refusedBy: 'helper',
  },
];

for (const row of CRAFTED) {
  test(`sudo entry: ${row.name} is refused (${row.refusedBy}) and nothing happens as root`, () =>
    withLan(async (ns) => {
      const marker = `/tmp/qs-crafted-${process.pid}`;
      const before = await ns.state();
      const result = await asUser(ns, ALICE, row.argv(marker));
      if (row.refusedBy === 'sudo') {
        assert.is(result.exitCode, 1, result.stderr);
        assert.match(result.stderr, /^sudo: a password is required$/m);
      } else {
        assert.is(result.exitCode, 2, result.stderr);
        assert.match(result.stderr, /^qemu-script-helper: refused: /);
        assert.is(result.stderr.trim().split('\n').length, 1, 'one line');
      }
      assert.not.ok(existsSync(marker), 'nothing ran');
      assert.equal(await ns.state(), before, 'nothing changed');
      assert.equal(registry(), [], 'nothing recorded');
    }));
}

test('helper: a local user outside the group gets nothing through sudo', () =>
  withLan(async (ns) => {
    const result = await helper(ns, EVE, ['bridge-add', 'vmnet1', 'g']);
    assert.is(result.exitCode, 1);
    assert.match(result.stderr, /^sudo: a password is required$/m);
    assert.not.ok((await ns.links()).includes('vmnet1'));
  }));

test('helper: a macvtap goes on a link root allowed (setup --allow-macvtap), and only there', () =>
  withLan(async (ns) => {
    writeFileSync('/etc/qemu-script/macvtap.conf', 'allow eth0\n');
    try {
      const made = await helper(ns, ALICE, ['macvtap-add', 'macvtap4', 'eth0', 'de:ad:be:ef:00:04', 'web']);
      assert.is(made.exitCode, 0, made.stderr);
      assert.match((await ns.ip('-d', 'link', 'show', 'macvtap4')).stdout, /macvtap/);
      const lan = await helper(ns, ALICE, ['macvtap-add', 'macvtap5', 'lan0', 'de:ad:be:ef:00:05', 'web']);
      assert.is(lan.exitCode, 2);
      assert.match(lan.stderr, /lan0 is no physical NIC and root did not allow it/);
      assert.is((await helper(ns, ALICE, ['macvtap-del', 'macvtap4', 'web'])).exitCode, 0);
      assert.not.ok((await ns.links()).includes('macvtap4'));
    } finally {
      writeFileSync('/etc/qemu-script/macvtap.conf', '');
    }
  }));

test("helper: DHCP registrations are a user's own (no taking another's MAC) and limited per user", () =>
  withLan(async (ns) => {
    writeFileSync('/etc/qemu-script/limits.json', '{"registrations": 3}');
    try {
      for (const [uid, guest] of [
        [ALICE, 'a1'],
        [BOB, 'b1'],
      ] as const) {
        assert.is((await helper(ns, uid, ['bridge-add', 'hostonly', guest])).exitCode, 0);
      }
      const first = await helper(ns, BOB, ['dhcp-add', 'hostonly', 'de:ad:be:ef:00:b1', 'b1']);
      assert.is(first.exitCode, 0, first.stderr);
      const stolen = await helper(ns, ALICE, ['dhcp-add', 'hostonly', 'de:ad:be:ef:00:b1', 'a1']);
      assert.is(stolen.exitCode, 2);
      assert.match(stolen.stderr, /de:ad:be:ef:00:b1 is registered on hostonly by another user's guest/);
      // A name is one guest's on the network's DNS: bob's b1 is not alice's to take there.
      assert.is((await helper(ns, ALICE, ['bridge-add', 'hostonly', 'b1'])).exitCode, 0);
      const named = await helper(ns, ALICE, ['dhcp-add', 'hostonly', 'de:ad:be:ef:00:a9', 'b1']);
      assert.is(named.exitCode, 2);
      assert.match(named.stderr, /the name b1 is taken on hostonly by another user's guest/);
      assert.is((await helper(ns, ALICE, ['bridge-del', 'hostonly', 'b1'])).exitCode, 0);
      // Names that would answer for something else, or for this host.
      for (const [name, why] of [
        ['wpad', 'is reserved'],
        ['localhost', 'is reserved'],
        ['ISATAP', 'is reserved'],
        [hostname().split('.')[0], "is this host's own name"],
      ]) {
        const reserved = await helper(ns, ALICE, ['dhcp-add', 'hostonly', 'de:ad:be:ef:00:a8', name]);
        assert.is(reserved.exitCode, 2, name);
        assert.match(reserved.stderr, `refused: the guest name ${name} ${why}`);
      }
      // The network's server files, per namespace: the only one here.
      const [key] = readdirSync('/run/qemu-script/net');
      const names = () => readFileSync(`/run/qemu-script/net/${key}/hostonly/names`, 'utf8');
      assert.match(names(), /\sb1$/m, "bob's name stays");
      for (const mac of ['de:ad:be:ef:00:a1', 'de:ad:be:ef:00:a2', 'de:ad:be:ef:00:a3']) {
        assert.is((await helper(ns, ALICE, ['dhcp-add', 'hostonly', mac, 'a1'])).exitCode, 0, mac);
      }
      const again = await helper(ns, ALICE, ['dhcp-add', 'hostonly', 'de:ad:be:ef:00:a3', 'a1']);
      assert.is(again.exitCode, 0, 'registering the same MAC again is no new registration');
      const fourth = await helper(ns, ALICE, ['dhcp-add', 'hostonly', 'de:ad:be:ef:00:a4', 'a1']);
      assert.is(fourth.exitCode, 2);
      assert.match(fourth.stderr, /you hold 3 registrations already/);
      assert.not.match(names(), /a4/);
      for (const [uid, guest] of [
        [ALICE, 'a1'],
        [BOB, 'b1'],
      ] as const) {
        await helper(ns, uid, ['dhcp-del', 'hostonly', guest]);
        await helper(ns, uid, ['bridge-del', 'hostonly', guest]);
      }
      assert.not.ok((await ns.links()).includes('hostonly'));
    } finally {
      writeFileSync('/etc/qemu-script/limits.json', '{}');
    }
  }));

test("helper: a member's holds pass to a child of the requester or to what holds the guest, nothing else", () =>
  withNetns(async (ns) => {
    assert.is((await helper(ns, ALICE, ['bridge-add', 'vmnet8', 'g'])).exitCode, 0);
    // The member's shell made the request: it holds the bridge.
    const shell = Number((await execa('pgrep', ['-u', String(ALICE), '-x', 'sh'])).stdout.trim());
    const other = execa('ip', ['netns', 'exec', ns.name, 'runuser', '-u', USERS[ALICE], '--', 'sleep', '60'], {
      reject: false,
    });
    const sleeping = () => execa('pgrep', ['-u', String(ALICE), '-x', 'sleep'], { reject: false });
    let sleeper = 0;
    try {
      await waitFor(async () => (sleeper = Number((await sleeping()).stdout.trim())) > 0, 5000, 'sleep to start');
      const refusals: Array<[string, RegExp]> = [
        ['1', /process 1 is not yours/],
        [String(sleeper), new RegExp(`process ${sleeper} is not a child of yours, nor what holds your guest g`)],
      ];
      for (const [pid, message] of refusals) {
        const refused = await helper(ns, ALICE, ['hold', 'g', pid]);
        assert.is(refused.exitCode, 2, pid);
        assert.match(refused.stderr, message);
      }
      assert.equal(
        registry().flatMap((record) => record.users.map((user) => user.holder.pid)),
        [shell],
        'the holds stay where they were',
      );
      // What holds the guest already may be named: nothing moves elsewhere.
      const same = await helper(ns, ALICE, ['hold', 'g', String(shell)]);
      assert.equal([same.exitCode, same.stdout], [0, '1']);
    } finally {
      // The member's process this test started, by its PID; runuser then ends with it.
      if (sleeper > 0) process.kill(sleeper, 'SIGKILL');
      else if (other.pid) process.kill(other.pid, 'SIGKILL');
      await other;
    }
    assert.is((await helper(ns, ALICE, ['bridge-del', 'vmnet8', 'g'])).exitCode, 0);
  }));

test("helper: a member's forward into hostonly goes to the address root registered, and to nothing else", () =>
  withLan(async (ns) => {
    const before = await ns.state();
    const nft = () => ns.output(['nft', 'list', 'ruleset']);
    const nftBefore = await nft();
    const mac = 'de:ad:be:ef:00:a1';
    const request = (uid: number, words: string[]) => helper(ns, uid, words);
    assert.is((await request(ALICE, ['bridge-add', 'hostonly', 'a1'])).exitCode, 0);
    const refusals: Array<[number, string[], RegExp]> = [
      [ALICE, ['forward-add', 'hostonly', 'a1', 'publish'], /your guest a1 forwards no host port into hostonly/],
      [ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8080', '80'], /de:ad:be:ef:00:a1 of a1 is not registered/],
      [BOB, ['publish-add', 'hostonly', 'b1', mac, 'tcp', '8080', '80'], /hostonly is not a bridge of qemu-script/],
      [ALICE, ['publish-add', 'hostonly', 'a1', mac, 'sctp', '8080', '80'], /"sctp" is not a valid protocol/],
      [ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '70000', '80'], /70000 is not a valid host port/],
      [ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8080', '80', '10.0.0.1', 'x'], /publish-add takes/],
      [ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8080', '80', 'a;b'], /"a;b" is not a valid IPv4 address/],
    ];
    for (const [uid, words, message] of refusals) {
      const refused = await request(uid, words);
      assert.is(refused.exitCode, 2, words.join(' '));
      assert.match(refused.stderr, message);
    }
    assert.is((await request(ALICE, ['dhcp-add', 'hostonly', mac, 'a1'])).exitCode, 0);
    const privileged = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '80', '80']);
    assert.is(privileged.exitCode, 2);
    assert.match(privileged.stderr, /host port 80 is outside the ports members may forward \(1024-32767, /);
    // A member's forward takes no address of the host's but the network's own, and one root grants.
    const lan = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8080', '80', '198.51.100.7']);
    assert.is(lan.exitCode, 2);
    assert.match(
      lan.stderr,
      "refused: a member's forward listens on 192.168.56.1 only, not on 198.51.100.7 (root's forward_address in ",
    );
    const high = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '40000', '80']);
    assert.is(high.exitCode, 2);
    assert.match(high.stderr, 'refused: host port 40000 is outside the ports members may forward (1024-32767, ');
    // Granted (limits.json): an address the host does not have, or loopback's, is still refused when made.
    for (const address of ['203.0.113.9', '127.0.0.1']) {
      writeFileSync('/etc/qemu-script/limits.json', JSON.stringify({ forward_address: address }));
      const elsewhere = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8080', '80', address]);
      assert.is(elsewhere.exitCode, 2, address);
      assert.match(elsewhere.stderr, `${address} is not an address of this host (it has: `);
    }
    writeFileSync('/etc/qemu-script/limits.json', '{"forward_address": "198.51.100.7", "forwards": 2}');
    const added = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8080', '80', '198.51.100.7']);
    assert.is(added.exitCode, 0, added.stderr);
    const [, ip] = /forwarded to (192\.168\.56\.\d+):80/.exec(added.stdout) ?? [];
    assert.ok(ip, added.stdout);
    assert.match(await nft(), `ip daddr 198.51.100.7 tcp dport 8080 dnat to ${ip}:80`);
    // Without an address: the network's own, never every address of the host.
    const own = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8081', '81']);
    assert.is(own.exitCode, 0, own.stderr);
    assert.match(await nft(), `ip daddr 192.168.56.1 tcp dport 8081 dnat to ${ip}:81`);
    assert.not.match(await nft(), 'fib daddr type local');
    const third = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8082', '82']);
    assert.is(third.exitCode, 2);
    assert.match(third.stderr, 'you hold 2 forwards already, the most a user may');
    writeFileSync('/etc/qemu-script/limits.json', '{}');
    assert.is((await request(ALICE, ['publish-del', 'tcp-8081', 'a1'])).exitCode, 0);
    const twice = await request(ALICE, ['publish-add', 'hostonly', 'a1', mac, 'tcp', '8080', '81']);
    assert.is(twice.exitCode, 2);
    assert.match(twice.stderr, /host port 8080 \(tcp\) is forwarded to a1 already/);
    assert.is((await request(ALICE, ['forward-add', 'hostonly', 'a1', 'publish'])).exitCode, 0);
    assert.is(await ns.output(['cat', '/proc/sys/net/ipv4/ip_forward']), '1');
    // The registration goes (the guest's end, or dhcp-del alone): its forward goes with it, and the next guest to
    // get that address gets no one's port.
    assert.is((await request(ALICE, ['dhcp-del', 'hostonly', 'a1'])).exitCode, 0);
    assert.not.match(await nft(), 'dnat to');
    assert.not.ok(
      registry().some((record) => record.kind === 'publish'),
      'the forward left the registry with its registration',
    );
    for (const words of [
      ['publish-del', 'tcp-8080', 'a1'],
      ['forward-del', 'ipv4', 'a1'],
      ['bridge-del', 'hostonly', 'a1'],
    ]) {
      const released = await request(ALICE, words);
      assert.is(released.exitCode, 0, `${words.join(' ')}: ${released.stderr}`);
    }
    assert.is(await nft(), nftBefore, 'the forward is gone');
    assert.is(await ns.output(['cat', '/proc/sys/net/ipv4/ip_forward']), '0');
    assert.equal(await ns.state(), before);
  }));

test("helper: a member's fixed address on hostonly: one of the network's, and no other guest's", () =>
  withLan(async (ns) => {
    const before = await ns.state();
    const ok = async (words: string[]) => {
      const result = await helper(ns, ALICE, words);
      assert.is(result.exitCode, 0, `${words.join(' ')}: ${result.stderr}`);
    };
    const [macA, macB] = ['de:ad:be:ef:00:b1', 'de:ad:be:ef:00:b2'];
    await ok(['bridge-add', 'hostonly', 'f1']);
    await ok(['bridge-add', 'hostonly', 'f2']);
    await ok(['dhcp-add', 'hostonly', macA, 'f1', '192.168.56.10']);
    const dhcp = registry().find((record) => record.kind === 'dhcp');
    assert.equal(
      dhcp?.users.map((user) => [user.guest, user.ip]),
      [['f1', '192.168.56.10']],
    );
    for (const [words, message] of [
      [[macB, 'f2', '192.168.56.10'], 'refused: 192.168.56.10 on hostonly is taken by f1; give f2 another'],
      [[macB, 'f2', '192.168.57.3'], "refused: 192.168.57.3 is not in hostonly's subnet 192.168.56.0/24"],
      [[macB, 'f2', '192.168.56.1'], "refused: 192.168.56.1 is the host's address on hostonly"],
      [[macB, 'f2', '192.168.56.9', 'x'], 'refused: dhcp-add takes NETWORK MAC GUEST [ADDRESS]'],
    ] as const) {
      const refused = await helper(ns, ALICE, ['dhcp-add', 'hostonly', ...words]);
      assert.equal([refused.exitCode, refused.stderr.trim()], [2, `qemu-script-helper: ${message}`]);
    }
    for (const words of [
      ['dhcp-del', 'hostonly', 'f1'],
      ['bridge-del', 'hostonly', 'f1'],
      ['bridge-del', 'hostonly', 'f2'],
    ])
      await ok(words);
    assert.equal(await ns.state(), before);
  }));

test('helper: forwarding for a forwarded port alone routes nothing else; a NAT network opens it while it is up', () =>
  withLan(async (ns) => {
    const before = await ns.state();
    const nftBefore = await ns.output(['nft', 'list', 'ruleset']);
    const tables = async () =>
      (await ns.output(['nft', 'list', 'tables'])).split('\n').filter((line) => line.includes('qemu_script__forward'));
    const forwarding = () => ns.output(['cat', '/proc/sys/net/ipv4/ip_forward']);
    const GUARDED = ['table bridge qemu_script__forward', 'table ip qemu_script__forward'];
    const mac = 'de:ad:be:ef:00:a2';
    const ok = async (words: string[]) => {
      const result = await helper(ns, ALICE, words);
      assert.is(result.exitCode, 0, `${words.join(' ')}: ${result.stderr}`);
    };
    await ok(['bridge-add', 'hostonly', 'a2']);
    await ok(['dhcp-add', 'hostonly', mac, 'a2']);
    await ok(['publish-add', 'hostonly', 'a2', mac, 'tcp', '8090', '80']);
    await ok(['forward-add', 'hostonly', 'a2', 'publish']);
    assert.is(await forwarding(), '1');
    assert.equal(await tables(), GUARDED, 'on for the forwarded port, with the guard');
    const ruleset = await ns.output(['nft', 'list', 'table', 'ip', 'qemu_script__forward']);
    assert.match(ruleset, /ct status dnat accept\n\t\tdrop\n/, 'the forwarded flows pass, nothing else routed does');
    // A NAT network's guest: the host routes for it, so the guard goes while it is up, and comes back after.
    await ok(['bridge-add', 'natnet', 'n2']);
    await ok(['forward-add', 'natnet', 'n2']);
    assert.equal([await forwarding(), await tables()], ['1', []], 'a NAT network routes');
    await ok(['forward-del', 'ipv4', 'n2']);
    assert.equal([await forwarding(), await tables()], ['1', GUARDED], 'the forwarded port alone again');
    await ok(['bridge-del', 'natnet', 'n2']);
    for (const words of [
      ['dhcp-del', 'hostonly', 'a2'],
      ['forward-del', 'ipv4', 'a2'],
      ['bridge-del', 'hostonly', 'a2'],
    ])
      await ok(words);
    assert.equal([await forwarding(), await tables()], ['0', []], 'off with the last, and the guard gone after it');
    assert.is(await ns.output(['nft', 'list', 'ruleset']), nftBefore);
    assert.equal(await ns.state(), before);
  }));

test("helper: a link of the same name that is not the record's (re-made by hand) is never removed", () =>
  withLan(async (ns) => {
    assert.is((await helper(ns, ALICE, ['bridge-add', 'vmnet9', 'web'])).exitCode, 0);
    assert.match((await ns.output(['cat', '/sys/class/net/vmnet9/ifalias'])).trim(), /^qemu-script:\S+$/);
    // The administrator removes it and makes a bridge of the same name.
    await ns.ip('link', 'del', 'vmnet9');
    await ns.ip('link', 'add', 'vmnet9', 'type', 'bridge');
    const release = await helper(ns, ALICE, ['bridge-del', 'vmnet9', 'web']);
    assert.is(release.exitCode, 0, release.stderr);
    assert.ok((await ns.links()).includes('vmnet9'), "the administrator's bridge stays");
    // The same through gc: a record whose guest is gone (its holder was a shell that has exited), its link replaced.
    const once = await asUser(ns, ALICE, [
      'sh',
      '-c',
      'sudo -n "$@"; exit $?',
      'sh',
      HELPER,
      'bridge-add',
      'vmnet7',
      'db',
    ]);
    assert.is(once.exitCode, 0, once.stderr);
    await ns.ip('link', 'del', 'vmnet7');
    await ns.ip('link', 'add', 'vmnet7', 'type', 'bridge');
    assert.is((await helper(ns, BOB, ['gc'])).exitCode, 0);
    assert.ok((await ns.links()).includes('vmnet7'), "gc leaves the link that is not the record's");
    assert.equal(registry(), [], 'the stale records are gone');
  }));

test("helper: the holder is the member's process, also from a terminal (sudo use_pty); a dead one is collected", () =>
  withLan(async (ns) => {
    // From a terminal: script(1) gives the request a pty, so sudo runs the helper under a monitor of its own.
    const pty = asUser(ns, ALICE, [
      'script',
      '-qec',
      `sudo -n ${HELPER} bridge-add vmnet6 web && sleep 30`,
      '/dev/null',
    ]);
    await waitFor(() => registry().some((record) => record.name === 'vmnet6'), 20000, 'the request');
    const holder = registry().find((record) => record.name === 'vmnet6')!.users[0].holder.pid;
    assert.is(readFileSync(`/proc/${holder}/comm`, 'utf8').trim(), 'sh', "the member's shell, not sudo");
    assert.match(readFileSync(`/proc/${holder}/status`, 'utf8'), new RegExp(`^Uid:\\s+${ALICE}\\s`, 'm'));
    pty.kill('SIGKILL');
    process.kill(holder, 'SIGKILL');
    await pty;
    await waitFor(
      async () => (await helper(ns, BOB, ['gc'])).exitCode === 0 && !(await ns.links()).includes('vmnet6'),
      30000,
      "gc to collect the dead holder's bridge",
    );
    // From a shell that exited at once: sudo is init's child, no holder, refused.
    const orphan = await asUser(ns, ALICE, [
      'sh',
      '-c',
      `(sleep 0.5; exec sudo -n ${HELPER} bridge-add vmnet5 web > /tmp/qs-orphan 2>&1) & exit 0`,
    ]);
    assert.is(orphan.exitCode, 0);
    await waitFor(
      () => existsSync('/tmp/qs-orphan') && readFileSync('/tmp/qs-orphan', 'utf8') !== '',
      10000,
      'the orphan',
    );
    assert.match(readFileSync('/tmp/qs-orphan', 'utf8'), /refused: cannot identify the requesting process/);
    assert.not.ok((await ns.links()).includes('vmnet5'));
    assert.equal(registry(), []);
  }));

test('helper refuses to run without root', async () => {
  const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', HELPER, 'gc'], {
    reject: false,
  });
  assert.is(result.exitCode, 2);
  assert.match(result.stderr, /^qemu-script-helper: must run as root: sudo -n qemu-script-helper/);
});

test.run();
