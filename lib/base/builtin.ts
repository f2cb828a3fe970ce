// Node.js built-in modules loaded on first use. process.getBuiltinModule (Node ≥ 20.16) hands
// them over directly; import() would first start the ESM loader, milliseconds at every launch. A module
// imported at the top is loaded by every invocation: node:child_process and node:net cost ~6 ms of a
// `--version`, so they come through here, when a command needs them.

type GetBuiltin = (id: string) => unknown;

export async function builtin<T>(id: 'node:net' | 'node:dgram' | 'node:crypto'): Promise<T> {
  const get = (process as unknown as { getBuiltinModule?: GetBuiltin }).getBuiltinModule;
  return (get ? get(id) : await import(id)) as T;
}

/** node:child_process, synchronously (the probe stage runs programs synchronously); older Node.js through require. */
export function childProcess(): typeof import('node:child_process') {
  const get = (process as unknown as { getBuiltinModule?: GetBuiltin }).getBuiltinModule;
  const id = 'node:child_process';
  // Older Node.js runs the .cjs artifact alone, where require is the module's own (node:module costs ~1 ms).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (get ? get(id) : require('node:child_process')) as typeof import('node:child_process');
}

/** A connection to a unix socket, or the reason there is none (`what` names the socket in the error). */
export async function connectUnix(path: string, timeoutMs: number, what: string): Promise<import('node:net').Socket> {
  const { createConnection } = await builtin<typeof import('node:net')>('node:net');
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${what}: no answer on ${path}`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
