// The app process of the outage test (outage.test.ts runs it as a child process and takes the
// database away under it).
//
//   node --import tsx worker.ts <databaseUrl> <effectsLogPath>
//
// Launches Strata on <databaseUrl> (heartbeat and executor timeout from shape.ts), enqueues the
// `q-<i>` workflows and starts the `d-<i>` ones (see shape.ts), then waits for every workflow in
// two ways at once: its result (`handle.result()` for a direct one, `strata.retrieve(id).result()`
// for a queued one) and its `done` event (`strata.getEvent`). A wait that rejects with
// STRATA_DATABASE_UNAVAILABLE is called again (the contract: keep waiting, or reject with that
// typed error); any other rejection is reported as BAD and ends that wait. Every execution of a
// plain step appends `<workflowId> <step> <Date.now()>` to the effects log, outside the database.
//
// stdout lines the test reads: `LAUNCHED`, `STARTED` (every workflow started or enqueued),
// `REJECTED <call> <workflowId> <code>` (a wait rejected with the typed error and was called
// again), `BAD <call> <workflowId> <json>` (a wait rejected with anything else), `LOG <level>
// <message>` (the engine's logger), `OUTCOMES <json>` (what every wait returned), `DONE` (after a
// graceful shutdown). It exits 0 after DONE; an uncaught exception would end it otherwise.

import { appendFileSync } from 'node:fs';
import { Strata, type WorkflowHandle } from '@strata/transact';
import {
  DATABASE_UNAVAILABLE_CODE,
  DONE_EVENT,
  EFFECTS_TABLE,
  EXECUTOR_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
  MESSAGE_TOPIC,
  PAIR_COUNT,
  QUEUE_CONCURRENCY,
  QUEUE_NAME,
  ROUNDS,
  SLEEP_AFTER_ROUND,
  SLEEP_MS,
  exchangedMessage,
  pairIds,
  partnerOf,
} from './shape.js';

/** Longest random pause inside a step: spreads the moments steps are in flight when the database goes. */
const STEP_JITTER_MS_MAX = 5;
/** Pause before calling a rejected wait again: the database is away, no need to spin. */
const REWAIT_DELAY_MS = 100;
/** A wait is called again at most this often; far more than any outage of the test needs. */
const MAX_REWAITS = 2_000;
/** Each single wait's own bound, so no call waits forever; the test bounds the whole run far below it. */
const WAIT_TIMEOUT_MS = 120_000;

const [databaseUrl, effectsLogPath] = process.argv.slice(2);
if (databaseUrl === undefined || effectsLogPath === undefined) {
  process.stderr.write('usage: worker.ts <databaseUrl> <effectsLogPath>\n');
  process.exit(2);
}

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** One line per log call: the first line of each argument, so the test can show a tail. */
function logLine(level: string, args: unknown[]): void {
  const text = args.map((arg) => (arg instanceof Error ? `${arg.name}: ${arg.message}` : String(arg))).join(' ');
  line(`LOG ${level} ${text.split('\n')[0]}`);
}

const strata = new Strata({
  database: databaseUrl,
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  executorTimeoutMs: EXECUTOR_TIMEOUT_MS,
  logger: {
    info: (...args: unknown[]) => logLine('info', args),
    warn: (...args: unknown[]) => logLine('warn', args),
    error: (...args: unknown[]) => logLine('error', args),
  },
});

const queue = strata.queue(QUEUE_NAME, { concurrency: QUEUE_CONCURRENCY });

const pairWorkflow = strata.workflow('outage-pair', async (ctx) => {
  const self = ctx.workflowId;
  const partner = partnerOf(self);
  const received: string[] = [];
  const receive = async (round: number) => {
    const got = await ctx.recv<string>(MESSAGE_TOPIC, { timeoutMs: Infinity });
    const expected = exchangedMessage(partner, round);
    if (got !== expected) throw new Error(`${self} round ${round}: received ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    received.push(got);
  };
  for (let round = 0; round < ROUNDS; round++) {
    await ctx.step(`s${round}`, async () => {
      appendFileSync(effectsLogPath, `${self} s${round} ${Date.now()}\n`);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * (STEP_JITTER_MS_MAX + 1))));
      return round;
    });
    await ctx.transaction(`t${round}`, async (tx) => {
      await tx.query(`insert into ${EFFECTS_TABLE} (workflow_id, step) values ($1, $2)`, [self, `t${round}`]);
    });
    if (self.startsWith('d-')) {
      await ctx.send(partner, exchangedMessage(self, round), MESSAGE_TOPIC);
      await receive(round);
    } else {
      await receive(round);
      await ctx.send(partner, exchangedMessage(self, round), MESSAGE_TOPIC);
    }
    if (round === SLEEP_AFTER_ROUND) await ctx.sleep(SLEEP_MS);
  }
  const output = `${self} received ${received.join(',')}`;
  await ctx.setEvent(DONE_EVENT, output);
  return output;
});

/** What one wait ended with. */
type Outcome = { readonly value: unknown } | { readonly bad: { name: string; code: unknown; message: string } };

/** Calls `wait` until it returns; a typed "database unavailable" rejection means: call it again. */
async function settle(call: string, workflowId: string, wait: () => Promise<unknown>): Promise<Outcome> {
  for (let rewaits = 0; ; rewaits++) {
    try {
      return { value: await wait() };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === DATABASE_UNAVAILABLE_CODE && rewaits < MAX_REWAITS) {
        line(`REJECTED ${call} ${workflowId} ${code}`);
        await new Promise((resolve) => setTimeout(resolve, REWAIT_DELAY_MS));
        continue;
      }
      const bad = {
        name: error instanceof Error ? error.name : typeof error,
        code,
        message: error instanceof Error ? error.message : String(error),
      };
      line(`BAD ${call} ${workflowId} ${JSON.stringify(bad)}`);
      return { bad };
    }
  }
}

await strata.launch();
line('LAUNCHED');

// The queued partners first: a direct workflow's first send must find its partner's row.
const handles = new Map<string, WorkflowHandle<string>>();
for (let index = 0; index < PAIR_COUNT; index++) {
  const { queued } = pairIds(index);
  handles.set(queued, await queue.enqueue(pairWorkflow.with({ workflowId: queued })));
}
for (let index = 0; index < PAIR_COUNT; index++) {
  const { direct } = pairIds(index);
  handles.set(direct, await pairWorkflow.with({ workflowId: direct }).start());
}
line('STARTED');

const waits: Array<Promise<[string, Outcome]>> = [];
for (const [workflowId, handle] of handles) {
  // A direct workflow is awaited through the handle its start returned; a queued one through a
  // handle retrieved by ID, as another part of an app would.
  const result = workflowId.startsWith('d-')
    ? () => handle.result({ timeoutMs: WAIT_TIMEOUT_MS })
    : () => strata.retrieve<string>(workflowId).result({ timeoutMs: WAIT_TIMEOUT_MS });
  waits.push(settle('result', workflowId, result).then((outcome) => [`result ${workflowId}`, outcome]));
  waits.push(
    settle('getEvent', workflowId, () => strata.getEvent<string>(workflowId, DONE_EVENT, { timeoutMs: WAIT_TIMEOUT_MS })).then((outcome) => [
      `getEvent ${workflowId}`,
      outcome,
    ]),
  );
}
const outcomes = Object.fromEntries(await Promise.all(waits));
line(`OUTCOMES ${JSON.stringify(outcomes)}`);
await strata.shutdown();
line('DONE');
process.exit(0);
