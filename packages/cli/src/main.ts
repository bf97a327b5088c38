/**
 * Entry point of the `strata` command (`bin/strata.js` runs its compiled `dist/main.js`).
 */
import { CommanderError, type Command } from 'commander';
import { ExitCode, describeError, exitCodeOf } from './errors.js';
import { visible, visibleLines } from './format.js';
import type { ActionResult, Host } from './host.js';
import { resolveDatabase } from './options.js';
import { buildProgram } from './program.js';
import { Session, processIo, type Io } from './session.js';

/**
 * Runs the CLI on `argv` (the arguments after `strata`) and returns the exit code. Errors are
 * one `strata: <message>` line on stderr (with the stack when `STRATA_DEBUG=1`).
 *
 * @example
 * process.exitCode = await main(['workflows', 'list', '--status', 'ERROR']);
 */
export async function main(argv: readonly string[], io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const sessions: Session[] = [];
  let exitCode: number = ExitCode.ok;
  const host: Host = {
    run: (body) =>
      async (...args) => {
        // Commander passes the positional arguments, the options, then the command itself.
        const command = args.at(-1) as Command;
        const globals = command.optsWithGlobals<{ database?: string; json?: boolean }>();
        const session = new Session(resolveDatabase(globals.database, env), globals.json === true, io);
        sessions.push(session);
        const untyped = body as (session: Session, ...rest: unknown[]) => ActionResult;
        const code = await untyped(session, ...args.slice(0, -1));
        exitCode = code ?? ExitCode.ok;
      },
  };
  const program = buildProgram(io, host);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end in a CommanderError with exit code 0; the rest are usage errors, already printed.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const debug = env.STRATA_DEBUG === '1';
    // Messages quote workflow IDs and database text: shown with escapes, never acted on by the terminal.
    io.stderr(`strata: ${(debug ? visibleLines : visible)(describeError(error, debug))}\n`);
    return exitCodeOf(error);
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
  }
}
