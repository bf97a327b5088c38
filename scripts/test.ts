// Whole-suite test runner: `npm test` (= `node --conditions=development --import tsx scripts/test.ts`).
//
//   npm test                        typecheck (tsc -b), start one PostgreSQL cluster, run every test file
//   npm test -- packages/store      only test files whose path contains "packages/store"
//   STRATA_TEST_ENGINES=pglite npm test   skip PostgreSQL entirely
//
// Test files: packages/*/test/**/*.test.ts, examples/*/test/**/*.test.ts and
// bench/test/**/*.test.ts. They run under `node --test` with the shared cluster's admin URL in
// STRATA_TEST_PG_URL; `@strata/testing`'s freshPostgresUrl() creates a database per test on it.
// They run the packages' TypeScript sources, not dist/: NODE_OPTIONS carries
// --conditions=development to the test processes and to every process they spawn, so
// `import '@strata/store'` resolves to packages/store/src/index.ts everywhere (package.json "exports").

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  TEST_PG_URL_ENV,
  engines,
  ensurePostgresInstalled,
  startCluster,
  type PgCluster,
} from '@strata/testing';

const ROOT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Folders whose children each may hold a `test/` folder. */
const TEST_PARENT_DIRS = ['packages', 'examples'];

/** Workspaces at the top level whose `test/` folders also hold tests. */
const TOP_LEVEL_WORKSPACES = ['bench'];

/** Deeper than any sane test tree; stops a symlink loop from walking forever. */
const MAX_WALK_DEPTH = 12;

/** Two files at a time: each may open several connections and PGlite instances. */
const TEST_CONCURRENCY = 2;

/** The flag that makes `@strata/*` imports resolve to `src/*.ts` (each package's "exports"). */
const DEVELOPMENT_CONDITION = '--conditions=development';

/** Exit codes for signals, as a shell reports them (128 + signal number). */
const SIGNAL_EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGKILL: 137 };

/** Returns `dir`'s `*.test.ts` files, recursively, skipping node_modules and dot folders. */
function findTestFilesUnder(dir: string, depth = 0): string[] {
  if (depth > MAX_WALK_DEPTH) {
    throw new Error(`Test folder nesting deeper than ${MAX_WALK_DEPTH} levels at ${dir}; is there a symlink loop?`);
  }
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...findTestFilesUnder(path, depth + 1));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) files.push(path);
  }
  return files;
}

/** Every test file of the repo, as sorted repo-relative paths with forward slashes. */
function findTestFiles(): string[] {
  const files: string[] = [];
  for (const parent of TEST_PARENT_DIRS) {
    const parentDir = join(ROOT_DIR, parent);
    if (!existsSync(parentDir)) continue;
    for (const member of readdirSync(parentDir, { withFileTypes: true })) {
      const testDir = join(parentDir, member.name, 'test');
      if (member.isDirectory() && existsSync(testDir)) files.push(...findTestFilesUnder(testDir));
    }
  }
  for (const workspace of TOP_LEVEL_WORKSPACES) {
    const testDir = join(ROOT_DIR, workspace, 'test');
    if (existsSync(testDir)) files.push(...findTestFilesUnder(testDir));
  }
  return files.map((file) => relative(ROOT_DIR, file).split(sep).join('/')).sort();
}

/** The running `node --test` process, so signals to the runner reach it too. */
let testProcess: ChildProcess | undefined;

/** Runs a command with inherited stdio; resolves with its exit code (128 + n for signal n). */
function runInherited(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT_DIR, env, stdio: 'inherit' });
    testProcess = child;
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : SIGNAL_EXIT_CODES[signal] ?? 1)));
  });
}

/** Runs the typecheck (`tsc -b`: builds dist/ and checks tests) quietly; on failure prints its output. Returns the exit code. */
function typecheck(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'typecheck'], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) process.stderr.write(Buffer.concat(output));
      resolve(code ?? 1);
    });
  });
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);

  const startedAtMs = Date.now();
  const typecheckCode = await typecheck();
  if (typecheckCode !== 0) {
    process.stderr.write(`\nnpm test: typecheck failed (npm run typecheck exited ${typecheckCode}); no tests were run.\n`);
    return typecheckCode;
  }
  console.log(`typecheck passed in ${Date.now() - startedAtMs}ms`);

  const files = findTestFiles().filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)));
  if (files.length === 0) {
    const scope = filters.length === 0 ? '' : ` matching ${filters.map((filter) => JSON.stringify(filter)).join(' or ')}`;
    process.stderr.write(`npm test: no test files${scope} under packages/*/test or examples/*/test.\n`);
    return 1;
  }

  const env: NodeJS.ProcessEnv = { ...process.env };
  // Inherited by node --test, its per-file processes and the workers and CLIs the tests spawn.
  const nodeOptions = env.NODE_OPTIONS ?? '';
  if (!nodeOptions.split(/\s+/).includes(DEVELOPMENT_CONDITION)) env.NODE_OPTIONS = `${nodeOptions} ${DEVELOPMENT_CONDITION}`.trim();
  let cluster: PgCluster | undefined;
  let stopping = false;
  // PgCluster.stop() is idempotent and returns the same promise, so the signal handler and the
  // normal path below both wait for the same, complete stop.
  const stopCluster = async () => {
    await cluster?.stop();
  };
  // Pass the signal on (a CI timeout may signal only us), then make sure the cluster goes.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\nnpm test: ${signal}, stopping the tests and the PostgreSQL cluster\n`);
      if (testProcess !== undefined && testProcess.exitCode === null && testProcess.signalCode === null) testProcess.kill(signal);
      stopCluster().finally(() => process.exit(SIGNAL_EXIT_CODES[signal]));
    });
  }

  try {
    if (engines().includes('postgres')) {
      const binDir = await ensurePostgresInstalled();
      const clusterStartMs = Date.now();
      cluster = await startCluster();
      env[TEST_PG_URL_ENV] = cluster.url;
      console.log(`PostgreSQL: ${binDir}, port ${cluster.port} (started in ${Date.now() - clusterStartMs}ms); ${files.length} test file(s)`);
    } else {
      console.log(`PostgreSQL: not used (STRATA_TEST_ENGINES=${process.env.STRATA_TEST_ENGINES}); ${files.length} test file(s)`);
    }
    if (stopping) return 1;
    return await runInherited(
      process.execPath,
      [DEVELOPMENT_CONDITION, '--import', 'tsx', '--test', `--test-concurrency=${TEST_CONCURRENCY}`, '--test-reporter=spec', ...files],
      env,
    );
  } finally {
    await stopCluster();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`npm test: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
