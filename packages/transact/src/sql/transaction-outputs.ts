// SQL: transaction outputs kept on a separate application database, so a transaction's commit records its step.
import type { Queryable } from '@strata/store';

/**
 * In a separate application database: records a transaction step's output inside the user's
 * transaction. Returns false when that step's output exists already (it committed before).
 */
export async function insertTransactionOutput(tx: Queryable, workflowId: string, stepId: number, output: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    `insert into strata.transaction_outputs (workflow_id, step_id, output) values ($1, $2, $3)
     on conflict (workflow_id, step_id) do nothing`,
    [workflowId, stepId, output],
    { prepare: true },
  );
  return rowCount === 1;
}

/** The output a transaction step committed in the application database, if any. */
export async function getTransactionOutput(db: Queryable, workflowId: string, stepId: number): Promise<string | undefined> {
  const { rows } = await db.query<{ output: string }>(
    'select output from strata.transaction_outputs where workflow_id = $1 and step_id = $2',
    [workflowId, stepId],
  );
  return rows[0]?.output;
}
