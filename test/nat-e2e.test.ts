// NAT networks end to end. A "host" namespace whose default route goes through
// a veth to a "wan" namespace serving a banner that names the caller's address;
// the host's iptables as Docker leaves it (FORWARD policy DROP, DOCKER-USER
// jumped to first), or plain. Guests on natnet get leases, reach the wan
// masqueraded and each other; a hostonly guest does not get out; afterwards the
// host's nftables and iptables rulesets and ip_forward are exactly as before.
import { execa, type ResultPromise } from 'execa';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { boot, console_, stop, waitConsole } from './guest-helpers.ts';
import { unwrapDoctor } from './helpers.ts';
import { Netns, assertClean, inNetns, pidAlive, waitFor } from './netns.ts';

const WAN = '203.0.113.1';
const UPLINK = '203.0.113.2';
const BANNER = `${WAN}:8080`;

/** The banner server: tells each caller the address it came from. */
const SERVER =
  "require('net').createServer((s) => s.end('E2E-BANNER from=' + s.remoteAddress + '\\n'))" +
  `.listen(8080, '${WAN}')`;

interface Firewall {
  nft: string;
  iptables: string;
  forward: string;
}

/** The host's firewall as scripts compare it: counters and timestamps aside. */
async function firewallOf(ns: Netns): Promise<Firewall> {
  const nft = (await ns.output(['nft', 'list', 'ruleset'])).replace(/counter packets \d+ bytes \d+/g, 'counter');
  const iptables = (await ns.output(['iptables-save']))
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, ''))
    .join('\n');
  const forward = await ns.output(['cat', '/proc/sys/net/ipv4/ip_forward']);
  return { nft, iptables, forward };
}

/** Host ↔ wan cable, the wan's banner server, and (docker) the iptables Docker leaves. */
async function withWan(docker: boolean, body: (ns: Netns, wan: Netns) => Promise<void>): Promise<void> {
  await inNetns(async (ns) => {
    const wan = await Netns.create();
    let server: ResultPromise | undefined;
    try {
      await ns.ip('link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', wan.name);
      await ns.ip('addr', 'add', `${UPLINK}/24`, 'dev', 'uplink0');
      await ns.ip('link', 'set', 'uplink0', 'up');
      await ns.ip('route', 'add', 'default', 'via', WAN);
      await wan.ip('addr', 'add', `${WAN}/24`, 'dev', 'wan0');
      await wan.ip('link', 'set', 'wan0', 'up');
      if (docker) {
        for (const rule of [
          ['-N', 'DOCKER-USER'],
          ['-A', 'DOCKER-USER', '-j', 'RETURN'],
          ['-P', 'FORWARD', 'DROP'],
          ['-I', 'FORWARD', '-j', 'DOCKER-USER'],
        ]) {
          assert.is((await ns.exec(['iptables', ...rule])).exitCode, 0, rule.join(' '));
        }
      }
      server = execa('ip', ['netns', 'exec', wan.name, process.execPath, '-e', SERVER], { reject: false });
      await waitFor(
        async () => (await wan.exec(['busybox', 'nc', '-w', '1', WAN, '8080'])).stdout.includes('E2E-BANNER'),
        10000,
        'the wan banner',
      );
      await body(ns, wan);
    } finally {
      if (server?.pid) process.kill(server.pid, 'SIGKILL');
      await server;
      await wan.destroy();
    }
  });
}

const escaped = (text: string) => text.replace(/\./g, '\\.');

for (const docker of [true, false]) {
  const how = docker ? "behind Docker's FORWARD DROP and DOCKER-USER" : 'with FORWARD ACCEPT and no Docker chains';
  test(`natnet ${how}: out masqueraded, guest to guest, hostonly stays in, the firewall as it was`, () =>
    withWan(docker, async (ns) => {
      const before = await firewallOf(ns);
      assert.is(before.forward, '0');
      const doctor = unwrapDoctor((await ns.tool(['doctor'])).stdout);
      assert.match(
        doctor,
        docker
          ? /^ok +forward-policy +iptables FORWARD policy DROP: a defined network's bridge is accepted in DOCKER-USER/m
          : /^ok +forward-policy +iptables FORWARD policy ACCEPT: defined networks need no forwarding rule$/m,
      );
      assert.match(
        doctor,
        docker
          ? /^ok +docker +Docker present: its FORWARD DROP is answered in DOCKER-USER/m
          : /^ok +docker +Docker not present$/m,
      );
      assert.match(doctor, /^ok +ip-forward +net\.ipv4\.ip_forward = 0: a NAT network turns it on while it is up/m);
      const a = await boot(ns, 'na', ['--net', 'natnet'], { if0: 'dhcp', banner: '7000', get: BANNER });
      const b = await boot(ns, 'nb', ['--net', 'natnet'], { if0: 'dhcp', get: `na:7000,${BANNER}` });
      const [, ip, dns, router] = await waitConsole(a, /E2E: DHCP eth0 ip=(\S+) dns=(\S*) router=(\S*)/);
      assert.match(ip, /^192\.168\.57\.\d+$/);
      assert.equal([dns, router], ['192.168.57.1', '192.168.57.1'], 'DNS and the way out are the host');
      await waitConsole(a, /E2E: READY/);
      assert.match(
        console_(a),
        new RegExp(`E2E: GET-OK ${escaped(BANNER)} E2E-BANNER from=${escaped(UPLINK)}\\b`),
        "the wan sees the host's address",
      );
      await waitConsole(b, /E2E: READY/);
      assert.match(console_(b), /E2E: GET-OK na:7000 E2E-BANNER name=na/, 'natnet guests reach each other');
      assert.match(console_(b), new RegExp(`E2E: GET-OK ${escaped(BANNER)} E2E-BANNER from=${escaped(UPLINK)}\\b`));

      const during = await firewallOf(ns);
      assert.is(during.forward, '1', 'ip_forward on while a NAT network is up');
      assert.match(
        during.nft,
        /table ip qemu_script_natnet \{[\s\S]*oifname "uplink0" masquerade comment "qemu-script natnet"/,
      );
      if (docker) {
        const userChain = during.iptables.split('\n').filter((line) => line.startsWith('-A DOCKER-USER'));
        assert.equal(userChain.length, 4, during.iptables);
        assert.match(
          userChain[0],
          new RegExp(
      '^-A DOCKER-USER -d 192\\.168\\.57\\.0/24 -i uplink0 -o natnet -m conntrack --ctstate RELATED,ESTABLISHED ' +
        '-m comment --comment "qemu-script natnet" -j ACCEPT$',
    ),
        );
        assert.match(
          userChain[1],
          new RegExp(
      '^-A DOCKER-USER -s 192\\.168\\.57\\.0/24 -i natnet -o uplink0 ' +
        '-m comment --comment "qemu-script natnet" -j ACCEPT$',
    ),
        );
        assert.match(
          userChain[2],
          /^-A DOCKER-USER -i natnet -o natnet -m comment --comment "qemu-script natnet" -j ACCEPT$/,
        );
        assert.is(userChain[3], '-A DOCKER-USER -j RETURN', "ahead of Docker's own RETURN");
        assert.not.match(during.iptables, /-A FORWARD .*natnet/, 'nothing in FORWARD itself when DOCKER-USER exists');
      } else {
        assert.is(during.iptables, before.iptables, 'no iptables rule where the policy lets traffic through');
      }

      const c = await boot(ns, 'nc', ['--net', 'hostonly'], {
        if0: 'dhcp',
        gw: '192.168.56.1',
        get: BANNER,
        tries: '3',
        off: '1',
      });
      await waitConsole(c, /E2E: READY/);
      assert.match(console_(c), new RegExp(`E2E: GET-FAIL ${escaped(BANNER)}`), 'no NAT leaks to a host-only network');

      await stop(ns, a, b);
      await waitFor(() => !ns.guests().includes('nc'), 30000, 'nc to power off');
      assert.equal(await firewallOf(ns), before, 'the firewall and ip_forward are exactly as before');
      await assertClean(ns, ['lo', 'uplink0'], [a.pid, b.pid, c.pid]);
    }));
}

test('kill -9 of the guests and supervisors on natnet, then gc: every rule gone, ip_forward back', () =>
  withWan(true, async (ns) => {
    const before = await firewallOf(ns);
    const a = await boot(ns, 'ka', ['--net', 'natnet'], { if0: 'dhcp', get: BANNER });
    await waitConsole(a, /E2E: GET-OK/);
    const record = ns.record('ka');
    for (const pid of [record.supervisor?.pid, record.qemu?.pid]) if (pid) process.kill(pid, 'SIGKILL');
    await waitFor(() => !pidAlive(a.pid), 10000, 'QEMU to die');
    assert.not.equal(await firewallOf(ns), before, 'the rules outlive a kill -9');
    const gc = await ns.tool(['gc']);
    assert.is(gc.exitCode, 0, gc.stderr);
    assert.equal(await firewallOf(ns), before);
    await assertClean(ns, ['lo', 'uplink0'], [a.pid]);
  }));

test.run();
