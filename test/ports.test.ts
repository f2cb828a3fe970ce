// Host ports: a plan's ports are checked by binding them, the way QEMU will. Unit tests bind
// loopback ports of this process; the integration tests hold ports in a namespace of their own.
import { execa, type ResultPromise } from 'execa';
import { createServer, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planWithFreePorts, takenPorts } from '../lib/probe/port-check.ts';
import type { Plan } from '../lib/base/types.ts';
import { plan as planFor } from './helpers.ts';
import { inNetns, type Netns } from './netns.ts';

function listening(): Promise<Server> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => done(server));
  });
}
const portOf = (server: Server) => (server.address() as { port: number }).port;
const closed = (server: Server) => new Promise<void>((done) => server.close(() => done()));

/** A port nothing holds right now: one the kernel just gave out and took back. */
async function freePort(): Promise<number> {
  const server = await listening();
  const port = portOf(server);
  await closed(server);
  return port;
}

const portsOnly = (ports: number[], udp: number[] = []): Plan =>
  ({
    resources: {
      ports,
      forwards: udp.map((port) => ({ proto: 'udp', host: '127.0.0.1', port, guest_port: 53 })),
      nics: [],
      macs: [],
      interfaces: [],
    },
  }) as unknown as Plan;

test('takenPorts: a TCP listener on loopback makes its port taken; a free port is not', async () => {
  const server = await listening();
  const port = portOf(server);
  try {
    const free = await freePort();
    assert.equal(await takenPorts(portsOnly([port, free])), [port]);
  } finally {
    await closed(server);
  }
  assert.equal(await takenPorts(portsOnly([port])), [], 'free again once closed');
});

test("takenPorts: a UDP forward's port is checked for UDP, not TCP", async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((done) => socket.bind(0, '127.0.0.1', () => done()));
  const port = socket.address().port;
  try {
    assert.equal(await takenPorts(portsOnly([port], [port])), [port], 'held for UDP');
    assert.equal(await takenPorts(portsOnly([port])), [], 'as a TCP port it is free');
  } finally {
    socket.close();
  }
});

test('planWithFreePorts: an explicit port in use fails as "in use"', async () => {
  const server = await listening();
  try {
    const port = String(portOf(server));
    await planWithFreePorts({ usedTcpPorts: [] as number[] }, (known) =>
      planFor(['--net', 'u', '--ssh-port', port], { usedTcpPorts: known.usedTcpPorts }),
    );
    assert.unreachable('an explicit port in use must fail');
  } catch (error) {
    const port = portOf(server);
    assert.is((error as Error).message, `--ssh-port ${port}: host port ${port} is in use on this host`);
  } finally {
    await closed(server);
  }
});

test('planWithFreePorts: plans again with each taken port ruled out until every picked port is free', async () => {
  const servers = [await listening(), await listening()];
  const held = servers.map(portOf);
  const free = await freePort();
  try {
    const rounds: number[][] = [];
    // A stand-in planner: the picker's base is fixed (10022), so it offers the held ports first.
    const { facts, plan } = await planWithFreePorts({ usedTcpPorts: [] as number[] }, (known) => {
      rounds.push(known.usedTcpPorts);
      return portsOnly([held.find((port) => !known.usedTcpPorts.includes(port)) ?? free]);
    });
    assert.equal(rounds, [[], [held[0]], held]);
    assert.equal(plan.resources.ports, [free]);
    assert.equal(facts.usedTcpPorts, held);
  } finally {
    for (const server of servers) await closed(server);
  }
});

/** A process of ours in the namespace holding PORT (tcp or udp) on every address. */
async function holdPort(ns: Netns, protocol: 'tcp' | 'udp', port: number): Promise<{ holder: ResultPromise }> {
  const code =
    protocol === 'tcp'
      ? `require('net').createServer().listen(${port}, () => console.log('ready'))`
      : `require('dgram').createSocket('udp4').bind(${port}, '127.0.0.1', () => console.log('ready'))`;
  const holder = execa('ip', ['netns', 'exec', ns.name, process.execPath, '-e', code], { reject: false });
  await new Promise<void>((done) => holder.stdout!.once('data', () => done()));
  // Wrapped: a returned promise would be awaited, and the holder runs until we end it.
  return { holder };
}

test(
  'in a namespace: a port held by another program is skipped for SSH, refused for --fwd, and the guest gets the next',
  () =>
  inNetns(async (ns) => {
    const { holder: tcp } = await holdPort(ns, 'tcp', 10022);
    const { holder: udp } = await holdPort(ns, 'udp', 10031);
    try {
      const dry = await ns.tool(['--dry-run', '--json', '--net', 'u', '--display', 'none']);
      assert.is(dry.exitCode, 0, dry.stderr);
      assert.equal(
        JSON.parse(dry.stdout).qemu.argv.filter((word: string) => word.startsWith('user,')),
        ['user,id=nic0,hostfwd=tcp:127.0.0.1:10023-:22'],
      );
      const refused = await ns.tool(['--dry-run', '--net', 'u', '--fwd', '10022-80', '--display', 'none']);
      assert.is(refused.exitCode, 2);
      assert.is(refused.stderr.trim(), 'qemu-script: --fwd 10022: host port 10022 is in use on this host');
      const udpRefused = await ns.tool(['--dry-run', '--net', 'u', '--fwd', 'udp:10031-53', '--display', 'none']);
      assert.is(udpRefused.exitCode, 2);
      assert.is(udpRefused.stderr.trim(), 'qemu-script: --fwd 10031: host port 10031 is in use on this host');
      const udpFree = await ns.tool(['--dry-run', '--net', 'u', '--fwd', 'udp:10032-53', '--display', 'none']);
      assert.is(udpFree.exitCode, 0, udpFree.stderr);
      assert.match(udpFree.stdout, /hostfwd=tcp:127\.0\.0\.1:10023-:22,hostfwd=udp:127\.0\.0\.1:10032-:53/);
    } finally {
      tcp.kill();
      udp.kill();
      await Promise.all([tcp, udp]);
    }
    const free = await ns.tool(['--dry-run', '--net', 'u', '--display', 'none']);
    assert.match(free.stdout, /hostfwd=tcp:127\.0\.0\.1:10022-:22/, 'free again once its holder is gone');
  }));

test.run();
