// Records the error of a step's failed attempt before it is retried (strata.step_attempts); never on the success path.
import { insertStepAttempt } from '../sql/history.js';
import type { Recorder } from './recorder.js';

/**
 * Records that attempt `attempt` of step `stepId` failed with `error`, before the step is
 * retried. The write goes through the recorder's durable path (a database outage waits until
 * the database is back); any other failure of the write is logged and the step goes on — history
 * must not fail the work. Only the workflow's cancellation (its signal) stops it.
 */
export async function recordFailedAttempt(rec: Recorder, stepId: number, stepName: string, attempt: number, error: unknown): Promise<void> {
  const described = describe(error);
  try {
    await rec.system(() => insertStepAttempt(rec.rt.db, { workflowId: rec.workflowId, stepId, attempt, stepName, ...described }));
  } catch (failure) {
    if (rec.signal.aborted) throw rec.signal.reason;
    rec.logger.warn(`could not record the error of attempt ${attempt} of step "${stepName}"; the step is retried anyway`, failure);
  }
}

function describe(error: unknown): { errorName: string; errorCode: string | null; message: string } {
  if (error !== null && typeof error === 'object') {
    const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
    return {
      errorName: typeof name === 'string' && name !== '' ? name : 'Error',
      errorCode: typeof code === 'string' || typeof code === 'number' ? String(code) : null,
      message: typeof message === 'string' ? message : safeString(error),
    };
  }
  return { errorName: typeof error, errorCode: null, message: safeString(error) };
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '(an error that cannot be shown as text)';
  }
}
