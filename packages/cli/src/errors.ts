/**
 * Exit codes of the `strata` command and the one mapping from library errors (by their kind) to them.
 */
import { errorKindOf, type ErrorKind } from '@strata/store';

/** What the process exit code means; scripts branch on these. */
export const ExitCode = {
  ok: 0,
  /** The operation failed, or `check-deploy`/`replay` found a divergence. */
  failed: 1,
  /** Bad flags or arguments; nothing was changed. */
  usage: 2,
  /** An unknown workflow, queue, schedule or workflow name. */
  notFound: 3,
  /** The operation does not apply in the current state (e.g. cancelling a finished workflow), or collided with existing state (a duplicate). */
  state: 4,
  /** The database or engine cannot serve now (unreachable, closed, disk full); the same command may succeed later. */
  unavailable: 5,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one line with a chosen exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCodeValue;
  constructor(message: string, exitCode: ExitCodeValue = ExitCode.failed) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A malformed flag or argument: exit 2. The message says which values are valid. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = 'UsageError';
  }
}

/**
 * The one mapping from a Strata error's kind (see `ErrorKind` in `@strata/store`) to the exit code
 * it means; packages/cli/README.md has the table.
 */
export const EXIT_CODE_BY_KIND: Readonly<Record<ErrorKind, ExitCodeValue>> = {
  'invalid-argument': ExitCode.usage,
  'not-found': ExitCode.notFound,
  conflict: ExitCode.state,
  'failed-precondition': ExitCode.state,
  unavailable: ExitCode.unavailable,
  internal: ExitCode.failed,
};

/**
 * The exit code for any thrown value: a {@link CliError}'s own, a library error's by its `kind`
 * (read from the value, not its class, so a second copy of a package cannot break it), a value
 * the database refused (SQLSTATE class 22) 2, else 1.
 *
 * @example
 * exitCodeOf(new WorkflowNotFoundError('w-1')); // 3
 */
export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof CliError) return error.exitCode;
  const kind = errorKindOf(error);
  if (kind !== undefined) return EXIT_CODE_BY_KIND[kind];
  const code = (error as { code?: unknown } | null)?.code;
  // SQLSTATE class 22 (data exception: NUL in text, a bad date, a number out of range): the
  // values came from the command line, so it is the command that must change.
  if (typeof code === 'string' && DATA_EXCEPTION.test(code)) return ExitCode.usage;
  return ExitCode.failed;
}

/** SQLSTATE class 22, data exception. */
const DATA_EXCEPTION = /^22[0-9A-Z]{3}$/;

/** A PostgreSQL error code (SQLSTATE): a class (two digits, or HV, P0, XX, F0) and three more; not an errno such as EPIPE. */
export const SQLSTATE = /^(?:[0-9]{2}|HV|P0|XX|F0)[0-9A-Z]{3}$/;

/**
 * One line for stderr: the message (with the SQLSTATE of a database error), or the stack too
 * when `STRATA_DEBUG=1`.
 */
export function describeError(error: unknown, debug: boolean): string {
  if (debug && error instanceof Error && error.stack) return error.stack;
  if (error instanceof Error) {
    const line = error.message.split('\n')[0] ?? error.name;
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && SQLSTATE.test(code) && !line.includes(code) ? `${line} (SQLSTATE ${code})` : line;
  }
  return String(error);
}
