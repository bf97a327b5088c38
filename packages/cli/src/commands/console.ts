/**
 * `strata console`: serves the web console (`@strata/console`) over the database until Ctrl-C.
 */
import type { Command } from 'commander';
import type { Host } from '../host.js';
import { parsePort } from '../options.js';

export function registerConsoleCommand(program: Command, host: Host): void {
  program
    .command('console')
    .description('serve the web console over the database and print its URL; runs until Ctrl-C')
    .option('--port <n>', 'TCP port (default: a free one)')
    .option('--host <host>', 'interface to listen on (default 127.0.0.1; the console can cancel and fork workflows)')
    .option('--api-url <url>', "the database service's control plane, for the Instances and Audit pages (default: $STRATA_API_URL, else none)")
    .action(
      host.run(async (session, options: { port?: string; host?: string; apiUrl?: string }) => {
        const port = options.port !== undefined ? parsePort(options.port) : undefined;
        // Loaded on demand: its web stack is not needed by any other command.
        const { startConsole } = await import('@strata/console');
        const running = await startConsole({
          database: session.checkedDatabaseUrl(),
          ...(port !== undefined ? { port } : {}),
          ...(options.host !== undefined ? { host: options.host } : {}),
          ...cloudOption(options.apiUrl ?? process.env.STRATA_API_URL),
        });
        // Beyond loopback the console needs its token: the login URL carries it (in the fragment).
        const loginUrl = running.loginUrl;
        if (session.json) session.printJson({ url: running.url, ...(loginUrl !== undefined ? { loginUrl } : {}) });
        else session.print(`Strata console at ${running.url}${loginUrl !== undefined ? `\nlog in at ${loginUrl}` : ''} (Ctrl-C to stop)\n`);
        await untilSignal();
        await running.close();
      }),
    );
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The console's `cloud` option: the control plane's URL when one is given. */
function cloudOption(apiUrl: string | undefined): { cloud?: { apiUrl: string } } {
  return apiUrl === undefined || apiUrl.trim() === '' ? {} : { cloud: { apiUrl: apiUrl.trim() } };
}
