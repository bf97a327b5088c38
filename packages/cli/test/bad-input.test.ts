// Bad input breaks nothing: the `strata` binary, run as a child process against a real PostgreSQL
// database, refuses each malformed argument with its exit code and a one-line message that says
// what to fix, writes nothing, and leaves `strata workflows list` working. Values stored with
// terminal escape sequences reach the terminal as visible escapes, and exactly in --json.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Database } from '@strata/store';
import { engines, freshPostgresUrl } from '@strata/testing';
import { StrataClient, type WorkflowPage } from '@strata/transact';
import { main } from '../src/main.js';

const BIN = fileURLToPath(new URL('../bin/strata.js', import.meta.url));

/** One CLI run takes about a second (tsx start, connect); a run past this is hung. */
const CLI_TIMEOUT_MS = 60_000;

/**
 * What a terminal would act on: C0 controls but the newline that ends each line, DEL, C1, the
 * line and paragraph separators, bidi controls, lone surrogates. None may reach stdout or stderr.
 */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  delete childEnv.STRATA_DEBUG;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: childEnv, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`strata ${args.join(' ')} did not exit normally (${error.message}); stderr:\n${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Runs the CLI's main() in this process. */
async function inProcess(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) }, env);
  return { code, stdout, stderr };
}

/** A cursor as `workflows list` prints it, around any pair of strings. */
const cursorOf = (created: string, workflowId: string) => Buffer.from(JSON.stringify([created, workflowId])).toString('base64url');

/** One refused invocation: the arguments, the exit code, and what the one stderr line must say. */
interface BadInput {
  readonly name: string;
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly says: readonly string[];
}

const BAD_INPUTS: readonly BadInput[] = [
  // strata sql: a failing script changes nothing; errors carry PostgreSQL's message and SQLSTATE.
  { name: 'a script whose second statement fails', args: ['sql', 'insert into app_notes values (1); select * from no_such_table'], exitCode: 1, says: ['statement 2 of 2 failed', 'none of them took effect', 'relation "no_such_table" does not exist', 'SQLSTATE 42P01'] },
  { name: 'a script whose last statement divides by zero', args: ['sql', 'insert into app_notes values (2); insert into app_notes values (1/0);'], exitCode: 1, says: ['statement 2 of 2', 'division by zero', 'SQLSTATE 22012'] },
  { name: 'one failing write', args: ['sql', "insert into app_notes values ('not a number')"], exitCode: 1, says: ['invalid input syntax for type integer', 'SQLSTATE 22P02'] },
  { name: 'a syntax error', args: ['sql', 'selec 1'], exitCode: 1, says: ['syntax error at or near "selec"', 'SQLSTATE 42601', 'at character 1'] },
  { name: 'an unterminated quote', args: ['sql', "insert into app_notes values (3); select 'open"], exitCode: 1, says: ['statement 2 of 2', 'SQLSTATE 42601'] },
  { name: 'no statement at all', args: ['sql', ' ; -- nothing\n'], exitCode: 2, says: ['no SQL statement given'] },
  { name: 'a script that controls its own transaction', args: ['sql', 'begin; insert into app_notes values (4); commit'], exitCode: 2, says: ['statement 1 of 3', 'leave out BEGIN, COMMIT and ROLLBACK'] },
  // workflows list
  { name: '--limit 0', args: ['workflows', 'list', '--limit', '0'], exitCode: 2, says: ['--limit "0"', 'from 1 to 1000'] },
  { name: '--limit -1', args: ['workflows', 'list', '--limit', '-1'], exitCode: 2, says: ['--limit "-1"', 'from 1 to 1000'] },
  { name: '--limit 1e3', args: ['workflows', 'list', '--limit', '1e3'], exitCode: 2, says: ['--limit "1e3"'] },
  { name: '--limit past the maximum', args: ['workflows', 'list', '--limit', '99999999999999999999'], exitCode: 2, says: ['from 1 to 1000'] },
  { name: 'an unknown status', args: ['workflows', 'list', '--status', 'RUNNING'], exitCode: 2, says: ['"RUNNING"', 'ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED'] },
  { name: 'a calendar date that does not exist', args: ['workflows', 'list', '--since', '2026-02-31'], exitCode: 2, says: ['--since "2026-02-31"', 'ISO 8601'] },
  { name: '--since after --until', args: ['workflows', 'list', '--since', '2026-02-01', '--until', '2026-01-01'], exitCode: 2, says: ['--since'] },
  { name: 'a cursor this command never printed', args: ['workflows', 'list', '--cursor', 'not-a-cursor'], exitCode: 2, says: ['cursor', 'unchanged'] },
  { name: 'a cursor around a NUL', args: ['workflows', 'list', '--cursor', cursorOf('2026-01-01T00:00:00Z', 'a\u0000b')], exitCode: 2, says: ['SQLSTATE 22021'] },
  { name: 'a cursor around a time PostgreSQL cannot read', args: ['workflows', 'list', '--cursor', cursorOf('1', 'a')], exitCode: 2, says: ['SQLSTATE 22007'] },
  // one workflow
  { name: 'an over-long workflow ID', args: ['workflows', 'get', 'x'.repeat(600)], exitCode: 2, says: ['600 characters long', 'limit is 512'] },
  { name: 'an unknown workflow ID', args: ['workflows', 'cancel', 'no-such-workflow'], exitCode: 3, says: ['no-such-workflow'] },
  { name: 'an ID and filters together', args: ['workflows', 'cancel', 'ok-1', '--status', 'PENDING'], exitCode: 2, says: ['not both'] },
  { name: 'a bulk delete without filters or --all', args: ['workflows', 'delete'], exitCode: 2, says: ['--all'] },
  { name: 'a negative --from-step', args: ['workflows', 'fork', 'ok-1', '--from-step', '-1'], exitCode: 2, says: ['--from-step "-1"', 'whole number ≥ 0'] },
  { name: 'a --from-step past any number', args: ['workflows', 'fork', 'ok-1', '--from-step', '99999999999999999999'], exitCode: 2, says: ['whole number ≥ 0'] },
  { name: 'an over-long --new-id', args: ['workflows', 'restart', 'ok-1', '--new-id', 'y'.repeat(600)], exitCode: 2, says: ['600 characters long', 'limit is 512'] },
  { name: 'an attribute filter that is not key=value', args: ['workflows', 'list', '--attr', 'customer'], exitCode: 2, says: ['key=value'] },
  // queues and schedules
  { name: 'a negative concurrency', args: ['queues', 'create', 'q-bad', '--concurrency', '-3'], exitCode: 2, says: ['--concurrency "-3"', 'whole number ≥ 1'] },
  { name: 'a rate limit of zero', args: ['queues', 'create', 'q-bad', '--rate-limit', '0/1s'], exitCode: 2, says: ['COUNT/PERIOD'] },
  { name: 'an over-long queue name', args: ['queues', 'create', 'q'.repeat(600)], exitCode: 2, says: ['limit is 512'] },
  { name: 'an unknown queue', args: ['queues', 'delete', 'no-such-queue'], exitCode: 3, says: ['no-such-queue'] },
  { name: 'an unknown schedule', args: ['schedules', 'pause', 'no-such-schedule'], exitCode: 3, says: ['no-such-schedule'] },
  // the database itself
  { name: 'an empty --database', args: ['--database', '', 'workflows', 'list'], exitCode: 2, says: ['--database is empty'] },
];

describe('bad input to the strata CLI', { skip: !engines().includes('postgres'), concurrency: 1 }, () => {
  let url: string;
  let db: Database;
  const strata = (...args: string[]) => cli(args, { STRATA_DATABASE_URL: url });

  /** Every row of every table the CLI could write (Strata's schema and the app's), as one text to compare. */
  async function snapshot(): Promise<string> {
    const { rows: tables } = await db.query<{ name: string }>(
      `select format('%I.%I', table_schema, table_name) as name from information_schema.tables
        where table_schema in ('strata', 'public') and table_type = 'BASE TABLE' order by 1`,
    );
    const parts: string[] = [];
    for (const { name } of tables) {
      const { rows } = await db.query<{ digest: string | null; n: number }>(`select md5(string_agg(t::text, '|' order by t::text)) as digest, count(*)::int as n from ${name} t`);
      parts.push(`${name}:${rows[0]!.n}:${rows[0]!.digest ?? '-'}`);
    }
    return parts.join('\n');
  }

  before(async () => {
    url = await freshPostgresUrl();
    await (await StrataClient.connect({ database: url })).close(); // migrates
    db = await openDatabase(url);
    await db.exec('create table app_notes (n int primary key)');
    await insertWorkflow(db, { id: 'ok-1', name: 'three', status: 'SUCCESS', output: 'fine' });
  });

  after(async () => {
    await db?.close();
  });

  test('each bad input exits with its code and one line saying what to fix; nothing is written and workflows list still works', async () => {
    const unchanged = await snapshot();
    for (const bad of BAD_INPUTS) {
      const run = await strata(...bad.args);
      const what = `strata ${bad.name}`;
      assert.equal(run.code, bad.exitCode, `${what}: exit ${run.code}, expected ${bad.exitCode}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
      assert.equal(run.stdout, '', `${what}: nothing on stdout`);
      assert.match(run.stderr, /^strata: [^\n]+\n$/, `${what}: one line on stderr (no stack), got ${JSON.stringify(run.stderr)}`);
      for (const part of bad.says) assert.ok(run.stderr.includes(part), `${what}: stderr ${JSON.stringify(run.stderr)} should mention ${JSON.stringify(part)}`);
      assert.doesNotMatch(run.stderr, RAW_CONTROL, `${what}: no raw control character on stderr`);
      assert.equal(await snapshot(), unchanged, `${what}: nothing was written`);
      // The same code path as the binary, in this process: the file runs two processes fewer per case.
      const list = await inProcess(['workflows', 'list', '--json'], { STRATA_DATABASE_URL: url });
      assert.equal(list.code, 0, `${what}: workflows list afterwards exits 0; stderr: ${list.stderr}`);
      assert.deepEqual((JSON.parse(list.stdout) as WorkflowPage).workflows.map((w) => w.workflowId), ['ok-1'], `${what}: workflows list afterwards`);
    }
  });

  test('an unreachable database is exit 5 (unavailable) with one line naming it, and no stack', async () => {
    const run = await cli(['workflows', 'list'], { STRATA_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /^strata: [^\n]*127\.0\.0\.1:1[^\n]*\n$/);
  });

  test('several statements run in order in one transaction and print one result each; one statement runs on its own', async () => {
    const script = await strata('sql', "insert into app_notes values (10), (11); select n from app_notes order by n; select 'a;b' as \"x;y\", $$ ; $$ as dollar");
    assert.equal(script.code, 0, script.stderr);
    assert.deepEqual(script.stdout.split('\n').map((line) => line.trimEnd()), [
      '(2 rows affected)',
      '',
      'n',
      '10',
      '11',
      '(2 rows)',
      '',
      'x;y  dollar',
      'a;b   ;',
      '(1 row)',
      '',
    ]);
    const json = await strata('sql', '--json', 'select count(*)::int as n from app_notes; delete from app_notes');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), [
      { statement: 1, rows: [{ n: 2 }], rowCount: 1 },
      { statement: 2, rows: [], rowCount: 2 },
    ]);
    // VACUUM cannot run inside a transaction: alone, it runs as given.
    const vacuum = await strata('sql', 'vacuum app_notes');
    assert.equal(vacuum.code, 0, vacuum.stderr);
    const help = await strata('sql', '--help');
    assert.match(help.stdout.replace(/\s+/g, ' '), /Statements run as given, .*writes and DDL included/);
    assert.match(help.stdout.replace(/\s+/g, ' '), /if one fails, none of them takes effect/);
  });

  test('escape sequences stored in IDs, names, outputs and errors reach the terminal as visible escapes, and exactly in --json', async () => {
    const evilId = 'evil-\u001b]0;pwned\u0007-\u001b[2J\rforged\u0008\u202e';
    const evilName = 'na\u001b[31mme\u009b';
    const evilOutput = 'out\u001b]0;title\u0007\r\nfake line\u007f';
    const evilError = 'boom \u001b[1mBOLD\u001b[0m\rOVERWRITTEN\u2028next';
    await insertWorkflow(db, { id: evilId, name: evilName, status: 'SUCCESS', output: evilOutput });
    await insertWorkflow(db, { id: 'shows-evil-text', name: evilName, status: 'SUCCESS', output: evilOutput });
    await insertWorkflow(db, { id: 'shows-evil-error', name: 'three', status: 'ERROR', error: evilError });
    await db.query(`insert into strata.steps (workflow_id, step_id, name, kind, output, attempts, started_at, completed_at) values ('shows-evil-text', 0, $1, 'step', $2, 1, now(), now())`, [evilName, JSON.stringify({ json: evilOutput })]);
    try {
      const [list, get, getError, steps, sql, listJson, getJson] = await Promise.all([
        strata('workflows', 'list'),
        strata('workflows', 'get', 'shows-evil-text'),
        strata('workflows', 'get', 'shows-evil-error'),
        strata('workflows', 'steps', 'shows-evil-text'),
        strata('sql', 'select workflow_id, name from strata.workflows order by workflow_id'),
        strata('workflows', 'list', '--json'),
        strata('workflows', 'get', 'shows-evil-text', '--json'),
      ]);
      for (const [what, run] of Object.entries({ list, get, getError, steps, sql })) {
        assert.equal(run.code, 0, `${what}: ${run.stderr}`);
        assert.doesNotMatch(run.stdout, RAW_CONTROL, `${what}: no raw control character reaches the terminal: ${JSON.stringify(run.stdout)}`);
      }
      assert.ok(list.stdout.includes('evil-\\x1b]0;pwned\\x07-\\x1b[2J\\rforged\\x08\\u202e'), `the ID shown with escapes: ${list.stdout}`);
      assert.ok(list.stdout.includes('na\\x1b[31mme\\x9b'), 'the name shown with escapes');
      assert.equal(list.stdout.trimEnd().split('\n').length, 5, 'a header and four rows: no forged line');
      assert.match(get.stdout, /^output\s+out\\x1b\]0;title\\x07\\r\\nfake line\\x7f$/m);
      assert.match(getError.stdout, /^error\s+Error: boom \\x1b\[1mBOLD\\x1b\[0m\\rOVERWRITTEN\\u2028next$/m);
      assert.ok(sql.stdout.includes('evil-\\x1b]0;pwned'), `sql shows the ID with escapes: ${sql.stdout}`);

      const page = JSON.parse(listJson.stdout) as WorkflowPage;
      assert.ok(page.workflows.some((w) => w.workflowId === evilId && w.name === evilName), 'JSON has the exact ID and name');
      assert.equal((JSON.parse(getJson.stdout) as { output: unknown }).output, evilOutput, 'JSON has the exact output');
      assert.doesNotMatch(listJson.stdout, RAW_CONTROL, 'JSON escapes what JSON.stringify leaves raw (C1, bidi)');
    } finally {
      await db.query(`delete from strata.steps where workflow_id = 'shows-evil-text'`);
      await db.query(`delete from strata.workflows where workflow_id in ($1, 'shows-evil-text', 'shows-evil-error')`, [evilId]);
    }
  });
});

/** A finished workflow row, written as a recording engine would (superjson `{"json": …}` values). */
async function insertWorkflow(db: Database, w: { id: string; name: string; status: 'SUCCESS' | 'ERROR'; output?: string; error?: string }): Promise<void> {
  await db.query(
    `insert into strata.workflows (workflow_id, name, status, inputs, output, error, executor_id, app_version, created_at, updated_at, completed_at)
     values ($1, $2, $3, '{"json":[]}', $4, $5, 'bad-input-test', '0', now(), now(), now())`,
    [
      w.id,
      w.name,
      w.status,
      w.output === undefined ? null : JSON.stringify({ json: w.output }),
      w.error === undefined ? null : JSON.stringify({ json: { name: 'Error', message: w.error } }),
    ],
  );
}
