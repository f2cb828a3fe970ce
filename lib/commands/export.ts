// qemu-script export libvirt and libvirt-net: a guest or a launch line, and a defined network, as libvirt XML.
import { UsageError } from '../base/errors.ts';
import type { Flag, Subcommand } from '../cli/command.ts';
import { parseArgs } from '../cli/parse-args.ts';
import type { ToolContext } from '../base/context.ts';
import type { LaunchOptions } from '../base/types.ts';
import { readLab } from '../cli/lab-file.ts';
import { emit, emitAll, exportDomain, exportNetwork, planToExport, type ExportItem } from '../export/commands.ts';
import { instanceExists, readInstance } from '../store/instances.ts';
import { instanceLaunchOptions } from './instances.ts';
import { readFileSync } from 'node:fs';
import { readNetworks } from '../net/networks.ts';
import { resolve } from 'node:path';

const APPLY_FLAG = (what: string, how: string): Flag => ({
  name: 'apply',
  help: `define the ${what} in libvirt (${how}; root or group libvirt) instead of printing it`,
});

/** A launch line as `export libvirt` reads it: parsed as a launch would be, never run. */
function launchOptionsOf(words: string[]) {
  const parsed = parseArgs(words, process.env);
  if (parsed.command !== 'launch') throw new UsageError('export libvirt: needs a launch line, not --help or --version');
  return parsed.options;
}

/** A stopped instance's launch, as start would boot it. */
const stoppedInstance = (context: ToolContext) => async (name: string): Promise<LaunchOptions | undefined> =>
  instanceExists(context.instancesDir, name)
    ? instanceLaunchOptions(context, name, [], 'export libvirt')
    : undefined;

const isLabFile = (words: string[]) => words.length > 0 && /\.ya?ml$/.test(words[0]) && !words[0].startsWith('-');

/** `export libvirt LAB.yaml [--output DIR] [--apply]`: the flags may follow the file too. */
function labWords(words: string[], flags: { output?: string; apply: boolean }) {
  const [file, ...after] = words;
  let { output, apply } = flags;
  for (let i = 0; i < after.length; i++) {
    const [flag, inline] = after[i].split(/=(.*)/s, 2);
    if (flag === '--apply' && inline === undefined) apply = true;
    else if (flag === '--output' && (inline ?? after[i + 1]) !== undefined) output = inline ?? after[++i];
    else throw new UsageError(`export libvirt ${file}: unknown word ${after[i]} (accepted: --output DIR, --apply)`);
  }
  if (!output && !apply)
    throw new UsageError(
      `export libvirt ${file}: give --output DIR (one XML file per domain and network), --apply, or both`,
    );
  return { file: resolve(file), output, apply };
}

/**
 * A lab's networks and guests, as `lab up` made them (its networks defined, its guests instances of it): every
 * one planned before anything is written or defined.
 */
async function labItems(context: ToolContext, path: string): Promise<ExportItem[]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`export libvirt: ${path} cannot be read`);
  }
  const lab = await readLab(path, text);
  const items: ExportItem[] = [];
  for (const network of lab.networks) {
    if (!readNetworks(context.config)[network.name])
      throw new UsageError(
        `export libvirt: lab ${lab.name}'s network ${network.name} is not defined: qemu-script lab up ${path}`,
      );
    items.push({ kind: 'network', name: network.name, exported: exportNetwork(network.name, context) });
  }
  for (const guest of lab.guests) {
    const instance = instanceExists(context.instancesDir, guest.name)
      ? await readInstance(context.instancesDir, guest.name, 'export libvirt')
      : undefined;
    if (instance?.lab !== lab.name)
      throw new UsageError(
        `export libvirt: lab ${lab.name}'s guest ${guest.name} is not made: qemu-script lab up ${path}`,
      );
    const plan = await planToExport([guest.name], context, () => {
      throw new UsageError(`export libvirt: ${guest.name} is no instance`);
    }, stoppedInstance(context));
    items.push({ kind: 'domain', name: guest.name, exported: exportDomain(plan) });
  }
  return items;
}

export const EXPORT_COMMANDS: readonly Subcommand[] = [
  {
    name: 'export libvirt',
    guestArgument: true,
    args: 'NAME | LAB.yaml | LAUNCH LINE...',
    summary:
      'a libvirt domain XML equivalent to a running guest or to a launch line (what libvirt cannot say goes ' +
      'to stderr)',
    flags: [
      APPLY_FLAG('domain', 'virsh define'),
      { name: 'output', value: 'DIR', help: 'with a lab file: one XML file per domain and network, in DIR' },
    ],
    positionals: [0, 0],
    launchLine: true,
    run: async ({ flags, rest }, context) => {
      const output = flags.output as string | undefined;
      if (isLabFile(rest)) {
        const words = labWords(rest, { output, apply: Boolean(flags.apply) });
        return emitAll(await labItems(context, words.file), { dir: words.output, apply: words.apply });
      }
      if (output !== undefined) throw new UsageError('export libvirt --output: is for a lab file (LAB.yaml)');
      const plan = await planToExport(rest, context, () => launchOptionsOf(rest), stoppedInstance(context));
      return emit('domain', plan.name, exportDomain(plan), Boolean(flags.apply));
    },
  },
  {
    name: 'export libvirt-net',
    args: 'NETWORK',
    summary: 'a libvirt network XML for a defined network, with the addresses and names of its registered guests',
    flags: [APPLY_FLAG('network', 'virsh net-define and net-start')],
    positionals: [1, 1],
    run: async ({ flags, args }, context) =>
      emit('network', args[0], exportNetwork(args[0], context), Boolean(flags.apply)),
  },
];
