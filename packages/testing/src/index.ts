// @strata/testing: test infrastructure shared by every package's tests.
// Examples live on each export's doc comment; this file only re-exports.

// Clusters come from @strata/postgres, re-exported so tests keep one import.
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

export {
  TEST_ENGINES_ENV,
  TEST_PGLITE_TEMPLATE_ENV,
  TEST_PG_URL_ENV,
  UnknownEngineError,
  createPgliteTemplate,
  engines,
  freshDatabaseUrl,
  freshPgliteDir,
  freshPgliteDatabase,
  freshPostgresUrl,
  stopOwnCluster,
  type EngineKind,
} from './databases.js';

export { ChromiumNotInstalledError, ensureChromium } from './chromium.js';

export { ERROR_ROOTS, declaredKind, exportedErrorClasses, type ErrorClass } from './error-classes.js';

export { MAX_SEED, SeededRandom } from './seeded-random.js';

export { ManualClock, realClock, type Clock, type TimerHandle } from './clock.js';

export {
  FAULT_KINDS,
  InvalidFaultPlanError,
  type DroppedDeliveryRule,
  type FaultKind,
  type FaultPlan,
  type FaultRule,
  type QueryConnectionLostRule,
  type SerializationBurstRule,
  type SlowStatementRule,
} from './fault-plan.js';

export {
  faultyDatabase,
  isInjectedFault,
  pgConnectionLostError,
  pgSerializationError,
  type ConnectionErrorContext,
  type FaultStats,
  type FaultyDatabase,
  type FaultyDatabaseOptions,
  type InjectedFault,
} from './faults.js';

export { InvalidTestSeedError, TEST_SEED_ENV, testSeed } from './test-seed.js';

export {
  MAX_NAMESPACES_PER_LAB,
  NETNS_SUBNET,
  NetnsError,
  createNetnsLab,
  netnsUnavailableReason,
  removeStaleNamespaces,
  type IsolatedNamespace,
  type NetnsLab,
  type NetnsLabOptions,
} from './netns.js';
