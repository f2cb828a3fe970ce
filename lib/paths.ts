/** Root-owned directory of the privileged helper: registry, lock, device nodes for users. */
export const SYSTEM_RUN_DIR = '/run/qemu-script';

export function guestRunDir(runtimeDir: string, guest: string): string {
  return `${runtimeDir}/${guest}`;
}

/**
 * Where a macvtap's private character device node lives. Root keeps it with the
 * guest; for a normal user the helper makes it in its own root-owned directory
 * (never in a directory the user controls) and hands it to the user.
 */
export function macvtapNodePath(isRoot: boolean, runtimeDir: string, guest: string, ifname: string): string {
  return isRoot ? `${guestRunDir(runtimeDir, guest)}/${ifname}.tap` : `${SYSTEM_RUN_DIR}/nodes/${guest}.${ifname}`;
}
