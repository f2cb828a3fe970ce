// Processes from /proc: an identity that survives PID reuse (PID and start time), liveness, parents.
import { readFileSync, readlinkSync } from 'node:fs';

/** Fields of /proc/PID/stat after the command name (which may hold spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** A process identity that survives PID reuse: its pid and its start time. */
export interface ProcessId {
  pid: number;
  start: string;
}

export function processId(pid: number): ProcessId | undefined {
  const fields = statFields(pid);
  return fields ? { pid, start: fields[19] } : undefined;
}

export function isAlive(id: ProcessId | undefined): boolean {
  if (!id) return false;
  const fields = statFields(id.pid);
  // A zombie has exited already: nothing of it is running.
  return fields !== undefined && fields[19] === id.start && fields[0] !== 'Z';
}

/** The real uid a process runs as. */
export function processUid(pid: number): number | undefined {
  try {
    const match = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The program a process runs (root reads every process's). */
export function processExe(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

export function parentPid(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields ? Number(fields[1]) : undefined;
}

/** This boot's id: what is true of the host until it reboots is kept under it. */
export function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** The network namespace this process runs in ("net:[4026531840]"): interfaces are per namespace. */
export function currentNetns(): string {
  try {
    return readlinkSync('/proc/self/ns/net');
  } catch {
    return 'net:[unknown]';
  }
}
