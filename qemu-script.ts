#!/usr/bin/env -S npx tsx
// qemu-script: wires the pipeline  parse args → probe host → plan → apply → launch → cleanup.
import { exitCodeOf } from './lib/errors.ts';
import { helpText } from './lib/help.ts';
import { parseArgs } from './lib/parse-args.ts';
import { planLaunch } from './lib/plan.ts';
import { probeHost } from './lib/probe.ts';
import { renderDryRun, renderDryRunJson } from './lib/render.ts';
import { selfCommand } from './lib/self.ts';
import { VERSION } from './lib/version.ts';
import { launchGuest } from './lib/launch.ts';

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, process.env);
  if (parsed.command === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  if (parsed.command === 'version') {
    process.stdout.write(`qemu-script ${VERSION}\n`);
    return 0;
  }
  const { options } = parsed;
  const facts = probeHost({ disks: options.disks, settings: options.settings, cwd: process.cwd(), env: process.env, selfCommand: selfCommand() });
  const plan = planLaunch(options, facts);
  for (const warning of plan.warnings) process.stderr.write(`qemu-script: warning: ${warning}\n`);
  if (options.dryRun) {
    process.stdout.write(options.json ? renderDryRunJson(plan) : renderDryRun(plan));
    return 0;
  }
  return launchGuest(plan, { verbose: options.verbose });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    process.stderr.write(`qemu-script: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = exitCodeOf(error);
  },
);
