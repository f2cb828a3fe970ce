// A minimal client of QEMU's machine protocol (QMP) on its unix socket: one command at a time, events skipped.
import type { Socket } from 'node:net';
import { connectUnix } from './builtin.ts';

/** A minimal QMP client: one command at a time, events skipped. */
export class QmpClient {
  private buffer = '';
  private waiting: Array<(message: Record<string, unknown>) => void> = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, newline).trim();
        this.buffer = this.buffer.slice(newline + 1);
        if (!line) continue;
        const message = JSON.parse(line) as Record<string, unknown>;
        if ('event' in message) continue;
        this.waiting.shift()?.(message);
      }
    });
    socket.on('close', () => {
      this.closed = true;
      for (const resolve of this.waiting.splice(0)) resolve({ error: { desc: 'QMP connection closed' } });
    });
  }

  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = await connectUnix(path, timeoutMs, 'QMP');
    const client = new QmpClient(socket);
    await client.next(); // the greeting
    await client.execute('qmp_capabilities');
    return client;
  }

  private next(): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.resolve({ error: { desc: 'QMP connection closed' } });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = this.next();
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const message = await reply;
    if ('error' in message) throw new Error(`QMP ${command}: ${(message.error as { desc?: string }).desc ?? 'error'}`);
    return message.return;
  }

  close(): void {
    this.socket.destroy();
  }
}
