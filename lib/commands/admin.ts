// qemu-script doctor and setup: the host's preparation, checked and made.
import { renderDoctor, runDoctor } from '../admin/doctor.ts';
import { setup, undoSetup } from '../admin/setup.ts';
import { UsageError } from '../base/errors.ts';
import { jsonOutput } from '../base/json.ts';
import { DEFAULT_GROUP } from '../base/names.ts';
import { printOut } from '../base/output.ts';
import type { FlagValue, Subcommand } from '../cli/command.ts';
import { readSettings } from '../cli/settings.ts';
import { probeFirewall } from '../probe/firewall.ts';
import { currentUser } from '../probe/host-access.ts';
import { JSON_FLAG, print, text, texts } from './words.ts';

const rootDir = (value: FlagValue, what: string) => {
  const dir = text(value);
  if (dir === undefined) return '';
  if (!dir.startsWith('/')) throw new UsageError(`${what} --root needs an absolute directory`);
  return dir.replace(/\/+$/, '');
};

export const ADMIN_COMMANDS: readonly Subcommand[] = [
  {
    name: 'doctor',
    args: '',
    summary: 'check the host preparation; prints the command that fixes each problem',
    flags: [
      JSON_FLAG,
      { name: 'group', value: 'G', help: `the group members are in (default ${DEFAULT_GROUP})` },
      { name: 'root', value: 'DIR', help: 'read /etc under DIR' },
    ],
    positionals: [0, 0],
    run: async ({ flags }, context) => {
      const root = rootDir(flags.root, 'doctor');
      const group = text(flags.group) ?? DEFAULT_GROUP;
      const host = { root, procSys: '/proc/sys', sys: '/sys', ...currentUser() };
      const firewall = probeFirewall();
      const results = await runDoctor({
        host,
        settings: readSettings(process.env),
        group,
        selfCommand: context.selfCommand,
        config: context.config,
        firewall,
        runtimeDir: context.runtimeDir,
      });
      printOut(flags.json ? jsonOutput({ version: 1, checks: results }) : renderDoctor(results));
      return results.some((result) => result.status === 'fail') ? 1 : 0;
    },
  },
  {
    name: 'setup',
    args: '',
    summary: 'prepare the host as root (group, bridge helper, udev, sysctl, sudoers)',
    flags: [
      { name: 'user', value: 'NAME', repeatable: true, help: 'add this user to the group (repeatable)' },
      {
        name: 'allow-bridge',
        value: 'BRIDGE',
        repeatable: true,
        help: 'let members attach guests to this existing bridge (repeatable)',
      },
      {
        name: 'allow-macvtap',
        value: 'IF',
        repeatable: true,
        help: 'let members put macvtaps on this link (physical NICs need not be named)',
      },
      { name: 'group', value: 'G', help: `the group (default ${DEFAULT_GROUP})` },
      { name: 'dry-run', help: 'show what would change' },
      { name: 'undo', help: 'remove what setup wrote and put back what it changed' },
      { name: 'root', value: 'DIR', help: 'write under DIR instead of /' },
      { name: 'binary', value: 'PATH', help: 'the installed executable sudoers names (default: this one)' },
    ],
    positionals: [0, 0],
    run: async ({ flags }, context) => {
      const options = {
        root: rootDir(flags.root, 'setup'),
        group: text(flags.group) ?? DEFAULT_GROUP,
        users: texts(flags.user),
        dryRun: Boolean(flags['dry-run']),
        allowBridges: texts(flags['allow-bridge']),
        allowMacvtaps: texts(flags['allow-macvtap']),
        binary: text(flags.binary) ?? context.selfCommand.at(-1)!,
        settings: readSettings(process.env),
      };
      return print(flags.undo ? await undoSetup(options) : await setup(options));
    },
  },
];
