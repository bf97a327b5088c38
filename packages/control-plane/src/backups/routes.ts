// backupsModule: the backup routes (/v1/instances/{instance}/backups…, /v1/backups/{backup}, restore, fork, restore points, policy) on the control plane's OpenAPI app.
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ApiError, audited, checkQuota, errorResponses, jsonBody, requireRole, type ApiDeps, type ApiEnv, type ApiModule } from '../http/index.js';
import { InstanceError } from '../instances/errors.js';
import { InstanceRefParams, InstanceSchema } from '../instances/schemas.js';
import { toInstanceJson } from '../instances/service.js';
import { BackupError } from './errors.js';
import {
  BackupListSchema,
  BackupPolicyBody,
  BackupPolicySchema,
  BackupRefParams,
  BackupSchema,
  BackupSourceListSchema,
  CreateBackupBody,
  ForkBody,
  ListBackupSourcesQuery,
  ListBackupsQuery,
  RestoreBody,
  RestoreInPlaceBody,
  RestorePointBody,
  RestorePointListSchema,
  RestorePointSchema,
  VerifyAcceptedSchema,
  VerifyBody,
} from './schemas.js';
import {
  backupInstance,
  backupPolicyOf,
  createRestorePoint,
  deleteBackupOf,
  instanceBackups,
  requireBackup,
  restoreInPlace,
  restoreInstance,
  restorePointsOf,
  setBackupPolicy,
  verifyBackups,
  type BackupServiceDeps,
} from './service.js';
import { resetFork } from './reset.js';
import { backupSources } from './sources.js';
import type { BackupRow, BackupSourceRow, RestorePointRow } from './sql.js';
import { registerBackupOperations } from './workflows.js';

const TAG = 'Backups';
const json = <T extends z.ZodTypeAny>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const routes = {
  sources: createRoute({
    method: 'get', path: '/v1/backups', tags: [TAG],
    summary: 'Instances that have completed backups, with their restore windows; ?deleted=true: the deleted ones, whose backups can still be restored (by instance ID)',
    request: { query: ListBackupSourcesQuery }, responses: { 200: json(BackupSourceListSchema, 'instances with backups'), ...errorResponses(401) },
  }),
  list: createRoute({
    method: 'get', path: '/v1/instances/{instance}/backups', tags: [TAG], summary: "An instance's backups, newest first (a deleted instance's too, by its ID)",
    request: { params: InstanceRefParams, query: ListBackupsQuery }, responses: { 200: json(BackupListSchema, 'backups'), ...errorResponses(401, 404) },
  }),
  create: createRoute({
    method: 'post', path: '/v1/instances/{instance}/backups', tags: [TAG], summary: 'Take a backup now (returns at once, status RUNNING)',
    request: { params: InstanceRefParams, body: jsonBody(CreateBackupBody) }, responses: { 202: json(BackupSchema, 'the backup, RUNNING'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  show: createRoute({
    method: 'get', path: '/v1/backups/{backup}', tags: [TAG], summary: 'Show a backup',
    request: { params: BackupRefParams }, responses: { 200: json(BackupSchema, 'the backup'), ...errorResponses(401, 404) },
  }),
  delete: createRoute({
    method: 'delete', path: '/v1/backups/{backup}', tags: [TAG], summary: "Delete a backup (with the differentials and incrementals built on it). A live instance's last full backup is refused (409 last_full_backup); a deleted instance's takes its whole history",
    request: { params: BackupRefParams }, responses: { 202: json(BackupSchema, 'the backup, DELETING'), ...errorResponses(401, 403, 404, 409) },
  }),
  policy: createRoute({
    method: 'get', path: '/v1/instances/{instance}/backup-policy', tags: [TAG], summary: "An instance's backup schedule and retention",
    request: { params: InstanceRefParams }, responses: { 200: json(BackupPolicySchema, 'the policy'), ...errorResponses(401, 404) },
  }),
  setPolicy: createRoute({
    method: 'put', path: '/v1/instances/{instance}/backup-policy', tags: [TAG], summary: "Set an instance's backup schedule (a cron expression) and retention",
    request: { params: InstanceRefParams, body: jsonBody(BackupPolicyBody) }, responses: { 200: json(BackupPolicySchema, 'the policy'), ...errorResponses(400, 401, 403, 404) },
  }),
  restorePoints: createRoute({
    method: 'get', path: '/v1/instances/{instance}/restore-points', tags: [TAG], summary: "An instance's restore points, newest first (a deleted instance's too, by its ID)",
    request: { params: InstanceRefParams }, responses: { 200: json(RestorePointListSchema, 'restore points'), ...errorResponses(401, 404) },
  }),
  createRestorePoint: createRoute({
    method: 'post', path: '/v1/instances/{instance}/restore-points', tags: [TAG], summary: 'Name the present moment of an instance (PENDING, then CREATED once archived)',
    request: { params: InstanceRefParams, body: jsonBody(RestorePointBody) }, responses: { 202: json(RestorePointSchema, 'the restore point, PENDING'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  verify: createRoute({
    method: 'post', path: '/v1/instances/{instance}/backups/verify', tags: [TAG], summary: "Verify an instance's backups (checksums; optionally a test restore); the outcome is an instance event",
    request: { params: InstanceRefParams, body: jsonBody(VerifyBody) }, responses: { 202: json(VerifyAcceptedSchema, 'the verification started'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  restore: createRoute({
    method: 'post', path: '/v1/instances/{instance}/restore', tags: [TAG],
    summary: 'Restore into a new instance: to a backup, a moment (point-in-time), a restore point, or the latest archived state; the source may be a deleted instance (by ID), restorable up to its deletion',
    request: { params: InstanceRefParams, body: jsonBody(RestoreBody) }, responses: { 202: json(InstanceSchema, 'the new instance, in BUILD'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  restoreInPlace: createRoute({
    method: 'post', path: '/v1/instances/{instance}/restore-in-place', tags: [TAG],
    summary: 'Restore an instance in place to a backup, a moment or a restore point (RESTORING, then ACTIVE; same address and name)',
    request: { params: InstanceRefParams, body: jsonBody(RestoreInPlaceBody) }, responses: { 202: json(InstanceSchema, 'the instance, RESTORING'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  reset: createRoute({
    method: 'post', path: '/v1/instances/{instance}/reset', tags: [TAG],
    summary: "Reset a fork to its parent's present (RESTORING, then ACTIVE at the same address); its backup history starts anew",
    request: { params: InstanceRefParams }, responses: { 202: json(InstanceSchema, 'the fork, RESTORING'), ...errorResponses(401, 403, 404, 409) },
  }),
  fork: createRoute({
    method: 'post', path: '/v1/instances/{instance}/fork', tags: [TAG], summary: "A new instance from another's present state (or a past moment), in one call",
    request: { params: InstanceRefParams, body: jsonBody(ForkBody) }, responses: { 202: json(InstanceSchema, 'the fork, in BUILD'), ...errorResponses(400, 401, 403, 404, 409) },
  }),
};

/** A backup as the API shows it. */
export function toBackupJson(row: BackupRow): z.infer<typeof BackupSchema> {
  const iso = (value: Date | null) => (value === null ? null : value.toISOString());
  return {
    id: row.backupId,
    instanceId: row.instanceId,
    type: row.type,
    trigger: row.trigger,
    status: row.status,
    label: row.label,
    priorLabel: row.priorLabel,
    startedAt: iso(row.startedAt),
    stoppedAt: iso(row.stoppedAt),
    restorableFrom: iso(row.restorableFrom),
    sizeBytes: row.sizeBytes,
    storedBytes: row.storedBytes,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function toBackupSourceJson(row: BackupSourceRow): z.infer<typeof BackupSourceListSchema>['instances'][number] {
  const iso = (value: Date | null) => (value === null ? null : value.toISOString());
  return {
    id: row.instanceId,
    name: row.name,
    status: row.status,
    flavor: row.flavor,
    deletedAt: iso(row.deletedAt),
    backups: row.backups,
    lastBackupAt: iso(row.lastBackupAt),
    restorableFrom: iso(row.restorableFrom),
    restorableUntil: iso(row.deletedAt),
  };
}

function toRestorePointJson(row: RestorePointRow): z.infer<typeof RestorePointSchema> {
  return { name: row.name, status: row.status, createdAt: row.createdAt.toISOString(), madeAt: row.madeAt?.toISOString() ?? null, error: row.error };
}

/** Runs a handler body, turning a {@link BackupError} or InstanceError into the platform's ApiError. */
async function handled<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof BackupError) throw new ApiError(error.status, error.code, error.message);
    if (error instanceof InstanceError) throw new ApiError(error.status, error.code, error.message, error.details);
    throw error;
  }
}

/**
 * The backup routes; also registers the backup workflows on the engine and makes every new
 * instance take its first backup (apply it with the instances module, before the engine launches).
 *
 * @example
 * await createControlPlane({ database, listen: { host: '127.0.0.1', port: 8080 }, modules: [instancesModule, backupsModule] });
 */
export const backupsModule: ApiModule = (app: OpenAPIHono<ApiEnv>, deps: ApiDeps) => {
  registerBackupOperations(deps.strata, { db: deps.db, client: deps.client, strata: deps.strata });
  const service: BackupServiceDeps & { checkQuota: typeof checkQuota } = { db: deps.db, client: deps.client, strata: deps.strata, checkQuota };
  const tenantOf = (c: Context<ApiEnv>) => c.get('principal').tenantId;

  app.openapi(routes.sources, async (c) => {
    const { deleted } = c.req.valid('query');
    const listed = await backupSources(service, tenantOf(c), deleted === undefined ? undefined : deleted === 'true');
    return c.json({ instances: listed.map(toBackupSourceJson) }, 200);
  });

  app.openapi(routes.list, async (c) => {
    const { instance } = c.req.valid('param');
    const { all } = c.req.valid('query');
    const listed = await handled(() => instanceBackups(service, tenantOf(c), instance, all === 'true'));
    return c.json({ backups: listed.backups.map(toBackupJson), restorableFrom: listed.restorableFrom?.toISOString() ?? null, restorableUntil: listed.restorableUntil?.toISOString() ?? null }, 200);
  });

  app.openapi(routes.create, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const { type } = c.req.valid('json');
    const row = await audited(c, 'backups.create', instance, (record) => handled(() => backupInstance(service, tenantOf(c), instance, type, record)));
    return c.json(toBackupJson(row), 202);
  });

  app.openapi(routes.show, async (c) => {
    const { backup } = c.req.valid('param');
    return c.json(toBackupJson(await handled(() => requireBackup(deps.db, tenantOf(c), backup))), 200);
  });

  app.openapi(routes.delete, async (c) => {
    requireRole(c, 'member');
    const { backup } = c.req.valid('param');
    const row = await audited(c, 'backups.delete', backup, (record) => handled(() => deleteBackupOf(service, tenantOf(c), backup, record)));
    return c.json(toBackupJson(row), 202);
  });

  app.openapi(routes.policy, async (c) => {
    const { instance } = c.req.valid('param');
    return c.json(await handled(() => backupPolicyOf(service, tenantOf(c), instance)), 200);
  });

  app.openapi(routes.setPolicy, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const body = c.req.valid('json');
    const policy = await audited(c, 'backups.policy', instance, (record) => handled(() => setBackupPolicy(service, tenantOf(c), instance, body, record)));
    return c.json(policy, 200);
  });

  app.openapi(routes.restorePoints, async (c) => {
    const { instance } = c.req.valid('param');
    return c.json({ restorePoints: (await handled(() => restorePointsOf(service, tenantOf(c), instance))).map(toRestorePointJson) }, 200);
  });

  app.openapi(routes.createRestorePoint, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const { name } = c.req.valid('json');
    const point = await audited(c, 'backups.restore-point', instance, (record) => handled(() => createRestorePoint(service, tenantOf(c), instance, name, record)));
    return c.json(toRestorePointJson(point), 202);
  });

  app.openapi(routes.verify, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const { restoreTest } = c.req.valid('json');
    const workflowId = await audited(c, 'backups.verify', instance, (record) => handled(() => verifyBackups(service, tenantOf(c), instance, restoreTest, record)));
    return c.json({ workflowId }, 202);
  });

  app.openapi(routes.restoreInPlace, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const body = c.req.valid('json');
    const row = await audited(c, 'instances.restore-in-place', instance, (record) => handled(() => restoreInPlace(service, tenantOf(c), instance, body, record)));
    return c.json(toInstanceJson(row), 202);
  });

  app.openapi(routes.reset, async (c) => {
    requireRole(c, 'member');
    const { instance } = c.req.valid('param');
    const row = await audited(c, 'instances.reset', instance, (record) => handled(() => resetFork(service, tenantOf(c), instance, record)));
    return c.json(toInstanceJson(row), 202);
  });

  for (const kind of ['restore', 'fork'] as const) {
    app.openapi(kind === 'restore' ? routes.restore : routes.fork, async (c) => {
      requireRole(c, 'member');
      const { instance } = c.req.valid('param');
      const body = c.req.valid('json');
      const row = await audited(c, `instances.${kind}`, instance, (record) => handled(() => restoreInstance(service, tenantOf(c), instance, body, kind, record)));
      return c.json(toInstanceJson(row), 202);
    });
  }
};
