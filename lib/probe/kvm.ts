// Whether KVM really runs guests here. /dev/kvm may open on a host whose CPU lacks VMX/SVM (a nested VM
// without nested virtualisation): QEMU starts there, burns system CPU and the guest never gets far. So
// QEMU itself is asked to run a tiny firmware under KVM that loops 20 million times and leaves through
// isa-debug-exit: real KVM does that in milliseconds; a host that cannot within two seconds is not one
// to run guests on. The answer is kept per boot (and QEMU binary) in the user's runtime directory.
import { childProcess } from '../base/builtin.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { canOpenReadWrite } from './host-access.ts';
import { KVM_DEVICE } from '../base/paths.ts';
import { readBootId } from '../base/proc.ts';

export interface KvmFacts {
  usable: boolean;
  /** Why not, in words for a warning and doctor. */
  why?: string;
}

/** isa-debug-exit turns the value written to its port into QEMU's exit code: (value << 1) | 1. */
const EXIT_PORT = 0xf4;
const EXIT_VALUE = 0x2a;
const TIMEOUT_MS = 2000;

/** 64 KiB of firmware: at the reset vector, `mov ecx, 20000000; loop $; mov al, 42; out 0xf4, al; hlt`. */
function firmware(): Buffer {
  const rom = Buffer.alloc(65536, 0xf4);
  const loops = 20_000_000;
  const code = [0x66, 0xb9, ...[0, 8, 16, 24].map((shift) => (loops >> shift) & 0xff), 0x67, 0xe2, 0xfd];
  Buffer.from([...code, 0xb0, EXIT_VALUE, 0xe6, EXIT_PORT, 0xf4]).copy(rom, 0xfff0);
  return rom;
}

/** Runs the firmware under ACCEL (kvm; tests check the firmware itself under tcg). */
export function runProbe(qemu: string, accel = 'kvm'): KvmFacts {
  const dir = mkdtempSync(`${tmpdir()}/qemu-script-kvm-`);
  try {
    writeFileSync(`${dir}/probe.rom`, firmware());
    const result = childProcess().spawnSync(
      qemu,
      ['-machine', `pc,accel=${accel}`, '-nodefaults', '-display', 'none', '-m', '16', '-bios', `${dir}/probe.rom`,
        '-device', `isa-debug-exit,iobase=${EXIT_PORT},iosize=1`],
      { timeout: TIMEOUT_MS, killSignal: 'SIGKILL', stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
    );
    if (result.status === ((EXIT_VALUE << 1) | 1)) return { usable: true };
    if (result.error && (result.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
      return { usable: false, why: 'KVM opens but runs guests far too slowly here (no VMX/SVM: a nested VM?)' };
    }
    const said = (result.stderr ?? '').trim().split('\n').at(-1) ?? '';
    return { usable: false, why: `QEMU could not run a guest under KVM${said ? `: ${said}` : ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** KVM's facts, from the cache in CACHE_DIR when it is of this boot and this QEMU; otherwise probed and kept. */
export function probeKvm(qemu: string, cacheDir: string): KvmFacts {
  if (!canOpenReadWrite(KVM_DEVICE)) return { usable: false, why: `${KVM_DEVICE} is missing or not usable by you` };
  return cachedProbe(qemu, cacheDir, true, () => runProbe(qemu));
}

/**
 * What is known of KVM without running anything: the answer of this boot, else an openable /dev/kvm taken
 * at its word and marked `unknown` (the launch asks QEMU once the whole line is valid; a typo or a dry
 * run never starts it).
 */
export function knownKvm(qemu: string, cacheDir: string): KvmFacts & { unknown?: boolean } {
  if (!canOpenReadWrite(KVM_DEVICE)) return { usable: false, why: `${KVM_DEVICE} is missing or not usable by you` };
  return cachedProbe(qemu, cacheDir, false, () => ({ usable: true, unknown: true }));
}

/** The answer kept in CACHE_DIR/kvm.json when it is of this boot and this QEMU; else PROBE's, kept. */
export function cachedProbe(qemu: string, cacheDir: string, write: boolean, probe: () => KvmFacts): KvmFacts {
  const boot = readBootId();
  const cache = `${cacheDir}/kvm.json`;
  try {
    const cached = JSON.parse(readFileSync(cache, 'utf8')) as KvmFacts & { boot: string; qemu: string };
    if (cached.boot === boot && cached.qemu === qemu) return { usable: cached.usable, why: cached.why };
  } catch {
    // no answer of this boot yet
  }
  const facts = probe();
  if (write) {
    try {
      writeFileSync(cache, `${JSON.stringify({ boot, qemu, ...facts })}\n`, { mode: 0o600 });
    } catch {
      // no runtime directory yet: asked again next time
    }
  }
  return facts;
}
