// The instance-admin changes as durable control-plane workflows: an agent.admin job, then what the control plane records of it; and attaching a configuration group (agent.reconfigure, then RESTART_REQUIRED when needed).
import { AGENT_JOBS, type AdminAction, type AdminResult, type ReconfigureOutput } from '@strata/agent';
import type { Database, Queryable } from '@strata/store';
import type { Strata, StrataClient, Workflow, WorkflowContext } from '@strata/transact';
import { callAgent, type AgentOutcome } from '../instances/agent-call.js';
import { addEvent, finishOperation, type InstanceStatus } from '../instances/sql.js';
import { setAttachedGroup } from './sql/config-groups.js';
import {
  deleteInstanceUser,
  forgetDatabaseGrants,
  recordInstanceUsers,
  setInstanceDatabase,
  setInstanceUserGrant,
  setInstanceUserVerifier,
} from './sql/instance-users.js';

/** The workflow names of the instance-admin changes. */
export const ADMIN_WORKFLOWS = {
  /** One changing admin action (databases, users, passwords, grants) and its record. */
  action: 'cloud.instance.admin',
  /** Attaching or detaching a configuration group: an operation on the instance. */
  configure: 'cloud.instance.configure',
} as const;

/** Input of {@link ADMIN_WORKFLOWS.action}: the action (verifiers only, never a password) and the node that runs it. */
export interface AdminActionInput {
  readonly nodeId: string;
  readonly action: AdminAction;
}

/** Input of {@link ADMIN_WORKFLOWS.configure}. */
export interface ConfigureInput {
  readonly instanceId: string;
  readonly nodeId: string;
  /** The group to attach, or null to detach. */
  readonly groupId: string | null;
  /** Settings merged over the instance's (a detach sends the values the group's parameters go back to). */
  readonly settings: Readonly<Record<string, string>>;
  /** The status before the operation: a stopped instance stays STOPPED (its next start applies the settings). */
  readonly priorStatus: InstanceStatus;
}

/** The outcome of a configure: the instance's status after it, and which settings wait for a restart. */
export type ConfigureOutcome = AgentOutcome<{ readonly status: InstanceStatus; readonly restartRequired: readonly string[] }>;

/** What the workflows need. */
export interface AdminWorkflowDeps {
  readonly db: Database;
  readonly client: StrataClient;
}

/** The registered workflows, to start them. */
export interface AdminWorkflows {
  readonly action: Workflow<[AdminActionInput], AgentOutcome<AdminResult>>;
  readonly configure: Workflow<[ConfigureInput], ConfigureOutcome>;
}

const registered = new WeakMap<Strata, AdminWorkflows>();

/**
 * Registers the instance-admin workflows on the control plane's engine (before `launch()`); a
 * second call for the same engine does nothing.
 *
 * @example
 * const workflows = registerAdminWorkflows(strata, { db, client });
 * await strata.launch();
 * const outcome = await workflows.action.run({ nodeId, action: { kind: 'createDatabase', instanceId, database: 'app' } });
 */
export function registerAdminWorkflows(strata: Strata, deps: AdminWorkflowDeps): AdminWorkflows {
  const existing = registered.get(strata);
  if (existing !== undefined) return existing;
  const workflows: AdminWorkflows = {
    action: strata.workflow(ADMIN_WORKFLOWS.action, (ctx, input: AdminActionInput) => adminAction(ctx, deps, input)),
    configure: strata.workflow(ADMIN_WORKFLOWS.configure, (ctx, input: ConfigureInput) => configure(ctx, deps, input)),
  };
  registered.set(strata, workflows);
  return workflows;
}

/**
 * Runs the action on the instance's node, then records its effect (users, verifiers, grants, the
 * instance's database list) in one transaction. A failed action records nothing; the outcome is
 * returned as data, so a refusal (a bad name) is a finished workflow, not a failed one.
 */
async function adminAction(ctx: WorkflowContext, deps: AdminWorkflowDeps, input: AdminActionInput): Promise<AgentOutcome<AdminResult>> {
  const outcome = await callAgent<AdminAction, AdminResult>(ctx, deps.client, { nodeId: input.nodeId, job: AGENT_JOBS.admin, input: input.action, label: input.action.kind });
  if (outcome.ok) await ctx.step('record', () => deps.db.transaction((tx) => recordAction(tx, input.action)));
  return outcome;
}

/** What the control plane keeps of a successful action (the instance itself is the truth of the rest). */
async function recordAction(tx: Queryable, action: AdminAction): Promise<void> {
  switch (action.kind) {
    case 'createDatabase':
      return setInstanceDatabase(tx, action.instanceId, action.database, true);
    case 'dropDatabase':
      await setInstanceDatabase(tx, action.instanceId, action.database, false);
      return forgetDatabaseGrants(tx, action.instanceId, action.database);
    case 'createUser':
      return recordInstanceUsers(tx, action.instanceId, [{ name: action.user, verifier: action.verifier, grants: [] }]);
    case 'dropUser':
      return deleteInstanceUser(tx, action.instanceId, action.user);
    case 'setPassword':
      return setInstanceUserVerifier(tx, action.instanceId, action.user, action.verifier);
    case 'grant':
      return setInstanceUserGrant(tx, action.instanceId, action.user, action.database, action.privilege);
    case 'revoke':
      return setInstanceUserGrant(tx, action.instanceId, action.user, action.database, null);
    case 'listDatabases':
    case 'listUsers':
    case 'logTail':
    case 'settingsCatalogue':
      return;
  }
}

/**
 * Applies a group's settings (or takes them back) on the node, then ends the operation: the group
 * is recorded as attached, and a running instance whose changed settings need a restart becomes
 * RESTART_REQUIRED (until a restart). A failure leaves the attachment as it was.
 */
async function configure(ctx: WorkflowContext, deps: AdminWorkflowDeps, input: ConfigureInput): Promise<ConfigureOutcome> {
  const outcome = await callAgent<unknown, ReconfigureOutput>(ctx, deps.client, {
    nodeId: input.nodeId,
    job: AGENT_JOBS.reconfigure,
    input: { instanceId: input.instanceId, settings: input.settings },
  });
  const running = input.priorStatus === 'ACTIVE' || input.priorStatus === 'RESTART_REQUIRED';
  const restartRequired = outcome.ok ? outcome.output.restartRequired : [];
  const status: InstanceStatus = outcome.ok && running && restartRequired.length > 0 ? 'RESTART_REQUIRED' : input.priorStatus;
  const what = input.groupId === null ? 'configuration group detached' : `configuration group ${input.groupId} attached`;
  await ctx.step('finish', () =>
    deps.db.transaction(async (tx) => {
      if (outcome.ok) await setAttachedGroup(tx, input.instanceId, input.groupId);
      const error = outcome.ok ? null : `configure failed: ${outcome.error.message}`;
      if (await finishOperation(tx, input.instanceId, ctx.workflowId, { status, error })) {
        const message = outcome.ok
          ? `${what}${restartRequired.length > 0 ? `; ${restartRequired.join(', ')} take effect at the next restart` : ''}`
          : (error ?? 'configure failed');
        await addEvent(tx, input.instanceId, outcome.ok ? 'configured' : 'configure_failed', message, ctx.workflowId);
      }
    }),
  );
  return outcome.ok ? { ok: true, output: { status, restartRequired } } : outcome;
}
