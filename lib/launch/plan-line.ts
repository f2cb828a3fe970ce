// A launch line planned against this host: probe, plan with free ports, the guest's known host key,
// the cloud-init key pairs and the KVM question. The launch and `export libvirt` plan the same way.
import type { ToolContext } from '../base/context.ts';
import { HostError } from '../base/errors.ts';
import { listRecords } from '../state/guests.ts';
import { guestName, planLaunch } from '../plan/plan.ts';
import { resolveImage } from '../store/images.ts';
import { instanceExists, listInstances } from '../store/instances.ts';
import { guestRunDir } from '../base/paths.ts';
import { UsageError } from '../base/errors.ts';
import { planWithFreePorts } from '../probe/port-check.ts';
import { probeHost } from '../probe/probe.ts';
import { currentNetns } from '../base/proc.ts';
import { readRegistry } from '../state/registry.ts';
import { withReservations } from '../plan/reservations.ts';
import { probeKvm } from '../probe/kvm.ts';
import { probeCloudInit, readHostKey } from '../probe/cloud-init.ts';
import { makeKeyPairs } from './prepare.ts';
import type { CloudInitFacts, HostFacts, LaunchOptions, Plan } from '../base/types.ts';

export const probeCloud = async (options: LaunchOptions) =>
  options.cloudInit && (await probeCloudInit(options.cloudInit, process.env, process.cwd()));

export interface PlanMode {
  /** Make the cloud-init key pairs the plan needs (a launch), or plan without them (dry run, export). */
  makeKeys: boolean;
  /** Ask QEMU whether KVM runs guests here (once per boot) when the probe could not tell. */
  askKvm: boolean;
}

/**
 * --image: the guest's name (the image's, made unique, unless --name) and, first of its disks, the overlay it
 * runs on, made in its own directory at launch and removed with it. Decided under the launch lock, with the names
 * taken now; a name an instance has is that instance's (qemu-script start NAME).
 */
function withOverlay(options: LaunchOptions, context: ToolContext): LaunchOptions {
  const taken = listRecords(context.runtimeDir).map((record) => record.name);
  if (options.name && !options.instance && instanceExists(context.instancesDir, options.name)) {
    const start = `qemu-script start ${options.name}`;
    throw new UsageError(`--name ${options.name}: an instance has that name; start it with: ${start}`);
  }
  if (!options.image) return options;
  const image = resolveImage(context.imagesDir, options.image.ref);
  const { name } = guestName(options.name, `${image.name}.img`, [...taken, ...listInstances(context.instancesDir)]);
  const size = options.image.size;
  const overlay = { backing: image.path, format: image.format, ...(size ? { size } : {}) };
  const disk = { path: `${guestRunDir(context.runtimeDir, name)}/disk.qcow2`, usb: false, cdrom: false, overlay };
  return { ...options, name, disks: [disk, ...options.disks] };
}

export async function planLine(
  given: LaunchOptions,
  context: ToolContext,
  cloudInit: CloudInitFacts | undefined,
  mode: PlanMode,
  keysMade = false,
): Promise<{ facts: HostFacts; plan: Plan }> {
  const options = withOverlay(given, context);
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
    wants: {
      usb: options.usb.length > 0,
      firmware: options.uefi,
      kvm: options.accel !== 'tcg',
      passt: options.net.some((item) => item.kind === 'passt'),
    },
  });
  const facts = withReservations(
    cloudInit ? { ...probed, cloudInit } : probed,
    listRecords(context.runtimeDir),
    readRegistry(context.registryDir),
    currentNetns(),
  );
  let planned = await planWithFreePorts(facts, (known) => planLaunch(options, known));
  const instanceId = planned.plan.cloudInit?.instanceId;
  const hostKey = instanceId && readHostKey(cloudInit!.home, instanceId);
  if (hostKey) {
    // The guest's host key exists already: planned again with it (planning is pure and quick).
    const known = { ...planned.facts, cloudInit: { ...cloudInit!, hostKey } };
    planned = await planWithFreePorts(known, (again) => planLaunch(options, again));
  }
  const keygen = planned.plan.cloudInit?.keygen ?? [];
  if (keygen.length > 0 && mode.makeKeys) {
    // The line is valid: the key pairs are made once, then planned with.
    if (keysMade) throw new HostError(`--cloud-init: ${keygen[0].argv.at(-1)} was made but cannot be read`);
    await makeKeyPairs(keygen, { verbose: options.verbose, quiet: options.quiet });
    return planLine(given, context, await probeCloud(given), mode, true);
  }
  if (!mode.askKvm || !facts.kvmUnknown) return planned;
  const planFacts = planned.facts;
  // The line is valid: now QEMU may be asked whether KVM runs guests here (once per boot), and the plan
  // made again with the answer.
  const kvm = probeKvm(options.settings.qemuBinary, context.runtimeDir);
  const answered = { ...planFacts, kvmUsable: kvm.usable, kvmWhy: kvm.why, kvmUnknown: false };
  return planWithFreePorts(answered, (known) => planLaunch(options, known));
}
