// Messages between workflows: ctx.send (recorded with the message in one statement) and ctx.recv (a read, recorded lazily).
import { isForeignKeyViolation } from '@strata/store';
import { WorkflowNotFoundError } from '../errors.js';
import type { WaitOptions } from '../interfaces.js';
import { messageKey } from '../signals/keys.js';
import { inStatementChannel } from '../signals/signals.js';
import { peekMessage, sendAsStep, type StepRow, type TakenMessage } from '../sql/index.js';
import { assertIdentifier, assertString, waitTimeoutMs } from '../validate.js';
import type { Recorder } from './recorder.js';

/**
 * How long a recv waits before it records its deadline. When a message arrives sooner, the
 * deadline is recorded with the message, in the commit of the workflow's next write, so a quick
 * exchange of messages adds no commit for the deadline.
 */
const DEADLINE_RECORD_AFTER_MS = 100;

/** `ctx.send`: the message and the send's step commit together; a message a recv just took is recorded in the same commit. */
export async function send(rec: Recorder, destinationId: string, message: unknown, topic: string): Promise<void> {
  assertIdentifier(destinationId, 'destination workflow ID');
  assertString(topic, 'topic');
  const stepId = rec.begin();
  if (rec.replay(stepId, 'send', topic)) return;
  const rt = rec.rt;
  const text = rt.serializer.serialize(message, `message to workflow "${destinationId}"`);
  const startedAt = new Date();
  const channel = inStatementChannel(rt.db);
  const sendStatement = async (taken: TakenMessage | null) => {
    try {
      return await sendAsStep(rt.db, rec.newStep(stepId, 'send', topic, { startedAt }), destinationId, topic, text, channel, taken);
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new WorkflowNotFoundError(destinationId);
      throw error;
    }
  };
  let written: boolean | StepRow | undefined;
  // The message a recv just took is recorded in the same commit, so a reply costs one commit.
  const only = rec.taken.takeOnly();
  if (only) {
    written = await rec.taken.record(only, () =>
      sendStatement(only).catch((error: unknown) => {
        // An unknown destination rolled the recv's record back too: it is recorded alone, then the send alone reports it.
        if (error instanceof WorkflowNotFoundError) return undefined;
        throw error;
      }),
    );
  }
  if (written === undefined) {
    await rec.settle();
    written = await rec.inStatement(stepId, () => sendStatement(null));
  }
  if (written !== true) return; // recorded by another execution, which sent the message
  // The statement notified other processes with its commit (a polled database is told now).
  if (channel !== null) rt.signals.wake(messageKey(destinationId));
  else await rec.publish(messageKey(destinationId));
}

/**
 * `ctx.recv`: waits for the oldest unconsumed message of `topic`. A read: the message is taken in
 * memory and recorded with this workflow's next write (see taken-messages.ts).
 */
export async function recv<T>(rec: Recorder, topic: string, options: WaitOptions): Promise<T | null> {
  assertString(topic, 'topic');
  const timeoutMs = waitTimeoutMs(options, 'recv');
  const deadline = rec.lazyDeadline(timeoutMs);
  const stepId = rec.begin();
  const recorded = rec.replay(stepId, 'recv', topic);
  if (recorded) return rec.decode<T | null>(recorded);
  const startedAt = new Date();
  const rt = rec.rt;
  const taken = rec.taken;
  if (taken.full) await rec.settle();
  const keys = [messageKey(rec.workflowId)];
  const check = async () => {
    for (;;) {
      const skip = taken.ids();
      const found = await rec.system(() => peekMessage(rt.db, rec.workflowId, topic, skip));
      // A parallel recv of this workflow may have taken it while this read ran: read again.
      if (!found || !taken.has(found.messageId)) return found;
    }
  };
  rec.progressed();
  let found = await rt.signals.waitFor(
    keys,
    check,
    deadline.unrecorded ? Math.min(deadline.ms, Date.now() + DEADLINE_RECORD_AFTER_MS) : deadline.ms,
    rt.safetyPollIntervalMs,
    rec.waitSignal,
  );
  if (found === undefined && deadline.unrecorded) {
    // A longer wait: make the deadline durable first, so a recovered recv keeps it.
    const existing = await rec.checkpoint(deadline.unrecorded);
    if (existing) deadline.ms = rec.decode<number>(existing);
    deadline.unrecorded = undefined;
    found = await rt.signals.waitFor(keys, check, deadline.ms, rt.safetyPollIntervalMs, rec.waitSignal);
  }
  if (found === undefined) return rec.recordValue<T | null>(stepId, 'recv', topic, null, startedAt);
  const step = rec.newStep(stepId, 'recv', topic, { output: found.message, startedAt });
  taken.push({ messageId: found.messageId, steps: deadline.unrecorded ? [deadline.unrecorded, step] : [step] });
  return rt.serializer.deserialize<T>(found.message);
}
