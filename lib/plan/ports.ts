// Host ports for a plan: the first free from a base, never one another guest or this plan holds.
import { UsageError } from '../base/errors.ts';

/** Hands out host TCP ports: the first free one from a base, never one already handed out. */
export class PortPicker {
  private readonly used: Set<number>;
  readonly picked: number[] = [];
  /** What of this command line took each port it asked for by number. */
  private readonly askedBy = new Map<number, string>();

  constructor(used: Iterable<number>) {
    this.used = new Set(used);
  }

  firstFree(from: number): number {
    for (let port = from; port <= 65535; port++) {
      if (!this.used.has(port)) return this.take(port);
    }
    throw new UsageError(`no free TCP port from ${from} up`);
  }

  exactly(port: number, what: string): number {
    const other = this.askedBy.get(port);
    if (other) throw new UsageError(`${what} ${port}: this line gives host port ${port} twice (${other} too)`);
    if (this.used.has(port)) throw new UsageError(`${what} ${port}: host port ${port} is in use on this host`);
    this.askedBy.set(port, what);
    return this.take(port);
  }

  private take(port: number): number {
    this.used.add(port);
    this.picked.push(port);
    return port;
  }
}
