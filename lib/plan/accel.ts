// The accelerator: KVM where it runs guests, else TCG with a warning; --accel and VM_ACCEL choose.
import type { Accel } from '../base/types.ts';

/** True when the user's own QEMU words already choose an accelerator. */
export function userChoosesAccel(qemuWords: string[]): boolean {
  return qemuWords.some((word, i) => {
    if (word === '-enable-kvm' || word === '--enable-kvm' || word === '-accel' || word === '--accel') return true;
    const isMachine = ['-machine', '--machine', '-M'].includes(word);
    return isMachine && /(^|,)accel=/.test(qemuWords[i + 1] ?? '');
  });
}

/** The `-machine accel=` value, and a warning when KVM is wanted but does not run guests here. */
export function planAccel(
  requested: Accel | undefined,
  kvmUsable: boolean,
  why = '/dev/kvm is not usable',
): { accel: string; warning?: string } {
  if (requested === 'kvm' && !kvmUsable) {
    return { accel: 'kvm', warning: `--accel kvm: ${why}; the guest will fail or crawl (--accel tcg avoids it)` };
  }
  if (requested) return { accel: requested };
  if (kvmUsable) return { accel: 'kvm' };
  return { accel: 'tcg', warning: `${why}: guests run under TCG (software emulation, many times slower)` };
}
