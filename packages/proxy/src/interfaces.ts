// The proxy's public types: its options, and the small interfaces through which it reaches what
// lies outside it (the node agents' power control, the meter, the cap guard).

import type { Queryable } from '@strata/store';
import type { Directory } from './directory/directory.js';

/** An instance as the power control knows it. */
export interface PowerTarget {
  readonly instanceId: string;
  readonly nodeId: string;
}

/**
 * Suspends and wakes instances (the node agents' power control). Without one, the proxy never
 * suspends, and connects to instances as they are.
 */
export interface InstancePower {
  /** Resolves once the instance's server accepts connections (thawed or started; at once when running). */
  wake(target: PowerTarget): Promise<void>;
  /** Freezes or stops an idle instance; false when it may not be suspended now (held by a job, a replica…). */
  suspend(target: PowerTarget, tier: 'frozen' | 'stopped'): Promise<boolean>;
}

/** What one connection used since it was last counted. */
export interface UsageDelta {
  readonly operations?: number;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly connectionMs?: number;
}

/** Where usage goes: called on the query path, so it must only add to memory. */
export interface UsageMeter {
  add(tenantId: string, instanceId: string, delta: UsageDelta): void;
}

/** Says whether a tenant's statements are refused now (a usage cap reached), synchronously. */
export interface StatementGuard {
  check(tenantId: string): { readonly sqlstate: string; readonly message: string } | undefined;
}

/** When idle instances are suspended: no client connection for this long. */
export interface IdleOptions {
  /** Idle time before the instance is frozen (memory kept). Default 30 s; 0: never frozen. */
  readonly freezeAfterMs?: number;
  /** Idle time before it is stopped (memory freed). Default 5 min; 0: never stopped. */
  readonly stopAfterMs?: number;
  /** While idle and suspended, the suspension is asserted again this often (something else may have woken it, e.g. an agent's job). Default 30 s. */
  readonly reassertAfterMs?: number;
}

/** Bounds of the proxy. */
export interface ProxyLimits {
  /** Client connections per instance when the instance sets none. Default 200. */
  readonly maxClientsPerInstance?: number;
  /** Server connections per instance when the instance sets none. Default 20. */
  readonly maxServerConnectionsPerInstance?: number;
  /** How long a client waits for a server connection before it gets 53300. Default 10 s. */
  readonly poolWaitTimeoutMs?: number;
  /** Connections from one address that have not authenticated yet. Default 64. */
  readonly maxUnauthenticatedPerSource?: number;
  /** Connections that have not authenticated yet, all sources. Default 1,024. */
  readonly maxUnauthenticated?: number;
  /** Time a connection has to authenticate. Default 15 s. */
  readonly authTimeoutMs?: number;
  /** Client connections in all. Default 10,000. */
  readonly maxClients?: number;
}

/** TLS: generated in `dir` on first start, or given. */
export type ProxyTlsOptions = { readonly dir: string; readonly hostNames?: readonly string[] } | { readonly cert: string; readonly key: string };

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** The system database (the control plane's tables), or a directory of instances to use instead. */
  readonly database?: Queryable;
  readonly directory?: Directory;
  /** Address to listen on. Default 127.0.0.1. */
  readonly host?: string;
  /** Port; 0 (default) picks a free one. */
  readonly port?: number;
  /** TLS material; without it SSLRequest is answered "N". */
  readonly tls?: ProxyTlsOptions;
  /** Refuse connections that do not use TLS. Default false. */
  readonly requireTls?: boolean;
  readonly power?: InstancePower;
  readonly idle?: IdleOptions;
  readonly meter?: UsageMeter;
  readonly guard?: StatementGuard;
  readonly limits?: ProxyLimits;
  /** The query cache's bounds, or false to turn caching off. Default on, 64 MiB. */
  readonly cache?: { readonly maxBytes?: number; readonly maxEntryBytes?: number } | false;
  readonly logger?: Pick<Console, 'info' | 'warn' | 'error'>;
}
