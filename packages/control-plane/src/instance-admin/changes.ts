// One audited change inside an instance: a control-plane workflow (the agent job, then its record), awaited by the request.
import { randomUUID } from 'node:crypto';
import type { AdminAction, AdminActionKind, AdminResult, AdminResults } from '@strata/agent';
import { WaitTimeoutError } from '@strata/transact';
import type { Context } from 'hono';
import { audited } from '../audit/audited.js';
import { ApiError } from '../http/errors.js';
import type { ApiDeps, ApiEnv } from '../http/types.js';
import type { AgentOutcome } from '../instances/agent-call.js';
import type { InstanceRow } from '../instances/sql.js';
import { ADMIN_REQUEST_TIMEOUT_MS, adminApiError } from './agent-admin.js';
import type { CatalogueCache } from './catalogue.js';
import type { AdminWorkflows } from './workflows.js';

/** What the instance-admin routes work with: the platform's deps, the registered workflows, the catalogue cache. */
export interface AdminRouteDeps extends ApiDeps {
  readonly workflows: AdminWorkflows;
  readonly catalogues: CatalogueCache;
}

/**
 * Runs a changing admin action as a durable workflow and returns its output, with an audit row
 * (`action` on `target`) for its outcome. The action's own refusals (a bad name, a missing user)
 * answer with their code and status; a request that outlives {@link ADMIN_REQUEST_TIMEOUT_MS}
 * answers `503 agent_unavailable` while the workflow goes on.
 *
 * @example
 * const created = await runChange(c, deps, instance, { kind: 'createDatabase', instanceId, database: 'app' }, 'databases.create', `${instanceId}/app`);
 */
export function runChange<K extends AdminActionKind>(
  c: Context<ApiEnv>,
  deps: AdminRouteDeps,
  instance: InstanceRow,
  action: Extract<AdminAction, { kind: K }>,
  auditAction: string,
  target: string,
): Promise<AdminResults[K]> {
  return audited(c, auditAction, target, async () => {
    const workflowId = `admin-${instance.instanceId}-${action.kind}-${randomUUID()}`;
    const handle = await deps.workflows.action.with({ workflowId }).start({ nodeId: instance.nodeId, action });
    let outcome: AgentOutcome<AdminResult>;
    try {
      outcome = await handle.result({ timeoutMs: ADMIN_REQUEST_TIMEOUT_MS });
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        throw new ApiError(503, 'agent_unavailable', `node ${instance.nodeId} did not finish ${action.kind} within ${ADMIN_REQUEST_TIMEOUT_MS} ms; it goes on as workflow ${workflowId} — check again later`);
      }
      throw error;
    }
    if (!outcome.ok) throw adminApiError(outcome.error);
    return outcome.output as AdminResults[K];
  });
}
