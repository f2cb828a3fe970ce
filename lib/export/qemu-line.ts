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
