// Are the host ports a plan picked really free? Asked by binding them for an instant, the same
// test QEMU's own bind makes. Listing /proc/net/tcp{,6} instead makes the kernel walk its whole
// connection table twice (milliseconds on a large host) to find a handful of listeners.
import { builtin } from '../base/builtin.ts';
import type { Plan } from '../base/types.ts';

type Protocol = 'tcp' | 'udp';

/** libuv's TCP handle, which node:net listens with; its calls answer at once, 0 or a negative errno. */
interface TcpHandle {
  bind6(address: string, port: number, flags: number): number;
  bind(address: string, port: number): number;
  listen(backlog: number): number;
  close(): void;
}

interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  constants: { SERVER: number };
}

/**
 * Node.js's own `tcp_wrap` (on process.binding's list since Node.js 10): node:net with node:stream and
 * node:cluster behind it is ~8 ms of a dry run's start-up for one synchronous bind here. Undefined where
 * this Node.js has none, and node:net asks instead.
 */
function tcpBinding(): TcpBinding | undefined {
  try {
    return (process as unknown as { binding(name: string): TcpBinding }).binding('tcp_wrap');
  } catch {
    return undefined;
  }
}

const EAFNOSUPPORT = -97;

/** Listens on PORT of every address (IPv6 and IPv4; IPv4 alone on a host without IPv6), as node:net would. */
function listensTcp(binding: TcpBinding, port: number): boolean {
  const attempt = (bind: (handle: TcpHandle) => number): number => {
    const handle = new binding.TCP(binding.constants.SERVER);
    try {
      // libuv reports an address in use at listen(), not at bind().
      const error = bind(handle);
      return error === 0 ? handle.listen(1) : error;
    } finally {
      handle.close();
    }
  };
  const dual = attempt((handle) => handle.bind6('::', port, 0));
  return (dual === EAFNOSUPPORT ? attempt((handle) => handle.bind('0.0.0.0', port)) : dual) === 0;
}

/** Binds PORT on every address (IPv6 and IPv4): any listener on it, wherever, counts as taken. */
export async function isFree(port: number, protocol: Protocol): Promise<boolean> {
  if (protocol === 'udp') {
    const { createSocket } = await builtin<typeof import('node:dgram')>('node:dgram');
    const bindUdp = (type: 'udp4' | 'udp6') =>
      new Promise<boolean | 'no-family'>((done) => {
        const socket = createSocket({ type });
        socket.once('error', (error: NodeJS.ErrnoException) =>
          done(error.code === 'EAFNOSUPPORT' ? 'no-family' : false),
        );
        socket.bind(port, () => socket.close(() => done(true)));
      });
    // A host without IPv6 has no dual-stack socket: IPv4 alone is all there is to hold.
    const dual = await bindUdp('udp6');
    return dual === 'no-family' ? (await bindUdp('udp4')) === true : dual;
  }
  const binding = tcpBinding();
  if (binding) return listensTcp(binding, port);
  const { createServer } = await builtin<typeof import('node:net')>('node:net');
  const server = createServer();
  return new Promise((done) => {
    server.once('error', () => done(false));
    server.listen(port, () => server.close(() => done(true)));
  });
}

/** The host ports of a plan that something else holds (UDP for UDP forwards, TCP for the rest). */
export async function takenPorts(plan: Plan): Promise<number[]> {
  const udp = new Set(
    plan.resources.forwards.filter((forward) => forward.proto === 'udp').map((forward) => forward.port),
  );
  const taken: number[] = [];
  for (const port of plan.resources.ports) {
    if (!(await isFree(port, udp.has(port) ? 'udp' : 'tcp'))) taken.push(port);
  }
  return taken;
}

/**
 * Plans, then checks the ports it picked; a port found taken joins the used ones and the plan is
 * made again (an explicit port then fails as "in use"). Each round rules out one more port at least.
 */
export async function planWithFreePorts<F extends { usedTcpPorts: number[] }>(
  facts: F,
  planFor: (facts: F) => Plan,
): Promise<{ facts: F; plan: Plan }> {
  for (;;) {
    const plan = planFor(facts);
    const taken = await takenPorts(plan);
    if (taken.length === 0) return { facts, plan };
    facts = { ...facts, usedTcpPorts: [...facts.usedTcpPorts, ...taken] };
  }
}
