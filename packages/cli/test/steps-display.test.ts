// How `strata workflows steps` shows what steps recorded: a durable sleep's recorded output (its
// wake-up time in epoch milliseconds) is labelled as a time in the table and stays the exact
// number in --json. Run in-process (main()) against a real PostgreSQL database.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openDatabase, type Database } from '@strata/store';
import { engines, freshPostgresUrl } from '@strata/testing';
import { StrataClient } from '@strata/transact';
import { main } from '../src/main.js';

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';

/** A wake-up time as a sleep records it: epoch milliseconds. */
const WAKE_AT_MS = Date.UTC(2026, 11, 6, 5, 0, 0);

let url: string;
let db: Database;

before(async () => {
  if (skip) return;
  url = await freshPostgresUrl();
  await (await StrataClient.connect({ database: url })).close(); // migrates
  db = await openDatabase(url);
  await db.query(
    `insert into strata.workflows (workflow_id, name, status, inputs, executor_id, app_version, created_at, updated_at)
     values ('sleeper-1', 'sleeper', 'PENDING', '{"json":[]}', 'steps-test', '0', now(), now())`,
  );
  await db.query(
    `insert into strata.steps (workflow_id, step_id, name, kind, output, attempts, started_at, completed_at) values
       ('sleeper-1', 0, 'count', 'step', $1, 1, now(), now()),
       ('sleeper-1', 1, 'sleep', 'sleep', $2, 1, now(), now())`,
    [JSON.stringify({ json: 1_234_567 }), JSON.stringify({ json: WAKE_AT_MS })],
  );
});

after(async () => {
  await db?.close();
});

async function strata(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) }, { STRATA_DATABASE_URL: url });
  return { code, stdout, stderr };
}

test('a durable sleep shows when it wakes, not raw epoch milliseconds; other numbers stay numbers', { skip }, async () => {
  const run = await strata('workflows', 'steps', 'sleeper-1');
  assert.equal(run.code, 0, run.stderr);
  const [, countRow, sleepRow] = run.stdout.trimEnd().split('\n');
  assert.match(sleepRow!, /\bsleep\s+sleep\b.*\bwakes at 2026-12-06T05:00:00\.000Z$/);
  assert.ok(!sleepRow!.includes(String(WAKE_AT_MS)), `no raw epoch ms: ${sleepRow}`);
  assert.match(countRow!, /\b1234567$/, 'an ordinary step\'s number is shown as it is');
});

test('--json keeps the sleep\'s exact recorded output', { skip }, async () => {
  const run = await strata('workflows', 'steps', 'sleeper-1', '--json');
  assert.equal(run.code, 0, run.stderr);
  const parsed = JSON.parse(run.stdout) as { steps?: Array<{ kind: string; output: unknown }> } | Array<{ kind: string; output: unknown }>;
  const steps = Array.isArray(parsed) ? parsed : parsed.steps!;
  assert.equal(steps.find((step) => step.kind === 'sleep')?.output, WAKE_AT_MS);
});
