// One executor incarnation of the crash test (crash.test.ts runs it as a child process and
// SIGKILLs it at random points).
//
//   node --import tsx worker.ts <database> <effectsLogPath> <incarnation> <workflowCount>
//
// Opens Strata on <database> (executor 'local', so a new incarnation recovers what the killed one
// left PENDING), starts 'wf-0'..'wf-<N-1>' (idempotent by ID; N even, they exchange messages in pairs), waits for all of them, prints DONE
// and exits 0. Every execution of a plain step appends `<workflowId> <stepName> <incarnation>` to
// the effects log before its checkpoint can commit, so the test can count executions per step.
//
// stdout lines the test reads: `REGISTERED` (before launch), `LAUNCHED`, `EXEC <workflowId> <step>`
// (after each step execution's log line), `COMMIT <workflowId> <step>` (after a step or transaction
// of this incarnation committed), `DONE`.

import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { Strata } from '@strata/transact';
import { MESSAGE_TOPIC, SLEEP_AFTER_PAIR, SLEEP_MS, STEP_PAIRS, exchangedMessage, partnerOf } from './shape.js';

/** Longest random pause inside a step; spreads the kill points over the step's lifetime. */
const STEP_JITTER_MS_MAX = 5;
/** Largest workflow count the worker accepts; the test uses far fewer. */
const WORKFLOW_COUNT_MAX = 10_000;

const [databaseUrl, effectsLogPath, incarnationText, workflowCountText] = process.argv.slice(2);
if (databaseUrl === undefined || effectsLogPath === undefined || incarnationText === undefined || workflowCountText === undefined) {
  process.stderr.write('usage: worker.ts <database> <effectsLogPath> <incarnation> <workflowCount>\n');
  process.exit(2);
}
const incarnation = Number(incarnationText);
const workflowCount = Number(workflowCountText);
if (!Number.isInteger(incarnation) || incarnation < 0) throw new Error(`incarnation must be a whole number ≥ 0, got ${incarnationText}`);
if (!Number.isInteger(workflowCount) || workflowCount < 2 || workflowCount > WORKFLOW_COUNT_MAX || workflowCount % 2 !== 0) {
  throw new Error(`workflowCount must be an even whole number from 2 to ${WORKFLOW_COUNT_MAX} (workflows exchange messages in pairs), got ${workflowCountText}`);
}

// One fd for the whole incarnation, opened for append: each line is one write(2), so a SIGKILL
// cannot tear it, and fsync makes it outlive even a machine crash.
const effectsFd = openSync(effectsLogPath, 'a');

function recordExecution(workflowId: string, stepName: string): void {
  writeSync(effectsFd, `${workflowId} ${stepName} ${incarnation}\n`);
  fsyncSync(effectsFd);
}

function jitter(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * (STEP_JITTER_MS_MAX + 1))));
}

const strata = new Strata({ database: databaseUrl, logger: { info: () => {}, warn: console.warn, error: console.error } });

/** Tells the test a checkpoint of this incarnation committed (replayed ones carry an older incarnation). */
function reportCommit(workflowId: string, stepName: string, committedBy: { incarnation: number }): void {
  if (committedBy.incarnation === incarnation) process.stdout.write(`COMMIT ${workflowId} ${stepName}\n`);
}

const crashWorkflow = strata.workflow('crash-wf', async (ctx) => {
  const index = Number(ctx.workflowId.slice('wf-'.length));
  const partner = partnerOf(index);
  const receive = async (pair: number) => {
    const got = await ctx.recv(MESSAGE_TOPIC, { timeoutMs: Infinity });
    const expected = exchangedMessage(partner, pair);
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      throw new Error(`${ctx.workflowId} pair ${pair}: received ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    }
  };
  for (let i = 0; i < STEP_PAIRS; i++) {
    const step = await ctx.step(`s${i}`, async () => {
      await jitter();
      recordExecution(ctx.workflowId, `s${i}`);
      process.stdout.write(`EXEC ${ctx.workflowId} s${i}\n`);
      await jitter();
      return { incarnation };
    });
    reportCommit(ctx.workflowId, `s${i}`, step);
    const transaction = await ctx.transaction(`t${i}`, async (tx) => {
      await tx.query('insert into crash_effects (workflow_id, step, incarnation) values ($1, $2, $3)', [ctx.workflowId, `t${i}`, incarnation]);
      return { incarnation };
    });
    reportCommit(ctx.workflowId, `t${i}`, transaction);
    if (index % 2 === 0) {
      await ctx.send(`wf-${partner}`, exchangedMessage(index, i), MESSAGE_TOPIC);
      await receive(i);
    } else {
      await receive(i);
      await ctx.send(`wf-${partner}`, exchangedMessage(index, i), MESSAGE_TOPIC);
    }
    if (i === SLEEP_AFTER_PAIR) await ctx.sleep(SLEEP_MS);
  }
  return ctx.workflowId;
});

process.stdout.write('REGISTERED\n');
await strata.launch();
process.stdout.write('LAUNCHED\n');

// The odd ones first: an even workflow's first send must find its partner's row.
const start = (index: number) => crashWorkflow.with({ workflowId: `wf-${index}` }).start();
const indexes = Array.from({ length: workflowCount }, (_, index) => index);
const odd = await Promise.all(indexes.filter((index) => index % 2 === 1).map(start));
const even = await Promise.all(indexes.filter((index) => index % 2 === 0).map(start));
const handles = indexes.map((index) => (index % 2 === 0 ? even[index / 2]! : odd[(index - 1) / 2]!));
const results = await Promise.all(handles.map((handle) => handle.result({ timeoutMs: 120_000 })));
for (const [index, result] of results.entries()) {
  if (result !== `wf-${index}`) throw new Error(`wf-${index} returned ${JSON.stringify(result)}`);
}
await strata.shutdown();
closeSync(effectsFd);
process.stdout.write('DONE\n');
process.exit(0);
