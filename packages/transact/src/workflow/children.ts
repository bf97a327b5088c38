// Child workflows: ctx.startChild records the child's start in the parent's history; a child's result is recorded as a step.
import type { Queryable } from '@strata/store';
import { InvalidArgumentError } from '../errors.js';
import type { WorkflowHandle, WorkflowStarter, WorkflowStatus } from '../interfaces.js';
import { insertStepInTransaction } from '../sql/index.js';
import type { Recorder } from './recorder.js';

/** `ctx.startChild`: starts (or, on replay, finds again) a child workflow under the ID this step derives. */
export async function startChild<A extends unknown[], R>(rec: Recorder, workflow: WorkflowStarter<A, R>, args: A): Promise<WorkflowHandle<R>> {
  if (!workflow || typeof workflow !== 'object' || typeof workflow.start !== 'function') {
    throw new InvalidArgumentError('startChild() needs a workflow registered with strata.workflow()');
  }
  const stepId = rec.begin();
  const recorded = rec.replay(stepId, 'start_child', workflow.name);
  if (recorded) {
    if (recorded.error !== null) throw rec.rt.serializer.deserialize(recorded.error); // e.g. a rejected duplicate enqueue
    return childHandle<R>(rec, recorded.child_workflow_id!);
  }
  await rec.settle();
  const childId = await rec.rt.startWorkflow(workflow as unknown as WorkflowStarter<unknown[], unknown>, args, workflow.binding.options, {
    workflowId: rec.workflowId,
    stepId,
    deadlineAt: rec.deadlineAt,
  });
  return childHandle<R>(rec, childId);
}

/**
 * Records a child's start inside the parent's transaction (called by the engine); with `error`,
 * records that the start failed (a rejected duplicate enqueue), so replay throws it again.
 */
export function recordChildStart(rec: Recorder, tx: Queryable, stepId: number, name: string, childWorkflowId: string | null, error?: unknown): Promise<boolean> {
  const outcome = error === undefined ? {} : { error: rec.rt.serializer.serializeError(error) };
  return insertStepInTransaction(tx, rec.newStep(stepId, 'start_child', name, { childWorkflowId: childWorkflowId ?? undefined, startedAt: new Date(), ...outcome }));
}

/** Resolves a child start that was not written because another execution recorded it first. */
export async function childStartedElsewhere(rec: Recorder, stepId: number): Promise<string> {
  const row = await rec.explainUnwritten(stepId);
  if (row.error !== null) throw rec.rt.serializer.deserialize(row.error);
  return row.child_workflow_id!;
}

/** A handle whose `result()` waits for the workflow's end and records it as a `child_result` step. */
export function childHandle<R>(rec: Recorder, childId: string): WorkflowHandle<R> {
  const rt = rec.rt;
  return {
    workflowId: childId,
    status: async (): Promise<WorkflowStatus> => {
      throw new InvalidArgumentError('status() of a child handle is not available inside a workflow; use result()');
    },
    result: async (): Promise<R> => {
      const stepId = rec.begin();
      const recorded = rec.replay(stepId, 'child_result', childId);
      if (recorded) return rec.decode<R>(recorded);
      const startedAt = new Date();
      const terminal = await rt.awaitTerminal(childId, Infinity, rec.waitSignal);
      let outcome: { output?: string | null; error?: string | null };
      try {
        rt.decodeTerminal(childId, terminal);
        outcome = { output: terminal.output };
      } catch (error) {
        outcome = { error: rt.serializer.serializeError(error) };
      }
      const existing = await rec.checkpoint(rec.newStep(stepId, 'child_result', childId, { ...outcome, startedAt }));
      return rec.decode<R>(existing ?? { output: outcome.output ?? null, error: outcome.error ?? null });
    },
  };
}
