// A planned QEMU argv read back as options and their properties, for the exports.
import { qemuOption, qemuOptionName } from '../plan/qemu-options.ts';

export interface QemuWord {
  /** The option's name without its dashes (`drive`), or '' for a word that is no option (a disk). */
  option: string;
  value?: string;
}

/** The argv (without QEMU's program) as options with their values, in order. */
export function qemuWords(argv: string[]): QemuWord[] {
  const words: QemuWord[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = qemuOptionName(argv[i]);
    const known = name === undefined ? undefined : qemuOption(name);
    if (name === undefined || known === undefined) words.push({ option: '', value: argv[i] });
    else if (known.takesValue) words.push({ option: name, value: argv[++i] });
    else words.push({ option: name });
  }
  return words;
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
