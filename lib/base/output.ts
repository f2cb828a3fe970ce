// What the tool prints goes to descriptors 1 and 2 with write(2). Creating process.stdout or
// process.stderr builds a stream over the descriptor (~1 ms of a dry run's ~8 ms), which a
// command that prints once and exits never needs; Node writes them synchronously on Linux anyway.
import { writeSync } from 'node:fs';

function print(fd: 1 | 2, text: string): void {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // The reader is gone (`| head`): nothing more to say to it.
      if (code === 'EPIPE') return;
      if (code !== 'EAGAIN') throw error;
      // A full non-blocking pipe: Node's stream queues the rest and flushes it before exit.
      (fd === 1 ? process.stdout : process.stderr).write(rest);
      return;
    }
  }
}

export const printOut = (text: string): void => print(1, text);
export const printErr = (text: string): void => print(2, text);
