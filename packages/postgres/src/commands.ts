// Running the PostgreSQL binaries and helper commands (as another OS user when we are root), with
// timeouts and the tail of their output in the error.

import { execFile as execFileCallback } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFile = promisify(execFileCallback);

/** Lines of the server log / command output quoted in error messages. */
const LOG_TAIL_LINES = 40;

/** Command output larger than this is a bug or apt-get; 64 MiB is plenty for both. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** Small helper commands (id, chown, useradd). */
export const HELPER_COMMAND_TIMEOUT_MS = 30_000;

export interface RunOptions {
  readonly timeoutMs: number;
  /** Run through `runuser -u <user> --` (we are root). */
  readonly asUser?: string | undefined;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs `file args`; a failure is an Error whose message has the command and its output's tail. */
export async function run(file: string, args: readonly string[], options: RunOptions): Promise<{ stdout: string; stderr: string }> {
  const [command, commandArgs] = options.asUser === undefined
    ? [file, [...args]]
    : ['runuser', ['-u', options.asUser, '--', file, ...args]];
  try {
    return await execFile(command, commandArgs, {
      timeout: options.timeoutMs,
      maxBuffer: MAX_OUTPUT_BYTES,
      encoding: 'utf8',
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string; killed?: boolean; signal?: string };
    const output = tail(`${failure.stdout ?? ''}${failure.stderr ?? ''}`);
    const how = failure.killed === true ? ` (killed after ${options.timeoutMs}ms timeout)` : '';
    throw new Error(`\`${[command, ...commandArgs].join(' ')}\` failed${how}: ${failure.message.split('\n')[0]}\n${output}`, { cause: error });
  }
}

export async function readLogTail(logFile: string): Promise<string> {
  try {
    return tail(await readFile(logFile, 'utf8'));
  } catch {
    return '(no server log)';
  }
}

function tail(text: string): string {
  return text.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
}

/** Quotes `value` for /bin/sh (pg_ctl hands `-o` to the shell). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Quotes `value` as an SQL string literal (for statements that take no parameters: ALTER SYSTEM). */
export function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
