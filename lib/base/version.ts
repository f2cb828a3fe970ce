// Kept equal to package.json's version (a test checks it).
export const VERSION = '0.1.0';

/** The .cjs artifact runs on the host's node: older ones fail in obscure places, so say it up front. */
const MINIMUM_NODE = 20;

export function unsupportedNode(version: string): string | undefined {
  if (Number(version.split('.')[0]) >= MINIMUM_NODE) return undefined;
  return (
    `this script needs Node.js ${MINIMUM_NODE} or newer, found ${version}: upgrade Node.js or use the ` +
    'single executable (dist/qemu-script, which carries its own)'
  );
}
