// Node.js built-in modules loaded on first use. process.getBuiltinModule (Node ≥ 20.16) hands
// them over directly; import() would first start the ESM loader, milliseconds at every launch.
type GetBuiltin = (id: string) => unknown;

export async function builtin<T>(id: 'node:net' | 'node:dgram'): Promise<T> {
  const get = (process as unknown as { getBuiltinModule?: GetBuiltin }).getBuiltinModule;
  return (get ? get(id) : await import(id)) as T;
}
