// Fault injection for the crash tests: with QEMU_SCRIPT_FAULT_AFTER=N (or
// cleanup:N) the launching (or cleaning) process kills itself with SIGKILL
// right after its Nth host step (an intent recorded, a command run), the way an
// OOM kill or a power cut would stop it; QEMU_SCRIPT_FAULT_SIGNAL=SIGTERM sends
// SIGTERM instead, as a user's kill would. Unset, it costs one comparison per
// step. sudo drops both from a member's environment, so they never reach the
// privileged helper from outside.
const [wanted, count] = /^(?:(cleanup):)?(\d+)$/.exec(process.env.QEMU_SCRIPT_FAULT_AFTER ?? '')?.slice(1) ?? [];
const limit = Number(count ?? 0);
const signal = process.env.QEMU_SCRIPT_FAULT_SIGNAL === 'SIGTERM' ? 'SIGTERM' : 'SIGKILL';
let phase: 'launch' | 'cleanup' = 'launch';
let steps = 0;

/** The guest's cleanup process counts its own steps. */
export function enterCleanupPhase(): void {
  phase = 'cleanup';
  steps = 0;
}

export function hostStep(): void {
  if (limit > 0 && phase === (wanted ?? 'launch') && ++steps === limit) process.kill(process.pid, signal);
}
