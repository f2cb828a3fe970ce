// Labs: the lab file read into networks and launch words (a table; every error names the file, line, column and
// key), and a lab of three tiny guests (a count: 2 group, one at a fixed address) on a NAT network through the
// real executable: all up in one command, each finds the others by name and reaches the host and the wan beyond
// NAT, up again starts nothing, a changed guest is named, down stops every guest (then the stopped lab exports to
// libvirt XML, one valid file per domain and network), destroy leaves no instance and no network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { UsageError } from '../lib/base/errors.ts';
import { readLab } from '../lib/cli/lab-file.ts';
import { ROOT } from './helpers.ts';
import { INITRD, KERNEL, WAN, withWan } from './guest-helpers.ts';
import { BOOT_APPEND, assertClean, waitFor, type Netns } from './netns.ts';

const FILE = '/labs/lab.yaml';

const WEB = ['--cloud-init', '-m', '1024', '--net', 'front,back', '--fwd', '8080-80'];

test('a lab file: networks as net create takes them, guests as launch words, defaults under each, count', async () => {
  const lab = await readLab(
    FILE,
    [
      'name: shop',
      'networks:',
      '  back:',
      '    subnet: 10.81.0.0/24',
      '    nat: true',
      '    domain: shop.test',
      '  front:',
      'defaults:',
      '  image: debian-12',
      '  cloud-init: true',
      '  memory: 1024',
      'guests:',
      '  web:',
      '    count: 2',
      '    nets: [front, back]',
      '    forwards: ["8080-80"]',
      '  db:',
      '    cpus: 2',
      '    nets: back',
      '    disk_size: 20G',
      '    user_data: |',
      '      #cloud-config',
      '      packages: [postgresql]',
      '    qemu: [-device, virtio-rng-pci]',
      '  old:',
      '    disk: ../disks/old.qcow2',
      '    cloud-init: false',
      '    accel: tcg',
    ].join('\n'),
  );
  assert.equal(lab, {
    name: 'shop',
    file: FILE,
    networks: [
      { name: 'back', ipv6: true, dhcp: true, nat: true, subnet: '10.81.0.0/24', domain: 'shop.test' },
      { name: 'front', ipv6: true, dhcp: true, nat: false },
    ],
    guests: [
      { name: 'web1', base: 'debian-12', words: WEB },
      { name: 'web2', base: 'debian-12', words: WEB },
      {
        name: 'db',
        base: 'debian-12',
        words: [
          ...['--cloud-init', '-m', '1024', '-smp', '2', '--net', 'back', '--disk-size', '20G'],
          ...['--', '-device', 'virtio-rng-pci'],
        ],
        userData: '#cloud-config\npackages: [postgresql]\n',
      },
      { name: 'old', base: '/disks/old.qcow2', words: ['-m', '1024', '--accel', 'tcg'] },
    ],
  });
});

const REFUSED: Array<[string, string, string]> = [
  [
    'an unknown key, with the closest',
    'name: a\nguests:\n  web:\n    image: x\n    memroy: 512\n',
    ':5:5: unknown key memroy in guest web (did you mean memory?)',
  ],
  [
    'an unknown top key',
    'name: a\nguest:\n  web: {image: x}\n',
    ':2:1: unknown key guest in the lab file (did you mean guests?)',
  ],
  [
    'a network key',
    'name: a\nnetworks:\n  n1: {subnet: 10.1.0.0/24, nta: true}\nguests: {w: {image: x}}\n',
    ':3:29: unknown key nta in network n1 (did you mean nat?)',
  ],
  [
    'no image',
    'name: a\nguests:\n  web:\n    memory: 512\n',
    ':3:3: guest web: give its image (image: debian-12) or the disk it is over',
  ],
  ['image and disk', 'name: a\nguests:\n  web: {image: x, disk: y}\n', ':3:19: guest web: image or disk, not both'],
  ['a count of none', 'name: a\nguests:\n  web: {image: x, count: 0}\n', ':3:26: count is a whole number from 1 to 64'],
  [
    'a flag that is no flag',
    'name: a\nguests:\n  web: {image: x, cloud-init: yes please}\n',
    ':3:31: cloud-init is true or false',
  ],
  [
    'a name twice through count',
    'name: a\nguests:\n  web: {image: x, count: 2}\n  web1: {image: x}\n',
    ':4:3: guest web1 is named twice',
  ],
  [
    'a bad guest name',
    'name: a\nguests:\n  we_b: {image: x}\n',
    ':3:3: guest we_b: letters, digits and inner hyphens, at most 63',
  ],
  [
    'a bad network name',
    'name: a\nnetworks:\n  Lab:\nguests: {w: {image: x}}\n',
    ':3:3: network Lab: a lower-case letter',
  ],
  ['no name', 'guests: {w: {image: x}}\n', ':1:1: the lab needs a name (name: LAB)'],
  ['no guests', 'name: a\n', ':1:1: the lab has no guests'],
  ['not YAML', 'name: a\nguests: [\n', ':3:1: '],
  ['a key twice', 'name: a\nname: b\nguests: {w: {image: x}}\n', ':2:1: Map keys must be unique'],
];

for (const [name, text, message] of REFUSED) {
  test(`a lab file refused: ${name}`, async () => {
    const error = await readLab(FILE, text).then(
      () => undefined,
      (caught: Error) => caught,
    );
    assert.instance(error, UsageError);
    assert.ok(error!.message.startsWith(`${FILE}${message}`), error!.message);
  });
}

const tool = (words: string[], env: Record<string, string>) =>
  execa(`${ROOT}/dist/qemu-script`, words, { env, reject: false });

test('lab schema: a JSON Schema naming every guest key', async () => {
  const result = await tool(['lab', 'schema'], {});
  assert.is(result.exitCode, 0);
  const schema = JSON.parse(result.stdout);
  assert.is(schema.title, 'qemu-script lab');
  assert.equal(schema.required, ['name', 'guests']);
  const keys = Object.keys(schema.properties.guests.additionalProperties.properties);
  const own = ['image', 'disk', 'count', 'cpus', 'memory', 'disk_size', 'nets', 'forwards', 'user_data', 'qemu'];
  for (const key of [...own, 'accel', 'cloud-init']) {
    assert.ok(keys.includes(key), key);
  }
  assert.not.ok(keys.includes('net') || keys.includes('name') || keys.includes('dry-run'));
});

test("a normal user's lab up with a network that is not defined: refused with root's net create line", async () => {
  // A directory the user can reach wherever the checkout is, with the executable in it.
  const dir = mkdtempSync(`${tmpdir()}/qs-lab-member-`);
  copyFileSync(`${ROOT}/dist/qemu-script`, `${dir}/qemu-script`);
  try {
    const text = 'name: m\nnetworks:\n  mnet: {subnet: 10.84.0.0/24, nat: true, ipv6: false, domain: m.test}\n' +
      'guests:\n  g: {image: tiny, nets: [mnet]}\n';
    writeFileSync(`${dir}/lab.yaml`, text);
    chmodSync(dir, 0o755);
    const result = await execa(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', `${dir}/qemu-script`, 'lab', 'up', `${dir}/lab.yaml`],
      {
        reject: false,
        extendEnv: false,
        env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', QEMU_SCRIPT_RUNTIME_DIR: `${dir}/run` },
      },
    );
    assert.is(result.exitCode, 2, result.stderr);
    assert.is(
      result.stderr,
      "qemu-script: lab up: network mnet is not defined, and defining networks is root's: sudo qemu-script net " +
        'create mnet --subnet 10.84.0.0/24 --no-ipv6 --dhcp --nat --domain m.test',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The tiny guests' line: DHCP on their NIC, then each pings the others and the host, resolves, reaches the wan. */
const QEMU = [
  ...['-kernel', KERNEL, '-initrd', INITRD, '-no-reboot', '-global', 'virtio-net-pci.romfile='],
  '-append',
  `${BOOT_APPEND} e2e_if0=dhcp e2e_ping=web1,web2,db,10.83.0.1 e2e_lookup=web1.labnet,web2.labnet,db.labnet ` +
    `e2e_get=${WAN}:8080`,
];

const labFile = (memory: number) =>
  [
    'name: trio',
    'networks:',
    '  labnet: {subnet: 10.83.0.0/24, nat: true, ipv6: false}',
    'defaults:',
    '  image: tiny',
    '  nets: [labnet]',
    '  accel: tcg',
    '  display: none',
    `  memory: ${memory}`,
    `  qemu: ${JSON.stringify(QEMU)}`,
    'guests:',
    '  web: {count: 2}',
    '  db: {nets: [labnet=10.83.0.50]}',
  ].join('\n');

/**
 * The stopped lab handed to libvirt as files, one per domain and network (valid to libvirt's schemas), each
 * domain with its instance's MAC; bad words refused, nothing written.
 */
async function exportsLab(ns: Netns, env: Record<string, string>, dir: string) {
  const out = `${dir}/xml`;
  const exported = await ns.tool(['export', 'libvirt', `${dir}/lab.yaml`, '--output', out], env);
  assert.is(exported.exitCode, 0, exported.stderr);
  const files = ['network-labnet', 'domain-web1', 'domain-web2', 'domain-db'].map((base) => `${out}/${base}.xml`);
  assert.is(exported.stdout, files.map((file) => `Wrote ${file}`).join('\n'));
  assert.is(exported.stderr, '', 'nothing of these guests lacks a libvirt equivalent');
  const ps = JSON.parse((await ns.tool(['ps', '--json'], env)).stdout).guests as Array<{
    name: string;
    nics: Array<{ mac: string }>;
  }>;
  for (const file of files) {
    const kind = file.includes('/network-') ? 'network' : 'domain';
    const valid = await execa('virt-xml-validate', [file, kind], { reject: false });
    assert.is(valid.exitCode, 0, `${file}: ${valid.stdout}${valid.stderr}`);
  }
  for (const guest of ps) {
    const xml = readFileSync(`${out}/domain-${guest.name}.xml`, 'utf8');
    assert.match(xml, `<name>${guest.name}</name>`);
    assert.match(xml, `<source network='labnet'/>\n      <mac address='${guest.nics[0].mac}'/>`);
  }
  assert.match(readFileSync(files[0], 'utf8'), "<name>labnet</name>");
  rmSync(out, { recursive: true });
  for (const [words, message] of [
    [[`${dir}/lab.yaml`], `qemu-script: export libvirt ${dir}/lab.yaml: give --output DIR (one XML file per domain `],
    [[`${dir}/lab.yaml`, '--outptu', out], `qemu-script: export libvirt ${dir}/lab.yaml: unknown word --outptu `],
    [['--output', out, 'web1'], 'qemu-script: export libvirt --output: is for a lab file (LAB.yaml)'],
  ] as const) {
    const refused = await ns.tool(['export', 'libvirt', ...words], env);
    assert.is(refused.exitCode, 2, refused.stderr);
    assert.ok(refused.stderr.startsWith(message), refused.stderr);
    assert.not.ok(existsSync(out), 'nothing written');
  }
}

test('a lab of three tiny guests on a NAT network: up, names, up again, a change, down, destroy', () =>
  withWan({ ipv6: false, extra: [], serve: [WAN] }, async (ns) => {
    const dir = mkdtempSync(`${ROOT}/.cache/lab-test-`);
    const env = {
      QEMU_SCRIPT_RUNTIME_DIR: ns.runtimeDir,
      QEMU_SCRIPT_CONFIG_DIR: ns.configDir,
      QEMU_SCRIPT_IMAGES_DIR: `${dir}/images`,
      QEMU_SCRIPT_INSTANCES_DIR: `${dir}/instances`,
    };
    const lab = (words: string[]) => ns.tool(['lab', ...words, `${dir}/lab.yaml`], env);
    try {
      await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${dir}/tiny.qcow2`, '64M']);
      assert.is((await ns.tool(['image', 'add', `${dir}/tiny.qcow2`], env)).exitCode, 0);
      // A name the lab wants, taken outside it: refused, nothing made.
      const outside = await ns.tool(['create', 'db', '--image', 'tiny', '--net', 'none', '--display', 'none'], env);
      assert.is(outside.exitCode, 0, outside.stderr);
      writeFileSync(`${dir}/lab.yaml`, labFile(160));
      const taken = await lab(['up']);
      const outsider = "qemu-script: lab up: db is an instance outside lab trio; rename the lab's guest";
      assert.equal([taken.exitCode, taken.stderr], [2, outsider]);
      assert.not.ok(existsSync(`${ns.configDir}/networks/labnet.json`), 'no network defined');
      const labYaml = `${dir}/lab.yaml`;
      const early = await ns.tool(['export', 'libvirt', labYaml, '--output', `${dir}/xml`], env);
      assert.equal(
        [early.exitCode, early.stderr],
        [2, `qemu-script: export libvirt: lab trio's network labnet is not defined: qemu-script lab up ${labYaml}`],
      );
      assert.is((await ns.tool(['rm', 'db'], env)).exitCode, 0);

      const up = await lab(['up']);
      assert.is(up.exitCode, 0, up.stderr);
      const lines = up.stdout.split('\n');
      assert.equal(lines.slice(0, 2), ['defined network labnet', 'started web1, web2, db']);
      assert.match(lines[2], /^GUEST +STATE +ADDRESSES +LOG IN$/);
      for (const name of ['web1', 'web2', 'db']) {
        const row = new RegExp(`^${name} +running +labnet=10\\.83\\.0\\.\\d+ +qemu-script ssh ${name}$`, 'm');
        assert.match(up.stdout, row);
      }
      const addresses = Object.fromEntries(
        [...up.stdout.matchAll(/^(\w+) +running +labnet=(\S+)/gm)].map((match) => [match[1], match[2]]),
      );
      assert.is(addresses.db, '10.83.0.50', "db's fixed address");
      // Each guest: every other guest by name (and itself), the host, the wan beyond NAT.
      for (const name of ['web1', 'web2', 'db']) {
        await waitFor(
          async () => /E2E: GET-OK/.test((await ns.tool(['log', name], env)).stdout),
          60000,
          `${name} done`,
        );
        const log = (await ns.tool(['log', name], env)).stdout;
        for (const other of ['web1', 'web2', 'db'])
          assert.match(log, `E2E: LOOKUP-OK ${other}.labnet ${addresses[other]}`);
        for (const address of [...Object.values(addresses), '10.83.0.1']) assert.match(log, `E2E: PING-OK ${address}`);
        assert.match(log, `E2E: GET-OK ${WAN}:8080 E2E-BANNER from=`);
      }

      const again = await lab(['up']);
      assert.is(again.exitCode, 0, again.stderr);
      assert.match(again.stdout, /^lab trio: every guest runs already; nothing to start$/m);
      writeFileSync(`${dir}/lab.yaml`, labFile(192));
      const changed = await lab(['up']);
      assert.is(changed.exitCode, 0, changed.stderr);
      assert.match(changed.stdout, `web1: its options changed in ${dir}/lab.yaml; lab up --recreate makes it anew`);
      const listed = JSON.parse((await ns.tool(['lab', 'ls', '--json'], env)).stdout);
      assert.equal(listed.labs, [
        {
          name: 'trio',
          file: `${dir}/lab.yaml`,
          networks: ['labnet'],
          guests: ['web1', 'web2', 'db'].map((name) => ({ name, state: 'running' })),
        },
      ]);

      const down = await lab(['down', '--force']);
      assert.equal([down.exitCode, down.stdout], [0, 'stopped web1, web2, db']);
      const states = JSON.parse((await ns.tool(['ps', '--json'], env)).stdout).guests as Array<{ state: string }>;
      assert.equal(
        states.map((guest) => guest.state),
        ['stopped', 'stopped', 'stopped'],
      );
      await assertClean(ns, ['lo', 'uplink0']);
      await exportsLab(ns, env, dir);
      // Up once more: the same addresses.
      const back = await lab(['up']);
      for (const [name, address] of Object.entries(addresses))
        assert.match(back.stdout, new RegExp(`^${name} +running +labnet=${address.replace(/\./g, '\\.')} `, 'm'));
      const destroyed = await lab(['destroy']);
      assert.is(destroyed.exitCode, 0, destroyed.stderr);
      assert.is(destroyed.stdout, 'removed web1\nremoved web2\nremoved db\nremoved network labnet');
      assert.equal(readdirSync(`${dir}/instances`).filter((entry) => !entry.startsWith('.')), []);
      assert.not.ok(existsSync(`${ns.configDir}/networks/labnet.json`));
      assert.is((await ns.tool(['lab', 'ls'], env)).stdout, 'no labs (qemu-script lab up FILE)');
      await assertClean(ns, ['lo', 'uplink0']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));

test.run();
