// How the instance-admin routes reach an instance: the tenant's instance (or 404), in a state that allows the action, and the agent.admin job on its node.
import { randomUUID } from 'node:crypto';
import { ADMIN_ERROR_STATUS, AGENT_JOBS, AdminError, agentQueue, agentVersion, isAdminErrorCode, type AdminAction, type AdminActionKind, type AdminResults } from '@strata/agent';
import type { Queryable } from '@strata/store';
import { WaitTimeoutError, type StrataClient } from '@strata/transact';
import { ApiError } from '../http/errors.js';
import type { AgentOutcome } from '../instances/agent-call.js';
import { InstanceError } from '../instances/errors.js';
import { requireInstance } from '../instances/service.js';
import type { InstanceRow, InstanceStatus } from '../instances/sql.js';

/**
 * Longest a request waits for an admin action. The actions are single statements on a running
 * server; a minute covers a busy node, and a request should not hang longer than a client's own
 * timeout would allow (the action itself goes on and is idempotent).
 */
export const ADMIN_REQUEST_TIMEOUT_MS = 60_000;

/** Statuses in which the instance's server runs, so statements can reach it. */
const RUNNING_STATUSES: ReadonlySet<InstanceStatus> = new Set(['ACTIVE', 'RESTART_REQUIRED']);

/**
 * The tenant's instance named by ID or name whose server runs (the instances' own lookup:
 * `404 not_found` for a missing instance and for another tenant's, the same answer); `409 instance_not_running` when it is not
 * ACTIVE or RESTART_REQUIRED (with `stoppedToo`, STOPPED and ERROR pass too: a log is read from
 * disk). With `idle`, also `409 instance_busy` while an operation runs.
 *
 * @example
 * const instance = await runningInstance(db, principal.tenantId, 'orders-db', { idle: true });
 */
export async function runningInstance(db: Queryable, tenantId: string, ref: string, options: { idle?: boolean; forUpdate?: boolean; stoppedToo?: boolean } = {}): Promise<InstanceRow> {
  const instance = await requireInstance(db, tenantId, ref, options.forUpdate === true);
  const allowed = RUNNING_STATUSES.has(instance.status) || (options.stoppedToo === true && (instance.status === 'STOPPED' || instance.status === 'ERROR'));
  if (!allowed) {
    throw new ApiError(409, 'instance_not_running', `instance ${instance.name} is ${instance.status}; its databases and users can be changed while it is ACTIVE (start it, or wait for its operation to finish)`);
  }
  if (options.idle === true && instance.operationId !== null) {
    throw new ApiError(409, 'instance_busy', `instance ${instance.name} is busy with a ${instance.operationKind ?? 'running'} operation (${instance.operationId}); retry when it has finished`);
  }
  return instance;
}

/**
 * Runs a read-only admin action (list, log, catalogue) on the instance's node and returns its
 * output: an agent job enqueued on the node's queue, awaited. Reads change nothing, so they need
 * no control-plane workflow of their own.
 *
 * @example
 * const { databases } = await readFromAgent(client, instance, { kind: 'listDatabases', instanceId: instance.instanceId });
 */
export async function readFromAgent<K extends AdminActionKind>(client: StrataClient, instance: InstanceRow, action: Extract<AdminAction, { kind: K }>): Promise<AdminResults[K]> {
  const jobId = `admin-read-${instance.instanceId}-${randomUUID()}`;
  const handle = await client.enqueue<AdminResults[K]>(
    { workflow: AGENT_JOBS.admin, queue: agentQueue(instance.nodeId), workflowId: jobId, appVersion: agentVersion(instance.nodeId) },
    action,
  );
  try {
    return await handle.result({ timeoutMs: ADMIN_REQUEST_TIMEOUT_MS });
  } catch (error) {
    throw adminApiError(error instanceof WaitTimeoutError ? timedOut(instance.nodeId) : failureOf(error));
  }
}

/**
 * The API error of a failed admin action: the agent's own code and status (`invalid_identifier`
 * 400, `user_not_found` 404, …), `503 agent_unavailable` when the node did not answer, and
 * `502 agent_failed` for anything else (with the agent's message).
 *
 * @example
 * if (!outcome.ok) throw adminApiError(outcome.error);
 */
export function adminApiError(failure: Extract<AgentOutcome<unknown>, { ok: false }>['error']): ApiError {
  if (isAdminErrorCode(failure.code)) return new ApiError(ADMIN_ERROR_STATUS[failure.code], failure.code, failure.message);
  if (failure.code === 'agent_timeout') return new ApiError(503, 'agent_unavailable', failure.message);
  return new ApiError(502, 'agent_failed', `the instance's agent failed: ${failure.message}${failure.code ? ` (${failure.code})` : ''}; retry, and check the instance log if it persists`);
}

/**
 * Runs a route handler's body, turning the typed errors of the pieces it uses (an AdminError of a
 * name checked here, an InstanceError of the instance lookup) into the API's error.
 *
 * @example
 * app.openapi(route, (c) => apiErrors(async () => c.json(await listSomething(), 200)));
 */
export async function apiErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AdminError) throw new ApiError(ADMIN_ERROR_STATUS[error.code], error.code, error.message);
    if (error instanceof InstanceError) throw new ApiError(error.status, error.code, error.message, error.details);
    throw error;
  }
}

function timedOut(nodeId: string): Extract<AgentOutcome<unknown>, { ok: false }>['error'] {
  return { name: 'AgentTimeout', code: 'agent_timeout', message: `node ${nodeId} did not answer within ${ADMIN_REQUEST_TIMEOUT_MS} ms; is its agent running? Retry later` };
}

function failureOf(error: unknown): Extract<AgentOutcome<unknown>, { ok: false }>['error'] {
  const failure = error as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof failure.name === 'string' ? failure.name : 'Error',
    code: typeof failure.code === 'string' ? failure.code : null,
    message: typeof failure.message === 'string' ? failure.message : String(error),
  };
}
