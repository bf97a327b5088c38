// Typed errors of the proxy: a stable code for programs, a SQLSTATE for the Postgres client, and a
// message that says what to fix.

/** The proxy's error codes. */
export type ProxyErrorCode =
  | 'STRATA_PROXY_INVALID_CONFIG'
  | 'STRATA_PROXY_PROTOCOL'
  | 'STRATA_PROXY_UNKNOWN_INSTANCE'
  | 'STRATA_PROXY_NO_INSTANCE'
  | 'STRATA_PROXY_AUTH_FAILED'
  | 'STRATA_PROXY_TENANT_SUSPENDED'
  | 'STRATA_PROXY_INSTANCE_UNAVAILABLE'
  | 'STRATA_PROXY_TOO_MANY_CLIENTS'
  | 'STRATA_PROXY_POOL_TIMEOUT'
  | 'STRATA_PROXY_TLS_REQUIRED'
  | 'STRATA_PROXY_UNSUPPORTED_IN_TRANSACTION_MODE'
  | 'STRATA_PROXY_CAP_EXCEEDED'
  | 'STRATA_PROXY_BACKEND';

/**
 * An error the proxy reports to a client as an ErrorResponse (`sqlstate` is what the client sees
 * as `code`), and to programs by `code`.
 *
 * @example
 * ```ts
 * throw new ProxyError('STRATA_PROXY_UNKNOWN_INSTANCE', '3D000', 'instance ins_x does not exist; check the name in your connection string');
 * ```
 */
export class ProxyError extends Error {
  override readonly name = 'ProxyError';
  constructor(
    readonly code: ProxyErrorCode,
    /** The five-character SQLSTATE sent to the client. */
    readonly sqlstate: string,
    message: string,
    /** FATAL ends the connection; ERROR ends only the statement. */
    readonly severity: 'FATAL' | 'ERROR' = 'FATAL',
  ) {
    super(message);
  }
}
