// qemu-script export libvirt and libvirt-net: a guest or a launch line, and a defined network, as libvirt XML.
import { UsageError } from '../base/errors.ts';
import type { Flag, Subcommand } from '../cli/command.ts';
import { parseArgs } from '../cli/parse-args.ts';
import { emit, exportDomain, exportNetwork, planToExport } from '../export/commands.ts';

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

export const EXPORT_COMMANDS: readonly Subcommand[] = [
  {
    name: 'export libvirt',
    guestArgument: true,
    args: 'NAME | LAUNCH LINE...',
    summary:
      'a libvirt domain XML equivalent to a running guest or to a launch line (what libvirt cannot say goes ' +
      'to stderr)',
    flags: [APPLY_FLAG('domain', 'virsh define')],
    positionals: [0, 0],
    launchLine: true,
    run: async ({ flags, rest }, context) => {
      const plan = await planToExport(rest, context, () => launchOptionsOf(rest));
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
