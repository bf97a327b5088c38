// The command loop of the tests' worker processes: stdin lines, obeyed one at a time, in order.
import { createInterface } from 'node:readline';

/**
 * Calls `obey` with each line of stdin, one at a time, in order; a command that throws ends the
 * process with exit code 1 after writing `worker <label>: <error>` to stderr, and the end of stdin
 * ends it with 0.
 *
 * @example
 * obeyCommands(executorId, async (line) => { if (line === 'PING') process.stdout.write('PONG\n'); });
 */
export function obeyCommands(label: string, obey: (line: string) => Promise<void>): void {
  let chain = Promise.resolve();
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    chain = chain.then(() => obey(line)).catch((error: unknown) => {
      process.stderr.write(`worker ${label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
  });
  input.on('close', () => process.exit(0));
}
