// SQL of strata_cloud.audit_log: append (under the tenant's chain lock), page, read a chain.

import type { Queryable } from '@strata/store';
import { chainHash, type AuditFields } from './chain.js';

/** A stored audit row. */
export interface AuditRecord extends AuditFields {
  /** Global, increasing: the order rows were appended in, and the paging cursor. */
  readonly id: number;
  readonly prevHash: string;
  readonly hash: string;
}

type AuditRow = {
  id: string | number;
  tenant_id: string;
  tenant_seq: string | number;
  key_id: string | null;
  action: string;
  target: string;
  request_id: string;
  result: string;
  at: Date | string;
  prev_hash: string;
  hash: string;
};

const COLUMNS = 'id, tenant_id, tenant_seq, key_id, action, target, request_id, result, at, prev_hash, hash';

/** Longest action, target or result kept: bounded, so a huge path segment cannot bloat the log. */
const AUDIT_TEXT_LENGTH_MAX = 500;

/**
 * Appends a row to the tenant's chain. Call it inside a transaction: it takes the chain's
 * advisory lock, which the transaction holds until it ends, so appends of one tenant never fork.
 *
 * @example
 * await db.transaction((tx) => appendAudit(tx, { tenantId, keyId, action: 'keys.revoke', target: keyId, requestId, result: 'ok' }));
 */
export async function appendAudit(tx: Queryable, entry: Omit<AuditFields, 'tenantSeq' | 'at'>): Promise<AuditRecord> {
  await tx.query(`select pg_advisory_xact_lock(hashtext('strata_cloud.audit_log:' || $1))`, [entry.tenantId]);
  const { rows: last } = await tx.query<{ tenant_seq: string | number; hash: string }>(
    'select tenant_seq, hash from strata_cloud.audit_log where tenant_id = $1 order by tenant_seq desc limit 1',
    [entry.tenantId],
  );
  const previous = last[0];
  const fields: AuditFields = {
    tenantId: entry.tenantId,
    tenantSeq: previous === undefined ? 1 : Number(previous.tenant_seq) + 1,
    keyId: entry.keyId,
    action: entry.action.slice(0, AUDIT_TEXT_LENGTH_MAX),
    target: entry.target.slice(0, AUDIT_TEXT_LENGTH_MAX),
    requestId: entry.requestId,
    result: entry.result.slice(0, AUDIT_TEXT_LENGTH_MAX),
    at: new Date(),
  };
  const prevHash = previous?.hash ?? '';
  const hash = chainHash(prevHash, fields);
  const { rows } = await tx.query<AuditRow>(
    `insert into strata_cloud.audit_log (tenant_id, tenant_seq, key_id, action, target, request_id, result, at, prev_hash, hash)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning ${COLUMNS}`,
    [fields.tenantId, fields.tenantSeq, fields.keyId, fields.action, fields.target, fields.requestId, fields.result, fields.at, prevHash, hash],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('invariant: insert … returning gives one row');
  return toRecord(row);
}

/** A page of the tenant's rows, newest first, below `beforeId` when given. */
export async function listAudit(db: Queryable, tenantId: string, options: { limit: number; beforeId?: number }): Promise<AuditRecord[]> {
  const { rows } = await db.query<AuditRow>(
    `select ${COLUMNS} from strata_cloud.audit_log where tenant_id = $1 and ($2::bigint is null or id < $2) order by id desc limit $3`,
    [tenantId, options.beforeId ?? null, options.limit],
  );
  return rows.map(toRecord);
}

/** Up to `limit` rows in chain order (tenant, then position) after the given position. */
export async function chainPage(db: Queryable, options: { tenantId?: string; after?: { tenantId: string; tenantSeq: number }; limit: number }): Promise<AuditRecord[]> {
  const { rows } = await db.query<AuditRow>(
    `select ${COLUMNS} from strata_cloud.audit_log
      where ($1::text is null or tenant_id = $1)
        and ($2::text is null or (tenant_id, tenant_seq) > ($2::text, $3::bigint))
      order by tenant_id, tenant_seq limit $4`,
    [options.tenantId ?? null, options.after?.tenantId ?? null, options.after?.tenantSeq ?? null, options.limit],
  );
  return rows.map(toRecord);
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    id: Number(row.id),
    tenantId: row.tenant_id,
    tenantSeq: Number(row.tenant_seq),
    keyId: row.key_id,
    action: row.action,
    target: row.target,
    requestId: row.request_id,
    result: row.result,
    at: new Date(row.at),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
