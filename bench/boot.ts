// Boot to a usable guest per network mode (tool vs by hand), and guest ↔ guest throughput.
import { execa, type ResultPromise } from 'execa';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Netns, waitFor } from '../test/netns.ts';
import { RUNS, guestArgs, logs, median, now, table } from './common.ts';

async function bannerFrom(ns: string, host: string, port: number): Promise<void> {
  await waitFor(
    async () => {
      const r = await execa('ip', ['netns', 'exec', ns, 'busybox', 'nc', '-w', '1', host, String(port)], {
        reject: false,
        input: '',
      });
      return r.stdout.includes('E2E-BANNER');
    },
    120000,
    `banner ${host}:${port}`,
  );
}

const consoleSays = (name: string, pattern: RegExp) =>
  waitFor(
    () => {
      try {
        return pattern.test(readFileSync(`${logs}/${name}.log`, 'utf8'));
      } catch {
        return false;
      }
    },
    120000,
    `${name} ${pattern}`,
  );

interface Mode {
  name: string;
  net: string[];
  values: Record<string, string>;
  setup?: (ns: Netns, lan: Netns) => Promise<void>;
  ready: (ns: Netns, lan: Netns, ssh: number, guest: string) => Promise<void>;
}

const MODES: Mode[] = [
  {
    name: 'user (SSH forward)',
    net: ['--net', 'user'],
    values: { if0: 'dhcp', banner: '22' },
    ready: (ns, _l, ssh) => bannerFrom(ns.name, '127.0.0.1', ssh),
  },
  {
    name: 'internal multicast',
    net: ['--net', '0'],
    values: { if0: '192.168.77.11/24', banner: '7000' },
    ready: (_n, _l, _s, guest) => consoleSays(guest, /E2E: READY/),
  },
  {
    name: 'bridge vmnet0 + TAP',
    net: ['--net', 'vmnet0', '--host-ip', '192.168.255.5/24'],
    values: { if0: '192.168.255.11/24', banner: '7000' },
    ready: (ns) => bannerFrom(ns.name, '192.168.255.11', 7000),
  },
  {
    name: 'bridged adapter (macvtap)',
    net: ['--net', 'p'],
    values: { if0: '192.168.254.11/24', banner: '7000' },
    setup: async (ns, lan) => {
      await ns.ip('link', 'add', 'vparent', 'type', 'veth', 'peer', 'name', 'vpeer', 'netns', lan.name);
      await ns.ip('addr', 'add', '192.168.254.2/24', 'dev', 'vparent');
      await ns.ip('link', 'set', 'vparent', 'up');
      await ns.ip('route', 'add', 'default', 'via', '192.168.254.1');
      await lan.ip('addr', 'add', '192.168.254.1/24', 'dev', 'vpeer');
      await lan.ip('link', 'set', 'vpeer', 'up');
    },
    ready: (_ns, lan) => bannerFrom(lan.name, '192.168.254.11', 7000),
  },
];

/** The same guest started by hand: the plan's host commands, then QEMU with its descriptors. */
async function byHand(
  ns: Netns,
  plan: {
    host: Array<{ argv: string[] }>;
    qemu: { argv: string[]; fds: Array<{ fd: number; path: string; macvtap?: string }> };
  },
): Promise<{ qemu: ResultPromise; undo: () => Promise<void> }> {
  const created: string[] = [];
  for (const { argv } of plan.host) {
    if (argv[0] === 'mknod') {
      const name = plan.qemu.fds.find((fd) => fd.path === argv[3])!.macvtap!;
      const dir = (await ns.exec(['sh', '-c', `echo /sys/class/net/${name}/macvtap/tap*`])).stdout.trim();
      const [major, minor] = (await ns.exec(['cat', `${dir}/dev`])).stdout.trim().split(':');
      await execa('mkdir', ['-p', argv[3].slice(0, argv[3].lastIndexOf('/'))]);
      await execa('mknod', [argv[3], 'c', major, minor]);
      continue;
    }
    await ns.exec(argv);
    if (argv[2] === 'add') created.push(argv[argv.indexOf('name') + 1]);
  }
  const fds = plan.qemu.fds.map((fd) => openSync(fd.path, 'r+'));
  const stdio = ['ignore', 'ignore', 'pipe', ...fds] as never;
  const runDir = /unix:(.*)\/qmp\.sock/.exec(plan.qemu.argv.join(' '))![1];
  await execa('mkdir', ['-p', runDir]);
  const qemu = execa('ip', ['netns', 'exec', ns.name, ...plan.qemu.argv], { stdio, reject: false });
  for (const fd of fds) closeSync(fd);
  return {
    qemu,
    undo: async () => {
      qemu.kill('SIGKILL');
      await qemu;
      for (const name of created.reverse()) await ns.ip('link', 'del', name).catch(() => undefined);
      for (const fd of plan.qemu.fds) rmSync(fd.path, { force: true });
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

async function measureMode(mode: Mode): Promise<{ tool: number; hand: number }> {
  const tool: number[] = [];
  const hand: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    for (const how of ['tool', 'hand'] as const) {
      const ns = await Netns.create();
      const lan = await Netns.create();
      try {
        await mode.setup?.(ns, lan);
        const guest = `b${run}${how}`;
        writeFileSync(`${logs}/${guest}.log`, '');
        const args = [
          '--display',
          'none',
          '--accel',
          'tcg',
          '--name',
          guest,
          ...mode.net,
          ...guestArgs(guest, mode.values),
        ];
        if (how === 'tool') {
          const t0 = now();
          const started = await ns.tool(args);
          if (started.exitCode !== 0) throw new Error(started.stderr);
          const ssh = Number(/SSH on localhost:(\d+)/.exec(started.stdout)?.[1] ?? 0);
          await mode.ready(ns, lan, ssh, guest);
          tool.push(now() - t0);
          await ns.tool(['down', '--force', guest]);
        } else {
          const planned = JSON.parse((await ns.tool(['--dry-run', '--json', ...args])).stdout);
          const t0 = now();
          const started = await byHand(ns, planned);
          const ssh = Number(/hostfwd=tcp:127\.0\.0\.1:(\d+)-:22/.exec(planned.qemu.argv.join(' '))?.[1] ?? 0);
          await mode.ready(ns, lan, ssh, guest);
          hand.push(now() - t0);
          await started.undo();
        }
      } finally {
        await lan.destroy();
        await ns.destroy();
      }
    }
  }
  return { tool: median(tool), hand: median(hand) };
}

/** The test guest NAME in NS with NET and its e2e_* VALUES, headless under TCG; throws if it does not start. */
async function startGuest(ns: Netns, name: string, net: string[], values: Record<string, string>): Promise<void> {
  const started = await ns.tool([
    '--display',
    'none',
    '--accel',
    'tcg',
    '--name',
    name,
    ...net,
    ...guestArgs(name, values),
  ]);
  if (started.exitCode !== 0) throw new Error(started.stderr);
}

/** guest B streams 64 MiB to guest A; the guest reports the seconds it took. */
async function throughput(net: string[], extra: string[] = []): Promise<number> {
  const ns = await Netns.create();
  try {
    const a = 'tpA';
    const b = 'tpB';
    for (const name of [a, b]) writeFileSync(`${logs}/${name}.log`, '');
    const sink = await ns.tool([
      '--display',
      'none',
      '--accel',
      'tcg',
      '--name',
      a,
      ...net,
      ...extra,
      ...guestArgs(a, { if0: '192.168.88.11/24', sink: '5001' }),
    ]);
    if (sink.exitCode !== 0) throw new Error(sink.stderr);
    await consoleSays(a, /E2E: READY/);
    await startGuest(ns, b, net, { if0: '192.168.88.12/24', send: '192.168.88.11:5001:64' });
    await consoleSays(b, /E2E: SENT/);
    // Counted by the receiving guest: the stream really crossed the network.
    await consoleSays(a, /E2E: RECEIVED 67108864/);
    const seconds = Number(/E2E: SENT 64 MiB in ([\d.]+) s/.exec(readFileSync(`${logs}/${b}.log`, 'utf8'))![1]);
    for (const name of [a, b]) await ns.tool(['down', '--force', name]);
    return 64 / seconds;
  } finally {
    await ns.destroy();
  }
}

/** A host-side sink in NS on ADDRESS:5001: resolves with the bytes it received once the stream ends. */
async function hostSink(ns: Netns, address: string): Promise<{ received: Promise<number>; stop: () => void }> {
  const code =
    // The guest's probes for the port bring nothing: the stream is the connection that brings data.
    "require('net').createServer((s)=>{let n=0;s.on('data',(d)=>{n+=d.length});" +
    `s.on('end',()=>{if(n>0){console.log(n);process.exit(0)}})}).listen(5001,'${address}',()=>console.log('ready'))`;
  const sink = execa('ip', ['netns', 'exec', ns.name, process.execPath, '-e', code], { reject: false });
  await new Promise<void>((resolve) => sink.stdout!.once('data', () => resolve()));
  return {
    received: sink.then((result) => Number(String(result.stdout).trim().split('\n').pop())),
    stop: () => sink.kill('SIGKILL'),
  };
}

/** What the guest sends the host: Debian 12's passt cut a 64 MiB stream short at about 35 MiB here. */
const TO_HOST_MIB = 16;

/**
 * The guest streams 16 MiB to a sink on the host: user networking (slirp's 10.0.2.2 is the host's
 * loopback), passt (the gateway's address is the host's loopback), a TAP on a bridge with the host's address.
 */
async function guestToHost(mode: 'user' | 'passt' | 'tap'): Promise<number> {
  const ns = await Netns.create();
  try {
    // passt copies the host's addresses and routes: the namespace gets an uplink and a default route.
    await ns.ip('link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1');
    await ns.ip('addr', 'add', '203.0.113.2/24', 'dev', 'up0');
    for (const link of ['up0', 'up1']) await ns.ip('link', 'set', link, 'up');
    await ns.ip('route', 'add', 'default', 'via', '203.0.113.1');
    const { net, sinkAt, target, if0 } = {
      user: { net: ['--net', 'user', '--ssh-port', 'none'], sinkAt: '127.0.0.1', target: '10.0.2.2', if0: 'dhcp' },
      passt: { net: ['--net', 'passt', '--ssh-port', 'none'], sinkAt: '127.0.0.1', target: '203.0.113.1', if0: 'dhcp' },
      tap: {
        net: ['--net', 'vmnet0', '--host-ip', '192.168.88.1/24'],
        // The bridge and its address come with the guest: the sink listens before.
        sinkAt: '0.0.0.0',
        target: '192.168.88.1',
        if0: '192.168.88.12/24',
      },
    }[mode];
    const sink = await hostSink(ns, sinkAt);
    try {
      const name = `th${mode}`;
      writeFileSync(`${logs}/${name}.log`, '');
      await startGuest(ns, name, net, { if0, send: `${target}:5001:${TO_HOST_MIB}` });
      try {
        await consoleSays(name, /E2E: SENT/);
        const received = await sink.received;
        if (received !== TO_HOST_MIB * 1024 * 1024) throw new Error(`${mode}: the host received ${received} bytes`);
        const log = readFileSync(`${logs}/${name}.log`, 'utf8');
        return TO_HOST_MIB / Number(new RegExp(`E2E: SENT ${TO_HOST_MIB} MiB in ([\\d.]+) s`).exec(log)![1]);
      } finally {
        // A failed measurement leaves no guest behind.
        await ns.tool(['down', '--force', name]);
      }
    } finally {
      sink.stop();
    }
  } finally {
    await ns.destroy();
  }
}

/** The host's own veth pair between two namespaces: 1 GiB over TCP with node (64 KiB writes). */
async function vethLimit(): Promise<number> {
  const a = await Netns.create();
  const b = await Netns.create();
  try {
    await a.ip('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b.name);
    await a.ip('addr', 'add', '10.55.0.1/24', 'dev', 'va');
    await b.ip('addr', 'add', '10.55.0.2/24', 'dev', 'vb');
    await a.ip('link', 'set', 'va', 'up');
    await b.ip('link', 'set', 'vb', 'up');
    const sinkCode =
      "let n=0;require('net').createServer((s)=>{s.on('data',(d)=>{n+=d.length});" +
      "s.on('end',()=>{console.log(n);process.exit(0)})}).listen(5001,()=>console.log('ready'))";
    const sink = execa('ip', ['netns', 'exec', b.name, process.execPath, '-e', sinkCode], { reject: false });
    await new Promise<void>((resolve) => sink.stdout!.once('data', () => resolve()));
    const sendCode =
      "const s=require('net').connect(5001,'10.55.0.2');const buf=Buffer.alloc(65536);let left=16384;const " +
      "go=()=>{while(left>0){left--;if(!s.write(buf))return s.once('drain',go)}s.end()};s.on('connect',go)";
    const t0 = now();
    await execa('ip', ['netns', 'exec', a.name, process.execPath, '-e', sendCode]);
    const received = Number((await sink).stdout.trim().split('\n').pop());
    const seconds = (now() - t0) / 1000;
    if (received !== 1024 * 1024 * 1024) throw new Error(`veth: received ${received} bytes`);
    return 1024 / seconds;
  } finally {
    await a.destroy();
    await b.destroy();
  }
}

export async function bootTable(): Promise<string[]> {
  const rows: string[][] = [];
  for (const mode of MODES) {
    const { tool, hand } = await measureMode(mode);
    rows.push([
      mode.name,
      `${(tool / 1000).toFixed(2)} s`,
      `${(hand / 1000).toFixed(2)} s`,
      `×${(tool / hand).toFixed(2)}`,
    ]);
  }
  return [
    `Invocation → the guest's banner readable, median of ${RUNS}:`,
    '',
    ...table(['network mode', 'qemu-script', 'by hand', 'overhead'], rows),
  ];
}

export async function throughputTable(): Promise<string[]> {
  return [
    'Guest ↔ guest TCP, 64 MiB:',
    '',
    ...table(
      ['path', 'MiB/s'],
      [
        ['socket multicast (`--net 0`)', (await throughput(['--net', '0'])).toFixed(1)],
        ['bridge + TAP (`--net vmnet0`)', (await throughput(['--net', 'vmnet0'])).toFixed(1)],
        ['host veth pair between namespaces (no guest, 1 GiB, node)', (await vethLimit()).toFixed(1)],
      ],
    ),
    '',
    `Guest → host TCP, ${TO_HOST_MIB} MiB, by network mode:`,
    '',
    ...table(
      ['path', 'MiB/s'],
      [
        ['user networking, slirp (`--net user`)', (await guestToHost('user')).toFixed(1)],
        ['passt (`--net passt`)', (await guestToHost('passt')).toFixed(1)],
        ['bridge + TAP, host address on the bridge (`--net vmnet0 --host-ip`)', (await guestToHost('tap')).toFixed(1)],
      ],
    ),
  ];
}
