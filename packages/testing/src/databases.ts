// Fresh, isolated databases for tests: a new PostgreSQL database on the shared test cluster,
// or a new PGlite data directory.

import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startCluster, type PgCluster } from '@strata/postgres';
import { openDatabase } from '@strata/store';

/**
 * The database engines the test suite runs against.
 *
 * @example
 * ```ts
 * for (const kind of engines()) test(`commits on ${kind}`, async () => { ... });
 * ```
 */
export type EngineKind = 'postgres' | 'pglite';

/**
 * Env var with the admin URL of the suite's shared PostgreSQL cluster; `scripts/test.ts` sets it.
 *
 * @example
 * ```ts
 * const adminUrl = process.env[TEST_PG_URL_ENV]; // 'postgres://strata@127.0.0.1:54012/postgres'
 * ```
 */
export const TEST_PG_URL_ENV = 'STRATA_TEST_PG_URL';

/**
 * Env var that limits the engines tests run against: a comma list such as `pglite` or `postgres,pglite`.
 *
 * @example
 * ```sh
 * STRATA_TEST_ENGINES=pglite npm test -- packages/store
 * ```
 */
export const TEST_ENGINES_ENV = 'STRATA_TEST_ENGINES';

/** Every engine, in the order tests run them (embedded first: it is the default). */
const ALL_ENGINES: readonly EngineKind[] = ['pglite', 'postgres'];

/** Creating a database is quick; a server that does not answer in this long is broken. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Thrown when `STRATA_TEST_ENGINES` names an engine that does not exist (a typo would
 * otherwise silently skip tests).
 *
 * @example
 * ```ts
 * process.env.STRATA_TEST_ENGINES = 'postgress';
 * engines(); // throws UnknownEngineError
 * ```
 */
export class UnknownEngineError extends Error {
  readonly code = 'UNKNOWN_TEST_ENGINE';
  override readonly name = 'UnknownEngineError';
}

let ownCluster: Promise<PgCluster> | undefined;
const pgliteDirs = new Set<string>();
let pgliteExitHookInstalled = false;

/**
 * The engines to test against: `['pglite', 'postgres']`, narrowed by the env var
 * `STRATA_TEST_ENGINES` (comma list) when it is set.
 *
 * @throws {UnknownEngineError} when `STRATA_TEST_ENGINES` names an unknown engine.
 *
 * @example
 * ```ts
 * import { test } from 'node:test';
 * for (const kind of engines()) {
 *   test(`a committed row is visible (${kind})`, async () => {
 *     const url = await freshDatabaseUrl(kind);
 *     // open the store on `url` ...
 *   });
 * }
 * ```
 */
export function engines(): EngineKind[] {
  const raw = process.env[TEST_ENGINES_ENV];
  if (raw === undefined || raw.trim() === '') return [...ALL_ENGINES];
  const wanted = raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of wanted) {
    if (!(ALL_ENGINES as readonly string[]).includes(name)) {
      throw new UnknownEngineError(
        `${TEST_ENGINES_ENV} names unknown engine ${JSON.stringify(name)}; use a comma list of: ${ALL_ENGINES.join(', ')}`,
      );
    }
  }
  return ALL_ENGINES.filter((kind) => wanted.includes(kind));
}

/**
 * Creates a new, empty PostgreSQL database `t_<random hex>` and returns its URL. Uses the suite's
 * shared cluster (`STRATA_TEST_PG_URL`, set by `npm test`); when a test file runs on its own
 * (`node --import tsx --test file.test.ts`) it starts one cluster for this process instead,
 * stopped at process exit or by {@link stopOwnCluster}.
 *
 * @example
 * ```ts
 * const url = await freshPostgresUrl(); // 'postgres://strata@127.0.0.1:54012/t_3f9c0a1b2c3d4e5f'
 * const client = new pg.Client(url);
 * ```
 */
export async function freshPostgresUrl(): Promise<string> {
  const adminUrl = await testClusterAdminUrl();
  const name = `t_${randomBytes(8).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A server-side disconnect would otherwise be an unhandled 'error' event.
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Stops the cluster this process started for {@link freshPostgresUrl} (only when
 * `STRATA_TEST_PG_URL` was not set). Optional: the cluster is also stopped at process exit.
 *
 * @example
 * ```ts
 * import { after } from 'node:test';
 * after(() => stopOwnCluster());
 * ```
 */
export async function stopOwnCluster(): Promise<void> {
  const cluster = ownCluster;
  ownCluster = undefined;
  if (cluster === undefined) return;
  let started: PgCluster;
  try {
    started = await cluster;
  } catch {
    return; // It never started; nothing to stop.
  }
  await started.stop();
}

/**
 * Creates a new, empty temp directory (`strata-pglite-*`) for a PGlite database. It is removed
 * at process exit (best effort).
 *
 * @example
 * ```ts
 * const dir = await freshPgliteDir(); // '/tmp/strata-pglite-a1B2c3'
 * ```
 */
export async function freshPgliteDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-pglite-'));
  pgliteDirs.add(dir);
  if (!pgliteExitHookInstalled) {
    pgliteExitHookInstalled = true;
    process.on('exit', () => {
      for (const path of pgliteDirs) {
        try {
          rmSync(path, { recursive: true, force: true, maxRetries: 3 });
        } catch {
          // Best effort: an initdb child orphaned by a test's SIGKILL may still be writing there
          // (ENOTEMPTY); a temporary directory left behind must not fail the test file.
        }
      }
      pgliteDirs.clear();
    });
  }
  return dir;
}

/**
 * Names an initdb'd PGlite directory that {@link freshPgliteDatabase} copies instead of making its
 * own. `npm test` makes one per run ({@link createPgliteTemplate}) and passes it to every test
 * file: initdb in WebAssembly takes 8–10 s of CPU, once per run instead of once per file.
 */
export const TEST_PGLITE_TEMPLATE_ENV = 'STRATA_TEST_PGLITE_TEMPLATE';

/**
 * Creates a PGlite database directory just as initdb leaves it (no tables) at `dir`, to be copied
 * by {@link freshPgliteDatabase}; it must not be opened again (a copy of it is).
 *
 * @example
 * ```ts
 * const template = join(await freshPgliteDir(), 'template');
 * await createPgliteTemplate(template);
 * process.env[TEST_PGLITE_TEMPLATE_ENV] = template; // for child processes
 * ```
 */
export async function createPgliteTemplate(dir: string): Promise<void> {
  const db = await openDatabase({ url: dir, ifLocked: 'fail' });
  await db.close();
}

/** The initdb'd PGlite directory copied for every fresh database: the run's, or one this process made. */
let pgliteTemplate: Promise<string> | undefined;

async function templateDirectory(): Promise<string> {
  const fromEnv = process.env[TEST_PGLITE_TEMPLATE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!existsSync(fromEnv)) throw new Error(`${TEST_PGLITE_TEMPLATE_ENV}=${fromEnv} does not exist: unset it, or point it at a directory createPgliteTemplate() made`);
    return fromEnv;
  }
  pgliteTemplate ??= (async () => {
    const template = join(await freshPgliteDir(), 'template');
    await createPgliteTemplate(template);
    return template;
  })();
  return pgliteTemplate;
}

/**
 * A new PGlite database directory, just as initdb leaves it (no tables), inside a fresh temp
 * directory. It is a copy of one directory created per test run (`STRATA_TEST_PGLITE_TEMPLATE`,
 * set by `npm test`) or else per process: initdb takes seconds of WebAssembly, a copy of its
 * ~40 MB a fraction of one, and a test of the engine's own start (lock, initdb, disk errors) uses
 * {@link freshPgliteDir} instead.
 *
 * @example
 * ```ts
 * const dir = await freshPgliteDatabase(); // '/tmp/strata-pglite-a1B2c3/db'
 * ```
 */
export async function freshPgliteDatabase(): Promise<string> {
  const template = await templateDirectory();
  const dir = join(await freshPgliteDir(), 'db');
  await cp(template, dir, { recursive: true });
  return dir;
}

/**
 * A fresh database for `kind`: a `postgres://` URL for `'postgres'`, a directory path for
 * `'pglite'` (a copy of an initdb'd directory, see {@link freshPgliteDatabase}) (the store treats any string that is not a `postgres://`/`postgresql://` URL as a
 * PGlite directory).
 *
 * @example
 * ```ts
 * for (const kind of engines()) {
 *   const url = await freshDatabaseUrl(kind);
 *   // const db = await openDatabase(url); ...
 * }
 * ```
 */
export function freshDatabaseUrl(kind: EngineKind): Promise<string> {
  switch (kind) {
    case 'postgres':
      return freshPostgresUrl();
    case 'pglite':
      return freshPgliteDatabase();
    default: {
      const unknown: never = kind;
      throw new UnknownEngineError(`Unknown engine ${JSON.stringify(unknown)}`);
    }
  }
}

async function testClusterAdminUrl(): Promise<string> {
  const fromEnv = process.env[TEST_PG_URL_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  // startCluster registers its own process 'exit' hook, so this cluster is stopped at exit.
  ownCluster ??= startCluster().catch((error: unknown) => {
    ownCluster = undefined;
    throw error;
  });
  return (await ownCluster).url;
}
