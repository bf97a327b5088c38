// The zod schemas of the instance routes: the handlers validate with them and the OpenAPI document is generated from them.
import { z } from '@hono/zod-openapi';
import { MAX_INITIAL_DATABASES, MAX_INITIAL_USERS, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './service.js';
import { INSTANCE_STATUSES, OPERATION_KINDS } from './sql.js';
import { MAX_REPLICAS } from '../replicas/contract.js';

/** Longest name or parameter value accepted in a body (names are shorter still; this bounds the work). */
const MAX_TEXT_LENGTH = 256;
/** Most parameters one create may set. */
const MAX_PARAMETERS = 64;

/** Longest one `GET /v1/instances/{instance}/wait` holds the request (a client waiting longer asks again). */
export const MAX_WAIT_MS = 60_000;

/** Query of the wait route: how long to hold the request at most. */
export const WaitQuery = z.object({
  timeoutMs: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_WAIT_MS)
    .default(30_000)
    .openapi({ param: { name: 'timeoutMs', in: 'query' }, description: `How long to wait at most, 1 to ${MAX_WAIT_MS} ms (default 30000)`, example: 30_000 }),
});

export const InstanceRefParams = z.object({
  instance: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ param: { name: 'instance', in: 'path' }, description: 'Instance ID (ins_…) or name', example: 'orders-db' }),
});

export const GrantSchema = z.object({
  database: z.string().min(1).max(MAX_TEXT_LENGTH),
  privilege: z.enum(['all', 'read']),
}).strict();

export const CreateInstanceBody = z
  .object({
    name: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ description: 'A DNS label, unique in the tenant', example: 'orders-db' }),
    flavor: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ description: 'tiny, small, medium or large (GET /v1/flavors)', example: 'small' }),
    parameters: z
      .record(z.string(), z.string().max(MAX_TEXT_LENGTH))
      .refine((value) => Object.keys(value).length <= MAX_PARAMETERS, { message: `at most ${MAX_PARAMETERS} parameters` })
      .optional()
      .openapi({ description: 'PostgreSQL parameters (a safe subset; memory and connections come from the flavor)', example: { statement_timeout: '30s' } }),
    databases: z.array(z.string().min(1).max(MAX_TEXT_LENGTH)).max(MAX_INITIAL_DATABASES).optional().openapi({ example: ['app'] }),
    users: z
      .array(
        z.object({
          name: z.string().min(1).max(MAX_TEXT_LENGTH),
          password: z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH).openapi({ description: 'Stored only as a SCRAM-SHA-256 verifier' }),
          grants: z.array(GrantSchema).max(MAX_INITIAL_DATABASES).optional().openapi({ description: "Default: 'all' on every database of the create" }),
        }).strict(),
      )
      .max(MAX_INITIAL_USERS)
      .optional(),
    replicas: z.number().int().min(0).max(MAX_REPLICAS).optional().openapi({ description: `Streaming read replicas, made once the instance is ACTIVE (0 to ${MAX_REPLICAS}; default 0)`, example: 1 }),
    synchronous: z.boolean().optional().openapi({ description: 'Commits wait until one replica has them on disk (needs replicas)', example: false }),
  })
  .strict()
  .openapi('CreateInstance');

export const AddReplicasBody = z
  .object({
    count: z.number().int().min(1).max(MAX_REPLICAS).optional().openapi({ description: `How many to add (default 1; at most ${MAX_REPLICAS} per primary)`, example: 1 }),
    synchronous: z.boolean().optional().openapi({ description: "Sets the primary's mode: commits wait for one replica (true) or none (false)", example: true }),
  })
  .strict()
  .openapi('AddReplicas');

export const RenameInstanceBody = z.object({ name: z.string().min(1).max(MAX_TEXT_LENGTH) }).strict().openapi('RenameInstance');

export const ResizeInstanceBody = z.object({ flavor: z.string().min(1).max(MAX_TEXT_LENGTH) }).strict().openapi('ResizeInstance');

export const InstanceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    tenantId: z.string(),
    status: z.enum(INSTANCE_STATUSES),
    flavor: z.string(),
    nodeId: z.string(),
    host: z.string().nullable(),
    port: z.number().int().nullable(),
    connectionString: z.string().nullable().openapi({ example: 'postgres://app@127.0.0.1:54012/app' }),
    databases: z.array(z.string()),
    error: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    currentOperation: z.object({ workflowId: z.string(), kind: z.enum(OPERATION_KINDS) }).nullable(),
    role: z.enum(['primary', 'replica']).openapi({ description: 'A replica is a read-only streaming standby of replicaOf' }),
    replicaOf: z.string().nullable(),
    synchronous: z.boolean().openapi({ description: "A primary whose commits wait for one of its replicas" }),
    forkedFrom: z.string().nullable().openapi({ description: 'The instance this one was forked from (a fork can be reset to its present)' }),
    power: z
      .object({
        state: z.enum(['running', 'frozen', 'stopped']).openapi({ description: "running; frozen (suspended while idle: processes stopped, memory kept); stopped (suspended while idle: shut down). A suspended instance is woken by its next client's connection" }),
        since: z.string().openapi({ description: 'When it entered this state' }),
        wakes: z.number().int().openapi({ description: 'Wakes from a suspension so far' }),
        lastWakeMs: z.number().nullable().openapi({ description: 'How long the last wake took until the server accepted connections (ms); null before the first' }),
      })
      .nullable()
      .openapi({ description: 'Scale to zero: its power state on its node; null when it was never suspended' }),
  })
  .openapi('Instance');

export const ReplicaListSchema = z.object({ replicas: z.array(InstanceSchema) }).openapi('ReplicaList');

export const InstanceListSchema = z.object({ instances: z.array(InstanceSchema) }).openapi('InstanceList');

export const FlavorListSchema = z
  .object({
    flavors: z.array(
      z.object({
        name: z.string(),
        memoryMb: z.number().int(),
        maxConnections: z.number().int(),
        cpu: z.number(),
        storageMb: z.number().int(),
        settings: z.record(z.string(), z.string()),
      }),
    ),
  })
  .openapi('FlavorList');

export const OperationListSchema = z
  .object({
    operations: z.array(z.object({ workflowId: z.string(), kind: z.string(), status: z.string(), createdAt: z.string(), updatedAt: z.string() })),
    events: z.array(z.object({ eventId: z.string(), kind: z.string(), message: z.string(), workflowId: z.string().nullable(), at: z.string() })),
  })
  .openapi('InstanceOperations');

export const NodeListSchema = z
  .object({
    nodes: z.array(
      z.object({
        nodeId: z.string(),
        rootDir: z.string(),
        capacityMemoryMb: z.number().int(),
        capacityInstances: z.number().int(),
        usedMemoryMb: z.number().int(),
        instances: z.number().int(),
        heartbeatAt: z.string(),
        startedAt: z.string(),
        live: z.boolean(),
      }),
    ),
  })
  .openapi('NodeList');
