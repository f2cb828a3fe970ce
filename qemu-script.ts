#!/usr/bin/env -S sh -c 'exec node --import "$(dirname "$(readlink -f "$0")")/node_modules/tsx/dist/loader.mjs" "$0" "$@"'
// qemu-script: wires the pipeline  parse args → probe host → plan → apply → launch → cleanup,
// and hands every other first word to the subcommand table.
import { existsSync } from 'node:fs';
import { toolContext } from './lib/base/context.ts';
import { HostError, exitCodeOf, messageOf } from './lib/base/errors.ts';
import { collectGarbage } from './lib/guest/gc.ts';
import { removeRecord } from './lib/state/guests.ts';
import { currentNetns } from './lib/base/proc.ts';
import { helpText, usageText } from './lib/cli/help.ts';
import { reserveGuest, runInBackground, runInForeground, runQemuInformational } from './lib/guest/launch.ts';
import { ensureOwnDir, withLock } from './lib/base/lock.ts';
import { parseArgs } from './lib/cli/parse-args.ts';
import { printErr, printOut } from './lib/base/output.ts';
import { HELPER_NAME, isHelperProgram } from './lib/base/self.ts';
import { helperMain } from './lib/apply/helper.ts';
import { renderDryRun, renderDryRunJson } from './lib/plan/render.ts';
import { readSettings } from './lib/cli/settings.ts';
import { findSubcommand, firstWordTypo, runSubcommand } from './lib/cli/subcommands.ts';
import { VERSION, unsupportedNode } from './lib/base/version.ts';
import { jsonOutput } from './lib/base/json.ts';
import { unsaidThisBoot } from './lib/state/notices.ts';
import { prepareGuest } from './lib/guest/prepare.ts';
import { planLine, probeCloud } from './lib/guest/plan-line.ts';
import { startCompanions, stopCompanions } from './lib/guest/companions.ts';
import type { LaunchOptions } from './lib/base/types.ts';

function warn(warnings: string[], options: LaunchOptions): void {
  if (options.quiet) return;
  for (const warning of warnings) printErr(`qemu-script: warning: ${warning}\n`);
}

async function launch(options: LaunchOptions): Promise<number> {
  const context = toolContext();
  // The caller's files (--ssh-key, --user-data) are checked before anything is made.
  const cloudInit = await probeCloud(options);
  if (options.dryRun) {
    // Reads only: no lock, no directory, no sudo.
    const { plan } = await planLine(options, context, cloudInit, { makeKeys: false, askKvm: false });
    warn([...plan.notices, ...plan.warnings], options);
    printOut(options.json ? renderDryRunJson(plan) : renderDryRun(plan));
    return 0;
  }
  ensureOwnDir(context.runtimeDir);
  await collectGarbage(context.runtimeDir, context).catch(() => undefined);
  // Probe, plan and reserve under one lock: concurrent launches never pick the same port, MAC or name.
  const record = await withLock(context.runtimeDir, async () => {
    const { facts, plan } = await planLine(options, context, cloudInit, { makeKeys: true, askKvm: true });
    // What is about the host is said once per boot; what is about this line, every time.
    warn([...(options.quiet ? [] : unsaidThisBoot(context.runtimeDir, plan.notices)), ...plan.warnings], options);
    return reserveGuest(context.runtimeDir, plan, facts, {
      netns: currentNetns(),
      registryDir: context.registryDir,
      verbose: options.verbose,
    });
  });
  try {
    await prepareGuest(record);
    await startCompanions(context.runtimeDir, record);
  } catch (error) {
    await stopCompanions(record);
    removeRecord(context.runtimeDir, record.name);
    throw error;
  }
  const output = options.json ? 'json' : options.quiet ? 'quiet' : 'text';
  return options.foreground
    ? runInForeground(context.runtimeDir, record, output)
    : runInBackground(context.runtimeDir, record, context.selfCommand, output);
}

async function main(argv: string[]): Promise<number> {
  const oldNode = unsupportedNode(process.versions.node);
  if (oldNode) throw new HostError(oldNode);
  // Under its helper name the tool is the privileged entry point and nothing else, whatever argv says.
  if (isHelperProgram()) {
    printOut(await helperMain(argv, process.env));
    return 0;
  }
  if (argv.length === 0) {
    // Nothing asked for: nothing started (a guest with no disk takes an explicit option).
    printErr(usageText());
    return 2;
  }
  const subcommand = findSubcommand(argv);
  if (subcommand) return runSubcommand(subcommand.command, subcommand.rest);
  firstWordTypo(argv, existsSync);
  const parsed = parseArgs(argv, process.env);
  if (parsed.command === 'help') {
    printOut(helpText());
    return 0;
  }
  if (parsed.command === 'version') {
    const json = jsonOutput({ version: 1, name: 'qemu-script', tool_version: VERSION });
    printOut(parsed.json ? json : `qemu-script ${VERSION}\n`);
    return 0;
  }
  if (parsed.command === 'qemu-info') return runQemuInformational(readSettings(process.env).qemuBinary, parsed.argv);
  return launch(parsed.options);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    printErr(`${isHelperProgram() ? HELPER_NAME : 'qemu-script'}: ${messageOf(error)}\n`);
    process.exitCode = exitCodeOf(error);
  },
);
