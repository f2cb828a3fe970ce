import { UsageError } from '../base/errors.ts';

/** Hands out host TCP ports: the first free one from a base, never one already handed out. */
export class PortPicker {
  private readonly used: Set<number>;
  readonly picked: number[] = [];

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
    if (this.used.has(port)) throw new UsageError(`${what}: host port ${port} is already in use; choose another`);
    return this.take(port);
  }

  private take(port: number): number {
    this.used.add(port);
    this.picked.push(port);
    return port;
  }
}
