import { shellLine } from './shell-quote.ts';
import type { Command, Plan } from './types.ts';

function commandLine(command: Command): string {
  return command.note ? `${shellLine(command.argv)}  # ${command.note}` : shellLine(command.argv);
}

/** The QEMU command as a shell would run it, extra descriptors opened by redirections. */
export function qemuLine(plan: Plan): string {
  const redirections = plan.qemu.fds.map((fd) => `${fd.fd}<>${shellLine([fd.path])}`);
  return [shellLine(plan.qemu.argv), ...redirections].join(' ');
}

/** --dry-run: host commands, the QEMU command, the cleanup; paste-able, comments for the rest. */
export function renderDryRun(plan: Plan): string {
  return [
    `# guest ${plan.name}: host commands`,
    ...plan.host.map(commandLine),
    '# QEMU',
    qemuLine(plan),
    '# cleanup when the guest is gone',
    ...plan.cleanup.map(commandLine),
    ...plan.messages.map((message) => `# ${message}`),
  ].join('\n') + '\n';
}

export function renderDryRunJson(plan: Plan): string {
  return JSON.stringify({
    name: plan.name,
    qemu: { argv: plan.qemu.argv, fds: plan.qemu.fds },
    host: plan.host,
    cleanup: plan.cleanup,
    messages: plan.messages,
    warnings: plan.warnings,
    foreground: plan.foreground,
    resources: plan.resources,
  }, null, 2) + '\n';
}
