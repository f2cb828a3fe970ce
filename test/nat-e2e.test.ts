// NAT networks end to end. A "host" namespace whose default route goes through
// a veth to a "wan" namespace serving a banner that names the caller's address;
// the host's iptables as Docker leaves it (FORWARD policy DROP, DOCKER-USER
// jumped to first), or plain. Guests on natnet get leases, reach the wan
// masqueraded and each other, in both families; a hostonly guest does not get
// out; afterwards the host's nftables, iptables and ip6tables rulesets and the
// forwarding sysctls are exactly as before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import {
  UPLINK,
  UPLINK6,
  WAN,
  WAN6,
  boot,
  console_,
  readBanner,
  slaacOf,
  stop,
  waitConsole,
  withWan,
} from './guest-helpers.ts';
import { unwrapDoctor } from './helpers.ts';
import { type Netns, assertClean, pidAlive, waitFor } from './netns.ts';

const BANNER = `${WAN}:8080`;
// IPv6 too: the wan has no route back to the guests' ULA, so only NAT66 gets an answer to them.
const BANNER6 = `${WAN6}:8080`;

interface Firewall {
  nft: string;
  iptables: string;
  ip6tables: string;
  forward: string;
  forward6: string;
  /** The uplink's acceptance of router advertisements, which IPv6 forwarding would override. */
  acceptRa: string;
}

/** The host's firewall as scripts compare it: counters and timestamps aside. */
async function firewallOf(ns: Netns): Promise<Firewall> {
  const nft = (await ns.output(['nft', 'list', 'ruleset'])).replace(/counter packets \d+ bytes \d+/g, 'counter');
  const iptables = (await ns.output(['iptables-save']))
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, ''))
    .join('\n');
  const ip6tables = (await ns.output(['ip6tables-save']))
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, ''))
    .join('\n');
  const forward = await ns.output(['cat', '/proc/sys/net/ipv4/ip_forward']);
  const forward6 = await ns.output(['cat', '/proc/sys/net/ipv6/conf/all/forwarding']);
  const acceptRa = await ns.output(['cat', '/proc/sys/net/ipv6/conf/uplink0/accept_ra']);
  return { nft, iptables, ip6tables, forward, forward6, acceptRa };
}

/** The wan (both families, its banner on each) and, for docker, the iptables Docker leaves. */
function withDockerWan(docker: boolean, body: (ns: Netns, wan: Netns) => Promise<void>): Promise<void> {
  const prepare = async (ns: Netns) => {
    if (!docker) return;
    // Docker with ip6tables on (its default since 27) does the same in both families.
    for (const program of ['iptables', 'ip6tables']) {
      for (const rule of [
        ['-N', 'DOCKER-USER'],
        ['-A', 'DOCKER-USER', '-j', 'RETURN'],
        ['-P', 'FORWARD', 'DROP'],
        ['-I', 'FORWARD', '-j', 'DOCKER-USER'],
      ]) {
        assert.is((await ns.exec([program, ...rule])).exitCode, 0, `${program} ${rule.join(' ')}`);
      }
    }
  };
  return withWan({ ipv6: true, extra: [], serve: [WAN, WAN6], prepare }, body);
}

const escaped = (text: string) => text.replace(/\./g, '\\.');

/**
 * `fwd add` and `fwd rm` on nc, a running guest on hostonly (no NAT: the host stands in for the wan, which
 * the guest has no route to): the wan reaches its banner through the host's address, then no longer.
 */
async function forwardWhileRunning(ns: Netns, wan: Netns) {
  const ps = JSON.parse((await ns.tool(['ps', '--json'])).stdout);
  const address = ps.guests.find((guest: { name: string }) => guest.name === 'nc').nics[0].ip;
  // Loopback is no address to forward from; the uplink's alone is.
  const loopback = await ns.tool(['fwd', 'add', 'nc', '8071-7000', '--listen', '127.0.0.1']);
  assert.equal(
    [loopback.exitCode, loopback.stderr],
    [2, 'qemu-script: fwd add --listen: "127.0.0.1" is not an IPv4 address of this host other than loopback\'s'],
  );
  const added = await ns.tool(['fwd', 'add', 'nc', '8071-7000', '--listen', UPLINK]);
  assert.is(added.exitCode, 0, added.stderr);
  assert.is(added.stdout, `Forward tcp ${UPLINK}:8071 -> guest port 7000 added to nc`);
  assert.is(await readBanner(wan, UPLINK, 8071), 'E2E-BANNER name=nc');
  const nft = await ns.output(['nft', 'list', 'table', 'ip', 'qemu_script_fwd_tcp_8071']);
  assert.match(nft, `oifname "hostonly" ip daddr ${address} tcp dport 7000 ct status dnat masquerade`);
  assert.match(nft, `ip daddr ${UPLINK} tcp dport 8071 dnat to ${address}:7000`);
  const taken = await ns.tool(['fwd', 'add', 'nc', '8071-22']);
  assert.is(taken.exitCode, 2);
  assert.is(taken.stderr, "qemu-script: fwd add: host port 8071 is nc's already (qemu-script fwd ls)");
  const listed = JSON.parse((await ns.tool(['fwd', 'ls', 'nc', '--json'])).stdout);
  assert.equal(listed.forwards, [{ guest: 'nc', proto: 'tcp', host: UPLINK, port: 8071, guest_port: 7000 }]);
  const removed = await ns.tool(['fwd', 'rm', 'nc', '8071']);
  assert.is(removed.exitCode, 0, removed.stderr);
  assert.is(removed.stdout, `Forward tcp ${UPLINK}:8071 -> guest port 7000 removed from nc`);
  assert.not.match(await ns.output(['nft', 'list', 'tables']), 'qemu_script_fwd_tcp_8071');
  const gone = await execa('ip', ['netns', 'exec', wan.name, 'busybox', 'nc', '-w', '2', UPLINK, '8071'], {
    reject: false,
    input: '',
  });
  assert.not.match(gone.stdout, 'E2E-BANNER', 'the forward is gone');
}

for (const docker of [true, false]) {
  const how = docker ? "behind Docker's FORWARD DROP and DOCKER-USER" : 'with FORWARD ACCEPT and no Docker chains';
  test(`natnet ${how}: out masqueraded, guest to guest, hostonly stays in, the firewall as it was`, () =>
    withDockerWan(docker, async (ns, wan) => {
      const before = await firewallOf(ns);
      assert.equal([before.forward, before.forward6, before.acceptRa], ['0', '0', '1']);
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
      // A port of the host forwarded to it at launch: the wan reaches the guest's banner through the host.
      const a = await boot(ns, 'na', ['--net', 'natnet', '--fwd', '8070-7000'], {
        if0: 'dhcp',
        v6: '1',
        banner: '7000',
        get: BANNER,
        get6: BANNER6,
      });
      // Guest to guest, and the host-only network's isolation, do not depend on the host's firewall: checked
      // once, on the Docker host (the stricter one).
      const b = docker
        ? await boot(ns, 'nb', ['--net', 'natnet'], { if0: 'dhcp', get: `na:7000,${BANNER}`, get6: 'na:7000' })
        : undefined;
      const [, ip, dns, router] = await waitConsole(a, /E2E: DHCP eth0 ip=(\S+) dns=(\S*) router=(\S*)/);
      assert.match(ip, /^192\.168\.57\.\d+$/);
      assert.equal([dns, router], ['192.168.57.1', '192.168.57.1'], 'DNS and the way out are the host');
      await waitConsole(a, /E2E: READY/);
      assert.match(
        console_(a),
        new RegExp(`E2E: GET-OK ${escaped(BANNER)} E2E-BANNER from=${escaped(UPLINK)}\\b`),
        "the wan sees the host's address",
      );
      const [, ip6, route6] = await waitConsole(a, /E2E: NIC6 eth0 ip6=(\S+) route=(\S*)/);
      const registered = slaacOf('natnet', ns.record('na').plan.resources.macs[0]);
      assert.is(ip6, `${registered}/64`, 'SLAAC gave the registered address');
      assert.match(route6, /^fe80::/, "the host's link-local address is the IPv6 default router");
      assert.match(
        console_(a),
        new RegExp(`E2E: GET6-OK ${BANNER6} E2E-BANNER from=${UPLINK6}\\b`),
        "the wan sees the host's IPv6 address: NAT66",
      );
      if (b) {
        await waitConsole(b, /E2E: READY/);
        assert.match(console_(b), /E2E: GET-OK na:7000 E2E-BANNER name=na/, 'natnet guests reach each other');
        assert.match(console_(b), /E2E: GET6-OK na:7000 E2E-BANNER name=na/, 'by name over IPv6 too');
        assert.match(console_(b), new RegExp(`E2E: GET-OK ${escaped(BANNER)} E2E-BANNER from=${escaped(UPLINK)}\\b`));
      }

      assert.is(await readBanner(wan, UPLINK, 8070), 'E2E-BANNER name=na', 'the wan reaches na by the forward');
      const during = await firewallOf(ns);
      assert.equal([during.forward, during.forward6], ['1', '1'], 'forwarding on while a NAT network is up');
      assert.is(during.acceptRa, '2', 'the uplink keeps accepting router advertisements while it forwards');
      assert.match(
        during.nft,
        new RegExp(
          'table ip6 qemu_script_natnet \\{[\\s\\S]*ip6 saddr fdc5:5f52:88f5::/64 oifname "uplink0" masquerade ' +
            'comment "qemu-script natnet"',
        ),
      );
      assert.match(
        during.nft,
        /table ip qemu_script_natnet \{[\s\S]*oifname "uplink0" masquerade comment "qemu-script natnet"/,
      );
      // The forward: DNAT from the host's own addresses, loopback aside; a NAT network routes the answers back.
      const dnat =
        `fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8070 dnat to ${ip}:7000 ` +
        'comment "qemu-script natnet"';
      const forwardTable = /table ip qemu_script_fwd_tcp_8070 \{[^]*?\n\}/.exec(during.nft)?.[0] ?? '';
      assert.equal(
        forwardTable
          .split('\n')
          .filter((line) => /^\t\t(fib|oifname)/.test(line))
          .map((line) => line.trim()),
        [dnat, dnat],
        during.nft,
      );
      const published = (line: string) => / --(d|s)port 7000 /.test(line);
      if (docker) {
        const docker4 = during.iptables.split('\n').filter((line) => line.startsWith('-A DOCKER-USER'));
        // Let past the DROP: that forwarded connection, into the guest and back.
        assert.equal(
          docker4.filter(published),
          [
            `-A DOCKER-USER -d ${ip}/32 -o natnet -p tcp -m tcp --dport 7000 -m conntrack --ctstate DNAT ` +
              '-m comment --comment "qemu-script natnet" -j ACCEPT',
            `-A DOCKER-USER -s ${ip}/32 -i natnet -p tcp -m tcp --sport 7000 -m conntrack ` +
              '--ctstate RELATED,ESTABLISHED -m comment --comment "qemu-script natnet" -j ACCEPT',
          ].reverse(),
          during.iptables,
        );
        const userChain = docker4.filter((line) => !published(line));
        assert.equal(userChain.length, 4, during.iptables);
        assert.match(
          userChain[0],
          new RegExp(
            '^-A DOCKER-USER -d 192\\.168\\.57\\.0/24 -i uplink0 -o natnet -m conntrack ' +
              '--ctstate RELATED,ESTABLISHED ' +
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
        const userChain6 = during.ip6tables.split('\n').filter((line) => line.startsWith('-A DOCKER-USER'));
        assert.equal(
          userChain6,
          [
            '-A DOCKER-USER -d fdc5:5f52:88f5::/64 -i uplink0 -o natnet -m conntrack --ctstate RELATED,ESTABLISHED ' +
              '-m comment --comment "qemu-script natnet" -j ACCEPT',
            '-A DOCKER-USER -s fdc5:5f52:88f5::/64 -i natnet -o uplink0 -m comment --comment "qemu-script natnet" ' +
              '-j ACCEPT',
            '-A DOCKER-USER -i natnet -o natnet -m comment --comment "qemu-script natnet" -j ACCEPT',
            '-A DOCKER-USER -j RETURN',
          ],
          during.ip6tables,
        );
      } else {
        assert.is(during.iptables, before.iptables, 'no iptables rule where the policy lets traffic through');
        assert.is(during.ip6tables, before.ip6tables, 'nor an ip6tables one');
      }

      const c = docker
        ? await boot(ns, 'nc', ['--net', 'hostonly'], {
            if0: 'dhcp',
            gw: '192.168.56.1',
            v6: '1',
            banner: '7000',
            get: BANNER,
            get6: BANNER6,
            tries: '3',
          })
        : undefined;
      if (c) {
        await waitConsole(c, /E2E: READY/);
        const leak = 'no NAT leaks to a host-only network';
        assert.match(console_(c), new RegExp(`E2E: GET-FAIL ${escaped(BANNER)}`), leak);
        assert.match(console_(c), new RegExp(`E2E: GET6-FAIL ${BANNER6}`), 'in either family');
        assert.match(console_(c), /E2E: NIC6 eth0 ip6=fdf2:c08f:a5a0:\S+ route=\s/, 'and hostonly announces no router');
        await forwardWhileRunning(ns, wan);
      }

      await stop(ns, a, ...(b ? [b] : []), ...(c ? [c] : []));
      assert.equal(await firewallOf(ns), before, 'the firewall and ip_forward are exactly as before');
      await assertClean(
        ns,
        ['lo', 'uplink0'],
        [a, b, c].flatMap((guest) => (guest ? [guest.pid] : [])),
      );
    }));
}

test('hostonly with a forwarded port, no NAT network: the forward reaches its guest, nothing else is routed', () =>
  withDockerWan(false, async (ns, wan) => {
    const before = await firewallOf(ns);
    // The wan knows the way to hostonly through the host, and the guest the way out: only the host's
    // forwarding stands between them, on for the forwarded port.
    await wan.ip('route', 'add', '192.168.56.0/24', 'via', UPLINK);
    const a = await boot(ns, 'pa', ['--net', 'hostonly', '--fwd', '8073-7000'], {
      if0: 'dhcp',
      gw: '192.168.56.1',
      banner: '7000',
      get: BANNER,
      tries: '2',
    });
    await waitConsole(a, /E2E: READY/);
    assert.is(await ns.output(['cat', '/proc/sys/net/ipv4/ip_forward']), '1', 'on for the forwarded port');
    assert.is(await readBanner(wan, UPLINK, 8073), 'E2E-BANNER name=pa', 'the wan reaches pa by the forward');
    assert.match(console_(a), new RegExp(`E2E: GET-FAIL ${escaped(BANNER)}`), 'the guest still has no way out');
    const ps = JSON.parse((await ns.tool(['ps', '--json'])).stdout);
    const address = ps.guests.find((guest: { name: string }) => guest.name === 'pa').nics[0].ip;
    const direct = await execa('ip', ['netns', 'exec', wan.name, 'busybox', 'nc', '-w', '2', address, '7000'], {
      reject: false,
      input: '',
    });
    assert.not.match(direct.stdout, 'E2E-BANNER', "the guest's own address is not routed to from outside");
    // br_netfilter passes frames bridged between guests through the same hook (where it is loaded, as on this
    // machine, it is made to): they still pass.
    if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables'))
      assert.is((await ns.exec(['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'])).exitCode, 0);
    const b = await boot(ns, 'pb', ['--net', 'hostonly'], { if0: 'dhcp', get: 'pa:7000' });
    await waitConsole(b, /E2E: READY/);
    assert.match(console_(b), /E2E: GET-OK pa:7000 E2E-BANNER name=pa/, 'hostonly guests reach each other');
    await stop(ns, a, b);
    assert.equal(await firewallOf(ns), before, 'the firewall and ip_forward are exactly as before');
    await assertClean(ns, ['lo', 'uplink0'], [a.pid, b.pid]);
  }));

test('kill -9 of the guests and supervisors on natnet, then gc: every rule gone, ip_forward back', () =>
  withDockerWan(true, async (ns) => {
    const before = await firewallOf(ns);
    const a = await boot(ns, 'ka', ['--net', 'natnet', '--fwd', '8072-7000'], {
      if0: 'dhcp',
      get: BANNER,
      v6: '1',
      get6: BANNER6,
    });
    await waitConsole(a, /E2E: GET6-OK/);
    assert.match(await ns.output(['nft', 'list', 'tables']), 'table ip qemu_script_fwd_tcp_8072');
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
