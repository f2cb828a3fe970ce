import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostError, UsageError } from '../lib/errors.ts';
import type { HostFacts } from '../lib/types.ts';
import { plan, valuesOf } from './helpers.ts';

const HELPER = '/usr/lib/qemu/qemu-bridge-helper';
const bridgeHost: Partial<HostFacts> = {
  defaultRouteInterface: 'br0',
  interfaces: { eth0: { kind: 'physical' }, br0: { kind: 'bridge' } },
};

interface Row {
  name: string;
  argv: string[];
  facts?: Partial<HostFacts>;
  netdevs: string[];
  host?: string[];
  cleanup?: string[];
  fds?: Array<{ fd: number; path: string }>;
  message?: RegExp;
  warning?: RegExp;
}

// One row per network case of SPEC §2.1 and §4: words + host → netdevs, host commands, cleanup.
const ROWS: Row[] = [
  { name: 'default is one user NIC with SSH forward', argv: [], netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22'], host: [], cleanup: [], message: /^SSH on localhost:10022$/ },
  { name: 'u skips a used port', argv: ['--net', 'u'], facts: { usedTcpPorts: [10022, 10023] }, netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10024-:22'], message: /localhost:10024/ },
  { name: 'user with --fwd', argv: ['--net', 'user', '--fwd', '8080-80', '--fwd', 'udp:5353-53'], netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:5353-:53'] },
  { name: 'p on a host bridge uses it through the helper', argv: ['--net', 'p'], facts: bridgeHost, netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`], host: [], cleanup: [] },
  { name: 'bridge (named) equals p', argv: ['--net', 'bridge'], facts: bridgeHost, netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`], host: [], cleanup: [] },
  {
    name: 'p on a physical NIC is a macvtap passed as fd 3',
    argv: ['--net', 'p', '--mac', 'de:ad:be:ef:00:01'],
    netdevs: ['tap,id=nic0,fd=3'],
    host: [
      'ip link add link eth0 name macvtap0 address de:ad:be:ef:00:01 type macvtap mode bridge',
      'ip link set macvtap0 allmulticast on up',
      'mknod -m 0600 /run/qemu-script/guest/macvtap0.tap c MAJOR MINOR',
    ],
    cleanup: ['ip link del macvtap0', 'rm -f /run/qemu-script/guest/macvtap0.tap'],
    fds: [{ fd: 3, path: '/run/qemu-script/guest/macvtap0.tap' }],
    warning: /not this host/,
  },
  {
    name: 'p on a macvlan goes over its parent',
    argv: ['--net', 'p'],
    facts: { defaultRouteInterface: 'ethost', interfaces: { eth0: { kind: 'physical' }, ethost: { kind: 'macvlan', parent: 'eth0' } } },
    netdevs: ['tap,id=nic0,fd=3'],
  },
  {
    name: 'p on a veth (a cable to another namespace) is a macvtap over it',
    argv: ['--net', 'p'],
    facts: { defaultRouteInterface: 'vparent', interfaces: { vparent: { kind: 'veth' } } },
    netdevs: ['tap,id=nic0,fd=3'],
    warning: /not this host/,
  },
  {
    name: 'a taken macvtap name moves to the next',
    argv: ['--net', 'p,p'],
    facts: { interfaces: { eth0: { kind: 'physical' }, macvtap0: { kind: 'macvtap', parent: 'eth0' } }, reservedInterfaces: ['macvtap1'] },
    netdevs: ['tap,id=nic0,fd=3', 'tap,id=nic1,fd=4'],
    cleanup: ['ip link del macvtap3', 'rm -f /run/qemu-script/guest/macvtap3.tap', 'ip link del macvtap2', 'rm -f /run/qemu-script/guest/macvtap2.tap'],
  },
  { name: '0 is multicast group 230.0.0.1 on loopback', argv: ['--net', '0'], netdevs: ['socket,id=nic0,mcast=230.0.0.1:12345,localaddr=127.0.0.1'], host: [], cleanup: [] },
  { name: 'f is group 230.0.0.16', argv: ['--net', 'f'], netdevs: ['socket,id=nic0,mcast=230.0.0.16:12345,localaddr=127.0.0.1'] },
  { name: 'mcast:7 named', argv: ['--net', 'mcast:7'], netdevs: ['socket,id=nic0,mcast=230.0.0.8:12345,localaddr=127.0.0.1'] },
  { name: 'mcast:7:lan spans the LAN', argv: ['--net', 'mcast:7:lan'], netdevs: ['socket,id=nic0,mcast=230.0.0.8:12345'] },
  {
    name: 'tap:0 creates bridge vmnet0',
    argv: ['--net', 'tap:0'],
    netdevs: [`bridge,id=nic0,br=vmnet0,helper=${HELPER}`],
    host: ['ip link add name vmnet0 type bridge', 'ip link set vmnet0 up'],
    cleanup: ['ip link del vmnet0'],
  },
  { name: 'tap:a is bridge vmnet10 (decimal)', argv: ['--net', 'tap:a'], netdevs: [`bridge,id=nic0,br=vmnet10,helper=${HELPER}`], host: ['ip link add name vmnet10 type bridge', 'ip link set vmnet10 up'] },
  {
    name: 'tap:p0a keeps written order',
    argv: ['--net', 'tap:p0a', '--mac', 'de:ad:be:ef:00:01'],
    facts: bridgeHost,
    netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`, `bridge,id=nic1,br=vmnet0,helper=${HELPER}`, `bridge,id=nic2,br=vmnet10,helper=${HELPER}`],
    cleanup: ['ip link del vmnet10', 'ip link del vmnet0'],
  },
  { name: 'none has no NIC', argv: ['--net', 'none'], netdevs: [], host: [], cleanup: [] },
  {
    name: 'vmnet0 created by another guest of the tool is shared',
    argv: ['--net', 'vmnet0'],
    facts: { interfaces: { eth0: { kind: 'physical' }, vmnet0: { kind: 'bridge' } }, toolBridges: ['vmnet0'] },
    netdevs: [`bridge,id=nic0,br=vmnet0,helper=${HELPER}`],
    host: [],
    cleanup: ['ip link del vmnet0'],
    message: /shared/,
  },
  {
    name: 'an existing bridge the tool did not create is used, never removed',
    argv: ['--net', 'br0'],
    facts: bridgeHost,
    netdevs: [`bridge,id=nic0,br=br0,helper=${HELPER}`],
    host: [],
    cleanup: [],
    message: /left alone/,
  },
  { name: 'any bridge name is created', argv: ['--net', 'lab'], netdevs: [`bridge,id=nic0,br=lab,helper=${HELPER}`], host: ['ip link add name lab type bridge', 'ip link set lab up'], cleanup: ['ip link del lab'] },
  { name: 'br:cafe forces a hex-looking bridge name', argv: ['--net', 'br:cafe'], netdevs: [`bridge,id=nic0,br=cafe,helper=${HELPER}`] },
  { name: 'two NICs on one new bridge create it once', argv: ['--net', 'vmnet0,vmnet0'], netdevs: [`bridge,id=nic0,br=vmnet0,helper=${HELPER}`, `bridge,id=nic1,br=vmnet0,helper=${HELPER}`], host: ['ip link add name vmnet0 type bridge', 'ip link set vmnet0 up'], cleanup: ['ip link del vmnet0'] },
  {
    name: '--host-ip addresses the created bridge',
    argv: ['--net', 'vmnet0', '--host-ip', '192.168.255.5/24'],
    netdevs: [`bridge,id=nic0,br=vmnet0,helper=${HELPER}`],
    host: ['ip link add name vmnet0 type bridge', 'ip addr add 192.168.255.5/24 dev vmnet0', 'ip link set vmnet0 up'],
  },
  { name: 'macvtap:eth0 explicit', argv: ['--net', 'macvtap:eth0'], netdevs: ['tap,id=nic0,fd=3'], fds: [{ fd: 3, path: '/run/qemu-script/guest/macvtap0.tap' }] },
  {
    name: 'vhost-net when usable: bridge helper through -netdev tap',
    argv: ['--net', 'vmnet0'],
    facts: { vhostNetUsable: true },
    netdevs: [`tap,id=nic0,br=vmnet0,helper=${HELPER},vhost=on,vhostfd=3`],
    fds: [{ fd: 3, path: '/dev/vhost-net' }],
  },
  {
    name: 'vhost-net on a macvtap takes the next fd',
    argv: ['--net', 'macvtap:eth0'],
    facts: { vhostNetUsable: true },
    netdevs: ['tap,id=nic0,fd=3,vhost=on,vhostfd=4'],
    fds: [{ fd: 3, path: '/run/qemu-script/guest/macvtap0.tap' }, { fd: 4, path: '/dev/vhost-net' }],
  },
  { name: 'no vhost-net: warned, not asked for', argv: ['--net', 'vmnet0'], netdevs: [`bridge,id=nic0,br=vmnet0,helper=${HELPER}`], fds: [], warning: /vhost-net is not available/ },
  {
    name: 'mixed compact and named forms keep written order',
    argv: ['--net', 'user,vmnet3', '--net', 'mcast:2', '--net', 'u0'],
    netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22', `bridge,id=nic1,br=vmnet3,helper=${HELPER}`, 'socket,id=nic2,mcast=230.0.0.3:12345,localaddr=127.0.0.1', 'socket,id=nic3,mcast=230.0.0.1:12345,localaddr=127.0.0.1'],
    warning: /duplicate user network removed/,
  },
  { name: 'a duplicated u is really removed', argv: ['--net', 'uu'], netdevs: ['user,id=nic0,hostfwd=tcp:127.0.0.1:10022-:22'], warning: /duplicate user network removed/ },
  {
    name: 'a normal user goes through the privileged helper',
    argv: ['--net', 'vmnet0,p', '--mac', 'de:ad:be:ef:00:01,de:ad:be:ef:00:02'],
    facts: { isRoot: false, uid: 1000, runtimeDir: '/run/user/1000/qemu-script' },
    netdevs: [`bridge,id=nic0,br=vmnet0,helper=${HELPER}`, 'tap,id=nic1,fd=3'],
    host: [
      'sudo -n /usr/local/bin/qemu-script net-helper bridge-add vmnet0 guest',
      'sudo -n /usr/local/bin/qemu-script net-helper macvtap-add macvtap0 eth0 de:ad:be:ef:00:02 guest',
    ],
    cleanup: ['sudo -n /usr/local/bin/qemu-script net-helper macvtap-del macvtap0 guest', 'sudo -n /usr/local/bin/qemu-script net-helper bridge-del vmnet0 guest'],
    fds: [{ fd: 3, path: '/run/qemu-script/nodes/guest.macvtap0' }],
  },
];

for (const row of ROWS) {
  test(`net: ${row.name}`, () => {
    const result = plan([...row.argv, '--display', 'none'], row.facts);
    assert.equal(valuesOf(result.qemu.argv, '-netdev'), row.netdevs);
    const devices = valuesOf(result.qemu.argv, '-device').filter((device) => device.startsWith('virtio-net'));
    assert.equal(devices.map((device) => /netdev=(\w+)/.exec(device)?.[1]), row.netdevs.map((_, i) => `nic${i}`));
    if (row.host) assert.equal(result.host.map((command) => command.argv.join(' ')), row.host);
    if (row.cleanup) assert.equal(result.cleanup.map((command) => command.argv.join(' ')), row.cleanup);
    if (row.fds) assert.equal(result.qemu.fds.map(({ fd, path }) => ({ fd, path })), row.fds);
    if (row.message) assert.ok(result.messages.some((message) => row.message!.test(message)), result.messages.join('\n'));
    if (row.warning) assert.ok(result.warnings.some((warning) => row.warning!.test(warning)), result.warnings.join('\n'));
  });
}

test('net: macvtap NIC MAC equals the macvtap address', () => {
  const result = plan(['--net', 'p', '--display', 'none']);
  const device = valuesOf(result.qemu.argv, '-device').find((d) => d.startsWith('virtio-net'))!;
  const action = result.actions[0];
  assert.is(action.op, 'macvtap-add');
  assert.ok(action.op === 'macvtap-add' && device.endsWith(`mac=${action.mac}`));
});

const REFUSALS: Array<{ name: string; argv: string[]; facts?: Partial<HostFacts>; error: typeof UsageError | typeof HostError; message: RegExp }> = [
  { name: 'p with a tun default route', argv: ['--net', 'p'], facts: { defaultRouteInterface: 'tun0', interfaces: { tun0: { kind: 'other', linkKind: 'tun/tap' } } }, error: HostError, message: /tun0 \(tun\/tap\), a virtual interface/ },
  { name: 'p over Wi-Fi', argv: ['--net', 'p'], facts: { defaultRouteInterface: 'wlan0', interfaces: { wlan0: { kind: 'wireless' } } }, error: HostError, message: /Wi-Fi/ },
  { name: 'p without a default route', argv: ['--net', 'p'], facts: { defaultRouteInterface: undefined }, error: HostError, message: /no default route/ },
  { name: 'a bridge name that is another interface', argv: ['--net', 'eth0'], error: UsageError, message: /eth0 exists and is not a bridge/ },
  { name: 'macvtap over a missing interface', argv: ['--net', 'macvtap:eth9'], error: UsageError, message: /no interface eth9/ },
  { name: '--fwd without a user network', argv: ['--net', '0', '--fwd', '8080-80'], error: UsageError, message: /--fwd needs a user network/ },
  { name: '--fwd onto a used port', argv: ['--fwd', '8080-80'], facts: { usedTcpPorts: [8080] }, error: UsageError, message: /8080 is already in use/ },
];

for (const row of REFUSALS) {
  test(`net refused: ${row.name}`, () => {
    assert.throws(() => plan([...row.argv, '--display', 'none'], row.facts), (error: Error) => error instanceof row.error && row.message.test(error.message));
  });
}

test.run();
