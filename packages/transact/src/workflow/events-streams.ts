// Events and streams a workflow publishes (ctx.setEvent, ctx.writeStream, ctx.closeStream) and events it reads (ctx.getEvent).
import { StreamClosedError } from '../errors.js';
import type { WaitOptions } from '../interfaces.js';
import { eventKey, streamKey } from '../signals/keys.js';
import { appendStream, getEventValue, insertStepInTransaction, upsertEvent } from '../sql/index.js';
import { assertIdentifier, waitTimeoutMs } from '../validate.js';
import type { Recorder } from './recorder.js';

/** `ctx.setEvent`: the value and the step commit together, then waiters are woken. */
export async function setEvent(rec: Recorder, key: string, value: unknown): Promise<void> {
  assertIdentifier(key, 'event key');
  const stepId = rec.begin();
  if (rec.replay(stepId, 'set_event', key)) return;
  const text = rec.rt.serializer.serialize(value, `event "${key}"`);
  const startedAt = new Date();
  await rec.inTransaction(stepId, async (tx) => {
    await upsertEvent(tx, rec.workflowId, key, text);
    return insertStepInTransaction(tx, rec.newStep(stepId, 'set_event', key, { startedAt }));
  });
  await rec.publish(eventKey(rec.workflowId, key));
}

/** `ctx.getEvent`: waits (with a recorded deadline) for another workflow's event and records the value read. */
export async function getEvent<T>(rec: Recorder, workflowId: string, key: string, options: WaitOptions): Promise<T | null> {
  assertIdentifier(workflowId, 'workflow ID');
  assertIdentifier(key, 'event key');
  const timeoutMs = waitTimeoutMs(options, 'getEvent');
  const deadlineMs = await rec.durableDeadline(timeoutMs);
  const stepId = rec.begin();
  const name = `${workflowId}:${key}`;
  const recorded = rec.replay(stepId, 'get_event', name);
  if (recorded) return rec.decode<T | null>(recorded);
  const startedAt = new Date();
  const rt = rec.rt;
  rec.progressed();
  const value = await rt.signals.waitFor(
    [eventKey(workflowId, key)],
    () => rec.system(() => getEventValue(rt.db, workflowId, key)),
    deadlineMs,
    rt.safetyPollIntervalMs,
    rec.waitSignal,
  );
  if (value === undefined) return rec.recordValue<T | null>(stepId, 'get_event', name, null, startedAt);
  const existing = await rec.checkpoint(rec.newStep(stepId, 'get_event', name, { output: value, startedAt }));
  return rec.decode<T>(existing ?? { output: value, error: null });
}

/**
 * The stream writes of one execution, one at a time, so offsets are assigned in call order.
 * Made at a workflow's first stream operation.
 */
export class StreamWriter {
  readonly #rec: Recorder;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(rec: Recorder) {
    this.#rec = rec;
  }

  /** Appends `value()` to stream `key` (or closes it), recording the step in the same commit. */
  write(key: string, kind: 'stream_write' | 'stream_close', value: () => string | null): Promise<void> {
    const rec = this.#rec;
    const stepId = rec.begin();
    if (rec.replay(stepId, kind, key)) return Promise.resolve();
    const text = value();
    const startedAt = new Date();
    const run = this.#chain.then(async () => {
      await rec.inTransaction(stepId, async (tx) => {
        if ((await appendStream(tx, rec.workflowId, key, text, kind === 'stream_close')) === 'closed') {
          throw new StreamClosedError(rec.workflowId, key);
        }
        return insertStepInTransaction(tx, rec.newStep(stepId, kind, key, { startedAt }));
      });
      await rec.publish(streamKey(rec.workflowId, key));
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }
}
