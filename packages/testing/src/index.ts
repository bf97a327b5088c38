// @strata/testing: test infrastructure shared by every package's tests.
// Examples live on each export's doc comment; this file only re-exports.

export {
  PgClusterError,
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
} from './pg-cluster.js';

export {
  TEST_ENGINES_ENV,
  TEST_PG_URL_ENV,
  UnknownEngineError,
  engines,
  freshDatabaseUrl,
  freshPgliteDir,
  freshPostgresUrl,
  stopOwnCluster,
  type EngineKind,
} from './databases.js';

export { ChromiumNotInstalledError, ensureChromium } from './chromium.js';
