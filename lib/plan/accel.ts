import type { Accel } from '../base/types.ts';

/** True when the user's own QEMU words already choose an accelerator. */
export function userChoosesAccel(qemuWords: string[]): boolean {
  return qemuWords.some((word, i) => {
    if (word === '-enable-kvm' || word === '--enable-kvm' || word === '-accel' || word === '--accel') return true;
    const isMachine = ['-machine', '--machine', '-M'].includes(word);
    return isMachine && /(^|,)accel=/.test(qemuWords[i + 1] ?? '');
  });
}

/** The `-machine accel=` value, and a warning when KVM is wanted but unusable. */
export function planAccel(requested: Accel | undefined, kvmUsable: boolean): { accel: string; warning?: string } {
  if (requested === 'kvm' && !kvmUsable) {
    return {
      accel: 'kvm',
      warning: '--accel kvm: /dev/kvm is not usable by you, QEMU will fail; use --accel tcg or see qemu-script doctor',
    };
  }
  if (requested) return { accel: requested };
  if (kvmUsable) return { accel: 'kvm' };
  return {
    accel: 'tcg',
    warning:
      '/dev/kvm is not usable: falling back to TCG (software emulation, many times slower); see qemu-script doctor',
  };
}
