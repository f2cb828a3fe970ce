/** Bad input from the user: one line, exit code 2, nothing done to the host. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** A failure on the host (a command failed, QEMU would not start): exit code 1. */
export class HostError extends Error {
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly detail?: { command?: string[]; output?: string; hint?: string },
  ) {
    super(message);
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError ? 2 : 1;
}
