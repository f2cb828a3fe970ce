#!/usr/bin/env -S sh -c 'exec node --import "$(dirname "$(readlink -f "$0")")/node_modules/tsx/dist/loader.mjs" "$0" "$@"'
// qemu-script: wires the pipeline  parse args → probe host → plan → apply → launch → cleanup,
// and hands every other first word to the subcommand table.
import { existsSync } from 'node:fs';
import { toolContext } from './lib/base/context.ts';
import { HostError, exitCodeOf, messageOf } from './lib/base/errors.ts';
import { jsonOutput } from './lib/base/json.ts';
import { printErr, printOut } from './lib/base/output.ts';
import { HELPER_NAME, isHelperProgram } from './lib/base/self.ts';
import { VERSION, unsupportedNode } from './lib/base/version.ts';
import { helperMain } from './lib/apply/helper.ts';
import { parseArgs } from './lib/cli/parse-args.ts';
import { readSettings } from './lib/cli/settings.ts';
import { helpText, usageText } from './lib/commands/help.ts';
import { findSubcommand, firstWordTypo, helpWith, runSubcommand } from './lib/commands/table.ts';
import { launchAndWait } from './lib/guest/announce.ts';
import { WAIT_SECONDS } from './lib/guest/ssh.ts';
import { runQemuInformational } from './lib/launch/launch.ts';

async function main(argv: string[]): Promise<number> {
  const oldNode = unsupportedNode(process.versions.node);
  if (oldNode) throw new HostError(oldNode);
  // Under its helper name the tool is the privileged entry point and nothing else, whatever argv says.
  if (isHelperProgram()) {
    // A request is short and under the registry's lock: a signal (the member's Ctrl-C, a SIGTERM to their sudo)
    // waits until it is made, or undone, rather than leave a held lock and a change half-made.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
    printOut(await helperMain(argv, process.env));
    return 0;
  }
  if (argv.length === 0) {
    // Nothing asked for: nothing started (a guest with no disk takes an explicit option).
    printErr(usageText());
    return 2;
  }
  if (argv[0] === 'help') return helpWith(argv.slice(1), helpText);
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
  const { options } = parsed;
  return launchAndWait(options, toolContext(), options.wait ? { seconds: WAIT_SECONDS, what: '--wait' } : undefined);
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
