// What both pool modes give the proxy for one client session, and what they ask of it.

/**
 * Longest message a client may send (a query text, a COPY chunk, a bind of large values).
 * PostgreSQL allows up to 1 GB; the proxy buffers a message whole, so it stops far lower.
 */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Usage a session gathered since it was last asked. */
export interface SessionUsage {
  readonly operations: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** A client session in a pool. */
export interface ClientSession {
  /** Resolves when the session is over (either side closed). */
  readonly closed: Promise<void>;
  /** The last transaction status the client was told. */
  readonly transactionStatus: 'I' | 'T' | 'E';
  /** Usage since the last call (the proxy adds it to the meter on its own schedule). */
  takeUsage(): SessionUsage;
  /** Ends the session (both sockets). */
  close(): void;
}

/** What a session asks of the proxy while it runs. */
export interface SessionHooks {
  /** Why the next statement must be refused (the tenant is over its cap), or undefined. */
  refusal(): { readonly sqlstate: string; readonly message: string } | undefined;
}
