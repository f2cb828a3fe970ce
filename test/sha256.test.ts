// The hand-written SHA-256 (kept to avoid loading node:crypto at start-up) must
// give node:crypto's digests: MACs and DHCP slots derive from it and must never move.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { sha256 } from '../lib/base/sha256.ts';

const reference = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

test('known vectors', () => {
  assert.is(sha256('').toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.is(sha256('abc').toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('every length across the padding boundaries, ASCII and multi-byte', () => {
  for (let length = 0; length <= 200; length++) {
    const ascii = 'vmnet0-guest-'.repeat(20).slice(0, length);
    assert.is(sha256(ascii).toString('hex'), reference(ascii), `ascii length ${length}`);
    const wide = 'ñ€😀'.repeat(length).slice(0, length);
    assert.is(sha256(wide).toString('hex'), reference(wide), `multi-byte length ${length}`);
  }
});

test.run();
