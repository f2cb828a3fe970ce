#!/usr/bin/env -S sh -c 'exec node --import "$(dirname "$(readlink -f "$0")")/node_modules/tsx/dist/loader.mjs" "$0" "$@"'
// qemu-script: wires the pipeline  parse args → probe host → plan → apply → launch → cleanup,
// and hands every other first word to the subcommand table.
import { existsSync } from 'node:fs';
import { toolContext, type ToolContext } from './lib/context.ts';
import { HostError, exitCodeOf } from './lib/errors.ts';
import { collectGarbage } from './lib/gc.ts';
import { listRecords } from './lib/guests.ts';
import { helpText } from './lib/help.ts';
import { reserveGuest, runInBackground, runInForeground, runQemuInformational } from './lib/launch.ts';
import { ensureOwnDir, withLock } from './lib/lock.ts';
import { parseArgs } from './lib/parse-args.ts';
import { printErr, printOut } from './lib/output.ts';
import { planLaunch } from './lib/plan.ts';
import { planWithFreePorts } from './lib/port-check.ts';
import { probeHost } from './lib/probe.ts';
import { currentNetns } from './lib/proc.ts';
import { readRegistry } from './lib/registry.ts';
import { renderDryRun, renderDryRunJson } from './lib/render.ts';
import { readSettings } from './lib/settings.ts';
import { withReservations } from './lib/reservations.ts';
import { findSubcommand, firstWordTypo, runSubcommand } from './lib/subcommands.ts';
import type { LaunchOptions } from './lib/types.ts';
import { VERSION, unsupportedNode } from './lib/version.ts';

async function planWith(options: LaunchOptions, context: ToolContext) {
  const probed = probeHost({
    disks: options.disks,
    settings: options.settings,
    cwd: process.cwd(),
    env: process.env,
    selfCommand: context.selfCommand,
    // The bridge ACL matters only where a bridge is joined or made.
    bridges: options.net.some((item) => item.kind === 'bridge' || item.kind === 'bridged'),
    hostIp: options.hostIp !== undefined,
    netNames: options.net.flatMap((item) => (item.kind === 'bridge' ? [item.name] : [])),
    // Only the bridged adapter and macvtap care whether a LAN link is a veth: otherwise sysfs is enough.
    linkKinds: options.net.some((item) => item.kind === 'bridged' || item.kind === 'macvtap'),
    wants: { usb: options.usb.length > 0, firmware: options.uefi, kvm: options.accel !== 'tcg' },
  });
  const facts = withReservations(
    probed,
    listRecords(context.runtimeDir),
    readRegistry(context.registryDir),
    currentNetns(),
  );
  return planWithFreePorts(facts, (known) => planLaunch(options, known));
}

function warn(warnings: string[], options: LaunchOptions): void {
  if (options.quiet) return;
  for (const warning of warnings) printErr(`qemu-script: warning: ${warning}\n`);
}

async function launch(options: LaunchOptions): Promise<number> {
  const context = toolContext();
  if (options.dryRun) {
    // Reads only: no lock, no directory, no sudo.
    const { plan } = await planWith(options, context);
    warn(plan.warnings, options);
    printOut(options.json ? renderDryRunJson(plan) : renderDryRun(plan));
    return 0;
  }
  ensureOwnDir(context.runtimeDir);
  await collectGarbage(context.runtimeDir, context).catch(() => undefined);
  // Probe, plan and reserve under one lock: concurrent launches never pick the same port, MAC or name.
  const record = await withLock(context.runtimeDir, async () => {
    const { facts, plan } = await planWith(options, context);
    warn(plan.warnings, options);
    return reserveGuest(context.runtimeDir, plan, facts, {
      netns: currentNetns(),
      registryDir: context.registryDir,
      verbose: options.verbose,
    });
  });
  // --verbose: the whole plan up front (a background supervisor's own output goes to its log).
  if (options.verbose) printErr(renderDryRun(record.plan));
  const output = options.json ? 'json' : options.quiet ? 'quiet' : 'text';
  return options.foreground
    ? runInForeground(context.runtimeDir, record, output)
    : runInBackground(context.runtimeDir, record, context.selfCommand, output);
}

async function main(argv: string[]): Promise<number> {
  const oldNode = unsupportedNode(process.versions.node);
  if (oldNode) throw new HostError(oldNode);
  const subcommand = findSubcommand(argv);
  if (subcommand) return runSubcommand(subcommand.command, subcommand.rest);
  firstWordTypo(argv, existsSync);
  const parsed = parseArgs(argv, process.env);
  if (parsed.command === 'help') {
    printOut(helpText());
    return 0;
  }
  if (parsed.command === 'version') {
    printOut(`qemu-script ${VERSION}\n`);
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
    printErr(`qemu-script: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = exitCodeOf(error);
  },
);
