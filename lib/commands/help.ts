// --help and the bare usage: the tool's options, networks, environment and every subcommand, from their tables.
import { NET_ITEM_HELP } from '../plan/net-spec.ts';
import { OWN_OPTIONS } from '../cli/own-options.ts';
import { ENV_VARIABLES } from '../cli/settings.ts';
import { SUBCOMMANDS } from './table.ts';
import { wrap } from '../base/table.ts';

const WIDTH = 80;

/** Two columns within 80: the left one, then the text wrapped beside it (or below, when the left is wide). */
function row(left: string, text: string, column: number): string {
  const body = wrap(text, WIDTH - column);
  const pad = ' '.repeat(column);
  const first = left.length < column - 1 ? `${left.padEnd(column)}${body[0] ?? ''}` : `${left}\n${pad}${body[0] ?? ''}`;
  return [first, ...body.slice(1).map((line) => `${pad}${line}`)].join('\n');
}

const paragraph = (text: string) => wrap(text, WIDTH).join('\n');

/** What a bare `qemu-script` prints (to stderr, exit 2): how to start a guest, and where to read more. */
export function usageText(): string {
  return [
    'Usage: qemu-script DISK... [options] [--] [QEMU options]',
    '       qemu-script COMMAND ... (image, create, start, stop, ps, ssh, log, info, net, doctor, setup ...)',
    '',
    row('  qemu-script disk.qcow2', 'start a guest: user network, SSH on localhost:10022', 32),
    row('  qemu-script --net user', 'a guest with no disk (the firmware idles)', 32),
    row('  qemu-script --help', 'every option, network and command', 32),
    '',
  ].join('\n');
}

export function helpText(): string {
  const commands = SUBCOMMANDS.filter((command) => !command.hidden).map((command) =>
    row(`  qemu-script ${[command.name, command.args].filter(Boolean).join(' ')}`, command.summary, 30),
  );
  const options = OWN_OPTIONS.map((option) =>
    row(
      `  ${[`--${option.name}`, ...option.aliases].join(', ')}${option.value ? ` ${option.value}` : ''}`,
      option.help,
      30,
    ),
  );
  const nets = NET_ITEM_HELP.map(([item, meaning]) => row(`  ${item}`, meaning, 20));
  const env = ENV_VARIABLES.map((variable) =>
    row(`  ${variable.name}`, `${variable.meaning} (default ${variable.default})`, 26),
  );
  return [
    paragraph(
      'qemu-script: start a QEMU guest with VirtualBox-like networking; it builds the host side of the network ' +
        'and removes it afterwards.',
    ),
    '',
    'Usage:',
    '  qemu-script [own options | QEMU options | disks] [--] [QEMU options]',
    ...commands,
    '  (qemu-script COMMAND --help shows its options)',
    '',
    paragraph(
      "Words that are existing files or block devices are disks. QEMU's own options go to QEMU verbatim, in " +
        "order, with their values (-m 2G, -smp 2, -cpu host, -snapshot, -device ...); an option neither the tool " +
        "nor QEMU knows is refused; after -- everything is QEMU's, unchecked. Precedence, lowest first: defaults, " +
        "VM_* variables, own options, QEMU options after --, QEMU options before --.",
    ),
    '',
    'Options:',
    ...options,
    '',
    'Networks (--net NET,NET,... or repeated; NICs in the order written):',
    ...nets,
    '',
    'Environment:',
    ...env,
    '',
    'Examples:',
    row('  qemu-script disk.qcow2', 'user network, SSH on localhost:10022', 44),
    row('  qemu-script disk.qcow2 --net hostonly', 'host-only network with DHCP and names', 44),
    row('  qemu-script disk.qcow2 --net user,vmnet0', 'NAT plus an internal bridge', 44),
    row('  qemu-script -disk live.iso -disk d.qcow2 -net tap:p0a -m 2G', 'four NICs, two disks', 44),
    row('  qemu-script --dry-run disk.qcow2 --net bridge', 'print every command; change nothing', 44),
    '',
    paragraph('Exit codes: 0 success, 1 a host-side failure (nothing is left behind), 2 bad input (nothing was done).'),
    '',
  ].join('\n');
}
