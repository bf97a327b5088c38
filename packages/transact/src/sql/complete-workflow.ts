// SQL: recording workflows' ends (SUCCESS or ERROR), many in one statement, with their notifications.
import type { Queryable } from '@strata/store';
import { WORKFLOW_ENDED_PREFIX, sqlSignalKey } from '../signals/keys.js';
import { ownedBy } from './owned-by.js';

/** The notification sent with the statement's own commit (see signals/keys.ts). */
const NOTIFY_ENDED = `, pg_notify($7, ${sqlSignalKey(WORKFLOW_ENDED_PREFIX, 'workflow_id')})`;

/** How a workflow ended, for {@link completeWorkflows}. */
export interface WorkflowEnd {
  readonly workflowId: string;
  readonly status: 'SUCCESS' | 'ERROR';
  readonly output: string | null;
  readonly error: string | null;
  /** The executor ending it and its epoch: the end is written only while they own the workflow (fencing). */
  readonly executorId: string;
  readonly epoch: number;
}

/**
 * Moves PENDING workflows to SUCCESS or ERROR with their output or error, in one statement; returns
 * the IDs it moved. A workflow no longer PENDING (cancelled or timed out meanwhile) is left as it
 * is. With `notifyChannel`, the statement also sends `w:<id>` on it for each of them, so the
 * notifications go out with the commit and cost no commit of their own.
 */
export async function completeWorkflows(db: Queryable, ends: readonly WorkflowEnd[], notifyChannel: string | null): Promise<Set<string>> {
  const notify = notifyChannel === null ? '' : NOTIFY_ENDED;
  const { rows } = await db.query<{ workflow_id: string }>(
    `with ended as (
       update strata.workflows w
          set status = e.status, output = e.output, error = e.error, updated_at = now(), completed_at = now()
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) as e(workflow_id, status, output, error, executor_id, epoch)
        where w.workflow_id = e.workflow_id and ${ownedBy('w', 'e.executor_id', 'e.epoch')}
        returning w.workflow_id)
     select workflow_id${notify} from ended`,
    [ends.map((e) => e.workflowId), ends.map((e) => e.status), ends.map((e) => e.output), ends.map((e) => e.error), ends.map((e) => e.executorId), ends.map((e) => e.epoch), ...(notifyChannel === null ? [] : [notifyChannel])],
    { prepare: true },
  );
  return new Set(rows.map((row) => row.workflow_id));
}
