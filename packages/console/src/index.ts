/**
 * @strata/console — a web UI and JSON API over any Strata system database: workflows with their
 * steps (cancel, resume, restart, fork, delete), queues, schedules and executors, live.
 */
export { startConsole, type ConsoleOptions, type RunningConsole } from './console.js';
export type { ErrorBody } from './errors.js';
export type { CloudOptions } from './cloud/index.js';
export { tokenAuthenticator, TOKEN_ENV_VAR, type ConsoleAuthenticator, type ConsolePrincipal } from './security/authentication.js';
