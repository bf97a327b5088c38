// audited(): the one way a state-changing route records who did what to which target, and how it ended.

import type { Context } from 'hono';
import type { Queryable } from '@strata/store';
import { toErrorResponse } from '../http/errors.js';
import { requestScope } from '../http/scope.js';
import type { ApiEnv } from '../http/types.js';
import { appendAudit } from './sql.js';

/**
 * Appends the `ok` row inside the caller's own transaction, so the change and its audit row
 * commit together. Call it at most once, with the transaction that makes the change.
 */
export type RecordInTransaction = (tx: Queryable) => Promise<void>;

/**
 * Runs a state-changing operation and appends its audit row: who (the key), what (`action`,
 * e.g. `instances.create`), `target` (an ID or name), the request ID, and the result — `ok`, or
 * the code of the error it failed with (the error is rethrown). To commit the row with the change,
 * call `record(tx)` inside the transaction that makes it; otherwise the row is appended in a
 * transaction of its own after `run` returns. A failure after `record(tx)` committed appends its
 * error row as well: the log shows the change and then the failure.
 *
 * @example
 * const key = await audited(c, 'keys.revoke', keyId, (record) =>
 *   db.transaction(async (tx) => {
 *     const revoked = await revokeApiKey(tx, tenantId, keyId);
 *     await record(tx);
 *     return revoked;
 *   }));
 */
export async function audited<T>(c: Context<ApiEnv>, action: string, target: string, run: (record: RecordInTransaction) => Promise<T>): Promise<T> {
  const { db } = requestScope(c);
  const principal = c.get('principal');
  const requestId = c.get('requestId');
  const entry = (result: string) => ({ tenantId: principal.tenantId, keyId: principal.keyId, action, target, requestId, result });
  let recorded = false;
  // A transaction retried after a conflict calls record again; the rolled-back attempt's row is gone.
  const record: RecordInTransaction = async (tx) => {
    recorded = true;
    await appendAudit(tx, entry('ok'));
  };
  let output: T;
  try {
    output = await run(record);
  } catch (error) {
    const code = toErrorResponse(error, requestId).body.error.code;
    // The caller gets the operation's own error even when the log cannot be written (the database is down).
    await db.transaction((tx) => appendAudit(tx, entry(code))).catch((auditError: unknown) => {
      console.error(`strata control plane: the audit row of ${action} ${target} (request ${requestId}, ${code}) could not be written:`, auditError);
    });
    throw error;
  }
  if (!recorded) await db.transaction((tx) => appendAudit(tx, entry('ok')));
  return output;
}
