import { NET_SPEC_HELP } from './net-spec.ts';
import { OWN_OPTIONS } from './own-options.ts';
import { ENV_VARIABLES } from './settings.ts';
import { subcommandUsage } from './subcommands.ts';

function optionLine(option: (typeof OWN_OPTIONS)[number]): string {
  const spellings = [`--${option.name}`, ...option.aliases].join(', ');
  const left = `  ${spellings}${option.value ? ` ${option.value}` : ''}`;
  return left.length < 40 ? `${left.padEnd(40)}${option.help}` : `${left}\n${' '.repeat(40)}${option.help}`;
}

export function helpText(): string {
  return `qemu-script: start a QEMU guest with VirtualBox-like networking; builds the host side and removes it afterwards.

Usage:
  qemu-script [own options | QEMU options | disks] [--] [QEMU options]
${subcommandUsage()}
  (qemu-script COMMAND --help for each command's options)

Words that are existing files or block devices are disks. Every option the tool does not own goes to
QEMU verbatim, in order, with its value (-m 2G, -smp 2, -cpu host, -snapshot, -device ...); after --
everything is QEMU's. Precedence, lowest first: defaults, VM_* variables, own options, QEMU options
after --, QEMU options before --.

Options:
${OWN_OPTIONS.map(optionLine).join('\n')}

${NET_SPEC_HELP}

Environment:
${ENV_VARIABLES.map((variable) => `  ${variable.name.padEnd(25)}${variable.meaning} (default ${variable.default})`).join('\n')}

Examples:
  qemu-script disk.qcow2                          user network, SSH on localhost:10022 (or next free)
  qemu-script disk.qcow2 --net vmnet0             TAP on bridge vmnet0, created now and removed with its last guest
  qemu-script disk.qcow2 --net user,vmnet0 --host-ip 192.168.255.5/24
                                                  NAT plus an internal bridge the host can reach
  qemu-script router.qcow2 --net u0 ; qemu-script client.qcow2 --net 0
                                                  a router guest between the NAT and internal network 0
  qemu-script -disk gparted.iso -disk disk.qcow2 -net tap:p0a -m 2G -smp 2
  qemu-script --dry-run disk.qcow2 --net bridge   print every host command and the QEMU line; change nothing

Exit codes: 0 success, 1 a host-side failure (nothing is left behind), 2 bad input (nothing was done).
`;
}
