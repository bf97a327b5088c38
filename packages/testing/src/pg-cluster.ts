// The PostgreSQL cluster manager lives in @strata/postgres (the database service's node agent
// uses it too); the test harness re-exports it unchanged.

export {
  PgClusterError,
  PostgresError,
  PostgresNotInstalledError,
  ensurePostgresInstalled,
  findPostgresBinDir,
  startCluster,
  type PgCluster,
  type PgClusterErrorCode,
  type RestartServerOptions,
  type ServerStopMode,
  type StartClusterOptions,
  type StopServerOptions,
} from '@strata/postgres';
