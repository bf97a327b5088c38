// Routes of the audit log: GET /v1/audit (the tenant's rows, newest first, paged) and
// POST /v1/audit/verify (recompute the chain, report the first bad row).

import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses } from '../http/schemas.js';
import type { ApiModule } from '../http/types.js';
import { listAudit, type AuditRecord } from './sql.js';
import { verifyAuditChain } from './verify.js';

/** Rows per page by default and at most: a screenful, and a bound on one answer's size. */
const AUDIT_PAGE_DEFAULT = 100;
const AUDIT_PAGE_MAX = 500;

const AuditEntrySchema = z
  .object({
    id: z.number().int().openapi({ description: 'increasing; pass it as `before` to get older rows' }),
    tenantId: z.string(),
    seq: z.number().int().openapi({ description: 'position in the tenant\'s hash chain, from 1' }),
    keyId: z.string().nullable().openapi({ description: 'the API key that acted; null for the platform itself' }),
    action: z.string().openapi({ example: 'keys.create' }),
    target: z.string(),
    requestId: z.string(),
    result: z.string().openapi({ description: '`ok`, or the error code the call failed with' }),
    at: z.string().openapi({ format: 'date-time' }),
    prevHash: z.string(),
    hash: z.string().openapi({ description: 'sha256(prevHash || canonical row), hex' }),
  })
  .openapi('AuditEntry');

const VerificationSchema = z
  .object({
    ok: z.boolean(),
    rowsChecked: z.number().int(),
    firstBadRow: z
      .object({ id: z.number().int(), tenantId: z.string(), seq: z.number().int(), fault: z.enum(['hash_mismatch', 'broken_link', 'sequence_gap']) })
      .nullable(),
  })
  .openapi('AuditVerification');

const listRoute = createRoute({
  method: 'get',
  path: '/v1/audit',
  tags: ['audit'],
  summary: 'The tenant\'s audit log, newest first',
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX).default(AUDIT_PAGE_DEFAULT).openapi({ param: { name: 'limit', in: 'query' } }),
      before: z.coerce.number().int().min(1).optional().openapi({ param: { name: 'before', in: 'query' }, description: 'only rows with a smaller id (the previous page\'s nextBefore)' }),
    }),
  },
  responses: {
    200: { description: 'A page of rows', content: { 'application/json': { schema: z.object({ entries: z.array(AuditEntrySchema), nextBefore: z.number().int().nullable() }) } } },
    ...errorResponses(400, 401),
  },
});

const verifyRoute = createRoute({
  method: 'post',
  path: '/v1/audit/verify',
  tags: ['audit'],
  summary: 'Recompute the hash chain of the tenant\'s audit log (every tenant\'s, for platform admins) and report the first row that does not match',
  responses: { 200: { description: 'The verification', content: { 'application/json': { schema: VerificationSchema } } }, ...errorResponses(401) },
});

/**
 * The audit routes.
 *
 * @example
 * auditModule(app, deps);
 */
export const auditModule: ApiModule = (app, { db }) => {
  app.openapi(listRoute, async (c) => {
    const { limit, before } = c.req.valid('query');
    const rows = await listAudit(db, c.get('principal').tenantId, { limit, ...(before === undefined ? {} : { beforeId: before }) });
    const last = rows.at(-1);
    return c.json({ entries: rows.map(entryJson), nextBefore: rows.length === limit && last !== undefined ? last.id : null }, 200);
  });

  app.openapi(verifyRoute, async (c) => {
    const principal = c.get('principal');
    const everyTenant = principal.platform && principal.role === 'admin';
    const report = await verifyAuditChain(db, everyTenant ? {} : { tenantId: principal.tenantId });
    const bad = report.firstBadRow;
    return c.json({ ok: report.ok, rowsChecked: report.rowsChecked, firstBadRow: bad === undefined ? null : { id: bad.id, tenantId: bad.tenantId, seq: bad.tenantSeq, fault: bad.fault } }, 200);
  });
};

function entryJson(row: AuditRecord): z.infer<typeof AuditEntrySchema> {
  return {
    id: row.id,
    tenantId: row.tenantId,
    seq: row.tenantSeq,
    keyId: row.keyId,
    action: row.action,
    target: row.target,
    requestId: row.requestId,
    result: row.result,
    at: row.at.toISOString(),
    prevHash: row.prevHash,
    hash: row.hash,
  };
}
