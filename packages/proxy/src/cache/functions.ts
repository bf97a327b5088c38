// Functions whose results the cache must not keep: they change between calls (clocks, random,
// sequences), depend on the session (its user, its settings, its transaction) or act on the
// server (locks, notifications, signals). A read that calls one is never cached.
//
// The list names built-ins; a user-defined function is opaque to the parser, so a read that calls
// one is cached like any other read of the same tables (a hint or a rule is what asks for it).

const EXACT = new Set([
  // sequences
  'nextval', 'currval', 'setval', 'lastval',
  // clocks
  'now', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'timeofday',
  // randomness
  'random', 'random_normal', 'setseed', 'gen_random_uuid', 'gen_random_bytes', 'uuidv4', 'uuidv7',
  // the session and its settings
  'set_config', 'current_setting', 'current_user', 'session_user', 'current_role', 'current_schema',
  'current_schemas', 'current_database', 'current_catalog', 'current_query', 'pg_backend_pid',
  'inet_client_addr', 'inet_client_port', 'inet_server_addr', 'inet_server_port',
  'pg_my_temp_schema', 'pg_is_other_temp_schema', 'pg_trigger_depth', 'pg_conf_load_time',
  'pg_postmaster_start_time', 'pg_current_wal_lsn', 'pg_current_wal_insert_lsn', 'pg_last_committed_xact',
  // transactions
  'txid_current', 'txid_current_if_assigned', 'txid_current_snapshot', 'pg_current_xact_id',
  'pg_current_xact_id_if_assigned', 'pg_current_snapshot', 'pg_export_snapshot',
  // acting on the server
  'pg_notify', 'pg_sleep', 'pg_sleep_for', 'pg_sleep_until', 'pg_cancel_backend', 'pg_terminate_backend',
  'pg_reload_conf', 'pg_rotate_logfile', 'pg_switch_wal', 'pg_create_restore_point', 'pg_stat_reset',
  'pg_logical_emit_message', 'dblink', 'dblink_exec',
  // files and large objects
  'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'lo_import', 'lo_export',
  'lo_create', 'lo_creat', 'lo_unlink', 'lo_open', 'lo_put', 'lo_get', 'lo_from_bytea',
]);

const PREFIXES = ['pg_advisory_', 'pg_try_advisory_', 'uuid_generate_', 'pg_stat_get_', 'dblink_', 'lo_'];

/** Functions that change what later statements of the session see. */
const SESSION_CHANGING = new Set(['set_config']);

/**
 * Whether a function (its unqualified name, as the parser folded it) must keep a read out of the
 * cache. Matched whatever its schema: a user function named `now` is refused too, which costs a
 * cache miss and never a wrong answer.
 *
 * @example
 * ```ts
 * isVolatileFunction('now');                 // true
 * isVolatileFunction('pg_advisory_xact_lock'); // true
 * isVolatileFunction('lower');               // false
 * ```
 */
export function isVolatileFunction(name: string): boolean {
  return EXACT.has(name) || PREFIXES.some((prefix) => name.startsWith(prefix));
}

/**
 * Whether a function changes the session's later results (so the session must stop using the cache).
 *
 * @example
 * ```ts
 * changesSessionState('set_config'); // true
 * ```
 */
export function changesSessionState(name: string): boolean {
  return SESSION_CHANGING.has(name);
}
