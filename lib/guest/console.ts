// qemu-script console NAME: the guest's serial console (and, on Ctrl-A c, its monitor) from the
// private socket in the guest's directory, like `virsh console`. On a terminal the keys go through
// raw and Ctrl-] detaches; otherwise standard input and output are piped, for scripts.
import type { Socket } from 'node:net';
import type { ToolContext } from '../base/context.ts';
import { UsageError } from '../base/errors.ts';
import { builtin } from '../base/builtin.ts';
import { printErr } from '../base/output.ts';
import { consoleSocketPath } from '../base/paths.ts';
import { isAlive } from '../base/proc.ts';
import { readRecord } from '../state/guests.ts';

/** Ctrl-], as telnet and virsh console use it. */
const DETACH = 0x1d;

export async function attachConsole(context: ToolContext, name: string): Promise<number> {
  const record = readRecord(context.runtimeDir, name);
  if (!record || !isAlive(record.qemu)) {
    throw new UsageError(`console: no running guest named "${name}" (see qemu-script ps)`);
  }
  if (record.plan.display === 'stdio') {
    throw new UsageError(`console: ${name}'s console is on the terminal that started it (--display stdio)`);
  }
  const path = consoleSocketPath(record.plan.runDir);
  const net = await builtin<typeof import('node:net')>('node:net');
  const socket: Socket = await new Promise((resolve, reject) => {
    const client = net.createConnection(path);
    client.once('connect', () => resolve(client));
    client.once('error', (error) =>
      reject(new UsageError(`console: cannot reach ${name}'s console at ${path} (${error.message})`, { cause: error })),
    );
  });
  const tty = process.stdin.isTTY === true;
  if (tty) {
    printErr(`Connected to ${name}'s console; Ctrl-] detaches (Ctrl-A c switches to the monitor)\r\n`);
    process.stdin.setRawMode(true);
  }
  return new Promise((done) => {
    const finish = (code: number) => {
      if (tty) process.stdin.setRawMode(false);
      process.stdin.pause();
      socket.destroy();
      done(code);
    };
    process.stdin.on('data', (chunk: Buffer) => {
      const detach = tty ? chunk.indexOf(DETACH) : -1;
      if (detach < 0) {
        socket.write(chunk);
        return;
      }
      socket.write(chunk.subarray(0, detach));
      printErr('\r\ndetached\r\n');
      finish(0);
    });
    // Piped input that ends leaves the console open until the guest closes it or the caller stops us.
    socket.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    socket.on('close', () => finish(0));
    socket.on('error', () => finish(1));
  });
}
