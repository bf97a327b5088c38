// Whole-suite test runner: `npm test` (= `node --conditions=development --import tsx scripts/test.ts`).
//
//   npm test                        typecheck (tsc -b), start one PostgreSQL cluster, run every test file
//   npm test -- packages/store      only test files whose path contains "packages/store"
//   STRATA_TEST_ENGINES=pglite npm test   skip PostgreSQL entirely
//   STRATA_TEST_TMPDIR=disk npm test      temporary files in TMPDIR, not in /dev/shm (the default when it is a tmpfs with 8 GiB free)
//   STRATA_DATABASE_PROFILE=portable npm test -- packages/transact   only the portable profile (no second pass)
//
// The transact suite runs twice: as it is, and with the portable database profile forced
// (PORTABLE_SUITES; STRATA_DATABASE_PROFILE=portable in the file's process and every process it
// starts), so every fallback for distributed SQL engines is exercised on PostgreSQL and PGlite.
// Each portable run begins with a check named `portable: <file> …` in the report.
//
// Test files: packages/*/test/**/*.test.ts, examples/*/test/**/*.test.ts and
// bench/test/**/*.test.ts. They run under node:test, two at a time, the known-slow ones first
// (SLOW_FILES_FIRST), with the shared cluster's admin URL in STRATA_TEST_PG_URL; `@strata/testing`'s
// freshPostgresUrl() creates a database per test on it. The files are run by this script itself in
// a child process (`--run-files`, through node:test's run()), since `node --test` sorts the files
// it is given by name and so would start the slowest ones whenever their names come up.
// They run the packages' TypeScript sources, not dist/: NODE_OPTIONS carries
// --conditions=development to the test processes and to every process they spawn, so
// `import '@strata/store'` resolves to packages/store/src/index.ts everywhere (package.json "exports").

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { finished } from 'node:stream/promises';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';
import {
  TEST_PGLITE_TEMPLATE_ENV,
  TEST_PG_URL_ENV,
  createPgliteTemplate,
  engines,
  freshPgliteDir,
  ensurePostgresInstalled,
  startCluster,
  type PgCluster,
} from '@strata/testing';
import { PROFILE_ENV } from '@strata/store';

const SCRIPT_PATH = fileURLToPath(import.meta.url);
const ROOT_DIR = join(dirname(SCRIPT_PATH), '..');

/** Folders whose children each may hold a `test/` folder. */
const TEST_PARENT_DIRS = ['packages', 'examples'];

/** Workspaces at the top level whose `test/` folders also hold tests. */
const TOP_LEVEL_WORKSPACES = ['bench'];

/** Deeper than any sane test tree; stops a symlink loop from walking forever. */
const MAX_WALK_DEPTH = 12;

/** Two files at a time: each may open several connections and PGlite instances. */
const TEST_CONCURRENCY = 2;

/**
 * The files that took longest in the last CI runs (2 cores), longest first; they start first and
 * the others follow in path order, so the run does not end with one long file alone. Seconds from
 * the last runs in the comments; a file missing here (renamed, deleted) only loses its head start.
 * The runner prints the slowest files at its end: update the list from there.
 */
const SLOW_FILES_FIRST: readonly string[] = [
  'packages/cli/test/cloud.test.ts', // ~130 s: a platform with backups, instances, a replica and alerts through the CLI
  'bench/test/bench.test.ts', // ~130 s: every workload of the benchmark, each in a child process
  'packages/control-plane/test/backups-deleted.test.ts', // ~105 s: backups and restores of deleted and stopped instances
  'packages/store/test/lock.test.ts', // ~100 s: 40 rounds of the directory-lock race, initdb killed twice
  'packages/control-plane/test/backups-http.test.ts', // ~95 s: real backups, restores, a schedule and a verify restore
  'packages/cli/test/install.test.ts', // ~85 s: packs the packages and installs them in a fresh app
  'packages/console/test/cloud.test.ts', // ~80 s: Chromium over a real control plane, with backups, a restore and a replica
  'packages/cli/test/bad-input.test.ts', // ~75 s
  'packages/transact/test/crash.test.ts', // ~75 s; ~90 s under load (npm run test:loaded); each transact file runs twice (the portable pass)
  'packages/transact/test/queues.test.ts', // ~50 s a pass
  'packages/transact/test/partition.test.ts', // ~40 s a pass: network namespaces cut off and SIGKILLed, four times
  'packages/transact/test/ha-failover.test.ts', // ~30 s a pass: a Patroni cluster, a failover and a switchover
  'packages/postgres/test/backup.test.ts', // ~60 s
  'packages/proxy/test/bad-input.test.ts', // ~60 s: a platform, a flood of unauthenticated connections, a 50 MB result cut off
  'packages/agent/test/power.test.ts', // ~60 s: freezes, stops and a storm of 20 wakes
  'packages/proxy/test/scale-to-zero.test.ts', // ~45 s: instances frozen and stopped by the proxy's idle timers, a storm
  'packages/proxy/test/transaction-mode.test.ts', // ~40 s
  'packages/control-plane/test/forks-reset.test.ts', // ~50 s: a fork reset twice, a backup after each
  'packages/control-plane/test/replicas-crash.test.ts', // ~50 s: the agent SIGKILLed during replicates and a promote
  'packages/transact/test/outage.test.ts', // ~50 s; ~65 s under load
  'packages/transact/test/scale-out.test.ts', // ~50 s; ~60 s under load
  'packages/control-plane/test/backups-crash.test.ts', // ~40 s
  'packages/postgres/test/replication.test.ts', // ~45 s
];

/** Test folders whose files run a second time with the portable database profile forced. */
const PORTABLE_SUITES: readonly string[] = ['packages/transact/test/'];

/** How a portable run of a file is named in the report. */
const PORTABLE_LABEL = 'portable: ';

/** Where the tests' temporary files go when it is a tmpfs with room enough: memory, not the disk. */
const MEMORY_TEMP_PARENT = '/dev/shm';

/** statfs(2)'s f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/** Free space the suite's temporary files need at their peak (clusters, PGlite copies, backup repositories), and some. */
const MEMORY_TEMP_MIN_FREE_BYTES = 8 * 1024 ** 3;

/** `STRATA_TEST_TMPDIR=disk` keeps the tests' temporary files in the usual TMPDIR. */
const TEST_TMPDIR_ENV = 'STRATA_TEST_TMPDIR';

/**
 * Short names in /tmp for the run's temporary directory on the tmpfs: paths under it must stay as
 * short as under /tmp itself, since an instance's socket path is built from them and a unix socket
 * takes at most 107 bytes (PostgreSQL's socket directory at most 92).
 */
const MEMORY_TEMP_LINK_PREFIX = join('/tmp', 's');

/**
 * A fresh directory for the run's temporary files on a tmpfs (/dev/shm) when it has room, reached
 * through a short symbolic link in /tmp (the path the tests are given); else undefined. Every test
 * writes clusters, PGlite copies and repositories there: on a 2-core machine the disk's writeback
 * was a good part of the system CPU time. Mode 1777 like /tmp: the clusters run as the postgres user.
 */
function memoryTempDir(): { readonly path: string; readonly target: string } | undefined {
  if (process.env[TEST_TMPDIR_ENV] === 'disk' || process.platform !== 'linux') return undefined;
  let target: string | undefined;
  try {
    const stats = statfsSync(MEMORY_TEMP_PARENT);
    if (stats.type !== TMPFS_MAGIC || stats.bavail * stats.bsize < MEMORY_TEMP_MIN_FREE_BYTES) return undefined;
    target = mkdtempSync(join(MEMORY_TEMP_PARENT, 'strata-test-'));
    chmodSync(target, 0o1777);
    // mkdtemp's name for the link, then the link in its place.
    const path = mkdtempSync(MEMORY_TEMP_LINK_PREFIX);
    rmdirSync(path);
    symlinkSync(target, path);
    return { path, target };
  } catch {
    // No link, no tmpfs directory: the run uses TMPDIR as it is.
    if (target !== undefined) rmSync(target, { recursive: true, force: true });
    return undefined;
  }
}

/** How many of the slowest files the runner names at its end. */
const SLOWEST_FILES_SHOWN = 10;

/** The flag with which this script, in a child process, runs the test files that follow it. */
const RUN_FILES_FLAG = '--run-files';

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

/**
 * `files` (repo-relative paths, or `portable: <path>` for a portable run) with those of
 * SLOW_FILES_FIRST first, in its order, each followed by its portable run; the others keep theirs.
 */
function slowFilesFirst(files: readonly string[]): string[] {
  const slow = SLOW_FILES_FIRST.flatMap((file) => [file, `${PORTABLE_LABEL}${file}`]).filter((file) => files.includes(file));
  return [...slow, ...files.filter((file) => !slow.includes(file))];
}

/**
 * A file that runs `file` (repo-relative) with the portable profile forced: it sets the
 * environment first (the file and every process it starts see it), checks with the store's own
 * resolution that a database opened now gets the portable profile (a test of its own, named after
 * the file, so the report shows where the portable pass of each file begins), then imports the
 * test file. Written into `dir`.
 */
function portableShim(dir: string, file: string): string {
  const shim = join(dir, `${file.replaceAll('/', '__')}.mjs`);
  const profileModule = join(ROOT_DIR, 'packages/store/src/profile.ts');
  writeFileSync(
    shim,
    [
      `process.env.${PROFILE_ENV} = 'portable';`,
      `const { test } = await import('node:test');`,
      `const { profileFor, profileRequest, PORTABLE_PROFILE } = await import(${JSON.stringify(profileModule)});`,
      `test(${JSON.stringify(`${PORTABLE_LABEL}${file} runs with ${PROFILE_ENV}=portable, which opens databases with the portable profile`)}, () => {`,
      `  if (profileFor(profileRequest(undefined), 'PostgreSQL') !== PORTABLE_PROFILE) throw new Error('the portable pass does not get the portable profile');`,
      `});`,
      `await import(${JSON.stringify(join(ROOT_DIR, file))});`,
      '',
    ].join('\n'),
  );
  return shim;
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

  // A run with a profile chosen in the environment runs every file once, in that profile.
  const portable = process.env[PROFILE_ENV] === undefined ? files.filter((file) => PORTABLE_SUITES.some((suite) => file.startsWith(suite))) : [];
  const runs = [...files, ...portable.map((file) => `${PORTABLE_LABEL}${file}`)];

  const env: NodeJS.ProcessEnv = { ...process.env };
  // Inherited by node --test, its per-file processes and the workers and CLIs the tests spawn.
  const nodeOptions = env.NODE_OPTIONS ?? '';
  if (!nodeOptions.split(/\s+/).includes(DEVELOPMENT_CONDITION)) env.NODE_OPTIONS = `${nodeOptions} ${DEVELOPMENT_CONDITION}`.trim();
  // Before anything makes a temporary file: the template, the cluster and every test process use it.
  const tempDir = memoryTempDir();
  if (tempDir !== undefined) {
    env.TMPDIR = tempDir.path;
    process.env.TMPDIR = tempDir.path;
  }
  console.log(
    `temporary files: ${tempDir === undefined ? `${tmpdir()} (no tmpfs with room at ${MEMORY_TEMP_PARENT}, or ${TEST_TMPDIR_ENV}=disk)` : `${tempDir.path} -> ${tempDir.target}`}`,
  );
  const removeTempDir = () => {
    if (tempDir === undefined) return;
    rmSync(tempDir.target, { recursive: true, force: true, maxRetries: 3 });
    rmSync(tempDir.path, { force: true });
  };
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
      stopCluster()
        .finally(removeTempDir)
        .finally(() => process.exit(SIGNAL_EXIT_CODES[signal]));
    });
  }

  try {
    // One initdb'd PGlite directory for every test file to copy (8–10 s of WebAssembly each, else).
    const pgliteTemplate = engines().includes('pglite')
      ? (async () => {
          const templateStartMs = Date.now();
          const template = join(await freshPgliteDir(), 'template');
          await createPgliteTemplate(template);
          env[TEST_PGLITE_TEMPLATE_ENV] = template;
          console.log(`PGlite: template database ${template} (made in ${Date.now() - templateStartMs}ms)`);
        })()
      : Promise.resolve();
    pgliteTemplate.catch(() => {}); // awaited below; not unhandled if the cluster fails first
    if (engines().includes('postgres')) {
      const binDir = await ensurePostgresInstalled();
      const clusterStartMs = Date.now();
      cluster = await startCluster();
      env[TEST_PG_URL_ENV] = cluster.url;
      console.log(`PostgreSQL: ${binDir}, port ${cluster.port} (started in ${Date.now() - clusterStartMs}ms); ${describeRuns(files, portable)}`);
    } else {
      console.log(`PostgreSQL: not used (STRATA_TEST_ENGINES=${process.env.STRATA_TEST_ENGINES}); ${describeRuns(files, portable)}`);
    }
    await pgliteTemplate;
    if (stopping) return 1;
    return await runInherited(process.execPath, [DEVELOPMENT_CONDITION, '--import', 'tsx', SCRIPT_PATH, RUN_FILES_FLAG, ...slowFilesFirst(runs)], env);
  } finally {
    await stopCluster();
    try {
      removeTempDir();
    } catch (error) {
      process.stderr.write(`npm test: could not remove ${tempDir?.target}: ${(error as Error).message}\n`);
    }
  }
}

/**
 * The child process's part: runs the repo-relative test `files` with node:test's run(), which
 * (unlike `node --test`) starts them in the order given, TEST_CONCURRENCY at a time, each in a
 * process of its own that inherits this one's flags (the development condition, tsx). Reports with
 * the spec reporter, as `node --test --test-reporter=spec` does, then names the slowest files.
 * Resolves with 1 if any test failed, as `node --test` exits.
 */
async function runFiles(files: readonly string[]): Promise<number> {
  // Portable runs go through shims in a directory of their own.
  const shimDir = files.some((file) => file.startsWith(PORTABLE_LABEL)) ? mkdtempSync(join(tmpdir(), 'strata-portable-')) : undefined;
  const paths = files.map((file) => (file.startsWith(PORTABLE_LABEL) ? portableShim(shimDir!, file.slice(PORTABLE_LABEL.length)) : join(ROOT_DIR, file)));
  process.once('exit', () => {
    if (shimDir !== undefined) rmSync(shimDir, { recursive: true, force: true });
  });
  const stop = new AbortController();
  let signalCode: number | undefined;
  // The parent passes a signal on; stopping the run here also stops the test files' processes.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      signalCode = SIGNAL_EXIT_CODES[signal];
      stop.abort();
    });
  }
  let failed = false;
  const secondsByFile = new Map<string, number>();
  const tests = run({ files: paths, concurrency: TEST_CONCURRENCY, signal: stop.signal });
  // As `node --test`: a failing test fails the run, unless it is marked todo (a known failure).
  tests.on('test:fail', (data: { todo?: string | boolean }) => {
    if (data.todo === undefined || data.todo === false) failed = true;
  });
  // A file's time is the sum of its top-level tests' (suites included): its process's start is not reported.
  for (const outcome of ['test:pass', 'test:fail'] as const) {
    tests.on(outcome, (data: { nesting: number; file?: string; details: { duration_ms: number } }) => {
      if (data.nesting !== 0 || data.file === undefined) return;
      const file = relative(ROOT_DIR, data.file).split(sep).join('/');
      if (file.startsWith('..')) return; // a portable shim's own check; the file's tests count toward the file
      secondsByFile.set(file, (secondsByFile.get(file) ?? 0) + data.details.duration_ms / 1000);
    });
  }
  const report = tests.compose(new spec());
  report.pipe(process.stdout);
  await finished(report);
  const slowest = [...secondsByFile].sort(([, a], [, b]) => b - a).slice(0, SLOWEST_FILES_SHOWN);
  if (slowest.length > 0) {
    console.log(`slowest test files (the sum of their top-level tests, portable runs included; see SLOW_FILES_FIRST in scripts/test.ts):`);
    for (const [file, seconds] of slowest) console.log(`  ${seconds.toFixed(1).padStart(7)} s  ${file}`);
  }
  return signalCode ?? (failed ? 1 : 0);
}

/** "N test file(s)", and how many of them run a second time with the portable profile. */
function describeRuns(files: readonly string[], portable: readonly string[]): string {
  return `${files.length} test file(s)${portable.length > 0 ? `, ${portable.length} of them also with the portable database profile` : ''}`;
}

const entry = process.argv[2] === RUN_FILES_FLAG ? runFiles(process.argv.slice(3)) : main();
entry.then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`npm test: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
