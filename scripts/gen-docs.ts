// Build-time documents made from the tool's own tables (no runtime cost):
// the man page and the completion scripts `make install` puts in place.
//   node --import tsx scripts/gen-docs.ts OUTDIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { completionScript } from '../lib/cli/completion.ts';
import { NET_ITEM_HELP } from '../lib/plan/net-spec.ts';
import { OWN_OPTIONS } from '../lib/cli/own-options.ts';
import { ENV_VARIABLES } from '../lib/cli/settings.ts';
import { SUBCOMMANDS } from '../lib/commands/table.ts';
import { VERSION } from '../lib/base/version.ts';

/** Text as roff reads it: backslashes, dashes of options, and no line starting with a control character. */
const roff = (text: string) =>
  text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
const item = (term: string, body: string) => `.TP\n.B ${roff(term)}\n${roff(body)}`;

function manPage(): string {
  const visible = SUBCOMMANDS.filter((command) => !command.hidden);
  const commands = visible.map((command) => {
    const flags = command.flags.map(
      (flag) =>
        `.RS\n.TP\n.B \\-\\-${roff(flag.name)}${flag.value ? ` ${roff(flag.value)}` : ''}\n${roff(flag.help)}\n.RE`,
    );
    return [
      item(`qemu-script ${[command.name, command.args].filter(Boolean).join(' ')}`, command.summary),
      ...flags,
    ].join('\n');
  });
  const options = OWN_OPTIONS.map((option) =>
    item(`${[`--${option.name}`, ...option.aliases].join(', ')}${option.value ? ` ${option.value}` : ''}`, option.help),
  );
  return [
    `.TH QEMU-SCRIPT 1 "" "qemu-script ${VERSION}" "User Commands"`,
    '.SH NAME',
    'qemu\\-script \\- start a QEMU guest with VirtualBox\\-like networking',
    '.SH SYNOPSIS',
    '.B qemu\\-script',
    '[\\fIown options\\fR | \\fIQEMU options\\fR | \\fIdisks\\fR] [\\fB\\-\\-\\fR] [\\fIQEMU options\\fR]',
    ...visible.map(
      (command) =>
        `.br\n\\fBqemu\\-script ${roff(command.name)}\\fR${command.args ? ` \\fI${roff(command.args)}\\fR` : ''}`,
    ),
    '.SH DESCRIPTION',
    roff(
      'qemu-script builds the host side of the network the guest asks for (bridges, TAPs, macvtaps, DHCP and ' +
        'DNS, NAT), starts QEMU, and removes what it built when the guest is gone, on every path: power-off, ' +
        'crash, signals, and after a kill -9 with qemu-script gc.',
    ),
    '.PP',
    roff(
      "Words that are existing files or block devices are disks. QEMU's own options go to QEMU verbatim, in " +
        "order, with their values; an option neither the tool nor QEMU knows is refused with a suggestion; after " +
        "-- everything is QEMU's, unchecked.",
    ),
    '.SH OPTIONS',
    ...options,
    '.SH NETWORKS',
    roff('--net takes a comma-separated list (or is repeated); NICs appear in the order written.'),
    ...NET_ITEM_HELP.map(([name, meaning]) => item(name, meaning)),
    '.SH COMMANDS',
    ...commands,
    '.SH ENVIRONMENT',
    ...ENV_VARIABLES.map((variable) => item(variable.name, `${variable.meaning} (default ${variable.default})`)),
    '.SH FILES',
    item('/etc/qemu-script/networks/NAME.json', 'network definitions (net create)'),
    item('/etc/qemu-script/limits.json', 'what one user may hold at once: {"bridges": 8, "macvtaps": 8, "taps": 32}'),
    item('/run/qemu-script', "root's runtime directory: guests, the registry of host changes, network servers"),
    '.SH EXIT STATUS',
    roff('0 success; 1 a host-side failure (what was built is rolled back); 2 bad input (nothing was done).'),
    '.SH EXAMPLES',
    '.nf',
    roff('qemu-script disk.qcow2                     # user network, SSH on localhost:10022'),
    roff('qemu-script disk.qcow2 --net hostonly      # host-only network with DHCP and names'),
    roff('qemu-script disk.qcow2 --net user,vmnet0   # NAT plus an internal bridge'),
    roff('qemu-script --dry-run disk.qcow2 --net bridge'),
    '.fi',
    '.SH SEE ALSO',
    '.BR qemu\\-system\\-x86_64 (1),',
    '.BR dnsmasq (8)',
    '',
  ].join('\n');
}

const out = process.argv[2] ?? 'dist';
mkdirSync(`${out}/completions`, { recursive: true });
writeFileSync(`${out}/qemu-script.1`, manPage());
writeFileSync(`${out}/completions/qemu-script.bash`, completionScript('bash', SUBCOMMANDS));
writeFileSync(`${out}/completions/_qemu-script`, completionScript('zsh', SUBCOMMANDS));
writeFileSync(`${out}/completions/qemu-script.fish`, completionScript('fish', SUBCOMMANDS));
