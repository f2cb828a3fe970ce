// Every --json output: one object, keys in snake_case whatever the plain objects inside call them
// (a change of spelling would be a new version of the output), two-space indented, one line at the end.

const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [snake(key), snakeKeys(inner)]));
}

export function jsonOutput(value: Record<string, unknown>): string {
  return `${JSON.stringify(snakeKeys(value), null, 2)}\n`;
}
