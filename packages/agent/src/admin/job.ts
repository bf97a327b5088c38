// The `agent.admin` job: one AdminAction on one instance of this node, run as strata_admin over the instance's private socket.
import type { ManagedCluster } from '@strata/postgres';
import type { Strata, WorkflowContext } from '@strata/transact';
import { AGENT_JOBS } from '../contract.js';
import { withAwake, type JobHost } from '../jobs/jobs.js';
import { getNodeInstance } from '../sql/node-instances.js';
import { ADMIN_ACTION_KINDS, type AdminAction, type AdminResult } from './actions.js';
import { createDatabase, dropDatabase, listDatabases } from './databases.js';
import { logTail, settingsCatalogue } from './diagnostics.js';
import { AdminError } from './errors.js';
import { grant, revoke } from './grants.js';
import { createUser, dropUser, listUsers, setPassword } from './users.js';

/**
 * Tries of an admin action. A connection to an instance can fail once while its server is
 * restarting or under load; actions are idempotent, so a retry is safe. An AdminError (a bad
 * name, a missing user) is never retried: it would fail the same way.
 */
const ADMIN_STEP_RETRY = {
  maxAttempts: 3,
  intervalMs: 200,
  backoffFactor: 2,
  retryIf: (error: unknown) => !(error instanceof AdminError),
} as const;

/**
 * Registers the `agent.admin` job on the agent's engine (before `launch()`), next to the
 * lifecycle jobs of `registerJobs`.
 *
 * @example
 * registerJobs(strata, host);
 * registerAdminJob(strata, host);
 * await strata.launch();
 * // control plane: callAgent(…, AGENT_JOBS.admin, { kind: 'listDatabases', instanceId })
 */
export function registerAdminJob(strata: Strata, host: JobHost): void {
  strata.workflow(AGENT_JOBS.admin, (ctx: WorkflowContext, action: AdminAction) => runAdminJob(ctx, host, action));
}

/** The job's body: checks the action's kind, then runs it as one step. */
async function runAdminJob(ctx: WorkflowContext, host: JobHost, action: AdminAction): Promise<AdminResult> {
  if (action === null || typeof action !== 'object' || !ADMIN_ACTION_KINDS.includes(action.kind)) {
    throw new TypeError(`agent.admin needs an AdminAction ({ kind, instanceId, … }) with kind one of ${ADMIN_ACTION_KINDS.join(', ')}`);
  }
  // A suspended instance is woken (and held) for the action.
  return ctx.step(action.kind, () => withAwake(host, [action.instanceId], AGENT_JOBS.admin, async () => runAdminAction(await openInstance(host, action.instanceId), action)), { retry: ADMIN_STEP_RETRY });
}

/**
 * Runs one admin action on a cluster (the job's step; also usable directly in tests and tools).
 *
 * @example
 * await runAdminAction(cluster, { kind: 'createDatabase', instanceId, database: 'app' }); // { database: 'app', created: true }
 */
export async function runAdminAction(cluster: ManagedCluster, action: AdminAction): Promise<AdminResult> {
  switch (action.kind) {
    case 'createDatabase':
      return createDatabase(cluster, action.database);
    case 'dropDatabase':
      return dropDatabase(cluster, action.database);
    case 'listDatabases':
      return listDatabases(cluster);
    case 'createUser':
      return createUser(cluster, action.user, action.verifier);
    case 'dropUser':
      return dropUser(cluster, action.user);
    case 'listUsers':
      return listUsers(cluster);
    case 'setPassword':
      return setPassword(cluster, action.user, action.verifier);
    case 'grant':
      if (action.privilege !== 'all' && action.privilege !== 'read') {
        throw new AdminError('invalid_privilege', `privilege must be 'all' or 'read', got ${JSON.stringify(action.privilege)}`);
      }
      return grant(cluster, action.user, action.database, action.privilege);
    case 'revoke':
      return revoke(cluster, action.user, action.database);
    case 'logTail':
      return logTail(cluster, action.lines);
    case 'settingsCatalogue':
      return settingsCatalogue(cluster);
    default: {
      const unknown: never = action;
      throw new TypeError(`unknown admin action ${JSON.stringify(unknown)}`);
    }
  }
}

/** The instance's cluster on this node (it must be running for SQL; the statement fails clearly otherwise). */
async function openInstance(host: JobHost, instanceId: string): Promise<ManagedCluster> {
  const row = await getNodeInstance(host.db, host.nodeId, instanceId);
  if (row === undefined) {
    throw new AdminError('instance_not_on_node', `instance ${instanceId} has no cluster on node ${host.nodeId}; wait until it is ACTIVE`);
  }
  return host.files.open(instanceId, row.port, row.spec.settings);
}
