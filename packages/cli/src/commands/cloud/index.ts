/**
 * The database service's commands (`instances`, `backups`, `restore`, `fork`, `restore-points`,
 * `metrics`, `alerts`, `replicas`, `databases`, `users`, `config`, `audit`, `keys`, `usage`, `tenants`):
 * they talk to the control plane's HTTP API with an API key, not to the database.
 */
import type { Command } from 'commander';
import type { Host } from '../../host.js';
import { registerAuditCommands } from './audit.js';
import { registerBackupCommands } from './backups.js';
import { registerConfigCommands } from './config.js';
import { registerDatabaseCommands, registerUserCommands } from './databases.js';
import { registerInstanceCommands } from './instances.js';
import { registerMonitoringCommands } from './monitoring.js';
import { registerProxyCommands } from './proxy.js';
import { registerReplicaCommands } from './replicas.js';
import { registerUsageCommands } from './usage.js';

/** Registers every cloud command group on `program`. */
export function registerCloudCommands(program: Command, host: Host): void {
  registerInstanceCommands(program, host);
  registerProxyCommands(program, host);
  registerBackupCommands(program, host);
  registerMonitoringCommands(program, host);
  registerReplicaCommands(program, host);
  registerDatabaseCommands(program, host);
  registerUserCommands(program, host);
  registerConfigCommands(program, host);
  registerAuditCommands(program, host);
  registerUsageCommands(program, host);
}

export { API_KEY_ENV, API_URL_ENV, DEFAULT_API_URL } from './context.js';
export { ApiCallError, ApiClient, exitCodeForStatus } from './api-client.js';
