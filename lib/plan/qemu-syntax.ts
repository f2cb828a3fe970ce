/** QEMU's option syntax: a comma inside a value is written twice. */
export function qemuValue(text: string): string {
  return text.replace(/,/g, ',,');
}

/** `key=value` pairs joined QEMU-style; undefined values are left out. */
export function qemuProps(head: string, props: Record<string, string | number | undefined>): string {
  const parts = Object.entries(props)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`);
  return [head, ...parts].filter((part) => part !== '').join(',');
}
