/**
 * What every cloud command shares: the `--api-url`/`--api-key` options (and their environment
 * variables), the API client they make, and the wrapper that hands both to a command body.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { Host } from '../../host.js';
import type { Session } from '../../session.js';
import { ApiClient } from './api-client.js';

/** The environment variable `--api-key` defaults to. */
export const API_KEY_ENV = 'STRATA_API_KEY';

/** The environment variable `--api-url` defaults to. */
export const API_URL_ENV = 'STRATA_API_URL';

/** Where the control plane listens when nothing says otherwise: its own default port on loopback. */
export const DEFAULT_API_URL = 'http://127.0.0.1:7070';

/** The options of a cloud command group, as commander hands them over. */
interface CloudGlobals {
  readonly apiUrl?: string;
  readonly apiKey?: string;
}

/** What a cloud command body works with, beyond the session (output, `--json`). */
export interface CloudContext {
  /** The API client, made on first use: a command that fails its own flag checks never needs a key. */
  api(): ApiClient;
  /** Writes a progress line to stderr (stdout keeps only the result, so `--json` output stays parseable). */
  progress(line: string): void;
}

/** Adds `--api-url` and `--api-key` to a command group; its subcommands read them. */
export function withApiOptions(group: Command): Command {
  return group
    .option('--api-url <url>', `the control plane's API (default: $${API_URL_ENV}, else ${DEFAULT_API_URL})`)
    .option('--api-key <key>', `API key (default: $${API_KEY_ENV}); prefer the variable: a flag shows in the process list`);
}

/**
 * `--api-url`, else `$STRATA_API_URL`, else {@link DEFAULT_API_URL}; `--api-key`, else
 * `$STRATA_API_KEY` (required).
 *
 * @example
 * resolveApi({ apiKey: 'sk_x' }, {}); // { baseUrl: 'http://127.0.0.1:7070', apiKey: 'sk_x' }
 */
export function resolveApi(globals: CloudGlobals, env: NodeJS.ProcessEnv): { baseUrl: string; apiKey: string } {
  const baseUrl = (globals.apiUrl ?? env[API_URL_ENV] ?? DEFAULT_API_URL).trim();
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new UsageError(`--api-url ${JSON.stringify(baseUrl)} is not a URL; give the control plane's address, e.g. ${DEFAULT_API_URL}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`--api-url ${JSON.stringify(baseUrl)} must be an http:// or https:// URL, e.g. ${DEFAULT_API_URL}`);
  }
  const apiKey = (globals.apiKey ?? env[API_KEY_ENV] ?? '').trim();
  if (apiKey === '') {
    throw new UsageError(`no API key: set ${API_KEY_ENV} (or give --api-key); an admin makes one with strata keys create`);
  }
  return { baseUrl, apiKey };
}

/** A cloud command body: the session, the cloud context, then the command's arguments and options. */
export type CloudBody<A extends unknown[]> = (session: Session, cloud: CloudContext, ...args: A) => Promise<number | void>;

/**
 * Turns a cloud command body into a commander action: like `host.run`, plus a {@link CloudContext}
 * built from the group's `--api-url`/`--api-key` and the environment.
 */
export function cloudAction<A extends unknown[]>(host: Host, body: CloudBody<A>, env: NodeJS.ProcessEnv = process.env): (...args: any[]) => Promise<void> {
  return (...args: any[]) => {
    // Commander passes the positional arguments, the options, then the command itself.
    const command = args.at(-1) as Command;
    const globals = command.optsWithGlobals<CloudGlobals>();
    let client: ApiClient | undefined;
    const cloud: CloudContext = {
      api: () => (client ??= new ApiClient(resolveApi(globals, env))),
      progress: (line) => void process.stderr.write(`${line}\n`),
    };
    return host.run(async (session: Session, ...rest: unknown[]) => body(session, cloud, ...(rest as A)))(...args);
  };
}
