// End to end with a real cloud image (test/cloud-image, built by `make cloud-image`): --cloud-init provisions
// a stock Debian 12 with cloud-init and sshd (no password, no key of its own) under TCG, and
// `qemu-script ssh NAME` logs in with nothing else set up; a host key other than the one given is refused with
// the tool's explanation. Launched again on the same disk, the guest gets the same seed: cloud-init takes an
// instance ID it has seen as the same instance and does not provision it again (its documented rule; a second
// boot to show it again would cost a minute and a half of CPU in make test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT, testWhere } from './helpers.ts';
import { assertClean, inNetns, type Netns } from './netns.ts';

const IMAGE = `${ROOT}/.cache/cloud-image`;
const missing = existsSync(`${IMAGE}/disk.qcow2`)
  ? undefined
  : 'the cloud image is not built (make test builds it: make cloud-image, about a minute)';

const USER_DATA = `#cloud-config
runcmd:
  - [sh, -c, 'sleep 5; echo "user-data ran" >> /var/tmp/qs-user-data']
`;

interface Launched {
  stdout: string;
  log: string;
}

async function launch(ns: Netns, env: Record<string, string>, dir: string, extra: string[]): Promise<Launched> {
  const log = `${dir}/console-${Date.now()}.log`;
  const result = await ns.tool(
    [
      // Two vCPUs: TCG runs them on two threads, and systemd's start-up in parallel (a quarter faster alone;
      // in make test, CPU-bound on two cores, one vCPU measured no better: 6m57 against 6m43).
      ...['--cloud-init', '--net', 'user,hostonly', '--display', 'none', '--accel', 'tcg', '-m', '1024', '-smp', '2'],
      ...['--name', 'deb1', ...extra, `${dir}/deb1.qcow2`],
      ...['-kernel', `${IMAGE}/vmlinuz`, '-initrd', `${IMAGE}/initrd.img`],
      ...['-append', 'root=LABEL=cloudroot rw console=ttyS0 cryptomgr.notests', '-serial', `file:${log}`],
    ],
    env,
  );
  assert.is(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
  return { stdout: result.stdout, log };
}

/** The seed's files as the running guest deb1 was given them. */
function seedFiles(ns: Netns): Record<string, string> {
  const dir = `${ns.runtimeDir}/deb1/cidata`;
  const names = readdirSync(dir).filter((name) => !name.endsWith('.iso'));
  return Object.fromEntries(names.map((name) => [name, readFileSync(`${dir}/${name}`, 'utf8')]));
}

/** `qemu-script ssh --wait deb1 -- COMMAND` as the user would type it: the exit code is ssh's. */
async function ssh(ns: Netns, env: Record<string, string>, command: string[], wait = false) {
  return ns.tool(['ssh', ...(wait ? ['--wait=900'] : []), 'deb1', '--', ...command], env);
}

const NAME = 'a stock cloud image: provisioned, logged into, its key checked, launched again with the same seed';

testWhere(test, missing, NAME, () =>
  inNetns(async (ns) => {
    const dir = mkdtempSync(`${tmpdir()}/qs-cloud-`);
    const home = `${dir}/home`;
    const env = { HOME: home };
    try {
      await execa('mkdir', ['-m', '700', home]);
      // The user's disk: a copy-on-write layer over the cached image, kept between the two boots.
      await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', `${IMAGE}/disk.qcow2`, '-F', 'qcow2',
        `${dir}/deb1.qcow2`]);
      writeFileSync(`${dir}/user-data.yaml`, USER_DATA);
      const began = Date.now();
      // --wait: the launch returns once the guest is provisioned (its runcmd, which sleeps, included).
      const first = await launch(ns, env, dir, ['--wait', '--user-data', `${dir}/user-data.yaml`]);
      const seconds = Math.round((Date.now() - began) / 1000);
      assert.match(first.stdout, /^deb1 is ready \(cloud-init has finished\)$/m);
      const done = await ssh(ns, env, ['cloud-init status; cat /var/tmp/qs-user-data']);
      assert.is(done.stdout, 'status: done\nuser-data ran', `${done.stderr}\n${readFileSync(first.log, 'utf8')}`);
      console.log(`cloud-init boot to provisioned (TCG, first boot): ${seconds} s`);
      assert.match(first.stdout, `Made your SSH key for guests: ${home}/.local/share/qemu-script/id_ed25519`);
      assert.match(first.stdout, 'Log in: qemu-script ssh deb1');
      const [, announced, announced6] = /Address on hostonly: (\S+) (\S+)/.exec(first.stdout) ?? [];
      assert.ok(announced && announced6, first.stdout);

      const seed = seedFiles(ns);
      assert.equal(Object.keys(seed).sort(), ['meta-data', 'network-config', 'user-data']);
      const meta = JSON.parse(seed['meta-data']);
      assert.is(meta['local-hostname'], 'deb1');
      const hostname = await ssh(ns, env, ['hostname'], true);
      assert.is(hostname.exitCode, 0, `${hostname.stderr}\nconsole:\n${readFileSync(first.log, 'utf8')}`);
      assert.is(hostname.stdout, 'deb1');

      // The address the guest has on hostonly is the one the launch announced and ps shows.
      const ps = JSON.parse((await ns.tool(['ps', '--json'], env)).stdout);
      const nic = ps.guests[0].nics.find((entry: { net: string }) => entry.net === 'hostonly');
      assert.is(nic.ip, announced);
      // One login (each costs seconds under TCG): cloud-init's last stage (runcmd) is waited for, after sshd.
      const inside = await ssh(ns, env, [
        'id -un; sudo -n id -un; ip -4 -o addr show | grep -c " inet ' + announced + '/24 ";',
        // IPv6 where the network offers it: the address registered for the NIC, by SLAAC.
        'ip -6 -o addr show | grep -c " inet6 ' + announced6 + '/64 ";',
        'cloud-init status --wait --long; cat /var/lib/cloud/data/instance-id /var/tmp/qs-user-data',
      ]);
      assert.is(inside.exitCode, 0, `${inside.stdout}\n${inside.stderr}`);
      const lines = inside.stdout.split('\n');
      // Logged in as the caller's user (root's guests: debian), with passwordless sudo; both addresses.
      assert.equal(lines.slice(0, 4), ['debian', 'root', '1', '1']);
      assert.ok(lines.includes('status: done'), inside.stdout);
      assert.match(inside.stdout, /^detail:\s*\nDataSourceNoCloud \[seed=\/dev\/sr0\]/m);
      // The instance is the seed's: the one a launch on the same disk gives again.
      assert.is(lines.at(-2), meta['instance-id']);
      assert.is(lines.at(-1), 'user-data ran');

      // A host key other than the one given: refused, and said why.
      const known = `${home}/.local/share/qemu-script/hosts`;
      const [instance] = (await execa('ls', [known])).stdout.split('\n');
      const knownHosts = `${known}/${instance}/known_hosts`;
      const given = readFileSync(knownHosts, 'utf8');
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/other`]);
      writeFileSync(knownHosts, `${instance} ${readFileSync(`${dir}/other.pub`, 'utf8')}`);
      const changed = await ssh(ns, env, ['true']);
      assert.is(changed.exitCode, 255);
      assert.match(changed.stderr, 'Host key verification failed');
      assert.match(changed.stderr, `qemu-script: deb1 showed an SSH host key other than the one its seed gave it ` +
        `(${knownHosts})`);
      writeFileSync(knownHosts, given);

      // The image runs qemu-guest-agent: QEMU says the guest opened its port, and the agent powers it off.
      const down = await ns.tool(['down', '--timeout', '180', 'deb1'], env);
      assert.is(down.exitCode, 0, down.stderr);
      assert.match(down.stdout, 'Asked deb1 to power off (guest agent)');
      assert.match(down.stdout, 'Guest deb1 powered off');

      // The same disk under the same name: the seed as before (instance ID, host key, user data), no new key.
      const second = await launch(ns, env, dir, ['--user-data', `${dir}/user-data.yaml`]);
      assert.not.match(second.stdout, 'Made your SSH key');
      assert.equal(seedFiles(ns), seed);
      const stopped = await ns.tool(['down', '--force', 'deb1'], env);
      assert.is(stopped.exitCode, 0, stopped.stderr);
      await assertClean(ns, ['lo']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }),
);

test.run();
