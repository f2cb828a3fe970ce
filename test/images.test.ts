// The image cache: checksum lists read (a table), the alias table checked entry by entry, --image and
// --disk-size parsed, and the real executable's image pull, add, ls and rm against a file server of the test's
// own in a network namespace (test/image-server.ts): a checked pull, a checksum that does not match (nothing
// kept), an interrupted download resumed with a Range request, no checksum at all (refused, or --insecure),
// files that are no whole image, and rm refused while a guest is over the image.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { UsageError } from '../lib/base/errors.ts';
import { parseArgs } from '../lib/cli/parse-args.ts';
import { IMAGE_ALIASES } from '../lib/store/aliases.ts';
import { sumFor } from '../lib/store/checksums.ts';
import { ROOT } from './helpers.ts';
import { GUEST, inNetns, waitFor, type Netns } from './netns.ts';
import { INITRD, KERNEL } from './guest-helpers.ts';

const HEX64 = 'a'.repeat(64);
const HEX128 = 'b'.repeat(128);

const SUMS: Array<[string, string, string, ReturnType<typeof sumFor>]> = [
  ['GNU text mode', `${HEX64}  other.img\n${HEX64.replace(/a/g, 'c')}  disk.qcow2\n`, 'disk.qcow2', {
    algorithm: 'sha256',
    hex: 'c'.repeat(64),
  }],
  ['GNU binary mode, SHA-512', `${HEX128} *disk.qcow2\n`, 'disk.qcow2', { algorithm: 'sha512', hex: HEX128 }],
  ['BSD style', `SHA256 (disk.qcow2) = ${HEX64.toUpperCase()}\n`, 'disk.qcow2', { algorithm: 'sha256', hex: HEX64 }],
  ['a ./ prefix', `${HEX64}  ./disk.qcow2\n`, 'disk.qcow2', { algorithm: 'sha256', hex: HEX64 }],
  ['not listed', `${HEX64}  other.img\n`, 'disk.qcow2', undefined],
  ['a digest of no known length', `${'a'.repeat(40)}  disk.qcow2\n`, 'disk.qcow2', undefined],
  ['a name that only ends the same', `${HEX64}  mydisk.qcow2\n`, 'disk.qcow2', undefined],
];

for (const [name, sums, file, expected] of SUMS) {
  test(`sumFor: ${name}`, () => assert.equal(sumFor(sums, file), expected));
}

test('the alias table: every image over https, its checksum list beside it, said what it is', () => {
  assert.equal(Object.keys(IMAGE_ALIASES).sort(), ['debian-12', 'debian-13', 'ubuntu-22.04', 'ubuntu-24.04']);
  for (const [alias, entry] of Object.entries(IMAGE_ALIASES)) {
    assert.equal(Object.keys(entry).sort(), ['about', 'sums', 'url'], alias);
    assert.match(entry.url, /^https:\/\/[a-z.-]+\/\S+-amd64\.(qcow2|img)$/, alias);
    const dir = entry.url.slice(0, entry.url.lastIndexOf('/'));
    assert.ok(entry.sums === `${dir}/SHA512SUMS` || entry.sums === `${dir}/SHA256SUMS`, `${alias}: ${entry.sums}`);
    assert.match(entry.about, alias.startsWith('debian') ? /^Debian \d+ / : /^Ubuntu \d\d\.04 LTS /, alias);
  }
});

const IMAGE_OPTIONS: Array<[string[], { ref: string; size?: string } | undefined | RegExp]> = [
  [['--image', 'debian-12'], { ref: 'debian-12' }],
  [['--image', './my.qcow2', '--disk-size', '20G'], { ref: './my.qcow2', size: '20G' }],
  [['--image=debian-12', '--disk-size=512M'], { ref: 'debian-12', size: '512M' }],
  [['--net', 'user'], undefined],
  [['--disk-size', '20G'], /^--disk-size goes with --image \(it sizes the overlay\)$/],
  [['--image', 'x', '--disk-size', '20'], /^--disk-size: "20" is not a size \(a number and K, M, G or T: 20G, 512M\)$/],
  [['--image', 'x', '--disk-size', '0G'], /^--disk-size: "0G" is not a size /],
  [['--image', ''], /^--image: give an image \(qemu-script image ls\) or a file$/],
];

for (const [argv, expected] of IMAGE_OPTIONS) {
  test(`--image parsed: ${argv.join(' ')}`, () => {
    if (expected instanceof RegExp) {
      assert.throws(
        () => parseArgs([...argv, '--display', 'none'], {}),
        (error: Error) => error instanceof UsageError && expected.test(error.message),
      );
      return;
    }
    const parsed = parseArgs([...argv, '--display', 'none'], {});
    assert.is(parsed.command, 'launch');
    if (parsed.command === 'launch') assert.equal(parsed.options.image, expected);
  });
}

/** A qcow2 image with 8 MiB of data in it, and its SHA-256. */
async function makeImage(path: string): Promise<string> {
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', path, '64M']);
  await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 8M', path]);
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

const PORT = 8719;

interface Served {
  dir: string;
  url: (file: string) => string;
  requests: () => string[];
  env: Record<string, string>;
  cache: string;
}

/** The file server in the namespace, serving a directory of the test's own; the cache a directory of its own. */
async function withServer(ns: Netns, body: (served: Served) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(`${ROOT}/.cache/images-test-`);
  const cache = `${dir}/cache`;
  let server: ResultPromise | undefined;
  try {
    const serve = ['node', '--import', 'tsx', `${ROOT}/test/image-server.ts`, dir, String(PORT)];
    const argv = ['netns', 'exec', ns.name, ...serve];
    server = execa('ip', argv, { cwd: ROOT, reject: false });
    let listening = false;
    server.stdout?.on('data', (chunk: Buffer) => {
      listening ||= chunk.toString().includes('listening');
    });
    await waitFor(() => listening, 10000, 'the file server');
    await body({
      dir,
      url: (file) => `http://127.0.0.1:${PORT}/${file}`,
      requests: () => {
        const log = `${dir}/requests.log`;
        return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
      },
      env: { QEMU_SCRIPT_IMAGES_DIR: cache, QEMU_SCRIPT_INSTANCES_DIR: `${dir}/instances` },
      cache,
    });
  } finally {
    server?.kill();
    await server;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the cache holds, files and modes: "nothing left" and "read-only" are checked on it. */
const cacheFiles = (cache: string) =>
  existsSync(cache)
    ? readdirSync(cache)
        .sort()
        .map((file) => `${file} ${(statSync(`${cache}/${file}`).mode & 0o777).toString(8)}`)
    : [];

test('image pull: checked against a SUMS file, kept read-only; ls says what it is and what uses it', () =>
  inNetns((ns) =>
    withServer(ns, async ({ dir, url, requests, env, cache }) => {
      const sha = await makeImage(`${dir}/tiny-cloud.qcow2`);
      writeFileSync(`${dir}/SHA256SUMS`, `${'0'.repeat(64)}  other.qcow2\n${sha}  tiny-cloud.qcow2\n`);
      const pulled = await ns.tool(['image', 'pull', url('tiny-cloud.qcow2'), '--sums', url('SHA256SUMS')], env);
      assert.is(pulled.exitCode, 0, pulled.stderr);
      assert.match(pulled.stdout, `Image tiny-cloud: qcow2, `);
      assert.match(pulled.stdout, `, sha256 checked against ${url('SHA256SUMS')}`);
      assert.equal(cacheFiles(cache), ['tiny-cloud.img 444', 'tiny-cloud.json 644']);
      assert.is(createHash('sha256').update(readFileSync(`${cache}/tiny-cloud.img`)).digest('hex'), sha);
      const listed = JSON.parse((await ns.tool(['image', 'ls', '--json'], env)).stdout);
      assert.equal(listed.version, 1);
      assert.is(listed.images.length, 1);
      const [image] = listed.images;
      assert.ok(Date.now() - Date.parse(image.added) < 600000, image.added);
      assert.equal(
        { ...image, added: 'checked' },
        {
          name: 'tiny-cloud',
          format: 'qcow2',
          size: statSync(`${dir}/tiny-cloud.qcow2`).size,
          sha256: sha,
          source: url('tiny-cloud.qcow2'),
          verified: `sha256 from ${url('SHA256SUMS')}`,
          added: 'checked',
          used_by: [],
        },
      );
      assert.equal(requests(), ['GET /SHA256SUMS range=-', 'GET /tiny-cloud.qcow2 range=-']);

      // A guest over it: ls says so, rm is refused; the guest gone, rm takes it.
      const guest = await ns.tool(
        [...GUEST, '--image', 'tiny-cloud', '--net', 'none', '-kernel', KERNEL, '-initrd', INITRD],
        env,
      );
      assert.is(guest.exitCode, 0, guest.stderr);
      assert.equal(JSON.parse((await ns.tool(['image', 'ls', '--json'], env)).stdout).images[0].used_by, [
        'guest tiny-cloud',
      ]);
      const busy = await ns.tool(['image', 'rm', 'tiny-cloud'], env);
      assert.is(busy.exitCode, 2);
      assert.is(
        busy.stderr,
        'qemu-script: image rm: tiny-cloud is in use by guest tiny-cloud; stop or remove those first',
      );
      assert.is((await ns.tool(['down', '--force', 'tiny-cloud'], env)).exitCode, 0);
      assert.is(createHash('sha256').update(readFileSync(`${cache}/tiny-cloud.img`)).digest('hex'), sha);
      const removed = await ns.tool(['image', 'rm', 'tiny-cloud'], env);
      assert.is(removed.exitCode, 0, removed.stderr);
      assert.equal(cacheFiles(cache), []);
    }),
  ));

test('image pull: a checksum that does not match keeps nothing; an interrupted download resumes', () =>
  inNetns((ns) =>
    withServer(ns, async ({ dir, url, requests, env, cache }) => {
      const sha = await makeImage(`${dir}/tiny.qcow2`);
      const wrong = await ns.tool(['image', 'pull', url('tiny.qcow2'), '--sha256', 'f'.repeat(64)], env);
      assert.is(wrong.exitCode, 2);
      assert.match(
        wrong.stderr,
        new RegExp(`^qemu-script: image pull: tiny.qcow2 does not match its sha256 from --sha256 \\(got ${sha}\\); ` +
          'the download was removed$'),
      );
      assert.equal(cacheFiles(cache), [], 'nothing kept, not even the partial file');

      // The server drops the connection half-way: the partial stays, the same command resumes it.
      writeFileSync(`${dir}/cut`, 'tiny.qcow2\n');
      const cut = await ns.tool(['image', 'pull', url('tiny.qcow2'), '--sha256', sha], env);
      assert.is(cut.exitCode, 1, cut.stdout);
      assert.match(
        cut.stderr,
        /^qemu-script: the download of \S+ stopped at \d+ of \d+ bytes .*the same command resumes it$/,
      );
      const half = statSync(`${cache}/.tiny.part`).size;
      assert.ok(half > 0 && half < statSync(`${dir}/tiny.qcow2`).size, String(half));
      const resumed = await ns.tool(['image', 'pull', url('tiny.qcow2'), '--sha256', sha], env);
      assert.is(resumed.exitCode, 0, resumed.stderr);
      assert.equal(requests().slice(-2), ['GET /tiny.qcow2 range=-', `GET /tiny.qcow2 range=bytes=${half}-`]);
      assert.equal(cacheFiles(cache), ['tiny.img 444', 'tiny.json 644']);
      assert.is(createHash('sha256').update(readFileSync(`${cache}/tiny.img`)).digest('hex'), sha);
      const again = await ns.tool(['image', 'pull', url('tiny.qcow2'), '--sha256', sha], env);
      assert.is(again.exitCode, 2);
      assert.is(again.stderr, 'qemu-script: image pull: an image tiny is cached already (image rm tiny)');
    }),
  ));

test('image pull without a checksum is refused, or kept and said unverified with --insecure', () =>
  inNetns((ns) =>
    withServer(ns, async ({ dir, url, requests, env, cache }) => {
      await makeImage(`${dir}/plain.qcow2`);
      const refused = await ns.tool(['image', 'pull', url('plain.qcow2')], env);
      assert.is(refused.exitCode, 2);
      assert.is(
        refused.stderr,
        'qemu-script: image pull: nothing to check plain.qcow2 against: give --sha256 HEX or --sums URL ' +
          '(--insecure keeps it unchecked)',
      );
      assert.equal(requests(), [], 'nothing fetched');
      const insecure = await ns.tool(['image', 'pull', url('plain.qcow2'), '--insecure', '--name', 'mine'], env);
      assert.is(insecure.exitCode, 0, insecure.stderr);
      assert.match(insecure.stdout, /^Image mine: qcow2, [\d.]+ MiB, NOT verified$/);
      assert.is(JSON.parse(readFileSync(`${cache}/mine.json`, 'utf8')).verified, 'not verified (--insecure)');
      writeFileSync(`${dir}/SHA512SUMS`, `${'0'.repeat(128)}  other.qcow2\n`);
      const unlisted = await ns.tool(['image', 'pull', url('plain.qcow2'), '--sums', url('SHA512SUMS')], env);
      assert.is(unlisted.exitCode, 2);
      assert.is(unlisted.stderr, `qemu-script: image pull: ${url('SHA512SUMS')} lists no checksum for plain.qcow2`);
    }),
  ));

const PULL_REFUSED: Array<[string[], string]> = [
  [
    ['debian-11'],
    'image pull: "debian-11" is neither an alias (debian-12, debian-13, ubuntu-22.04, ubuntu-24.04) nor an ' +
      'http(s) address of an image',
  ],
  [['ftp://x/y.qcow2'], 'image pull: "ftp://x/y.qcow2" is neither an alias'],
  [['debian-12', '--sha256', 'xyz'], 'image pull --sha256: "xyz" is not 64 hexadecimal digits'],
  [['debian-12', '--sha256', HEX64, '--sums', 'http://x/S'], 'image pull: --sha256 and --sums exclude each other'],
  [
    ['debian-12', '--name', 'Big Name'],
    'image pull --name: "Big Name" is not an image name (lower-case letters, digits, dots, hyphens and ' +
      'underscores, at most 64)',
  ],
  [['debian-12', '--sums', 'file:///etc/passwd'], 'image pull --sums: "file:///etc/passwd" is not an http(s) address'],
];

test('image pull: bad words are refused before anything is fetched or made', () =>
  inNetns(async (ns) => {
    const cache = mkdtempSync(`${tmpdir()}/qs-cache-`);
    try {
      for (const [words, message] of PULL_REFUSED) {
        const result = await ns.tool(['image', 'pull', ...words], { QEMU_SCRIPT_IMAGES_DIR: `${cache}/images` });
        assert.is(result.exitCode, 2, words.join(' '));
        assert.ok(result.stderr.startsWith(`qemu-script: ${message}`), result.stderr);
        assert.not.ok(existsSync(`${cache}/images`), 'no cache made');
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }));

test('image add: a whole qcow2 or raw image, copied read-only; an ISO, an empty file, an overlay refused', async () => {
  const dir = mkdtempSync(`${tmpdir()}/qs-add-`);
  const tool = (words: string[]) =>
    execa(`${ROOT}/dist/qemu-script`, words, { reject: false, env: { QEMU_SCRIPT_IMAGES_DIR: `${dir}/cache` } });
  try {
    const sha = await makeImage(`${dir}/Base.qcow2`);
    const added = await tool(['image', 'add', `${dir}/Base.qcow2`]);
    assert.is(added.exitCode, 0, added.stderr);
    const mib = (statSync(`${dir}/Base.qcow2`).size / 1048576).toFixed(1);
    assert.is(added.stdout, `Image base: qcow2, ${mib} MiB, sha256 ${sha}`);
    assert.equal(cacheFiles(`${dir}/cache`), ['base.img 444', 'base.json 644']);
    const over = ['-F', 'qcow2', '-b', `${dir}/Base.qcow2`, `${dir}/over.qcow2`];
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', ...over]);
    await execa('truncate', ['-s', '1M', `${dir}/empty.raw`]);
    await execa('xorriso', ['-as', 'mkisofs', '-quiet', '-o', `${dir}/cd.iso`, `${dir}/empty.raw`]);
    const refused: Array<[string[], string]> = [
      [
        [`${dir}/over.qcow2`],
        `image add: ${dir}/over.qcow2 is a qcow2 overlay with a backing file of its own; give a whole image`,
      ],
      [[`${dir}/empty.raw`], `image add: ${dir}/empty.raw is empty; give a qcow2 or raw disk image`],
      [[`${dir}/cd.iso`], `image add: ${dir}/cd.iso is an ISO; give a qcow2 or raw disk image`],
      [[`${dir}/none`], `image add: ${dir}/none does not exist`],
      [[`${dir}/Base.qcow2`], 'image add: an image base is cached already (image rm base)'],
      [[`${dir}/Base.qcow2`, '--name', '../x'], 'image add --name: "../x" is not an image name'],
    ];
    for (const [words, message] of refused) {
      const result = await tool(['image', 'add', ...words]);
      assert.is(result.exitCode, 2, words.join(' '));
      assert.ok(result.stderr.startsWith(`qemu-script: ${message}`), result.stderr);
    }
    assert.equal(cacheFiles(`${dir}/cache`), ['base.img 444', 'base.json 644'], 'nothing else made');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
