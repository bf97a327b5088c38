// CapGuard: which tenants' statements the proxy refuses now — suspended tenants, and tenants over a
// monthly usage cap — read from the system database every second, answered from memory.
import type { Database } from '@strata/store';
import type { StatementGuard } from '../interfaces.js';
import { MeteringError } from './errors.js';
import { RepeatedRead } from '../background/repeated-read.js';
import { blockedTenants, type BlockedTenantRow } from './sql.js';

/** How often the refused tenants are read: a raised cap or a resumed tenant is let through within a second. */
export const DEFAULT_CAP_REFRESH_MS = 1_000;
/** Shortest refresh accepted: below it the guard is a busy loop on the system database. */
const MIN_REFRESH_MS = 10;
/** configuration_limit_exceeded: a limit of the service, not an error of the statement. */
export const CAP_EXCEEDED_SQLSTATE = '53400';
/** cannot_connect_now, as the proxy answers a suspended tenant's new connections. */
export const TENANT_SUSPENDED_SQLSTATE = '57P03';

/** Why a tenant's statement is refused: the proxy sends `sqlstate` and `message` to the client. */
export interface CapRefusal {
  readonly code: 'STRATA_PROXY_CAP_EXCEEDED' | 'STRATA_PROXY_TENANT_SUSPENDED';
  readonly sqlstate: string;
  readonly message: string;
}

/** Options of {@link CapGuard}. */
export interface CapGuardOptions {
  /** How often to read. Default {@link DEFAULT_CAP_REFRESH_MS}. */
  readonly refreshMs?: number;
  /** Told when a read fails (the last answers stand) and when reading works again. Default `console`. */
  readonly logger?: { warn(message: string): void; info?(message: string): void };
}

/** What the guard has done, for health checks and tests. */
export interface CapGuardStats {
  /** When the answers were last read; null before the first read. */
  readonly refreshedAt: Date | null;
  readonly refreshes: number;
  readonly failedRefreshes: number;
  /** Tenants refused now. */
  readonly blockedTenants: number;
  readonly lastError: unknown;
}

const count = (text: string | null) => BigInt(text ?? '0').toLocaleString('en-US');

/** The refusal the proxy sends for one row. */
function refusalOf(row: BlockedTenantRow): CapRefusal {
  if (row.reason === 'suspended') {
    return {
      code: 'STRATA_PROXY_TENANT_SUSPENDED',
      sqlstate: TENANT_SUSPENDED_SQLSTATE,
      message: `tenant "${row.name}" is suspended: its databases take no connections and no statements; ask the platform's operators to resume it (strata tenants resume ${row.tenantId})`,
    };
  }
  const used: string[] = [];
  if (row.operationsPerMonth !== null) used.push(`operations ${count(row.operations)} of ${count(row.operationsPerMonth)}`);
  if (row.bytesOutPerMonth !== null) used.push(`bytes sent ${count(row.bytesOut)} of ${count(row.bytesOutPerMonth)}`);
  const month = (row.periodStart ?? '').slice(0, 7);
  return {
    code: 'STRATA_PROXY_CAP_EXCEEDED',
    sqlstate: CAP_EXCEEDED_SQLSTATE,
    message:
      `tenant "${row.name}" reached its monthly usage cap for ${month}: ${used.join(', ') || 'a cap'} used (${row.percent ?? 100} %); ` +
      'new statements are refused until an admin raises the cap (strata usage cap --operations N --bytes-out N, or PUT /v1/usage/cap) or the month ends',
  };
}

/**
 * Says, synchronously and from memory, whether the proxy must refuse a tenant's new statements:
 * the tenant is suspended (SQLSTATE 57P03), or the control plane's last evaluation found it at 100 %
 * of a monthly cap (SQLSTATE 53400, naming the cap, the usage and how to raise it). The proxy
 * refuses statements; it never ends transactions or touches data.
 *
 * The answers are read from the system database every `refreshMs` (the first read starts at
 * once; `await guard.refresh()` to have it before taking connections). While the database cannot be
 * read, the last answers stand: refused tenants stay refused, and the others pass.
 *
 * @example
 * const guard = new CapGuard(db);                   // a Database of @strata/store (the system database)
 * await guard.refresh();                            // answers before the first connection
 * const refusal = guard.check('ten_1');             // on the query path: undefined, or
 * // { code: 'STRATA_PROXY_CAP_EXCEEDED', sqlstate: '53400', message: 'tenant "acme" reached its monthly usage cap …' }
 * await guard.close();
 */
export class CapGuard implements StatementGuard {
  readonly #db: Database;
  readonly #logger: NonNullable<CapGuardOptions['logger']>;
  readonly #timer: NodeJS.Timeout;
  #blocked: ReadonlyMap<string, CapRefusal> = new Map();
  readonly #reads: RepeatedRead;
  #refreshedAt: Date | null = null;

  /**
   * Starts reading from `db` (the system database, with the control plane's migrations).
   *
   * @throws {MeteringError} `STRATA_METER_INVALID_CONFIG` for a refresh under 10 ms.
   */
  constructor(db: Database, options: CapGuardOptions = {}) {
    const refreshMs = options.refreshMs ?? DEFAULT_CAP_REFRESH_MS;
    if (!Number.isFinite(refreshMs) || refreshMs < MIN_REFRESH_MS) throw new MeteringError('STRATA_METER_INVALID_CONFIG', `refreshMs must be at least ${MIN_REFRESH_MS} ms, got ${String(refreshMs)}`);
    this.#db = db;
    this.#logger = options.logger ?? console;
    this.#reads = new RepeatedRead(() => this.#read(), this.#logger, {
      failed: (error) => `strata proxy: reading usage caps and suspended tenants failed; the last answers stand until a read works: ${error.message}`,
      recovered: 'strata proxy: reading usage caps works again',
    });
    this.#timer = setInterval(() => this.refresh().catch(() => {}), refreshMs);
    this.#timer.unref();
    this.refresh().catch(() => {});
  }

  /**
   * Why the tenant's statements are refused now, or undefined: a lookup in memory.
   *
   * @example
   * const refusal = guard.check(session.tenantId);
   * if (refusal) return sendError(refusal.sqlstate, refusal.message);
   */
  check(tenantId: string): CapRefusal | undefined {
    return this.#blocked.get(tenantId);
  }

  /**
   * Reads the refused tenants now (joining a read that is running); rejects when the read fails,
   * and the last answers stand.
   *
   * @example
   * await guard.refresh(); // a cap raised a moment ago lets the tenant through from here on
   */
  refresh(): Promise<void> {
    return this.#reads.run();
  }

  /** Stops reading (waits for a read that is running). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#reads.close();
  }

  /** What the guard has done so far. */
  get stats(): CapGuardStats {
    return { refreshedAt: this.#refreshedAt, refreshes: this.#reads.successes, failedRefreshes: this.#reads.failures, blockedTenants: this.#blocked.size, lastError: this.#reads.lastError };
  }

  async #read(): Promise<void> {
    const rows = await blockedTenants(this.#db);
    const blocked = new Map<string, CapRefusal>();
    // A suspension says more than a cap: it is what the tenant must resolve first.
    for (const row of rows) if (row.reason === 'suspended' || !blocked.has(row.tenantId)) blocked.set(row.tenantId, refusalOf(row));
    this.#blocked = blocked;
    this.#refreshedAt = new Date();
  }
}
