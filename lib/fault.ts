// Fault injection for the crash tests: with QEMU_SCRIPT_FAULT_AFTER=N the
// process kills itself with SIGKILL right after its Nth host step (an intent
// recorded, a command run), the way an OOM kill or a power cut would stop it.
// Unset, it costs one comparison per step. sudo drops it from a member's
// environment, so it never reaches the privileged helper from outside.
const limit = Number(process.env.QEMU_SCRIPT_FAULT_AFTER ?? 0);
let steps = 0;

export function hostStep(): void {
  if (limit > 0 && ++steps >= limit) process.kill(process.pid, 'SIGKILL');
}
