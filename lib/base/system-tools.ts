// Host programs found by absolute path in the system's own directories, never
// through the caller's PATH: a normal user's PATH lacks /usr/sbin, and a
// privileged step must not run whatever a PATH entry offers.
import { accessSync, constants } from 'node:fs';

const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findSystemTool(name: string, dirs: readonly string[] = SYSTEM_DIRS): string | undefined {
  for (const dir of dirs) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** What to tell a user who lacks a Debian package the tool needs. */
export const INSTALL_HINT: Readonly<Record<string, string>> = {
  dnsmasq: 'sudo apt-get install dnsmasq-base',
  nft: 'sudo apt-get install nftables',
  iptables: 'sudo apt-get install iptables',
  passt: 'sudo apt-get install passt',
  libvirt: 'sudo apt-get install libvirt-clients libvirt-daemon-system',
};
