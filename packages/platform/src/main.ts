// The database service in one process, as `npm start` runs it.
//
//   npm start                   start (or resume) the platform and its demo instance; serves until Ctrl-C
//   npm start -- --reset        stop and remove its instances, delete its data directory, start over
//   npm start -- --data-dir D --api-port N --console-port N --no-console --proxy-port N --no-proxy
//                 --proxy-freeze-after MS --proxy-stop-after MS
//
// Env: STRATA_DATA_DIR (default packages/platform/.strata), STRATA_API_PORT (default 7070, or a
// free one when taken), STRATA_CONSOLE_PORT (default 4000, likewise), STRATA_PROXY_PORT (default
// the last start's, else 6432, likewise), STRATA_PROXY_FREEZE_AFTER_MS / STRATA_PROXY_STOP_AFTER_MS
// (idle time before the proxy freezes / stops an instance; default 30 s / 5 min; 0: never),
// STRATA_RESET=1 (= --reset).
// Prints `STRATA PLATFORM READY` after the banner (tests wait for it). Instances keep running when
// it stops, by Ctrl-C or by SIGKILL: the next start reconciles them. A `kill -9` of the `npm start`
// above it stops it too (see launcher.ts), so no orphan keeps the system database locked.
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bannerLines } from './banner.js';
import { ensureDemo } from './demo.js';
import { PlatformError } from './errors.js';
import { watchLauncher } from '@strata/store';
import { startPlatform, type RunningPlatform } from './platform.js';
import { resetPlatform } from './reset.js';

/** A stable place for the platform's data: the package folder, whatever the working directory. */
const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.strata', import.meta.url));
/** The line printed once everything is ready (after the banner). */
const READY_LINE = 'STRATA PLATFORM READY';

const { values } = parseArgs({
  options: {
    reset: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    'api-port': { type: 'string' },
    'console-port': { type: 'string' },
    'no-console': { type: 'boolean', default: false },
    'proxy-port': { type: 'string' },
    'proxy-freeze-after': { type: 'string' },
    'proxy-stop-after': { type: 'string' },
    'no-proxy': { type: 'boolean', default: false },
  },
  strict: true,
});

function port(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) {
    process.stderr.write(`strata platform: ${name} must be a port number from 0 to 65535 (0: a free one), got ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  return parsed;
}

const dataDir = values['data-dir'] ?? (process.env.STRATA_DATA_DIR || DEFAULT_DATA_DIR);
const apiPort = port('--api-port', values['api-port'] ?? process.env.STRATA_API_PORT);
const consolePort = values['no-console'] ? false : port('--console-port', values['console-port'] ?? process.env.STRATA_CONSOLE_PORT);
const proxyPort = port('--proxy-port', values['proxy-port'] ?? process.env.STRATA_PROXY_PORT);
const freezeAfterMs = milliseconds('--proxy-freeze-after', values['proxy-freeze-after'] ?? process.env.STRATA_PROXY_FREEZE_AFTER_MS);
const stopAfterMs = milliseconds('--proxy-stop-after', values['proxy-stop-after'] ?? process.env.STRATA_PROXY_STOP_AFTER_MS);
const proxyOptions = values['no-proxy']
  ? false
  : { ...(proxyPort === undefined ? {} : { port: proxyPort }), ...(freezeAfterMs === undefined && stopAfterMs === undefined ? {} : { idle: { ...(freezeAfterMs === undefined ? {} : { freezeAfterMs }), ...(stopAfterMs === undefined ? {} : { stopAfterMs }) } }) };

function milliseconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 7 * 24 * 3_600_000) {
    process.stderr.write(`strata platform: ${name} must be a whole number of milliseconds from 0 (never) to a week, got ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  return parsed;
}

if (values.reset || process.env.STRATA_RESET === '1') {
  const removed = await resetPlatform(dataDir);
  console.log(`reset: stopped and removed ${removed} instance(s), deleted ${dataDir}`);
}
console.log(`Strata database service — starting on ${dataDir} (the first start initialises PostgreSQL's template: this takes a while)…`);

/** Exit codes a shell reports for these signals (128 + signal number), for a stop before the platform is up. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

// npm passes no SIGKILL on: when the npm that launched us dies, stop as a SIGTERM would (and free the system database).
watchLauncher((pid) => {
  console.log(`\nthe process that launched the platform (pid ${pid}) is gone.`);
  process.kill(process.pid, 'SIGTERM');
});

let platform: RunningPlatform | undefined;
let stopping: Promise<void> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    // Still starting: nothing of ours to close yet that a restart would not recover.
    if (platform === undefined) process.exit(SIGNAL_EXIT_CODES[signal]);
    console.log(`\n${signal}: stopping the platform (instances keep running; "npm start" again reconciles them).`);
    stopping = platform
      .close()
      .catch((error: unknown) => console.error('shutdown:', error))
      .then(() => process.exit(0));
  });
}

try {
  platform = await startPlatform({ dataDir, ...(apiPort === undefined ? {} : { apiPort }), ...(consolePort === undefined ? {} : { consolePort }), proxy: proxyOptions });
  const demo = await ensureDemo(platform);
  for (const line of bannerLines({ platform, demo, cli: cliCommand() })) console.log(line);
  console.log(READY_LINE);
} catch (error) {
  if (!(error instanceof PlatformError)) throw error;
  process.stderr.write(`strata platform: ${error.message}\n`);
  await platform?.close().catch(() => {});
  process.exit(1);
}

/** The CLI as typed where `npm start` was run: `npx strata` inside the repository. */
function cliCommand(): string {
  const from = process.env.INIT_CWD || process.cwd();
  const repo = fileURLToPath(new URL('../../..', import.meta.url));
  return relative(repo, from).startsWith('..') ? `npx --prefix ${repo} strata` : 'npx strata';
}
