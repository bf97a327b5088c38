// What a tenant does inside an instance, as the typed input (AdminAction) and output (AdminResult) of the `agent.admin` job.
import type { SettingInfo } from '@strata/postgres';
import type { UserGrant } from '../contract.js';

/** The privilege a user holds on one database: `all` (connect, create, every table) or `read` (connect, select). */
export type DatabasePrivilege = UserGrant['privilege'];

/**
 * One action of the `agent.admin` job, on one instance of the agent's node. Names are checked
 * (see `checkIdentifier`) before any statement is built; passwords arrive only as SCRAM
 * verifiers, never in plaintext.
 *
 * @example
 * const action: AdminAction = { kind: 'grant', instanceId: 'ins_abc', user: 'reporter', database: 'app', privilege: 'read' };
 */
export type AdminAction =
  | { readonly kind: 'createDatabase'; readonly instanceId: string; readonly database: string }
  | { readonly kind: 'dropDatabase'; readonly instanceId: string; readonly database: string }
  | { readonly kind: 'listDatabases'; readonly instanceId: string }
  | { readonly kind: 'createUser'; readonly instanceId: string; readonly user: string; readonly verifier: string }
  | { readonly kind: 'dropUser'; readonly instanceId: string; readonly user: string }
  | { readonly kind: 'listUsers'; readonly instanceId: string }
  | { readonly kind: 'setPassword'; readonly instanceId: string; readonly user: string; readonly verifier: string }
  | { readonly kind: 'grant'; readonly instanceId: string; readonly user: string; readonly database: string; readonly privilege: DatabasePrivilege }
  | { readonly kind: 'revoke'; readonly instanceId: string; readonly user: string; readonly database: string }
  | { readonly kind: 'logTail'; readonly instanceId: string; readonly lines: number }
  | { readonly kind: 'settingsCatalogue'; readonly instanceId: string };

/** The name of one admin action. */
export type AdminActionKind = AdminAction['kind'];

/** Every admin action kind (for validation and exhaustive tests). */
export const ADMIN_ACTION_KINDS: readonly AdminActionKind[] = [
  'createDatabase',
  'dropDatabase',
  'listDatabases',
  'createUser',
  'dropUser',
  'listUsers',
  'setPassword',
  'grant',
  'revoke',
  'logTail',
  'settingsCatalogue',
];

/** A database of an instance, as `listDatabases` reports it. */
export interface DatabaseInfo {
  readonly name: string;
  readonly owner: string;
  readonly sizeBytes: number;
}

/** A login role of an instance with the databases it was granted explicitly. */
export interface UserInfo {
  readonly name: string;
  readonly grants: readonly UserGrant[];
}

/** A parameter of the server's catalogue (`pg_settings`) with its built-in default. */
export interface CatalogueSetting extends SettingInfo {
  /** `pg_settings.boot_val`: the value when nothing sets it (what a detached configuration group goes back to). */
  readonly defaultValue: string | null;
  /** `pg_settings.context`: `postmaster` (restart), `sighup` (reload), `user`, `superuser`, `internal` (read-only), … */
  readonly context: string;
}

/** The output of each admin action, by kind. */
export interface AdminResults {
  /** `created` is false when the database already existed (the action is idempotent). */
  createDatabase: { readonly database: string; readonly created: boolean };
  /** `dropped` is false when there was no such database. */
  dropDatabase: { readonly database: string; readonly dropped: boolean };
  listDatabases: { readonly databases: readonly DatabaseInfo[] };
  /** `created` is false when the role already existed: its password was set to the verifier again. */
  createUser: { readonly user: string; readonly created: boolean };
  /** `dropped` is false when there was no such role. */
  dropUser: { readonly user: string; readonly dropped: boolean };
  listUsers: { readonly users: readonly UserInfo[] };
  setPassword: { readonly user: string };
  grant: { readonly user: string; readonly database: string; readonly privilege: DatabasePrivilege };
  revoke: { readonly user: string; readonly database: string };
  /** The last lines of the server log, oldest first. */
  logTail: { readonly lines: readonly string[] };
  settingsCatalogue: { readonly majorVersion: number; readonly settings: readonly CatalogueSetting[] };
}

/** The output of the `agent.admin` job for one action. */
export type AdminResult<K extends AdminActionKind = AdminActionKind> = AdminResults[K];
