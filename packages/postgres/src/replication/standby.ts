// Streaming replication between managed instances of one machine: a standby cloned from its
// primary with pg_basebackup over the primary's private socket, kept in step by a physical
// replication slot, promoted, pointed at another primary, and the primary's synchronous standbys.

import { appendFile, mkdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, run, sqlLiteral } from '../commands.js';
import { ensurePostgresInstalled } from '../install.js';
import { AUTO_CONF_FILE, removeAutoSettings } from '../backup/auto-conf.js';
import { LIMITS_FILE, LOG_FILE, writeOwnedFile } from '../instance/config-file.js';
import { PgInstanceError } from '../instance/errors.js';
import type { ManagedCluster } from '../instance/managed-cluster.js';
import { giveToServer, giveTreeToServer, serverIdentity } from '../instance/server-identity.js';
import { INSTANCE_SUPERUSER } from '../instance/template.js';
import { PgReplicationError } from './errors.js';

/**
 * What a standby names itself to its primary: its `application_name` (what
 * `synchronous_standby_names` lists) and its replication slot on the primary. Lower-case letters,
 * digits and `_`, at most 63 characters (a slot name's rules).
 */
const STANDBY_NAME = /^[a-z0-9_]{1,63}$/;

/** The line of the primary's pg_hba.conf that lets a standby of this machine stream from it: the superuser over the private socket only. */
export const REPLICATION_HBA_LINE = `local   replication  ${INSTANCE_SUPERUSER}                 trust`;

/** A base backup of a large instance takes minutes; past this pg_basebackup is hung. */
const BASE_BACKUP_TIMEOUT_MS = 60 * 60_000;

/** Default bound on waiting for a standby to stream or a promotion to finish. */
export const REPLICATION_WAIT_MS = 120_000;

/** Settings of the primary's that must not act in its copy: archiving into the primary's stanza, its standbys, an old upstream. */
const PRIMARY_ONLY_SETTINGS = ['archive_command', 'restore_command', 'synchronous_standby_names', 'primary_conninfo', 'primary_slot_name'];

/** One standby as its primary sees it (pg_stat_replication and the slot). */
export interface StandbyStatus {
  /** The standby's name (its application_name and slot). */
  readonly name: string;
  /** `streaming`, `catchup`, `startup`, …; null when the slot exists but the standby is not connected. */
  readonly state: string | null;
  /** `sync`, `quorum`, `potential` or `async`; null when not connected. */
  readonly syncState: string | null;
  /** Bytes of WAL the primary wrote that the standby has not replayed (from the slot when disconnected). */
  readonly lagBytes: number | null;
  /** PostgreSQL's replay_lag in seconds: how long the standby took to replay recent commits; 0 when idle and caught up. */
  readonly replayLagSeconds: number | null;
}

/**
 * Makes `dir` (absent or empty) a standby of `primary`: lets standbys stream from the primary
 * (one pg_hba.conf line: the superuser over the private socket), creates a physical replication
 * slot `name` on it, copies its data with pg_basebackup (WAL streamed alongside), and configures
 * the copy to follow it (`standby.signal`, `primary_conninfo`, `primary_slot_name`) without the
 * primary's own archiving and synchronous standbys. Give `dir` to {@link ManagedCluster.create}'s
 * `prepared` and start the instance; {@link waitForStreaming} says when it is in step. A slot left
 * by an earlier attempt of the same name is dropped first.
 *
 * @throws {PgReplicationError} `PG_REPLICATION_INVALID_ARGUMENT` for a bad name;
 * `PG_REPLICATION_WRONG_ROLE` when `primary` is itself a standby; `PG_REPLICATION_FAILED` with
 * pg_basebackup's output.
 *
 * @example
 * ```ts
 * const replica = await ManagedCluster.create(template, spec, { prepared: async (partial) => { await cloneStandby(primary, partial, 'ins_r1'); return true; } });
 * await replica.start();
 * await waitForStreaming(replica);
 * ```
 */
export async function cloneStandby(primary: ManagedCluster, dir: string, name: string): Promise<void> {
  assertStandbyName(name);
  if (!dir.startsWith('/')) throw new PgReplicationError('PG_REPLICATION_INVALID_ARGUMENT', `the standby directory must be absolute, got ${JSON.stringify(dir)}`);
  await requireRole(primary, 'primary', 'clone a standby from it');
  await allowReplication(primary);
  await dropSlot(primary, name);
  // The slot first, holding WAL from the last checkpoint on: pg_basebackup's own (--create-slot) is made
  // only after its backup started, and a checkpoint in between (another clone's) could recycle the WAL the copy needs.
  await primary.query('select pg_create_physical_replication_slot($1, true)', [name]);
  const identity = await serverIdentity();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await giveToServer(dir, identity);
  const { socketDir, port } = primary.spec;
  try {
    await run(join(await ensurePostgresInstalled(), 'pg_basebackup'), [
      '--host', socketDir, '--port', String(port), '--username', INSTANCE_SUPERUSER, '--no-password',
      '--pgdata', dir, '--wal-method=stream', '--checkpoint=fast', `--slot=${name}`,
    ], { asUser: identity.user, timeoutMs: BASE_BACKUP_TIMEOUT_MS });
  } catch (error) {
    await dropSlot(primary, name).catch(() => {});
    throw new PgReplicationError('PG_REPLICATION_FAILED', `pg_basebackup of ${primary.spec.dataDir} into ${dir} failed: ${errorMessage(error)}`, { cause: error });
  }
  await removeAutoSettings(dir, PRIMARY_ONLY_SETTINGS, identity);
  await appendFile(join(dir, AUTO_CONF_FILE), `${followSettings(primary, name)}\n`);
  await writeOwnedFile(dir, 'standby.signal', '', identity);
  await truncate(join(dir, LOG_FILE)).catch(() => {});
  await rm(join(dir, LIMITS_FILE), { force: true });
  await giveTreeToServer(dir, identity);
}

/**
 * Waits until `standby` streams from its primary (pg_stat_wal_receiver says `streaming`); with
 * `timeline`, until it receives that timeline or a later one — a standby that cannot follow a
 * promoted primary (it replayed past the point where that one's timeline forked off) reconnects
 * and shows `streaming` for a moment each time, but never receives the new timeline.
 *
 * @throws {PgReplicationError} `PG_REPLICATION_TIMEOUT` with the standby's log tail.
 *
 * @example
 * ```ts
 * await replica.start();
 * await waitForStreaming(replica);
 * await waitForStreaming(sibling, { timeline: await timelineOf(promoted) });
 * ```
 */
export async function waitForStreaming(standby: ManagedCluster, options: { readonly timeoutMs?: number; readonly timeline?: number } = {}): Promise<void> {
  const what = options.timeline === undefined ? 'stream from its primary' : `stream timeline ${options.timeline} from its primary`;
  await waitFor(standby, options.timeoutMs ?? REPLICATION_WAIT_MS, what, async () => {
    const [row] = await standby.query<{ status: string; tli: number | null }>('select status, received_tli as tli from pg_stat_wal_receiver');
    return row?.status === 'streaming' && (options.timeline === undefined || (row.tli !== null && Number(row.tli) >= options.timeline));
  });
}

/**
 * The timeline a server writes (a primary) or replays (a standby) now.
 *
 * @example
 * ```ts
 * await promoteStandby(replica);
 * await timelineOf(replica); // 2
 * ```
 */
export async function timelineOf(cluster: ManagedCluster): Promise<number> {
  const [row] = await cluster.query<{ tli: number }>(
    `select case when pg_is_in_recovery() then coalesce((select received_tli from pg_stat_wal_receiver), 0)
                 else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end as tli`);
  return Number(row?.tli ?? 0);
}

/**
 * Brings a standby whose primary is gone up to the WAL its most advanced sibling received, by
 * streaming the difference from that sibling (cascading replication), so that promoting it loses
 * no commit any sibling acknowledged (`ANY 1` synchronous replication acknowledges a commit once
 * one standby has it). Nothing to do when no sibling is ahead. Returns the sibling it caught up
 * from, if any.
 *
 * @throws {PgReplicationError} `PG_REPLICATION_TIMEOUT` when it does not catch up in time.
 *
 * @example
 * ```ts
 * await catchUpWithSiblings(replicaA, 'ins_a', [replicaB]);
 * await promoteStandby(replicaA);
 * ```
 */
export async function catchUpWithSiblings(standby: ManagedCluster, name: string, siblings: readonly ManagedCluster[], timeoutMs = REPLICATION_WAIT_MS): Promise<ManagedCluster | undefined> {
  assertStandbyName(name);
  if (!(await isStandby(standby))) return undefined;
  let ahead: { cluster: ManagedCluster; lsn: string } | undefined;
  let mine = await receivedLsn(standby);
  for (const sibling of siblings) {
    const theirs = await receivedLsn(sibling).catch(() => undefined);
    if (theirs !== undefined && (await lsnAfter(standby, theirs, ahead?.lsn ?? mine))) ahead = { cluster: sibling, lsn: theirs };
  }
  if (ahead === undefined) return undefined;
  await allowReplication(ahead.cluster);
  await standby.query(`alter system set primary_conninfo = ${sqlLiteral(conninfo(ahead.cluster, name))}`);
  await standby.query('alter system reset primary_slot_name');
  await standby.query('select pg_reload_conf()');
  const target = ahead.lsn;
  await waitFor(standby, timeoutMs, `catch up with its sibling ${ahead.cluster.spec.dataDir} (to ${target})`, async () => {
    mine = await receivedLsn(standby);
    return !(await lsnAfter(standby, target, mine));
  });
  return ahead.cluster;
}

/** The WAL position a standby has received (flushed) from upstream, or replayed when it never streamed. */
async function receivedLsn(standby: ManagedCluster): Promise<string> {
  const [row] = await standby.query<{ lsn: string }>('select coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text as lsn');
  return row?.lsn ?? '0/0';
}

/** Whether WAL position `a` is after `b` (compared by the server). */
async function lsnAfter(cluster: ManagedCluster, a: string, b: string): Promise<boolean> {
  const [row] = await cluster.query<{ after: boolean }>('select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) > 0 as after', [a, b]);
  return row?.after === true;
}

/**
 * Promotes a standby to a primary (pg_promote) and waits until it accepts writes; its
 * follow settings are removed. A server that already is a primary is left as it is.
 *
 * @throws {PgReplicationError} `PG_REPLICATION_TIMEOUT` when the promotion does not finish.
 *
 * @example
 * ```ts
 * await promoteStandby(replica);
 * await replica.query('create table t (id int)');
 * ```
 */
export async function promoteStandby(standby: ManagedCluster, timeoutMs = REPLICATION_WAIT_MS): Promise<void> {
  if (await isStandby(standby)) {
    await standby.query('select pg_promote(true, $1)', [Math.max(1, Math.floor(timeoutMs / 1000))]);
    await waitFor(standby, timeoutMs, 'finish its promotion', async () => !(await isStandby(standby)));
  }
  await removeAutoSettings(standby.spec.dataDir, ['primary_conninfo', 'primary_slot_name'], await serverIdentity());
}

/**
 * Points a running standby at another primary (after a promotion of its sibling): a slot `name`
 * on the new primary, then the standby's `primary_conninfo` and `primary_slot_name` changed and
 * reloaded. It follows the new primary's timeline if it had not replayed past the point where that
 * one was promoted.
 *
 * @throws {PgReplicationError} `PG_REPLICATION_WRONG_ROLE` when `standby` is not a standby or `primary` not a primary.
 *
 * @example
 * ```ts
 * await promoteStandby(replicaA);
 * await followPrimary(replicaB, replicaA, 'ins_b');
 * ```
 */
export async function followPrimary(standby: ManagedCluster, primary: ManagedCluster, name: string): Promise<void> {
  assertStandbyName(name);
  await requireRole(standby, 'standby', 'point it at another primary');
  await requireRole(primary, 'primary', 'follow it');
  await allowReplication(primary);
  await primary.query(
    `select pg_create_physical_replication_slot($1, true) where not exists (select 1 from pg_replication_slots where slot_name = $1)`, [name]);
  await standby.query(`alter system set primary_conninfo = ${sqlLiteral(conninfo(primary, name))}`);
  await standby.query(`alter system set primary_slot_name = ${sqlLiteral(name)}`);
  await standby.query('select pg_reload_conf()');
}

/**
 * Sets which standbys a commit on `primary` waits for: with names, `ANY 1 (…)` (a commit returns
 * once one of them has it on disk); with none, commits wait for no standby. Reloaded at once.
 *
 * @example
 * ```ts
 * await setSynchronousStandbys(primary, ['ins_r1', 'ins_r2']);
 * await setSynchronousStandbys(primary, []); // asynchronous again
 * ```
 */
export async function setSynchronousStandbys(primary: ManagedCluster, names: readonly string[]): Promise<void> {
  names.forEach(assertStandbyName);
  if (names.length === 0) await primary.query('alter system reset synchronous_standby_names');
  else await primary.query(`alter system set synchronous_standby_names = ${sqlLiteral(`ANY 1 (${names.map((name) => `"${name}"`).join(', ')})`)}`);
  await primary.query('select pg_reload_conf()');
}

/**
 * Drops the replication slot `name` of `primary` (a standby that is gone or detached), so it keeps
 * no WAL for it; nothing to do when there is none. An active slot is released first by ending the
 * walsender that holds it.
 *
 * @example
 * ```ts
 * await dropSlot(primary, 'ins_r1');
 * ```
 */
export async function dropSlot(primary: ManagedCluster, name: string): Promise<void> {
  assertStandbyName(name);
  await primary.query('select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1 and active_pid is not null', [name]);
  await waitFor(primary, REPLICATION_WAIT_MS, `release slot ${name}`, async () => {
    const [row] = await primary.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [name]);
    return row === undefined || !row.active;
  });
  await primary.query('select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1', [name]);
}

/**
 * The standbys of `primary`: each slot and each connected walsender, with its lag.
 *
 * @example
 * ```ts
 * for (const s of await standbyStatuses(primary)) console.log(s.name, s.state, s.lagBytes);
 * ```
 */
export async function standbyStatuses(primary: ManagedCluster): Promise<StandbyStatus[]> {
  const rows = await primary.query<{ name: string; state: string | null; sync_state: string | null; lag_bytes: string | null; replay_lag: number | null }>(
    `select coalesce(r.application_name, s.slot_name) as name, r.state, r.sync_state,
            pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(r.replay_lsn, s.restart_lsn))::text as lag_bytes,
            case when r.pid is null then null else extract(epoch from coalesce(r.replay_lag, interval '0'))::float8 end as replay_lag
       from pg_replication_slots s
       full join pg_stat_replication r on r.pid = s.active_pid
      where s.slot_type is distinct from 'logical'
      order by 1`);
  return rows.map((row) => ({
    name: row.name,
    state: row.state,
    syncState: row.sync_state,
    lagBytes: row.lag_bytes === null ? null : Math.max(0, Number(row.lag_bytes)),
    replayLagSeconds: row.replay_lag,
  }));
}

/**
 * True when the server replays WAL (a standby, or a restore not yet promoted).
 *
 * @example
 * ```ts
 * if (await isStandby(cluster)) await promoteStandby(cluster);
 * ```
 */
export async function isStandby(cluster: ManagedCluster): Promise<boolean> {
  const [row] = await cluster.query<{ recovering: boolean }>('select pg_is_in_recovery() as recovering');
  return row?.recovering === true;
}

/** Appends {@link REPLICATION_HBA_LINE} to the primary's pg_hba.conf (once) and reloads it. */
async function allowReplication(primary: ManagedCluster): Promise<void> {
  const file = join(primary.spec.dataDir, 'pg_hba.conf');
  const text = await readFile(file, 'utf8');
  if (text.split('\n').some((line) => line.trim() === REPLICATION_HBA_LINE.trim())) return;
  await writeOwnedFile(primary.spec.dataDir, 'pg_hba.conf', `${text.replace(/\n*$/, '\n')}# Standbys of this machine stream over the private socket (Strata replicas).\n${REPLICATION_HBA_LINE}\n`, await serverIdentity());
  await primary.query('select pg_reload_conf()');
}

async function requireRole(cluster: ManagedCluster, role: 'primary' | 'standby', purpose: string): Promise<void> {
  if ((await isStandby(cluster)) !== (role === 'standby')) {
    throw new PgReplicationError('PG_REPLICATION_WRONG_ROLE', `${cluster.spec.dataDir} is ${role === 'standby' ? 'a primary' : 'a standby'}; it must be a ${role} to ${purpose}`);
  }
}

function followSettings(primary: ManagedCluster, name: string): string {
  return [
    '# A standby of a Strata instance (written by cloneStandby).',
    `primary_conninfo = ${sqlLiteral(conninfo(primary, name))}`,
    `primary_slot_name = ${sqlLiteral(name)}`,
    "recovery_target_timeline = 'latest'",
  ].join('\n');
}

function conninfo(primary: ManagedCluster, name: string): string {
  return `host=${primary.spec.socketDir} port=${primary.spec.port} user=${INSTANCE_SUPERUSER} application_name=${name}`;
}

function assertStandbyName(name: string): void {
  if (typeof name !== 'string' || !STANDBY_NAME.test(name)) {
    throw new PgReplicationError('PG_REPLICATION_INVALID_ARGUMENT', `a standby name is 1 to 63 lower-case letters, digits or _, got ${JSON.stringify(name)}`);
  }
}

async function waitFor(cluster: ManagedCluster, timeoutMs: number, what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await done()) return;
    } catch (error) {
      // A server still starting refuses connections; anything else is an answer.
      if (!(error instanceof PgInstanceError && error.code === 'PG_INSTANCE_UNAVAILABLE')) throw error;
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const log = await cluster.logTail(20).catch(() => []);
  throw new PgReplicationError('PG_REPLICATION_TIMEOUT', `${cluster.spec.dataDir} did not ${what} within ${timeoutMs} ms${lastError ? ` (${errorMessage(lastError)})` : ''}; its log ends:\n${log.join('\n')}`);
}

