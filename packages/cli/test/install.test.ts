// Packaging: Strata as a user outside this repository gets it. The publishable packages are built
// (tsc -b), packed with `npm pack` (prepack builds too) and installed from the tarballs into a
// fresh app in the OS temp folder, where nothing of the repo (tsx, the development condition,
// workspace links) can help. There the app runs a workflow with plain `node`, type-checks under
// strict settings, runs under Node's permission model, and the installed `strata` answers.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT_DIR = fileURLToPath(new URL('../../../', import.meta.url));
const TSC = join(ROOT_DIR, 'node_modules', 'typescript', 'bin', 'tsc');

/** The packages a user installs, in dependency order; the rest of the repo stays private. */
const PUBLISHABLE = ['packages/store', 'packages/postgres', 'packages/transact', 'packages/console', 'packages/cli'];

/**
 * Bound on one command (a build, a pack, an install from npm's cache) on a loaded 2-core machine;
 * a command past it is hung, not slow.
 */
const COMMAND_TIMEOUT_MS = 5 * 60_000;

/** Node 20 names the permission model's flag --experimental-permission; Node 22 and later --permission. */
const PERMISSION_FLAG = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to its end. The environment is the user's, not the test runner's: no
 * NODE_OPTIONS (which carries the repo's --conditions=development) and no node:test context.
 */
function run(command: string, args: readonly string[], cwd: string): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  delete env.STRATA_DATABASE_URL;
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key];
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { cwd, env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${command} ${args.join(' ')} did not exit normally (${error.message}); stderr:\n${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Asserts the run exited 0, showing its output when not. */
function assertOk(result: Run, what: string): void {
  assert.equal(result.code, 0, `${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
}

/** The app: a two-step workflow (a step, then a transaction into the app's own table) on embedded PGlite. */
const APP_MJS = `import { openDatabase } from '@strata/store';
import { Strata } from '@strata/transact';

const db = await openDatabase('./.strata');
await db.query('create table if not exists greetings (workflow_id text primary key, text text not null)');

const strata = new Strata({ database: db, logger: { info() {}, warn: console.warn, error: console.error } });
const greet = strata.workflow('greet', async (ctx, name) => {
  const text = await ctx.step('compose', async () => \`hello, \${name}\`);
  await ctx.transaction('save', (tx) =>
    tx.query('insert into greetings (workflow_id, text) values ($1, $2)', [ctx.workflowId, text]));
  return text;
});

await strata.launch();
const result = await greet.with({ workflowId: process.argv[2] }).run('world');
const { rows } = await db.query('select text from greetings where workflow_id = $1', [process.argv[2]]);
console.log(JSON.stringify({ result, saved: rows.map((row) => row.text) }));
await strata.shutdown();
await db.close();
`;

/** The same app in TypeScript against the public API, for the consumer's type check. */
const APP_TS = `import { openDatabase, type Database } from '@strata/store';
import { Strata, StrataClient, type Logger } from '@strata/transact';
import { startConsole } from '@strata/console';

const quiet: Logger = { info() {}, warn() {}, error() {} };
const db: Database = await openDatabase({ url: './.strata' });
const strata = new Strata({ database: db, logger: quiet });
const greet = strata.workflow('greet', async (ctx, name: string): Promise<string> => {
  const text = await ctx.step('compose', async () => \`hello, \${name}\`, { retry: { maxAttempts: 3 } });
  await ctx.transaction('save', (tx) => tx.query('select $1::text as text', [text]));
  await ctx.sleep(1);
  return text;
});
await strata.launch();
const text: string = await greet.with({ workflowId: 'typed-1' }).run('world');
const handle = await greet.start('again');
const again: string = await handle.result();
console.log(text, again);
export { strata, StrataClient, startConsole };
await strata.shutdown();
await db.close();
`;

/** The app's workflows for `strata replay --app`: the engine with the same workflow, not launched. */
const ENGINE_TS = `import { Strata } from '@strata/transact';

export const strata = new Strata({ logger: { info() {}, warn() {}, error() {} } });
strata.workflow('greet', async (ctx, name: string) => {
  const text = await ctx.step('compose', async () => \`hello, \${name}\`);
  await ctx.transaction('save', (tx) => tx.query('select 1'));
  return text;
});
`;

/** What a user's tsconfig may well say: the strictest settings a library's .d.ts must survive. */
const APP_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  },
  files: ['app.ts', 'engine.ts', 'readme/app.ts'],
};

/** The README's first code block: the first thing a reader sees, which must run as written. */
async function readmeSample(): Promise<string> {
  const readme = await readFile(join(ROOT_DIR, 'README.md'), 'utf8');
  const match = /```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(match?.[1] !== undefined, 'README.md has a ```ts code block');
  return match[1];
}

describe('install (packaging): the packed tarballs in a fresh app outside the repository', { concurrency: false }, () => {
  let workDir: string;
  let appDir: string;

  before(async () => {
    // realpath: the permission model compares real paths, and the temp folder may be a symlink.
    workDir = await realpath(await mkdtemp(join(tmpdir(), 'strata-install-')));
    const tarballDir = join(workDir, 'tarballs');
    appDir = join(workDir, 'app');

    await mkdir(tarballDir);
    assertOk(await run(process.execPath, [TSC, '-b', ...PUBLISHABLE], ROOT_DIR), 'tsc -b');
    const pack = await run('npm', ['pack', '--json', '--pack-destination', tarballDir, ...PUBLISHABLE.flatMap((dir) => ['--workspace', dir])], ROOT_DIR);
    assertOk(pack, 'npm pack');
    const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ name: string; filename: string; files: Array<{ path: string }> }>;
    assert.deepEqual(packed.map((p) => p.name).sort(), ['@strata/cli', '@strata/console', '@strata/postgres', '@strata/store', '@strata/transact']);
    for (const { name, files } of packed) {
      const paths = files.map((file) => file.path);
      assert.ok(paths.includes('dist/index.js') || name === '@strata/cli', `${name}: dist/index.js is packed`);
      const stray = paths.filter((path) => /(^|\/)test\/|tsconfig|\.tsbuildinfo$/.test(path));
      assert.deepEqual(stray, [], `${name} packs no tests, tsconfig or build info`);
    }

    const tarballs = (await readdir(tarballDir)).filter((file) => file.endsWith('.tgz'));
    assert.equal(tarballs.length, PUBLISHABLE.length);
    await mkdir(join(appDir, 'readme'), { recursive: true });
    const appPackage = {
      name: 'strata-install-check',
      private: true,
      type: 'module',
      dependencies: Object.fromEntries(packed.map((p) => [p.name, `file:../tarballs/${p.filename.split('/').pop()}`])),
      devDependencies: { '@types/node': '^20.19.0' },
      // esbuild's postinstall (through the CLI's tsx) only re-checks its binary: not needed.
      allowScripts: { esbuild: false },
    };
    await writeFile(join(appDir, 'package.json'), `${JSON.stringify(appPackage, null, 2)}\n`);
    const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], appDir);
    assertOk(install, 'npm install');
    assert.doesNotMatch(install.stderr, /install-scripts/, 'no install-script warning with allowScripts settled');
    await writeFile(join(appDir, 'app.mjs'), APP_MJS);
    await writeFile(join(appDir, 'app.ts'), APP_TS);
    await writeFile(join(appDir, 'engine.ts'), ENGINE_TS);
    await writeFile(join(appDir, 'readme', 'app.ts'), await readmeSample());
    await writeFile(join(appDir, 'tsconfig.json'), `${JSON.stringify(APP_TSCONFIG, null, 2)}\n`);
  });

  after(async () => {
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });

  test('plain `node app.mjs` runs a two-step workflow from the installed packages (ESM, no TypeScript loader)', async () => {
    const result = await run(process.execPath, ['app.mjs', 'greet-plain'], appDir);
    assertOk(result, 'node app.mjs');
    assert.deepEqual(JSON.parse(result.stdout.trim()), { result: 'hello, world', saved: ['hello, world'] });
  });

  test("the app's TypeScript type-checks against the published .d.ts under strict + exactOptionalPropertyTypes + skipLibCheck: false", async () => {
    const result = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], appDir);
    assertOk(result, 'tsc -p app');
    assert.equal(result.stdout.trim(), '', 'no type errors');
  });

  test(`the app runs under Node's permission model (${PERMISSION_FLAG}, file access limited to the app's folder, no --allow-worker)`, async () => {
    const result = await run(process.execPath, [PERMISSION_FLAG, `--allow-fs-read=${appDir}`, `--allow-fs-write=${appDir}`, 'app.mjs', 'greet-permission'], appDir);
    assertOk(result, `node ${PERMISSION_FLAG} app.mjs`);
    assert.deepEqual(JSON.parse(result.stdout.trim()), { result: 'hello, world', saved: ['hello, world'] });
  });

  test("the README's first code sample runs as written (with tsx, as the README says), and a second run returns the recorded result", async () => {
    const readmeDir = join(appDir, 'readme');
    const first = await run(process.execPath, ['--import', 'tsx', 'app.ts'], readmeDir);
    assertOk(first, 'README sample');
    assert.equal(first.stdout.trim(), 'receipt-42');
    const second = await run(process.execPath, ['--import', 'tsx', 'app.ts'], readmeDir);
    assertOk(second, 'README sample, again');
    assert.equal(second.stdout.trim(), 'receipt-42');
    const reservations = await run(join(appDir, 'node_modules', '.bin', 'strata'), ['sql', 'select count(*)::int as n from reservations', '--database', './.strata', '--json'], readmeDir);
    assertOk(reservations, 'strata sql');
    assert.match(reservations.stdout, /"n":\s*1\b/, 'the reservation was inserted once');
  });

  test('the installed `strata` answers --version from compiled JavaScript and reads the app’s database', async () => {
    const strataBin = join(appDir, 'node_modules', '.bin', 'strata');
    const version = await run(strataBin, ['--version'], appDir);
    assertOk(version, 'strata --version');
    assert.equal(version.stdout.trim(), '0.1.0');

    const list = await run(strataBin, ['workflows', 'list', '--database', './.strata', '--json'], appDir);
    assertOk(list, 'strata workflows list');
    const page = JSON.parse(list.stdout) as { workflows: Array<{ workflowId: string; status: string }> };
    const ids = page.workflows.map((w) => [w.workflowId, w.status]).sort();
    assert.deepEqual(ids, [['greet-permission', 'SUCCESS'], ['greet-plain', 'SUCCESS']]);

    // A TypeScript --app: the compiled CLI loads tsx for it, and only for it.
    const replay = await run(strataBin, ['replay', 'greet-plain', '--app', 'engine.ts', '--database', './.strata'], appDir);
    assertOk(replay, 'strata replay --app engine.ts');
    assert.match(replay.stdout, /replay of workflow "greet-plain"/);
    assert.match(replay.stdout, /✓ replayed/);
    assert.doesNotMatch(replay.stdout, /diverged|never reached/);
  });
});
