/**
 * The `strata` command tree: global options, every command, and how commander reports errors.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerCloudCommands } from './commands/cloud/index.js';
import { registerConsoleCommand } from './commands/console.js';
import { registerExecutorCommands } from './commands/executors.js';
import { registerQueueCommands } from './commands/queues.js';
import { registerReplayCommands } from './commands/replay.js';
import { registerScheduleCommands } from './commands/schedules.js';
import { registerSqlCommand } from './commands/sql.js';
import { registerWorkflowCommands } from './commands/workflows.js';
import type { Host } from './host.js';
import { visible } from './format.js';
import { DATABASE_ENV, DEFAULT_DATABASE } from './options.js';
import type { Io } from './session.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  the operation failed, or replay/check-deploy found a divergence
  2  usage error: bad flags or values (nothing was changed)
  3  not found: unknown workflow, queue or schedule
  4  state error: the operation does not apply now (e.g. cancelling a finished workflow) or conflicts
  5  unavailable: the database cannot be reached or used now; retry later

Set STRATA_DEBUG=1 to print stack traces.`;

/**
 * Builds the command tree. Commander's own errors (unknown options, missing arguments) are
 * thrown as `CommanderError` after one `strata: …` line goes to `io.stderr`.
 */
export function buildProgram(io: Io, host: Host): Command {
  const program = new Command('strata')
    .description('Strata on the command line: see and steer workflows, queues, schedules and executors; run SQL; replay workflows against new code')
    .version(VERSION, '-v, --version')
    .option('--database <url>', `postgres:// URL or embedded database directory (default: $${DATABASE_ENV}, else ${DEFAULT_DATABASE})`)
    .option('--json', 'machine-readable JSON output')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      // One line: commander puts its "(Did you mean …?)" suggestion on a line of its own.
      // The text quotes what was typed, so controls in it are shown as escapes.
      outputError: (text, write) => write(`strata: ${visible(text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' '))} (see --help)\n`),
    });
  registerWorkflowCommands(program, host);
  registerQueueCommands(program, host);
  registerScheduleCommands(program, host);
  registerExecutorCommands(program, host);
  registerSqlCommand(program, host);
  registerReplayCommands(program, host);
  registerConsoleCommand(program, host);
  registerCloudCommands(program, host);
  return program;
}
