// The dry run: a plan printed as the commands that would run (or one JSON object), and the host commands root or
// the helper really runs for it.
import { kindOf } from '../actions/index.ts';
import { addRequest, helperArgv, releaseRequest } from '../actions/privilege.ts';
import { shellLine } from '../base/shell-quote.ts';
import type { CloudInitPlan, Command, Plan } from '../base/types.ts';
import { jsonOutput } from '../base/json.ts';

/** The commands this host really runs for the plan's actions: as root, or one sudo request each. */
export function hostCommands(plan: Pick<Plan, 'actions' | 'privilege'>): { host: Command[]; cleanup: Command[] } {
  const { isRoot, selfCommand } = plan.privilege;
  // Undone in reverse order of creation.
  if (isRoot) {
    const shown = plan.actions.map((action) => kindOf(action).show(action));
    return { host: shown.flatMap(({ apply }) => apply), cleanup: shown.reverse().flatMap(({ undo }) => undo) };
  }
  const ask = (words: string[]): Command => ({ argv: helperArgv(selfCommand, words) });
  return {
    host: plan.actions.map((action) => ask(addRequest(action))),
    cleanup: [...plan.actions].reverse().map((action) => ask(releaseRequest(action))),
  };
}

function commandLine(command: Command): string {
  if (command.argv.length === 0) return `# ${command.note ?? ''}`;
  return command.note ? `${shellLine(command.argv)}  # ${command.note}` : shellLine(command.argv);
}

/** The QEMU command as a shell would run it, extra descriptors opened by redirections. */
function qemuLine(plan: Plan): string {
  const redirections = plan.qemu.fds.map((fd) => `${fd.fd}<>${shellLine([fd.path])}`);
  return [shellLine(plan.qemu.argv), ...redirections].join(' ');
}

/**
 * What the user's side makes or starts before QEMU (an overlay over an image, --cloud-init's key pair and seed,
 * passt), as the user.
 */
function preparation(plan: Plan): string[] {
  const cloud = plan.cloudInit;
  if (!cloud && plan.companions.length === 0 && !plan.prepare) return [];
  return [
    `# guest ${plan.name}: made as you before QEMU starts`,
    ...(plan.prepare ?? []).map(commandLine),
    ...(cloud
      ? [
          ...cloud.keygen.map(commandLine),
          ...Object.keys(cloud.files).map((file) => `# write ${plan.runDir}/cidata/${file}`),
          ...cloud.prepare.map(commandLine),
        ]
      : []),
    ...plan.companions.map((companion) =>
      commandLine({ argv: companion.argv, note: 'in the background, ended with the guest' }),
    ),
  ];
}

/** --dry-run: host commands, the QEMU command, the cleanup; paste-able, comments for the rest. */
export function renderDryRun(plan: Plan): string {
  const { host, cleanup } = hostCommands(plan);
  return (
    [
      ...preparation(plan),
      `# guest ${plan.name}: host commands`,
      ...host.map(commandLine),
      '# QEMU',
      qemuLine(plan),
      '# cleanup when the guest is gone',
      ...cleanup.map(commandLine),
      ...plan.messages.map((message) => `# ${message}`),
    ].join('\n') + '\n'
  );
}

/** The plan as data. Version 2: every key in snake_case (version 1 spelled some in camelCase). */
function cloudInitJson(cloud: CloudInitPlan) {
  return {
    seed: cloud.seed,
    instance_id: cloud.instanceId,
    login: cloud.login,
    identity: cloud.identity ?? null,
    known_hosts: cloud.knownHosts,
    files: Object.keys(cloud.files),
    keygen: cloud.keygen,
    prepare: cloud.prepare,
  };
}

export function renderDryRunJson(plan: Plan): string {
  const { host, cleanup } = hostCommands(plan);
  return jsonOutput({
    version: 2,
    name: plan.name,
    qemu: { argv: plan.qemu.argv, fds: plan.qemu.fds },
    actions: plan.actions,
    companions: plan.companions,
    host,
    cleanup,
    messages: plan.messages,
    warnings: plan.warnings,
    foreground: plan.foreground,
    resources: plan.resources,
    ...(plan.prepare ? { prepare: plan.prepare } : {}),
    ...(plan.consoleLog ? { console_log: plan.consoleLog } : {}),
    // The seed's files are not shown: the user-data holds the guest's private host key.
    ...(plan.cloudInit ? { cloud_init: cloudInitJson(plan.cloudInit) } : {}),
  });
}
