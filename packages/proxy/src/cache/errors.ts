// The query cache's typed error: a bad `strata:cache` hint or cache rule, with what to fix.

/** Codes of {@link ProxyCacheError}. */
export type ProxyCacheErrorCode = 'STRATA_PROXY_BAD_CACHE_HINT' | 'STRATA_PROXY_BAD_CACHE_RULE';

/**
 * A `strata:cache` hint or an instance's cache rule that cannot be used. It has the shape of the
 * proxy's other errors (`code`, `sqlstate`, `severity`), so the proxy answers the statement with
 * an ErrorResponse carrying this message, and the session goes on.
 *
 * @example
 * ```ts
 * try {
 *   analyzeStatement('-- strata:cache ttl=soon\nselect * from products');
 * } catch (error) {
 *   if (error instanceof ProxyCacheError) console.log(error.code, error.message);
 *   // STRATA_PROXY_BAD_CACHE_HINT strata:cache hint: ttl=soon: ttl is a whole number of seconds…
 * }
 * ```
 */
export class ProxyCacheError extends Error {
  override readonly name = 'ProxyCacheError';
  /** SQLSTATE 22023 (invalid_parameter_value): the statement is fine, its cache setting is not. */
  readonly sqlstate = '22023';
  /** Ends only the statement, not the session. */
  readonly severity = 'ERROR';
  constructor(
    readonly code: ProxyCacheErrorCode,
    message: string,
  ) {
    super(message);
  }
}
