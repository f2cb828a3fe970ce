#!/usr/bin/env -S sh -c 'exec node --import "$(dirname "$(readlink -f "$0")")/node_modules/tsx/dist/loader.mjs" "$0" "$@"'
// qemu-script: wires the pipeline  parse args → probe host → plan → apply → launch → cleanup.
import minimist from 'minimist';
import { renderDoctor, runDoctor } from './lib/doctor.ts';
import { UsageError, exitCodeOf } from './lib/errors.ts';
import { currentUser } from './lib/host-access.ts';
import { readSettings } from './lib/settings.ts';
import { setup, undoSetup } from './lib/setup.ts';
import { collectGarbage } from './lib/gc.ts';
import { down, gc, ps, type GuestContext } from './lib/guest-commands.ts';
import { listRecords } from './lib/guests.ts';
import { helpText } from './lib/help.ts';
import { reserveGuest, runInBackground, runInForeground, supervisorMain } from './lib/launch.ts';
import { ensureOwnDir, withLock } from './lib/lock.ts';
import { netHelperMain } from './lib/net-helper.ts';
import { parseArgs } from './lib/parse-args.ts';
import { SYSTEM_RUN_DIR } from './lib/paths.ts';
import { planLaunch } from './lib/plan.ts';
import { probeHost, runtimeDirFor } from './lib/probe.ts';
import { currentNetns } from './lib/proc.ts';
import { readRegistry } from './lib/registry.ts';
import { renderDryRun, renderDryRunJson } from './lib/render.ts';
import { withReservations } from './lib/reservations.ts';
import { selfCommand } from './lib/self.ts';
import type { LaunchOptions } from './lib/types.ts';
import { VERSION } from './lib/version.ts';

function guestContext(): GuestContext {
  const uid = process.getuid?.() ?? 0;
  const runtimeDir = runtimeDirFor(uid, process.env);
  return { runtimeDir, isRoot: uid === 0, selfCommand: selfCommand(), registryDir: uid === 0 ? runtimeDir : SYSTEM_RUN_DIR };
}

function planWith(options: LaunchOptions, context: GuestContext) {
  const probed = probeHost({ disks: options.disks, settings: options.settings, cwd: process.cwd(), env: process.env, selfCommand: context.selfCommand });
  const facts = withReservations(probed, listRecords(context.runtimeDir), readRegistry(context.registryDir), currentNetns());
  return { facts, plan: planLaunch(options, facts) };
}

async function launch(options: LaunchOptions): Promise<number> {
  const context = guestContext();
  if (options.dryRun) {
    // Reads only: no lock, no directory, no sudo.
    const { plan } = planWith(options, context);
    for (const warning of plan.warnings) process.stderr.write(`qemu-script: warning: ${warning}\n`);
    process.stdout.write(options.json ? renderDryRunJson(plan) : renderDryRun(plan));
    return 0;
  }
  ensureOwnDir(context.runtimeDir);
  await collectGarbage(context.runtimeDir, context).catch(() => undefined);
  // Probe, plan and reserve under one lock: concurrent launches never pick the same port, MAC or name.
  const record = await withLock(context.runtimeDir, () => {
    const { facts, plan } = planWith(options, context);
    for (const warning of plan.warnings) process.stderr.write(`qemu-script: warning: ${warning}\n`);
    return reserveGuest(context.runtimeDir, plan, facts, { netns: currentNetns(), registryDir: context.registryDir, verbose: options.verbose });
  });
  // --verbose: the whole plan up front (a background supervisor's own output goes to its log).
  if (options.verbose) process.stderr.write(renderDryRun(record.plan));
  return options.foreground ? runInForeground(context.runtimeDir, record) : runInBackground(context.runtimeDir, record, context.selfCommand);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const flags = minimist(rest, { boolean: ['json', 'force', 'dry-run', 'undo'], string: ['timeout', 'group', 'user', 'root', 'binary'] });
  const group = String(flags.group ?? 'qemusers');
  switch (command) {
    case 'doctor': {
      const user = await currentUser();
      // --root: read /etc from elsewhere (tests); the rest is the live host.
      const root = flags.root === undefined ? '' : String(flags.root).replace(/\/+$/, '');
      const results = await runDoctor({ host: { root, procSys: '/proc/sys', sys: '/sys', ...user }, settings: readSettings(process.env), group, selfCommand: selfCommand() });
      process.stdout.write(flags.json ? `${JSON.stringify(results, null, 2)}\n` : renderDoctor(results));
      return results.some((result) => result.status === 'fail') ? 1 : 0;
    }
    case 'setup': {
      const root = flags.root === undefined ? '' : String(flags.root).replace(/\/+$/, '');
      if (flags.root !== undefined && !root.startsWith('/')) throw new UsageError('setup --root needs an absolute directory');
      const options = {
        root, group, user: flags.user === undefined ? undefined : String(flags.user), dryRun: Boolean(flags['dry-run']),
        binary: String(flags.binary ?? selfCommand().at(-1)), settings: readSettings(process.env),
      };
      process.stdout.write(flags.undo ? await undoSetup(options) : await setup(options));
      return 0;
    }
    case 'ps':
      process.stdout.write(ps(guestContext(), Boolean(flags.json)));
      return 0;
    case 'down': {
      const timeoutSeconds = Number(flags.timeout ?? 60);
      if (!(timeoutSeconds >= 0)) throw new UsageError(`down --timeout: "${flags.timeout}" is not a number of seconds`);
      ensureOwnDir(guestContext().runtimeDir);
      process.stdout.write(await down(guestContext(), flags._[0] === undefined ? undefined : String(flags._[0]), { force: Boolean(flags.force), timeoutSeconds }));
      return 0;
    }
    case 'gc':
      ensureOwnDir(guestContext().runtimeDir);
      process.stdout.write(await gc(guestContext()));
      return 0;
    case 'net-helper':
      process.stdout.write(await netHelperMain(rest, process.env));
      return 0;
    case '__supervise':
      return supervisorMain(rest[0], rest[1]);
  }
  const parsed = parseArgs(argv, process.env);
  if (parsed.command === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  if (parsed.command === 'version') {
    process.stdout.write(`qemu-script ${VERSION}\n`);
    return 0;
  }
  return launch(parsed.options);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    process.stderr.write(`qemu-script: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = exitCodeOf(error);
  },
);
