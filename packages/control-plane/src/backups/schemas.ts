// The zod schemas of the backup routes: the handlers validate with them and the OpenAPI document is generated from them.
import { z } from '@hono/zod-openapi';
import { MAX_RETENTION } from '@strata/postgres';
import { BACKUP_STATUSES, BACKUP_TRIGGERS } from './sql.js';

/** Longest name or text accepted in a body. */
const MAX_TEXT_LENGTH = 256;
const BACKUP_TYPE = z.enum(['full', 'diff', 'incr']);

export const BackupRefParams = z.object({
  backup: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ param: { name: 'backup', in: 'path' }, description: 'Backup ID (bak_…)', example: 'bak_q2m7x3k9a1b2c3d4' }),
});

export const ListBackupsQuery = z.object({
  all: z.enum(['true', 'false']).optional().openapi({ param: { name: 'all', in: 'query' }, description: 'Also list deleted and expired backups' }),
});

export const CreateBackupBody = z
  .object({ type: BACKUP_TYPE.default('full').openapi({ description: 'full, or diff (changes since the last full) or incr (since the last backup)' }) })
  .strict()
  .openapi('CreateBackup');

export const BackupSchema = z
  .object({
    id: z.string(),
    instanceId: z.string(),
    type: BACKUP_TYPE,
    trigger: z.enum(BACKUP_TRIGGERS),
    status: z.enum(BACKUP_STATUSES),
    label: z.string().nullable().openapi({ description: "pgBackRest's label of the set", example: '20261206-164752F' }),
    priorLabel: z.string().nullable(),
    startedAt: z.string().nullable(),
    stoppedAt: z.string().nullable(),
    restorableFrom: z.string().nullable().openapi({ description: 'The earliest moment a restore from this backup can return to' }),
    sizeBytes: z.number().int().nullable().openapi({ description: 'Size of the database it holds' }),
    storedBytes: z.number().int().nullable().openapi({ description: 'What it added to the repository (compressed; a diff or incr stores only what changed)' }),
    error: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Backup');

export const BackupListSchema = z
  .object({
    backups: z.array(BackupSchema),
    restorableFrom: z.string().nullable().openapi({ description: 'The earliest moment the instance can be restored to (null: no completed backup yet)' }),
    restorableUntil: z.string().nullable().openapi({ description: 'The latest moment it can be restored to: when it was deleted (null: a live instance, whose window reaches the present)' }),
  })
  .openapi('BackupList');

export const ListBackupSourcesQuery = z.object({
  deleted: z.enum(['true', 'false']).optional().openapi({ param: { name: 'deleted', in: 'query' }, description: 'true: only deleted instances (what can still be brought back); false: only live ones; left out: both' }),
});

export const BackupSourceSchema = z
  .object({
    id: z.string().openapi({ description: 'The instance ID: a deleted instance is addressed by it (its name may be reused)', example: 'ins_q2m7x3k9a1b2c3d4' }),
    name: z.string(),
    status: z.string().openapi({ description: 'DELETED, or the live instance\'s status' }),
    flavor: z.string(),
    deletedAt: z.string().nullable().openapi({ description: 'When it was deleted (null: live)' }),
    backups: z.number().int().openapi({ description: 'Its COMPLETED backups' }),
    lastBackupAt: z.string().nullable().openapi({ description: 'When its newest completed backup ended' }),
    restorableFrom: z.string().nullable().openapi({ description: 'The earliest moment it can be restored to' }),
    restorableUntil: z.string().nullable().openapi({ description: 'The latest moment it can be restored to: its deletion (null: live, the present)' }),
  })
  .openapi('BackupSource');

export const BackupSourceListSchema = z.object({ instances: z.array(BackupSourceSchema) }).openapi('BackupSourceList');

const RetentionSchema = z
  .union([
    z.object({ fullBackups: z.number().int().min(1).max(MAX_RETENTION) }).strict(),
    z.object({ days: z.number().int().min(1).max(MAX_RETENTION) }).strict(),
  ])
  .openapi({ description: 'Keep the newest N full backups (with what builds on them), or every backup needed to restore to any moment of the last D days' });

const ScheduleSchema = z
  .object({
    cron: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ description: '5 fields (minute hour day month weekday) or 6 (seconds first)', example: '0 3 * * *' }),
    timezone: z.string().min(1).max(MAX_TEXT_LENGTH).optional().openapi({ example: 'Europe/Paris' }),
    type: BACKUP_TYPE.optional(),
  })
  .strict();

const VerifyScheduleSchema = z
  .object({
    cron: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ example: '0 5 * * 0' }),
    timezone: z.string().min(1).max(MAX_TEXT_LENGTH).optional(),
  })
  .strict();

export const BackupPolicyBody = z
  .object({
    schedule: ScheduleSchema.nullable().optional().openapi({ description: 'null: no scheduled backups' }),
    retention: RetentionSchema.optional(),
    verify: VerifyScheduleSchema.nullable().optional().openapi({ description: 'A periodic restore test (the latest state restored into a scratch instance that must answer); null: none' }),
  })
  .strict()
  .openapi('SetBackupPolicy');

export const BackupPolicySchema = z
  .object({
    schedule: z.object({ cron: z.string(), timezone: z.string(), type: BACKUP_TYPE }).nullable(),
    retention: z.union([z.object({ fullBackups: z.number().int() }), z.object({ days: z.number().int() })]),
    verify: z.object({ cron: z.string(), timezone: z.string() }).nullable(),
  })
  .openapi('BackupPolicy');

export const RestorePointBody = z.object({ name: z.string().min(1).max(63).openapi({ example: 'before-migration-42' }) }).strict().openapi('CreateRestorePoint');

export const RestorePointSchema = z
  .object({ name: z.string(), status: z.enum(['PENDING', 'CREATED', 'FAILED']), createdAt: z.string(), madeAt: z.string().nullable(), error: z.string().nullable() })
  .openapi('RestorePoint');

export const RestorePointListSchema = z.object({ restorePoints: z.array(RestorePointSchema) }).openapi('RestorePointList');

export const VerifyBody = z.object({ restoreTest: z.boolean().default(false).openapi({ description: 'Also restore the latest state into a scratch instance and query it' }) }).strict().openapi('VerifyBackups');

export const VerifyAcceptedSchema = z.object({ workflowId: z.string().openapi({ description: 'The verification; its outcome becomes an event of the instance' }) }).openapi('VerifyAccepted');

export const RestoreBody = z
  .object({
    name: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ description: 'The new instance\'s name', example: 'orders-before-bug' }),
    backup: z.string().min(1).max(MAX_TEXT_LENGTH).optional().openapi({ description: 'Restore to the end of this backup' }),
    time: z.string().min(1).max(64).optional().openapi({ description: 'Restore every transaction committed at or before this moment (ISO 8601 with a zone)', example: '2026-12-06T10:15:00Z' }),
    restorePoint: z.string().min(1).max(63).optional().openapi({ description: 'Restore to this restore point' }),
    flavor: z.string().min(1).max(MAX_TEXT_LENGTH).optional().openapi({ description: 'Default: the source\'s' }),
  })
  .strict()
  .openapi('RestoreInstance');

export const RestoreInPlaceBody = z
  .object({
    backup: z.string().min(1).max(MAX_TEXT_LENGTH).optional().openapi({ description: 'Back to the end of this backup' }),
    time: z.string().min(1).max(64).optional().openapi({ description: 'Back to this moment (ISO 8601 with a zone)', example: '2026-12-06T10:15:00Z' }),
    restorePoint: z.string().min(1).max(63).optional().openapi({ description: 'Back to this restore point' }),
  })
  .strict()
  .openapi('RestoreInstanceInPlace');

export const ForkBody = z
  .object({
    name: z.string().min(1).max(MAX_TEXT_LENGTH).openapi({ description: 'The fork\'s name', example: 'orders-preview' }),
    time: z.string().min(1).max(64).optional().openapi({ description: 'Fork the state as of this moment (default: the present)' }),
    flavor: z.string().min(1).max(MAX_TEXT_LENGTH).optional(),
  })
  .strict()
  .openapi('ForkInstance');
