// The request and response schemas of the instance-admin routes (zod, so the OpenAPI document and the validation are one).
import { z } from '@hono/zod-openapi';
import { IDENTIFIER_PATTERN, MAX_ADMIN_LOG_LINES } from '@strata/agent';
import { INSTANCE_STATUSES } from '../instances/sql.js';

/**
 * Shortest password accepted: the API is reachable over the network, and SCRAM does not slow an
 * offline guess of a short password by much once a verifier leaks.
 */
export const MIN_PASSWORD_LENGTH = 8;

/** Longest password accepted (a passphrase, not a document). */
export const MAX_PASSWORD_LENGTH = 1_024;

/** Parameters one configuration group may set: PostgreSQL has ~350; a group needs a handful. */
export const MAX_GROUP_PARAMETERS = 100;

/** Configuration group names: DNS-label-like, as instance names. */
export const GROUP_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A database or user name. Its pattern is checked by the handler (not here), so a bad name gets
 * the typed `400 invalid_identifier` / `reserved_identifier` rather than a generic schema error.
 */
const sqlName = (what: string) =>
  z.string().max(256).openapi({ description: `${what} name: ${IDENTIFIER_PATTERN.source}, not starting with strata_ or pg_`, example: what === 'user' ? 'reporter' : 'app' });

export const InstanceParams = z.object({ instance: z.string().min(1).max(200).openapi({ description: 'instance ID or name', example: 'orders-db' }) });
export const DatabaseParams = InstanceParams.extend({ database: sqlName('database') });
export const UserParams = InstanceParams.extend({ user: sqlName('user') });
export const GroupParams = z.object({ group: z.string().min(1).max(200).openapi({ description: 'configuration group ID or name', example: 'reporting' }) });

export const Privilege = z.enum(['all', 'read']).openapi({ description: "'all': connect, create, every table of schema public; 'read': connect and select" });
export const Grant = z.object({ database: sqlName('database'), privilege: Privilege }).strict().openapi('Grant');

export const CreateDatabaseBody = z.object({ name: sqlName('database') }).strict();
export const Database = z.object({ name: z.string(), owner: z.string(), sizeBytes: z.number().int() }).openapi('Database');
export const DatabaseList = z.object({ databases: z.array(Database) });
export const DatabaseChange = z.object({ database: z.string(), created: z.boolean().optional(), dropped: z.boolean().optional() });

const password = z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH).openapi({ description: `${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters; stored only as a SCRAM-SHA-256 verifier`, format: 'password' });
export const CreateUserBody = z.object({ name: sqlName('user'), password, grants: z.array(Grant).max(100).optional() }).strict();
export const SetPasswordBody = z.object({ password }).strict();
export const User = z.object({ name: z.string(), grants: z.array(z.object({ database: z.string(), privilege: Privilege })) }).openapi('InstanceUser');
export const UserList = z.object({ users: z.array(User) });
export const UserChange = z.object({ user: z.string(), created: z.boolean().optional(), dropped: z.boolean().optional() });
export const GrantChange = z.object({ user: z.string(), database: z.string(), privilege: Privilege.nullable() });
export const RevokeQuery = z.object({ database: sqlName('database') });

export const LogQuery = z.object({
  lines: z.coerce.number().int().min(1).max(MAX_ADMIN_LOG_LINES).default(100).openapi({ description: `1 to ${MAX_ADMIN_LOG_LINES}; default 100` }),
});
export const Log = z.object({ instanceId: z.string(), lines: z.array(z.string()) }).openapi('InstanceLog');

export const CreateGroupBody = z
  .object({
    name: z.string().regex(GROUP_NAME_PATTERN, 'use 1-63 lower-case letters, digits and dashes, starting with a letter').openapi({ example: 'reporting' }),
    description: z.string().max(500).optional(),
    majorVersion: z.number().int().min(9).max(99).optional().openapi({ description: 'PostgreSQL major version the group is for; default: the platform\'s' }),
    parameters: z
      .record(z.string().max(100), z.union([z.string().max(1_024), z.number(), z.boolean()]))
      .refine((parameters) => Object.keys(parameters).length <= MAX_GROUP_PARAMETERS, `at most ${MAX_GROUP_PARAMETERS} parameters`)
      .openapi({ example: { work_mem: '16MB', max_prepared_transactions: 10 } }),
  })
  .strict();
export const ConfigGroup = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    majorVersion: z.number().int(),
    parameters: z.record(z.string(), z.string()),
    restartRequired: z.array(z.string()).openapi({ description: 'parameters that take effect only after a restart of the instance' }),
    instances: z.array(z.string()).openapi({ description: 'IDs of the instances it is attached to' }),
    createdAt: z.string(),
  })
  .openapi('ConfigGroup');
export const ConfigGroupList = z.object({ configGroups: z.array(ConfigGroup) });
export const AttachBody = z.object({ group: z.string().min(1).max(200).openapi({ description: 'configuration group ID or name' }) }).strict();
export const Attachment = z
  .object({
    instanceId: z.string(),
    configGroup: z.string().nullable(),
    status: z.enum(INSTANCE_STATUSES),
    restartRequired: z.array(z.string()).openapi({ description: 'changed parameters waiting for a restart (the instance is RESTART_REQUIRED until then)' }),
  })
  .openapi('ConfigGroupAttachment');
