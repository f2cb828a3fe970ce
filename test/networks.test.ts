// Defined networks, pure parts: address arithmetic, the checks of `net create`,
// the DHCP server's settings, where `ps` finds addresses, and the host prefixes read from /proc.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { leaseFor, neighbourFor, reservationFor } from '../lib/probe/addresses.ts';
import { UsageError } from '../lib/base/errors.ts';
import { dnsAnswers, dnsQuery } from '../lib/net/dns.ts';
import {
  contains,
  dhcpRange,
  formatAddress,
  formatPrefix,
  ipFamily,
  isPrivateSpace,
  lastOf,
  netmask,
  parseAddress,
  parsePrefix,
  prefixesOverlap,
  stableAddress,
  ulaPrefixOf,
} from '../lib/net/ip.ts';
import {
  builtinNetworks,
  dhcpConfigOf,
  hostIp6Of,
  readNetworks,
  validateNetwork,
  writeNetwork,
  type NetworkRequest,
  type NetworkSurroundings,
} from '../lib/net/networks.ts';
import {
  ipv6PrefixesFrom,
  localAddressesFrom,
  prefixesFrom,
  routesFrom,
  rulePrefixesFrom,
  tableRoutesFrom,
} from '../lib/probe/probe.ts';
import { underlayOf } from '../lib/net/tunnel.ts';
import type { NetworkDef } from '../lib/base/types.ts';

const ip = (text: string) => parseAddress(text)!.value;

// text → family, the value printed back (undefined: not an address).
const ADDRESSES: Array<[string, 4 | 6 | undefined, string | undefined]> = [
  ['192.168.56.1', 4, '192.168.56.1'],
  ['0.0.0.0', 4, '0.0.0.0'],
  ['255.255.255.255', 4, '255.255.255.255'],
  ['192.168.56', undefined, undefined],
  ['256.1.1.1', undefined, undefined],
  ['1.2.3.4.5', undefined, undefined],
  ['01.2.3.4', undefined, undefined],
  ['a.b.c.d', undefined, undefined],
  ['', undefined, undefined],
  ['2001:db8::1', 6, '2001:db8::1'],
  ['2001:0DB8:0000:0000:0000:0000:0000:0001', 6, '2001:db8::1'],
  ['2001:db8:1:0:0:1:0:1', 6, '2001:db8:1::1:0:1'],
  ['2001:db8:0:1:1:1:1:1', 6, '2001:db8:0:1:1:1:1:1'],
  ['fd00::', 6, 'fd00::'],
  ['::', 6, '::'],
  ['::1', 6, '::1'],
  ['1:0:0:2:0:0:0:3', 6, '1:0:0:2::3'],
  ['1::2::3', undefined, undefined],
  ['1:2:3:4:5:6:7:8:9', undefined, undefined],
  ['12345::1', undefined, undefined],
  ['fe80::1%eth0', undefined, undefined],
];

for (const [text, family, printed] of ADDRESSES) {
  test(`ip: "${text}" is ${family ? `IPv${family}, printed ${printed}` : 'no address'}`, () => {
    const parsed = parseAddress(text);
    assert.is(parsed?.family, family);
    assert.is(ipFamily(text), family ?? 0);
    assert.is(parsed && formatAddress(parsed.family, parsed.value), printed);
  });
}

test('ip: prefixes of both families: parsed, written from their network, overlapping or not', () => {
  assert.equal(parsePrefix('10.77.0.9/24'), { family: 4, address: ip('10.77.0.9'), bits: 24 });
  assert.equal(parsePrefix('fd12::5/64'), { family: 6, address: ip('fd12::5'), bits: 64 });
  for (const bad of ['10.77.0.0', '10.77.0.0/33', '10.77.0.0/24/1', '10.77.0.0/x', 'fd12::/129', '/24']) {
    assert.is(parsePrefix(bad), undefined, bad);
  }
  assert.is(formatPrefix(parsePrefix('10.77.0.9/24')!), '10.77.0.0/24');
  assert.is(formatPrefix(parsePrefix('fd12:3456::9/48')!), 'fd12:3456::/48');
  assert.is(formatAddress(4, lastOf(parsePrefix('10.77.0.9/24')!)), '10.77.0.255');
  assert.ok(contains(parsePrefix('10.0.0.0/8')!, ip('10.200.1.1')));
  assert.not.ok(contains(parsePrefix('10.0.0.0/8')!, ip('11.0.0.1')));
  const overlap = (a: string, b: string) => prefixesOverlap(parsePrefix(a)!, parsePrefix(b)!);
  assert.ok(overlap('192.168.0.1/16', '192.168.1.5/24'));
  assert.ok(overlap('fd12:3456::9/64', 'fd12:3456::5/64'));
  assert.not.ok(overlap('192.168.1.0/24', '192.168.2.0/24'));
  assert.not.ok(overlap('10.0.0.0/8', 'fd00::/8'), 'families never overlap');
  assert.is(netmask(24), '255.255.255.0');
  assert.is(netmask(30), '255.255.255.252');
  const PRIVATE = [['10.1.0.0/16', true], ['10.0.0.0/7', false], ['172.20.0.0/16', true], ['fd00::/64', true],
    ['2001:db8::/64', false], ['8.8.8.0/24', false]] as const;
  for (const [text, bool] of PRIVATE) {
    assert.is(isPrivateSpace(parsePrefix(text)!), bool, text);
  }
});

test('ip: the DHCP range is the larger run beside the host address', () => {
  const range = (subnet: string, host: string) => {
    const { start, end } = dhcpRange(parsePrefix(subnet)!, ip(host));
    return `${formatAddress(4, start)}-${formatAddress(4, end)}`;
  };
  assert.is(range('192.168.56.0/24', '192.168.56.1'), '192.168.56.2-192.168.56.254');
  assert.is(range('192.168.56.0/24', '192.168.56.254'), '192.168.56.1-192.168.56.253');
  assert.is(range('10.0.0.0/16', '10.0.100.1'), '10.0.100.2-10.0.255.254');
  assert.is(range('10.0.0.0/30', '10.0.0.1'), '10.0.0.2-10.0.0.2');
});

test(
  'ip: a stable address depends on the MAC only and never changes between versions; skips taken ones; runs out',
  () => {
  const range = { start: ip('10.0.0.2'), end: ip('10.0.0.254') };
  const a = stableAddress(range, 'de:ad:be:ef:00:01', new Set())!;
  // Computed by earlier versions: a guest keeps its address when the tool is upgraded.
  assert.is(formatAddress(4, a), '10.0.0.108');
  assert.is(formatAddress(4, stableAddress(range, 'de:ad:be:ef:00:02', new Set())!), '10.0.0.247');
  assert.is(formatAddress(4, stableAddress(range, '52:54:00:12:34:56', new Set())!), '10.0.0.169');
  assert.is(stableAddress(range, 'DE:AD:BE:EF:00:01', new Set()), a, 'case does not matter');
  const next = stableAddress(range, 'de:ad:be:ef:00:01', new Set([a]))!;
  assert.is(next, a === range.end ? range.start : a + 1n, 'the next free one, wrapping');
  const tiny = { start: 5n, end: 6n };
  assert.is(stableAddress(tiny, 'de:ad:be:ef:00:01', new Set([5n, 6n])), undefined);
});

const HOST: NetworkSurroundings = {
  networks: { ...builtinNetworks() },
  interfaces: ['lo', 'eth0', 'docker0', 'lab3'],
  toolInterfaces: ['lab3'],
  usedUdpPorts: [53, 8472],
  prefixes: [
    { cidr: '10.1.0.2/24', dev: 'eth0', what: 'address' },
    { cidr: '0.0.0.0/0', dev: 'eth0', what: 'route' },
    { cidr: '10.1.0.0/24', dev: 'eth0', what: 'route' },
    { cidr: '172.17.0.1/16', dev: 'docker0', what: 'address' },
    { cidr: '192.168.58.0/24', dev: 'wg0', what: 'route' },
  ],
};

const request = (name: string, extra: Partial<NetworkRequest> = {}): NetworkRequest => ({
  name,
  ipv6: false,
  dhcp: false,
  nat: false,
  ...extra,
});
const def = (name: string, subnet: string, hostIp: string, dhcp = false, nat = false): NetworkDef => ({
  name,
  subnet,
  hostIp,
  dhcp,
  nat,
  builtin: false,
});

const ACCEPTED: Array<[string, NetworkRequest, NetworkDef]> = [
  [
    'subnet and flags as given',
    request('lab', { subnet: '10.77.0.0/24', dhcp: true }),
    def('lab', '10.77.0.0/24', '10.77.0.1', true),
  ],
  [
    'the subnet is normalised to its network address',
    request('lab', { subnet: '10.77.0.9/24' }),
    def('lab', '10.77.0.0/24', '10.77.0.1'),
  ],
  [
    'an explicit host address',
    request('lab', { subnet: '10.77.0.0/24', hostIp: '10.77.0.254', nat: true }),
    def('lab', '10.77.0.0/24', '10.77.0.254', false, true),
  ],
  [
    'no subnet: the first free 192.168.X.0/24 from 58 (58 is routed here)',
    request('lab'),
    def('lab', '192.168.59.0/24', '192.168.59.1'),
  ],
  [
    'a name with a dash, a /16',
    request('lab-1', { subnet: '10.78.0.0/16' }),
    def('lab-1', '10.78.0.0/16', '10.78.0.1'),
  ],

  [
    'IPv6 by default: the ULA /64 derived from the name',
    request('lab', { subnet: '10.77.0.0/24', ipv6: true }),
    { ...def('lab', '10.77.0.0/24', '10.77.0.1'), subnet6: 'fdef:b7b6:faa9::/64' },
  ],
  [
    '--domain: its guests are NAME.DOMAIN',
    request('lab', { subnet: '10.77.0.0/24', dhcp: true, domain: 'lab.internal' }),
    { ...def('lab', '10.77.0.0/24', '10.77.0.1', true), domain: 'lab.internal' },
  ],
  [
    '--domain as the name: nothing recorded (the name is the default)',
    request('lab', { subnet: '10.77.0.0/24', dhcp: true, domain: 'lab' }),
    def('lab', '10.77.0.0/24', '10.77.0.1', true),
  ],
  [
    'an explicit --subnet6, normalised',
    request('lab', { subnet: '10.77.0.0/24', ipv6: true, subnet6: 'fd12:3456:789a:1::9/64' }),
    { ...def('lab', '10.77.0.0/24', '10.77.0.1'), subnet6: 'fd12:3456:789a:1::/64' },
  ],
];

for (const [name, input, expected] of ACCEPTED) {
  test(`net create accepts: ${name}`, () => {
    assert.equal(validateNetwork(input, HOST), expected);
  });
}

const TUNNEL = (vxlan: NonNullable<NetworkRequest['vxlan']>) => request('lab', { subnet: '10.77.0.0/24', vxlan });

test('net create --vxlan: the tunnel as given, the IANA port by default', () => {
  assert.equal(validateNetwork(TUNNEL({ vni: '42', remotes: '10.1.0.7, 10.1.0.8' }), HOST), {
    ...def('lab', '10.77.0.0/24', '10.77.0.1'),
    vxlan: { vni: 42, remotes: ['10.1.0.7', '10.1.0.8'], port: 4789 },
  });
  assert.equal(
    validateNetwork(TUNNEL({ vni: '16777215', group: '239.1.1.1', dev: 'eth0', port: '4790' }), HOST).vxlan,
    { vni: 16777215, remotes: [], port: 4790, dev: 'eth0', group: '239.1.1.1' },
  );
});

const TUNNEL_REFUSED: Array<[string, NonNullable<NetworkRequest['vxlan']>, RegExp]> = [
  ['VNI 0', { vni: '0', remotes: '10.1.0.7' }, /--vxlan: "0" is not a VNI \(1-16777215\)/],
  ['VNI too large', { vni: '16777216', remotes: '10.1.0.7' }, /is not a VNI/],
  ['no peers', { vni: '42' }, /needs the other hosts/],
  ['a multicast remote', { vni: '42', remotes: '239.1.1.1' }, /--remote: "239\.1\.1\.1" is not a unicast address/],
  ['a broadcast remote', { vni: '42', remotes: '255.255.255.255' }, /is not a unicast address/],
  ['an IPv6 multicast remote', { vni: '42', remotes: 'ff02::1' }, /is not a unicast address/],
  ['not an address', { vni: '42', remotes: 'hostb' }, /--remote: "hostb" is not a unicast address/],
  ['a unicast group', { vni: '42', group: '10.1.0.7' }, /--group: "10\.1\.0\.7" is not an IPv4 multicast group/],
  [
    'both remotes and a group',
    { vni: '42', remotes: '10.1.0.7', group: '239.1.1.1' },
    /--remote and --group exclude each other/,
  ],
  ['a missing underlay', { vni: '42', remotes: '10.1.0.7', dev: 'eth9' }, /--dev: no interface eth9 on this host/],
  [
    'a UDP port another program holds',
    { vni: '42', remotes: '10.1.0.7', port: '8472' },
    /--port: UDP port 8472 is in use by another program/,
  ],
  ['not a port', { vni: '42', remotes: '10.1.0.7', port: '0' }, /--port: "0" is not a UDP port/],
  [
    "the host's own address",
    { vni: '42', remotes: '10.1.0.2' },
    /--remote: "10\.1\.0\.2" is not a unicast address of another/,
  ],
  [
    'a remote twice',
    { vni: '42', remotes: '10.1.0.7,10.1.0.8,10.1.0.7' },
    /^net create --remote: 10\.1\.0\.7 is given twice$/,
  ],
  [
    'the all-hosts group',
    { vni: '42', group: '224.0.0.1' },
    /--group: "224\.0\.0\.1" is not an IPv4 multicast group a tunnel/,
  ],
  ["DNS's port", { vni: '42', remotes: '10.1.0.7', port: '53' }, /--port: 53 is a port of the host's own services/],
  ["SSH's port", { vni: '42', remotes: '10.1.0.7', port: '22' }, /a tunnel takes 1024-65535$/],
];

for (const [name, vxlan, message] of TUNNEL_REFUSED) {
  test(`net create --vxlan refuses: ${name}`, () => {
    assert.throws(
      () => validateNetwork(TUNNEL(vxlan), HOST),
      (error: Error) => error instanceof UsageError && message.test(error.message),
    );
  });
}

test('net create --vxlan refuses a VNI another network has on the same port', () => {
  const around = {
    ...HOST,
    networks: {
      ...HOST.networks,
      other: { ...def('other', '10.99.0.0/24', '10.99.0.1'), vxlan: { vni: 42, remotes: ['10.1.0.9'], port: 4789 } },
    },
  };
  assert.throws(
    () => validateNetwork(TUNNEL({ vni: '42', remotes: '10.1.0.7' }), around),
    /VNI 42 on port 4789 is network other's already/,
  );
  assert.is(validateNetwork(TUNNEL({ vni: '43', remotes: '10.1.0.7' }), around).vxlan?.vni, 43);
});

test("tunnel: the underlay is the route to the first remote, the MTU its MTU less VXLAN's overhead", () => {
  const prefixes = HOST.prefixes;
  assert.equal(underlayOf({ vni: 1, remotes: ['10.1.0.7'], port: 4789 }, prefixes, { eth0: 9000 }), {
    dev: 'eth0',
    local: '10.1.0.2',
    mtu: 8950,
  });
  assert.equal(
    underlayOf({ vni: 1, remotes: ['203.0.113.9'], port: 4789 }, prefixes, {}),
    { dev: 'eth0', local: '10.1.0.2', mtu: 1450 },
    'through the default route',
  );
  assert.equal(
    underlayOf({ vni: 1, remotes: ['192.168.58.9'], port: 4789 }, prefixes, { wg0: 1420 }),
    { dev: 'wg0', local: undefined, mtu: 1370 },
    'the most specific route',
  );
  assert.equal(
    underlayOf({ vni: 1, remotes: ['fd00::9'], port: 4789, dev: 'eth0' }, prefixes, { eth0: 1500 }),
    { dev: 'eth0', local: undefined, mtu: 1430 },
    'IPv6 costs 70',
  );
  assert.is(underlayOf({ vni: 1, remotes: ['10.1.0.7'], port: 4789 }, [], {}), undefined, 'no route, no tunnel');
});

test("a network's DNS domain is never a public suffix or a special-use name; below one, spelled out, it may be", () => {
  const around = { ...HOST, publicSuffixes: new Set(['dev', 'co.uk', 'shop']) };
  const rows: Array<[NetworkRequest, string | RegExp]> = [
    [
      request('dev', { dhcp: true }),
      new RegExp(
        "^net create: its default DNS domain, dev, is a public DNS suffix \\(its names are the internet's\\); " +
          'give --domain dev\\.internal ',
      ),
    ],
    [request('lab', { dhcp: true, domain: 'co.uk' }), /^net create: --domain co\.uk is a public DNS suffix /],
    [
      request('lab', { dhcp: true, domain: 'local' }),
      /^net create: --domain local is a special-use DNS name; give --domain local\.internal/,
    ],
    [request('lab', { dhcp: true, domain: 'home.arpa' }), /--domain home\.arpa is a special-use DNS name/],
    [request('lab', { dhcp: true, domain: 'lab.co.uk' }), 'lab.co.uk'],
    [request('lab', { dhcp: true, domain: 'lab.home.arpa' }), 'lab.home.arpa'],
    [request('lab', { dhcp: true }), 'lab'],
    // No DNS server, no domain: the name alone matters then.
    [request('shop', { dhcp: false }), 'shop'],
  ];
  for (const [input, expected] of rows) {
    if (expected instanceof RegExp) {
      assert.throws(
        () => validateNetwork(input, around),
        (error: Error) => error instanceof UsageError && expected.test(error.message),
        JSON.stringify(input),
      );
    } else {
      const made = validateNetwork(input, around);
      assert.is(made.domain ?? made.name, expected, JSON.stringify(input));
    }
  }
  // Without the list: every two letters (a country's) and the common generic TLDs.
  for (const name of ['uk', 'com', 'dev']) {
    assert.throws(() => validateNetwork(request(name, { dhcp: true }), HOST), /is a public DNS suffix/, name);
  }
});

const REFUSED: Array<[string, NetworkRequest, RegExp]> = [
  [
    '--domain without --dhcp',
    request('lab', { subnet: '10.77.0.0/24', domain: 'lab.internal' }),
    /^net create: --domain goes with --dhcp \(its server answers the names\)$/,
  ],
  [
    'a --domain that is no DNS domain',
    request('lab', { subnet: '10.77.0.0/24', dhcp: true, domain: 'Lab_1.internal' }),
    /^net create --domain: "Lab_1\.internal" is not a DNS domain \(lower-case labels .*; e\.g\. lab\.internal\)$/,
  ],
  [
    'a global --subnet6',
    request('lab', { subnet: '10.77.0.0/24', ipv6: true, subnet6: '2001:db8::/64' }),
    /--subnet6: "2001:db8::\/64" is not a unique local IPv6 \/64/,
  ],
  [
    'a --subnet6 that is no /64',
    request('lab', { subnet: '10.77.0.0/24', ipv6: true, subnet6: 'fd12::/48' }),
    /is not a unique local IPv6 \/64/,
  ],
  [
    "a --subnet6 another network has",
    request('lab', { subnet: '10.77.0.0/24', ipv6: true, subnet6: 'fdf2:c08f:a5a0::/64' }),
    /--subnet6: fdf2:c08f:a5a0::\/64 is network hostonly's already/,
  ],
  ['an upper-case name', request('Lab'), /"Lab" is not a network name/],
  ['a name over 15 bytes', request('abcdefghijklmnop'), /is not a network name/],
  ['a name with a slash', request('a/b'), /is not a network name/],
  ['a word --net owns', request('user'), /already means something to --net/],
  ['a vmnetN name', request('vmnet7'), /already means something to --net/],
  ['a VirtualBox word', request('nat'), /already means something to --net/],
  ['a built-in', request('hostonly'), /hostonly is a built-in network/],
  [
    'an existing interface',
    request('docker0', { subnet: '10.77.0.0/24' }),
    /an interface named docker0 already exists/,
  ],
  [
    "a plain bridge of the tool's guests",
    request('lab3', { subnet: '10.77.0.0/24' }),
    /lab3 is up as a plain bridge of qemu-script's guests/,
  ],
  ['a subnet that is no CIDR', request('lab', { subnet: '10.77.0.0' }), /--subnet: "10.77.0.0" is not an IPv4 subnet/],
  ['a public subnet', request('lab', { subnet: '8.8.8.0/24' }), /must be a private \(RFC 1918\) subnet/],
  ['a subnet too large', request('lab', { subnet: '10.0.0.0/8' }), /from \/16 to \/30/],
  ['a subnet too small', request('lab', { subnet: '10.77.0.0/31' }), /from \/16 to \/30/],
  [
    'a subnet over the LAN address',
    request('lab', { subnet: '10.1.0.0/16' }),
    /overlaps address 10\.1\.0\.2\/24 on eth0/,
  ],
  ['a subnet over a route', request('lab', { subnet: '192.168.58.0/25' }), /overlaps route 192\.168\.58\.0\/24 on wg0/],
  [
    "a subnet over Docker's",
    request('lab', { subnet: '172.17.5.0/24' }),
    /overlaps address 172\.17\.0\.1\/16 on docker0/,
  ],
  [
    'a subnet over another network',
    request('lab', { subnet: '192.168.56.128/25' }),
    /overlaps network hostonly \(192\.168\.56\.0\/24\)/,
  ],
  ['a name of compact letters', request('ab'), /^net create: "ab" would read as --net's compact letters \(u, p, 0-f\)/],
  ['another of them', request('cafe'), /would read as --net's compact letters/],
  [
    "the user network's subnet",
    request('lab', { subnet: '10.0.2.0/24' }),
    /^net create --subnet: 10\.0\.2\.0\/24 overlaps the user network's 10\.0\.2\.0\/24 \(guests have both\); choose/,
  ],
  [
    "a subnet around the user network's",
    request('lab', { subnet: '10.0.0.0/16' }),
    /overlaps the user network's 10\.0\.2\.0\/24/,
  ],
  [
    'a host address outside the subnet',
    request('lab', { subnet: '10.77.0.0/24', hostIp: '10.78.0.1' }),
    /--host-ip: 10\.78\.0\.1 is not a host address inside 10\.77\.0\.0\/24/,
  ],
  [
    'the network address as host',
    request('lab', { subnet: '10.77.0.0/24', hostIp: '10.77.0.0' }),
    /not a host address inside/,
  ],
  [
    'the broadcast address as host',
    request('lab', { subnet: '10.77.0.0/24', hostIp: '10.77.0.255' }),
    /not a host address inside/,
  ],
  [
    'a host address that is no address',
    request('lab', { subnet: '10.77.0.0/24', hostIp: 'x' }),
    /--host-ip: "x" is not an IPv4 address/,
  ],
];

for (const [name, input, message] of REFUSED) {
  test(`net create refuses: ${name}`, () => {
    assert.throws(
      () => validateNetwork(input, HOST),
      (error: Error) => error instanceof UsageError && message.test(error.message),
    );
  });
}

test('net create refuses a name already defined', () => {
  const around = { ...HOST, networks: { ...HOST.networks, lab: def('lab', '10.77.0.0/24', '10.77.0.1') } };
  assert.throws(
    () => validateNetwork(request('lab', { subnet: '10.99.0.0/24' }), around),
    /network lab is already defined/,
  );
});

test("built-ins: each one's IPv6 subnet is the one its name derives, as any network's", () => {
  const networks = Object.values(builtinNetworks());
  assert.equal(networks.map((network) => network.name), ['hostonly', 'natnet']);
  for (const network of networks) assert.is(network.subnet6, ulaPrefixOf(network.name), network.name);
});

test('definitions: written, read back, invalid files define nothing, built-ins always there', () => {
  const config = mkdtempSync(`${tmpdir()}/qs-config-`);
  try {
    assert.equal(readNetworks(config), builtinNetworks());
    writeNetwork(config, def('lab', '10.77.0.0/24', '10.77.0.1', true));
    writeNetwork(config, {
      ...def('tun', '10.78.0.0/24', '10.78.0.1'),
      vxlan: { vni: 42, remotes: ['10.1.0.7'], port: 4789 },
    });
    writeFileSync(
      `${config}/networks/badtunnel.json`,
      '{"subnet": "10.79.0.0/24", "hostIp": "10.79.0.1", "vxlan": {"vni": 0, "remotes": ["10.1.0.7"]}}',
    );
    mkdirSync(`${config}/networks`, { recursive: true });
    writeFileSync(`${config}/networks/broken.json`, '{"subnet": "10.88.0.0/24", "hostIp": "10.99.0.1"}');
    writeFileSync(`${config}/networks/junk.json`, 'not json');
    writeFileSync(`${config}/networks/hostonly.json`, '{"subnet": "10.66.0.0/24", "hostIp": "10.66.0.1"}');
    // Written before IPv6: the name's own ULA. A subnet6 that is no ULA /64 defines nothing.
    writeFileSync(`${config}/networks/old.json`, '{"subnet": "10.80.0.0/24", "hostIp": "10.80.0.1", "dhcp": true}');
    const v6 = (subnet: string, subnet6: string) =>
      JSON.stringify({ subnet, hostIp: subnet.replace(/0\/24$/, '1'), subnet6 });
    writeFileSync(`${config}/networks/v6.json`, v6('10.81.0.0/24', 'fd01::/64'));
    writeFileSync(`${config}/networks/bad6.json`, v6('10.82.0.0/24', 'fd01::/56'));
    const named = (domain: string) =>
      JSON.stringify({ subnet: '10.83.0.0/24', hostIp: '10.83.0.1', dhcp: true, domain });
    writeFileSync(`${config}/networks/dom.json`, named('lab.internal'));
    writeFileSync(`${config}/networks/baddom.json`, named('Lab..internal'));
    assert.equal(readNetworks(config), {
      ...builtinNetworks(),
      lab: def('lab', '10.77.0.0/24', '10.77.0.1', true),
      old: { ...def('old', '10.80.0.0/24', '10.80.0.1', true), subnet6: 'fde3:728d:e219::/64' },
      v6: { ...def('v6', '10.81.0.0/24', '10.81.0.1'), subnet6: 'fd01::/64' },
      dom: { ...def('dom', '10.83.0.0/24', '10.83.0.1', true), subnet6: 'fdb0:c37f:5099::/64', domain: 'lab.internal' },
      tun: { ...def('tun', '10.78.0.0/24', '10.78.0.1'), vxlan: { vni: 42, remotes: ['10.1.0.7'], port: 4789 } },
    });
  } finally {
    rmSync(config, { recursive: true, force: true });
  }
});

test("the host's IPv6 address: the subnet's ::1; on a tunnelled network, its IPv4 host address in the low bits", () => {
  assert.is(hostIp6Of(builtinNetworks().hostonly), 'fdf2:c08f:a5a0::1');
  const tunnelled = { ...def('tun', '10.88.0.0/24', '10.88.0.2'), subnet6: 'fd01::/64' };
  assert.is(hostIp6Of({ ...tunnelled, vxlan: { vni: 42, remotes: ['10.1.0.7'], port: 4789 } }), 'fd01::a58:2');
  assert.is(hostIp6Of(tunnelled), 'fd01::1');
  assert.is(hostIp6Of(def('v4', '10.89.0.0/24', '10.89.0.1')), undefined);
});

test('dhcp settings come from the definition: host-only has no router and no upstream DNS, NAT has both', () => {
  assert.equal(dhcpConfigOf(builtinNetworks().hostonly), {
    bridge: 'hostonly',
    hostIp: '192.168.56.1',
    prefix: 24,
    rangeStart: '192.168.56.2',
    rangeEnd: '192.168.56.254',
    router: undefined,
    upstreamDns: false,
    ipv6: { prefix: 'fdf2:c08f:a5a0::/64', hostIp: 'fdf2:c08f:a5a0::1', router: false },
    domain: 'hostonly',
  });
  assert.equal(dhcpConfigOf(builtinNetworks().natnet), {
    bridge: 'natnet',
    hostIp: '192.168.57.1',
    prefix: 24,
    rangeStart: '192.168.57.2',
    rangeEnd: '192.168.57.254',
    router: '192.168.57.1',
    upstreamDns: true,
    ipv6: { prefix: 'fdc5:5f52:88f5::/64', hostIp: 'fdc5:5f52:88f5::1', router: true },
    domain: 'natnet',
  });
  assert.equal(dhcpConfigOf(def('lab', '10.77.0.0/24', '10.77.0.1', true)), {
    bridge: 'lab',
    hostIp: '10.77.0.1',
    prefix: 24,
    rangeStart: '10.77.0.2',
    rangeEnd: '10.77.0.254',
    router: undefined,
    upstreamDns: false,
    domain: 'lab',
  });
  const named = { ...def('lab', '10.77.0.0/24', '10.77.0.1', true), domain: 'lab.internal' };
  assert.is(dhcpConfigOf(named).domain, 'lab.internal');
});

test('addresses: a dnsmasq lease and a complete neighbour entry, by MAC', () => {
  const leases =
    '1764326400 de:ad:be:ef:00:01 192.168.56.23 * 01:de:ad:be:ef:00:01\n1764326400 de:ad:be:ef:00:02 ' +
      '192.168.56.40 b *\n';
  assert.is(leaseFor(leases, 'DE:AD:BE:EF:00:02'), '192.168.56.40');
  assert.is(leaseFor(leases, 'de:ad:be:ef:00:03'), undefined);
  // What is not an address in a lease's address field is not one.
  assert.is(leaseFor('1764326400 de:ad:be:ef:00:04 \u001b[2J x *\n', 'de:ad:be:ef:00:04'), undefined);
  // Before the guest asks, the address reserved for it when it was registered (dhcp-hostsfile).
  const hosts = 'de:ad:be:ef:00:01,192.168.56.23\nde:ad:be:ef:00:02,192.168.56.40\n';
  assert.is(reservationFor(hosts, 'DE:AD:BE:EF:00:02'), '192.168.56.40');
  assert.is(reservationFor(hosts, 'de:ad:be:ef:00:03'), undefined);
  const arp = [
    'IP address       HW type     Flags       HW address            Mask     Device',
    '10.1.0.7         0x1         0x2         de:ad:be:ef:00:05     *        vmnet0',
    '10.1.0.8         0x1         0x0         de:ad:be:ef:00:06     *        vmnet0',
  ].join('\n');
  assert.is(neighbourFor(arp, 'de:ad:be:ef:00:05'), '10.1.0.7');
  assert.is(neighbourFor(arp, 'de:ad:be:ef:00:06'), undefined, 'an incomplete entry is no address');
});

test('probe: routes and addresses from /proc, each address with its interface and prefix', () => {
  const route = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
    'vmnet0\t0038A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  ].join('\n');
  const trie = [
    'Main:',
    '  +-- 0.0.0.0/0 3 0 5',
    '     |-- 10.0.0.2',
    '        /32 host LOCAL',
    '     |-- 10.0.0.255',
    '        /32 link BROADCAST',
    '     |-- 127.0.0.1',
    '        /32 host LOCAL',
    '     |-- 192.168.56.1',
    '        /32 host LOCAL',
    '     |-- 172.30.0.9',
    '        /32 host LOCAL',
    'Local:',
    '     |-- 10.0.0.2',
    '        /32 host LOCAL',
  ].join('\n');
  assert.equal(localAddressesFrom(trie), ['10.0.0.2', '127.0.0.1', '192.168.56.1', '172.30.0.9']);
  assert.equal(
    routesFrom(route).map((prefix) => prefix.cidr),
    ['0.0.0.0/0', '10.0.0.1/32', '10.0.0.0/24', '192.168.56.0/24'],
  );
  assert.equal(prefixesFrom(route, trie), [
    { cidr: '10.0.0.2/24', dev: 'eth0', what: 'address' },
    { cidr: '192.168.56.1/24', dev: 'vmnet0', what: 'address' },
    { cidr: '172.30.0.9/32', dev: 'this host', what: 'address' },
    { cidr: '0.0.0.0/0', dev: 'eth0', what: 'route' },
    { cidr: '10.0.0.1/32', dev: 'eth0', what: 'gateway' },
    { cidr: '10.0.0.0/24', dev: 'eth0', what: 'route' },
    { cidr: '192.168.56.0/24', dev: 'vmnet0', what: 'route' },
  ]);
});

test('probe: IPv6 addresses, routes and gateways from /proc, loopback and multicast aside', () => {
  const ifInet6 = [
    'fe8000000000000000fc00fffe000001 04 40 20 80     eth0',
    'fd000000000000000000000000000002 04 40 00 82     eth0',
    '00000000000000000000000000000001 01 80 10 80       lo',
  ].join('\n');
  const route6 = [
    'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 ' +
      '00000100 00000001 00000000 00000001     eth0',
    '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 ' +
      '00000400 00000002 00000000 00000003     eth0',
    'ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 ' +
      '00000100 00000001 00000000 00000001     eth0',
    '00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 ' +
      '00000000 00000002 00000000 80200001       lo',
  ].join('\n');
  assert.equal(ipv6PrefixesFrom(ifInet6, route6), [
    { cidr: 'fe80::fc:ff:fe00:1/64', dev: 'eth0', what: 'address' },
    { cidr: 'fd00::2/64', dev: 'eth0', what: 'address' },
    { cidr: 'fd00::/64', dev: 'eth0', what: 'route' },
    { cidr: '::/0', dev: 'eth0', what: 'route' },
    { cidr: 'fd00::1/128', dev: 'eth0', what: 'gateway' },
  ]);
});

test('probe: routes of every table but local (gateways too), from ip -j route show table all', () => {
  const json = JSON.stringify([
    { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
    { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
    { dst: '10.200.0.0/16', dev: 'wg0', table: '51820' },
    { type: 'unreachable', dst: '10.9.0.0/16', table: '100' },
    { dst: '10.8.0.1', dev: 'tun0' },
    { type: 'local', dst: '192.0.2.2', dev: 'eth0', table: 'local' },
    { dst: '127.0.0.0/8', dev: 'lo' },
  ]);
  assert.equal(tableRoutesFrom(json, 4), [
    { cidr: '0.0.0.0/0', dev: 'eth0', what: 'route' },
    { cidr: '192.0.2.1/32', dev: 'eth0', what: 'gateway' },
    { cidr: '192.0.2.0/24', dev: 'eth0', what: 'route' },
    { cidr: '10.200.0.0/16', dev: 'wg0 (table 51820)', what: 'route' },
    { cidr: '10.9.0.0/16', dev: 'unreachable (table 100)', what: 'route' },
    { cidr: '10.8.0.1/32', dev: 'tun0', what: 'route' },
  ]);
  assert.equal(tableRoutesFrom('[{"dst":"fd77::/48","dev":"wg0","table":"100"},{"dst":"default","dev":"eth0"}]', 6), [
    { cidr: 'fd77::/48', dev: 'wg0 (table 100)', what: 'route' },
    { cidr: '::/0', dev: 'eth0', what: 'route' },
  ]);
  assert.equal(tableRoutesFrom('not json', 4), []);
});

test('probe: the prefixes policy rules select, from ip -j rule show', () => {
  const json = JSON.stringify([
    { priority: 0, src: 'all', table: 'local' },
    { priority: 100, src: '10.201.0.0', srclen: 16, table: '100' },
    { priority: 101, src: 'all', dst: '10.202.0.0', dstlen: 24, table: '200' },
    { priority: 32766, src: 'all', table: 'main' },
  ]);
  assert.equal(rulePrefixesFrom(json), [
    { cidr: '10.201.0.0/16', dev: 'priority 100, table 100', what: 'rule' },
    { cidr: '10.202.0.0/24', dev: 'priority 101, table 200', what: 'rule' },
  ]);
});

test('dns: the query for a name, and the addresses of the A records in its answer (compressed names too)', () => {
  const query = dnsQuery(0x1234, 'web');
  assert.equal([...query], [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 119, 101, 98, 0, 0, 1, 0, 1]);
  // The answer dnsmasq gives: the question again, then one A record whose name points back at it.
  const answer = Buffer.from([
    0x12, 0x34, 0x85, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
    3, 119, 101, 98, 0, 0, 1, 0, 1,
    0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12,
    0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 192, 168, 56, 23,
  ]);
  assert.equal(dnsAnswers(answer, 0x1234), ['192.168.56.23'], 'the A record, the CNAME skipped');
  assert.equal(dnsAnswers(answer, 0x4321), [], 'another query\'s answer');
  assert.equal(dnsAnswers(query, 0x1234), [], 'a question is no answer');
  assert.equal(dnsAnswers(Buffer.alloc(4), 0), [], 'too short');
});

test.run();
