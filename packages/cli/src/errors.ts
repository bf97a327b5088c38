/**
 * Exit codes of the `strata` command and the mapping from library errors to them.
 */

/** What the process exit code means; scripts branch on these. */
export const ExitCode = {
  ok: 0,
  /** The operation failed, or `check-deploy`/`replay` found a divergence. */
  failed: 1,
  /** Bad flags or arguments; nothing was changed. */
  usage: 2,
  /** An unknown workflow, queue, schedule or workflow name. */
  notFound: 3,
  /** The operation does not apply in the current state (e.g. cancelling a finished workflow). */
  state: 4,
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

/** Library error codes (`StrataError.code`, `StoreError.code`) and the exit code each means. */
const EXIT_CODE_BY_ERROR_CODE: Readonly<Record<string, ExitCodeValue>> = {
  STRATA_INVALID_ARGUMENT: ExitCode.usage,
  STRATA_INVALID_SCHEDULE: ExitCode.usage,
  STRATA_INVALID_DATABASE_URL: ExitCode.usage,
  STRATA_WORKFLOW_NOT_FOUND: ExitCode.notFound,
  STRATA_UNKNOWN_WORKFLOW: ExitCode.notFound,
  STRATA_UNKNOWN_QUEUE: ExitCode.notFound,
  STRATA_UNKNOWN_SCHEDULE: ExitCode.notFound,
  STRATA_WORKFLOW_STATE: ExitCode.state,
  STRATA_QUEUE_STATE: ExitCode.state,
  STRATA_DUPLICATE_SCHEDULE: ExitCode.state,
  STRATA_DUPLICATE_ENQUEUE: ExitCode.state,
};

/**
 * The exit code for any thrown value: a {@link CliError}'s own, a library error's by its stable
 * `code` (compared by code, not class, so a second copy of a package cannot break it), else 1.
 */
export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof CliError) return error.exitCode;
  const code = (error as { code?: unknown } | null)?.code;
  // SQLSTATE class 22 (data exception: NUL in text, a bad date, a number out of range): the
  // values came from the command line, so it is the command that must change.
  if (typeof code === 'string' && DATA_EXCEPTION.test(code)) return ExitCode.usage;
  if (typeof code === 'string') return EXIT_CODE_BY_ERROR_CODE[code] ?? ExitCode.failed;
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
