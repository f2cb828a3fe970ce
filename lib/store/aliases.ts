// The images `image pull` knows by name: each distribution's generic cloud image for amd64 (qcow2, cloud-init
// waiting for a seed, no password) and the checksum file published beside it. One table; `image pull --help`
// and the refusal of an unknown alias list it.

export interface ImageAlias {
  url: string;
  /** The distribution's SHA256SUMS or SHA512SUMS beside the image. */
  sums: string;
  /** Who the image is: said by `image ls`. */
  about: string;
}

const DEBIAN = 'https://cloud.debian.org/images/cloud';
const UBUNTU = 'https://cloud-images.ubuntu.com/releases';

export const IMAGE_ALIASES: Readonly<Record<string, ImageAlias>> = {
  'debian-12': {
    url: `${DEBIAN}/bookworm/latest/debian-12-genericcloud-amd64.qcow2`,
    sums: `${DEBIAN}/bookworm/latest/SHA512SUMS`,
    about: 'Debian 12 (bookworm) generic cloud image',
  },
  'debian-13': {
    url: `${DEBIAN}/trixie/latest/debian-13-genericcloud-amd64.qcow2`,
    sums: `${DEBIAN}/trixie/latest/SHA512SUMS`,
    about: 'Debian 13 (trixie) generic cloud image',
  },
  'ubuntu-22.04': {
    url: `${UBUNTU}/22.04/release/ubuntu-22.04-server-cloudimg-amd64.img`,
    sums: `${UBUNTU}/22.04/release/SHA256SUMS`,
    about: 'Ubuntu 22.04 LTS (jammy) cloud image',
  },
  'ubuntu-24.04': {
    url: `${UBUNTU}/24.04/release/ubuntu-24.04-server-cloudimg-amd64.img`,
    sums: `${UBUNTU}/24.04/release/SHA256SUMS`,
    about: 'Ubuntu 24.04 LTS (noble) cloud image',
  },
};
