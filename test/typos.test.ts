// A typo never acts: every word the tool does not know is refused (exit 2) with
// the closest valid items, and the words users bring from VirtualBox mean what
// they meant there. Input words → the error and its message, or what they mean.
import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError } from '../lib/base/errors.ts';
import { parseArgs } from '../lib/cli/parse-args.ts';
import { findSubcommand, firstWordTypo } from '../lib/commands/table.ts';
import { launchOptions, plan } from './helpers.ts';

const lan = {
  interfaces: { eth0: { kind: 'physical' as const }, br0: { kind: 'bridge' as const } },
  bridgeAcl: ['allow br0'],
};

const REFUSED: Array<[string[], RegExp]> = [
  [['--dryrun', 'x.qcow2'], /^unknown option --dryrun \(did you mean `--dry-run`\?\)$/],
  [['--disks', 'x.qcow2'], /^unknown option --disks \(did you mean `--disk`\?\)/],
  [['-dsik', 'x.qcow2'], /^unknown option -dsik \(did you mean `-disk`\?\)/],
  [['--netw', 'user'], /^unknown option --netw \(did you mean `--net`\?\)/],
  [['-nodefault'], /^unknown option -nodefault \(did you mean `-nodefaults`\?\)/],
  [['-smpp', '2'], /^unknown option -smpp \(did you mean `-smp`\?\)/],
  [['--frobnicate'], /^unknown option --frobnicate: not qemu-script's nor QEMU's$/],
  [['--net', 'internal'], /^--net internal: an internal network needs a number: vmnetN \(a bridge\) or 0-f, mcast:N/],
  [['--name', 'wpad'], /^--name: "wpad" is reserved: on a network it would answer for another service$/],
  [['--name', 'LocalHost'], /^--name: "LocalHost" is reserved: on a network it would answer for another service$/],
  [['--name', hostname().split('.')[0]], /^--name: "[^"]+" is this host's own name$/],
  [['--name', '-web'], /^--name: "-web" is not a guest name \(letters, digits and inner hyphens, at most 63\)$/],
  [['--name', '_web'], /^--name: "_web" is not a guest name /],
];

for (const [argv, message] of REFUSED) {
  test(`typo refused: ${argv.join(' ')}`, () => {
    assert.throws(
      () => parseArgs(argv, {}),
      (error: Error) => error instanceof UsageError && message.test(error.message),
    );
  });
}

const PLAN_REFUSED: Array<[string[], RegExp]> = [
  [
    ['--net', 'usr'],
    new RegExp(
      '^--net usr: no defined network, bridge or vmnetN is called usr \\(did you mean `user`\\?\\); ' +
        'to make a bridge of that name write br:usr$',
    ),
  ],
  [['--net', 'hostonyl'], /^--net hostonyl: .*\(did you mean `hostonly`\?\)/],
  [['--net', 'bridgd'], /\(did you mean `bridge` or `bridged`\?\)/],
  [['--net', 'br1'], /\(did you mean `br0`\?\)/],
  [['--net', 'vmnet'], /\(did you mean `vmnet0`\?\)/],
  [
    ['--net', 'lab'],
    /^--net lab: no defined network, bridge or vmnetN is called lab; to make a bridge of that name write br:lab$/,
  ],
  [['--net', 'br:hostonly'], /^--net br:hostonly: hostonly is a defined network; write --net hostonly$/],
];

for (const [argv, message] of PLAN_REFUSED) {
  test(`typo refused before any host change: ${argv.join(' ')}`, () => {
    assert.throws(
      () => plan([...argv, '--display', 'none'], lan),
      (error: Error) => error instanceof UsageError && message.test(error.message),
    );
  });
}

const MEANS: Array<[string, string[]]> = [
  ['nat', ['user']],
  ['bridged', ['br0']],
  ['host-only', ['hostonly']],
  ['natnetwork', ['natnet']],
  ['br0', ['br0']],
  ['vmnet7', ['vmnet7']],
  ['br:lab', ['lab']],
  ['hostonly', ['hostonly']],
];

for (const [word, nets] of MEANS) {
  test(`--net ${word} means ${nets.join(',')}`, () => {
    const result = plan(['--net', word, '--display', 'none'], { ...lan, defaultRouteInterface: 'br0' });
    assert.equal(
      result.resources.nics.map((nic) => nic.net),
      nets,
    );
  });
}

test("QEMU's informational invocations run QEMU as written, and nothing else", () => {
  for (const argv of [
    ['-version'],
    ['-help'],
    ['-device', 'help'],
    ['-machine', 'help'],
    ['-cpu', 'help'],
    ['-device', 'virtio-net,help'],
    ['-cpu', '?'],
  ]) {
    assert.equal(parseArgs(argv, {}), { command: 'qemu-info', argv }, argv.join(' '));
  }
  assert.equal(parseArgs(['-m', '1G', '-device', 'help'], {}), {
    command: 'qemu-info',
    argv: ['-m', '1G', '-device', 'help'],
  });
  assert.is(parseArgs(['-device', 'virtio-net,netdev=x'], {}).command, 'launch', 'a device is not a question');
});

test('after -- anything goes to QEMU unchecked', () => {
  assert.equal(launchOptions(['--', '--dryrun', '-frobnicate', 'x']).qemuAfter, ['--dryrun', '-frobnicate', 'x']);
});

test('a first word that is neither a subcommand nor a file is a typo of the subcommand it resembles', () => {
  const none = () => false;
  assert.throws(
    () => firstWordTypo(['sp'], none),
    /^"sp" is neither a subcommand nor a file \(did you mean `qemu-script ps`\?\)$/,
  );
  assert.throws(() => firstWordTypo(['dwon', 'web'], none), /did you mean `qemu-script down`/);
  assert.throws(() => firstWordTypo(['nte', 'ls'], none), /did you mean `qemu-script net ls`/);
  assert.not.throws(() => firstWordTypo(['sp'], () => true), 'a file named sp is a disk');
  assert.not.throws(
    () => firstWordTypo(['disk.qcow2'], none),
    'far from any subcommand: the disk error says it is missing',
  );
  assert.not.throws(() => firstWordTypo(['-m', '1G'], none));
  assert.is(findSubcommand(['sp']), undefined);
});

test.run();
