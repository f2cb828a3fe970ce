// The two kinds of failure and their exit codes. Wrapping keeps what was wrapped as `cause`
// (new HostError(message, { cause })), and a usage error stays one however deep it was raised.

/** Bad input from the user: one line, exit code 2, nothing done to the host. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** A failure on the host (a command failed, QEMU would not start): exit code 1. */
export class HostError extends Error {
  readonly exitCode = 1;
}

/** A program the tool ran failed: its argv and what it printed, as execa's errors carry them. */
export class CommandError extends HostError {
  constructor(
    message: string,
    readonly command: string[],
    readonly output: string,
  ) {
    super(message);
  }
}

/** 2 when the error is, or was caused by, bad input (raised under a lock or a rollback); else 1. */
export function exitCodeOf(error: unknown): number {
  for (let seen = error, depth = 0; seen instanceof Error && depth < 10; seen = seen.cause, depth++) {
    if (seen instanceof UsageError) return 2;
  }
  return 1;
}

/** The message of anything thrown. */
export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
