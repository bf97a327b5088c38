// The shape of the outage test's workload, shared by the worker (which runs it) and the test
// (which checks what it left in the database).

/**
 * Workflows come in pairs: `d-<i>` is started directly, its partner `q-<i>` is enqueued on the
 * queue {@link QUEUE_NAME}. Each runs {@link ROUNDS} rounds of: a plain step `s<r>` (its side
 * effect is a line in a file outside the database), a transaction `t<r>` (its effect is a row in
 * the app table {@link EFFECTS_TABLE}), and a message exchange with its partner (`d-<i>` sends,
 * then receives the reply; `q-<i>` receives, then replies). A durable sleep follows round
 * {@link SLEEP_AFTER_ROUND}. At the end it sets the event {@link DONE_EVENT} to its output.
 */
export const PAIR_COUNT = 15;
/** Rounds of step, transaction and message exchange per workflow. */
export const ROUNDS = 3;
/** The durable sleep comes after this round, so an outage can land in it. */
export const SLEEP_AFTER_ROUND = 1;
/** A few hundred ms: long enough for an outage to begin while workflows sleep. */
export const SLEEP_MS = 300;
/** The queue of the `q-<i>` workflows. */
export const QUEUE_NAME = 'outage-queue';
/** Below PAIR_COUNT, so the queued workflows start in waves and claims go on across the outage. */
export const QUEUE_CONCURRENCY = 6;
/** Topic of the exchanged messages. */
export const MESSAGE_TOPIC = 'x';
/** Event each workflow sets to its output at its end. */
export const DONE_EVENT = 'done';
/** App table of the transactions' effects; no unique constraint, so a transaction committed twice shows as two rows. */
export const EFFECTS_TABLE = 'outage_effects';

/** The IDs of pair `index`. */
export function pairIds(index: number): { direct: string; queued: string } {
  return { direct: `d-${index}`, queued: `q-${index}` };
}

/** Every workflow ID of the workload, directs first. */
export function allWorkflowIds(): string[] {
  const ids: string[] = [];
  for (let index = 0; index < PAIR_COUNT; index++) ids.push(pairIds(index).direct);
  for (let index = 0; index < PAIR_COUNT; index++) ids.push(pairIds(index).queued);
  return ids;
}

/** The partner of `workflowId` (`d-3` ↔ `q-3`). */
export function partnerOf(workflowId: string): string {
  const [side, index] = workflowId.split('-');
  return side === 'd' ? `q-${index}` : `d-${index}`;
}

/** The message `from` sends in round `round`. */
export function exchangedMessage(from: string, round: number): string {
  return `${from}#${round}`;
}

/** The output of `workflowId`: its ID and the messages it received, in order. */
export function expectedOutput(workflowId: string): string {
  const partner = partnerOf(workflowId);
  const received = Array.from({ length: ROUNDS }, (_, round) => exchangedMessage(partner, round));
  return `${workflowId} received ${received.join(',')}`;
}

/** A checkpoint of the workload, as strata.steps records it. */
export interface ExpectedStep {
  readonly name: string;
  readonly kind: 'step' | 'transaction' | 'sleep' | 'send' | 'recv';
}

/** The checkpoints of the workload's own operations (not the final event) of `workflowId`, in call order. */
export function expectedSteps(workflowId: string): ExpectedStep[] {
  const send: ExpectedStep = { name: MESSAGE_TOPIC, kind: 'send' };
  const recv: ExpectedStep = { name: MESSAGE_TOPIC, kind: 'recv' };
  const steps: ExpectedStep[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    steps.push({ name: `s${round}`, kind: 'step' }, { name: `t${round}`, kind: 'transaction' });
    steps.push(...(workflowId.startsWith('d-') ? [send, recv] : [recv, send]));
    if (round === SLEEP_AFTER_ROUND) steps.push({ name: 'sleep', kind: 'sleep' });
  }
  return steps;
}

/** Checkpoints of the whole workload (without the final events): what the test counts to aim its outage. */
export const TOTAL_CHECKPOINTS = 2 * PAIR_COUNT * expectedSteps('d-0').length;

/** Engine settings of the worker: short, so an outage of a few seconds outlasts the executor timeout. */
export const HEARTBEAT_INTERVAL_MS = 200;
/** See HEARTBEAT_INTERVAL_MS; the "longer than executorTimeoutMs" outage is longer than this. */
export const EXECUTOR_TIMEOUT_MS = 2_000;

/** The code of the typed error every call that meets an unavailable database must reject with. */
export const DATABASE_UNAVAILABLE_CODE = 'STRATA_DATABASE_UNAVAILABLE';
