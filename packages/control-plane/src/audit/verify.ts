// Verifying the audit log: recompute every chain and report the first row that does not match.

import type { Queryable } from '@strata/store';
import { chainHash } from './chain.js';
import { chainPage, type AuditRecord } from './sql.js';

/** Rows read per query while verifying: bounded memory whatever the log's size. */
const VERIFY_PAGE_ROWS = 1_000;

/** Why a row fails verification. */
export type AuditFault = 'hash_mismatch' | 'broken_link' | 'sequence_gap';

/** The outcome of {@link verifyAuditChain}. */
export interface AuditVerification {
  /** True when every chain checked is intact. */
  readonly ok: boolean;
  readonly rowsChecked: number;
  /** The first row (in chain order) that does not match, and why; undefined when ok. */
  readonly firstBadRow?: { readonly id: number; readonly tenantId: string; readonly tenantSeq: number; readonly fault: AuditFault };
}

/**
 * Recomputes the hash chain of every tenant (or of one, with `tenantId`): each row's position must
 * follow the previous one's, its `prev_hash` must be the previous row's hash, and its `hash` must
 * be `sha256(prev_hash || canonical row)`. Stops at the first row that fails.
 *
 * @example
 * const report = await verifyAuditChain(db);
 * if (!report.ok) console.error(`audit row ${report.firstBadRow?.id} was altered (${report.firstBadRow?.fault})`);
 */
export async function verifyAuditChain(db: Queryable, options: { tenantId?: string } = {}): Promise<AuditVerification> {
  let rowsChecked = 0;
  let previous: AuditRecord | undefined;
  for (;;) {
    const page = await chainPage(db, {
      ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
      ...(previous === undefined ? {} : { after: { tenantId: previous.tenantId, tenantSeq: previous.tenantSeq } }),
      limit: VERIFY_PAGE_ROWS,
    });
    for (const row of page) {
      const sameChain = previous !== undefined && previous.tenantId === row.tenantId;
      const fault = faultOf(row, sameChain ? previous : undefined);
      if (fault !== undefined) return { ok: false, rowsChecked, firstBadRow: { id: row.id, tenantId: row.tenantId, tenantSeq: row.tenantSeq, fault } };
      rowsChecked += 1;
      previous = row;
    }
    if (page.length < VERIFY_PAGE_ROWS) return { ok: true, rowsChecked };
  }
}

function faultOf(row: AuditRecord, previous: AuditRecord | undefined): AuditFault | undefined {
  if (row.tenantSeq !== (previous?.tenantSeq ?? 0) + 1) return 'sequence_gap';
  if (row.prevHash !== (previous?.hash ?? '')) return 'broken_link';
  if (row.hash !== chainHash(row.prevHash, row)) return 'hash_mismatch';
  return undefined;
}
