// Every --json output: one object, keys in snake_case whatever the plain objects inside call them
// (a change of spelling would be a new version of the output), two-space indented, one line at the end.

const CAPITAL = /[A-Z]/;
const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/**
 * Renames an object's keys as JSON.stringify reaches it: one walk, and a copy only of objects that have a
 * camelCase key (a 16-NIC plan is some 600 objects; copying every one cost ~1 ms of a dry run).
 */
function snakeCase(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (!keys.some((key) => CAPITAL.test(key))) return value;
  const renamed: Record<string, unknown> = {};
  for (const key of keys) renamed[snake(key)] = (value as Record<string, unknown>)[key];
  return renamed;
}

export function jsonOutput(value: Record<string, unknown>): string {
  return `${JSON.stringify(value, snakeCase, 2)}\n`;
}
