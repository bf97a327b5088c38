// @strata/postgres: PostgreSQL clusters of a process's own (initdb, a free port, an unprivileged
// server user, start/stop/restart, stop on exit and on SIGTERM/SIGINT), for the test harness and
// the benchmarks; and managed instances (src/instance/: template, copy, detached start, settings,
// SCRAM verifiers, cgroup limits, freezing, warm pool), for the database service's node agent. Examples
// live on each export's doc comment; this file only re-exports.

export {
  startCluster,
  type PgCluster,
  type RestartServerOptions,
  type ServerStopMode,
  type StartClusterOptions,
  type StopServerOptions,
} from './cluster.js';

export { ensurePostgresInstalled, findPostgresBinDir } from './install.js';

export { PgClusterError, PostgresError, PostgresNotInstalledError, type PgClusterErrorCode } from './errors.js';

export { CLEANUP_SIGNALS, runningClusterCount } from './process-cleanup.js';

export { freePort } from './free-port.js';

export * from './instance/index.js';

export * from './ha/index.js';

export * from './backup/index.js';

export * from './replication/index.js';
