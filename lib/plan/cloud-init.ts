// --cloud-init, pure: the NoCloud seed a stock cloud image reads at its first boot (meta-data, user-data,
// network-config on a volume labelled cidata), and what `qemu-script ssh` needs to log in later. The
// files are written and the ISO made at launch, by the user, in the guest's own directory.
import { sha256 } from '../base/sha256.ts';
import { hostKeyPath, knownHostsPath, ownKeyPath, seedDir, seedPath } from '../base/paths.ts';
import type { CloudInitFacts, CloudInitPlan, CloudInitRequest, Command } from '../base/types.ts';

/** The login user: asked for, else the caller's; root's guests get the distribution's usual one. */
const DEFAULT_ROOT_LOGIN = 'debian';

/**
 * The same disk under the same name is the same instance (a second boot does not provision again);
 * a copy of the disk under another name is a new one.
 */
export const instanceIdOf = (name: string, disk: string | undefined) =>
  `qs-${sha256(`${name}\0${disk ?? ''}`)
    .toString('hex')
    .slice(0, 16)}`;

/** cloud-init's YAML: JSON is YAML, and needs no quoting rules of its own. */
const yaml = (value: unknown) => `${JSON.stringify(value, null, 1)}\n`;

/** The caller's part leaves every key of ours in place and adds to lists (users, runcmd, packages). */
const MERGE = 'list(append)+dict(no_replace,recurse_list)+str()';

function userData(config: Record<string, unknown>, own: CloudInitFacts['userData']): string {
  const ours = `#cloud-config\n${yaml(config)}`;
  if (!own) return ours;
  const boundary = `qemu-script-${sha256(ours + own.text)
    .toString('hex')
    .slice(0, 24)}`;
  const part = (type: string, text: string, extra: string[] = []) =>
    [`--${boundary}`, `Content-Type: ${type}; charset="utf-8"`, ...extra, '', text.replace(/\n?$/, '\n')].join('\n');
  const theirs =
    own.kind === 'script'
      ? part('text/x-shellscript', own.text)
      : part('text/cloud-config', own.text, [`Merge-Type: ${MERGE}`]);
  return [
    'Content-Type: multipart/mixed; boundary="' + boundary + '"',
    'MIME-Version: 1.0',
    '',
    part('text/cloud-config', ours),
    theirs,
    `--${boundary}--`,
    '',
  ].join('\n');
}

/** An ed25519 pair, no passphrase, private half 0600: the caller's own, or a guest's host key. */
const keygen = (path: string, comment: string, note: string): Command => ({
  argv: ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path],
  note,
});

/**
 * The guest's SSH identity, given rather than learnt: the seed sets the host key and `qemu-script ssh`
 * expects exactly it, so the first login asks nothing and a stranger answering at the address is refused.
 */
function hostKeyConfig(hostKey: CloudInitFacts['hostKey'], home: string, instanceId: string) {
  if (!hostKey) {
    // A dry run before the key exists: where it will be.
    const made = `(made at launch: ${hostKeyPath(home, instanceId)})`;
    return { ssh_deletekeys: true, ssh_keys: { ed25519_private: made, ed25519_public: `${made}.pub` } };
  }
  return {
    ssh_deletekeys: true,
    ssh_keys: { ed25519_private: hostKey.privateText, ed25519_public: hostKey.publicText },
  };
}

export function planCloudInit(
  request: CloudInitRequest,
  facts: CloudInitFacts,
  guest: { name: string; runDir: string; disk?: string; macs: string[]; isRoot: boolean },
): CloudInitPlan {
  const login = request.login ?? (guest.isRoot ? DEFAULT_ROOT_LOGIN : facts.user);
  const ownKey = ownKeyPath(facts.home);
  const publicKey = facts.key?.publicPath ?? `${ownKey}.pub`;
  const instanceId = request.instanceId ?? instanceIdOf(guest.name, guest.disk);
  const hostKey = facts.hostKey?.instanceId === instanceId ? facts.hostKey : undefined;
  const config = {
    hostname: guest.name,
    preserve_hostname: false,
    users: [
      {
        name: login,
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        shell: '/bin/bash',
        lock_passwd: true,
        // A dry run before the tool's own pair is made shows where its key will be.
        ssh_authorized_keys: [facts.key?.text ?? `(the key in ${ownKeyPath(facts.home)}.pub, made at launch)`],
      },
    ],
    ssh_pwauth: false,
    ...hostKeyConfig(hostKey, facts.home, instanceId),
    // A clone's disk carries its source's machine ID: made anew once for this instance, before anything uses it.
    ...(request.newMachineId
      ? {
          bootcmd: [
            [
              'cloud-init-per',
              'instance',
              'qemu-script-machine-id',
              'sh',
              '-c',
              'rm -f /etc/machine-id /var/lib/dbus/machine-id; systemd-machine-id-setup >/dev/null',
            ],
          ],
        }
      : {}),
  };
  const network = {
    version: 2,
    ethernets: Object.fromEntries(
      guest.macs.map((mac, index) => [`nic${index}`, { match: { macaddress: mac }, dhcp4: true }]),
    ),
  };
  const dir = seedDir(guest.runDir);
  const seed = seedPath(guest.runDir);
  return {
    seed,
    files: {
      'meta-data': yaml({ 'instance-id': instanceId, 'local-hostname': guest.name }),
      'user-data': userData(config, facts.userData),
      'network-config': yaml(network),
    },
    instanceId,
    login,
    identity: facts.key ? facts.key.privatePath : ownKey,
    knownHosts: knownHostsPath(facts.home, instanceId),
    ...(hostKey ? { knownHostsLine: `${instanceId} ${hostKey.publicText}` } : {}),
    keygen: [
      ...(facts.key ? [] : [keygen(ownKey, `qemu-script ${facts.user}`, 'your SSH key for guests')]),
      ...(hostKey
        ? []
        : [
            keygen(
              hostKeyPath(facts.home, instanceId),
              `${guest.name} ${instanceId}`,
              `the SSH host key of ${guest.name} (its logins expect it)`,
            ),
          ]),
    ],
    prepare: [
      {
        argv: [
          'xorriso',
          '-as',
          'mkisofs',
          '-quiet',
          '-volid',
          'cidata',
          '-joliet',
          '-rock',
          '-output',
          seed,
          `${dir}/meta-data`,
          `${dir}/user-data`,
          `${dir}/network-config`,
        ],
        note: 'the NoCloud seed, from the files above',
      },
    ],
    summary: [
      `cloud-init seed ${seed} (volume cidata, instance ${instanceId}): hostname ${guest.name}, ` +
        `user ${login} with sudo and the key ${publicKey}${facts.key ? '' : ' (made at launch)'}, DHCP on ` +
        `${guest.macs.length} NIC${guest.macs.length === 1 ? '' : 's'}` +
        `${facts.userData ? `, your ${facts.userData.kind} ${facts.userData.path}` : ''}`,
    ],
  };
}
