// qemu-script doctor: one line per host preparation the seed describes, and for
// every problem the exact command that fixes it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  bridgeAcl,
  canOpenReadWrite,
  canRead,
  fileCapabilities,
  findGroup,
  onNoexecMount,
  readText,
  type HostView,
} from '../probe/host-access.ts';
import { domainOf, readNetworks } from '../net/networks.ts';
import { resolvedRuns } from '../probe/resolved.ts';
import { liveUnderlay } from '../probe/underlay.ts';
import { helperArgv } from '../actions/privilege.ts';
import { findSystemTool, INSTALL_HINT } from '../base/system-tools.ts';
import { probe } from '../base/runner.ts';
import { classifyInterface, defaultRouteFrom } from '../probe/probe.ts';
import type { FirewallFacts, Settings } from '../base/types.ts';
import { BRIDGE_CONF, KVM_DEVICE, procNet } from '../base/paths.ts';
import { HELPER_NAME, WAITER_NAME, waiterSource } from '../base/self.ts';
import { probeKvm } from '../probe/kvm.ts';
import { wrap } from '../base/table.ts';

type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  id: string;
  status: CheckStatus;
  message: string;
  /** Commands that fix it, each on its own (any one will do): plain commands scripts may run. */
  fix?: string[];
  /** What to do that is no command. */
  hint?: string;
}

export interface DoctorContext {
  host: HostView;
  settings: Settings;
  group: string;
  selfCommand: string[];
  /** Root's configuration directory (defined networks). */
  config: string;
  /** The host's firewall as far as it can be read (all of it as root). */
  firewall: FirewallFacts;
  /** The user's runtime directory: where the KVM probe's answer is kept. */
  runtimeDir: string;
}

type Check = (context: DoctorContext) => Promise<Omit<CheckResult, 'id'>> | Omit<CheckResult, 'id'>;
const sudo = (context: DoctorContext) => (context.host.uid === 0 ? '' : 'sudo ');
const SETUP = (context: DoctorContext) =>
  `${sudo(context)}qemu-script setup${context.host.uid === 0 ? '' : ` --user ${context.host.user}`}`;

const checkQemu: Check = async ({ settings }) => {
  const version = await probe([settings.qemuBinary, '--version']);
  if (!version.ok)
    return {
      status: 'fail',
      message: `${settings.qemuBinary} not found`,
      fix: ['sudo apt-get install qemu-system-x86'],
    };
  return { status: 'ok', message: version.stdout.split('\n')[0].replace(/^QEMU emulator version/, 'QEMU') };
};

/** Whether the CPU offers hardware virtualisation at all (/proc/cpuinfo, readable by everyone). */
const cpuVirtualises = (cpuinfo: string) => /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);

const checkKvm: Check = (context) => {
  // What everyone can read first: without VMX/SVM no one's KVM runs guests, whatever /dev/kvm lets them open.
  const cpuinfo = readText('/proc/cpuinfo');
  if (cpuinfo !== undefined && !cpuVirtualises(cpuinfo)) {
    return {
      status: 'warn',
      message: 'this CPU offers no VMX/SVM (a VM without nested virtualisation?): KVM cannot run guests; TCG runs them',
      hint: 'on a VM, enable nested virtualisation on its host',
    };
  }
  if (!existsSync(KVM_DEVICE)) {
    return {
      status: 'warn',
      message: 'no /dev/kvm: guests run under TCG (software emulation, many times slower)',
      hint: 'enable VT-x/AMD-V in the firmware, then load kvm_intel or kvm_amd',
      fix: ['sudo modprobe kvm_intel'],
    };
  }
  if (!canOpenReadWrite(KVM_DEVICE))
    return {
      status: 'warn',
      message: `${KVM_DEVICE} is not usable by you: guests run under TCG`,
      fix: [`sudo adduser ${context.host.user} kvm`],
      hint: 'then log in again',
    };
  // Opening it is not enough: QEMU is asked to run a guest under it (cached per boot).
  const kvm = probeKvm(context.settings.qemuBinary, context.runtimeDir);
  if (!kvm.usable) {
    return {
      status: 'warn',
      message: `${kvm.why}: guests run under TCG`,
      hint: 'on a VM, enable nested virtualisation on its host; or pass --accel tcg to skip the check',
    };
  }
  return { status: 'ok', message: `${KVM_DEVICE} runs guests (KVM acceleration)` };
};

/** The bridges bridge.conf lets qemu-bridge-helper attach to ('all' included), or undefined without a file. */
const allowedByAcl = (context: DoctorContext) =>
  bridgeAcl(context.host.root)?.flatMap((line) => /^allow\s+(\S+)$/.exec(line)?.[1] ?? []);

/** The host's LAN bridge, when the default route is on one: the bridged adapter needs the helper there. */
function lanBridge(context: DoctorContext): string | undefined {
  const route = defaultRouteFrom(readText(procNet('route')) ?? '');
  return route && classifyInterface(`${context.host.sys}/class/net/${route}`).kind === 'bridge' ? route : undefined;
}

const ALLOW = (context: DoctorContext, bridge: string) => `${sudo(context)}qemu-script setup --allow-bridge ${bridge}`;

const checkHelper: Check = async (context) => {
  const name = context.settings.bridgeHelper;
  const helper = `${context.host.root}${name}`;
  const allowed = allowedByAcl(context) ?? [];
  if (!existsSync(helper)) {
    if (allowed.length === 0)
      return { status: 'ok', message: `${name} not installed; not needed: the tool makes the TAPs on its own bridges` };
    return {
      status: 'fail',
      message: `${name} missing: guests cannot join ${allowed.join(', ')}`,
      fix: ['sudo apt-get install qemu-system-common'],
    };
  }
  if (context.host.uid === 0) return { status: 'ok', message: `${name} (root needs no capability)` };
  if (allowed.length === 0)
    return {
      status: 'ok',
      message: `${name} not needed: no existing bridge is allowed to members, and the tool makes the TAPs on its own`,
    };
  const setuid = (statSync(helper).mode & 0o4000) !== 0 && statSync(helper).uid === 0;
  if (setuid) return { status: 'ok', message: `${name} has setuid root` };
  const caps = await fileCapabilities(helper);
  if (caps === undefined)
    return {
      status: 'warn',
      message: `cannot read ${name}'s capabilities: getcap is not installed`,
      fix: ['sudo apt-get install libcap2-bin'],
    };
  if (/cap_net_admin/.test(caps))
    return { status: 'ok', message: `${name} has cap_net_admin (for ${allowed.join(', ')})` };
  return {
    status: 'fail',
    message: `${name} lacks cap_net_admin: guests cannot join ${allowed.join(', ')}`,
    fix: [`sudo setcap cap_net_admin+ep ${name}`, SETUP(context)],
  };
};

const checkBridgeConf: Check = (context) => {
  const path = `${context.host.root}${BRIDGE_CONF}`;
  const allowed = allowedByAcl(context);
  const lan = lanBridge(context);
  if (allowed?.includes('all')) {
    return {
      status: 'warn',
      message:
        `${BRIDGE_CONF} allows all bridges: every member may attach a guest to any bridge ` +
        "(docker0, a DMZ, another user's)",
      hint: `remove "allow all" from ${BRIDGE_CONF} (and its includes), then allow bridges by name`,
      fix: lan ? [ALLOW(context, lan)] : [],
    };
  }
  if (allowed && context.host.uid !== 0 && !canRead(path))
    return {
      status: 'fail',
      message: `${BRIDGE_CONF} is not readable by you (the helper then fails with an ACL error)`,
      fix: [`sudo chmod 0644 ${BRIDGE_CONF}`],
    };
  if (lan && !allowed?.includes(lan)) {
    return {
      status: 'warn',
      message: `the bridged adapter (--net bridge) needs ${lan}, and ${BRIDGE_CONF} does not allow it`,
      fix: [ALLOW(context, lan)],
    };
  }
  const list = allowed && allowed.length > 0 ? `allows ${allowed.join(', ')}` : 'allows no existing bridge';
  return { status: 'ok', message: `${BRIDGE_CONF} ${list}; the tool's own bridges need no entry` };
};

const checkTun: Check = (context) => {
  if (context.host.uid === 0 || canOpenReadWrite('/dev/net/tun'))
    return { status: 'ok', message: '/dev/net/tun usable (TAPs)' };
  return {
    status: 'fail',
    message:
      '/dev/net/tun is not read/write for you: the bridge helper cannot make TAPs ("failed to open /dev/net/tun")',
    fix: [SETUP(context), 'sudo chmod 0666 /dev/net/tun'],
  };
};

const checkVhost: Check = (context) => {
  const device = context.settings.vhostNetDevice;
  if (!existsSync(`${context.host.sys}/module/vhost_net`) && !existsSync(device))
    return {
      status: 'warn',
      message: 'vhost_net not loaded: TAP NICs run without vhost-net (slower)',
      fix: ['sudo modprobe vhost_net', SETUP(context)],
    };
  if (!canOpenReadWrite(device))
    return {
      status: 'warn',
      message: `${device} not writable by you: TAP NICs run without vhost-net`,
      fix: [SETUP(context)],
    };
  return { status: 'ok', message: `vhost-net usable (${device})` };
};

const checkPing: Check = (context) => {
  const [low, high] = (readText(`${context.host.procSys}/net/ipv4/ping_group_range`) ?? '1 0')
    .trim()
    .split(/\s+/)
    .map(Number);
  const group = findGroup(context.host.root, context.group);
  if (context.host.gids.some((gid) => gid >= low && gid <= high))
    return {
      status: 'ok',
      message: `ping_group_range ${low} ${high} covers your groups (ping works from user-network guests)`,
    };
  const gid = group?.gid ?? context.host.gids[0];
  return {
    status: 'warn',
    message: `net.ipv4.ping_group_range (${low} ${high}) excludes your groups: ping fails inside user-network guests`,
    fix: [`sudo sysctl -w net.ipv4.ping_group_range="${gid} ${gid}"`, SETUP(context)],
  };
};

const checkForward: Check = (context) => {
  if ((readText(`${context.host.procSys}/net/ipv4/ip_forward`) ?? '0').trim() === '1')
    return { status: 'ok', message: 'net.ipv4.ip_forward = 1' };
  return {
    status: 'ok',
    message: 'net.ipv4.ip_forward = 0: a NAT network turns it on while it is up, and the last one puts it back',
  };
};

/** The FORWARD policy as root reads it; a normal user cannot. */
const policyOf = (context: DoctorContext) => (context.host.uid === 0 ? context.firewall.forwardPolicy : undefined);
const AS_ROOT = 'sudo qemu-script doctor';

const checkForwardPolicy: Check = (context) => {
  const policy = policyOf(context);
  if (context.host.uid !== 0)
    return { status: 'ok', message: `the FORWARD policy is root's to read: ${AS_ROOT} says it` };
  if (policy === 'DROP') {
    const chain = context.firewall.dockerUser ? 'DOCKER-USER' : 'FORWARD';
    return {
      status: 'ok',
      message:
        `iptables FORWARD policy DROP: a defined network's bridge is accepted in ${chain} while it is up, ` +
        'and the rules go with it',
    };
  }
  return {
    status: 'ok',
    message: `iptables FORWARD policy ${policy ?? 'none (no iptables)'}: defined networks need no forwarding rule`,
  };
};

const checkDocker: Check = (context) => {
  const present = existsSync('/var/run/docker.sock') || context.firewall.dockerUser;
  if (!present) return { status: 'ok', message: 'Docker not present' };
  return {
    status: 'ok',
    message: 'Docker present: its FORWARD DROP is answered in DOCKER-USER, as Docker documents, for defined networks',
  };
};

const checkFirewalld: Check = (context) =>
  context.firewall.firewalld
    ? {
        status: 'ok',
        message:
          "firewalld runs: a defined network's bridge joins the trusted zone while it is up (runtime only, never " +
          'permanent)',
      }
    : { status: 'ok', message: 'firewalld not running' };

const checkUfw: Check = (context) => {
  if (context.firewall.ufw)
    return {
      status: 'ok',
      message: 'ufw is active: a defined network gets an allow-in rule and (NAT) a route rule while it is up',
    };
  return {
    status: 'ok',
    message:
      context.host.uid === 0 || !findSystemTool('ufw')
        ? 'ufw not active'
        : `ufw installed; whether it is active is root's to read: ${AS_ROOT} says it`,
  };
};

const checkBrNetfilter: Check = (context) => {
  if ((readText(`${context.host.procSys}/net/bridge/bridge-nf-call-iptables`) ?? '0').trim() !== '1')
    return { status: 'ok', message: 'bridged traffic bypasses iptables (no br_netfilter trap)' };
  const policy = policyOf(context);
  if (context.host.uid !== 0) {
    return {
      status: 'ok',
      message: `br_netfilter is on; whether FORWARD drops bridged traffic is root's to read: ${AS_ROOT} says it`,
    };
  }
  if (policy === 'ACCEPT' || policy === undefined)
    return { status: 'ok', message: 'br_netfilter is on, and FORWARD accepts: bridged traffic passes' };
  return {
    status: 'warn',
    message:
      `br_netfilter sends bridged traffic through iptables${policy ? ' and FORWARD drops it' : ''}: ` +
      'vmnetN and br:NAME bridges lose guest-to-guest traffic (defined networks are handled)',
    hint: 'or use a defined network (--net hostonly, or qemu-script net create): the tool lets those through',
    fix: ['sudo iptables -I FORWARD -i vmnet+ -o vmnet+ -j ACCEPT'],
  };
};

const checkWifi: Check = (context) => {
  const route = defaultRouteFrom(readText(procNet('route')) ?? '');
  if (route && classifyInterface(`${context.host.sys}/class/net/${route}`).kind === 'wireless') {
    return {
      status: 'warn',
      message: `the default route is on Wi-Fi (${route}): the bridged adapter cannot use a macvtap there`,
      hint: 'use a wired NIC, or a user network (--net user) with --fwd',
    };
  }
  return {
    status: 'ok',
    message: `default route on ${route ?? 'none'}${route ? '' : ' (bridged adapter unavailable)'}`,
  };
};

const checkNetworkManager: Check = (context) => {
  if (!existsSync('/run/NetworkManager')) return { status: 'ok', message: 'NetworkManager not running' };
  const conf = readText(`${context.host.root}/etc/NetworkManager/conf.d/qemu-script.conf`) ?? '';
  if (/interface-name:vmnet\*/.test(conf))
    return { status: 'ok', message: 'NetworkManager leaves vmnet*/macvtap* alone' };
  return {
    status: 'warn',
    message: 'NetworkManager may take over the bridges the tool creates (and add addresses or routes to them)',
    fix: [SETUP(context)],
  };
};

const checkGroup: Check = (context) => {
  if (context.host.uid === 0) return { status: 'ok', message: 'root: no group needed' };
  const group = findGroup(context.host.root, context.group);
  if (group && context.host.gids.includes(group.gid)) return { status: 'ok', message: `member of ${context.group}` };
  if (group?.members.includes(context.host.user))
    return {
      status: 'warn',
      message: `added to ${context.group}, but this session predates it`,
      hint: 'log out and in again',
      fix: [`newgrp ${context.group}`],
    };
  return { status: 'fail', message: `not a member of ${context.group}`, fix: [SETUP(context)] };
};

const checkSudo: Check = async (context) => {
  if (context.host.uid === 0) return { status: 'ok', message: 'root: host changes are made directly' };
  const result = await probe(helperArgv(context.selfCommand, ['gc']));
  if (result.ok) return { status: 'ok', message: 'the privileged helper answers through sudo -n' };
  return {
    status: 'fail',
    message: `sudo -n ${HELPER_NAME} is not allowed: bridges and macvtaps cannot be made for you`,
    fix: [SETUP(context)],
  };
};

/** sudoers' `Defaults ... secure_path=...`, in /etc/sudoers or a drop-in; undefined when they cannot be read. */
function sudoersSecurePath(root: string): boolean | undefined {
  const dir = `${root}/etc/sudoers.d`;
  let names: string[] = [];
  try {
    // sudo skips drop-ins whose name has a dot or ends in ~.
    names = readdirSync(dir).filter((name) => !/[.~]/.test(name));
  } catch {
    names = [];
  }
  const texts = [`${root}/etc/sudoers`, ...names.map((name) => `${dir}/${name}`)].map((path) => readText(path));
  if (texts[0] === undefined) return undefined;
  return texts.some((text) => text !== undefined && /^\s*Defaults\b[^\n#]*\bsecure_path\s*=/m.test(text));
}

const checkSecurePath: Check = (context) => {
  const secure = sudoersSecurePath(context.host.root);
  if (secure === undefined)
    return { status: 'ok', message: 'sudoers is root\'s to read: sudo qemu-script doctor checks its secure_path' };
  if (secure) return { status: 'ok', message: "sudoers sets secure_path: sudo runs nothing from a caller's PATH" };
  return {
    status: 'warn',
    message:
      "sudoers sets no secure_path: programs run through sudo are found on the caller's PATH (the helper is the " +
      'single executable and runs programs by absolute path, but other sudoers rules may not)',
    hint: 'visudo, then add: Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"',
  };
};

const checkDnsmasq: Check = (context) => {
  const served = Object.values(readNetworks(context.config))
    .filter((network) => network.dhcp)
    .map((network) => network.name);
  const dnsmasq = findSystemTool('dnsmasq');
  if (dnsmasq)
    return { status: 'ok', message: `${dnsmasq} serves DHCP and DNS on ${served.join(', ') || 'no network yet'}` };
  if (served.length === 0) return { status: 'ok', message: 'no defined network uses DHCP (dnsmasq not needed)' };
  return {
    status: 'warn',
    message: `dnsmasq is not installed: the networks with DHCP (${served.join(', ')}) cannot start`,
    fix: [INSTALL_HINT.dnsmasq],
  };
};

/** Whether the host itself resolves its guests' names (NAME.DOMAIN): through systemd-resolved, or not at all. */
const checkNames: Check = async (context) => {
  const served = Object.values(readNetworks(context.config)).filter((network) => network.dhcp);
  if (served.length === 0) return { status: 'ok', message: 'no defined network has DHCP: no guest names to resolve' };
  const domains = served.map((network) => `${domainOf(network)} (${network.hostIp})`).join(', ');
  if (await resolvedRuns()) {
    return {
      status: 'ok',
      message: `systemd-resolved runs: the host resolves NAME.DOMAIN of each network while it is up: ${domains}`,
    };
  }
  const [first] = served;
  return {
    status: 'ok',
    message:
      "systemd-resolved does not run: the host does not resolve guest names itself; each network's server " +
      `does: ${domains}`,
    hint:
      `ask it (dig @${first.hostIp} NAME.${domainOf(first)}), or have the host's resolver send the domain there ` +
      `(dnsmasq: server=/${domainOf(first)}/${first.hostIp}); never through /etc/resolv.conf`,
  };
};

const checkPasst: Check = () => {
  const passt = findSystemTool('passt');
  if (passt) return { status: 'ok', message: `${passt} gives --net passt its user networking` };
  return { status: 'ok', message: 'passt is not installed (only --net passt needs it)', fix: [INSTALL_HINT.passt] };
};

/** Each tunnelled network: its underlay and MTU here, and whether the INPUT policy lets its UDP port in. */
const checkVxlan: Check = async (context) => {
  const tunnels = Object.values(readNetworks(context.config)).filter((network) => network.vxlan);
  if (tunnels.length === 0) return { status: 'ok', message: 'no network crosses hosts (net create --vxlan)' };
  const lines: string[] = [];
  const fix: string[] = [];
  for (const network of tunnels) {
    const { vni, port } = network.vxlan!;
    const underlay = liveUnderlay(network.vxlan!);
    lines.push(
      underlay
        ? `${network.name}: VXLAN ${vni} over ${underlay.dev}, MTU ${underlay.mtu} inside`
        : `${network.name}: VXLAN ${vni} has no route to its peers`,
    );
    const iptables = findSystemTool('iptables');
    const accepted =
      iptables && (await probe([iptables, '-C', 'INPUT', '-p', 'udp', '--dport', String(port), '-j', 'ACCEPT'])).ok;
    if (context.firewall.inputPolicy === 'DROP' && !accepted)
      fix.push(`sudo iptables -I INPUT -p udp --dport ${port} -j ACCEPT`);
  }
  const blocked = fix.length > 0 ? "; the INPUT policy DROP blocks the tunnel's UDP port" : '';
  return {
    status: blocked || lines.some((line) => line.includes('no route')) ? 'warn' : 'ok',
    message: `${lines.join('; ')}${blocked}`,
    ...(fix.length > 0 ? { fix } : {}),
  };
};

const checkOvmf: Check = ({ settings }) =>
  canRead(settings.efiFirmware)
    ? { status: 'ok', message: `UEFI firmware ${settings.efiFirmware}` }
    : {
        status: 'warn',
        message: `no UEFI firmware at ${settings.efiFirmware}: --uefi unavailable`,
        fix: ['sudo apt-get install ovmf'],
      };

const SHELL_WAITS = 'a shell (~1.7 MiB) waits beside each background guest instead of';

const checkWaiter: Check = ({ runtimeDir }) => {
  const source = waiterSource();
  if (source && 'beside' in source)
    return { status: 'ok', message: `${source.beside} waits beside each background guest (~0.05 MiB)` };
  if (!source)
    return {
      status: 'warn',
      message: `no ${WAITER_NAME} beside this script: ${SHELL_WAITS} the tool's waiter (~0.05 MiB)`,
      hint: `make dist/${WAITER_NAME} builds it (musl-gcc, from Debian's musl-tools)`,
    };
  if (onNoexecMount(readText('/proc/self/mountinfo') ?? '', resolve(runtimeDir)))
    return {
      status: 'warn',
      message: `${runtimeDir} is mounted noexec: ${SHELL_WAITS} the ${WAITER_NAME} this executable carries`,
      hint:
        `install ${WAITER_NAME} beside the executable (make install does), or set QEMU_SCRIPT_RUNTIME_DIR to ` +
        'a directory where programs may run',
    };
  return {
    status: 'ok',
    message: `the ${WAITER_NAME} this executable carries, written into ${runtimeDir}, waits beside each guest`,
  };
};

// One entry per check, in the order a user fixes things.
const CHECKS: ReadonlyArray<[string, Check]> = [
  ['qemu', checkQemu],
  ['kvm', checkKvm],
  ['bridge-helper', checkHelper],
  ['bridge-conf', checkBridgeConf],
  ['tun', checkTun],
  ['vhost-net', checkVhost],
  ['ping', checkPing],
  ['ip-forward', checkForward],
  ['forward-policy', checkForwardPolicy],
  ['docker', checkDocker],
  ['firewalld', checkFirewalld],
  ['ufw', checkUfw],
  ['br-netfilter', checkBrNetfilter],
  ['wifi', checkWifi],
  ['networkmanager', checkNetworkManager],
  ['group', checkGroup],
  ['sudo', checkSudo],
  ['secure-path', checkSecurePath],
  ['dnsmasq', checkDnsmasq],
  ['names', checkNames],
  ['passt', checkPasst],
  ['vxlan', checkVxlan],
  ['uefi', checkOvmf],
  ['waiter', checkWaiter],
];

export async function runDoctor(context: DoctorContext): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [id, check] of CHECKS) results.push({ id, ...(await check(context)) });
  return results;
}

export function renderDoctor(results: CheckResult[]): string {
  // Within 80 columns: words wrap under the message; a command stays whole, to be pasted.
  const indent = ' '.repeat(21);
  const wrapped = (first: string, text: string) =>
    wrap(text, 80 - first.length).map((line, i) => (i === 0 ? first : ' '.repeat(first.length)) + line);
  return (
    results
      .map((result) =>
        [
          ...wrapped(`${result.status.padEnd(5)}${result.id.padEnd(16)}`, result.message),
          ...(result.fix ?? []).map((fix, i) => `${indent}${i === 0 ? 'fix' : 'or'}: ${fix}`),
          ...(result.hint ? wrapped(`${indent}note: `, result.hint) : []),
        ].join('\n'),
      )
      .join('\n') + '\n'
  );
}
