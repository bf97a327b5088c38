/**
 * The JSON shapes of the database service's API that the CLI reads (see the control plane's
 * README and `/v1/openapi.json` for the full ones). Fields the CLI does not show are left out.
 */

/** Instance statuses, as in OpenStack Trove (plus UNKNOWN: its node stopped heartbeating). */
export type InstanceStatus = 'BUILD' | 'ACTIVE' | 'RESIZE' | 'RESTART_REQUIRED' | 'STOPPED' | 'ERROR' | 'DELETED' | 'UNKNOWN' | 'RESTORING' | 'FENCED';

export interface Instance {
  readonly id: string;
  readonly name: string;
  readonly tenantId?: string;
  readonly status: InstanceStatus | string;
  readonly flavor: string;
  readonly nodeId?: string | null;
  readonly host?: string | null;
  readonly port?: number | null;
  readonly connectionString?: string | null;
  readonly databases?: readonly string[];
  /** Why it is in ERROR, when it is. */
  readonly error?: string | null;
  readonly createdAt?: string;
  readonly updatedAt?: string;
  readonly currentOperation?: { readonly workflowId: string; readonly kind: string } | null;
  /** `replica`: a read-only streaming standby of `replicaOf`. */
  readonly role?: 'primary' | 'replica';
  readonly replicaOf?: string | null;
  readonly synchronous?: boolean;
  /** Scale to zero: `frozen` or `stopped` while suspended (its next client wakes it), `running` since its last wake; null: never suspended. */
  readonly power?: InstancePower | null;
}

/** An instance's power state on its node, its wakes so far and how long the last one took. */
export interface InstancePower {
  readonly state: 'running' | 'frozen' | 'stopped' | string;
  readonly since: string;
  readonly wakes: number;
  readonly lastWakeMs: number | null;
}

/** One operation on an instance: the durable workflow that carries it out. */
export interface Operation {
  readonly workflowId: string;
  readonly kind: string;
  /** The workflow's status: PENDING while it runs, then SUCCESS, ERROR or CANCELLED. */
  readonly status: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface Flavor {
  readonly name: string;
  readonly memoryMb: number;
  readonly connections?: number;
  readonly maxConnections?: number;
  readonly cpu?: number;
}

export interface DatabaseUser {
  readonly name: string;
  readonly grants?: readonly { readonly database: string; readonly privilege: string }[];
}

/** A database inside an instance. */
export interface InstanceDatabase {
  readonly name: string;
  readonly owner?: string;
  readonly sizeBytes?: number;
}

export interface ConfigGroup {
  readonly id?: string;
  readonly name: string;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly values?: Readonly<Record<string, string>>;
  readonly restartRequired?: readonly string[];
  readonly instances?: readonly string[];
  readonly createdAt?: string;
}

export interface AuditEntry {
  readonly id?: number | string;
  readonly seq?: number | string;
  readonly at?: string;
  readonly createdAt?: string;
  readonly keyId?: string | null;
  readonly action: string;
  readonly target?: string | null;
  readonly requestId?: string | null;
  readonly result?: string | null;
  readonly hash?: string;
}

export interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly createdBy?: string | null;
  readonly createdAt?: string;
  readonly lastUsedAt?: string | null;
  readonly revokedAt?: string | null;
}

/**
 * The array a list answer holds: the answer itself when it is an array, else its `key` field
 * (`{ instances: [...] }`), else its `items` field.
 *
 * @example
 * listOf<Instance>({ instances: [a, b] }, 'instances'); // [a, b]
 */
export function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  const record = body as Record<string, unknown> | null | undefined;
  const value = record?.[key] ?? record?.items ?? record?.data;
  return Array.isArray(value) ? (value as T[]) : [];
}

/** The object an answer holds: `{ key: {...} }` unwrapped, else the answer itself. */
export function itemOf<T>(body: unknown, key: string): T {
  const record = body as Record<string, unknown> | null | undefined;
  const value = record?.[key];
  return (value !== null && typeof value === 'object' && !Array.isArray(value) ? value : body) as T;
}

/** A backup as the API shows it. */
export interface Backup {
  readonly id: string;
  readonly instanceId: string;
  readonly type: 'full' | 'diff' | 'incr';
  readonly trigger: string;
  readonly status: string;
  readonly label: string | null;
  readonly priorLabel: string | null;
  readonly startedAt: string | null;
  readonly stoppedAt: string | null;
  readonly restorableFrom: string | null;
  readonly sizeBytes: number | null;
  readonly storedBytes: number | null;
  readonly error: string | null;
  readonly createdAt: string;
}

/** An instance's backup policy. */
export interface BackupPolicy {
  readonly schedule: { readonly cron: string; readonly timezone: string; readonly type: string } | null;
  readonly retention: { readonly fullBackups?: number; readonly days?: number };
  readonly verify: { readonly cron: string; readonly timezone: string } | null;
}

/** A restore point. */
export interface RestorePoint {
  readonly name: string;
  readonly status: string;
  readonly createdAt: string;
  readonly madeAt: string | null;
  readonly error: string | null;
}
