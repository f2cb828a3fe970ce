// Crash consistency: a launch that makes several bridges, a macvtap and a
// defined network's DHCP server is killed with SIGKILL after each of its host
// steps in turn (QEMU_SCRIPT_FAULT_AFTER, the test-only hook), during setup and
// during cleanup. After every point `gc` leaves the namespace as it was, and a
// second `gc` finds nothing. A `gc` killed half-way is simply run again.
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GUEST, Netns, assertClean, inNetns, pidAlive, waitFor } from './netns.ts';

const NETS = ['--net', 'vmnet0,vmnet1,p,hostonly'];
/**
 * Steps of that launch: 3 per bridge and 3 per TAP on it, 4 for the macvtap, 5 for the network's bridge
 * (with its IPv4 and IPv6 addresses), 2 for its server (each link's steps: intent, made, marked as its
 * record's and set up in one `ip` run): 26 in the launcher; then 8 in the cleanup, one per thing made.
 */
const SETUP_STEPS = 26;
const CLEANUP_STEPS = 8;
const KEEP = ['lo', 'vparent', 'vpeer'];

async function lan(ns: Netns): Promise<void> {
  await ns.ip('link', 'add', 'vparent', 'type', 'veth', 'peer', 'name', 'vpeer');
  await ns.ip('addr', 'add', '10.78.0.1/24', 'dev', 'vparent');
  await ns.ip('link', 'set', 'vparent', 'up');
  await ns.ip('link', 'set', 'vpeer', 'up');
  await ns.ip('route', 'add', 'default', 'via', '10.78.0.254', 'dev', 'vparent');
}

/** gc leaves the namespace clean; with `twice`, a second gc finds nothing (checked at some points: it costs). */
async function gcUntilClean(ns: Netns, twice = true): Promise<void> {
  const gc = await ns.tool(['gc']);
  assert.is(gc.exitCode, 0, gc.stderr);
  await assertClean(ns, KEEP);
  assert.not.ok(existsSync(`${ns.runtimeDir}/lock`), 'the lock is free');
  if (!twice) return;
  const again = await ns.tool(['gc']);
  assert.is(again.stdout, 'nothing to collect', 'a second gc is a no-op');
  // -v: what it looked at, even when it finds nothing to do.
  const verbose = await ns.tool(['gc', '-v']);
  const seen = /^looked at \S+\/registry\.json: 0 record\(s\) of host changes, 0 in this network namespace$/m;
  assert.match(verbose.stdout, seen);
}

test(`a launch killed after each of its ${SETUP_STEPS} host steps: gc leaves nothing`, () =>
  inNetns(async (ns) => {
    await lan(ns);
    for (let point = 1; point <= SETUP_STEPS + 1; point++) {
      const name = `crash${point}`;
      const launch = await ns.tool([...GUEST, '--name', name, ...NETS], { QEMU_SCRIPT_FAULT_AFTER: String(point) });
      if (point <= SETUP_STEPS) {
        assert.is(launch.signal, 'SIGKILL', `point ${point}: ${launch.stderr}`);
      } else {
        // One step past the last: the launch gets through, which proves the count.
        assert.is(launch.exitCode, 0, launch.stderr);
        assert.is((await ns.tool(['down', '--force', name])).exitCode, 0);
      }
      await gcUntilClean(ns, point % 4 === 0 || point > SETUP_STEPS);
    }
  }));

test(`a cleanup killed after each of its ${CLEANUP_STEPS} host steps: gc finishes it`, () =>
  inNetns(async (ns) => {
    await lan(ns);
    for (let point = 1; point <= CLEANUP_STEPS + 1; point++) {
      const name = `late${point}`;
      const launch = await ns.tool([...GUEST, '--name', name, ...NETS], {
        QEMU_SCRIPT_FAULT_AFTER: `cleanup:${point}`,
      });
      assert.is(launch.exitCode, 0, launch.stderr);
      const waiter = ns.record(name).supervisor!.pid;
      // SIGTERM to the waiter: it stops QEMU and turns into the cleanup, which dies at the fault point.
      process.kill(waiter, 'SIGTERM');
      await waitFor(() => !pidAlive(waiter), 20000, 'the waiter and its cleanup to end');
      if (point <= CLEANUP_STEPS)
        assert.ok(ns.guests().includes(name), `point ${point}: the cleanup died half-way, its record stays for gc`);
      else assert.equal(ns.guests(), [], 'one step past the last: the cleanup finishes alone');
      await gcUntilClean(ns);
    }
  }));

test("kill -9 of a running guest's waiter and QEMU, then a gc that is itself killed half-way, then gc again", () =>
  inNetns(async (ns) => {
    await lan(ns);
    const launch = await ns.tool([...GUEST, '--name', 'victim', ...NETS]);
    assert.is(launch.exitCode, 0, launch.stderr);
    const record = ns.record('victim');
    for (const pid of [record.supervisor?.pid, record.qemu?.pid]) if (pid) process.kill(pid, 'SIGKILL');
    await waitFor(() => !pidAlive(record.qemu!.pid), 10000, 'QEMU to die');
    // Each gc dies after its first host step, having made that one step of progress.
    let killed = 0;
    for (;;) {
      const partial = await ns.tool(['gc'], { QEMU_SCRIPT_FAULT_AFTER: '1' });
      if (partial.signal !== 'SIGKILL') break;
      killed++;
      assert.ok(killed < 20, 'gc makes progress each time');
    }
    assert.ok(killed >= 4, `gc was killed ${killed} times`);
    await gcUntilClean(ns);
  }));

test.run();
