// QEMU's option syntax, written and read: comma-separated properties, a comma in a value doubled, sizes.
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

export interface QemuProps {
  /** The first item when it has no `=` (a device's driver, a netdev's type), else ''. */
  head: string;
  props: Record<string, string>;
}

/** `virtio-net,netdev=nic0,mac=…` as its head and properties; `,,` is a comma inside a value. */
export function readProps(value: string): QemuProps {
  const items: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === ',' && value[i + 1] === ',') {
      current += ',';
      i++;
    } else if (value[i] === ',') {
      items.push(current);
      current = '';
    } else current += value[i];
  }
  items.push(current);
  const head = items[0].includes('=') ? '' : items.shift()!;
  const props: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at < 0) props[item] = 'on';
    else props[item.slice(0, at)] = item.slice(at + 1);
  }
  return { head, props };
}

const SIZE_MIB: Record<string, number> = { '': 1, K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/** `-m 512`, `-m 1G`, `-m size=2048M` in MiB; undefined when it is something else. */
export function memoryMiB(value: string): number | undefined {
  const { head, props } = readProps(value);
  const match = /^(\d+(?:\.\d+)?)([KMGT]?)[Bb]?$/i.exec(head || props.size || '');
  return match ? Math.round(Number(match[1]) * SIZE_MIB[match[2].toUpperCase()]) : undefined;
}
