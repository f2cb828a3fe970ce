// Shared by the bench sections: statistics, the tiny guest's arguments, processes by namespace.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { ROOT } from '../test/helpers.ts';
import type { Netns } from '../test/netns.ts';

export const SEA = `${ROOT}/dist/qemu-script`;
export const CJS = `${ROOT}/dist/qemu-script.cjs`;
const KERNEL = `${ROOT}/.cache/guest/vmlinuz`;
const INITRD = `${ROOT}/.cache/guest/initrd.gz`;
export const RUNS = Number(process.env.BENCH_RUNS ?? 3);
export const logs = mkdtempSync(`${tmpdir()}/qs-bench-`);
/** A guest with no disk idles in the firmware: the issue's `-nodefaults -m 64` guest. */
/** A guest idling in its firmware, without its NIC's boot ROM (iPXE polls it and keeps a core busy under TCG). */
export const IDLE_GUEST = ['--display', 'none', '--accel', 'tcg', '-m', '64', '-global', 'virtio-net-pci.romfile='];

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
export const now = () => performance.now();
export const ms = (value: number) => `${value.toFixed(1)} ms`;
export const mib = (kib: number) => `${(kib / 1024).toFixed(2)} MiB`;
export const met = (ok: boolean) => (ok ? 'yes' : '**no**');

/** Markdown table rows. */
export function table(header: string[], rows: string[][]): string[] {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`);
}

export async function machine(): Promise<string> {
  const qemu = (await execa('qemu-system-x86_64', ['--version'])).stdout
    .split('\n')[0]
    .replace(/^QEMU emulator version /, '');
  const os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const cpu = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}`;
  return (
    `${when} UTC, ${os}, ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, QEMU ${qemu} (TCG), ` +
    `Node.js ${process.versions.node}`
  );
}

export function guestArgs(name: string, values: Record<string, string>): string[] {
  const append = [
    'console=ttyS0',
    'panic=-1',
    'quiet',
    `e2e_name=${name}`,
    ...Object.entries(values).map(([k, v]) => `e2e_${k}=${v}`),
  ].join(' ');
  return [
    '-m',
    '160',
    '-kernel',
    KERNEL,
    '-initrd',
    INITRD,
    '-append',
    append,
    '-serial',
    `file:${logs}/${name}.log`,
    '-no-reboot',
  ];
}

export interface ProcessUse {
  pid: number;
  comm: string;
  rssKiB: number;
  pssKiB: number;
}

function field(text: string, name: string): number {
  return Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
}

/** Every process living in the namespace (the guests' QEMUs and whatever the tool left with them). */
export function processesIn(ns: Netns): ProcessUse[] {
  const inode = `net:[${statSync(`/run/netns/${ns.name}`).ino}]`;
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        if (readlinkSync(`/proc/${entry}/ns/net`) !== inode) return [];
        const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
        const rssKiB = field(readFileSync(`/proc/${entry}/status`, 'utf8'), 'VmRSS');
        const pssKiB = field(readFileSync(`/proc/${entry}/smaps_rollup`, 'utf8'), 'Pss');
        return [{ pid: Number(entry), comm, rssKiB, pssKiB }];
      } catch {
        return [];
      }
    });
}

export const isQemu = (p: ProcessUse) => p.comm.startsWith('qemu-system');
export const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
