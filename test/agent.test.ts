// The guest agent client: its reading of guest-network-get-interfaces (a table), and the protocol against the
// real qemu-ga (Debian's qemu-guest-agent) listening on a unix socket in a namespace of the test's own, as it
// would on a guest's virtio-serial port. Its power-off and QEMU's word on whether a guest runs an agent are
// exercised with a real guest in cloud-e2e.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { agentAddresses, askAgent } from '../lib/guest/agent.ts';
import { printable, renderTable } from '../lib/base/table.ts';
import { inNetns, waitFor } from './netns.ts';

const MAC = 'de:ad:be:ef:00:01';
const nic = (mac: string, ...addresses: Array<[type: 'ipv4' | 'ipv6', address: string]>) => ({
  name: 'eth0',
  'hardware-address': mac,
  'ip-addresses': addresses.map(([type, address]) => ({ 'ip-address-type': type, 'ip-address': address, prefix: 24 })),
});

const ROWS: Array<[string, unknown, { ip: string | null; ip6: string | null } | undefined]> = [
  [
    'both families, the IPv6 link-local skipped',
    [
      nic('00:00:00:00:00:00', ['ipv4', '127.0.0.1']),
      nic(MAC, ['ipv6', 'fe80::1'], ['ipv4', '10.0.0.7'], ['ipv6', 'fd00::7']),
    ],
    { ip: '10.0.0.7', ip6: 'fd00::7' },
  ],
  ['the MAC in capitals', [nic(MAC.toUpperCase(), ['ipv4', '10.0.0.7'])], { ip: '10.0.0.7', ip6: null }],
  ['a NIC without addresses yet', [{ name: 'eth0', 'hardware-address': MAC }], { ip: null, ip6: null }],
  ['no NIC of that MAC', [nic('de:ad:be:ef:00:02', ['ipv4', '10.0.0.8'])], undefined],
  ['no answer', undefined, undefined],
  // A hostile guest: text that is no address (escape sequences, newlines, a name) is never taken for one.
  [
    'control characters and words where addresses go',
    [
      nic(
        MAC,
        ['ipv4', '\u001b]0;owned\u0007\u001b[2J'],
        ['ipv4', '10.0.0.9\n'],
        ['ipv6', 'evil'],
        ['ipv4', '10.0.0.7'],
      ),
    ],
    { ip: '10.0.0.7', ip6: null },
  ],
  ['an IPv6 address given as IPv4', [nic(MAC, ['ipv4', 'fd00::7'], ['ipv6', '10.0.0.7'])], { ip: null, ip6: null }],
  [
    'addresses that are not a list',
    [{ name: 'eth0', 'hardware-address': MAC, 'ip-addresses': 'x' }],
    { ip: null, ip6: null },
  ],
];

for (const [name, answer, expected] of ROWS) {
  test(`agentAddresses: ${name}`, () => assert.equal(agentAddresses(answer, MAC), expected));
}

test("askAgent: the real qemu-ga answers guest-ping and lists the namespace's NIC with its addresses", () =>
  inNetns(async (ns) => {
    await ns.ip('link', 'add', 'ga0', 'address', MAC, 'type', 'veth', 'peer', 'name', 'ga1');
    await ns.ip('addr', 'add', '192.0.2.5/24', 'dev', 'ga0');
    await ns.ip('-6', 'addr', 'add', '2001:db8::5/64', 'dev', 'ga0', 'nodad');
    await ns.ip('link', 'set', 'ga0', 'up');
    const dir = mkdtempSync(`${tmpdir()}/qs-agent-`);
    // The host's own agent: every command that would act on the host is blocked.
    const blocked = ['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-ram', 'guest-suspend-hybrid', 'guest-exec'];
    const agent = execa(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'qemu-ga',
        '-m',
        'unix-listen',
        '-p',
        `${dir}/qga.sock`,
        '-t',
        dir,
        '-b',
        blocked.join(','),
      ],
      { reject: false, all: true },
    );
    try {
      await waitFor(() => existsSync(`${dir}/qga.sock`), 10000, 'qemu-ga socket');
      assert.equal(await askAgent(dir, 'guest-ping'), {});
      const answer = await askAgent(dir, 'guest-network-get-interfaces');
      assert.equal(agentAddresses(answer, MAC), { ip: '192.0.2.5', ip6: '2001:db8::5' });
      // A command the agent refuses is no answer.
      assert.is(await askAgent(dir, 'guest-no-such-command'), undefined);
    } finally {
      agent.kill();
      await agent;
      rmSync(dir, { recursive: true, force: true });
    }
  }));

test('printable: what a terminal would read as a command is shown as ?', () => {
  assert.is(printable('a\u001b]0;t\u0007b\nc\u009bd\u007f'), 'a?]0;t?b?c?d?');
  assert.is(printable('web-1 10.0.0.7 fd00::7'), 'web-1 10.0.0.7 fd00::7');
  assert.is(renderTable(['A', 'B'], [['x\u001b[2J', 'y\u0007']]), 'A      B\nx?[2J  y?\n');
});

test.run();
