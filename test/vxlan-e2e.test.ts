// One network across hosts. Three namespaces stand for three hosts on one LAN
// (a fourth holds the switch), each with its own configuration and runtime
// directory. Hosts A and B define the same VXLAN network (A serves DHCP): B's
// guest gets its lease from A, finds A's guest by name, pings it and reads its
// banner, all at the tunnel's MTU. Host C, on another VNI, sees none of it.
// Afterwards no tunnel, bridge or server is left on any host.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { boot, console_, stop, waitConsole } from './guest-helpers.ts';
import { Netns, assertClean } from './netns.ts';

interface Host {
  ns: Netns;
  address: string;
}

/** Hosts on a switch: each gets a veth u0 with 10.200.0.N/24. */
async function lan(count: number): Promise<{ hosts: Host[]; switch_: Netns }> {
  const switch_ = await Netns.create();
  await switch_.ip('link', 'add', 'sw0', 'type', 'bridge');
  await switch_.ip('link', 'set', 'sw0', 'up');
  const hosts: Host[] = [];
  for (let n = 1; n <= count; n++) {
    const ns = await Netns.create();
    await ns.ip('link', 'add', 'u0', 'type', 'veth', 'peer', 'name', `port${n}`, 'netns', switch_.name);
    await switch_.ip('link', 'set', `port${n}`, 'master', 'sw0', 'up');
    await ns.ip('addr', 'add', `10.200.0.${n}/24`, 'dev', 'u0');
    await ns.ip('link', 'set', 'u0', 'up');
    hosts.push({ ns, address: `10.200.0.${n}` });
  }
  return { hosts, switch_ };
}

const counter = async (ns: Netns, link: string, what: string) =>
  Number((await ns.exec(['cat', `/sys/class/net/${link}/statistics/${what}`])).stdout);

test(
  'a network across hosts: a lease, a name, ping and banner through the tunnel; another VNI sees nothing; nothing left',
  async () => {
  const { hosts, switch_ } = await lan(3);
  const [a, b, c] = hosts;
  try {
    const define = async (host: Host, args: string[]) => {
      const result = await host.ns.tool(['net', 'create', ...args]);
      assert.is(result.exitCode, 0, result.stderr);
      return result.stdout;
    };
    // A floods to C too: C, on another VNI, must drop it.
    assert.match(
      await define(a, [
        'lab',
        '--subnet',
        '10.88.0.0/24',
        '--host-ip',
        '10.88.0.1',
        '--dhcp',
        '--vxlan',
        '42',
        '--remote',
        `${b.address},${c.address}`,
      ]),
      new RegExp(
        '^defined network lab: 10\\.88\\.0\\.0/24, host 10\\.88\\.0\\.1, fdef:b7b6:faa9::/64, host ' +
          'fdef:b7b6:faa9::a58:1, DHCP, names NAME\\.lab, VXLAN 42 to 10\\.200\\.0\\.2 10\\.200\\.0\\.3 \\(UDP',
      ),
    );
    await define(b, [
      'lab',
      '--subnet',
      '10.88.0.0/24',
      '--host-ip',
      '10.88.0.2',
      '--vxlan',
      '42',
      '--remote',
      a.address,
    ]);
    await define(c, [
      'other',
      '--subnet',
      '10.88.0.0/24',
      '--host-ip',
      '10.88.0.3',
      '--vxlan',
      '43',
      '--remote',
      a.address,
    ]);

    const ga = await boot(a.ns, 'ga', ['--net', 'lab'], { if0: 'dhcp', v6: '1', banner: '7000' });
    const gc = await boot(c.ns, 'gc', ['--net', 'other'], {
      if0: '10.88.0.50/24',
      ping: '10.88.0.1',
      tries: '3',
      off: '1',
    });
    const gb = await boot(b.ns, 'gb', ['--net', 'lab'], {
      if0: 'dhcp',
      lookup: 'ga',
      ping: 'ga',
      get: 'ga:7000',
      lookup6: 'ga',
      get6: 'ga:7000',
    });
    const [, ipA] = await waitConsole(ga, /E2E: DHCP eth0 ip=(\S+)/);
    await waitConsole(gb, /E2E: READY/);
    assert.match(
      console_(gb),
      /E2E: DHCP eth0 ip=10\.88\.0\.\d+ dns=10\.88\.0\.1 /,
      "B's guest leased from A's server, across the tunnel",
    );
    assert.match(console_(gb), new RegExp(`E2E: LOOKUP-OK ga ${ipA.replace(/\./g, '\\.')}\\b`));
    assert.match(console_(gb), new RegExp(`E2E: PING-OK ${ipA.replace(/\./g, '\\.')}`));
    assert.match(console_(gb), /E2E: GET-OK ga:7000 E2E-BANNER name=ga/);
    // Both families cross the tunnel: B's guest autoconfigures from A's advertisements, finds ga's AAAA.
    const [, ip6A] = await waitConsole(ga, /E2E: NIC6 eth0 ip6=(fdef:b7b6:faa9:\S+)\/64/);
    assert.match(console_(gb), new RegExp(`E2E: LOOKUP6-OK ga ${ip6A}\\b`));
    assert.match(console_(gb), /E2E: GET6-OK ga:7000 E2E-BANNER name=ga/);
    const hostB6 = (await b.ns.exec(['ip', '-6', '-o', 'addr', 'show', 'dev', 'lab', 'scope', 'global'])).stdout;
    assert.match(hostB6, /inet6 fdef:b7b6:faa9::a58:2\/64/, "host B's own IPv6 address on the network, not A's");
    assert.is((await b.ns.exec(['busybox', 'ping', '-c1', '-W3', ip6A])).exitCode, 0, 'host B reaches ga over IPv6');
    for (const guest of [ga, gb])
      assert.match(
        console_(guest),
        /E2E: NIC eth0 mac=\S+ ip=\S+ mtu=1450/,
        `${guest.name}: the tunnel's MTU (1500 - 50)`,
      );
    for (const [host, link] of [
      [a, 'lab'],
      [b, 'lab'],
      [a, 'vxlan42'],
      [b, 'qtap0'],
    ] as const) {
      assert.is((await host.ns.exec(['cat', `/sys/class/net/${link}/mtu`])).stdout, '1450', `${link}'s MTU`);
    }

    await waitConsole(gc, /E2E: READY/);
    assert.match(console_(gc), /E2E: PING-FAIL 10\.88\.0\.1/, 'another VNI is another network');
    assert.is(await counter(c.ns, 'vxlan43', 'rx_bytes'), 0, 'nothing of VNI 42 reached VNI 43');
    assert.ok((await counter(c.ns, 'u0', 'rx_bytes')) > 0, "though A's floods did reach host C");

    await stop(b.ns, gb);
    await stop(a.ns, ga);
    for (const host of [a, b, c]) await assertClean(host.ns, ['lo', 'u0']);
  } finally {
    for (const host of hosts) await host.ns.destroy();
    await switch_.destroy();
  }
});

test('net create --vxlan: refusals name what is wrong; --dry-run shows the tunnel commands', async () => {
  const { hosts, switch_ } = await lan(1);
  const [host] = hosts;
  try {
    const refused: Array<[string[], RegExp]> = [
      [
        ['--vxlan', '0', '--remote', '10.200.0.9'],
        /^qemu-script: net create --vxlan: "0" is not a VNI \(1-16777215\)$/,
      ],
      [['--vxlan', '16777216', '--remote', '10.200.0.9'], /is not a VNI/],
      [['--vxlan', '7'], /--vxlan needs the other hosts: --remote IP\[,IP\.\.\.\]/],
      [['--vxlan', '7', '--remote', '224.0.0.5'], /--remote: "224\.0\.0\.5" is not a unicast address/],
      [['--vxlan', '7', '--remote', '127.0.0.1'], /--remote: "127\.0\.0\.1" is not a unicast address/],
      [['--vxlan', '7', '--remote', '10.200.0.9', '--dev', 'eth9'], /--dev: no interface eth9 on this host/],
      [['--vxlan', '7', '--remote', '10.200.0.9', '--port', '70000'], /--port: "70000" is not a UDP port/],
      [['--remote', '10.200.0.9'], /^qemu-script: net create: --remote goes with --vxlan VNI$/],
    ];
    for (const [args, message] of refused) {
      const result = await host.ns.tool(['net', 'create', 'tun', '--subnet', '10.89.0.0/24', ...args]);
      assert.is(result.exitCode, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
    const created = await host.ns.tool([
      'net',
      'create',
      'tun',
      '--subnet',
      '10.89.0.0/24',
      '--vxlan',
      '7',
      '--remote',
      '10.200.0.9',
    ]);
    assert.is(created.exitCode, 0, created.stderr);
    const sameVni = await host.ns.tool([
      'net',
      'create',
      'tun2',
      '--subnet',
      '10.90.0.0/24',
      '--vxlan',
      '7',
      '--remote',
      '10.200.0.8',
    ]);
    assert.match(sameVni.stderr, /VNI 7 on port 4789 is network tun's already/);
    const dry = await host.ns.tool(['--dry-run', '--net', 'tun', '--display', 'none']);
    assert.is(dry.exitCode, 0, dry.stderr);
    const lines = dry.stdout.split('\n');
    for (const line of [
      'ip link add name tun mtu 1450 type bridge',
      'ip link add name vxlan7 type vxlan id 7 dstport 4789 local 10.200.0.1 dev u0 learning',
      'bridge fdb append 00:00:00:00:00:00 dev vxlan7 dst 10.200.0.9',
      'ip link set dev vxlan7 master tun mtu 1450 up',
      "ip link del dev vxlan7  # with the network's last guest",
    ])
      assert.ok(lines.includes(line), `missing: ${line}\n${dry.stdout}`);
    assert.match(dry.stdout, /-device virtio-net,netdev=nic0,mac=[0-9a-f:]+,host_mtu=1450/);
    await assertClean(host.ns, ['lo', 'u0']);
  } finally {
    await host.ns.destroy();
    await switch_.destroy();
  }
});

test.run();
