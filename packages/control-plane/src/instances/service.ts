// The instance API's transactions, free of HTTP: validate, check quota and names, place, record, and enqueue the operation in the same commit.
import { AGENT_JOBS, agentQueue, agentVersion, type InitialUser, type ProvisionInput } from '@strata/agent';
import { isUniqueViolation, type Database, type Queryable } from '@strata/store';
import type { StrataClient, WorkflowStatusName } from '@strata/transact';
import { InstanceError } from './errors.js';
import { FLAVORS, findFlavor, flavorLimits, flavorSettings, type Flavor } from './flavors.js';
import { instanceNameProblem, newInstanceId, newOperationId, sqlNameProblem } from './names.js';
import { agentJobId } from './agent-call.js';
import { placeInstance } from './nodes.js';
import { OPERATIONS_QUEUE, OPERATION_WORKFLOWS, type LifecycleKind, type CreateOperationInput, type ResizeOperationInput, type SimpleOperationInput } from './operations.js';
import { parameterProblems } from './parameters.js';
import { recordInstanceUsers } from '../instance-admin/sql/instance-users.js';
import { MAX_REPLICAS } from '../replicas/contract.js';
import { planReplicas } from '../replicas/plan.js';
import {
  addEvent,
  beginOperation,
  findInstance,
  insertInstance,
  listEvents,
  listInstances,
  listReplicas,
  nameTaken,
  renameInstance,
  type InstanceEvent,
  type InstanceRow,
  type InstanceStatus,
  type OperationKind,
} from './sql.js';

/** Turns a password into a SCRAM-SHA-256 verifier (`scramVerifier` of @strata/postgres). */
export type VerifierFunction = (password: string) => string;
/** Checks that a tenant may add this much (`checkQuota` of the HTTP platform; throws `quota_exceeded`). */
export type QuotaCheck = (tx: Queryable, tenantId: string, add: { instances?: number; storageMb?: number; connections?: number }) => Promise<void>;

/** Appends the request's audit row inside the change's own transaction (`audited`'s `record`). */
export type RecordInTransaction = (tx: Queryable) => Promise<void>;

/** What the instance service needs. */
export interface InstanceServiceDeps {
  readonly db: Database;
  readonly client: StrataClient;
  readonly checkQuota: QuotaCheck;
  readonly scramVerifier: VerifierFunction;
  /** A node silent this long is not placed on (default 10 s). */
  readonly nodeStaleAfterMs?: number;
}

/** Most databases and users one create may ask for: a create is one call, not a bulk import. */
export const MAX_INITIAL_DATABASES = 16;
export const MAX_INITIAL_USERS = 16;
/** Password length bounds: short ones are guessable; SCRAM hashes any length, but a body has its limits. */
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 128;

/** A create request, as the API validated its shape. */
export interface CreateInstanceRequest {
  readonly name: string;
  readonly flavor: string;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly databases?: readonly string[];
  readonly users?: ReadonlyArray<{ readonly name: string; readonly password: string; readonly grants?: ReadonlyArray<{ readonly database: string; readonly privilege: 'all' | 'read' }> }>;
  /** Streaming read replicas made once the instance is ACTIVE (src/replicas/). */
  readonly replicas?: number;
  /** Commits wait for one replica to have them on disk. */
  readonly synchronous?: boolean;
}

/** The instance as the API shows it. */
export interface InstanceJson {
  readonly id: string;
  readonly name: string;
  readonly tenantId: string;
  readonly status: InstanceStatus;
  readonly flavor: string;
  readonly nodeId: string;
  readonly host: string | null;
  readonly port: number | null;
  readonly connectionString: string | null;
  readonly databases: string[];
  readonly error: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly currentOperation: { readonly workflowId: string; readonly kind: OperationKind } | null;
  /** `replica`: a read-only streaming standby of `replicaOf`. */
  readonly role: 'primary' | 'replica';
  readonly replicaOf: string | null;
  /** A primary whose commits wait for one of its replicas. */
  readonly synchronous: boolean;
  /** The instance this one was forked from (POST /v1/instances/{fork}/reset brings its present back). */
  readonly forkedFrom: string | null;
  /**
   * Scale to zero: `running`, `frozen` or `stopped` (suspended while idle, woken by its next
   * client) since `since`, with its wakes so far and how long the last took; null when its node
   * never suspended it (or the node's agent records no power states).
   */
  readonly power: { readonly state: 'running' | 'frozen' | 'stopped'; readonly since: string; readonly wakes: number; readonly lastWakeMs: number | null } | null;
}

/**
 * The API form of an instance: its connection string names the first user and database (no
 * password), and is null until the instance has a port.
 */
export function toInstanceJson(row: InstanceRow): InstanceJson {
  const user = row.defaultUser ?? 'postgres';
  const database = row.databases[0] ?? 'postgres';
  return {
    id: row.instanceId,
    name: row.name,
    tenantId: row.tenantId,
    status: row.status,
    flavor: row.flavor,
    nodeId: row.nodeId,
    host: row.host,
    port: row.port,
    connectionString: row.host !== null && row.port !== null ? `postgres://${user}@${row.host}:${row.port}/${database}` : null,
    databases: [...row.databases],
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    currentOperation: row.operationId !== null && row.operationKind !== null ? { workflowId: row.operationId, kind: row.operationKind } : null,
    role: row.replicaOf === null ? 'primary' : 'replica',
    replicaOf: row.replicaOf,
    synchronous: row.synchronous,
    forkedFrom: row.forkedFrom,
    power: row.power === null ? null : { state: row.power.state, since: row.power.since.toISOString(), wakes: row.power.wakes, lastWakeMs: row.power.lastWakeMs },
  };
}

/** The flavors as the API lists them. */
export function listFlavors(): Array<Flavor & { readonly settings: Record<string, string> }> {
  return FLAVORS.map((flavor) => ({ ...flavor, settings: flavorSettings(flavor) }));
}

/**
 * Creates an instance: validates the request, then in one transaction checks the quota and the
 * name, places it on a node, inserts it in BUILD and enqueues its create operation. Passwords
 * become SCRAM verifiers before anything is stored or enqueued. Returns the new row.
 *
 * @example
 * const row = await createInstance(deps, 'ten_1', { name: 'orders-db', flavor: 'small', databases: ['app'],
 *   users: [{ name: 'app', password: 's3cret-pass', grants: [{ database: 'app', privilege: 'all' }] }] });
 */
export async function createInstance(deps: InstanceServiceDeps, tenantId: string, request: CreateInstanceRequest, record?: RecordInTransaction): Promise<InstanceRow> {
  const flavor = validateCreate(request);
  const databases = [...(request.databases ?? [])];
  const users: InitialUser[] = (request.users ?? []).map((user) => ({
    name: user.name,
    verifier: deps.scramVerifier(user.password),
    grants: (user.grants ?? databases.map((database) => ({ database, privilege: 'all' as const }))).map((grant) => ({ database: grant.database, privilege: grant.privilege })),
  }));
  const parameters = { ...(request.parameters ?? {}) };
  const replicas = request.replicas ?? 0;
  const instanceId = newInstanceId();
  const operationId = newOperationId(instanceId, 'create');
  try {
    return await deps.db.transaction(async (tx) => {
      const copies = 1 + replicas;
      await deps.checkQuota(tx, tenantId, { instances: copies, storageMb: flavor.storageMb * copies, connections: flavor.maxConnections * copies });
      if (await nameTaken(tx, tenantId, request.name)) throw nameTakenError(request.name);
      const nodeId = await placeInstance(tx, flavor.memoryMb, deps.nodeStaleAfterMs);
      if (nodeId === undefined) {
        throw new InstanceError(503, 'no_capacity', `no live node has room for a ${flavor.name} instance (${flavor.memoryMb} MB); try a smaller flavor, delete an instance, or start another agent`);
      }
      const row = await insertInstance(tx, {
        instanceId,
        tenantId,
        name: request.name,
        flavor: flavor.name,
        memoryMb: flavor.memoryMb,
        maxConnections: flavor.maxConnections,
        storageMb: flavor.storageMb,
        nodeId,
        parameters,
        databases,
        defaultUser: users[0]?.name ?? null,
        operationId,
        synchronous: request.synchronous ?? false,
      });
      await addEvent(tx, instanceId, 'create_started', `create on node ${nodeId} (${flavor.name})`, operationId);
      const provision: ProvisionInput = { instanceId, settings: { ...flavorSettings(flavor), ...parameters }, limits: flavorLimits(flavor), databases, users };
      const input: CreateOperationInput = { instanceId, nodeId, provision };
      await recordInstanceUsers(tx, instanceId, users);
      await enqueueOperation(deps, tx, 'create', instanceId, operationId, input);
      // The node starts provisioning at this commit rather than after the create workflow is
      // dequeued; the workflow only waits for this job (callAgent's enqueuedWithWorkflow).
      await deps.client.enqueue({ workflow: AGENT_JOBS.provision, queue: agentQueue(nodeId), workflowId: agentJobId(operationId, AGENT_JOBS.provision), appVersion: agentVersion(nodeId), transaction: tx }, provision);
      // Its replicas wait for the create to end, then clone it.
      if (replicas > 0) await planReplicas(tx, deps.client, row, replicas, operationId);
      await record?.(tx);
      return row;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTakenError(request.name);
    throw error;
  }
}

/** Checks a create request's names, flavor, parameters, databases and users; returns its flavor. */
function validateCreate(request: CreateInstanceRequest): Flavor {
  const nameProblem = instanceNameProblem(request.name);
  if (nameProblem) throw new InstanceError(400, 'invalid_name', nameProblem);
  const flavor = findFlavor(request.flavor);
  if (!flavor) throw new InstanceError(400, 'unknown_flavor', `unknown flavor ${JSON.stringify(request.flavor)}; use one of ${FLAVORS.map((f) => f.name).join(', ')} (GET /v1/flavors)`);
  const problems = parameterProblems(request.parameters ?? {});
  const [first] = problems;
  if (first !== undefined) {
    throw new InstanceError(400, first.code, problems.map((p) => p.message).join('; '), { parameters: problems });
  }
  const replicas = request.replicas ?? 0;
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) throw new InstanceError(400, 'invalid_request', `replicas must be a whole number from 0 to ${MAX_REPLICAS}, got ${String(replicas)}`);
  if (request.synchronous === true && replicas === 0) throw new InstanceError(400, 'invalid_request', 'synchronous needs replicas: ask for at least one (replicas: 1), or add them later with POST /v1/instances/{instance}/replicas');
  const databases = request.databases ?? [];
  if (databases.length > MAX_INITIAL_DATABASES) throw new InstanceError(400, 'invalid_request', `at most ${MAX_INITIAL_DATABASES} databases per create; add more later`);
  const users = request.users ?? [];
  if (users.length > MAX_INITIAL_USERS) throw new InstanceError(400, 'invalid_request', `at most ${MAX_INITIAL_USERS} users per create; add more later`);
  for (const database of databases) {
    const problem = sqlNameProblem(database, 'database');
    if (problem) throw new InstanceError(400, 'invalid_name', problem);
  }
  if (new Set(databases).size !== databases.length) throw new InstanceError(400, 'invalid_request', 'databases lists a name twice; list each once');
  if (new Set(users.map((u) => u.name)).size !== users.length) throw new InstanceError(400, 'invalid_request', 'users lists a name twice; list each once');
  for (const user of users) {
    const problem = sqlNameProblem(user.name, 'user');
    if (problem) throw new InstanceError(400, 'invalid_name', problem);
    if (user.password.length < MIN_PASSWORD_LENGTH || user.password.length > MAX_PASSWORD_LENGTH) {
      throw new InstanceError(400, 'invalid_request', `the password of user "${user.name}" must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`);
    }
    for (const grant of user.grants ?? []) {
      if (!databases.includes(grant.database)) {
        throw new InstanceError(400, 'invalid_request', `user "${user.name}" is granted database "${grant.database}", which the create does not make; add it to databases`);
      }
    }
  }
  return flavor;
}

export function nameTakenError(name: string): InstanceError {
  return new InstanceError(409, 'name_taken', `an instance named "${name}" already exists in this tenant; choose another name or delete that one`);
}

/** Statuses from which each operation may start. */
const ALLOWED_FROM: Readonly<Record<Exclude<LifecycleKind, 'create'>, readonly InstanceStatus[]>> = {
  delete: ['ACTIVE', 'STOPPED', 'ERROR', 'RESTART_REQUIRED', 'UNKNOWN', 'FENCED'],
  stop: ['ACTIVE', 'RESTART_REQUIRED'],
  start: ['STOPPED'],
  restart: ['ACTIVE', 'RESTART_REQUIRED', 'STOPPED'],
  resize: ['ACTIVE', 'STOPPED', 'RESTART_REQUIRED'],
};

/**
 * Starts an operation on a tenant's instance (by ID or name): locks its row, refuses a busy
 * instance (`409 instance_busy`) or one in a status the operation cannot start from (`409
 * invalid_state`), marks it busy and enqueues the operation in the same commit.
 *
 * @example
 * const row = await startOperation(deps, 'ten_1', 'orders-db', 'restart');
 * const resized = await startOperation(deps, 'ten_1', 'orders-db', 'resize', { flavor: 'medium' });
 */
export async function startOperation(
  deps: InstanceServiceDeps,
  tenantId: string,
  ref: string,
  kind: Exclude<LifecycleKind, 'create'>,
  options: { readonly flavor?: string; readonly record?: RecordInTransaction } = {},
): Promise<InstanceRow> {
  const target = kind === 'resize' ? requireResizeFlavor(options.flavor) : undefined;
  return deps.db.transaction(async (tx) => {
    const row = await requireIdle(tx, tenantId, ref);
    if (!ALLOWED_FROM[kind].includes(row.status)) {
      throw new InstanceError(409, 'invalid_state', `cannot ${kind} instance "${row.name}" while it is ${row.status}; it can ${kind} from ${ALLOWED_FROM[kind].join(', ')}`);
    }
    if (kind === 'delete' || kind === 'resize') {
      const replicas = await listReplicas(tx, row.instanceId);
      if (replicas.length > 0) {
        throw new InstanceError(409, 'has_replicas', `instance "${row.name}" has replicas (${replicas.map((r) => r.name).join(', ')}); delete or detach them first (POST /v1/instances/{replica}/detach)`);
      }
    }
    if (kind === 'resize' && row.replicaOf !== null) {
      throw new InstanceError(409, 'is_replica', `instance "${row.name}" is a replica and runs its primary's flavor; detach it first to resize it`);
    }
    const operationId = newOperationId(row.instanceId, kind);
    let input: SimpleOperationInput | ResizeOperationInput = { instanceId: row.instanceId, nodeId: row.nodeId, priorStatus: row.status };
    if (target) {
      if (target.name === row.flavor) throw new InstanceError(400, 'same_flavor', `instance "${row.name}" is already ${row.flavor}; pick another flavor`);
      const grow = { storageMb: Math.max(0, target.storageMb - row.storageMb), connections: Math.max(0, target.maxConnections - row.maxConnections) };
      if (grow.storageMb > 0 || grow.connections > 0) await deps.checkQuota(tx, tenantId, grow);
      // The tenant's parameters go over the new flavor's settings again: the create's, then the overrides (a configuration group's).
      input = { ...input, fromFlavor: row.flavor, toFlavor: target.name, parameters: { ...row.parameters, ...row.parameterOverrides } };
    }
    const updated = await beginOperation(tx, row.instanceId, operationId, kind, kind === 'resize' ? 'RESIZE' : undefined);
    await addEvent(tx, row.instanceId, `${kind}_started`, target ? `resize from ${row.flavor} to ${target.name}` : `${kind} requested`, operationId);
    await enqueueOperation(deps, tx, kind, row.instanceId, operationId, input);
    await options.record?.(tx);
    return updated;
  });
}

function requireResizeFlavor(name: string | undefined): Flavor {
  const flavor = name === undefined ? undefined : findFlavor(name);
  if (!flavor) throw new InstanceError(400, 'unknown_flavor', `unknown flavor ${JSON.stringify(name)}; use one of ${FLAVORS.map((f) => f.name).join(', ')} (GET /v1/flavors)`);
  return flavor;
}

export async function requireIdle(tx: Queryable, tenantId: string, ref: string): Promise<InstanceRow> {
  const row = await requireInstance(tx, tenantId, ref, true);
  if (row.operationId !== null) {
    throw new InstanceError(409, 'instance_busy', `instance "${row.name}" is busy with ${row.operationKind} (workflow ${row.operationId}); wait until it finishes (GET /v1/instances/${row.instanceId})`, {
      currentOperation: { workflowId: row.operationId, kind: row.operationKind },
    });
  }
  return row;
}

/** A tenant's instance by ID or name; `404 not_found` (also for another tenant's). */
export async function requireInstance(db: Queryable, tenantId: string, ref: string, forUpdate = false): Promise<InstanceRow> {
  const row = await findInstance(db, tenantId, ref, forUpdate);
  if (!row) throw new InstanceError(404, 'not_found', `no instance "${ref}" in this tenant; list them with GET /v1/instances`);
  return row;
}

/**
 * Renames an instance (in place: no node is involved, so the new name is visible at once);
 * `409 name_taken` when the tenant has one of that name.
 */
export async function renameInstanceTo(deps: InstanceServiceDeps, tenantId: string, ref: string, name: string, record?: RecordInTransaction): Promise<InstanceRow> {
  const problem = instanceNameProblem(name);
  if (problem) throw new InstanceError(400, 'invalid_name', problem);
  try {
    return await deps.db.transaction(async (tx) => {
      const row = await requireInstance(tx, tenantId, ref, true);
      if (row.name === name) return row;
      if (await nameTaken(tx, tenantId, name, row.instanceId)) throw nameTakenError(name);
      const renamed = await renameInstance(tx, row.instanceId, name);
      await addEvent(tx, row.instanceId, 'renamed', `renamed from "${row.name}" to "${name}"`);
      await record?.(tx);
      return renamed;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw nameTakenError(name);
    throw error;
  }
}

/** A tenant's instances. */
export function listTenantInstances(deps: Pick<InstanceServiceDeps, 'db'>, tenantId: string): Promise<InstanceRow[]> {
  return listInstances(deps.db, tenantId);
}

/** Most operations and events one listing returns. */
export const MAX_LISTED_OPERATIONS = 100;

/** One operation of an instance, as the workflow it is. */
export interface OperationJson {
  readonly workflowId: string;
  readonly kind: string;
  readonly status: WorkflowStatusName;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** An instance's operations (newest first) and events (oldest first). */
export async function instanceHistory(deps: Pick<InstanceServiceDeps, 'db' | 'client'>, tenantId: string, ref: string): Promise<{ operations: OperationJson[]; events: InstanceEvent[] }> {
  const row = await requireInstance(deps.db, tenantId, ref);
  const page = await deps.client.workflows.list({ attributes: { instanceId: row.instanceId }, limit: MAX_LISTED_OPERATIONS, order: 'newest' });
  const operations = page.workflows.map((workflow) => ({
    workflowId: workflow.workflowId,
    kind: workflow.attributes.kind ?? workflow.name,
    status: workflow.status,
    createdAt: workflow.createdAt.toISOString(),
    updatedAt: workflow.updatedAt.toISOString(),
  }));
  return { operations, events: await listEvents(deps.db, row.instanceId, MAX_LISTED_OPERATIONS) };
}

async function enqueueOperation(deps: InstanceServiceDeps, tx: Queryable, kind: LifecycleKind, instanceId: string, operationId: string, input: unknown): Promise<void> {
  await deps.client.enqueue({ workflow: OPERATION_WORKFLOWS[kind], queue: OPERATIONS_QUEUE, workflowId: operationId, attributes: { instanceId, kind }, transaction: tx }, input);
}
